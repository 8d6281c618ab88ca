//! Projection of diary documents into relational tables: one table per entry kind (for
//! trends and alert rules) and `entry_issues` for entries that are unreadable or invalid.
//!
//! Every row is computed from the merged document state of its entry (idempotent upserts
//! keyed by the entry's UUID), so whichever replica projects last writes the same row.
//! Invalid entries are projected with `valid = false`; trends and alerts read
//! `WHERE valid AND NOT deleted`. Free text is `text` (not a bounded `varchar`): an invalid
//! entry may carry an over-long string and must still be projected.
//!
//! No foreign keys to `documents` or `patients`: projections are derived data, removed by
//! erasure and by `paindiary reproject`, and must never block the storage layer's writes.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Columns every kind table has.
#[derive(DeriveIden, Clone, Copy)]
enum Common {
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
    Note,
}

#[derive(DeriveIden)]
enum PainEntries {
    Table,
    Score,
    Worst,
    Least,
    Locations,
    Qualities,
    LocationNote,
}

#[derive(DeriveIden)]
enum MedicationIntakes {
    Table,
    Drug,
    DrugNormalized,
    Rxnorm,
    Amount,
    Unit,
    Route,
    Status,
    Prn,
    PrnReason,
}

#[derive(DeriveIden)]
enum ExerciseSessions {
    Table,
    Activity,
    Minutes,
    Sets,
    Reps,
    Exertion,
}

#[derive(DeriveIden)]
enum WellbeingEntries {
    Table,
    SleepHours,
    SleepQuality,
    Mood,
    Stress,
}

#[derive(DeriveIden)]
enum PegCheckins {
    Table,
    Pain,
    Enjoyment,
    Activity,
    Score,
}

#[derive(DeriveIden)]
enum EntryIssues {
    Table,
    PatientId,
    DocumentId,
    Kind,
    EntryKey,
    ReasonCode,
    Reason,
    FirstSeenAt,
    LastSeenAt,
}

/// The kind tables: name (for index names), table, kind-specific columns.
fn kind_tables() -> Vec<(&'static str, DynIden, Vec<ColumnDef>)> {
    vec![
        (
            "pain_entries",
            PainEntries::Table.into_iden(),
            vec![
                // NRS values as doubles: an invalid 7.5 is projected as sent.
                double(PainEntries::Score),
                double_null(PainEntries::Worst),
                double_null(PainEntries::Least),
                // JSON text arrays of region and quality codes.
                text(PainEntries::Locations),
                text(PainEntries::Qualities),
                text_null(PainEntries::LocationNote),
            ],
        ),
        (
            "medication_intakes",
            MedicationIntakes::Table.into_iden(),
            vec![
                text(MedicationIntakes::Drug),
                // Lowercased and trimmed, for matching against the care plan and MME factors.
                text(MedicationIntakes::DrugNormalized),
                text_null(MedicationIntakes::Rxnorm),
                double(MedicationIntakes::Amount),
                text(MedicationIntakes::Unit),
                text_null(MedicationIntakes::Route),
                text(MedicationIntakes::Status),
                boolean(MedicationIntakes::Prn),
                text_null(MedicationIntakes::PrnReason),
            ],
        ),
        (
            "exercise_sessions",
            ExerciseSessions::Table.into_iden(),
            vec![
                text(ExerciseSessions::Activity),
                double(ExerciseSessions::Minutes),
                double_null(ExerciseSessions::Sets),
                double_null(ExerciseSessions::Reps),
                double_null(ExerciseSessions::Exertion),
            ],
        ),
        (
            "wellbeing_entries",
            WellbeingEntries::Table.into_iden(),
            vec![
                double_null(WellbeingEntries::SleepHours),
                double_null(WellbeingEntries::SleepQuality),
                double_null(WellbeingEntries::Mood),
                double_null(WellbeingEntries::Stress),
            ],
        ),
        (
            "peg_checkins",
            PegCheckins::Table.into_iden(),
            vec![
                double(PegCheckins::Pain),
                double(PegCheckins::Enjoyment),
                double(PegCheckins::Activity),
                // The PEG score: mean of the three items.
                double(PegCheckins::Score),
            ],
        ),
    ]
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (name, table, columns) in kind_tables() {
            let mut create = Table::create();
            create
                .table(table.clone())
                .col(uuid(Common::EntryId).primary_key())
                .col(uuid(Common::PatientId))
                .col(string_len(Common::DocumentId, 40))
                .col(timestamp_with_time_zone(Common::RecordedAt))
                .col(string_len(Common::Tz, 64))
                // The patient's local calendar day of `recorded_at` in `tz`.
                .col(date(Common::LocalDate))
                .col(boolean(Common::Deleted))
                // From the entry (set by every edit on the device).
                .col(timestamp_with_time_zone_null(Common::UpdatedAt))
                // When the server first projected the entry; never changed afterwards.
                .col(timestamp_with_time_zone(Common::SyncedAt))
                // synced_at - recorded_at > 24 h.
                .col(boolean(Common::Late))
                .col(boolean(Common::Valid));
            for column in columns {
                create.col(column);
            }
            create.col(text_null(Common::Note));
            manager.create_table(create.to_owned()).await?;
            manager
                .create_index(
                    Index::create()
                        .name(format!("idx_{name}_patient_day"))
                        .table(table.clone())
                        .col(Common::PatientId)
                        .col(Common::LocalDate)
                        .to_owned(),
                )
                .await?;
            // Whole-document reprojection and cleanup find a document's rows by this.
            manager
                .create_index(
                    Index::create()
                        .name(format!("idx_{name}_document"))
                        .table(table)
                        .col(Common::DocumentId)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_table(
                Table::create()
                    .table(EntryIssues::Table)
                    .col(uuid(EntryIssues::PatientId))
                    .col(string_len(EntryIssues::DocumentId, 40))
                    // `pain`, `medication`, `exercise`, `wellbeing` or `checkin`.
                    .col(string_len(EntryIssues::Kind, 16))
                    // The entry's key as found (a UUID, or the first 64 characters of
                    // whatever else a client used).
                    .col(string_len(EntryIssues::EntryKey, 64))
                    // `unreadable`, or a validation error's code (`out_of_scale`, ...).
                    .col(string_len(EntryIssues::ReasonCode, 32))
                    .col(text(EntryIssues::Reason))
                    .col(timestamp_with_time_zone(EntryIssues::FirstSeenAt))
                    .col(timestamp_with_time_zone(EntryIssues::LastSeenAt))
                    .primary_key(
                        Index::create()
                            .col(EntryIssues::DocumentId)
                            .col(EntryIssues::Kind)
                            .col(EntryIssues::EntryKey)
                            .col(EntryIssues::ReasonCode),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_entry_issues_patient")
                    .table(EntryIssues::Table)
                    .col(EntryIssues::PatientId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(EntryIssues::Table).to_owned())
            .await?;
        for (_, table, _) in kind_tables() {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
