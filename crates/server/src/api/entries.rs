//! `GET /patients/{id}/entries`: the patient's projected diary entries of a date range, as
//! the care team and the patient see them (newest first), with a count per kind.
//!
//! The dashboard's trends aggregate these rows; this endpoint lists them one by one so a
//! clinician (or a phone's developer) can check exactly what arrived.

use axum::extract::State;
use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::access::{self, PatientAccess};
use crate::audit::{self, AuditEvent, Outcome, action};
use crate::auth::AuthUser;
use crate::domain::{PatientId, RequestDate};
use crate::entity::{
    exercise_sessions, medication_intakes, pain_entries, peg_checkins, wellbeing_entries,
};
use crate::error::{ApiError, Json};
use crate::extract::{ApiPath, ApiQuery};
use crate::state::AppState;

/// Longest range one request may ask for, in days.
const MAX_RANGE_DAYS: i64 = 366;

/// Query parameters: local dates, inclusive; default the last 30 days.
#[derive(Debug, Deserialize)]
pub struct EntriesQuery {
    from: Option<RequestDate>,
    to: Option<RequestDate>,
}

/// One entry as listed.
#[derive(Debug, Serialize)]
struct Listed {
    kind: &'static str,
    entry_id: uuid::Uuid,
    recorded_at: DateTime<Utc>,
    local_date: NaiveDate,
    valid: bool,
    deleted: bool,
    late: bool,
    /// The kind's own fields.
    #[serde(flatten)]
    fields: Value,
}

/// `GET /patients/{id}/entries?from=YYYY-MM-DD&to=YYYY-MM-DD`: for the patient and their
/// care team; admins and everyone else get 404, like for a missing patient.
pub async fn list(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<PatientId>,
    ApiQuery(query): ApiQuery<EntriesQuery>,
) -> Result<Json<Value>, ApiError> {
    let now = state.clock.now();
    let to = query.to.map_or_else(|| now.date_naive(), RequestDate::get);
    let from = query
        .from
        .map_or_else(|| to - TimeDelta::days(29), RequestDate::get);
    if from > to {
        return Err(ApiError::BadRequest("`from` is after `to`".into()));
    }
    if (to - from).num_days() >= MAX_RANGE_DAYS {
        return Err(ApiError::BadRequest(format!(
            "a range may cover at most {MAX_RANGE_DAYS} days"
        )));
    }
    let event = AuditEvent::new(now, Some(user.user_id), action::ENTRIES_READ)
        .patient(id)
        .target("GET /api/v1/patients/{id}/entries");
    match access::visible_patient(&state.db, &user, id).await {
        Ok((_, PatientAccess::OwnRecord | PatientAccess::CareTeam)) => {}
        Ok((_, PatientAccess::ClinicAdmin)) | Err(ApiError::NotFound) => {
            audit::record(&state.db, event.outcome(Outcome::Denied)).await?;
            return Err(ApiError::NotFound);
        }
        Err(e) => return Err(e),
    }
    let patient = id.uuid();
    let mut entries = Vec::new();

    macro_rules! rows {
        ($entity:ident) => {
            $entity::Entity::find()
                .filter($entity::Column::PatientId.eq(patient))
                .filter($entity::Column::LocalDate.between(from, to))
                .all(&state.db)
                .await?
        };
    }
    macro_rules! listed {
        ($kind:literal, $r:ident, $fields:expr) => {
            Listed {
                kind: $kind,
                entry_id: $r.entry_id,
                recorded_at: $r.recorded_at,
                local_date: $r.local_date,
                valid: $r.valid,
                deleted: $r.deleted,
                late: $r.late,
                fields: $fields,
            }
        };
    }
    for r in rows!(pain_entries) {
        let fields = json!({"score": r.score, "worst": r.worst, "least": r.least, "note": r.note});
        entries.push(listed!("pain", r, fields));
    }
    for r in rows!(medication_intakes) {
        let fields = json!({"drug": r.drug, "amount": r.amount, "unit": r.unit,
            "status": r.status, "prn": r.prn, "note": r.note});
        entries.push(listed!("medication", r, fields));
    }
    for r in rows!(exercise_sessions) {
        let fields = json!({"activity": r.activity, "minutes": r.minutes,
            "exertion": r.exertion, "note": r.note});
        entries.push(listed!("exercise", r, fields));
    }
    for r in rows!(wellbeing_entries) {
        let fields = json!({"sleep_hours": r.sleep_hours, "sleep_quality": r.sleep_quality,
            "mood": r.mood, "stress": r.stress, "note": r.note});
        entries.push(listed!("wellbeing", r, fields));
    }
    for r in rows!(peg_checkins) {
        let fields = json!({"pain": r.pain, "enjoyment": r.enjoyment, "activity": r.activity,
            "score": r.score, "note": r.note});
        entries.push(listed!("checkin", r, fields));
    }
    entries.sort_by_key(|e| std::cmp::Reverse(e.recorded_at));
    let mut counts = serde_json::Map::new();
    for kind in ["pain", "medication", "exercise", "wellbeing", "checkin"] {
        let n = entries
            .iter()
            .filter(|e| e.kind == kind && !e.deleted)
            .count();
        counts.insert(kind.into(), n.into());
    }
    audit::record(&state.db, event).await?;
    Ok(Json(json!({
        "patient_id": id,
        "from": from,
        "to": to,
        "counts": counts,
        "entries": entries,
    })))
}
