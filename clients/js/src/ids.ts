/**
 * Derived document IDs (docs/schema.md, "Document IDs"): every device computes a
 * patient's month, care-plan and index URLs offline, exactly as the server does
 * (`crates/sync/src/ids.rs`, `DocKind::document_id`).
 */

import { type AutomergeUrl, stringifyAutomergeUrl } from "@automerge/automerge-repo/slim";
import sha256 from "fast-sha256";

import { SCHEMA_TAGS } from "./vocab.js";

/** The 16 bytes of a UUID in its text order (RFC 4122). */
export function uuidBytes(uuid: string): Uint8Array {
  const hex = uuid.replace(/-/g, "").toLowerCase();
  if (!/^[0-9a-f]{32}$/.test(hex)) throw new TypeError(`not a UUID: ${JSON.stringify(uuid)}`);
  const out = new Uint8Array(16);
  for (let i = 0; i < 16; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

function derive(tag: string, patient: string, month?: string): AutomergeUrl {
  const enc = new TextEncoder();
  const parts: Uint8Array[] = [enc.encode(tag), Uint8Array.of(0), uuidBytes(patient)];
  if (month !== undefined) {
    if (!/^\d{4}-\d{2}$/.test(month)) throw new TypeError(`month must be YYYY-MM, got ${JSON.stringify(month)}`);
    parts.push(Uint8Array.of(0), enc.encode(month));
  }
  const input = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    input.set(p, at);
    at += p.length;
  }
  const documentId = sha256.hash(input).slice(0, 16);
  return stringifyAutomergeUrl({ documentId: documentId as never });
}

/** The URL of a patient's month document (`month` is `YYYY-MM`, the patient's local month). */
export function monthUrl(patient: string, month: string): AutomergeUrl {
  return derive(SCHEMA_TAGS.month, patient, month);
}

/** The URL of a patient's care-plan document. */
export function carePlanUrl(patient: string): AutomergeUrl {
  return derive(SCHEMA_TAGS.carePlan, patient);
}

/** The URL of a patient's index document. */
export function indexUrl(patient: string): AutomergeUrl {
  return derive(SCHEMA_TAGS.index, patient);
}

/** The base58check document ID inside an `automerge:` URL. */
export function documentIdOf(url: string): string {
  return url.startsWith("automerge:") ? url.slice("automerge:".length) : url;
}

/** A new time-ordered UUID v7 (the schema's recommended entry key). */
export function uuidv7(now: number = Date.now()): string {
  const bytes = new Uint8Array(16);
  globalThis.crypto.getRandomValues(bytes);
  let ms = now;
  for (let i = 5; i >= 0; i--) {
    bytes[i] = ms % 256;
    ms = Math.floor(ms / 256);
  }
  bytes[6] = (bytes[6]! & 0x0f) | 0x70;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
