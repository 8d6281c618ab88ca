//! The clinical alert rules: pure functions over one patient's daily series.
//!
//! No database, no clock, no I/O: the caller hands in a [`PatientSeries`] (pain per
//! local day, medication intakes, the care plan's PRN limits), the [`Thresholds`] in
//! force for the patient (defaults of DESIGN.md, "Alert rules", merged with clinic
//! settings and care-plan overrides) and `today`, the patient's current local day. Each
//! rule returns [`Decision`]s, each tied to the local day its trigger belongs to.
//!
//! # Days and late data
//! Every date is the patient's local day of the entry's `recorded_at`. The rules evaluate
//! every day up to `today` the series covers, not only `today`: an entry for five days ago
//! that arrives today is evaluated on its own day, and the decision for that day carries
//! `late: true` (some data it rests on was synced more than 24 h after it was recorded,
//! see [`is_late`]). Days after `today` are ignored. The caller bounds the work by
//! passing only the days it cares about plus [`Thresholds::history_days`] of history; the
//! alert lifecycle attaches repeated triggers of one rule to the open alert.
//!
//! # The rules
//! - [`worsening`] (warning): a sustained rise above the patient's own usual pain,
//!   judged against their own day-to-day spread (a one-sided CUSUM over a personal
//!   baseline of 8 weeks, with a clinical floor of 1.5 points and 15%).
//! - [`severe`] (urgent): daily max >= 8 on 2 consecutive calendar days, or a 10, for
//!   patients whose severe days are unusual; worse than their usual highs for patients
//!   whose ordinary days are already severe.
//! - [`opioid_load`] (info >= 50 MME/day, warning >= 90), from [`daily_mme`].
//! - [`prn_overuse`] (warning): more PRN intakes in a day than the care plan allows.
//! - [`missed_logging`] (info, for the digest): no entries for 3 whole days before today.
//! - [`questionnaire_safety`] (urgent): a questionnaire's safety item (PHQ-9 item 9)
//!   answered above 0; [`questionnaire_worsening`] (warning): a questionnaire total up by
//!   its minimal clinically important difference since the previous response. These run
//!   on scored responses, not on the daily series (see [`questionnaire`]).
//!
//! [`evaluate_all`] runs them all. Comparisons against thresholds allow a rounding error
//! of 1e-9, so that e.g. a rise of exactly 2.0 points is not lost to floating point.
//! docs/alerts.md explains the rules to clinicians, with their sources and the cohort
//! they were measured on (`cargo run --release -p paindiary-notifier --example
//! alert_cohort`).

mod baseline;
mod missed;
mod mme;
mod opioid;
mod prn;
pub mod questionnaire;
mod series;
mod severe;
mod thresholds;
mod worsening;

use std::fmt;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

pub use baseline::{PersonalBaseline, TYPICAL_DAILY_SPREAD, UsualHighs, baseline_window};
pub use missed::missed_logging;
pub use mme::{
    DayMme, DrugClass, Opioid, PATCH_DAYS, Unconvertible, classify_drug, daily_mme, mme_report,
    normalize_drug_name,
};
pub use opioid::opioid_load;
pub use prn::prn_overuse;
pub use questionnaire::{ScoredResponse, questionnaire_safety, questionnaire_worsening};
pub use series::{
    DailyPain, DoseUnit, Intake, IntakeStatus, LATE_AFTER_HOURS, PainEntry, PatientSeries,
    PrnLimit, Route, daily_pain, is_late,
};
pub use severe::severe;
pub use thresholds::{ThresholdError, ThresholdOverrides, Thresholds};
pub use worsening::worsening;

/// Tolerance of threshold comparisons on computed means and sums.
pub(crate) const EPSILON: f64 = 1e-9;

/// A date shown as `2026-06-30`, without going through chrono's general formatter.
#[derive(Clone, Copy)]
pub(crate) struct IsoDate(pub(crate) NaiveDate);

