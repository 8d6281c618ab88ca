//! When a reminder is next due: local times of day on chosen weekdays in an IANA zone,
//! turned into UTC instants, correct across daylight-saving changes. Pure functions, no
//! database, so the timer, the API and the benchmark share one definition.
//!
//! DST rules (documented in `docs/reminders.md`):
//! - a local time that does not exist on a spring-forward day (02:30 in Europe/Berlin on
//!   the last Sunday of March) fires once, at the first local minute after the gap
//!   (03:00 local), rather than being skipped;
//! - a local time that exists twice on a fall-back day (02:30 in Europe/Berlin on the last
//!   Sunday of October) fires once, at its first occurrence (summer time).

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

/// The weekday codes, Monday first; bit `i` of a day mask is `DAY_CODES[i]`.
pub const DAY_CODES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// Every day of the week as a mask.
pub const ALL_DAYS: u8 = 0b111_1111;

/// A reminder's schedule, validated: at least one time (sorted, distinct) and one day.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Schedule {
    times: Vec<NaiveTime>,
    days: u8,
    tz: Tz,
}

impl Schedule {
    /// A schedule firing at each of `times` (local, any order) on the weekdays in `days`
    /// (bit 0 Monday .. bit 6 Sunday), read in `tz`. `None` when `times` or `days` is empty.
    pub fn new(mut times: Vec<NaiveTime>, days: u8, tz: Tz) -> Option<Self> {
        times.sort_unstable();
        times.dedup();
        let days = days & ALL_DAYS;
        (!times.is_empty() && days != 0).then_some(Self { times, days, tz })
    }

    /// The zone.
    pub fn tz(&self) -> Tz {
        self.tz
    }

    /// The first occurrence strictly after `after`. Each (local day, time) occurs once:
    /// a time inside a spring-forward gap maps to the end of the gap, a time in a
    /// fall-back overlap to its first instant. `None` only if nothing falls in the next
    /// eight local days (impossible for a valid schedule).
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let start = after.with_timezone(&self.tz).date_naive();
        // The local date of `after` and the seven after it cover every weekday; local
        // instants map monotonically to UTC, so the first candidate past `after` wins.
        for offset in 0..=7 {
            let date = start + Duration::days(offset);
            if self.days & (1 << date.weekday().num_days_from_monday()) == 0 {
                continue;
            }
            for &time in &self.times {
                if let Some(at) = resolve(self.tz, date.and_time(time))
                    && at > after
                {
                    return Some(at);
                }
            }
        }
        None
    }

    /// The UTC instant at which the local day of `at` (in this schedule's zone) began:
    /// the start of the window in which a logged entry counts as "already logged today".
    pub fn local_day_start(&self, at: DateTime<Utc>) -> DateTime<Utc> {
        let day = at.with_timezone(&self.tz).date_naive();
        day_start(self.tz, day).unwrap_or(at)
    }
}

/// The instant local `date` begins in `tz` (midnight, or the end of a gap at midnight).
fn day_start(tz: Tz, date: NaiveDate) -> Option<DateTime<Utc>> {
    resolve(tz, date.and_time(NaiveTime::MIN))
}

