//! `clinic_reminder_defaults` rows: the reminders a clinic gives its patients by default.

use sea_orm::entity::prelude::*;

/// One clinic's default reminders.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "clinic_reminder_defaults")]
pub struct Model {
    /// The clinic.
    #[sea_orm(primary_key, auto_increment = false)]
    pub clinic_id: Uuid,
    /// JSON array of `{kind, times, days, channels}`.
    #[sea_orm(column_type = "Text")]
    pub reminders: String,
    /// Last change.
    pub updated_at: DateTimeUtc,
    /// Who changed it last.
    pub updated_by: Option<Uuid>,
}

/// No navigable relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
