// Paindiary documents, schema v1: TypeScript declarations for app developers.
//
// These describe what our SDK WRITES. Readers (ours included) are more lenient: any
// string may arrive as an Automerge Text object or a scalar string, numbers as int, uint
// or float, instants as timestamps, integer milliseconds or RFC 3339 strings, `null` means
// absent, and unknown fields are ignored. See docs/schema.md for ranges and rules.
//
// Layout rule (checked by crates/sync/tests/schema_docs.rs): each field sits on its own
// line, indented by exactly two spaces, inside its interface.

/** An Automerge timestamp. JS automerge reads and writes it as a `Date`. */
export type Instant = Date;
/** A UUID in lowercase hyphenated text, e.g. "0190f5a4-7c1e-7000-8000-000000000001". */
export type Uuid = string;
/** A calendar month, "YYYY-MM" (year 2000-2999). */
export type MonthKey = string;
/** A calendar date, "YYYY-MM-DD". */
export type DateOnly = string;
/** An IANA time zone name, e.g. "Europe/Berlin". */
export type IanaTimeZone = string;
/** `automerge:` followed by the base58check document ID. */
export type AutomergeUrl = `automerge:${string}`;

// ---------------------------------------------------------------------------------------
// Vocabularies (codes are stored as written; readers trim surrounding whitespace)

/** Where the pain is. Left/right are the patient's own sides. */
export type BodyRegion =
  | "head"
  | "face"
  | "jaw"
  | "neck"
  | "shoulder_left"
  | "shoulder_right"
  | "upper_arm_left"
  | "upper_arm_right"
  | "elbow_left"
  | "elbow_right"
  | "forearm_left"
  | "forearm_right"
  | "wrist_hand_left"
  | "wrist_hand_right"
  | "chest"
  | "abdomen"
  | "upper_back"
  | "mid_back"
  | "lower_back"
  | "buttock"
  | "pelvis"
  | "groin"
  | "hip_left"
  | "hip_right"
  | "thigh_left"
  | "thigh_right"
  | "knee_left"
  | "knee_right"
  | "lower_leg_left"
  | "lower_leg_right"
  | "ankle_foot_left"
  | "ankle_foot_right"
  | "widespread";

/** How the pain feels. */
export type PainQuality =
  | "aching"
  | "burning"
  | "stabbing"
  | "throbbing"
  | "shooting"
  | "tingling"
  | "cramping"
  | "sharp"
  | "dull"
  | "numb"
  | "pressing"
  | "electric_shock";

/** Unit of a dose amount. `mcg_per_hour` is the strength of a transdermal patch; `unit` is international units. */
export type DoseUnit =
  | "mg"
  | "mcg"
  | "g"
  | "ml"
  | "mcg_per_hour"
  | "tablet"
  | "capsule"
  | "drop"
  | "puff"
  | "patch"
  | "spray"
  | "application"
  | "unit";

/** How a medication was taken. */
export type Route =
  | "oral"
  | "sublingual"
  | "buccal"
  | "transdermal"
  | "topical"
  | "intravenous"
  | "intramuscular"
  | "subcutaneous"
  | "rectal"
  | "inhaled"
  | "intranasal"
  | "intrathecal"
  | "other";

/** Whether a dose was taken. */
export type IntakeStatus = "taken" | "skipped";

/** Interventional procedures (care plan). */
export type InterventionKind =
  | "epidural_steroid_injection"
  | "nerve_block"
  | "facet_joint_injection"
  | "radiofrequency_ablation"
  | "spinal_cord_stimulator"
  | "trigger_point_injection"
  | "joint_injection"
  | "intrathecal_pump"
  | "surgery"
  | "other";

// ---------------------------------------------------------------------------------------
// Month diary document: one per patient per calendar month (patient's local month)

/** Fields every diary entry carries. */
export interface EntryBase {
  /** When it happened (UTC instant). Required. At most 48 h after "now". */
  recorded_at: Instant;
  /** The patient's IANA zone at that moment; the entry's day is its local date in this zone. Required. */
  tz: IanaTimeZone;
  /** Tombstone: set when deleted. Entries are never removed from the document. */
  deleted_at?: Instant;
  /** Set by every edit after creation. */
  updated_at?: Instant;
}

