//! `paindiary-tools phone ...`: a phone on the command line, built on the `sync` crate's
//! [`Replica`]. It logs in (or enrols) once over the REST API, keeps the token and the
//! patient's documents in a local directory, records entries offline, and syncs them over
//! the automerge-repo WebSocket whenever asked: exactly what a phone app does.

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use paindiary_sync::ids::PatientId as DocPatientId;
use paindiary_sync::replica::{Durability, Replica, ReplicaError, ServerEndpoint, SyncScope};
use paindiary_sync::schema::{
    Entry, EntryMeta, ExerciseSession, MedicationIntake, PainEntry, PegCheckin, WellbeingEntry,
};
use serde::{Deserialize, Serialize};

/// The file in the phone directory that holds the server, token and patient.
const ACCOUNT_FILE: &str = "phone.json";
/// The sync WebSocket's path (the hub's route in `hub/connection.rs`).
const SYNC_PATH: &str = "/sync";

/// Options of `paindiary-tools phone`.
#[derive(Debug, clap::Args)]
pub struct PhoneArgs {
    /// The phone's local store (documents, sync states, token).
    #[arg(long, env = "PAINDIARY_PHONE_DIR", default_value = "phone")]
    pub dir: PathBuf,
    /// What to do.
    #[command(subcommand)]
    pub command: PhoneCommand,
}

/// `paindiary-tools phone ...` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum PhoneCommand {
    /// Log in with an existing patient account and keep the device token.
    Login {
        /// The server's base URL, e.g. `http://127.0.0.1:8080`.
        #[arg(long)]
        server: String,
        /// Account email.
        #[arg(long)]
        email: String,
        /// Account password.
        #[arg(long, env = "PAINDIARY_PHONE_PASSWORD")]
        password: String,
    },
    /// Redeem an invitation code: create the patient account and log this phone in.
    Enrol {
        /// The server's base URL, e.g. `http://127.0.0.1:8080`.
        #[arg(long)]
        server: String,
        /// The invitation code from the clinic.
        #[arg(long)]
        code: String,
        /// Email for the new account.
        #[arg(long)]
        email: String,
        /// Password for the new account (at least 12 characters).
        #[arg(long, env = "PAINDIARY_PHONE_PASSWORD")]
        password: String,
    },
    /// Record an entry (offline; `sync` sends it).
    #[command(subcommand)]
    Log(LogCommand),
    /// The weekly PEG check-in: pain, enjoyment of life, general activity (0-10 each).
    Checkin {
        /// Average pain in the past week.
        #[arg(long)]
        pain: f64,
        /// How much pain interfered with enjoyment of life.
        #[arg(long)]
        enjoyment: f64,
        /// How much pain interfered with general activity.
        #[arg(long)]
        activity: f64,
        /// Free-text note.
        #[arg(long)]
        note: Option<String>,
    },
    /// Show the entries on this phone, newest first.
    List {
        /// Show at most this many entries.
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// Send what was recorded offline and fetch what changed elsewhere.
    Sync {
        /// Every month on the phone, not only recent ones and those with unsent entries.
        #[arg(long)]
        all: bool,
    },
}

