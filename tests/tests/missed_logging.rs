//! The timer-driven parts of the alert lifecycle that no sync triggers: missed logging
//! (a patient who stopped logging does not sync) and the daily digest at the clinic's
//! local hour. Phones sync over the real WebSocket hub, the digest goes through a real
//! SMTP server on loopback, and time moves only through the manual clock.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, NaiveTime, TimeDelta, Utc};
use paindiary_server::Config;
use paindiary_server::alerts;
use paindiary_server::clock::Clock;
use paindiary_server::domain::{PatientId, Role};
use paindiary_server::entity::{alerts as alert_rows, notification_outbox};
use paindiary_server::outbox::config::{MailTransportKind, SmtpTls};
use paindiary_sync::ids::PatientId as DocPatientId;
use paindiary_sync::replica::{Durability, Replica, ServerEndpoint};
use paindiary_sync::schema::care_plan;
use paindiary_sync::schema::{Entry, EntryMeta, MedicationIntake, PainEntry};
use paindiary_tests::smtp::SmtpServer;
use paindiary_tests::{Actor, Backend, TestApp, run_story_with, story};
use reqwest::{Method, StatusCode};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde_json::{Value, json};

/// The time zone `TestApp::create_patient` gives every patient.
const TZ: &str = "Europe/Berlin";
const WAIT: Duration = Duration::from_secs(20);

fn meta(at: DateTime<Utc>) -> EntryMeta {
    EntryMeta {
        recorded_at: at,
        tz: TZ.into(),
        deleted_at: None,
        updated_at: None,
    }
}

fn pain(score: f64, at: DateTime<Utc>) -> Entry {
    Entry::Pain(PainEntry {
        meta: meta(at),
        score,
        worst: None,
        least: None,
        locations: vec!["lower_back".into()],
        location_note: None,
        qualities: vec![],
        note: None,
    })
}

fn morphine(mg: f64, at: DateTime<Utc>) -> Entry {
    Entry::Medication(MedicationIntake {
        meta: meta(at),
        drug: "morphine".into(),
        rxnorm: None,
        amount: mg,
        unit: "mg".into(),
        route: Some("oral".into()),
        status: "taken".into(),
        prn: false,
        prn_reason: None,
        note: None,
    })
}

fn local_day(at: DateTime<Utc>) -> NaiveDate {
    at.with_timezone(&TZ.parse::<chrono_tz::Tz>().unwrap())
        .date_naive()
}

/// Syncs `entries` from a fresh phone replica of `patient` over the real endpoint.
async fn sync_entries(app: &TestApp, patient: &Actor, entries: Vec<Entry>) {
    let dir = tempfile::tempdir().unwrap();
    let doc_patient = DocPatientId::from_uuid(patient.patient_id.unwrap().uuid());
    let mut replica = Replica::open(dir.path(), doc_patient, Durability::Buffered).unwrap();
    let now = app.clock.now();
    for entry in &entries {
        replica.record(entry, now).unwrap();
    }
    let endpoint = ServerEndpoint {
        url: format!("{}/sync", app.base_url.replace("http://", "ws://")),
        token: Some(patient.token.clone()),
    };
    replica.sync(&endpoint).await.unwrap();
}

/// One pain entry per day, `days` days ago each (at the current time of day).
fn pain_days_ago(app: &TestApp, days: impl IntoIterator<Item = i64>) -> Vec<Entry> {
    let now = app.clock.now();
    days.into_iter()
        .map(|back| pain(3.0, now - TimeDelta::days(back)))
        .collect()
}

async fn alerts_of(app: &TestApp, patient: PatientId) -> Vec<alert_rows::Model> {
    alert_rows::Entity::find()
        .filter(alert_rows::Column::PatientId.eq(patient.uuid()))
        .order_by_asc(alert_rows::Column::OpenedAt)
        .all(&app.state.db)
        .await
        .unwrap()
}

async fn outbox(app: &TestApp, kind: &str) -> Vec<notification_outbox::Model> {
    notification_outbox::Entity::find()
        .filter(notification_outbox::Column::Kind.eq(kind))
        .order_by_asc(notification_outbox::Column::CreatedAt)
        .all(&app.state.db)
        .await
        .unwrap()
}

async fn tick(app: &TestApp) -> alerts::TickReport {
    alerts::tick(&app.state, app.clock.now()).await.unwrap()
}

fn smtp_config(c: &mut Config, port: u16) {
    c.public_url = "https://clinic.example".to_owned();
    c.delivery.mail.transport = MailTransportKind::Smtp;
    c.delivery.mail.host = "127.0.0.1".to_owned();
    c.delivery.mail.port = Some(port);
    c.delivery.mail.tls = SmtpTls::None;
    c.delivery.mail.timeout_secs = 5;
}

