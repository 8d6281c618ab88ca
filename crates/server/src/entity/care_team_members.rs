//! `care_team_members` rows.

use sea_orm::entity::prelude::*;

/// A clinician on a patient's care team.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "care_team_members")]
pub struct Model {
    /// The patient.
    #[sea_orm(primary_key, auto_increment = false)]
    pub patient_id: Uuid,
    /// The clinician.
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: Uuid,
    /// When the clinician joined the team.
    pub added_at: DateTimeUtc,
}

/// No navigable relations: queries join explicitly where needed.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