impl fmt::Display for IsoDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use chrono::Datelike as _;
        let (year, month, day) = (self.0.year(), self.0.month(), self.0.day());
        if !(0..=9999).contains(&year) {
            return write!(f, "{}", self.0);
        }
        let mut text = *b"0000-00-00";
        for (i, digit) in [year / 1000, year / 100 % 10, year / 10 % 10, year % 10]
            .into_iter()
            .enumerate()
        {
            text[i] = b'0' + digit as u8;
        }
        text[5] = b'0' + (month / 10) as u8;
        text[6] = b'0' + (month % 10) as u8;
        text[8] = b'0' + (day / 10) as u8;
        text[9] = b'0' + (day % 10) as u8;
        f.write_str(std::str::from_utf8(&text).map_err(|_| fmt::Error)?)
    }
}

/// A number shown with one decimal, rounded half away from zero. Explanations are built
/// for every triggered day of a year of data; this is several times cheaper than
/// `{:.1}`, which formats exactly.
#[derive(Clone, Copy)]
pub(crate) struct Fixed(f64);

/// `value` with one decimal: `5.0`.
pub(crate) fn one_decimal(value: f64) -> Fixed {
    Fixed(value)
}

impl fmt::Display for Fixed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scaled = self.0 * 10.0;
        if !scaled.is_finite() || scaled.abs() >= 1e15 {
            return write!(f, "{}", self.0);
        }
        let units = scaled.round() as i64;
        let sign = if units < 0 { "-" } else { "" };
        let units = units.unsigned_abs();
        write!(f, "{sign}{}.{}", units / 10, units % 10)
    }
}

/// A string that is not one of a type's stable codes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} code {code:?}")]
pub struct UnknownCode {
    /// The type that was being parsed.
    pub kind: &'static str,
    /// The refused input.
    pub code: String,
}

series::string_enum! {
    /// Which rule made a decision. The codes are stable: they are stored with alerts.
    RuleKind {
        /// Pain clearly higher than the patient's own baseline.
        Worsening => "worsening",
        /// Severe pain: high scores on consecutive days, or a 10.
        Severe => "severe",
        /// High daily opioid dose in morphine milligram equivalents.
        OpioidLoad => "opioid_load",
        /// More as-needed doses in a day than the care plan allows.
        PrnOveruse => "prn_overuse",
        /// The patient has stopped logging.
        MissedLogging => "missed_logging",
        /// A questionnaire's safety item (PHQ-9 item 9, self-harm) answered above 0.
        QuestionnaireSafety => "questionnaire_safety",
        /// A questionnaire total up by its minimal clinically important difference.
        QuestionnaireWorsening => "questionnaire_worsening",
    }
}

series::string_enum! {
    /// How urgent a decision is; ordered `Info < Warning < Urgent`.
    Severity {
        /// Goes to the daily digest.
        Info => "info",
        /// Notified to the care team.
        Warning => "warning",
        /// Notified, and escalated if not acknowledged in time.
        Urgent => "urgent",
    }
}

/// The numbers behind a decision, per rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "rule", rename_all = "snake_case")]
pub enum Evidence {
    /// See [`worsening`].
    Worsening {
        /// The recent days of the rise with data, oldest first (at most
        /// `worsening_recent_span_days` calendar days).
        recent_days: Vec<NaiveDate>,
        /// Mean of the recent days' daily scores.
        recent_mean: f64,
        /// The first day of the current rise (the day the statistic left 0).
        rise_started: NaiveDate,
        /// First day of the personal baseline window (calendar days).
        baseline_from: NaiveDate,
        /// Last day of the baseline window.
        baseline_to: NaiveDate,
        /// Days with data in the baseline window.
        baseline_days_with_data: u32,
        /// Mean of the baseline days' daily scores: the patient's usual pain.
        baseline_mean: f64,
        /// The day-to-day spread the change was judged against, in NRS points.
        baseline_spread: f64,
        /// `recent_mean - baseline_mean`.
        delta_points: f64,
        /// The rise in percent of the baseline mean; `None` when the baseline is 0.
        delta_percent: Option<f64>,
        /// The CUSUM statistic on the decision's day, in spreads.
        cusum: f64,
        /// The decision interval it reached, in spreads.
        decision_interval: f64,
    },
    /// See [`severe`].
    Severe {
        /// The consecutive days at or above the threshold ending on the decision's day,
        /// with their daily max (only the day itself when that day alone triggers).
        days: Vec<(NaiveDate, u8)>,
        /// The daily maximum each day of a run had to reach for this patient: the
        /// threshold, or one above the patient's usual highs when severe days are
        /// ordinary for them.
        threshold: u8,
        /// Whether a single score at or above `severe_single_score` triggered.
        single_score: bool,
        /// The patient's usual pain (personal baseline mean), if known.
        #[serde(default)]
        usual_mean: Option<f64>,
        /// The 95th percentile of the patient's daily maxima in the baseline, if known.
        #[serde(default)]
        usual_high: Option<u8>,
    },
    /// See [`opioid_load`].
    OpioidLoad {
        /// The day's MME with its detail.
        mme: DayMme,
        /// The threshold that was reached.
        threshold: f64,
    },
    /// See [`prn_overuse`].
    PrnOveruse {
        /// The drug, normalised.
        drug: String,
        /// PRN intakes taken that day.
        taken: u32,
        /// The care plan's maximum per day.
        max_per_day: u32,
    },
    /// See [`missed_logging`].
    MissedLogging {
        /// The last local day with any entry, if any.
        last_entry: Option<NaiveDate>,
        /// Whole local days without any entry before today.
        days_without_entries: u32,
    },
    /// See [`questionnaire_safety`].
    QuestionnaireSafety {
        /// The instrument's name.
        instrument: String,
        /// Its total, when scored.
        total: Option<f64>,
    },
    /// See [`questionnaire_worsening`].
    QuestionnaireWorsening {
        /// The instrument's name.
        instrument: String,
        /// The local day of the previous scored response.
        previous_date: NaiveDate,
        /// Its total.
        previous_total: f64,
        /// The new total.
        total: f64,
        /// The minimal clinically important difference applied.
        mcid: f64,
    },
}

