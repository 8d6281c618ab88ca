//! Delivery over TLS, for real: the loopback SMTP server speaks STARTTLS or implicit TLS
//! and the webhook listener https, with certificates from a private CA made in the test.
//! The server trusts that CA only through `delivery.mail.ca_file` /
//! `delivery.webhook_ca_file`; an untrusted certificate dead-letters the delivery at once
//! with a classified reason and nothing is marked sent. Credentials go over TLS as
//! configured, in clear only to a loopback relay, and never to a remote one.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use chrono::Utc;
use hmac::{Hmac, Mac};
use paindiary_server::Config;
use paindiary_server::domain::{ClinicId, Role};
use paindiary_server::entity::{clinic_notification_settings, notification_outbox};
use paindiary_server::outbox::config::{MailTransportKind, SmtpTls};
use paindiary_server::outbox::{self, Channel, DeliveryKind, NewDelivery, drain_once};
use paindiary_tests::smtp::{Security, SeenAuth, SmtpServer};
use paindiary_tests::tls::TestPki;
use paindiary_tests::webhook::WebhookReceiver;
use paindiary_tests::{Backend, TestApp, run_story_with};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};
use secrecy::SecretString;
use serde_json::{Value, json};
use sha2::Sha256;
use uuid::Uuid;

const USER: &str = "paindiary-relay";
const PASSWORD: &str = "relay-secret-42";
const WEBHOOK_SECRET: &str = "whsec-tls-test";

/// How a story's SMTP server and the app's mail settings are set up.
#[derive(Clone, Copy)]
enum Mode {
    /// STARTTLS server; the app trusts its CA.
    Starttls,
    /// Implicit-TLS server; the app trusts its CA.
    Implicit,
    /// STARTTLS server; the app trusts no extra CA.
    StarttlsUntrusted,
    /// Implicit-TLS server; the app trusts another private CA.
    ImplicitOtherCa,
    /// Plain server on loopback with credentials configured.
    PlainLoopback,
}

struct Env {
    app: Arc<TestApp>,
    smtp: Arc<SmtpServer>,
    pki: Arc<TestPki>,
}

async fn run<F, Fut>(backend: Backend, mode: Mode, story: F)
where
    F: FnOnce(Env) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let pki = Arc::new(TestPki::new("smtp"));
    let other = TestPki::new("other");
    let security = match mode {
        Mode::Starttls | Mode::StarttlsUntrusted => Security::Starttls(pki.acceptor()),
        Mode::Implicit | Mode::ImplicitOtherCa => Security::Implicit(pki.acceptor()),
        Mode::PlainLoopback => Security::Plain,
    };
    let smtp = Arc::new(SmtpServer::start_with(security).await);
    let port = smtp.port();
    let ca_file = match mode {
        Mode::Starttls | Mode::Implicit => Some(pki.ca_file()),
        Mode::ImplicitOtherCa => Some(other.ca_file()),
        Mode::StarttlsUntrusted | Mode::PlainLoopback => None,
    };
    let tls = match mode {
        Mode::Starttls | Mode::StarttlsUntrusted => SmtpTls::Starttls,
        Mode::Implicit | Mode::ImplicitOtherCa => SmtpTls::Implicit,
        Mode::PlainLoopback => SmtpTls::None,
    };
    // The webhook listener uses the same private CA.
    let webhook_ca = pki.ca_file();
    let env_pki = pki.clone();
    run_story_with(
        backend,
        move |c: &mut Config| {
            c.public_url = "https://clinic.example".to_owned();
            c.delivery.mail.transport = MailTransportKind::Smtp;
            c.delivery.mail.host = "127.0.0.1".to_owned();
            c.delivery.mail.port = Some(port);
            c.delivery.mail.tls = tls;
            c.delivery.mail.ca_file = ca_file;
            c.delivery.mail.timeout_secs = 5;
            c.delivery.mail.username = Some(USER.to_owned());
            c.delivery.mail.password = Some(SecretString::from(PASSWORD));
            c.delivery.webhook_timeout_secs = 5;
            // The webhook listener is on loopback: allowed only by opting in.
            c.delivery.webhook_allow_private_targets = true;
            if !matches!(mode, Mode::StarttlsUntrusted) {
                c.delivery.webhook_ca_file = Some(webhook_ca);
            }
        },
        move |app| {
            story(Env {
                app,
                smtp,
                pki: env_pki,
            })
        },
    )
    .await;
    drop(other);
}

