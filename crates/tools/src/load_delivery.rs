//! `paindiary-tools load --smtp-catcher ADDR`: the sync-to-email latency benchmark. The
//! generator runs a minimal SMTP sink on ADDR (the server under test is configured to
//! send there), creates N patients with one physician on every care team, and gives each
//! phone a worsening diary: four weeks at 5 (a personal baseline), then yesterday at 7
//! (one bad day is not yet an alert), synced beforehand. Then every phone at once syncs
//! today's 7, the second day of the rise, which makes the worsening rule fire (2 points
//! above a steady usual of 5). Per patient it
//! measures from the server's acknowledgement of that entry to the alert email's arrival
//! at the sink, matched by the display code in the subject.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::Context;
use automerge::AutoCommit;
use automerge::sync::State as SyncState;
use chrono::{DateTime, Days, NaiveDate, TimeZone, Utc};
use paindiary_sync::ids::{EntryId, Month, PatientId as DocPatientId};
use paindiary_sync::protocol::PeerId;
use paindiary_sync::replica::{Connection, ServerEndpoint, SyncTarget};
use paindiary_sync::schema::month::add_entry_unchecked;
use paindiary_sync::schema::{DocKind, Entry, EntryMeta, PainEntry};
use serde::Serialize;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

use crate::load::LoadArgs;
use paindiary_server::accounts::{self, NewUser};
use paindiary_server::domain::{DisplayName, Email, Password, Role};
use paindiary_server::state::AppState;

/// The phones' time zone.
const TZ: chrono_tz::Tz = crate::load::PHONE_TZ;
/// Baseline score and the worse score of yesterday and today.
const BASELINE: f64 = 5.0;
const WORSE: f64 = 7.0;
/// Days of baseline, ending two days before today: the personal baseline ends 14 days
/// before today and needs 14 days with entries, so four weeks give it 15.
const BASELINE_DAYS: u64 = 28;
/// After the last email arrived, how long the sink keeps listening for duplicates.
const SETTLE: Duration = Duration::from_secs(3);

/// What a delivery run measured.
#[derive(Debug, Serialize)]
pub struct DeliveryReport {
    /// Patients (phones), each expected to cause exactly one email.
    pub patients: usize,
    /// Triggering entries the server acknowledged.
    pub acknowledged: usize,
    /// Alert emails that arrived after the triggers were sent.
    pub emails: usize,
    /// Patients with exactly one email.
    pub exactly_one: usize,
    /// Emails that arrived before the measured phase (an alert fired too early).
    pub early_emails: usize,
    /// Emails whose subject named no patient of this run.
    pub unmatched: usize,
    /// Emails that arrived before their entry's acknowledgement reached the phone
    /// (counted as 0 ms in the percentiles).
    pub before_ack: usize,
    /// Acknowledgement-to-email latency percentiles, milliseconds.
    pub p50_ms: f64,
    /// 95th percentile.
    pub p95_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// The slowest.
    pub max_ms: f64,
    /// Entry-sync (send to acknowledgement) of the triggering entries, p99, milliseconds.
    pub sync_p99_ms: f64,
    /// From the first trigger sent to the last email, seconds.
    pub seconds: f64,
}

impl DeliveryReport {
    /// Whether every patient got exactly one email and nothing else came.
    pub fn ok(&self) -> bool {
        self.exactly_one == self.patients
            && self.emails == self.patients
            && self.early_emails == 0
            && self.unmatched == 0
    }

    /// The human-readable summary line.
    pub fn line(&self) -> String {
        format!(
            "{} patients: {} acknowledged, {} emails ({} exactly one, {} early, {} unmatched); \
             ack -> email p50 {:.0} ms, p95 {:.0} ms, p99 {:.0} ms, max {:.0} ms \
             ({} before ack); trigger sync p99 {:.0} ms; {:.1} s",
            self.patients,
            self.acknowledged,
            self.emails,
            self.exactly_one,
            self.early_emails,
            self.unmatched,
            self.p50_ms,
            self.p95_ms,
            self.p99_ms,
            self.max_ms,
            self.before_ack,
            self.sync_p99_ms,
            self.seconds,
        )
    }
}

