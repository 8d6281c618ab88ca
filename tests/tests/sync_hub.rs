//! End-to-end stories for the sync hub: real WebSocket clients (our phone replica and a
//! raw protocol connection) against the spawned server, on SQLite and PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use automerge::AutoCommit;
use automerge::sync::State as SyncState;
use chrono::{TimeDelta, TimeZone, Utc};
use paindiary_server::domain::Role;
use paindiary_sync::ids::{DocumentId, PatientId as DocPatientId};
use paindiary_sync::protocol::{Message, PeerId};
use paindiary_sync::replica::{
    Connection, Durability, Replica, ServerEndpoint, SyncError, SyncScope, SyncTarget,
};
use paindiary_sync::schema::month::{FieldValue, read_entries};
use paindiary_sync::schema::{DocKind, Entry, EntryKind, EntryMeta, PainEntry};
use paindiary_tests::{TestApp, story};

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

/// Requests one document over a raw protocol connection.
async fn fetch(
    app: &TestApp,
    token: &str,
    id: DocumentId,
) -> Result<Option<AutoCommit>, SyncError> {
    fetch_at(&app.sync_endpoint(token), id).await
}

/// Requests one document over a raw protocol connection to `endpoint`.
async fn fetch_at(
    endpoint: &ServerEndpoint,
    id: DocumentId,
) -> Result<Option<AutoCommit>, SyncError> {
    let mut conn = Connection::connect(
        endpoint,
        PeerId::new(format!("reader-{}", uuid::Uuid::new_v4().simple())).unwrap(),
        None,
        Duration::from_secs(10),
    )
    .await?;
    let mut doc = AutoCommit::new();
    let mut state = SyncState::new();
    let outcome = conn
        .sync_documents(
            &mut [SyncTarget {
                id,
                doc: &mut doc,
                state: &mut state,
            }],
            Duration::from_secs(10),
        )
        .await?;
    conn.close().await;
    Ok((!outcome[0].unavailable).then_some(doc))
}