async fn missed_logging_alerts_once_from_the_timer(app: Arc<TestApp>, smtp: Arc<SmtpServer>) {
    // 05:00 UTC (06:00 in Berlin), before the digest hour (07:00 UTC by default).
    let start = app.clock.now();
    let at = (start.date_naive() + TimeDelta::days(1))
        .and_time(NaiveTime::from_hms_opt(5, 0, 0).unwrap())
        .and_utc();
    app.clock.advance(at - start);
    let clinic = app.create_clinic("Quiet").await;
    let nurse = app.create_staff(clinic, Role::Nurse).await;
    let silent = app.enrolled_patient(clinic, "PD-7001").await;
    let daily = app.enrolled_patient(clinic, "PD-7002").await;
    let planned = app.enrolled_patient(clinic, "PD-7003").await;
    let control = app.enrolled_patient(clinic, "PD-7004").await;
    for p in [&silent, &daily, &planned, &control] {
        app.add_to_care_team(p.patient_id.unwrap(), nurse.user_id)
            .await;
    }
    let (silent_id, daily_id) = (silent.patient_id.unwrap(), daily.patient_id.unwrap());
    let (planned_id, control_id) = (planned.patient_id.unwrap(), control.patient_id.unwrap());

    // PD-7001 logged until 4 days ago, PD-7002 until yesterday; PD-7003 and PD-7004 until
    // 2 days ago, and PD-7003's care plan allows a single missed day.
    sync_entries(&app, &silent, pain_days_ago(&app, 4..=10)).await;
    sync_entries(&app, &daily, pain_days_ago(&app, 1..=10)).await;
    sync_entries(&app, &planned, pain_days_ago(&app, 2..=10)).await;
    sync_entries(&app, &control, pain_days_ago(&app, 2..=10)).await;
    let now = app.clock.now();
    app.sync_care_plan(&nurse.token, planned_id, |doc| {
        care_plan::set_threshold(doc, "missed_days", Some(1.0), now).unwrap();
    })
    .await;
    assert!(
        outbox(&app, "digest").await.is_empty(),
        "syncing raises no missed logging"
    );

    // Two replicas run the timer pass at once: each patient is checked once.
    let (a, b) = tokio::join!(alerts::tick(&app.state, now), alerts::tick(&app.state, now));
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(
        (a.missed + b.missed, a.digests + b.digests),
        (2, 0),
        "{a:?} {b:?}"
    );

    let today = local_day(now);
    let found = alerts_of(&app, silent_id).await;
    assert_eq!(found.len(), 1, "{found:?}");
    let alert = &found[0];
    assert_eq!(
        (
            alert.rule.as_str(),
            alert.severity.as_str(),
            alert.status.as_str()
        ),
        ("missed_logging", "info", "open")
    );
    assert_eq!(
        alert.explanation,
        format!(
            "no diary entries for 3 days (last entry {})",
            today - TimeDelta::days(4)
        )
    );
    assert_eq!(alert.local_day, today);
    assert!(alerts_of(&app, daily_id).await.is_empty());
    assert!(alerts_of(&app, control_id).await.is_empty());
    let planned_alerts = alerts_of(&app, planned_id).await;
    assert_eq!(
        planned_alerts.len(),
        1,
        "the care plan's missed_days applies"
    );
    assert_eq!(
        planned_alerts[0].explanation,
        format!(
            "no diary entries for 1 days (last entry {})",
            today - TimeDelta::days(2)
        )
    );

    // Info goes to the daily digest: at 07:30 UTC one email to the care team, with both.
    app.clock.advance(TimeDelta::minutes(150));
    let digest = tick(&app).await;
    assert_eq!((digest.missed, digest.digests), (0, 1), "{digest:?}");
    let report = paindiary_server::outbox::drain_once(&app.state, app.clock.now())
        .await
        .unwrap();
    assert_eq!(report.sent, 1, "{report:?}");
    let mail = smtp.wait_for(1, WAIT).await;
    assert_eq!(mail.len(), 1);
    assert_eq!(mail[0].to, vec![nurse.email.clone()]);
    let text = mail[0].text();
    assert!(
        text.contains("PD-7001") && text.contains("PD-7003"),
        "{text}"
    );
    assert!(!text.contains("PD-7002") && !text.contains("PD-7004"));

    // A second pass adds nothing: no alert, no trigger, no delivery, no email.
    let again = tick(&app).await;
    assert_eq!((again.missed, again.digests), (0, 0), "{again:?}");
    assert_eq!(
        paindiary_server::outbox::drain_once(&app.state, app.clock.now())
            .await
            .unwrap()
            .claimed,
        0
    );
    assert_eq!(smtp.messages().len(), 1);
    let found = alerts_of(&app, silent_id).await;
    assert_eq!((found.len(), found[0].trigger_count), (1, 1));

    // The nurse resolves it (the patient is travelling). The next day's check does not
    // raise the same silence again; PD-7004 (2 missed days by then) is not due yet.
    let (status, body) = app
        .call(
            Method::POST,
            &format!("/api/v1/alerts/{}/resolve", alert.id),
            Some(&nurse.token),
            Some(json!({"note": "Travelling; will resume next week."})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    app.clock.advance(TimeDelta::days(1));
    assert_eq!(tick(&app).await.missed, 0);
    let found = alerts_of(&app, silent_id).await;
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].status, "resolved");

    // Each following day's check catches who reached three missed days: PD-7004, then
    // PD-7002 (last entry the day before the first pass).
    app.clock.advance(TimeDelta::days(1));
    assert_eq!(tick(&app).await.missed, 1);
    assert_eq!(alerts_of(&app, control_id).await.len(), 1);
    assert!(alerts_of(&app, daily_id).await.is_empty());
    app.clock.advance(TimeDelta::days(1));
    assert_eq!(tick(&app).await.missed, 1);
    assert_eq!(alerts_of(&app, daily_id).await.len(), 1);
    assert_eq!(alerts_of(&app, silent_id).await.len(), 1);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM missed_logging_checks")
            .await,
        4
    );
}

