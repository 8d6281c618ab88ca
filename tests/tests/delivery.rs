//! The delivery worker end to end: outbox rows (enqueued as the alert lifecycle does) go
//! out through a real SMTP server on loopback and a real HTTP webhook listener; failures
//! retry or dead-letter; admins see and retry dead letters; a crash between sending and
//! recording repeats a message at most once with the same Message-ID. Time moves only
//! through the manual clock; `drain_once` runs a worker round without sleeping.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use hmac::{Hmac, Mac};
use paindiary_server::Config;
use paindiary_server::domain::{ClinicId, PatientId, Role};
use paindiary_server::entity::{
    clinic_notification_settings, delivery_attempts, notification_outbox,
};
use paindiary_server::outbox::config::{MailTransportKind, SmtpTls};
use paindiary_server::outbox::{self, Channel, DeliveryKind, NewDelivery, drain_once, worker};
use paindiary_tests::smtp::{Reply, SmtpServer};
use paindiary_tests::webhook::WebhookReceiver;
use paindiary_tests::{Backend, TestApp, run_story_with};
use reqwest::StatusCode;
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use uuid::Uuid;

const PUBLIC_URL: &str = "https://clinic.example";
const EXPLANATION: &str = "daily max NRS 9 on 2026-12-01 and 2026-12-02; oxycodone 10 mg";
const WAIT: Duration = Duration::from_secs(20);

/// A story with a fresh app whose mail goes to its own SMTP server.
struct Env {
    app: Arc<TestApp>,
    smtp: Arc<SmtpServer>,
}

fn configure(c: &mut Config, smtp_port: u16) {
    c.public_url = PUBLIC_URL.to_owned();
    c.delivery.mail.transport = MailTransportKind::Smtp;
    c.delivery.mail.host = "127.0.0.1".to_owned();
    c.delivery.mail.port = Some(smtp_port);
    c.delivery.mail.tls = SmtpTls::None;
    c.delivery.mail.timeout_secs = 5;
    c.delivery.backoff_base_secs = 10;
    c.delivery.backoff_max_secs = 600;
    c.delivery.max_attempts = 5;
    c.delivery.lease_secs = 60;
    c.delivery.webhook_timeout_secs = 5;
    // The webhook listener is plain http on loopback: allowed only by opting in.
    c.delivery.webhook_allow_http = true;
    c.delivery.webhook_allow_private_targets = true;
}

async fn run<F, Fut>(backend: Backend, story: F)
where
    F: FnOnce(Env) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let smtp = Arc::new(SmtpServer::start().await);
    let port = smtp.port();
    run_story_with(
        backend,
        move |c| configure(c, port),
        move |app| story(Env { app, smtp }),
    )
    .await;
}

macro_rules! delivery_story {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::run(paindiary_tests::Backend::Sqlite, super::$name).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::run(paindiary_tests::Backend::Postgres, super::$name).await
            }
        }
    };
}

/// The payload the alert lifecycle writes (see the outbox payload contract).
fn alert_payload(alert_id: Uuid, patient: PatientId, code: &str, include_details: bool) -> Value {
    json!({
        "alert_id": alert_id,
        "patient_id": patient.uuid(),
        "patient_display_code": code,
        "rule": "severe",
        "rule_title": "Severe pain",
        "severity": "urgent",
        "opened_at": Utc::now().to_rfc3339(),
        "local_day": "2026-12-02",
        "reported_late": false,
        "trigger_count": 1,
        "dashboard_path": format!("/dashboard/patients/{}", patient.uuid()),
        "include_details": include_details,
        "explanation": include_details.then_some(EXPLANATION),
    })
}