/** NRS pain report. */
export interface PainEntry extends EntryBase {
  /** Current pain, whole number 0-10. Required. */
  score: number;
  /** Worst pain since the last entry, whole number 0-10; not below `least`. */
  worst?: number;
  /** Least pain since the last entry, whole number 0-10. */
  least?: number;
  /** At most 12 regions. Absent = none. */
  locations?: BodyRegion[];
  /** Where it hurts in words, at most 200 characters. */
  location_note?: string;
  /** At most 12 qualities. Absent = none. */
  qualities?: PainQuality[];
  /** At most 4,000 characters. */
  note?: string;
}

/** One medication dose, taken or skipped. */
export interface MedicationIntake extends EntryBase {
  /** Drug name as the patient knows it, 1-200 characters. Required. */
  drug: string;
  /** RxNorm concept ID, at most 16 characters. */
  rxnorm?: string;
  /** Amount in `unit`, greater than 0 and at most the unit's maximum single dose. Required. */
  amount: number;
  /** Required. */
  unit: DoseUnit;
  route?: Route;
  /** Absent is read as "taken"; our SDK always writes it. */
  status?: IntakeStatus;
  /** Taken as needed. Absent is read as false; our SDK always writes it. */
  prn?: boolean;
  /** Why an as-needed dose was taken, at most 200 characters. */
  prn_reason?: string;
  /** At most 4,000 characters. */
  note?: string;
}

/** One exercise session. */
export interface ExerciseSession extends EntryBase {
  /** What was done, 1-200 characters. Required. */
  activity: string;
  /** Duration, 1-1440 minutes. Required. */
  minutes: number;
  /** Whole number 0-100. */
  sets?: number;
  /** Repetitions per set, whole number 0-1000. */
  reps?: number;
  /** Perceived exertion, whole number 0-10. */
  exertion?: number;
  /** At most 4,000 characters. */
  note?: string;
}

/** Sleep, mood and stress; at least one of the four measures is required. */
export interface WellbeingEntry extends EntryBase {
  /** Hours slept, 0-24 (decimals allowed). */
  sleep_hours?: number;
  /** 0 (worst) - 10 (best), whole number. */
  sleep_quality?: number;
  /** 0 (worst) - 10 (best), whole number. */
  mood?: number;
  /** 0 (none) - 10 (worst), whole number. */
  stress?: number;
  /** At most 4,000 characters. */
  note?: string;
}

/** Weekly PEG check-in (Krebs et al. 2009): three whole numbers 0-10 about the past week. */
export interface PegCheckin extends EntryBase {
  /** P: average pain. Required. */
  pain: number;
  /** E: interference with enjoyment of life. Required. */
  enjoyment: number;
  /** G: interference with general activity. Required. */
  activity: number;
  /** At most 4,000 characters. */
  note?: string;
}

/**
 * A response to a validated questionnaire (map `questionnaires`). `recorded_at` is when
 * it was answered. Built-in instruments: "phq9", "gad7", "peg" (version "1"); see
 * schema.md, "Questionnaire response".
 */
export interface QuestionnaireResponse extends EntryBase {
  /** Instrument ID ("phq9", "gad7", "peg", or a clinic-defined one). Required, 1-64 characters. */
  instrument: InstrumentId;
  /** Version of the instrument's definition. Required, 1-16 characters. */
  version: string;
  /** Item link ID -> whole-number answer on the item's scale; unanswered items absent. At least one. */
  answers: { [linkId: string]: number };
  /** At most 4,000 characters. */
  note?: string;
}

/** The built-in instruments' IDs; a clinic may define others. */
export type InstrumentId = "phq9" | "gad7" | "peg" | (string & {});

