/**
 * Validated questionnaires (instruments), mirroring `crates/sync/src/questionnaire.rs`:
 * the built-in definitions (PHQ-9, GAD-7, PEG), checking a response's answers against its
 * definition, scoring (with PHQ-9's proration of missing items), severity bands, and
 * which assigned instruments are due on a local day. Pure: the phone shows what is due
 * and validates offline with the same rules the server scores and alerts with.
 */

import type { ValidationError } from "./validate.js";

/** How a total is computed from the item answers. */
export type Scoring =
  /** The sum of the items; every item must be answered. */
  | { rule: "sum" }
  /**
   * The sum of the items; with at most `max_missing` items unanswered, the mean of the
   * answered items times the number of items, rounded to a whole number.
   */
  | { rule: "sum_prorated"; max_missing: number }
  /** The mean of the items; every item must be answered. */
  | { rule: "mean" };

/** One item of an instrument. */
export interface InstrumentItem {
  /** The key of its answer in a response's `answers` map (FHIR `linkId`). */
  link_id: string;
  /** Its LOINC code, when LOINC has one. */
  loinc: string | null;
  /** The question, as printed on the published form. */
  text: string;
}

/** A severity band: totals from `min` upwards (up to the next band) read as `label`. */
export interface Band {
  min: number;
  label: string;
}

/** A questionnaire definition. */
export interface Instrument {
  /** Stable identifier stored in each response (`phq9`, `gad7`, `peg`). */
  id: string;
  /** The definition's version stored in each response. */
  version: string;
  /** Display name. */
  name: string;
  /** LOINC code of the panel (FHIR `Questionnaire.code`). */
  panel_loinc: string | null;
  /** LOINC code of the total score. */
  total_loinc: string | null;
  /** The items, in the order of the form. */
  items: readonly InstrumentItem[];
  /** Smallest answer of every item. */
  min_answer: number;
  /** Largest answer of every item. */
  max_answer: number;
  /** How the total is computed. */
  scoring: Scoring;
  /** Severity bands, lowest first; empty when the instrument has none. */
  bands: readonly Band[];
  /** The item whose answer above 0 opens an urgent alert at once (PHQ-9 item 9). */
  safety_item: string | null;
  /** The minimal clinically important difference of the total, if there is a worsening rule. */
  worsening_points: number | null;
}

const item = (loinc: string, text: string): InstrumentItem => ({ link_id: loinc, loinc, text });
const band = (min: number, label: string): Band => ({ min, label });

/**
 * The PHQ-9 (Kroenke, Spitzer, Williams 2001): nine items, 0-3 each; total 0-27, prorated
 * with one or two items unanswered; bands 5 mild, 10 moderate, 15 moderately severe, 20
 * severe. Item 9 (`44260-8`, thoughts of self-harm) above 0 alerts the care team at once.
 */
export const PHQ9: Instrument = {
  id: "phq9",
  version: "1",
  name: "PHQ-9",
  panel_loinc: "44249-1",
  total_loinc: "44261-6",
  items: [
    item("44250-9", "Little interest or pleasure in doing things"),
    item("44255-8", "Feeling down, depressed, or hopeless"),
    item("44259-0", "Trouble falling or staying asleep, or sleeping too much"),
    item("44254-1", "Feeling tired or having little energy"),
    item("44251-7", "Poor appetite or overeating"),
    item("44258-2", "Feeling bad about yourself - or that you are a failure or have let yourself or your family down"),
    item("44252-5", "Trouble concentrating on things, such as reading the newspaper or watching television"),
    item(
      "44253-3",
      "Moving or speaking so slowly that other people could have noticed? Or the opposite - being so fidgety or restless that you have been moving around a lot more than usual",
    ),
    item("44260-8", "Thoughts that you would be better off dead or of hurting yourself in some way"),
  ],
  min_answer: 0,
  max_answer: 3,
  scoring: { rule: "sum_prorated", max_missing: 2 },
  bands: [band(0, "minimal"), band(5, "mild"), band(10, "moderate"), band(15, "moderately_severe"), band(20, "severe")],
  safety_item: "44260-8",
  worsening_points: 5,
};

