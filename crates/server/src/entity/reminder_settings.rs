//! `reminder_settings` rows: a patient's quiet hours, pause and clinic-defaults choice.

use sea_orm::entity::prelude::*;

/// One patient's reminder settings (no row: no quiet hours, not paused, clinic defaults).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "reminder_settings")]
pub struct Model {
    /// The patient.
    #[sea_orm(primary_key, auto_increment = false)]
    pub patient_id: Uuid,
    /// Start of quiet hours, local `HH:MM` in the patient's zone.
    pub quiet_start: Option<String>,
    /// End of quiet hours, local `HH:MM` (before the start when they cross midnight).
    pub quiet_end: Option<String>,
    /// No reminder is sent before this instant.
    pub paused_until: Option<DateTimeUtc>,
    /// The patient's reminders are the clinic's defaults (until the patient changes one).
    pub use_clinic_defaults: bool,
    /// Last change.
    pub updated_at: DateTimeUtc,
}

/// No navigable relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
