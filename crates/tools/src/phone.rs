//! `paindiary-tools phone ...`: a phone on the command line, built on the `sync` crate's
//! [`Replica`]. It logs in (or enrols) once over the REST API, keeps the token and the
//! patient's documents in a local directory, records, edits and deletes entries offline
//! (at the moment they happened, in the patient's zone), and syncs them over the
//! automerge-repo WebSocket whenever asked: exactly what a phone app does.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use paindiary_sync::ids::{EntryId, Month, PatientId as DocPatientId};
use paindiary_sync::replica::{
    Durability, Replica, ReplicaError, ServerEndpoint, SyncError, SyncScope, month_of,
};
use paindiary_sync::schema::month::FieldValue;
use paindiary_sync::schema::{
    Entry, EntryKind, EntryMeta, ExerciseSession, MedicationIntake, PainEntry, PegCheckin,
    StoredEntry, WellbeingEntry,
};
use serde::{Deserialize, Serialize};

use crate::local_time::{self, AtError};

/// The file in the phone directory that holds the server, token and patient.
const ACCOUNT_FILE: &str = "phone.json";
/// The sync WebSocket's path (the hub's route in `hub/connection.rs`).
const SYNC_PATH: &str = "/sync";

/// Options of `paindiary-tools phone`.
#[derive(Debug, clap::Args)]
pub struct PhoneArgs {
    /// The phone's local store (documents, sync states, token); accepted before or after
    /// the subcommand.
    #[arg(
        long,
        global = true,
        env = "PAINDIARY_PHONE_DIR",
        default_value = "phone"
    )]
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
    Log(LogArgs),
    /// The weekly PEG check-in: pain, enjoyment of life, general activity (0-10 each).
    Checkin {
        /// When, in the patient's time zone: "2026-12-06 21:30", "yesterday 21:30", "21:30"
        /// (today) or a time ago such as -2h or -1h30m; now if omitted.
        #[arg(long, allow_hyphen_values = true)]
        at: Option<String>,
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
    /// Change fields of an entry, by the ID `list` shows (its last 8 characters are
    /// enough); only the options given change.
    Edit(Box<EditArgs>),
    /// Delete an entry, by the ID `list` shows (its last 8 characters are enough).
    Delete {
        /// The entry's ID.
        id: String,
    },
    /// Show the entries on this phone, newest first, in the patient's time zone; entries
    /// with changes not yet synced are marked.
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

/// `paindiary-tools phone log [--at WHEN] KIND ...`
#[derive(Debug, clap::Args)]
pub struct LogArgs {
    /// When, in the patient's time zone: "2026-12-06 21:30", "yesterday 21:30", "21:30"
    /// (today) or a time ago such as -2h or -1h30m; now if omitted.
    #[arg(long, global = true, allow_hyphen_values = true)]
    pub at: Option<String>,
    /// What to record.
    #[command(subcommand)]
    pub entry: LogCommand,
}

/// `paindiary-tools phone edit ID ...`: each option replaces that field.
#[derive(Debug, Default, clap::Args)]
pub struct EditArgs {
    /// The entry's ID as `list` shows it.
    pub id: String,
    /// A new time (same forms as `log --at`), within the entry's month.
    #[arg(long, allow_hyphen_values = true)]
    pub at: Option<String>,
    /// Pain entries: the score 0-10.
    #[arg(long)]
    pub score: Option<f64>,
    /// Pain entries: worst pain today.
    #[arg(long)]
    pub worst: Option<f64>,
    /// Pain entries: least pain today.
    #[arg(long)]
    pub least: Option<f64>,
    /// Pain entries: body regions (repeatable; replaces the list).
    #[arg(long = "location")]
    pub locations: Vec<String>,
    /// Pain entries: qualities (repeatable; replaces the list).
    #[arg(long = "quality")]
    pub qualities: Vec<String>,
    /// Medication entries: the drug.
    #[arg(long)]
    pub drug: Option<String>,
    /// Medication entries: the dose in milligrams (sets amount and unit).
    #[arg(long, conflicts_with_all = ["amount", "unit"])]
    pub dose_mg: Option<f64>,
    /// Medication entries: the dose amount.
    #[arg(long)]
    pub amount: Option<f64>,
    /// Medication entries: the dose unit.
    #[arg(long)]
    pub unit: Option<String>,
    /// Medication entries: the route.
    #[arg(long)]
    pub route: Option<String>,
    /// Medication entries: taken or skipped.
    #[arg(long, value_parser = ["taken", "skipped"])]
    pub status: Option<String>,
    /// Medication entries: taken as needed (true or false).
    #[arg(long)]
    pub prn: Option<bool>,
    /// Exercise entries: minutes.
    #[arg(long)]
    pub minutes: Option<f64>,
    /// Exercise entries: what, e.g. walking.
    #[arg(long)]
    pub kind: Option<String>,
    /// Exercise entries: perceived exertion 0-10.
    #[arg(long)]
    pub exertion: Option<f64>,
    /// Wellbeing entries: hours slept.
    #[arg(long)]
    pub sleep: Option<f64>,
    /// Wellbeing entries: sleep quality 0-10.
    #[arg(long)]
    pub sleep_quality: Option<f64>,
    /// Wellbeing entries: mood 0-10.
    #[arg(long)]
    pub mood: Option<f64>,
    /// Wellbeing entries: stress 0-10.
    #[arg(long)]
    pub stress: Option<f64>,
    /// Check-ins: average pain in the past week.
    #[arg(long)]
    pub pain: Option<f64>,
    /// Check-ins: interference with enjoyment of life.
    #[arg(long)]
    pub enjoyment: Option<f64>,
    /// Check-ins: interference with general activity.
    #[arg(long)]
    pub activity: Option<f64>,
    /// Any entry: the note (an empty string removes it).
    #[arg(long)]
    pub note: Option<String>,
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
    /// The server cannot be reached now; everything recorded stays on the phone.
    #[error("offline: {} kept on this phone; they will sync next time", entries_phrase(*.kept))]
    Offline {
        /// Entries with changes not yet synced.
        kept: usize,
    },
    /// An `--at` value was refused.
    #[error(transparent)]
    At(#[from] AtError),
    /// No entry on this phone has that ID (or the prefix is shared).
    #[error("{0}")]
    NoSuchEntry(String),
    /// An edit option that the entry's kind does not have.
    #[error("{kind} entries have no {option}")]
    NotForKind {
        /// The entry's kind.
        kind: EntryKind,
        /// The option given.
        option: &'static str,
    },
    /// An edit that would move the entry to another month document.
    #[error(
        "--at {0} is in another month than the entry; delete the entry and log it again with --at"
    )]
    OtherMonth(String),
    /// The patient's time zone is not in this build's time-zone database.
    #[error(
        "this patient's time zone {0:?} is unknown to this build; update paindiary-tools (nothing was recorded)"
    )]
    UnknownZone(String),
    /// `edit` without any change.
    #[error(
        "nothing to change: give at least one option, e.g. --score 6 (see `phone edit --help`)"
    )]
    NothingToEdit,
}

