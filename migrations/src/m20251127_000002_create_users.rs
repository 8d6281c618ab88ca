//! Users: clinic staff and patients who can log in.
//!
//! `email` is stored lowercased by the application, so a plain unique index is a
//! case-insensitive uniqueness rule on every backend.

use sea_orm_migration::{prelude::*, schema::*};

use crate::m20251127_000001_create_clinics::Clinics;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
pub(crate) enum Users {
    Table,
    Id,
    ClinicId,
    Email,
    DisplayName,
    Role,
    PasswordHash,
    CreatedAt,
    DisabledAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Users::Table)
                    .col(pk_uuid(Users::Id))
                    .col(uuid(Users::ClinicId))
                    .col(string_uniq(Users::Email))
                    .col(string(Users::DisplayName))
                    // One of: admin, physician, nurse, physical_therapist, psychologist, patient.
                    .col(string_len(Users::Role, 32))
                    // argon2id PHC string; it carries its own salt and parameters.
                    .col(string(Users::PasswordHash))
                    .col(timestamp_with_time_zone(Users::CreatedAt))
                    .col(timestamp_with_time_zone_null(Users::DisabledAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_users_clinic")
                            .from(Users::Table, Users::ClinicId)
                            .to(Clinics::Table, Clinics::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_users_clinic")
                    .table(Users::Table)
                    .col(Users::ClinicId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Users::Table).to_owned())
            .await
    }
}
