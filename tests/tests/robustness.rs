//! Misbehaving peers against the real server over real sockets, on SQLite and PostgreSQL:
//! a peer that stops reading is dropped (by its pong deadline, or by the send timeout once
//! its socket buffers are full) while others keep syncing;
//! peers that announce a document and vanish mid-sync leave the server healthy; a failed
//! group commit rolls every member back and nothing unacknowledged is kept.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use automerge::AutoCommit;
use automerge::sync::{State as SyncState, SyncDoc};
use chrono::{TimeDelta, Utc};
use paindiary_sync::ids::{DocumentId, EntryId, Month, PatientId as DocPatientId};
use paindiary_sync::protocol::{Message, PeerId};
use paindiary_sync::replica::{Connection, SyncError, SyncTarget};
use paindiary_sync::schema::month::{add_entry_unchecked, read_entries};
use paindiary_sync::schema::{DocKind, Entry, EntryMeta, PainEntry};
use paindiary_tests::TestApp;
use sea_orm::{ConnectionTrait, Statement};

const TIMEOUT: Duration = Duration::from_secs(20);

fn pain(score: f64, note: Option<String>) -> Entry {
    Entry::Pain(PainEntry {
        meta: EntryMeta {
            recorded_at: Utc::now() - TimeDelta::minutes(5),
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
        note,
    })
}

async fn connect(app: &TestApp, token: &str, name: &str) -> Connection {
    Connection::connect(
        &app.sync_endpoint(token),
        PeerId::new(format!("{name}-{}", uuid::Uuid::new_v4().simple())).unwrap(),
        None,
        TIMEOUT,
    )
    .await
    .unwrap()
}

/// A tablet whose socket has a 4 KiB receive buffer (so the kernel cannot absorb what the
/// server sends it: autotuning would otherwise grow loopback buffers to tens of MB), which
/// joins, opens `id` with one sync round and then stops reading.
async fn stalled_tablet(
    app: &TestApp,
    token: &str,
    id: DocumentId,
) -> tokio_tungstenite::WebSocketStream<tokio::net::TcpStream> {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message as WsMessage;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;

    let addr: std::net::SocketAddr = app.base_url.trim_start_matches("http://").parse().unwrap();
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let stream = socket.connect(addr).await.unwrap();
    let mut request = format!("ws://{addr}/sync").into_client_request().unwrap();
    request
        .headers_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::client_async(request, stream)
        .await
        .unwrap();
    let me = PeerId::new(format!("tablet-{}", uuid::Uuid::new_v4().simple())).unwrap();
    let join = Message::Join {
        sender_id: me.clone(),
        peer_metadata: None,
        supported_protocol_versions: vec!["1".to_owned()],
    };
    ws.send(WsMessage::Binary(join.encode().into()))
        .await
        .unwrap();
    let limits = paindiary_sync::protocol::Limits::default();
    async fn next(
        ws: &mut tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>,
        limits: &paindiary_sync::protocol::Limits,
    ) -> Message {
        loop {
            if let WsMessage::Binary(bytes) = ws.next().await.unwrap().unwrap() {
                return Message::decode(&bytes, limits).unwrap();
            }
        }
    }
    let server = match next(&mut ws, &limits).await {
        Message::Peer { sender_id, .. } => sender_id,
        other => panic!("expected peer, got {other:?}"),
    };
    let mut doc = AutoCommit::new();
    let mut state = SyncState::new();
    let data = doc
        .sync()
        .generate_sync_message(&mut state)
        .unwrap()
        .encode();
    let open = Message::Sync {
        document_id: id,
        sender_id: me,
        target_id: server,
        data,
        doc_type: None,
    };
    ws.send(WsMessage::Binary(open.encode().into()))
        .await
        .unwrap();
    loop {
        if let Message::Sync { document_id, .. } = next(&mut ws, &limits).await
            && document_id == id
        {
            break;
        }
    }
    ws
}

fn month_of(patient: DocPatientId) -> (DocumentId, AutoCommit) {
    let month = Month::of(Utc::now().date_naive()).unwrap();
    let kind = DocKind::DiaryMonth { patient, month };
    (
        kind.document_id(),
        kind.create(automerge::ActorId::random()).unwrap(),
    )
}

async fn sync_one(
    conn: &mut Connection,
    id: DocumentId,
    doc: &mut AutoCommit,
    state: &mut SyncState,
) -> Result<(), SyncError> {
    conn.sync_documents(&mut [SyncTarget { id, doc, state }], TIMEOUT)
        .await
        .map(|_| ())
}

async fn server_copy(app: &TestApp, token: &str, id: DocumentId) -> AutoCommit {
    let mut conn = connect(app, token, "verify").await;
    let mut doc = AutoCommit::new();
    let mut state = SyncState::new();
    sync_one(&mut conn, id, &mut doc, &mut state).await.unwrap();
    conn.close().await;
    doc
}

async fn execute(app: &TestApp, sql: &str) {
    let backend = app.state.db.get_database_backend();
    app.state
        .db
        .execute_raw(Statement::from_string(backend, sql.to_owned()))
        .await
        .unwrap();
}

/// How a stalled peer can be caught: by its unanswered ping (nothing it was sent blocked a
/// write: the kernel absorbed it), or by a write to it that stopped progressing.
#[derive(Clone, Copy)]
enum Stall {
    /// A few small entries; pings every second.
    Ping,
    /// Entries of 64 KB of hex that soon overflow every socket buffer; no pings.
    SendTimeout,
}

/// A second device of the patient opens the month and then stops reading while the phone
/// keeps writing: the server closes the device's connection and frees it, and the phone's
/// syncs all complete meanwhile. Everything the phone wrote is stored.
async fn stalled_reader(app: Arc<TestApp>, stall: Stall) {
    let clinic = app.create_clinic("North").await;
    let patient = app.enrolled_patient(clinic, "PD-7001").await;
    let doc_patient = DocPatientId::from_uuid(patient.patient_id.unwrap().uuid());
    let (id, mut phone_doc) = month_of(doc_patient);
    let mut phone = connect(&app, &patient.token, "phone").await;
    let mut phone_state = SyncState::new();
    add_entry_unchecked(&mut phone_doc, EntryId::new(), &pain(3.0, None), Utc::now()).unwrap();
    sync_one(&mut phone, id, &mut phone_doc, &mut phone_state)
        .await
        .unwrap();

    // The tablet opens the month, then never reads again.
    let mut tablet = stalled_tablet(&app, &patient.token, id).await;
    assert_eq!(app.hub.live_connections(), 2);

    // The phone keeps writing: each sync completes within the client's timeout (and the
    // phone reads, so it answers its own pings). With pings, a few small entries that the
    // kernel absorbs; without, entries until the tablet's socket buffers overflow and the
    // server drops it.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let mut written: u32 = 1;
    loop {
        let done = match stall {
            Stall::Ping => written > 5,
            Stall::SendTimeout => app.hub.live_connections() == 1,
        };
        if done {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the stalled peer was not disconnected within 60 s ({written} entries written)"
        );
        let note = match stall {
            Stall::Ping => None,
            Stall::SendTimeout => Some(
                (0..2048)
                    .map(|_| uuid::Uuid::new_v4().simple().to_string())
                    .collect::<String>(),
            ),
        };
        add_entry_unchecked(
            &mut phone_doc,
            EntryId::new(),
            &pain(f64::from(written % 10), note),
            Utc::now(),
        )
        .unwrap();
        sync_one(&mut phone, id, &mut phone_doc, &mut phone_state)
            .await
            .unwrap();
        written += 1;
    }
    phone.close().await;

    // The server lets go of the tablet: its connection task ends.
    while app.hub.live_connections() > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the stalled peer was not disconnected within 60 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // The tablet reads again: what reached its socket, then the end of the connection:
    // the server's close frame when its writer was not blocked (always so with pings),
    // else the TCP close.
    let ended = tokio::time::timeout(Duration::from_secs(30), async {
        use futures_util::StreamExt;
        loop {
            match tablet.next().await {
                None | Some(Err(_)) => return None,
                Some(Ok(tokio_tungstenite::tungstenite::Message::Close(frame))) => return frame,
                Some(Ok(_)) => {}
            }
        }
    })
    .await
    .expect("the tablet's connection did not end");
    match (stall, ended) {
        (_, Some(frame)) => {
            assert_eq!(u16::from(frame.code), 1008);
            assert_eq!(frame.reason.as_str(), "peer is not reading its messages");
        }
        (Stall::Ping, None) => panic!("the server's close frame did not reach the tablet"),
        (Stall::SendTimeout, None) => {}
    }

    // Everything the phone wrote is on the server.
    let copy = server_copy(&app, &patient.token, id).await;
    assert_eq!(read_entries(&copy).entries.len(), written as usize);
}

/// A stalled peer whose frames all fit in the kernel's buffers: caught by its ping.
async fn stalled_reader_is_dropped_by_its_pong_deadline(app: Arc<TestApp>) {
    stalled_reader(app, Stall::Ping).await
}

/// A stalled peer whose frames overflow its socket buffers: caught by the send timeout.
async fn stalled_reader_is_dropped_by_the_send_timeout(app: Arc<TestApp>) {
    stalled_reader(app, Stall::SendTimeout).await
}

/// Peers that announce a month (the first sync message of a document holding history) and
/// disconnect before reading the answer, many at once: the server stays healthy, stores
/// nothing it did not get, and another device syncs normally.
async fn peers_vanishing_mid_sync_leave_the_server_healthy(app: Arc<TestApp>) {
    let clinic = app.create_clinic("North").await;
    let patient = app.enrolled_patient(clinic, "PD-7002").await;
    let doc_patient = DocPatientId::from_uuid(patient.patient_id.unwrap().uuid());
    let (id, mut doc) = month_of(doc_patient);
    for k in 0..50 {
        add_entry_unchecked(
            &mut doc,
            EntryId::new(),
            &pain(f64::from(k % 10), None),
            Utc::now(),
        )
        .unwrap();
    }

    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..20 {
        let app = app.clone();
        let token = patient.token.clone();
        let mut doc = doc.clone();
        tasks.spawn(async move {
            let mut conn = connect(&app, &token, &format!("ghost{n}")).await;
            let mut state = SyncState::new();
            let first = doc.sync().generate_sync_message(&mut state).unwrap();
            let server = conn.server_id().clone();
            let our = conn.our_id().clone();
            conn.send(&Message::Sync {
                document_id: id,
                sender_id: our,
                target_id: server,
                data: first.encode(),
                doc_type: None,
            })
            .await
            .unwrap();
            // Gone without reading the answer or closing the WebSocket.
            drop(conn);
        });
    }
    while let Some(joined) = tasks.join_next().await {
        joined.unwrap();
    }

    // Nothing was stored for the month: no ghost sent a change.
    let month_rows = app
        .count(&format!(
            "SELECT COUNT(*) FROM document_chunks WHERE document_id = '{id}'"
        ))
        .await;
    assert_eq!(month_rows, 0);

    // A real device brings the month with its history, and reads it back.
    let mut phone = connect(&app, &patient.token, "phone").await;
    let mut state = SyncState::new();
    sync_one(&mut phone, id, &mut doc, &mut state)
        .await
        .unwrap();
    phone.close().await;
    let copy = server_copy(&app, &patient.token, id).await;
    assert_eq!(read_entries(&copy).entries.len(), 50);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM pain_entries").await,
        50,
        "projection"
    );
}