impl PhoneError {
    /// Whether this is the "offline, nothing lost" outcome rather than a failure.
    pub fn is_offline(&self) -> bool {
        matches!(self, PhoneError::Offline { .. })
    }
}

fn entries_phrase(n: usize) -> String {
    if n == 1 {
        "1 entry".to_owned()
    } else {
        format!("{n} entries")
    }
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
    /// Entries recorded, edited or deleted since the last successful sync.
    #[serde(default)]
    unsynced: BTreeSet<EntryId>,
}

impl Account {
    /// The patient's zone, which entries are recorded and shown in.
    fn zone(&self) -> Result<Tz, PhoneError> {
        self.timezone
            .parse()
            .map_err(|_| PhoneError::UnknownZone(self.timezone.chars().take(40).collect()))
    }
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
        PhoneCommand::Log(LogArgs { at, entry }) => {
            let mut account = read_account(&dir)?;
            let now = Utc::now();
            let at = moment(at.as_deref(), &account, now)?;
            let entry = log_entry(entry, meta(&account.timezone, at));
            record(&dir, &mut account, &entry, now, out)
        }
        PhoneCommand::Checkin {
            at,
            pain,
            enjoyment,
            activity,
            note,
        } => {
            let mut account = read_account(&dir)?;
            let now = Utc::now();
            let at = moment(at.as_deref(), &account, now)?;
            let entry = Entry::Checkin(PegCheckin {
                meta: meta(&account.timezone, at),
                pain,
                enjoyment,
                activity,
                note,
            });
            record(&dir, &mut account, &entry, now, out)
        }
        PhoneCommand::Edit(edit) => edit_entry(&dir, *edit, out),
        PhoneCommand::Delete { id } => delete_entry(&dir, &id, out),
        PhoneCommand::List { limit } => list(&dir, limit, out),
        PhoneCommand::Sync { all } => sync(&dir, all, out).await,
    }
}

