//! Durable document storage: the `documents` registry, append-only change chunks with
//! compaction into snapshots that tolerates a concurrent writer, and persisted per-peer
//! sync states. Every write takes the caller's connection so it joins their transaction.

use automerge::AutoCommit;
use chrono::{DateTime, Utc};
use paindiary_sync::ids::DocumentId;
use paindiary_sync::schema::DocKind;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
};
use uuid::Uuid;

use crate::entity::{document_chunks, documents, peer_sync_states};

/// Why stored bytes could not be turned back into a document.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The database failed.
    #[error(transparent)]
    Db(#[from] DbErr),
    /// A stored chunk does not load (never expected: chunks are written only after
    /// Automerge produced them).
    #[error("stored chunk {chunk} of document {document} does not load")]
    Corrupt {
        /// The document.
        document: String,
        /// The chunk's row id.
        chunk: i64,
    },
}

/// What kind of document a registry row describes, and whose it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DocumentMeta {
    /// The derived kind (patient, and month for diaries).
    pub kind: DocKind,
}

impl DocumentMeta {
    fn kind_code(&self) -> &'static str {
        match self.kind {
            DocKind::DiaryMonth { .. } => "diary_month",
            DocKind::CarePlan { .. } => "care_plan",
            DocKind::Index { .. } => "index",
        }
    }

    fn from_row(row: &documents::Model) -> Option<Self> {
        let patient = paindiary_sync::ids::PatientId::from_uuid(row.patient_id);
        let kind = match row.kind.as_str() {
            "diary_month" => DocKind::DiaryMonth {
                patient,
                month: row.month.as_deref()?.parse().ok()?,
            },
            "care_plan" => DocKind::CarePlan { patient },
            "index" => DocKind::Index { patient },
            _ => return None,
        };
        Some(Self { kind })
    }
}

/// A document loaded from its chunks.
pub struct LoadedDocument {
    /// The merged document.
    pub doc: AutoCommit,
    /// Row ids of the chunks folded into `doc` (what a compaction may delete).
    pub chunk_ids: Vec<i64>,
    /// Total stored bytes.
    pub stored_bytes: usize,
}

/// The registry row of a document, if the server holds it.
pub async fn find(
    conn: &impl ConnectionTrait,
    id: &DocumentId,
) -> Result<Option<DocumentMeta>, DbErr> {
    Ok(documents::Entity::find_by_id(id.to_string())
        .one(conn)
        .await?
        .as_ref()
        .and_then(DocumentMeta::from_row))
}

/// Every registered document of a patient.
pub async fn list_for_patient(
    conn: &impl ConnectionTrait,
    patient: Uuid,
) -> Result<Vec<(DocumentId, DocumentMeta)>, DbErr> {
    let rows = documents::Entity::find()
        .filter(documents::Column::PatientId.eq(patient))
        .all(conn)
        .await?;
    Ok(rows
        .iter()
        .filter_map(|row| Some((row.id.parse().ok()?, DocumentMeta::from_row(row)?)))
        .collect())
}

/// Registers a new document (idempotent: a concurrent registration of the same derived
/// document by another replica is not an error).
pub async fn register(
    conn: &impl ConnectionTrait,
    id: &DocumentId,
    meta: DocumentMeta,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    let month = match meta.kind {
        DocKind::DiaryMonth { month, .. } => Some(month.to_string()),
        _ => None,
    };
    let row = documents::ActiveModel {
        id: Set(id.to_string()),
        patient_id: Set(*meta.kind.patient().as_uuid()),
        kind: Set(meta.kind_code().to_owned()),
        month: Set(month),
        created_at: Set(now),
        updated_at: Set(now),
    };
    documents::Entity::insert(row)
        .on_conflict_do_nothing_on([documents::Column::Id])
        .exec(conn)
        .await?;
    Ok(())
}

/// Loads a document from every chunk stored for it (snapshots and changes alike;
/// duplicates from overlapping snapshots are harmless, Automerge deduplicates).
pub async fn load(
    conn: &impl ConnectionTrait,
    id: &DocumentId,
) -> Result<Option<LoadedDocument>, StorageError> {
    let chunks = document_chunks::Entity::find()
        .filter(document_chunks::Column::DocumentId.eq(id.to_string()))
        .order_by_asc(document_chunks::Column::Id)
        .all(conn)
        .await?;
    if chunks.is_empty() {
        return Ok(None);
    }
    let mut doc = AutoCommit::new();
    let mut chunk_ids = Vec::with_capacity(chunks.len());
    let mut stored_bytes = 0;
    for chunk in chunks {
        doc.load_incremental(&chunk.bytes)
            .map_err(|_| StorageError::Corrupt {
                document: id.to_string(),
                chunk: chunk.id,
            })?;
        stored_bytes += chunk.bytes.len();
        chunk_ids.push(chunk.id);
    }
    crate::hub::forget_patches(&mut doc);
    Ok(Some(LoadedDocument {
        doc,
        chunk_ids,
        stored_bytes,
    }))
}

/// Appends change bytes (or a snapshot) for a document; returns the chunk's row id.
pub async fn append_chunk(
    conn: &impl ConnectionTrait,
    id: &DocumentId,
    bytes: Vec<u8>,
    snapshot: bool,
    now: DateTime<Utc>,
) -> Result<i64, DbErr> {
    let row = document_chunks::ActiveModel {
        document_id: Set(id.to_string()),
        snapshot: Set(snapshot),
        bytes: Set(bytes),
        created_at: Set(now),
        ..Default::default()
    };
    // `documents.updated_at` follows by trigger (migration 000019).
    let inserted = document_chunks::Entity::insert(row).exec(conn).await?;
    Ok(inserted.last_insert_id)
}

/// The persisted sync state of a device for a document.
pub async fn load_sync_state(
    conn: &impl ConnectionTrait,
    peer_key: &str,
    id: &DocumentId,
) -> Result<Option<automerge::sync::State>, DbErr> {
    Ok(
        peer_sync_states::Entity::find_by_id((peer_key.to_owned(), id.to_string()))
            .one(conn)
            .await?
            .and_then(|row| automerge::sync::State::decode(&row.state).ok()),
    )
}
