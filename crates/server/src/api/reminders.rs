//! Reminder endpoints: a patient's own schedules, settings (quiet hours, pause) and push
//! subscriptions under `/me/reminders`, `/me/reminder-settings` and
//! `/me/push-subscriptions`, snoozing a sent reminder, the server's VAPID public key, a
//! read-only view for the patient's care team at `/patients/{id}/reminders`, and a
//! clinic's default reminders at `/clinics/{id}/reminder-defaults`.
//!
//! Only a patient has `/me/...` reminders (staff get 403). A reminder or subscription of
//! another patient answers 404, exactly like one that does not exist. Every read and
//! change is audited; changes in the same transaction as the audit row.

use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::access::{self, PatientAccess};
use crate::audit::{self, AuditEvent, Outcome};
use crate::auth::AuthUser;
use crate::domain::PatientId;
use crate::domain::{ClinicId, Role};
use crate::error::{ApiError, ApiJson, Json};
use crate::extract::ApiPath;
use crate::reminders::{self, ReminderInput, ReminderView, defaults, devices, push, settings};
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
    /// A sent reminder was snoozed.
    pub const REMINDER_SNOOZE: &str = "reminder.snooze";
    /// A patient's reminder settings were read.
    pub const REMINDER_SETTINGS_READ: &str = "reminder_settings.read";
    /// A patient's reminder settings were changed.
    pub const REMINDER_SETTINGS_UPDATE: &str = "reminder_settings.update";
    /// A clinic's default reminders were read.
    pub const REMINDER_DEFAULTS_READ: &str = "reminder_defaults.read";
    /// A clinic's default reminders were changed.
    pub const REMINDER_DEFAULTS_UPDATE: &str = "reminder_defaults.update";
    /// A patient's reminders were replaced by their clinic's defaults.
    pub const REMINDER_DEFAULTS_APPLIED: &str = "reminder.defaults_applied";
    /// A patient's device tokens were listed.
    pub const DEVICE_TOKEN_READ: &str = "device_token.read";
    /// A device token was registered.
    pub const DEVICE_TOKEN_CREATE: &str = "device_token.create";
    /// A device token was removed.
    pub const DEVICE_TOKEN_DELETE: &str = "device_token.delete";
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
    let txn = crate::db::begin_write(&state.db).await?;
    let view = reminders::create(&txn, patient.id, &valid, now).await?;
    settings::mark_own(&txn, patient.id, now).await?;
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
    let txn = crate::db::begin_write(&state.db).await?;
    let view = reminders::update(&txn, row, &valid, state.clock.now()).await?;
    settings::mark_own(&txn, patient.id, state.clock.now()).await?;
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
    let txn = crate::db::begin_write(&state.db).await?;
    reminders::delete(&txn, row).await?;
    settings::mark_own(&txn, patient.id, state.clock.now()).await?;
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
    let txn = crate::db::begin_write(&state.db).await?;
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
    let txn = crate::db::begin_write(&state.db).await?;
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

/// The body of `POST /me/reminders/{id}/snooze`.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnoozeInput {
    /// 5 to 240.
    pub minutes: i64,
}

/// `POST /me/reminders/{id}/snooze`: the reminder's last sent occurrence is sent once
/// more after `minutes`. 200 with the reminder (`deferred_until` set).
pub async fn snooze(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(input): ApiJson<SnoozeInput>,
) -> Result<Json<ReminderView>, ApiError> {
    let patient = reminders::own_patient(&state.db, &user).await?;
    let e = event(&state, &user, action::REMINDER_SNOOZE, &id.to_string())
        .patient(PatientId(patient.id));
    let row = match reminders::find_own(&state.db, patient.id, id).await {
        Ok(row) => row,
        Err(err) => {
            audit::record(&state.db, e.outcome(Outcome::Denied)).await?;
            return Err(err);
        }
    };
    let txn = crate::db::begin_write(&state.db).await?;
    settings::snooze(&txn, &row, input.minutes, state.clock.now()).await?;
    let view = reminders::find_own(&txn, patient.id, id).await?.into();
    audit::record(&txn, e).await?;
    txn.commit().await?;
    Ok(Json(view))
}

