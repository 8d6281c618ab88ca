//! Several replicas on one PostgreSQL: a device on replica A and another client on replica
//! B see each other's changes pushed within a bounded wait (LISTEN/NOTIFY), the projection
//! converges on the merged document, eviction and compaction stay correct with a second
//! writer, and a lost listener connection recovers. PostgreSQL only: SQLite is
//! single-process, and `serve` refuses a second server on the same SQLite file (the last
//! story checks that refusal).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use automerge::sync::{Message as SyncMessage, State as SyncState, SyncDoc};
use automerge::{AutoCommit, ChangeHash};
use chrono::{TimeDelta, Utc};
use paindiary_server::domain::Role;
use paindiary_server::entity::pain_entries;
use paindiary_sync::ids::{DocumentId, EntryId, Month, PatientId as DocPatientId};
use paindiary_sync::protocol::{Message, PeerId};
use paindiary_sync::replica::{Connection, ServerEndpoint, SyncTarget};
use paindiary_sync::schema::month::{FieldValue, add_entry_unchecked, edit_entry, read_entries};
use paindiary_sync::schema::{DocKind, Entry, EntryKind, EntryMeta, PainEntry};
use paindiary_tests::{Backend, TestApp};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Statement};

/// How long a change may take to reach a client on the other replica. The goal is well
/// under a second; the bound leaves room for a machine shared with other builds.
const PUSH_LIMIT: Duration = Duration::from_secs(3);

/// Runs `story` on PostgreSQL only, with configuration changes.
macro_rules! pg_story {
    ($name:ident) => {
        pg_story!($name, |_config| {});
    };
    ($name:ident, $configure:expr) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                paindiary_tests::run_story_with(
                    paindiary_tests::Backend::Postgres,
                    $configure,
                    super::$name,
                )
                .await
            }
        }
    };
}

fn ws(base_url: &str) -> String {
    format!("{}/sync", base_url.replace("http://", "ws://"))
}

fn pain(score: f64, at: chrono::DateTime<Utc>) -> Entry {
    Entry::Pain(PainEntry {
        meta: EntryMeta {
            recorded_at: at,
            tz: "Europe/Berlin".into(),
            deleted_at: None,
            updated_at: None,
        },
        score,
        worst: None,
        least: None,
        locations: vec!["lower_back".into()],
        location_note: None,
        qualities: vec![],
        note: None,
    })
}

fn sorted(mut heads: Vec<ChangeHash>) -> Vec<ChangeHash> {
    heads.sort();
    heads
}

/// One client with one document open on one replica, over a raw protocol connection.
struct Device {
    conn: Connection,
    id: DocumentId,
    doc: AutoCommit,
    state: SyncState,
}

impl Device {
    /// Connects to the replica at `base_url` and syncs `doc` (empty: fetch it).
    async fn open(base_url: &str, token: &str, id: DocumentId, doc: AutoCommit) -> Self {
        let endpoint = ServerEndpoint {
            url: ws(base_url),
            token: Some(token.to_owned()),
        };
        let conn = Connection::connect(
            &endpoint,
            PeerId::new(format!("dev-{}", uuid::Uuid::new_v4().simple())).unwrap(),
            None,
            Duration::from_secs(10),
        )
        .await
        .unwrap();
        let mut device = Self {
            conn,
            id,
            doc,
            state: SyncState::new(),
        };
        device.sync().await;
        device
    }

    /// Syncs until the server confirmed our heads (what a phone calls "acknowledged").
    async fn sync(&mut self) {
        let outcome = self
            .conn
            .sync_documents(
                &mut [SyncTarget {
                    id: self.id,
                    doc: &mut self.doc,
                    state: &mut self.state,
                }],
                Duration::from_secs(10),
            )
            .await
            .unwrap();
        assert!(!outcome[0].unavailable, "document unavailable");
    }

    /// Records a pain entry and waits for the server's acknowledgement.
    async fn add(&mut self, score: f64) -> EntryId {
        let now = Utc::now();
        let id = add_entry_unchecked(
            &mut self.doc,
            EntryId::new(),
            &pain(score, now - TimeDelta::minutes(1)),
            now,
        )
        .unwrap();
        self.sync().await;
        id
    }

    fn entries(&self) -> BTreeSet<EntryId> {
        read_entries(&self.doc)
            .entries
            .iter()
            .map(|e| e.id)
            .collect()
    }

