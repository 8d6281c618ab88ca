//! `patients` rows.

use sea_orm::entity::prelude::*;

/// A patient; `id` is the `PatientId` that diary documents carry.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "patients")]
pub struct Model {
    /// Patient id.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The clinic treating the patient.
    pub clinic_id: Uuid,
    /// Pseudonymous code shown instead of a name, unique per clinic.
    pub display_code: String,
    /// IANA time zone name.
    pub timezone: String,
    /// The patient's own account, set at enrolment.
    pub user_id: Option<Uuid>,
    /// Creation instant.
    pub created_at: DateTimeUtc,
    /// Set when the patient has been erased; the row stays as a tombstone.
    pub erased_at: Option<DateTimeUtc>,
}

/// No navigable relations: queries join explicitly where needed.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

impl Model {
    /// The patient's time zone (see [`crate::domain::stored_zone`]).
    pub fn zone(&self) -> chrono_tz::Tz {
        crate::domain::stored_zone(&self.timezone)
    }
}
