//! `/metrics` end to end: a real `paindiary serve` process with `metrics.listen` set
//! serves Prometheus text on that address only; a wrong password, an open sync session and
//! a phone's sync move the counters and gauges an operator would watch. Also: a mail
//! directory that cannot be created stops `serve` with a message naming the directory and
//! the setting. Runs on SQLite, and on PostgreSQL when `PAINDIARY_TEST_BACKENDS` (default
//! `sqlite,postgres`) includes it.

// Tests report failure by panicking.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use chrono::Utc;
use paindiary_sync::ids::PatientId as DocPatientId;
use paindiary_sync::protocol::PeerId;
use paindiary_sync::replica::client::Connection;
use paindiary_sync::replica::{Durability, Replica, ServerEndpoint};
use paindiary_sync::schema::{Entry, EntryMeta, PainEntry};
use sea_orm::{ConnectOptions, ConnectionTrait, Database};
use serde_json::{Value, json};

const PG_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";
const PASSWORD: &str = "metrics test: a long, uncommon passphrase 7";

fn selected(backend: &str) -> bool {
    std::env::var("PAINDIARY_TEST_BACKENDS")
        .unwrap_or_else(|_| "sqlite,postgres".into())
        .split(',')
        .any(|b| b.trim() == backend)
}

fn paindiary(data_dir: &Path, db_url: Option<&str>) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_paindiary"));
    for (k, _) in std::env::vars() {
        if k.starts_with("PAINDIARY_") {
            cmd.env_remove(k);
        }
    }
    cmd.env("PAINDIARY_DATA_DIR", data_dir)
        .env("PAINDIARY_LOG__FORMAT", "json");
    if let Some(url) = db_url {
        cmd.env("PAINDIARY_DATABASE__URL", url);
    }
    cmd
}

/// Runs an admin command; returns its `key=value` output lines.
fn run(mut cmd: Command) -> HashMap<String, String> {
    let out = cmd.stdin(Stdio::null()).output().expect("run paindiary");
    assert!(
        out.status.success(),
        "paindiary failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter_map(|l| l.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())))
        .collect()
}

/// A `serve` process, its log lines (read on a thread, so the pipe never fills) and the
/// addresses it logged.
struct Served {
    child: Child,
    public: String,
    metrics: String,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(data_dir: &Path, db_url: Option<&str>) -> Served {
    let mut cmd = paindiary(data_dir, db_url);
    cmd.arg("serve")
        .env("PAINDIARY_LISTEN", "127.0.0.1:0")
        .env("PAINDIARY_METRICS__LISTEN", "127.0.0.1:0")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let (mut public, mut metrics) = (None, None);
    let mut seen = Vec::new();
    while public.is_none() || metrics.is_none() {
        let left = deadline.saturating_duration_since(Instant::now());
        let Ok(line) = rx.recv_timeout(left) else {
            panic!(
                "serve did not log both addresses in time; log:\n{}",
                seen.join("\n")
            );
        };
        if let Ok(v) = serde_json::from_str::<Value>(&line) {
            let addr = v["addr"].as_str().map(str::to_owned);
            match v["message"].as_str() {
                Some("listening") => public = addr,
                Some("metrics listening") => metrics = addr,
                _ => {}
            }
        }
        seen.push(line);
    }
    // Keep draining the log so the server never blocks on a full pipe.
    std::thread::spawn(move || while rx.recv().is_ok() {});
    Served {
        child,
        public: format!("http://{}", public.unwrap()),
        metrics: format!("http://{}/metrics", metrics.unwrap()),
    }
}

/// Parses Prometheus' text format into `name{labels}` -> value.
fn parse(text: &str) -> HashMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| {
            let (key, value) = l.rsplit_once(' ')?;
            Some((key.to_owned(), value.parse().ok()?))
        })
        .collect()
}

async fn scrape(client: &reqwest::Client, url: &str) -> HashMap<String, f64> {
    let res = client.get(url).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let content_type = res.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    parse(&res.text().await.unwrap())
}

