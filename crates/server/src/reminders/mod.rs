//! Patient reminders (issue 21): the schedules a patient sets ("log your pain at 09:00
//! and 21:00 on weekdays, by email and web push"), their validation, and the reads and
//! changes behind `/api/v1/me/reminders` and `/api/v1/patients/{id}/reminders`.
//!
//! When a reminder is due is [`schedule`]; the timer that sends due reminders through
//! the outbox is [`timer`]; Web Push (RFC 8030/8291/8292) is [`push`]; quiet hours, the
//! pause and snoozing are [`settings`]; a clinic's default reminders are [`defaults`];
//! which questionnaires are due for a patient on a day is [`due`]; native app device
//! tokens (APNs, FCM; registration only) are [`devices`].

use chrono::{DateTime, NaiveTime, Utc};
use chrono_tz::Tz;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::auth::AuthUser;
use crate::domain::Role;
use crate::entity::{notification_outbox, patients, reminders};
use crate::error::ApiError;
use crate::outbox::Outcome;
use paindiary_notifier::render::{self, RenderedEmail};

pub mod defaults;
pub mod devices;
pub mod due;
pub mod push;
pub mod schedule;
pub mod settings;
pub mod timer;

pub use schedule::Schedule;

/// Most reminders one patient may have.
pub const MAX_REMINDERS_PER_PATIENT: u64 = 10;
/// Most times of day in one reminder.
pub const MAX_TIMES_PER_REMINDER: usize = 6;

/// Reminder timer and Web Push settings (`[reminders]`).
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RemindersConfig {
    /// How often `serve` looks for due reminders, in seconds (0 disables the task).
    pub tick_interval_secs: u64,
    /// An occurrence found more than this late (the server was down) is dropped rather
    /// than sent hours after its time; the schedule moves on to the next one.
    pub max_lateness_minutes: i64,
    /// Reminders claimed per database round of one tick.
    pub batch_size: u64,
    /// The link in reminder emails and push messages; `public_url` when unset.
    pub app_url: Option<String>,
    /// The VAPID `sub` claim (RFC 8292): a `mailto:` or `https:` contact for push services.
    pub vapid_subject: String,
    /// The VAPID private key (PKCS#8 DER, P-256). Unset: `<data_dir>/vapid_private_key.p8`,
    /// generated on first start.
    pub vapid_private_key_file: Option<std::path::PathBuf>,
    /// Accept `http://` push endpoints on loopback addresses (tests with a local push
    /// service only; never in production).
    pub push_allow_loopback: bool,
    /// The push message `TTL` header: how long a push service keeps an undelivered
    /// reminder, in seconds.
    pub push_ttl_secs: u32,
    /// Timeout of one push request.
    pub push_timeout_secs: u64,
}

impl Default for RemindersConfig {
    fn default() -> Self {
        Self {
            tick_interval_secs: 30,
            max_lateness_minutes: 60,
            batch_size: 500,
            app_url: None,
            vapid_subject: "mailto:operator@paindiary.invalid".to_owned(),
            vapid_private_key_file: None,
            push_allow_loopback: false,
            push_ttl_secs: 3600,
            push_timeout_secs: 10,
        }
    }
}

/// What a reminder asks the patient to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReminderKind {
    /// Log pain; skipped when pain was already logged that local day before it.
    LogPain,
    /// Take medication.
    TakeMedication,
    /// Do the prescribed exercises.
    Exercise,
    /// Fill in a questionnaire; sent only on local days one is due ([`due`]).
    QuestionnaireDue,
}

impl ReminderKind {
    /// The stored code.
    pub fn code(self) -> &'static str {
        match self {
            Self::LogPain => "log_pain",
            Self::TakeMedication => "take_medication",
            Self::Exercise => "exercise",
            Self::QuestionnaireDue => "questionnaire_due",
        }
    }

    /// Parses a stored or submitted code.
    pub fn parse(code: &str) -> Option<Self> {
        match code {
            "log_pain" => Some(Self::LogPain),
            "take_medication" => Some(Self::TakeMedication),
            "exercise" => Some(Self::Exercise),
            "questionnaire_due" => Some(Self::QuestionnaireDue),
            _ => None,
        }
    }

    /// The message title (no health data: the kind is what the patient chose).
    pub fn title(self) -> &'static str {
        match self {
            Self::LogPain => "Time to log your pain",
            Self::TakeMedication => "Time to take your medication",
            Self::Exercise => "Time for your exercises",
            Self::QuestionnaireDue => "A questionnaire is due",
        }
    }

    /// The message body (no health data).
    pub fn body(self) -> &'static str {
        match self {
            Self::QuestionnaireDue => "Open Paindiary to fill it in.",
            _ => "Open Paindiary to add an entry.",
        }
    }
}

