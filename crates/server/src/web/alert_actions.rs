//! Alert handling from the dashboard: the inbox (filters, bulk acknowledge) and the
//! acknowledge / resolve forms.
//!
//! The steps themselves are `alerts::lifecycle`'s, shared with the REST API, so an alert
//! acknowledged here stops repeating and escalating exactly as one acknowledged by API.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Form, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use serde::Deserialize;
use uuid::Uuid;

use super::pages::care_team_patient;
use super::session::WebUser;
use super::triage::{AlertRow, AlertTable, Filters};
use super::{WebError, local_path, render, templated};
use crate::access;
use crate::alerts::lifecycle::{self, LifecycleError};
use crate::alerts::triage::sort_by_triage;
use crate::domain::PatientId;
use crate::entity::{alerts, patients};
use crate::error::ApiError;
use crate::extract::{ApiPath, ApiQuery};
use crate::state::AppState;

/// Audit action codes.
pub mod action {
    /// An alert was acknowledged.
    pub const ACKNOWLEDGE: &str = "alert.acknowledge";
    /// An alert was resolved.
    pub const RESOLVE: &str = "alert.resolve";
    /// The alert inbox was viewed.
    pub const INBOX: &str = "alert.inbox";
}

const MAX_NOTE_CHARS: usize = 2000;
/// Most alerts one bulk acknowledge may name.
const MAX_BULK: usize = 500;

/// Unresolved alerts of `patients` in triage order, each with its patient.
async fn live_alerts<'p>(
    conn: &impl ConnectionTrait,
    patients: &'p [patients::Model],
) -> Result<Vec<(alerts::Model, &'p patients::Model)>, ApiError> {
    let ids: Vec<Uuid> = patients.iter().map(|p| p.id).collect();
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let by_id: HashMap<Uuid, &patients::Model> = patients.iter().map(|p| (p.id, p)).collect();
    let rows = alerts::Entity::find()
        .filter(alerts::Column::PatientId.is_in(ids))
        .filter(alerts::Column::Status.is_in(["open", "acknowledged"]))
        .all(conn)
        .await?;
    let mut rows: Vec<(alerts::Model, &patients::Model)> = rows
        .into_iter()
        .filter_map(|a| {
            let p = by_id.get(&a.patient_id).copied()?;
            Some((a, p))
        })
        .collect();
    sort_by_triage(&mut rows, |(a, _)| a);
    Ok(rows)
}

fn table_html(
    rows: &[AlertRow],
    csrf: &str,
    back: &str,
    bulk: bool,
    caption: &str,
) -> Result<String, WebError> {
    Ok(render(&AlertTable {
        rows,
        csrf,
        back,
        bulk,
        caption,
        empty: "No unresolved alerts.",
        max_note: MAX_NOTE_CHARS,
    })?)
}

/// The alerts table of one patient (access already checked by the caller).
pub async fn patient_alerts_html(
    state: &AppState,
    user: &WebUser,
    patient: &patients::Model,
) -> Result<String, WebError> {
    let rows = live_alerts(&state.db, std::slice::from_ref(patient)).await?;
    let rows: Vec<AlertRow> = rows
        .iter()
        .map(|(a, p)| AlertRow::of(a, &p.display_code, &p.timezone))
        .collect();
    table_html(
        &rows,
        &user.csrf,
        &format!("/dashboard/patients/{}", patient.id),
        false,
        "Unresolved alerts, most urgent first",
    )
}

#[derive(Template)]
#[template(path = "dashboard/inbox.html")]
struct InboxPage<'a> {
    filters: &'a str,
    shown: usize,
    total: usize,
    table: &'a str,
}

/// `GET /dashboard/alerts`: every unresolved alert of the user's patients in triage
/// order, filtered by rule, severity, status and patient code.
pub async fn inbox(
    State(state): State<AppState>,
    user: WebUser,
    ApiQuery(filters): ApiQuery<Filters>,
) -> Result<Response, WebError> {
    if !user.auth.role.is_clinician() {
        return Err(WebError(ApiError::NotFound));
    }
    let filters = filters.checked()?;
    let visible = access::visible_patients(&state.db, &user.auth).await?;
    let rows = live_alerts(&state.db, &visible).await?;
    let total = rows.len();
    let shown: Vec<AlertRow> = rows
        .iter()
        .filter(|(a, p)| filters.matches_code(&p.display_code) && filters.matches_alert(a))
        .map(|(a, p)| AlertRow::of(a, &p.display_code, &p.timezone))
        .collect();
    let now = state.clock.now();
    crate::audit::record_many(
        &state.db,
        shown.iter().map(|r| {
            crate::audit::AuditEvent::new(now, Some(user.auth.user_id), action::INBOX)
                .patient(PatientId(r.patient_id))
                .target("GET /dashboard/alerts")
        }),
    )
    .await?;
    let filters_html = filters.form_html(&[])?;
    let table = table_html(
        &shown,
        &user.csrf,
        "/dashboard/alerts",
        true,
        "Unresolved alerts, most urgent first: active before cleared before withdrawn, then severity, size of the change and age",
    )?;
    templated(
        StatusCode::OK,
        "Alert inbox",
        Some(user.nav()),
        &InboxPage {
            filters: &filters_html,
            shown: shown.len(),
            total,
            table: &table,
        },
    )
}

