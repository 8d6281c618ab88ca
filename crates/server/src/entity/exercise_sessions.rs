//! `exercise_sessions` rows: projected exercise sessions.

use sea_orm::entity::prelude::*;

/// One session.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "exercise_sessions")]
pub struct Model {
    /// The entry's key in its document (a client-made UUID).
    #[sea_orm(primary_key, auto_increment = false)]
    pub entry_id: Uuid,
    /// Whose diary.
    pub patient_id: Uuid,
    /// The month document the entry lives in.
    pub document_id: String,
    /// When the patient says it happened.
    pub recorded_at: DateTimeUtc,
    /// The patient's IANA time zone for this entry.
    pub tz: String,
    /// The local calendar day of `recorded_at` in `tz`.
    pub local_date: Date,
    /// The entry carries a `deleted_at` tombstone.
    pub deleted: bool,
    /// The entry's own `updated_at` (set by every edit on a device).
    pub updated_at: Option<DateTimeUtc>,
    /// When the server first projected the entry; never changed by later upserts.
    pub synced_at: DateTimeUtc,
    /// Synced more than 24 hours after `recorded_at`.
    pub late: bool,
    /// Passed validation; trends and alerts read only `valid AND NOT deleted` rows.
    pub valid: bool,
    /// What was done.
    pub activity: String,
    /// Duration in minutes.
    pub minutes: f64,
    /// Sets.
    pub sets: Option<f64>,
    /// Repetitions per set.
    pub reps: Option<f64>,
    /// Perceived exertion, 0-10.
    pub exertion: Option<f64>,
    /// Free-text note.
    pub note: Option<String>,
}

/// No navigable relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
