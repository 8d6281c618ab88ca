//! Patient records as clinicians, admins and patients themselves see them. Every
//! successful read writes audit rows.

use axum::extract::State;
use serde_json::{Value, json};

use crate::access;
use crate::accounts::PatientView;
use crate::audit::{self, AuditEvent, Outcome, action};
use crate::auth::AuthUser;
use crate::domain::PatientId;
use crate::error::{ApiError, Json};
use crate::extract::ApiPath;
use crate::state::AppState;

/// `GET /patients`: the patients the caller may see.
pub async fn list(State(state): State<AppState>, user: AuthUser) -> Result<Json<Value>, ApiError> {
    let rows = access::visible_patients(&state.db, &user).await?;
    let now = state.clock.now();
    // One row per patient listed: the list discloses each patient's display code.
    audit::record_many(
        &state.db,
        rows.iter().map(|p| {
            AuditEvent::new(now, Some(user.user_id), action::PATIENT_LIST)
                .patient(PatientId(p.id))
                .target("GET /api/v1/patients")
        }),
    )
    .await?;
    let patients: Vec<PatientView> = rows.into_iter().map(PatientView::from).collect();
    Ok(Json(json!({ "patients": patients })))
}

/// `GET /patients/{id}`: 404 for missing and for not-visible alike.
pub async fn get(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<PatientId>,
) -> Result<Json<PatientView>, ApiError> {
    let now = state.clock.now();
    let event = AuditEvent::new(now, Some(user.user_id), action::PATIENT_READ)
        .patient(id)
        .target("GET /api/v1/patients/{id}");
    match access::visible_patient(&state.db, &user, id).await {
        Ok((patient, _)) => {
            audit::record(&state.db, event).await?;
            Ok(Json(patient.into()))
        }
        Err(ApiError::NotFound) => {
            // Denied and missing look the same to the caller; the audit keeps the attempt.
            audit::record(&state.db, event.outcome(Outcome::Denied)).await?;
            Err(ApiError::NotFound)
        }
        Err(e) => Err(e),
    }
}