/// Enqueues one alert delivery as the lifecycle would; returns its idempotency key.
async fn enqueue_alert(
    app: &TestApp,
    clinic: ClinicId,
    channel: Channel,
    recipient: &str,
    payload: Value,
) -> String {
    let alert_id = payload["alert_id"].as_str().unwrap().to_owned();
    let key = format!("alert:{alert_id}:alert_opened:1:{recipient}");
    let inserted = outbox::enqueue(
        &app.state.db,
        NewDelivery {
            idempotency_key: key.clone(),
            alert_id: None,
            clinic_id: clinic.uuid(),
            channel,
            recipient: recipient.to_owned(),
            kind: DeliveryKind::AlertOpened,
            payload,
            not_before: app.clock_now(),
        },
        app.clock_now(),
    )
    .await
    .expect("enqueue");
    assert!(inserted);
    key
}

trait ClockNow {
    fn clock_now(&self) -> chrono::DateTime<Utc>;
}

impl ClockNow for TestApp {
    fn clock_now(&self) -> chrono::DateTime<Utc> {
        self.state.clock.now()
    }
}

async fn drain(app: &TestApp) -> outbox::DrainReport {
    drain_once(&app.state, app.clock_now())
        .await
        .expect("drain")
}

async fn row_by_key(app: &TestApp, key: &str) -> notification_outbox::Model {
    notification_outbox::Entity::find()
        .filter(notification_outbox::Column::IdempotencyKey.eq(key))
        .one(&app.state.db)
        .await
        .expect("query")
        .expect("outbox row")
}

async fn attempts_of(app: &TestApp, row: &notification_outbox::Model) -> Vec<String> {
    let mut attempts = delivery_attempts::Entity::find()
        .filter(delivery_attempts::Column::OutboxId.eq(row.id))
        .all(&app.state.db)
        .await
        .expect("attempts");
    attempts.sort_by_key(|a| a.at);
    attempts.into_iter().map(|a| a.outcome).collect()
}

/// The Message-ID a key must produce, computed independently of the server's code.
fn expected_message_id(key: &str) -> String {
    format!(
        "<{}@paindiary>",
        &hex::encode(Sha256::digest(key.as_bytes()))[..32]
    )
}

async fn set_settings(
    app: &TestApp,
    clinic: ClinicId,
    include_details: bool,
    webhook: Option<(&str, &str)>,
) {
    let row = clinic_notification_settings::ActiveModel {
        clinic_id: Set(clinic.uuid()),
        thresholds: Set(None),
        secondary_recipients: Set("[]".to_owned()),
        webhook_url: Set(webhook.map(|(u, _)| u.to_owned())),
        webhook_secret: Set(webhook.map(|(_, s)| s.to_owned())),
        include_details: Set(include_details),
        repeat_interval_minutes: Set(None),
        escalation_minutes: Set(None),
        timezone: Set(None),
        updated_at: Set(app.clock_now()),
    };
    clinic_notification_settings::Entity::delete_by_id(clinic.uuid())
        .exec(&app.state.db)
        .await
        .expect("delete settings");
    row.insert(&app.state.db).await.expect("settings");
}

