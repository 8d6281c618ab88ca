/**
 * Reading month documents as docs/schema.md ("Value types") says every reader must: a
 * string is a scalar string (JS automerge 3: an `ImmutableString`) or Text (a JS string);
 * a number is an int, uint, finite float or counter; an instant is a timestamp (`Date`),
 * integer milliseconds or an RFC 3339 string; `null` is absent. Entries are read from
 * every conflicting root map of a kind, so an entry written into a concurrently created
 * map is never hidden. Mirrors `crates/sync/src/schema/read.rs` and `month.rs`.
 */

import * as A from "@automerge/automerge";

import type { Assignment } from "./questionnaire.js";
import type { Entry } from "./validate.js";
import { ENTRY_KINDS, type EntryKind, FIELDS_OF, LIMITS, MAP_KEYS } from "./vocab.js";

/** Why a field could not be read (its type is wrong, not its value). */
export class FieldError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "FieldError";
  }
}

function cap(text: string): string {
  if (text.length <= LIMITS.maxReadChars) return text;
  return Array.from(text).slice(0, LIMITS.maxReadChars).join("");
}

/** A string field: scalar string (`ImmutableString`) or Text (JS string); `null` is absent. */
export function readString(value: unknown, field: string): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === "string") return cap(value);
  if (A.isImmutableString(value)) return cap(value.toString());
  throw new FieldError(`field \`${field}\` should be a string`);
}

/** A number field: int, uint, finite float or counter. */
export function readNumber(value: unknown, field: string): number | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === "number" && Number.isFinite(value)) return value;
  if (typeof value === "bigint") return Number(value);
  if (A.isCounter(value)) return value.value;
  throw new FieldError(`field \`${field}\` should be a number`);
}

/** A boolean field. */
export function readBool(value: unknown, field: string): boolean | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === "boolean") return value;
  throw new FieldError(`field \`${field}\` should be true or false`);
}

const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

/** Parses an RFC 3339 date-time with an offset (not a bare date, not a local time). */
export function parseRfc3339(text: string): Date | undefined {
  const trimmed = text.trim();
  if (!RFC3339.test(trimmed)) return undefined;
  const at = new Date(trimmed.replace(" ", "T"));
  return Number.isNaN(at.getTime()) ? undefined : at;
}

/** An instant field: a timestamp (`Date`), integer milliseconds, or an RFC 3339 string. */
export function readInstant(value: unknown, field: string): Date | undefined {
  if (value === undefined || value === null) return undefined;
  const wrong = () => new FieldError(`field \`${field}\` should be a timestamp`);
  if (value instanceof Date) {
    if (Number.isNaN(value.getTime())) throw wrong();
    return value;
  }
  if (typeof value === "number" && Number.isInteger(value)) return new Date(value);
  if (typeof value === "string" || A.isImmutableString(value)) {
    const at = parseRfc3339(value.toString());
    if (at) return at;
  }
  throw wrong();
}

/** A list of strings, each scalar or Text; absent is empty; at most 256 items read. */
export function readStringList(value: unknown, field: string): string[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw new FieldError(`field \`${field}\` should be a list of strings`);
  const out: string[] = [];
  for (const item of value.slice(0, LIMITS.maxListItems)) {
    if (typeof item === "string") out.push(cap(item));
    else if (A.isImmutableString(item)) out.push(cap(item.toString()));
    else throw new FieldError(`field \`${field}\` should be a list of strings`);
  }
  return out;
}

/**
 * A map of numbers (a questionnaire's `answers`): absent is empty; each value a number as
 * [`readNumber`] reads it; keys cut to 64 characters; at most 256 pairs read.
 */
export function readNumberMap(value: unknown, field: string): Record<string, number> {
  const out: Record<string, number> = {};
  if (value === undefined || value === null) return out;
  const wrong = () => new FieldError(`field \`${field}\` should be a map of numbers`);
  if (!isMap(value)) throw wrong();
  for (const [key, v] of Object.entries(value).slice(0, LIMITS.maxListItems)) {
    let n: number | undefined;
    try {
      n = readNumber(v, field);
    } catch {
      throw wrong();
    }
    if (n === undefined) throw wrong();
    out[Array.from(key).slice(0, 64).join("")] = n;
  }
  return out;
}

