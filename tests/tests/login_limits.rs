//! Bounded password hashing: parallel bogus logins cannot take more than the hashing
//! budget (`auth.hash_memory_budget_bytes`), the excess is told 503 with `Retry-After`,
//! sync keeps working meanwhile, and a wrong invitation code costs no hashing at all.
//! Also the password rules at enrolment. On SQLite and PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use chrono::{TimeDelta, Utc};
use paindiary_sync::ids::PatientId as DocPatientId;
use paindiary_sync::replica::{Durability, Replica};
use paindiary_sync::schema::{Entry, EntryMeta, PainEntry};
use paindiary_tests::{PASSWORD, TestApp, story};
use reqwest::StatusCode;
use serde_json::json;

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

/// 60 parallel logins for unknown emails with room for two hashes at once: every one is
/// 401 or 503 (with `Retry-After`), never more than two hashes ran at once, and a phone
/// synced an entry while they were queued.
async fn parallel_bogus_logins_stay_within_the_hashing_budget(app: Arc<TestApp>) {
    let clinic = app.create_clinic("North").await;
    let patient = app.enrolled_patient(clinic, "PD-7701").await;
    let before = app.state.hashing.total();

    let logins: Vec<_> = (0..60)
        .map(|n| {
            let client = app.client.clone();
            let url = app.url("/api/v1/auth/login");
            tokio::spawn(async move {
                let response = client
                    .post(url)
                    .json(&json!({"email": format!("x{n}@x.test"), "password": "p"}))
                    .send()
                    .await
                    .unwrap();
                let retry_after = response.headers().get("retry-after").cloned();
                (response.status(), retry_after)
            })
        })
        .collect();

    // Meanwhile the patient's phone records and syncs an entry.
    let tmp = tempfile::tempdir().unwrap();
    let doc_patient = DocPatientId::from_uuid(patient.patient_id.unwrap().uuid());
    let mut phone = Replica::open(tmp.path(), doc_patient, Durability::Buffered).unwrap();
    let now = Utc::now();
    phone
        .record(&pain(4.0, now - TimeDelta::minutes(5)), now)
        .unwrap();
    phone
        .sync(&app.sync_endpoint(&patient.token))
        .await
        .expect("sync works while logins queue for hashing");

    let (mut refused, mut busy) = (0, 0);
    for login in logins {
        match login.await.unwrap() {
            (StatusCode::UNAUTHORIZED, _) => refused += 1,
            (StatusCode::SERVICE_UNAVAILABLE, Some(retry_after)) => {
                assert!(retry_after.to_str().unwrap().parse::<u64>().unwrap() >= 1);
                busy += 1;
            }
            other => panic!("a bogus login got {other:?}"),
        }
    }
    eprintln!("60 parallel bogus logins: {refused} x 401, {busy} x 503");
    assert!(refused >= 1, "some were verified (against the dummy hash)");
    assert!(
        app.state.hashing.most_running() <= 2,
        "{} hashes ran at once with room for 2",
        app.state.hashing.most_running()
    );
    assert!(app.state.hashing.total() - before >= refused);

    // A login that is not crowded out still works.
    let token = app.login_ok(&patient.email, PASSWORD, None).await;
    assert!(!token.is_empty());
}
story!(
    parallel_bogus_logins_stay_within_the_hashing_budget,
    |config| {
        config.auth.hash_memory_budget_bytes =
            2 * paindiary_server::auth::password::HASH_MEMORY_BYTES;
        config.auth.hash_queue_wait_ms = 300;
    }
);

/// Enrolment checks the invitation code before hashing the password: a wrong code is
/// refused without running a hash.
async fn a_wrong_invitation_code_costs_no_hashing(app: Arc<TestApp>) {
    let before = app.state.hashing.total();
    let (status, body) = app
        .post(
            "/api/v1/enrol",
            None,
            json!({"code": "AAAA-BBBB-CCCC", "email": "someone@example.org", "password": PASSWORD}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["code"], json!("invalid_invitation"));
    assert_eq!(app.state.hashing.total(), before);
}
story!(a_wrong_invitation_code_costs_no_hashing);

/// Length alone used to accept `aaaaaaaaaa`: common, repetitive and sequential passwords
/// are refused at enrolment (and for staff accounts) with a message naming the rule; the
/// invitation stays usable for a better password.
async fn guessable_passwords_are_refused_with_the_rule(app: Arc<TestApp>) {
    let clinic = app.create_clinic("North").await;
    let (_, code) = app.create_patient(clinic, "PD-7702").await;
    for (weak, rule) in [
        ("aaaaaaaaaa", "repeat a short pattern"),
        ("abcabcabcabc", "repeat a short pattern"),
        ("1234567890", "commonly used"),
        ("abcdefghijk", "sequence"),
        ("Password2024!", "common word"),
        ("short", "at least 10 characters"),
    ] {
        let (status, body) = app
            .post(
                "/api/v1/enrol",
                None,
                json!({"code": code, "email": "p@example.org", "password": weak}),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{weak}: {body}");
        assert_eq!(body["code"], json!("invalid_input"), "{weak}: {body}");
        let message = body["message"].as_str().unwrap();
        assert!(
            message.starts_with("password: ") && message.contains(rule),
            "{weak}: {message}"
        );
        assert!(!message.contains(weak), "the message repeats the password");
    }
    let (status, body) = app
        .post(
            "/api/v1/enrol",
            None,
            json!({"code": code, "email": "p@example.org", "password": PASSWORD}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}
story!(guessable_passwords_are_refused_with_the_rule);
