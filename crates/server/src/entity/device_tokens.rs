//! `device_tokens` rows: APNs and FCM tokens of a patient's native app installs.

use sea_orm::entity::prelude::*;

/// One device token.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "device_tokens")]
pub struct Model {
    /// Id.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Whose device.
    pub patient_id: Uuid,
    /// `apns` or `fcm`.
    pub platform: String,
    /// The token the platform gave the app.
    pub token: String,
    /// Registration instant.
    pub created_at: DateTimeUtc,
}

/// No navigable relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
