//! Alert thresholds: the defaults of DESIGN.md ("Alert rules"), clinic settings and
//! per-patient care-plan overrides merged over them, and their validation.

use serde::{Deserialize, Serialize};

/// Every number the rules compare against. [`Thresholds::default`] holds the clinical
/// defaults; clinic settings and the patient's care plan override them through
/// [`Thresholds::with`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Thresholds {
    /// Worsening: the recent mean, quoted and held against the clinical floor, covers the
    /// last this many days with data of the current rise. Default 3.
    pub worsening_recent_days: u32,
    /// Worsening: those recent days lie within this many calendar days ending at the
    /// evaluated day, so that "recent" never stretches over weeks of silence. Default 7.
    pub worsening_recent_span_days: u32,
    /// Worsening: the personal baseline covers this many calendar days. Default 56
    /// (8 weeks).
    pub worsening_baseline_days: u32,
    /// Worsening: the baseline ends this many days before the evaluated day; the days in
    /// between are the ones being judged (the statistic accumulates over them). Default 14.
    pub worsening_guard_days: u32,
    /// Worsening: the least number of baseline days with data for the rule to speak.
    /// Default 14.
    pub worsening_min_baseline_days: u32,
    /// Worsening, the clinical floor: the recent mean must be at least this many NRS
    /// points above the patient's usual, however clear the change is statistically.
    /// Default 1.5: above the minimal clinically important change of the NRS in chronic
    /// pain (about 1 point, Salaffi et al. 2004), below "much worse" (2 points, Farrar et
    /// al. 2001), so that a rise of 2 points is not lost to one quiet day.
    pub worsening_points: f64,
    /// Worsening, the clinical floor as a share of the patient's usual pain: the rise
    /// must also be at least this percentage of it. Default 15% (Salaffi et al. 2004).
    pub worsening_percent: f64,
    /// Worsening: the CUSUM's reference value k, in units of the patient's day-to-day
    /// spread: each day adds how far it lies above the usual mean minus this. Default 0.75.
    pub worsening_reference_sd: f64,
    /// Worsening: the CUSUM's decision interval h, in units of the spread: the alert
    /// opens when the accumulated excess reaches it. Default 5.0 (calibrated on the alert
    /// cohort, docs/alerts.md).
    pub worsening_decision_sd: f64,
    /// Worsening: the spread is never taken smaller than this many points, so that a
    /// patient who logs the same score every day is not alerted by a one-point change.
    /// Default 0.5.
    pub worsening_min_spread: f64,
    /// Severe: a daily max at or above this score on consecutive calendar days triggers.
    /// Default 8 (Boonstra et al. 2016; some clinics use 7).
    pub severe_threshold: u8,
    /// Severe: how many consecutive calendar days at or above `severe_threshold`.
    /// Default 2.
    pub severe_consecutive_days: u32,
    /// Severe: a single score at or above this triggers on its own. Default 10.
    pub severe_single_score: u8,
    /// Opioid load: daily MME at or above this is an info alert. Default 50 (CDC 2022).
    pub mme_info: f64,
    /// Opioid load: daily MME at or above this is a warning. Default 90 (CDC 2022).
    pub mme_warning: f64,
    /// Missed logging: this many whole local days without any entry before today
    /// triggers. Default 3.
    pub missed_logging_days: u32,
    /// An open pain alert whose rule has not triggered on this many later days with data
    /// is shown as "cleared since" the first of them. Default 3.
    pub cleared_after_days: u32,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            worsening_recent_days: 3,
            worsening_recent_span_days: 7,
            worsening_baseline_days: 56,
            worsening_guard_days: 14,
            worsening_min_baseline_days: 14,
            worsening_points: 1.5,
            worsening_percent: 15.0,
            worsening_reference_sd: 0.75,
            worsening_decision_sd: 5.0,
            worsening_min_spread: 0.5,
            severe_threshold: 8,
            severe_consecutive_days: 2,
            severe_single_score: 10,
            mme_info: 50.0,
            mme_warning: 90.0,
            missed_logging_days: 3,
            cleared_after_days: 3,
        }
    }
}

