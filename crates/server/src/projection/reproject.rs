//! `paindiary reproject`: rebuilds every projection from the stored documents (the
//! care plans' too).
//!
//! Each month document is loaded from its chunks and projected whole, in one transaction
//! per document; afterwards rows and issues of documents that no longer exist are deleted.
//! Rows that exist keep their `synced_at` (the upsert never changes it), so reprojecting a
//! database yields the rows incremental projection produced.

use std::time::{Duration, Instant};

use automerge::AutoCommit;
use chrono::{DateTime, Utc};
use paindiary_sync::ids::DocumentId;
use sea_orm::sea_query::Query;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use uuid::Uuid;

use super::{ProjectionError, ProjectionTarget, project_document};
use crate::entity::{
    documents, entry_issues, exercise_sessions, medication_intakes, pain_entries, peg_checkins,
    questionnaire_responses, wellbeing_entries,
};
use crate::storage::{self, StorageError};

/// The `documents.kind` of month diaries.
const DIARY_MONTH: &str = "diary_month";

/// What a reprojection did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReprojectReport {
    /// Month documents projected.
    pub documents: usize,
    /// Documents skipped because their chunks do not load (their rows are left as they were).
    pub corrupt_documents: usize,
    /// Rows upserted into the kind tables.
    pub entries: usize,
    /// Of those, invalid rows.
    pub invalid: usize,
    /// Entries with issues only (unreadable, unknown time zone, duplicate ID).
    pub unreadable: usize,
    /// Rows and issues deleted because their document no longer exists.
    pub orphans_removed: u64,
    /// Care plans whose prescriptions were projected again.
    pub care_plans: usize,
    /// Wall time.
    pub elapsed: Duration,
    /// Of which reading chunks and loading documents.
    pub loading: Duration,
}

/// Why a reprojection stopped.
#[derive(Debug, thiserror::Error)]
pub enum ReprojectError {
    /// Projecting a document failed.
    #[error(transparent)]
    Projection(#[from] ProjectionError),
    /// Projecting the care plans failed.
    #[error("reprojecting care plans failed")]
    CarePlans(#[source] StorageError),
    /// Reading documents or chunks, or a transaction, failed.
    #[error("reprojection failed while {step}")]
    Database {
        /// What was being done.
        step: &'static str,
        /// The database error.
        #[source]
        source: sea_orm::DbErr,
    },
}

fn db(step: &'static str) -> impl FnOnce(sea_orm::DbErr) -> ReprojectError {
    move |source| ReprojectError::Database { step, source }
}

/// Reprojects every month document, then removes projections of documents that are gone.
///
/// Entries projected for the first time get the document's `created_at` as `synced_at`:
/// the earliest the server can have had them, so `late` is never set wrongly.
pub async fn reproject_all(
    db_conn: &DatabaseConnection,
    now: DateTime<Utc>,
) -> Result<ReprojectReport, ReprojectError> {
    let started = Instant::now();
    let mut report = ReprojectReport::default();
    let docs: Vec<(String, Uuid, DateTime<Utc>)> = documents::Entity::find()
        .select_only()
        .column(documents::Column::Id)
        .column(documents::Column::PatientId)
        .column(documents::Column::CreatedAt)
        .filter(documents::Column::Kind.eq(DIARY_MONTH))
        .order_by_asc(documents::Column::Id)
        .into_tuple()
        .all(db_conn)
        .await
        .map_err(db("listing documents"))?;
    for (document_id, patient, created_at) in docs {
        // Reprojection may run beside a live server: take the write lock up front (see
        // `db::begin_write`) so SQLite waits for it instead of failing mid-document.
        let txn = crate::db::begin_write(db_conn)
            .await
            .map_err(db("starting a transaction"))?;
        let load_started = Instant::now();
        let loaded = match document_id.parse::<DocumentId>() {
            Ok(id) => match storage::load(&txn, &id).await {
                // A registered document without chunks holds no entries.
                Ok(loaded) => Some(loaded.map_or_else(AutoCommit::new, |l| l.doc)),
                Err(StorageError::Corrupt { .. }) => None,
                Err(StorageError::Db(e)) => return Err(db("reading chunks")(e)),
            },
            Err(_) => None,
        };
        report.loading += load_started.elapsed();
        let Some(mut doc) = loaded else {
            tracing::warn!(document_id, "document chunks do not load; not reprojected");
            report.corrupt_documents += 1;
            continue;
        };
        let target = ProjectionTarget {
            patient,
            document_id: &document_id,
            synced_at: created_at,
        };
        let summary = project_document(&txn, &target, doc.document(), now).await?;
        txn.commit().await.map_err(db("committing"))?;
        report.documents += 1;
        report.entries += summary.upserted;
        report.invalid += summary.invalid;
        report.unreadable += summary.unreadable;
    }
    report.orphans_removed = remove_orphans(db_conn).await?;
    report.care_plans = super::care_plan::reproject_care_plans(db_conn, now)
        .await
        .map_err(ReprojectError::CarePlans)?;
    report.elapsed = started.elapsed();
    Ok(report)
}

/// Deletes rows and issues whose document is not a stored month document.
async fn remove_orphans(conn: &impl ConnectionTrait) -> Result<u64, ReprojectError> {
    let months = || {
        Query::select()
            .column(documents::Column::Id)
            .from(documents::Entity)
            .and_where(documents::Column::Kind.eq(DIARY_MONTH))
            .to_owned()
    };
    let step = "removing projections of deleted documents";
    let mut removed = 0;
    removed += pain_entries::Entity::delete_many()
        .filter(pain_entries::Column::DocumentId.not_in_subquery(months()))
        .exec(conn)
        .await
        .map_err(db(step))?
        .rows_affected;
    removed += medication_intakes::Entity::delete_many()
        .filter(medication_intakes::Column::DocumentId.not_in_subquery(months()))
        .exec(conn)
        .await
        .map_err(db(step))?
        .rows_affected;
    removed += exercise_sessions::Entity::delete_many()
        .filter(exercise_sessions::Column::DocumentId.not_in_subquery(months()))
        .exec(conn)
        .await
        .map_err(db(step))?
        .rows_affected;
    removed += wellbeing_entries::Entity::delete_many()
        .filter(wellbeing_entries::Column::DocumentId.not_in_subquery(months()))
        .exec(conn)
        .await
        .map_err(db(step))?
        .rows_affected;
    removed += peg_checkins::Entity::delete_many()
        .filter(peg_checkins::Column::DocumentId.not_in_subquery(months()))
        .exec(conn)
        .await
        .map_err(db(step))?
        .rows_affected;
    removed += questionnaire_responses::Entity::delete_many()
        .filter(questionnaire_responses::Column::DocumentId.not_in_subquery(months()))
        .exec(conn)
        .await
        .map_err(db(step))?
        .rows_affected;
    removed += entry_issues::Entity::delete_many()
        .filter(entry_issues::Column::DocumentId.not_in_subquery(months()))
        .exec(conn)
        .await
        .map_err(db(step))?
        .rows_affected;
    Ok(removed)
}
