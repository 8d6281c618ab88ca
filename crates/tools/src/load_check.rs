//! The crash-test half of `paindiary-tools load`: `--record` writes what every simulated phone
//! saw acknowledged (with its document and sync state, as a phone would persist them) and
//! `--verify` checks, against a restarted server, that every acknowledged entry is in the
//! documents and in the projection and that each phone resumes without resending its
//! history.

use std::collections::HashSet;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use automerge::AutoCommit;
use automerge::sync::State as SyncState;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use paindiary_sync::ids::{EntryId, Month, PatientId as DocPatientId};
use paindiary_sync::protocol::PeerId;
use paindiary_sync::replica::{Connection, ServerEndpoint, SyncTarget};
use paindiary_sync::schema::DocKind;
use paindiary_sync::schema::month::read_entries;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use paindiary_server::entity::pain_entries;
use paindiary_server::state::AppState;

const RECORD_FILE: &str = "phones.jsonl";
const MEASURING_FILE: &str = "measuring";

/// What one phone had when the run ended. The token is a load-test credential; the file
/// is written owner-readable only.
#[derive(Debug, Serialize, Deserialize)]
pub struct PhoneRecord {
    token: Option<String>,
    patient: Uuid,
    /// The phone's document (`save()`), base64.
    doc: String,
    /// The phone's persisted sync state with the server, base64.
    state: String,
    /// Entries the server acknowledged.
    acked: Vec<Uuid>,
}

