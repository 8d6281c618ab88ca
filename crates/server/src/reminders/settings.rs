//! A patient's reminder settings behind `/me/reminder-settings`: quiet hours (local
//! times in the patient's zone, which may cross midnight), a pause of every reminder
//! until an instant ("stop"), and whether the patient's reminders still follow the
//! clinic's defaults. Also snoozing one sent occurrence (`/me/reminders/{id}/snooze`).
//!
//! Quiet hours defer rather than drop: an occurrence inside them is sent once, at their
//! end (still skipped then for `log_pain` if the patient logged meanwhile). A reminder
//! whose whole point is the time (medication at 23:00) would otherwise be lost silently;
//! a patient who wants none at night sets no reminder at night.

use chrono::{DateTime, Duration, NaiveTime, Utc};
use chrono_tz::Tz;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, QueryFilter};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{rejected, schedule};
use crate::entity::{reminder_settings, reminders};
use crate::error::ApiError;

/// Shortest snooze, in minutes.
pub const SNOOZE_MIN_MINUTES: i64 = 5;
/// Longest snooze, in minutes.
pub const SNOOZE_MAX_MINUTES: i64 = 240;
/// A sent occurrence older than this can no longer be snoozed.
pub const SNOOZE_WINDOW_HOURS: i64 = 24;
/// The furthest a pause may reach.
pub const MAX_PAUSE_DAYS: i64 = 366;

/// Quiet hours: `[start, end)` in local time; `start > end` crosses midnight.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QuietHours {
    /// First quiet minute.
    pub start: NaiveTime,
    /// First minute no longer quiet.
    pub end: NaiveTime,
}

impl QuietHours {
    /// When an occurrence at `at` should be sent instead: `Some(end of these quiet hours)`
    /// if `at` falls inside them (read in `tz`), `None` if it is outside. The end is
    /// resolved like a reminder time: a local end inside a spring-forward gap is the
    /// first minute after the gap, a doubled one its first instant.
    pub fn deferral(&self, tz: Tz, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let local = at.with_timezone(&tz);
        let (day, time) = (local.date_naive(), local.time());
        let end_day = if self.start < self.end {
            (self.start <= time && time < self.end).then_some(day)?
        } else if time >= self.start {
            day + Duration::days(1)
        } else if time < self.end {
            day
        } else {
            return None;
        };
        schedule::resolve(tz, end_day.and_time(self.end)).filter(|end| *end > at)
    }

    fn parse(start: &str, end: &str) -> Option<Self> {
        let start = parse_hh_mm(start)?;
        let end = parse_hh_mm(end)?;
        (start != end).then_some(Self { start, end })
    }
}

/// Exactly `HH:MM`, 00:00 to 23:59.
pub(crate) fn parse_hh_mm(raw: &str) -> Option<NaiveTime> {
    let ok = raw.len() == 5 && raw.as_bytes().get(2) == Some(&b':');
    ok.then(|| NaiveTime::parse_from_str(raw, "%H:%M").ok())
        .flatten()
}

/// A patient's settings as the timer uses them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    /// Quiet hours, if any.
    pub quiet_hours: Option<QuietHours>,
    /// Nothing is sent before this instant.
    pub paused_until: Option<DateTime<Utc>>,
    /// Reminders follow the clinic's defaults.
    pub use_clinic_defaults: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            quiet_hours: None,
            paused_until: None,
            use_clinic_defaults: true,
        }
    }
}

impl From<reminder_settings::Model> for Settings {
    fn from(row: reminder_settings::Model) -> Self {
        let quiet_hours = match (&row.quiet_start, &row.quiet_end) {
            (Some(s), Some(e)) => QuietHours::parse(s, e),
            _ => None,
        };
        Self {
            quiet_hours,
            paused_until: row.paused_until,
            use_clinic_defaults: row.use_clinic_defaults,
        }
    }
}

impl Settings {
    /// Whether an occurrence at `at` falls in the pause.
    pub fn paused_at(&self, at: DateTime<Utc>) -> bool {
        self.paused_until.is_some_and(|until| at < until)
    }
}

/// `{start, end}` in the settings body.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct QuietHoursInput {
    /// Local `HH:MM`.
    pub start: String,
    /// Local `HH:MM`.
    pub end: String,
}

/// The body of `PUT /me/reminder-settings` (every field; absent means null, except
/// `use_clinic_defaults`, which absent leaves as it was).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettingsInput {
    /// Quiet hours or `null`.
    #[serde(default)]
    pub quiet_hours: Option<QuietHoursInput>,
    /// RFC 3339 instant or `null` (not paused).
    #[serde(default)]
    pub paused_until: Option<String>,
    /// `true` replaces the patient's reminders by the clinic's defaults (and keeps them
    /// following later changes); `false` keeps the current reminders as the patient's own.
    #[serde(default)]
    pub use_clinic_defaults: Option<bool>,
}