async fn phone_syncs_and_devices_converge(app: Arc<TestApp>) {
    let clinic = app.create_clinic("North").await;
    let patient = app.enrolled_patient(clinic, "PD-1001").await;
    let doc_patient = DocPatientId::from_uuid(patient.patient_id.unwrap().uuid());
    let nurse = app.create_staff(clinic, Role::Nurse).await;
    app.add_to_care_team(patient.patient_id.unwrap(), nurse.user_id)
        .await;
    let tmp = tempfile::tempdir().unwrap();
    let now = Utc::now();
    let month: paindiary_sync::ids::Month =
        paindiary_sync::ids::Month::of(now.date_naive()).unwrap();

    // The phone logs two entries offline, then syncs.
    let mut phone =
        Replica::open(tmp.path().join("phone"), doc_patient, Durability::Buffered).unwrap();
    let first = phone
        .record(&pain(6.0, now - TimeDelta::hours(2)), now)
        .unwrap();
    phone
        .record(&pain(4.0, now - TimeDelta::hours(1)), now)
        .unwrap();
    let report = phone
        .sync(&app.sync_endpoint(&patient.token))
        .await
        .unwrap();
    assert!(
        report.unavailable.is_empty() || report.unavailable.len() <= 1,
        "{report:?}"
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM documents WHERE kind = 'diary_month'")
            .await,
        1
    );
    // The new month was opened once on that connection, and the audit trail says so
    // once: storing its first change does not count as a second open.
    let new_month = DocKind::DiaryMonth {
        patient: doc_patient,
        month,
    }
    .document_id();
    assert_eq!(
        app.count_with(
            "SELECT COUNT(*) FROM audit_events WHERE action = 'document.open' AND target = $1",
            vec![new_month.to_string().into()],
        )
        .await,
        1
    );

    // The patient's index now lists the month, and a tablet learns it from there.
    let mut tablet =
        Replica::open(tmp.path().join("tablet"), doc_patient, Durability::Buffered).unwrap();
    tablet
        .sync(&app.sync_endpoint(&patient.token))
        .await
        .unwrap();
    let on_tablet = tablet.entries(month).unwrap();
    assert_eq!(on_tablet.entries.len(), 2);

    // Offline on both: the phone raises the score, the tablet adds a note and an entry.
    let edited = now + TimeDelta::minutes(5);
    phone
        .edit(
            month,
            EntryKind::Pain,
            &first,
            &[("score", FieldValue::Int(8))],
            edited,
        )
        .unwrap();
    tablet
        .edit(
            month,
            EntryKind::Pain,
            &first,
            &[("note", FieldValue::Text("after the walk".into()))],
            edited,
        )
        .unwrap();
    tablet
        .record(&pain(5.0, now - TimeDelta::minutes(30)), edited)
        .unwrap();
    phone
        .sync(&app.sync_endpoint(&patient.token))
        .await
        .unwrap();
    tablet
        .sync(&app.sync_endpoint(&patient.token))
        .await
        .unwrap();
    phone
        .sync(&app.sync_endpoint(&patient.token))
        .await
        .unwrap();
    let on_phone = phone.entries(month).unwrap();
    let on_tablet = tablet.entries(month).unwrap();
    assert_eq!(on_phone, on_tablet);
    assert_eq!(on_phone.entries.len(), 3);
    let merged = on_phone.entries.iter().find(|e| e.id == first).unwrap();
    match &merged.entry {
        Entry::Pain(p) => {
            assert_eq!(p.score, 8.0);
            assert_eq!(p.note.as_deref(), Some("after the walk"));
        }
        other => panic!("{other:?}"),
    }

    // The server's copy agrees, as its care team sees it.
    let month_id = DocKind::DiaryMonth {
        patient: doc_patient,
        month,
    }
    .document_id();
    let server_copy = fetch(&app, &nurse.token, month_id)
        .await
        .unwrap()
        .expect("nurse reads the diary");
    assert_eq!(read_entries(&server_copy), on_phone);

    // The projection agrees with the merged document: three live, valid pain rows, the
    // edited one with both devices' changes.
    assert_eq!(
        app.count("SELECT COUNT(*) FROM pain_entries WHERE valid AND NOT deleted")
            .await,
        3
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM pain_entries WHERE score = 8 AND note = 'after the walk'",)
            .await,
        1
    );

    // Every write was audited against the patient.
    assert!(
        app.count("SELECT COUNT(*) FROM audit_events WHERE action = 'document.write'")
            .await
            >= 3
    );
    assert!(
        app.count("SELECT COUNT(*) FROM audit_events WHERE action = 'document.open'")
            .await
            >= 3
    );
}
story!(phone_syncs_and_devices_converge);

