//! Reading and writing the entries of a month diary document: whole-document reads that
//! report unreadable entries instead of failing, single-entry reads for the projection,
//! field-level writes, tombstone deletes, and which entries a set of changes touched.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use automerge::transaction::{CommitOptions, Transactable};
use automerge::{
    AutoCommit, Automerge, Change, ObjId, ObjType, ROOT, ReadDoc, ScalarValue, Value, ValueRef,
};
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::entry::{ENTRY_FIELDS, Entry, EntryKind, ValidationError};
use super::read::{self, FieldError};
use crate::ids::EntryId;

/// The most entries of one kind read from one month (about 30 per day): a guard against a
/// runaway client, not a limit a patient can reach.
pub const MAX_ENTRIES_PER_KIND: usize = 10_000;

/// An entry read from a document, with its key.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredEntry {
    /// The entry's key (a UUID).
    pub id: EntryId,
    /// The entry.
    pub entry: Entry,
}

/// An entry that is in the document but cannot be read as its kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnreadableEntry {
    /// The map it sits in.
    pub kind: EntryKind,
    /// Its key as found (not necessarily a UUID), cut to 64 characters.
    pub key: String,
    /// What is wrong with it.
    pub reason: String,
}

/// Everything readable in a month document.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct MonthEntries {
    /// Readable entries (valid or not, deleted or not), ordered by kind then key.
    pub entries: Vec<StoredEntry>,
    /// Entries that could not be read at all.
    pub unreadable: Vec<UnreadableEntry>,
}

impl MonthEntries {
    /// Entries that are not deleted.
    pub fn live(&self) -> impl Iterator<Item = &StoredEntry> {
        self.entries.iter().filter(|e| !e.entry.meta().is_deleted())
    }
}

/// Why a write to a month document was refused. Nothing was written.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum WriteError {
    /// The entry would be invalid; each problem is listed.
    #[error("{}", join_errors(.0))]
    Invalid(Vec<ValidationError>),
    /// No entry of that kind has that ID.
    #[error("no {kind} entry {id}")]
    NotFound {
        /// The kind searched.
        kind: EntryKind,
        /// The ID searched.
        id: EntryId,
    },
    /// The field is not part of that kind of entry.
    #[error("{kind} entries have no field `{field}`")]
    UnknownField {
        /// The kind.
        kind: EntryKind,
        /// The field named.
        field: String,
    },
    /// The document lacks the kind's root map (it was not created from its genesis).
    #[error("the document has no `{0}` map; was it created from the canonical genesis?")]
    MissingMap(&'static str),
    /// Automerge refused the operation.
    #[error("the document refused the write")]
    Document,
}

fn join_errors(errors: &[ValidationError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// A value to write into one field.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldValue {
    /// A string (written as a scalar string).
    Text(String),
    /// A whole number.
    Int(i64),
    /// A decimal number.
    Float(f64),
    /// A boolean.
    Bool(bool),
    /// An instant (written as an Automerge timestamp, which JS reads as a `Date`).
    Instant(DateTime<Utc>),
    /// A list of strings (written as a new list: concurrent list edits resolve to one side).
    TextList(Vec<String>),
    /// A map of numbers (a questionnaire's `answers`), written as a new map: concurrent
    /// edits of the whole map resolve to one side.
    NumberMap(BTreeMap<String, f64>),
    /// Remove the field.
    Remove,
}

impl FieldValue {
    /// A number, written as an integer when it is whole (so JS sees an int, as it writes).
    pub fn number(value: f64) -> Self {
        if value.fract() == 0.0 && value.abs() < 9.0e15 {
            FieldValue::Int(value as i64)
        } else {
            FieldValue::Float(value)
        }
    }
}

/// The fields of each kind (besides the common `recorded_at`, `tz`, `deleted_at`,
/// `updated_at`), for checking edits.
pub fn fields_of(kind: EntryKind) -> &'static [&'static str] {
    match kind {
        EntryKind::Pain => &[
            "score",
            "worst",
            "least",
            "locations",
            "location_note",
            "qualities",
            "note",
        ],
        EntryKind::Medication => &[
            "drug",
            "rxnorm",
            "amount",
            "unit",
            "route",
            "status",
            "prn",
            "prn_reason",
            "note",
        ],
        EntryKind::Exercise => &["activity", "minutes", "sets", "reps", "exertion", "note"],
        EntryKind::Wellbeing => &["sleep_hours", "sleep_quality", "mood", "stress", "note"],
        EntryKind::Checkin => &["pain", "enjoyment", "activity", "note"],
        EntryKind::Questionnaire => &["instrument", "version", "answers", "note"],
    }
}

