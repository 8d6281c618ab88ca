//! Group commit: the hub's write queue. Every document's accepted changes (chunk,
//! registry row, projection, sync state, audit row) become one [`CommitRequest`], and so
//! do the hub's other writes (compactions, document-open audit rows, the sync states of a
//! closed connection), so that on SQLite nothing on the sync path competes with the queue
//! for the write lock. A single writer task per hub takes whatever requests are waiting
//! and writes them all in one database transaction, so one fsync (SQLite) or one commit
//! round trip (PostgreSQL) serves many phones. Each submitter is answered only after that
//! shared transaction committed; if it fails, every member is told, and each rolls back
//! its own in-memory changes (the hub reloads the document), exactly as for a transaction
//! of its own.

use std::collections::{BTreeMap, HashMap};
use std::sync::OnceLock;

use automerge::sync::State as SyncState;
use chrono::{DateTime, Utc};
use paindiary_sync::ids::DocumentId;
use sea_orm::sea_query::{OnConflict, Query};
use sea_orm::{
    ActiveValue::Set, ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbErr, EntityTrait,
    IdenStatic,
};
use tokio::sync::{mpsc, oneshot};

use super::HubError;
use crate::audit::{self, AuditEvent};
use crate::entity::peer_sync_states;
use crate::projection::{self, PreparedProjection};
use crate::storage::{self, DocumentMeta, StorageError};

/// Most requests written in one transaction. Bounds the transaction's size (and how long
/// the SQLite write lock is held) when thousands of phones push at once.
const MAX_BATCH: usize = 256;
/// Requests waiting for the writer before submitters wait for room (back-pressure).
const QUEUE_DEPTH: usize = 4096;
/// Most chunk rows in one INSERT (four parameters each).
const CHUNKS_PER_STATEMENT: usize = 500;
/// Most chunk bytes in one INSERT (a single larger chunk goes alone). The statement's
/// values are copied by the driver and again by SQLite while it runs, so a burst of phones
/// bringing their months would otherwise hold those copies of every month at once.
const CHUNK_BYTES_PER_STATEMENT: usize = 1024 * 1024;

/// Everything one document's accepted changes write, computed while the document was
/// locked; the writer needs nothing else.
pub(crate) struct CommitRequest {
    /// When the server received the changes.
    pub(crate) now: DateTime<Utc>,
    /// A document seen for the first time: its registry row.
    pub(crate) register: Option<(DocumentId, DocumentMeta)>,
    /// Change bytes to append, per document (the month's, and its index's for a new month),
    /// and whether they are a whole saved document (a genesis, a compaction, or changes
    /// larger than what was stored, saved with the document) rather than changes.
    pub(crate) chunks: Vec<(DocumentId, Vec<u8>, bool)>,
    /// The projected rows of the touched entries.
    pub(crate) projection: Option<PreparedProjection>,
    /// A care plan's patient: its prescriptions are projected again from the stored plan
    /// (this request's chunks included).
    pub(crate) care_plan: Option<uuid::Uuid>,
    /// The device's sync state to persist: `(peer key, document, state)`.
    pub(crate) sync_state: Option<(String, DocumentId, SyncState)>,
    /// The audit row of the write (none for a document the server creates itself).
    pub(crate) audit: Option<AuditEvent>,
    /// The alert rules to run for the patient once the batch's projections are written.
    pub(crate) alerts: Option<AlertWork>,
    /// Chunk rows of the document whose snapshot is the first of [`Self::chunks`] that the
    /// snapshot folds in (a compaction): deleted in the same transaction that stores it.
    /// Exactly the rows the snapshot covers, so chunks another replica appended meanwhile
    /// survive.
    pub(crate) superseded: Vec<i64>,
}

impl CommitRequest {
    /// A request that writes nothing yet, for the caller to fill in.
    pub(crate) fn at(now: DateTime<Utc>) -> Self {
        Self {
            now,
            register: None,
            chunks: Vec::new(),
            projection: None,
            care_plan: None,
            sync_state: None,
            audit: None,
            alerts: None,
            superseded: Vec::new(),
        }
    }
}