impl PhoneRecord {
    /// Captures one phone.
    pub fn new(
        token: Option<String>,
        patient: DocPatientId,
        doc: &AutoCommit,
        state: &SyncState,
        acked: &[EntryId],
    ) -> Self {
        let mut doc = doc.clone();
        Self {
            token,
            patient: *patient.as_uuid(),
            doc: B64.encode(doc.save()),
            state: B64.encode(state.encode()),
            acked: acked.iter().map(|e| *e.as_uuid()).collect(),
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct RecordHeader {
    url: String,
    month: String,
}

/// Marks the start of the measured phase (the crash script kills the server after it).
pub fn mark_measuring(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    std::fs::write(dir.join(MEASURING_FILE), b"")
        .with_context(|| format!("writing {}", dir.display()))
}

/// Writes the record file: a header line, then one line per phone.
pub fn record(
    dir: &Path,
    url: &str,
    month: &Month,
    phones: impl Iterator<Item = PhoneRecord>,
) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join(RECORD_FILE);
    let mut options = std::fs::OpenOptions::new();
    options.create(true).write(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let file = options
        .open(&path)
        .with_context(|| format!("writing {}", path.display()))?;
    let mut out = std::io::BufWriter::new(file);
    let header = RecordHeader {
        url: url.to_owned(),
        month: month.to_string(),
    };
    writeln!(out, "{}", serde_json::to_string(&header)?)?;
    for phone in phones {
        writeln!(out, "{}", serde_json::to_string(&phone)?)?;
    }
    out.flush()?;
    Ok(())
}

/// What `--verify` found.
#[derive(Debug, Serialize)]
pub struct VerifyReport {
    /// Phones in the record.
    pub phones: usize,
    /// Acknowledged entries in the record.
    pub acknowledged: usize,
    /// Acknowledged entries the server's documents lack.
    pub missing_in_documents: usize,
    /// Acknowledged entries without a projected row.
    pub missing_in_projection: usize,
    /// Largest number of bytes a phone sent to resume (join + sync messages).
    pub resume_bytes_sent_max: u64,
    /// Smallest stored history of a phone (raw bytes of its document's changes).
    pub history_bytes_min: u64,
    /// Every check passed: nothing missing and no phone resent half its history or more.
    pub ok: bool,
}

impl VerifyReport {
    /// The human-readable summary line.
    pub fn line(&self) -> String {
        format!(
            "verify: {} phones, {} acknowledged entries; missing in documents {}, missing in projection {}; \
             resume sent at most {} B (smallest history {} B); ok {}",
            self.phones,
            self.acknowledged,
            self.missing_in_documents,
            self.missing_in_projection,
            self.resume_bytes_sent_max,
            self.history_bytes_min,
            self.ok
        )
    }
}

/// Checks a record directory against the server at `url` (the record's URL if `None`).
pub async fn verify(
    state: Option<AppState>,
    dir: &Path,
    url: Option<&str>,
    timeout: Duration,
) -> anyhow::Result<VerifyReport> {
    let path = dir.join(RECORD_FILE);
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let mut lines = text.lines();
    let header: RecordHeader = serde_json::from_str(lines.next().context("empty record file")?)?;
    let month: Month = header
        .month
        .parse()
        .map_err(|_| anyhow::anyhow!("bad month in the record"))?;
    let url = url.unwrap_or(&header.url).to_owned();
    let mut report = VerifyReport {
        phones: 0,
        acknowledged: 0,
        missing_in_documents: 0,
        missing_in_projection: 0,
        resume_bytes_sent_max: 0,
        history_bytes_min: u64::MAX,
        ok: false,
    };
    for (n, line) in lines.enumerate() {
        let phone: PhoneRecord = serde_json::from_str(line)?;
        report.phones += 1;
        report.acknowledged += phone.acked.len();
        let endpoint = ServerEndpoint {
            url: url.clone(),
            token: phone.token.clone(),
        };
        let id = DocKind::DiaryMonth {
            patient: DocPatientId::from_uuid(phone.patient),
            month,
        }
        .document_id();

        // 1. What the server holds, fetched by a new device: the phone takes no part, so
        //    it cannot make up for anything the server lost.
        let mut copy = AutoCommit::new();
        let mut fresh_state = SyncState::new();
        let mut conn = Connection::connect(
            &endpoint,
            PeerId::new(format!("verify-{n}"))?,
            None,
            timeout,
        )
        .await?;
        conn.sync_documents(
            &mut [SyncTarget {
                id,
                doc: &mut copy,
                state: &mut fresh_state,
            }],
            timeout,
        )
        .await?;
        conn.close().await;
        let held: HashSet<Uuid> = read_entries(&copy)
            .entries
            .iter()
            .map(|e| *e.id.as_uuid())
            .collect();
        report.missing_in_documents += phone.acked.iter().filter(|e| !held.contains(e)).count();

        // 2. The projection.
        if let Some(state) = &state {
            let mut projected = HashSet::new();
            for batch in phone.acked.chunks(500) {
                let rows: Vec<Uuid> = pain_entries::Entity::find()
                    .select_only()
                    .column(pain_entries::Column::EntryId)
                    .filter(pain_entries::Column::EntryId.is_in(batch.iter().copied()))
                    .into_tuple()
                    .all(&state.db)
                    .await?;
                projected.extend(rows);
            }
            report.missing_in_projection += phone
                .acked
                .iter()
                .filter(|e| !projected.contains(e))
                .count();
        }

        // 3. The phone resumes with what it persisted.
        let mut doc = AutoCommit::load(&B64.decode(&phone.doc)?)?;
        let history: u64 = doc
            .get_changes(&[])
            .iter()
            .map(|c| c.raw_bytes().len() as u64)
            .sum();
        report.history_bytes_min = report.history_bytes_min.min(history);
        let mut sync_state = SyncState::decode(&B64.decode(&phone.state)?)?;
        let mut conn = Connection::connect(
            &endpoint,
            PeerId::new(format!("load-{n}-resumed"))?,
            None,
            timeout,
        )
        .await?;
        conn.sync_documents(
            &mut [SyncTarget {
                id,
                doc: &mut doc,
                state: &mut sync_state,
            }],
            timeout,
        )
        .await?;
        report.resume_bytes_sent_max = report.resume_bytes_sent_max.max(conn.bytes_sent());
        conn.close().await;
    }
    if report.phones == 0 {
        report.history_bytes_min = 0;
    }
    report.ok = report.phones > 0
        && report.missing_in_documents == 0
        && report.missing_in_projection == 0
        && state.is_some()
        && report.resume_bytes_sent_max.saturating_mul(2) < report.history_bytes_min;
    Ok(report)
}
