//! The patient's personal baseline: their usual daily pain, its day-to-day spread and
//! how high their ordinary days go, from a window of their own history that ends a guard
//! gap before the days being judged.
//!
//! Why a personal baseline: realistic diaries swing about 1.26 NRS points from day to
//! day within one person, and that spread differs between people (Schneider et al. 2012;
//! Mun et al. 2019). A fixed number of points is noise for one patient and a blind spot
//! for another; the patient's own mean and spread tell them apart.

use chrono::{Days, NaiveDate};

use super::series::DailyPain;
use super::thresholds::Thresholds;

/// The within-person day-to-day standard deviation of daily pain in chronic pain
/// diaries, in NRS points (Schneider et al. 2012, Pain 153:813; the figure the alert
/// cohort is built on). A baseline of few days borrows strength from it (see
/// [`PersonalBaseline::spread`]).
pub const TYPICAL_DAILY_SPREAD: f64 = 1.26;

/// How many days' worth of weight the typical spread carries against the patient's own:
/// with 14 days of data the patient's own spread weighs 58%, with 56 days 85%.
const SPREAD_PRIOR_DAYS: f64 = 10.0;

/// A patient's usual pain over one window of their own history.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PersonalBaseline {
    /// First calendar day of the window.
    pub from: NaiveDate,
    /// Last calendar day of the window.
    pub to: NaiveDate,
    /// Days with data in the window.
    pub days_with_data: u32,
    /// Mean of the daily scores: the patient's usual pain.
    pub mean: f64,
    /// The day-to-day spread used to judge a change: the standard deviation of the daily
    /// scores, shrunk towards [`TYPICAL_DAILY_SPREAD`] when the window holds few days and
    /// never below `worsening_min_spread`.
    pub spread: f64,
}

/// How high a patient's ordinary days go, over the window of a [`PersonalBaseline`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UsualHighs {
    /// The 95th percentile (nearest rank) of the window's daily maxima: the daily maximum
    /// this patient exceeds on about one day in twenty.
    pub p95_max: u8,
}

/// Running sums over a day series, so that any window's mean and spread cost O(1).
pub(crate) struct Sums {
    sum: Vec<f64>,
    squares: Vec<f64>,
}

impl Sums {
    pub(crate) fn new(days: &[DailyPain]) -> Self {
        let mut sum = Vec::with_capacity(days.len() + 1);
        let mut squares = Vec::with_capacity(days.len() + 1);
        let (mut s, mut q) = (0.0, 0.0);
        sum.push(s);
        squares.push(q);
        for day in days {
            s += day.mean;
            q += day.mean * day.mean;
            sum.push(s);
            squares.push(q);
        }
        Sums { sum, squares }
    }

    /// Sum of `days[start..end]`'s daily means.
    pub(crate) fn total(&self, start: usize, end: usize) -> f64 {
        self.sum[end] - self.sum[start]
    }
}

/// The calendar window of the baseline that judges `day`: `worsening_baseline_days`
/// days ending `worsening_guard_days` days before it, so that the recent days being
/// judged never sit in their own baseline.
pub fn baseline_window(day: NaiveDate, thresholds: &Thresholds) -> Option<(NaiveDate, NaiveDate)> {
    let to = day.checked_sub_days(Days::new(u64::from(thresholds.worsening_guard_days)))?;
    let from = to.checked_sub_days(Days::new(
        u64::from(thresholds.worsening_baseline_days).saturating_sub(1),
    ))?;
    Some((from, to))
}