function required<T>(value: T | undefined, field: string): T {
  if (value === undefined) throw new FieldError(`field \`${field}\` is missing`);
  return value;
}

function isMap(value: unknown): value is Record<string, unknown> {
  return (
    value !== null &&
    typeof value === "object" &&
    !Array.isArray(value) &&
    !(value instanceof Date) &&
    !(value instanceof Uint8Array) &&
    !A.isImmutableString(value) &&
    !A.isCounter(value)
  );
}

/** Reads one entry's map as `kind`; throws [`FieldError`] when it cannot be read. */
export function readEntry(map: unknown, kind: EntryKind): Entry {
  if (!isMap(map)) throw new FieldError("entry is not a map");
  const m = map;
  const meta = {
    recorded_at: required(readInstant(m.recorded_at, "recorded_at"), "recorded_at"),
    tz: required(readString(m.tz, "tz"), "tz"),
    deleted_at: readInstant(m.deleted_at, "deleted_at"),
    updated_at: readInstant(m.updated_at, "updated_at"),
  };
  const note = readString(m.note, "note");
  const drop = <T extends object>(o: T): T => {
    for (const k of Object.keys(o) as (keyof T)[]) if (o[k] === undefined) delete o[k];
    return o;
  };
  switch (kind) {
    case "pain":
      return drop({
        kind, ...meta,
        score: required(readNumber(m.score, "score"), "score"),
        worst: readNumber(m.worst, "worst"),
        least: readNumber(m.least, "least"),
        locations: readStringList(m.locations, "locations"),
        location_note: readString(m.location_note, "location_note"),
        qualities: readStringList(m.qualities, "qualities"),
        note,
      });
    case "medication":
      return drop({
        kind, ...meta,
        drug: required(readString(m.drug, "drug"), "drug"),
        rxnorm: readString(m.rxnorm, "rxnorm"),
        amount: required(readNumber(m.amount, "amount"), "amount"),
        unit: required(readString(m.unit, "unit"), "unit"),
        route: readString(m.route, "route"),
        status: readString(m.status, "status") ?? "taken",
        prn: readBool(m.prn, "prn") ?? false,
        prn_reason: readString(m.prn_reason, "prn_reason"),
        note,
      });
    case "exercise":
      return drop({
        kind, ...meta,
        activity: required(readString(m.activity, "activity"), "activity"),
        minutes: required(readNumber(m.minutes, "minutes"), "minutes"),
        sets: readNumber(m.sets, "sets"),
        reps: readNumber(m.reps, "reps"),
        exertion: readNumber(m.exertion, "exertion"),
        note,
      });
    case "wellbeing":
      return drop({
        kind, ...meta,
        sleep_hours: readNumber(m.sleep_hours, "sleep_hours"),
        sleep_quality: readNumber(m.sleep_quality, "sleep_quality"),
        mood: readNumber(m.mood, "mood"),
        stress: readNumber(m.stress, "stress"),
        note,
      });
    case "checkin":
      return drop({
        kind, ...meta,
        pain: required(readNumber(m.pain, "pain"), "pain"),
        enjoyment: required(readNumber(m.enjoyment, "enjoyment"), "enjoyment"),
        activity: required(readNumber(m.activity, "activity"), "activity"),
        note,
      });
    case "questionnaire":
      return drop({
        kind, ...meta,
        instrument: required(readString(m.instrument, "instrument"), "instrument"),
        version: required(readString(m.version, "version"), "version"),
        answers: readNumberMap(m.answers, "answers"),
        note,
      });
  }
}

/**
 * Every field of an entry's map that can be read as its type, the others left out: the
 * starting point for fixing an entry that [`readEntry`] refuses (a string score, no time
 * zone), so an edit supplying the missing or wrong fields makes it whole.
 */
