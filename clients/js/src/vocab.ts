/**
 * The fixed vocabularies and limits of schema v1 (docs/schema.md, "Vocabularies" and
 * "Validation"), mirroring `crates/sync/src/schema/vocab.rs` and `entry.rs`.
 *
 * tests/tests/js_kit.rs compares every list and limit here with the Rust code, and runs
 * the same entries through both validators, so the two cannot drift apart.
 */

/** Where the pain is; left/right are the patient's own sides. */
export const BODY_REGIONS = [
  "head", "face", "jaw", "neck",
  "shoulder_left", "shoulder_right",
  "upper_arm_left", "upper_arm_right",
  "elbow_left", "elbow_right",
  "forearm_left", "forearm_right",
  "wrist_hand_left", "wrist_hand_right",
  "chest", "abdomen", "upper_back", "mid_back",
  "lower_back", "buttock", "pelvis", "groin",
  "hip_left", "hip_right",
  "thigh_left", "thigh_right",
  "knee_left", "knee_right",
  "lower_leg_left", "lower_leg_right",
  "ankle_foot_left", "ankle_foot_right",
  "widespread",
] as const;
/** A body-region code. */
export type BodyRegion = (typeof BODY_REGIONS)[number];

/** How the pain feels. */
export const PAIN_QUALITIES = [
  "aching", "burning", "stabbing", "throbbing", "shooting", "tingling", "cramping", "sharp",
  "dull", "numb", "pressing", "electric_shock",
] as const;
/** A pain-quality code. */
export type PainQuality = (typeof PAIN_QUALITIES)[number];

/** Dose units with the largest amount accepted for one intake. */
export const DOSE_UNIT_MAX_SINGLE_DOSE = {
  mg: 5_000,
  mcg: 5_000_000,
  g: 10,
  ml: 500,
  mcg_per_hour: 400,
  tablet: 20,
  capsule: 20,
  drop: 100,
  puff: 20,
  patch: 4,
  spray: 20,
  application: 10,
  unit: 100_000,
} as const;
/** A dose-unit code. */
export type DoseUnit = keyof typeof DOSE_UNIT_MAX_SINGLE_DOSE;
/** Every dose unit, in schema order. */
export const DOSE_UNITS = Object.keys(DOSE_UNIT_MAX_SINGLE_DOSE) as DoseUnit[];

/** How a medication was taken. */
export const ROUTES = [
  "oral", "sublingual", "buccal", "transdermal", "topical", "intravenous", "intramuscular",
  "subcutaneous", "rectal", "inhaled", "intranasal", "intrathecal", "other",
] as const;
/** A route code. */
export type Route = (typeof ROUTES)[number];

/** Whether a dose was taken. */
export const INTAKE_STATUSES = ["taken", "skipped"] as const;
/** An intake-status code. */
export type IntakeStatus = (typeof INTAKE_STATUSES)[number];

/** Interventional procedures (care plan). */
export const INTERVENTION_KINDS = [
  "epidural_steroid_injection", "nerve_block", "facet_joint_injection",
  "radiofrequency_ablation", "spinal_cord_stimulator", "trigger_point_injection",
  "joint_injection", "intrathecal_pump", "surgery", "other",
] as const;
/** An intervention-kind code. */
export type InterventionKind = (typeof INTERVENTION_KINDS)[number];

/** The vocabularies by the name the Rust errors use ("unknown dose unit ..."). */
export const VOCABULARIES: Record<string, readonly string[]> = {
  "body region": BODY_REGIONS,
  "pain quality": PAIN_QUALITIES,
  "dose unit": DOSE_UNITS,
  route: ROUTES,
  "intake status": INTAKE_STATUSES,
  "intervention kind": INTERVENTION_KINDS,
};

/** The six kinds of diary entry, in schema order. */
export const ENTRY_KINDS = ["pain", "medication", "exercise", "wellbeing", "checkin", "questionnaire"] as const;
/** A kind of diary entry. */
export type EntryKind = (typeof ENTRY_KINDS)[number];

/** The root key of each kind's map in a month document. */
export const MAP_KEYS: Record<EntryKind, string> = {
  pain: "pain",
  medication: "medications",
  exercise: "exercise",
  wellbeing: "wellbeing",
  checkin: "checkins",
  questionnaire: "questionnaires",
};

/**
 * Kinds added after schema v1's genesis: their root map is not in the canonical genesis
 * change, so the first entry creates it (two devices doing so offline make two maps under
 * one key, and readers read both). Mirrors `EntryKind::is_lazy`.
 */
export const LAZY_KINDS: readonly EntryKind[] = ["questionnaire"];

/** The fields of each kind besides the common `recorded_at`, `tz`, `deleted_at`, `updated_at`. */
export const FIELDS_OF: Record<EntryKind, readonly string[]> = {
  pain: ["score", "worst", "least", "locations", "location_note", "qualities", "note"],
  medication: ["drug", "rxnorm", "amount", "unit", "route", "status", "prn", "prn_reason", "note"],
  exercise: ["activity", "minutes", "sets", "reps", "exertion", "note"],
  wellbeing: ["sleep_hours", "sleep_quality", "mood", "stress", "note"],
  checkin: ["pain", "enjoyment", "activity", "note"],
  questionnaire: ["instrument", "version", "answers", "note"],
};

/** Limits of schema v1. */
export const LIMITS = {
  /** Longest free-text note, in characters (Unicode scalar values). */
  maxNoteChars: 4_000,
  /** Longest short text (drug, activity, location note, PRN reason). */
  maxShortTextChars: 200,
  /** Longest RxNorm concept ID. */
  maxRxnormChars: 16,
  /** Most body locations on one pain entry. */
  maxLocations: 12,
  /** Most qualities on one pain entry. */
  maxQualities: 12,
  /** How far in the future `recorded_at` may be, in milliseconds (48 hours). */
  maxFutureSkewMs: 48 * 60 * 60 * 1000,
  /** Exercise minutes. */
  minutes: [1, 1440],
  /** Exercise sets. */
  sets: [0, 100],
  /** Exercise repetitions per set. */
  reps: [0, 1000],
  /** Hours slept. */
  sleepHours: [0, 24],
  /** Strings longer than this are cut when read. */
  maxReadChars: 64 * 1024,
  /** Lists longer than this are cut when read. */
  maxListItems: 256,
  /** Most entries read per kind per month. */
  maxEntriesPerKind: 10_000,
  /** Longest instrument ID of a questionnaire response. */
  maxInstrumentChars: 64,
  /** Longest instrument version of a questionnaire response. */
  maxVersionChars: 16,
  /** Longest schedule period of an assigned questionnaire, in days. */
  maxEveryDays: 366,
} as const;

/** Schema tags of the three documents. */
export const SCHEMA_TAGS = {
  month: "paindiary/diary-month/v1",
  carePlan: "paindiary/care-plan/v1",
  index: "paindiary/index/v1",
} as const;