/// Several phones push while every write fails (the audit table is gone): each is told
/// (closed with 1011, nothing acknowledged), the server's documents do not keep the
/// unstored entries, and once storage is back each phone's resend lands exactly once.
async fn failed_group_commit_rolls_back_every_member(app: Arc<TestApp>) {
    let clinic = app.create_clinic("North").await;
    let mut phones = Vec::new();
    for n in 0..4 {
        let patient = app.enrolled_patient(clinic, &format!("PD-71{n:02}")).await;
        let doc_patient = DocPatientId::from_uuid(patient.patient_id.unwrap().uuid());
        let (id, mut doc) = month_of(doc_patient);
        add_entry_unchecked(&mut doc, EntryId::new(), &pain(2.0, None), Utc::now()).unwrap();
        let mut conn = connect(&app, &patient.token, "phone").await;
        let mut state = SyncState::new();
        sync_one(&mut conn, id, &mut doc, &mut state).await.unwrap();
        phones.push((patient, id, doc, state, conn));
    }

    execute(&app, "ALTER TABLE audit_events RENAME TO audit_events_off").await;
    let mut tasks = tokio::task::JoinSet::new();
    for (patient, id, mut doc, mut state, mut conn) in phones {
        tasks.spawn(async move {
            add_entry_unchecked(&mut doc, EntryId::new(), &pain(7.0, None), Utc::now()).unwrap();
            let result = sync_one(&mut conn, id, &mut doc, &mut state).await;
            (patient, id, doc, result)
        });
    }
    let mut failed = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        let (patient, id, doc, result) = joined.unwrap();
        match result {
            Err(SyncError::Closed(Some(reason))) => assert!(reason.starts_with("1011"), "{reason}"),
            Err(SyncError::Server(message)) => {
                assert!(message.starts_with("storage unavailable"), "{message}")
            }
            other => panic!("a write without storage was acknowledged: {other:?}"),
        }
        failed.push((patient, id, doc));
    }
    // The server's copies hold only what was stored.
    for (patient, id, _) in &failed {
        let copy = server_copy(&app, &patient.token, *id).await;
        assert_eq!(read_entries(&copy).entries.len(), 1);
    }
    assert_eq!(app.count("SELECT COUNT(*) FROM pain_entries").await, 4);

    execute(&app, "ALTER TABLE audit_events_off RENAME TO audit_events").await;
    for (patient, id, mut doc) in failed {
        let mut conn = connect(&app, &patient.token, "phone-again").await;
        let mut state = SyncState::new();
        sync_one(&mut conn, id, &mut doc, &mut state).await.unwrap();
        conn.close().await;
        let copy = server_copy(&app, &patient.token, id).await;
        assert_eq!(read_entries(&copy).entries.len(), 2);
    }
    assert_eq!(app.count("SELECT COUNT(*) FROM pain_entries").await, 8);
}

paindiary_tests::story!(stalled_reader_is_dropped_by_its_pong_deadline, |config| {
    config.sync.ping_interval_secs = 1;
    config.sync.pong_timeout_secs = 2;
    // Nothing blocks in this story: only the pong deadline can drop the tablet.
    config.sync.send_timeout_secs = 30;
    config.sync.outbound_queue = 4096;
});

paindiary_tests::story!(stalled_reader_is_dropped_by_the_send_timeout, |config| {
    // No ping within the story: only the blocked write can catch the tablet.
    config.sync.ping_interval_secs = 3600;
    config.sync.send_timeout_secs = 1;
    config.sync.outbound_queue = 4096;
});

paindiary_tests::story!(peers_vanishing_mid_sync_leave_the_server_healthy);
paindiary_tests::story!(failed_group_commit_rolls_back_every_member);