export function readFieldsLenient(map: unknown, kind: EntryKind): Record<string, unknown> {
  const out: Record<string, unknown> = { kind };
  if (!isMap(map)) return out;
  const readers: Record<string, (v: unknown, f: string) => unknown> = {
    recorded_at: readInstant, deleted_at: readInstant, updated_at: readInstant,
    locations: readStringList, qualities: readStringList, prn: readBool, answers: readNumberMap,
  };
  const numbers = new Set(["score", "worst", "least", "amount", "minutes", "sets", "reps", "exertion",
    "sleep_hours", "sleep_quality", "mood", "stress", "pain", "enjoyment"]);
  for (const field of ["recorded_at", "tz", "deleted_at", "updated_at", ...FIELDS_OF[kind]]) {
    const reader = readers[field] ?? (numbers.has(field) || (kind === "checkin" && field === "activity") ? readNumber : readString);
    try {
      const value = reader(map[field], field);
      if (value !== undefined && !(Array.isArray(value) && value.length === 0 && map[field] === undefined)) out[field] = value;
    } catch {
      // Left out: the edit must supply it.
    }
  }
  return out;
}

/** An entry read from a document, with its key. */
export interface StoredEntry {
  /** The entry's key (a UUID). */
  id: string;
  /** The month document it is in (`YYYY-MM`), when known. */
  month?: string;
  entry: Entry;
}

/** An entry that is in the document but cannot be read as its kind. */
export interface UnreadableEntry {
  kind: EntryKind;
  /** Its key as found, cut to 64 characters. */
  key: string;
  /** What is wrong with it (the words the server's entry issues use). */
  reason: string;
}

/** Everything readable in a month document. */
export interface MonthEntries {
  /** Readable entries (valid or not, deleted or not), ordered by kind then key. */
  entries: StoredEntry[];
  /** Entries that could not be read at all. */
  unreadable: UnreadableEntry[];
}

const UUID = /^(urn:uuid:)?\{?[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}\}?$/;

/** Whether `key` is a UUID the way the server parses entry keys. */
export function isUuid(key: string): boolean {
  return UUID.test(key);
}

/**
 * Every map stored under a root key of `doc`, conflicts included (normally one; two when
 * devices created the key concurrently without the shared genesis).
 */
export function kindMaps(doc: A.Doc<unknown>, mapKey: string): Record<string, unknown>[] {
  const conflicts = A.getConflicts(doc, mapKey) as Record<string, unknown> | undefined;
  const maps = conflicts ? Object.values(conflicts).filter(isMap) : [];
  if (maps.length === 0) {
    const winner = (doc as Record<string, unknown>)[mapKey];
    if (isMap(winner)) maps.push(winner);
  }
  return maps;
}

/** Reads every entry of a month document; an unreadable entry never hides the others. */
export function readMonth(doc: A.Doc<unknown>): MonthEntries {
  const out: MonthEntries = { entries: [], unreadable: [] };
  for (const kind of ENTRY_KINDS) {
    const seen = new Set<string>();
    for (const map of kindMaps(doc, MAP_KEYS[kind])) {
      for (const key of Object.keys(map).slice(0, LIMITS.maxEntriesPerKind)) {
        if (!isUuid(key)) {
          out.unreadable.push({ kind, key: Array.from(key).slice(0, 64).join(""), reason: "entry key is not a UUID" });
          continue;
        }
        if (seen.has(key)) continue;
        seen.add(key);
        try {
          out.entries.push({ id: key, entry: readEntry(map[key], kind) });
        } catch (e) {
          if (!(e instanceof FieldError)) throw e;
          out.unreadable.push({ kind, key, reason: e.message });
        }
      }
    }
  }
  const order = (k: EntryKind) => ENTRY_KINDS.indexOf(k);
  out.entries.sort((a, b) => order(a.entry.kind) - order(b.entry.kind) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return out;
}

/** A care-plan date (`YYYY-MM-DD`, surrounding whitespace trimmed), as `YYYY-MM-DD`. */
function readDate(value: unknown, field: string): string | undefined {
  const text = readString(value, field);
  if (text === undefined) return undefined;
  const m = /^(\d{4})-(\d{1,2})-(\d{1,2})$/.exec(text.trim());
  const at = m ? new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]))) : undefined;
  if (!m || !at || at.getUTCFullYear() !== Number(m[1]) || at.getUTCMonth() !== Number(m[2]) - 1 || at.getUTCDate() !== Number(m[3])) {
    throw new FieldError(`field \`${field}\` should be a date YYYY-MM-DD`);
  }
  return at.toISOString().slice(0, 10);
}

