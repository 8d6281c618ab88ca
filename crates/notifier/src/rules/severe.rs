//! The severe-pain rule: red flags for patients whose severe days are unusual, and
//! "worse than their usual" for patients whose ordinary days are already severe.

use chrono::{Days, NaiveDate};

use super::baseline::{Sums, personal_baseline, usual_highs};
use super::series::{DailyPain, pain_by_day};
use super::{
    Decision, Evidence, Figures, IsoDate, PatientSeries, RuleKind, Severity, Thresholds,
    one_decimal,
};

/// Severe pain (urgent).
///
/// For every local day `D <= today` with data, with the patient's personal baseline (the
/// same window as the worsening rule) and its daily maxima's 95th percentile ("usual
/// highs"):
/// - **severe days are unusual for this patient** (usual highs below `severe_threshold`,
///   8), or there is no baseline yet (a new patient): the red flags of Boonstra et al.
///   2016 apply as they stand: the daily max `>= severe_threshold` on `D` and on each of
///   the `severe_consecutive_days - 1` (1) calendar days before it, or any single score
///   `>= severe_single_score` (10) on `D`;
/// - **severe days are ordinary for this patient** (usual highs at or above the
///   threshold): triggers only when it is worse than their usual: the daily max above
///   their usual highs on each of the consecutive days, or a 10 when no 10 was logged in
///   the eight weeks before (a first 10).
///
/// A day without entries breaks a run: 8, no entry, 8 does not trigger, because we cannot
/// tell the pain stayed severe. A run of three severe days triggers on its second and
/// third day (one open alert collects both). The decision is late if any day of its
/// evidence holds late entries.
pub fn severe(series: &PatientSeries, thresholds: &Thresholds, today: NaiveDate) -> Vec<Decision> {
    severe_over(&pain_by_day(&series.pain, today), thresholds)
}

/// [`severe`] over days already prepared by `pain_by_day`.
pub(crate) fn severe_over(days: &[DailyPain], thresholds: &Thresholds) -> Vec<Decision> {
    let t = thresholds;
    let sums = Sums::new(days);
    let mut decisions = Vec::new();
    for (index, day) in days.iter().enumerate() {
        // Cheap screen first: most days reach neither threshold.
        if day.max < t.severe_threshold && day.max < t.severe_single_score {
            continue;
        }
        let usual = personal_baseline(days, &sums, day.date, t);
        let highs = usual.as_ref().map(|u| usual_highs(days, u));
        let ordinary = highs.filter(|h| h.p95_max >= t.severe_threshold);
        // The score each day of a run must reach for this patient.
        let bar = match ordinary {
            Some(h) => h.p95_max.saturating_add(1).max(t.severe_threshold),
            None => t.severe_threshold,
        };
        let run = consecutive_run(days, index, bar, t.severe_consecutive_days.max(1));
        let single = day.max >= t.severe_single_score
            && (ordinary.is_none() || !recent_top_score(days, index, t.severe_single_score));
        if run.is_none() && !single {
            continue;
        }
        let evidence: Vec<DailyPain> = match &run {
            Some(run) => run.clone(),
            None => vec![*day],
        };
        let mut reasons = Vec::new();
        if let Some(run) = &run {
            let listed: Vec<String> = run
                .iter()
                .map(|d| format!("{}: {}", IsoDate(d.date), d.max))
                .collect();
            reasons.push(format!(
                "Daily maximum pain {bar} or more on {} consecutive days ({})",
                run.len(),
                listed.join(", ")
            ));
        }
        if single {
            reasons.push(format!(
                "a pain score of {} on {}",
                day.max,
                IsoDate(day.date)
            ));
        }
        let mut explanation = capitalise(&reasons.join("; "));
        match (&usual, ordinary) {
            (Some(u), Some(h)) => explanation.push_str(&format!(
                ", above this patient's usual highs (up to {} on 19 days in 20; usual pain {}).",
                h.p95_max,
                one_decimal(u.mean)
            )),
            (Some(u), None) => explanation.push_str(&format!(
                "; this patient's usual pain is {}.",
                one_decimal(u.mean)
            )),
            (None, _) => explanation.push_str(&format!(
                "; no personal baseline yet (fewer than {} days with entries in the {} days \
                 before {}).",
                t.worsening_min_baseline_days,
                t.worsening_baseline_days,
                IsoDate(day.date),
            )),
        }
        let peak = evidence.iter().map(|d| d.max).max().unwrap_or(day.max);
        decisions.push(
            Decision::new(
                RuleKind::Severe,
                Severity::Urgent,
                day.date,
                evidence.iter().any(DailyPain::is_late),
                explanation,
                Evidence::Severe {
                    days: evidence.iter().map(|d| (d.date, d.max)).collect(),
                    threshold: bar,
                    single_score: single,
                    usual_mean: usual.map(|u| u.mean),
                    usual_high: highs.map(|h| h.p95_max),
                },
            )
            .with_figures(Figures {
                current: Some(f64::from(peak)),
                usual: usual.map(|u| u.mean),
                spread: usual.map(|u| u.spread),
                magnitude: Some(f64::from(peak) - usual.map_or(0.0, |u| u.mean)),
            }),
        );
    }
    decisions
}

/// How far back a top score makes the next one "not a first": eight weeks.
const FIRST_TOP_SCORE_WEEKS: u64 = 8;

/// Whether a score of at least `top` was logged in the eight weeks before `days[index]`.
fn recent_top_score(days: &[DailyPain], index: usize, top: u8) -> bool {
    let date = days[index].date;
    let Some(since) = date.checked_sub_days(Days::new(7 * FIRST_TOP_SCORE_WEEKS)) else {
        return false;
    };
    days[..index]
        .iter()
        .rev()
        .take_while(|d| d.date >= since)
        .any(|d| d.max >= top)
}

/// The `needed` consecutive calendar days ending at `days[index]` whose daily max is at
/// least `bar`, or `None` when the run is shorter or `bar` is above the scale.
fn consecutive_run(
    days: &[DailyPain],
    index: usize,
    bar: u8,
    needed: u32,
) -> Option<Vec<DailyPain>> {
    if bar > 10 {
        return None;
    }
    let needed = needed as usize;
    let start = index.checked_sub(needed - 1)?;
    let run = &days[start..=index];
    let last = run.last()?.date;
    let consecutive = run.iter().enumerate().all(|(i, d)| {
        last.checked_sub_days(Days::new((needed - 1 - i) as u64)) == Some(d.date) && d.max >= bar
    });
    consecutive.then(|| run.to_vec())
}

fn capitalise(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}