macro_rules! tls_story {
    ($name:ident, $mode:expr) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::run(paindiary_tests::Backend::Sqlite, $mode, super::$name).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::run(paindiary_tests::Backend::Postgres, $mode, super::$name).await
            }
        }
    };
}

fn now(app: &TestApp) -> chrono::DateTime<Utc> {
    app.state.clock.now()
}

/// The payload the alert lifecycle writes (minimum necessary).
fn alert_payload(code: &str) -> Value {
    let patient = Uuid::now_v7();
    json!({
        "alert_id": Uuid::now_v7(),
        "patient_id": patient,
        "patient_display_code": code,
        "rule": "severe",
        "rule_title": "Severe pain",
        "severity": "urgent",
        "opened_at": Utc::now().to_rfc3339(),
        "local_day": "2026-12-02",
        "reported_late": false,
        "trigger_count": 1,
        "dashboard_path": format!("/dashboard/patients/{patient}"),
        "include_details": false,
        "explanation": null,
    })
}

/// Enqueues one alert delivery as the lifecycle would; returns its idempotency key.
async fn enqueue(app: &TestApp, clinic: ClinicId, channel: Channel, recipient: &str) -> String {
    let key = format!("alert:{}:alert_opened:0:{recipient}", Uuid::now_v7());
    let inserted = outbox::enqueue(
        &app.state.db,
        NewDelivery {
            idempotency_key: key.clone(),
            alert_id: None,
            clinic_id: clinic.uuid(),
            channel,
            recipient: recipient.to_owned(),
            kind: DeliveryKind::AlertOpened,
            payload: alert_payload("PD-TLS1"),
            not_before: now(app),
        },
        now(app),
    )
    .await
    .expect("enqueue");
    assert!(inserted);
    key
}

async fn row(app: &TestApp, key: &str) -> notification_outbox::Model {
    notification_outbox::Entity::find()
        .filter(notification_outbox::Column::IdempotencyKey.eq(key))
        .one(&app.state.db)
        .await
        .expect("query")
        .expect("outbox row")
}

async fn webhook_settings(app: &TestApp, clinic: ClinicId, url: &str) {
    clinic_notification_settings::ActiveModel {
        clinic_id: Set(clinic.uuid()),
        thresholds: Set(None),
        secondary_recipients: Set("[]".to_owned()),
        webhook_url: Set(Some(url.to_owned())),
        webhook_secret: Set(Some(WEBHOOK_SECRET.to_owned())),
        include_details: Set(false),
        repeat_interval_minutes: Set(None),
        escalation_minutes: Set(None),
        timezone: Set(None),
        updated_at: Set(now(app)),
    }
    .insert(&app.state.db)
    .await
    .expect("settings");
}

/// One email through the relay: it is sent, arrives once over TLS (or in clear on
/// loopback) and the relay saw the configured credentials.
async fn email_arrives(env: &Env, expect_tls: bool) {
    let app = &env.app;
    let clinic = app.create_clinic("TLS clinic").await;
    let doctor = app.create_staff(clinic, Role::Physician).await;
    let key = enqueue(app, clinic, Channel::Email, &doctor.email).await;

    let report = drain_once(&app.state, now(app)).await.expect("drain");
    assert_eq!(report.sent, 1, "{report:?}");
    let mail = env.smtp.messages();
    assert_eq!(mail.len(), 1);
    assert_eq!(mail[0].to, vec![doctor.email.clone()]);
    assert_eq!(mail[0].tls, expect_tls);
    assert!(
        mail[0]
            .header("Subject")
            .is_some_and(|s| s.ends_with("for patient PD-TLS1"))
    );
    let seen = SeenAuth {
        mechanism: "PLAIN".to_owned(),
        username: USER.to_owned(),
        password: PASSWORD.to_owned(),
        tls: expect_tls,
    };
    assert_eq!(mail[0].auth.as_ref(), Some(&seen));
    assert_eq!(env.smtp.auths(), vec![seen], "credentials sent once");
    let row = row(app, &key).await;
    assert_eq!(row.status, "sent");
    assert!(row.sent_at.is_some());
}

async fn email_over_starttls_arrives_with_credentials(env: Env) {
    email_arrives(&env, true).await;
}
tls_story!(
    email_over_starttls_arrives_with_credentials,
    super::Mode::Starttls
);

async fn email_over_implicit_tls_arrives_with_credentials(env: Env) {
    email_arrives(&env, true).await;
}
tls_story!(
    email_over_implicit_tls_arrives_with_credentials,
    super::Mode::Implicit
);

async fn plain_credentials_go_to_a_loopback_relay(env: Env) {
    email_arrives(&env, false).await;
}
tls_story!(
    plain_credentials_go_to_a_loopback_relay,
    super::Mode::PlainLoopback
);

