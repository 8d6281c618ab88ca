//! The phone side: a [`Replica`] keeps one patient's documents in a local directory,
//! records entries offline, and syncs with any automerge-repo v1 server, keeping
//! per-document sync state so a reconnect exchanges only what is new.

pub mod client;
pub mod store;

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use automerge::sync::State as SyncState;
use automerge::{ActorId, AutoCommit};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use client::{Connection, DocumentOutcome, ServerEndpoint, SyncError, SyncTarget};
pub use store::{Durability, LocalStore, StoreError};

use crate::ids::{DocumentId, EntryId, Month, PatientId};
use crate::protocol::{PeerId, StorageId};
use crate::schema::care_plan::{CarePlan, read_care_plan};
use crate::schema::index::read_index;
use crate::schema::month::{self, FieldValue, MonthEntries, WriteError};
use crate::schema::{DocKind, Entry, EntryKind, ValidationError};

/// How many log records a document may accumulate before it is compacted to a snapshot.
const COMPACT_AFTER_RECORDS: usize = 64;

/// Why a replica operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ReplicaError {
    /// The local store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The entry or edit was refused (the message says why, in words a patient can read).
    #[error(transparent)]
    Write(#[from] WriteError),
    /// The entry's local date could not be computed.
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// The directory belongs to another patient.
    #[error("this replica directory belongs to another patient")]
    WrongPatient,
    /// The replica's metadata file is unreadable.
    #[error("replica metadata is corrupt: {0}")]
    Meta(String),
    /// A document on disk is not what its ID says.
    #[error("local document {0} is not a valid {1}")]
    WrongDocument(DocumentId, &'static str),
    /// Syncing failed; local data is intact and the next sync resumes.
    #[error(transparent)]
    Sync(#[from] SyncError),
}

#[derive(Debug, Serialize, Deserialize)]
struct ReplicaMeta {
    format: u32,
    patient: PatientId,
    /// This device's Automerge actor (hex).
    actor: String,
    /// This device's storage ID in the automerge-repo sense.
    storage_id: String,
}

struct OpenDoc {
    doc: AutoCommit,
    log_records: usize,
}

/// Which documents a sync covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SyncScope {
    /// Months with unconfirmed local changes, the current and previous month, the index
    /// and the care plan: what a phone needs on every reconnect.
    #[default]
    Recent,
    /// Every document on the device (e.g. daily, or after a long time offline), so edits
    /// other devices made to old months arrive too.
    All,
}

/// What one [`Replica::sync`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncReport {
    /// Documents exchanged.
    pub documents: usize,
    /// Changes received from the server.
    pub changes_received: usize,
    /// Documents the server does not have or will not show us.
    pub unavailable: Vec<DocumentId>,
    /// WebSocket payload bytes sent.
    pub bytes_sent: u64,
    /// WebSocket payload bytes received.
    pub bytes_received: u64,
}

/// One patient's documents on one device.
pub struct Replica {
    store: LocalStore,
    patient: PatientId,
    actor: ActorId,
    storage_id: StorageId,
    peer_id: PeerId,
    docs: HashMap<DocumentId, OpenDoc>,
    timeout: Duration,
}

impl Replica {
    /// Opens the replica in `dir`, creating it for `patient` if it is new. The device's
    /// actor and storage ID are created once and kept.
    pub fn open(
        dir: impl Into<PathBuf>,
        patient: PatientId,
        durability: Durability,
    ) -> Result<Self, ReplicaError> {
        let store = LocalStore::open(dir, durability)?;
        let meta = match store.read_meta("replica.json")? {
            Some(bytes) => {
                let meta: ReplicaMeta = serde_json::from_slice(&bytes)
                    .map_err(|e| ReplicaError::Meta(e.to_string()))?;
                if meta.patient != patient {
                    return Err(ReplicaError::WrongPatient);
                }
                meta
            }
            None => {
                let meta = ReplicaMeta {
                    format: 1,
                    patient,
                    actor: ActorId::random().to_hex_string(),
                    storage_id: uuid::Uuid::new_v4().to_string(),
                };
                let bytes = serde_json::to_vec_pretty(&meta)
                    .map_err(|e| ReplicaError::Meta(e.to_string()))?;
                store.write_meta("replica.json", &bytes)?;
                meta
            }
        };
        let actor = hex::decode(&meta.actor)
            .map(ActorId::from)
            .map_err(|e| ReplicaError::Meta(e.to_string()))?;
        let storage_id =
            StorageId::new(meta.storage_id).map_err(|e| ReplicaError::Meta(e.to_string()))?;
        // Short: it travels in every frame. 12 hex digits of the actor keep devices apart.
        let peer_id = PeerId::new(format!("d-{}", meta.actor.get(..12).unwrap_or(&meta.actor)))
            .map_err(|e| ReplicaError::Meta(e.to_string()))?;
        Ok(Self {
            store,
            patient,
            actor,
            storage_id,
            peer_id,
            docs: HashMap::new(),
            timeout: Duration::from_secs(30),
        })
    }