/// The acknowledge / resolve form.
#[derive(Deserialize)]
pub struct AlertForm {
    csrf: String,
    #[serde(default)]
    back: String,
    #[serde(default)]
    note: String,
}

/// The page to return to after a form: only a local dashboard path (never an open
/// redirect, never a header split); anything else is a 400, checked before the form
/// acts so that a refused request changes nothing.
fn back_target(back: &str) -> Result<String, WebError> {
    if back.is_empty() {
        return Ok("/dashboard/alerts".to_owned());
    }
    local_path(back).map(str::to_owned).ok_or_else(|| {
        WebError(ApiError::BadRequest(
            "back must be a local dashboard path".into(),
        ))
    })
}

/// Loads an alert whose patient is on `user`'s care team (404 otherwise, audited).
async fn my_alert(
    state: &AppState,
    user: &WebUser,
    id: Uuid,
    action: &'static str,
) -> Result<alerts::Model, WebError> {
    let Some(alert) = alerts::Entity::find_by_id(id).one(&state.db).await? else {
        return Err(WebError(ApiError::NotFound));
    };
    care_team_patient(
        state,
        user,
        PatientId(alert.patient_id),
        action,
        &format!("alert {id}"),
    )
    .await?;
    Ok(alert)
}

/// `POST /dashboard/alerts/{id}/acknowledge`.
pub async fn acknowledge(
    State(state): State<AppState>,
    user: WebUser,
    ApiPath(id): ApiPath<Uuid>,
    Form(form): Form<AlertForm>,
) -> Result<Response, WebError> {
    user.check_csrf(&form.csrf)?;
    let back = back_target(&form.back)?;
    my_alert(&state, &user, id, action::ACKNOWLEDGE).await?;
    let now = state.clock.now();
    let txn = crate::db::begin_write(&state.db).await?;
    // The same step as the REST API (it also stops the repeat and escalation timers).
    // Acknowledged already by someone else: nothing to do, the page shows the state.
    match lifecycle::acknowledge(&txn, id, user.auth.user_id.uuid(), now).await {
        Ok(()) | Err(LifecycleError::WrongState) => {}
        Err(LifecycleError::Db(e)) => return Err(e.into()),
    }
    txn.commit().await?;
    Ok(Redirect::to(&back).into_response())
}

/// `POST /dashboard/alerts/{id}/resolve` (from open or acknowledged).
pub async fn resolve(
    State(state): State<AppState>,
    user: WebUser,
    ApiPath(id): ApiPath<Uuid>,
    Form(form): Form<AlertForm>,
) -> Result<Response, WebError> {
    user.check_csrf(&form.csrf)?;
    let back = back_target(&form.back)?;
    my_alert(&state, &user, id, action::RESOLVE).await?;
    let note: String = form.note.trim().chars().take(MAX_NOTE_CHARS).collect();
    let note = (!note.is_empty()).then_some(note);
    let now = state.clock.now();
    let txn = crate::db::begin_write(&state.db).await?;
    match lifecycle::resolve(&txn, id, user.auth.user_id.uuid(), note, now).await {
        Ok(()) | Err(LifecycleError::WrongState) => {}
        Err(LifecycleError::Db(e)) => return Err(e.into()),
    }
    txn.commit().await?;
    Ok(Redirect::to(&back).into_response())
}

/// `POST /dashboard/alerts/acknowledge`: acknowledges every selected alert (`alert`
/// fields) the user may handle, in one transaction; those acknowledged meanwhile are
/// left as they are.
pub async fn acknowledge_many(
    State(state): State<AppState>,
    user: WebUser,
    Form(form): Form<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    let csrf = form
        .iter()
        .find(|(k, _)| k == "csrf")
        .map_or("", |(_, v)| v.as_str());
    user.check_csrf(csrf)?;
    let back = back_target(
        form.iter()
            .find(|(k, _)| k == "back")
            .map_or("", |(_, v)| v.as_str()),
    )?;
    let mut ids = Vec::new();
    for (k, v) in &form {
        if k != "alert" {
            continue;
        }
        let id: Uuid = v
            .parse()
            .map_err(|_| WebError(ApiError::BadRequest("alert must be an alert id".into())))?;
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    if ids.len() > MAX_BULK {
        return Err(WebError(ApiError::BadRequest(format!(
            "at most {MAX_BULK} alerts at once"
        ))));
    }
    // Every alert's access first (each audited): one the user may not handle refuses
    // the whole request, so nothing is half done.
    for id in &ids {
        my_alert(&state, &user, *id, action::ACKNOWLEDGE).await?;
    }
    let now = state.clock.now();
    let txn = crate::db::begin_write(&state.db).await?;
    for id in ids {
        match lifecycle::acknowledge(&txn, id, user.auth.user_id.uuid(), now).await {
            Ok(()) | Err(LifecycleError::WrongState) => {}
            Err(LifecycleError::Db(e)) => return Err(e.into()),
        }
    }
    txn.commit().await?;
    Ok(Redirect::to(&back).into_response())
}
