//! `medication_intakes` rows: projected medication intakes (taken or skipped).

use sea_orm::entity::prelude::*;

/// One intake.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "medication_intakes")]
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
    /// Drug name as the patient entered it.
    pub drug: String,
    /// `drug` lowercased and trimmed.
    pub drug_normalized: String,
    /// RxNorm concept ID, when known.
    pub rxnorm: Option<String>,
    /// Amount, in `unit`.
    pub amount: f64,
    /// Unit code.
    pub unit: String,
    /// Route code.
    pub route: Option<String>,
    /// `taken` or `skipped`.
    pub status: String,
    /// Taken as needed.
    pub prn: bool,
    /// Why an as-needed dose was taken.
    pub prn_reason: Option<String>,
    /// Free-text note.
    pub note: Option<String>,
}

/// No navigable relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
