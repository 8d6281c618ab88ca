//! Writing projected rows: batched upserts, deletion of rows and issues that no longer
//! apply, all scoped to one document and (for incremental projection) the touched entries.
//!
//! Statements per projection: per kind in scope, one select of the rows already there and
//! one multi-row upsert (plus a delete when rows went away); then one select of the
//! document's issues in scope and, when there are issues, one upsert. Batches hold at most
//! [`ROWS_PER_STATEMENT`] rows, well under SQLite's and PostgreSQL's bind-parameter limits.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use chrono::{DateTime, NaiveDate, Utc};
use paindiary_sync::schema::EntryKind;
use sea_orm::sea_query::{Alias, Expr, ExprTrait, OnConflict};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbBackend, DbErr, EntityTrait, IdenStatic,
    IntoActiveModel, Iterable, QueryFilter, QuerySelect,
};
use uuid::Uuid;

use super::{
    Collected, DUPLICATE_ENTRY_ID, LATE_AFTER_SECS, ProjectionError, ProjectionSummary,
    ProjectionTarget,
};
use crate::entity::{
    entry_issues, exercise_sessions, medication_intakes, pain_entries, peg_checkins,
    questionnaire_responses, wellbeing_entries,
};

/// Most rows in one INSERT (21 columns at most: about 10,500 bind parameters).
const ROWS_PER_STATEMENT: usize = 500;
/// Most values in one `IN (...)` list.
const IDS_PER_STATEMENT: usize = 500;
/// Most issue keys in one DELETE (three parameters each).
const ISSUES_PER_DELETE: usize = 200;

/// Which rows a projection is responsible for.
pub(crate) enum Scope {
    /// The touched entries, by kind, and the touched keys that are not UUIDs (issues
    /// only: such an entry never has a row).
    Entries(
        BTreeMap<EntryKind, Vec<Uuid>>,
        BTreeSet<(EntryKind, String)>,
    ),
    /// Everything of the document.
    Document,
}

impl Scope {
    /// The entry IDs of `kind` in scope; `None` for the whole document; an empty slice
    /// when the kind was not touched at all.
    fn ids(&self, kind: EntryKind) -> Option<&[Uuid]> {
        match self {
            Scope::Entries(map, _) => Some(map.get(&kind).map_or(&[][..], Vec::as_slice)),
            Scope::Document => None,
        }
    }
}

fn db(step: &'static str) -> impl FnOnce(DbErr) -> ProjectionError {
    move |source| ProjectionError::Database { step, source }
}

/// One kind's table, as the generic writer needs it.
trait KindTable: EntityTrait + Default
where
    Self::Model: IntoActiveModel<Self::ActiveModel> + Clone,
{
    const KIND: EntryKind;
    const ENTRY_ID: Self::Column;
    const DOCUMENT_ID: Self::Column;
    const LOCAL_DATE: Self::Column;
    const SYNCED_AT: Self::Column;
    const LATE: Self::Column;
    fn id(row: &Self::Model) -> Uuid;
    fn date(row: &Self::Model) -> NaiveDate;
    fn valid(row: &Self::Model) -> bool;
}

macro_rules! kind_table {
    ($module:ident, $kind:expr) => {
        impl KindTable for $module::Entity {
            const KIND: EntryKind = $kind;
            const ENTRY_ID: $module::Column = $module::Column::EntryId;
            const DOCUMENT_ID: $module::Column = $module::Column::DocumentId;
            const LOCAL_DATE: $module::Column = $module::Column::LocalDate;
            const SYNCED_AT: $module::Column = $module::Column::SyncedAt;
            const LATE: $module::Column = $module::Column::Late;
            fn id(row: &$module::Model) -> Uuid {
                row.entry_id
            }
            fn date(row: &$module::Model) -> NaiveDate {
                row.local_date
            }
            fn valid(row: &$module::Model) -> bool {
                row.valid
            }
        }
    };
}

