//! `paindiary-tools load`: a load generator on the sync crate's real client. N simulated phones,
//! each with its own account and month document (optionally pre-filled), add entries in a
//! closed loop (one change, then wait until the server's reply covers it) and report
//! entry-syncs per second, latency percentiles, bytes, and the server's CPU and peak RSS.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use automerge::AutoCommit;
use automerge::sync::State as SyncState;
use chrono::{Datelike, TimeDelta, Utc};
use paindiary_sync::ids::{EntryId, Month, PatientId as DocPatientId};
use paindiary_sync::protocol::{PeerId, StorageId};
use paindiary_sync::replica::{Connection, ServerEndpoint, SyncTarget};
use paindiary_sync::schema::month::{add_entry_unchecked, read_entries};
use paindiary_sync::schema::{
    DocKind, Entry, EntryMeta, ExerciseSession, MedicationIntake, PainEntry, WellbeingEntry,
};
use serde::Serialize;

use paindiary_server::accounts::{self, NewPatient};
use paindiary_server::domain::{ClinicId, DisplayCode, Email, Password, TimeZoneName, UserId};
use paindiary_server::state::AppState;

/// Options of `paindiary-tools load`.
#[derive(Debug, Clone, clap::Args)]
pub struct LoadArgs {
    /// The sync endpoint, e.g. `ws://127.0.0.1:8080/sync`.
    #[arg(long)]
    pub url: String,
    /// Simulated phones (each its own patient and connection).
    #[arg(long, default_value_t = 10)]
    pub phones: usize,
    /// Entries each phone adds in the measured closed loop.
    #[arg(long, default_value_t = 20)]
    pub entries: usize,
    /// Entries already in each phone's month before measuring.
    #[arg(long, default_value_t = 0)]
    pub history: usize,
    /// The server's process ID, to report its CPU time and peak RSS (Linux /proc).
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// Target an unauthenticated automerge-repo server (e.g. the JS reference server):
    /// no accounts are created and no token is sent.
    #[arg(long)]
    pub no_auth: bool,
    /// Print the report as one JSON object instead of a line of text.
    #[arg(long)]
    pub json: bool,
    /// Seconds one entry-sync may take before it counts as an error.
    #[arg(long, default_value_t = 30)]
    pub timeout_secs: u64,
    /// Crash-test mode: write every phone's acknowledged entries, document and sync state
    /// to this directory (and `<dir>/measuring` when the measured phase starts); a phone
    /// stops at its first failed entry-sync (the server is expected to die).
    #[arg(long, conflicts_with = "verify")]
    pub record: Option<PathBuf>,
    /// Check a `--record` directory against the (restarted) server instead of loading it:
    /// every acknowledged entry is in the documents and the projection, and each phone
    /// resumes without resending its history.
    #[arg(long)]
    pub verify: Option<PathBuf>,
    /// Delivery mode: run an SMTP sink on this address (the server must send its mail
    /// there, `tls = "none"`), give each phone a worsening diary whose last entry opens
    /// an alert, and report the time from that entry's acknowledgement to its email.
    #[arg(long, conflicts_with_all = ["record", "verify", "no_auth"])]
    pub smtp_catcher: Option<std::net::SocketAddr>,
    /// The phones behave like a stock automerge-repo client with storage
    /// (`--storage-ids --mixed --push-measured`).
    #[arg(long)]
    pub stock: bool,
    /// Each phone joins with its own storage ID (not ephemeral), as an automerge-repo
    /// `Repo` with a storage adapter does: the server keeps a sync state per device and
    /// document.
    #[arg(long)]
    pub storage_ids: bool,
    /// Entries of every kind (pain, scheduled and as-needed medication, exercise,
    /// wellbeing), phones spread over several time zones, and a history spread over the
    /// month so far instead of the last few hours.
    #[arg(long)]
    pub mixed: bool,
    /// The history is not brought to the server before measuring: each phone pushes its
    /// month and at once starts its single-entry syncs, all in the measured phase (a phone
    /// installed with a month of offline entries). Entry-syncs count the single entries.
    #[arg(long)]
    pub push_measured: bool,
}

impl LoadArgs {
    fn storage_ids(&self) -> bool {
        self.stock || self.storage_ids
    }

    fn mixed(&self) -> bool {
        self.stock || self.mixed
    }

    fn push_measured(&self) -> bool {
        self.stock || self.push_measured
    }
}

