//! Validated questionnaires (instruments): the built-in definitions (PHQ-9, GAD-7, PEG),
//! checking a response's answers against its definition, scoring it (with PHQ-9's
//! proration of missing items), severity bands, and which assigned instruments are due.
//!
//! Everything here is pure and lives in the `sync` crate because three parties need the
//! same rules: the phone (validating before it writes, showing what is due offline), the
//! server (projecting, scoring, alerting) and the reminders (what is due on a local day).
//! The notifier crate has no schema knowledge, so it only gets the numbers.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::Serialize;

/// How a total is computed from the item answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "rule", rename_all = "snake_case")]
pub enum Scoring {
    /// The sum of the items; every item must be answered.
    Sum,
    /// The sum of the items; when at most `max_missing` items are unanswered, the total is
    /// the mean of the answered items times the number of items, rounded to a whole number.
    SumProrated {
        /// Most unanswered items that still give a score.
        max_missing: usize,
    },
    /// The mean of the items; every item must be answered.
    Mean,
}

/// One item of an instrument.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Item {
    /// The key of its answer in a response's `answers` map (FHIR `linkId`).
    pub link_id: &'static str,
    /// Its LOINC code, when LOINC has one.
    pub loinc: Option<&'static str>,
    /// The question, as printed on the published form.
    pub text: &'static str,
}

/// A severity band: totals from `min` upwards (up to the next band) read as `label`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Band {
    /// Lowest total in the band.
    pub min: u32,
    /// Its name (`mild`, `moderate`, ...).
    pub label: &'static str,
}

/// A questionnaire definition.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Instrument {
    /// Stable identifier stored in each response (`phq9`, `gad7`, `peg`).
    pub id: &'static str,
    /// The definition's version stored in each response.
    pub version: &'static str,
    /// Display name.
    pub name: &'static str,
    /// LOINC code of the panel (FHIR `Questionnaire.code`).
    pub panel_loinc: Option<&'static str>,
    /// LOINC code of the total score (the FHIR `Observation.code` of the total).
    pub total_loinc: Option<&'static str>,
    /// The items, in the order of the form.
    pub items: &'static [Item],
    /// Smallest answer of every item.
    pub min_answer: i64,
    /// Largest answer of every item.
    pub max_answer: i64,
    /// How the total is computed.
    pub scoring: Scoring,
    /// Severity bands, lowest first; empty when the instrument has none.
    pub bands: &'static [Band],
    /// The link ID of the item whose answer above 0 opens an urgent alert at once
    /// (PHQ-9 item 9, thoughts of self-harm).
    pub safety_item: Option<&'static str>,
    /// The minimal clinically important difference of the total: a rise by at least this
    /// much against the previous scored response is a warning. `None`: no worsening rule.
    pub worsening_points: Option<f64>,
}

/// The PHQ-9 (Kroenke, Spitzer, Williams. J Gen Intern Med 2001;16:606-613): nine items
/// about the last two weeks, 0 (not at all) to 3 (nearly every day); total 0-27; bands
/// 5 mild, 10 moderate, 15 moderately severe, 20 severe. LOINC codes from the LOINC PHQ-9
/// panel 44249-1. Free to reproduce (Pfizer: "No permission required to reproduce").
pub static PHQ9: Instrument = Instrument {
    id: "phq9",
    version: "1",
    name: "PHQ-9",
    panel_loinc: Some("44249-1"),
    total_loinc: Some("44261-6"),
    items: &[
        item("44250-9", "Little interest or pleasure in doing things"),
        item("44255-8", "Feeling down, depressed, or hopeless"),
        item(
            "44259-0",
            "Trouble falling or staying asleep, or sleeping too much",
        ),
        item("44254-1", "Feeling tired or having little energy"),
        item("44251-7", "Poor appetite or overeating"),
        item(
            "44258-2",
            "Feeling bad about yourself - or that you are a failure or have let yourself or your family down",
        ),
        item(
            "44252-5",
            "Trouble concentrating on things, such as reading the newspaper or watching television",
        ),
        item(
            "44253-3",
            "Moving or speaking so slowly that other people could have noticed? Or the opposite - being so fidgety or restless that you have been moving around a lot more than usual",
        ),
        item(
            "44260-8",
            "Thoughts that you would be better off dead or of hurting yourself in some way",
        ),
    ],
    min_answer: 0,
    max_answer: 3,
    // The PHQ Instruction Manual (Spitzer, Williams, Kroenke; Pfizer) on missing items: when
    // one or two of the nine items are unanswered, the total is the mean of the answered
    // items times 9, rounded; with more missing the questionnaire is not scored.
    scoring: Scoring::SumProrated { max_missing: 2 },
    bands: &[
        band(0, "minimal"),
        band(5, "mild"),
        band(10, "moderate"),
        band(15, "moderately_severe"),
        band(20, "severe"),
    ],
    safety_item: Some("44260-8"),
    // Löwe et al. 2004 (Med Care 42:1194-1201): a change of 5 points is the minimal
    // clinically important difference of the PHQ-9 total.
    worsening_points: Some(5.0),
};