const COMMON_FIELDS: [&str; 2] = ["recorded_at", "tz"];

/// The field writes that store `entry` in full.
pub fn entry_fields(entry: &Entry) -> Vec<(&'static str, FieldValue)> {
    let meta = entry.meta();
    let mut f = vec![
        ("recorded_at", FieldValue::Instant(meta.recorded_at)),
        ("tz", FieldValue::Text(meta.tz.clone())),
    ];
    if let Some(at) = meta.deleted_at {
        f.push(("deleted_at", FieldValue::Instant(at)));
    }
    let opt_num = |f: &mut Vec<_>, key, v: Option<f64>| {
        if let Some(v) = v {
            f.push((key, FieldValue::number(v)));
        }
    };
    let opt_text = |f: &mut Vec<_>, key, v: &Option<String>| {
        if let Some(v) = v {
            f.push((key, FieldValue::Text(v.clone())));
        }
    };
    match entry {
        Entry::Pain(p) => {
            f.push(("score", FieldValue::number(p.score)));
            opt_num(&mut f, "worst", p.worst);
            opt_num(&mut f, "least", p.least);
            if !p.locations.is_empty() {
                f.push(("locations", FieldValue::TextList(p.locations.clone())));
            }
            opt_text(&mut f, "location_note", &p.location_note);
            if !p.qualities.is_empty() {
                f.push(("qualities", FieldValue::TextList(p.qualities.clone())));
            }
            opt_text(&mut f, "note", &p.note);
        }
        Entry::Medication(m) => {
            f.push(("drug", FieldValue::Text(m.drug.clone())));
            opt_text(&mut f, "rxnorm", &m.rxnorm);
            f.push(("amount", FieldValue::number(m.amount)));
            f.push(("unit", FieldValue::Text(m.unit.clone())));
            opt_text(&mut f, "route", &m.route);
            f.push(("status", FieldValue::Text(m.status.clone())));
            f.push(("prn", FieldValue::Bool(m.prn)));
            opt_text(&mut f, "prn_reason", &m.prn_reason);
            opt_text(&mut f, "note", &m.note);
        }
        Entry::Exercise(x) => {
            f.push(("activity", FieldValue::Text(x.activity.clone())));
            f.push(("minutes", FieldValue::number(x.minutes)));
            opt_num(&mut f, "sets", x.sets);
            opt_num(&mut f, "reps", x.reps);
            opt_num(&mut f, "exertion", x.exertion);
            opt_text(&mut f, "note", &x.note);
        }
        Entry::Wellbeing(w) => {
            opt_num(&mut f, "sleep_hours", w.sleep_hours);
            opt_num(&mut f, "sleep_quality", w.sleep_quality);
            opt_num(&mut f, "mood", w.mood);
            opt_num(&mut f, "stress", w.stress);
            opt_text(&mut f, "note", &w.note);
        }
        Entry::Checkin(c) => {
            f.push(("pain", FieldValue::number(c.pain)));
            f.push(("enjoyment", FieldValue::number(c.enjoyment)));
            f.push(("activity", FieldValue::number(c.activity)));
            opt_text(&mut f, "note", &c.note);
        }
        Entry::Questionnaire(q) => {
            f.push(("instrument", FieldValue::Text(q.instrument.clone())));
            f.push(("version", FieldValue::Text(q.version.clone())));
            f.push(("answers", FieldValue::NumberMap(q.answers.clone())));
            opt_text(&mut f, "note", &q.note);
        }
    }
    f
}

