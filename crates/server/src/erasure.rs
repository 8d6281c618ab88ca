//! Erasing a patient (DESIGN.md, "Access and privacy"): documents, projections, alerts and
//! deliveries, care team, invitations and the account's access go in one transaction; the
//! patient row stays as a tombstone so that old devices' uploads are refused.
//!
//! The audit trail keeps only the fact of the erasure: the patient's earlier audit rows
//! (identifiers and action codes, never content) are removed with the rest and one
//! `patient.erase` row records who erased whom and when.

use sea_orm::sea_query::{Expr, Query};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter};
use uuid::Uuid;

use crate::access_changes::AccessChange;
use crate::audit::{self, AuditEvent, action};
use crate::auth::AuthUser;
use crate::domain::{PatientId, TokenId, UserId};
use crate::entity::{
    alerts, audit_events, auth_tokens, care_team_members, device_tokens, document_chunks,
    documents, entry_issues, exercise_sessions, invitations, medication_intakes,
    missed_logging_checks, pain_entries, patients, peer_sync_states, peg_checkins,
    push_subscriptions, questionnaire_responses, reminder_settings, reminders, users,
    wellbeing_entries,
};
use crate::error::ApiError;
use crate::state::AppState;

/// What an erasure removed, for the admin's confirmation.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct ErasureReport {
    /// Stored documents removed.
    pub documents: u64,
    /// Projected rows removed (every entry kind, the issues table, the care plan's).
    pub projected_rows: u64,
    /// Alerts removed (with their history and deliveries).
    pub alerts: u64,
    /// Device tokens revoked.
    pub tokens_revoked: u64,
}

