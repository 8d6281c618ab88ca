//! Liveness and readiness probes.

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::state::AppState;

/// `GET /healthz`: the process is up and serving. Never touches the database, so a
/// database outage does not get healthy replicas restarted.
pub async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// `GET /readyz`: the database answers; load balancers route traffic only while it does.
pub async fn readyz(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    if crate::db::ping(&state.db).await {
        Ok(Json(json!({"status": "ready"})))
    } else {
        Err(ApiError::Unavailable)
    }
}