/// One email as the sink accepted it.
struct Arrival {
    subject: String,
    at: Instant,
}

struct Phone {
    display_code: String,
    endpoint: ServerEndpoint,
    patient: DocPatientId,
    /// Every month document of the diary with its sync state; the last is today's.
    months: Vec<(Month, AutoCommit, SyncState)>,
}

/// Runs the delivery benchmark against the server behind `state` (for accounts) and
/// `args.url` (for sync); the server must send its mail to `catcher` in the clear.
pub async fn run(
    state: AppState,
    args: &LoadArgs,
    catcher: SocketAddr,
) -> anyhow::Result<DeliveryReport> {
    let timeout = Duration::from_secs(args.timeout_secs);
    let listener = TcpListener::bind(catcher)
        .await
        .with_context(|| format!("binding the SMTP sink on {catcher}"))?;
    let (tx, mut rx) = mpsc::unbounded_channel::<Arrival>();
    let sink = tokio::spawn(accept(listener, tx));

    let now = Utc::now();
    let today = now.with_timezone(&TZ).date_naive();
    let accounts = create_accounts(&state, args.phones).await?;
    let mut phones = Vec::with_capacity(accounts.len());
    for (display_code, patient, token) in accounts {
        phones.push(history(
            display_code,
            patient,
            ServerEndpoint {
                url: args.url.clone(),
                token: Some(token),
            },
            today,
        )?);
    }

    // Bring every history to the server (not measured), a few phones at a time.
    let mut setup = tokio::task::JoinSet::new();
    let mut ready = Vec::with_capacity(phones.len());
    for mut phone in phones {
        setup.spawn(async move {
            let mut conn = Connection::connect(
                &phone.endpoint,
                PeerId::new(format!("delivery-{}", phone.display_code))?,
                None,
                timeout,
            )
            .await?;
            let patient = phone.patient;
            let mut targets: Vec<SyncTarget<'_>> = phone
                .months
                .iter_mut()
                .map(|(month, doc, state)| SyncTarget {
                    id: DocKind::DiaryMonth {
                        patient,
                        month: *month,
                    }
                    .document_id(),
                    doc,
                    state,
                })
                .collect();
            conn.sync_documents(&mut targets, timeout * 4).await?;
            drop(targets);
            Ok::<_, anyhow::Error>((phone, conn))
        });
        if setup.len() >= 8
            && let Some(joined) = setup.join_next().await
        {
            ready.push(joined??);
        }
    }
    while let Some(joined) = setup.join_next().await {
        ready.push(joined??);
    }
    // Whatever arrived so far was not caused by a trigger.
    let mut early_emails = 0;
    while rx.try_recv().is_ok() {
        early_emails += 1;
    }

    // The measured phase: every phone syncs today's entry at once.
    let started = Instant::now();
    let mut triggers = tokio::task::JoinSet::new();
    for (mut phone, mut conn) in ready {
        triggers.spawn(async move {
            let sent = Instant::now();
            let entry = pain(Utc::now(), WORSE);
            let patient = phone.patient;
            let Some((month, doc, state)) = phone.months.last_mut() else {
                return (phone.display_code, None);
            };
            if add_entry_unchecked(doc, EntryId::new(), &entry, Utc::now()).is_err() {
                return (phone.display_code, None);
            }
            let synced = conn
                .sync_documents(
                    &mut [SyncTarget {
                        id: DocKind::DiaryMonth {
                            patient,
                            month: *month,
                        }
                        .document_id(),
                        doc,
                        state,
                    }],
                    timeout,
                )
                .await;
            let acked = synced.is_ok().then(|| (sent, Instant::now()));
            conn.close().await;
            (phone.display_code, acked)
        });
    }
    let mut acks: HashMap<String, (Instant, Instant)> = HashMap::new();
    let mut codes = Vec::new();
    while let Some(joined) = triggers.join_next().await {
        let (code, acked) = joined?;
        if let Some(times) = acked {
            acks.insert(code.clone(), times);
        }
        codes.push(code);
    }

    // Collect emails until every patient has one (or the timeout), then a little longer
    // so that a duplicate would be seen.
    let mut arrivals: HashMap<String, Vec<Instant>> = HashMap::new();
    let mut unmatched = 0;
    let mut emails = 0;
    let mut last = started;
    let deadline = tokio::time::Instant::now() + timeout;
    let mut settle_until: Option<tokio::time::Instant> = None;
    loop {
        let until = settle_until.unwrap_or(deadline);
        let Ok(Some(arrival)) = tokio::time::timeout_at(until, rx.recv()).await else {
            break;
        };
        emails += 1;
        last = last.max(arrival.at);
        // Folding may have moved whitespace: compare without it.
        let flat: String = arrival.subject.split_whitespace().collect();
        match codes
            .iter()
            .find(|c| flat.ends_with(&format!("forpatient{c}")))
        {
            Some(code) => arrivals.entry(code.clone()).or_default().push(arrival.at),
            None => unmatched += 1,
        }
        if settle_until.is_none() && codes.iter().all(|c| arrivals.contains_key(c)) {
            settle_until = Some(tokio::time::Instant::now() + SETTLE);
        }
    }
    sink.abort();

    let mut latencies = Vec::new();
    let mut syncs = Vec::new();
    let mut before_ack = 0;
    for (code, (sent, acked)) in &acks {
        syncs.push(acked.duration_since(*sent));
        if let Some(first) = arrivals.get(code).and_then(|a| a.iter().min()) {
            if first < acked {
                before_ack += 1;
            }
            latencies.push(first.saturating_duration_since(*acked));
        }
    }
    latencies.sort();
    syncs.sort();
    Ok(DeliveryReport {
        patients: codes.len(),
        acknowledged: acks.len(),
        emails,
        exactly_one: arrivals.values().filter(|a| a.len() == 1).count(),
        early_emails,
        unmatched,
        before_ack,
        p50_ms: percentile(&latencies, 0.50),
        p95_ms: percentile(&latencies, 0.95),
        p99_ms: percentile(&latencies, 0.99),
        max_ms: percentile(&latencies, 1.0),
        sync_p99_ms: percentile(&syncs, 0.99),
        seconds: last.duration_since(started).as_secs_f64(),
    })
}