/// The GAD-7 (Spitzer, Kroenke, Williams, Löwe. Arch Intern Med 2006;166:1092-1097): seven
/// items, 0-3 each; total 0-21; bands 5 mild, 10 moderate, 15 severe. LOINC panel 69737-5.
pub static GAD7: Instrument = Instrument {
    id: "gad7",
    version: "1",
    name: "GAD-7",
    panel_loinc: Some("69737-5"),
    total_loinc: Some("70274-6"),
    items: &[
        item("69725-0", "Feeling nervous, anxious, or on edge"),
        item("68509-9", "Not being able to stop or control worrying"),
        item("69733-4", "Worrying too much about different things"),
        item("69734-2", "Trouble relaxing"),
        item("69735-9", "Being so restless that it is hard to sit still"),
        item("69689-8", "Becoming easily annoyed or irritable"),
        item(
            "69736-7",
            "Feeling afraid, as if something awful might happen",
        ),
    ],
    min_answer: 0,
    max_answer: 3,
    // No proration rule is published with the GAD-7: every item is needed.
    scoring: Scoring::Sum,
    bands: &[
        band(0, "minimal"),
        band(5, "mild"),
        band(10, "moderate"),
        band(15, "severe"),
    ],
    safety_item: None,
    // Toussaint et al. 2020 (J Affect Disord 265:395-401): MCID of the GAD-7 total is 4.
    worsening_points: Some(4.0),
};

/// The PEG (Krebs et al. 2009, J Gen Intern Med 24:733-738): three 0-10 items about the
/// past week; the score is their mean. The diary's `checkins` entries are PEG responses
/// and are scored with this definition too.
pub static PEG: Instrument = Instrument {
    id: "peg",
    version: "1",
    name: "PEG",
    panel_loinc: None,
    total_loinc: None,
    items: &[
        Item {
            link_id: "pain",
            loinc: None,
            text: "What number best describes your pain on average in the past week?",
        },
        Item {
            link_id: "enjoyment",
            loinc: None,
            text: "What number best describes how, during the past week, pain has interfered with your enjoyment of life?",
        },
        Item {
            link_id: "activity",
            loinc: None,
            text: "What number best describes how, during the past week, pain has interfered with your general activity?",
        },
    ],
    min_answer: 0,
    max_answer: 10,
    scoring: Scoring::Mean,
    bands: &[],
    safety_item: None,
    // No published MCID for the PEG's own alerting here: the pain rules watch the NRS.
    worsening_points: None,
};

const fn item(loinc: &'static str, text: &'static str) -> Item {
    Item {
        link_id: loinc,
        loinc: Some(loinc),
        text,
    }
}

const fn band(min: u32, label: &'static str) -> Band {
    Band { min, label }
}

/// Every built-in instrument.
pub static BUILT_IN: [&Instrument; 3] = [&PHQ9, &GAD7, &PEG];

