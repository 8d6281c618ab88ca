//! The `paindiary-tools demo` and `paindiary-tools phone` commands of the real binary: the
//! demo seeds a temporary data directory, prints where to log in and where mail lands, and
//! a second run keeps the data; the phone CLI explains what to do before it is logged in,
//! and against a served demo takes options on either side of its subcommands, prints user
//! errors without backtraces, survives a closed pipe and goes offline without losing
//! anything.

// Tests report failure by panicking.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A fresh directory under the system's temp dir, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        let dir = std::env::temp_dir().join(format!(
            "paindiary-demo-cli-{}",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn paindiary(data_dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_paindiary-tools"));
    for (k, _) in std::env::vars() {
        if k.starts_with("PAINDIARY_") {
            cmd.env_remove(k);
        }
    }
    // SQLite in the temporary directory, any free port.
    cmd.env("PAINDIARY_DATA_DIR", data_dir)
        .env("PAINDIARY_LISTEN", "127.0.0.1:0")
        .env("PAINDIARY_LOG__FORMAT", "json");
    cmd
}

fn stdout_of(out: &Output) -> String {
    assert!(
        out.status.success(),
        "paindiary failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

#[test]
fn demo_seeds_a_temp_directory_prints_logins_and_keeps_its_data() {
    let tmp = TempDir::new();
    let data = tmp.path().join("demo-data");
    let out = paindiary(tmp.path())
        .args([
            "demo",
            "--no-serve",
            "--patients",
            "3",
            "--days",
            "20",
            "--data-dir",
        ])
        .arg(&data)
        .output()
        .unwrap();
    let text = stdout_of(&out);
    assert!(
        text.contains("Seeded Demo Pain Clinic: 3 patients,"),
        "{text}"
    );
    assert!(text.contains("Dashboard:  http://127.0.0.1:"), "{text}");
    assert!(text.contains("/dashboard"), "{text}");
    assert!(text.contains("dr.rivera@demo.paindiary.test  password paindiary-demo-2026"));
    assert!(text.contains("nurse.okafor@demo.paindiary.test"));
    assert!(
        text.contains(&format!("{}", data.join("mail").display())),
        "{text}"
    );
    // The database is in the directory given, not in the configured one.
    assert!(data.join("paindiary.db").exists());
    assert!(!tmp.path().join("paindiary.db").exists());
    // The simulated phones' stores are cleaned up.
    assert!(!data.join("demo-phones").exists());

    let again = paindiary(tmp.path())
        .args(["demo", "--no-serve", "--data-dir"])
        .arg(&data)
        .output()
        .unwrap();
    let text = stdout_of(&again);
    assert!(text.contains("Demo data already present"), "{text}");
}

#[test]
fn phone_commands_before_login_say_what_to_do() {
    let tmp = TempDir::new();
    let out = paindiary(tmp.path())
        .args(["phone", "--dir"])
        .arg(tmp.path().join("phone"))
        .args(["log", "pain", "--score", "5"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("run `paindiary-tools phone login`"), "{err}");
}

/// A served demo (one patient, a few days), killed when dropped.
struct ServedDemo {
    child: Child,
    base_url: String,
}

impl ServedDemo {
    fn start(data: &Path) -> Self {
        let mut child = paindiary(data)
            .args(["demo", "--patients", "1", "--days", "3", "--data-dir"])
            .arg(data)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (lines_tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if lines_tx.send(line).is_err() {
                    break;
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(180);
        let base_url = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = lines
                .recv_timeout(left)
                .expect("the demo printed its dashboard address in time");
            if let Some(url) = line.strip_prefix("Dashboard:  ") {
                break url.trim_end_matches("/dashboard").to_owned();
            }
        };
        Self { child, base_url }
    }

    /// SIGTERM, then wait for the exit (the server is down afterwards).
    fn stop(&mut self) {
        let killed = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.child.try_wait().unwrap().is_none() {
            assert!(Instant::now() < deadline, "the demo did not stop");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for ServedDemo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn phone_cli_against_a_served_demo_is_friendly_on_every_path() {
    let tmp = TempDir::new();
    let data = tmp.path().join("demo-data");
    let mut demo = ServedDemo::start(&data);
    let dir = tmp.path().join("my-phone");
    let phone = |args: &[&str]| {
        let mut cmd = paindiary(tmp.path());
        cmd.arg("phone").args(args).arg("--dir").arg(&dir);
        cmd.env("RUST_BACKTRACE", "1");
        cmd
    };

    // `--dir` after the subcommand (it is global), `--at` on either side of the kind.
    let out = phone(&[
        "login",
        "--server",
        &demo.base_url,
        "--email",
        "patient01@demo.paindiary.test",
        "--password",
        "paindiary-demo-2026",
    ])
    .output()
    .unwrap();
    let text = stdout_of(&out);
    assert!(text.contains("logged in to"), "{text}");
    assert!(dir.join("phone.json").exists());
    let text = stdout_of(
        &phone(&["log", "--at", "-2h", "pain", "--score", "6"])
            .output()
            .unwrap(),
    );
    assert!(text.starts_with("recorded pain entry"), "{text}");
    let text = stdout_of(
        &phone(&[
            "log",
            "exercise",
            "--minutes",
            "20",
            "--kind",
            "walking",
            "--at",
            "yesterday 18:00",
        ])
        .output()
        .unwrap(),
    );
    assert!(text.contains("(2 not yet synced)"), "{text}");

    // A user error is one line, no backtrace, even with RUST_BACKTRACE=1.
    let out = phone(&["log", "pain", "--score", "12"]).output().unwrap();
    assert!(!out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "Error: score must be between 0 and 10, got 12\n"
    );
    let out = phone(&["log", "pain", "--score", "3", "--at", "soon"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.starts_with("Error: cannot read --at \"soon\""), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");

    // Output into a pipe whose reader is gone: no panic, the command still succeeds.
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = phone(&["list"])
        .stdout(writer)
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{} {err}", out.status);
    assert!(!err.contains("panicked"), "{err}");

    // The server goes away: the sync says so in one sentence and keeps everything.
    demo.stop();
    let out = phone(&["sync"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "offline: 2 entries kept on this phone; they will sync next time\n"
    );
    let text = stdout_of(&phone(&["list"]).output().unwrap());
    assert!(
        text.starts_with("2 entries on this phone, 2 not yet synced (marked *)"),
        "{text}"
    );

    // The same demo command serves the same data again; the phone syncs what it kept.
    let demo = ServedDemo::start(&data);
    let mut login_again = phone(&[
        "login",
        "--server",
        &demo.base_url,
        "--email",
        "patient01@demo.paindiary.test",
        "--password",
        "paindiary-demo-2026",
    ]);
    stdout_of(&login_again.output().unwrap());
    let text = stdout_of(&phone(&["sync"]).output().unwrap());
    assert!(text.contains("2 entries sent"), "{text}");
    let text = stdout_of(&phone(&["list"]).output().unwrap());
    assert!(text.contains(", 0 not yet synced"), "{text}");
}
