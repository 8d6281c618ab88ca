//! The pain rows' `(patient, day)` index also carries what the alert rules and trends
//! aggregate (validity, deletion, score, lateness): the daily aggregates of a rule window
//! are then read from the index alone, without visiting each row. It replaces the
//! narrower index of migration 000010, so a write still maintains one index.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum PainEntries {
    Table,
    PatientId,
    LocalDate,
    Valid,
    Deleted,
    Score,
    Late,
}

const OLD: &str = "idx_pain_entries_patient_day";
const NEW: &str = "idx_pain_entries_patient_day_scores";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name(NEW)
                    .table(PainEntries::Table)
                    .col(PainEntries::PatientId)
                    .col(PainEntries::LocalDate)
                    .col(PainEntries::Valid)
                    .col(PainEntries::Deleted)
                    .col(PainEntries::Score)
                    .col(PainEntries::Late)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_index(Index::drop().name(OLD).table(PainEntries::Table).to_owned())
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name(OLD)
                    .table(PainEntries::Table)
                    .col(PainEntries::PatientId)
                    .col(PainEntries::LocalDate)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_index(Index::drop().name(NEW).table(PainEntries::Table).to_owned())
            .await
    }
}
