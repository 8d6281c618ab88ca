//! The audit trail: who touched which patient's data, when, and how it ended.
//!
//! No foreign keys on purpose: audit rows must survive the erasure of the user or
//! patient they mention, and must never block such an erasure. No health data here,
//! only identifiers and action codes.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum AuditEvents {
    Table,
    Id,
    At,
    ActorUserId,
    PatientId,
    Action,
    Target,
    Outcome,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(AuditEvents::Table)
                    .col(pk_uuid(AuditEvents::Id))
                    .col(timestamp_with_time_zone(AuditEvents::At))
                    .col(uuid_null(AuditEvents::ActorUserId))
                    .col(uuid_null(AuditEvents::PatientId))
                    .col(string_len(AuditEvents::Action, 64))
                    .col(string_null(AuditEvents::Target))
                    .col(string_len(AuditEvents::Outcome, 16))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_audit_patient_at")
                    .table(AuditEvents::Table)
                    .col(AuditEvents::PatientId)
                    .col(AuditEvents::At)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_audit_actor_at")
                    .table(AuditEvents::Table)
                    .col(AuditEvents::ActorUserId)
                    .col(AuditEvents::At)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(AuditEvents::Table).to_owned())
            .await
    }
}