/** The GAD-7 (Spitzer et al. 2006): seven items, 0-3 each; total 0-21, every item needed. */
export const GAD7: Instrument = {
  id: "gad7",
  version: "1",
  name: "GAD-7",
  panel_loinc: "69737-5",
  total_loinc: "70274-6",
  items: [
    item("69725-0", "Feeling nervous, anxious, or on edge"),
    item("68509-9", "Not being able to stop or control worrying"),
    item("69733-4", "Worrying too much about different things"),
    item("69734-2", "Trouble relaxing"),
    item("69735-9", "Being so restless that it is hard to sit still"),
    item("69689-8", "Becoming easily annoyed or irritable"),
    item("69736-7", "Feeling afraid, as if something awful might happen"),
  ],
  min_answer: 0,
  max_answer: 3,
  scoring: { rule: "sum" },
  bands: [band(0, "minimal"), band(5, "mild"), band(10, "moderate"), band(15, "severe")],
  safety_item: null,
  worsening_points: 4,
};

/**
 * The PEG (Krebs et al. 2009): three 0-10 items about the past week; the score is their
 * mean. A `checkins` entry is scored exactly as a PEG response with the same answers.
 */
export const PEG: Instrument = {
  id: "peg",
  version: "1",
  name: "PEG",
  panel_loinc: null,
  total_loinc: null,
  items: [
    { link_id: "pain", loinc: null, text: "What number best describes your pain on average in the past week?" },
    {
      link_id: "enjoyment",
      loinc: null,
      text: "What number best describes how, during the past week, pain has interfered with your enjoyment of life?",
    },
    {
      link_id: "activity",
      loinc: null,
      text: "What number best describes how, during the past week, pain has interfered with your general activity?",
    },
  ],
  min_answer: 0,
  max_answer: 10,
  scoring: { rule: "mean" },
  bands: [],
  safety_item: null,
  worsening_points: null,
};

/** Every built-in instrument. */
export const BUILT_IN_INSTRUMENTS: readonly Instrument[] = [PHQ9, GAD7, PEG];

/** The built-in instrument with this ID and version (compared exactly, as Rust does). */
export function builtInInstrument(id: string, version: string): Instrument | undefined {
  return BUILT_IN_INSTRUMENTS.find((i) => i.id === id && i.version === version);
}

/** A response's answers: item link ID -> answer. */
export type Answers = Record<string, number>;

/** Compares strings by Unicode code point, the order of Rust's `BTreeMap<String, _>`. */
export function compareCodePoints(a: string, b: string): number {
  const x = Array.from(a);
  const y = Array.from(b);
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    const d = x[i]!.codePointAt(0)! - y[i]!.codePointAt(0)!;
    if (d !== 0) return d;
  }
  return x.length - y.length;
}

/**
 * Every problem of `answers` against `def` (empty when they fit), in the order of the
 * Rust `check_answers` (answers by link ID in code-point order). Unanswered items are not
 * a problem: scoring decides what they mean.
 */
export function checkAnswers(def: Instrument, answers: Answers): ValidationError[] {
  const errors: ValidationError[] = [];
  const keys = Object.keys(answers).sort(compareCodePoints);
  if (keys.length === 0) {
    errors.push({ code: "no_answers", message: "a questionnaire response needs at least one answer" });
  }
  const links = def.items.map((i) => i.link_id);
  for (const link of keys) {
    const value = answers[link]!;
    if (!links.includes(link)) {
      const cut = Array.from(link).slice(0, 40).join("");
      errors.push({ code: "unknown_item", instrument: def.id, item: cut, message: `${def.id} has no item ${JSON.stringify(cut)}` });
      continue;
    }
    const [min, max] = [def.min_answer, def.max_answer];
    if (!Number.isInteger(value) || value < min || value > max) {
      errors.push({
        code: "invalid_answer", instrument: def.id, item: link, value, min, max,
        message: `answer to ${def.id} item ${link} must be a whole number from ${min} to ${max}, got ${value}`,
      });
    }
  }
  return errors;
}

