//! Login, logout and enrolment.

use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;

use crate::accounts::{self, LoginResponse};
use crate::auth::{AuthUser, ClientAddr};
use crate::domain::{Email, Password};
use crate::error::{ApiError, ApiJson, Json};
use crate::state::AppState;

/// `POST /auth/login` body.
#[derive(Deserialize)]
pub struct LoginRequest {
    email: String,
    password: String,
    #[serde(default)]
    device_name: Option<String>,
}

/// `POST /auth/login`: a device token if `device_name` is given, else a web session.
pub async fn login(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    ApiJson(req): ApiJson<LoginRequest>,
) -> Result<Json<LoginResponse>, ApiError> {
    // A malformed email cannot belong to an account: answer as for a wrong password.
    let email = Email::parse(&req.email).map_err(|_| ApiError::InvalidCredentials)?;
    let password = Password::for_login(&req.password);
    accounts::login_from(&state, email, password, req.device_name, client)
        .await
        .map(Json)
}

/// `POST /auth/logout`: revokes the presented token.
pub async fn logout(State(state): State<AppState>, user: AuthUser) -> Result<StatusCode, ApiError> {
    accounts::logout(&state, &user).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /enrol` body.
#[derive(Deserialize)]
pub struct EnrolRequest {
    code: String,
    email: String,
    password: String,
    #[serde(default)]
    device_name: Option<String>,
}

/// `POST /enrol`: redeems a one-time invitation code for a patient account and token.
pub async fn enrol(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<EnrolRequest>,
) -> Result<(StatusCode, Json<LoginResponse>), ApiError> {
    let email = Email::parse(&req.email)?;
    let password = Password::parse(&req.password)?;
    let res = accounts::enrol(&state, &req.code, email, password, req.device_name).await?;
    Ok((StatusCode::CREATED, Json(res)))
}
