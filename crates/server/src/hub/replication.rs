//! Keeping several replicas' document caches in step on one PostgreSQL: after each
//! committed change a replica publishes `NOTIFY paindiary_docs` naming the document, and
//! every replica listens on a dedicated connection; for a document it holds it loads the
//! chunks it has not seen yet and syncs them to its own connected peers. A lost listener
//! connection is re-established and every cached document is then refreshed, so a missed
//! notification never leaves a replica stale. SQLite deployments are single-process and
//! neither publish nor listen.

use std::collections::{BTreeSet, HashSet};
use std::sync::{Arc, PoisonError, Weak};
use std::time::Duration;

use paindiary_sync::ids::DocumentId;
use sea_orm::sqlx::postgres::PgListener;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseBackend, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Statement,
};
use secrecy::ExposeSecret;
use tokio::sync::{mpsc, watch};

use automerge::ChangeHash;
use paindiary_sync::schema::{DocKind, month};

use super::{DocSlot, Hub, HubError, HubInner};
use crate::config::DatabaseKind;
use crate::entity::document_chunks;
use crate::projection::{self, ProjectionTarget};
use crate::storage::DocumentMeta;
use crate::storage::StorageError;

/// The PostgreSQL channel that carries "document D changed".
pub const CHANNEL: &str = "paindiary_docs";

/// Work for the refresher task.
enum Refresh {
    /// Another replica committed a change to this document.
    Document(DocumentId),
    /// Notifications may have been missed: refresh every cached document.
    Everything,
}

/// Publishes "document `id` changed" inside the caller's transaction (PostgreSQL delivers
/// it only if and when the transaction commits, so a crash between commit and publish
/// cannot lose it). A no-op on SQLite.
///
/// The payload is `<document id> <replica peer id>`: no health data, and the sender's
/// own (random, per-process) peer ID lets each replica skip its own notifications
/// without a database round trip.
pub(crate) async fn publish(
    conn: &impl ConnectionTrait,
    server_id: &str,
    ids: impl IntoIterator<Item = &DocumentId>,
) -> Result<(), DbErr> {
    if conn.get_database_backend() != DatabaseBackend::Postgres {
        return Ok(());
    }
    let payloads: Vec<String> = ids
        .into_iter()
        .map(|id| format!("{id} {server_id}"))
        .collect();
    // One statement (one round trip) per few hundred documents, not one per document.
    for chunk in payloads.chunks(NOTIFY_PER_STATEMENT) {
        let calls: Vec<String> = (0..chunk.len())
            .map(|i| format!("pg_notify($1, ${})", i + 2))
            .collect();
        let mut values: Vec<sea_orm::Value> = Vec::with_capacity(chunk.len() + 1);
        values.push(CHANNEL.into());
        values.extend(chunk.iter().map(|p| p.clone().into()));
        conn.execute_raw(Statement::from_sql_and_values(
            DatabaseBackend::Postgres,
            format!("SELECT {}", calls.join(", ")),
            values,
        ))
        .await?;
    }
    Ok(())
}

/// Most notifications sent by one statement.
const NOTIFY_PER_STATEMENT: usize = 256;

/// Starts listening for other replicas' changes when the database is PostgreSQL. The
/// tasks end when the hub shuts down or is dropped.
pub fn spawn_listener(hub: &Hub) {
    let state = &hub.inner.state;
    if state.config.database_kind() != DatabaseKind::Postgres {
        return;
    }
    let Some(url) = state
        .config
        .database
        .url
        .as_ref()
        .map(|u| u.expose_secret().to_owned())
    else {
        return;
    };
    let own = hub.inner.server_id.to_string();
    let weak = Arc::downgrade(&hub.inner);
    let shutdown = hub.inner.shutdown.subscribe();
    // Bounded: when the refresher falls behind, the listener degrades to "refresh
    // everything" instead of buffering without limit.
    let (tx, rx) = mpsc::channel(4096);
    tokio::spawn(refresher(weak, rx, shutdown.clone()));
    tokio::spawn(listen(url, own, tx, shutdown));
}

