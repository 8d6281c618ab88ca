//! Reminder settings per patient (quiet hours, a pause, whether their reminders follow the
//! clinic's defaults) and the columns on `reminders` that carry one deferred send per
//! reminder: an occurrence held back by quiet hours or snoozed by the patient.
//!
//! `resend_at` is indexed like `next_due_at`: the timer asks only for the rows whose
//! deferred send has come, and claims each with a conditional UPDATE.

use sea_orm_migration::{prelude::*, schema::*};

use crate::m20251127_000003_create_patients::Patients;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ReminderSettings {
    Table,
    PatientId,
    QuietStart,
    QuietEnd,
    PausedUntil,
    UseClinicDefaults,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Reminders {
    Table,
    PatientId,
    UpdatedAt,
    LastSentDueAt,
    ResendAt,
    ResendDueAt,
    SnoozedDueAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ReminderSettings::Table)
                    .col(pk_uuid(ReminderSettings::PatientId))
                    // Local "HH:MM" in the patient's zone; both set or both null.
                    .col(string_len_null(ReminderSettings::QuietStart, 5))
                    .col(string_len_null(ReminderSettings::QuietEnd, 5))
                    .col(timestamp_with_time_zone_null(ReminderSettings::PausedUntil))
                    .col(boolean(ReminderSettings::UseClinicDefaults))
                    .col(timestamp_with_time_zone(ReminderSettings::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_reminder_settings_patient")
                            .from(ReminderSettings::Table, ReminderSettings::PatientId)
                            .to(Patients::Table, Patients::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // Patients who set reminders before clinic defaults existed made them themselves:
        // a clinic's defaults must not replace them (docs/reminders.md, "Clinic defaults").
        // `updated_at` is copied from their reminders, so it is stored in the format the
        // driver writes timestamps in.
        let own = Query::select()
            .column(Reminders::PatientId)
            .expr(Expr::val(false))
            .expr(Func::max(Expr::col(Reminders::UpdatedAt)))
            .from(Reminders::Table)
            .group_by_col(Reminders::PatientId)
            .to_owned();
        let backfill = Query::insert()
            .into_table(ReminderSettings::Table)
            .columns([
                ReminderSettings::PatientId,
                ReminderSettings::UseClinicDefaults,
                ReminderSettings::UpdatedAt,
            ])
            .select_from(own)
            .map_err(|e| DbErr::Migration(e.to_string()))?
            .to_owned();
        manager.exec_stmt(backfill).await?;
        // One column per statement: SQLite adds a single column per ALTER TABLE.
        for col in [
            Reminders::LastSentDueAt,
            Reminders::ResendAt,
            Reminders::ResendDueAt,
            Reminders::SnoozedDueAt,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Reminders::Table)
                        .add_column(timestamp_with_time_zone_null(col))
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_index(
                Index::create()
                    .name("idx_reminders_resend")
                    .table(Reminders::Table)
                    .col(Reminders::ResendAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("idx_reminders_resend")
                    .table(Reminders::Table)
                    .to_owned(),
            )
            .await?;
        for col in [
            Reminders::SnoozedDueAt,
            Reminders::ResendDueAt,
            Reminders::ResendAt,
            Reminders::LastSentDueAt,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Reminders::Table)
                        .drop_column(col)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .drop_table(Table::drop().table(ReminderSettings::Table).to_owned())
            .await
    }
}
