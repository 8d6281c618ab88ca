//! `auth_tokens` rows.

use sea_orm::entity::prelude::*;

/// One bearer token: a device (long-lived) or a web session (short, idle-expiring).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "auth_tokens")]
pub struct Model {
    /// Token id (what `/me/devices` shows and revokes; not the secret).
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Owner.
    pub user_id: Uuid,
    /// Hex SHA-256 of the secret token.
    #[sea_orm(unique)]
    pub token_hash: String,
    /// "device" or "web".
    pub kind: String,
    /// Name the client gave at login, e.g. "Anna's phone".
    pub device_name: Option<String>,
    /// Creation instant.
    pub created_at: DateTimeUtc,
    /// Last authenticated use, updated at most once a minute.
    pub last_used_at: Option<DateTimeUtc>,
    /// Hard expiry.
    pub expires_at: DateTimeUtc,
    /// Set when revoked (logout or revocation from the device list).
    pub revoked_at: Option<DateTimeUtc>,
}

/// No navigable relations: queries join explicitly where needed.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
