//! What a sync client cannot make the server do: loop on a change it may not make, send
//! frames past the size limit without being told, or flood messages faster than the
//! configured pace. Real WebSocket clients (the JS automerge-repo 2.5.6 client in
//! tests/js and our raw protocol connection) against the spawned server, on SQLite and
//! PostgreSQL.
//!
//! Needs `node` and `npm ci --prefix tests/js`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use automerge::sync::{State as SyncState, SyncDoc};
use automerge::{AutoCommit, ROOT, ReadDoc};
use chrono::Utc;
use paindiary_server::domain::Role;
use paindiary_sync::ids::{DocumentId, PatientId as DocPatientId};
use paindiary_sync::protocol::{Message, PeerId};
use paindiary_sync::replica::{Connection, SyncError, SyncTarget};
use paindiary_sync::schema::DocKind;
use paindiary_sync::schema::care_plan;
use paindiary_sync::schema::month::FieldValue;
use paindiary_tests::{TestApp, story};
use serde_json::{Value, json};

fn js_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("js")
}

fn ws_url(app: &TestApp) -> String {
    format!("{}/sync", app.base_url.replace("http://", "ws://"))
}

/// The server's copy of a document, synced over a fresh connection as `token`.
async fn fetch(app: &TestApp, token: &str, id: DocumentId) -> AutoCommit {
    let mut conn = Connection::connect(
        &app.sync_endpoint(token),
        PeerId::new(format!("reader-{}", uuid::Uuid::new_v4().simple())).unwrap(),
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
    assert!(!outcome[0].unavailable);
    conn.close().await;
    doc
}

/// Runs `client.mjs refused-change` as `token` on `url`; once it has made its change (it
/// says so on stderr), `meanwhile` runs; returns the client's JSON report.
async fn refused_change<F, Fut>(
    app: &TestApp,
    token: &str,
    url: &str,
    path: &str,
    expect: (&str, Value),
    meanwhile: F,
) -> Value
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = ()>,
{
    let dir = js_dir();
    assert!(
        dir.join("node_modules/@automerge/automerge-repo").is_dir(),
        "the JS peers are not installed: run `npm ci --prefix tests/js`"
    );
    let mut child = Command::new("node")
        .arg(dir.join("client.mjs"))
        .args([
            "refused-change",
            "--server",
            &ws_url(app),
            "--token",
            token,
            "--url",
            url,
            "--path",
            path,
            "--value",
            "\"not mine to write\"",
            "--expect-path",
            expect.0,
            "--expect-value",
            &expect.1.to_string(),
            "--watch",
            "2",
            "--timeout",
            "30",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node must be installed");
    let stderr = child.stderr.take().unwrap();
    let (changed_tx, changed_rx) = tokio::sync::oneshot::channel::<()>();
    let stderr_lines = std::thread::spawn(move || {
        let mut changed_tx = Some(changed_tx);
        let mut text = String::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line == "changed"
                && let Some(tx) = changed_tx.take()
            {
                let _ = tx.send(());
            }
            text.push_str(&line);
            text.push('\n');
        }
        text
    });
    tokio::time::timeout(Duration::from_secs(30), changed_rx)
        .await
        .expect("the JS client did not make its change in time")
        .expect("the JS client exited before making its change");
    meanwhile().await;
    let output = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    let stderr = stderr_lines.join().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let report: Value = serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .unwrap_or_else(|_| panic!("client.mjs printed {stdout:?}; stderr: {stderr}"));
    assert!(output.status.success(), "{report}; stderr: {stderr}");
    report
}

/// The stock client's refused change used to loop (`need` -> heads -> `need`, 2,000+
/// messages a second, forever): now it costs a handful of messages, the client is told
/// which document refused it and why, and it keeps receiving the document's changes.
async fn a_refused_change_costs_a_few_messages_and_reads_go_on(app: Arc<TestApp>) {
    let clinic = app.create_clinic("North").await;
    let patient = app.enrolled_patient(clinic, "PD-9101").await;
    let patient_id = patient.patient_id.unwrap();
    let nurse = app.create_staff(clinic, Role::Nurse).await;
    app.add_to_care_team(patient_id, nurse.user_id).await;
    let care_plan = DocKind::CarePlan {
        patient: DocPatientId::from_uuid(patient_id.uuid()),
    }
    .document_id();

    // The patient ticks something in their care plan, which they may only read; the
    // nurse then prescribes a drug in it.
    let report = refused_change(
        &app,
        &patient.token,
        &care_plan.to_url(),
        "goals.walk.done",
        ("medications.oxy-prn.drug", json!("Oxycodone")),
        || async {
            app.sync_care_plan(&nurse.token, patient_id, |doc| {
                care_plan::put_item(
                    doc,
                    care_plan::Section::Medications,
                    "oxy-prn",
                    &[("drug", FieldValue::Text("Oxycodone".into()))],
                    Utc::now(),
                )
                .unwrap();
            })
            .await;
        },
    )
    .await;
    eprintln!("refused change, client's view: {report}");
    let errors = report["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{report}");
    let error = errors[0].as_str().unwrap();
    assert!(
        error.contains(&care_plan.to_string()) && error.contains("only read"),
        "{error}"
    );
    let messages = report["sent"].as_u64().unwrap() + report["received"].as_u64().unwrap();
    assert!(
        messages < 10,
        "{messages} messages for one refused change: {report}"
    );
    // The nurse's change reached the patient; the patient's never reached the server.
    assert_eq!(
        report["doc"]["medications"]["oxy-prn"]["drug"],
        json!("Oxycodone")
    );
    let stored = fetch(&app, &nurse.token, care_plan).await;
    let plan = care_plan::read_care_plan(&stored);
    assert_eq!(plan.medications.len(), 1, "{plan:?}");
    let goals = match stored.get(ROOT, "goals").unwrap() {
        Some((_, goals)) => goals,
        None => panic!("the care plan lost its goals map"),
    };
    assert!(stored.get(&goals, "walk").unwrap().is_none());
}
story!(a_refused_change_costs_a_few_messages_and_reads_go_on);

/// A frame over `sync.max_frame_bytes` is answered with an `error` message and close
/// code 1009 (it used to drop the connection with 1006 and no word).
async fn an_oversized_frame_is_told_and_closed_with_1009(app: Arc<TestApp>) {
    let clinic = app.create_clinic("North").await;
    let patient = app.enrolled_patient(clinic, "PD-9102").await;
    let mut conn = Connection::connect(
        &app.sync_endpoint(&patient.token),
        PeerId::new("big").unwrap(),
        None,
        Duration::from_secs(5),
    )
    .await
    .unwrap();
    conn.send_raw(vec![0xa0; 80 * 1024]).await.unwrap();
    match conn.recv().await {
        Ok(Message::Error { message }) => {
            assert!(message.contains("larger than the limit"), "{message}")
        }
        other => panic!("expected an error message, got {other:?}"),
    }
    let closed = conn.recv().await;
    assert!(
        matches!(&closed, Err(SyncError::Closed(Some(reason))) if reason.starts_with("1009")),
        "{closed:?}"
    );
}
story!(an_oversized_frame_is_told_and_closed_with_1009, |config| {
    config.sync.max_frame_bytes = 64 * 1024;
});

/// Messages past `sync.max_messages_per_sec` wait: 150 messages at 50 a second (a burst
/// of 50, then 100 paced) cannot all be handled in under two seconds; the connection
/// stays open and is answered.
async fn a_message_flood_is_paced(app: Arc<TestApp>) {
    let clinic = app.create_clinic("North").await;
    let patient = app.enrolled_patient(clinic, "PD-9103").await;
    let peer = PeerId::new("flood").unwrap();
    let mut conn = Connection::connect(
        &app.sync_endpoint(&patient.token),
        peer.clone(),
        None,
        Duration::from_secs(5),
    )
    .await
    .unwrap();
    let server = conn.server_id().clone();
    let started = Instant::now();
    for _ in 0..149 {
        conn.send(&Message::DocUnavailable {
            sender_id: peer.clone(),
            target_id: server.clone(),
            document_id: DocumentId::random(),
        })
        .await
        .unwrap();
    }
    let asked = DocumentId::random();
    conn.send(&Message::Request {
        document_id: asked,
        sender_id: peer.clone(),
        target_id: server.clone(),
        data: AutoCommit::new()
            .sync()
            .generate_sync_message(&mut SyncState::new())
            .unwrap()
            .encode(),
        doc_type: None,
    })
    .await
    .unwrap();
    match tokio::time::timeout(Duration::from_secs(30), conn.recv()).await {
        Ok(Ok(Message::DocUnavailable { document_id, .. })) => assert_eq!(document_id, asked),
        other => panic!("expected doc-unavailable, got {other:?}"),
    }
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(1900),
        "150 messages handled in {took:?} at 50 a second"
    );
}
story!(a_message_flood_is_paced, |config| {
    config.sync.max_messages_per_sec = 50;
});
