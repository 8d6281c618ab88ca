//! The sync hub: the server side of automerge-repo protocol v1. It keeps a bounded cache
//! of open documents, applies each peer's sync messages, stores every accepted change
//! (with its projection and audit row) in one transaction before anything is
//! acknowledged or forwarded, and fans changes out to the other peers of a document.

pub mod access;
mod commit_queue;
pub mod connection;
pub mod replication;

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex as StdMutex, PoisonError};
use std::time::{Duration, Instant};

use automerge::sync::{Message as SyncMessage, State as SyncState, SyncDoc};
use automerge::{ActorId, AutoCommit, ChangeHash};
use chrono::{DateTime, Utc};
use paindiary_sync::ids::{DocumentId, PatientId as DocPatientId};
use paindiary_sync::protocol::{Message, PeerId, StorageId};
use paindiary_sync::schema::{DocKind, Header, index as doc_index, month};
use sea_orm::DbErr;
use serde::Deserialize;
use tokio::sync::{Mutex, Notify, mpsc, watch};

use crate::access_changes::AccessChange;
use crate::alerts;
use crate::audit::{AuditEvent, Outcome};
use crate::domain::{PatientId, UserId};
use crate::projection::{self, ProjectionTarget};
use crate::state::AppState;
use crate::storage::{self, DocumentMeta, StorageError};

use access::DocAccess;

/// Audit action codes written by the hub.
pub mod actions {
    /// A peer opened a document for syncing (once per connection and document).
    pub const DOCUMENT_OPEN: &str = "document.open";
    /// Changes from a peer were stored.
    pub const DOCUMENT_WRITE: &str = "document.write";
    /// A care-team member edited a care plan from the dashboard.
    pub const CARE_PLAN_EDIT: &str = "care_plan.edit";
}

/// Limits and tuning of the sync hub.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SyncConfig {
    /// Largest WebSocket frame accepted from a peer.
    pub max_frame_bytes: usize,
    /// Largest stored size of one document; changes beyond it are refused.
    pub max_document_bytes: usize,
    /// Memory budget of the document cache (estimated), beyond which idle documents are
    /// evicted, least recently used first.
    pub memory_budget_bytes: usize,
    /// Chunks a document may accumulate before they are compacted into one snapshot.
    pub compact_after_chunks: usize,
    /// How long a new connection may take to send `join`.
    pub handshake_timeout_secs: u64,
    /// Frames queued for one peer before it is considered stalled and disconnected.
    pub outbound_queue: usize,
    /// Documents a connection may have open that the server does not hold yet.
    pub max_pending_documents: usize,
    /// How often a live session checks that its token is still valid and its open
    /// documents still visible. Revocations on this replica act at once; this bounds how
    /// long a revocation on another replica, or an expiry, takes to close the session.
    pub session_recheck_secs: u64,
    /// Seconds one frame may take to be written to a peer's socket (the peer stopped
    /// reading and its buffers are full) before the peer is disconnected.
    pub send_timeout_secs: u64,
    /// How often the server pings each joined peer. A ping is queued behind every frame
    /// sent before it, so its pong proves the peer read all of them.
    pub ping_interval_secs: u64,
    /// Seconds a peer may take to answer a ping before it is disconnected. This catches a
    /// peer that stopped reading while the kernel still absorbs what we send it (no write
    /// ever blocks, so `send_timeout_secs` never fires), and a peer that vanished without
    /// closing its TCP connection: either way its sync states and queue are freed.
    pub pong_timeout_secs: u64,
    /// Messages a second one connection may send on average (bursts of up to one
    /// second's worth); beyond that the server stops reading from it until the budget
    /// refills. Zero disables the pacing.
    pub max_messages_per_sec: u32,
}

impl Default for SyncConfig {
    fn default() -> Self {
        Self {
            max_frame_bytes: 8 * 1024 * 1024,
            max_document_bytes: 32 * 1024 * 1024,
            memory_budget_bytes: 256 * 1024 * 1024,
            compact_after_chunks: 128,
            handshake_timeout_secs: 10,
            outbound_queue: 512,
            max_pending_documents: 8,
            session_recheck_secs: 30,
            send_timeout_secs: 30,
            ping_interval_secs: 30,
            pong_timeout_secs: 30,
            max_messages_per_sec: 500,
        }
    }
}

/// The memory estimate of a cached document: a fixed part plus a share per operation.
/// Measured as RSS per document over 300 copies of a month loaded as the hub loads them:
/// 36 KB at 30 entries (188 ops), 138 KB at 240 (1,448 ops), 158 KB at 480 (2,888 ops);
/// this estimate gives 35 / 161 / 305 KB. Counted from operations, not stored bytes: a
/// month's stored size is 59 KB as raw changes but 4.2 KB saved, for the same document
/// in memory.
const MEMORY_BASE: usize = 16 * 1024;
/// See [`MEMORY_BASE`].
const MEMORY_PER_OP: usize = 100;

/// How long "this patient has no care plan" is trusted before storage is asked again
/// (bounds how late a care plan created on another replica reaches evaluation here).
const NO_CARE_PLAN_TTL: Duration = Duration::from_secs(60);

/// After a care-plan change, the alert rules run again over this many recent local days.
const CARE_PLAN_REEVALUATION_DAYS: u32 = 7;

