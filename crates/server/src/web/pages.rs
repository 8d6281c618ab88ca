//! The dashboard's read pages: the patient list (triage) and exports for a signed-in
//! care-team member (the patient page and visit summary are in `patient`). Every page that shows patient
//! data checks care-team access (anyone else, patients included, gets the same 404 as for
//! a missing patient) and writes an audit row.

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use askama::Template;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect};

use super::session::WebUser;
use super::triage::{AlertRow, Filters, local_time};
use super::{WebError, templated};
use crate::access::{self, PatientAccess};
use crate::alerts::triage::TriageKey;
use crate::audit::{self, AuditEvent, Outcome};
use crate::domain::PatientId;
use crate::entity::{alerts, patients, users};
use crate::error::ApiError;
use crate::export::{self, ExportKind};
use crate::extract::{ApiPath, ApiQuery};
use crate::state::AppState;
use crate::trends;

/// Audit action codes of the dashboard.
pub mod action {
    /// The patient page (trends and charts) was viewed.
    pub const PATIENT_VIEW: &str = "dashboard.patient_view";
    /// The visit summary was viewed.
    pub const VISIT_SUMMARY: &str = "dashboard.visit_summary";
    /// An export was downloaded from the dashboard.
    pub const EXPORT: &str = "export.download";
}

/// Loads a patient on `user`'s care team, auditing the attempt; 404 for everyone else.
pub async fn care_team_patient(
    state: &AppState,
    user: &WebUser,
    id: PatientId,
    action: &'static str,
    target: &str,
) -> Result<patients::Model, WebError> {
    let event = AuditEvent::new(state.clock.now(), Some(user.auth.user_id), action)
        .patient(id)
        .target(target.to_owned());
    match access::visible_patient(&state.db, &user.auth, id).await {
        Ok((p, PatientAccess::CareTeam)) => {
            audit::record(&state.db, event).await?;
            Ok(p)
        }
        Ok(_) | Err(ApiError::NotFound) => {
            audit::record(&state.db, event.outcome(Outcome::Denied)).await?;
            Err(WebError(ApiError::NotFound))
        }
        Err(e) => Err(WebError(e)),
    }
}

pub fn fmt1(v: Option<f64>) -> String {
    v.map_or_else(|| "–".to_owned(), |v| format!("{v:.1}"))
}

pub fn fmt_change(v: Option<f64>) -> String {
    v.map_or_else(|| "–".to_owned(), |v| format!("{v:+.1}"))
}

pub fn fmt_pct(v: Option<f64>) -> String {
    v.map_or_else(|| "–".to_owned(), |v| format!("{:.0}%", v * 100.0))
}

/// One row of the patient list.
struct PatientRow {
    id: uuid::Uuid,
    code: String,
    /// The most urgent unresolved alert that passes the filters.
    alert: Option<AlertRow>,
    /// How many other unresolved alerts the patient has.
    more: usize,
    last_entry: String,
    pain_mean: String,
    pain_change: String,
    adherence: String,
}

#[derive(Template)]
#[template(path = "dashboard/patients.html")]
struct PatientList<'a> {
    filters: &'a str,
    rows: &'a [PatientRow],
    total: usize,
}