/// Nearest-rank percentile of sorted `values`, milliseconds (0 when empty).
fn percentile(values: &[Duration], p: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let i = ((values.len() as f64 * p).ceil() as usize).clamp(1, values.len()) - 1;
    values[i].as_secs_f64() * 1000.0
}

/// A pain entry at `at` with `score`.
fn pain(at: DateTime<Utc>, score: f64) -> Entry {
    Entry::Pain(PainEntry {
        meta: EntryMeta {
            recorded_at: at,
            tz: TZ.name().into(),
            deleted_at: None,
            updated_at: None,
        },
        score,
        worst: None,
        least: None,
        locations: vec!["lower_back".into()],
        location_note: None,
        qualities: vec![],
        note: None,
    })
}

/// The phone's diary before the trigger: baseline days at 5 ending two days ago, then
/// yesterday at 7, one entry at local noon each, in the month
/// documents their local days belong to (today's month last, even if empty).
fn history(
    display_code: String,
    patient: DocPatientId,
    endpoint: ServerEndpoint,
    today: NaiveDate,
) -> anyhow::Result<Phone> {
    let mut days: Vec<(NaiveDate, f64)> = Vec::new();
    for back in (2..2 + BASELINE_DAYS).rev() {
        days.push((day_before(today, back)?, BASELINE));
    }
    days.push((day_before(today, 1)?, WORSE));
    let mut months: Vec<(Month, AutoCommit, SyncState)> = Vec::new();
    let current = Month::of(today).context("current month")?;
    for (date, score) in days
        .into_iter()
        .map(|(d, s)| (Some(d), s))
        .chain([(None, 0.0)])
    {
        let month = match date {
            Some(d) => Month::of(d).context("month of a history day")?,
            None => current,
        };
        if months.last().is_none_or(|(m, _, _)| *m != month) {
            let doc = DocKind::DiaryMonth { patient, month }.create(automerge::ActorId::random())?;
            months.push((month, doc, SyncState::new()));
        }
        let Some(date) = date else { break };
        let at = TZ
            .from_local_datetime(&date.and_hms_opt(12, 0, 0).context("noon")?)
            .earliest()
            .context("local noon")?
            .with_timezone(&Utc);
        if let Some((_, doc, _)) = months.last_mut() {
            add_entry_unchecked(doc, EntryId::new(), &pain(at, score), Utc::now())?;
        }
    }
    Ok(Phone {
        display_code,
        endpoint,
        patient,
        months,
    })
}

