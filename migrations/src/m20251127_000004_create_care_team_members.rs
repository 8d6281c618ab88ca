//! Care teams: which clinicians may see which patients.

use sea_orm_migration::{prelude::*, schema::*};

use crate::m20251127_000002_create_users::Users;
use crate::m20251127_000003_create_patients::Patients;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum CareTeamMembers {
    Table,
    PatientId,
    UserId,
    AddedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(CareTeamMembers::Table)
                    .col(uuid(CareTeamMembers::PatientId))
                    .col(uuid(CareTeamMembers::UserId))
                    .col(timestamp_with_time_zone(CareTeamMembers::AddedAt))
                    // The pair is the key: a clinician is on a patient's team at most once.
                    .primary_key(
                        Index::create()
                            .col(CareTeamMembers::PatientId)
                            .col(CareTeamMembers::UserId),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_care_team_patient")
                            .from(CareTeamMembers::Table, CareTeamMembers::PatientId)
                            .to(Patients::Table, Patients::Id),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_care_team_user")
                            .from(CareTeamMembers::Table, CareTeamMembers::UserId)
                            .to(Users::Table, Users::Id),
                    )
                    .to_owned(),
            )
            .await?;
        // "Which patients is this clinician on?" is the hot query for every list.
        manager
            .create_index(
                Index::create()
                    .name("idx_care_team_user")
                    .table(CareTeamMembers::Table)
                    .col(CareTeamMembers::UserId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(CareTeamMembers::Table).to_owned())
            .await
    }
}
