//! The care-plan editor (not yet built: the page says so).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

use super::pages::care_team_patient;
use super::session::WebUser;
use super::{WebError, page};
use crate::api::ApiPath;
use crate::domain::PatientId;
use crate::state::AppState;

/// `GET /dashboard/patients/{id}/care-plan`.
pub async fn editor(
    State(state): State<AppState>,
    user: WebUser,
    ApiPath(id): ApiPath<PatientId>,
) -> Result<Response, WebError> {
    care_team_patient(
        &state,
        &user,
        id,
        "care_plan.read",
        "GET /dashboard/patients/{id}/care-plan",
    )
    .await?;
    Ok(page(
        StatusCode::OK,
        "Care plan",
        Some(user.nav()),
        "<h1>Care plan</h1>",
    ))
}

/// `POST /dashboard/patients/{id}/care-plan`.
pub async fn submit(
    State(state): State<AppState>,
    user: WebUser,
    ApiPath(id): ApiPath<PatientId>,
) -> Result<Response, WebError> {
    editor(State(state), user, ApiPath(id)).await
}