/// Settings as the API shows them.
#[derive(Clone, Debug, Serialize)]
pub struct SettingsView {
    /// The patient's zone, in which quiet hours are read.
    pub timezone: String,
    /// `{start, end}` or `null`.
    pub quiet_hours: Option<QuietHoursInput>,
    /// `null` when not paused.
    pub paused_until: Option<DateTime<Utc>>,
    /// Whether the reminders follow the clinic's defaults.
    pub use_clinic_defaults: bool,
}

impl SettingsView {
    /// The view of `settings` for a patient in `timezone`.
    pub fn new(settings: &Settings, timezone: &str) -> Self {
        Self {
            timezone: timezone.to_owned(),
            quiet_hours: settings.quiet_hours.map(|q| QuietHoursInput {
                start: q.start.format("%H:%M").to_string(),
                end: q.end.format("%H:%M").to_string(),
            }),
            paused_until: settings.paused_until,
            use_clinic_defaults: settings.use_clinic_defaults,
        }
    }
}

impl SettingsInput {
    /// Checks the body against `current` settings at `now`.
    pub fn validate(&self, current: &Settings, now: DateTime<Utc>) -> Result<Settings, ApiError> {
        let quiet_hours = match &self.quiet_hours {
            None => None,
            Some(q) => Some(QuietHours::parse(&q.start, &q.end).ok_or(rejected(
                "reminder_quiet_hours_invalid",
                "quiet_hours needs start and end as distinct local times HH:MM",
            ))?),
        };
        let paused_until = match &self.paused_until {
            None => None,
            Some(raw) => {
                let at = (raw.len() <= 40)
                    .then(|| DateTime::parse_from_rfc3339(raw).ok())
                    .flatten()
                    .map(|at| at.with_timezone(&Utc))
                    .filter(|at| *at <= now + Duration::days(MAX_PAUSE_DAYS))
                    .ok_or(rejected(
                        "reminder_paused_until_invalid",
                        "paused_until must be an RFC 3339 instant at most 366 days ahead, or null",
                    ))?;
                Some(at)
            }
        };
        Ok(Settings {
            quiet_hours,
            paused_until,
            use_clinic_defaults: self
                .use_clinic_defaults
                .unwrap_or(current.use_clinic_defaults),
        })
    }
}

/// The settings of `patient` (defaults when none were stored).
pub async fn load(conn: &impl ConnectionTrait, patient: Uuid) -> Result<Settings, DbErr> {
    Ok(reminder_settings::Entity::find_by_id(patient)
        .one(conn)
        .await?
        .map(Settings::from)
        .unwrap_or_default())
}

/// The stored settings of several patients (those without a row are left out).
pub async fn load_many(
    conn: &impl ConnectionTrait,
    patients: &[Uuid],
) -> Result<std::collections::HashMap<Uuid, Settings>, DbErr> {
    if patients.is_empty() {
        return Ok(Default::default());
    }
    Ok(reminder_settings::Entity::find()
        .filter(reminder_settings::Column::PatientId.is_in(patients.iter().copied()))
        .all(conn)
        .await?
        .into_iter()
        .map(|row| (row.patient_id, Settings::from(row)))
        .collect())
}

/// Stores `settings` for `patient` (insert or replace).
pub async fn store(
    conn: &impl ConnectionTrait,
    patient: Uuid,
    settings: &Settings,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    let hh_mm = |t: NaiveTime| t.format("%H:%M").to_string();
    let row = reminder_settings::ActiveModel {
        patient_id: sea_orm::ActiveValue::Set(patient),
        quiet_start: sea_orm::ActiveValue::Set(settings.quiet_hours.map(|q| hh_mm(q.start))),
        quiet_end: sea_orm::ActiveValue::Set(settings.quiet_hours.map(|q| hh_mm(q.end))),
        paused_until: sea_orm::ActiveValue::Set(settings.paused_until),
        use_clinic_defaults: sea_orm::ActiveValue::Set(settings.use_clinic_defaults),
        updated_at: sea_orm::ActiveValue::Set(now),
    };
    reminder_settings::Entity::insert(row)
        .on_conflict(
            OnConflict::column(reminder_settings::Column::PatientId)
                .update_columns([
                    reminder_settings::Column::QuietStart,
                    reminder_settings::Column::QuietEnd,
                    reminder_settings::Column::PausedUntil,
                    reminder_settings::Column::UseClinicDefaults,
                    reminder_settings::Column::UpdatedAt,
                ])
                .to_owned(),
        )
        .exec_without_returning(conn)
        .await?;
    Ok(())
}

