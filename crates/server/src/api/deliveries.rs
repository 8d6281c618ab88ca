//! Admin view of the notification outbox: list deliveries (e.g. the dead letters) and
//! retry a dead one. Admin only, own clinic only; rows carry no health data (no payload,
//! only channel, kind, recipient, status and the classified reason). Every access is
//! audited: a delivery about an alert says that a patient had an alert and who was told.

use std::collections::BTreeSet;

use axum::extract::State;
use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::audit::{self, AuditEvent, Outcome};
use crate::auth::AuthUser;
use crate::domain::PatientId;
use crate::entity::{alerts, notification_outbox};
use crate::error::{ApiError, Json};
use crate::extract::{ApiPath, ApiQuery};
use crate::state::AppState;

/// Audit action codes of this module.
pub mod action {
    /// Deliveries were listed (one row per patient whose alert deliveries were listed, or
    /// one row without patient when none was).
    pub const DELIVERY_LIST: &str = "delivery.list";
    /// A dead delivery was put back in the queue (or the attempt was refused).
    pub const DELIVERY_RETRY: &str = "delivery.retry";
}

/// The patients whose alerts the deliveries with these `alert_ids` are about.
async fn patients_of(
    conn: &impl ConnectionTrait,
    alert_ids: BTreeSet<Uuid>,
) -> Result<BTreeSet<Uuid>, ApiError> {
    if alert_ids.is_empty() {
        return Ok(BTreeSet::new());
    }
    let ids: Vec<Uuid> = alerts::Entity::find()
        .select_only()
        .column(alerts::Column::PatientId)
        .filter(alerts::Column::Id.is_in(alert_ids))
        .into_tuple()
        .all(conn)
        .await?;
    Ok(ids.into_iter().collect())
}

/// One delivery as admins see it.
#[derive(Debug, Serialize)]
pub struct DeliveryView {
    id: Uuid,
    alert_id: Option<Uuid>,
    channel: String,
    kind: String,
    recipient: String,
    status: String,
    attempts: i32,
    last_error: Option<String>,
    next_attempt_at: DateTime<Utc>,
    created_at: DateTime<Utc>,
    sent_at: Option<DateTime<Utc>>,
}

impl From<notification_outbox::Model> for DeliveryView {
    fn from(m: notification_outbox::Model) -> Self {
        Self {
            id: m.id,
            alert_id: m.alert_id,
            channel: m.channel,
            kind: m.kind,
            recipient: m.recipient,
            status: m.status,
            attempts: m.attempts,
            last_error: m.last_error,
            next_attempt_at: m.next_attempt_at,
            created_at: m.created_at,
            sent_at: m.sent_at,
        }
    }
}

/// `GET /admin/deliveries` parameters.
#[derive(Deserialize)]
pub struct ListParams {
    status: Option<String>,
    limit: Option<u64>,
}

/// `GET /admin/deliveries?status=pending|sent|dead&limit=`: newest first.
pub async fn list(
    State(state): State<AppState>,
    admin: AuthUser,
    ApiQuery(params): ApiQuery<ListParams>,
) -> Result<Json<serde_json::Value>, ApiError> {
    admin.require_admin()?;
    let target = match &params.status {
        Some(status) if matches!(status.as_str(), "pending" | "sent" | "dead") => {
            format!("GET /api/v1/admin/deliveries?status={status}")
        }
        _ => "GET /api/v1/admin/deliveries".to_owned(),
    };
    let mut query = notification_outbox::Entity::find()
        .filter(notification_outbox::Column::ClinicId.eq(admin.clinic_id.uuid()));
    if let Some(status) = params.status {
        if !matches!(status.as_str(), "pending" | "sent" | "dead") {
            return Err(ApiError::BadRequest(
                "status must be pending, sent or dead".into(),
            ));
        }
        query = query.filter(notification_outbox::Column::Status.eq(status));
    }
    let rows = query
        .order_by_desc(notification_outbox::Column::CreatedAt)
        .limit(params.limit.unwrap_or(100).clamp(1, 1000))
        .all(&state.db)
        .await?;
    let listed = patients_of(&state.db, rows.iter().filter_map(|r| r.alert_id).collect()).await?;
    let now = state.clock.now();
    let event = AuditEvent::new(now, Some(admin.user_id), action::DELIVERY_LIST).target(target);
    // Like `alert.list`: one row per patient concerned, so a patient's audit trail shows
    // who saw that their alerts were delivered; the access itself is recorded either way.
    let events: Vec<AuditEvent> = if listed.is_empty() {
        vec![event]
    } else {
        listed
            .into_iter()
            .map(|p| event.clone().patient(PatientId(p)))
            .collect()
    };
    audit::record_many(&state.db, events).await?;
    let deliveries: Vec<DeliveryView> = rows.into_iter().map(DeliveryView::from).collect();
    Ok(Json(serde_json::json!({ "deliveries": deliveries })))
}

/// `POST /admin/deliveries/{id}/retry`: a dead delivery goes back to pending, due now,
/// and the worker is woken. Another clinic's row is `not_found`; a row that is not dead
/// is `bad_request`. Audited in the retry's transaction (`denied` for a row the admin may
/// not see, `failure` for one that is not dead).
pub async fn retry(
    State(state): State<AppState>,
    admin: AuthUser,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<DeliveryView>, ApiError> {
    admin.require_admin()?;
    let now = state.clock.now();
    let txn = crate::db::begin_write(&state.db).await?;
    let retried = crate::outbox::worker::retry(&txn, admin.clinic_id.uuid(), id, now).await?;
    let mut event = AuditEvent::new(now, Some(admin.user_id), action::DELIVERY_RETRY)
        .target(format!("delivery {id}"));
    if let Some((row, _)) = &retried
        && let Some(patient) = patients_of(&txn, row.alert_id.into_iter().collect())
            .await?
            .into_iter()
            .next()
    {
        event = event.patient(PatientId(patient));
    }
    let outcome = match &retried {
        None => Outcome::Denied,
        Some((_, false)) => Outcome::Failure,
        Some((_, true)) => Outcome::Success,
    };
    audit::record(&txn, event.outcome(outcome)).await?;
    txn.commit().await?;
    match retried {
        None => Err(ApiError::NotFound),
        Some((_, false)) => Err(ApiError::BadRequest(
            "only a dead delivery can be retried".into(),
        )),
        Some((row, true)) => {
            tracing::info!(delivery = %row.id, admin = %admin.user_id, "dead delivery queued for retry");
            state.outbox.wake();
            Ok(Json(row.into()))
        }
    }
}
