//! The `paindiary` binary end to end: `migrate`, the admin commands, `serve`, and a
//! clean exit on SIGTERM. Runs on SQLite, and on PostgreSQL when
//! `PAINDIARY_TEST_BACKENDS` (default `sqlite,postgres`) includes it.

// Tests report failure by panicking.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sea_orm::{ConnectOptions, ConnectionTrait, Database};

const PG_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

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

/// Runs a command to completion; returns stdout as `key=value` lines.
fn run(mut cmd: Command, stdin: Option<&str>) -> Vec<(String, String)> {
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn paindiary");
    let mut input = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).unwrap();
    }
    drop(input);
    let out = child.wait_with_output().unwrap();
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

fn value(lines: &[(String, String)], key: &str) -> String {
    lines
        .iter()
        .find(|(k, _)| k == key)
        .unwrap_or_else(|| panic!("no {key} in {lines:?}"))
        .1
        .clone()
}

fn http_get(addr: &str, path: &str) -> String {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

fn exercise_binary(data_dir: PathBuf, db_url: Option<&str>) {
    let cmd = || paindiary(&data_dir, db_url);

    let mut migrate = cmd();
    migrate.arg("migrate");
    run(migrate, None);

    let mut c = cmd();
    c.args(["admin", "create-clinic", "--name", "North Clinic"]);
    let clinic = value(&run(c, None), "clinic_id");

    let mut c = cmd();
    c.args([
        "admin",
        "create-user",
        "--clinic",
        &clinic,
        "--email",
        "doc@example.org",
    ]);
    c.args([
        "--role",
        "physician",
        "--name",
        "Dr Doc",
        "--password-stdin",
    ]);
    let out = run(c, Some("a long enough password\n"));
    let doc = value(&out, "user_id");
    assert!(
        out.iter().all(|(k, _)| k != "password"),
        "a piped password is not echoed"
    );

    let mut c = cmd();
    c.args([
        "admin",
        "create-user",
        "--clinic",
        &clinic,
        "--email",
        "admin@example.org",
    ]);
    c.args(["--role", "admin", "--name", "Ad Min"]);
    let out = run(c, None);
    assert!(
        value(&out, "password").len() >= 10,
        "a generated password is printed once"
    );

    let mut c = cmd();
    c.args([
        "admin",
        "create-patient",
        "--clinic",
        &clinic,
        "--display-code",
        "PD-4821",
    ]);
    c.args(["--timezone", "Europe/Berlin"]);
    let out = run(c, None);
    let patient = value(&out, "patient_id");
    assert_eq!(value(&out, "invitation_code").len(), 14);

    let mut c = cmd();
    c.args([
        "admin",
        "add-to-care-team",
        "--patient",
        &patient,
        "--user",
        &doc,
    ]);
    run(c, None);

    // serve (the default subcommand) on an ephemeral port; the address comes from the log.
    let mut serve = cmd();
    serve
        .env("PAINDIARY_LISTEN", "127.0.0.1:0")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = serve.spawn().unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut addr = None;
    let mut line = String::new();
    while stderr.read_line(&mut line).unwrap() > 0 {
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line)
            && v["message"] == "listening"
        {
            addr = v["addr"].as_str().map(str::to_owned);
            break;
        }
        line.clear();
    }
    let addr = addr.expect("server logged its address");
    assert!(http_get(&addr, "/readyz").starts_with("HTTP/1.1 200"));

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "server did not exit after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "exit status {status}");
    let mut rest = String::new();
    stderr.read_to_string(&mut rest).unwrap();
    assert!(rest.contains("SIGTERM received"), "{rest}");
    assert!(rest.contains("server stopped"), "{rest}");
}

#[test]
fn binary_on_sqlite() {
    if !selected("sqlite") {
        return;
    }
    let dir = std::env::temp_dir().join(format!("paindiary-cli-{}", uuid::Uuid::new_v4().simple()));
    exercise_binary(dir.join("data"), None);
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_on_postgres() {
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
    let dir = std::env::temp_dir().join(format!("paindiary-cli-{name}"));
    let result = tokio::task::spawn_blocking(move || exercise_binary(dir, Some(&url))).await;
    let _ = admin
        .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .await;
    if let Err(e) = result {
        std::panic::resume_unwind(e.into_panic());
    }
}
