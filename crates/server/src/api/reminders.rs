//! Reminder endpoints: a patient's own schedules and push subscriptions under
//! `/me/reminders` and `/me/push-subscriptions`, the server's VAPID public key, and a
//! read-only view for the patient's care team at `/patients/{id}/reminders`.
//!
//! Only a patient has `/me/...` reminders (staff get 403). A reminder or subscription of
//! another patient answers 404, exactly like one that does not exist. Every read and
//! change is audited; changes in the same transaction as the audit row.

use axum::extract::State;
use axum::http::StatusCode;
use sea_orm::TransactionTrait;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::access::{self, PatientAccess};
use crate::audit::{self, AuditEvent, Outcome};
use crate::auth::AuthUser;
use crate::domain::PatientId;
use crate::error::{ApiError, ApiJson, Json};
use crate::extract::ApiPath;
use crate::reminders::{self, ReminderInput, ReminderView, push};
use crate::state::AppState;

/// Audit action codes of this module.
pub mod action {
    /// A patient's reminders were read.
    pub const REMINDER_READ: &str = "reminder.read";
    /// A reminder was created.
    pub const REMINDER_CREATE: &str = "reminder.create";
    /// A reminder was changed.
    pub const REMINDER_UPDATE: &str = "reminder.update";
    /// A reminder was deleted.
    pub const REMINDER_DELETE: &str = "reminder.delete";
    /// A patient's push subscriptions were listed.
    pub const PUSH_SUBSCRIPTION_READ: &str = "push_subscription.read";
    /// A push subscription was registered (or its keys replaced).
    pub const PUSH_SUBSCRIPTION_CREATE: &str = "push_subscription.create";
    /// A push subscription was removed.
    pub const PUSH_SUBSCRIPTION_DELETE: &str = "push_subscription.delete";
}

fn event(state: &AppState, user: &AuthUser, action: &'static str, target: &str) -> AuditEvent {
    AuditEvent::new(state.clock.now(), Some(user.user_id), action).target(target.to_owned())
}