fn day_before(today: NaiveDate, back: u64) -> anyhow::Result<NaiveDate> {
    today
        .checked_sub_days(Days::new(back))
        .context("date out of range")
}

/// A clinic, one physician, and `n` enrolled patients on the physician's care team;
/// returns each patient's display code, document patient ID and device token.
async fn create_accounts(
    state: &AppState,
    n: usize,
) -> anyhow::Result<Vec<(String, DocPatientId, String)>> {
    let run = uuid::Uuid::new_v4().simple().to_string();
    let clinic = accounts::create_clinic(state, &format!("delivery-{}", &run[..8])).await?;
    let physician = accounts::create_user(
        state,
        None,
        NewUser {
            clinic: clinic.id,
            email: Email::parse(&format!("doctor-{}@example.invalid", &run[..8]))?,
            display_name: DisplayName::parse("Load Physician")?,
            role: Role::Physician,
            password: Password::parse("load-test-password")?,
        },
    )
    .await?;
    let enrolled = crate::load::enrol_patients(
        state,
        clinic.id,
        Some(physician.id),
        "delivery",
        &run,
        n,
        &[TZ],
    )
    .await?;
    Ok(enrolled
        .into_iter()
        .map(|p| (p.display_code, p.patient, p.token))
        .collect())
}

/// The sink: accepts connections and serves each in its own task.
async fn accept(listener: TcpListener, tx: mpsc::UnboundedSender<Arrival>) {
    while let Ok((stream, _)) = listener.accept().await {
        tokio::spawn(session(stream, tx.clone()));
    }
}

/// Just enough SMTP for lettre in the clear; every message is accepted and reported
/// with the instant its final dot arrived.
async fn session(stream: TcpStream, tx: mpsc::UnboundedSender<Arrival>) -> std::io::Result<()> {
    let _ = stream.set_nodelay(true);
    let mut conn = BufReader::new(stream);
    conn.get_mut().write_all(b"220 sink ESMTP\r\n").await?;
    let mut line = String::new();
    loop {
        line.clear();
        if conn.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let upper = line.trim_end().to_ascii_uppercase();
        let reply: &[u8] = if upper.starts_with("EHLO") {
            b"250-sink\r\n250 8BITMIME\r\n"
        } else if upper == "DATA" {
            conn.get_mut().write_all(b"354 go ahead\r\n").await?;
            let mut subject = String::new();
            let mut in_headers = true;
            let mut in_subject = false;
            loop {
                line.clear();
                if conn.read_line(&mut line).await? == 0 {
                    return Ok(());
                }
                if line == ".\r\n" || line == ".\n" {
                    break;
                }
                if in_headers {
                    let trimmed = line.trim_end();
                    if trimmed.is_empty() {
                        in_headers = false;
                    } else if trimmed.starts_with([' ', '\t']) {
                        // A folded header continues on this line.
                        if in_subject {
                            subject.push_str(trimmed.trim_start());
                        }
                    } else {
                        in_subject = false;
                        if let Some((k, v)) = trimmed.split_once(':')
                            && k.eq_ignore_ascii_case("subject")
                        {
                            subject = v.trim().to_owned();
                            in_subject = true;
                        }
                    }
                }
            }
            let _ = tx.send(Arrival {
                subject,
                at: Instant::now(),
            });
            b"250 queued\r\n"
        } else if upper == "QUIT" {
            conn.get_mut().write_all(b"221 bye\r\n").await?;
            return Ok(());
        } else {
            b"250 ok\r\n"
        };
        conn.get_mut().write_all(reply).await?;
    }
}
