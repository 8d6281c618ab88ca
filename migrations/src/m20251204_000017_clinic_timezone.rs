//! A clinic's time zone, in its notification settings: the daily digest goes out at the
//! configured hour of the clinic's local day (NULL means UTC, as before this migration).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ClinicNotificationSettings {
    Table,
    Timezone,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(ClinicNotificationSettings::Table)
                    // An IANA name such as `Europe/Berlin`.
                    .add_column(string_len_null(ClinicNotificationSettings::Timezone, 64))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(ClinicNotificationSettings::Table)
                    .drop_column(ClinicNotificationSettings::Timezone)
                    .to_owned(),
            )
            .await
    }
}