/// `paindiary-tools phone log ...`
#[derive(Debug, clap::Subcommand)]
pub enum LogCommand {
    /// Pain on the 0-10 scale.
    Pain {
        /// Pain now, 0 (none) to 10 (worst imaginable).
        #[arg(long)]
        score: f64,
        /// Worst pain today.
        #[arg(long)]
        worst: Option<f64>,
        /// Least pain today.
        #[arg(long)]
        least: Option<f64>,
        /// Body region (repeatable), e.g. lower_back, knee_left.
        #[arg(long = "location")]
        locations: Vec<String>,
        /// Quality (repeatable), e.g. aching, burning, shooting.
        #[arg(long = "quality")]
        qualities: Vec<String>,
        /// Free-text note.
        #[arg(long)]
        note: Option<String>,
    },
    /// A medication taken (or skipped).
    Med {
        /// Drug name, e.g. oxycodone.
        #[arg(long)]
        drug: String,
        /// Dose in milligrams (shorthand for `--amount N --unit mg`).
        #[arg(long, conflicts_with_all = ["amount", "unit"])]
        dose_mg: Option<f64>,
        /// Dose amount in `--unit`.
        #[arg(long, requires = "unit")]
        amount: Option<f64>,
        /// Dose unit: mg, mcg, ml, tablet, capsule, patch, ...
        #[arg(long, requires = "amount")]
        unit: Option<String>,
        /// Route: oral, transdermal, sublingual, ...
        #[arg(long, default_value = "oral")]
        route: String,
        /// Taken as needed (PRN).
        #[arg(long)]
        prn: bool,
        /// The dose was skipped, not taken.
        #[arg(long)]
        skipped: bool,
        /// Free-text note.
        #[arg(long)]
        note: Option<String>,
    },
    /// An exercise session.
    Exercise {
        /// Duration in minutes.
        #[arg(long)]
        minutes: f64,
        /// What, e.g. walking, stretching, physio exercises.
        #[arg(long)]
        kind: String,
        /// Perceived exertion 0-10.
        #[arg(long)]
        exertion: Option<f64>,
        /// Free-text note.
        #[arg(long)]
        note: Option<String>,
    },
    /// Sleep, mood and stress.
    Wellbeing {
        /// Hours slept last night.
        #[arg(long)]
        sleep: Option<f64>,
        /// Sleep quality 0-10.
        #[arg(long)]
        sleep_quality: Option<f64>,
        /// Mood 0-10 (10 best).
        #[arg(long)]
        mood: Option<f64>,
        /// Stress 0-10.
        #[arg(long)]
        stress: Option<f64>,
        /// Free-text note.
        #[arg(long)]
        note: Option<String>,
    },
}