/// A delivery channel a reminder may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ReminderChannel {
    /// Email to the patient's account address.
    Email,
    /// Web Push to every subscription the patient registered.
    WebPush,
}

impl ReminderChannel {
    /// The API and stored code.
    pub fn code(self) -> &'static str {
        match self {
            Self::Email => "email",
            Self::WebPush => "web_push",
        }
    }

    fn parse(code: &str) -> Option<Self> {
        match code {
            "email" => Some(Self::Email),
            "web_push" => Some(Self::WebPush),
            _ => None,
        }
    }
}

/// The body of `POST /me/reminders` and `PUT /me/reminders/{id}`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReminderInput {
    /// `log_pain`, `take_medication`, `exercise` or `questionnaire_due`.
    pub kind: String,
    /// Local times `"HH:MM"` (24 h), 1 to [`MAX_TIMES_PER_REMINDER`], distinct.
    pub times: Vec<String>,
    /// Weekday codes `mon`..`sun`; every day when absent.
    #[serde(default)]
    pub days: Option<Vec<String>>,
    /// `email` and/or `web_push`, at least one.
    pub channels: Vec<String>,
    /// IANA zone the times are read in; the patient's zone when absent.
    #[serde(default)]
    pub timezone: Option<String>,
    /// `false` keeps the reminder but stops sending it; `true` when absent.
    #[serde(default)]
    pub enabled: Option<bool>,
}

/// A validated reminder, ready to store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidReminder {
    /// What to do.
    pub kind: ReminderKind,
    /// Sorted local times.
    pub times: Vec<NaiveTime>,
    /// Weekday mask, bit 0 Monday.
    pub days: u8,
    /// Sorted, distinct channels.
    pub channels: Vec<ReminderChannel>,
    /// Zone.
    pub tz: Tz,
    /// Sending or not.
    pub enabled: bool,
}

pub(crate) fn rejected(code: &'static str, message: &'static str) -> ApiError {
    ApiError::Rejected { code, message }
}

impl ReminderInput {
    /// Checks every field; `default_tz` is the patient's zone.
    pub fn validate(&self, default_tz: &str) -> Result<ValidReminder, ApiError> {
        let kind = ReminderKind::parse(&self.kind).ok_or(rejected(
            "reminder_kind_invalid",
            "kind must be log_pain, take_medication, exercise or questionnaire_due",
        ))?;
        if self.times.is_empty() || self.times.len() > MAX_TIMES_PER_REMINDER {
            return Err(rejected(
                "reminder_times_count",
                "times must hold 1 to 6 local times of day",
            ));
        }
        let mut times = Vec::with_capacity(self.times.len());
        for raw in &self.times {
            // Exactly HH:MM, so "9:00", "09:00:00" or "21:00+01:00" are refused rather
            // than guessed at.
            let ok = raw.len() == 5 && raw.as_bytes()[2] == b':';
            let time = ok
                .then(|| NaiveTime::parse_from_str(raw, "%H:%M").ok())
                .flatten()
                .ok_or(rejected(
                    "reminder_time_invalid",
                    "each time must be a local time of day as HH:MM (00:00 to 23:59)",
                ))?;
            if times.contains(&time) {
                return Err(rejected("reminder_time_duplicate", "times must not repeat"));
            }
            times.push(time);
        }
        times.sort_unstable();
        let days = match &self.days {
            None => schedule::ALL_DAYS,
            Some(list) => {
                if list.is_empty() || list.len() > 7 {
                    return Err(rejected(
                        "reminder_days_invalid",
                        "days must hold 1 to 7 of mon, tue, wed, thu, fri, sat, sun",
                    ));
                }
                let mut mask = 0u8;
                for day in list {
                    let bit = schedule::DAY_CODES
                        .iter()
                        .position(|d| *d == day.as_str())
                        .ok_or(rejected(
                            "reminder_days_invalid",
                            "days must hold 1 to 7 of mon, tue, wed, thu, fri, sat, sun",
                        ))?;
                    if mask & (1 << bit) != 0 {
                        return Err(rejected("reminder_days_invalid", "days must not repeat"));
                    }
                    mask |= 1 << bit;
                }
                mask
            }
        };
        if self.channels.is_empty() || self.channels.len() > 2 {
            return Err(rejected(
                "reminder_channels_invalid",
                "channels must hold email and/or web_push",
            ));
        }
        let mut channels = Vec::with_capacity(2);
        for raw in &self.channels {
            let channel = ReminderChannel::parse(raw).ok_or(rejected(
                "reminder_channel_unknown",
                "channels must hold email and/or web_push",
            ))?;
            if channels.contains(&channel) {
                return Err(rejected(
                    "reminder_channels_invalid",
                    "channels must not repeat",
                ));
            }
            channels.push(channel);
        }
        channels.sort_unstable();
        let zone = self.timezone.as_deref().unwrap_or(default_tz);
        let tz = (zone.len() <= 64)
            .then(|| zone.parse::<Tz>().ok())
            .flatten()
            .ok_or(rejected(
                "reminder_timezone_invalid",
                "timezone must be an IANA time zone name such as Europe/Berlin",
            ))?;
        Ok(ValidReminder {
            kind,
            times,
            days,
            channels,
            tz,
            enabled: self.enabled.unwrap_or(true),
        })
    }
}

