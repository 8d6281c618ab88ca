//! Projection of diary entries into relational tables (being built on its own branch;
//! this placeholder keeps the hub compiling until it lands and is replaced by it).

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use paindiary_sync::ids::EntryId;
use paindiary_sync::schema::EntryKind;
use sea_orm::{ConnectionTrait, DbErr};
use uuid::Uuid;

/// Where projected rows belong.
pub struct ProjectionTarget<'a> {
    /// The patient.
    pub patient: Uuid,
    /// The month document.
    pub document_id: &'a str,
    /// When the server received the entries.
    pub synced_at: DateTime<Utc>,
}

/// Projects the touched entries.
pub async fn project_entries(
    _conn: &impl ConnectionTrait,
    _target: &ProjectionTarget<'_>,
    _doc: &automerge::Automerge,
    _touched: &BTreeSet<(EntryKind, EntryId)>,
    _now: DateTime<Utc>,
) -> Result<(), DbErr> {
    Ok(())
}