/** A scored response. */
export interface Score {
  /** The total (sum, prorated sum or mean); `null` when too many items are unanswered. */
  total: number | null;
  /** How many items were answered. */
  answered: number;
  /** Whether the total was prorated from fewer answers than items. */
  prorated: boolean;
  /** The severity band of the total, when the instrument has bands and a total. */
  band: string | null;
  /** The answer to the safety item was above 0 (the clinic is alerted). */
  safety_positive: boolean;
}

/** Rust's `f64::round`: halves away from zero. */
function roundHalfAway(x: number): number {
  return Math.sign(x) * Math.round(Math.abs(x));
}

/** Scores answers that passed [`checkAnswers`]; answers to unknown items are ignored. */
export function scoreAnswers(def: Instrument, answers: Answers): Score {
  const n = def.items.length;
  let sum = 0;
  let answered = 0;
  for (const { link_id } of def.items) {
    if (Object.hasOwn(answers, link_id)) {
      sum += answers[link_id]!;
      answered++;
    }
  }
  const missing = n - answered;
  let total: number | null = null;
  let prorated = false;
  if (answered > 0) {
    const s = def.scoring;
    if (s.rule === "sum" && missing === 0) total = sum;
    else if (s.rule === "mean" && missing === 0) total = sum / n;
    else if (s.rule === "sum_prorated" && missing <= s.max_missing) {
      if (missing === 0) total = sum;
      else {
        total = roundHalfAway((sum / answered) * n);
        prorated = true;
      }
    }
  }
  const t = total;
  const found = t === null ? undefined : [...def.bands].reverse().find((b) => t >= b.min);
  const safety = def.safety_item;
  return {
    total,
    answered,
    prorated,
    band: found?.label ?? null,
    safety_positive: safety !== null && Object.hasOwn(answers, safety) && answers[safety]! > 0,
  };
}

/** The answers of a PEG check-in, keyed as [`PEG`]'s items. */
export function pegAnswers(pain: number, enjoyment: number, activity: number): Answers {
  return { pain, enjoyment, activity };
}

/** An instrument assigned in the care plan, on a schedule (dates are local `YYYY-MM-DD`). */
export interface Assignment {
  /** The instrument ID. */
  instrument: string;
  /** Length of one period in days: the instrument is due once per period. */
  every_days: number;
  /** First day of the first period. */
  start_date: string;
  /** Last day it is due (inclusive), if the assignment ends. */
  end_date?: string;
}

const DAY_MS = 24 * 60 * 60 * 1000;

function dayNumber(date: string): number {
  return Math.round(Date.parse(`${date}T00:00:00Z`) / DAY_MS);
}

function dateOf(day: number): string {
  return new Date(day * DAY_MS).toISOString().slice(0, 10);
}

/** The first day of the period of `a` holding `day`, or `undefined` outside the assignment. */
export function periodStart(a: Assignment, day: string): string | undefined {
  if (day < a.start_date || (a.end_date !== undefined && day > a.end_date)) return undefined;
  const every = Math.max(1, a.every_days);
  const since = dayNumber(day) - dayNumber(a.start_date);
  return dateOf(dayNumber(a.start_date) + since - (since % every));
}

/**
 * Which assigned instruments are due on the patient's local `day`: those whose current
 * period has no answer yet. `answered` holds each response's instrument ID and local day.
 * The result follows the order of `assignments`, each instrument once (Rust `due_on`).
 */
export function dueOn(assignments: readonly Assignment[], answered: readonly { instrument: string; day: string }[], day: string): string[] {
  const due: string[] = [];
  for (const a of assignments) {
    const from = periodStart(a, day);
    if (from === undefined) continue;
    const done = answered.some((r) => r.instrument === a.instrument && r.day >= from && r.day <= day);
    if (!done && !due.includes(a.instrument)) due.push(a.instrument);
  }
  return due;
}