/// `GET /dashboard/`: the signed-in clinician's patients in triage order, with filters
/// (rule, severity, status, care-team member) and a search by code.
pub async fn patient_list(
    State(state): State<AppState>,
    user: WebUser,
    ApiQuery(filters): ApiQuery<Filters>,
) -> Result<Response, WebError> {
    if !user.auth.role.is_clinician() {
        return Err(WebError(ApiError::NotFound));
    }
    let filters = filters.checked()?;
    let rows = access::visible_patients(&state.db, &user.auth).await?;
    let now = state.clock.now();
    let list = trends::list::summarise(&state.db, &rows, now)
        .await
        .map_err(ApiError::internal)?;
    let member = filters.member_id();
    let mut shown: Vec<(Option<&alerts::Model>, &trends::list::PatientSummary)> = list
        .iter()
        .filter(|p| filters.matches_code(&p.display_code))
        .filter(|p| member.is_none_or(|m| p.care_team.contains(&m)))
        .filter_map(|p| {
            let alert = p.alerts.iter().find(|a| filters.matches_alert(a));
            if filters.filters_alerts() && alert.is_none() {
                None
            } else {
                Some((alert, p))
            }
        })
        .collect();
    if filters.filters_alerts() {
        // Ranked by the alert shown, which a filter may have changed.
        shown.sort_by_cached_key(|(a, p)| (a.map(TriageKey::of), p.display_code.clone()));
    }
    audit::record_many(
        &state.db,
        shown.iter().map(|(_, p)| {
            AuditEvent::new(now, Some(user.auth.user_id), audit::action::PATIENT_LIST)
                .patient(PatientId(p.id))
                .target("GET /dashboard/")
        }),
    )
    .await?;
    let view: Vec<PatientRow> = shown
        .iter()
        .map(|(a, p)| PatientRow {
            id: p.id,
            code: p.display_code.clone(),
            alert: a.map(|a| AlertRow::of(a, &p.display_code, &p.timezone)),
            more: p.alerts.len().saturating_sub(usize::from(a.is_some())),
            last_entry: p
                .last_entry_at
                .map_or_else(|| "never".to_owned(), |t| local_time(t, &p.timezone)),
            pain_mean: fmt1(p.pain_mean_7d),
            pain_change: fmt_change(p.pain_change),
            adherence: fmt_pct(p.adherence_7d),
        })
        .collect();
    let members = care_team_emails(&state, &list).await?;
    let filters_html = filters.form_html(&members)?;
    templated(
        StatusCode::OK,
        "Patients",
        Some(user.nav()),
        &PatientList {
            filters: &filters_html,
            rows: &view,
            total: list.len(),
        },
    )
}

/// (user id, email) of everyone on the care teams of `list`, by email.
async fn care_team_emails(
    state: &AppState,
    list: &[trends::list::PatientSummary],
) -> Result<Vec<(String, String)>, WebError> {
    let mut ids: Vec<uuid::Uuid> = list
        .iter()
        .flat_map(|p| p.care_team.iter().copied())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let found: Vec<(uuid::Uuid, String)> = users::Entity::find()
        .select_only()
        .columns([users::Column::Id, users::Column::Email])
        .filter(users::Column::Id.is_in(ids))
        .into_tuple()
        .all(&state.db)
        .await
        .map_err(ApiError::from)?;
    let mut out: Vec<(String, String)> = found
        .into_iter()
        .map(|(id, email)| (id.to_string(), email))
        .collect();
    out.sort_by(|a, b| a.1.cmp(&b.1));
    Ok(out)
}

/// `GET /dashboard/patients/{id}/export/{file}`: the API's exports for a dashboard session.
pub async fn export(
    State(state): State<AppState>,
    user: WebUser,
    ApiPath((id, file)): ApiPath<(PatientId, String)>,
) -> Result<Response, WebError> {
    let kind = match file.as_str() {
        "fhir" => None,
        f => Some(
            f.strip_suffix(".csv")
                .and_then(ExportKind::parse)
                .ok_or(ApiError::NotFound)?,
        ),
    };
    let target = format!("GET /dashboard/patients/{{id}}/export/{file}");
    let patient = care_team_patient(&state, &user, id, action::EXPORT, &target).await?;
    let (body, ctype, name) = match kind {
        Some(k) => (
            export::csv(&state.db, patient.id, k)
                .await
                .map_err(ApiError::internal)?,
            "text/csv; charset=utf-8",
            format!("{}-{}.csv", patient.display_code, k.as_str()),
        ),
        None => (
            export::fhir_bundle(&state.db, &patient, state.clock.now())
                .await
                .map_err(ApiError::internal)?
                .to_string(),
            "application/fhir+json",
            format!("{}-fhir.json", patient.display_code),
        ),
    };
    let mut resp = body.into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ctype));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    let safe: String = name
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .collect();
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{safe}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(resp)
}