/// Every map object stored under a root key. Normally one; two when devices created the
/// key concurrently without a shared genesis (e.g. a client outside our SDK): entries are
/// read from all of them so that nothing either device wrote is hidden.
fn kind_maps<D: ReadDoc>(doc: &D, kind: EntryKind) -> Vec<ObjId> {
    doc.get_all(ROOT, kind.map_key())
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(value, id)| {
            matches!(value, Value::Object(ObjType::Map | ObjType::Table)).then_some(id)
        })
        .collect()
}

/// Finds the map object of one entry.
fn find_entry<D: ReadDoc>(doc: &D, kind: EntryKind, id: &EntryId) -> Option<ObjId> {
    let key = id.to_string();
    kind_maps(doc, kind)
        .into_iter()
        .find_map(|map| match doc.get(&map, key.as_str()) {
            Ok(Some((Value::Object(ObjType::Map | ObjType::Table), obj))) => Some(obj),
            _ => None,
        })
}

/// Reads every entry of a month document. An entry that cannot be read is reported in
/// [`MonthEntries::unreadable`]; it never hides the others.
pub fn read_entries<D: ReadDoc>(doc: &D) -> MonthEntries {
    let mut out = MonthEntries::default();
    for kind in EntryKind::ALL {
        let mut seen: BTreeMap<EntryId, ()> = BTreeMap::new();
        for map in kind_maps(doc, kind) {
            // One pass over the kind map and everything under it finds every entry's
            // fields; the map's values are what `get` would give (conflicts' winners).
            let found = match doc.object_type(&map) {
                Ok(ObjType::Map) => {
                    read::read_tree(doc, &map, &ENTRY_FIELDS, true, MAX_ENTRIES_PER_KIND)
                }
                // A table (never written by our SDK or JS) is read entry by entry.
                _ => doc
                    .map_range(&map, ..)
                    .take(MAX_ENTRIES_PER_KIND)
                    .map(|item| {
                        let found = match item.value {
                            ValueRef::Object(ObjType::Map | ObjType::Table) => {
                                read::Found::ReadAlone(item.id())
                            }
                            _ => read::Found::NotAMap,
                        };
                        (item.key, found)
                    })
                    .collect(),
            };
            for (key, found) in found {
                let key = key.into_owned();
                let Ok(id) = key.parse::<EntryId>() else {
                    out.unreadable.push(UnreadableEntry {
                        kind,
                        key: key.chars().take(64).collect(),
                        reason: "entry key is not a UUID".to_owned(),
                    });
                    continue;
                };
                if seen.insert(id, ()).is_some() {
                    continue;
                }
                let read = match found {
                    read::Found::Map(fields) => {
                        Entry::from_fields(&fields, kind).map_err(EntryReadError::from)
                    }
                    read::Found::ReadAlone(obj) => {
                        Entry::read(doc, &obj, kind).map_err(EntryReadError::from)
                    }
                    read::Found::NotAMap => Err(EntryReadError::NotAMap),
                };
                match read {
                    Ok(entry) => out.entries.push(StoredEntry { id, entry }),
                    Err(reason) => out.unreadable.push(UnreadableEntry {
                        kind,
                        key,
                        reason: reason.to_string(),
                    }),
                }
            }
        }
    }
    out.entries.sort_by_key(|e| (e.entry.kind(), e.id));
    out
}

/// Why a single entry could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EntryReadError {
    /// The value under the entry's key is not a map.
    #[error("entry is not a map")]
    NotAMap,
    /// A field has the wrong type or a required one is missing.
    #[error(transparent)]
    Field(#[from] FieldError),
}