/// `GET /me/reminders`.
pub async fn list_mine(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Json<Value>, ApiError> {
    let patient = reminders::own_patient(&state.db, &user).await?;
    let list = reminders::list(&state.db, patient.id).await?;
    let e = event(
        &state,
        &user,
        action::REMINDER_READ,
        "GET /api/v1/me/reminders",
    )
    .patient(PatientId(patient.id));
    audit::record(&state.db, e).await?;
    Ok(Json(json!({
        "timezone": patient.timezone,
        "reminders": list,
    })))
}

/// `POST /me/reminders`: 201 with the reminder, its `next_due_at` computed.
pub async fn create(
    State(state): State<AppState>,
    user: AuthUser,
    ApiJson(input): ApiJson<ReminderInput>,
) -> Result<(StatusCode, Json<ReminderView>), ApiError> {
    let patient = reminders::own_patient(&state.db, &user).await?;
    let valid = input.validate(&patient.timezone)?;
    let now = state.clock.now();
    let txn = state.db.begin().await?;
    let view = reminders::create(&txn, patient.id, &valid, now).await?;
    let e = event(&state, &user, action::REMINDER_CREATE, &view.id.to_string())
        .patient(PatientId(patient.id));
    audit::record(&txn, e).await?;
    txn.commit().await?;
    Ok((StatusCode::CREATED, Json(view)))
}

/// `GET /me/reminders/{id}`.
pub async fn get_mine(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<ReminderView>, ApiError> {
    let patient = reminders::own_patient(&state.db, &user).await?;
    let e =
        event(&state, &user, action::REMINDER_READ, &id.to_string()).patient(PatientId(patient.id));
    let row = match reminders::find_own(&state.db, patient.id, id).await {
        Ok(row) => row,
        Err(err) => {
            audit::record(&state.db, e.outcome(Outcome::Denied)).await?;
            return Err(err);
        }
    };
    audit::record(&state.db, e).await?;
    Ok(Json(row.into()))
}

/// `PUT /me/reminders/{id}`: replaces every field (send the whole reminder).
pub async fn update(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(input): ApiJson<ReminderInput>,
) -> Result<Json<ReminderView>, ApiError> {
    let patient = reminders::own_patient(&state.db, &user).await?;
    let e = event(&state, &user, action::REMINDER_UPDATE, &id.to_string())
        .patient(PatientId(patient.id));
    let row = match reminders::find_own(&state.db, patient.id, id).await {
        Ok(row) => row,
        Err(err) => {
            audit::record(&state.db, e.outcome(Outcome::Denied)).await?;
            return Err(err);
        }
    };
    let valid = input.validate(&patient.timezone)?;
    let txn = state.db.begin().await?;
    let view = reminders::update(&txn, row, &valid, state.clock.now()).await?;
    audit::record(&txn, e).await?;
    txn.commit().await?;
    Ok(Json(view))
}

/// `DELETE /me/reminders/{id}`: 204.
pub async fn delete(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<StatusCode, ApiError> {
    let patient = reminders::own_patient(&state.db, &user).await?;
    let e = event(&state, &user, action::REMINDER_DELETE, &id.to_string())
        .patient(PatientId(patient.id));
    let row = match reminders::find_own(&state.db, patient.id, id).await {
        Ok(row) => row,
        Err(err) => {
            audit::record(&state.db, e.outcome(Outcome::Denied)).await?;
            return Err(err);
        }
    };
    let txn = state.db.begin().await?;
    reminders::delete(&txn, row).await?;
    audit::record(&txn, e).await?;
    txn.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /patients/{id}/reminders`: the patient and their care team; admins and everyone
/// else get 404, like for a missing patient.
pub async fn list_for_patient(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<PatientId>,
) -> Result<Json<Value>, ApiError> {
    let e = event(
        &state,
        &user,
        action::REMINDER_READ,
        "GET /api/v1/patients/{id}/reminders",
    )
    .patient(id);
    let patient = match access::visible_patient(&state.db, &user, id).await {
        Ok((p, PatientAccess::OwnRecord | PatientAccess::CareTeam)) => p,
        Ok((_, PatientAccess::ClinicAdmin)) | Err(ApiError::NotFound) => {
            audit::record(&state.db, e.outcome(Outcome::Denied)).await?;
            return Err(ApiError::NotFound);
        }
        Err(err) => return Err(err),
    };
    let list = reminders::list(&state.db, patient.id).await?;
    audit::record(&state.db, e).await?;
    Ok(Json(json!({
        "patient_id": id,
        "timezone": patient.timezone,
        "reminders": list,
    })))
}

/// `GET /push/vapid-public-key`: the `applicationServerKey` to subscribe with.
pub async fn vapid_public_key(State(state): State<AppState>, _user: AuthUser) -> Json<Value> {
    Json(json!({ "public_key": state.vapid.public_key() }))
}

/// `GET /me/push-subscriptions`.
pub async fn list_subscriptions(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Json<Value>, ApiError> {
    let patient = reminders::own_patient(&state.db, &user).await?;
    let list = push::list(&state.db, patient.id).await?;
    let e = event(
        &state,
        &user,
        action::PUSH_SUBSCRIPTION_READ,
        "GET /api/v1/me/push-subscriptions",
    )
    .patient(PatientId(patient.id));
    audit::record(&state.db, e).await?;
    Ok(Json(json!({ "subscriptions": list })))
}

/// `POST /me/push-subscriptions`: 201 for a new endpoint, 200 when an endpoint already
/// registered got new keys.
pub async fn register_subscription(
    State(state): State<AppState>,
    user: AuthUser,
    ApiJson(input): ApiJson<push::SubscriptionInput>,
) -> Result<(StatusCode, Json<push::SubscriptionView>), ApiError> {
    let patient = reminders::own_patient(&state.db, &user).await?;
    let now = state.clock.now();
    let txn = state.db.begin().await?;
    let (view, created) =
        push::register(&txn, &state.config.reminders, patient.id, &input, now).await?;
    let e = event(
        &state,
        &user,
        action::PUSH_SUBSCRIPTION_CREATE,
        &view.id.to_string(),
    )
    .patient(PatientId(patient.id));
    audit::record(&txn, e).await?;
    txn.commit().await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(view)))
}

/// `DELETE /me/push-subscriptions/{id}`: 204.
pub async fn delete_subscription(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<StatusCode, ApiError> {
    let patient = reminders::own_patient(&state.db, &user).await?;
    let e = event(
        &state,
        &user,
        action::PUSH_SUBSCRIPTION_DELETE,
        &id.to_string(),
    )
    .patient(PatientId(patient.id));
    let txn = state.db.begin().await?;
    match push::unregister(&txn, patient.id, id).await {
        Ok(()) => {}
        Err(err) => {
            drop(txn);
            audit::record(&state.db, e.outcome(Outcome::Denied)).await?;
            return Err(err);
        }
    }
    audit::record(&txn, e).await?;
    txn.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