async fn alert_email_arrives_once_with_minimum_content(env: Env) {
    let Env { app, smtp } = env;
    // Mail is dated by the injected clock, not the system's: move it far from real time.
    app.clock.advance(chrono::Duration::days(-40));
    let clinic = app.create_clinic("North").await;
    let (patient, _) = app.create_patient(clinic, "P-0042").await;
    let link = format!("{PUBLIC_URL}/dashboard/patients/{}", patient.uuid());
    let alert = Uuid::now_v7();
    // The payload carries an explanation but the clinic has not opted in (no settings
    // row): the worker must not render it.
    let recipients = ["physician@north.example", "nurse@north.example"];
    let mut keys = Vec::new();
    for r in recipients {
        keys.push(
            enqueue_alert(
                &app,
                clinic,
                Channel::Email,
                r,
                alert_payload(alert, patient, "P-0042", true),
            )
            .await,
        );
    }
    let report = drain(&app).await;
    assert_eq!((report.claimed, report.sent), (2, 2), "{report:?}");
    let mail = smtp.wait_for(2, WAIT).await;
    assert_eq!(mail.len(), 2);
    for (recipient, key) in recipients.iter().zip(&keys) {
        let m = mail
            .iter()
            .find(|m| m.to == vec![recipient.to_string()])
            .unwrap_or_else(|| panic!("no mail to {recipient}"));
        assert_eq!(
            m.header("Subject").as_deref(),
            Some("[Paindiary] Urgent: severe pain alert for patient P-0042")
        );
        assert_eq!(m.header("To").as_deref(), Some(*recipient));
        assert_eq!(m.header("Message-ID"), Some(expected_message_id(key)));
        let date = chrono::DateTime::parse_from_rfc2822(&m.header("Date").unwrap()).unwrap();
        assert_eq!(date.timestamp(), app.clock_now().timestamp(), "Date header");
        let (text, html) = (m.text(), m.html());
        assert!(
            text.contains(&link),
            "text lacks the dashboard link: {text}"
        );
        assert!(
            html.contains(&format!("href=\"{link}\"")),
            "html lacks the link: {html}"
        );
        for body in [&text, &html, &m.data] {
            assert!(
                !body.contains("NRS") && !body.contains("oxycodone"),
                "details leaked"
            );
        }
        assert!(!text.contains("2026-12-02") && !html.contains("2026-12-02"));
    }
    let ids: std::collections::HashSet<_> = mail.iter().map(|m| m.header("Message-ID")).collect();
    assert_eq!(
        ids.len(),
        2,
        "each recipient's message has its own Message-ID"
    );

    // Sent once: later rounds find nothing to do.
    app.clock.advance(chrono::Duration::hours(2));
    assert_eq!(drain(&app).await.claimed, 0);
    assert_eq!(smtp.messages().len(), 2);
    let row = row_by_key(&app, &keys[0]).await;
    assert_eq!((row.status.as_str(), row.attempts), ("sent", 1));
    assert!(row.sent_at.is_some() && row.claimed_until.is_none());
    assert_eq!(attempts_of(&app, &row).await, vec!["sent"]);

    // Once the clinic opts in, the explanation is included.
    set_settings(&app, clinic, true, None).await;
    enqueue_alert(
        &app,
        clinic,
        Channel::Email,
        "physician@north.example",
        alert_payload(Uuid::now_v7(), patient, "P-0042", true),
    )
    .await;
    assert_eq!(drain(&app).await.sent, 1);
    let mail = smtp.wait_for(3, WAIT).await;
    assert!(mail[2].text().contains(EXPLANATION), "{}", mail[2].text());
}
delivery_story!(alert_email_arrives_once_with_minimum_content);

/// A drug name or patient label that looks like markup reaches the clinician as text:
/// the HTML part escapes it (one escaping path, the dashboard's template engine), the
/// plain-text part carries it unchanged.
async fn hostile_names_in_an_email_are_escaped(env: Env) {
    let Env { app, smtp } = env;
    let clinic = app.create_clinic("North").await;
    let (patient, _) = app.create_patient(clinic, "P-0043").await;
    set_settings(&app, clinic, true, None).await;
    let hostile_drug = r#"Oxy<img src=x onerror=alert(1)>"contin" & co 10 mg"#;
    let mut payload = alert_payload(
        Uuid::now_v7(),
        patient,
        r#"P-0043"><script>x()</script>"#,
        true,
    );
    payload["explanation"] = json!(format!("PRN overuse of {hostile_drug}"));
    payload["rule_title"] = json!("PRN <b>overuse</b>");
    enqueue_alert(&app, clinic, Channel::Email, "nurse@north.example", payload).await;
    assert_eq!(drain(&app).await.sent, 1);
    let mail = smtp.wait_for(1, WAIT).await;
    let (text, html) = (mail[0].text(), mail[0].html());
    for raw in ["<img", "<script>", "<b>overuse"] {
        assert!(
            !html.contains(raw),
            "{raw} unescaped in the HTML part: {html}"
        );
    }
    assert!(
        html.contains("Oxy&#60;img src=x onerror=alert(1)&#62;&#34;contin&#34; &#38; co 10 mg"),
        "{html}"
    );
    assert!(html.contains("P-0043&#34;&#62;&#60;script&#62;"), "{html}");
    assert!(text.contains(hostile_drug), "{text}");
}
delivery_story!(hostile_names_in_an_email_are_escaped);