/** The month diary document. Every map is keyed by a client-made UUID (v7 recommended). */
export interface DiaryMonthDoc {
  schema: "paindiary/diary-month/v1";
  /** The patient's UUID. */
  patient: Uuid;
  /** "YYYY-MM". */
  month: MonthKey;
  pain: { [entryId: Uuid]: PainEntry };
  medications: { [entryId: Uuid]: MedicationIntake };
  exercise: { [entryId: Uuid]: ExerciseSession };
  wellbeing: { [entryId: Uuid]: WellbeingEntry };
  checkins: { [entryId: Uuid]: PegCheckin };
  /**
   * Not in the genesis change (added after v1 was published): the first questionnaire
   * response creates it. Read every conflicting value of this key (`getConflicts`): two
   * devices creating it offline make two maps.
   */
  questionnaires?: { [entryId: Uuid]: QuestionnaireResponse };
}

// ---------------------------------------------------------------------------------------
// Care-plan document: one per patient, written by the care team, read-only on phones

/** Fields every care-plan item may carry. */
export interface CarePlanItemBase {
  /** Tombstone: deleted items are hidden from readers. */
  deleted_at?: Instant;
  /** Set by every write of the item. */
  updated_at?: Instant;
}

export interface PrescribedMedication extends CarePlanItemBase {
  /** Required. */
  drug: string;
  rxnorm?: string;
  dose_amount?: number;
  dose_unit?: DoseUnit;
  route?: Route;
  /** The schedule in words ("every 8 hours with food"). */
  schedule?: string;
  /** Scheduled intakes per day; absent for PRN-only drugs. */
  times_per_day?: number;
  /** May be taken as needed. Absent = false. */
  prn?: boolean;
  /** Most as-needed intakes allowed per day. */
  prn_max_per_day?: number;
  /** Counted in morphine milligram equivalents. Absent = false. */
  opioid?: boolean;
  start_date?: DateOnly;
  end_date?: DateOnly;
  note?: string;
}

export interface PrescribedExercise extends CarePlanItemBase {
  /** Required. */
  activity: string;
  minutes_per_session?: number;
  sessions_per_week?: number;
  note?: string;
}

export interface Intervention extends CarePlanItemBase {
  /** Required. */
  kind: InterventionKind;
  /** The day it was performed. Required. */
  date: DateOnly;
  /** Where, e.g. "L4-L5 left". */
  region?: string;
  note?: string;
}

export interface Goal extends CarePlanItemBase {
  /** Required. */
  text: string;
  target_date?: DateOnly;
  /** Absent = false. */
  achieved?: boolean;
}

/** A questionnaire assigned on a schedule: due once every `every_days` days from `start_date`. */
export interface AssignedQuestionnaire extends CarePlanItemBase {
  /** Instrument ID. Required. */
  instrument: InstrumentId;
  /** Whole number of days per period, 1-366 (28 = every 4 weeks). Required. */
  every_days: number;
  /** First day of the first period (patient's local date). Required. */
  start_date: DateOnly;
  /** Last day it is due, inclusive. */
  end_date?: DateOnly;
}

/** Per-patient alert threshold overrides; absent keeps the clinic's value. */
export interface ThresholdOverrides {
  /** Worsening: points above baseline (default 2.0). */
  worsening_points?: number;
  /** Worsening: percent above baseline (default 30). */
  worsening_percent?: number;
  /** Severe: daily maximum score (default 8). */
  severe_score?: number;
  /** Opioid load: MME/day for an info alert (default 50). */
  mme_info?: number;
  /** Opioid load: MME/day for a warning (default 90). */
  mme_warning?: number;
  /** Missed logging: days without entries (default 3). */
  missed_days?: number;
}

export interface CarePlanDoc {
  schema: "paindiary/care-plan/v1";
  patient: Uuid;
  medications: { [itemId: string]: PrescribedMedication };
  exercises: { [itemId: string]: PrescribedExercise };
  interventions: { [itemId: string]: Intervention };
  thresholds: ThresholdOverrides;
  goals: { [itemId: string]: Goal };
  /** Created by the first assignment (not in the genesis change). */
  questionnaires?: { [itemId: string]: AssignedQuestionnaire };
}

// ---------------------------------------------------------------------------------------
// Index document: one per patient; the one URL an app needs at login

export interface IndexDoc {
  schema: "paindiary/index/v1";
  patient: Uuid;
  /** URL of the patient's care-plan document. */
  care_plan?: AutomergeUrl;
  /** Month documents that exist, by "YYYY-MM". */
  months: { [month: MonthKey]: AutomergeUrl };
}
