//! `document_chunks` rows: a document's stored bytes, snapshots and incremental changes.

use sea_orm::entity::prelude::*;

/// One chunk.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "document_chunks")]
pub struct Model {
    /// Insertion order.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The document.
    pub document_id: String,
    /// A full save rather than incremental changes.
    pub snapshot: bool,
    /// The Automerge bytes.
    pub bytes: Vec<u8>,
    /// When it was stored.
    pub created_at: DateTimeUtc,
}

/// No navigable relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
