//! Projection of month diary documents into relational tables (`pain_entries`,
//! `medication_intakes`, `exercise_sessions`, `wellbeing_entries`, `peg_checkins`,
//! `questionnaire_responses`, scored by the `sync` crate's `questionnaire` module) and
//! `entry_issues`, for trends, alerts and the dashboard; care plans' prescriptions in
//! [`care_plan`].
//!
//! Every row is computed from the *merged* document state of its entry, and written with
//! an upsert keyed by the entry's UUID: whichever replica projects last, after whichever
//! order of changes, writes the same row (DESIGN.md, "Scale-out"). The caller runs the
//! projection inside the transaction that stores the change, so chunk and projection are
//! committed together.
//!
//! What each entry becomes:
//! - readable, local date computable: one row in its kind's table, `valid` telling whether
//!   [`Entry::validate`] found nothing, plus one `entry_issues` row per validation error code;
//! - readable but with an unknown time zone (no local day): no kind row, its issues only;
//! - unreadable (wrong types, missing required fields): one `unreadable` issue, no kind row;
//! - its UUID already projected from another document: a `duplicate_entry_id` issue, and
//!   the other document's row is left alone (one document cannot overwrite another's row);
//! - gone from the document: its rows and issues are deleted.
//!
//! Issues that no longer apply after an edit are deleted; `first_seen_at` of the ones that
//! remain is kept. `synced_at` (when the server first projected the entry) is never
//! updated, so `late` is recomputed on every upsert from the stored `synced_at`.
//!
//! Diary content never reaches logs or errors: [`ProjectionError`] names the step that
//! failed, and logs carry document IDs and counts only.

pub mod care_plan;
mod reproject;
mod write;

use std::collections::{BTreeMap, BTreeSet};

use automerge::Automerge;
use chrono::{DateTime, NaiveDate, Utc};
use paindiary_sync::ids::EntryId;
use paindiary_sync::schema::month::{self, EntryReadError, TouchedEntries};
use paindiary_sync::schema::{Entry, EntryKind, ValidationError};
use sea_orm::{ConnectionTrait, DbErr};
use uuid::Uuid;

use crate::entity::{
    exercise_sessions, medication_intakes, pain_entries, peg_checkins, questionnaire_responses,
    wellbeing_entries,
};

pub use reproject::{ReprojectReport, reproject_all};
pub use write::ChangedDays;

/// Reason code of an entry that cannot be read as its kind.
pub const UNREADABLE: &str = "unreadable";
/// Reason code of an entry whose UUID is already projected from another document.
pub const DUPLICATE_ENTRY_ID: &str = "duplicate_entry_id";

/// Which document is projected, and for whom.
#[derive(Debug, Clone, Copy)]
pub struct ProjectionTarget<'a> {
    /// The patient the document belongs to (the caller checked the document's ID).
    pub patient: Uuid,
    /// The document's base58check ID.
    pub document_id: &'a str,
    /// When the server received the change: the `synced_at` of entries projected for the
    /// first time (rows already projected keep theirs).
    pub synced_at: DateTime<Utc>,
}

/// What a projection did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProjectionSummary {
    /// Rows upserted into the kind tables.
    pub upserted: usize,
    /// Of those, rows with `valid = false`.
    pub invalid: usize,
    /// Entries that got no kind row: unreadable, unknown time zone, or duplicate ID.
    pub unreadable: usize,
    /// Local days whose pain rows changed (new and previous dates of the entries), for
    /// alert evaluation.
    pub pain_days: BTreeSet<NaiveDate>,
    /// Local days whose medication intake rows changed.
    pub intake_days: BTreeSet<NaiveDate>,
    /// Local days whose questionnaire response rows changed.
    pub questionnaire_days: BTreeSet<NaiveDate>,
}

/// Why a projection failed. The transaction should be rolled back.
#[derive(Debug, thiserror::Error)]
pub enum ProjectionError {
    /// A statement failed. The message names the step only; the source has the driver's
    /// error (which carries no bound values).
    #[error("projection failed while {step}")]
    Database {
        /// What was being done.
        step: &'static str,
        /// The database error.
        #[source]
        source: DbErr,
    },
}

/// Upserts the rows of exactly the touched entries, each read from the merged document (so
/// whoever writes last converges on the same rows — idempotent). Entries that are gone from
/// the document lose their rows and issues.
pub async fn project_entries(
    conn: &impl ConnectionTrait,
    target: &ProjectionTarget<'_>,
    doc: &Automerge,
    touched: &TouchedEntries,
    now: DateTime<Utc>,
) -> Result<ProjectionSummary, ProjectionError> {
    match prepare_entries(target, doc, touched, now) {
        Some(prepared) => write_prepared(conn, prepared).await,
        None => Ok(ProjectionSummary::default()),
    }
}