/// A partial set of thresholds: clinic settings or a care plan's overrides. Absent
/// fields keep the value beneath. Unknown fields are rejected when deserialising, so a
/// misspelt override is an error rather than silently ignored.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[allow(missing_docs)] // each field overrides the field of the same name in `Thresholds`
pub struct ThresholdOverrides {
    pub worsening_recent_days: Option<u32>,
    pub worsening_recent_span_days: Option<u32>,
    pub worsening_baseline_days: Option<u32>,
    pub worsening_guard_days: Option<u32>,
    pub worsening_min_baseline_days: Option<u32>,
    pub worsening_points: Option<f64>,
    pub worsening_percent: Option<f64>,
    pub worsening_reference_sd: Option<f64>,
    pub worsening_decision_sd: Option<f64>,
    pub worsening_min_spread: Option<f64>,
    pub severe_threshold: Option<u8>,
    pub severe_consecutive_days: Option<u32>,
    pub severe_single_score: Option<u8>,
    pub mme_info: Option<f64>,
    pub mme_warning: Option<f64>,
    pub missed_logging_days: Option<u32>,
    pub cleared_after_days: Option<u32>,
}

/// Why a set of thresholds was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ThresholdError {
    /// One value lies outside its allowed range.
    #[error("threshold {field} = {value} is out of range: expected {expected}")]
    OutOfRange {
        /// The field name, as in [`Thresholds`].
        field: &'static str,
        /// The refused value.
        value: String,
        /// The allowed range, for people.
        expected: &'static str,
    },
    /// Two values contradict each other.
    #[error("thresholds are inconsistent: {0}")]
    Inconsistent(&'static str),
}

fn check<T: ToString>(
    field: &'static str,
    value: T,
    ok: bool,
    expected: &'static str,
) -> Result<(), ThresholdError> {
    if ok {
        Ok(())
    } else {
        Err(ThresholdError::OutOfRange {
            field,
            value: value.to_string(),
            expected,
        })
    }
}

impl Thresholds {
    /// These thresholds with `overrides` applied, validated as a whole: either a
    /// consistent set or the first problem found. Chain clinic then patient:
    /// `Thresholds::default().with(&clinic)?.with(&patient)?`.
    pub fn with(&self, overrides: &ThresholdOverrides) -> Result<Thresholds, ThresholdError> {
        let o = overrides;
        let merged = Thresholds {
            worsening_recent_days: o
                .worsening_recent_days
                .unwrap_or(self.worsening_recent_days),
            worsening_recent_span_days: o
                .worsening_recent_span_days
                .unwrap_or(self.worsening_recent_span_days),
            worsening_baseline_days: o
                .worsening_baseline_days
                .unwrap_or(self.worsening_baseline_days),
            worsening_guard_days: o.worsening_guard_days.unwrap_or(self.worsening_guard_days),
            worsening_min_baseline_days: o
                .worsening_min_baseline_days
                .unwrap_or(self.worsening_min_baseline_days),
            worsening_points: o.worsening_points.unwrap_or(self.worsening_points),
            worsening_percent: o.worsening_percent.unwrap_or(self.worsening_percent),
            worsening_reference_sd: o
                .worsening_reference_sd
                .unwrap_or(self.worsening_reference_sd),
            worsening_decision_sd: o
                .worsening_decision_sd
                .unwrap_or(self.worsening_decision_sd),
            worsening_min_spread: o.worsening_min_spread.unwrap_or(self.worsening_min_spread),
            severe_threshold: o.severe_threshold.unwrap_or(self.severe_threshold),
            severe_consecutive_days: o
                .severe_consecutive_days
                .unwrap_or(self.severe_consecutive_days),
            severe_single_score: o.severe_single_score.unwrap_or(self.severe_single_score),
            mme_info: o.mme_info.unwrap_or(self.mme_info),
            mme_warning: o.mme_warning.unwrap_or(self.mme_warning),
            missed_logging_days: o.missed_logging_days.unwrap_or(self.missed_logging_days),
            cleared_after_days: o.cleared_after_days.unwrap_or(self.cleared_after_days),
        };
        merged.validate()?;
        Ok(merged)
    }

