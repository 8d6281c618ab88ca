//! `peer_sync_states` rows: the Automerge sync state of one device for one document.

use sea_orm::entity::prelude::*;

/// One persisted sync state.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "peer_sync_states")]
pub struct Model {
    /// `<user id>/<storage id>`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub peer_key: String,
    /// The document.
    #[sea_orm(primary_key, auto_increment = false)]
    pub document_id: String,
    /// `automerge::sync::State::encode()` bytes.
    pub state: Vec<u8>,
    /// When it was saved.
    pub updated_at: DateTimeUtc,
}

/// No navigable relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