/// The rows of the touched entries, computed from the document but not written yet: what
/// the hub's commit queue writes later, in a transaction shared with other documents'
/// changes, without holding the document.
pub struct PreparedProjection {
    patient: Uuid,
    document_id: String,
    synced_at: DateTime<Utc>,
    now: DateTime<Utc>,
    collected: Collected,
    scope: BTreeMap<EntryKind, Vec<Uuid>>,
    unkeyed: BTreeSet<(EntryKind, String)>,
}

/// Reads the touched entries from the merged document (the CPU part of
/// [`project_entries`]); `None` when nothing was touched.
pub fn prepare_entries(
    target: &ProjectionTarget<'_>,
    doc: &Automerge,
    touched: &TouchedEntries,
    now: DateTime<Utc>,
) -> Option<PreparedProjection> {
    if touched.is_empty() {
        return None;
    }
    let mut collected = Collected::default();
    for &(kind, id) in &touched.entries {
        match month::read_entry(doc, kind, &id) {
            Ok(Some(entry)) => collected.add_entry(target, now, id, &entry),
            Ok(None) => {}
            Err(e) => collected.add_unreadable(kind, id.to_string(), &e),
        }
    }
    // A key that is not a UUID can never become a row; while it is in the document the
    // patient and care team see it as an unreadable entry (and once it is gone, its issue
    // goes too: it is in scope either way).
    let mut unkeyed = BTreeSet::new();
    for (kind, key) in &touched.unkeyed {
        let reported: String = key.chars().take(64).collect();
        if month::has_entry_key(doc, *kind, key) {
            collected.add_issue(*kind, reported.clone(), UNREADABLE, NOT_A_UUID.to_owned());
            collected.unprojected.insert((*kind, reported.clone()));
        }
        unkeyed.insert((*kind, reported));
    }
    let mut scope: BTreeMap<EntryKind, Vec<Uuid>> = BTreeMap::new();
    for &(kind, id) in &touched.entries {
        scope.entry(kind).or_default().push(*id.as_uuid());
    }
    Some(PreparedProjection {
        patient: target.patient,
        document_id: target.document_id.to_owned(),
        synced_at: target.synced_at,
        now,
        collected,
        scope,
        unkeyed,
    })
}

/// The reason recorded for an entry whose key is not a UUID (the words
/// [`month::read_entries`] uses, so a whole-document projection records the same).
const NOT_A_UUID: &str = "entry key is not a UUID";

/// Writes a [`PreparedProjection`] (the statement part of [`project_entries`]).
pub async fn write_prepared(
    conn: &impl ConnectionTrait,
    prepared: PreparedProjection,
) -> Result<ProjectionSummary, ProjectionError> {
    let PreparedProjection {
        patient,
        document_id,
        synced_at,
        now,
        collected,
        scope,
        unkeyed,
    } = prepared;
    let target = ProjectionTarget {
        patient,
        document_id: &document_id,
        synced_at,
    };
    write::write(
        conn,
        &target,
        now,
        collected,
        &write::Scope::Entries(scope, unkeyed),
    )
    .await
}

/// Writes several documents' [`PreparedProjection`]s (each document at most once) with
/// statements shared between them; the rows are those [`write_prepared`] would write for
/// each in turn.
///
/// Returns, per document, the local days whose pain or medication rows changed.
pub async fn write_prepared_many(
    conn: &impl ConnectionTrait,
    prepared: Vec<PreparedProjection>,
) -> Result<Vec<(String, ChangedDays)>, ProjectionError> {
    let members = prepared
        .into_iter()
        .map(|p| write::Member {
            patient: p.patient,
            document_id: p.document_id,
            now: p.now,
            collected: p.collected,
            scope: p.scope,
            unkeyed: p.unkeyed,
            changed_days: BTreeSet::new(),
            medication_days: BTreeSet::new(),
            questionnaire_days: BTreeSet::new(),
        })
        .collect();
    write::write_many(conn, members).await
}

