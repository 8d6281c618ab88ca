//! Acknowledgement and resolution of alerts by clinicians: conditional updates (so two
//! clinicians acting at once cannot both succeed), each with its history row.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter};
use uuid::Uuid;

use super::{event, record_event, status};
use crate::entity::alerts;

/// Why a lifecycle step was refused.
#[derive(Debug, thiserror::Error)]
pub enum LifecycleError {
    /// The alert is not in a state that allows the step (e.g. already resolved).
    #[error("the alert is not in a state that allows this")]
    WrongState,
    /// The database failed.
    #[error(transparent)]
    Db(#[from] DbErr),
}

/// Marks an open alert acknowledged by `actor`: its repeat and escalation timers stop.
pub async fn acknowledge(
    conn: &impl ConnectionTrait,
    alert: Uuid,
    actor: Uuid,
    now: DateTime<Utc>,
) -> Result<(), LifecycleError> {
    let done = alerts::Entity::update_many()
        .col_expr(alerts::Column::Status, Expr::value(status::ACKNOWLEDGED))
        .col_expr(alerts::Column::AcknowledgedBy, Expr::value(Some(actor)))
        .col_expr(alerts::Column::AcknowledgedAt, Expr::value(Some(now)))
        .col_expr(
            alerts::Column::NextRepeatAt,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .col_expr(
            alerts::Column::EscalateAt,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .filter(alerts::Column::Id.eq(alert))
        .filter(alerts::Column::Status.eq(status::OPEN))
        .exec(conn)
        .await?;
    if done.rows_affected != 1 {
        return Err(LifecycleError::WrongState);
    }
    record_event(conn, alert, now, event::ACKNOWLEDGED, Some(actor), None).await?;
    Ok(())
}

/// Resolves an open or acknowledged alert with `note`; its slot is freed, so the rule
/// may open a new alert for the patient later.
pub async fn resolve(
    conn: &impl ConnectionTrait,
    alert: Uuid,
    actor: Uuid,
    note: Option<String>,
    now: DateTime<Utc>,
) -> Result<(), LifecycleError> {
    let done = alerts::Entity::update_many()
        .col_expr(alerts::Column::Status, Expr::value(status::RESOLVED))
        .col_expr(
            alerts::Column::OpenSlot,
            Expr::value(Option::<String>::None),
        )
        .col_expr(alerts::Column::ResolvedBy, Expr::value(Some(actor)))
        .col_expr(alerts::Column::ResolvedAt, Expr::value(Some(now)))
        .col_expr(alerts::Column::ResolutionNote, Expr::value(note.clone()))
        .col_expr(
            alerts::Column::NextRepeatAt,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .col_expr(
            alerts::Column::EscalateAt,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .filter(alerts::Column::Id.eq(alert))
        .filter(alerts::Column::Status.is_in([status::OPEN, status::ACKNOWLEDGED]))
        .exec(conn)
        .await?;
    if done.rows_affected != 1 {
        return Err(LifecycleError::WrongState);
    }
    record_event(conn, alert, now, event::RESOLVED, Some(actor), note).await?;
    Ok(())
}