/// Erases `patient` of the admin's clinic. A patient of another clinic, or one already
/// erased, is `NotFound`, as for any id the admin may not see.
pub async fn erase_patient(
    state: &AppState,
    admin: &AuthUser,
    patient: PatientId,
) -> Result<ErasureReport, ApiError> {
    admin.require_admin()?;
    let now = state.clock.now();
    let txn = crate::db::begin_write(&state.db).await?;
    let row = patients::Entity::find_by_id(patient.uuid())
        .one(&txn)
        .await?
        .filter(|p| p.erased_at.is_none() && p.clinic_id == admin.clinic_id.uuid())
        .ok_or(ApiError::NotFound)?;
    let pid = row.id;
    let mut report = ErasureReport::default();

    // Sync states and chunks hang off the patient's documents.
    let docs = Query::select()
        .column(documents::Column::Id)
        .from(documents::Entity)
        .and_where(documents::Column::PatientId.eq(pid))
        .to_owned();
    peer_sync_states::Entity::delete_many()
        .filter(peer_sync_states::Column::DocumentId.in_subquery(docs.clone()))
        .exec(&txn)
        .await?;
    document_chunks::Entity::delete_many()
        .filter(document_chunks::Column::DocumentId.in_subquery(docs))
        .exec(&txn)
        .await?;
    report.documents = documents::Entity::delete_many()
        .filter(documents::Column::PatientId.eq(pid))
        .exec(&txn)
        .await?
        .rows_affected;

    report.projected_rows = delete_projection(&txn, pid).await?;
    // Alert history and outbox rows go with their alert (ON DELETE CASCADE).
    report.alerts = alerts::Entity::delete_many()
        .filter(alerts::Column::PatientId.eq(pid))
        .exec(&txn)
        .await?
        .rows_affected;
    care_team_members::Entity::delete_many()
        .filter(care_team_members::Column::PatientId.eq(pid))
        .exec(&txn)
        .await?;
    invitations::Entity::delete_many()
        .filter(invitations::Column::PatientId.eq(pid))
        .exec(&txn)
        .await?;
    // Its `alerted_since` is the day of the patient's last entry.
    missed_logging_checks::Entity::delete_many()
        .filter(missed_logging_checks::Column::PatientId.eq(pid))
        .exec(&txn)
        .await?;
    // Reminder schedules say when the patient takes medication; push endpoints identify
    // their browsers.
    reminders::Entity::delete_many()
        .filter(reminders::Column::PatientId.eq(pid))
        .exec(&txn)
        .await?;
    push_subscriptions::Entity::delete_many()
        .filter(push_subscriptions::Column::PatientId.eq(pid))
        .exec(&txn)
        .await?;
    device_tokens::Entity::delete_many()
        .filter(device_tokens::Column::PatientId.eq(pid))
        .exec(&txn)
        .await?;
    // Quiet hours say when the patient sleeps.
    reminder_settings::Entity::delete_many()
        .filter(reminder_settings::Column::PatientId.eq(pid))
        .exec(&txn)
        .await?;

    // The patient's own account: disabled, every device token revoked.
    let mut revoked = Vec::new();
    if let Some(user) = row.user_id {
        users::Entity::update_many()
            .col_expr(users::Column::DisabledAt, Expr::value(now))
            .filter(users::Column::Id.eq(user))
            .exec(&txn)
            .await?;
        revoked = auth_tokens::Entity::find()
            .filter(auth_tokens::Column::UserId.eq(user))
            .filter(auth_tokens::Column::RevokedAt.is_null())
            .all(&txn)
            .await?
            .into_iter()
            .map(|t| TokenId(t.id))
            .collect();
        report.tokens_revoked = auth_tokens::Entity::update_many()
            .col_expr(auth_tokens::Column::RevokedAt, Expr::value(now))
            .filter(auth_tokens::Column::UserId.eq(user))
            .filter(auth_tokens::Column::RevokedAt.is_null())
            .exec(&txn)
            .await?
            .rows_affected;
    }

    patients::Entity::update_many()
        .col_expr(patients::Column::ErasedAt, Expr::value(now))
        .filter(patients::Column::Id.eq(pid))
        .exec(&txn)
        .await?;
    audit_events::Entity::delete_many()
        .filter(audit_events::Column::PatientId.eq(pid))
        .exec(&txn)
        .await?;
    audit::record(
        &txn,
        AuditEvent::new(now, Some(admin.user_id), action::PATIENT_ERASE)
            .patient(PatientId(pid))
            .target(pid.to_string()),
    )
    .await?;
    txn.commit().await?;

    // Live sessions on this replica close at once; others at their next recheck.
    state
        .access_changes
        .publish(AccessChange::PatientErased(PatientId(pid)));
    if let Some(user) = row.user_id {
        state
            .access_changes
            .publish(AccessChange::UserChanged(UserId(user)));
    }
    for token in revoked {
        state
            .access_changes
            .publish(AccessChange::TokenRevoked(token));
    }
    Ok(report)
}

async fn delete_projection(conn: &impl ConnectionTrait, pid: Uuid) -> Result<u64, DbErr> {
    let mut rows = 0;
    rows += pain_entries::Entity::delete_many()
        .filter(pain_entries::Column::PatientId.eq(pid))
        .exec(conn)
        .await?
        .rows_affected;
    rows += medication_intakes::Entity::delete_many()
        .filter(medication_intakes::Column::PatientId.eq(pid))
        .exec(conn)
        .await?
        .rows_affected;
    rows += exercise_sessions::Entity::delete_many()
        .filter(exercise_sessions::Column::PatientId.eq(pid))
        .exec(conn)
        .await?
        .rows_affected;
    rows += wellbeing_entries::Entity::delete_many()
        .filter(wellbeing_entries::Column::PatientId.eq(pid))
        .exec(conn)
        .await?
        .rows_affected;
    rows += peg_checkins::Entity::delete_many()
        .filter(peg_checkins::Column::PatientId.eq(pid))
        .exec(conn)
        .await?
        .rows_affected;
    rows += questionnaire_responses::Entity::delete_many()
        .filter(questionnaire_responses::Column::PatientId.eq(pid))
        .exec(conn)
        .await?
        .rows_affected;
    rows += entry_issues::Entity::delete_many()
        .filter(entry_issues::Column::PatientId.eq(pid))
        .exec(conn)
        .await?
        .rows_affected;
    rows += crate::projection::care_plan::delete_care_plan_projection(conn, pid).await?;
    Ok(rows)
}