async fn nobody_else_sees_a_patients_documents(app: Arc<TestApp>) {
    let clinic = app.create_clinic("North").await;
    let alice = app.enrolled_patient(clinic, "PD-2001").await;
    let bob = app.enrolled_patient(clinic, "PD-2002").await;
    let outsider = app.create_staff(clinic, Role::Physician).await;
    let admin = app.create_staff(clinic, Role::Admin).await;
    let alice_doc = DocPatientId::from_uuid(alice.patient_id.unwrap().uuid());
    let tmp = tempfile::tempdir().unwrap();
    let mut phone =
        Replica::open(tmp.path().join("alice"), alice_doc, Durability::Buffered).unwrap();
    let now = Utc::now();
    phone
        .record(&pain(7.0, now - TimeDelta::hours(1)), now)
        .unwrap();
    phone.sync(&app.sync_endpoint(&alice.token)).await.unwrap();

    let month = paindiary_sync::ids::Month::of(now.date_naive()).unwrap();
    for kind in [
        DocKind::DiaryMonth {
            patient: alice_doc,
            month,
        },
        DocKind::Index { patient: alice_doc },
        DocKind::CarePlan { patient: alice_doc },
    ] {
        for token in [&bob.token, &outsider.token, &admin.token] {
            let fetched = fetch(&app, token, kind.document_id()).await.unwrap();
            assert!(fetched.is_none(), "{kind:?} leaked");
        }
        // A random ID that does not exist answers exactly the same way.
        assert!(
            fetch(&app, &bob.token, DocumentId::random())
                .await
                .unwrap()
                .is_none()
        );
    }

    // Bob cannot plant a document under Alice's derived month ID.
    let mut forged =
        Replica::open(tmp.path().join("bob"), alice_doc, Durability::Buffered).unwrap();
    forged
        .record(&pain(1.0, now - TimeDelta::hours(1)), now)
        .unwrap();
    let report = forged.sync(&app.sync_endpoint(&bob.token)).await.unwrap();
    assert!(!report.unavailable.is_empty());
    let nurse_view = fetch(
        &app,
        &alice.token,
        DocKind::DiaryMonth {
            patient: alice_doc,
            month,
        }
        .document_id(),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(
        read_entries(&nurse_view).entries.len(),
        1,
        "Bob's entry must not reach Alice's diary"
    );

    // A patient's own month under a wrong ID (another month's content) is refused too.
    let denied = app.count("SELECT COUNT(*) FROM audit_events WHERE action = 'document.open' AND outcome = 'denied'",
    )
    .await;
    assert!(denied >= 6);
}
story!(nobody_else_sees_a_patients_documents);

async fn bad_input_gets_a_clear_close_and_others_are_unaffected(app: Arc<TestApp>) {
    let clinic = app.create_clinic("North").await;
    let alice = app.enrolled_patient(clinic, "PD-3001").await;
    let url = format!("{}/sync", app.base_url.replace("http://", "ws://"));

    // No token, a wrong token: the upgrade itself is refused with 401.
    for token in [None, Some("pdt_nope")] {
        let result = Connection::connect(
            &ServerEndpoint {
                url: url.clone(),
                token: token.map(str::to_owned),
            },
            PeerId::new("x").unwrap(),
            None,
            Duration::from_secs(5),
        )
        .await;
        assert!(
            matches!(result, Err(SyncError::Refused(401))),
            "{:?}",
            result.err()
        );
    }

    // A healthy peer stays connected while others misbehave.
    let healthy = Connection::connect(
        &app.sync_endpoint(&alice.token),
        PeerId::new("healthy").unwrap(),
        None,
        Duration::from_secs(5),
    )
    .await
    .unwrap();

    // Garbage bytes: an error message naming the problem, then a close.
    let mut raw = Connection::connect(
        &app.sync_endpoint(&alice.token),
        PeerId::new("raw").unwrap(),
        None,
        Duration::from_secs(5),
    )
    .await
    .unwrap();
    raw.send_raw(vec![0xa1, 0x64, 0x74, 0x79]).await.unwrap();
    match raw.recv().await {
        Ok(Message::Error { message }) => {
            assert!(message.starts_with("invalid message"), "{message}")
        }
        other => panic!("expected an error message, got {other:?}"),
    }
    assert!(
        matches!(raw.recv().await, Err(SyncError::Closed(Some(reason))) if reason.starts_with("1007"))
    );

    // A forged senderId.
    let mut forger = Connection::connect(
        &app.sync_endpoint(&alice.token),
        PeerId::new("me").unwrap(),
        None,
        Duration::from_secs(5),
    )
    .await
    .unwrap();
    let server = forger.server_id().clone();
    forger
        .send(&Message::Sync {
            document_id: DocumentId::random(),
            sender_id: PeerId::new("someone-else").unwrap(),
            target_id: server,
            data: vec![0x42, 0, 0, 0, 0],
            doc_type: None,
        })
        .await
        .unwrap();
    match forger.recv().await {
        Ok(Message::Error { message }) => assert!(message.contains("senderId"), "{message}"),
        other => panic!("expected an error message, got {other:?}"),
    }

    // A sync message that is not Automerge (right first byte, garbage after).
    let mut liar = Connection::connect(
        &app.sync_endpoint(&alice.token),
        PeerId::new("liar").unwrap(),
        None,
        Duration::from_secs(5),
    )
    .await
    .unwrap();
    let server = liar.server_id().clone();
    let alice_doc = DocPatientId::from_uuid(alice.patient_id.unwrap().uuid());
    liar.send(&Message::Sync {
        document_id: DocKind::Index { patient: alice_doc }.document_id(),
        sender_id: PeerId::new("liar").unwrap(),
        target_id: server,
        data: vec![0x42, 0xff, 0xff, 0xff],
        doc_type: None,
    })
    .await
    .unwrap();
    match liar.recv().await {
        Ok(Message::Error { message }) => {
            assert!(message.contains("invalid sync message"), "{message}")
        }
        other => panic!("expected an error message, got {other:?}"),
    }

    // The healthy peer still syncs.
    drop(healthy);
    let tmp = tempfile::tempdir().unwrap();
    let mut phone = Replica::open(tmp.path(), alice_doc, Durability::Buffered).unwrap();
    let now = Utc::now();
    phone
        .record(&pain(3.0, now - TimeDelta::hours(1)), now)
        .unwrap();
    phone.sync(&app.sync_endpoint(&alice.token)).await.unwrap();

    // A revoked device token can no longer connect.
    let (status, devices) = app.get("/api/v1/me/devices", &alice.token).await;
    assert!(status.is_success());
    let id = devices["devices"].as_array().unwrap()[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, _) = app
        .call(
            reqwest::Method::DELETE,
            &format!("/api/v1/me/devices/{id}"),
            Some(&alice.token),
            None,
        )
        .await;
    assert!(status.is_success());
    let result = phone.sync(&app.sync_endpoint(&alice.token)).await;
    assert!(matches!(
        result,
        Err(paindiary_sync::replica::ReplicaError::Sync(
            SyncError::Refused(401)
        ))
    ));
}
story!(bad_input_gets_a_clear_close_and_others_are_unaffected);

async fn restart_keeps_everything_and_resumes_without_history(app: Arc<TestApp>) {
    let clinic = app.create_clinic("North").await;
    let alice = app.enrolled_patient(clinic, "PD-4001").await;
    let alice_doc = DocPatientId::from_uuid(alice.patient_id.unwrap().uuid());
    let tmp = tempfile::tempdir().unwrap();
    let mut phone = Replica::open(tmp.path(), alice_doc, Durability::Buffered).unwrap();
    let today = Utc::now();
    for day in 0..20 {
        let at = Utc.from_utc_datetime(
            &(today.date_naive() - chrono::Days::new(day))
                .and_hms_opt(9, 0, 0)
                .unwrap(),
        );
        phone.record(&pain(5.0, at), today).unwrap();
    }
    phone
        .sync_scope(&app.sync_endpoint(&alice.token), SyncScope::All, today)
        .await
        .unwrap();

    // The server restarts (a second server on the same database stands in for it).
    app.trigger_shutdown();
    assert!(
        app.wait_stopped(Duration::from_secs(30)).await.is_some(),
        "server did not stop"
    );
    let replica = app.spawn_replica().await;
    let url = format!("{}/sync", replica.base_url.replace("http://", "ws://"));
    let endpoint = ServerEndpoint {
        url,
        token: Some(alice.token.clone()),
    };
    phone
        .record(&pain(6.0, today - TimeDelta::minutes(10)), today)
        .unwrap();
    let report = phone
        .sync_scope(&endpoint, SyncScope::Recent, today)
        .await
        .unwrap();
    assert!(
        report.bytes_sent < 3_000,
        "resuming sent {} bytes: history was resent",
        report.bytes_sent
    );
    let mut fresh =
        Replica::open(tmp.path().join("fresh"), alice_doc, Durability::Buffered).unwrap();
    fresh
        .sync_scope(&endpoint, SyncScope::All, today)
        .await
        .unwrap();
    let total: usize = fresh
        .months()
        .unwrap()
        .into_iter()
        .map(|m| fresh.entries(m).unwrap().entries.len())
        .sum();
    assert_eq!(total, 21);
    replica.stop().await;
}
story!(restart_keeps_everything_and_resumes_without_history);

async fn compaction_and_eviction_keep_every_entry(app: Arc<TestApp>) {
    let clinic = app.create_clinic("North").await;
    let now = Utc::now();
    let tmp = tempfile::tempdir().unwrap();
    let mut patients = Vec::new();
    for n in 0..6 {
        let patient = app.enrolled_patient(clinic, &format!("PD-50{n:02}")).await;
        let doc_patient = DocPatientId::from_uuid(patient.patient_id.unwrap().uuid());
        let mut phone = Replica::open(
            tmp.path().join(format!("p{n}")),
            doc_patient,
            Durability::Buffered,
        )
        .unwrap();
        // One sync per entry: each stores a chunk, so the month passes the compaction
        // threshold (5 in this app) several times.
        for k in 0..12 {
            phone
                .record(
                    &pain(
                        f64::from(k % 10),
                        now - TimeDelta::minutes(i64::from(k) + 1),
                    ),
                    now,
                )
                .unwrap();
            phone
                .sync(&app.sync_endpoint(&patient.token))
                .await
                .unwrap();
        }
        patients.push((patient, doc_patient));
    }
    let month = paindiary_sync::ids::Month::of(now.date_naive()).unwrap();
    // Compacted: far fewer chunks than the 12 syncs wrote per month.
    let chunks = app.count("SELECT COUNT(*) FROM document_chunks c JOIN documents d ON d.id = c.document_id WHERE d.kind = 'diary_month'",
    )
    .await;
    assert!(
        chunks <= 6 * 6,
        "{chunks} chunks for 6 months: compaction did not run"
    );
    assert!(
        app.count("SELECT COUNT(*) FROM document_chunks WHERE snapshot")
            .await
            >= 6,
        "no snapshot chunks"
    );
    // Every stored document says when its storage last changed: its newest chunk.
    assert_eq!(
        app.count(
            "SELECT COUNT(*) FROM documents d WHERE d.updated_at <> \
             (SELECT MAX(c.created_at) FROM document_chunks c WHERE c.document_id = d.id)"
        )
        .await,
        0,
        "a document's updated_at is not its newest chunk's time"
    );

    // The cache stays within its (tiny) budget once phones are gone: idle documents left.
    assert!(
        app.hub.cached_bytes() <= app.config().sync.memory_budget_bytes,
        "cache holds {} bytes over a budget of {}",
        app.hub.cached_bytes(),
        app.config().sync.memory_budget_bytes
    );
    assert!(
        app.hub.cached_documents() < 6 * 2,
        "{} documents still cached",
        app.hub.cached_documents()
    );

    // Evicted and compacted documents load again with every entry.
    for (patient, doc_patient) in &patients {
        let id = DocKind::DiaryMonth {
            patient: *doc_patient,
            month,
        }
        .document_id();
        let doc = fetch(&app, &patient.token, id).await.unwrap().unwrap();
        assert_eq!(read_entries(&doc).entries.len(), 12);
    }
}

story!(compaction_and_eviction_keep_every_entry, |config| {
    config.sync.compact_after_chunks = 5;
    config.sync.memory_budget_bytes = 96 * 1024;
});

/// A phone that kept a month offline brings all of it in one sync. The server stores it
/// as one saved document, several times smaller than the changes it holds (what the
/// database grows by, and what every later load reads), and later entries as small
/// chunks after it; evicted and loaded again, nothing is missing.
async fn a_month_brought_at_once_is_stored_compactly(app: Arc<TestApp>) {
    let clinic = app.create_clinic("North").await;
    let patient = app.enrolled_patient(clinic, "PD-6001").await;
    let doc_patient = DocPatientId::from_uuid(patient.patient_id.unwrap().uuid());
    let tmp = tempfile::tempdir().unwrap();
    let mut phone = Replica::open(tmp.path(), doc_patient, Durability::Buffered).unwrap();
    let now = Utc::now();
    let month = paindiary_sync::ids::Month::of(now.date_naive()).unwrap();
    let mut at = now;
    for k in 0..120 {
        // Earlier and earlier, but within this month.
        let earlier = at - TimeDelta::seconds(20);
        if paindiary_sync::ids::Month::of(earlier.date_naive()).unwrap() == month {
            at = earlier;
        }
        phone.record(&pain(f64::from(k % 10), at), now).unwrap();
    }
    phone
        .sync(&app.sync_endpoint(&patient.token))
        .await
        .unwrap();
    let id = DocKind::DiaryMonth {
        patient: doc_patient,
        month,
    }
    .document_id();
    let rows = |filter: &'static str| {
        let app = &app;
        async move {
            app.count_with(
                &format!("SELECT COUNT(*) FROM document_chunks WHERE document_id = $1{filter}"),
                vec![id.to_string().into()],
            )
            .await
        }
    };
    assert_eq!(rows("").await, 1, "the month's first sync is one row");
    assert_eq!(rows(" AND snapshot").await, 1, "and a saved document");
    let stored = app
        .count_with(
            "SELECT SUM(LENGTH(bytes)) FROM document_chunks WHERE document_id = $1",
            vec![id.to_string().into()],
        )
        .await;

    let mut doc = fetch(&app, &patient.token, id).await.unwrap().unwrap();
    assert_eq!(read_entries(&doc).entries.len(), 120);
    let changes: usize = doc
        .get_changes(&[])
        .iter()
        .map(|c| c.raw_bytes().len())
        .sum();
    assert!(
        stored * 3 < changes as i64,
        "stored {stored} bytes for {changes} bytes of changes"
    );

    // The next entry is a small chunk after the snapshot, not a new snapshot.
    phone.record(&pain(4.0, now), now).unwrap();
    phone
        .sync(&app.sync_endpoint(&patient.token))
        .await
        .unwrap();
    assert_eq!(rows("").await, 2);
    assert_eq!(rows(" AND snapshot").await, 1);

    // After a restart (a second server on the same database, nothing cached), the month
    // loads from those two rows with every entry.
    app.trigger_shutdown();
    assert!(
        app.wait_stopped(Duration::from_secs(30)).await.is_some(),
        "server did not stop"
    );
    let replica = app.spawn_replica().await;
    let endpoint = ServerEndpoint {
        url: format!("{}/sync", replica.base_url.replace("http://", "ws://")),
        token: Some(patient.token.clone()),
    };
    let doc = fetch_at(&endpoint, id).await.unwrap().unwrap();
    assert_eq!(read_entries(&doc).entries.len(), 121);
    replica.stop().await;
}

