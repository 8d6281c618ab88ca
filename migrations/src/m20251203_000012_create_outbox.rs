//! The notification outbox: every email or webhook the server owes someone, written in
//! the same transaction as the alert change that caused it, and each attempt to send it.
//!
//! A delivery worker on every replica claims due rows (`FOR UPDATE SKIP LOCKED` on
//! PostgreSQL; SQLite's single writer serialises claims) by setting a lease
//! (`claimed_until`). A worker that crashes after sending but before recording leaves
//! the lease to expire and the row is sent again: at most one repeat, which the receiver
//! drops by the `idempotency_key` (the email's `Message-ID`, the webhook's header).

use sea_orm_migration::{prelude::*, schema::*};

use crate::m20251203_000011_create_alerts::Alerts;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum NotificationOutbox {
    Table,
    Id,
    IdempotencyKey,
    AlertId,
    ClinicId,
    Channel,
    Recipient,
    Kind,
    Payload,
    Status,
    Attempts,
    NextAttemptAt,
    ClaimedUntil,
    LastError,
    CreatedAt,
    SentAt,
}

#[derive(DeriveIden)]
enum DeliveryAttempts {
    Table,
    Id,
    OutboxId,
    At,
    Outcome,
    Detail,
    DurationMs,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(NotificationOutbox::Table)
                    .col(pk_uuid(NotificationOutbox::Id))
                    .col(string_len(NotificationOutbox::IdempotencyKey, 200).unique_key())
                    .col(uuid_null(NotificationOutbox::AlertId))
                    .col(uuid(NotificationOutbox::ClinicId))
                    // `email` or `webhook`.
                    .col(string_len(NotificationOutbox::Channel, 16))
                    // An email address or a webhook URL.
                    .col(text(NotificationOutbox::Recipient))
                    // `alert_opened`, `alert_repeat`, `alert_escalated`, `digest`.
                    .col(string_len(NotificationOutbox::Kind, 32))
                    // JSON: what the templates render (minimum necessary by default).
                    .col(text(NotificationOutbox::Payload))
                    // `pending`, `sent`, `dead`.
                    .col(string_len(NotificationOutbox::Status, 16))
                    .col(integer(NotificationOutbox::Attempts).default(0))
                    .col(timestamp_with_time_zone(NotificationOutbox::NextAttemptAt))
                    .col(timestamp_with_time_zone_null(
                        NotificationOutbox::ClaimedUntil,
                    ))
                    .col(text_null(NotificationOutbox::LastError))
                    .col(timestamp_with_time_zone(NotificationOutbox::CreatedAt))
                    .col(timestamp_with_time_zone_null(NotificationOutbox::SentAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_outbox_alert")
                            .from(NotificationOutbox::Table, NotificationOutbox::AlertId)
                            .to(Alerts::Table, Alerts::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_outbox_due")
                    .table(NotificationOutbox::Table)
                    .col(NotificationOutbox::Status)
                    .col(NotificationOutbox::NextAttemptAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(DeliveryAttempts::Table)
                    .col(pk_uuid(DeliveryAttempts::Id))
                    .col(uuid(DeliveryAttempts::OutboxId))
                    .col(timestamp_with_time_zone(DeliveryAttempts::At))
                    // `sent`, `transient`, `permanent`.
                    .col(string_len(DeliveryAttempts::Outcome, 16))
                    // The classified reason (SMTP reply code and text, HTTP status), never
                    // the message body.
                    .col(text_null(DeliveryAttempts::Detail))
                    .col(integer(DeliveryAttempts::DurationMs))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_delivery_attempts_outbox")
                            .from(DeliveryAttempts::Table, DeliveryAttempts::OutboxId)
                            .to(NotificationOutbox::Table, NotificationOutbox::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_delivery_attempts_outbox")
                    .table(DeliveryAttempts::Table)
                    .col(DeliveryAttempts::OutboxId)
                    .col(DeliveryAttempts::At)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(DeliveryAttempts::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(NotificationOutbox::Table).to_owned())
            .await?;
        Ok(())
    }
}
