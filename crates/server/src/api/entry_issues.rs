//! `GET /patients/{id}/entry-issues`: the diary entries the server found invalid (score 12,
//! an unknown unit) or could not read at all (a string score, no time zone, a key that is
//! not a UUID), each with its reasons, so an app can show "this entry needs fixing".
//!
//! The rows are the projection's `entry_issues`: an invalid entry stays in the CRDT and is
//! kept out of trends and alerts, and this is where the patient and the care team learn
//! why. Each entry is listed once, with one reason per problem.

use std::collections::BTreeMap;

use axum::extract::State;
use chrono::{DateTime, Utc};
use paindiary_sync::schema::DocKind;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::Serialize;

use crate::access::{self, PatientAccess};
use crate::audit::{self, AuditEvent, Outcome, action};
use crate::auth::AuthUser;
use crate::domain::PatientId;
use crate::entity::entry_issues;
use crate::error::{ApiError, Json};
use crate::extract::ApiPath;
use crate::state::AppState;
use crate::storage;

/// Most issue rows one answer carries (newest first); `truncated` says when there were
/// more. A patient has a handful; this bounds what a runaway client can make us send.
const MAX_ISSUE_ROWS: u64 = 2_000;

/// One problem with an entry.
#[derive(Debug, Serialize)]
struct Problem {
    /// `unreadable`, `duplicate_entry_id`, or a validation error code (`out_of_scale`, ...).
    code: String,
    /// In words (no diary content beyond the offending value, which is the patient's own).
    reason: String,
}

/// One entry with its problems.
#[derive(Debug, Serialize)]
struct EntryIssue {
    /// The month document the entry is in.
    document_id: String,
    /// Its month (`YYYY-MM`), when the server holds that document.
    month: Option<String>,
    /// `pain`, `medication`, `exercise`, `wellbeing` or `checkin`.
    kind: String,
    /// The entry's key as found in the document (a UUID unless the key itself is wrong).
    entry_key: String,
    /// Whether the entry could be read at all (`false`: a field of the wrong type, a
    /// required field missing, a key that is not a UUID; such an entry is listed nowhere
    /// but here).
    readable: bool,
    /// Every problem found.
    problems: Vec<Problem>,
    /// When the server first found a problem with it.
    first_seen_at: DateTime<Utc>,
    /// When the server last checked it and found a problem.
    last_seen_at: DateTime<Utc>,
}

/// The response body.
#[derive(Debug, Serialize)]
pub struct EntryIssues {
    patient_id: PatientId,
    issues: Vec<EntryIssue>,
    truncated: bool,
}

/// `GET /patients/{id}/entry-issues`: for the patient and their care team; admins and
/// everyone else get 404, like for a missing patient.
pub async fn list(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<PatientId>,
) -> Result<Json<EntryIssues>, ApiError> {
    let now = state.clock.now();
    let event = AuditEvent::new(now, Some(user.user_id), action::ENTRIES_READ)
        .patient(id)
        .target("GET /api/v1/patients/{id}/entry-issues");
    match access::visible_patient(&state.db, &user, id).await {
        Ok((_, PatientAccess::OwnRecord | PatientAccess::CareTeam)) => {}
        Ok((_, PatientAccess::ClinicAdmin)) | Err(ApiError::NotFound) => {
            audit::record(&state.db, event.outcome(Outcome::Denied)).await?;
            return Err(ApiError::NotFound);
        }
        Err(e) => return Err(e),
    }
    let patient = id.uuid();
    let rows = entry_issues::Entity::find()
        .filter(entry_issues::Column::PatientId.eq(patient))
        .order_by_desc(entry_issues::Column::LastSeenAt)
        .order_by_asc(entry_issues::Column::DocumentId)
        .order_by_asc(entry_issues::Column::Kind)
        .order_by_asc(entry_issues::Column::EntryKey)
        .order_by_asc(entry_issues::Column::ReasonCode)
        .limit(MAX_ISSUE_ROWS + 1)
        .all(&state.db)
        .await?;
    let truncated = rows.len() as u64 > MAX_ISSUE_ROWS;

    let months: BTreeMap<String, String> = storage::list_for_patient(&state.db, patient)
        .await?
        .into_iter()
        .filter_map(|(doc_id, meta)| match meta.kind {
            DocKind::DiaryMonth { month, .. } => Some((doc_id.to_string(), month.to_string())),
            _ => None,
        })
        .collect();

    // Rows come newest first; an entry's rows are grouped where its first row appears.
    let mut order: Vec<(String, String, String)> = Vec::new();
    let mut grouped: BTreeMap<(String, String, String), EntryIssue> = BTreeMap::new();
    for row in rows.into_iter().take(MAX_ISSUE_ROWS as usize) {
        let key = (
            row.document_id.clone(),
            row.kind.clone(),
            row.entry_key.clone(),
        );
        let issue = grouped.entry(key.clone()).or_insert_with(|| {
            order.push(key);
            EntryIssue {
                month: months.get(&row.document_id).cloned(),
                document_id: row.document_id.clone(),
                kind: row.kind.clone(),
                entry_key: row.entry_key.clone(),
                readable: true,
                problems: Vec::new(),
                first_seen_at: row.first_seen_at,
                last_seen_at: row.last_seen_at,
            }
        });
        if row.reason_code == crate::projection::UNREADABLE {
            issue.readable = false;
        }
        issue.first_seen_at = issue.first_seen_at.min(row.first_seen_at);
        issue.last_seen_at = issue.last_seen_at.max(row.last_seen_at);
        issue.problems.push(Problem {
            code: row.reason_code,
            reason: row.reason,
        });
    }
    let issues = order
        .into_iter()
        .filter_map(|key| grouped.remove(&key))
        .collect();

    audit::record(&state.db, event).await?;
    Ok(Json(EntryIssues {
        patient_id: id,
        issues,
        truncated,
    }))
}
