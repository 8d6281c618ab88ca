//! Opaque bearer tokens (one per device or web session), stored as SHA-256 hashes.

use sea_orm_migration::{prelude::*, schema::*};

use crate::m20251127_000002_create_users::Users;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum AuthTokens {
    Table,
    Id,
    UserId,
    TokenHash,
    Kind,
    DeviceName,
    CreatedAt,
    LastUsedAt,
    ExpiresAt,
    RevokedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(AuthTokens::Table)
                    .col(pk_uuid(AuthTokens::Id))
                    .col(uuid(AuthTokens::UserId))
                    // Hex SHA-256 of the token; the token itself is shown once and never stored.
                    .col(string_len_uniq(AuthTokens::TokenHash, 64))
                    // "device" or "web".
                    .col(string_len(AuthTokens::Kind, 16))
                    .col(string_null(AuthTokens::DeviceName))
                    .col(timestamp_with_time_zone(AuthTokens::CreatedAt))
                    .col(timestamp_with_time_zone_null(AuthTokens::LastUsedAt))
                    .col(timestamp_with_time_zone(AuthTokens::ExpiresAt))
                    .col(timestamp_with_time_zone_null(AuthTokens::RevokedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_auth_tokens_user")
                            .from(AuthTokens::Table, AuthTokens::UserId)
                            .to(Users::Table, Users::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_auth_tokens_user")
                    .table(AuthTokens::Table)
                    .col(AuthTokens::UserId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(AuthTokens::Table).to_owned())
            .await
    }
}
