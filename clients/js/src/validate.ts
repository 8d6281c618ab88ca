/**
 * Validation of diary entries, rule for rule and code for code what `Entry::validate` in
 * `crates/sync/src/schema/entry.rs` does (docs/schema.md, "Validation"). The kit refuses
 * to write an entry or edit that fails it; the server validates again when it projects.
 */

import { builtInInstrument, checkAnswers } from "./questionnaire.js";
import {
  BODY_REGIONS,
  DOSE_UNIT_MAX_SINGLE_DOSE,
  type DoseUnit,
  type EntryKind,
  INTAKE_STATUSES,
  LIMITS,
  PAIN_QUALITIES,
  ROUTES,
} from "./vocab.js";

/** One problem with an entry, in the JSON form the Rust `ValidationError` serialises to. */
export type ValidationError =
  | { code: "out_of_scale"; field: string; value: number; message: string }
  | { code: "not_whole_number"; field: string; value: number; message: string }
  | { code: "out_of_range"; field: string; value: number; min: number; max: number; message: string }
  | { code: "dose_not_positive"; amount: number; message: string }
  | { code: "dose_too_large"; amount: number; unit: DoseUnit; max: number; message: string }
  | { code: "unknown_term"; field: string; vocabulary: string; term: string; message: string }
  | { code: "too_many"; field: string; count: number; max: number; message: string }
  | { code: "text_too_long"; field: string; chars: number; max: number; message: string }
  | { code: "empty_text"; field: string; message: string }
  | { code: "in_future"; recorded_at: string; message: string }
  | { code: "unknown_time_zone"; tz: string; message: string }
  | { code: "worst_below_least"; worst: number; least: number; message: string }
  | { code: "required"; field: string; expected: string; message: string }
  | { code: "nothing_recorded"; message: string }
  | { code: "unknown_instrument"; instrument: string; version: string; message: string }
  | { code: "unknown_item"; instrument: string; item: string; message: string }
  | { code: "invalid_answer"; instrument: string; item: string; value: number; min: number; max: number; message: string }
  | { code: "no_answers"; message: string };

/** The fields every entry carries, as read (instants as `Date`). */
export interface EntryMeta {
  recorded_at: Date;
  tz: string;
  deleted_at?: Date;
  updated_at?: Date;
}

/** A pain report on the 0-10 numeric rating scale. */
export interface PainFields {
  score: number;
  worst?: number;
  least?: number;
  locations?: string[];
  location_note?: string;
  qualities?: string[];
  note?: string;
}

/** One medication dose, taken or skipped. */
export interface MedicationFields {
  drug: string;
  rxnorm?: string;
  amount: number;
  unit: string;
  route?: string;
  /** `taken` (the default) or `skipped`. */
  status?: string;
  prn?: boolean;
  prn_reason?: string;
  note?: string;
}

/** One exercise session. */
export interface ExerciseFields {
  activity: string;
  minutes: number;
  sets?: number;
  reps?: number;
  exertion?: number;
  note?: string;
}

/** Sleep, mood and stress; at least one of the four measures. */
export interface WellbeingFields {
  sleep_hours?: number;
  sleep_quality?: number;
  mood?: number;
  stress?: number;
  note?: string;
}

/** The weekly PEG check-in. */
export interface CheckinFields {
  pain: number;
  enjoyment: number;
  activity: number;
  note?: string;
}

/**
 * A response to a validated questionnaire (`questionnaires`): `recorded_at` is when it was
 * answered. Only the built-in instruments (`phq9`, `gad7`, `peg`, version `"1"`) are
 * accepted for writing; see `questionnaire.ts`.
 */
export interface QuestionnaireFields {
  /** Instrument ID (`phq9`, `gad7`, `peg`), 1-64 characters. */
  instrument: string;
  /** Version of the instrument's definition (`"1"` for the built-ins), 1-16 characters. */
  version: string;
  /**
   * Item link ID -> whole-number answer on the item's scale; unanswered items absent, at
   * least one answer. Absent reads as no answers.
   */
  answers: Record<string, number>;
  note?: string;
}

