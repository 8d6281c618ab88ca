//! `documents.updated_at` follows the document's chunks in the database itself: a trigger
//! sets it to each new chunk's `created_at`, so a sync round's transaction needs no
//! separate UPDATE statement (one round trip less per group commit).

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DatabaseBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

const SQLITE_UP: &str = "CREATE TRIGGER document_chunks_touch_document \
    AFTER INSERT ON document_chunks FOR EACH ROW BEGIN \
    UPDATE documents SET updated_at = NEW.created_at WHERE id = NEW.document_id; END";

const POSTGRES_UP: [&str; 2] = [
    "CREATE FUNCTION paindiary_touch_document() RETURNS trigger LANGUAGE plpgsql AS $$ \
     BEGIN UPDATE documents SET updated_at = NEW.created_at WHERE id = NEW.document_id; \
     RETURN NULL; END $$",
    "CREATE TRIGGER document_chunks_touch_document AFTER INSERT ON document_chunks \
     FOR EACH ROW EXECUTE FUNCTION paindiary_touch_document()",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        match db.get_database_backend() {
            DatabaseBackend::Postgres => {
                for sql in POSTGRES_UP {
                    db.execute_unprepared(sql).await?;
                }
            }
            _ => {
                db.execute_unprepared(SQLITE_UP).await?;
            }
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        match db.get_database_backend() {
            DatabaseBackend::Postgres => {
                db.execute_unprepared(
                    "DROP TRIGGER IF EXISTS document_chunks_touch_document ON document_chunks",
                )
                .await?;
                db.execute_unprepared("DROP FUNCTION IF EXISTS paindiary_touch_document()")
                    .await?;
            }
            _ => {
                db.execute_unprepared("DROP TRIGGER IF EXISTS document_chunks_touch_document")
                    .await?;
            }
        }
        Ok(())
    }
}
