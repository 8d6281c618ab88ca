//! The worsening rule.

use chrono::{Days, NaiveDate};

use super::series::pain_by_day;
use super::{Decision, EPSILON, Evidence, PatientSeries, RuleKind, Severity, Thresholds};

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
    let t = thresholds;
    let days = pain_by_day(&series.pain, today);
    let dates: Vec<NaiveDate> = days.keys().copied().collect();
    let recent_n = t.worsening_recent_days.max(1) as usize;
    let mut decisions = Vec::new();

    for recent in dates.windows(recent_n) {
        let (Some(&first), Some(&last)) = (recent.first(), recent.last()) else {
            continue;
        };
        if (last - first).num_days() >= i64::from(t.worsening_recent_span_days) {
            continue;
        }
        let (Some(baseline_to), Some(baseline_from)) = (
            first.checked_sub_days(Days::new(1)),
            first.checked_sub_days(Days::new(u64::from(t.worsening_baseline_days))),
        ) else {
            continue;
        };
        let (mut baseline_n, mut baseline_sum) = (0u32, 0.0);
        for day in days.range(baseline_from..=baseline_to).map(|(_, d)| d) {
            baseline_n += 1;
            baseline_sum += day.mean;
        }
        if baseline_n < t.worsening_min_baseline_days || baseline_n == 0 {
            continue;
        }
        let recent_days: Vec<_> = recent.iter().filter_map(|d| days.get(d)).collect();
        let recent_mean =
            recent_days.iter().map(|d| d.mean).sum::<f64>() / recent_days.len() as f64;
        let baseline_mean = baseline_sum / f64::from(baseline_n);
        let delta_points = recent_mean - baseline_mean;
        let delta_percent = (baseline_mean > 0.0).then(|| delta_points / baseline_mean * 100.0);
        let by_points = delta_points >= t.worsening_points - EPSILON;
        let by_percent = delta_percent.is_some_and(|p| p >= t.worsening_percent - EPSILON);
        if !(by_points || by_percent) {
            continue;
        }
        let change = match delta_percent {
            Some(p) => format!("{delta_points:+.1}, {p:+.0}%"),
            None => format!("{delta_points:+.1}; no percentage, baseline 0"),
        };
        let explanation = format!(
            "{recent_n}-day mean {recent_mean:.1} vs {}-day baseline {baseline_mean:.1} ({change})",
            t.worsening_baseline_days
        );
        decisions.push(Decision::new(
            RuleKind::Worsening,
            Severity::Warning,
            last,
            recent_days.iter().any(|d| d.is_late()),
            explanation,
            Evidence::Worsening {
                recent_days: recent.to_vec(),
                recent_mean,
                baseline_from,
                baseline_to,
                baseline_days_with_data: baseline_n,
                baseline_mean,
                delta_points,
                delta_percent,
            },
        ));
    }
    decisions
}