/** An assigned questionnaire of the care plan, with its item key. */
export interface AssignedQuestionnaire extends Assignment {
  /** The care-plan item's key. */
  id: string;
}

/**
 * The questionnaires a care-plan document assigns (section `questionnaires`, every
 * conflicting map of it read), deleted items left out, as `read_care_plan` reads them:
 * `every_days` a whole number 1-366, `instrument` and `start_date` required. Items that
 * cannot be read are listed in `unreadable` with the reason.
 */
export function readAssignments(doc: unknown): { assignments: AssignedQuestionnaire[]; unreadable: { key: string; reason: string }[] } {
  const assignments: AssignedQuestionnaire[] = [];
  const unreadable: { key: string; reason: string }[] = [];
  if (!isMap(doc)) return { assignments, unreadable };
  for (const map of kindMaps(doc as A.Doc<unknown>, "questionnaires")) {
    for (const [key, item] of Object.entries(map).slice(0, 1_000)) {
      if (!isMap(item)) continue;
      try {
        if (readInstant(item.deleted_at, "deleted_at") !== undefined) continue;
      } catch {
        // An unreadable tombstone does not delete the item.
      }
      try {
        const every = required(readNumber(item.every_days, "every_days"), "every_days");
        if (!Number.isInteger(every) || every < 1 || every > LIMITS.maxEveryDays) {
          throw new FieldError("field `every_days` should be a whole number of days from 1 to 366");
        }
        const assignment: AssignedQuestionnaire = {
          id: key,
          instrument: required(readString(item.instrument, "instrument"), "instrument"),
          every_days: every,
          start_date: required(readDate(item.start_date, "start_date"), "start_date"),
        };
        const end = readDate(item.end_date, "end_date");
        if (end !== undefined) assignment.end_date = end;
        assignments.push(assignment);
      } catch (e) {
        if (!(e instanceof FieldError)) throw e;
        unreadable.push({ key: Array.from(key).slice(0, 64).join(""), reason: e.message });
      }
    }
  }
  return { assignments, unreadable };
}

/** A document header (`schema`, `patient`, `month`) as plain strings. */
export interface Header {
  schema?: string;
  patient?: string;
  month?: string;
}

/** Reads a document's header, normalizing `ImmutableString`/Text to strings. */
export function readHeader(doc: unknown): Header {
  const d = (isMap(doc) ? doc : {}) as Record<string, unknown>;
  const s = (v: unknown) => {
    try {
      return readString(v, "header");
    } catch {
      return undefined;
    }
  };
  const header: Header = {};
  const schema = s(d.schema);
  const patient = s(d.patient);
  const month = s(d.month);
  if (schema !== undefined) header.schema = schema;
  if (patient !== undefined) header.patient = patient;
  if (month !== undefined) header.month = month;
  return header;
}

/** The index document: months to `automerge:` URLs as plain strings, and the care plan. */
export function readIndex(doc: unknown): { carePlan?: string; months: Record<string, string> } {
  const d = (isMap(doc) ? doc : {}) as Record<string, unknown>;
  const months: Record<string, string> = {};
  for (const map of isMap(d) ? kindMaps(d as A.Doc<unknown>, "months") : []) {
    for (const [month, url] of Object.entries(map)) {
      try {
        const text = readString(url, "months");
        if (/^\d{4}-\d{2}$/.test(month) && text?.startsWith("automerge:")) months[month] = text;
      } catch {
        // Month keys or URLs that do not parse are skipped (docs/schema.md).
      }
    }
  }
  let carePlan: string | undefined;
  try {
    carePlan = readString(d.care_plan, "care_plan");
  } catch {
    carePlan = undefined;
  }
  return carePlan === undefined ? { months } : { carePlan, months };
}

/**
 * Any document value as plain JSON-like data: `ImmutableString` and Text as strings,
 * counters as numbers, `Date`s kept. For showing a care plan or debugging.
 */
export function toPlain(value: unknown): unknown {
  if (value === null || value === undefined) return value;
  if (A.isImmutableString(value)) return value.toString();
  if (A.isCounter(value)) return value.value;
  if (value instanceof Date || value instanceof Uint8Array) return value;
  if (Array.isArray(value)) return value.map(toPlain);
  if (typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = toPlain(v);
    return out;
  }
  return value;
}