/** The kind-specific fields of each kind. */
export interface FieldsByKind {
  pain: PainFields;
  medication: MedicationFields;
  exercise: ExerciseFields;
  wellbeing: WellbeingFields;
  checkin: CheckinFields;
  questionnaire: QuestionnaireFields;
}

/** Any diary entry, as read or about to be written. */
export type Entry = {
  [K in EntryKind]: { kind: K } & EntryMeta & FieldsByKind[K];
}[EntryKind];

/** Rust's `{:?}` of a short string, near enough for messages. */
function quoted(text: string): string {
  return JSON.stringify(text);
}

/** Rust's `Display` of a UTC instant (`2026-11-03 09:15:30 UTC`). */
function rustInstant(at: Date): string {
  const iso = at.toISOString();
  const ms = at.getUTCMilliseconds();
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)}${ms ? `.${String(ms).padStart(3, "0")}` : ""} UTC`;
}

/** Unicode scalar values, as Rust's `chars().count()`. */
export function charCount(text: string): number {
  let n = 0;
  for (const _ of text) n++;
  return n;
}

function firstChars(text: string, n: number): string {
  return Array.from(text).slice(0, n).join("");
}

/**
 * Whether `tz` is an IANA time zone name. The runtime's `Intl` knows the zones; names it
 * accepts that chrono-tz does not (a different letter case, a UTC offset) are refused.
 */
export function isTimeZone(tz: string): boolean {
  if (!/^[A-Za-z]/.test(tz) || /\s/.test(tz)) return false;
  try {
    const resolved = new Intl.DateTimeFormat("en-US", { timeZone: tz }).resolvedOptions().timeZone;
    return resolved === tz || resolved.toLowerCase() !== tz.toLowerCase();
  } catch {
    return false;
  }
}

type Errors = ValidationError[];

function scale(e: Errors, field: string, value: number | undefined): void {
  if (value === undefined) return;
  if (!(value >= 0 && value <= 10)) {
    e.push({ code: "out_of_scale", field, value, message: `${field} must be between 0 and 10, got ${value}` });
  } else {
    whole(e, field, value);
  }
}

function whole(e: Errors, field: string, value: number | undefined): void {
  if (value !== undefined && Number.isFinite(value) && !Number.isInteger(value)) {
    e.push({ code: "not_whole_number", field, value, message: `${field} must be a whole number, got ${value}` });
  }
}

function range(e: Errors, field: string, value: number | undefined, [min, max]: readonly [number, number]): void {
  if (value !== undefined && !(value >= min && value <= max)) {
    e.push({ code: "out_of_range", field, value, min, max, message: `${field} must be between ${min} and ${max}, got ${value}` });
  }
}

function text(e: Errors, field: string, value: string | undefined, max: number): void {
  if (value === undefined) return;
  const chars = charCount(value);
  if (chars > max) {
    e.push({ code: "text_too_long", field, chars, max, message: `${field} is ${chars} characters long, at most ${max} are allowed` });
  }
}

function requiredText(e: Errors, field: string, value: string, max: number): void {
  if (value.trim() === "") e.push({ code: "empty_text", field, message: `${field} must not be empty` });
  text(e, field, value, max);
}

function unknown(e: Errors, field: string, vocabulary: string, term: string): void {
  const cut = firstChars(term.trim(), 40);
  e.push({ code: "unknown_term", field, vocabulary, term: cut, message: `${field}: unknown ${vocabulary} ${quoted(cut)}` });
}

function known(vocabulary: readonly string[], value: string): boolean {
  return vocabulary.includes(value.trim());
}

function terms(e: Errors, field: string, vocabularyName: string, vocabulary: readonly string[], values: string[] | undefined, max: number): void {
  const list = values ?? [];
  if (list.length > max) {
    e.push({ code: "too_many", field, count: list.length, max, message: `${field} has ${list.length} items, at most ${max} are allowed` });
  }
  for (const value of list.slice(0, max)) {
    if (!known(vocabulary, value)) unknown(e, field, vocabularyName, value);
  }
}

/**
 * The types each field must have; a wrong type is a `required` error (what the Rust SDK
 * reports for an edit that leaves a field of the wrong type), checked before the values.
 */
const FIELD_TYPES: Record<string, "number" | "string" | "boolean" | "strings" | "instant" | "numbers"> = {
  recorded_at: "instant", deleted_at: "instant", updated_at: "instant", tz: "string",
  score: "number", worst: "number", least: "number", locations: "strings",
  location_note: "string", qualities: "strings", note: "string",
  drug: "string", rxnorm: "string", amount: "number", unit: "string", route: "string",
  status: "string", prn: "boolean", prn_reason: "string",
  activity: "string", minutes: "number", sets: "number", reps: "number", exertion: "number",
  sleep_hours: "number", sleep_quality: "number", mood: "number", stress: "number",
  pain: "number", enjoyment: "number",
  instrument: "string", version: "string", answers: "numbers",
};

const EXPECTED: Record<string, string> = {
  number: "a number", string: "a string", boolean: "true or false",
  strings: "a list of strings", instant: "a timestamp", numbers: "a map of numbers",
};

const REQUIRED: Record<EntryKind, readonly string[]> = {
  pain: ["score"],
  medication: ["drug", "amount", "unit"],
  exercise: ["activity", "minutes"],
  wellbeing: [],
  checkin: ["pain", "enjoyment", "activity"],
  // `answers` absent reads as no answers (`no_answers`), as in Rust.
  questionnaire: ["instrument", "version"],
};

function isNumberMap(value: unknown): boolean {
  return (
    value !== null && typeof value === "object" && !Array.isArray(value) && !(value instanceof Date) &&
    Object.values(value).every((v) => typeof v === "number" && Number.isFinite(v))
  );
}

function shapeErrors(entry: Record<string, unknown>, kind: EntryKind): Errors {
  const e: Errors = [];
  for (const field of ["recorded_at", "tz", ...REQUIRED[kind]]) {
    if (entry[field] === undefined || entry[field] === null) {
      e.push({ code: "required", field, expected: "present", message: `${field} is required and must be present` });
    }
  }
  for (const [field, value] of Object.entries(entry)) {
    // `activity` is a text of an exercise session but a 0-10 item of a check-in.
    const type = kind === "checkin" && field === "activity" ? "number" : FIELD_TYPES[field];
    if (type === undefined || value === undefined || value === null) continue;
    const ok =
      type === "number" ? typeof value === "number" && Number.isFinite(value)
      : type === "string" ? typeof value === "string"
      : type === "boolean" ? typeof value === "boolean"
      : type === "strings" ? Array.isArray(value) && value.every((v) => typeof v === "string")
      : type === "numbers" ? isNumberMap(value)
      : value instanceof Date && !Number.isNaN(value.getTime());
    if (!ok) {
      e.push({ code: "required", field, expected: EXPECTED[type]!, message: `${field} is required and must be ${EXPECTED[type]}` });
    }
  }
  return e;
}

/**
 * Every problem with `entry` as of `now` (empty when valid): the same rules, in the same
 * order, with the same codes as the Rust SDK's `Entry::validate`.
 */
export function validateEntry(entry: Entry, now: Date = new Date()): ValidationError[] {
  const shape = shapeErrors(entry as unknown as Record<string, unknown>, entry.kind);
  if (shape.length > 0) return shape;
  const e: Errors = [];
  if (entry.recorded_at.getTime() > now.getTime() + LIMITS.maxFutureSkewMs) {
    e.push({
      code: "in_future",
      recorded_at: entry.recorded_at.toISOString(),
      message: `recorded_at ${rustInstant(entry.recorded_at)} is more than 48 hours in the future`,
    });
  }
  if (!isTimeZone(entry.tz)) {
    const tz = firstChars(entry.tz, 40);
    e.push({ code: "unknown_time_zone", tz, message: `time zone ${quoted(tz)} is not a known IANA time zone` });
  }
  switch (entry.kind) {
    case "pain": {
      scale(e, "score", entry.score);
      scale(e, "worst", entry.worst);
      scale(e, "least", entry.least);
      if (entry.worst !== undefined && entry.least !== undefined && entry.worst < entry.least) {
        e.push({
          code: "worst_below_least", worst: entry.worst, least: entry.least,
          message: `worst pain (${entry.worst}) is below least pain (${entry.least})`,
        });
      }
      terms(e, "locations", "body region", BODY_REGIONS, entry.locations, LIMITS.maxLocations);
      terms(e, "qualities", "pain quality", PAIN_QUALITIES, entry.qualities, LIMITS.maxQualities);
      text(e, "location_note", entry.location_note, LIMITS.maxShortTextChars);
      text(e, "note", entry.note, LIMITS.maxNoteChars);
      break;
    }
    case "medication": {
      requiredText(e, "drug", entry.drug, LIMITS.maxShortTextChars);
      text(e, "rxnorm", entry.rxnorm, LIMITS.maxRxnormChars);
      const unit = entry.unit.trim() as DoseUnit;
      const unitKnown = Object.hasOwn(DOSE_UNIT_MAX_SINGLE_DOSE, unit);
      if (Number.isNaN(entry.amount) || entry.amount <= 0) {
        e.push({ code: "dose_not_positive", amount: entry.amount, message: `dose amount must be greater than 0, got ${entry.amount}` });
      } else if (unitKnown && entry.amount > DOSE_UNIT_MAX_SINGLE_DOSE[unit]) {
        const max = DOSE_UNIT_MAX_SINGLE_DOSE[unit];
        e.push({
          code: "dose_too_large", amount: entry.amount, unit, max,
          message: `dose of ${entry.amount} ${unit} is larger than the ${max} ${unit} accepted for one intake`,
        });
      }
      if (!unitKnown) unknown(e, "unit", "dose unit", entry.unit);
      if (entry.route !== undefined && !known(ROUTES, entry.route)) unknown(e, "route", "route", entry.route);
      const status = entry.status ?? "taken";
      if (!known(INTAKE_STATUSES, status)) unknown(e, "status", "intake status", status);
      text(e, "prn_reason", entry.prn_reason, LIMITS.maxShortTextChars);
      text(e, "note", entry.note, LIMITS.maxNoteChars);
      break;
    }
    case "exercise": {
      requiredText(e, "activity", entry.activity, LIMITS.maxShortTextChars);
      range(e, "minutes", entry.minutes, LIMITS.minutes);
      range(e, "sets", entry.sets, LIMITS.sets);
      range(e, "reps", entry.reps, LIMITS.reps);
      whole(e, "sets", entry.sets);
      whole(e, "reps", entry.reps);
      scale(e, "exertion", entry.exertion);
      text(e, "note", entry.note, LIMITS.maxNoteChars);
      break;
    }
    case "wellbeing": {
      if (entry.sleep_hours === undefined && entry.sleep_quality === undefined && entry.mood === undefined && entry.stress === undefined) {
        e.push({ code: "nothing_recorded", message: "a wellbeing entry needs at least one of sleep_hours, sleep_quality, mood, stress" });
      }
      range(e, "sleep_hours", entry.sleep_hours, LIMITS.sleepHours);
      scale(e, "sleep_quality", entry.sleep_quality);
      scale(e, "mood", entry.mood);
      scale(e, "stress", entry.stress);
      text(e, "note", entry.note, LIMITS.maxNoteChars);
      break;
    }
    case "checkin": {
      scale(e, "pain", entry.pain);
      scale(e, "enjoyment", entry.enjoyment);
      scale(e, "activity", entry.activity);
      text(e, "note", entry.note, LIMITS.maxNoteChars);
      break;
    }
    case "questionnaire": {
      requiredText(e, "instrument", entry.instrument, LIMITS.maxInstrumentChars);
      requiredText(e, "version", entry.version, LIMITS.maxVersionChars);
      const def = builtInInstrument(entry.instrument, entry.version);
      if (def) {
        e.push(...checkAnswers(def, entry.answers ?? {}));
      } else {
        const instrument = firstChars(entry.instrument, 40);
        const version = firstChars(entry.version, 40);
        e.push({
          code: "unknown_instrument", instrument, version,
          message: `unknown instrument ${quoted(instrument)} version ${quoted(version)}`,
        });
      }
      text(e, "note", entry.note, LIMITS.maxNoteChars);
      break;
    }
  }
  return e;
}