/// Identifies one WebSocket connection.
pub type ConnId = u64;

/// What the hub sends to a connection's writer.
#[derive(Debug)]
pub enum Outbound {
    /// One encoded protocol message.
    Frame(Vec<u8>),
    /// A WebSocket ping with this payload (the connection's liveness check).
    Ping(Vec<u8>),
    /// Close the WebSocket with this code and reason.
    Close(u16, String),
}

/// One peer's view of an open document.
struct PeerDoc {
    state: SyncState,
    peer_id: PeerId,
    /// `<user>/<storage id>` when the device persists (its sync state is worth saving).
    peer_key: Option<String>,
    out: mpsc::Sender<Outbound>,
    /// Signalled when the peer cannot keep up and must be disconnected.
    stalled: Arc<Notify>,
}

struct DocSlot {
    id: DocumentId,
    meta: Option<DocumentMeta>,
    loaded: bool,
    doc: AutoCommit,
    chunk_ids: Vec<i64>,
    stored_bytes: usize,
    peers: HashMap<ConnId, PeerDoc>,
    last_used: Instant,
    /// What this slot currently adds to the hub's memory estimate.
    accounted: usize,
    /// Removed from the cache: whoever holds this must look the document up again.
    evicted: bool,
}

impl DocSlot {
    fn memory(&self) -> usize {
        let ops =
            usize::try_from(automerge::ReadDoc::stats(&self.doc).num_ops).unwrap_or(usize::MAX);
        MEMORY_BASE.saturating_add(ops.saturating_mul(MEMORY_PER_OP))
    }
}

/// What [`Hub::receive`] did with a peer's sync message.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Received {
    /// The document's registry entry, once the server holds it.
    pub(crate) stored: Option<DocumentMeta>,
    /// The peer holds changes it may not make (a read-only document); they were ignored.
    pub(crate) refused: bool,
}

/// Why handling a message failed; the connection reports it and closes.
#[derive(Debug, thiserror::Error)]
pub enum HubError {
    /// The database failed; the client should retry later (nothing was acknowledged).
    #[error("storage unavailable")]
    Storage(#[from] StorageError),
    /// The peer sent something that is not a valid Automerge sync message.
    #[error("invalid sync message for document {0}")]
    BadSyncMessage(DocumentId),
    /// The peer's changes do not form a valid document of the kind its ID implies.
    #[error("document {0} does not match its ID, patient or schema")]
    WrongDocument(DocumentId),
    /// The document would grow past the configured limit.
    #[error("document {0} is over the size limit")]
    TooLarge(DocumentId),
    /// Too many new documents at once on one connection.
    #[error("too many new documents at once")]
    TooManyPending,
}

/// Why [`Hub::edit_care_plan`] wrote nothing.
#[derive(Debug, thiserror::Error)]
pub enum CarePlanEditError<E> {
    /// The edit itself refused (invalid input); the document is unchanged.
    #[error("the edit was refused")]
    Refused(E),
    /// Storing the edit failed; the document is as stored before.
    #[error(transparent)]
    Hub(#[from] HubError),
}

impl From<DbErr> for HubError {
    fn from(e: DbErr) -> Self {
        HubError::Storage(StorageError::Db(e))
    }
}

/// The server side of the sync protocol. Cheap to clone.
#[derive(Clone)]
pub struct Hub {
    inner: Arc<HubInner>,
}

struct HubInner {
    state: AppState,
    config: SyncConfig,
    server_id: PeerId,
    storage_id: Option<StorageId>,
    actor: ActorId,
    docs: StdMutex<HashMap<DocumentId, Arc<Mutex<DocSlot>>>>,
    memory: AtomicUsize,
    next_conn: AtomicU64,
    shutdown: watch::Sender<bool>,
    live_connections: AtomicUsize,
    connections_done: Notify,
    commits: commit_queue::CommitQueue,
    /// Patients found to have no care plan, and when: a month commit then needs no
    /// lookup. Cleared when this replica creates or stores the patient's care plan; a
    /// care plan created on another replica is seen after [`NO_CARE_PLAN_TTL`].
    no_care_plan: StdMutex<HashMap<DocPatientId, Instant>>,
}

impl Hub {
    /// A hub over the application state.
    pub fn new(state: AppState, config: SyncConfig) -> Self {
        let instance = uuid::Uuid::new_v4().simple().to_string();
        let server_id = PeerId::new(format!("paindiary-{}", &instance[..12]))
            .unwrap_or_else(|_| unreachable_peer_id());
        let (shutdown, _) = watch::channel(false);
        Self {
            inner: Arc::new(HubInner {
                config,
                server_id: server_id.clone(),
                // One storage for all replicas: they share the database.
                storage_id: StorageId::new("paindiary-server").ok(),
                actor: ActorId::random(),
                docs: StdMutex::new(HashMap::new()),
                memory: AtomicUsize::new(0),
                next_conn: AtomicU64::new(1),
                shutdown,
                live_connections: AtomicUsize::new(0),
                connections_done: Notify::new(),
                no_care_plan: StdMutex::new(HashMap::new()),
                commits: commit_queue::CommitQueue::new(
                    state.writer.clone(),
                    state.outbox.clone(),
                    state.config.clone(),
                    server_id.to_string(),
                ),
                state,
            }),
        }
    }