/// The figures a clinician compares at a glance ("pain 6.1 vs usual 3.8, spread 0.9"),
/// and the size of the change that ranks alerts of one severity.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Figures {
    /// The figure now: recent mean pain, the day's peak score, MME, PRN doses taken.
    pub current: Option<f64>,
    /// The patient's usual level of it (personal baseline), where the rule has one.
    pub usual: Option<f64>,
    /// The patient's day-to-day spread around `usual`.
    pub spread: Option<f64>,
    /// How large the change is, in the rule's own unit (points above usual; MME above
    /// the threshold; doses above the limit). Larger ranks first.
    pub magnitude: Option<f64>,
}

/// One rule's verdict for one local day.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    /// The rule.
    pub rule: RuleKind,
    /// How urgent.
    pub severity: Severity,
    /// The patient-local day the trigger belongs to.
    pub day: NaiveDate,
    /// Whether data behind the decision was synced more than 24 h after it was recorded.
    pub late: bool,
    /// Plain words for people, with the numbers, e.g. "Pain averaged 6.1 over the last 3
    /// days with entries (rising since 2026-11-28); this patient's usual is 3.8 ...".
    /// Whether the data came late is `late`, not part of the sentence.
    pub explanation: String,
    /// The numbers, for storage and display.
    pub evidence: Evidence,
    /// The figures compared, for lists.
    #[serde(default)]
    pub figures: Figures,
}

impl Decision {
    fn new(
        rule: RuleKind,
        severity: Severity,
        day: NaiveDate,
        late: bool,
        explanation: String,
        evidence: Evidence,
    ) -> Self {
        Decision {
            rule,
            severity,
            day,
            late,
            explanation,
            evidence,
            figures: Figures::default(),
        }
    }

    fn with_figures(mut self, figures: Figures) -> Self {
        self.figures = figures;
        self
    }
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} on {}: {}",
            self.severity, self.rule, self.day, self.explanation
        )
    }
}

/// Runs every rule and returns their decisions, ordered by day, then rule.
pub fn evaluate_all(
    input: &PatientSeries,
    thresholds: &Thresholds,
    today: NaiveDate,
) -> Vec<Decision> {
    let days = series::pain_by_day(&input.pain, today);
    let mut decisions = worsening::worsening_over(&days, thresholds);
    decisions.extend(severe::severe_over(&days, thresholds));
    decisions.extend(opioid_load(input, thresholds, today));
    decisions.extend(prn_overuse(input, thresholds, today));
    decisions.extend(missed_logging(input, thresholds, today));
    decisions.sort_by_key(|d| (d.day, d.rule));
    decisions
}

#[cfg(test)]
mod tests;