kind_table!(pain_entries, EntryKind::Pain);
kind_table!(medication_intakes, EntryKind::Medication);
kind_table!(exercise_sessions, EntryKind::Exercise);
kind_table!(wellbeing_entries, EntryKind::Wellbeing);
kind_table!(peg_checkins, EntryKind::Checkin);
kind_table!(questionnaire_responses, EntryKind::Questionnaire);

/// Writes everything collected from the document for `scope`.
pub(crate) async fn write(
    conn: &impl ConnectionTrait,
    target: &ProjectionTarget<'_>,
    now: DateTime<Utc>,
    mut collected: Collected,
    scope: &Scope,
) -> Result<ProjectionSummary, ProjectionError> {
    let mut summary = ProjectionSummary::default();
    let rows = std::mem::take(&mut collected.pain);
    summary.pain_days =
        write_kind::<pain_entries::Entity>(conn, target, scope, rows, &mut collected, &mut summary)
            .await?;
    let rows = std::mem::take(&mut collected.medication);
    summary.intake_days = write_kind::<medication_intakes::Entity>(
        conn,
        target,
        scope,
        rows,
        &mut collected,
        &mut summary,
    )
    .await?;
    let rows = std::mem::take(&mut collected.exercise);
    write_kind::<exercise_sessions::Entity>(
        conn,
        target,
        scope,
        rows,
        &mut collected,
        &mut summary,
    )
    .await?;
    let rows = std::mem::take(&mut collected.wellbeing);
    write_kind::<wellbeing_entries::Entity>(
        conn,
        target,
        scope,
        rows,
        &mut collected,
        &mut summary,
    )
    .await?;
    let rows = std::mem::take(&mut collected.checkin);
    write_kind::<peg_checkins::Entity>(conn, target, scope, rows, &mut collected, &mut summary)
        .await?;
    let rows = std::mem::take(&mut collected.questionnaire);
    summary.questionnaire_days = write_kind::<questionnaire_responses::Entity>(
        conn,
        target,
        scope,
        rows,
        &mut collected,
        &mut summary,
    )
    .await?;
    summary.unreadable = collected.unprojected.len();
    write_issues(conn, target, now, collected.issues, scope).await?;
    tracing::debug!(
        document_id = target.document_id,
        upserted = summary.upserted,
        invalid = summary.invalid,
        unreadable = summary.unreadable,
        "projected"
    );
    Ok(summary)
}

