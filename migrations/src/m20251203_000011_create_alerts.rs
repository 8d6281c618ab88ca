//! Alerts: one row per clinically meaningful worsening, its history, and each clinic's
//! notification settings.
//!
//! "One open alert per (patient, rule)" is enforced by the database, portably: `open_slot`
//! holds `"{patient_id}:{rule}"` while the alert is open or acknowledged and NULL once it
//! is resolved, and a unique index on it admits any number of NULLs on both SQLite and
//! PostgreSQL. Timers (repeat notification, escalation) are columns, so whichever replica
//! claims them in a transaction fires them once; nothing is held in a process's memory.

use sea_orm_migration::{prelude::*, schema::*};

use crate::m20251127_000001_create_clinics::Clinics;
use crate::m20251127_000003_create_patients::Patients;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
pub(crate) enum Alerts {
    Table,
    Id,
    PatientId,
    ClinicId,
    Rule,
    Severity,
    Status,
    OpenSlot,
    OpenedAt,
    LastTriggeredAt,
    TriggerCount,
    LocalDay,
    ReportedLate,
    Explanation,
    Evidence,
    AcknowledgedBy,
    AcknowledgedAt,
    ResolvedBy,
    ResolvedAt,
    ResolutionNote,
    LastNotifiedAt,
    NextRepeatAt,
    EscalateAt,
    EscalatedAt,
}

#[derive(DeriveIden)]
enum AlertEvents {
    Table,
    Id,
    AlertId,
    At,
    Kind,
    ActorUserId,
    Detail,
}

#[derive(DeriveIden)]
enum ClinicNotificationSettings {
    Table,
    ClinicId,
    Thresholds,
    SecondaryRecipients,
    WebhookUrl,
    WebhookSecret,
    IncludeDetails,
    RepeatIntervalMinutes,
    EscalationMinutes,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Alerts::Table)
                    .col(pk_uuid(Alerts::Id))
                    .col(uuid(Alerts::PatientId))
                    .col(uuid(Alerts::ClinicId))
                    // `worsening`, `severe`, `opioid_load`, `prn_overuse`, `missed_logging`.
                    .col(string_len(Alerts::Rule, 32))
                    // `info`, `warning`, `urgent`.
                    .col(string_len(Alerts::Severity, 16))
                    // `open`, `acknowledged`, `resolved`.
                    .col(string_len(Alerts::Status, 16))
                    .col(string_len_null(Alerts::OpenSlot, 100).unique_key())
                    .col(timestamp_with_time_zone(Alerts::OpenedAt))
                    .col(timestamp_with_time_zone(Alerts::LastTriggeredAt))
                    .col(integer(Alerts::TriggerCount).default(1))
                    // The patient's local day the latest trigger was about.
                    .col(date(Alerts::LocalDay))
                    .col(boolean(Alerts::ReportedLate).default(false))
                    // Human-readable, with the numbers that triggered the rule. Shown in the
                    // dashboard; in email only when the clinic opts in.
                    .col(text(Alerts::Explanation))
                    // The rule's evidence as JSON.
                    .col(text(Alerts::Evidence))
                    .col(uuid_null(Alerts::AcknowledgedBy))
                    .col(timestamp_with_time_zone_null(Alerts::AcknowledgedAt))
                    .col(uuid_null(Alerts::ResolvedBy))
                    .col(timestamp_with_time_zone_null(Alerts::ResolvedAt))
                    .col(text_null(Alerts::ResolutionNote))
                    .col(timestamp_with_time_zone_null(Alerts::LastNotifiedAt))
                    .col(timestamp_with_time_zone_null(Alerts::NextRepeatAt))
                    .col(timestamp_with_time_zone_null(Alerts::EscalateAt))
                    .col(timestamp_with_time_zone_null(Alerts::EscalatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_alerts_patient")
                            .from(Alerts::Table, Alerts::PatientId)
                            .to(Patients::Table, Patients::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_alerts_clinic")
                            .from(Alerts::Table, Alerts::ClinicId)
                            .to(Clinics::Table, Clinics::Id),
                    )
                    .to_owned(),
            )
            .await?;
        for (name, cols) in [
            (
                "idx_alerts_patient_status",
                [Alerts::PatientId, Alerts::Status],
            ),
            (
                "idx_alerts_clinic_status",
                [Alerts::ClinicId, Alerts::Status],
            ),
        ] {
            let mut index = Index::create();
            index.name(name).table(Alerts::Table);
            for col in cols {
                index.col(col);
            }
            manager.create_index(index.to_owned()).await?;
        }
        manager
            .create_table(
                Table::create()
                    .table(AlertEvents::Table)
                    .col(pk_uuid(AlertEvents::Id))
                    .col(uuid(AlertEvents::AlertId))
                    .col(timestamp_with_time_zone(AlertEvents::At))
                    // `opened`, `triggered`, `notified`, `repeated`, `escalated`,
                    // `acknowledged`, `resolved`.
                    .col(string_len(AlertEvents::Kind, 32))
                    .col(uuid_null(AlertEvents::ActorUserId))
                    .col(text_null(AlertEvents::Detail))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_alert_events_alert")
                            .from(AlertEvents::Table, AlertEvents::AlertId)
                            .to(Alerts::Table, Alerts::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_alert_events_alert_at")
                    .table(AlertEvents::Table)
                    .col(AlertEvents::AlertId)
                    .col(AlertEvents::At)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ClinicNotificationSettings::Table)
                    .col(pk_uuid(ClinicNotificationSettings::ClinicId))
                    // Clinic-wide rule thresholds as JSON (the notifier's
                    // `ThresholdOverrides`); NULL means the defaults of DESIGN.md.
                    .col(text_null(ClinicNotificationSettings::Thresholds))
                    // JSON array of email addresses that receive escalations.
                    .col(text(ClinicNotificationSettings::SecondaryRecipients))
                    .col(text_null(ClinicNotificationSettings::WebhookUrl))
                    .col(text_null(ClinicNotificationSettings::WebhookSecret))
                    // Opt-in: put scores, drugs and notes in emails and webhooks.
                    .col(boolean(ClinicNotificationSettings::IncludeDetails).default(false))
                    .col(integer_null(
                        ClinicNotificationSettings::RepeatIntervalMinutes,
                    ))
                    .col(integer_null(ClinicNotificationSettings::EscalationMinutes))
                    .col(timestamp_with_time_zone(
                        ClinicNotificationSettings::UpdatedAt,
                    ))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_clinic_notification_settings_clinic")
                            .from(
                                ClinicNotificationSettings::Table,
                                ClinicNotificationSettings::ClinicId,
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
                    .table(ClinicNotificationSettings::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table(AlertEvents::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Alerts::Table).to_owned())
            .await?;
        Ok(())
    }
}
