//! The severe-pain rule.

use chrono::{Days, NaiveDate};

use super::series::{DailyPain, pain_by_day};
use super::{Decision, Evidence, IsoDate, PatientSeries, RuleKind, Severity, Thresholds};

/// Severe pain (urgent).
///
/// For every local day `D <= today` with data, triggers when either
/// - the daily max was `>= severe_threshold` (8) on `D` and on each of the
///   `severe_consecutive_days - 1` (1) *calendar* days before it. A day without entries
///   breaks the run: 8, no entry, 8 does not trigger, because we cannot tell the pain
///   stayed severe; or
/// - any single score on `D` was `>= severe_single_score` (10).
///
/// A run of three severe days triggers on its second and third day (one open alert
/// collects both). The decision is late if any day of its evidence holds late entries.
pub fn severe(series: &PatientSeries, thresholds: &Thresholds, today: NaiveDate) -> Vec<Decision> {
    severe_over(&pain_by_day(&series.pain, today), thresholds)
}

/// [`severe`] over days already prepared by `pain_by_day`.
pub(crate) fn severe_over(days: &[DailyPain], thresholds: &Thresholds) -> Vec<Decision> {
    let t = thresholds;
    let needed = t.severe_consecutive_days.max(1) as usize;
    let mut decisions = Vec::new();
    // The current run of consecutive calendar days at or above the threshold.
    let mut run: Vec<(NaiveDate, u8, bool)> = Vec::new();

    for day in days {
        let date = day.date;
        let continues = run
            .last()
            .and_then(|(prev, _, _)| prev.checked_add_days(Days::new(1)))
            == Some(date);
        if !continues {
            run.clear();
        }
        if day.max >= t.severe_threshold {
            run.push((date, day.max, day.is_late()));
        } else {
            run.clear();
        }
        let consecutive = run.len() >= needed;
        let single = day.max >= t.severe_single_score;
        if !(consecutive || single) {
            continue;
        }
        let evidence: Vec<(NaiveDate, u8, bool)> = if consecutive {
            run[run.len().saturating_sub(needed)..].to_vec()
        } else {
            vec![(date, day.max, day.is_late())]
        };
        let mut reasons = Vec::new();
        if consecutive {
            let listed: Vec<String> = evidence
                .iter()
                .map(|(d, max, _)| format!("{}: {max}", IsoDate(*d)))
                .collect();
            reasons.push(format!(
                "daily max >= {} on {needed} consecutive days ({})",
                t.severe_threshold,
                listed.join(", ")
            ));
        }
        if single {
            reasons.push(format!("a pain score of {} on {}", day.max, IsoDate(date)));
        }
        decisions.push(Decision::new(
            RuleKind::Severe,
            Severity::Urgent,
            date,
            evidence.iter().any(|(_, _, late)| *late),
            reasons.join("; "),
            Evidence::Severe {
                days: evidence.iter().map(|(d, max, _)| (*d, *max)).collect(),
                threshold: t.severe_threshold,
                single_score: single,
            },
        ));
    }
    decisions
}