/// Upserts one kind's rows and deletes the document's rows in scope that are gone.
/// Returns the local days of the rows written or deleted, before and after.
async fn write_kind<E>(
    conn: &impl ConnectionTrait,
    target: &ProjectionTarget<'_>,
    scope: &Scope,
    mut rows: Vec<E::Model>,
    collected: &mut Collected,
    summary: &mut ProjectionSummary,
) -> Result<BTreeSet<NaiveDate>, ProjectionError>
where
    E: KindTable,
    E::Model: IntoActiveModel<E::ActiveModel> + Clone,
{
    let mut days = BTreeSet::new();
    let scoped_ids = scope.ids(E::KIND);
    if scoped_ids.is_some_and(<[Uuid]>::is_empty) {
        return Ok(days);
    }

    // Rows already there: this document's (to find the ones that went away and the days
    // they were on) and other documents' rows under the same UUIDs (never overwritten).
    let row_ids: Vec<Uuid> = rows.iter().map(E::id).collect();
    let mut existing: Vec<(Uuid, String, NaiveDate)> = Vec::new();
    match scoped_ids {
        Some(ids) => {
            for chunk in ids.chunks(IDS_PER_STATEMENT) {
                existing.extend(
                    select_existing::<E>(conn, E::ENTRY_ID.is_in(chunk.iter().copied())).await?,
                );
            }
        }
        None => {
            existing
                .extend(select_existing::<E>(conn, E::DOCUMENT_ID.eq(target.document_id)).await?);
            for chunk in row_ids.chunks(IDS_PER_STATEMENT) {
                let cond = Condition::all()
                    .add(E::ENTRY_ID.is_in(chunk.iter().copied()))
                    .add(E::DOCUMENT_ID.ne(target.document_id));
                existing.extend(select_existing::<E>(conn, cond).await?);
            }
        }
    }

    let foreign: HashSet<Uuid> = existing
        .iter()
        .filter(|(_, doc, _)| doc != target.document_id)
        .map(|(id, _, _)| *id)
        .collect();
    if !foreign.is_empty() {
        rows.retain(|row| {
            let id = E::id(row);
            if foreign.contains(&id) {
                let key = id.to_string();
                collected.add_issue(
                    E::KIND,
                    key.clone(),
                    DUPLICATE_ENTRY_ID,
                    "entry ID is already projected from another document".to_owned(),
                );
                collected.unprojected.insert((E::KIND, key));
                false
            } else {
                true
            }
        });
    }
    let kept: HashSet<Uuid> = rows.iter().map(E::id).collect();
    let mut stale = Vec::new();
    for (id, doc, date) in &existing {
        if doc == target.document_id {
            days.insert(*date);
            if !kept.contains(id) {
                stale.push(*id);
            }
        }
    }
    for chunk in stale.chunks(IDS_PER_STATEMENT) {
        E::delete_many()
            .filter(E::DOCUMENT_ID.eq(target.document_id))
            .filter(E::ENTRY_ID.is_in(chunk.iter().copied()))
            .exec(conn)
            .await
            .map_err(db("deleting rows of entries gone from the document"))?;
    }

    days.extend(rows.iter().map(E::date));
    summary.upserted += rows.len();
    summary.invalid += rows.iter().filter(|r| !E::valid(r)).count();
    let on_conflict = upsert_rule::<E>(conn.get_database_backend());
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let batch: Vec<E::Model> = rows.by_ref().take(ROWS_PER_STATEMENT).collect();
        E::insert_many(batch.into_iter().map(IntoActiveModel::into_active_model))
            .on_conflict(on_conflict.clone())
            .exec_without_returning(conn)
            .await
            .map_err(db("upserting projected rows"))?;
    }
    Ok(days)
}

async fn select_existing<E: KindTable>(
    conn: &impl ConnectionTrait,
    cond: impl sea_orm::sea_query::IntoCondition,
) -> Result<Vec<(Uuid, String, NaiveDate)>, ProjectionError>
where
    E::Model: IntoActiveModel<E::ActiveModel> + Clone,
{
    E::find()
        .select_only()
        .column(E::ENTRY_ID)
        .column(E::DOCUMENT_ID)
        .column(E::LOCAL_DATE)
        .filter(cond)
        .into_tuple::<(Uuid, String, NaiveDate)>()
        .all(conn)
        .await
        .map_err(db("reading projected rows"))
}

/// `ON CONFLICT (entry_id) DO UPDATE SET <every column but entry_id and synced_at>`, with
/// `late` recomputed from the stored `synced_at`, and only when the stored row belongs to
/// the same document.
fn upsert_rule<E>(backend: DbBackend) -> OnConflict
where
    E: KindTable,
    E::Model: IntoActiveModel<E::ActiveModel> + Clone,
{
    let fixed = [
        E::ENTRY_ID.as_str(),
        E::SYNCED_AT.as_str(),
        E::LATE.as_str(),
    ];
    let table = E::default().table_name();
    let mut rule = OnConflict::column(E::ENTRY_ID);
    rule.update_columns(E::Column::iter().filter(|c| !fixed.contains(&c.as_str())))
        .value(E::LATE, late_expr(backend, table))
        .action_and_where(
            Expr::col((Alias::new(table), E::DOCUMENT_ID))
                .equals((Alias::new("excluded"), E::DOCUMENT_ID)),
        );
    rule
}