story!(a_month_brought_at_once_is_stored_compactly);

async fn oversized_documents_and_expired_tokens_are_refused(app: Arc<TestApp>) {
    let clinic = app.create_clinic("North").await;
    let alice = app.enrolled_patient(clinic, "PD-6001").await;
    let alice_doc = DocPatientId::from_uuid(alice.patient_id.unwrap().uuid());
    let tmp = tempfile::tempdir().unwrap();
    let mut phone = Replica::open(tmp.path(), alice_doc, Durability::Buffered).unwrap();
    let now = Utc::now();
    phone
        .record(&pain(4.0, now - TimeDelta::hours(2)), now)
        .unwrap();
    phone.sync(&app.sync_endpoint(&alice.token)).await.unwrap();

    // Past the configured size limit (8 KiB here) the change is refused with a clear
    // error and nothing of it is stored; what was stored before stays.
    for k in 0..60 {
        phone
            .record(&pain(5.0, now - TimeDelta::minutes(k + 1)), now)
            .unwrap();
    }
    match phone.sync(&app.sync_endpoint(&alice.token)).await {
        Err(paindiary_sync::replica::ReplicaError::Sync(SyncError::Server(message))) => {
            assert!(message.contains("over the size limit"), "{message}")
        }
        other => panic!("expected a size-limit error, got {other:?}"),
    }
    let month = paindiary_sync::ids::Month::of(now.date_naive()).unwrap();
    let stored = fetch(
        &app,
        &alice.token,
        DocKind::DiaryMonth {
            patient: alice_doc,
            month,
        }
        .document_id(),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(read_entries(&stored).entries.len(), 1);

    // A device token past its lifetime can no longer open a sync connection.
    app.clock.advance(chrono::Duration::days(91));
    let result = Connection::connect(
        &app.sync_endpoint(&alice.token),
        PeerId::new("late").unwrap(),
        None,
        Duration::from_secs(5),
    )
    .await;
    assert!(
        matches!(result, Err(SyncError::Refused(401))),
        "{:?}",
        result.err()
    );
}

story!(
    oversized_documents_and_expired_tokens_are_refused,
    |config| { config.sync.max_document_bytes = 8 * 1024 }
);
