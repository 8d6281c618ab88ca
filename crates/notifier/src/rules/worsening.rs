//! The worsening rule: a sustained rise above the patient's own usual pain, judged
//! against the patient's own day-to-day spread (a one-sided CUSUM, statistical process
//! control), with a clinical floor.

use chrono::NaiveDate;

use super::baseline::{PersonalBaseline, Sums, personal_baseline};
use super::series::{DailyPain, pain_by_day};
use super::{
    Decision, EPSILON, Evidence, Figures, IsoDate, PatientSeries, RuleKind, Severity, Thresholds,
    one_decimal,
};

/// Worsening (warning): the patient's pain has risen, and stayed up, clearly above their
/// own usual level.
///
/// For every local day `D <= today` with data:
/// - **usual**: the patient's [personal baseline](super::PersonalBaseline), the daily
///   scores of the `worsening_baseline_days` (56) calendar days that end
///   `worsening_guard_days` (14) days before `D`: their mean and day-to-day spread `s`.
///   Fewer than `worsening_min_baseline_days` (14) days with data: the rule does not
///   speak (a new patient; the severe rule's absolute red flags still apply).
/// - **the statistic**: over the days with data after the baseline, up to `D`, a
///   one-sided CUSUM of standardized daily scores:
///   `S = max(0, S + (score - usual) / s - k)` with `k = worsening_reference_sd` (0.75).
///   Each day above the usual by more than `k` spreads adds to `S`; ordinary days drain it.
/// - **triggers** when `S >= worsening_decision_sd` (5.0) on `D`, the current rise (the
///   days since `S` was last 0) holds at least 2 days with data (one bad day never
///   alerts), and the recent mean, over the last `worsening_recent_days` (3) days with
///   data of the rise within `worsening_recent_span_days` (7) calendar days, is above the
///   usual by at least the **clinical floor**: `worsening_points` (1.5) and
///   `worsening_percent` (15%) of the usual, whichever is larger. The recent mean keeps
///   the alert current: pain back at its usual level stops the triggers within days, even
///   while the statistic still remembers the rise.
///
/// A rise that persists triggers on each day; the lifecycle attaches those to one open
/// alert. Once the raised days are older than the guard gap they enter the baseline, the
/// rise becomes the new usual, and the rule stops triggering (the alert then shows as
/// cleared). The decision is late if any day of the current rise holds late entries.
pub fn worsening(
    series: &PatientSeries,
    thresholds: &Thresholds,
    today: NaiveDate,
) -> Vec<Decision> {
    worsening_over(&pain_by_day(&series.pain, today), thresholds)
}

/// A rise needs at least this many days with data: a single bad day never alerts.
const MIN_RISE_DAYS: usize = 2;

/// [`worsening`] over days already prepared by `pain_by_day`.
pub(crate) fn worsening_over(days: &[DailyPain], thresholds: &Thresholds) -> Vec<Decision> {
    let sums = Sums::new(days);
    let mut decisions = Vec::new();
    for (index, day) in days.iter().enumerate() {
        if let Some(decision) = judge(days, &sums, index, day.date, thresholds) {
            decisions.push(decision);
        }
    }
    decisions
}

/// The CUSUM over the days after the baseline of `days[index]`, judged on that day.
fn judge(
    days: &[DailyPain],
    sums: &Sums,
    index: usize,
    date: NaiveDate,
    t: &Thresholds,
) -> Option<Decision> {
    let usual = personal_baseline(days, sums, date, t)?;
    let first = days[..=index].partition_point(|d| d.date <= usual.to);
    let judged = &days[first..=index];
    let (mut cusum, mut rise_start) = (0.0_f64, judged.len());
    for (i, day) in judged.iter().enumerate() {
        let step = (day.mean - usual.mean) / usual.spread - t.worsening_reference_sd;
        let next = (cusum + step).max(0.0);
        if cusum <= 0.0 && next > 0.0 {
            rise_start = i;
        }
        if next <= 0.0 {
            rise_start = judged.len();
        }
        cusum = next;
    }
    if cusum + EPSILON < t.worsening_decision_sd {
        return None;
    }
    let rise = judged.get(rise_start..)?;
    if rise.len() < MIN_RISE_DAYS {
        return None;
    }
    let span_start = date
        .checked_sub_days(chrono::Days::new(u64::from(
            t.worsening_recent_span_days.saturating_sub(1),
        )))
        .unwrap_or(date);
    let in_span: Vec<&DailyPain> = rise.iter().filter(|d| d.date >= span_start).collect();
    let recent = &in_span[in_span
        .len()
        .saturating_sub(t.worsening_recent_days.max(1) as usize)..];
    if recent.is_empty() {
        return None;
    }
    let recent_mean = recent.iter().map(|d| d.mean).sum::<f64>() / recent.len() as f64;
    let delta_points = recent_mean - usual.mean;
    let floor = t
        .worsening_points
        .max(usual.mean * t.worsening_percent / 100.0);
    if delta_points + EPSILON < floor {
        return None;
    }
    let delta_percent = (usual.mean > 0.0).then(|| delta_points / usual.mean * 100.0);
    let rise_started = rise.first().map_or(date, |d| d.date);
    Some(
        Decision::new(
            RuleKind::Worsening,
            Severity::Warning,
            date,
            rise.iter().any(DailyPain::is_late),
            explain(recent.len(), recent_mean, rise_started, &usual),
            Evidence::Worsening {
                recent_days: recent.iter().map(|d| d.date).collect(),
                recent_mean,
                rise_started,
                baseline_from: usual.from,
                baseline_to: usual.to,
                baseline_days_with_data: usual.days_with_data,
                baseline_mean: usual.mean,
                baseline_spread: usual.spread,
                delta_points,
                delta_percent,
                cusum,
                decision_interval: t.worsening_decision_sd,
            },
        )
        .with_figures(Figures {
            current: Some(recent_mean),
            usual: Some(usual.mean),
            spread: Some(usual.spread),
            magnitude: Some(delta_points),
        }),
    )
}

/// "Pain averaged 6.1 over the last 3 days with entries (rising since 2026-11-28); this
/// patient's usual is 3.8 (2026-09-20 to 2026-11-14), day-to-day spread 0.9."
fn explain(
    recent_days: usize,
    recent_mean: f64,
    rise_started: NaiveDate,
    usual: &PersonalBaseline,
) -> String {
    let days = if recent_days == 1 {
        "the last day with entries".to_owned()
    } else {
        format!("the last {recent_days} days with entries")
    };
    format!(
        "Pain averaged {} over {days} (rising since {}); this patient's usual is {} \
         ({} to {}), day-to-day spread {}.",
        one_decimal(recent_mean),
        IsoDate(rise_started),
        one_decimal(usual.mean),
        IsoDate(usual.from),
        IsoDate(usual.to),
        one_decimal(usual.spread),
    )
}