/// Projects every entry of a month document (first load, reprojection). Rows and issues of
/// this document that the document no longer yields are deleted.
pub async fn project_document(
    conn: &impl ConnectionTrait,
    target: &ProjectionTarget<'_>,
    doc: &Automerge,
    now: DateTime<Utc>,
) -> Result<ProjectionSummary, ProjectionError> {
    let entries = month::read_entries(doc);
    let mut collected = Collected::default();
    for stored in &entries.entries {
        collected.add_entry(target, now, stored.id, &stored.entry);
    }
    for bad in entries.unreadable {
        collected.add_issue(bad.kind, bad.key.clone(), UNREADABLE, bad.reason);
        collected.unprojected.insert((bad.kind, bad.key));
    }
    write::write(conn, target, now, collected, &write::Scope::Document).await
}

/// The rows and issues computed from the document, before anything is written.
#[derive(Default)]
pub(crate) struct Collected {
    pub(crate) pain: Vec<pain_entries::Model>,
    pub(crate) medication: Vec<medication_intakes::Model>,
    pub(crate) exercise: Vec<exercise_sessions::Model>,
    pub(crate) wellbeing: Vec<wellbeing_entries::Model>,
    pub(crate) checkin: Vec<peg_checkins::Model>,
    pub(crate) questionnaire: Vec<questionnaire_responses::Model>,
    /// (kind, entry key, reason code) -> reason. Several errors with one code (score and
    /// worst both out of scale) share one row, their reasons joined.
    pub(crate) issues: BTreeMap<(EntryKind, String, String), String>,
    /// Entries with issues but no kind row.
    pub(crate) unprojected: BTreeSet<(EntryKind, String)>,
}

impl Collected {
    fn add_issue(&mut self, kind: EntryKind, key: String, code: &str, reason: String) {
        self.issues
            .entry((kind, key, code.to_owned()))
            .and_modify(|r| {
                r.push_str("; ");
                r.push_str(&reason);
            })
            .or_insert(reason);
    }

    fn add_unreadable(&mut self, kind: EntryKind, key: String, error: &EntryReadError) {
        self.add_issue(kind, key.clone(), UNREADABLE, error.to_string());
        self.unprojected.insert((kind, key));
    }