/// What a load run measured.
#[derive(Debug, Serialize)]
pub struct LoadReport {
    /// Phones.
    pub phones: usize,
    /// Entries per document before measuring.
    pub history: usize,
    /// Entry-syncs completed in the measured phase.
    pub entry_syncs: usize,
    /// Entry-syncs that failed or timed out.
    pub errors: usize,
    /// Measured wall time, seconds.
    pub seconds: f64,
    /// Entry-syncs per second.
    pub per_second: f64,
    /// Latency percentiles, milliseconds.
    pub p50_ms: f64,
    /// 95th percentile.
    pub p95_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// WebSocket payload bytes (both directions) per entry-sync.
    pub bytes_per_entry_sync: f64,
    /// Bytes (both directions) of a reconnect that brings one entry made offline.
    pub reconnect_bytes: Option<u64>,
    /// Server CPU (user + system) per entry-sync, microseconds.
    pub server_cpu_us_per_entry_sync: Option<f64>,
    /// Server peak resident memory, MiB.
    pub server_peak_rss_mib: Option<f64>,
    /// Server CPU of one sync round (one phone: rounds are sequential, so the CPU the
    /// server's threads ran between a round's start and end is that round's), median, us.
    pub server_cpu_round_median_us: Option<f64>,
    /// The same, 99th percentile, microseconds.
    pub server_cpu_round_p99_us: Option<f64>,
    /// Every acknowledged entry was found on the server over a fresh connection.
    pub verified: bool,
    /// The phones joined with storage IDs.
    pub storage_ids: bool,
    /// Entries of every kind, phones in several time zones.
    pub mixed: bool,
    /// The months were pushed in the measured phase.
    pub push_measured: bool,
}

struct Phone {
    endpoint: ServerEndpoint,
    peer: PeerId,
    /// The storage ID it joins with (`--storage-ids`).
    storage: Option<StorageId>,
    tz: chrono_tz::Tz,
    patient: DocPatientId,
    doc: AutoCommit,
    state: SyncState,
    /// Entries the server acknowledged (its reply covered them).
    acked: Vec<EntryId>,
}

/// The phones' time zones with `--mixed` (patient `n` has `MIXED_ZONES[n % 5]`).
const MIXED_ZONES: [chrono_tz::Tz; 5] = [
    chrono_tz::Europe::Berlin,
    chrono_tz::America::New_York,
    chrono_tz::Asia::Kolkata,
    chrono_tz::Australia::Sydney,
    chrono_tz::America::Los_Angeles,
];

/// Entry `k` of a `--mixed` phone in `tz`, recorded `minutes_ago`: half pain (with worst
/// and least, locations and qualities), then scheduled and as-needed medication, exercise
/// and wellbeing, as a diary app's patient logs them.
fn mixed_entry(k: usize, minutes_ago: i64, tz: chrono_tz::Tz) -> Entry {
    let meta = EntryMeta {
        recorded_at: Utc::now() - TimeDelta::minutes(minutes_ago),
        tz: tz.name().into(),
        deleted_at: None,
        updated_at: None,
    };
    let score = f64::from(u8::try_from(k % 7).unwrap_or(3)) + 2.0;
    match k % 8 {
        0 | 2 | 4 | 6 => Entry::Pain(PainEntry {
            meta,
            score,
            worst: Some((score + 2.0).min(10.0)),
            least: Some((score - 1.0).max(0.0)),
            locations: vec!["lower_back".into(), "left_leg".into()],
            location_note: None,
            qualities: vec!["aching".into(), "shooting".into()],
            note: None,
        }),
        1 | 5 => Entry::Medication(MedicationIntake {
            meta,
            drug: if k % 8 == 1 {
                "pregabalin"
            } else {
                "oxycodone"
            }
            .into(),
            rxnorm: None,
            amount: if k % 8 == 1 { 75.0 } else { 5.0 },
            unit: "mg".into(),
            route: Some("oral".into()),
            status: "taken".into(),
            prn: k % 8 == 5,
            prn_reason: (k % 8 == 5).then(|| "breakthrough pain".into()),
            note: None,
        }),
        3 => Entry::Exercise(ExerciseSession {
            meta,
            activity: "walking".into(),
            minutes: 20.0 + (k % 3) as f64 * 5.0,
            sets: None,
            reps: None,
            exertion: Some(4.0),
            note: None,
        }),
        _ => Entry::Wellbeing(WellbeingEntry {
            meta,
            sleep_hours: Some(6.5),
            sleep_quality: Some(5.0),
            mood: Some(6.0),
            stress: Some(4.0),
            note: None,
        }),
    }
}

