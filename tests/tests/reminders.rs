//! Patient reminders end to end (issue 21): a patient sets schedules over the REST API,
//! the reminder timer (driven by the manual clock, never by sleeping) finds due ones and
//! enqueues them in the outbox, and the delivery worker's round sends them: email to a
//! real SMTP server on loopback, Web Push to a real HTTP listener on loopback acting as
//! the push service, which checks the VAPID signature and decrypts the payload with the
//! subscription's private key as a browser would.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode as AxStatus};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use chrono::{DateTime, NaiveTime, TimeDelta, Utc};
use chrono_tz::Tz;
use paindiary_server::Config;
use paindiary_server::clock::Clock;
use paindiary_server::domain::Role;
use paindiary_server::entity::{notification_outbox, reminders as reminder_rows};
use paindiary_server::outbox::config::{MailTransportKind, SmtpTls};
use paindiary_server::outbox::drain_once;
use paindiary_server::reminders::timer;
use paindiary_sync::ids::PatientId as DocPatientId;
use paindiary_sync::replica::{Durability, Replica};
use paindiary_sync::schema::{Entry, EntryMeta, PainEntry};
use paindiary_tests::smtp::SmtpServer;
use paindiary_tests::{Actor, Backend, TestApp, run_story_with, story};
use reqwest::{Method, StatusCode};
use ring::{aead, agreement, hkdf, rand::SystemRandom};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};

/// The time zone `TestApp::create_patient` gives every patient.
const TZ: &str = "Europe/Berlin";
const WAIT: Duration = Duration::from_secs(20);

fn tz() -> Tz {
    TZ.parse().unwrap()
}

/// `hh:mm` local in Berlin, `days` local days after the clock's local today.
fn local_at(app: &TestApp, days: i64, hh_mm: &str) -> DateTime<Utc> {
    let today = app.clock.now().with_timezone(&tz()).date_naive();
    let time = NaiveTime::parse_from_str(hh_mm, "%H:%M").unwrap();
    paindiary_server::reminders::schedule::resolve(
        tz(),
        (today + TimeDelta::days(days)).and_time(time),
    )
    .unwrap()
}

fn set_clock(app: &TestApp, at: DateTime<Utc>) {
    app.clock.advance(at - app.clock.now());
}

fn smtp_config(c: &mut Config, port: u16) {
    c.public_url = "https://clinic.example".to_owned();
    c.delivery.mail.transport = MailTransportKind::Smtp;
    c.delivery.mail.host = "127.0.0.1".to_owned();
    c.delivery.mail.port = Some(port);
    c.delivery.mail.tls = SmtpTls::None;
    c.delivery.mail.timeout_secs = 5;
    c.reminders.push_allow_loopback = true;
}

async fn call(
    app: &TestApp,
    m: Method,
    path: &str,
    who: &Actor,
    body: Option<Value>,
) -> (StatusCode, Value) {
    app.call(m, path, Some(&who.token), body).await
}