    fn add_entry(
        &mut self,
        target: &ProjectionTarget<'_>,
        now: DateTime<Utc>,
        id: EntryId,
        entry: &Entry,
    ) {
        let kind = entry.kind();
        let key = id.to_string();
        let errors = entry.validate(now);
        for error in &errors {
            self.add_issue(kind, key.clone(), &error_code(error), error.to_string());
        }
        let meta = entry.meta();
        let Ok(local_date) = meta.local_date() else {
            // No local day, so no place in any daily series: issues only.
            self.unprojected.insert((kind, key));
            return;
        };
        let c = Common {
            entry_id: *id.as_uuid(),
            patient_id: target.patient,
            document_id: target.document_id.to_owned(),
            recorded_at: meta.recorded_at,
            tz: meta.tz.clone(),
            local_date,
            deleted: meta.is_deleted(),
            updated_at: meta.updated_at,
            synced_at: target.synced_at,
            late: is_late(target.synced_at, meta.recorded_at),
            valid: errors.is_empty(),
        };
        match entry {
            Entry::Pain(p) => self.pain.push(pain_entries::Model {
                entry_id: c.entry_id,
                patient_id: c.patient_id,
                document_id: c.document_id,
                recorded_at: c.recorded_at,
                tz: c.tz,
                local_date: c.local_date,
                deleted: c.deleted,
                updated_at: c.updated_at,
                synced_at: c.synced_at,
                late: c.late,
                valid: c.valid,
                score: p.score,
                worst: p.worst,
                least: p.least,
                locations: json_list(&p.locations),
                qualities: json_list(&p.qualities),
                location_note: p.location_note.clone(),
                note: p.note.clone(),
            }),
            Entry::Medication(m) => self.medication.push(medication_intakes::Model {
                entry_id: c.entry_id,
                patient_id: c.patient_id,
                document_id: c.document_id,
                recorded_at: c.recorded_at,
                tz: c.tz,
                local_date: c.local_date,
                deleted: c.deleted,
                updated_at: c.updated_at,
                synced_at: c.synced_at,
                late: c.late,
                valid: c.valid,
                drug: m.drug.clone(),
                drug_normalized: m.drug.trim().to_lowercase(),
                rxnorm: m.rxnorm.clone(),
                amount: m.amount,
                unit: m.unit.clone(),
                route: m.route.clone(),
                status: m.status.clone(),
                prn: m.prn,
                prn_reason: m.prn_reason.clone(),
                note: m.note.clone(),
            }),
            Entry::Exercise(x) => self.exercise.push(exercise_sessions::Model {
                entry_id: c.entry_id,
                patient_id: c.patient_id,
                document_id: c.document_id,
                recorded_at: c.recorded_at,
                tz: c.tz,
                local_date: c.local_date,
                deleted: c.deleted,
                updated_at: c.updated_at,
                synced_at: c.synced_at,
                late: c.late,
                valid: c.valid,
                activity: x.activity.clone(),
                minutes: x.minutes,
                sets: x.sets,
                reps: x.reps,
                exertion: x.exertion,
                note: x.note.clone(),
            }),
            Entry::Wellbeing(w) => self.wellbeing.push(wellbeing_entries::Model {
                entry_id: c.entry_id,
                patient_id: c.patient_id,
                document_id: c.document_id,
                recorded_at: c.recorded_at,
                tz: c.tz,
                local_date: c.local_date,
                deleted: c.deleted,
                updated_at: c.updated_at,
                synced_at: c.synced_at,
                late: c.late,
                valid: c.valid,
                sleep_hours: w.sleep_hours,
                sleep_quality: w.sleep_quality,
                mood: w.mood,
                stress: w.stress,
                note: w.note.clone(),
            }),
            Entry::Checkin(k) => self.checkin.push(peg_checkins::Model {
                entry_id: c.entry_id,
                patient_id: c.patient_id,
                document_id: c.document_id,
                recorded_at: c.recorded_at,
                tz: c.tz,
                local_date: c.local_date,
                deleted: c.deleted,
                updated_at: c.updated_at,
                synced_at: c.synced_at,
                late: c.late,
                valid: c.valid,
                pain: k.pain,
                enjoyment: k.enjoyment,
                activity: k.activity,
                score: k.score(),
                note: k.note.clone(),
            }),
            Entry::Questionnaire(q) => {
                // Only a valid response is scored: an answer off the scale would make any
                // total wrong.
                let score = q.score().filter(|_| c.valid);
                let mut answers = serde_json::to_string(&q.answers).unwrap_or_default();
                answers.shrink_to_fit();
                self.questionnaire.push(questionnaire_responses::Model {
                    entry_id: c.entry_id,
                    patient_id: c.patient_id,
                    document_id: c.document_id,
                    recorded_at: c.recorded_at,
                    tz: c.tz,
                    local_date: c.local_date,
                    deleted: c.deleted,
                    updated_at: c.updated_at,
                    synced_at: c.synced_at,
                    late: c.late,
                    valid: c.valid,
                    instrument: q.instrument.clone(),
                    version: q.version.clone(),
                    answers,
                    answered: score
                        .as_ref()
                        .map_or(0, |s| i32::try_from(s.answered).unwrap_or(i32::MAX)),
                    total: score.as_ref().and_then(|s| s.total),
                    prorated: score.as_ref().is_some_and(|s| s.prorated),
                    band: score.as_ref().and_then(|s| s.band).map(str::to_owned),
                    safety_positive: score.as_ref().is_some_and(|s| s.safety_positive),
                    note: q.note.clone(),
                });
            }
        }
    }
}

/// The columns every kind table shares.
struct Common {
    entry_id: Uuid,
    patient_id: Uuid,
    document_id: String,
    recorded_at: DateTime<Utc>,
    tz: String,
    local_date: NaiveDate,
    deleted: bool,
    updated_at: Option<DateTime<Utc>>,
    synced_at: DateTime<Utc>,
    late: bool,
    valid: bool,
}

/// More than 24 hours between `recorded_at` and `synced_at`, in whole seconds (the SQL
/// that recomputes `late` on conflict compares whole seconds too).
pub(crate) const LATE_AFTER_SECS: i64 = 24 * 60 * 60;

fn is_late(synced_at: DateTime<Utc>, recorded_at: DateTime<Utc>) -> bool {
    synced_at.timestamp() - recorded_at.timestamp() > LATE_AFTER_SECS
}

/// The validation error's serde `code` (`out_of_scale`, `unknown_time_zone`, ...).
fn error_code(error: &ValidationError) -> String {
    serde_json::to_value(error)
        .ok()
        .and_then(|v| v.get("code").and_then(|c| c.as_str()).map(str::to_owned))
        .unwrap_or_else(|| "invalid".to_owned())
}

/// A list of codes as a JSON text array, sized to fit: a month's first sync prepares
/// two of these per entry for hundreds of entries, held until the batch commits, and
/// serde_json's 128-byte starting buffer would make that several times its text.
fn json_list(items: &[String]) -> String {
    if items.is_empty() {
        return "[]".to_owned();
    }
    let mut text = serde_json::to_string(items).unwrap_or_else(|_| "[]".to_owned());
    text.shrink_to_fit();
    text
}
