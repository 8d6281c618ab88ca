//! The web dashboard under `/dashboard`.
use crate::state::AppState;
use axum::Router;
/// Routes.
pub fn router() -> Router<AppState> {
    Router::new()
}