/// The built-in instrument with this ID and version.
pub fn built_in(id: &str, version: &str) -> Option<&'static Instrument> {
    BUILT_IN
        .iter()
        .copied()
        .find(|i| i.id == id && i.version == version)
}

/// Why an answer does not fit its instrument.
#[derive(Debug, Clone, PartialEq, Serialize, thiserror::Error)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum AnswerError {
    /// No definition of this instrument (or of this version) is known.
    #[error("unknown instrument {instrument:?} version {version:?}")]
    UnknownInstrument {
        /// The instrument ID, cut to 40 characters.
        instrument: String,
        /// The version, cut to 40 characters.
        version: String,
    },
    /// An answer to an item the instrument does not have.
    #[error("{instrument} has no item {item:?}")]
    UnknownItem {
        /// The instrument.
        instrument: String,
        /// The link ID found, cut to 40 characters.
        item: String,
    },
    /// An answer outside the item's scale or not a whole number.
    #[error(
        "answer to {instrument} item {item} must be a whole number from {min} to {max}, got {value}"
    )]
    InvalidAnswer {
        /// The instrument.
        instrument: String,
        /// The item's link ID.
        item: String,
        /// The answer found.
        value: f64,
        /// Smallest accepted answer.
        min: i64,
        /// Largest accepted answer.
        max: i64,
    },
    /// A response without any answer.
    #[error("a questionnaire response needs at least one answer")]
    NoAnswers,
}

/// A scored response.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Score {
    /// The total (sum, prorated sum or mean); `None` when too many items are unanswered.
    pub total: Option<f64>,
    /// How many items were answered.
    pub answered: usize,
    /// Whether the total was prorated from fewer answers than items.
    pub prorated: bool,
    /// The severity band of the total, when the instrument has bands and a total.
    pub band: Option<&'static str>,
    /// The answer to the safety item was above 0 (open an urgent alert).
    pub safety_positive: bool,
}

/// Generic definition data shared by built-in and clinic-defined instruments, so that one
/// validator and one scorer serve both.
pub trait Definition {
    /// The instrument ID.
    fn id(&self) -> &str;
    /// The items' link IDs, in order.
    fn link_ids(&self) -> Vec<&str>;
    /// Smallest and largest answer of the item `link_id`.
    fn answer_range(&self, link_id: &str) -> (i64, i64);
    /// The scoring rule.
    fn scoring(&self) -> Scoring;
    /// The severity band of a total.
    fn band(&self, total: f64) -> Option<&'static str>;
    /// The safety item, if any.
    fn safety_item(&self) -> Option<&str>;
}

impl Definition for Instrument {
    fn id(&self) -> &str {
        self.id
    }
    fn link_ids(&self) -> Vec<&str> {
        self.items.iter().map(|i| i.link_id).collect()
    }
    fn answer_range(&self, _link_id: &str) -> (i64, i64) {
        (self.min_answer, self.max_answer)
    }
    fn scoring(&self) -> Scoring {
        self.scoring
    }
    fn band(&self, total: f64) -> Option<&'static str> {
        self.bands
            .iter()
            .rev()
            .find(|b| total >= f64::from(b.min))
            .map(|b| b.label)
    }
    fn safety_item(&self) -> Option<&str> {
        self.safety_item
    }
}

/// Every problem of `answers` against `def` (empty when they fit). Unanswered items are
/// not a problem (a patient may skip a question); scoring decides what they mean.
pub fn check_answers<D: Definition + ?Sized>(
    def: &D,
    answers: &BTreeMap<String, f64>,
) -> Vec<AnswerError> {
    let mut errors = Vec::new();
    if answers.is_empty() {
        errors.push(AnswerError::NoAnswers);
    }
    let links = def.link_ids();
    for (link, value) in answers {
        if !links.contains(&link.as_str()) {
            errors.push(AnswerError::UnknownItem {
                instrument: def.id().to_owned(),
                item: link.chars().take(40).collect(),
            });
            continue;
        }
        let (min, max) = def.answer_range(link);
        if value.fract() != 0.0 || *value < min as f64 || *value > max as f64 {
            errors.push(AnswerError::InvalidAnswer {
                instrument: def.id().to_owned(),
                item: link.clone(),
                value: *value,
                min,
                max,
            });
        }
    }
    errors
}

