//! Clinical read endpoints: trends, the clinician's patient list and exports. Each reads
//! patient data, so each checks access (patient themself or care team; anyone else gets
//! 404 as for a missing patient) and writes an audit row, denied attempts included.

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::access::{self, PatientAccess};
use crate::audit::{self, AuditEvent, Outcome};
use crate::auth::AuthUser;
use crate::domain::{PatientId, RequestDate};
use crate::entity::patients;
use crate::error::{ApiError, Json};
use crate::export::{self, ExportKind};
use crate::extract::{ApiPath, ApiQuery};
use crate::state::AppState;
use crate::trends::range::{local_today, resolve_range};
use crate::trends::{self, Trends};

/// Audit action codes of this module.
pub mod action {
    /// A patient's trends were read.
    pub const TRENDS_READ: &str = "trends.read";
    /// A patient's data was exported (CSV or FHIR).
    pub const EXPORT: &str = "export.download";
}

/// Loads a patient whose diary `user` may read (the patient or their care team), auditing
/// the attempt either way. Admins see records, not diaries: 404 for them too.
pub async fn diary_patient(
    state: &AppState,
    user: &AuthUser,
    id: PatientId,
    action: &'static str,
    target: &str,
) -> Result<patients::Model, ApiError> {
    let event = AuditEvent::new(state.clock.now(), Some(user.user_id), action)
        .patient(id)
        .target(target.to_owned());
    match access::visible_patient(&state.db, user, id).await {
        Ok((p, PatientAccess::OwnRecord | PatientAccess::CareTeam)) => {
            audit::record(&state.db, event).await?;
            Ok(p)
        }
        Ok(_) | Err(ApiError::NotFound) => {
            audit::record(&state.db, event.outcome(Outcome::Denied)).await?;
            Err(ApiError::NotFound)
        }
        Err(e) => Err(e),
    }
}

/// `?from=&to=` (local days, inclusive); defaults to the last 30 days.
#[derive(Debug, Deserialize)]
pub struct RangeQuery {
    from: Option<RequestDate>,
    to: Option<RequestDate>,
}

/// `GET /patients/{id}/trends?from=&to=`.
pub async fn trends(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<PatientId>,
    ApiQuery(q): ApiQuery<RangeQuery>,
) -> Result<Json<Trends>, ApiError> {
    let patient = diary_patient(
        &state,
        &user,
        id,
        action::TRENDS_READ,
        "GET /api/v1/patients/{id}/trends",
    )
    .await?;
    let (from, to) = resolve_range(
        local_today(&state, &patient),
        q.from.map(RequestDate::get),
        q.to.map(RequestDate::get),
    )?;
    let t = trends::compute(&state.db, patient.id, from, to)
        .await
        .map_err(ApiError::internal)?;
    Ok(Json(t))
}

/// `GET /clinician/patients`: the caller's patients, open alerts first, with summaries.
pub async fn clinician_patients(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Json<Value>, ApiError> {
    if !user.role.is_clinician() {
        return Err(ApiError::Forbidden);
    }
    let rows = access::visible_patients(&state.db, &user).await?;
    let now = state.clock.now();
    audit::record_many(
        &state.db,
        rows.iter().map(|p| {
            AuditEvent::new(now, Some(user.user_id), audit::action::PATIENT_LIST)
                .patient(PatientId(p.id))
                .target("GET /api/v1/clinician/patients")
        }),
    )
    .await?;
    let list = trends::list::summarise(&state.db, &rows, now)
        .await
        .map_err(ApiError::internal)?;
    Ok(Json(json!({ "patients": list })))
}

/// `GET /patients/{id}/export/{file}`: `pain.csv`, `medications.csv`, `exercise.csv`,
/// `wellbeing.csv`, `checkins.csv`, or `fhir` (an R4 Bundle).
pub async fn export(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath((id, file)): ApiPath<(PatientId, String)>,
) -> Result<Response, ApiError> {
    let kind = if file == "fhir" {
        None
    } else {
        let k = file
            .strip_suffix(".csv")
            .and_then(ExportKind::parse)
            .ok_or(ApiError::NotFound)?;
        Some(k)
    };
    let target = format!("GET /api/v1/patients/{{id}}/export/{file}");
    let patient = diary_patient(&state, &user, id, action::EXPORT, &target).await?;
    match kind {
        Some(kind) => {
            let body = export::csv(&state.db, patient.id, kind)
                .await
                .map_err(ApiError::internal)?;
            let mut resp = body.into_response();
            let h = resp.headers_mut();
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/csv; charset=utf-8"),
            );
            if let Ok(v) =
                HeaderValue::from_str(&format!("attachment; filename=\"{}.csv\"", kind.as_str()))
            {
                h.insert(header::CONTENT_DISPOSITION, v);
            }
            Ok(resp)
        }
        None => {
            let bundle = export::fhir_bundle(&state.db, &patient, state.clock.now())
                .await
                .map_err(ApiError::internal)?;
            let mut resp = Json(bundle).into_response();
            resp.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/fhir+json"),
            );
            Ok(resp)
        }
    }
}
