//! The `paindiary-tools demo` and `paindiary-tools phone` commands of the real binary: the demo seeds
//! a temporary data directory, prints where to log in and where mail lands, and a second
//! run keeps the data; the phone CLI explains what to do before it is logged in.

// Tests report failure by panicking.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

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