async fn smtp_down_then_back_arrives_exactly_once(env: Env) {
    let Env { app, smtp } = env;
    let clinic = app.create_clinic("North").await;
    let (patient, _) = app.create_patient(clinic, "P-0007").await;
    smtp.go_down();
    let key = enqueue_alert(
        &app,
        clinic,
        Channel::Email,
        "physician@north.example",
        alert_payload(Uuid::now_v7(), patient, "P-0007", false),
    )
    .await;

    let report = drain(&app).await;
    assert_eq!((report.claimed, report.retrying), (1, 1), "{report:?}");
    let row = row_by_key(&app, &key).await;
    assert_eq!((row.status.as_str(), row.attempts), ("pending", 1));
    assert_eq!(row.last_error.as_deref(), Some("smtp connection failed"));
    assert!(row.next_attempt_at > app.clock_now(), "backs off");
    // Not due yet: the same instant claims nothing.
    assert_eq!(drain(&app).await.claimed, 0);

    // Second attempt (after at most the 10 s base) fails too; the wait doubles.
    app.clock.advance(chrono::Duration::seconds(10));
    assert_eq!(drain(&app).await.retrying, 1);
    let row = row_by_key(&app, &key).await;
    assert_eq!(row.attempts, 2);
    let wait = row.next_attempt_at - app.clock_now();
    assert!(
        wait >= chrono::Duration::seconds(10) && wait < chrono::Duration::seconds(20),
        "second backoff {wait}"
    );

    // Back, but answering 451 (try later): still transient.
    smtp.come_back().await;
    smtp.set_reply(Reply::Reject(451, "4.3.0 mailbox busy, try later".into()));
    app.clock.advance(chrono::Duration::seconds(20));
    assert_eq!(drain(&app).await.retrying, 1);
    let row = row_by_key(&app, &key).await;
    assert!(
        row.last_error.as_deref().unwrap().contains("451"),
        "{:?}",
        row.last_error
    );

    smtp.set_reply(Reply::Accept);
    app.clock.advance(chrono::Duration::seconds(40));
    assert_eq!(drain(&app).await.sent, 1);
    let mail = smtp.wait_for(1, WAIT).await;
    assert_eq!(mail.len(), 1);
    assert_eq!(
        mail[0].header("Message-ID"),
        Some(expected_message_id(&key))
    );
    app.clock.advance(chrono::Duration::hours(5));
    assert_eq!(drain(&app).await.claimed, 0);
    assert_eq!(smtp.messages().len(), 1, "exactly once");
    let row = row_by_key(&app, &key).await;
    assert_eq!((row.status.as_str(), row.attempts), ("sent", 4));
    assert_eq!(
        attempts_of(&app, &row).await,
        vec!["transient", "transient", "transient", "sent"]
    );

    // A relay down for good: after max_attempts (5) the row is dead.
    smtp.go_down();
    let key = enqueue_alert(
        &app,
        clinic,
        Channel::Email,
        "physician@north.example",
        alert_payload(Uuid::now_v7(), patient, "P-0007", false),
    )
    .await;
    for _ in 0..5 {
        drain(&app).await;
        app.clock.advance(chrono::Duration::seconds(600));
    }
    let row = row_by_key(&app, &key).await;
    assert_eq!((row.status.as_str(), row.attempts), ("dead", 5));
}
delivery_story!(smtp_down_then_back_arrives_exactly_once);

