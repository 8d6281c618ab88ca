//! `clinic_notification_settings` rows: a clinic's alert thresholds and delivery choices.

use sea_orm::entity::prelude::*;

/// One clinic's settings; a clinic without a row uses the defaults.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "clinic_notification_settings")]
pub struct Model {
    /// The clinic.
    #[sea_orm(primary_key, auto_increment = false)]
    pub clinic_id: Uuid,
    /// Threshold overrides as JSON, `None` for the defaults.
    pub thresholds: Option<String>,
    /// JSON array of escalation email addresses.
    pub secondary_recipients: String,
    /// Where webhooks go, if anywhere.
    pub webhook_url: Option<String>,
    /// The HMAC-SHA256 key for `X-Paindiary-Signature`.
    pub webhook_secret: Option<String>,
    /// Opt-in to scores, drugs and notes in emails and webhooks.
    pub include_details: bool,
    /// Re-notify interval while open, `None` for the configured default.
    pub repeat_interval_minutes: Option<i32>,
    /// Unacknowledged urgent alerts escalate after this, `None` for the default.
    pub escalation_minutes: Option<i32>,
    /// The clinic's IANA time zone (the digest goes out at its local hour), `None` for UTC.
    pub timezone: Option<String>,
    /// Last change.
    pub updated_at: DateTimeUtc,
}

/// No navigable relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
