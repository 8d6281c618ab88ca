//! Patient reminders (issue 21): one row per reminder schedule a patient set (local
//! times of day, days of the week, what to do, which channels), with the UTC instant of
//! its next occurrence.
//!
//! `next_due_at` is indexed: the reminder timer asks only for rows due now, so a tick
//! costs what is due, not what exists. Moving `next_due_at` with a conditional UPDATE is
//! the claim that lets one replica send an occurrence while the others skip it.

use sea_orm_migration::{prelude::*, schema::*};

use crate::m20251127_000003_create_patients::Patients;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Reminders {
    Table,
    Id,
    PatientId,
    Kind,
    Times,
    Days,
    Channels,
    Timezone,
    Enabled,
    NextDueAt,
    CreatedAt,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Reminders::Table)
                    .col(pk_uuid(Reminders::Id))
                    .col(uuid(Reminders::PatientId))
                    .col(string_len(Reminders::Kind, 32))
                    // JSON arrays: ["09:00","21:00"], ["mon",...], ["email","web_push"].
                    .col(string_len(Reminders::Times, 256))
                    .col(string_len(Reminders::Days, 64))
                    .col(string_len(Reminders::Channels, 64))
                    .col(string_len(Reminders::Timezone, 64))
                    .col(boolean(Reminders::Enabled))
                    .col(timestamp_with_time_zone_null(Reminders::NextDueAt))
                    .col(timestamp_with_time_zone(Reminders::CreatedAt))
                    .col(timestamp_with_time_zone(Reminders::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_reminders_patient")
                            .from(Reminders::Table, Reminders::PatientId)
                            .to(Patients::Table, Patients::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_reminders_due")
                    .table(Reminders::Table)
                    .col(Reminders::NextDueAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_reminders_patient")
                    .table(Reminders::Table)
                    .col(Reminders::PatientId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Reminders::Table).to_owned())
            .await
    }
}