/// `stored synced_at - new recorded_at > 24 h`, in whole seconds, in each dialect.
fn late_expr(backend: DbBackend, table: &str) -> Expr {
    let sql = match backend {
        DbBackend::Postgres => format!(
            "floor(extract(epoch from \"{table}\".\"synced_at\")) \
             - floor(extract(epoch from \"excluded\".\"recorded_at\")) > {LATE_AFTER_SECS}"
        ),
        _ => format!(
            "CAST(strftime('%s', \"{table}\".\"synced_at\") AS INTEGER) \
             - CAST(strftime('%s', \"excluded\".\"recorded_at\") AS INTEGER) > {LATE_AFTER_SECS}"
        ),
    };
    Expr::cust(sql)
}

/// Replaces the document's issues in scope with `issues`: stale ones are deleted, the rest
/// upserted (keeping `first_seen_at`).
async fn write_issues(
    conn: &impl ConnectionTrait,
    target: &ProjectionTarget<'_>,
    now: DateTime<Utc>,
    issues: BTreeMap<(EntryKind, String, String), String>,
    scope: &Scope,
) -> Result<(), ProjectionError> {
    use entry_issues::Column as C;

    let mut existing: Vec<(String, String, String)> = Vec::new();
    let select = |cond: Condition| {
        entry_issues::Entity::find()
            .select_only()
            .column(C::Kind)
            .column(C::EntryKey)
            .column(C::ReasonCode)
            .filter(C::DocumentId.eq(target.document_id))
            .filter(cond)
            .into_tuple::<(String, String, String)>()
            .all(conn)
    };
    match scope {
        Scope::Document => {
            existing = select(Condition::all())
                .await
                .map_err(db("reading entry issues"))?;
        }
        Scope::Entries(map, unkeyed) => {
            for (kind, ids) in map {
                for chunk in ids.chunks(IDS_PER_STATEMENT) {
                    let cond = Condition::all()
                        .add(C::Kind.eq(kind.as_str()))
                        .add(C::EntryKey.is_in(chunk.iter().map(Uuid::to_string)));
                    existing.extend(select(cond).await.map_err(db("reading entry issues"))?);
                }
            }
            let unkeyed: Vec<&(EntryKind, String)> = unkeyed.iter().collect();
            for chunk in unkeyed.chunks(ISSUES_PER_DELETE) {
                let mut any = Condition::any();
                for (kind, key) in chunk {
                    any = any.add(
                        Condition::all()
                            .add(C::Kind.eq(kind.as_str()))
                            .add(C::EntryKey.eq(key.as_str())),
                    );
                }
                existing.extend(select(any).await.map_err(db("reading entry issues"))?);
            }
        }
    }

    let wanted: BTreeSet<(&str, &str, &str)> = issues
        .keys()
        .map(|(kind, key, code)| (kind.as_str(), key.as_str(), code.as_str()))
        .collect();
    let stale: Vec<&(String, String, String)> = existing
        .iter()
        .filter(|(kind, key, code)| !wanted.contains(&(kind.as_str(), key.as_str(), code.as_str())))
        .collect();
    for chunk in stale.chunks(ISSUES_PER_DELETE) {
        let mut any = Condition::any();
        for (kind, key, code) in chunk {
            any = any.add(
                Condition::all()
                    .add(C::Kind.eq(kind.as_str()))
                    .add(C::EntryKey.eq(key.as_str()))
                    .add(C::ReasonCode.eq(code.as_str())),
            );
        }
        entry_issues::Entity::delete_many()
            .filter(C::DocumentId.eq(target.document_id))
            .filter(any)
            .exec(conn)
            .await
            .map_err(db("deleting entry issues that no longer apply"))?;
    }

    let mut rule = OnConflict::columns([C::DocumentId, C::Kind, C::EntryKey, C::ReasonCode]);
    rule.update_columns([C::PatientId, C::Reason, C::LastSeenAt]);
    let mut models = issues
        .into_iter()
        .map(|((kind, key, code), reason)| entry_issues::Model {
            patient_id: target.patient,
            document_id: target.document_id.to_owned(),
            kind: kind.as_str().to_owned(),
            entry_key: key,
            reason_code: code,
            reason,
            first_seen_at: now,
            last_seen_at: now,
        })
        .peekable();
    while models.peek().is_some() {
        let batch: Vec<entry_issues::Model> = models.by_ref().take(ROWS_PER_STATEMENT).collect();
        entry_issues::Entity::insert_many(
            batch.into_iter().map(IntoActiveModel::into_active_model),
        )
        .on_conflict(rule.clone())
        .exec_without_returning(conn)
        .await
        .map_err(db("upserting entry issues"))?;
    }
    Ok(())
}

