//! `push_subscriptions` rows: Web Push endpoints of a patient's browsers.

use sea_orm::entity::prelude::*;

/// One push subscription (the `PushSubscription` a browser's `pushManager` returned).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "push_subscriptions")]
pub struct Model {
    /// Subscription id.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Whose browser.
    pub patient_id: Uuid,
    /// The push service URL messages are POSTed to.
    pub endpoint: String,
    /// The browser's P-256 public key, base64url (65 bytes uncompressed).
    pub p256dh: String,
    /// The browser's authentication secret, base64url (16 bytes).
    pub auth: String,
    /// Registration instant.
    pub created_at: DateTimeUtc,
}

/// No navigable relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