/// Receives notifications, reconnecting (with back-off) whenever the connection fails.
async fn listen(
    url: String,
    own: String,
    tx: mpsc::Sender<Refresh>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut backoff = Duration::from_millis(100);
    loop {
        if *shutdown.borrow() {
            return;
        }
        let mut connected = false;
        let session = listen_session(&url, &own, &tx, &mut connected);
        tokio::select! {
            _ = shutdown.changed() => return,
            result = session => {
                if let Err(e) = result {
                    // The error names the driver's failure, never the URL or a payload.
                    tracing::warn!(error = %e, "replica listener lost its connection; reconnecting");
                }
            }
        }
        if tx.is_closed() {
            return;
        }
        if connected {
            backoff = Duration::from_millis(100);
        }
        tokio::select! {
            _ = shutdown.changed() => return,
            () = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

/// One listener connection: LISTEN, refresh everything (whatever happened while we were
/// not listening), then forward notifications until the connection fails.
async fn listen_session(
    url: &str,
    own: &str,
    tx: &mpsc::Sender<Refresh>,
    connected: &mut bool,
) -> Result<(), sea_orm::sqlx::Error> {
    let mut listener = PgListener::connect(url).await?;
    listener.listen(CHANNEL).await?;
    *connected = true;
    tracing::info!("replica listener connected");
    let _ = tx.send(Refresh::Everything).await;
    loop {
        match listener.try_recv().await? {
            Some(notification) => {
                let mut parts = notification.payload().split(' ');
                let id = parts.next().and_then(|s| s.parse::<DocumentId>().ok());
                let sender = parts.next();
                let Some(id) = id else { continue };
                if sender == Some(own) {
                    continue;
                }
                if tx.try_send(Refresh::Document(id)).is_err() {
                    if tx.is_closed() {
                        return Ok(());
                    }
                    let _ = tx.send(Refresh::Everything).await;
                }
            }
            None => {
                // The connection dropped and was re-established (LISTEN re-issued):
                // notifications sent in between are lost, so refresh everything.
                tracing::warn!("replica listener reconnected; refreshing cached documents");
                let _ = tx.send(Refresh::Everything).await;
            }
        }
    }
}

/// Applies refresh work in batches: every queued notification is coalesced per document,
/// and the documents of one batch are refreshed concurrently.
async fn refresher(
    hub: Weak<HubInner>,
    mut rx: mpsc::Receiver<Refresh>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let first = tokio::select! {
            _ = shutdown.changed() => return,
            next = rx.recv() => next,
        };
        let Some(first) = first else { return };
        let mut everything = false;
        let mut ids = BTreeSet::new();
        let mut take = |work: Refresh| match work {
            Refresh::Document(id) => {
                ids.insert(id);
            }
            Refresh::Everything => everything = true,
        };
        take(first);
        while let Ok(work) = rx.try_recv() {
            take(work);
        }
        let Some(inner) = hub.upgrade() else { return };
        let hub = Hub { inner };
        if everything {
            ids.extend(
                hub.inner
                    .docs
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .keys()
                    .copied(),
            );
        }
        let mut tasks = tokio::task::JoinSet::new();
        for id in ids {
            let hub = hub.clone();
            tasks.spawn(async move {
                if let Err(e) = hub.refresh(id).await {
                    tracing::warn!(error = %e, document = %id, "could not refresh a document from storage");
                }
            });
        }
        while tasks.join_next().await.is_some() {}
    }
}

impl Hub {
    /// Loads the chunks of a cached document that this replica has not folded in yet
    /// (written by another replica) and sends what is new to the document's peers.
    /// Documents not in the cache are left alone: they load fresh when next opened.
    ///
    /// Chunk row ids come from a sequence and need not commit in id order, so "new" is
    /// "not among the ids we hold", not "greater than the last one we saw".
    pub async fn refresh(&self, id: DocumentId) -> Result<(), HubError> {
        let slot = self
            .inner
            .docs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&id)
            .cloned();
        let Some(slot) = slot else { return Ok(()) };
        let mut slot = slot.lock_owned().await;
        if slot.evicted || !slot.loaded {
            return Ok(());
        }
        let db = &self.inner.state.db;
        let stored: Vec<i64> = document_chunks::Entity::find()
            .select_only()
            .column(document_chunks::Column::Id)
            .filter(document_chunks::Column::DocumentId.eq(id.to_string()))
            .order_by_asc(document_chunks::Column::Id)
            .into_tuple()
            .all(db)
            .await?;
        let stored_set: HashSet<i64> = stored.iter().copied().collect();
        let known: HashSet<i64> = slot.chunk_ids.iter().copied().collect();
        let missing: Vec<i64> = stored
            .iter()
            .copied()
            .filter(|c| !known.contains(c))
            .collect();
        // Chunks another replica compacted away are covered by its snapshot (which is
        // among `missing`): forget them so our own compaction does not count them.
        slot.chunk_ids.retain(|c| stored_set.contains(c));
        if missing.is_empty() {
            return Ok(());
        }
        let mut chunks = Vec::with_capacity(missing.len());
        for batch in missing.chunks(500) {
            chunks.extend(
                document_chunks::Entity::find()
                    .filter(document_chunks::Column::Id.is_in(batch.iter().copied()))
                    .order_by_asc(document_chunks::Column::Id)
                    .all(db)
                    .await?,
            );
        }
        let heads_before = slot.doc.get_heads();
        for chunk in chunks {
            if slot.doc.load_incremental(&chunk.bytes).is_err() {
                // Keep the document as storage says it is rather than half-applied.
                self.reload(&mut slot).await?;
                return Err(HubError::Storage(StorageError::Corrupt {
                    document: id.to_string(),
                    chunk: chunk.id,
                }));
            }
            slot.chunk_ids.push(chunk.id);
            slot.stored_bytes += chunk.bytes.len();
        }
        super::forget_patches(&mut slot.doc);
        self.reaccount(&mut slot);
        if slot.doc.get_heads() == heads_before {
            return Ok(());
        }
        self.reproject_merged(&mut slot, &heads_before).await?;
        // Peers hear of the change only after the re-projection committed, so a client
        // that sees it can also read it through the REST API of this replica.
        self.answer(&mut slot, id, true, 0, false);
        Ok(())
    }

    /// Re-projects the entries another replica's changes touched, from this replica's
    /// merged state. Two replicas that committed concurrent edits of one entry each
    /// projected their own partial state; whichever refreshes last writes the merged one,
    /// so the rows converge on the document.
    async fn reproject_merged(
        &self,
        slot: &mut DocSlot,
        heads_before: &[ChangeHash],
    ) -> Result<(), HubError> {
        let Some(DocumentMeta {
            kind: DocKind::DiaryMonth { patient, .. },
        }) = slot.meta
        else {
            return Ok(());
        };
        let changes = slot.doc.get_changes(heads_before);
        let touched = month::touched_entry_keys(slot.doc.document(), &changes);
        if touched.is_empty() {
            return Ok(());
        }
        let now = self.now();
        let document_id = slot.id.to_string();
        let target = ProjectionTarget {
            patient: *patient.as_uuid(),
            document_id: &document_id,
            synced_at: now,
        };
        let txn = crate::db::begin_write(&self.inner.state.db).await?;
        projection::project_entries(&txn, &target, slot.doc.document(), &touched, now)
            .await
            .map_err(|e| HubError::Storage(StorageError::Db(DbErr::Custom(e.to_string()))))?;
        txn.commit().await?;
        Ok(())
    }
}
