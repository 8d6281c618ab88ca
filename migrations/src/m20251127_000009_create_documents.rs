//! Document storage: which Automerge documents exist (and whose they are), their change
//! chunks and snapshots (append-only; compaction deletes only chunks it has folded in),
//! and each peer's persisted sync state.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Documents {
    Table,
    Id,
    PatientId,
    Kind,
    Month,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum DocumentChunks {
    Table,
    Id,
    DocumentId,
    Snapshot,
    Bytes,
    CreatedAt,
}

#[derive(DeriveIden)]
enum PeerSyncStates {
    Table,
    PeerKey,
    DocumentId,
    State,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Documents::Table)
                    // The base58check document ID, as automerge-repo writes it.
                    .col(string_len(Documents::Id, 40).primary_key())
                    .col(uuid(Documents::PatientId))
                    // `diary_month`, `care_plan` or `index`.
                    .col(string_len(Documents::Kind, 16))
                    .col(string_len_null(Documents::Month, 7))
                    .col(timestamp_with_time_zone(Documents::CreatedAt))
                    .col(timestamp_with_time_zone(Documents::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_documents_patient")
                    .table(Documents::Table)
                    .col(Documents::PatientId)
                    .col(Documents::Kind)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(DocumentChunks::Table)
                    .col(
                        big_integer(DocumentChunks::Id)
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(string_len(DocumentChunks::DocumentId, 40))
                    // A full save (snapshot) or incremental change bytes.
                    .col(boolean(DocumentChunks::Snapshot))
                    .col(blob(DocumentChunks::Bytes))
                    .col(timestamp_with_time_zone(DocumentChunks::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(DocumentChunks::Table, DocumentChunks::DocumentId)
                            .to(Documents::Table, Documents::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_document_chunks_document")
                    .table(DocumentChunks::Table)
                    .col(DocumentChunks::DocumentId)
                    .col(DocumentChunks::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(PeerSyncStates::Table)
                    // `<user id>/<storage id>`: a device's sync state is bound to its user.
                    .col(string_len(PeerSyncStates::PeerKey, 320))
                    .col(string_len(PeerSyncStates::DocumentId, 40))
                    .col(blob(PeerSyncStates::State))
                    .col(timestamp_with_time_zone(PeerSyncStates::UpdatedAt))
                    .primary_key(
                        Index::create()
                            .col(PeerSyncStates::PeerKey)
                            .col(PeerSyncStates::DocumentId),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(PeerSyncStates::Table, PeerSyncStates::DocumentId)
                            .to(Documents::Table, Documents::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(PeerSyncStates::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(DocumentChunks::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Documents::Table).to_owned())
            .await
    }
}