/// An untrusted certificate: the handshake fails, the row is dead at once with the
/// classified reason, nothing arrived, no credentials were sent, nothing is sent.
async fn untrusted_relay(env: Env) {
    let app = &env.app;
    let clinic = app.create_clinic("TLS clinic").await;
    let doctor = app.create_staff(clinic, Role::Physician).await;
    let key = enqueue(app, clinic, Channel::Email, &doctor.email).await;

    let report = drain_once(&app.state, now(app)).await.expect("drain");
    assert_eq!((report.sent, report.dead), (0, 1), "{report:?}");
    let row = row(app, &key).await;
    assert_eq!(row.status, "dead");
    assert_eq!(row.attempts, 1, "not retried: retrying cannot help");
    assert_eq!(
        row.last_error.as_deref(),
        Some("smtp TLS certificate not trusted")
    );
    assert!(row.sent_at.is_none());
    assert!(env.smtp.messages().is_empty());
    assert!(env.smtp.auths().is_empty(), "no credentials before trust");
    assert!(env.smtp.failed_handshakes() >= 1);
    let (_, dead) = app
        .get(
            "/api/v1/admin/deliveries?status=dead",
            &app.create_staff(clinic, Role::Admin).await.token,
        )
        .await;
    assert!(
        dead.to_string()
            .contains("smtp TLS certificate not trusted"),
        "the admin sees the reason: {dead}"
    );
}

async fn starttls_relay_with_an_untrusted_certificate_dead_letters(env: Env) {
    untrusted_relay(env).await;
}
tls_story!(
    starttls_relay_with_an_untrusted_certificate_dead_letters,
    super::Mode::StarttlsUntrusted
);

async fn implicit_tls_relay_signed_by_another_ca_dead_letters(env: Env) {
    untrusted_relay(env).await;
}
tls_story!(
    implicit_tls_relay_signed_by_another_ca_dead_letters,
    super::Mode::ImplicitOtherCa
);

/// An https webhook whose certificate the configured CA file vouches for arrives with a
/// valid signature.
async fn https_webhook_with_trusted_ca_arrives_signed(env: Env) {
    let app = &env.app;
    let hook = WebhookReceiver::start_tls(env.pki.acceptor()).await;
    assert!(hook.url.starts_with("https://"));
    let clinic = app.create_clinic("TLS clinic").await;
    webhook_settings(app, clinic, &hook.url).await;
    let key = enqueue(app, clinic, Channel::Webhook, &hook.url).await;

    let report = drain_once(&app.state, now(app)).await.expect("drain");
    assert_eq!(report.sent, 1, "{report:?}");
    let got = hook.received();
    assert_eq!(got.len(), 1);
    let h = &got[0];
    let timestamp = h.header("X-Paindiary-Timestamp");
    let signature = h.header("X-Paindiary-Signature");
    let hex_sig = signature.strip_prefix("sha256=").expect("sha256= prefix");
    let mut mac = Hmac::<Sha256>::new_from_slice(WEBHOOK_SECRET.as_bytes()).unwrap();
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(&h.body);
    assert!(mac.verify_slice(&hex::decode(hex_sig).unwrap()).is_ok());
    assert_eq!(row(app, &key).await.status, "sent");
}
tls_story!(
    https_webhook_with_trusted_ca_arrives_signed,
    super::Mode::Starttls
);

/// An https webhook with a certificate nothing vouches for: dead at once, classified,
/// and the listener received nothing.
async fn https_webhook_with_untrusted_certificate_dead_letters(env: Env) {
    let app = &env.app;
    let hook = WebhookReceiver::start_tls(env.pki.acceptor()).await;
    let clinic = app.create_clinic("TLS clinic").await;
    webhook_settings(app, clinic, &hook.url).await;
    let key = enqueue(app, clinic, Channel::Webhook, &hook.url).await;

    let report = drain_once(&app.state, now(app)).await.expect("drain");
    assert_eq!(report.dead, 1, "{report:?}");
    let row = row(app, &key).await;
    assert_eq!(row.status, "dead");
    assert_eq!(
        row.last_error.as_deref(),
        Some("webhook TLS certificate not trusted")
    );
    assert!(row.sent_at.is_none());
    assert!(hook.received().is_empty());
    assert!(hook.failed_handshakes() >= 1);
}
// In this mode the app has no webhook CA file either.
tls_story!(
    https_webhook_with_untrusted_certificate_dead_letters,
    super::Mode::StarttlsUntrusted
);