    /// The patient this replica belongs to.
    pub fn patient(&self) -> PatientId {
        self.patient
    }

    /// The peer ID this device uses on the wire.
    pub fn peer_id(&self) -> PeerId {
        self.peer_id.clone()
    }

    /// Sets the deadline of one sync (default 30 s).
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    fn open_doc(
        &mut self,
        id: DocumentId,
        create: Option<DocKind>,
    ) -> Result<Option<&mut OpenDoc>, ReplicaError> {
        if !self.docs.contains_key(&id) {
            let loaded = match self.store.load(&id)? {
                Some(loaded) => {
                    let mut open = OpenDoc {
                        doc: loaded.doc.with_actor(self.actor.clone()),
                        log_records: loaded.log_records,
                    };
                    if loaded.dropped_tail {
                        // Rewrite without the torn tail so later appends follow valid data.
                        self.store.write_snapshot(&id, &open.doc.save())?;
                        open.log_records = 0;
                    }
                    open
                }
                None => match create {
                    Some(kind) => {
                        let mut doc = kind
                            .create(self.actor.clone())
                            .map_err(|_| ReplicaError::WrongDocument(id, "genesis"))?;
                        self.store.write_snapshot(&id, &doc.save())?;
                        OpenDoc {
                            doc,
                            log_records: 0,
                        }
                    }
                    None => return Ok(None),
                },
            };
            self.docs.insert(id, loaded);
        }
        Ok(self.docs.get_mut(&id))
    }

    fn persist(&mut self, id: DocumentId) -> Result<(), ReplicaError> {
        let Some(open) = self.docs.get_mut(&id) else {
            return Ok(());
        };
        let changes = open.doc.save_incremental();
        if changes.is_empty() {
            return Ok(());
        }
        if open.log_records >= COMPACT_AFTER_RECORDS {
            self.store.write_snapshot(&id, &open.doc.save())?;
            open.log_records = 0;
        } else {
            self.store.append(&id, &changes)?;
            open.log_records += 1;
        }
        Ok(())
    }

    /// The month document for `month`, created from its canonical genesis if new.
    pub fn month_document(&mut self, month: Month) -> Result<&mut AutoCommit, ReplicaError> {
        let kind = DocKind::DiaryMonth {
            patient: self.patient,
            month,
        };
        let id = kind.document_id();
        let open = self
            .open_doc(id, Some(kind))?
            .ok_or(ReplicaError::WrongDocument(id, "month"))?;
        Ok(&mut open.doc)
    }

    /// Records a new entry (validated as of `now`) into the month of its local date, and
    /// stores it durably before returning. Works offline.
    pub fn record(&mut self, entry: &Entry, now: DateTime<Utc>) -> Result<EntryId, ReplicaError> {
        let month = month_of(entry)?;
        let doc = self.month_document(month)?;
        let id = month::add_entry(doc, entry, now)?;
        self.persist(
            DocKind::DiaryMonth {
                patient: self.patient,
                month,
            }
            .document_id(),
        )?;
        Ok(id)
    }

    /// Edits fields of an entry in `month` (only those fields are written).
    pub fn edit(
        &mut self,
        month: Month,
        kind: EntryKind,
        id: &EntryId,
        changes: &[(&str, FieldValue)],
        now: DateTime<Utc>,
    ) -> Result<(), ReplicaError> {
        let doc = self.month_document(month)?;
        month::edit_entry(doc, kind, id, changes, now)?;
        self.persist(
            DocKind::DiaryMonth {
                patient: self.patient,
                month,
            }
            .document_id(),
        )
    }

    /// Deletes an entry (tombstone).
    pub fn delete(
        &mut self,
        month: Month,
        kind: EntryKind,
        id: &EntryId,
        now: DateTime<Utc>,
    ) -> Result<(), ReplicaError> {
        let doc = self.month_document(month)?;
        month::delete_entry(doc, kind, id, now)?;
        self.persist(
            DocKind::DiaryMonth {
                patient: self.patient,
                month,
            }
            .document_id(),
        )
    }

    /// Every entry of a month (empty if the month has no document yet).
    pub fn entries(&mut self, month: Month) -> Result<MonthEntries, ReplicaError> {
        let id = DocKind::DiaryMonth {
            patient: self.patient,
            month,
        }
        .document_id();
        Ok(self
            .open_doc(id, None)?
            .map(|open| month::read_entries(&open.doc))
            .unwrap_or_default())
    }

