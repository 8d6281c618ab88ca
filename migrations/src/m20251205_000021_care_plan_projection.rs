//! The care plan's prescriptions as rows, so the patient list reads every patient's
//! scheduled medication in one query instead of loading and decoding each care-plan
//! document (issue #5: decoding 500 plans took most of a cold list render).
//!
//! `care_plan_projections` has one row per projected care plan (also when it prescribes
//! nothing, so "projected" and "nothing prescribed" are told apart); the server fills it
//! for plans stored before this migration when it starts. Like the diary projection it
//! has no foreign keys: it is derived data, rebuilt by `paindiary reproject` and removed
//! by erasure.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum CarePlanProjections {
    Table,
    PatientId,
    DocumentId,
    ProjectedAt,
}

#[derive(DeriveIden)]
enum CarePlanMedications {
    Table,
    PatientId,
    ItemId,
    Drug,
    DrugNormalized,
    TimesPerDay,
    Prn,
    Opioid,
    StartDate,
    EndDate,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(CarePlanProjections::Table)
                    .col(uuid(CarePlanProjections::PatientId).primary_key())
                    .col(text(CarePlanProjections::DocumentId))
                    .col(timestamp_with_time_zone(CarePlanProjections::ProjectedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(CarePlanMedications::Table)
                    .col(uuid(CarePlanMedications::PatientId))
                    // The item's key in the care-plan document.
                    .col(text(CarePlanMedications::ItemId))
                    .col(text(CarePlanMedications::Drug))
                    // Lowercased and trimmed, as `medication_intakes.drug_normalized`.
                    .col(text(CarePlanMedications::DrugNormalized))
                    .col(double_null(CarePlanMedications::TimesPerDay))
                    .col(boolean(CarePlanMedications::Prn))
                    .col(boolean(CarePlanMedications::Opioid))
                    .col(date_null(CarePlanMedications::StartDate))
                    .col(date_null(CarePlanMedications::EndDate))
                    .primary_key(
                        Index::create()
                            .col(CarePlanMedications::PatientId)
                            .col(CarePlanMedications::ItemId),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(CarePlanMedications::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(CarePlanProjections::Table).to_owned())
            .await
    }
}