    /// Only reads what the server pushes (we send nothing first), applying and answering
    /// each message, until `done` holds; panics after `limit`. Returns how long it took.
    async fn wait_for(
        &mut self,
        limit: Duration,
        mut done: impl FnMut(&mut AutoCommit) -> bool,
    ) -> Duration {
        let started = Instant::now();
        let deadline = tokio::time::Instant::now() + limit;
        while !done(&mut self.doc) {
            let message = tokio::time::timeout_at(deadline, self.conn.recv())
                .await
                .unwrap_or_else(|_| panic!("the change did not arrive within {limit:?}"))
                .unwrap();
            if let Message::Sync {
                document_id, data, ..
            } = message
                && document_id == self.id
            {
                let message = SyncMessage::decode(&data).unwrap();
                self.doc
                    .sync()
                    .receive_sync_message(&mut self.state, message)
                    .unwrap();
                if let Some(reply) = self.doc.sync().generate_sync_message(&mut self.state) {
                    let reply = Message::Sync {
                        document_id: self.id,
                        sender_id: self.conn.our_id().clone(),
                        target_id: self.conn.server_id().clone(),
                        data: reply.encode(),
                        doc_type: None,
                    };
                    self.conn.send(&reply).await.unwrap();
                }
            }
        }
        started.elapsed()
    }

    async fn close(self) {
        self.conn.close().await;
    }
}

/// Projected pain rows of a patient: entry ID -> score.
async fn projected(app: &TestApp, patient: uuid::Uuid) -> Vec<(uuid::Uuid, f64)> {
    let mut rows: Vec<(uuid::Uuid, f64)> = pain_entries::Entity::find()
        .filter(pain_entries::Column::PatientId.eq(patient))
        .all(&app.state.db)
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.entry_id, r.score))
        .collect();
    rows.sort_by_key(|r| r.0);
    rows
}

fn as_uuids(ids: &BTreeSet<EntryId>) -> BTreeSet<uuid::Uuid> {
    ids.iter().map(|e| *e.as_uuid()).collect()
}

struct Setup {
    patient: DocPatientId,
    patient_token: String,
    tablet_token: String,
    nurse_token: String,
    id: DocumentId,
    month: Month,
}

async fn setup(app: &TestApp, code: &str) -> Setup {
    let clinic = app.create_clinic("North").await;
    let patient = app.enrolled_patient(clinic, code).await;
    let nurse = app.create_staff(clinic, Role::Nurse).await;
    app.add_to_care_team(patient.patient_id.unwrap(), nurse.user_id)
        .await;
    let tablet_token = app
        .login_ok(&patient.email, &patient.password, Some("tablet"))
        .await;
    let doc_patient = DocPatientId::from_uuid(patient.patient_id.unwrap().uuid());
    let month = Month::of(Utc::now().date_naive()).unwrap();
    Setup {
        patient: doc_patient,
        patient_token: patient.token,
        tablet_token,
        nurse_token: nurse.token,
        id: DocKind::DiaryMonth {
            patient: doc_patient,
            month,
        }
        .document_id(),
        month,
    }
}

fn new_month(s: &Setup) -> AutoCommit {
    DocKind::DiaryMonth {
        patient: s.patient,
        month: s.month,
    }
    .create(automerge::ActorId::random())
    .unwrap()
}

/// A phone on replica A and a tablet and a nurse on replica B see each other's changes
/// pushed, without asking; the projection holds exactly the merged entries.
async fn devices_on_two_replicas_converge(app: Arc<TestApp>) {
    let s = setup(&app, "PD-7001").await;
    let b = app.spawn_replica().await;

    let mut phone = Device::open(&app.base_url, &s.patient_token, s.id, new_month(&s)).await;
    let first = phone.add(4.0).await;
    let mut tablet = Device::open(&b.base_url, &s.tablet_token, s.id, AutoCommit::new()).await;
    let mut nurse = Device::open(&b.base_url, &s.nurse_token, s.id, AutoCommit::new()).await;
    assert_eq!(tablet.entries(), BTreeSet::from([first]));
    assert_eq!(nurse.entries(), BTreeSet::from([first]));

    // A -> B: the phone's entry reaches both clients of the other replica.
    let second = phone.add(6.0).await;
    let took = tablet
        .wait_for(PUSH_LIMIT, |d| read_entries(d).entries.len() == 2)
        .await;
    eprintln!("A -> B push took {took:?}");
    nurse
        .wait_for(PUSH_LIMIT, |d| read_entries(d).entries.len() == 2)
        .await;
    assert_eq!(tablet.entries(), BTreeSet::from([first, second]));

    // B -> A: the tablet's entry reaches the phone.
    let third = tablet.add(7.0).await;
    let took = phone
        .wait_for(PUSH_LIMIT, |d| read_entries(d).entries.len() == 3)
        .await;
    eprintln!("B -> A push took {took:?}");
    let all = BTreeSet::from([first, second, third]);
    assert_eq!(phone.entries(), all);
    nurse
        .wait_for(PUSH_LIMIT, |d| read_entries(d).entries.len() == 3)
        .await;
    assert_eq!(
        sorted(phone.doc.get_heads()),
        sorted(tablet.doc.get_heads())
    );

    // One projection, holding every entry with its score.
    let rows = projected(&app, *s.patient.as_uuid()).await;
    assert_eq!(
        rows.iter().map(|r| r.0).collect::<BTreeSet<_>>(),
        as_uuids(&all)
    );
    // Both replicas serve the same merged document to a new device.
    for base in [&app.base_url, &b.base_url] {
        let fresh = Device::open(base, &s.patient_token, s.id, AutoCommit::new()).await;
        assert_eq!(fresh.entries(), all);
        fresh.close().await;
    }
    phone.close().await;
    tablet.close().await;
    nurse.close().await;
    b.stop().await;
}
pg_story!(devices_on_two_replicas_converge);

