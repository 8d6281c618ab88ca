//! `web_sessions` rows.

use sea_orm::entity::prelude::*;

/// One dashboard login in one browser.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "web_sessions")]
pub struct Model {
    /// Session id.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The signed-in user.
    pub user_id: Uuid,
    /// Hex SHA-256 of the cookie value.
    #[sea_orm(unique)]
    pub token_hash: String,
    /// Login instant.
    pub created_at: DateTimeUtc,
    /// Last request (the idle timeout counts from here).
    pub last_seen_at: DateTimeUtc,
    /// Absolute expiry.
    pub expires_at: DateTimeUtc,
    /// Set at logout.
    pub revoked_at: Option<DateTimeUtc>,
}

/// No navigable relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