/// Scores answers that passed [`check_answers`]. Answers to unknown items are ignored.
pub fn score<D: Definition + ?Sized>(def: &D, answers: &BTreeMap<String, f64>) -> Score {
    let links = def.link_ids();
    let n = links.len();
    let mut sum = 0.0;
    let mut answered = 0usize;
    for link in &links {
        if let Some(v) = answers.get(*link) {
            sum += v;
            answered += 1;
        }
    }
    let missing = n - answered;
    let (total, prorated) = match def.scoring() {
        _ if answered == 0 => (None, false),
        Scoring::Sum if missing == 0 => (Some(sum), false),
        Scoring::Mean if missing == 0 => (Some(sum / n as f64), false),
        Scoring::SumProrated { max_missing } if missing <= max_missing => {
            if missing == 0 {
                (Some(sum), false)
            } else {
                (Some((sum / answered as f64 * n as f64).round()), true)
            }
        }
        Scoring::Sum | Scoring::Mean | Scoring::SumProrated { .. } => (None, false),
    };
    let safety_positive = def
        .safety_item()
        .and_then(|link| answers.get(link))
        .is_some_and(|v| *v > 0.0);
    Score {
        total,
        answered,
        prorated,
        band: total.and_then(|t| def.band(t)),
        safety_positive,
    }
}

/// The answers of a PEG check-in (`checkins` entry), keyed as [`PEG`]'s items, so a
/// check-in is scored exactly as a PEG questionnaire response.
pub fn peg_answers(pain: f64, enjoyment: f64, activity: f64) -> BTreeMap<String, f64> {
    BTreeMap::from([
        ("pain".to_owned(), pain),
        ("enjoyment".to_owned(), enjoyment),
        ("activity".to_owned(), activity),
    ])
}

/// An instrument assigned to a patient in the care plan, on a schedule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Assignment {
    /// The instrument ID.
    pub instrument: String,
    /// Length of one period in days: the instrument is due once per period.
    pub every_days: u32,
    /// First day of the first period (a local date of the patient).
    pub start_date: NaiveDate,
    /// Last day it is due (inclusive), if the assignment ends.
    pub end_date: Option<NaiveDate>,
}

impl Assignment {
    /// The first day of the period holding `day`, or `None` outside the assignment.
    pub fn period_start(&self, day: NaiveDate) -> Option<NaiveDate> {
        if day < self.start_date || self.end_date.is_some_and(|end| day > end) {
            return None;
        }
        let every = i64::from(self.every_days.max(1));
        let since = (day - self.start_date).num_days();
        Some(self.start_date + chrono::TimeDelta::days(since - since % every))
    }
}

