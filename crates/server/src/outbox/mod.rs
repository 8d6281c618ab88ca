//! The notification outbox: deliveries (emails, webhooks, web push) enqueued in the same
//! transaction as the alert change that owes them, so none is lost or sent for a change
//! that rolled back.
//!
//! The delivery worker that drains this table lives beside it ([`worker`], sending
//! through [`channels`], configured by [`config`]); this file is the contract between the
//! alert lifecycle (which enqueues) and delivery (which sends). After committing a
//! transaction that enqueued rows, call `state.outbox.wake()` so the worker sends at once.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue::Set, ConnectionTrait, DbErr, EntityTrait};
use uuid::Uuid;

use crate::entity::notification_outbox;

pub mod channels;
pub mod config;
pub mod webhook_target;
pub mod worker;

pub use channels::{ChannelSetupError, Outbox, Outcome};
pub use config::DeliveryConfig;
pub use worker::{DrainReport, WorkerHandle, drain_once, spawn_worker};

/// How a delivery travels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Channel {
    /// SMTP (or the local mail file transport).
    Email,
    /// An HTTP POST to the clinic's webhook.
    Webhook,
    /// A Web Push message to a patient's push subscription (the recipient is the
    /// subscription id).
    WebPush,
}

impl Channel {
    /// The stored code.
    pub fn code(self) -> &'static str {
        match self {
            Self::Email => "email",
            Self::Webhook => "webhook",
            Self::WebPush => "web_push",
        }
    }
}

/// Why a delivery is owed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeliveryKind {
    /// A new alert.
    AlertOpened,
    /// A reminder about an alert still open after the repeat interval.
    AlertRepeat,
    /// An urgent alert left unacknowledged, sent to the clinic's secondary recipients.
    AlertEscalated,
    /// The daily digest of info-level alerts for one clinician.
    Digest,
    /// A patient's own reminder (log pain, take medication, exercise).
    Reminder,
}

impl DeliveryKind {
    /// The stored code.
    pub fn code(self) -> &'static str {
        match self {
            Self::AlertOpened => "alert_opened",
            Self::AlertRepeat => "alert_repeat",
            Self::AlertEscalated => "alert_escalated",
            Self::Digest => "digest",
            Self::Reminder => "reminder",
        }
    }
}

/// A delivery to enqueue.
#[derive(Clone, Debug)]
pub struct NewDelivery {
    /// Unique per delivery: enqueueing the same key twice keeps the first. Becomes the
    /// email's `Message-ID` and the webhook's idempotency header.
    pub idempotency_key: String,
    /// The alert it is about, if one.
    pub alert_id: Option<Uuid>,
    /// The clinic whose settings apply.
    pub clinic_id: Uuid,
    /// Email or webhook.
    pub channel: Channel,
    /// Email address or webhook URL.
    pub recipient: String,
    /// Why it is owed.
    pub kind: DeliveryKind,
    /// What the templates render: minimum necessary unless the clinic opted in.
    pub payload: serde_json::Value,
    /// Not to be sent before this.
    pub not_before: DateTime<Utc>,
}

/// Enqueues `delivery` on `conn` (normally the caller's open transaction). Returns
/// `false` when a delivery with the same idempotency key already exists.
pub async fn enqueue<C: ConnectionTrait>(
    conn: &C,
    delivery: NewDelivery,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let row = notification_outbox::ActiveModel {
        id: Set(Uuid::now_v7()),
        idempotency_key: Set(delivery.idempotency_key),
        alert_id: Set(delivery.alert_id),
        clinic_id: Set(delivery.clinic_id),
        channel: Set(delivery.channel.code().to_owned()),
        recipient: Set(delivery.recipient),
        kind: Set(delivery.kind.code().to_owned()),
        payload: Set(delivery.payload.to_string()),
        status: Set("pending".to_owned()),
        attempts: Set(0),
        next_attempt_at: Set(delivery.not_before),
        claimed_until: Set(None),
        last_error: Set(None),
        created_at: Set(now),
        sent_at: Set(None),
    };
    let inserted = notification_outbox::Entity::insert(row)
        .on_conflict(
            OnConflict::column(notification_outbox::Column::IdempotencyKey)
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(conn)
        .await?;
    Ok(inserted > 0)
}
