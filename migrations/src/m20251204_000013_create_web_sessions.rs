//! Dashboard web sessions: an opaque cookie token per browser login, stored as its
//! SHA-256 hash, with an absolute expiry and an idle timeout (`last_seen_at`).

use sea_orm_migration::{prelude::*, schema::*};

use crate::m20251127_000002_create_users::Users;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum WebSessions {
    Table,
    Id,
    UserId,
    TokenHash,
    CreatedAt,
    LastSeenAt,
    ExpiresAt,
    RevokedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(WebSessions::Table)
                    .col(pk_uuid(WebSessions::Id))
                    .col(uuid(WebSessions::UserId))
                    // Hex SHA-256 of the cookie value; the value itself is never stored.
                    .col(string_len_uniq(WebSessions::TokenHash, 64))
                    .col(timestamp_with_time_zone(WebSessions::CreatedAt))
                    .col(timestamp_with_time_zone(WebSessions::LastSeenAt))
                    .col(timestamp_with_time_zone(WebSessions::ExpiresAt))
                    .col(timestamp_with_time_zone_null(WebSessions::RevokedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_web_sessions_user")
                            .from(WebSessions::Table, WebSessions::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_web_sessions_user")
                    .table(WebSessions::Table)
                    .col(WebSessions::UserId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(WebSessions::Table).to_owned())
            .await
    }
}