/// One document's part of a [`write_many`] batch: its touched entries' rows and issues.
pub(crate) struct Member {
    pub(crate) patient: Uuid,
    pub(crate) document_id: String,
    pub(crate) now: DateTime<Utc>,
    pub(crate) collected: Collected,
    pub(crate) scope: BTreeMap<EntryKind, Vec<Uuid>>,
    /// Touched keys that are not UUIDs (their issues are in scope, they have no rows).
    pub(crate) unkeyed: BTreeSet<(EntryKind, String)>,
    /// Local days whose pain or medication rows changed (new and previous dates), for
    /// alert evaluation; filled by [`write_many`].
    pub(crate) changed_days: BTreeSet<NaiveDate>,
    /// The subset of `changed_days` whose medication rows changed (the opioid and PRN
    /// rules decide on these days only).
    pub(crate) medication_days: BTreeSet<NaiveDate>,
    /// Local days whose questionnaire response rows changed (the questionnaire rules
    /// look at the responses of these days).
    pub(crate) questionnaire_days: BTreeSet<NaiveDate>,
}

/// The local days a member's write changed, for alert evaluation.
#[derive(Debug, Default, Clone)]
pub struct ChangedDays {
    /// Days whose pain or medication rows changed (new and previous dates).
    pub all: BTreeSet<NaiveDate>,
    /// Of those, the days whose medication rows changed.
    pub medication: BTreeSet<NaiveDate>,
    /// Days whose questionnaire response rows changed (not in `all`: the pain and
    /// medication rules have nothing new to decide on them).
    pub questionnaire: BTreeSet<NaiveDate>,
}

/// Writes the touched entries of several documents (each at most once) with shared
/// statements: per kind one select of the rows already there and one multi-row upsert,
/// then one select and one upsert of issues; deletes only where rows or issues went away.
/// Each row ends up exactly as [`write`] would leave it document by document, in order:
/// an entry ID claimed by an earlier member (or already stored for another document) is a
/// duplicate for the later one.
pub(crate) async fn write_many(
    conn: &impl ConnectionTrait,
    mut members: Vec<Member>,
) -> Result<Vec<(String, ChangedDays)>, ProjectionError> {
    write_kind_many::<pain_entries::Entity>(conn, &mut members, |c| std::mem::take(&mut c.pain))
        .await?;
    write_kind_many::<medication_intakes::Entity>(conn, &mut members, |c| {
        std::mem::take(&mut c.medication)
    })
    .await?;
    write_kind_many::<exercise_sessions::Entity>(conn, &mut members, |c| {
        std::mem::take(&mut c.exercise)
    })
    .await?;
    write_kind_many::<wellbeing_entries::Entity>(conn, &mut members, |c| {
        std::mem::take(&mut c.wellbeing)
    })
    .await?;
    write_kind_many::<peg_checkins::Entity>(conn, &mut members, |c| std::mem::take(&mut c.checkin))
        .await?;
    write_kind_many::<questionnaire_responses::Entity>(conn, &mut members, |c| {
        std::mem::take(&mut c.questionnaire)
    })
    .await?;
    let changed = members
        .iter_mut()
        .map(|m| {
            (
                m.document_id.clone(),
                ChangedDays {
                    all: std::mem::take(&mut m.changed_days),
                    medication: std::mem::take(&mut m.medication_days),
                    questionnaire: std::mem::take(&mut m.questionnaire_days),
                },
            )
        })
        .collect();
    write_issues_many(conn, members).await?;
    Ok(changed)
}

