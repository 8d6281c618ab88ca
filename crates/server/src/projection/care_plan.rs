//! Projection of care-plan documents into `care_plan_projections` (one row per projected
//! plan) and `care_plan_medications` (its prescriptions), so the patient list reads every
//! patient's schedule in one query instead of decoding each plan.
//!
//! The rows are always computed from the plan as *stored*, read inside the writing
//! transaction after the header row is locked: two replicas committing changes to the same
//! plan at once are serialized on that row (PostgreSQL row lock, SQLite's single writer),
//! and the second one reads the first one's committed chunks, so the last projection
//! includes both. Drug names are held normalized as the alert rules and trends compare
//! them ([`normalize_drug_name`]).

use chrono::{DateTime, Utc};
use paindiary_notifier::rules::normalize_drug_name;
use paindiary_sync::ids::PatientId as DocPatientId;
use paindiary_sync::schema::DocKind;
use paindiary_sync::schema::care_plan::read_care_plan;
use sea_orm::sea_query::{OnConflict, Query};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, QuerySelect,
    Select, Set,
};
use uuid::Uuid;

use crate::entity::{care_plan_medications, care_plan_projections, documents};
use crate::storage::{self, StorageError};

/// The `documents.kind` of care plans.
const CARE_PLAN: &str = "care_plan";

/// Writes the projection of `patient`'s stored care plan (none stored: no prescriptions),
/// replacing the previous one. Run it inside the transaction that stored the plan's new
/// chunks, after storing them. Returns the number of prescriptions written.
pub async fn project_care_plan(
    conn: &impl ConnectionTrait,
    patient: Uuid,
    now: DateTime<Utc>,
) -> Result<usize, StorageError> {
    let id = DocKind::CarePlan {
        patient: DocPatientId::from_uuid(patient),
    }
    .document_id();
    // First, so that a concurrent projection of the same plan waits here for ours to
    // commit and then reads our chunks (and we read its, the other way round).
    care_plan_projections::Entity::insert(care_plan_projections::ActiveModel {
        patient_id: Set(patient),
        document_id: Set(id.to_string()),
        projected_at: Set(now),
    })
    .on_conflict(
        OnConflict::column(care_plan_projections::Column::PatientId)
            .update_columns([
                care_plan_projections::Column::DocumentId,
                care_plan_projections::Column::ProjectedAt,
            ])
            .to_owned(),
    )
    .exec(conn)
    .await?;
    let plan = storage::load(conn, &id)
        .await?
        .map(|loaded| read_care_plan(&loaded.doc))
        .unwrap_or_default();
    care_plan_medications::Entity::delete_many()
        .filter(care_plan_medications::Column::PatientId.eq(patient))
        .exec(conn)
        .await?;
    if plan.medications.is_empty() {
        return Ok(0);
    }
    let rows: Vec<_> = plan
        .medications
        .iter()
        .map(|m| care_plan_medications::ActiveModel {
            patient_id: Set(patient),
            item_id: Set(m.id.clone()),
            drug: Set(m.drug.clone()),
            drug_normalized: Set(normalize_drug_name(&m.drug)),
            times_per_day: Set(m.times_per_day),
            prn: Set(m.prn),
            opioid: Set(m.opioid),
            start_date: Set(m.start_date),
            end_date: Set(m.end_date),
        })
        .collect();
    let written = rows.len();
    // A plan holds a few dozen items at most (the document size limit bounds it), well
    // under both backends' bound-parameter limits for one statement.
    care_plan_medications::Entity::insert_many(rows)
        .exec(conn)
        .await?;
    Ok(written)
}

/// Projects every stored care plan that has no projection yet (plans stored before
/// the projection existed), one transaction each; returns how many. Cheap when there are
/// none: one query.
pub async fn project_unprojected(
    db: &DatabaseConnection,
    now: DateTime<Utc>,
) -> Result<usize, StorageError> {
    let projected = Query::select()
        .column(care_plan_projections::Column::PatientId)
        .from(care_plan_projections::Entity)
        .to_owned();
    project_stored(
        db,
        documents::Entity::find().filter(documents::Column::PatientId.not_in_subquery(projected)),
        now,
    )
    .await
}

/// Projects every stored care plan again and deletes the projections of plans that are
/// no longer stored (for `paindiary reproject`); returns how many were projected.
pub async fn reproject_care_plans(
    db: &DatabaseConnection,
    now: DateTime<Utc>,
) -> Result<usize, StorageError> {
    let projected = project_stored(db, documents::Entity::find(), now).await?;
    let stored = || {
        Query::select()
            .column(documents::Column::PatientId)
            .from(documents::Entity)
            .and_where(documents::Column::Kind.eq(CARE_PLAN))
            .to_owned()
    };
    care_plan_medications::Entity::delete_many()
        .filter(care_plan_medications::Column::PatientId.not_in_subquery(stored()))
        .exec(db)
        .await?;
    care_plan_projections::Entity::delete_many()
        .filter(care_plan_projections::Column::PatientId.not_in_subquery(stored()))
        .exec(db)
        .await?;
    Ok(projected)
}

/// Projects the stored care plans among the documents `select` finds, one transaction
/// each; returns how many.
async fn project_stored(
    db: &DatabaseConnection,
    select: Select<documents::Entity>,
    now: DateTime<Utc>,
) -> Result<usize, StorageError> {
    let patients: Vec<Uuid> = select
        .select_only()
        .column(documents::Column::PatientId)
        .filter(documents::Column::Kind.eq(CARE_PLAN))
        .into_tuple()
        .all(db)
        .await?;
    for patient in &patients {
        let txn = crate::db::begin_write(db).await?;
        project_care_plan(&txn, *patient, now).await?;
        txn.commit().await?;
    }
    Ok(patients.len())
}

/// Deletes `patient`'s care-plan projection (erasure).
pub async fn delete_care_plan_projection(
    conn: &impl ConnectionTrait,
    patient: Uuid,
) -> Result<u64, sea_orm::DbErr> {
    let mut rows = care_plan_medications::Entity::delete_many()
        .filter(care_plan_medications::Column::PatientId.eq(patient))
        .exec(conn)
        .await?
        .rows_affected;
    rows += care_plan_projections::Entity::delete_many()
        .filter(care_plan_projections::Column::PatientId.eq(patient))
        .exec(conn)
        .await?
        .rows_affected;
    Ok(rows)
}
