//! Native app device tokens (APNs, FCM) a patient's phone registered for reminders. One
//! token per row; registering it again is a no-op. The senders are not built yet: the
//! table is what an APNs or FCM sender reads.

use sea_orm_migration::{prelude::*, schema::*};

use crate::m20251127_000003_create_patients::Patients;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum DeviceTokens {
    Table,
    Id,
    PatientId,
    Platform,
    Token,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(DeviceTokens::Table)
                    .col(pk_uuid(DeviceTokens::Id))
                    .col(uuid(DeviceTokens::PatientId))
                    // `apns` or `fcm`.
                    .col(string_len(DeviceTokens::Platform, 8))
                    .col(string_len(DeviceTokens::Token, 512))
                    .col(timestamp_with_time_zone(DeviceTokens::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_device_tokens_patient")
                            .from(DeviceTokens::Table, DeviceTokens::PatientId)
                            .to(Patients::Table, Patients::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_device_tokens_patient_token")
                    .table(DeviceTokens::Table)
                    .col(DeviceTokens::PatientId)
                    .col(DeviceTokens::Platform)
                    .col(DeviceTokens::Token)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(DeviceTokens::Table).to_owned())
            .await
    }
}