    /// Checks every value against its range and the values against each other.
    pub fn validate(&self) -> Result<(), ThresholdError> {
        let t = self;
        check(
            "worsening_recent_days",
            t.worsening_recent_days,
            (1..=14).contains(&t.worsening_recent_days),
            "1..=14",
        )?;
        check(
            "worsening_recent_span_days",
            t.worsening_recent_span_days,
            (1..=31).contains(&t.worsening_recent_span_days),
            "1..=31",
        )?;
        check(
            "worsening_baseline_days",
            t.worsening_baseline_days,
            (7..=180).contains(&t.worsening_baseline_days),
            "7..=180",
        )?;
        check(
            "worsening_guard_days",
            t.worsening_guard_days,
            (1..=31).contains(&t.worsening_guard_days),
            "1..=31",
        )?;
        check(
            "worsening_min_baseline_days",
            t.worsening_min_baseline_days,
            (2..=180).contains(&t.worsening_min_baseline_days),
            "2..=180",
        )?;
        check(
            "worsening_reference_sd",
            t.worsening_reference_sd,
            (0.0..=3.0).contains(&t.worsening_reference_sd),
            "a number in [0, 3]",
        )?;
        check(
            "worsening_decision_sd",
            t.worsening_decision_sd,
            t.worsening_decision_sd > 0.0 && t.worsening_decision_sd <= 50.0,
            "a number in (0, 50]",
        )?;
        check(
            "worsening_min_spread",
            t.worsening_min_spread,
            t.worsening_min_spread > 0.0 && t.worsening_min_spread <= 5.0,
            "a number in (0, 5]",
        )?;
        check(
            "worsening_points",
            t.worsening_points,
            t.worsening_points > 0.0 && t.worsening_points <= 10.0,
            "a number in (0, 10]",
        )?;
        check(
            "worsening_percent",
            t.worsening_percent,
            t.worsening_percent > 0.0 && t.worsening_percent <= 100.0,
            "a percentage in (0, 100]",
        )?;
        check(
            "severe_threshold",
            t.severe_threshold,
            (1..=10).contains(&t.severe_threshold),
            "1..=10",
        )?;
        check(
            "severe_consecutive_days",
            t.severe_consecutive_days,
            (1..=14).contains(&t.severe_consecutive_days),
            "1..=14",
        )?;
        check(
            "severe_single_score",
            t.severe_single_score,
            (1..=10).contains(&t.severe_single_score),
            "1..=10",
        )?;
        check(
            "mme_info",
            t.mme_info,
            t.mme_info.is_finite() && t.mme_info > 0.0,
            "a positive number",
        )?;
        check(
            "mme_warning",
            t.mme_warning,
            t.mme_warning.is_finite() && t.mme_warning > 0.0,
            "a positive number",
        )?;
        check(
            "missed_logging_days",
            t.missed_logging_days,
            (1..=90).contains(&t.missed_logging_days),
            "1..=90",
        )?;
        check(
            "cleared_after_days",
            t.cleared_after_days,
            (1..=90).contains(&t.cleared_after_days),
            "1..=90",
        )?;
        if t.worsening_recent_span_days < t.worsening_recent_days {
            return Err(ThresholdError::Inconsistent(
                "worsening_recent_span_days must be at least worsening_recent_days",
            ));
        }
        if t.worsening_min_baseline_days > t.worsening_baseline_days {
            return Err(ThresholdError::Inconsistent(
                "worsening_min_baseline_days must not exceed worsening_baseline_days",
            ));
        }
        if t.mme_info > t.mme_warning {
            return Err(ThresholdError::Inconsistent(
                "mme_info must not exceed mme_warning",
            ));
        }
        Ok(())
    }