fn read_entry_at<D: ReadDoc>(
    doc: &D,
    map: &ObjId,
    kind: EntryKind,
    key: &str,
) -> Result<Option<Entry>, EntryReadError> {
    match doc.get(map, key) {
        Ok(None) => Ok(None),
        Ok(Some((Value::Object(ObjType::Map | ObjType::Table), obj))) => {
            Ok(Some(Entry::read(doc, &obj, kind)?))
        }
        Ok(Some(_)) | Err(_) => Err(EntryReadError::NotAMap),
    }
}

/// Reads one entry, for projecting what a change touched without reading the whole month.
pub fn read_entry<D: ReadDoc>(
    doc: &D,
    kind: EntryKind,
    id: &EntryId,
) -> Result<Option<Entry>, EntryReadError> {
    let key = id.to_string();
    for map in kind_maps(doc, kind) {
        if let Some(entry) = read_entry_at(doc, &map, kind, &key)? {
            return Ok(Some(entry));
        }
    }
    Ok(None)
}

/// Adds a new entry after validating it as of `now`, in one commit. Returns its new ID.
pub fn add_entry(
    doc: &mut AutoCommit,
    entry: &Entry,
    now: DateTime<Utc>,
) -> Result<EntryId, WriteError> {
    let errors = entry.validate(now);
    if !errors.is_empty() {
        return Err(WriteError::Invalid(errors));
    }
    add_entry_unchecked(doc, EntryId::new(), entry, now)
}

/// Adds an entry under `id` without validating it: for tests and imports that must store
/// what a patient's device sent, valid or not. Prefer [`add_entry`].
pub fn add_entry_unchecked(
    doc: &mut AutoCommit,
    id: EntryId,
    entry: &Entry,
    now: DateTime<Utc>,
) -> Result<EntryId, WriteError> {
    let kind = entry.kind();
    let existing = kind_maps(doc, kind).into_iter().next();
    let result = (|| {
        let map = match existing {
            Some(map) => map,
            // Kinds added after schema v1's genesis (`questionnaires`) are not in the
            // genesis change: changing it would fork every month between old and new
            // apps. The first writer creates the map; two devices creating it offline
            // make two maps under one key, and readers read both (see `kind_maps`).
            None if kind.is_lazy() => doc
                .put_object(ROOT, kind.map_key(), ObjType::Map)
                .map_err(|_| WriteError::Document)?,
            None => return Err(WriteError::MissingMap(kind.map_key())),
        };
        let obj = doc
            .put_object(&map, id.to_string(), ObjType::Map)
            .map_err(|_| WriteError::Document)?;
        for (key, value) in entry_fields(entry) {
            put_field(doc, &obj, key, value)?;
        }
        Ok(())
    })();
    finish(doc, result, now).map(|()| id)
}

/// Sets or removes fields of an existing entry, touching only those fields, so a
/// concurrent edit of another field on another device survives. The entry as edited must
/// be valid as of `now`, otherwise nothing is written.
pub fn edit_entry(
    doc: &mut AutoCommit,
    kind: EntryKind,
    id: &EntryId,
    changes: &[(&str, FieldValue)],
    now: DateTime<Utc>,
) -> Result<(), WriteError> {
    for (field, _) in changes {
        if !fields_of(kind).contains(field) && !COMMON_FIELDS.contains(field) {
            return Err(WriteError::UnknownField {
                kind,
                field: field.chars().take(40).collect(),
            });
        }
    }
    let obj = find_entry(doc, kind, id).ok_or(WriteError::NotFound { kind, id: *id })?;
    let result = (|| {
        for (field, value) in changes {
            put_field(doc, &obj, field, value.clone())?;
        }
        put_field(doc, &obj, "updated_at", FieldValue::Instant(now))?;
        match Entry::read(&*doc, &obj, kind) {
            Ok(entry) => {
                let errors = entry.validate(now);
                if errors.is_empty() {
                    Ok(())
                } else {
                    Err(WriteError::Invalid(errors))
                }
            }
            Err(e) => Err(WriteError::Invalid(vec![match e {
                FieldError::Missing(field) => ValidationError::Required {
                    field,
                    expected: "present",
                },
                FieldError::WrongType { field, expected } => {
                    ValidationError::Required { field, expected }
                }
            }])),
        }
    })();
    finish(doc, result, now)
}

