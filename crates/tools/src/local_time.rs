//! The phone CLI's times in the patient's own zone: reading `--at` ("2026-12-06 21:30",
//! "yesterday 21:30", "21:30", "-2h", "-1h30m") and showing recorded times as local
//! wall-clock times, the way a patient remembers them.

use chrono::{
    DateTime, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, TimeDelta, TimeZone, Utc,
};
use chrono_tz::Tz;
use paindiary_sync::schema::entry::MAX_FUTURE_SKEW;

/// Why an `--at` value was refused; the message is for the person at the terminal.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AtError {
    /// Not one of the accepted forms.
    #[error(
        "cannot read --at {0:?}: use \"YYYY-MM-DD HH:MM\", \"yesterday 21:30\", \"21:30\" (today) or a time ago such as -2h, -45m, -1d or -1h30m"
    )]
    Unreadable(String),
    /// The local time is skipped by a clock change (spring forward).
    #[error("{local} does not exist in {tz} (the clocks moved forward then); pick another time")]
    Skipped {
        /// The local time given.
        local: String,
        /// The zone.
        tz: String,
    },
    /// Later than the schema accepts.
    #[error("--at {0} is more than 48 hours in the future")]
    TooFarAhead(String),
}

/// Reads an `--at` value as a moment, in the patient's zone `tz`, relative to `now`.
/// Accepted: `now`; `YYYY-MM-DD HH:MM[:SS]` (or with a `T`); `[today|yesterday][ ]HH:MM`;
/// a signed duration made of `d`, `h` and `m` parts (`-2h`, `-1h30m`, `+30m`). A local time
/// that a clock change repeats is read as its first occurrence. Refused more than 48 hours
/// after `now`, like the schema.
pub fn parse_at(text: &str, tz: Tz, now: DateTime<Utc>) -> Result<DateTime<Utc>, AtError> {
    let trimmed = text.trim();
    let unreadable = || AtError::Unreadable(text.chars().take(60).collect());
    let at = if trimmed.eq_ignore_ascii_case("now") {
        now
    } else if let Some(delta) = relative(trimmed) {
        now.checked_add_signed(delta.ok_or_else(unreadable)?)
            .ok_or_else(unreadable)?
    } else {
        let local =
            absolute(trimmed, now.with_timezone(&tz).date_naive()).ok_or_else(unreadable)?;
        match tz.from_local_datetime(&local) {
            LocalResult::Single(at) => at.with_timezone(&Utc),
            LocalResult::Ambiguous(first, _) => first.with_timezone(&Utc),
            LocalResult::None => {
                return Err(AtError::Skipped {
                    local: local.format("%Y-%m-%d %H:%M").to_string(),
                    tz: tz.name().to_owned(),
                });
            }
        }
    };
    if at > now + MAX_FUTURE_SKEW {
        return Err(AtError::TooFarAhead(show(at, tz)));
    }
    Ok(at)
}

/// A moment as the patient's local wall-clock time with the zone's abbreviation,
/// e.g. `2026-12-06 21:30 CET`.
pub fn show(at: DateTime<Utc>, tz: Tz) -> String {
    at.with_timezone(&tz)
        .format("%Y-%m-%d %H:%M %Z")
        .to_string()
}

/// `Some` if `text` is meant as a duration (starts with a sign); `Some(None)` if it is
/// one but malformed.
fn relative(text: &str) -> Option<Option<TimeDelta>> {
    let (sign, rest) = match text.as_bytes().first()? {
        b'-' => (-1, &text[1..]),
        b'+' => (1, &text[1..]),
        _ => return None,
    };
    let mut total = TimeDelta::zero();
    let mut digits = String::new();
    let mut parts = 0;
    for c in rest.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let n: i64 = match digits.parse() {
            Ok(n) if digits.len() <= 6 => n,
            _ => return Some(None),
        };
        digits.clear();
        let part = match c.to_ascii_lowercase() {
            'd' => TimeDelta::try_days(n),
            'h' => TimeDelta::try_hours(n),
            'm' => TimeDelta::try_minutes(n),
            _ => None,
        };
        match part.and_then(|p| total.checked_add(&p)) {
            Some(sum) => total = sum,
            None => return Some(None),
        }
        parts += 1;
    }
    if !digits.is_empty() || parts == 0 {
        return Some(None);
    }
    Some(Some(total * sign))
}