    /// Months that have a document on this device.
    pub fn months(&mut self) -> Result<Vec<Month>, ReplicaError> {
        let mut months = Vec::new();
        for id in self.store.list()? {
            if let Some(open) = self.open_doc(id, None)?
                && let Ok(header) = crate::schema::Header::read(&open.doc)
                && let Ok(DocKind::DiaryMonth { patient, month }) = header.kind()
                && patient == self.patient
                && (DocKind::DiaryMonth { patient, month }).document_id() == id
            {
                months.push(month);
            }
        }
        months.sort();
        Ok(months)
    }

    /// The care plan, once it has been synced from the server.
    pub fn care_plan(&mut self) -> Result<Option<CarePlan>, ReplicaError> {
        let id = DocKind::CarePlan {
            patient: self.patient,
        }
        .document_id();
        Ok(self
            .open_doc(id, None)?
            .map(|open| read_care_plan(&open.doc)))
    }

    /// The questionnaires the care plan assigns that are due on the patient's local
    /// `day` (see [`crate::questionnaire::due_on`]): offline, from the synced care plan
    /// and the responses in this device's months. Empty before the care plan has synced.
    pub fn due_questionnaires(
        &mut self,
        day: chrono::NaiveDate,
    ) -> Result<Vec<String>, ReplicaError> {
        let Some(plan) = self.care_plan()? else {
            return Ok(Vec::new());
        };
        let assignments = plan.assignments();
        if assignments.is_empty() {
            return Ok(Vec::new());
        }
        let mut answered: Vec<(String, chrono::NaiveDate)> = Vec::new();
        for month in self.months()? {
            for stored in self.entries(month)?.live() {
                if let Entry::Questionnaire(q) = &stored.entry
                    && let Ok(on) = q.meta.local_date()
                {
                    answered.push((q.instrument.clone(), on));
                }
            }
        }
        let answered: Vec<(&str, chrono::NaiveDate)> =
            answered.iter().map(|(i, d)| (i.as_str(), *d)).collect();
        Ok(crate::questionnaire::due_on(&assignments, &answered, day)
            .into_iter()
            .map(str::to_owned)
            .collect())
    }

    /// A raw document by ID, if present on this device.
    pub fn document(&mut self, id: DocumentId) -> Result<Option<&mut AutoCommit>, ReplicaError> {
        Ok(self.open_doc(id, None)?.map(|open| &mut open.doc))
    }

    /// Syncs with the server what a phone needs now ([`SyncScope::Recent`]): every month
    /// with local changes the server has not confirmed, the current and previous month
    /// (where other devices and late entries land), the index and the care plan; then any
    /// month the index lists that this device lacks. Received changes are stored before
    /// sync states are saved, so a crash at any point never skips data.
    pub async fn sync(&mut self, endpoint: &ServerEndpoint) -> Result<SyncReport, ReplicaError> {
        self.sync_scope(endpoint, SyncScope::Recent, Utc::now())
            .await
    }

    /// Syncs with the server in the given scope; `today` picks the current month.
    pub async fn sync_scope(
        &mut self,
        endpoint: &ServerEndpoint,
        scope: SyncScope,
        today: DateTime<Utc>,
    ) -> Result<SyncReport, ReplicaError> {
        match self.sync_once(endpoint, scope, today).await {
            // A connection that broke before anything was confirmed is retried once: the
            // exchange is idempotent and sync states are saved only after a round.
            Err(ReplicaError::Sync(SyncError::Connection(reason))) => {
                tracing::debug!(%reason, "sync connection broke; retrying once");
                tokio::time::sleep(Duration::from_millis(250)).await;
                self.sync_once(endpoint, scope, today).await
            }
            other => other,
        }
    }