/// The minutes before now of history entry `k` of `n`: the last few hours, or with
/// `--mixed` spread evenly over the month so far (kept inside the current month, at
/// least an hour back).
fn history_minutes_ago(k: usize, n: usize, mixed: bool) -> i64 {
    if !mixed {
        return k as i64 + 60;
    }
    let now = Utc::now();
    let month_start = now
        .date_naive()
        .with_day(1)
        .and_then(|d| d.and_hms_opt(12, 0, 0))
        .map(|d| d.and_utc());
    let span = month_start
        .map(|start| (now - start).num_minutes())
        .unwrap_or(0)
        .max(120);
    60 + (span - 60) * k as i64 / n.max(1) as i64
}

fn pain_entry(minute: i64) -> Entry {
    let now = Utc::now();
    Entry::Pain(PainEntry {
        meta: EntryMeta {
            recorded_at: now - TimeDelta::minutes(minute),
            tz: "Europe/Berlin".into(),
            deleted_at: None,
            updated_at: None,
        },
        score: f64::from(u8::try_from(minute % 11).unwrap_or(5)),
        worst: None,
        least: None,
        locations: vec!["lower_back".into()],
        location_note: None,
        qualities: vec![],
        note: None,
    })
}

/// Runs a load test and returns its report.
pub async fn run(state: Option<AppState>, args: LoadArgs) -> anyhow::Result<LoadReport> {
    let timeout = Duration::from_secs(args.timeout_secs);
    let month = Month::of(Utc::now().date_naive()).context("current month")?;
    let tokens = if args.no_auth {
        vec![None; args.phones]
    } else {
        let state =
            state.context("the load generator needs the server's database to create accounts")?;
        let zones: &[chrono_tz::Tz] = if args.mixed() {
            &MIXED_ZONES
        } else {
            &[PHONE_TZ]
        };
        create_accounts(&state, args.phones, zones).await?
    };

    // Prepare every phone's document and bring it to the server (not measured).
    let mut phones = Vec::with_capacity(args.phones);
    let mixed = args.mixed();
    for (n, token) in tokens.into_iter().enumerate() {
        let (patient, token, tz) = match token {
            Some((patient, token, tz)) => (patient, Some(token), tz),
            None => (DocPatientId::new_random(), None, PHONE_TZ),
        };
        let mut doc = DocKind::DiaryMonth { patient, month }.create(automerge::ActorId::random())?;
        for k in 0..args.history {
            let minutes_ago = history_minutes_ago(k, args.history, mixed);
            let entry = if mixed {
                mixed_entry(k, minutes_ago, tz)
            } else {
                pain_entry(minutes_ago)
            };
            add_entry_unchecked(&mut doc, EntryId::new(), &entry, Utc::now())?;
        }
        let storage = if args.storage_ids() {
            Some(StorageId::new(uuid::Uuid::new_v4().to_string())?)
        } else {
            None
        };
        phones.push(Phone {
            endpoint: ServerEndpoint {
                url: args.url.clone(),
                token,
            },
            peer: PeerId::new(format!("load-{n}"))?,
            storage,
            tz,
            patient,
            doc,
            state: SyncState::new(),
            acked: Vec::new(),
        });
    }
    let mut prepared = Vec::with_capacity(phones.len());
    let mut setup = tokio::task::JoinSet::new();
    let push_measured = args.push_measured();
    for mut phone in phones {
        setup.spawn(async move {
            let mut conn = Connection::connect(
                &phone.endpoint,
                phone.peer.clone(),
                phone.storage.clone(),
                timeout,
            )
            .await?;
            if push_measured {
                return Ok::<_, anyhow::Error>((phone, conn));
            }
            let id = DocKind::DiaryMonth {
                patient: phone.patient,
                month,
            }
            .document_id();
            conn.sync_documents(
                &mut [SyncTarget {
                    id,
                    doc: &mut phone.doc,
                    state: &mut phone.state,
                }],
                timeout * 4,
            )
            .await?;
            phone.acked = read_entries(&phone.doc)
                .entries
                .iter()
                .map(|e| e.id)
                .collect();
            Ok::<_, anyhow::Error>((phone, conn))
        });
    }
    while let Some(joined) = setup.join_next().await {
        prepared.push(joined??);
    }

    // The measured closed loop.
    if let Some(dir) = &args.record {
        crate::load_check::mark_measuring(dir)?;
    }
    let stop_at_first_error = args.record.is_some();
    let cpu_before = args.server_pid.and_then(process_cpu_ticks);
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    // Per-round CPU is only meaningful when rounds do not overlap: one phone.
    let round_pid = args.server_pid.filter(|_| args.phones == 1);
    for (mut phone, mut conn) in prepared {
        let entries = args.entries;
        let history = args.history;
        tasks.spawn(async move {
            let mut latencies = Vec::with_capacity(entries);
            let mut round_cpu = Vec::with_capacity(entries);
            let mut errors = 0usize;
            let id = DocKind::DiaryMonth {
                patient: phone.patient,
                month,
            }
            .document_id();
            if push_measured {
                // The month goes up first, and the single entries follow at once.
                let pushed = conn
                    .sync_documents(
                        &mut [SyncTarget {
                            id,
                            doc: &mut phone.doc,
                            state: &mut phone.state,
                        }],
                        timeout * 4,
                    )
                    .await;
                match pushed {
                    Ok(_) => {
                        phone.acked = read_entries(&phone.doc)
                            .entries
                            .iter()
                            .map(|e| e.id)
                            .collect();
                    }
                    Err(_) => errors += 1,
                }
            }
            // Bytes count the single-entry syncs only.
            let bytes_before = conn.bytes_sent() + conn.bytes_received();
            for k in 0..entries {
                let t = Instant::now();
                let entry = EntryId::new();
                let cpu_start = round_pid.and_then(threads_run_ns);
                let value = if mixed {
                    mixed_entry(history + k, k as i64, phone.tz)
                } else {
                    pain_entry(k as i64)
                };
                if add_entry_unchecked(&mut phone.doc, entry, &value, Utc::now()).is_err() {
                    errors += 1;
                    continue;
                }
                let synced = conn
                    .sync_documents(
                        &mut [SyncTarget {
                            id,
                            doc: &mut phone.doc,
                            state: &mut phone.state,
                        }],
                        timeout,
                    )
                    .await;
                match synced {
                    Ok(_) => {
                        latencies.push(t.elapsed());
                        phone.acked.push(entry);
                        if let (Some(start), Some(end)) =
                            (cpu_start, round_pid.and_then(threads_run_ns))
                        {
                            round_cpu.push(end.saturating_sub(start));
                        }
                    }
                    Err(_) => {
                        errors += 1;
                        if stop_at_first_error {
                            break;
                        }
                    }
                }
            }
            let bytes = conn.bytes_sent() + conn.bytes_received() - bytes_before;
            conn.close().await;
            (phone, latencies, errors, bytes, round_cpu)
        });
    }
    let mut latencies = Vec::new();
    let mut errors = 0;
    let mut bytes = 0;
    let mut finished = Vec::new();
    let mut round_cpu = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        let (phone, l, e, b, r) = joined?;
        latencies.extend(l);
        round_cpu.extend(r);
        errors += e;
        bytes += b;
        finished.push(phone);
    }
    let seconds = started.elapsed().as_secs_f64();
    let cpu_after = args.server_pid.and_then(process_cpu_ticks);
    let entry_syncs = latencies.len();
    if let Some(dir) = &args.record {
        crate::load_check::record(
            dir,
            &args.url,
            &month,
            finished.iter().map(|p| {
                crate::load_check::PhoneRecord::new(
                    p.endpoint.token.clone(),
                    p.patient,
                    &p.doc,
                    &p.state,
                    &p.acked,
                )
            }),
        )?;
    }
    let server_gone = stop_at_first_error && errors > 0;
    latencies.sort();
    let pct = |p: f64| -> f64 {
        if latencies.is_empty() {
            return 0.0;
        }
        let i = ((latencies.len() as f64 * p).ceil() as usize).clamp(1, latencies.len()) - 1;
        latencies[i].as_secs_f64() * 1000.0
    };
    round_cpu.sort_unstable();
    let round_pct = |p: f64| -> Option<f64> {
        if round_cpu.is_empty() {
            return None;
        }
        let i = ((round_cpu.len() as f64 * p).ceil() as usize).clamp(1, round_cpu.len()) - 1;
        Some(round_cpu[i] as f64 / 1000.0)
    };
    let ticks_per_second = 100.0; // USER_HZ on Linux
    let server_cpu_us_per_entry_sync = match (cpu_before, cpu_after) {
        (Some(b), Some(a)) if entry_syncs > 0 => {
            Some((a.saturating_sub(b)) as f64 / ticks_per_second * 1e6 / entry_syncs as f64)
        }
        _ => None,
    };

    // Reconnect cost: one phone adds an entry offline and reconnects with its state kept.
    let reconnect_bytes = match finished.first_mut() {
        Some(phone) if !server_gone => {
            let state_bytes = phone.state.encode();
            let mut state = SyncState::decode(&state_bytes).unwrap_or_default();
            add_entry_unchecked(&mut phone.doc, EntryId::new(), &pain_entry(0), Utc::now())?;
            let mut conn = Connection::connect(
                &phone.endpoint,
                phone.peer.clone(),
                phone.storage.clone(),
                timeout,
            )
            .await?;
            let id = DocKind::DiaryMonth {
                patient: phone.patient,
                month,
            }
            .document_id();
            conn.sync_documents(
                &mut [SyncTarget {
                    id,
                    doc: &mut phone.doc,
                    state: &mut state,
                }],
                timeout,
            )
            .await?;
            let total = conn.bytes_sent() + conn.bytes_received();
            conn.close().await;
            Some(total)
        }
        _ => None,
    };

    // Verify over fresh connections that the server holds every acknowledged entry.
    let mut verified = errors == 0;
    for phone in finished.iter_mut().filter(|_| !server_gone) {
        let id = DocKind::DiaryMonth {
            patient: phone.patient,
            month,
        }
        .document_id();
        let mut conn =
            Connection::connect(&phone.endpoint, PeerId::new("load-verify")?, None, timeout)
                .await?;
        let mut copy = AutoCommit::new();
        let mut state = SyncState::new();
        conn.sync_documents(
            &mut [SyncTarget {
                id,
                doc: &mut copy,
                state: &mut state,
            }],
            timeout * 4,
        )
        .await?;
        conn.close().await;
        if read_entries(&copy).entries.len() != read_entries(&phone.doc).entries.len() {
            verified = false;
        }
    }

    Ok(LoadReport {
        phones: args.phones,
        history: args.history,
        entry_syncs,
        errors,
        seconds,
        per_second: entry_syncs as f64 / seconds.max(1e-9),
        p50_ms: pct(0.50),
        p95_ms: pct(0.95),
        p99_ms: pct(0.99),
        bytes_per_entry_sync: bytes as f64 / entry_syncs.max(1) as f64,
        reconnect_bytes,
        server_cpu_us_per_entry_sync,
        server_peak_rss_mib: args.server_pid.and_then(peak_rss_mib),
        server_cpu_round_median_us: round_pct(0.50),
        server_cpu_round_p99_us: round_pct(0.99),
        verified,
        storage_ids: args.storage_ids(),
        mixed,
        push_measured,
    })
}