/// Which assigned instruments are due on the patient's local `day`: those whose current
/// period (see [`Assignment::period_start`]) has no answer yet. `answered` holds each
/// response's instrument ID and local day (any order). The result follows the order of
/// `assignments`, each instrument once.
pub fn due_on<'a>(
    assignments: &'a [Assignment],
    answered: &[(&str, NaiveDate)],
    day: NaiveDate,
) -> Vec<&'a str> {
    let mut due: Vec<&str> = Vec::new();
    for a in assignments {
        let Some(from) = a.period_start(day) else {
            continue;
        };
        let done = answered
            .iter()
            .any(|(id, on)| *id == a.instrument && *on >= from && *on <= day);
        if !done && !due.contains(&a.instrument.as_str()) {
            due.push(&a.instrument);
        }
    }
    due
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn answers(def: &Instrument, values: &[Option<f64>]) -> BTreeMap<String, f64> {
        def.items
            .iter()
            .zip(values)
            .filter_map(|(i, v)| v.map(|v| (i.link_id.to_owned(), v)))
            .collect()
    }

    /// Answers in the form's order (`None`: unanswered), then the expected total, band,
    /// proration and safety flag.
    type Case = (
        Vec<Option<f64>>,
        Option<f64>,
        Option<&'static str>,
        bool,
        bool,
    );

    fn all(values: &[f64]) -> Vec<Option<f64>> {
        values.iter().copied().map(Some).collect()
    }

    #[test]
    fn phq9_table() {
        // (answers, total, band, prorated, item 9 positive)
        let cases: &[Case] = &[
            (all(&[0.0; 9]), Some(0.0), Some("minimal"), false, false),
            (all(&[3.0; 9]), Some(27.0), Some("severe"), false, true),
            // Boundaries of the bands: 4 minimal, 5 mild, 9 mild, 10 moderate, 15, 20.
            (
                all(&[1., 1., 1., 1., 0., 0., 0., 0., 0.]),
                Some(4.0),
                Some("minimal"),
                false,
                false,
            ),
            (
                all(&[1., 1., 1., 1., 1., 0., 0., 0., 0.]),
                Some(5.0),
                Some("mild"),
                false,
                false,
            ),
            (
                all(&[2., 2., 2., 2., 1., 0., 0., 0., 0.]),
                Some(9.0),
                Some("mild"),
                false,
                false,
            ),
            (
                all(&[2., 2., 2., 2., 2., 0., 0., 0., 0.]),
                Some(10.0),
                Some("moderate"),
                false,
                false,
            ),
            (
                all(&[3., 3., 3., 2., 2., 2., 0., 0., 0.]),
                Some(15.0),
                Some("moderately_severe"),
                false,
                false,
            ),
            (
                all(&[3., 3., 3., 3., 2., 2., 2., 2., 0.]),
                Some(20.0),
                Some("severe"),
                false,
                false,
            ),
            // Item 9 alone: total 1, minimal, but positive.
            (
                all(&[0., 0., 0., 0., 0., 0., 0., 0., 1.]),
                Some(1.0),
                Some("minimal"),
                false,
                true,
            ),
            // One item missing: 8 answers summing 12 -> 12 / 8 * 9 = 13.5 -> 14.
            (
                vec![
                    Some(2.),
                    Some(2.),
                    Some(2.),
                    Some(2.),
                    Some(1.),
                    Some(1.),
                    Some(1.),
                    Some(1.),
                    None,
                ],
                Some(14.0),
                Some("moderate"),
                true,
                false,
            ),
            // Two missing: 7 answers summing 10 -> 10 / 7 * 9 = 12.86 -> 13.
            (
                vec![
                    Some(2.),
                    None,
                    Some(2.),
                    Some(2.),
                    Some(1.),
                    None,
                    Some(1.),
                    Some(1.),
                    Some(1.),
                ],
                Some(13.0),
                Some("moderate"),
                true,
                true,
            ),
            // Three missing: not scored.
            (
                vec![
                    Some(3.),
                    None,
                    None,
                    None,
                    Some(3.),
                    Some(3.),
                    Some(3.),
                    Some(3.),
                    Some(3.),
                ],
                None,
                None,
                false,
                true,
            ),
        ];
        for (i, (values, total, band, prorated, safety)) in cases.iter().enumerate() {
            let a = answers(&PHQ9, values);
            assert!(check_answers(&PHQ9, &a).is_empty(), "case {i}");
            let s = score(&PHQ9, &a);
            assert_eq!(s.total, *total, "case {i}");
            assert_eq!(s.band, *band, "case {i}");
            assert_eq!(s.prorated, *prorated, "case {i}");
            assert_eq!(s.safety_positive, *safety, "case {i}");
        }
    }

    #[test]
    fn gad7_table() {
        type GadCase = (Vec<Option<f64>>, Option<f64>, Option<&'static str>);
        let cases: &[GadCase] = &[
            (all(&[0.0; 7]), Some(0.0), Some("minimal")),
            (all(&[3.0; 7]), Some(21.0), Some("severe")),
            (
                all(&[1., 1., 1., 1., 0., 0., 0.]),
                Some(4.0),
                Some("minimal"),
            ),
            (all(&[1., 1., 1., 1., 1., 0., 0.]), Some(5.0), Some("mild")),
            (
                all(&[2., 2., 2., 2., 2., 0., 0.]),
                Some(10.0),
                Some("moderate"),
            ),
            (
                all(&[3., 3., 3., 3., 3., 0., 0.]),
                Some(15.0),
                Some("severe"),
            ),
            // Any missing item: not scored.
            (
                vec![
                    Some(3.),
                    Some(3.),
                    Some(3.),
                    Some(3.),
                    Some(3.),
                    Some(3.),
                    None,
                ],
                None,
                None,
            ),
        ];
        for (i, (values, total, band)) in cases.iter().enumerate() {
            let s = score(&GAD7, &answers(&GAD7, values));
            assert_eq!((s.total, s.band), (*total, *band), "case {i}");
            assert!(!s.safety_positive);
        }
    }

    #[test]
    fn peg_is_the_mean_and_checkins_score_the_same() {
        // Krebs et al. 2009's worked example style: 6, 7, 5 -> 6.
        let s = score(&PEG, &peg_answers(6.0, 7.0, 5.0));
        assert_eq!(s.total, Some(6.0));
        let s = score(&PEG, &peg_answers(4.0, 4.0, 5.0));
        assert!((s.total.unwrap() - 13.0 / 3.0).abs() < 1e-12);
        let mut missing = peg_answers(4.0, 4.0, 5.0);
        missing.remove("activity");
        assert_eq!(score(&PEG, &missing).total, None);
    }

    #[test]
    fn invalid_answers_are_refused_with_the_item_and_the_scale() {
        let mut a = answers(&PHQ9, &all(&[0.0; 9]));
        a.insert("44250-9".into(), 4.0);
        a.insert("44255-8".into(), 1.5);
        a.insert("44259-0".into(), -1.0);
        a.insert("nine".into(), 1.0);
        let errors = check_answers(&PHQ9, &a);
        let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert_eq!(
            text,
            [
                "answer to phq9 item 44250-9 must be a whole number from 0 to 3, got 4",
                "answer to phq9 item 44255-8 must be a whole number from 0 to 3, got 1.5",
                "answer to phq9 item 44259-0 must be a whole number from 0 to 3, got -1",
                "phq9 has no item \"nine\"",
            ]
        );
        assert_eq!(
            check_answers(&GAD7, &BTreeMap::new()),
            [AnswerError::NoAnswers]
        );
        let json = serde_json::to_value(&errors[0]).unwrap();
        assert_eq!(json["code"], "invalid_answer");
        assert_eq!(json["item"], "44250-9");
    }

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn due_once_per_period_from_the_start_date() {
        let plan = [
            Assignment {
                instrument: "phq9".into(),
                every_days: 28,
                start_date: d("2026-12-01"),
                end_date: None,
            },
            Assignment {
                instrument: "peg".into(),
                every_days: 7,
                start_date: d("2026-12-01"),
                end_date: Some(d("2026-12-31")),
            },
        ];
        assert_eq!(due_on(&plan, &[], d("2026-11-30")), Vec::<&str>::new());
        assert_eq!(due_on(&plan, &[], d("2026-12-01")), ["phq9", "peg"]);
        let answered = [("phq9", d("2026-12-03")), ("peg", d("2026-12-07"))];
        assert_eq!(
            due_on(&plan, &answered, d("2026-12-07")),
            Vec::<&str>::new()
        );
        // Second PEG week starts on the 8th; PHQ-9 stays answered until the 28th.
        assert_eq!(due_on(&plan, &answered, d("2026-12-08")), ["peg"]);
        assert_eq!(due_on(&plan, &answered, d("2026-12-28")), ["peg"]);
        assert_eq!(due_on(&plan, &answered, d("2026-12-29")), ["phq9", "peg"]);
        // After the PEG assignment's end.
        assert_eq!(due_on(&plan, &answered, d("2027-01-02")), ["phq9"]);
    }
}
