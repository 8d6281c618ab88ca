//! `documents` rows: every Automerge document the server holds, and whose it is.

use sea_orm::entity::prelude::*;

/// One document.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "documents")]
pub struct Model {
    /// The base58check document ID.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// The patient the document belongs to.
    pub patient_id: Uuid,
    /// `diary_month`, `care_plan` or `index`.
    pub kind: String,
    /// `YYYY-MM` for diary months.
    pub month: Option<String>,
    /// When the server first stored it.
    pub created_at: DateTimeUtc,
    /// When a change was last stored.
    pub updated_at: DateTimeUtc,
}

/// No navigable relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