/// Creates a clinic and `n` enrolled patients; returns each patient's ID and device token.
async fn create_accounts(
    state: &AppState,
    n: usize,
    zones: &[chrono_tz::Tz],
) -> anyhow::Result<Vec<Option<(DocPatientId, String, chrono_tz::Tz)>>> {
    let run = uuid::Uuid::new_v4().simple().to_string();
    let clinic = accounts::create_clinic(state, &format!("load-{}", &run[..8])).await?;
    let enrolled = enrol_patients(state, clinic.id, None, "load", &run, n, zones).await?;
    Ok(enrolled
        .into_iter()
        .map(|p| Some((p.patient, p.token, p.tz)))
        .collect())
}

/// The simulated phones' time zone.
pub(crate) const PHONE_TZ: chrono_tz::Tz = chrono_tz::Europe::Berlin;

/// One enrolled load-test patient.
pub(crate) struct EnrolledPatient {
    /// The display code as stored (uppercased).
    pub(crate) display_code: String,
    /// The patient's ID in documents.
    pub(crate) patient: DocPatientId,
    /// The device token of its enrolment.
    pub(crate) token: String,
    /// The patient's time zone.
    pub(crate) tz: chrono_tz::Tz,
}

/// Creates and enrols `n` patients of `clinic` (patient `i` in `zones[i % zones.len()]`,
/// [`PHONE_TZ`] when `zones` is empty), each on `care_team`'s care team when given. `label` names the run in display codes (its first letter, then
/// `run`) and emails (`{label}-{run}-{i}@example.invalid`). Results are in completion
/// order.
pub(crate) async fn enrol_patients(
    state: &AppState,
    clinic: ClinicId,
    care_team: Option<UserId>,
    label: &str,
    run: &str,
    n: usize,
    zones: &[chrono_tz::Tz],
) -> anyhow::Result<Vec<EnrolledPatient>> {
    let initial = label
        .chars()
        .next()
        .map(|c| c.to_ascii_uppercase())
        .unwrap_or('L');
    let state = Arc::new(state.clone());
    let mut tasks = tokio::task::JoinSet::new();
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let state = state.clone();
        let display_code = format!("{initial}{}-{i}", &run[..6]);
        let email = format!("{label}-{}-{i}@example.invalid", &run[..8]);
        let tz = zones
            .get(i % zones.len().max(1))
            .copied()
            .unwrap_or(PHONE_TZ);
        tasks.spawn(async move {
            let display_code = DisplayCode::parse(&display_code)?;
            let stored_code = display_code.as_str().to_owned();
            let created = accounts::create_patient(
                &state,
                None,
                NewPatient {
                    clinic,
                    display_code,
                    timezone: TimeZoneName::parse(tz.name())?,
                },
            )
            .await?;
            if let Some(user) = care_team {
                accounts::add_to_care_team(&state, None, None, created.patient.id, user).await?;
            }
            let login = accounts::enrol(
                &state,
                &created.invitation.code,
                Email::parse(&email)?,
                Password::parse("load-test-password")?,
                Some("load generator".into()),
            )
            .await?;
            Ok::<_, anyhow::Error>(EnrolledPatient {
                display_code: stored_code,
                patient: DocPatientId::from_uuid(created.patient.id.uuid()),
                token: login.token,
                tz,
            })
        });
        // Argon2 hashing is deliberately slow: keep a few enrolments in flight, not n.
        if tasks.len() >= 4
            && let Some(joined) = tasks.join_next().await
        {
            out.push(joined??);
        }
    }
    while let Some(joined) = tasks.join_next().await {
        out.push(joined??);
    }
    Ok(out)
}

