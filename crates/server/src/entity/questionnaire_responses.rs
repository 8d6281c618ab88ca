//! `questionnaire_responses` rows: projected questionnaire responses with their score.

use sea_orm::entity::prelude::*;

/// One response.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "questionnaire_responses")]
pub struct Model {
    /// The entry's key in its document (a client-made UUID).
    #[sea_orm(primary_key, auto_increment = false)]
    pub entry_id: Uuid,
    /// Whose diary.
    pub patient_id: Uuid,
    /// The month document the entry lives in.
    pub document_id: String,
    /// When the patient answered.
    pub recorded_at: DateTimeUtc,
    /// The patient's IANA time zone for this entry.
    pub tz: String,
    /// The local calendar day of `recorded_at` in `tz`.
    pub local_date: Date,
    /// The entry carries a `deleted_at` tombstone.
    pub deleted: bool,
    /// The entry's own `updated_at`.
    pub updated_at: Option<DateTimeUtc>,
    /// When the server first projected the entry; never changed by later upserts.
    pub synced_at: DateTimeUtc,
    /// Synced more than 24 hours after `recorded_at`.
    pub late: bool,
    /// Passed validation against its instrument's definition.
    pub valid: bool,
    /// The instrument ID (`phq9`, `gad7`, `peg`, ...).
    pub instrument: String,
    /// The definition's version.
    pub version: String,
    /// The answers as a JSON object (link ID -> number).
    pub answers: String,
    /// How many items were answered.
    pub answered: i32,
    /// The total, when scored.
    pub total: Option<f64>,
    /// The total was prorated from missing items.
    pub prorated: bool,
    /// The severity band of the total.
    pub band: Option<String>,
    /// The safety item (PHQ-9 item 9) was answered above 0.
    pub safety_positive: bool,
    /// Free-text note.
    pub note: Option<String>,
}

/// No navigable relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
