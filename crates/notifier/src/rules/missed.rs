//! The missed-logging rule.

use chrono::NaiveDate;

use super::{Decision, Evidence, PatientSeries, RuleKind, Severity, Thresholds};

/// Missed logging (info, for the daily digest): the patient wrote nothing on the
/// `missed_logging_days` (3) whole local days before `today`, nor today.
///
/// Any entry counts as logging: a pain entry, a medication intake (taken or skipped),
/// or a day in `other_entry_days`. Today is still in progress, so it is not counted as
/// missed: with the last entry on day L, the missed days are L+1 ..= today-1, and
/// `today - L - 1 >= 3` triggers (last entry 4 days ago: yes; 3 days ago: not yet). A
/// patient who has never logged is measured from `enrolled_on` the same way (the
/// enrolment day is not counted as missed); without entries or enrolment date the rule
/// does not apply. At most one decision, on `today`, never late.
pub fn missed_logging(
    series: &PatientSeries,
    thresholds: &Thresholds,
    today: NaiveDate,
) -> Option<Decision> {
    let pain_days = series.pain.iter().filter(|d| d.has_data()).map(|d| d.date);
    let intake_days = series.intakes.iter().map(|i| i.date);
    let other_days = series.other_entry_days.iter().copied();
    let last_entry = pain_days
        .chain(intake_days)
        .chain(other_days)
        .filter(|d| *d <= today)
        .max();
    let since = last_entry.or(series.enrolled_on)?;
    let days_without_entries = u32::try_from((today - since).num_days() - 1).ok()?;
    if days_without_entries < thresholds.missed_logging_days {
        return None;
    }
    let explanation = match last_entry {
        Some(last) => {
            format!("no diary entries for {days_without_entries} days (last entry {last})")
        }
        None => format!(
            "no diary entries in the {days_without_entries} days since enrolment on {since}"
        ),
    };
    Some(Decision::new(
        RuleKind::MissedLogging,
        Severity::Info,
        today,
        false,
        explanation,
        Evidence::MissedLogging {
            last_entry,
            days_without_entries,
        },
    ))
}
