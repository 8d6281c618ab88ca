//! `entry_issues` rows: diary entries that cannot be read, or that fail validation.

use sea_orm::entity::prelude::*;

/// One problem with one entry. An entry has one row per validation error, or one
/// `unreadable` row; rows that no longer apply after an edit are deleted.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "entry_issues")]
pub struct Model {
    /// Whose diary.
    pub patient_id: Uuid,
    /// The month document the entry lives in.
    #[sea_orm(primary_key, auto_increment = false)]
    pub document_id: String,
    /// `pain`, `medication`, `exercise`, `wellbeing` or `checkin`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub kind: String,
    /// The entry's key as found in the document.
    #[sea_orm(primary_key, auto_increment = false)]
    pub entry_key: String,
    /// `unreadable`, `unknown_time_zone`, `duplicate_entry_id`, or a validation error code.
    #[sea_orm(primary_key, auto_increment = false)]
    pub reason_code: String,
    /// Human-readable reason.
    pub reason: String,
    /// When a projection first found the problem.
    pub first_seen_at: DateTimeUtc,
    /// When a projection last found it.
    pub last_seen_at: DateTimeUtc,
}

/// No navigable relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
