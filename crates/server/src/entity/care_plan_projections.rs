//! `care_plan_projections` rows: which patients' care plans are projected, and when.

use sea_orm::entity::prelude::*;

/// One projected care plan.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "care_plan_projections")]
pub struct Model {
    /// Whose care plan.
    #[sea_orm(primary_key, auto_increment = false)]
    pub patient_id: Uuid,
    /// The care-plan document.
    pub document_id: String,
    /// When its rows were last written.
    pub projected_at: DateTimeUtc,
}

/// No navigable relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