    /// The hub's configuration.
    pub fn config(&self) -> &SyncConfig {
        &self.inner.config
    }

    /// The server's peer ID on the wire.
    pub fn server_id(&self) -> &PeerId {
        &self.inner.server_id
    }

    /// Documents currently in memory.
    pub fn cached_documents(&self) -> usize {
        self.inner
            .docs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Estimated memory held by cached documents.
    pub fn cached_bytes(&self) -> usize {
        self.inner.memory.load(Ordering::Relaxed)
    }

    /// Asks every connection to close (going away) and waits until they have saved their
    /// sync states, at most `grace`.
    pub async fn shutdown(&self, grace: Duration) {
        self.inner.shutdown.send_replace(true);
        let wait = async {
            while self.inner.live_connections.load(Ordering::Acquire) > 0 {
                let notified = self.inner.connections_done.notified();
                if self.inner.live_connections.load(Ordering::Acquire) == 0 {
                    break;
                }
                notified.await;
            }
        };
        if tokio::time::timeout(grace, wait).await.is_err() {
            tracing::warn!("sync connections still open after the shutdown grace period");
        }
    }

    fn next_conn_id(&self) -> ConnId {
        self.inner.next_conn.fetch_add(1, Ordering::Relaxed)
    }

    fn now(&self) -> DateTime<Utc> {
        self.inner.state.clock.now()
    }

    /// The cache slot of a document, created empty (to be loaded by its first locker).
    fn slot(&self, id: DocumentId, meta: Option<DocumentMeta>) -> Arc<Mutex<DocSlot>> {
        let mut docs = self
            .inner
            .docs
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        docs.entry(id)
            .or_insert_with(|| {
                Arc::new(Mutex::new(DocSlot {
                    id,
                    meta,
                    loaded: false,
                    doc: AutoCommit::new().with_actor(self.inner.actor.clone()),
                    chunk_ids: Vec::new(),
                    stored_bytes: 0,
                    peers: HashMap::new(),
                    last_used: Instant::now(),
                    accounted: 0,
                    evicted: false,
                }))
            })
            .clone()
    }

    /// Locks the slot of `id`, loading the document from storage on first use (creating
    /// an index or care plan from its genesis if the server has none yet).
    async fn lock_loaded(
        &self,
        id: DocumentId,
        meta: Option<DocumentMeta>,
    ) -> Result<tokio::sync::OwnedMutexGuard<DocSlot>, HubError> {
        loop {
            let slot = self.slot(id, meta);
            let mut guard = slot.lock_owned().await;
            if guard.evicted {
                continue;
            }
            if guard.meta.is_none() {
                guard.meta = meta;
            }
            if !guard.loaded {
                self.load_into(&mut guard).await?;
            }
            guard.last_used = Instant::now();
            return Ok(guard);
        }
    }

    async fn load_into(&self, slot: &mut DocSlot) -> Result<(), HubError> {
        let db = &self.inner.state.db;
        match storage::load(db, &slot.id).await? {
            Some(loaded) => {
                slot.doc = loaded.doc.with_actor(self.inner.actor.clone());
                slot.chunk_ids = loaded.chunk_ids;
                slot.stored_bytes = loaded.stored_bytes;
            }
            None => {
                if let Some(
                    meta @ DocumentMeta {
                        kind: kind @ (DocKind::Index { .. } | DocKind::CarePlan { .. }),
                    },
                ) = slot.meta
                {
                    self.create_from_genesis(slot, meta, kind).await?;
                }
            }
        }
        slot.loaded = true;
        self.reaccount(slot);
        Ok(())
    }

    /// Brings the hub's memory estimate in line with the slot's current size.
    fn reaccount(&self, slot: &mut DocSlot) {
        let current = if slot.loaded && !slot.evicted {
            slot.memory()
        } else {
            0
        };
        if current >= slot.accounted {
            self.inner
                .memory
                .fetch_add(current - slot.accounted, Ordering::Relaxed);
        } else {
            self.inner
                .memory
                .fetch_sub(slot.accounted - current, Ordering::Relaxed);
        }
        slot.accounted = current;
    }

    /// Creates a patient's index or care plan the first time anyone allowed opens it. The
    /// index starts out listing every month the server already holds.
    async fn create_from_genesis(
        &self,
        slot: &mut DocSlot,
        meta: DocumentMeta,
        kind: DocKind,
    ) -> Result<(), HubError> {
        let now = self.now();
        if let DocKind::CarePlan { patient } = kind {
            self.care_plan_exists(patient);
        }
        let mut doc = kind
            .create(self.inner.actor.clone())
            .map_err(|_| HubError::WrongDocument(slot.id))?;
        if let DocKind::Index { patient } = kind {
            let existing =
                storage::list_for_patient(&self.inner.state.db, *patient.as_uuid()).await?;
            for (_, other) in existing {
                if let DocKind::DiaryMonth { month, .. } = other.kind {
                    doc_index::ensure_month(&mut doc, patient, month)
                        .map_err(|_| HubError::WrongDocument(slot.id))?;
                }
            }
        }
        let bytes = doc.save();
        let len = bytes.len();
        // Through the commit queue like every other document write: a transaction of its
        // own would compete with the queue's for SQLite's write lock (and can time out
        // when hundreds of phones bring their first month at once).
        let committed = self
            .inner
            .commits
            .commit(commit_queue::CommitRequest {
                register: Some((slot.id, meta)),
                chunks: vec![(slot.id, bytes, true)],
                care_plan: match kind {
                    DocKind::CarePlan { patient } => Some(*patient.as_uuid()),
                    _ => None,
                },
                ..commit_queue::CommitRequest::at(now)
            })
            .await?;
        slot.stored_bytes = len;
        slot.chunk_ids = committed.chunk_ids;
        slot.doc = doc;
        Ok(())
    }

    /// Applies one `sync`/`request` message from a peer: stores what is new (with its
    /// projection and audit row) in one transaction, then answers the peer and forwards
    /// the changes to the document's other peers. Returns the document's registry entry
    /// once the server holds it (a new month's first stored change creates it).
    pub(crate) async fn receive(
        &self,
        conn: &connection::PeerHandle,
        id: DocumentId,
        access: DocAccess,
        data: &[u8],
    ) -> Result<Received, HubError> {
        let mut message = SyncMessage::decode(data).map_err(|_| HubError::BadSyncMessage(id))?;
        let mut slot = self.lock_loaded(id, access.meta()).await?;
        // Read-only peers (a patient's copy of the care plan) cannot change the server's
        // document; their heads still sync. A peer holding changes we refuse (sent now, or
        // named in its heads) is told so once by the connection, and gets no reply that
        // only asks for them again: each such reply makes a stock client answer with the
        // same heads, a loop of thousands of messages a second.
        let refused = !access.can_write()
            && (!message.changes.is_empty()
                || !slot.doc.get_missing_deps(&message.heads).is_empty());
        if refused {
            message.changes = automerge::sync::ChunkList::empty();
        }
        let now = self.now();
        if let std::collections::hash_map::Entry::Vacant(vacant) = slot.peers.entry(conn.conn_id) {
            let state = match &conn.peer_key {
                Some(key) => storage::load_sync_state(&self.inner.state.db, key, &id)
                    .await?
                    .unwrap_or_default(),
                None => SyncState::new(),
            };
            vacant.insert(PeerDoc {
                state,
                peer_id: conn.peer_id.clone(),
                peer_key: conn.peer_key.clone(),
                out: conn.out.clone(),
                stalled: conn.stalled.clone(),
            });
        }

        let heads_before = slot.doc.get_heads();
        let result = {
            let DocSlot { doc, peers, .. } = &mut *slot;
            let peer = peers.get_mut(&conn.conn_id);
            match peer {
                Some(peer) => doc.sync().receive_sync_message(&mut peer.state, message),
                None => Ok(()),
            }
        };
        forget_patches(&mut slot.doc);
        if result.is_err() {
            self.reload(&mut slot).await?;
            return Err(HubError::BadSyncMessage(id));
        }
        let heads_after = slot.doc.get_heads();
        if heads_after != heads_before
            && let Err(e) = self
                .commit(&mut slot, conn, &access, &heads_before, now)
                .await
        {
            // Nothing was stored: forget the changes in memory too, so the document
            // matches storage and the client (which got no acknowledgement) resends.
            self.reload(&mut slot).await?;
            if let Some(peer) = slot.peers.get_mut(&conn.conn_id) {
                peer.state = SyncState::new();
            }
            return Err(e);
        }
        self.answer(
            &mut slot,
            id,
            heads_after != heads_before,
            conn.conn_id,
            refused,
        );
        let stored = slot.meta;
        drop(slot);
        self.evict_if_over_budget();
        Ok(Received { stored, refused })
    }

    /// Discards the in-memory document and loads it again from storage.
    async fn reload(&self, slot: &mut DocSlot) -> Result<(), HubError> {
        slot.loaded = false;
        self.reaccount(slot);
        slot.doc = AutoCommit::new().with_actor(self.inner.actor.clone());
        slot.chunk_ids.clear();
        slot.stored_bytes = 0;
        if slot.meta.is_some()
            || storage::find(&self.inner.state.db, &slot.id)
                .await?
                .is_some()
        {
            self.load_into(slot).await?;
        } else {
            slot.loaded = true;
        }
        Ok(())
    }

    /// Stores the changes made since `heads_before`: chunk, registry (for a new month,
    /// after checking its header against its ID), index entry, projection, sync state and
    /// audit row, in one transaction.
    async fn commit(
        &self,
        slot: &mut DocSlot,
        conn: &connection::PeerHandle,
        access: &DocAccess,
        heads_before: &[ChangeHash],
        now: DateTime<Utc>,
    ) -> Result<(), HubError> {
        let id = slot.id;
        let changes = slot.doc.get_changes(heads_before);
        let bytes = chunk_bytes(&changes);
        if slot.stored_bytes + bytes.len() > self.inner.config.max_document_bytes {
            return Err(HubError::TooLarge(id));
        }

        // A month the server has never seen: its header must name this patient and a
        // month whose derived ID is this document's ID.
        let new_month = match (access, slot.meta) {
            (DocAccess::NewMonth(patient), None) => {
                let kind = Header::read(&slot.doc)
                    .and_then(|h| h.kind())
                    .map_err(|_| HubError::WrongDocument(id))?;
                match kind {
                    DocKind::DiaryMonth { patient: p, .. }
                        if p == *patient && kind.document_id() == id =>
                    {
                        Some(DocumentMeta { kind })
                    }
                    _ => return Err(HubError::WrongDocument(id)),
                }
            }
            _ => None,
        };
        let meta = slot.meta.or(new_month).ok_or(HubError::WrongDocument(id))?;
        let patient = meta.kind.patient();
        // The entries the changes touch. The decoded changes (a copy of every change on a
        // month's first sync) are not needed past this point: they are freed before the
        // waits below, where a burst of phones bringing their history would otherwise hold
        // all of theirs at once.
        let touched = matches!(meta.kind, DocKind::DiaryMonth { .. })
            .then(|| month::touched_entry_keys(slot.doc.document(), &changes));
        drop(changes);
        if let DocKind::CarePlan { patient } = meta.kind {
            self.care_plan_exists(patient);
        }
        // A new month is listed in the patient's index. Lock the index (creating it from its
        // genesis if the server has none yet) before our transaction begins: the creation
        // commits in a transaction of its own, which on SQLite would wait for the write lock
        // our transaction holds until the busy timeout, and fail the month's commit.
        let index_slot = match new_month {
            Some(DocumentMeta {
                kind: DocKind::DiaryMonth { patient, .. },
            }) => {
                let kind = DocKind::Index { patient };
                Some(
                    self.lock_loaded(kind.document_id(), Some(DocumentMeta { kind }))
                        .await?,
                )
            }
            _ => None,
        };

        // The care plan's overrides and PRN limits, read before our transaction begins
        // (loading it may read storage).
        let plan_rules = match meta.kind {
            DocKind::DiaryMonth { patient, .. } => self.care_plan_rules(patient).await?,
            DocKind::CarePlan { .. } => Some(alerts::evaluate::care_plan_rules(
                &paindiary_sync::schema::care_plan::read_care_plan(slot.doc.document()),
            )),
            DocKind::Index { .. } => None,
        };

        // Everything that needs the document is computed now, while it is locked; the
        // commit queue writes it in a transaction shared with other documents' changes.
        let projection = touched.and_then(|touched| {
            let target = ProjectionTarget {
                patient: *patient.as_uuid(),
                document_id: &id.to_string(),
                synced_at: now,
            };
            projection::prepare_entries(&target, slot.doc.document(), &touched, now)
        });
        let sync_state = match (&conn.peer_key, slot.peers.get(&conn.conn_id)) {
            (Some(key), Some(peer)) => Some((key.clone(), id, peer.state.clone())),
            _ => None,
        };
        // Changes larger than everything stored so far (a month's first sync, a phone
        // back from weeks offline) are stored as a snapshot of the whole document that
        // replaces the chunk rows before it, as a compaction would: automerge's saved form
        // is many times smaller than the raw changes (a 240-entry month: 59 KB of
        // changes, 4.7 KB saved), so less is written, held until the batch commits, and
        // read back on every load.
        let (bytes, snapshot, superseded) = if bytes.len() > slot.stored_bytes {
            (slot.doc.save(), true, slot.chunk_ids.clone())
        } else {
            (bytes, false, Vec::new())
        };
        let len = bytes.len();
        let mut chunks = vec![(id, bytes, snapshot)];
        // A new month is listed in the patient's index in the same transaction.
        let index_update = match (new_month, index_slot) {
            (
                Some(DocumentMeta {
                    kind: DocKind::DiaryMonth { patient, month },
                }),
                Some(index),
            ) => self.stage_index_month(index, patient, month)?,
            _ => None,
        };
        if let Some((index, index_bytes)) = &index_update {
            chunks.push((index.id, index_bytes.clone(), false));
        }
        let request = commit_queue::CommitRequest {
            register: new_month.map(|meta| (id, meta)),
            chunks,
            projection,
            care_plan: matches!(meta.kind, DocKind::CarePlan { .. }).then(|| *patient.as_uuid()),
            sync_state,
            audit: Some(
                AuditEvent::new(now, Some(conn.user_id), actions::DOCUMENT_WRITE)
                    .patient(PatientId(*patient.as_uuid()))
                    .target(id.to_string()),
            ),
            alerts: match meta.kind {
                DocKind::DiaryMonth { .. } => Some(commit_queue::AlertWork {
                    patient: *patient.as_uuid(),
                    scope: commit_queue::AlertScope::ChangedDays(id),
                    plan: plan_rules,
                }),
                // New overrides or PRN limits apply to the last week at once.
                DocKind::CarePlan { .. } => Some(commit_queue::AlertWork {
                    patient: *patient.as_uuid(),
                    scope: commit_queue::AlertScope::Recent(CARE_PLAN_REEVALUATION_DAYS),
                    plan: plan_rules,
                }),
                DocKind::Index { .. } => None,
            },
            superseded,
            ..commit_queue::CommitRequest::at(now)
        };
        let committed = match self.inner.commits.commit(request).await {
            Ok(committed) => committed,
            Err(e) => {
                if let Some((mut index, _)) = index_update {
                    // The index's change was staged for this transaction: forget it in
                    // memory too.
                    self.reload(&mut index).await?;
                }
                return Err(e);
            }
        };
        let mut chunk_ids = committed.chunk_ids.into_iter();

        slot.meta = Some(meta);
        if snapshot {
            slot.chunk_ids.clear();
            slot.stored_bytes = 0;
        }
        slot.chunk_ids.extend(chunk_ids.next());
        slot.stored_bytes += len;
        self.reaccount(slot);
        if let Some((mut index_slot, index_bytes)) = index_update {
            let index_id = index_slot.id;
            index_slot.chunk_ids.extend(chunk_ids.next());
            index_slot.stored_bytes += index_bytes.len();
            self.reaccount(&mut index_slot);
            self.answer(&mut index_slot, index_id, true, 0, false);
        }
        if slot.chunk_ids.len() > self.inner.config.compact_after_chunks {
            self.compact(slot, now).await;
        }
        Ok(())
    }

    /// Applies a care-team member's edit to `patient`'s care plan and stores it like a
    /// peer's write: the care plan's slot is locked (loaded, or created from its genesis),
    /// `edit` runs on the server's document, and the new changes go through the commit
    /// queue with an audit row (`care_plan.edit`, by `user`) and alert re-evaluation over
    /// the recent days. Only after the commit are the changes sent to every connected
    /// peer, so the patient's phones receive them by sync. Returns whether anything
    /// changed. On a refused edit or a failed commit the document is as stored before.
    pub async fn edit_care_plan<E>(
        &self,
        patient: PatientId,
        user: UserId,
        edit: impl FnOnce(&mut AutoCommit, DateTime<Utc>) -> Result<(), E>,
    ) -> Result<bool, CarePlanEditError<E>> {
        let kind = DocKind::CarePlan {
            patient: DocPatientId::from_uuid(patient.uuid()),
        };
        let id = kind.document_id();
        let kind_patient = DocPatientId::from_uuid(patient.uuid());
        let mut slot = self.lock_loaded(id, Some(DocumentMeta { kind })).await?;
        let now = self.now();
        let heads_before = slot.doc.get_heads();
        let edited = edit(&mut slot.doc, now);
        // The schema functions commit (or roll back) each step; a multi-step edit may have
        // committed some steps before one failed, and nothing of a refused edit may stay.
        slot.doc.commit_with(
            automerge::transaction::CommitOptions::default().with_time(now.timestamp()),
        );
        if let Err(e) = edited {
            if slot.doc.get_heads() != heads_before {
                self.reload(&mut slot).await?;
            }
            return Err(CarePlanEditError::Refused(e));
        }
        if slot.doc.get_heads() == heads_before {
            return Ok(false);
        }
        let bytes = chunk_bytes(&slot.doc.get_changes(&heads_before));
        let len = bytes.len();
        if slot.stored_bytes + len > self.inner.config.max_document_bytes {
            self.reload(&mut slot).await?;
            return Err(HubError::TooLarge(id).into());
        }
        // New overrides or PRN limits apply to the last week at once, as for a peer's write.
        let plan = alerts::evaluate::care_plan_rules(
            &paindiary_sync::schema::care_plan::read_care_plan(slot.doc.document()),
        );
        let request = commit_queue::CommitRequest {
            chunks: vec![(id, bytes, false)],
            care_plan: Some(patient.uuid()),
            audit: Some(
                AuditEvent::new(now, Some(user), actions::CARE_PLAN_EDIT)
                    .patient(patient)
                    .target(id.to_string()),
            ),
            alerts: Some(commit_queue::AlertWork {
                patient: patient.uuid(),
                scope: commit_queue::AlertScope::Recent(CARE_PLAN_REEVALUATION_DAYS),
                plan: Some(plan),
            }),
            ..commit_queue::CommitRequest::at(now)
        };
        let committed = match self.inner.commits.commit(request).await {
            Ok(committed) => committed,
            Err(e) => {
                self.reload(&mut slot).await?;
                return Err(e.into());
            }
        };
        self.care_plan_exists(kind_patient);
        slot.chunk_ids.extend(committed.chunk_ids);
        slot.stored_bytes += len;
        self.reaccount(&mut slot);
        // No originating connection (ids start at 1): every peer is sent the change.
        self.answer(&mut slot, id, true, 0, false);
        if slot.chunk_ids.len() > self.inner.config.compact_after_chunks {
            self.compact(&mut slot, now).await;
        }
        drop(slot);
        self.evict_if_over_budget();
        Ok(true)
    }

    /// Forgets that `patient` had no care plan.
    fn care_plan_exists(&self, patient: DocPatientId) {
        self.inner
            .no_care_plan
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&patient);
    }

