//! `audit_events` rows.

use sea_orm::entity::prelude::*;

/// One audit record. Identifiers and codes only, never health data.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_events")]
pub struct Model {
    /// Event id (UUID v7, so ids sort by time).
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// When it happened.
    pub at: DateTimeUtc,
    /// Who did it, if anyone authenticated.
    pub actor_user_id: Option<Uuid>,
    /// Whose data it concerned, if a patient's.
    pub patient_id: Option<Uuid>,
    /// Stable action code, e.g. `patient.read`.
    pub action: String,
    /// What was touched, e.g. a document id or an endpoint.
    pub target: Option<String>,
    /// `success`, `denied` or `failure`.
    pub outcome: String,
}

/// No navigable relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
