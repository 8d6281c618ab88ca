//! `care_plan_medications` rows: the prescriptions of each projected care plan.

use sea_orm::entity::prelude::*;

/// One prescribed medication.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "care_plan_medications")]
pub struct Model {
    /// Whose care plan.
    #[sea_orm(primary_key, auto_increment = false)]
    pub patient_id: Uuid,
    /// The item's key in the care-plan document.
    #[sea_orm(primary_key, auto_increment = false)]
    pub item_id: String,
    /// Drug name as prescribed.
    pub drug: String,
    /// `drug` lowercased and trimmed (matches `medication_intakes.drug_normalized`).
    pub drug_normalized: String,
    /// Scheduled intakes per day; none for as-needed-only drugs.
    pub times_per_day: Option<f64>,
    /// May be taken as needed.
    pub prn: bool,
    /// An opioid.
    pub opioid: bool,
    /// First day of the prescription.
    pub start_date: Option<Date>,
    /// Last day, when stopped.
    pub end_date: Option<Date>,
}

/// No navigable relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
