//! Admin view of the notification outbox: list deliveries (e.g. the dead letters) and
//! retry a dead one. Admin only, own clinic only; rows carry no health data (no payload,
//! only channel, kind, recipient, status and the classified reason).

use axum::extract::State;
use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::api::{ApiPath, ApiQuery};
use crate::auth::AuthUser;
use crate::entity::notification_outbox;
use crate::error::{ApiError, Json};
use crate::state::AppState;

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
    let deliveries: Vec<DeliveryView> = rows.into_iter().map(DeliveryView::from).collect();
    Ok(Json(serde_json::json!({ "deliveries": deliveries })))
}

/// `POST /admin/deliveries/{id}/retry`: a dead delivery goes back to pending, due now,
/// and the worker is woken. Another clinic's row is `not_found`; a row that is not dead
/// is `bad_request`.
pub async fn retry(
    State(state): State<AppState>,
    admin: AuthUser,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<DeliveryView>, ApiError> {
    admin.require_admin()?;
    let now = state.clock.now();
    match crate::outbox::worker::retry(&state.db, admin.clinic_id.uuid(), id, now).await? {
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
