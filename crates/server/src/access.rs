//! Who may see which patient. The one place this rule lives; the REST API uses it now
//! and the sync hub will use it for document access.
//!
//! Rule: a patient sees only themself; a clinician only patients whose care team they
//! are on; an admin the patients of their own clinic. Erased patients are visible to no
//! one. Denial is reported exactly like absence (`NotFound`), so nobody can probe which
//! patient ids exist.

use sea_orm::sea_query::Query;
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder};

use crate::auth::AuthUser;
use crate::domain::{PatientId, Role};
use crate::entity::{care_team_members, patients};
use crate::error::ApiError;

/// On what grounds a caller may see a patient. The sync hub maps this to document
/// permissions (e.g. an admin may see the patient record but not the diary).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PatientAccess {
    /// The caller is the patient.
    OwnRecord,
    /// The caller is on the patient's care team.
    CareTeam,
    /// The caller administers the patient's clinic.
    ClinicAdmin,
}

/// How `actor` may access `patient`, or `None` if not at all.
pub async fn access_to(
    conn: &impl ConnectionTrait,
    actor: &AuthUser,
    patient: &patients::Model,
) -> Result<Option<PatientAccess>, DbErr> {
    if patient.erased_at.is_some() {
        return Ok(None);
    }
    Ok(match actor.role {
        Role::Patient => {
            (patient.user_id == Some(actor.user_id.uuid())).then_some(PatientAccess::OwnRecord)
        }
        Role::Admin => {
            (patient.clinic_id == actor.clinic_id.uuid()).then_some(PatientAccess::ClinicAdmin)
        }
        r if r.is_clinician() => {
            if patient.clinic_id != actor.clinic_id.uuid() {
                None
            } else {
                care_team_members::Entity::find_by_id((patient.id, actor.user_id.uuid()))
                    .one(conn)
                    .await?
                    .map(|_| PatientAccess::CareTeam)
            }
        }
        _ => None,
    })
}

/// Loads `patient` if `actor` may see it; otherwise `NotFound`, same as a missing id.
pub async fn visible_patient(
    conn: &impl ConnectionTrait,
    actor: &AuthUser,
    patient: PatientId,
) -> Result<(patients::Model, PatientAccess), ApiError> {
    let row = patients::Entity::find_by_id(patient.uuid())
        .one(conn)
        .await?;
    let Some(row) = row else {
        return Err(ApiError::NotFound);
    };
    match access_to(conn, actor, &row).await? {
        Some(access) => Ok((row, access)),
        None => Err(ApiError::NotFound),
    }
}

/// Every patient `actor` may see, ordered by display code.
pub async fn visible_patients(
    conn: &impl ConnectionTrait,
    actor: &AuthUser,
) -> Result<Vec<patients::Model>, DbErr> {
    let base = patients::Entity::find()
        .filter(patients::Column::ErasedAt.is_null())
        .filter(patients::Column::ClinicId.eq(actor.clinic_id.uuid()))
        .order_by_asc(patients::Column::DisplayCode);
    match actor.role {
        Role::Admin => base.all(conn).await,
        Role::Patient => {
            base.filter(patients::Column::UserId.eq(actor.user_id.uuid()))
                .all(conn)
                .await
        }
        r if r.is_clinician() => {
            let mine = Query::select()
                .column(care_team_members::Column::PatientId)
                .from(care_team_members::Entity)
                .and_where(care_team_members::Column::UserId.eq(actor.user_id.uuid()))
                .to_owned();
            base.filter(patients::Column::Id.in_subquery(mine))
                .all(conn)
                .await
        }
        _ => Ok(Vec::new()),
    }
}