async fn write_kind_many<E>(
    conn: &impl ConnectionTrait,
    members: &mut [Member],
    take: impl Fn(&mut Collected) -> Vec<E::Model>,
) -> Result<(), ProjectionError>
where
    E: KindTable,
    E::Model: IntoActiveModel<E::ActiveModel> + Clone,
{
    let all_ids: Vec<Uuid> = members
        .iter()
        .filter_map(|m| m.scope.get(&E::KIND))
        .flatten()
        .copied()
        .collect();
    if all_ids.is_empty() {
        return Ok(());
    }
    let mut existing: Vec<(Uuid, String, NaiveDate)> = Vec::new();
    for chunk in all_ids.chunks(IDS_PER_STATEMENT) {
        existing
            .extend(select_existing::<E>(conn, E::ENTRY_ID.is_in(chunk.iter().copied())).await?);
    }
    // Entry ID -> the document whose row it is (stored, or claimed earlier in this batch).
    let mut owner: HashMap<Uuid, String> = existing
        .iter()
        .map(|(id, doc, _)| (*id, doc.clone()))
        .collect();
    let mut upserts: Vec<E::Model> = Vec::new();
    for member in members.iter_mut() {
        let Some(scoped) = member.scope.get(&E::KIND) else {
            continue;
        };
        let scoped: HashSet<Uuid> = scoped.iter().copied().collect();
        let mut rows = take(&mut member.collected);
        rows.retain(|row| {
            let id = E::id(row);
            match owner.get(&id) {
                Some(doc) if *doc != member.document_id => {
                    let key = id.to_string();
                    member.collected.add_issue(
                        E::KIND,
                        key.clone(),
                        DUPLICATE_ENTRY_ID,
                        "entry ID is already projected from another document".to_owned(),
                    );
                    member.collected.unprojected.insert((E::KIND, key));
                    false
                }
                _ => true,
            }
        });
        for row in &rows {
            owner.insert(E::id(row), member.document_id.clone());
        }
        let kept: HashSet<Uuid> = rows.iter().map(E::id).collect();
        if matches!(E::KIND, EntryKind::Pain | EntryKind::Medication) {
            // The alert rules look at the days these rows were on and are on now.
            let days: BTreeSet<NaiveDate> = existing
                .iter()
                .filter(|(id, doc, _)| *doc == member.document_id && scoped.contains(id))
                .map(|(_, _, date)| *date)
                .chain(rows.iter().map(E::date))
                .collect();
            if E::KIND == EntryKind::Medication {
                member.medication_days.extend(days.iter().copied());
            }
            member.changed_days.extend(days);
        }
        if E::KIND == EntryKind::Questionnaire {
            member.questionnaire_days.extend(
                existing
                    .iter()
                    .filter(|(id, doc, _)| *doc == member.document_id && scoped.contains(id))
                    .map(|(_, _, date)| *date)
                    .chain(rows.iter().map(E::date)),
            );
        }
        let stale: Vec<Uuid> = existing
            .iter()
            .filter(|(id, doc, _)| {
                *doc == member.document_id && scoped.contains(id) && !kept.contains(id)
            })
            .map(|(id, _, _)| *id)
            .collect();
        for chunk in stale.chunks(IDS_PER_STATEMENT) {
            E::delete_many()
                .filter(E::DOCUMENT_ID.eq(member.document_id.as_str()))
                .filter(E::ENTRY_ID.is_in(chunk.iter().copied()))
                .exec(conn)
                .await
                .map_err(db("deleting rows of entries gone from the document"))?;
        }
        upserts.extend(rows);
    }
    let on_conflict = upsert_rule::<E>(conn.get_database_backend());
    let mut rows = upserts.into_iter().peekable();
    while rows.peek().is_some() {
        let batch: Vec<E::Model> = rows.by_ref().take(ROWS_PER_STATEMENT).collect();
        E::insert_many(batch.into_iter().map(IntoActiveModel::into_active_model))
            .on_conflict(on_conflict.clone())
            .exec_without_returning(conn)
            .await
            .map_err(db("upserting projected rows"))?;
    }
    Ok(())
}