impl ValidReminder {
    /// The schedule these fields describe.
    pub fn schedule(&self) -> Option<Schedule> {
        Schedule::new(self.times.clone(), self.days, self.tz)
    }
}

/// A reminder as the API shows it.
#[derive(Clone, Debug, Serialize)]
pub struct ReminderView {
    /// Id.
    pub id: Uuid,
    /// `log_pain`, `take_medication`, `exercise`.
    pub kind: String,
    /// Local times `HH:MM`.
    pub times: Vec<String>,
    /// Weekday codes.
    pub days: Vec<String>,
    /// Channel codes.
    pub channels: Vec<String>,
    /// Zone.
    pub timezone: String,
    /// Sending or not.
    pub enabled: bool,
    /// The next occurrence (UTC), `null` when disabled.
    pub next_due_at: Option<DateTime<Utc>>,
    /// When a snoozed occurrence, or one held back by quiet hours, will be sent; `null`
    /// when none is pending.
    pub deferred_until: Option<DateTime<Utc>>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

impl From<reminders::Model> for ReminderView {
    fn from(row: reminders::Model) -> Self {
        let list = |s: &str| serde_json::from_str::<Vec<String>>(s).unwrap_or_default();
        Self {
            id: row.id,
            kind: row.kind,
            times: list(&row.times),
            days: list(&row.days),
            channels: list(&row.channels),
            timezone: row.timezone,
            enabled: row.enabled,
            next_due_at: row.next_due_at,
            deferred_until: row.resend_at,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

/// The stored schedule of a row, if it is valid (rows are validated when written).
pub fn row_schedule(row: &reminders::Model) -> Option<Schedule> {
    parse_schedule(&row.times, &row.days, &row.timezone)
}

/// A schedule from its stored columns: JSON arrays of `"HH:MM"` and weekday codes, and
/// an IANA zone. `None` if any part does not parse (rows are validated when written).
pub fn parse_schedule(times: &str, days: &str, timezone: &str) -> Option<Schedule> {
    let times: Vec<&str> = serde_json::from_str(times).ok()?;
    let days: Vec<&str> = serde_json::from_str(days).ok()?;
    let times = times
        .iter()
        .map(|t| NaiveTime::parse_from_str(t, "%H:%M").ok())
        .collect::<Option<Vec<_>>>()?;
    let mut mask = 0u8;
    for day in &days {
        mask |= 1 << schedule::DAY_CODES.iter().position(|d| d == day)?;
    }
    Schedule::new(times, mask, timezone.parse().ok()?)
}

/// Channel codes from their stored JSON array (unknown codes are left out).
pub fn parse_channels(channels: &str) -> Vec<ReminderChannel> {
    serde_json::from_str::<Vec<&str>>(channels)
        .unwrap_or_default()
        .iter()
        .filter_map(|c| ReminderChannel::parse(c))
        .collect()
}

/// The caller's own patient record: 403 for staff, 404 for an erased patient.
pub async fn own_patient(
    conn: &impl ConnectionTrait,
    user: &AuthUser,
) -> Result<patients::Model, ApiError> {
    if user.role != Role::Patient {
        return Err(ApiError::Forbidden);
    }
    patients::Entity::find()
        .filter(patients::Column::UserId.eq(user.user_id.uuid()))
        .filter(patients::Column::ErasedAt.is_null())
        .one(conn)
        .await?
        .ok_or(ApiError::NotFound)
}

/// A patient's reminders, oldest first.
pub async fn list(
    conn: &impl ConnectionTrait,
    patient: Uuid,
) -> Result<Vec<ReminderView>, ApiError> {
    Ok(reminders::Entity::find()
        .filter(reminders::Column::PatientId.eq(patient))
        .order_by_asc(reminders::Column::CreatedAt)
        .order_by_asc(reminders::Column::Id)
        .all(conn)
        .await?
        .into_iter()
        .map(ReminderView::from)
        .collect())
}

pub(crate) fn stored_lists(valid: &ValidReminder) -> (String, String, String) {
    let times: Vec<String> = valid
        .times
        .iter()
        .map(|t| t.format("%H:%M").to_string())
        .collect();
    let days: Vec<&str> = schedule::DAY_CODES
        .iter()
        .enumerate()
        .filter(|(i, _)| valid.days & (1 << i) != 0)
        .map(|(_, d)| *d)
        .collect();
    let channels: Vec<&str> = valid.channels.iter().map(|c| c.code()).collect();
    let json = |v: serde_json::Value| v.to_string();
    (
        json(serde_json::json!(times)),
        json(serde_json::json!(days)),
        json(serde_json::json!(channels)),
    )
}

/// The next occurrence after `now`, or `None` when disabled.
fn next_due(valid: &ValidReminder, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    if !valid.enabled {
        return None;
    }
    valid.schedule().and_then(|s| s.next_after(now))
}

/// Creates a reminder for `patient` (at most [`MAX_REMINDERS_PER_PATIENT`]).
pub async fn create(
    conn: &impl ConnectionTrait,
    patient: Uuid,
    valid: &ValidReminder,
    now: DateTime<Utc>,
) -> Result<ReminderView, ApiError> {
    let count = reminders::Entity::find()
        .filter(reminders::Column::PatientId.eq(patient))
        .count(conn)
        .await?;
    if count >= MAX_REMINDERS_PER_PATIENT {
        return Err(ApiError::LimitReached {
            code: "reminder_limit_reached",
            message: "a patient may have at most 10 reminders; delete one first",
        });
    }
    let row = new_row(patient, valid, now).insert(conn).await?;
    Ok(row.into())
}

/// A new reminder row for `patient`, its next occurrence computed from `now`.
pub(crate) fn new_row(
    patient: Uuid,
    valid: &ValidReminder,
    now: DateTime<Utc>,
) -> reminders::ActiveModel {
    let (times, days, channels) = stored_lists(valid);
    reminders::ActiveModel {
        id: Set(Uuid::now_v7()),
        patient_id: Set(patient),
        kind: Set(valid.kind.code().to_owned()),
        times: Set(times),
        days: Set(days),
        channels: Set(channels),
        timezone: Set(valid.tz.name().to_owned()),
        enabled: Set(valid.enabled),
        next_due_at: Set(next_due(valid, now)),
        created_at: Set(now),
        updated_at: Set(now),
        last_sent_due_at: Set(None),
        resend_at: Set(None),
        resend_due_at: Set(None),
        snoozed_due_at: Set(None),
    }
}

/// The reminder `id` if it belongs to `patient`; `NotFound` otherwise, as for a missing one.
pub async fn find_own(
    conn: &impl ConnectionTrait,
    patient: Uuid,
    id: Uuid,
) -> Result<reminders::Model, ApiError> {
    reminders::Entity::find_by_id(id)
        .one(conn)
        .await?
        .filter(|r| r.patient_id == patient)
        .ok_or(ApiError::NotFound)
}

/// Replaces the reminder's fields; its next occurrence is computed afresh from `now`.
pub async fn update(
    conn: &impl ConnectionTrait,
    row: reminders::Model,
    valid: &ValidReminder,
    now: DateTime<Utc>,
) -> Result<ReminderView, ApiError> {
    let (times, days, channels) = stored_lists(valid);
    let mut active: reminders::ActiveModel = row.into();
    active.kind = Set(valid.kind.code().to_owned());
    active.times = Set(times);
    active.days = Set(days);
    active.channels = Set(channels);
    active.timezone = Set(valid.tz.name().to_owned());
    active.enabled = Set(valid.enabled);
    active.next_due_at = Set(next_due(valid, now));
    // A pending snooze or quiet-hours send belonged to the old schedule.
    active.resend_at = Set(None);
    active.resend_due_at = Set(None);
    active.updated_at = Set(now);
    Ok(active.update(conn).await?.into())
}

/// The link reminders carry: `reminders.app_url`, else `public_url`.
pub fn app_link(config: &crate::config::Config) -> String {
    config
        .reminders
        .app_url
        .clone()
        .unwrap_or_else(|| config.public_url.clone())
}

/// The reminder email: the title and a link, nothing from the diary.
pub fn reminder_email(kind: ReminderKind, link: &str) -> RenderedEmail {
    render::reminder_email(kind.title(), link)
}

/// Sends one reminder delivery of the outbox (called by the delivery worker). A reminder
/// deleted or turned off since it was enqueued is not sent.
pub async fn deliver(
    state: &crate::state::AppState,
    row: &notification_outbox::Model,
    now: DateTime<Utc>,
) -> Outcome {
    let Ok(payload) = serde_json::from_str::<timer::ReminderPayload>(&row.payload) else {
        return Outcome::Permanent("payload does not match the contract".to_owned());
    };
    let Some(kind) = ReminderKind::parse(&payload.kind) else {
        return Outcome::Permanent("payload does not match the contract".to_owned());
    };
    match reminders::Entity::find_by_id(payload.reminder_id)
        .one(&state.db)
        .await
    {
        Ok(Some(r)) if r.enabled => {}
        Ok(_) => return Outcome::Permanent("reminder deleted or turned off".to_owned()),
        Err(_) => return Outcome::Transient("database unavailable".to_owned()),
    }
    let link = app_link(&state.config);
    match row.channel.as_str() {
        "email" => {
            state
                .outbox
                .send_email(
                    &row.recipient,
                    render::message_id(&row.idempotency_key),
                    reminder_email(kind, &link),
                    now,
                )
                .await
        }
        "web_push" => {
            let message = push::PushMessage {
                kind_of_message: "reminder".to_owned(),
                kind: payload.kind.clone(),
                reminder_id: payload.reminder_id,
                due_at: payload.due_at,
                instrument: payload.instrument.clone(),
                title: kind.title().to_owned(),
                body: kind.body().to_owned(),
                url: link,
            };
            push::deliver(state, &row.recipient, &message, now).await
        }
        _ => Outcome::Permanent("channel not supported for this kind".to_owned()),
    }
}

/// Deletes the reminder.
pub async fn delete(conn: &impl ConnectionTrait, row: reminders::Model) -> Result<(), ApiError> {
    reminders::Entity::delete_by_id(row.id).exec(conn).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn input(kind: &str, times: &[&str], channels: &[&str]) -> ReminderInput {
        ReminderInput {
            kind: kind.into(),
            times: times.iter().map(|s| (*s).to_owned()).collect(),
            days: None,
            channels: channels.iter().map(|s| (*s).to_owned()).collect(),
            timezone: None,
            enabled: None,
        }
    }

    fn code(r: Result<ValidReminder, ApiError>) -> &'static str {
        r.unwrap_err().code()
    }

    #[test]
    fn validation_names_the_rule() {
        let ok = input("log_pain", &["21:00", "09:00"], &["web_push", "email"])
            .validate("Europe/Berlin")
            .unwrap();
        assert_eq!(ok.times[0], NaiveTime::from_hms_opt(9, 0, 0).unwrap());
        assert_eq!(
            ok.channels,
            vec![ReminderChannel::Email, ReminderChannel::WebPush]
        );
        assert_eq!(ok.days, schedule::ALL_DAYS);
        let v = |i: ReminderInput| code(i.validate("Europe/Berlin"));
        assert_eq!(
            v(input("nap", &["09:00"], &["email"])),
            "reminder_kind_invalid"
        );
        assert_eq!(
            v(input("log_pain", &["9:00"], &["email"])),
            "reminder_time_invalid"
        );
        assert_eq!(
            v(input("log_pain", &["24:00"], &["email"])),
            "reminder_time_invalid"
        );
        assert_eq!(
            v(input("log_pain", &[], &["email"])),
            "reminder_times_count"
        );
        assert_eq!(
            v(input("log_pain", &["09:00", "09:00"], &["email"])),
            "reminder_time_duplicate"
        );
        assert_eq!(
            v(input("log_pain", &["09:00"], &["sms"])),
            "reminder_channel_unknown"
        );
        assert_eq!(
            v(input("log_pain", &["09:00"], &[])),
            "reminder_channels_invalid"
        );
        let mut bad_zone = input("log_pain", &["09:00"], &["email"]);
        bad_zone.timezone = Some("Mars/Olympus".into());
        assert_eq!(v(bad_zone), "reminder_timezone_invalid");
        let mut bad_day = input("log_pain", &["09:00"], &["email"]);
        bad_day.days = Some(vec!["monday".into()]);
        assert_eq!(v(bad_day), "reminder_days_invalid");
    }
}
