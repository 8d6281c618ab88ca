//! Clinic administration: staff accounts, patients and invitations, care teams, audit.
//! Every handler requires the admin role and acts only inside the admin's clinic.

use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::accounts::{self, CreatedPatient, NewPatient, NewUser, UserView};
use crate::audit::{self, AuditEvent, AuditQuery, action};
use crate::auth::AuthUser;
use crate::domain::{
    DisplayCode, DisplayName, Email, Password, PatientId, Role, TimeZoneName, UserId,
};
use crate::entity::{patients, users};
use crate::error::{ApiError, ApiJson, Json};
use crate::extract::{ApiPath, ApiQuery};
use crate::state::AppState;
use sea_orm::EntityTrait;

/// `DELETE /admin/patients/{id}`: erases a patient of the admin's clinic (documents,
/// projections, alerts, access) and answers what was removed.
pub async fn erase_patient(
    State(state): State<AppState>,
    admin: AuthUser,
    ApiPath(id): ApiPath<PatientId>,
) -> Result<Json<crate::erasure::ErasureReport>, ApiError> {
    Ok(Json(
        crate::erasure::erase_patient(&state, &admin, id).await?,
    ))
}

/// `POST /admin/users` body.
#[derive(Deserialize)]
pub struct CreateUserRequest {
    email: String,
    display_name: String,
    role: String,
    password: String,
}

/// `POST /admin/users`: a staff account in the admin's clinic.
pub async fn create_user(
    State(state): State<AppState>,
    admin: AuthUser,
    ApiJson(req): ApiJson<CreateUserRequest>,
) -> Result<(StatusCode, Json<UserView>), ApiError> {
    admin.require_admin()?;
    let new = NewUser {
        clinic: admin.clinic_id,
        email: Email::parse(&req.email)?,
        display_name: DisplayName::parse(&req.display_name)?,
        role: Role::parse(&req.role)?,
        password: Password::parse(&req.password)?,
    };
    let user = accounts::create_user(&state, Some(admin.user_id), new).await?;
    Ok((StatusCode::CREATED, Json(user)))
}

/// `POST /admin/patients` body.
#[derive(Deserialize)]
pub struct CreatePatientRequest {
    display_code: String,
    timezone: String,
}

/// `POST /admin/patients`: a patient and their one-time invitation code (shown only here).
pub async fn create_patient(
    State(state): State<AppState>,
    admin: AuthUser,
    ApiJson(req): ApiJson<CreatePatientRequest>,
) -> Result<(StatusCode, Json<CreatedPatient>), ApiError> {
    admin.require_admin()?;
    let new = NewPatient {
        clinic: admin.clinic_id,
        display_code: DisplayCode::parse(&req.display_code)?,
        timezone: TimeZoneName::parse(&req.timezone)?,
    };
    let created = accounts::create_patient(&state, Some(admin.user_id), new).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// `PUT /admin/patients/{id}/care-team/{user_id}`.
pub async fn add_care_team_member(
    State(state): State<AppState>,
    admin: AuthUser,
    ApiPath((patient, user)): ApiPath<(PatientId, UserId)>,
) -> Result<StatusCode, ApiError> {
    admin.require_admin()?;
    accounts::add_to_care_team(
        &state,
        Some(admin.user_id),
        Some(admin.clinic_id),
        patient,
        user,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /admin/patients/{id}/care-team/{user_id}`.
pub async fn remove_care_team_member(
    State(state): State<AppState>,
    admin: AuthUser,
    ApiPath((patient, user)): ApiPath<(PatientId, UserId)>,
) -> Result<StatusCode, ApiError> {
    admin.require_admin()?;
    accounts::remove_from_care_team(
        &state,
        Some(admin.user_id),
        Some(admin.clinic_id),
        patient,
        user,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /admin/audit` parameters.
#[derive(Deserialize)]
pub struct AuditParams {
    patient: Option<PatientId>,
    user: Option<UserId>,
    limit: Option<u64>,
}

/// Default and maximum page size for audit queries.
const AUDIT_DEFAULT_LIMIT: u64 = 100;
const AUDIT_MAX_LIMIT: u64 = 1000;

/// `GET /admin/audit?patient=&user=&limit=`: newest first, only this clinic's events.
/// A patient or user of another clinic is `not_found`.
pub async fn audit(
    State(state): State<AppState>,
    admin: AuthUser,
    ApiQuery(params): ApiQuery<AuditParams>,
) -> Result<Json<Value>, ApiError> {
    admin.require_admin()?;
    let clinic = admin.clinic_id.uuid();
    if let Some(p) = params.patient {
        let found = patients::Entity::find_by_id(p.uuid())
            .one(&state.db)
            .await?;
        if found.is_none_or(|row| row.clinic_id != clinic) {
            return Err(ApiError::NotFound);
        }
    }
    if let Some(u) = params.user {
        let found = users::Entity::find_by_id(u.uuid()).one(&state.db).await?;
        if found.is_none_or(|row| row.clinic_id != clinic) {
            return Err(ApiError::NotFound);
        }
    }
    let q = AuditQuery {
        clinic: admin.clinic_id,
        patient: params.patient,
        actor: params.user,
        limit: params
            .limit
            .unwrap_or(AUDIT_DEFAULT_LIMIT)
            .clamp(1, AUDIT_MAX_LIMIT),
    };
    let events = audit::query(&state.db, &q).await?;
    // Recorded after the query so the admin's own query does not appear in its answer.
    let mut event = AuditEvent::new(state.clock.now(), Some(admin.user_id), action::AUDIT_QUERY)
        .target("GET /api/v1/admin/audit");
    if let Some(p) = params.patient {
        event = event.patient(p);
    }
    audit::record(&state.db, event).await?;
    Ok(Json(json!({ "events": events })))
}