/// `GET /me/reminder-settings`.
pub async fn get_settings(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Json<settings::SettingsView>, ApiError> {
    let patient = reminders::own_patient(&state.db, &user).await?;
    let current = settings::load(&state.db, patient.id).await?;
    let e = event(
        &state,
        &user,
        action::REMINDER_SETTINGS_READ,
        "GET /api/v1/me/reminder-settings",
    )
    .patient(PatientId(patient.id));
    audit::record(&state.db, e).await?;
    Ok(Json(settings::SettingsView::new(
        &current,
        &patient.timezone,
    )))
}

/// `PUT /me/reminder-settings`: replaces quiet hours and the pause; with
/// `use_clinic_defaults: true` the patient's reminders become the clinic's defaults again.
pub async fn put_settings(
    State(state): State<AppState>,
    user: AuthUser,
    ApiJson(input): ApiJson<settings::SettingsInput>,
) -> Result<Json<settings::SettingsView>, ApiError> {
    let patient = reminders::own_patient(&state.db, &user).await?;
    let now = state.clock.now();
    let txn = crate::db::begin_write(&state.db).await?;
    let current = settings::load(&txn, patient.id).await?;
    let next = input.validate(&current, now)?;
    settings::store(&txn, patient.id, &next, now).await?;
    let e = event(
        &state,
        &user,
        action::REMINDER_SETTINGS_UPDATE,
        "PUT /api/v1/me/reminder-settings",
    )
    .patient(PatientId(patient.id));
    audit::record(&txn, e).await?;
    if next.use_clinic_defaults && input.use_clinic_defaults == Some(true) {
        let list = defaults::load(&txn, patient.clinic_id).await?;
        defaults::replace(&txn, patient.id, &patient.timezone, &list, now).await?;
        let applied = event(
            &state,
            &user,
            action::REMINDER_DEFAULTS_APPLIED,
            &patient.clinic_id.to_string(),
        )
        .patient(PatientId(patient.id));
        audit::record(&txn, applied).await?;
    }
    txn.commit().await?;
    Ok(Json(settings::SettingsView::new(&next, &patient.timezone)))
}

/// Who may see and set a clinic's defaults: its staff (the admin and the clinicians, who
/// set up patients' care); a patient gets 403; staff of another clinic 404, as for a
/// clinic that does not exist.
fn clinic_staff(user: &AuthUser, clinic: ClinicId) -> Result<(), ApiError> {
    if user.role == Role::Patient {
        return Err(ApiError::Forbidden);
    }
    if user.clinic_id != clinic {
        return Err(ApiError::NotFound);
    }
    Ok(())
}

/// `GET /clinics/{id}/reminder-defaults`.
pub async fn get_defaults(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(clinic): ApiPath<ClinicId>,
) -> Result<Json<Value>, ApiError> {
    let e = event(
        &state,
        &user,
        action::REMINDER_DEFAULTS_READ,
        &clinic.uuid().to_string(),
    );
    if let Err(err) = clinic_staff(&user, clinic) {
        audit::record(&state.db, e.outcome(Outcome::Denied)).await?;
        return Err(err);
    }
    let list = defaults::load(&state.db, clinic.uuid()).await?;
    audit::record(&state.db, e).await?;
    Ok(Json(json!({ "clinic_id": clinic, "reminders": list })))
}

/// `PUT /clinics/{id}/reminder-defaults`: stores the list and copies it to every patient
/// of the clinic still following the defaults (each such patient gets an audit row).
pub async fn put_defaults(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(clinic): ApiPath<ClinicId>,
    ApiJson(input): ApiJson<defaults::DefaultsInput>,
) -> Result<Json<Value>, ApiError> {
    let e = event(
        &state,
        &user,
        action::REMINDER_DEFAULTS_UPDATE,
        &clinic.uuid().to_string(),
    );
    if let Err(err) = clinic_staff(&user, clinic) {
        audit::record(&state.db, e.outcome(Outcome::Denied)).await?;
        return Err(err);
    }
    let list = input.validate()?;
    let now = state.clock.now();
    let txn = crate::db::begin_write(&state.db).await?;
    let applied =
        defaults::store_and_apply(&txn, clinic.uuid(), &list, user.user_id.uuid(), now).await?;
    audit::record(&txn, e).await?;
    audit::record_many(
        &txn,
        applied.iter().map(|p| {
            event(
                &state,
                &user,
                action::REMINDER_DEFAULTS_APPLIED,
                &clinic.uuid().to_string(),
            )
            .patient(PatientId(*p))
        }),
    )
    .await?;
    txn.commit().await?;
    Ok(Json(json!({
        "clinic_id": clinic,
        "reminders": list,
        "patients_updated": applied.len(),
    })))
}

/// `GET /me/device-tokens`.
pub async fn list_device_tokens(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Json<Value>, ApiError> {
    let patient = reminders::own_patient(&state.db, &user).await?;
    let list = devices::list(&state.db, patient.id).await?;
    let e = event(
        &state,
        &user,
        action::DEVICE_TOKEN_READ,
        "GET /api/v1/me/device-tokens",
    )
    .patient(PatientId(patient.id));
    audit::record(&state.db, e).await?;
    Ok(Json(json!({ "device_tokens": list })))
}

/// `POST /me/device-tokens`: 201 for a new token, 200 when it was registered already.
pub async fn register_device_token(
    State(state): State<AppState>,
    user: AuthUser,
    ApiJson(input): ApiJson<devices::DeviceTokenInput>,
) -> Result<(StatusCode, Json<devices::DeviceTokenView>), ApiError> {
    let patient = reminders::own_patient(&state.db, &user).await?;
    let txn = crate::db::begin_write(&state.db).await?;
    let (view, created) = devices::register(&txn, patient.id, &input, state.clock.now()).await?;
    let e = event(
        &state,
        &user,
        action::DEVICE_TOKEN_CREATE,
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

/// `DELETE /me/device-tokens/{id}`: 204.
pub async fn delete_device_token(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<StatusCode, ApiError> {
    let patient = reminders::own_patient(&state.db, &user).await?;
    let e = event(&state, &user, action::DEVICE_TOKEN_DELETE, &id.to_string())
        .patient(PatientId(patient.id));
    let txn = crate::db::begin_write(&state.db).await?;
    if let Err(err) = devices::unregister(&txn, patient.id, id).await {
        drop(txn);
        audit::record(&state.db, e.outcome(Outcome::Denied)).await?;
        return Err(err);
    }
    audit::record(&txn, e).await?;
    txn.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