async fn create_reminder(app: &TestApp, who: &Actor, body: Value) -> Value {
    let (status, body) = call(app, Method::POST, "/api/v1/me/reminders", who, Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body
}

/// Syncs a pain entry recorded at `at` from a fresh phone of `patient`.
async fn log_pain(app: &TestApp, patient: &Actor, at: DateTime<Utc>) {
    let dir = tempfile::tempdir().unwrap();
    let doc_patient = DocPatientId::from_uuid(patient.patient_id.unwrap().uuid());
    let mut replica = Replica::open(dir.path(), doc_patient, Durability::Buffered).unwrap();
    let entry = Entry::Pain(PainEntry {
        meta: EntryMeta {
            recorded_at: at,
            tz: TZ.into(),
            deleted_at: None,
            updated_at: None,
        },
        score: 4.0,
        worst: None,
        least: None,
        locations: vec!["lower_back".into()],
        location_note: None,
        qualities: vec![],
        note: Some("stiff after the drive".into()),
    });
    replica.record(&entry, app.clock.now()).unwrap();
    replica
        .sync(&app.sync_endpoint(&patient.token))
        .await
        .unwrap();
}

async fn reminder_rows_of(app: &TestApp, kind: &str) -> Vec<notification_outbox::Model> {
    notification_outbox::Entity::find()
        .filter(notification_outbox::Column::Kind.eq("reminder"))
        .filter(notification_outbox::Column::Channel.eq(kind))
        .all(&app.state.db)
        .await
        .unwrap()
}

async fn reminders_api_validates_and_keeps_reminders_private(app: Arc<TestApp>) {
    let clinic = app.create_clinic("Reminders").await;
    let nurse = app.create_staff(clinic, Role::Nurse).await;
    let stranger_nurse = app.create_staff(clinic, Role::Nurse).await;
    let admin = app.create_staff(clinic, Role::Admin).await;
    let alice = app.enrolled_patient(clinic, "PD-8101").await;
    let bob = app.enrolled_patient(clinic, "PD-8102").await;
    app.add_to_care_team(alice.patient_id.unwrap(), nurse.user_id)
        .await;
    set_clock(&app, local_at(&app, 1, "12:00"));

    let created = create_reminder(
        &app,
        &alice,
        json!({"kind": "log_pain", "times": ["21:00", "09:00"], "channels": ["email"]}),
    )
    .await;
    assert_eq!(created["times"], json!(["09:00", "21:00"]));
    assert_eq!(created["timezone"], TZ, "the patient's zone by default");
    assert_eq!(created["days"].as_array().unwrap().len(), 7);
    let next: DateTime<Utc> = created["next_due_at"].as_str().unwrap().parse().unwrap();
    assert_eq!(
        next,
        local_at(&app, 0, "21:00"),
        "next is tonight at 21:00 Berlin"
    );
    let id = created["id"].as_str().unwrap().to_owned();

    // Every rule has its own code.
    for (body, code) in [
        (
            json!({"kind": "log_pain", "times": ["9:00"], "channels": ["email"]}),
            "reminder_time_invalid",
        ),
        (
            json!({"kind": "log_pain", "times": ["25:00"], "channels": ["email"]}),
            "reminder_time_invalid",
        ),
        (
            json!({"kind": "log_pain", "times": [], "channels": ["email"]}),
            "reminder_times_count",
        ),
        (
            json!({"kind": "nap", "times": ["09:00"], "channels": ["email"]}),
            "reminder_kind_invalid",
        ),
        (
            json!({"kind": "log_pain", "times": ["09:00"], "channels": ["sms"]}),
            "reminder_channel_unknown",
        ),
        (
            json!({"kind": "log_pain", "times": ["09:00"], "channels": ["email"], "timezone": "Mars/Olympus"}),
            "reminder_timezone_invalid",
        ),
        (
            json!({"kind": "log_pain", "times": ["09:00"], "channels": ["email"], "days": ["someday"]}),
            "reminder_days_invalid",
        ),
    ] {
        let (status, err) = call(
            &app,
            Method::POST,
            "/api/v1/me/reminders",
            &alice,
            Some(body),
        )
        .await;
        assert_eq!(
            (status, err["code"].as_str().unwrap()),
            (StatusCode::BAD_REQUEST, code),
            "{err}"
        );
    }
    // A zone of its own (travel), read on its own.
    let kolkata = create_reminder(
        &app,
        &alice,
        json!({"kind": "take_medication", "times": ["08:00"], "days": ["mon", "thu"],
               "channels": ["email", "web_push"], "timezone": "Asia/Kolkata"}),
    )
    .await;
    assert_eq!(kolkata["days"], json!(["mon", "thu"]));
    let due: DateTime<Utc> = kolkata["next_due_at"].as_str().unwrap().parse().unwrap();
    let local = due.with_timezone(&"Asia/Kolkata".parse::<Tz>().unwrap());
    assert_eq!(local.format("%H:%M").to_string(), "08:00");
    assert!(["Mon", "Thu"].contains(&local.format("%a").to_string().as_str()));
    // At most ten.
    for _ in 0..8 {
        create_reminder(
            &app,
            &alice,
            json!({"kind": "exercise", "times": ["18:00"], "channels": ["email"]}),
        )
        .await;
    }
    let (status, err) = call(
        &app,
        Method::POST,
        "/api/v1/me/reminders",
        &alice,
        Some(json!({"kind": "exercise", "times": ["18:00"], "channels": ["email"]})),
    )
    .await;
    assert_eq!(
        (status, err["code"].as_str().unwrap()),
        (StatusCode::CONFLICT, "reminder_limit_reached")
    );

    // Another patient cannot read, change or delete it: 404 as for a missing one.
    let path = format!("/api/v1/me/reminders/{id}");
    let body = json!({"kind": "log_pain", "times": ["03:00"], "channels": ["email"]});
    assert_eq!(
        call(&app, Method::GET, &path, &bob, None).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        call(&app, Method::PUT, &path, &bob, Some(body.clone()))
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        call(&app, Method::DELETE, &path, &bob, None).await.0,
        StatusCode::NOT_FOUND
    );
    let (_, bobs) = call(&app, Method::GET, "/api/v1/me/reminders", &bob, None).await;
    assert_eq!(bobs["reminders"], json!([]));
    let alice_path = format!(
        "/api/v1/patients/{}/reminders",
        alice.patient_id.unwrap().uuid()
    );
    for outsider in [&bob, &stranger_nurse, &admin] {
        assert_eq!(
            call(&app, Method::GET, &alice_path, outsider, None).await.0,
            StatusCode::NOT_FOUND
        );
    }
    // Staff have no reminders of their own.
    assert_eq!(
        call(&app, Method::GET, "/api/v1/me/reminders", &nurse, None)
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    // Her care team reads them.
    let (status, seen) = call(&app, Method::GET, &alice_path, &nurse, None).await;
    assert_eq!(status, StatusCode::OK, "{seen}");
    assert_eq!(seen["reminders"].as_array().unwrap().len(), 10);

    // Alice changes and then deletes her own.
    let (status, changed) = call(
        &app,
        Method::PUT,
        &path,
        &alice,
        Some(json!({"kind": "log_pain", "times": ["20:30"], "channels": ["email"], "enabled": false})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!(
        (
            changed["times"].clone(),
            changed["enabled"].clone(),
            changed["next_due_at"].clone()
        ),
        (json!(["20:30"]), json!(false), Value::Null)
    );
    assert_eq!(
        call(&app, Method::DELETE, &path, &alice, None).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        call(&app, Method::GET, &path, &alice, None).await.0,
        StatusCode::NOT_FOUND
    );

    // Every change is audited, and so are the refused attempts.
    let audited = |action: &str, outcome: &str| {
        let app = app.clone();
        let sql = format!(
            "SELECT COUNT(*) AS n FROM audit_events WHERE action = '{action}' AND outcome = '{outcome}'"
        );
        async move { app.count(&sql).await }
    };
    assert_eq!(audited("reminder.create", "success").await, 10);
    assert_eq!(audited("reminder.update", "success").await, 1);
    assert_eq!(audited("reminder.delete", "success").await, 1);
    assert_eq!(audited("reminder.update", "denied").await, 1);
    assert_eq!(audited("reminder.delete", "denied").await, 1);
    assert!(audited("reminder.read", "denied").await >= 4);
}

story!(reminders_api_validates_and_keeps_reminders_private);

/// Email reminders at 09:00 Berlin: sent once to the patient who has not logged, not to
/// the one who logged pain that morning, and never twice, even when the timer runs on two
/// replicas at once or a crashed timer's claim is replayed.
async fn email_reminders_are_sent_once_and_skipped_after_logging(
    app: Arc<TestApp>,
    smtp: Arc<SmtpServer>,
) {
    let clinic = app.create_clinic("Mornings").await;
    let quiet = app.enrolled_patient(clinic, "PD-8201").await;
    let early = app.enrolled_patient(clinic, "PD-8202").await;
    set_clock(&app, local_at(&app, 1, "06:00"));
    let morning = json!({"kind": "log_pain", "times": ["09:00"], "channels": ["email"]});
    let quiet_reminder = create_reminder(&app, &quiet, morning.clone()).await;
    create_reminder(&app, &early, morning).await;
    let pills = create_reminder(
        &app,
        &early,
        json!({"kind": "take_medication", "times": ["09:00"], "channels": ["email"]}),
    )
    .await;
    let due = local_at(&app, 0, "09:00");
    assert_eq!(
        quiet_reminder["next_due_at"]
            .as_str()
            .unwrap()
            .parse::<DateTime<Utc>>()
            .unwrap(),
        due
    );

    // PD-8202 logs pain at 07:30 local; an entry of the day before does not count for
    // PD-8201.
    set_clock(&app, local_at(&app, 0, "07:45"));
    log_pain(&app, &early, local_at(&app, 0, "07:30")).await;
    log_pain(&app, &quiet, local_at(&app, -1, "22:00")).await;

    // Nothing is due before 09:00.
    let before = timer::tick(&app.state, due - TimeDelta::seconds(1))
        .await
        .unwrap();
    assert_eq!(before, timer::TickReport::default());

    // 09:00:20: two replicas tick at once; each occurrence is claimed once.
    set_clock(&app, due + TimeDelta::seconds(20));
    let now = app.clock.now();
    let (a, b) = tokio::join!(timer::tick(&app.state, now), timer::tick(&app.state, now));
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(
        (
            a.sent + b.sent,
            a.skipped_logged + b.skipped_logged,
            a.deliveries + b.deliveries
        ),
        (2, 1, 2),
        "quiet's pain reminder and early's medication are sent; early's pain reminder is skipped: {a:?} {b:?}"
    );

    let report = drain_once(&app.state, now).await.unwrap();
    assert_eq!(report.sent, 2, "{report:?}");
    let mail = smtp.wait_for(2, WAIT).await;
    let to_quiet: Vec<_> = mail
        .iter()
        .filter(|m| m.to == vec![quiet.email.clone()])
        .collect();
    let to_early: Vec<_> = mail
        .iter()
        .filter(|m| m.to == vec![early.email.clone()])
        .collect();
    assert_eq!((to_quiet.len(), to_early.len()), (1, 1));
    assert_eq!(
        to_quiet[0].header("Subject").unwrap(),
        "Paindiary: Time to log your pain"
    );
    assert_eq!(
        to_early[0].header("Subject").unwrap(),
        "Paindiary: Time to take your medication"
    );
    let text = to_quiet[0].text();
    assert!(text.contains("https://clinic.example"), "{text}");
    // No diary content, not even the patient's own.
    for m in &mail {
        assert!(!m.data.contains("stiff after the drive") && !m.data.contains("lower_back"));
    }

    // Each reminder moved on to tomorrow 09:00.
    let row = reminder_rows::Entity::find_by_id(
        quiet_reminder["id"]
            .as_str()
            .unwrap()
            .parse::<uuid::Uuid>()
            .unwrap(),
    )
    .one(&app.state.db)
    .await
    .unwrap()
    .unwrap();
    assert_eq!(row.next_due_at, Some(local_at(&app, 1, "09:00")));

    // A timer that crashed after enqueueing but before its claim committed would find
    // the same occurrence again: replay it. The outbox keeps one delivery per occurrence.
    reminder_rows::Entity::update_many()
        .col_expr(reminder_rows::Column::NextDueAt, Expr::value(Some(due)))
        .exec(&app.state.db)
        .await
        .unwrap();
    let replay = timer::tick(&app.state, now).await.unwrap();
    assert_eq!(replay.deliveries, 0, "{replay:?}");
    assert_eq!(reminder_rows_of(&app, "email").await.len(), 2);
    assert_eq!(drain_once(&app.state, now).await.unwrap().claimed, 0);

    // Tomorrow 09:00 nobody logged: both pain reminders go (the medication one too).
    let tomorrow = local_at(&app, 1, "09:00");
    set_clock(&app, tomorrow + TimeDelta::seconds(5));
    let next = timer::tick(&app.state, app.clock.now()).await.unwrap();
    assert_eq!((next.sent, next.skipped_logged), (3, 0), "{next:?}");

    // A reminder found hours late (server down) is dropped, not sent at noon.
    set_clock(&app, local_at(&app, 1, "12:00"));
    let late = timer::tick(&app.state, app.clock.now()).await.unwrap();
    assert_eq!((late.sent, late.skipped_late), (0, 3), "{late:?}");
    let _ = pills;
}

mod email_reminders_are_sent_once_and_skipped_after_logging {
    use super::*;

    async fn run(backend: Backend) {
        let smtp = Arc::new(SmtpServer::start().await);
        let port = smtp.port();
        run_story_with(
            backend,
            move |c| smtp_config(c, port),
            move |app| super::email_reminders_are_sent_once_and_skipped_after_logging(app, smtp),
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

/// One request the fake push service received.
#[derive(Clone, Debug)]
struct Pushed {
    name: String,
    headers: HeaderMap,
    body: Bytes,
}

#[derive(Default)]
struct PushService {
    received: Mutex<Vec<Pushed>>,
}

/// `POST /push/{name}`: records the request; `gone` answers 410 like an expired
/// subscription, `busy` 429, anything else 201 Created as push services do.
async fn push_endpoint(
    State(service): State<Arc<PushService>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> AxStatus {
    let status = match name.as_str() {
        "gone" => AxStatus::GONE,
        "busy" => AxStatus::TOO_MANY_REQUESTS,
        _ => AxStatus::CREATED,
    };
    service.received.lock().unwrap().push(Pushed {
        name,
        headers,
        body,
    });
    status
}

async fn start_push_service() -> (String, Arc<PushService>) {
    let service = Arc::new(PushService::default());
    let router = axum::Router::new()
        .route("/push/{name}", axum::routing::post(push_endpoint))
        .with_state(service.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    (format!("http://{addr}"), service)
}

/// A browser's push subscription: its ECDH key pair and auth secret.
struct BrowserKeys {
    private: agreement::EphemeralPrivateKey,
    public: Vec<u8>,
    auth: [u8; 16],
}

fn browser_keys() -> BrowserKeys {
    let rng = SystemRandom::new();
    let private = agreement::EphemeralPrivateKey::generate(&agreement::ECDH_P256, &rng).unwrap();
    let public = private.compute_public_key().unwrap().as_ref().to_vec();
    BrowserKeys {
        private,
        public,
        auth: rand::random(),
    }
}

struct Len(usize);
impl hkdf::KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

fn hkdf_sha256(salt: &[u8], ikm: &[u8], info: &[&[u8]], out: &mut [u8]) {
    hkdf::Salt::new(hkdf::HKDF_SHA256, salt)
        .extract(ikm)
        .expand(info, Len(out.len()))
        .unwrap()
        .fill(out)
        .unwrap();
}

/// Decrypts an `aes128gcm` Web Push body (RFC 8291 / RFC 8188) as the browser does.
fn decrypt(keys: BrowserKeys, body: &[u8]) -> Vec<u8> {
    let salt = &body[..16];
    let rs = u32::from_be_bytes(body[16..20].try_into().unwrap());
    let idlen = body[20] as usize;
    assert_eq!(idlen, 65, "keyid is the server's ephemeral public key");
    let as_public = &body[21..21 + idlen];
    let ciphertext = &body[21 + idlen..];
    assert!(ciphertext.len() <= rs as usize, "a single record");
    let peer = agreement::UnparsedPublicKey::new(&agreement::ECDH_P256, as_public);
    let mut ikm = [0u8; 32];
    agreement::agree_ephemeral(keys.private, &peer, |ecdh| {
        hkdf_sha256(
            &keys.auth,
            ecdh,
            &[&b"WebPush: info\0"[..], &keys.public[..], as_public],
            &mut ikm,
        )
    })
    .unwrap();
    let mut cek = [0u8; 16];
    let mut nonce = [0u8; 12];
    hkdf_sha256(
        salt,
        &ikm,
        &[&b"Content-Encoding: aes128gcm\0"[..]],
        &mut cek,
    );
    hkdf_sha256(salt, &ikm, &[&b"Content-Encoding: nonce\0"[..]], &mut nonce);
    let key = aead::LessSafeKey::new(aead::UnboundKey::new(&aead::AES_128_GCM, &cek).unwrap());
    let mut record = ciphertext.to_vec();
    let plain = key
        .open_in_place(
            aead::Nonce::assume_unique_for_key(nonce),
            aead::Aad::empty(),
            &mut record,
        )
        .unwrap();
    // Strip the padding: trailing zeros, then the last-record delimiter 2.
    let end = plain.iter().rposition(|&b| b != 0).unwrap();
    assert_eq!(plain[end], 2, "last record delimiter");
    plain[..end].to_vec()
}

async fn subscribe(
    app: &TestApp,
    who: &Actor,
    endpoint: &str,
    keys: &BrowserKeys,
) -> (StatusCode, Value) {
    call(
        app,
        Method::POST,
        "/api/v1/me/push-subscriptions",
        who,
        Some(json!({
            "endpoint": endpoint,
            "expirationTime": null,
            "keys": {"p256dh": B64.encode(&keys.public), "auth": B64.encode(keys.auth)},
        })),
    )
    .await
}

/// Web Push end to end: the push service on loopback verifies the VAPID JWT with the
/// server's public key and decrypts the payload with the subscription's private key; a
/// subscription answered 410 is removed; one answered 429 is retried with backoff.
async fn web_push_reminders_reach_the_push_service_encrypted(app: Arc<TestApp>) {
    let (base, service) = start_push_service().await;
    let clinic = app.create_clinic("Push").await;
    let patient = app.enrolled_patient(clinic, "PD-8301").await;
    let other = app.enrolled_patient(clinic, "PD-8302").await;
    set_clock(&app, local_at(&app, 1, "17:00"));

    // Registration rules.
    let phone = browser_keys();
    let mut bad = json!({"endpoint": "ftp://push.example.com/x", "keys": {"p256dh": B64.encode(&phone.public), "auth": B64.encode(phone.auth)}});
    let (status, err) = call(
        &app,
        Method::POST,
        "/api/v1/me/push-subscriptions",
        &patient,
        Some(bad.clone()),
    )
    .await;
    assert_eq!(
        (status, err["code"].as_str().unwrap()),
        (StatusCode::BAD_REQUEST, "push_endpoint_invalid")
    );
    bad["endpoint"] = json!("https://push.example.com/x");
    bad["keys"]["p256dh"] = json!(B64.encode([4u8; 40]));
    let (status, err) = call(
        &app,
        Method::POST,
        "/api/v1/me/push-subscriptions",
        &patient,
        Some(bad.clone()),
    )
    .await;
    assert_eq!(
        (status, err["code"].as_str().unwrap()),
        (StatusCode::BAD_REQUEST, "push_key_invalid")
    );
    bad["keys"]["p256dh"] = json!(B64.encode(&phone.public));
    bad["keys"]["auth"] = json!(B64.encode([1u8; 8]));
    let (status, err) = call(
        &app,
        Method::POST,
        "/api/v1/me/push-subscriptions",
        &patient,
        Some(bad),
    )
    .await;
    assert_eq!(
        (status, err["code"].as_str().unwrap()),
        (StatusCode::BAD_REQUEST, "push_auth_invalid")
    );

    let (status, ok) = subscribe(&app, &patient, &format!("{base}/push/phone"), &phone).await;
    assert_eq!(status, StatusCode::CREATED, "{ok}");
    let tablet = browser_keys();
    let (status, gone) = subscribe(&app, &patient, &format!("{base}/push/gone"), &tablet).await;
    assert_eq!(status, StatusCode::CREATED, "{gone}");
    let laptop = browser_keys();
    let (status, _) = subscribe(&app, &patient, &format!("{base}/push/busy"), &laptop).await;
    assert_eq!(status, StatusCode::CREATED);
    // Someone else's subscription cannot be deleted by this patient.
    let (status, _) = call(
        &app,
        Method::DELETE,
        &format!(
            "/api/v1/me/push-subscriptions/{}",
            ok["id"].as_str().unwrap()
        ),
        &other,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let reminder = create_reminder(
        &app,
        &patient,
        json!({"kind": "exercise", "times": ["18:00"], "channels": ["web_push"]}),
    )
    .await;
    let due = local_at(&app, 0, "18:00");
    set_clock(&app, due + TimeDelta::seconds(3));
    let now = app.clock.now();
    let fired = timer::tick(&app.state, now).await.unwrap();
    assert_eq!((fired.sent, fired.deliveries), (1, 3), "{fired:?}");
    let report = drain_once(&app.state, now).await.unwrap();
    assert_eq!(
        (report.sent, report.dead, report.retrying),
        (1, 1, 1),
        "{report:?}"
    );

    let received = service.received.lock().unwrap().clone();
    assert_eq!(received.len(), 3);
    let on_phone = received.iter().find(|p| p.name == "phone").unwrap().clone();
    let header = |name: &str| {
        on_phone
            .headers
            .get(name)
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(header("content-encoding"), "aes128gcm");
    assert!(header("ttl").parse::<u32>().unwrap() > 0);

    // VAPID (RFC 8292): an ES256 JWT for the push service's origin, signed by the key
    // the server publishes.
    let (_, published) = call(
        &app,
        Method::GET,
        "/api/v1/push/vapid-public-key",
        &patient,
        None,
    )
    .await;
    let auth = header("authorization");
    let rest = auth.strip_prefix("vapid t=").expect("vapid scheme");
    let (jwt, k) = rest.split_once(", k=").unwrap();
    assert_eq!(k, published["public_key"].as_str().unwrap());
    let (signing_input, signature) = jwt.rsplit_once('.').unwrap();
    ring::signature::UnparsedPublicKey::new(
        &ring::signature::ECDSA_P256_SHA256_FIXED,
        B64.decode(k).unwrap(),
    )
    .verify(signing_input.as_bytes(), &B64.decode(signature).unwrap())
    .expect("the JWT verifies with the server's VAPID public key");
    let (head, claims) = signing_input.split_once('.').unwrap();
    let head: Value = serde_json::from_slice(&B64.decode(head).unwrap()).unwrap();
    let claims: Value = serde_json::from_slice(&B64.decode(claims).unwrap()).unwrap();
    assert_eq!(head["alg"], "ES256");
    assert_eq!(claims["aud"], base);
    assert!(claims["exp"].as_i64().unwrap() > now.timestamp());
    assert!(claims["sub"].as_str().unwrap().starts_with("mailto:"));

    // RFC 8291: only the subscription's private key opens the payload.
    let message: Value = serde_json::from_slice(&decrypt(phone, &on_phone.body)).unwrap();
    assert_eq!(message["type"], "reminder");
    assert_eq!(message["kind"], "exercise");
    assert_eq!(message["reminder_id"], reminder["id"]);
    assert_eq!(message["title"], "Time for your exercises");
    assert_eq!(
        message["due_at"]
            .as_str()
            .unwrap()
            .parse::<DateTime<Utc>>()
            .unwrap(),
        due
    );

    // 410: the subscription is gone from the patient's list; 429: retried later.
    let (_, subs) = call(
        &app,
        Method::GET,
        "/api/v1/me/push-subscriptions",
        &patient,
        None,
    )
    .await;
    let endpoints: Vec<&str> = subs["subscriptions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["endpoint"].as_str().unwrap())
        .collect();
    assert_eq!(endpoints.len(), 2, "{subs}");
    assert!(!endpoints.iter().any(|e| e.ends_with("/push/gone")));
    let pending = reminder_rows_of(&app, "web_push")
        .await
        .into_iter()
        .filter(|r| r.status == "pending")
        .collect::<Vec<_>>();
    assert_eq!(pending.len(), 1);
    assert!(
        pending[0].next_attempt_at > now,
        "429 waits for the outbox's backoff"
    );
}

mod web_push_reminders_reach_the_push_service_encrypted {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        paindiary_tests::run_story_with(
            paindiary_tests::Backend::Sqlite,
            |c| c.reminders.push_allow_loopback = true,
            super::web_push_reminders_reach_the_push_service_encrypted,
        )
        .await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        paindiary_tests::run_story_with(
            paindiary_tests::Backend::Postgres,
            |c| c.reminders.push_allow_loopback = true,
            super::web_push_reminders_reach_the_push_service_encrypted,
        )
        .await
    }
}

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn id_of(v: &Value) -> uuid::Uuid {
    v["id"].as_str().unwrap().parse().unwrap()
}

async fn reminder_row(app: &TestApp, id: uuid::Uuid) -> reminder_rows::Model {
    reminder_rows::Entity::find_by_id(id)
        .one(&app.state.db)
        .await
        .unwrap()
        .unwrap()
}

/// Ticks at `at` (the clock moved there first).
async fn tick_at(app: &TestApp, at: DateTime<Utc>) -> timer::TickReport {
    set_clock(app, at);
    timer::tick(&app.state, at).await.unwrap()
}

/// Outbox reminder rows addressed to `who` (email channel).
async fn emails_to(app: &TestApp, who: &Actor) -> Vec<notification_outbox::Model> {
    let mut rows: Vec<_> = reminder_rows_of(app, "email")
        .await
        .into_iter()
        .filter(|r| r.recipient == who.email)
        .collect();
    rows.sort_by_key(|r| r.created_at);
    rows
}

async fn put_settings(app: &TestApp, who: &Actor, body: Value) -> (StatusCode, Value) {
    call(
        app,
        Method::PUT,
        "/api/v1/me/reminder-settings",
        who,
        Some(body),
    )
    .await
}

/// Syncs a PEG check-in recorded at `at` from a fresh phone of `patient`.
async fn log_peg(app: &TestApp, patient: &Actor, at: DateTime<Utc>) {
    let dir = tempfile::tempdir().unwrap();
    let doc_patient = DocPatientId::from_uuid(patient.patient_id.unwrap().uuid());
    let mut replica = Replica::open(dir.path(), doc_patient, Durability::Buffered).unwrap();
    let entry = Entry::Checkin(paindiary_sync::schema::PegCheckin {
        meta: EntryMeta {
            recorded_at: at,
            tz: TZ.into(),
            deleted_at: None,
            updated_at: None,
        },
        pain: 6.0,
        enjoyment: 5.0,
        activity: 4.0,
        note: None,
    });
    replica.record(&entry, app.clock.now()).unwrap();
    replica
        .sync(&app.sync_endpoint(&patient.token))
        .await
        .unwrap();
}

/// Quiet hours 22:00-07:00 in Berlin on the night clocks spring forward (2027-03-28,
/// 02:00 CET -> 03:00 CEST): a 23:00 reminder is held back to 07:00 CEST (05:00 UTC, not
/// 06:00 as in winter) and sent once; a 06:00 log-pain reminder held back the same way
/// is dropped because the patient logged at 06:30.
async fn quiet_hours_defer_across_midnight_and_dst(app: Arc<TestApp>) {
    // The clock moves first: a device token issued months earlier would have expired.
    set_clock(&app, utc("2027-03-27T11:00:00Z"));
    let clinic = app.create_clinic("Quiet").await;
    let patient = app.enrolled_patient(clinic, "PD-8401").await;

    let (status, err) = put_settings(
        &app,
        &patient,
        json!({"quiet_hours": {"start": "22:00", "end": "22:00"}, "paused_until": null}),
    )
    .await;
    assert_eq!(
        (status, err["code"].as_str().unwrap()),
        (StatusCode::BAD_REQUEST, "reminder_quiet_hours_invalid")
    );
    let (status, err) = put_settings(
        &app,
        &patient,
        json!({"quiet_hours": null, "paused_until": "next week"}),
    )
    .await;
    assert_eq!(
        (status, err["code"].as_str().unwrap()),
        (StatusCode::BAD_REQUEST, "reminder_paused_until_invalid")
    );
    let (status, body) = put_settings(
        &app,
        &patient,
        json!({"quiet_hours": {"start": "22:00", "end": "07:00"}, "paused_until": null}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, read) = call(
        &app,
        Method::GET,
        "/api/v1/me/reminder-settings",
        &patient,
        None,
    )
    .await;
    assert_eq!(
        read["quiet_hours"],
        json!({"start": "22:00", "end": "07:00"})
    );
    assert_eq!(read["timezone"], json!(TZ));

    let pills = create_reminder(
        &app,
        &patient,
        json!({"kind": "take_medication", "times": ["23:00"], "channels": ["email"]}),
    )
    .await;
    let early = create_reminder(
        &app,
        &patient,
        json!({"kind": "log_pain", "times": ["06:00"], "channels": ["email"]}),
    )
    .await;

    // 23:00 CET on the 27th: held back, nothing enqueued.
    let r = tick_at(&app, utc("2027-03-27T22:00:10Z")).await;
    assert_eq!((r.sent, r.deferred, r.deliveries), (0, 1, 0), "{r:?}");
    let (_, view) = call(
        &app,
        Method::GET,
        &format!("/api/v1/me/reminders/{}", id_of(&pills)),
        &patient,
        None,
    )
    .await;
    assert_eq!(view["deferred_until"], json!("2027-03-28T05:00:00Z"));
    // 06:00 CEST (04:00 UTC): the log-pain reminder is held back too.
    let r = tick_at(&app, utc("2027-03-28T04:00:10Z")).await;
    assert_eq!((r.sent, r.deferred), (0, 1), "{r:?}");
    log_pain(&app, &patient, utc("2027-03-28T04:30:00Z")).await;
    // 06:59 CEST: still quiet.
    let r = tick_at(&app, utc("2027-03-28T04:59:00Z")).await;
    assert_eq!(r, timer::TickReport::default());
    // 07:00 CEST: the medication reminder goes, once; the pain one is dropped.
    let r = tick_at(&app, utc("2027-03-28T05:00:10Z")).await;
    assert_eq!((r.sent, r.skipped_logged, r.deliveries), (1, 1, 1), "{r:?}");
    let again = tick_at(&app, utc("2027-03-28T05:01:00Z")).await;
    assert_eq!(again, timer::TickReport::default());
    let mail = emails_to(&app, &patient).await;
    assert_eq!(mail.len(), 1);
    assert!(
        mail[0].payload.contains("take_medication"),
        "{}",
        mail[0].payload
    );
    assert!(mail[0].payload.contains("2027-03-27T22:00:00Z"));
    // Both reminders moved on to their next (summer time) occurrences.
    assert_eq!(
        reminder_row(&app, id_of(&pills)).await.next_due_at,
        Some(utc("2027-03-28T21:00:00Z"))
    );
    assert_eq!(
        reminder_row(&app, id_of(&early)).await.next_due_at,
        Some(utc("2027-03-29T04:00:00Z"))
    );
    // Outside quiet hours nothing is held back: quiet hours off, 23:00 CEST goes at once.
    let (status, _) = put_settings(&app, &patient, json!({})).await;
    assert_eq!(status, StatusCode::OK);
    let r = tick_at(&app, utc("2027-03-28T21:00:05Z")).await;
    assert_eq!((r.sent, r.deferred), (1, 0), "{r:?}");
}

story!(quiet_hours_defer_across_midnight_and_dst);

/// A sent reminder snoozed for 10 minutes is sent once more, once; a second snooze of
/// the same occurrence is refused; a snoozed log-pain reminder is dropped if the patient
/// logs meanwhile.
async fn snooze_sends_once(app: Arc<TestApp>) {
    let clinic = app.create_clinic("Snooze").await;
    let patient = app.enrolled_patient(clinic, "PD-8501").await;
    let other = app.enrolled_patient(clinic, "PD-8502").await;
    set_clock(&app, local_at(&app, 1, "06:00"));
    let pills = create_reminder(
        &app,
        &patient,
        json!({"kind": "take_medication", "times": ["09:00"], "channels": ["email"]}),
    )
    .await;
    let pain = create_reminder(
        &app,
        &patient,
        json!({"kind": "log_pain", "times": ["09:00"], "channels": ["email"]}),
    )
    .await;
    let snooze = |id: uuid::Uuid, who: &Actor, minutes: Value| {
        let who = who.clone();
        let app = app.clone();
        async move {
            call(
                &app,
                Method::POST,
                &format!("/api/v1/me/reminders/{id}/snooze"),
                &who,
                Some(json!({ "minutes": minutes })),
            )
            .await
        }
    };
    let code = |r: (StatusCode, Value)| (r.0, r.1["code"].as_str().unwrap_or("").to_owned());

    // Nothing sent yet: nothing to snooze.
    assert_eq!(
        code(snooze(id_of(&pills), &patient, json!(10)).await),
        (StatusCode::CONFLICT, "reminder_nothing_to_snooze".into())
    );
    let nine = local_at(&app, 0, "09:00");
    let r = tick_at(&app, nine + TimeDelta::seconds(10)).await;
    assert_eq!(r.sent, 2, "{r:?}");
    for bad in [json!(4), json!(241), json!(-5)] {
        assert_eq!(
            code(snooze(id_of(&pills), &patient, bad).await),
            (
                StatusCode::BAD_REQUEST,
                "reminder_snooze_minutes_invalid".into()
            )
        );
    }
    // Another patient's reminder is not found.
    assert_eq!(
        code(snooze(id_of(&pills), &other, json!(10)).await).0,
        StatusCode::NOT_FOUND
    );
    let (status, view) = snooze(id_of(&pills), &patient, json!(10)).await;
    assert_eq!(status, StatusCode::OK, "{view}");
    let snoozed_until = nine + TimeDelta::seconds(10) + TimeDelta::minutes(10);
    assert_eq!(
        view["deferred_until"]
            .as_str()
            .unwrap()
            .parse::<DateTime<Utc>>()
            .unwrap(),
        snoozed_until
    );
    assert_eq!(
        code(snooze(id_of(&pills), &patient, json!(30)).await),
        (StatusCode::CONFLICT, "reminder_already_snoozed".into())
    );
    let (status, _) = snooze(id_of(&pain), &patient, json!(20)).await;
    assert_eq!(status, StatusCode::OK);

    // Not before the delay.
    let r = tick_at(&app, snoozed_until - TimeDelta::seconds(1)).await;
    assert_eq!(r, timer::TickReport::default());
    // The patient logs pain at 09:15; at 09:30 the pain snooze is dropped.
    log_pain(&app, &patient, nine + TimeDelta::minutes(15)).await;
    let now = snoozed_until + TimeDelta::minutes(10);
    set_clock(&app, now);
    let (a, b) = tokio::join!(timer::tick(&app.state, now), timer::tick(&app.state, now));
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(
        (a.sent + b.sent, a.skipped_logged + b.skipped_logged),
        (1, 1),
        "{a:?} {b:?}"
    );
    let r = tick_at(&app, now + TimeDelta::hours(1)).await;
    assert_eq!(r, timer::TickReport::default());
    let mail = emails_to(&app, &patient).await;
    assert_eq!(mail.len(), 3, "two at 09:00, one snoozed medication");
    assert_eq!(
        mail.iter()
            .filter(|m| m.idempotency_key.contains(":snooze:"))
            .count(),
        1
    );
    assert_eq!(reminder_row(&app, id_of(&pills)).await.resend_at, None);
}

story!(snooze_sends_once);

/// `paused_until` stops every reminder until that instant; they resume on their own.
async fn paused_reminders_send_nothing_and_resume(app: Arc<TestApp>) {
    let clinic = app.create_clinic("Pause").await;
    let patient = app.enrolled_patient(clinic, "PD-8601").await;
    set_clock(&app, local_at(&app, 1, "06:00"));
    create_reminder(
        &app,
        &patient,
        json!({"kind": "take_medication", "times": ["09:00", "21:00"], "channels": ["email"]}),
    )
    .await;
    let until = local_at(&app, 1, "12:00");
    let (status, body) = put_settings(
        &app,
        &patient,
        json!({"quiet_hours": null, "paused_until": until.to_rfc3339()}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["paused_until"]
            .as_str()
            .unwrap()
            .parse::<DateTime<Utc>>()
            .unwrap(),
        until
    );
    let mut paused = 0;
    for (day, time) in [(0, "09:00"), (0, "21:00"), (1, "09:00")] {
        let r = tick_at(&app, local_at(&app, day, time) + TimeDelta::seconds(5)).await;
        paused += r.skipped_paused;
        assert_eq!(r.sent, 0, "{r:?}");
    }
    assert_eq!(paused, 3);
    assert!(emails_to(&app, &patient).await.is_empty());
    // After the pause: 21:00 tomorrow is sent.
    let r = tick_at(&app, local_at(&app, 0, "21:00") + TimeDelta::seconds(5)).await;
    assert_eq!((r.sent, r.skipped_paused), (1, 0), "{r:?}");
    assert_eq!(emails_to(&app, &patient).await.len(), 1);
}

story!(paused_reminders_send_nothing_and_resume);

/// A clinic's staff set default reminders; patients who have not made their own get
/// them (existing ones and those created later), in their own zone; a patient who
/// changes a reminder keeps theirs when the defaults change; one can follow the
/// defaults again. Patients and other clinics' staff cannot set them. Audited.
async fn clinic_defaults_apply_and_can_be_overridden(app: Arc<TestApp>) {
    let clinic = app.create_clinic("Defaults").await;
    let other_clinic = app.create_clinic("Elsewhere").await;
    let admin = app.create_staff(clinic, Role::Admin).await;
    let nurse = app.create_staff(clinic, Role::Nurse).await;
    let stranger = app.create_staff(other_clinic, Role::Admin).await;
    let early = app.enrolled_patient(clinic, "PD-8701").await;
    set_clock(&app, local_at(&app, 1, "06:00"));
    let path = format!("/api/v1/clinics/{}/reminder-defaults", clinic.uuid());
    let evening = json!({"reminders": [
        {"kind": "log_pain", "times": ["20:00"], "channels": ["email"]}
    ]});

    let (status, _) = call(&app, Method::PUT, &path, &early, Some(evening.clone())).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = call(&app, Method::PUT, &path, &stranger, Some(evening.clone())).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, err) = call(
        &app,
        Method::PUT,
        &path,
        &admin,
        Some(json!({"reminders": [{"kind": "nap", "times": ["20:00"], "channels": ["email"]}]})),
    )
    .await;
    assert_eq!(
        (status, err["code"].as_str().unwrap()),
        (StatusCode::BAD_REQUEST, "reminder_kind_invalid")
    );
    let (status, body) = call(&app, Method::PUT, &path, &admin, Some(evening.clone())).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["patients_updated"], json!(1));
    let (status, body) = call(&app, Method::GET, &path, &nurse, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["reminders"][0]["times"], json!(["20:00"]));

    // The existing patient has them; a patient created later too.
    let late = app.enrolled_patient(clinic, "PD-8702").await;
    for who in [&early, &late] {
        let (_, list) = call(&app, Method::GET, "/api/v1/me/reminders", who, None).await;
        let list = list["reminders"].as_array().unwrap().clone();
        assert_eq!(list.len(), 1, "{list:?}");
        assert_eq!(list[0]["kind"], json!("log_pain"));
        assert_eq!(list[0]["timezone"], json!(TZ));
        assert_eq!(
            list[0]["next_due_at"]
                .as_str()
                .unwrap()
                .parse::<DateTime<Utc>>()
                .unwrap(),
            local_at(&app, 0, "20:00")
        );
    }
    // They fire like the patient's own.
    let r = tick_at(&app, local_at(&app, 0, "20:00") + TimeDelta::seconds(5)).await;
    assert_eq!(r.sent, 2, "{r:?}");

    // `early` moves theirs to 21:00: from now on it is theirs.
    let (_, list) = call(&app, Method::GET, "/api/v1/me/reminders", &early, None).await;
    let own = list["reminders"][0].clone();
    let (status, _) = call(
        &app,
        Method::PUT,
        &format!("/api/v1/me/reminders/{}", id_of(&own)),
        &early,
        Some(json!({"kind": "log_pain", "times": ["21:00"], "channels": ["email"]})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (_, s) = call(
        &app,
        Method::GET,
        "/api/v1/me/reminder-settings",
        &early,
        None,
    )
    .await;
    assert_eq!(s["use_clinic_defaults"], json!(false));

    // The nurse changes the defaults: only `late` follows.
    let two = json!({"reminders": [
        {"kind": "log_pain", "times": ["19:00"], "channels": ["email"]},
        {"kind": "take_medication", "times": ["08:00"], "days": ["mon"], "channels": ["email"]}
    ]});
    let (status, body) = call(&app, Method::PUT, &path, &nurse, Some(two)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["patients_updated"], json!(1));
    let times = |v: &Value| {
        v["reminders"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["times"][0].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    let (_, list) = call(&app, Method::GET, "/api/v1/me/reminders", &early, None).await;
    assert_eq!(times(&list), vec!["21:00"]);
    let (_, list) = call(&app, Method::GET, "/api/v1/me/reminders", &late, None).await;
    let mut got = times(&list);
    got.sort();
    assert_eq!(got, vec!["08:00", "19:00"]);

    // `early` turns back to the clinic's defaults.
    let (status, _) = put_settings(&app, &early, json!({"use_clinic_defaults": true})).await;
    assert_eq!(status, StatusCode::OK);
    let (_, list) = call(&app, Method::GET, "/api/v1/me/reminders", &early, None).await;
    let mut got = times(&list);
    got.sort();
    assert_eq!(got, vec!["08:00", "19:00"]);
    // `late` turns them off by deleting them; a later change of the defaults leaves
    // `late` without reminders.
    let (_, list) = call(&app, Method::GET, "/api/v1/me/reminders", &late, None).await;
    for r in list["reminders"].as_array().unwrap() {
        let (status, _) = call(
            &app,
            Method::DELETE,
            &format!("/api/v1/me/reminders/{}", id_of(r)),
            &late,
            None,
        )
        .await;
        assert_eq!(status, StatusCode::NO_CONTENT);
    }
    let (status, body) = call(&app, Method::PUT, &path, &admin, Some(evening)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["patients_updated"], json!(1), "only early follows");
    let (_, list) = call(&app, Method::GET, "/api/v1/me/reminders", &late, None).await;
    assert_eq!(list["reminders"], json!([]));

    let audited = app
        .count("SELECT COUNT(*) FROM audit_events WHERE action = 'reminder_defaults.update' AND outcome = 'success'")
        .await;
    assert_eq!(audited, 3);
    let denied = app
        .count("SELECT COUNT(*) FROM audit_events WHERE action = 'reminder_defaults.update' AND outcome <> 'success'")
        .await;
    assert_eq!(denied, 2);
    let applied = app
        .count("SELECT COUNT(*) FROM audit_events WHERE action = 'reminder.defaults_applied'")
        .await;
    assert_eq!(applied, 4, "1 + 1 + early's own request + 1");
}

story!(clinic_defaults_apply_and_can_be_overridden);

/// `questionnaire_due` fires only on days the weekly PEG check-in is due: not in the
/// seven local days after one, again on the seventh; the payload names the instrument.
async fn questionnaire_due_fires_only_when_peg_is_due(app: Arc<TestApp>) {
    let clinic = app.create_clinic("PEG").await;
    let patient = app.enrolled_patient(clinic, "PD-8801").await;
    set_clock(&app, local_at(&app, 1, "06:00"));
    create_reminder(
        &app,
        &patient,
        json!({"kind": "questionnaire_due", "times": ["18:00"], "channels": ["email"]}),
    )
    .await;
    // No check-in ever: due today.
    let r = tick_at(&app, local_at(&app, 0, "18:00") + TimeDelta::seconds(5)).await;
    assert_eq!(r.sent, 1, "{r:?}");
    let mail = emails_to(&app, &patient).await;
    let payload: Value = serde_json::from_str(&mail[0].payload).unwrap();
    assert_eq!(payload["instrument"], json!("peg"));
    assert_eq!(payload["kind"], json!("questionnaire_due"));

    // A check-in tonight covers this day and the six after it.
    log_peg(&app, &patient, local_at(&app, 0, "20:00")).await;
    for _ in 1..=6 {
        let r = tick_at(&app, local_at(&app, 1, "18:00") + TimeDelta::seconds(5)).await;
        assert_eq!((r.sent, r.skipped_not_due), (0, 1), "{r:?}");
    }
    let r = tick_at(&app, local_at(&app, 1, "18:00") + TimeDelta::seconds(5)).await;
    assert_eq!((r.sent, r.skipped_not_due), (1, 0), "{r:?}");
    assert_eq!(emails_to(&app, &patient).await.len(), 2);
}

story!(questionnaire_due_fires_only_when_peg_is_due);

/// Erasing a patient deletes their reminders, push subscriptions and settings; the
/// timer sends them nothing afterwards.
async fn erasure_removes_reminders_subscriptions_and_settings(app: Arc<TestApp>) {
    let clinic = app.create_clinic("Erase").await;
    let admin = app.create_staff(clinic, Role::Admin).await;
    let patient = app.enrolled_patient(clinic, "PD-8901").await;
    let pid = patient.patient_id.unwrap().uuid();
    set_clock(&app, local_at(&app, 1, "06:00"));
    create_reminder(
        &app,
        &patient,
        json!({"kind": "log_pain", "times": ["09:00"], "channels": ["email", "web_push"]}),
    )
    .await;
    let keys = browser_keys();
    let (status, _) = subscribe(&app, &patient, "https://push.example.com/p/1", &keys).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _) = put_settings(
        &app,
        &patient,
        json!({"quiet_hours": {"start": "22:00", "end": "07:00"}}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = call(
        &app,
        Method::POST,
        "/api/v1/me/device-tokens",
        &patient,
        Some(json!({"platform": "apns", "token": "ab".repeat(32)})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let count = |table: &'static str| {
        let app = app.clone();
        async move {
            app.count_with(
                &format!("SELECT COUNT(*) FROM {table} WHERE patient_id = $1"),
                vec![pid.into()],
            )
            .await
        }
    };
    for table in [
        "reminders",
        "push_subscriptions",
        "reminder_settings",
        "device_tokens",
    ] {
        assert_eq!(count(table).await, 1, "{table}");
    }
    let (status, body) = call(
        &app,
        Method::DELETE,
        &format!("/api/v1/admin/patients/{pid}"),
        &admin,
        None,
    )
    .await;
    assert!(status.is_success(), "{status} {body}");
    for table in [
        "reminders",
        "push_subscriptions",
        "reminder_settings",
        "device_tokens",
    ] {
        assert_eq!(count(table).await, 0, "{table}");
    }
    let r = tick_at(&app, local_at(&app, 0, "09:00") + TimeDelta::seconds(5)).await;
    assert_eq!(r, timer::TickReport::default());
}

story!(erasure_removes_reminders_subscriptions_and_settings);

/// A native app registers its APNs or FCM token: checked by shape, registered once per
/// patient, listed without the token itself, deleted by its owner only. Audited.
async fn device_tokens_are_validated_and_private(app: Arc<TestApp>) {
    let clinic = app.create_clinic("Devices").await;
    let patient = app.enrolled_patient(clinic, "PD-9001").await;
    let other = app.enrolled_patient(clinic, "PD-9002").await;
    let nurse = app.create_staff(clinic, Role::Nurse).await;
    let path = "/api/v1/me/device-tokens";
    let post = |who: &Actor, body: Value| {
        let (app, who) = (app.clone(), who.clone());
        async move { call(&app, Method::POST, path, &who, Some(body)).await }
    };
    let apns = "AB".repeat(32);
    for (body, code) in [
        (
            json!({"platform": "sms", "token": apns}),
            "device_platform_invalid",
        ),
        (
            json!({"platform": "apns", "token": "xyz"}),
            "device_token_invalid",
        ),
        (
            json!({"platform": "fcm", "token": "has spaces in it and is long enough to pass"}),
            "device_token_invalid",
        ),
    ] {
        let (status, err) = post(&patient, body).await;
        assert_eq!(
            (status, err["code"].as_str().unwrap()),
            (StatusCode::BAD_REQUEST, code)
        );
    }
    let (status, _) = post(&nurse, json!({"platform": "apns", "token": apns})).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, first) = post(&patient, json!({"platform": "apns", "token": apns})).await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    assert_eq!(first["token_suffix"], json!("ababab"));
    let (status, again) = post(
        &patient,
        json!({"platform": "apns", "token": apns.to_lowercase()}),
    )
    .await;
    assert_eq!((status, &again["id"]), (StatusCode::OK, &first["id"]));
    let fcm = format!("cX1:APA91b{}", "x_-9".repeat(35));
    let (status, _) = post(&patient, json!({"platform": "fcm", "token": fcm})).await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, list) = call(&app, Method::GET, path, &patient, None).await;
    assert_eq!(list["device_tokens"].as_array().unwrap().len(), 2);
    assert!(!list.to_string().contains(&fcm), "tokens are not echoed");
    let (_, list) = call(&app, Method::GET, path, &other, None).await;
    assert_eq!(list["device_tokens"], json!([]));
    let one = format!("{path}/{}", id_of(&first));
    let (status, _) = call(&app, Method::DELETE, &one, &other, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = call(&app, Method::DELETE, &one, &patient, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let audited = app
        .count("SELECT COUNT(*) FROM audit_events WHERE action LIKE 'device_token.%'")
        .await;
    assert_eq!(audited, 7, "2 creates, 1 repeat, 2 lists, 2 deletes");
}

story!(device_tokens_are_validated_and_private);
