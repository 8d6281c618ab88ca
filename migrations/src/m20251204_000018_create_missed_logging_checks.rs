//! When each patient is next checked for missed logging, and which silence was already
//! alerted.
//!
//! A patient who stops logging does not sync, so the missed-logging rule runs from the
//! alert timers. One row per patient, created at the first check: `next_check_at` is the
//! patient's next local midnight (the rule counts whole local days, so one check per
//! local day is enough), and moving it with a conditional UPDATE is the claim that lets
//! one replica check the patient while the others skip it. `alerted_since` is the last
//! entry day (or enrolment day) of the silence an alert was already opened for, so the
//! same silence is not raised again once a clinician resolved its alert.

use sea_orm_migration::{prelude::*, schema::*};

use crate::m20251127_000003_create_patients::Patients;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum MissedLoggingChecks {
    Table,
    PatientId,
    NextCheckAt,
    AlertedSince,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(MissedLoggingChecks::Table)
                    .col(pk_uuid(MissedLoggingChecks::PatientId))
                    .col(timestamp_with_time_zone(MissedLoggingChecks::NextCheckAt))
                    .col(date_null(MissedLoggingChecks::AlertedSince))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_missed_logging_checks_patient")
                            .from(MissedLoggingChecks::Table, MissedLoggingChecks::PatientId)
                            .to(Patients::Table, Patients::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_missed_logging_checks_due")
                    .table(MissedLoggingChecks::Table)
                    .col(MissedLoggingChecks::NextCheckAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(MissedLoggingChecks::Table).to_owned())
            .await
    }
}