/// Concurrent edits of one entry committed on two replicas: each replica projected its
/// own partial state, but after the refresh the rows equal the merged document.
async fn concurrent_edits_on_two_replicas_project_the_merged_state(app: Arc<TestApp>) {
    let s = setup(&app, "PD-7002").await;
    let b = app.spawn_replica().await;
    let mut phone = Device::open(&app.base_url, &s.patient_token, s.id, new_month(&s)).await;
    let entry = phone.add(5.0).await;
    let mut tablet = Device::open(&b.base_url, &s.tablet_token, s.id, AutoCommit::new()).await;

    for round in 0..6_i64 {
        let now = Utc::now();
        edit_entry(
            &mut phone.doc,
            EntryKind::Pain,
            &entry,
            &[("score", FieldValue::Int(round % 5))],
            now,
        )
        .unwrap();
        edit_entry(
            &mut tablet.doc,
            EntryKind::Pain,
            &entry,
            &[("score", FieldValue::Int(5 + round % 5))],
            now,
        )
        .unwrap();
        // Both commit at once, each on its own replica.
        tokio::join!(phone.sync(), tablet.sync());
        let mut merged = phone.doc.fork();
        merged.merge(&mut tablet.doc.fork()).unwrap();
        let target = sorted(merged.get_heads());
        phone
            .wait_for(PUSH_LIMIT, |d| sorted(d.get_heads()) == target)
            .await;
        tablet
            .wait_for(PUSH_LIMIT, |d| sorted(d.get_heads()) == target)
            .await;
        let merged_score =
            match paindiary_sync::schema::month::read_entry(&merged, EntryKind::Pain, &entry)
                .unwrap()
            {
                Some(Entry::Pain(p)) => p.score,
                other => panic!("entry unreadable: {other:?}"),
            };
        let rows = projected(&app, *s.patient.as_uuid()).await;
        assert_eq!(
            rows,
            vec![(*entry.as_uuid(), merged_score)],
            "round {round}: the projection disagrees with the merged document"
        );
    }
    phone.close().await;
    tablet.close().await;
    b.stop().await;
}
pg_story!(concurrent_edits_on_two_replicas_project_the_merged_state);