    async fn sync_once(
        &mut self,
        endpoint: &ServerEndpoint,
        scope: SyncScope,
        today: DateTime<Utc>,
    ) -> Result<SyncReport, ReplicaError> {
        let server_key = endpoint.url.clone();
        let mut report = SyncReport::default();

        let current = Month::of(today.date_naive());
        let recent = [current, current.and_then(|m| m.previous())];
        let mut ids = Vec::new();
        for month in self.months()? {
            let id = DocKind::DiaryMonth {
                patient: self.patient,
                month,
            }
            .document_id();
            let wanted = match scope {
                SyncScope::All => true,
                SyncScope::Recent => {
                    recent.contains(&Some(month))
                        || self.has_unconfirmed_changes(&server_key, id)?
                }
            };
            if wanted {
                ids.push(id);
            }
        }
        ids.push(
            DocKind::Index {
                patient: self.patient,
            }
            .document_id(),
        );
        ids.push(
            DocKind::CarePlan {
                patient: self.patient,
            }
            .document_id(),
        );
        // Everything local is prepared before connecting, so the connection carries traffic
        // from its first moment (servers drop peers that stay silent through a keepalive).
        let mut conn = Connection::connect(
            endpoint,
            self.peer_id(),
            Some(self.storage_id.clone()),
            self.timeout,
        )
        .await?;
        self.sync_round(&mut conn, &server_key, &ids, &mut report)
            .await?;

        // A new device learns the months from the index and fetches the missing ones.
        let index_id = DocKind::Index {
            patient: self.patient,
        }
        .document_id();
        let listed: Vec<DocumentId> = match self.open_doc(index_id, None)? {
            Some(open) => read_index(&open.doc).months.into_values().collect(),
            None => Vec::new(),
        };
        let missing: Vec<DocumentId> = listed.into_iter().filter(|id| !ids.contains(id)).collect();
        if !missing.is_empty() {
            self.sync_round(&mut conn, &server_key, &missing, &mut report)
                .await?;
        }
        report.bytes_sent = conn.bytes_sent();
        report.bytes_received = conn.bytes_received();
        conn.close().await;
        Ok(report)
    }

    /// Whether a document holds changes the server has not confirmed (its heads differ
    /// from the heads both sides shared at the end of the last sync).
    fn has_unconfirmed_changes(
        &mut self,
        server_key: &str,
        id: DocumentId,
    ) -> Result<bool, ReplicaError> {
        let shared = self
            .store
            .load_sync_state(server_key, &id)?
            .map(|s| s.shared_heads);
        let Some(open) = self.open_doc(id, None)? else {
            return Ok(false);
        };
        let mut heads = open.doc.get_heads();
        heads.sort();
        Ok(match shared {
            Some(mut shared) => {
                shared.sort();
                shared != heads
            }
            None => true,
        })
    }

    async fn sync_round(
        &mut self,
        conn: &mut Connection,
        server_key: &str,
        ids: &[DocumentId],
        report: &mut SyncReport,
    ) -> Result<(), ReplicaError> {
        // Documents we lack are synced from empty in memory and stored only if the server
        // had them.
        let mut fresh: HashMap<DocumentId, AutoCommit> = HashMap::new();
        let mut states: Vec<SyncState> = Vec::with_capacity(ids.len());
        for id in ids {
            states.push(
                self.store
                    .load_sync_state(server_key, id)?
                    .unwrap_or_default(),
            );
            if self.open_doc(*id, None)?.is_none() {
                fresh.insert(*id, AutoCommit::new().with_actor(self.actor.clone()));
            }
        }
        let outcomes = {
            let mut targets = Vec::with_capacity(ids.len());
            let mut opened: HashMap<DocumentId, &mut AutoCommit> = HashMap::new();
            for (id, open) in self.docs.iter_mut() {
                if ids.contains(id) {
                    opened.insert(*id, &mut open.doc);
                }
            }
            for (id, doc) in fresh.iter_mut() {
                opened.insert(*id, doc);
            }
            for (id, state) in ids.iter().zip(states.iter_mut()) {
                if let Some(doc) = opened.remove(id) {
                    targets.push(SyncTarget {
                        id: *id,
                        doc,
                        state,
                    });
                }
            }
            conn.sync_documents(&mut targets, self.timeout).await?
        };
        for ((id, state), outcome) in ids.iter().zip(&states).zip(&outcomes) {
            report.documents += 1;
            report.changes_received += outcome.changes_received;
            if outcome.unavailable {
                report.unavailable.push(*id);
                continue;
            }
            if let Some(mut doc) = fresh.remove(id) {
                if doc.get_heads().is_empty() {
                    continue;
                }
                self.store.write_snapshot(id, &doc.save())?;
                self.docs.insert(
                    *id,
                    OpenDoc {
                        doc,
                        log_records: 0,
                    },
                );
            } else {
                self.persist(*id)?;
            }
            self.store.save_sync_state(server_key, id, state)?;
        }
        Ok(())
    }
}

/// The month document an entry belongs in: the month of its local date.
pub fn month_of(entry: &Entry) -> Result<Month, ValidationError> {
    let date = entry.meta().local_date()?;
    Month::of(date).ok_or(ValidationError::OutOfRange {
        field: "recorded_at",
        value: f64::from(chrono::Datelike::year(&date)),
        min: 2000.0,
        max: 2999.0,
    })
}
