//! A bounded, in-process cache of decoded care plans for the patient list.
//!
//! Loading and decoding 500 automerge care-plan documents dominated the clinician's
//! patient list (issue #5), although plans rarely change between two renders. Several
//! server replicas may share one PostgreSQL and any of them (or the sync hub of this
//! one) may append to a plan at any time, so nothing here is trusted without asking the
//! database: every use first reads, in one grouped query per batch of documents, each
//! document's chunk stamp (lowest and highest chunk row id and the number of chunks) from
//! the `(document_id, id)` index alone, and reuses a cached plan only if the stamp it was
//! decoded from is still the stored one.
//!
//! Why the stamp identifies the content: chunk ids come from an auto-increment sequence
//! (SQLite `AUTOINCREMENT`, PostgreSQL `bigserial`) and are never reused; chunks are only
//! ever appended (a new id, so the count changes, and the maximum too unless a
//! transaction that took an older id commits late) or deleted by compaction, which
//! inserts a snapshot of exactly the chunks it deletes (same content) or by erasure
//! (no chunks left: nothing is cached).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use paindiary_sync::ids::DocumentId;
use paindiary_sync::schema::care_plan::{CarePlan, read_care_plan};
use sea_orm::sea_query::{Expr, Func};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect};

use crate::entity::document_chunks;
use crate::storage::{self, StorageError};

/// How many patients' plans are kept by default (about a few KiB each).
pub const DEFAULT_CAPACITY: usize = 10_000;

/// Document ids per stamp query (well under both backends' bound-parameter limits).
const STAMP_BATCH: usize = 500;

/// What identifies a document's stored chunks: (lowest chunk id, highest chunk id,
/// number of chunks).
type Stamp = (i64, i64, i64);

struct Entry {
    stamp: Stamp,
    plan: Arc<CarePlan>,
}

/// Decoded care plans keyed by their document, each with the chunk stamp it was decoded
/// from. Shared by every request through [`crate::AppState`]; cheap to consult (one
/// index-only query per 500 documents).
pub struct CarePlanCache {
    capacity: usize,
    // A std mutex: it is only held for map operations, never across an `.await`.
    entries: Mutex<HashMap<DocumentId, Entry>>,
}

impl Default for CarePlanCache {
    fn default() -> Self {
        Self::with_capacity(DEFAULT_CAPACITY)
    }
}

// By hand: the derived form would print the plans, which are diary content.
impl std::fmt::Debug for CarePlanCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CarePlanCache")
            .field("capacity", &self.capacity)
            .field("len", &self.len())
            .finish()
    }
}

impl CarePlanCache {
    /// An empty cache holding at most `capacity` plans (at least one).
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// Plans currently cached.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forgets every plan (the next use decodes them all again).
    pub fn clear(&self) {
        self.lock().clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<DocumentId, Entry>> {
        // A panic while holding the lock cannot leave an entry half written (inserts and
        // removals are single map operations), so a poisoned map is still consistent.
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The current plans of the documents `ids`; documents without stored chunks are
    /// left out. Cached plans are reused only when their chunk stamp is the stored one;
    /// the others are loaded with [`storage::load_many`], decoded and cached.
    pub async fn get_many(
        &self,
        conn: &impl ConnectionTrait,
        ids: &[DocumentId],
    ) -> Result<HashMap<DocumentId, Arc<CarePlan>>, StorageError> {
        let stamps = stored_stamps(conn, ids).await?;
        let mut out = HashMap::with_capacity(stamps.len());
        let mut misses = Vec::new();
        {
            let mut entries = self.lock();
            for id in ids {
                match stamps.get(id) {
                    Some(stamp) => match entries.get(id) {
                        Some(e) if e.stamp == *stamp => {
                            out.insert(*id, Arc::clone(&e.plan));
                        }
                        _ => misses.push(*id),
                    },
                    // Erased (or never written): drop what an earlier render cached.
                    None => {
                        entries.remove(id);
                    }
                }
            }
        }
        if misses.is_empty() {
            return Ok(out);
        }
        let loaded = storage::load_many(conn, &misses).await?;
        let mut fresh = Vec::with_capacity(loaded.len());
        for (id, doc) in loaded {
            let plan = Arc::new(read_care_plan(&doc.doc));
            // The stamp of what was actually loaded (chunks may have been appended since
            // the stamp query), so an entry never claims newer chunks than it decoded.
            if let Some(stamp) = stamp_of(&doc.chunk_ids) {
                fresh.push((id, stamp, Arc::clone(&plan)));
            }
            out.insert(id, plan);
        }
        let mut entries = self.lock();
        for (id, stamp, plan) in fresh {
            if entries.len() >= self.capacity && !entries.contains_key(&id) {
                // Full: evict an arbitrary entry. A list larger than the capacity then
                // keeps re-decoding some plans, which is only as slow as no cache.
                if let Some(victim) = entries.keys().next().copied() {
                    entries.remove(&victim);
                }
            }
            entries.insert(id, Entry { stamp, plan });
        }
        Ok(out)
    }
}

fn stamp_of(chunk_ids: &[i64]) -> Option<Stamp> {
    let min = chunk_ids.iter().min()?;
    let max = chunk_ids.iter().max()?;
    Some((
        *min,
        *max,
        i64::try_from(chunk_ids.len()).unwrap_or(i64::MAX),
    ))
}

/// The chunk stamp of each of `ids` that has stored chunks: one grouped query per
/// [`STAMP_BATCH`] documents, answered from the `(document_id, id)` index.
async fn stored_stamps(
    conn: &impl ConnectionTrait,
    ids: &[DocumentId],
) -> Result<HashMap<DocumentId, Stamp>, StorageError> {
    use document_chunks::Column as C;
    let mut out = HashMap::with_capacity(ids.len());
    for batch in ids.chunks(STAMP_BATCH) {
        let by_text: HashMap<String, DocumentId> =
            batch.iter().map(|id| (id.to_string(), *id)).collect();
        let rows: Vec<(String, i64, i64, i64)> = document_chunks::Entity::find()
            .select_only()
            .column(C::DocumentId)
            .column_as(Expr::from(Func::min(Expr::col(C::Id))), "min_id")
            .column_as(Expr::from(Func::max(Expr::col(C::Id))), "max_id")
            .column_as(Expr::from(Func::count(Expr::col(C::Id))), "chunks")
            .filter(C::DocumentId.is_in(by_text.keys().cloned()))
            .group_by(C::DocumentId)
            .into_tuple()
            .all(conn)
            .await?;
        for (text, min, max, count) in rows {
            if let Some(id) = by_text.get(&text) {
                out.insert(*id, (min, max, count));
            }
        }
    }
    Ok(out)
}
