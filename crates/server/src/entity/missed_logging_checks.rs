//! `missed_logging_checks` rows: when a patient is next checked for missed logging.

use sea_orm::entity::prelude::*;

/// One patient's missed-logging timer (see `alerts::missed`).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "missed_logging_checks")]
pub struct Model {
    /// The patient.
    #[sea_orm(primary_key, auto_increment = false)]
    pub patient_id: Uuid,
    /// The patient's next local midnight: the check is due from then.
    pub next_check_at: DateTimeUtc,
    /// The last entry (or enrolment) day of the silence already alerted, if any.
    pub alerted_since: Option<Date>,
}

/// No navigable relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