    /// The alert rules' view of `patient`'s care plan, if the server holds one: from the
    /// cache, or loaded into it. Never creates one.
    async fn care_plan_rules(
        &self,
        patient: DocPatientId,
    ) -> Result<Option<alerts::evaluate::CarePlanRules>, HubError> {
        let kind = DocKind::CarePlan { patient };
        let id = kind.document_id();
        let cached = self
            .inner
            .docs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains_key(&id);
        if !cached {
            let known_absent = self
                .inner
                .no_care_plan
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .get(&patient)
                .is_some_and(|at| at.elapsed() < NO_CARE_PLAN_TTL);
            if known_absent {
                return Ok(None);
            }
            if storage::find(&self.inner.state.db, &id).await?.is_none() {
                let mut absent = self
                    .inner
                    .no_care_plan
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                // Bounded like the document cache: forget stale entries when it grows.
                if absent.len() >= 100_000 {
                    absent.retain(|_, at| at.elapsed() < NO_CARE_PLAN_TTL);
                }
                absent.insert(patient, Instant::now());
                return Ok(None);
            }
        }
        let mut plan = self.lock_loaded(id, Some(DocumentMeta { kind })).await?;
        Ok(Some(alerts::evaluate::care_plan_rules(
            &paindiary_sync::schema::care_plan::read_care_plan(plan.doc.document()),
        )))
    }