/// A local date and time from `YYYY-MM-DD HH:MM`, `yesterday 21:30`, `today 8:00` or
/// `21:30` (today); `today` is the patient's local date.
fn absolute(text: &str, today: NaiveDate) -> Option<NaiveDateTime> {
    for format in [
        "%Y-%m-%d %H:%M",
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%dT%H:%M:%S",
    ] {
        if let Ok(local) = NaiveDateTime::parse_from_str(text, format) {
            return Some(local);
        }
    }
    let lower = text.to_ascii_lowercase();
    let (day, time) = if let Some(rest) = lower.strip_prefix("yesterday") {
        (today.pred_opt()?, rest)
    } else if let Some(rest) = lower.strip_prefix("today") {
        (today, rest)
    } else {
        (today, lower.as_str())
    };
    let time = time.trim();
    let time = NaiveTime::parse_from_str(time, "%H:%M")
        .or_else(|_| NaiveTime::parse_from_str(time, "%H:%M:%S"))
        .ok()?;
    Some(day.and_time(time))
}

#[cfg(test)]
mod tests {
    // Tests report failure by panicking.
    #![allow(clippy::unwrap_used)]

    use super::*;

    const BERLIN: Tz = chrono_tz::Europe::Berlin;

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn absolute_forms_are_read_in_the_patients_zone() {
        // 00:30 UTC on the 7th is still the 7th in Berlin (01:30 CET).
        let now = utc("2026-12-07T00:30:00Z");
        for (given, expected) in [
            ("2026-12-06 21:30", "2026-12-06T20:30:00Z"),
            ("2026-12-06T21:30", "2026-12-06T20:30:00Z"),
            ("yesterday21:30", "2026-12-06T20:30:00Z"),
            ("yesterday 21:30", "2026-12-06T20:30:00Z"),
            ("Yesterday 21:30", "2026-12-06T20:30:00Z"),
            ("today 01:00", "2026-12-07T00:00:00Z"),
            ("01:00", "2026-12-07T00:00:00Z"),
            ("now", "2026-12-07T00:30:00Z"),
        ] {
            assert_eq!(
                parse_at(given, BERLIN, now).unwrap(),
                utc(expected),
                "{given}"
            );
        }
    }

    #[test]
    fn relative_forms_count_back_from_now() {
        let now = utc("2026-12-07T12:00:00Z");
        for (given, expected) in [
            ("-2h", "2026-12-07T10:00:00Z"),
            ("-45m", "2026-12-07T11:15:00Z"),
            ("-1h30m", "2026-12-07T10:30:00Z"),
            ("-1d", "2026-12-06T12:00:00Z"),
            ("+30m", "2026-12-07T12:30:00Z"),
        ] {
            assert_eq!(
                parse_at(given, BERLIN, now).unwrap(),
                utc(expected),
                "{given}"
            );
        }
    }

    #[test]
    fn nonsense_and_the_far_future_are_refused_with_a_sentence() {
        let now = utc("2026-12-07T12:00:00Z");
        for given in [
            "",
            "-",
            "-2",
            "-2x",
            "last night",
            "2026-12-06",
            "25:00",
            "-h",
        ] {
            assert!(
                matches!(parse_at(given, BERLIN, now), Err(AtError::Unreadable(_))),
                "{given}"
            );
        }
        assert_eq!(
            parse_at("+49h", BERLIN, now).unwrap_err().to_string(),
            "--at 2026-12-09 14:00 CET is more than 48 hours in the future"
        );
        assert!(parse_at("+47h", BERLIN, now).is_ok());
    }

    #[test]
    fn clock_changes_skip_and_repeat_local_times() {
        let now = utc("2027-04-01T12:00:00Z");
        // 2027-03-28 02:30 does not exist in Berlin; 2026-10-25 02:30 happens twice.
        let err = parse_at("2027-03-28 02:30", BERLIN, now).unwrap_err();
        assert!(
            err.to_string().contains("does not exist in Europe/Berlin"),
            "{err}"
        );
        assert_eq!(
            parse_at("2026-10-25 02:30", BERLIN, now).unwrap(),
            utc("2026-10-25T00:30:00Z")
        );
    }

    #[test]
    fn shown_times_are_local_with_the_zone() {
        assert_eq!(
            show(utc("2026-12-06T20:30:00Z"), BERLIN),
            "2026-12-06 21:30 CET"
        );
        assert_eq!(
            show(utc("2026-07-06T19:30:00Z"), BERLIN),
            "2026-07-06 21:30 CEST"
        );
    }
}