async fn permanent_failure_is_dead_and_admin_can_retry(env: Env) {
    let Env { app, smtp } = env;
    let clinic = app.create_clinic("North").await;
    let admin = app.create_staff(clinic, Role::Admin).await;
    let physician = app.create_staff(clinic, Role::Physician).await;
    let other_clinic = app.create_clinic("South").await;
    let other_admin = app.create_staff(other_clinic, Role::Admin).await;
    let (patient, _) = app.create_patient(clinic, "P-0099").await;

    smtp.set_reply(Reply::Reject(550, "5.1.1 no such mailbox".into()));
    let key = enqueue_alert(
        &app,
        clinic,
        Channel::Email,
        "gone@north.example",
        alert_payload(Uuid::now_v7(), patient, "P-0099", true),
    )
    .await;
    // A malformed address is dead at once too, without talking to the relay.
    let bad = enqueue_alert(
        &app,
        clinic,
        Channel::Email,
        "not an address",
        alert_payload(Uuid::now_v7(), patient, "P-0099", false),
    )
    .await;
    let report = drain(&app).await;
    assert_eq!((report.claimed, report.dead), (2, 2), "{report:?}");
    let row = row_by_key(&app, &key).await;
    assert_eq!((row.status.as_str(), row.attempts), ("dead", 1));
    assert!(
        row.last_error.as_deref().unwrap().contains("550"),
        "{:?}",
        row.last_error
    );
    assert_eq!(
        row_by_key(&app, &bad).await.last_error.as_deref(),
        Some("invalid recipient address")
    );
    assert!(smtp.messages().is_empty());
    app.clock.advance(chrono::Duration::hours(1));
    assert_eq!(
        drain(&app).await.claimed,
        0,
        "dead rows are not retried by themselves"
    );

    // The admin sees the dead letters with their reasons and no health data.
    let (status, body) = app
        .get("/api/v1/admin/deliveries?status=dead", &admin.token)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let dead = body["deliveries"].as_array().unwrap();
    assert_eq!(dead.len(), 2);
    let listed = dead.iter().find(|d| d["id"] == json!(row.id)).unwrap();
    assert_eq!(listed["status"], "dead");
    assert_eq!(listed["channel"], "email");
    assert!(listed["last_error"].as_str().unwrap().contains("550"));
    let text = body.to_string();
    assert!(
        !text.contains("P-0099")
            && !text.contains("NRS")
            && !text.contains(&patient.uuid().to_string())
    );
    let (status, body) = app
        .get("/api/v1/admin/deliveries?status=sent", &admin.token)
        .await;
    assert_eq!(
        (status, body["deliveries"].as_array().unwrap().len()),
        (StatusCode::OK, 0)
    );

    // Only the clinic's admin may see or retry.
    let retry_path = format!("/api/v1/admin/deliveries/{}/retry", row.id);
    let (status, _) = app
        .get("/api/v1/admin/deliveries?status=dead", &physician.token)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = app
        .get("/api/v1/admin/deliveries?status=dead", &other_admin.token)
        .await;
    assert_eq!(
        (status, body["deliveries"].as_array().unwrap().len()),
        (StatusCode::OK, 0)
    );
    let (status, _) = app
        .post(&retry_path, Some(&other_admin.token), json!({}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app
        .post(&retry_path, Some(&physician.token), json!({}))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // The mailbox is fixed; the admin retries; it arrives once.
    smtp.set_reply(Reply::Accept);
    let (status, body) = app.post(&retry_path, Some(&admin.token), json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        (body["status"].as_str(), body["attempts"].as_i64()),
        (Some("pending"), Some(0))
    );
    assert_eq!(drain(&app).await.sent, 1);
    let mail = smtp.wait_for(1, WAIT).await;
    assert_eq!(mail[0].to, vec!["gone@north.example".to_owned()]);
    let row = row_by_key(&app, &key).await;
    assert_eq!(row.status, "sent");
    assert_eq!(attempts_of(&app, &row).await, vec!["permanent", "sent"]);
    let (status, _) = app.post(&retry_path, Some(&admin.token), json!({})).await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "a sent delivery is not retried"
    );
    let (_, body) = app
        .get("/api/v1/admin/deliveries?status=dead", &admin.token)
        .await;
    assert_eq!(body["deliveries"].as_array().unwrap().len(), 1);

    // Every access was audited: three lists and two retries by the admin (one refused
    // because the row was not dead), one list and one denied retry by the other clinic's
    // admin; the refused role checks (403) never reached the data.
    let audited = |actor: Uuid, action: &'static str, outcome: &'static str| {
        let app = app.clone();
        async move {
            app.count_with(
                "SELECT COUNT(*) FROM audit_events \
                 WHERE actor_user_id = $1 AND action = $2 AND outcome = $3",
                vec![actor.into(), action.into(), outcome.into()],
            )
            .await
        }
    };
    let (a, o) = (admin.user_id.uuid(), other_admin.user_id.uuid());
    assert_eq!(audited(a, "delivery.list", "success").await, 3);
    assert_eq!(audited(a, "delivery.retry", "success").await, 1);
    assert_eq!(audited(a, "delivery.retry", "failure").await, 1);
    assert_eq!(audited(o, "delivery.list", "success").await, 1);
    assert_eq!(audited(o, "delivery.retry", "denied").await, 1);
    assert_eq!(
        audited(physician.user_id.uuid(), "delivery.list", "success").await,
        0
    );
    assert_eq!(
        app.count_with(
            "SELECT COUNT(*) FROM audit_events WHERE action = 'delivery.retry' AND target = $1",
            vec![format!("delivery {}", row.id).into()],
        )
        .await,
        3
    );
    assert_eq!(
        app.count(
            "SELECT COUNT(*) FROM audit_events WHERE action = 'delivery.list' \
             AND target = 'GET /api/v1/admin/deliveries?status=dead'"
        )
        .await,
        3
    );
}
delivery_story!(permanent_failure_is_dead_and_admin_can_retry);

async fn webhook_is_signed_and_classified(env: Env) {
    let Env { app, smtp } = env;
    let clinic = app.create_clinic("North").await;
    let (patient, _) = app.create_patient(clinic, "P-0123").await;
    let hook = WebhookReceiver::start().await;
    let secret = "whsec_north_0123456789";
    set_settings(&app, clinic, false, Some((&hook.url, secret))).await;

    let alert = Uuid::now_v7();
    let key = enqueue_alert(
        &app,
        clinic,
        Channel::Webhook,
        &hook.url,
        alert_payload(alert, patient, "P-0123", true),
    )
    .await;
    assert_eq!(drain(&app).await.sent, 1);
    let received = hook.wait_for(1, WAIT).await;
    assert_eq!(received.len(), 1);
    let h = &received[0];
    assert_eq!(h.header("content-type"), "application/json");
    assert_eq!(h.header("idempotency-key"), key);
    let timestamp = h.header("x-paindiary-timestamp");
    assert_eq!(timestamp, app.clock_now().timestamp().to_string());
    let signature = h.header("x-paindiary-signature");
    let hex_sig = signature.strip_prefix("sha256=").expect("sha256= prefix");
    let verify = |key: &[u8]| {
        let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
        mac.update(timestamp.as_bytes());
        mac.update(b".");
        mac.update(&h.body);
        mac.verify_slice(&hex::decode(hex_sig).unwrap()).is_ok()
    };
    assert!(
        verify(secret.as_bytes()),
        "signature verifies with the clinic's secret"
    );
    assert!(!verify(b"some other secret"), "and with no other");
    let body: Value = serde_json::from_slice(&h.body).unwrap();
    assert_eq!(body["event"], "alert_opened");
    assert_eq!(body["alert_id"], json!(alert));
    assert_eq!(body["patient_display_code"], "P-0123");
    assert_eq!(body["severity"], "urgent");
    assert_eq!(
        body["dashboard_url"],
        format!("{PUBLIC_URL}/dashboard/patients/{}", patient.uuid())
    );
    assert!(
        body["explanation"].is_null(),
        "no details without the clinic's opt-in"
    );
    assert!(!String::from_utf8_lossy(&h.body).contains("NRS"));

    // 503 is transient, 410 permanent.
    hook.answer(503);
    let key = enqueue_alert(
        &app,
        clinic,
        Channel::Webhook,
        &hook.url,
        alert_payload(Uuid::now_v7(), patient, "P-0123", false),
    )
    .await;
    assert_eq!(drain(&app).await.retrying, 1);
    assert_eq!(
        row_by_key(&app, &key).await.last_error.as_deref(),
        Some("webhook answered HTTP 503")
    );
    hook.answer(410);
    app.clock.advance(chrono::Duration::seconds(10));
    assert_eq!(drain(&app).await.dead, 1);
    let row = row_by_key(&app, &key).await;
    assert_eq!(
        (row.status.as_str(), row.last_error.as_deref()),
        ("dead", Some("webhook answered HTTP 410"))
    );
    assert_eq!(hook.received().len(), 3);
    // Both requests for the one delivery carried the same key.
    assert_eq!(hook.received()[1].header("idempotency-key"), key);
    assert_eq!(hook.received()[2].header("idempotency-key"), key);
    // A clinic without a webhook secret cannot sign: dead at once, nothing sent.
    let unsigned = app.create_clinic("South").await;
    let key = enqueue_alert(
        &app,
        unsigned,
        Channel::Webhook,
        &hook.url,
        alert_payload(Uuid::now_v7(), patient, "P-0123", false),
    )
    .await;
    assert_eq!(drain(&app).await.dead, 1);
    assert_eq!(
        row_by_key(&app, &key).await.last_error.as_deref(),
        Some("webhook secret not configured")
    );
    assert_eq!(hook.received().len(), 3);
    assert!(smtp.messages().is_empty());
}
delivery_story!(webhook_is_signed_and_classified);

async fn crash_between_send_and_record_repeats_once(env: Env) {
    let Env { app, smtp } = env;
    let clinic = app.create_clinic("North").await;
    let (patient, _) = app.create_patient(clinic, "P-0500").await;
    let key = enqueue_alert(
        &app,
        clinic,
        Channel::Email,
        "physician@north.example",
        alert_payload(Uuid::now_v7(), patient, "P-0500", false),
    )
    .await;

    // A worker claims and sends, then dies before recording.
    let now = app.clock_now();
    let claimed = worker::claim_due(&app.state, now).await.expect("claim");
    assert_eq!(claimed.len(), 1);
    let outcome = worker::send(&app.state, &claimed[0], now).await;
    assert_eq!(outcome, outbox::Outcome::Sent);
    smtp.wait_for(1, WAIT).await;

    // While the lease holds, no other worker takes the row.
    assert_eq!(drain(&app).await.claimed, 0);
    app.clock.advance(chrono::Duration::seconds(59));
    assert_eq!(drain(&app).await.claimed, 0);

    // The lease expires: the row is sent again, once, with the same Message-ID.
    app.clock.advance(chrono::Duration::seconds(2));
    assert_eq!(drain(&app).await.sent, 1);
    let mail = smtp.wait_for(2, WAIT).await;
    assert_eq!(mail.len(), 2);
    assert_eq!(
        mail[0].header("Message-ID"),
        Some(expected_message_id(&key))
    );
    assert_eq!(mail[0].header("Message-ID"), mail[1].header("Message-ID"));
    let row = row_by_key(&app, &key).await;
    assert_eq!((row.status.as_str(), row.attempts), ("sent", 1));

    // The dead worker's late record (if it came back) does not overwrite the row.
    let late = worker::record(
        &app.state,
        &claimed[0],
        &outbox::Outcome::Transient("late".into()),
        app.clock_now(),
        Duration::ZERO,
    )
    .await
    .expect("record");
    assert_eq!(late, None);
    assert_eq!(row_by_key(&app, &key).await.status, "sent");

    app.clock.advance(chrono::Duration::hours(3));
    assert_eq!(drain(&app).await.claimed, 0);
    assert_eq!(smtp.messages().len(), 2, "at most one repeat");
}
delivery_story!(crash_between_send_and_record_repeats_once);

async fn digest_lists_the_alerts_in_one_email(env: Env) {
    let Env { app, smtp } = env;
    let clinic = app.create_clinic("North").await;
    let (p1, _) = app.create_patient(clinic, "P-0001").await;
    let (p2, _) = app.create_patient(clinic, "P-0002").await;
    let mut a1 = alert_payload(Uuid::now_v7(), p1, "P-0001", false);
    a1["rule"] = json!("missed_logging");
    a1["rule_title"] = json!("Missed logging");
    a1["severity"] = json!("info");
    let mut a2 = alert_payload(Uuid::now_v7(), p2, "P-0002", false);
    a2["rule"] = json!("opioid_load");
    a2["rule_title"] = json!("Opioid load");
    a2["severity"] = json!("info");
    outbox::enqueue(
        &app.state.db,
        NewDelivery {
            idempotency_key: "digest:physician@north.example:2026-12-03".into(),
            alert_id: None,
            clinic_id: clinic.uuid(),
            channel: Channel::Email,
            recipient: "physician@north.example".into(),
            kind: DeliveryKind::Digest,
            payload: json!({
                "clinician_name": "Dr. Weber",
                "day": "2026-12-03",
                "alerts": [a1, a2],
                "include_details": false,
            }),
            not_before: app.clock_now(),
        },
        app.clock_now(),
    )
    .await
    .expect("enqueue digest");
    assert_eq!(drain(&app).await.sent, 1);
    let mail = smtp.wait_for(1, WAIT).await;
    assert_eq!(mail.len(), 1);
    assert_eq!(
        mail[0].header("Subject").as_deref(),
        Some("[Paindiary] Daily digest for 2026-12-03: 2 alerts")
    );
    let text = mail[0].text();
    for (code, title, patient) in [
        ("P-0001", "Missed logging", p1),
        ("P-0002", "Opioid load", p2),
    ] {
        assert!(text.contains(code) && text.contains(title), "{text}");
        assert!(text.contains(&format!(
            "{PUBLIC_URL}/dashboard/patients/{}",
            patient.uuid()
        )));
    }
    assert!(text.contains("Dr. Weber"));
}
delivery_story!(digest_lists_the_alerts_in_one_email);

async fn background_worker_sends_on_wake_and_stops(env: Env) {
    let Env { app, smtp } = env;
    let clinic = app.create_clinic("North").await;
    let (patient, _) = app.create_patient(clinic, "P-0777").await;
    // The poll interval is long: only the wake after the commit can explain a prompt send.
    let mut state = app.state.clone();
    let mut config = (*state.config).clone();
    config.delivery.poll_interval_secs = 3600;
    state.config = Arc::new(config);
    let handle = outbox::spawn_worker(state.clone());
    enqueue_alert(
        &app,
        clinic,
        Channel::Email,
        "physician@north.example",
        alert_payload(Uuid::now_v7(), patient, "P-0777", false),
    )
    .await;
    state.outbox.wake();
    let mail = smtp.wait_for(1, WAIT).await;
    assert_eq!(mail.len(), 1);
    tokio::time::timeout(WAIT, handle.stop())
        .await
        .expect("worker stops promptly");
}
delivery_story!(background_worker_sends_on_wake_and_stops);

/// Without mail settings, email goes to `<data_dir>/mail`, one `.eml` per message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_transport_is_the_default() {
    run_story_with(
        Backend::Sqlite,
        |_| {},
        |app: Arc<TestApp>| async move {
            let clinic = app.create_clinic("North").await;
            let (patient, _) = app.create_patient(clinic, "P-0321").await;
            enqueue_alert(
                &app,
                clinic,
                Channel::Email,
                "physician@north.example",
                alert_payload(Uuid::now_v7(), patient, "P-0321", false),
            )
            .await;
            assert_eq!(drain(&app).await.sent, 1);
            let dir = app.config().data_dir.join("mail");
            let files: Vec<_> = std::fs::read_dir(&dir)
                .expect("mail dir")
                .map(|e| e.expect("entry").path())
                .collect();
            assert_eq!(files.len(), 1, "{files:?}");
            let content = std::fs::read_to_string(&files[0]).expect("eml");
            assert!(
                content
                    .contains("Subject: [Paindiary] Urgent: severe pain alert for patient P-0321")
            );
        },
    )
    .await;
}