    /// Adds `month` to the patient's `index` (its locked slot) in memory; the slot stays
    /// locked, and is returned with the change's bytes, until the caller's transaction
    /// committed (or failed, and the caller reloads it).
    fn stage_index_month(
        &self,
        mut index: tokio::sync::OwnedMutexGuard<DocSlot>,
        patient: DocPatientId,
        month: paindiary_sync::ids::Month,
    ) -> Result<Option<StagedIndex>, HubError> {
        let index_id = index.id;
        let heads = index.doc.get_heads();
        let wrote = doc_index::ensure_month(&mut index.doc, patient, month)
            .map_err(|_| HubError::WrongDocument(index_id))?;
        if !wrote {
            return Ok(None);
        }
        let bytes = chunk_bytes(&index.doc.get_changes(&heads));
        Ok(Some((index, bytes)))
    }

    /// Folds a document's chunks into one snapshot, through the commit queue: on SQLite a
    /// transaction of its own would wait for the write lock behind a busy queue (SQLite's
    /// busy handler polls, and can lose that race for seconds) while holding the
    /// document. Failure only postpones compaction.
    async fn compact(&self, slot: &mut DocSlot, now: DateTime<Utc>) {
        let snapshot = slot.doc.save();
        let len = snapshot.len();
        let request = commit_queue::CommitRequest {
            chunks: vec![(slot.id, snapshot, true)],
            superseded: slot.chunk_ids.clone(),
            ..commit_queue::CommitRequest::at(now)
        };
        match self.inner.commits.commit(request).await {
            Ok(committed) => {
                slot.chunk_ids = committed.chunk_ids;
                slot.stored_bytes = len;
                self.reaccount(slot);
            }
            Err(e) => tracing::warn!(error = %e, "compaction failed; will retry later"),
        }
    }

