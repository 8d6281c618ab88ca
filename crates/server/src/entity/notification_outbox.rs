//! `notification_outbox` rows: an email or webhook owed to someone.

use sea_orm::entity::prelude::*;

/// One delivery to make (or made, or given up).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "notification_outbox")]
pub struct Model {
    /// Outbox id (UUID v7).
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Unique; the email's `Message-ID` and the webhook's idempotency header.
    pub idempotency_key: String,
    /// The alert it is about, if one (a digest is about several).
    pub alert_id: Option<Uuid>,
    /// The clinic whose settings apply.
    pub clinic_id: Uuid,
    /// `email` or `webhook`.
    pub channel: String,
    /// Email address or webhook URL.
    pub recipient: String,
    /// `alert_opened`, `alert_repeat`, `alert_escalated`, `digest`.
    pub kind: String,
    /// Template input, JSON.
    pub payload: String,
    /// `pending`, `sent` or `dead`.
    pub status: String,
    /// Attempts made so far.
    pub attempts: i32,
    /// Not to be tried before this.
    pub next_attempt_at: DateTimeUtc,
    /// A worker's lease; past it, the row may be claimed again.
    pub claimed_until: Option<DateTimeUtc>,
    /// The last attempt's classified error.
    pub last_error: Option<String>,
    /// When it was enqueued.
    pub created_at: DateTimeUtc,
    /// When the receiver accepted it.
    pub sent_at: Option<DateTimeUtc>,
}

/// No navigable relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