async fn chunk_count(app: &TestApp, id: DocumentId, snapshots_only: bool) -> i64 {
    let sql = format!(
        "SELECT COUNT(*) FROM document_chunks WHERE document_id = '{id}'{}",
        if snapshots_only { " AND snapshot" } else { "" }
    );
    let row = app
        .state
        .db
        .query_one_raw(Statement::from_string(
            app.state.db.get_database_backend(),
            sql,
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get_by_index::<i64>(0).unwrap()
}

/// Eviction on one replica, then a change on the other, still converges; both replicas
/// compacting the same document while the other appends lose nothing.
async fn eviction_and_compaction_with_two_writers(app: Arc<TestApp>) {
    let s = setup(&app, "PD-7003").await;
    let b = app.spawn_replica().await;
    let mut phone = Device::open(&app.base_url, &s.patient_token, s.id, new_month(&s)).await;
    let mut expected = BTreeSet::new();
    expected.insert(phone.add(3.0).await);
    let phone_doc = phone.doc.fork();
    phone.close().await;
    // The phone is gone: replica A evicts the idle month (the budget holds nothing).
    let deadline = Instant::now() + Duration::from_secs(5);
    while app.hub.cached_documents() > 0 {
        assert!(
            Instant::now() < deadline,
            "replica A kept {} documents",
            app.hub.cached_documents()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // The tablet writes on B; the phone comes back to A, which loads the month afresh.
    let mut tablet = Device::open(&b.base_url, &s.tablet_token, s.id, AutoCommit::new()).await;
    expected.insert(tablet.add(4.0).await);
    let mut phone = Device::open(&app.base_url, &s.patient_token, s.id, phone_doc).await;
    assert_eq!(phone.entries(), expected);

    // Alternating writers past the compaction threshold (3) on both replicas.
    for k in 0..8 {
        expected.insert(phone.add(f64::from(k % 10)).await);
        expected.insert(tablet.add(f64::from((k + 5) % 10)).await);
    }
    let target = expected.clone();
    phone
        .wait_for(PUSH_LIMIT, |d| {
            read_entries(d)
                .entries
                .iter()
                .map(|e| e.id)
                .collect::<BTreeSet<_>>()
                == target
        })
        .await;
    tablet
        .wait_for(PUSH_LIMIT, |d| {
            read_entries(d)
                .entries
                .iter()
                .map(|e| e.id)
                .collect::<BTreeSet<_>>()
                == target
        })
        .await;
    assert!(
        chunk_count(&app, s.id, true).await >= 1,
        "no snapshot: compaction did not run"
    );
    assert!(
        chunk_count(&app, s.id, false).await < 2 * 8 + 2,
        "compaction left every chunk"
    );
    phone.close().await;
    tablet.close().await;
    // Every entry survives in storage: new devices on both replicas (B evicts too, so
    // both load from the compacted chunks) get all of them, and so does the projection.
    for base in [&app.base_url, &b.base_url] {
        let fresh = Device::open(base, &s.patient_token, s.id, AutoCommit::new()).await;
        assert_eq!(fresh.entries(), expected);
        fresh.close().await;
    }
    let rows = projected(&app, *s.patient.as_uuid()).await;
    assert_eq!(
        rows.iter().map(|r| r.0).collect::<BTreeSet<_>>(),
        as_uuids(&expected)
    );
    b.stop().await;
}
pg_story!(eviction_and_compaction_with_two_writers, |config| {
    config.sync.memory_budget_bytes = 1;
    config.sync.compact_after_chunks = 3;
});

/// The listener's connection is killed by PostgreSQL; the replica reconnects, catches up
/// on what it missed, and keeps receiving later changes.
async fn listener_reconnects_after_losing_its_connection(app: Arc<TestApp>) {
    let s = setup(&app, "PD-7004").await;
    let b = app.spawn_replica().await;
    let mut phone = Device::open(&app.base_url, &s.patient_token, s.id, new_month(&s)).await;
    phone.add(2.0).await;
    let mut tablet = Device::open(&b.base_url, &s.tablet_token, s.id, AutoCommit::new()).await;

    // Kill every LISTEN connection of this test database (both replicas' listeners).
    let killed = app
        .state
        .db
        .query_one_raw(Statement::from_string(
            app.state.db.get_database_backend(),
            "SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity \
             WHERE datname = current_database() AND query ILIKE 'LISTEN%'"
                .to_owned(),
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get_by_index::<i64>(0)
        .unwrap();
    assert_eq!(killed, 2, "expected one listener per replica");

    // A change made while B's listener may be down still reaches the tablet.
    phone.add(3.0).await;
    tablet
        .wait_for(Duration::from_secs(10), |d| {
            read_entries(d).entries.len() == 2
        })
        .await;
    // And the new listener works for later changes.
    phone.add(4.0).await;
    tablet
        .wait_for(PUSH_LIMIT, |d| read_entries(d).entries.len() == 3)
        .await;
    phone.close().await;
    tablet.close().await;
    b.stop().await;
}
pg_story!(listener_reconnects_after_losing_its_connection);

/// SQLite is single-process: a second `serve` on the same file is refused clearly, and
/// the file is free again once the first server is gone.
#[test]
fn a_second_server_on_one_sqlite_file_is_refused() {
    if !Backend::Sqlite.selected() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let config = paindiary_server::Config {
        data_dir: tmp.path().to_owned(),
        ..paindiary_server::Config::default()
    };
    let first = paindiary_server::serve_lock::acquire(&config)
        .unwrap()
        .expect("SQLite takes the lock");
    let refused = paindiary_server::serve_lock::acquire(&config).unwrap_err();
    let message = refused.to_string();
    assert!(
        message.contains("already running") && message.contains("PostgreSQL"),
        "{message}"
    );
    drop(first);
    assert!(
        paindiary_server::serve_lock::acquire(&config)
            .unwrap()
            .is_some()
    );
}