/// `--at` read in the patient's zone, or now.
fn moment(
    at: Option<&str>,
    account: &Account,
    now: DateTime<Utc>,
) -> Result<DateTime<Utc>, PhoneError> {
    match at {
        Some(text) => Ok(local_time::parse_at(text, account.zone()?, now)?),
        None => Ok(now),
    }
}

fn meta(tz: &str, at: DateTime<Utc>) -> EntryMeta {
    EntryMeta {
        recorded_at: at,
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
    now: DateTime<Utc>,
    out: &mut (dyn FnMut(&str) + Send),
) -> Result<(), PhoneError> {
    let mut replica = open_replica(dir, account)?;
    let id = replica.record(entry, now)?;
    account.unsynced.insert(id);
    write_account(dir, account)?;
    out(&format!(
        "recorded {} entry {id} at {} on this phone ({} not yet synced)",
        entry.kind(),
        local_time::show(entry.meta().recorded_at, account.zone()?),
        account.unsynced.len()
    ));
    Ok(())
}

/// The live entry whose ID is `given` or contains it (IDs are time-ordered UUIDs, so
/// their ends, not their starts, tell entries apart), and its month.
fn find_entry(replica: &mut Replica, given: &str) -> Result<(Month, StoredEntry), PhoneError> {
    let wanted = given.trim().to_ascii_lowercase();
    if wanted.len() < 4 {
        return Err(PhoneError::NoSuchEntry(format!(
            "entry ID {given:?} is too short; give at least its last 8 characters as `list` shows them"
        )));
    }
    let mut found = Vec::new();
    for month in replica.months()? {
        for stored in replica.entries(month)?.live() {
            if stored.id.to_string().contains(&wanted) {
                found.push((month, stored.clone()));
            }
        }
    }
    match found.len() {
        1 => Ok(found.remove(0)),
        0 => Err(PhoneError::NoSuchEntry(format!(
            "no entry {given} on this phone (see `phone list`)"
        ))),
        n => Err(PhoneError::NoSuchEntry(format!(
            "{n} entries match {given}; give more of the ID"
        ))),
    }
}

/// The field writes an edit asks for, checked against the entry's kind.
fn edit_changes(
    edit: &EditArgs,
    kind: EntryKind,
) -> Result<Vec<(&'static str, FieldValue)>, PhoneError> {
    use EntryKind::{Checkin, Exercise, Medication, Pain, Wellbeing};
    let mut changes = Vec::new();
    let mut put = |option: &'static str,
                   kinds: &[EntryKind],
                   field: &'static str,
                   value: Option<FieldValue>|
     -> Result<(), PhoneError> {
        if let Some(value) = value {
            if !kinds.contains(&kind) {
                return Err(PhoneError::NotForKind { kind, option });
            }
            changes.push((field, value));
        }
        Ok(())
    };
    let num = |v: Option<f64>| v.map(FieldValue::number);
    let text = |v: &Option<String>| v.clone().map(FieldValue::Text);
    let list = |v: &Vec<String>| (!v.is_empty()).then(|| FieldValue::TextList(v.clone()));
    put("--score", &[Pain], "score", num(edit.score))?;
    put("--worst", &[Pain], "worst", num(edit.worst))?;
    put("--least", &[Pain], "least", num(edit.least))?;
    put("--location", &[Pain], "locations", list(&edit.locations))?;
    put("--quality", &[Pain], "qualities", list(&edit.qualities))?;
    put("--drug", &[Medication], "drug", text(&edit.drug))?;
    put("--dose-mg", &[Medication], "amount", num(edit.dose_mg))?;
    put(
        "--dose-mg",
        &[Medication],
        "unit",
        edit.dose_mg.map(|_| FieldValue::Text("mg".into())),
    )?;
    put("--amount", &[Medication], "amount", num(edit.amount))?;
    put("--unit", &[Medication], "unit", text(&edit.unit))?;
    put("--route", &[Medication], "route", text(&edit.route))?;
    put("--status", &[Medication], "status", text(&edit.status))?;
    put(
        "--prn",
        &[Medication],
        "prn",
        edit.prn.map(FieldValue::Bool),
    )?;
    put("--minutes", &[Exercise], "minutes", num(edit.minutes))?;
    put("--kind", &[Exercise], "activity", text(&edit.kind))?;
    put("--exertion", &[Exercise], "exertion", num(edit.exertion))?;
    put("--sleep", &[Wellbeing], "sleep_hours", num(edit.sleep))?;
    put(
        "--sleep-quality",
        &[Wellbeing],
        "sleep_quality",
        num(edit.sleep_quality),
    )?;
    put("--mood", &[Wellbeing], "mood", num(edit.mood))?;
    put("--stress", &[Wellbeing], "stress", num(edit.stress))?;
    put("--pain", &[Checkin], "pain", num(edit.pain))?;
    put("--enjoyment", &[Checkin], "enjoyment", num(edit.enjoyment))?;
    put("--activity", &[Checkin], "activity", num(edit.activity))?;
    put(
        "--note",
        &EntryKind::ALL,
        "note",
        edit.note.as_ref().map(|n| {
            if n.is_empty() {
                FieldValue::Remove
            } else {
                FieldValue::Text(n.clone())
            }
        }),
    )?;
    Ok(changes)
}

fn edit_entry(
    dir: &Path,
    edit: EditArgs,
    out: &mut (dyn FnMut(&str) + Send),
) -> Result<(), PhoneError> {
    let mut account = read_account(dir)?;
    let mut replica = open_replica(dir, &account)?;
    let (month, stored) = find_entry(&mut replica, &edit.id)?;
    let kind = stored.entry.kind();
    let mut changes = edit_changes(&edit, kind)?;
    let now = Utc::now();
    if let Some(text) = edit.at.as_deref() {
        let at = local_time::parse_at(text, account.zone()?, now)?;
        // The entry lives in the document of its local month; a move across months would
        // be a delete and a new entry, which the patient should see as such.
        let mut moved = stored.entry.clone();
        set_recorded_at(&mut moved, at);
        if month_of(&moved).map_err(ReplicaError::from)? != month {
            return Err(PhoneError::OtherMonth(local_time::show(
                at,
                account.zone()?,
            )));
        }
        changes.push(("recorded_at", FieldValue::Instant(at)));
    }
    if changes.is_empty() {
        return Err(PhoneError::NothingToEdit);
    }
    replica.edit(month, kind, &stored.id, &changes, now)?;
    account.unsynced.insert(stored.id);
    write_account(dir, &account)?;
    out(&format!(
        "edited {kind} entry {} on this phone ({} not yet synced)",
        stored.id,
        account.unsynced.len()
    ));
    Ok(())
}

fn set_recorded_at(entry: &mut Entry, at: DateTime<Utc>) {
    let meta = match entry {
        Entry::Pain(e) => &mut e.meta,
        Entry::Medication(e) => &mut e.meta,
        Entry::Exercise(e) => &mut e.meta,
        Entry::Wellbeing(e) => &mut e.meta,
        Entry::Checkin(e) => &mut e.meta,
        Entry::Questionnaire(e) => &mut e.meta,
    };
    meta.recorded_at = at;
}

fn delete_entry(
    dir: &Path,
    given: &str,
    out: &mut (dyn FnMut(&str) + Send),
) -> Result<(), PhoneError> {
    let mut account = read_account(dir)?;
    let mut replica = open_replica(dir, &account)?;
    let (month, stored) = find_entry(&mut replica, given)?;
    let kind = stored.entry.kind();
    replica.delete(month, kind, &stored.id, Utc::now())?;
    account.unsynced.insert(stored.id);
    write_account(dir, &account)?;
    out(&format!(
        "deleted {kind} entry {} ({}) on this phone ({} not yet synced)",
        stored.id,
        local_time::show(stored.entry.meta().recorded_at, account.zone()?),
        account.unsynced.len()
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
    let unsynced = entries
        .iter()
        .filter(|e| account.unsynced.contains(&e.id))
        .count();
    // Deleted entries are not listed, but their deletion still waits for a sync.
    let deletions = match account.unsynced.len() - unsynced {
        0 => String::new(),
        1 => ", 1 deletion not yet synced".to_owned(),
        n => format!(", {n} deletions not yet synced"),
    };
    out(&format!(
        "{} on this phone, {unsynced} not yet synced (marked *){deletions}",
        entries_phrase(entries.len())
    ));
    let zone = account.zone()?;
    for stored in entries.iter().take(limit) {
        let e = &stored.entry;
        let when = local_time::show(e.meta().recorded_at, zone);
        let mark = if account.unsynced.contains(&stored.id) {
            '*'
        } else {
            ' '
        };
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
            Entry::Questionnaire(q) => format!(
                "questionnaire {} v{}, {} answers",
                q.instrument,
                q.version,
                q.answers.len()
            ),
        };
        out(&format!("{mark} {when}  {what}  [{}]", stored.id));
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
        "syncing with {} ({} to send)...",
        account.sync_url,
        entries_phrase(account.unsynced.len())
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
    let report = match replica.sync_scope(&endpoint, scope, Utc::now()).await {
        Ok(report) => report,
        Err(ReplicaError::Sync(SyncError::Connection(reason))) => {
            tracing::debug!(%reason, "sync server unreachable");
            return Err(PhoneError::Offline {
                kept: account.unsynced.len(),
            });
        }
        Err(ReplicaError::Sync(SyncError::Timeout(_))) => {
            return Err(PhoneError::Offline {
                kept: account.unsynced.len(),
            });
        }
        Err(ReplicaError::Sync(SyncError::Refused(401))) => {
            return Err(PhoneError::Refused(format!(
                "the server no longer accepts this phone's login (expired or revoked); run `paindiary-tools phone login` again ({} kept on this phone)",
                entries_phrase(account.unsynced.len())
            )));
        }
        Err(e) => return Err(e.into()),
    };
    let sent = account.unsynced.len();
    account.unsynced.clear();
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
        // Logging in again keeps the marks of what this patient's phone has not yet synced.
        unsynced: read_account(dir)
            .ok()
            .filter(|previous| previous.patient_id == patient_id)
            .map(|previous| previous.unsynced)
            .unwrap_or_default(),
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
