//! A clinic's default reminders: the list (JSON) a patient of the clinic gets while they
//! have not made their reminders their own. One row per clinic that set defaults.

use sea_orm_migration::{prelude::*, schema::*};

use crate::m20251127_000001_create_clinics::Clinics;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ClinicReminderDefaults {
    Table,
    ClinicId,
    Reminders,
    UpdatedAt,
    UpdatedBy,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ClinicReminderDefaults::Table)
                    .col(pk_uuid(ClinicReminderDefaults::ClinicId))
                    // JSON array of {kind, times, days, channels}; at most 10 entries.
                    .col(text(ClinicReminderDefaults::Reminders))
                    .col(timestamp_with_time_zone(ClinicReminderDefaults::UpdatedAt))
                    .col(uuid_null(ClinicReminderDefaults::UpdatedBy))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_clinic_reminder_defaults_clinic")
                            .from(
                                ClinicReminderDefaults::Table,
                                ClinicReminderDefaults::ClinicId,
                            )
                            .to(Clinics::Table, Clinics::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(
                Table::drop()
                    .table(ClinicReminderDefaults::Table)
                    .to_owned(),
            )
            .await
    }
}