    /// Sends each peer of the document what it lacks: the originator its reply, the others
    /// the new changes (when `changed`). A peer whose queue is full is disconnected.
    /// `origin_refused`: the originator holds changes we refuse, so a reply carrying no
    /// changes (it would only ask for those again) is not sent.
    fn answer(
        &self,
        slot: &mut DocSlot,
        id: DocumentId,
        changed: bool,
        origin: ConnId,
        origin_refused: bool,
    ) {
        let server_id = self.inner.server_id.clone();
        let DocSlot { doc, peers, .. } = slot;
        let mut stalled = Vec::new();
        for (conn_id, peer) in peers.iter_mut() {
            if *conn_id != origin && !changed {
                continue;
            }
            let Some(message) = doc.sync().generate_sync_message(&mut peer.state) else {
                continue;
            };
            if origin_refused && *conn_id == origin && message.changes.is_empty() {
                continue;
            }
            let frame = Message::Sync {
                document_id: id,
                sender_id: server_id.clone(),
                target_id: peer.peer_id.clone(),
                data: message.encode(),
                doc_type: None,
            }
            .encode();
            if peer.out.try_send(Outbound::Frame(frame)).is_err() {
                peer.stalled.notify_one();
                stalled.push(*conn_id);
            }
        }
        for conn_id in stalled {
            peers.remove(&conn_id);
        }
    }