fn process_cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(PathBuf::from(format!("/proc/{pid}/stat"))).ok()?;
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// Nanoseconds every thread of the process has run on a CPU (first field of each
/// `/proc/<pid>/task/<tid>/schedstat`): finer than the 10 ms ticks of `/proc/<pid>/stat`,
/// so one sync round's CPU can be measured. Threads that exited meanwhile are missed,
/// which the server's long-lived runtime threads make negligible.
fn threads_run_ns(pid: u32) -> Option<u64> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    let mut total = 0u64;
    for task in tasks.flatten() {
        let Ok(stat) = std::fs::read_to_string(task.path().join("schedstat")) else {
            continue;
        };
        if let Some(ns) = stat
            .split_whitespace()
            .next()
            .and_then(|v| v.parse::<u64>().ok())
        {
            total += ns;
        }
    }
    Some(total)
}

fn peak_rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

impl LoadReport {
    /// How the phones behaved, when not the plain closed loop: " (storage IDs, mixed ...)".
    fn pattern(&self) -> String {
        let parts: Vec<&str> = [
            (self.storage_ids, "storage IDs"),
            (self.mixed, "mixed kinds and zones"),
            (self.push_measured, "month pushed in the measured phase"),
        ]
        .iter()
        .filter(|(on, _)| *on)
        .map(|(_, what)| *what)
        .collect();
        if parts.is_empty() {
            String::new()
        } else {
            format!(" ({})", parts.join(", "))
        }
    }

    /// The human-readable summary line.
    pub fn line(&self) -> String {
        format!(
            "{} phones, history {}{}: {} entry-syncs in {:.1} s = {:.0}/s; p50 {:.1} ms, p95 {:.1} ms, p99 {:.1} ms; \
             {:.0} B/entry-sync; reconnect {} B; server CPU {}{}; peak RSS {}; errors {}; verified {}",
            self.phones,
            self.history,
            self.pattern(),
            self.entry_syncs,
            self.seconds,
            self.per_second,
            self.p50_ms,
            self.p95_ms,
            self.p99_ms,
            self.bytes_per_entry_sync,
            self.reconnect_bytes.map_or("-".into(), |b| b.to_string()),
            self.server_cpu_us_per_entry_sync
                .map_or("-".into(), |c| format!("{c:.0} us/entry-sync")),
            match (
                self.server_cpu_round_median_us,
                self.server_cpu_round_p99_us
            ) {
                (Some(m), Some(p)) => format!(" (per round: median {m:.0} us, p99 {p:.0} us)"),
                _ => String::new(),
            },
            self.server_peak_rss_mib
                .map_or("-".into(), |m| format!("{m:.0} MiB")),
            self.errors,
            self.verified,
        )
    }
}