/// Alert evaluation owed by one request, run inside the batch's transaction.
pub(crate) struct AlertWork {
    /// The patient.
    pub(crate) patient: uuid::Uuid,
    /// A diary month's changed days (by document), or a care plan's recent window.
    pub(crate) scope: AlertScope,
    /// The patient's care-plan overrides and PRN limits, read while documents were locked.
    pub(crate) plan: Option<crate::alerts::evaluate::CarePlanRules>,
}

/// Which days an [`AlertWork`] evaluates.
pub(crate) enum AlertScope {
    /// The days whose pain or intake rows this diary month's projection changed.
    ChangedDays(DocumentId),
    /// The last `n` local days (a care-plan change applies at once).
    Recent(u32),
}

/// What a committed request produced.
pub(crate) struct Committed {
    /// Row ids of [`CommitRequest::chunks`], in order.
    pub(crate) chunk_ids: Vec<i64>,
}

struct Job {
    request: CommitRequest,
    reply: oneshot::Sender<Result<Committed, HubError>>,
}

/// The queue in front of the writer task, which is started on first use (inside the
/// runtime) and ends when the hub is dropped.
pub(crate) struct CommitQueue {
    db: DatabaseConnection,
    /// Woken after a batch whose alert evaluation enqueued deliveries.
    outbox: std::sync::Arc<crate::outbox::Outbox>,
    /// Alert thresholds and defaults, for evaluation inside the batch.
    config: std::sync::Arc<crate::config::Config>,
    /// This replica's peer ID, named in the change notifications other replicas receive.
    server_id: String,
    sender: OnceLock<mpsc::Sender<Job>>,
}

impl CommitQueue {
    pub(crate) fn new(
        db: DatabaseConnection,
        outbox: std::sync::Arc<crate::outbox::Outbox>,
        config: std::sync::Arc<crate::config::Config>,
        server_id: String,
    ) -> Self {
        Self {
            db,
            outbox,
            config,
            server_id,
            sender: OnceLock::new(),
        }
    }

    /// Writes `request` in the next group transaction and returns once it committed.
    pub(crate) async fn commit(&self, request: CommitRequest) -> Result<Committed, HubError> {
        let sender = self.sender.get_or_init(|| {
            let (sender, receiver) = mpsc::channel(QUEUE_DEPTH);
            tokio::spawn(writer(
                self.db.clone(),
                self.outbox.clone(),
                self.config.clone(),
                self.server_id.clone(),
                receiver,
            ));
            sender
        });
        let (reply, answer) = oneshot::channel();
        sender
            .send(Job { request, reply })
            .await
            .map_err(|_| writer_gone())?;
        answer.await.map_err(|_| writer_gone())?
    }
}

fn writer_gone() -> HubError {
    HubError::Storage(StorageError::Db(DbErr::Custom(
        "the commit writer stopped".to_owned(),
    )))
}

/// The single writer: waits for a request, takes every other one already waiting (up to
/// [`MAX_BATCH`]), writes them in one transaction and answers each.
async fn writer(
    db: DatabaseConnection,
    outbox: std::sync::Arc<crate::outbox::Outbox>,
    config: std::sync::Arc<crate::config::Config>,
    server_id: String,
    mut receiver: mpsc::Receiver<Job>,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while receiver.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let (requests, replies): (Vec<_>, Vec<_>) =
            batch.drain(..).map(|job| (job.request, job.reply)).unzip();
        let members = requests.len();
        let _timer = crate::metrics::CommitTimer::start(members);
        match write_batch(&db, &config, &server_id, requests).await {
            Ok((results, enqueued)) => {
                if enqueued > 0 {
                    outbox.wake();
                }
                for (reply, committed) in replies.into_iter().zip(results) {
                    let _ = reply.send(Ok(committed));
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, members, "group commit failed; every member rolls back");
                let message = e.to_string();
                for reply in replies {
                    let _ = reply.send(Err(HubError::Storage(StorageError::Db(DbErr::Custom(
                        message.clone(),
                    )))));
                }
            }
        }
    }
}

