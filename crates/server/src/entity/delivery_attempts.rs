//! `delivery_attempts` rows: each try at sending an outbox row.

use sea_orm::entity::prelude::*;

/// One attempt and how it ended.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "delivery_attempts")]
pub struct Model {
    /// Attempt id (UUID v7).
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The outbox row.
    pub outbox_id: Uuid,
    /// When the attempt ended.
    pub at: DateTimeUtc,
    /// `sent`, `transient` or `permanent`.
    pub outcome: String,
    /// Classified reason (reply code and text), never message content.
    pub detail: Option<String>,
    /// How long the attempt took.
    pub duration_ms: i32,
}

/// No navigable relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