/// Marks an entry deleted (a `deleted_at` tombstone; the entry stays in the history).
pub fn delete_entry(
    doc: &mut AutoCommit,
    kind: EntryKind,
    id: &EntryId,
    now: DateTime<Utc>,
) -> Result<(), WriteError> {
    let obj = find_entry(doc, kind, id).ok_or(WriteError::NotFound { kind, id: *id })?;
    let result = put_field(doc, &obj, "deleted_at", FieldValue::Instant(now))
        .and_then(|()| put_field(doc, &obj, "updated_at", FieldValue::Instant(now)));
    finish(doc, result, now)
}

fn finish(
    doc: &mut AutoCommit,
    result: Result<(), WriteError>,
    now: DateTime<Utc>,
) -> Result<(), WriteError> {
    match result {
        Ok(()) => {
            doc.commit_with(CommitOptions::default().with_time(now.timestamp()));
            Ok(())
        }
        Err(e) => {
            doc.rollback();
            Err(e)
        }
    }
}

pub(crate) fn put_field(
    doc: &mut AutoCommit,
    obj: &ObjId,
    key: &str,
    value: FieldValue,
) -> Result<(), WriteError> {
    let scalar = match value {
        FieldValue::Text(s) => ScalarValue::Str(s.into()),
        FieldValue::Int(i) => ScalarValue::Int(i),
        FieldValue::Float(f) => ScalarValue::F64(f),
        FieldValue::Bool(b) => ScalarValue::Boolean(b),
        FieldValue::Instant(at) => ScalarValue::Timestamp(at.timestamp_millis()),
        FieldValue::Remove => return doc.delete(obj, key).map_err(|_| WriteError::Document),
        FieldValue::NumberMap(items) => {
            let map = doc
                .put_object(obj, key, ObjType::Map)
                .map_err(|_| WriteError::Document)?;
            for (link, value) in items {
                let value = match FieldValue::number(value) {
                    FieldValue::Int(i) => ScalarValue::Int(i),
                    _ => ScalarValue::F64(value),
                };
                doc.put(&map, link, value)
                    .map_err(|_| WriteError::Document)?;
            }
            return Ok(());
        }
        FieldValue::TextList(items) => {
            let list = doc
                .put_object(obj, key, ObjType::List)
                .map_err(|_| WriteError::Document)?;
            for (i, item) in items.into_iter().enumerate() {
                doc.insert(&list, i, item)
                    .map_err(|_| WriteError::Document)?;
            }
            return Ok(());
        }
    };
    doc.put(obj, key, scalar).map_err(|_| WriteError::Document)
}

/// Which entries the given changes touched (created, edited or deleted), found from the
/// changes' own operations rather than by re-reading the month. A change that replaces a
/// whole kind map (unusual: a foreign client without our genesis) marks every entry of that
/// kind, read from the document.
pub fn touched_entries(doc: &Automerge, changes: &[Change]) -> BTreeSet<(EntryKind, EntryId)> {
    touched_entry_keys(doc, changes).entries
}

/// What a set of changes touched: the entries under UUID keys, and the keys that are not
/// UUIDs (a foreign client's mistake), which readers report as unreadable.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TouchedEntries {
    /// Entries under UUID keys.
    pub entries: BTreeSet<(EntryKind, EntryId)>,
    /// Keys of kind maps that are not UUIDs, as found (a report cuts them to 64
    /// characters, as [`UnreadableEntry::key`] is).
    pub unkeyed: BTreeSet<(EntryKind, String)>,
}

impl TouchedEntries {
    /// Whether nothing was touched.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty() && self.unkeyed.is_empty()
    }
}

impl From<BTreeSet<(EntryKind, EntryId)>> for TouchedEntries {
    fn from(entries: BTreeSet<(EntryKind, EntryId)>) -> Self {
        Self {
            entries,
            unkeyed: BTreeSet::new(),
        }
    }
}