mod missed_logging_alerts_once_from_the_timer {
    use super::*;

    async fn run(backend: Backend) {
        let smtp = Arc::new(SmtpServer::start().await);
        let port = smtp.port();
        run_story_with(
            backend,
            move |c| smtp_config(c, port),
            move |app| super::missed_logging_alerts_once_from_the_timer(app, smtp),
        )
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        run(Backend::Sqlite).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        run(Backend::Postgres).await
    }
}

async fn put_settings(app: &TestApp, admin: &Actor, body: Value) -> (StatusCode, Value) {
    app.call(
        Method::PUT,
        "/api/v1/admin/notification-settings",
        Some(&admin.token),
        Some(body),
    )
    .await
}

async fn digest_goes_out_at_the_clinics_local_hour(app: Arc<TestApp>) {
    let clinic = app.create_clinic("East").await;
    let admin = app.create_staff(clinic, Role::Admin).await;
    let nurse = app.create_staff(clinic, Role::Nurse).await;
    let patient = app.enrolled_patient(clinic, "PD-8001").await;
    app.add_to_care_team(patient.patient_id.unwrap(), nurse.user_id)
        .await;

    let (status, body) = put_settings(&app, &admin, json!({"timezone": "Mars/Olympus"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, body) = put_settings(&app, &admin, json!({"timezone": "Asia/Tokyo"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["timezone"], "Asia/Tokyo");

    // An info alert (50 MME of morphine) waits for the digest.
    let now = app.clock.now();
    sync_entries(
        &app,
        &patient,
        vec![morphine(50.0, now - TimeDelta::minutes(5))],
    )
    .await;
    let found = alerts_of(&app, patient.patient_id.unwrap()).await;
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].severity, "info");

    // 21:30 UTC is 06:30 the next day in Tokyo: not yet. 22:30 UTC is 07:30 there: the
    // digest of Tokyo's day (not the UTC day) goes out, once.
    let utc_day = now.date_naive() + TimeDelta::days(1);
    let at = utc_day
        .and_time(NaiveTime::from_hms_opt(21, 30, 0).unwrap())
        .and_utc();
    app.clock.advance(at - now);
    assert_eq!(tick(&app).await.digests, 0);
    app.clock.advance(TimeDelta::hours(1));
    assert_eq!(tick(&app).await.digests, 1);
    assert_eq!(tick(&app).await.digests, 0);
    let digests = outbox(&app, "digest").await;
    assert_eq!(digests.len(), 1);
    let payload: Value = serde_json::from_str(&digests[0].payload).unwrap();
    let tokyo_day = utc_day + TimeDelta::days(1);
    assert_eq!(payload["day"], tokyo_day.format("%Y-%m-%d").to_string());
    assert!(digests[0].idempotency_key.contains(&tokyo_day.to_string()));

    // Back to UTC: 07:00 UTC is what counts again (on a day after Tokyo's digest day,
    // whose digest key is already taken).
    let (status, body) = put_settings(&app, &admin, json!({"timezone": ""})).await;
    assert_eq!((status, &body["timezone"]), (StatusCode::OK, &json!("UTC")));
    let at = (utc_day + TimeDelta::days(2))
        .and_time(NaiveTime::from_hms_opt(6, 30, 0).unwrap())
        .and_utc();
    let now = app.clock.now();
    app.clock.advance(at - now);
    assert_eq!(tick(&app).await.digests, 0);
    app.clock.advance(TimeDelta::hours(1));
    assert_eq!(tick(&app).await.digests, 1);
}
story!(digest_goes_out_at_the_clinics_local_hour);
