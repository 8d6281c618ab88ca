//! The worsening rule.

use chrono::{Days, NaiveDate};

use super::series::{DailyPain, pain_by_day};
use super::{
    Decision, EPSILON, Evidence, PatientSeries, RuleKind, Severity, Thresholds, one_decimal,
    signed_one_decimal, signed_whole,
};

/// Worsening (warning): the patient's recent pain is clearly above their own baseline.
///
/// For every local day `D <= today` with data:
/// - **recent** = the `worsening_recent_days` (3) most recent days with data up to and
///   including `D` (a day "with data" has at least one valid NRS entry; days without
///   entries are skipped, not counted as 0). They must all lie within
///   `worsening_recent_span_days` (7) calendar days ending at `D`; otherwise a mean over
///   weeks of silence is not a "recent" mean and the day is not evaluated.
/// - **baseline** = the days with data among the `worsening_baseline_days` (14)
///   *calendar* days before the first recent day. Fewer than
///   `worsening_min_baseline_days` (5) of them: not applicable.
/// - Both means are means of daily scores (each day weighs the same however many
///   entries it has).
/// - Triggers when `recent - baseline >= worsening_points` (2.0) **or** the rise is
///   `>= worsening_percent` (30%) of the baseline mean. With a baseline mean of 0 the
///   percentage is undefined: only the points test applies.
///
/// The decision belongs to `D`, the last recent day, and is late if any recent day holds
/// late entries. A lasting worsening triggers on each day it persists; the lifecycle
/// attaches those to one open alert.
pub fn worsening(
    series: &PatientSeries,
    thresholds: &Thresholds,
    today: NaiveDate,
) -> Vec<Decision> {
    worsening_over(&pain_by_day(&series.pain, today), thresholds)
}

/// [`worsening`] over days already prepared by `pain_by_day`.
pub(crate) fn worsening_over(days: &[DailyPain], thresholds: &Thresholds) -> Vec<Decision> {
    let t = thresholds;
    // prefix[i] = sum of the daily means of days[..i]: any run's mean in O(1).
    let mut prefix = Vec::with_capacity(days.len() + 1);
    prefix.push(0.0);
    for day in days {
        prefix.push(prefix.last().copied().unwrap_or(0.0) + day.mean);
    }
    let recent_n = t.worsening_recent_days.max(1) as usize;
    let mut decisions = Vec::new();

    for end in recent_n..=days.len() {
        let start = end - recent_n;
        let recent = &days[start..end];
        let (Some(first), Some(last)) = (recent.first(), recent.last()) else {
            continue;
        };
        if (last.date - first.date).num_days() >= i64::from(t.worsening_recent_span_days) {
            continue;
        }
        let (Some(baseline_to), Some(baseline_from)) = (
            first.date.checked_sub_days(Days::new(1)),
            first
                .date
                .checked_sub_days(Days::new(u64::from(t.worsening_baseline_days))),
        ) else {
            continue;
        };
        // Days with data in baseline_from..=baseline_to are days[baseline_start..start].
        let baseline_start = days[..start].partition_point(|d| d.date < baseline_from);
        let baseline_n = start - baseline_start;
        if baseline_n < t.worsening_min_baseline_days as usize || baseline_n == 0 {
            continue;
        }
        let recent_mean = (prefix[end] - prefix[start]) / recent_n as f64;
        let baseline_mean = (prefix[start] - prefix[baseline_start]) / baseline_n as f64;
        let delta_points = recent_mean - baseline_mean;
        let delta_percent = (baseline_mean > 0.0).then(|| delta_points / baseline_mean * 100.0);
        let by_points = delta_points >= t.worsening_points - EPSILON;
        let by_percent = delta_percent.is_some_and(|p| p >= t.worsening_percent - EPSILON);
        if !(by_points || by_percent) {
            continue;
        }
        let change = match delta_percent {
            Some(p) => format!("{}, {}%", signed_one_decimal(delta_points), signed_whole(p)),
            None => format!(
                "{}; no percentage, baseline 0",
                signed_one_decimal(delta_points)
            ),
        };
        let explanation = format!(
            "{recent_n}-day mean {} vs {}-day baseline {} ({change})",
            one_decimal(recent_mean),
            t.worsening_baseline_days,
            one_decimal(baseline_mean),
        );
        decisions.push(Decision::new(
            RuleKind::Worsening,
            Severity::Warning,
            last.date,
            recent.iter().any(DailyPain::is_late),
            explanation,
            Evidence::Worsening {
                recent_days: recent.iter().map(|d| d.date).collect(),
                recent_mean,
                baseline_from,
                baseline_to,
                baseline_days_with_data: baseline_n as u32,
                baseline_mean,
                delta_points,
                delta_percent,
            },
        ));
    }
    decisions
}
