//! `questionnaire_responses`: projected questionnaire responses (PHQ-9, GAD-7, PEG, ...)
//! with their score, one row per entry like the other kind tables (same common columns,
//! same upsert rules, no foreign keys: derived data, rebuilt by `paindiary reproject`).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum QuestionnaireResponses {
    Table,
    EntryId,
    PatientId,
    DocumentId,
    RecordedAt,
    Tz,
    LocalDate,
    Deleted,
    UpdatedAt,
    SyncedAt,
    Late,
    Valid,
    Instrument,
    Version,
    Answers,
    Answered,
    Total,
    Prorated,
    Band,
    SafetyPositive,
    Note,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use QuestionnaireResponses as Q;
        manager
            .create_table(
                Table::create()
                    .table(Q::Table)
                    .col(uuid(Q::EntryId).primary_key())
                    .col(uuid(Q::PatientId))
                    .col(string_len(Q::DocumentId, 40))
                    .col(timestamp_with_time_zone(Q::RecordedAt))
                    .col(string_len(Q::Tz, 64))
                    .col(date(Q::LocalDate))
                    .col(boolean(Q::Deleted))
                    .col(timestamp_with_time_zone_null(Q::UpdatedAt))
                    .col(timestamp_with_time_zone(Q::SyncedAt))
                    .col(boolean(Q::Late))
                    .col(boolean(Q::Valid))
                    // Text, not bounded: an invalid entry may carry anything.
                    .col(text(Q::Instrument))
                    .col(text(Q::Version))
                    // The item answers as a JSON object: link ID -> number.
                    .col(text(Q::Answers))
                    // How many of the instrument's items were answered.
                    .col(integer(Q::Answered))
                    // NULL when not scored (invalid, unknown instrument, too many missing).
                    .col(double_null(Q::Total))
                    .col(boolean(Q::Prorated))
                    .col(text_null(Q::Band))
                    // The instrument's safety item (PHQ-9 item 9) was answered above 0.
                    .col(boolean(Q::SafetyPositive))
                    .col(text_null(Q::Note))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_questionnaire_responses_patient_day")
                    .table(Q::Table)
                    .col(Q::PatientId)
                    .col(Q::LocalDate)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_questionnaire_responses_document")
                    .table(Q::Table)
                    .col(Q::DocumentId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(
                Table::drop()
                    .table(QuestionnaireResponses::Table)
                    .to_owned(),
            )
            .await
    }
}
