//! Patients: the subject of diary documents.
//!
//! The patient row exists before the person has an account (an admin enrols the
//! patient, then the patient redeems an invitation), so `user_id` is nullable. The
//! row outlives erasure as a tombstone (`erased_at`) so that old devices' uploads for
//! an erased patient can be refused.

use sea_orm_migration::{prelude::*, schema::*};

use crate::m20251127_000001_create_clinics::Clinics;
use crate::m20251127_000002_create_users::Users;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
pub(crate) enum Patients {
    Table,
    Id,
    ClinicId,
    DisplayCode,
    Timezone,
    UserId,
    CreatedAt,
    ErasedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Patients::Table)
                    .col(pk_uuid(Patients::Id))
                    .col(uuid(Patients::ClinicId))
                    // What emails and dashboards show instead of a name, e.g. "PD-4821".
                    .col(string_len(Patients::DisplayCode, 64))
                    // IANA zone name; "a day" in trends is the patient's local day.
                    .col(string_len(Patients::Timezone, 64))
                    .col(uuid_null(Patients::UserId).unique_key())
                    .col(timestamp_with_time_zone(Patients::CreatedAt))
                    .col(timestamp_with_time_zone_null(Patients::ErasedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_patients_clinic")
                            .from(Patients::Table, Patients::ClinicId)
                            .to(Clinics::Table, Clinics::Id),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_patients_user")
                            .from(Patients::Table, Patients::UserId)
                            .to(Users::Table, Users::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_patients_clinic_display_code")
                    .table(Patients::Table)
                    .col(Patients::ClinicId)
                    .col(Patients::DisplayCode)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Patients::Table).to_owned())
            .await
    }
}