async fn write_batch(
    db: &DatabaseConnection,
    config: &crate::config::Config,
    server_id: &str,
    mut requests: Vec<CommitRequest>,
) -> Result<(Vec<Committed>, usize), DbErr> {
    let txn = crate::db::begin_write(db).await?;
    let mut results = Vec::with_capacity(requests.len());
    let mut touched = std::collections::BTreeSet::new();
    // One row per (device, document): the latest state wins (one multi-row upsert may
    // not touch a row twice on PostgreSQL).
    let mut sync_states = BTreeMap::new();
    let mut audits = Vec::with_capacity(requests.len());
    let mut alert_work = Vec::new();
    let mut projections = Vec::with_capacity(requests.len());
    // Each plan once per batch (from the stored plan, so once covers every request of it).
    let mut care_plans = BTreeMap::new();
    // Every chunk of the batch in as few statements as their size allows. The bytes move
    // into the statement; each request keeps which documents its chunks were.
    let mut all_chunks = Vec::new();
    let mut chunk_documents = Vec::with_capacity(requests.len());
    for request in &mut requests {
        let mut documents = Vec::with_capacity(request.chunks.len());
        for (id, bytes, snapshot) in std::mem::take(&mut request.chunks) {
            all_chunks.push((id.to_string(), bytes, snapshot, request.now));
            touched.insert(id);
            documents.push(id);
        }
        chunk_documents.push(documents);
    }
    for request in &requests {
        if let Some((id, meta)) = &request.register {
            storage::register(&txn, id, *meta, request.now).await?;
        }
    }
    let chunk_ids = insert_chunks(&txn, all_chunks).await?;
    for (request, documents) in requests.iter().zip(&chunk_documents) {
        if let (Some(document), false) = (documents.first(), request.superseded.is_empty()) {
            delete_chunks(&txn, document, &request.superseded).await?;
        }
    }
    for (request, documents) in requests.into_iter().zip(chunk_documents) {
        let ids = documents
            .iter()
            .map(|id| {
                chunk_ids
                    .get(&id.to_string())
                    .copied()
                    .ok_or_else(|| DbErr::Custom("a chunk row id was not returned".to_owned()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        projections.extend(request.projection);
        if let Some(patient) = request.care_plan {
            care_plans.insert(patient, request.now);
        }
        if let Some((key, id, state)) = request.sync_state {
            sync_states.insert((key, id.to_string()), (state.encode(), request.now));
        }
        audits.extend(request.audit);
        alert_work.extend(request.alerts.map(|work| (work, request.now)));
        results.push(Committed { chunk_ids: ids });
    }
    let changed_days: HashMap<String, projection::ChangedDays> =
        projection::write_prepared_many(&txn, projections)
            .await
            .map_err(|e| {
                // Keep the driver's error for the log (it holds no bound values).
                let source = std::error::Error::source(&e)
                    .map(ToString::to_string)
                    .unwrap_or_default();
                DbErr::Custom(format!("{e}: {source}"))
            })?
            .into_iter()
            .collect();
    for (patient, now) in care_plans {
        projection::care_plan::project_care_plan(&txn, patient, now)
            .await
            .map_err(|e| match e {
                StorageError::Db(e) => e,
                corrupt => DbErr::Custom(corrupt.to_string()),
            })?;
    }
    // Alert rules over what just changed, in the same transaction: an alert and its
    // deliveries exist exactly when the entries that triggered them do. One evaluation
    // for the whole batch (a fixed number of queries, whatever the number of patients).
    let requests = alert_work
        .into_iter()
        .map(|(work, now)| {
            let (changed, recent) = match work.scope {
                AlertScope::ChangedDays(id) => (
                    changed_days
                        .get(&id.to_string())
                        .cloned()
                        .unwrap_or_default(),
                    0,
                ),
                AlertScope::Recent(days) => (projection::ChangedDays::default(), days),
            };
            crate::alerts::evaluate::EvaluationRequest {
                patient: work.patient,
                days: changed.all,
                medication_days: changed.medication,
                recent,
                questionnaire_days: changed.questionnaire,
                care_plan: work.plan,
                now,
            }
        })
        .collect();
    let enqueued = crate::alerts::evaluate::evaluate_many(&txn, &config.alerts, requests)
        .await?
        .enqueued;
    // Other replicas holding these documents load the new chunks once this commits
    // (PostgreSQL delivers the notifications only then; a no-op on SQLite).
    super::replication::publish(&txn, server_id, touched.iter()).await?;
    save_sync_states(&txn, sync_states).await?;
    audit::record_many(&txn, audits).await?;
    txn.commit().await?;
    Ok((results, enqueued))
}

/// Appends the batch's chunk rows, at most [`CHUNKS_PER_STATEMENT`] rows and
/// [`CHUNK_BYTES_PER_STATEMENT`] bytes per statement; returns each document's new row id.
/// A document has at most one chunk per batch: its slot stays locked until the batch
/// committed, so a second change of it waits for the next batch.
async fn insert_chunks(
    txn: &DatabaseTransaction,
    chunks: Vec<(String, Vec<u8>, bool, DateTime<Utc>)>,
) -> Result<HashMap<String, i64>, DbErr> {
    use crate::entity::document_chunks::{Column as C, Entity};
    let backend = txn.get_database_backend();
    let mut ids = HashMap::with_capacity(chunks.len());
    let mut chunks = chunks.into_iter().peekable();
    while chunks.peek().is_some() {
        let mut insert = Query::insert();
        insert
            .into_table(Entity)
            .columns([C::DocumentId, C::Snapshot, C::Bytes, C::CreatedAt])
            .returning(Query::returning().columns([C::Id, C::DocumentId]));
        let (mut rows, mut bytes) = (0, 0);
        while let Some((id, data, snapshot, now)) = chunks.next_if(|(_, data, _, _)| {
            rows == 0
                || (rows < CHUNKS_PER_STATEMENT && bytes + data.len() <= CHUNK_BYTES_PER_STATEMENT)
        }) {
            rows += 1;
            bytes += data.len();
            insert
                .values([id.into(), snapshot.into(), data.into(), now.into()])
                .map_err(|e| DbErr::Custom(e.to_string()))?;
        }
        for row in txn.query_all_raw(backend.build(&insert)).await? {
            let id: i64 = row.try_get("", C::Id.as_str())?;
            let document: String = row.try_get("", C::DocumentId.as_str())?;
            if ids.insert(document, id).is_some() {
                return Err(DbErr::Custom(
                    "two chunks of one document in one batch".to_owned(),
                ));
            }
        }
    }
    Ok(ids)
}

/// Deletes the chunk rows a compaction folded into its snapshot: by row id, and only
/// rows of that document, so a wrong id can never take another document's chunk.
async fn delete_chunks(
    txn: &DatabaseTransaction,
    document: &DocumentId,
    ids: &[i64],
) -> Result<(), DbErr> {
    use crate::entity::document_chunks::{Column as C, Entity};
    use sea_orm::{ColumnTrait, QueryFilter};
    for batch in ids.chunks(CHUNKS_PER_STATEMENT) {
        Entity::delete_many()
            .filter(C::DocumentId.eq(document.to_string()))
            .filter(C::Id.is_in(batch.iter().copied()))
            .exec(txn)
            .await?;
    }
    Ok(())
}

/// Upserts the batch's sync states in one statement per 500 rows.
async fn save_sync_states(
    txn: &DatabaseTransaction,
    states: BTreeMap<(String, String), (Vec<u8>, DateTime<Utc>)>,
) -> Result<(), DbErr> {
    let rows: Vec<_> = states
        .into_iter()
        .map(
            |((peer_key, document_id), (state, at))| peer_sync_states::ActiveModel {
                peer_key: Set(peer_key),
                document_id: Set(document_id),
                state: Set(state),
                updated_at: Set(at),
            },
        )
        .collect();
    let rule = OnConflict::columns([
        peer_sync_states::Column::PeerKey,
        peer_sync_states::Column::DocumentId,
    ])
    .update_columns([
        peer_sync_states::Column::State,
        peer_sync_states::Column::UpdatedAt,
    ])
    .to_owned();
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let batch: Vec<_> = rows.by_ref().take(500).collect();
        peer_sync_states::Entity::insert_many(batch)
            .on_conflict(rule.clone())
            .exec_without_returning(txn)
            .await?;
    }
    Ok(())
}
