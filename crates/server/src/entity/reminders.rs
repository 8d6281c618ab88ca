//! `reminders` rows: a patient's reminder schedules.

use sea_orm::entity::prelude::*;

/// One reminder schedule.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "reminders")]
pub struct Model {
    /// Reminder id.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Whose reminder.
    pub patient_id: Uuid,
    /// `log_pain`, `take_medication` or `exercise`.
    pub kind: String,
    /// Local times of day, a JSON array of `"HH:MM"`, sorted.
    pub times: String,
    /// Days of the week, a JSON array of `"mon"`..`"sun"`.
    pub days: String,
    /// Channels, a JSON array of `"email"` / `"web_push"`.
    pub channels: String,
    /// The IANA zone the times are read in.
    pub timezone: String,
    /// Off: kept but never sent.
    pub enabled: bool,
    /// The next occurrence (UTC); `None` when disabled.
    pub next_due_at: Option<DateTimeUtc>,
    /// Creation instant.
    pub created_at: DateTimeUtc,
    /// Last change by the patient.
    pub updated_at: DateTimeUtc,
    /// The occurrence most recently sent (what a snooze re-sends).
    pub last_sent_due_at: Option<DateTimeUtc>,
    /// When the one deferred send (quiet hours or snooze) is due; `None` when none.
    pub resend_at: Option<DateTimeUtc>,
    /// The occurrence the deferred send belongs to.
    pub resend_due_at: Option<DateTimeUtc>,
    /// The occurrence the patient last snoozed (each occurrence is snoozed at most once).
    pub snoozed_due_at: Option<DateTimeUtc>,
}

/// No navigable relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