async fn write_issues_many(
    conn: &impl ConnectionTrait,
    members: Vec<Member>,
) -> Result<(), ProjectionError> {
    use entry_issues::Column as C;

    let documents: Vec<&str> = members.iter().map(|m| m.document_id.as_str()).collect();
    let keys: Vec<String> = members
        .iter()
        .flat_map(|m| {
            m.scope
                .values()
                .flatten()
                .map(Uuid::to_string)
                .chain(m.unkeyed.iter().map(|(_, key)| key.clone()))
        })
        .collect();
    let mut existing: Vec<(String, String, String, String)> = Vec::new();
    for chunk in keys.chunks(IDS_PER_STATEMENT) {
        existing.extend(
            entry_issues::Entity::find()
                .select_only()
                .column(C::DocumentId)
                .column(C::Kind)
                .column(C::EntryKey)
                .column(C::ReasonCode)
                .filter(C::DocumentId.is_in(documents.iter().copied()))
                .filter(C::EntryKey.is_in(chunk.iter().cloned()))
                .into_tuple::<(String, String, String, String)>()
                .all(conn)
                .await
                .map_err(db("reading entry issues"))?,
        );
    }
    let mut models = Vec::new();
    for member in members {
        let scoped: HashSet<(&str, String)> = member
            .scope
            .iter()
            .flat_map(|(kind, ids)| ids.iter().map(|id| (kind.as_str(), id.to_string())))
            .chain(
                member
                    .unkeyed
                    .iter()
                    .map(|(kind, key)| (kind.as_str(), key.clone())),
            )
            .collect();
        let wanted: BTreeSet<(&str, &str, &str)> = member
            .collected
            .issues
            .keys()
            .map(|(kind, key, code)| (kind.as_str(), key.as_str(), code.as_str()))
            .collect();
        let stale: Vec<&(String, String, String, String)> = existing
            .iter()
            .filter(|(doc, kind, key, code)| {
                *doc == member.document_id
                    && scoped.contains(&(kind.as_str(), key.clone()))
                    && !wanted.contains(&(kind.as_str(), key.as_str(), code.as_str()))
            })
            .collect();
        for chunk in stale.chunks(ISSUES_PER_DELETE) {
            let mut any = Condition::any();
            for (_, kind, key, code) in chunk {
                any = any.add(
                    Condition::all()
                        .add(C::Kind.eq(kind.as_str()))
                        .add(C::EntryKey.eq(key.as_str()))
                        .add(C::ReasonCode.eq(code.as_str())),
                );
            }
            entry_issues::Entity::delete_many()
                .filter(C::DocumentId.eq(member.document_id.as_str()))
                .filter(any)
                .exec(conn)
                .await
                .map_err(db("deleting entry issues that no longer apply"))?;
        }
        let Member {
            patient,
            document_id,
            now,
            collected,
            ..
        } = member;
        models.extend(
            collected
                .issues
                .into_iter()
                .map(|((kind, key, code), reason)| entry_issues::Model {
                    patient_id: patient,
                    document_id: document_id.clone(),
                    kind: kind.as_str().to_owned(),
                    entry_key: key,
                    reason_code: code,
                    reason,
                    first_seen_at: now,
                    last_seen_at: now,
                }),
        );
    }
    let mut rule = OnConflict::columns([C::DocumentId, C::Kind, C::EntryKey, C::ReasonCode]);
    rule.update_columns([C::PatientId, C::Reason, C::LastSeenAt]);
    let mut models = models.into_iter().peekable();
    while models.peek().is_some() {
        let batch: Vec<entry_issues::Model> = models.by_ref().take(ROWS_PER_STATEMENT).collect();
        entry_issues::Entity::insert_many(
            batch.into_iter().map(IntoActiveModel::into_active_model),
        )
        .on_conflict(rule.clone())
        .exec_without_returning(conn)
        .await
        .map_err(db("upserting entry issues"))?;
    }
    Ok(())
}
