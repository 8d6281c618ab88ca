//! Access withdrawn while a sync session is open (a revoked device, a clinician leaving
//! the care team, an expired token) and the erasure of a patient: live sessions end with
//! a clear close, the data goes, and nobody else is affected. SQLite and PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use automerge::AutoCommit;
use automerge::sync::State as SyncState;
use chrono::{TimeDelta, Utc};
use paindiary_server::domain::Role;
use paindiary_sync::ids::{DocumentId, Month, PatientId as DocPatientId};
use paindiary_sync::protocol::{Message, PeerId};
use paindiary_sync::replica::{Connection, Durability, Replica, SyncError, SyncTarget};
use paindiary_sync::schema::care_plan::{Section, put_item};
use paindiary_sync::schema::month::{FieldValue, read_entries};
use paindiary_sync::schema::{DocKind, Entry, EntryMeta, PainEntry};
use paindiary_tests::{TestApp, story};
use reqwest::{Method, StatusCode};

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
        locations: vec![],
        location_note: None,
        qualities: vec![],
        note: None,
    })
}

/// Rows of `table` about `patient`, optionally narrowed by `and` (SQL over constants).
async fn rows_about(app: &TestApp, table: &str, patient: uuid::Uuid, and: &str) -> i64 {
    app.count_with(
        &format!("SELECT COUNT(*) FROM {table} WHERE patient_id = $1 {and}"),
        vec![patient.into()],
    )
    .await
}

/// A phone with one synced pain entry; returns its month document's ID.
async fn phone_with_one_entry(app: &TestApp, token: &str, patient: DocPatientId) -> DocumentId {
    let tmp = tempfile::tempdir().unwrap();
    let mut phone = Replica::open(tmp.path(), patient, Durability::Buffered).unwrap();
    let now = Utc::now();
    phone
        .record(&pain(5.0, now - TimeDelta::hours(1)), now)
        .unwrap();
    phone.sync(&app.sync_endpoint(token)).await.unwrap();
    DocKind::DiaryMonth {
        patient,
        month: Month::of(now.date_naive()).unwrap(),
    }
    .document_id()
}

/// A live session with `id` open (synced once); the caller then watches how it ends.
/// Returns the connection and how many entries the document held.
async fn open_session(app: &TestApp, token: &str, id: DocumentId) -> (Connection, usize) {
    let mut conn = Connection::connect(
        &app.sync_endpoint(token),
        PeerId::new(format!("live-{}", uuid::Uuid::new_v4().simple())).unwrap(),
        None,
        Duration::from_secs(10),
    )
    .await
    .unwrap();
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
        .await
        .unwrap();
    assert!(!outcome[0].unavailable, "the session could open {id}");
    (conn, read_entries(&doc).entries.len())
}

/// Reads until the server ends the session; returns the error message it sent (if any)
/// and the close frame (`"<code> <reason>"`). Fails if the session stays open 10 s.
async fn session_end(conn: &mut Connection) -> (Option<String>, String) {
    let mut told = None;
    let end = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match conn.recv().await {
                Ok(Message::Error { message }) => told = Some(message),
                Ok(_) => continue,
                Err(SyncError::Closed(Some(frame))) => return frame,
                Err(other) => panic!("expected a close frame, got {other:?}"),
            }
        }
    })
    .await
    .expect("the server ended the session within 10 s");
    (told, end)
}

/// The session is still open: a sync round on it completes.
async fn still_syncs(conn: &mut Connection, id: DocumentId) {
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
        .await
        .unwrap();
    assert!(!outcome[0].unavailable);
    assert_eq!(read_entries(&doc).entries.len(), 1);
}