/// The patient changed a reminder: from now on their reminders are their own, and a
/// change of the clinic's defaults no longer replaces them.
pub async fn mark_own(
    conn: &impl ConnectionTrait,
    patient: Uuid,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    let mut settings = load(conn, patient).await?;
    if settings.use_clinic_defaults {
        settings.use_clinic_defaults = false;
        store(conn, patient, &settings, now).await?;
    }
    Ok(())
}

/// Snoozes the last sent occurrence of `row` by `minutes` (5 to 240): it is sent once
/// more after the delay. Each occurrence can be snoozed once; only an occurrence sent in
/// the last 24 hours can be.
pub async fn snooze(
    conn: &impl ConnectionTrait,
    row: &reminders::Model,
    minutes: i64,
    now: DateTime<Utc>,
) -> Result<DateTime<Utc>, ApiError> {
    if !(SNOOZE_MIN_MINUTES..=SNOOZE_MAX_MINUTES).contains(&minutes) {
        return Err(rejected(
            "reminder_snooze_minutes_invalid",
            "minutes must be a whole number from 5 to 240",
        ));
    }
    let sent = row
        .last_sent_due_at
        .filter(|at| now - *at <= Duration::hours(SNOOZE_WINDOW_HOURS) && row.enabled)
        .ok_or(ApiError::LimitReached {
            code: "reminder_nothing_to_snooze",
            message: "this reminder sent nothing in the last 24 hours",
        })?;
    if row.snoozed_due_at == Some(sent) {
        return Err(ApiError::LimitReached {
            code: "reminder_already_snoozed",
            message: "this reminder was already snoozed once; it is sent again only once",
        });
    }
    let at = now + Duration::minutes(minutes);
    // Conditional on the occurrence still being the last sent and not snoozed: two
    // concurrent snoozes make one resend.
    let claimed = reminders::Entity::update_many()
        .col_expr(reminders::Column::ResendAt, Expr::value(Some(at)))
        .col_expr(reminders::Column::ResendDueAt, Expr::value(Some(sent)))
        .col_expr(reminders::Column::SnoozedDueAt, Expr::value(Some(sent)))
        .filter(reminders::Column::Id.eq(row.id))
        .filter(reminders::Column::LastSentDueAt.eq(sent))
        .filter(
            Condition::any()
                .add(reminders::Column::SnoozedDueAt.is_null())
                .add(reminders::Column::SnoozedDueAt.ne(sent)),
        )
        .exec(conn)
        .await?;
    if claimed.rows_affected == 0 {
        return Err(ApiError::LimitReached {
            code: "reminder_already_snoozed",
            message: "this reminder was already snoozed once; it is sent again only once",
        });
    }
    Ok(at)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn quiet_hours_across_midnight_defer_to_their_end() {
        let q = QuietHours::parse("22:00", "07:00").unwrap();
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        // 23:30 CET on 2026-12-07 -> 07:00 CET on the 8th.
        assert_eq!(
            q.deferral(berlin, utc("2026-12-07T22:30:00Z")),
            Some(utc("2026-12-08T06:00:00Z"))
        );
        // 06:59 on the 8th -> 07:00 the same day.
        assert_eq!(
            q.deferral(berlin, utc("2026-12-08T05:59:00Z")),
            Some(utc("2026-12-08T06:00:00Z"))
        );
        // 07:00 and 21:59 are not quiet.
        assert_eq!(q.deferral(berlin, utc("2026-12-08T06:00:00Z")), None);
        assert_eq!(q.deferral(berlin, utc("2026-12-08T20:59:00Z")), None);
        // Night of the spring-forward change: 07:00 CEST is 05:00 UTC.
        assert_eq!(
            q.deferral(berlin, utc("2026-03-28T22:00:00Z")),
            Some(utc("2026-03-29T05:00:00Z"))
        );
        // Within a day.
        let lunch = QuietHours::parse("12:00", "13:30").unwrap();
        assert_eq!(
            lunch.deferral(Tz::UTC, utc("2026-12-08T12:10:00Z")),
            Some(utc("2026-12-08T13:30:00Z"))
        );
        assert_eq!(lunch.deferral(Tz::UTC, utc("2026-12-08T13:30:00Z")), None);
        assert!(QuietHours::parse("07:00", "07:00").is_none());
        assert!(QuietHours::parse("7:00", "08:00").is_none());
    }
}
