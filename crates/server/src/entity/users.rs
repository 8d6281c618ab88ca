//! `users` rows.

use sea_orm::entity::prelude::*;

/// A person who can log in: clinic staff or an enrolled patient.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "users")]
pub struct Model {
    /// User id.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The clinic the user belongs to.
    pub clinic_id: Uuid,
    /// Lowercased email address (unique).
    pub email: String,
    /// Name shown to colleagues; patients' names are never shown in emails.
    pub display_name: String,
    /// Role code, see `domain::Role`.
    pub role: String,
    /// argon2id PHC string.
    pub password_hash: String,
    /// Creation instant.
    pub created_at: DateTimeUtc,
    /// Set when the account is disabled; disabled users cannot authenticate.
    pub disabled_at: Option<DateTimeUtc>,
}

/// No navigable relations: queries join explicitly where needed.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