async fn withdrawn_access_ends_live_sessions(app: Arc<TestApp>) {
    let clinic = app.create_clinic("North").await;
    let admin = app.create_staff(clinic, Role::Admin).await;
    let alice = app.enrolled_patient(clinic, "PD-7001").await;
    let alice_id = alice.patient_id.unwrap();
    let doc_patient = DocPatientId::from_uuid(alice_id.uuid());
    let nurse = app.create_staff(clinic, Role::Nurse).await;
    let physio = app.create_staff(clinic, Role::PhysicalTherapist).await;
    app.add_to_care_team(alice_id, nurse.user_id).await;
    app.add_to_care_team(alice_id, physio.user_id).await;
    let month = phone_with_one_entry(&app, &alice.token, doc_patient).await;

    // Alice's tablet, her phone, the nurse and the physiotherapist all have the month open.
    let tablet_token = app
        .login_ok(&alice.email, &alice.password, Some("tablet"))
        .await;
    let (mut tablet, entries) = open_session(&app, &tablet_token, month).await;
    assert_eq!(entries, 1);
    let (mut phone, _) = open_session(&app, &alice.token, month).await;
    let (mut nurse_session, entries) = open_session(&app, &nurse.token, month).await;
    assert_eq!(entries, 1);
    let (mut physio_session, _) = open_session(&app, &physio.token, month).await;

    // Alice revokes the tablet from her phone: the tablet's session ends at once with a
    // policy close telling it to log in again; the phone's session carries on.
    let (status, body) = app.get("/api/v1/me/devices", &alice.token).await;
    assert_eq!(status, StatusCode::OK);
    let tablet_device = body["devices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["device_name"] == "tablet")
        .expect("the tablet is listed")["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, _) = app
        .call(
            Method::DELETE,
            &format!("/api/v1/me/devices/{tablet_device}"),
            Some(&alice.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (told, frame) = session_end(&mut tablet).await;
    assert!(frame.starts_with("1008"), "{frame}");
    assert!(
        told.as_deref().unwrap_or_default().contains("log in again"),
        "{told:?}"
    );
    still_syncs(&mut phone, month).await;

    // The admin takes the nurse off the care team: her open session ends; the physio's
    // does not.
    let (status, body) = app
        .call(
            Method::DELETE,
            &format!(
                "/api/v1/admin/patients/{}/care-team/{}",
                alice_id.uuid(),
                nurse.user_id.uuid()
            ),
            Some(&admin.token),
            None,
        )
        .await;
    assert!(status.is_success(), "{status} {body}");
    let (told, frame) = session_end(&mut nurse_session).await;
    assert!(frame.starts_with("1008"), "{frame}");
    assert!(
        told.as_deref().unwrap_or_default().contains("withdrawn"),
        "{told:?}"
    );
    still_syncs(&mut physio_session, month).await;

    // Reconnecting, the nurse gets doc-unavailable, exactly as for a missing document.
    let mut again = Connection::connect(
        &app.sync_endpoint(&nurse.token),
        PeerId::new("nurse-again").unwrap(),
        None,
        Duration::from_secs(10),
    )
    .await
    .unwrap();
    let mut doc = AutoCommit::new();
    let mut state = SyncState::new();
    let outcome = again
        .sync_documents(
            &mut [SyncTarget {
                id: month,
                doc: &mut doc,
                state: &mut state,
            }],
            Duration::from_secs(10),
        )
        .await
        .unwrap();
    assert!(outcome[0].unavailable);
    again.close().await;
    phone.close().await;
    physio_session.close().await;
}
story!(withdrawn_access_ends_live_sessions);

async fn an_expired_token_ends_its_session_at_the_next_recheck(app: Arc<TestApp>) {
    let clinic = app.create_clinic("North").await;
    let alice = app.enrolled_patient(clinic, "PD-7101").await;
    let doc_patient = DocPatientId::from_uuid(alice.patient_id.unwrap().uuid());
    let month = phone_with_one_entry(&app, &alice.token, doc_patient).await;
    let (mut session, _) = open_session(&app, &alice.token, month).await;

    // Nobody revokes anything: the token simply outlives its lifetime while connected.
    app.clock.advance(chrono::Duration::days(91));
    let (told, frame) = session_end(&mut session).await;
    assert!(frame.starts_with("1008"), "{frame}");
    assert!(
        told.as_deref().unwrap_or_default().contains("log in again"),
        "{told:?}"
    );
}

story!(
    an_expired_token_ends_its_session_at_the_next_recheck,
    |config| { config.sync.session_recheck_secs = 1 }
);

async fn erasing_a_patient_removes_their_data_and_nothing_else(app: Arc<TestApp>) {
    let clinic = app.create_clinic("North").await;
    let admin = app.create_staff(clinic, Role::Admin).await;
    let nurse = app.create_staff(clinic, Role::Nurse).await;
    let alice = app.enrolled_patient(clinic, "PD-7201").await;
    let bob = app.enrolled_patient(clinic, "PD-7202").await;
    let (alice_id, bob_id) = (alice.patient_id.unwrap(), bob.patient_id.unwrap());
    for p in [alice_id, bob_id] {
        app.add_to_care_team(p, nurse.user_id).await;
    }
    let alice_doc = DocPatientId::from_uuid(alice_id.uuid());
    let alice_month = phone_with_one_entry(&app, &alice.token, alice_doc).await;
    let bob_month =
        phone_with_one_entry(&app, &bob.token, DocPatientId::from_uuid(bob_id.uuid())).await;
    // Both have one prescription in their care plan.
    for p in [alice_id, bob_id] {
        app.sync_care_plan(&nurse.token, p, |doc| {
            put_item(
                doc,
                Section::Medications,
                "item-0",
                &[
                    ("drug", FieldValue::Text("Gabapentin".into())),
                    ("times_per_day", FieldValue::Float(3.0)),
                ],
                Utc::now(),
            )
            .unwrap();
        })
        .await;
    }
    // Reads leave audit rows for both patients.
    assert_eq!(
        app.get(
            &format!("/api/v1/patients/{}", alice_id.uuid()),
            &nurse.token
        )
        .await
        .0,
        StatusCode::OK
    );
    let (mut alice_live, _) = open_session(&app, &alice.token, alice_month).await;
    let (mut nurse_on_bob, _) = open_session(&app, &nurse.token, bob_month).await;
    let bob_audit_before = rows_about(&app, "audit_events", bob_id.uuid(), "").await;

    // A nurse may not erase; another clinic's admin sees no such patient.
    let path = format!("/api/v1/admin/patients/{}", alice_id.uuid());
    let (status, _) = app
        .call(Method::DELETE, &path, Some(&nurse.token), None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let elsewhere = app.create_clinic("South").await;
    let other_admin = app.create_staff(elsewhere, Role::Admin).await;
    let (status, _) = app
        .call(Method::DELETE, &path, Some(&other_admin.token), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        rows_about(&app, "pain_entries", alice_id.uuid(), "").await,
        1
    );

    let (status, report) = app
        .call(Method::DELETE, &path, Some(&admin.token), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert!(report["documents"].as_u64().unwrap() >= 2, "{report}");
    // The pain entry, the care plan's projection row and its prescription.
    assert_eq!(report["projected_rows"], 3, "{report}");
    assert!(report["tokens_revoked"].as_u64().unwrap() >= 1, "{report}");

    // Alice's live session ends; her data is gone from every table.
    let (_, frame) = session_end(&mut alice_live).await;
    assert!(frame.starts_with("1008"), "{frame}");
    for table in [
        "documents",
        "pain_entries",
        "care_plan_projections",
        "care_plan_medications",
        "care_team_members",
        "invitations",
    ] {
        assert_eq!(
            rows_about(&app, table, alice_id.uuid(), "").await,
            0,
            "{table}"
        );
    }
    assert_eq!(
        app.count(
            "SELECT COUNT(*) FROM document_chunks c WHERE NOT EXISTS \
             (SELECT 1 FROM documents d WHERE d.id = c.document_id)"
        )
        .await,
        0
    );
    // The audit trail keeps only the fact of the erasure, with who did it.
    assert_eq!(
        rows_about(&app, "audit_events", alice_id.uuid(), "").await,
        1
    );
    assert_eq!(
        rows_about(
            &app,
            "audit_events",
            alice_id.uuid(),
            "AND action = 'patient.erase' AND actor_user_id IS NOT NULL"
        )
        .await,
        1
    );

    // Her devices can no longer sign in or sync; the nurse no longer finds her.
    let (status, _) = app.get("/api/v1/me", &alice.token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let refused = Connection::connect(
        &app.sync_endpoint(&alice.token),
        PeerId::new("old-phone").unwrap(),
        None,
        Duration::from_secs(5),
    )
    .await;
    assert!(
        matches!(refused, Err(SyncError::Refused(401))),
        "{:?}",
        refused.err()
    );
    let (status, body) = app
        .post(
            "/api/v1/auth/login",
            None,
            serde_json::json!({"email": alice.email, "password": alice.password}),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let (status, _) = app
        .get(
            &format!("/api/v1/patients/{}", alice_id.uuid()),
            &nurse.token,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, list) = app.get("/api/v1/patients", &nurse.token).await;
    assert!(!list.to_string().contains(&alice_id.uuid().to_string()));
    let (status, _) = app
        .call(Method::DELETE, &path, Some(&admin.token), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "erasing twice");

    // Bob is untouched, and the nurse's session on his month carries on.
    still_syncs(&mut nurse_on_bob, bob_month).await;
    assert_eq!(rows_about(&app, "pain_entries", bob_id.uuid(), "").await, 1);
    assert_eq!(
        rows_about(&app, "care_plan_medications", bob_id.uuid(), "").await,
        1
    );
    assert!(rows_about(&app, "audit_events", bob_id.uuid(), "").await >= bob_audit_before);
    nurse_on_bob.close().await;
}
story!(erasing_a_patient_removes_their_data_and_nothing_else);
