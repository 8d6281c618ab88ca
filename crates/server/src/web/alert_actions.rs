//! Alert handling from the dashboard: the inbox and the acknowledge / resolve forms.
//!
//! The steps themselves are `alerts::lifecycle`'s, shared with the REST API, so an alert
//! acknowledged here stops repeating and escalating exactly as one acknowledged by API.

use axum::extract::{Form, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};
use serde::Deserialize;
use uuid::Uuid;

use super::pages::care_team_patient;
use super::session::WebUser;
use super::{WebError, esc, page};
use crate::access;
use crate::alerts::lifecycle::{self, LifecycleError};
use crate::api::ApiPath;
use crate::domain::PatientId;
use crate::entity::{alerts, patients};
use crate::error::ApiError;
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

fn severity_rank(s: &str) -> u8 {
    match s {
        "urgent" => 0,
        "warning" => 1,
        _ => 2,
    }
}

fn alert_rows(alerts: &[(alerts::Model, String)], csrf: &str, back: &str) -> String {
    if alerts.is_empty() {
        return "<p>No open alerts.</p>".to_owned();
    }
    let mut s = String::from(
        r#"<table class="alerts"><caption>Open and acknowledged alerts, most severe first</caption>
<thead><tr><th scope="col">Patient</th><th scope="col">Severity</th><th scope="col">Rule</th><th scope="col">What happened</th><th scope="col">Opened</th><th scope="col">Status</th><th scope="col">Action</th></tr></thead><tbody>"#,
    );
    for (a, code) in alerts {
        let ack = if a.status == "open" {
            format!(
                r#"<form method="post" action="/dashboard/alerts/{id}/acknowledge" class="inline">
<input type="hidden" name="csrf" value="{csrf}"><input type="hidden" name="back" value="{back}">
<button type="submit" aria-label="Acknowledge {rule} alert for {code}">Acknowledge</button></form>"#,
                id = a.id,
                csrf = esc(csrf),
                back = esc(back),
                rule = esc(&a.rule),
                code = esc(code),
            )
        } else {
            String::new()
        };
        s.push_str(&format!(
            r#"<tr data-alert="{id}"><th scope="row"><a href="/dashboard/patients/{pid}">{code}</a></th><td class="sev-{sev}">{sev}</td><td>{rule}</td><td>{expl}{late}</td><td>{opened}</td><td class="status">{status}</td><td>{ack}
<form method="post" action="/dashboard/alerts/{id}/resolve">
<input type="hidden" name="csrf" value="{csrf}"><input type="hidden" name="back" value="{back}">
<label for="note-{id}">Resolution note</label>
<textarea id="note-{id}" name="note" rows="2" maxlength="{MAX_NOTE_CHARS}"></textarea>
<button type="submit">Resolve</button></form></td></tr>
"#,
            id = a.id,
            pid = a.patient_id,
            code = esc(code),
            sev = esc(&a.severity),
            rule = esc(&a.rule),
            expl = esc(&a.explanation),
            late = if a.reported_late { " (reported late)" } else { "" },
            opened = a.opened_at.format("%Y-%m-%d %H:%M UTC"),
            status = esc(&a.status),
            csrf = esc(csrf),
            back = esc(back),
        ));
    }
    s.push_str("</tbody></table>");
    s
}

async fn live_alerts(
    conn: &impl ConnectionTrait,
    patients: &[patients::Model],
) -> Result<Vec<(alerts::Model, String)>, ApiError> {
    let ids: Vec<Uuid> = patients.iter().map(|p| p.id).collect();
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut rows = alerts::Entity::find()
        .filter(alerts::Column::PatientId.is_in(ids))
        .filter(alerts::Column::Status.is_in(["open", "acknowledged"]))
        .order_by_desc(alerts::Column::OpenedAt)
        .all(conn)
        .await?;
    rows.sort_by_key(|a| (a.status != "open", severity_rank(&a.severity)));
    Ok(rows
        .into_iter()
        .map(|a| {
            let code = patients
                .iter()
                .find(|p| p.id == a.patient_id)
                .map(|p| p.display_code.clone())
                .unwrap_or_default();
            (a, code)
        })
        .collect())
}

/// The alerts table of one patient (access already checked by the caller).
pub async fn patient_alerts_html(
    state: &AppState,
    user: &WebUser,
    patient: Uuid,
) -> Result<String, WebError> {
    let Some(p) = patients::Entity::find_by_id(patient).one(&state.db).await? else {
        return Err(WebError(ApiError::NotFound));
    };
    let rows = live_alerts(&state.db, std::slice::from_ref(&p)).await?;
    Ok(alert_rows(
        &rows,
        &user.csrf,
        &format!("/dashboard/patients/{patient}"),
    ))
}

/// `GET /dashboard/alerts`: every open or acknowledged alert of the user's patients.
pub async fn inbox(State(state): State<AppState>, user: WebUser) -> Result<Response, WebError> {
    if !user.auth.role.is_clinician() {
        return Err(WebError(ApiError::NotFound));
    }
    let visible = access::visible_patients(&state.db, &user.auth).await?;
    let rows = live_alerts(&state.db, &visible).await?;
    let now = state.clock.now();
    crate::audit::record_many(
        &state.db,
        rows.iter().map(|(a, _)| {
            crate::audit::AuditEvent::new(now, Some(user.auth.user_id), action::INBOX)
                .patient(PatientId(a.patient_id))
                .target("GET /dashboard/alerts")
        }),
    )
    .await?;
    let body = format!(
        "<h1>Alert inbox</h1>{}",
        alert_rows(&rows, &user.csrf, "/dashboard/alerts")
    );
    Ok(page(StatusCode::OK, "Alert inbox", Some(user.nav()), &body))
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

fn back_to(back: &str) -> Response {
    // Only our own pages: never an open redirect.
    let ok = back.starts_with("/dashboard/") && !back.contains("//") && !back.contains('\\');
    Redirect::to(if ok { back } else { "/dashboard/alerts" }).into_response()
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
    Ok(back_to(&form.back))
}

/// `POST /dashboard/alerts/{id}/resolve` (from open or acknowledged).
pub async fn resolve(
    State(state): State<AppState>,
    user: WebUser,
    ApiPath(id): ApiPath<Uuid>,
    Form(form): Form<AlertForm>,
) -> Result<Response, WebError> {
    user.check_csrf(&form.csrf)?;
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
    Ok(back_to(&form.back))
}