    /// Detaches a connection from the documents it had open, saving its sync states.
    pub(crate) async fn detach(&self, conn: &connection::PeerHandle, open: &BTreeSet<DocumentId>) {
        let now = self.now();
        for id in open {
            let slot = {
                let docs = self
                    .inner
                    .docs
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                docs.get(id).cloned()
            };
            let Some(slot) = slot else { continue };
            let mut slot = slot.lock().await;
            slot.last_used = Instant::now();
            let Some(peer) = slot.peers.remove(&conn.conn_id) else {
                continue;
            };
            // Through the commit queue, for the same reason as compaction (see
            // [`Self::compact`]); the slot stays locked so that a reconnect of the same
            // device reads this state, not the one before it.
            if let (Some(key), true) = (&peer.peer_key, slot.meta.is_some()) {
                let request = commit_queue::CommitRequest {
                    sync_state: Some((key.clone(), *id, peer.state)),
                    ..commit_queue::CommitRequest::at(now)
                };
                if let Err(e) = self.inner.commits.commit(request).await {
                    tracing::warn!(error = %e, "could not save a sync state; the device will resync more");
                }
            }
        }
        self.evict_if_over_budget();
    }

    /// Drops every cached document of an erased patient, so that nothing of theirs stays
    /// in memory until eviction would have reached it. A slot busy with a commit is
    /// skipped: that commit fails on the deleted rows and the slot is dropped at eviction.
    pub fn forget_patient(&self, patient: PatientId) {
        let mut docs = self
            .inner
            .docs
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let ids: Vec<DocumentId> = docs
            .iter()
            .filter_map(|(id, slot)| {
                let slot = slot.try_lock().ok()?;
                let meta = slot.meta?;
                (*meta.kind.patient().as_uuid() == patient.uuid()).then_some(*id)
            })
            .collect();
        for id in ids {
            let Some(slot) = docs.get(&id) else { continue };
            let Ok(mut guard) = slot.try_lock() else {
                continue;
            };
            guard.evicted = true;
            guard.loaded = false;
            guard.doc = AutoCommit::new();
            self.reaccount(&mut guard);
            drop(guard);
            docs.remove(&id);
        }
    }