/// [`touched_entries`], plus the touched keys that are not UUIDs.
pub fn touched_entry_keys(doc: &Automerge, changes: &[Change]) -> TouchedEntries {
    let mut touched = BTreeSet::new();
    let mut unkeyed = BTreeSet::new();
    let mut whole_kinds = BTreeSet::new();
    // Many operations of one change share their object (one entry's fields).
    let mut resolved: HashMap<String, Option<(EntryKind, Option<String>)>> = HashMap::new();
    // Changes that include a document's first change (no dependencies: a month's first
    // sync) built everything the document holds, so every entry was touched. Reading the
    // kind maps once is much cheaper than finding each operation's entry: on a 240-entry
    // month pushed at once, locating every operation was 15% of the server's CPU.
    let whole_document = changes.iter().any(|c| c.deps().is_empty());
    if whole_document {
        whole_kinds.extend(EntryKind::ALL);
    }
    for change in changes.iter().filter(|_| !whole_document) {
        for op in change.decode().operations {
            let (kind, key) = match &op.obj {
                automerge::legacy::ObjectId::Root => match &op.key {
                    automerge::legacy::Key::Map(k) => match EntryKind::from_map_key(k) {
                        Some(kind) => {
                            whole_kinds.insert(kind);
                            continue;
                        }
                        None => continue,
                    },
                    automerge::legacy::Key::Seq(_) => continue,
                },
                automerge::legacy::ObjectId::Id(op_id) => {
                    let text = op_id.to_string();
                    let place = resolved
                        .entry(text)
                        .or_insert_with_key(|text| locate(doc, text))
                        .clone();
                    match place {
                        Some((kind, Some(entry_key))) => (kind, entry_key),
                        // The object is a kind map itself: the op's key is the entry's key.
                        Some((kind, None)) => match &op.key {
                            automerge::legacy::Key::Map(k) => (kind, k.to_string()),
                            automerge::legacy::Key::Seq(_) => continue,
                        },
                        None => continue,
                    }
                }
            };
            match key.parse::<EntryId>() {
                Ok(id) => {
                    touched.insert((kind, id));
                }
                Err(_) => {
                    unkeyed.insert((kind, key));
                }
            }
        }
    }
    for kind in whole_kinds {
        for map in kind_maps(doc, kind) {
            for item in doc.map_range(&map, ..).take(MAX_ENTRIES_PER_KIND) {
                match item.key.parse::<EntryId>() {
                    Ok(id) => {
                        touched.insert((kind, id));
                    }
                    Err(_) => {
                        unkeyed.insert((kind, item.key.into_owned()));
                    }
                }
            }
        }
    }
    TouchedEntries {
        entries: touched,
        unkeyed,
    }
}

/// Whether a kind map of the document holds `key` (an entry of any shape), for keys that
/// are not UUIDs and so cannot be read with [`read_entry`].
pub fn has_entry_key<D: ReadDoc>(doc: &D, kind: EntryKind, key: &str) -> bool {
    kind_maps(doc, kind)
        .into_iter()
        .any(|map| matches!(doc.get(&map, key), Ok(Some(_))))
}

/// Finds where an object sits: under which kind map and (unless it is the kind map) which
/// entry key.
fn locate(doc: &Automerge, op_id: &str) -> Option<(EntryKind, Option<String>)> {
    let obj = doc.import_obj(op_id).ok()?;
    let parents = doc.parents(&obj).ok()?;
    // Parents run from the object up to the root; the last two steps name the kind map
    // and the entry.
    let path: Vec<_> = parents.map(|p| p.prop).collect();
    let mut from_root = path.into_iter().rev();
    let kind = match from_root.next()? {
        automerge::Prop::Map(k) => EntryKind::from_map_key(&k)?,
        automerge::Prop::Seq(_) => return None,
    };
    match from_root.next() {
        None => Some((kind, None)),
        Some(automerge::Prop::Map(entry)) => Some((kind, Some(entry))),
        Some(automerge::Prop::Seq(_)) => None,
    }
}
