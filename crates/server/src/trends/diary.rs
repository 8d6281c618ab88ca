//! What the patient page lists beside the charts, read from the projection: the patient's
//! own notes by day, how often each body region and pain quality was reported, the
//! entries the server found invalid or could not read (with their reasons), and the
//! first day with any pain entry (for the "all" range).

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::sea_query::{Expr, Func};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use uuid::Uuid;

use crate::entity::{
    entry_issues, exercise_sessions, medication_intakes, pain_entries, peg_checkins,
    wellbeing_entries,
};

/// Most notes listed for one range (newest first).
pub const MAX_NOTES: u64 = 300;
/// Most entry issues listed (newest first).
pub const MAX_ISSUES: u64 = 200;

/// One note the patient wrote with an entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Note {
    /// The local day of the entry.
    pub date: NaiveDate,
    /// When the entry was recorded.
    pub recorded_at: DateTime<Utc>,
    /// Which diary section: "pain", "medication", "exercise", "wellbeing", "check-in".
    pub kind: &'static str,
    /// The note.
    pub text: String,
}

/// The notes of the live entries in `from..=to`, newest first.
pub async fn notes(
    conn: &impl ConnectionTrait,
    patient: Uuid,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<Note>, DbErr> {
    let mut out = Vec::new();
    macro_rules! notes_of {
        ($m:ident, $kind:expr) => {{
            let rows: Vec<(NaiveDate, DateTime<Utc>, Option<String>)> = $m::Entity::find()
                .select_only()
                .columns([
                    $m::Column::LocalDate,
                    $m::Column::RecordedAt,
                    $m::Column::Note,
                ])
                .filter($m::Column::PatientId.eq(patient))
                .filter($m::Column::Deleted.eq(false))
                .filter($m::Column::Note.is_not_null())
                .filter($m::Column::LocalDate.between(from, to))
                .order_by_desc($m::Column::RecordedAt)
                .limit(MAX_NOTES)
                .into_tuple()
                .all(conn)
                .await?;
            for (date, recorded_at, text) in rows {
                if let Some(text) = text.filter(|t| !t.trim().is_empty()) {
                    out.push(Note {
                        date,
                        recorded_at,
                        kind: $kind,
                        text,
                    });
                }
            }
        }};
    }
    notes_of!(pain_entries, "pain");
    notes_of!(medication_intakes, "medication");
    notes_of!(exercise_sessions, "exercise");
    notes_of!(wellbeing_entries, "wellbeing");
    notes_of!(peg_checkins, "check-in");
    out.sort_by_key(|n| std::cmp::Reverse(n.recorded_at));
    out.truncate(usize::try_from(MAX_NOTES).unwrap_or(usize::MAX));
    Ok(out)
}

/// How many valid pain entries of `from..=to` named each body region and each quality,
/// most frequent first, and how many entries there were.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LocationCounts {
    /// (region code, entries naming it).
    pub regions: Vec<(String, u32)>,
    /// (quality code, entries naming it).
    pub qualities: Vec<(String, u32)>,
    /// Valid pain entries in the range.
    pub entries: u32,
}

fn count_codes(json: &str, into: &mut BTreeMap<String, u32>) {
    if let Ok(codes) = serde_json::from_str::<Vec<String>>(json) {
        for code in codes.into_iter().take(12) {
            *into.entry(code).or_default() += 1;
        }
    }
}

fn ranked(map: BTreeMap<String, u32>) -> Vec<(String, u32)> {
    let mut v: Vec<(String, u32)> = map.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    v
}

/// Region and quality frequencies of the valid pain entries in `from..=to`.
pub async fn locations(
    conn: &impl ConnectionTrait,
    patient: Uuid,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<LocationCounts, DbErr> {
    use pain_entries::Column as C;
    let rows: Vec<(String, String)> = pain_entries::Entity::find()
        .select_only()
        .columns([C::Locations, C::Qualities])
        .filter(C::PatientId.eq(patient))
        .filter(C::Valid.eq(true))
        .filter(C::Deleted.eq(false))
        .filter(C::LocalDate.between(from, to))
        .into_tuple()
        .all(conn)
        .await?;
    let mut regions = BTreeMap::new();
    let mut qualities = BTreeMap::new();
    for (l, q) in &rows {
        count_codes(l, &mut regions);
        count_codes(q, &mut qualities);
    }
    Ok(LocationCounts {
        regions: ranked(regions),
        qualities: ranked(qualities),
        entries: u32::try_from(rows.len()).unwrap_or(u32::MAX),
    })
}

/// The entries of the patient the server found invalid or could not read, newest first.
pub async fn issues(
    conn: &impl ConnectionTrait,
    patient: Uuid,
) -> Result<Vec<entry_issues::Model>, DbErr> {
    entry_issues::Entity::find()
        .filter(entry_issues::Column::PatientId.eq(patient))
        .order_by_desc(entry_issues::Column::LastSeenAt)
        .limit(MAX_ISSUES)
        .all(conn)
        .await
}

/// The first local day with a live pain entry, if any.
pub async fn first_pain_day(
    conn: &impl ConnectionTrait,
    patient: Uuid,
) -> Result<Option<NaiveDate>, DbErr> {
    use pain_entries::Column as C;
    let first: Option<Option<NaiveDate>> = pain_entries::Entity::find()
        .select_only()
        .column_as(Expr::from(Func::min(Expr::col(C::LocalDate))), "first")
        .filter(C::PatientId.eq(patient))
        .filter(C::Deleted.eq(false))
        .into_tuple()
        .one(conn)
        .await?;
    Ok(first.flatten())
}