/// The personal baseline that judges `day`, or `None` while the window holds fewer than
/// `worsening_min_baseline_days` days with data (a new patient: see docs/alerts.md for
/// what applies then). `days` is sorted by date with one entry per day.
pub(crate) fn personal_baseline(
    days: &[DailyPain],
    sums: &Sums,
    day: NaiveDate,
    thresholds: &Thresholds,
) -> Option<PersonalBaseline> {
    let (from, to) = baseline_window(day, thresholds)?;
    let start = days.partition_point(|d| d.date < from);
    let end = days.partition_point(|d| d.date <= to);
    let n = end.saturating_sub(start);
    if n == 0 || n < thresholds.worsening_min_baseline_days as usize {
        return None;
    }
    let count = n as f64;
    let mean = sums.total(start, end) / count;
    let squares = sums.squares[end] - sums.squares[start];
    let variance = ((squares - count * mean * mean) / (count - 1.0).max(1.0)).max(0.0);
    let shrunk = ((count - 1.0) * variance + SPREAD_PRIOR_DAYS * TYPICAL_DAILY_SPREAD.powi(2))
        / (count - 1.0 + SPREAD_PRIOR_DAYS);
    let spread = shrunk.sqrt().max(thresholds.worsening_min_spread);
    Some(PersonalBaseline {
        from,
        to,
        days_with_data: n as u32,
        mean,
        spread,
    })
}

/// The 95th percentile of the daily maxima of `baseline`'s window.
/// Kept apart from [`personal_baseline`] because only the severe rule needs it, and only
/// on days that reach its threshold.
pub(crate) fn usual_highs(days: &[DailyPain], baseline: &PersonalBaseline) -> UsualHighs {
    let start = days.partition_point(|d| d.date < baseline.from);
    let end = days.partition_point(|d| d.date <= baseline.to);
    let mut maxima: Vec<u8> = days[start..end.max(start)].iter().map(|d| d.max).collect();
    maxima.sort_unstable();
    let n = maxima.len();
    let rank = ((0.95 * n as f64).ceil() as usize).clamp(1, n.max(1)) - 1;
    UsualHighs {
        p95_max: maxima.get(rank).copied().unwrap_or(0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(date: NaiveDate, mean: f64, max: u8) -> DailyPain {
        DailyPain {
            date,
            mean,
            max,
            count: 1,
            late_entries: 0,
        }
    }

    #[test]
    fn window_ends_a_guard_gap_before_the_day() {
        let t = Thresholds::default();
        let d = NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
        let (from, to) = baseline_window(d, &t).unwrap();
        assert_eq!((d - to).num_days(), i64::from(t.worsening_guard_days));
        assert_eq!(
            (to - from).num_days() + 1,
            i64::from(t.worsening_baseline_days)
        );
    }

    #[test]
    fn mean_spread_and_usual_high_of_a_steady_patient() {
        let t = Thresholds::default();
        let start = NaiveDate::from_ymd_opt(2026, 9, 1).unwrap();
        // 60 days alternating 3 and 5: mean 4, SD about 1.0; maxima 4 and 6.
        let days: Vec<DailyPain> = (0..60u64)
            .map(|i| {
                let high = i % 2 == 0;
                day(
                    start + Days::new(i),
                    if high { 5.0 } else { 3.0 },
                    if high { 6 } else { 4 },
                )
            })
            .collect();
        let sums = Sums::new(&days);
        let judged = start + Days::new(75);
        let b = personal_baseline(&days, &sums, judged, &t).unwrap();
        assert!((b.mean - 4.0).abs() < 0.05, "{b:?}");
        // Own SD ~1.0 shrunk a little towards 1.26.
        assert!(b.spread > 1.0 && b.spread < 1.1, "{b:?}");
        let highs = usual_highs(&days, &b);
        assert_eq!(highs.p95_max, 6);
    }

    #[test]
    fn too_few_days_is_no_baseline() {
        let t = Thresholds::default();
        let start = NaiveDate::from_ymd_opt(2026, 9, 1).unwrap();
        let days: Vec<DailyPain> = (0..10u64)
            .map(|i| day(start + Days::new(i), 4.0, 4))
            .collect();
        let sums = Sums::new(&days);
        assert!(personal_baseline(&days, &sums, start + Days::new(30), &t).is_none());
    }
}