/// The instant a local wall-clock time stands for: the only one, the earlier of two
/// (fall-back), or the first existing local minute after a spring-forward gap.
pub fn resolve(tz: Tz, local: NaiveDateTime) -> Option<DateTime<Utc>> {
    if let Some(at) = tz.from_local_datetime(&local).earliest() {
        return Some(at.with_timezone(&Utc));
    }
    // In a gap. Gaps are whole minutes long and at most a day (zones that skipped a
    // date, e.g. Pacific/Apia in 2011), so walking minutes finds the end.
    let mut probe = local;
    for _ in 0..(24 * 60 + 1) {
        probe += Duration::minutes(1);
        if let Some(at) = tz.from_local_datetime(&probe).earliest() {
            return Some(at.with_timezone(&Utc));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn t(s: &str) -> NaiveTime {
        NaiveTime::parse_from_str(s, "%H:%M").unwrap()
    }

    fn schedule(times: &[&str], tz: &str) -> Schedule {
        Schedule::new(
            times.iter().map(|s| t(s)).collect(),
            ALL_DAYS,
            tz.parse().unwrap(),
        )
        .unwrap()
    }

    /// Every occurrence in [from, to), by repeatedly asking for the next one.
    fn occurrences(s: &Schedule, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<DateTime<Utc>> {
        let mut out = Vec::new();
        let mut cursor = from - Duration::seconds(1);
        while let Some(next) = s.next_after(cursor) {
            if next >= to {
                break;
            }
            out.push(next);
            cursor = next;
        }
        out
    }

    #[test]
    fn berlin_spring_forward_gap_fires_once_at_three() {
        // 2026-03-29: 02:00 CET becomes 03:00 CEST (01:00 UTC).
        let s = schedule(&["02:30"], "Europe/Berlin");
        let got = occurrences(&s, utc("2026-03-28T00:00:00Z"), utc("2026-03-31T00:00:00Z"));
        assert_eq!(
            got,
            vec![
                utc("2026-03-28T01:30:00Z"), // 02:30 CET
                utc("2026-03-29T01:00:00Z"), // gap day: 03:00 CEST, once
                utc("2026-03-30T00:30:00Z"), // 02:30 CEST
            ]
        );
    }

    #[test]
    fn berlin_fall_back_overlap_fires_once() {
        // 2026-10-25: 03:00 CEST becomes 02:00 CET; 02:30 happens at 00:30 and 01:30 UTC.
        let s = schedule(&["02:30"], "Europe/Berlin");
        let got = occurrences(&s, utc("2026-10-24T00:00:00Z"), utc("2026-10-27T00:00:00Z"));
        assert_eq!(
            got,
            vec![
                utc("2026-10-24T00:30:00Z"), // 02:30 CEST
                utc("2026-10-25T00:30:00Z"), // first 02:30 (CEST) only
                utc("2026-10-26T01:30:00Z"), // 02:30 CET
            ]
        );
        // Asked from between the two 02:30s, the second one is not an occurrence.
        assert_eq!(
            s.next_after(utc("2026-10-25T01:00:00Z")),
            Some(utc("2026-10-26T01:30:00Z"))
        );
    }

    #[test]
    fn morning_and_evening_keep_their_local_time_across_both_berlin_changes() {
        let s = schedule(&["21:00", "09:00"], "Europe/Berlin");
        let spring = occurrences(&s, utc("2026-03-28T00:00:00Z"), utc("2026-03-30T00:00:00Z"));
        assert_eq!(
            spring,
            vec![
                utc("2026-03-28T08:00:00Z"),
                utc("2026-03-28T20:00:00Z"),
                utc("2026-03-29T07:00:00Z"),
                utc("2026-03-29T19:00:00Z"),
            ]
        );
        let autumn = occurrences(&s, utc("2026-10-24T00:00:00Z"), utc("2026-10-26T00:00:00Z"));
        assert_eq!(
            autumn,
            vec![
                utc("2026-10-24T07:00:00Z"),
                utc("2026-10-24T19:00:00Z"),
                utc("2026-10-25T08:00:00Z"),
                utc("2026-10-25T20:00:00Z"),
            ]
        );
    }

    #[test]
    fn new_york_changes_at_two_and_one() {
        // 2026-03-08: 02:00 EST -> 03:00 EDT (07:00 UTC). 02:15 falls in the gap.
        let s = schedule(&["02:15"], "America/New_York");
        assert_eq!(
            occurrences(&s, utc("2026-03-07T12:00:00Z"), utc("2026-03-09T12:00:00Z")),
            vec![utc("2026-03-08T07:00:00Z"), utc("2026-03-09T06:15:00Z")]
        );
        // 2026-11-01: 02:00 EDT -> 01:00 EST; 01:30 happens at 05:30 and 06:30 UTC.
        let s = schedule(&["01:30"], "America/New_York");
        assert_eq!(
            occurrences(&s, utc("2026-10-31T12:00:00Z"), utc("2026-11-02T12:00:00Z")),
            vec![utc("2026-11-01T05:30:00Z"), utc("2026-11-02T06:30:00Z")]
        );
    }

    #[test]
    fn kolkata_has_a_half_hour_offset_and_no_dst() {
        let s = schedule(&["09:00", "21:00"], "Asia/Kolkata");
        assert_eq!(
            occurrences(&s, utc("2026-03-28T00:00:00Z"), utc("2026-03-29T00:00:00Z")),
            vec![utc("2026-03-28T03:30:00Z"), utc("2026-03-28T15:30:00Z")]
        );
    }

    #[test]
    fn only_chosen_weekdays() {
        // Monday and Thursday at 08:00 UTC; 2026-12-07 is a Monday.
        let s = Schedule::new(vec![t("08:00")], 0b000_1001, Tz::UTC).unwrap();
        assert_eq!(
            occurrences(&s, utc("2026-12-07T00:00:00Z"), utc("2026-12-15T00:00:00Z")),
            vec![
                utc("2026-12-07T08:00:00Z"),
                utc("2026-12-10T08:00:00Z"),
                utc("2026-12-14T08:00:00Z"),
            ]
        );
        assert!(Schedule::new(vec![t("08:00")], 0, Tz::UTC).is_none());
        assert!(Schedule::new(vec![], ALL_DAYS, Tz::UTC).is_none());
    }

    #[test]
    fn local_day_start_follows_the_zone() {
        let s = schedule(&["21:00"], "Europe/Berlin");
        assert_eq!(
            s.local_day_start(utc("2026-12-07T20:00:00Z")),
            utc("2026-12-06T23:00:00Z")
        );
        // Fall-back day: midnight was still summer time.
        assert_eq!(
            s.local_day_start(utc("2026-10-25T20:00:00Z")),
            utc("2026-10-24T22:00:00Z")
        );
    }
}
