//! Questionnaire rules: a positive answer to a safety item (PHQ-9 item 9, thoughts of
//! self-harm) is urgent at once, whatever the total; a total that rose by at least the
//! instrument's minimal clinically important difference since the previous scored
//! response is a warning. Pure: the caller scores responses (the `sync` crate's
//! `questionnaire` module) and hands in the numbers.

use chrono::NaiveDate;

use super::{Decision, Evidence, Figures, IsoDate, RuleKind, Severity, one_decimal};

/// One scored response of one instrument, as the rules need it.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoredResponse {
    /// The patient's local day of the response.
    pub date: NaiveDate,
    /// The instrument's display name (`PHQ-9`).
    pub instrument: String,
    /// The total, when scored.
    pub total: Option<f64>,
    /// The safety item was answered above 0.
    pub safety_positive: bool,
    /// Synced more than 24 h after it was answered.
    pub late: bool,
}

/// The safety rule: urgent when the response's safety item is positive.
pub fn questionnaire_safety(response: &ScoredResponse) -> Option<Decision> {
    if !response.safety_positive {
        return None;
    }
    Some(Decision::new(
        RuleKind::QuestionnaireSafety,
        Severity::Urgent,
        response.date,
        response.late,
        format!(
            "{} of {} answered the self-harm item above 0: contact the patient today.",
            response.instrument,
            IsoDate(response.date)
        ),
        Evidence::QuestionnaireSafety {
            instrument: response.instrument.clone(),
            total: response.total,
        },
    ))
}

/// The worsening rule: `current`'s total is at least `mcid` above `previous`'s (the
/// previous scored response of the same instrument).
pub fn questionnaire_worsening(
    previous: &ScoredResponse,
    current: &ScoredResponse,
    mcid: f64,
) -> Option<Decision> {
    let (Some(before), Some(now)) = (previous.total, current.total) else {
        return None;
    };
    let rise = now - before;
    if rise + super::EPSILON < mcid {
        return None;
    }
    Some(
        Decision::new(
            RuleKind::QuestionnaireWorsening,
            Severity::Warning,
            current.date,
            current.late,
            format!(
                "{} total rose from {} on {} to {} on {} (a rise of {}; {} points is the smallest change that matters clinically).",
                current.instrument,
                one_decimal(before),
                IsoDate(previous.date),
                one_decimal(now),
                IsoDate(current.date),
                one_decimal(rise),
                one_decimal(mcid),
            ),
            Evidence::QuestionnaireWorsening {
                instrument: current.instrument.clone(),
                previous_date: previous.date,
                previous_total: before,
                total: now,
                mcid,
            },
        )
        .with_figures(Figures {
            current: Some(now),
            usual: Some(before),
            spread: None,
            magnitude: Some(rise),
        }),
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn response(day: u32, total: Option<f64>, safety: bool) -> ScoredResponse {
        ScoredResponse {
            date: NaiveDate::from_ymd_opt(2026, 12, day).unwrap(),
            instrument: "PHQ-9".into(),
            total,
            safety_positive: safety,
            late: false,
        }
    }

    #[test]
    fn item_9_is_urgent_whatever_the_total() {
        let d = questionnaire_safety(&response(3, Some(1.0), true)).unwrap();
        assert_eq!(
            (d.rule, d.severity),
            (RuleKind::QuestionnaireSafety, Severity::Urgent)
        );
        // Not scored (too many items missing) but item 9 answered: still urgent.
        assert!(questionnaire_safety(&response(3, None, true)).is_some());
        assert!(questionnaire_safety(&response(3, Some(27.0), false)).is_none());
    }

    #[test]
    fn a_rise_of_the_mcid_is_a_warning_and_less_is_not() {
        let before = response(1, Some(6.0), false);
        let d = questionnaire_worsening(&before, &response(29, Some(11.0), false), 5.0).unwrap();
        assert_eq!(
            (d.rule, d.severity),
            (RuleKind::QuestionnaireWorsening, Severity::Warning)
        );
        assert_eq!(d.figures.magnitude, Some(5.0));
        assert!(questionnaire_worsening(&before, &response(29, Some(10.0), false), 5.0).is_none());
        assert!(questionnaire_worsening(&before, &response(29, None, false), 5.0).is_none());
        assert!(questionnaire_worsening(&before, &response(29, Some(1.0), false), 5.0).is_none());
    }
}