/// Why a phone command failed; every message is meant for the person at the terminal.
#[derive(Debug, thiserror::Error)]
pub enum PhoneError {
    /// No login yet.
    #[error(
        "this phone is not logged in (no {0}); run `paindiary-tools phone login` or `paindiary-tools phone enrol` first"
    )]
    NotLoggedIn(String),
    /// The server answered with an error.
    #[error("the server refused: {0}")]
    Refused(String),
    /// The server could not be reached.
    #[error("cannot reach the server at {url}: {reason}")]
    Unreachable {
        /// The URL tried.
        url: String,
        /// Why.
        reason: String,
    },
    /// The URL is not http(s) or ws(s).
    #[error("server URL must start with http://, https://, ws:// or wss://, got {0:?}")]
    BadUrl(String),
    /// The entry or the local store refused (the message says why).
    #[error(transparent)]
    Replica(#[from] ReplicaError),
    /// The account file could not be read or written.
    #[error("phone account file {path}: {reason}")]
    Account {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

/// What `login`/`enrol` keep in the phone directory.
#[derive(Serialize, Deserialize)]
struct Account {
    /// `http(s)://host:port`.
    server: String,
    /// `ws(s)://host:port/sync`.
    sync_url: String,
    token: String,
    patient_id: DocPatientId,
    timezone: String,
    /// Entries recorded since the last successful sync.
    #[serde(default)]
    unsent_entries: u64,
}

#[derive(Deserialize)]
struct LoginAnswer {
    token: String,
    user: LoginUser,
}

#[derive(Deserialize)]
struct LoginUser {
    patient_id: Option<DocPatientId>,
}

#[derive(Deserialize)]
struct PatientAnswer {
    timezone: String,
}

#[derive(Deserialize)]
struct ErrorAnswer {
    message: String,
}

/// Runs one phone command; `out` receives each line meant for the user (progress
/// included), as it happens.
pub async fn run(args: PhoneArgs, out: &mut (dyn FnMut(&str) + Send)) -> Result<(), PhoneError> {
    let dir = args.dir;
    match args.command {
        PhoneCommand::Login {
            server,
            email,
            password,
        } => {
            let body = serde_json::json!({"email": email, "password": password,
                "device_name": "paindiary phone CLI"});
            connect_account(&dir, &server, "/api/v1/auth/login", body, out).await
        }
        PhoneCommand::Enrol {
            server,
            code,
            email,
            password,
        } => {
            let body = serde_json::json!({"code": code, "email": email, "password": password,
                "device_name": "paindiary phone CLI"});
            connect_account(&dir, &server, "/api/v1/enrol", body, out).await
        }
        PhoneCommand::Log(log) => {
            let mut account = read_account(&dir)?;
            let entry = log_entry(log, meta(&account.timezone, Utc::now()));
            record(&dir, &mut account, &entry, out)
        }
        PhoneCommand::Checkin {
            pain,
            enjoyment,
            activity,
            note,
        } => {
            let mut account = read_account(&dir)?;
            let entry = Entry::Checkin(PegCheckin {
                meta: meta(&account.timezone, Utc::now()),
                pain,
                enjoyment,
                activity,
                note,
            });
            record(&dir, &mut account, &entry, out)
        }
        PhoneCommand::List { limit } => list(&dir, limit, out),
        PhoneCommand::Sync { all } => sync(&dir, all, out).await,
    }
}

fn meta(tz: &str, now: DateTime<Utc>) -> EntryMeta {
    EntryMeta {
        recorded_at: now,
        tz: tz.to_owned(),
        deleted_at: None,
        updated_at: None,
    }
}

fn log_entry(log: LogCommand, meta: EntryMeta) -> Entry {
    match log {
        LogCommand::Pain {
            score,
            worst,
            least,
            locations,
            qualities,
            note,
        } => Entry::Pain(PainEntry {
            meta,
            score,
            worst,
            least,
            locations,
            location_note: None,
            qualities,
            note,
        }),
        LogCommand::Med {
            drug,
            dose_mg,
            amount,
            unit,
            route,
            prn,
            skipped,
            note,
        } => {
            let (amount, unit) = match (dose_mg, amount, unit) {
                (Some(mg), _, _) => (mg, "mg".to_owned()),
                (None, Some(a), Some(u)) => (a, u),
                // clap requires one of the two forms; a missing dose is caught by validation.
                _ => (0.0, "mg".to_owned()),
            };
            Entry::Medication(MedicationIntake {
                meta,
                drug,
                rxnorm: None,
                amount,
                unit,
                route: Some(route),
                status: if skipped { "skipped" } else { "taken" }.to_owned(),
                prn,
                prn_reason: None,
                note,
            })
        }
        LogCommand::Exercise {
            minutes,
            kind,
            exertion,
            note,
        } => Entry::Exercise(ExerciseSession {
            meta,
            activity: kind,
            minutes,
            sets: None,
            reps: None,
            exertion,
            note,
        }),
        LogCommand::Wellbeing {
            sleep,
            sleep_quality,
            mood,
            stress,
            note,
        } => Entry::Wellbeing(WellbeingEntry {
            meta,
            sleep_hours: sleep,
            sleep_quality,
            mood,
            stress,
            note,
        }),
    }
}

fn open_replica(dir: &Path, account: &Account) -> Result<Replica, PhoneError> {
    Ok(Replica::open(dir, account.patient_id, Durability::Sync)?)
}

fn record(
    dir: &Path,
    account: &mut Account,
    entry: &Entry,
    out: &mut (dyn FnMut(&str) + Send),
) -> Result<(), PhoneError> {
    let mut replica = open_replica(dir, account)?;
    let id = replica.record(entry, Utc::now())?;
    account.unsent_entries += 1;
    write_account(dir, account)?;
    out(&format!(
        "recorded {} entry {id} on this phone ({} not yet synced)",
        entry.kind(),
        account.unsent_entries
    ));
    Ok(())
}

fn list(dir: &Path, limit: usize, out: &mut (dyn FnMut(&str) + Send)) -> Result<(), PhoneError> {
    let account = read_account(dir)?;
    let mut replica = open_replica(dir, &account)?;
    let mut entries = Vec::new();
    for month in replica.months()? {
        entries.extend(replica.entries(month)?.live().cloned());
    }
    entries.sort_by_key(|e| std::cmp::Reverse(e.entry.meta().recorded_at));
    out(&format!("{} entries on this phone", entries.len()));
    for stored in entries.iter().take(limit) {
        let e = &stored.entry;
        let when = e.meta().recorded_at.format("%Y-%m-%d %H:%M UTC");
        let what = match e {
            Entry::Pain(p) => format!("pain {}", p.score),
            Entry::Medication(m) => format!(
                "medication {} {} {} ({})",
                m.drug, m.amount, m.unit, m.status
            ),
            Entry::Exercise(x) => format!("exercise {} {} min", x.activity, x.minutes),
            Entry::Wellbeing(w) => format!(
                "wellbeing sleep {} h, mood {}, stress {}",
                opt(w.sleep_hours),
                opt(w.mood),
                opt(w.stress)
            ),
            Entry::Checkin(c) => format!("checkin PEG {}/{}/{}", c.pain, c.enjoyment, c.activity),
        };
        out(&format!("{when}  {what}  [{}]", stored.id));
    }
    Ok(())
}

fn opt(v: Option<f64>) -> String {
    v.map_or_else(|| "-".to_owned(), |v| v.to_string())
}

async fn sync(dir: &Path, all: bool, out: &mut (dyn FnMut(&str) + Send)) -> Result<(), PhoneError> {
    let mut account = read_account(dir)?;
    let mut replica = open_replica(dir, &account)?;
    replica.set_timeout(Duration::from_secs(30));
    out(&format!(
        "syncing with {} ({} entries to send)...",
        account.sync_url, account.unsent_entries
    ));
    let endpoint = ServerEndpoint {
        url: account.sync_url.clone(),
        token: Some(account.token.clone()),
    };
    let scope = if all {
        SyncScope::All
    } else {
        SyncScope::Recent
    };
    let report = replica.sync_scope(&endpoint, scope, Utc::now()).await?;
    let sent = account.unsent_entries;
    account.unsent_entries = 0;
    write_account(dir, &account)?;
    out(&format!(
        "synced: {} documents, {sent} entries sent, {} changes received, {} bytes sent, {} bytes received",
        report.documents, report.changes_received, report.bytes_sent, report.bytes_received
    ));
    Ok(())
}

/// Logs in or enrols over REST, learns the patient's time zone, keeps the account.
async fn connect_account(
    dir: &Path,
    server: &str,
    path: &str,
    body: serde_json::Value,
    out: &mut (dyn FnMut(&str) + Send),
) -> Result<(), PhoneError> {
    let (base, sync_url) = urls(server)?;
    paindiary_server::install_crypto_provider();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| PhoneError::Unreachable {
            url: base.clone(),
            reason: e.to_string(),
        })?;
    let answer: LoginAnswer = call(client.post(format!("{base}{path}")).json(&body), &base).await?;
    let patient_id = answer.user.patient_id.ok_or_else(|| {
        PhoneError::Refused("this account is not a patient's; the phone CLI is for patients".into())
    })?;
    let patient: PatientAnswer = call(
        client
            .get(format!("{base}/api/v1/patients/{patient_id}"))
            .bearer_auth(&answer.token),
        &base,
    )
    .await?;
    let account = Account {
        server: base.clone(),
        sync_url,
        token: answer.token,
        patient_id,
        timezone: patient.timezone,
        unsent_entries: 0,
    };
    std::fs::create_dir_all(dir).map_err(|e| PhoneError::Account {
        path: dir.to_owned(),
        reason: e.to_string(),
    })?;
    // Opening the replica now binds the directory to this patient.
    open_replica(dir, &account)?;
    write_account(dir, &account)?;
    out(&format!(
        "logged in to {base} as patient {patient_id} (time zone {}); phone data in {}",
        account.timezone,
        dir.display()
    ));
    Ok(())
}

async fn call<T: serde::de::DeserializeOwned>(
    request: reqwest::RequestBuilder,
    base: &str,
) -> Result<T, PhoneError> {
    let unreachable = |e: reqwest::Error| PhoneError::Unreachable {
        url: base.to_owned(),
        reason: e.to_string(),
    };
    let response = request.send().await.map_err(unreachable)?;
    let status = response.status();
    let bytes = response.bytes().await.map_err(unreachable)?;
    if !status.is_success() {
        let message = serde_json::from_slice::<ErrorAnswer>(&bytes)
            .map_or_else(|_| format!("HTTP {status}"), |e| e.message);
        return Err(PhoneError::Refused(message));
    }
    serde_json::from_slice(&bytes)
        .map_err(|e| PhoneError::Refused(format!("unexpected answer ({e})")))
}

/// The REST base URL and the sync WebSocket URL of a server given either way.
fn urls(server: &str) -> Result<(String, String), PhoneError> {
    let server = server.trim().trim_end_matches('/');
    let server = server.strip_suffix(SYNC_PATH).unwrap_or(server);
    let (http, ws, rest) = if let Some(rest) = server.strip_prefix("http://") {
        ("http", "ws", rest)
    } else if let Some(rest) = server.strip_prefix("https://") {
        ("https", "wss", rest)
    } else if let Some(rest) = server.strip_prefix("ws://") {
        ("http", "ws", rest)
    } else if let Some(rest) = server.strip_prefix("wss://") {
        ("https", "wss", rest)
    } else {
        return Err(PhoneError::BadUrl(server.to_owned()));
    };
    Ok((
        format!("{http}://{rest}"),
        format!("{ws}://{rest}{SYNC_PATH}"),
    ))
}

fn read_account(dir: &Path) -> Result<Account, PhoneError> {
    let path = dir.join(ACCOUNT_FILE);
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(PhoneError::NotLoggedIn(path.display().to_string()));
        }
        Err(e) => {
            return Err(PhoneError::Account {
                path,
                reason: e.to_string(),
            });
        }
    };
    serde_json::from_slice(&bytes).map_err(|e| PhoneError::Account {
        path,
        reason: e.to_string(),
    })
}

