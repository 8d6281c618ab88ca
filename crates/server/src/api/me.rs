//! The caller's own account and devices.

use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::accounts::{self, UserView};
use crate::auth::AuthUser;
use crate::domain::TokenId;
use crate::error::{ApiError, Json};
use crate::extract::ApiPath;
use crate::state::AppState;

/// `GET /me`.
pub async fn me(State(state): State<AppState>, user: AuthUser) -> Result<Json<UserView>, ApiError> {
    accounts::me(&state, &user).await.map(Json)
}

/// `GET /me/devices`: the caller's active tokens.
pub async fn devices(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Json<Value>, ApiError> {
    let devices = accounts::list_devices(&state, &user).await?;
    Ok(Json(json!({ "devices": devices })))
}

/// `DELETE /me/devices/{id}`: revokes one of the caller's tokens.
pub async fn revoke_device(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<TokenId>,
) -> Result<StatusCode, ApiError> {
    accounts::revoke_device(&state, &user, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
