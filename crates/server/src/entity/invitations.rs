//! `invitations` rows.

use sea_orm::entity::prelude::*;

/// A one-time enrolment code for a patient, stored only as a hash.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "invitations")]
pub struct Model {
    /// Invitation id.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Hex SHA-256 of the normalised code.
    #[sea_orm(unique)]
    pub code_hash: String,
    /// The patient this code enrols.
    pub patient_id: Uuid,
    /// Creation instant.
    pub created_at: DateTimeUtc,
    /// After this instant the code is refused.
    pub expires_at: DateTimeUtc,
    /// Set when redeemed; a used code is refused.
    pub used_at: Option<DateTimeUtc>,
}

/// No navigable relations: queries join explicitly where needed.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
