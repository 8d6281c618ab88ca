//! The REST API under `/api/v1`, plus `/healthz` and `/readyz`.
//!
//! Handlers are thin: parse into domain types, check the role, call `accounts`/`access`/
//! `audit`, serialise. [`crate::server::app`] composes these routes with the dashboard's
//! and the sync endpoint's, and puts the shared layers around them.

mod admin;
mod alerts;
pub mod clinical;
mod deliveries;
mod documents;
mod entries;
mod entry_issues;
mod health;
mod me;
mod patients;
pub mod reminders;
mod session;

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::routing::{delete, get, post, put};

use crate::error::ApiError;
use crate::state::AppState;

/// The REST routes: `/healthz`, `/readyz` and everything under `/api/v1`.
pub fn routes() -> Router<AppState> {
    let v1 = Router::new()
        .route("/auth/login", post(session::login))
        .route("/auth/logout", post(session::logout))
        .route("/enrol", post(session::enrol))
        .route("/me", get(me::me))
        .route("/me/devices", get(me::devices))
        .route("/me/devices/{id}", delete(me::revoke_device))
        .route(
            "/me/reminders",
            get(reminders::list_mine).post(reminders::create),
        )
        .route(
            "/me/reminders/{id}",
            get(reminders::get_mine)
                .put(reminders::update)
                .delete(reminders::delete),
        )
        .route(
            "/me/push-subscriptions",
            get(reminders::list_subscriptions).post(reminders::register_subscription),
        )
        .route(
            "/me/push-subscriptions/{id}",
            delete(reminders::delete_subscription),
        )
        .route("/me/reminders/{id}/snooze", post(reminders::snooze))
        .route(
            "/me/device-tokens",
            get(reminders::list_device_tokens).post(reminders::register_device_token),
        )
        .route(
            "/me/device-tokens/{id}",
            delete(reminders::delete_device_token),
        )
        .route(
            "/me/reminder-settings",
            get(reminders::get_settings).put(reminders::put_settings),
        )
        .route(
            "/clinics/{id}/reminder-defaults",
            get(reminders::get_defaults).put(reminders::put_defaults),
        )
        .route("/push/vapid-public-key", get(reminders::vapid_public_key))
        .route("/patients/{id}/reminders", get(reminders::list_for_patient))
        .route("/admin/users", post(admin::create_user))
        .route("/admin/patients", post(admin::create_patient))
        .route("/admin/patients/{id}", delete(admin::erase_patient))
        .route(
            "/admin/patients/{id}/care-team/{user_id}",
            put(admin::add_care_team_member).delete(admin::remove_care_team_member),
        )
        .route("/admin/audit", get(admin::audit))
        .route("/admin/deliveries", get(deliveries::list))
        .route("/admin/deliveries/{id}/retry", post(deliveries::retry))
        .route("/patients", get(patients::list))
        .route("/patients/{id}", get(patients::get))
        .route("/patients/{id}/documents", get(documents::list))
        .route("/alerts", get(alerts::list))
        .route("/alerts/{id}", get(alerts::get))
        .route("/alerts/{id}/acknowledge", post(alerts::acknowledge))
        .route("/alerts/{id}/resolve", post(alerts::resolve))
        .route(
            "/admin/notification-settings",
            get(alerts::get_settings).put(alerts::put_settings),
        )
        .route("/patients/{id}/trends", get(clinical::trends))
        .route("/patients/{id}/export/{file}", get(clinical::export))
        .route("/clinician/patients", get(clinical::clinician_patients))
        .route("/patients/{id}/entries", get(entries::list))
        .route("/patients/{id}/entry-issues", get(entry_issues::list));
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .nest("/api/v1", v1)
}

/// Every `/api/v1` response (entries, trends, exports: patient data) is kept out of
/// browser and proxy caches and must not be content-sniffed into something executable.
pub async fn no_store_under_api(
    uri: axum::http::Uri,
    mut response: axum::response::Response,
) -> axum::response::Response {
    if uri.path().starts_with("/api/v1/") || uri.path() == "/api/v1" {
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
    }
    response
}

/// Answer of a path no route matches.
pub async fn not_found() -> ApiError {
    ApiError::NotFound
}

/// Answer of a known path with a method it does not take.
pub async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}