fn write_account(dir: &Path, account: &Account) -> Result<(), PhoneError> {
    let path = dir.join(ACCOUNT_FILE);
    let err = |e: String| PhoneError::Account {
        path: path.clone(),
        reason: e,
    };
    let bytes = serde_json::to_vec_pretty(account).map_err(|e| err(e.to_string()))?;
    let tmp = dir.join(format!("{ACCOUNT_FILE}.tmp"));
    // The token is a credential: owner-only permissions before it is written.
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&tmp).map_err(|e| err(e.to_string()))?;
    std::io::Write::write_all(&mut file, &bytes).map_err(|e| err(e.to_string()))?;
    file.sync_all().map_err(|e| err(e.to_string()))?;
    std::fs::rename(&tmp, &path).map_err(|e| err(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_urls_in_every_form_give_the_same_endpoints() {
        for given in [
            "http://127.0.0.1:8080",
            "http://127.0.0.1:8080/",
            "ws://127.0.0.1:8080/sync",
        ] {
            let (base, ws) = urls(given).unwrap();
            assert_eq!(base, "http://127.0.0.1:8080");
            assert_eq!(ws, "ws://127.0.0.1:8080/sync");
        }
        assert_eq!(
            urls("https://diary.example.org").unwrap().1,
            "wss://diary.example.org/sync"
        );
        assert!(matches!(
            urls("diary.example.org"),
            Err(PhoneError::BadUrl(_))
        ));
    }
}