    /// How many local days before the earliest day of interest the rules look back:
    /// the series handed to the rules should start this many days earlier.
    pub fn history_days(&self) -> u32 {
        // The baseline window ends `worsening_guard_days` before the evaluated day.
        let worsening = self.worsening_guard_days + self.worsening_baseline_days;
        let severe = self.severe_consecutive_days.saturating_sub(1);
        // A fentanyl patch logged up to 2 days earlier still counts (see `daily_mme`).
        worsening.max(severe).max(2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_design() {
        let t = Thresholds::default();
        assert_eq!(
            (
                t.worsening_recent_days,
                t.worsening_baseline_days,
                t.worsening_min_baseline_days
            ),
            (3, 56, 14)
        );
        assert_eq!(t.worsening_guard_days, 14);
        assert_eq!((t.worsening_points, t.worsening_percent), (1.5, 15.0));
        assert_eq!(
            (
                t.severe_threshold,
                t.severe_consecutive_days,
                t.severe_single_score
            ),
            (8, 2, 10)
        );
        assert_eq!(
            (t.mme_info, t.mme_warning, t.missed_logging_days),
            (50.0, 90.0, 3)
        );
        assert_eq!(t.validate(), Ok(()));
        assert_eq!(t.history_days(), 70);
    }

    #[test]
    fn clinic_then_patient_overrides() {
        let clinic = ThresholdOverrides {
            severe_threshold: Some(7),
            mme_info: Some(40.0),
            ..Default::default()
        };
        let patient = ThresholdOverrides {
            severe_threshold: Some(9),
            ..Default::default()
        };
        let t = Thresholds::default()
            .with(&clinic)
            .unwrap()
            .with(&patient)
            .unwrap();
        assert_eq!(
            (t.severe_threshold, t.mme_info, t.mme_warning),
            (9, 40.0, 90.0)
        );
        let only_clinic = Thresholds::default().with(&clinic).unwrap();
        assert_eq!(only_clinic.severe_threshold, 7);
    }

    #[test]
    fn invalid_overrides_are_refused() {
        let cases: Vec<(ThresholdOverrides, &str)> = vec![
            (
                ThresholdOverrides {
                    worsening_percent: Some(0.0),
                    ..Default::default()
                },
                "worsening_percent",
            ),
            (
                ThresholdOverrides {
                    worsening_percent: Some(100.5),
                    ..Default::default()
                },
                "worsening_percent",
            ),
            (
                ThresholdOverrides {
                    worsening_percent: Some(f64::NAN),
                    ..Default::default()
                },
                "worsening_percent",
            ),
            (
                ThresholdOverrides {
                    severe_threshold: Some(0),
                    ..Default::default()
                },
                "severe_threshold",
            ),
            (
                ThresholdOverrides {
                    severe_threshold: Some(11),
                    ..Default::default()
                },
                "severe_threshold",
            ),
            (
                ThresholdOverrides {
                    worsening_points: Some(-1.0),
                    ..Default::default()
                },
                "worsening_points",
            ),
            (
                ThresholdOverrides {
                    mme_warning: Some(f64::INFINITY),
                    ..Default::default()
                },
                "mme_warning",
            ),
            (
                ThresholdOverrides {
                    missed_logging_days: Some(0),
                    ..Default::default()
                },
                "missed_logging_days",
            ),
        ];
        for (overrides, field) in cases {
            match Thresholds::default().with(&overrides) {
                Err(ThresholdError::OutOfRange { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{overrides:?}: expected {field} out of range, got {other:?}"),
            }
        }
        let edge = ThresholdOverrides {
            worsening_percent: Some(100.0),
            severe_threshold: Some(10),
            ..Default::default()
        };
        assert!(Thresholds::default().with(&edge).is_ok());
    }

    #[test]
    fn inconsistent_overrides_are_refused() {
        let patient = ThresholdOverrides {
            mme_info: Some(120.0),
            ..Default::default()
        };
        assert!(matches!(
            Thresholds::default().with(&patient),
            Err(ThresholdError::Inconsistent(_))
        ));
        let patient = ThresholdOverrides {
            worsening_min_baseline_days: Some(57),
            ..Default::default()
        };
        assert!(matches!(
            Thresholds::default().with(&patient),
            Err(ThresholdError::Inconsistent(_))
        ));
    }

    #[test]
    fn overrides_deserialise_from_the_care_plan_and_reject_typos() {
        let o: ThresholdOverrides = serde_json::from_str(r#"{"severe_threshold": 7}"#).unwrap();
        assert_eq!(o.severe_threshold, Some(7));
        assert_eq!(o.mme_info, None);
        assert!(serde_json::from_str::<ThresholdOverrides>(r#"{"severe_treshold": 7}"#).is_err());
    }
}