    /// Follows access changes for the cache's sake until the sender is gone.
    pub async fn follow_access_changes(self) {
        use tokio::sync::broadcast::error::RecvError;
        let mut changes = self.inner.state.access_changes.subscribe();
        loop {
            match changes.recv().await {
                Ok(AccessChange::PatientErased(patient)) => self.forget_patient(patient),
                Ok(_) | Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => return,
            }
        }
    }

    /// Evicts idle documents (no peers), least recently used first, until the cache fits
    /// its memory budget.
    fn evict_if_over_budget(&self) {
        let budget = self.inner.config.memory_budget_bytes;
        if self.inner.memory.load(Ordering::Relaxed) <= budget {
            return;
        }
        let mut docs = self
            .inner
            .docs
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let mut idle: Vec<(Instant, DocumentId, usize)> = docs
            .iter()
            .filter_map(|(id, slot)| {
                let slot = slot.try_lock().ok()?;
                slot.peers
                    .is_empty()
                    .then(|| (slot.last_used, *id, slot.memory()))
            })
            .collect();
        idle.sort();
        for (_, id, _) in idle {
            if self.inner.memory.load(Ordering::Relaxed) <= budget {
                break;
            }
            let Some(slot) = docs.get(&id) else { continue };
            let Ok(mut guard) = slot.try_lock() else {
                continue;
            };
            if !guard.peers.is_empty() {
                continue;
            }
            guard.evicted = true;
            self.reaccount(&mut guard);
            drop(guard);
            docs.remove(&id);
        }
    }

    /// Starts checkpointing the SQLite WAL off the commit path (see
    /// [`crate::db::checkpoint_periodically`]); it stops with the hub's shutdown or drop.
    pub fn spawn_checkpointer(&self) {
        let state = self.inner.state.clone();
        let stop = self.inner.shutdown.subscribe();
        tokio::spawn(async move {
            crate::db::checkpoint_periodically(&state.config, state.db.clone(), stop).await;
        });
    }

    /// WebSocket connections currently served (joined or still in the handshake).
    pub fn live_connections(&self) -> usize {
        self.inner.live_connections.load(Ordering::Acquire)
    }

    fn connection_started(&self) -> watch::Receiver<bool> {
        self.inner.live_connections.fetch_add(1, Ordering::AcqRel);
        self.inner.shutdown.subscribe()
    }

    fn connection_ended(&self) {
        self.inner.live_connections.fetch_sub(1, Ordering::AcqRel);
        self.inner.connections_done.notify_waiters();
    }

    /// Audits a peer opening a document (or being refused it).
    pub(crate) async fn audit_open(&self, user: UserId, id: DocumentId, access: &DocAccess) {
        let now = self.now();
        let mut event =
            AuditEvent::new(now, Some(user), actions::DOCUMENT_OPEN).target(id.to_string());
        match access {
            DocAccess::ReadWrite(meta) | DocAccess::ReadOnly(meta) => {
                event = event.patient(PatientId(*meta.kind.patient().as_uuid()));
            }
            DocAccess::NewMonth(patient) => event = event.patient(PatientId(*patient.as_uuid())),
            DocAccess::Unavailable => event = event.outcome(Outcome::Denied),
        }
        // Through the commit queue, batched with the sync writes (see [`Self::compact`]
        // for why not a transaction of its own).
        let request = commit_queue::CommitRequest {
            audit: Some(event),
            ..commit_queue::CommitRequest::at(now)
        };
        if let Err(e) = self.inner.commits.commit(request).await {
            tracing::error!(error = %e, "could not write an audit row for a document open");
        }
    }
}

/// A patient's index, locked, with the bytes of a change staged in memory for a commit.
type StagedIndex = (tokio::sync::OwnedMutexGuard<DocSlot>, Vec<u8>);

/// Frees what automerge recorded for patches while applying received or loaded changes.
/// `AutoCommit`'s patch log is inactive (the server never asks for patches), yet automerge
/// 0.12's batch apply (sync receive, `load_incremental`) appends an event per applied
/// operation to it regardless, and nothing else ever clears it: measured, about 80 KiB per
/// cached month, held for as long as the document stays cached.
pub(crate) fn forget_patches(doc: &mut AutoCommit) {
    doc.reset_diff_cursor();
}

/// The stored form of new changes: their encoded chunks back to back, which
/// `load_incremental` reads as one chunk row.
fn chunk_bytes(changes: &[automerge::Change]) -> Vec<u8> {
    changes
        .iter()
        .flat_map(|c| c.raw_bytes().iter().copied())
        .collect()
}

fn unreachable_peer_id() -> PeerId {
    // "paindiary-<12 hex>" is always a valid peer ID; this fallback keeps `Hub::new`
    // infallible without a panic.
    PeerId::new("paindiary").unwrap_or_else(|_| unreachable_peer_id())
}
