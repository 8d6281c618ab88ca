//! `alert_events` rows: the full history of an alert.

use sea_orm::entity::prelude::*;

/// One step in an alert's history.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "alert_events")]
pub struct Model {
    /// Event id (UUID v7).
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The alert.
    pub alert_id: Uuid,
    /// When.
    pub at: DateTimeUtc,
    /// `opened`, `triggered`, `notified`, `repeated`, `escalated`, `acknowledged`,
    /// `resolved`.
    pub kind: String,
    /// The clinician who acted, if any.
    pub actor_user_id: Option<Uuid>,
    /// Free text (the resolution note, the trigger's explanation).
    pub detail: Option<String>,
}

/// No navigable relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