fn get(metrics: &HashMap<String, f64>, key: &str) -> f64 {
    *metrics
        .get(key)
        .unwrap_or_else(|| panic!("no {key} in {:?}", metrics.keys().collect::<Vec<_>>()))
}

/// Scrapes until `done` holds for the figures, or panics after a deadline with the last.
async fn scrape_until(
    client: &reqwest::Client,
    url: &str,
    what: &str,
    done: impl Fn(&HashMap<String, f64>) -> bool,
) -> HashMap<String, f64> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let figures = scrape(client, url).await;
        if done(&figures) {
            return figures;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: never seen in {figures:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn exercise(data_dir: &Path, db_url: Option<&str>) {
    paindiary_server::install_crypto_provider();
    run({
        let mut c = paindiary(data_dir, db_url);
        c.arg("migrate");
        c
    });
    let clinic = run({
        let mut c = paindiary(data_dir, db_url);
        c.args(["admin", "create-clinic", "--name", "Metrics Clinic"]);
        c
    })["clinic_id"]
        .clone();
    let patient = run({
        let mut c = paindiary(data_dir, db_url);
        c.args(["admin", "create-patient", "--clinic", &clinic]);
        c.args(["--display-code", "PD-9001", "--timezone", "Europe/Berlin"]);
        c
    });
    let server = serve(data_dir, db_url);
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();

    // Not on the public listener.
    let public = client
        .get(format!("{}/metrics", server.public))
        .send()
        .await
        .unwrap();
    assert_eq!(public.status(), 404, "/metrics must not be public");

    let before = scrape(&client, &server.metrics).await;
    assert_eq!(get(&before, "paindiary_sync_sessions_open"), 0.0);
    assert_eq!(
        get(&before, "paindiary_outbox_rows{status=\"pending\"}"),
        0.0
    );
    let failures = "paindiary_login_failures_total{reason=\"bad_credentials\"}";
    assert!(!before.contains_key(failures), "no failure yet: {before:?}");

    // A wrong password.
    let refused = client
        .post(format!("{}/api/v1/auth/login", server.public))
        .json(&json!({"email": "nobody@example.org", "password": "not the password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    let after_login = scrape(&client, &server.metrics).await;
    assert_eq!(get(&after_login, failures), 1.0);

    // The patient enrols; a sync session opens and shows as open.
    let enrolled: Value = client
        .post(format!("{}/api/v1/enrol", server.public))
        .json(&json!({
            "code": patient["invitation_code"],
            "email": "patient@example.org",
            "password": PASSWORD,
            "device_name": "phone",
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = enrolled["token"]
        .as_str()
        .expect("enrolment token")
        .to_owned();
    let endpoint = ServerEndpoint {
        url: format!("{}/sync", server.public.replace("http://", "ws://")),
        token: Some(token),
    };
    let open = Connection::connect(
        &endpoint,
        PeerId::new("metrics-probe").unwrap(),
        None,
        Duration::from_secs(10),
    )
    .await
    .unwrap();
    scrape_until(&client, &server.metrics, "one open session", |m| {
        get(m, "paindiary_sync_sessions_open") == 1.0
    })
    .await;
    open.close().await;

    // A phone records an entry and syncs it.
    let phone_dir = data_dir.join("phone");
    let patient_id: uuid::Uuid = patient["patient_id"].parse().unwrap();
    let mut phone = Replica::open(
        &phone_dir,
        DocPatientId::from_uuid(patient_id),
        Durability::Buffered,
    )
    .unwrap();
    let now = Utc::now();
    phone
        .record(
            &Entry::Pain(PainEntry {
                meta: EntryMeta {
                    recorded_at: now,
                    tz: "Europe/Berlin".into(),
                    deleted_at: None,
                    updated_at: None,
                },
                score: 6.0,
                worst: None,
                least: None,
                locations: vec!["lower_back".into()],
                location_note: None,
                qualities: vec![],
                note: None,
            }),
            now,
        )
        .unwrap();
    let report = phone.sync(&endpoint).await.unwrap();
    assert!(
        report.bytes_sent > 0 && report.bytes_received > 0,
        "{report:?}"
    );

    let after = scrape_until(&client, &server.metrics, "sessions closed", |m| {
        get(m, "paindiary_sync_sessions_open") == 0.0
    })
    .await;
    let moved = |key: &str| get(&after, key) - before.get(key).copied().unwrap_or(0.0);
    let frames_in = "paindiary_sync_messages_total{direction=\"in\"}";
    let frames_out = "paindiary_sync_messages_total{direction=\"out\"}";
    let bytes_in = "paindiary_sync_bytes_total{direction=\"in\"}";
    let bytes_out = "paindiary_sync_bytes_total{direction=\"out\"}";
    assert!(moved(frames_in) >= 2.0, "join and the sync: {after:?}");
    assert!(moved(frames_out) >= 2.0, "peer and the replies: {after:?}");
    // The server counts frame payloads, as the phone does; the probe's join comes on top.
    assert!(
        moved(bytes_in) >= report.bytes_sent as f64,
        "{after:?} vs {report:?}"
    );
    assert!(
        moved(bytes_out) >= report.bytes_received as f64,
        "{after:?} vs {report:?}"
    );
    assert!(
        moved("paindiary_commit_batch_size_count") >= 1.0,
        "{after:?}"
    );
    assert!(
        moved("paindiary_commit_duration_seconds_count") >= 1.0,
        "{after:?}"
    );
    assert!(get(&after, "paindiary_commit_duration_seconds_sum") > 0.0);
    assert!(
        get(&after, "paindiary_documents_cached") >= 1.0,
        "{after:?}"
    );
    assert!(
        get(&after, "paindiary_document_cache_bytes") > 0.0,
        "{after:?}"
    );
    assert_eq!(get(&after, failures), 1.0, "nothing else failed a login");
    assert!(after.contains_key("paindiary_password_hashes_waiting"));
    drop(server);
}

/// A read-only place for the mail directory stops `serve` at once with the directory and
/// the setting named (it used to say only "cannot create the mail directory").
fn mail_dir_error(data_dir: &Path, db_url: Option<&str>) {
    let blocker = data_dir.join("not-a-directory");
    std::fs::create_dir_all(data_dir).unwrap();
    std::fs::write(&blocker, b"a file where the mail directory would go").unwrap();
    let mail_dir = blocker.join("mail");
    let out = paindiary(data_dir, db_url)
        .arg("serve")
        .env("PAINDIARY_LISTEN", "127.0.0.1:0")
        .env("PAINDIARY_DELIVERY__MAIL__DIR", &mail_dir)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "cannot create the mail directory {}",
            mail_dir.display()
        )),
        "{stderr}"
    );
    assert!(stderr.contains("delivery.mail.dir"), "{stderr}");
    assert!(stderr.contains("delivery.mail.transport"), "{stderr}");
    assert!(!stderr.contains("opening the database"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_on_sqlite() {
    if !selected("sqlite") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    exercise(&dir.path().join("data"), None).await;
    mail_dir_error(&dir.path().join("mail-error"), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_on_postgres() {
    if !selected("postgres") {
        return;
    }
    let mut opts = ConnectOptions::new(PG_URL);
    opts.connect_timeout(Duration::from_secs(3))
        .acquire_timeout(Duration::from_secs(3));
    let admin = Database::connect(opts).await.unwrap_or_else(|e| {
        panic!(
            "PostgreSQL is not reachable at {PG_URL} ({e}); start it with: \
             pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
        )
    });
    let name = format!("paindiary_t_{}", uuid::Uuid::new_v4().simple());
    admin
        .execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await
        .unwrap();
    let url = format!("postgres://postgres@127.0.0.1:5432/{name}");
    let dir = tempfile::tempdir().unwrap();
    let result = tokio::spawn({
        let data = dir.path().join("data");
        let mail = dir.path().join("mail-error");
        let url = url.clone();
        async move {
            exercise(&data, Some(&url)).await;
            mail_dir_error(&mail, Some(&url));
        }
    })
    .await;
    let _ = admin
        .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .await;
    if let Err(e) = result {
        std::panic::resume_unwind(e.into_panic());
    }
}
