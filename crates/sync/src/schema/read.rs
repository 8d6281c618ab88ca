//! Lenient, typed reading of fields from Automerge maps: strings as Text or scalars,
//! numbers as any numeric scalar, instants as timestamps, milliseconds or RFC 3339.
//!
//! A field is first taken out of the document as a [`Raw`] value, then read as its schema
//! type. One field is found with `get` (the `opt_string(doc, obj, key)` family); the fields
//! of a map are found in one pass with [`MapFields::read`], and those of many maps (a
//! month's entries) in one pass with [`read_tree`]. Each `get` seeks through the
//! document's columns afresh, which costs microseconds: a pass seeks once.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use automerge::iter::{DocItem, DocObjItem};
use automerge::{
    AutomergeError, ObjId, ObjType, ReadDoc, ScalarValue, ScalarValueRef, Value, ValueRef,
};
use chrono::{DateTime, TimeZone, Utc};

/// Why one field of an entry could not be read (its type is wrong, not its value).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FieldError {
    /// A required field is absent.
    #[error("field `{0}` is missing")]
    Missing(&'static str),
    /// The field holds a value of another type than the schema says.
    #[error("field `{field}` should be {expected}")]
    WrongType {
        /// The field's name.
        field: &'static str,
        /// What the schema expects, in words.
        expected: &'static str,
    },
}

/// The longest string we read out of a document; longer values are cut here so one huge
/// string cannot make every read of the document expensive. Validation reports the length.
pub(crate) const MAX_READ_CHARS: usize = 64 * 1024;

/// The most list items read from one field; validation reports lists longer than its limit.
pub(crate) const MAX_LIST_ITEMS: usize = 256;

/// A field's value as found in a document (the winner when devices wrote it concurrently),
/// before it is read as its schema type.
#[derive(Debug, Clone)]
pub(crate) enum Raw<'a> {
    /// A scalar string.
    Str(Cow<'a, str>),
    /// A signed integer.
    Int(i64),
    /// An unsigned integer.
    Uint(u64),
    /// A float.
    F64(f64),
    /// A counter's current value.
    Counter(i64),
    /// An Automerge timestamp (milliseconds since the epoch).
    Timestamp(i64),
    /// A boolean.
    Bool(bool),
    /// Null, which every reader treats as absent.
    Null,
    /// A Text object.
    Text(ObjId),
    /// A List object.
    List(ObjId),
    /// A List object's first [`MAX_LIST_ITEMS`] items, already read (Text items as `Str`).
    Items(Vec<Raw<'a>>),
    /// A Map object (a field holding a map, such as a questionnaire's `answers`).
    Map(ObjId),
    /// A Map object's first [`MAX_LIST_ITEMS`] keys and their scalar values, already read
    /// (anything but a scalar as [`Raw::Other`]).
    Pairs(Vec<(Cow<'a, str>, Raw<'a>)>),
    /// Anything no reader accepts: bytes, unknown scalars, maps, tables, or a field the
    /// document refused to give.
    Other,
}

impl<'a> Raw<'a> {
    /// What `doc.get` found, borrowing its strings.
    fn from_get(found: &'a Result<Option<(Value<'_>, ObjId)>, AutomergeError>) -> Option<Self> {
        match found {
            Ok(None) => None,
            Ok(Some((Value::Scalar(s), _))) => Some(match s.as_ref() {
                ScalarValue::Str(text) => Raw::Str(Cow::Borrowed(text.as_str())),
                ScalarValue::Int(i) => Raw::Int(*i),
                ScalarValue::Uint(u) => Raw::Uint(*u),
                ScalarValue::F64(f) => Raw::F64(*f),
                ScalarValue::Counter(c) => Raw::Counter(i64::from(c)),
                ScalarValue::Timestamp(ms) => Raw::Timestamp(*ms),
                ScalarValue::Boolean(b) => Raw::Bool(*b),
                ScalarValue::Null => Raw::Null,
                ScalarValue::Bytes(_) | ScalarValue::Unknown { .. } => Raw::Other,
            }),
            Ok(Some((Value::Object(ObjType::Text), id))) => Some(Raw::Text(id.clone())),
            Ok(Some((Value::Object(ObjType::List), id))) => Some(Raw::List(id.clone())),
            Ok(Some((Value::Object(ObjType::Map), id))) => Some(Raw::Map(id.clone())),
            Ok(Some((Value::Object(_), _))) | Err(_) => Some(Raw::Other),
        }
    }

    /// A scalar from a pass over a map or list.
    fn from_scalar(value: ScalarValueRef<'a>) -> Self {
        match value {
            ScalarValueRef::Str(text) => Raw::Str(text),
            ScalarValueRef::Int(i) => Raw::Int(i),
            ScalarValueRef::Uint(u) => Raw::Uint(u),
            ScalarValueRef::F64(f) => Raw::F64(f),
            ScalarValueRef::Counter(c) => Raw::Counter(c),
            ScalarValueRef::Timestamp(ms) => Raw::Timestamp(ms),
            ScalarValueRef::Boolean(b) => Raw::Bool(b),
            ScalarValueRef::Null => Raw::Null,
            ScalarValueRef::Bytes(_) | ScalarValueRef::Unknown { .. } => Raw::Other,
        }
    }
}

/// The names of the fields a reader wants, each with its place among the values found.
pub(crate) struct Fields<const N: usize> {
    /// The names; `slot(names[i]) == Some(i)`.
    pub(crate) names: [&'static str; N],
    /// The place of a name (a `match`: looking names up is most of the work of a pass).
    pub(crate) slot: fn(&str) -> Option<usize>,
}

impl<const N: usize> Fields<N> {
    fn slot(&self, key: &str) -> Option<usize> {
        let slot = (self.slot)(key);
        debug_assert!(slot.is_none_or(|i| self.names[i] == key), "slot of {key}");
        slot
    }
}

/// The fields of one map, found in a single pass: only those named in `names` are kept
/// (unknown fields are ignored, and cost no memory however many there are).
pub(crate) struct MapFields<'a, D, const N: usize> {
    doc: &'a D,
    names: &'static Fields<N>,
    values: [Option<Raw<'a>>; N],
}

impl<'a, D: ReadDoc, const N: usize> MapFields<'a, D, N> {
    /// Reads the fields of the map `obj` named in `names`.
    pub(crate) fn read(doc: &'a D, obj: &ObjId, names: &'static Fields<N>) -> Self {
        let mut values = [const { None }; N];
        for item in doc.map_range(obj, ..) {
            if let Some(slot) = names.slot(&item.key) {
                values[slot] = Some(match &item.value {
                    ValueRef::Scalar(s) => Raw::from_scalar(s.clone()),
                    ValueRef::Object(ObjType::Text) => Raw::Text(item.id()),
                    ValueRef::Object(ObjType::List) => Raw::List(item.id()),
                    ValueRef::Object(ObjType::Map) => Raw::Map(item.id()),
                    ValueRef::Object(ObjType::Table) => Raw::Other,
                });
            }
        }
        Self { doc, names, values }
    }

    /// The fields of something that is not a map: every field has the wrong type, as
    /// `get` of a key on it fails.
    pub(crate) fn not_a_map(doc: &'a D, names: &'static Fields<N>) -> Self {
        Self::from_values(doc, names, [const { Some(Raw::Other) }; N])
    }

    /// Fields already found (by [`read_tree`]).
    fn from_values(doc: &'a D, names: &'static Fields<N>, values: [Option<Raw<'a>>; N]) -> Self {
        Self { doc, names, values }
    }

    fn get(&self, key: &'static str) -> Option<&Raw<'a>> {
        match self.names.slot(key) {
            Some(slot) => self.values[slot].as_ref(),
            None => {
                debug_assert!(false, "field `{key}` was not read");
                None
            }
        }
    }

    /// A string field; see [`opt_string`].
    pub(crate) fn opt_string(&self, key: &'static str) -> Result<Option<String>, FieldError> {
        raw_opt_string(self.doc, key, self.get(key))
    }

    /// A required string field.
    pub(crate) fn string(&self, key: &'static str) -> Result<String, FieldError> {
        self.opt_string(key)?.ok_or(FieldError::Missing(key))
    }

    /// A number field; see [`opt_number`].
    pub(crate) fn opt_number(&self, key: &'static str) -> Result<Option<f64>, FieldError> {
        raw_opt_number(key, self.get(key))
    }

    /// A required number field.
    pub(crate) fn number(&self, key: &'static str) -> Result<f64, FieldError> {
        self.opt_number(key)?.ok_or(FieldError::Missing(key))
    }

    /// A boolean field; see [`opt_bool`].
    pub(crate) fn opt_bool(&self, key: &'static str) -> Result<Option<bool>, FieldError> {
        raw_opt_bool(key, self.get(key))
    }

    /// An instant field; see [`opt_instant`].
    pub(crate) fn opt_instant(
        &self,
        key: &'static str,
    ) -> Result<Option<DateTime<Utc>>, FieldError> {
        raw_opt_instant(self.doc, key, self.get(key))
    }

    /// A required instant field.
    pub(crate) fn instant(&self, key: &'static str) -> Result<DateTime<Utc>, FieldError> {
        self.opt_instant(key)?.ok_or(FieldError::Missing(key))
    }

    /// A list of strings (each a scalar string or Text); absent is empty. At most
    /// [`MAX_LIST_ITEMS`] items are read.
    pub(crate) fn string_list(&self, key: &'static str) -> Result<Vec<String>, FieldError> {
        raw_string_list(self.doc, key, self.get(key))
    }

    /// A map of numbers (keys as found, at most [`MAX_LIST_ITEMS`]); absent is empty.
    pub(crate) fn number_map(
        &self,
        key: &'static str,
    ) -> Result<std::collections::BTreeMap<String, f64>, FieldError> {
        raw_number_map(self.doc, key, self.get(key))
    }
}

fn raw_number_map<D: ReadDoc>(
    doc: &D,
    key: &'static str,
    raw: Option<&Raw<'_>>,
) -> Result<std::collections::BTreeMap<String, f64>, FieldError> {
    let wrong = || FieldError::WrongType {
        field: key,
        expected: "a map of numbers",
    };
    let mut out = std::collections::BTreeMap::new();
    match raw {
        None | Some(Raw::Null) => {}
        Some(Raw::Pairs(pairs)) => {
            for (k, v) in pairs {
                let n = raw_opt_number(key, Some(v))
                    .ok()
                    .flatten()
                    .ok_or_else(wrong)?;
                out.insert(k.chars().take(64).collect(), n);
            }
        }
        Some(Raw::Map(id)) => {
            for item in doc.map_range(id, ..).take(MAX_LIST_ITEMS) {
                let v = match item.value {
                    ValueRef::Scalar(s) => Raw::from_scalar(s),
                    ValueRef::Object(_) => Raw::Other,
                };
                let n = raw_opt_number(key, Some(&v))
                    .ok()
                    .flatten()
                    .ok_or_else(wrong)?;
                out.insert(item.key.chars().take(64).collect(), n);
            }
        }
        Some(_) => return Err(wrong()),
    }
    Ok(out)
}

/// Reads `key` of `obj` as a string: a scalar string or an Automerge Text object.
pub(crate) fn opt_string<D: ReadDoc>(
    doc: &D,
    obj: &ObjId,
    key: &'static str,
) -> Result<Option<String>, FieldError> {
    let found = doc.get(obj, key);
    raw_opt_string(doc, key, Raw::from_get(&found).as_ref())
}

fn raw_opt_string<D: ReadDoc>(
    doc: &D,
    key: &'static str,
    raw: Option<&Raw<'_>>,
) -> Result<Option<String>, FieldError> {
    let wrong = || FieldError::WrongType {
        field: key,
        expected: "a string",
    };
    match raw {
        None | Some(Raw::Null) => Ok(None),
        Some(Raw::Str(text)) => Ok(Some(cap(text))),
        Some(Raw::Text(id)) => doc.text(id).map(|t| Some(cap(&t))).map_err(|_| wrong()),
        Some(_) => Err(wrong()),
    }
}

fn cap(text: &str) -> String {
    match text.char_indices().nth(MAX_READ_CHARS) {
        Some((cut, _)) => text[..cut].to_owned(),
        None => text.to_owned(),
    }
}

/// Reads a required string.
pub(crate) fn string<D: ReadDoc>(
    doc: &D,
    obj: &ObjId,
    key: &'static str,
) -> Result<String, FieldError> {
    opt_string(doc, obj, key)?.ok_or(FieldError::Missing(key))
}

/// Reads `key` as a number from an int, uint, float or counter scalar.
pub(crate) fn opt_number<D: ReadDoc>(
    doc: &D,
    obj: &ObjId,
    key: &'static str,
) -> Result<Option<f64>, FieldError> {
    let found = doc.get(obj, key);
    raw_opt_number(key, Raw::from_get(&found).as_ref())
}

fn raw_opt_number(key: &'static str, raw: Option<&Raw<'_>>) -> Result<Option<f64>, FieldError> {
    match raw {
        None | Some(Raw::Null) => Ok(None),
        Some(Raw::Int(i)) => Ok(Some(*i as f64)),
        Some(Raw::Uint(u)) => Ok(Some(*u as f64)),
        Some(Raw::F64(f)) if f.is_finite() => Ok(Some(*f)),
        Some(Raw::Counter(c)) => Ok(Some(*c as f64)),
        Some(_) => Err(FieldError::WrongType {
            field: key,
            expected: "a number",
        }),
    }
}

/// Reads `key` as a boolean.
pub(crate) fn opt_bool<D: ReadDoc>(
    doc: &D,
    obj: &ObjId,
    key: &'static str,
) -> Result<Option<bool>, FieldError> {
    let found = doc.get(obj, key);
    raw_opt_bool(key, Raw::from_get(&found).as_ref())
}

fn raw_opt_bool(key: &'static str, raw: Option<&Raw<'_>>) -> Result<Option<bool>, FieldError> {
    match raw {
        None | Some(Raw::Null) => Ok(None),
        Some(Raw::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(FieldError::WrongType {
            field: key,
            expected: "true or false",
        }),
    }
}

/// Reads `key` as a UTC instant: an Automerge timestamp (what JS writes for a `Date`),
/// an integer of milliseconds since the epoch, or an RFC 3339 string.
pub(crate) fn opt_instant<D: ReadDoc>(
    doc: &D,
    obj: &ObjId,
    key: &'static str,
) -> Result<Option<DateTime<Utc>>, FieldError> {
    let found = doc.get(obj, key);
    raw_opt_instant(doc, key, Raw::from_get(&found).as_ref())
}

fn raw_opt_instant<D: ReadDoc>(
    doc: &D,
    key: &'static str,
    raw: Option<&Raw<'_>>,
) -> Result<Option<DateTime<Utc>>, FieldError> {
    let wrong = FieldError::WrongType {
        field: key,
        expected: "a timestamp",
    };
    let millis = |ms: i64| Utc.timestamp_millis_opt(ms).single();
    match raw {
        None | Some(Raw::Null) => Ok(None),
        Some(Raw::Timestamp(ms) | Raw::Int(ms)) => millis(*ms).map(Some).ok_or(wrong),
        Some(Raw::Uint(ms)) => i64::try_from(*ms)
            .ok()
            .and_then(millis)
            .map(Some)
            .ok_or(wrong),
        Some(Raw::Str(text)) => parse_rfc3339(text).map(Some).ok_or(wrong),
        Some(Raw::Text(id)) => doc
            .text(id)
            .ok()
            .and_then(|t| parse_rfc3339(&t))
            .map(Some)
            .ok_or(wrong),
        Some(_) => Err(wrong),
    }
}

fn parse_rfc3339(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text.trim())
        .ok()
        .map(|d| d.with_timezone(&Utc))
}

fn raw_string_list<D: ReadDoc>(
    doc: &D,
    key: &'static str,
    raw: Option<&Raw<'_>>,
) -> Result<Vec<String>, FieldError> {
    let wrong = FieldError::WrongType {
        field: key,
        expected: "a list of strings",
    };
    let list = match raw {
        None | Some(Raw::Null) => return Ok(Vec::new()),
        Some(Raw::List(id)) => id,
        Some(Raw::Items(items)) => {
            return items
                .iter()
                .map(|item| match item {
                    Raw::Str(text) => Ok(cap(text)),
                    _ => Err(wrong.clone()),
                })
                .collect();
        }
        Some(_) => return Err(wrong),
    };
    let mut out = Vec::new();
    for item in doc.list_range(list, ..).take(MAX_LIST_ITEMS) {
        match &item.value {
            ValueRef::Scalar(ScalarValueRef::Str(text)) => out.push(cap(text)),
            ValueRef::Object(ObjType::Text) => {
                let text = doc.text(item.id()).map_err(|_| wrong.clone())?;
                out.push(cap(&text));
            }
            _ => return Err(wrong),
        }
    }
    Ok(out)
}

/// What one map under the root of [`read_tree`] holds.
pub(crate) enum Found<'a, D, const N: usize> {
    /// A map, with its fields.
    Map(MapFields<'a, D, N>),
    /// A table: the pass cannot read it (tables are iterated like lists), so it is read
    /// on its own, with `map_range`.
    ReadAlone(ObjId),
    /// Anything but a map or table.
    NotAMap,
}

/// What a key of the container in [`read_tree`] holds.
enum Under {
    Map,
    Table(ObjId),
    Other,
}

/// Where the values of an object seen during [`read_tree`] go.
#[derive(Clone, Copy)]
enum Target {
    /// The container whose values are the maps read.
    Container,
    /// The map read as `found[i]`.
    Map(usize),
    /// The List or Text in field `slot` of map `i`.
    Field(usize, usize),
    /// The Text that is item `item` of the List in field `slot` of map `i`.
    ListItem(usize, usize, usize),
}

/// Reads many maps at once, in one pass over `root` and every object under it (Automerge
/// seeks once for the pass; each `get`, `map_range` or `list_range` seeks afresh, which is
/// what reading entry by entry spends its time on). With `container`, the values of `root`
/// are the maps read (at most `limit` of its keys are looked at), each returned with its
/// key; otherwise `root` itself is the one map read (its key is empty). Each map's fields
/// named in `names` are found, the contents of their Lists and Texts included, just as
/// [`MapFields::read`] and the readers find them.
pub(crate) fn read_tree<'a, D: ReadDoc, const N: usize>(
    doc: &'a D,
    root: &ObjId,
    names: &'static Fields<N>,
    container: bool,
    limit: usize,
) -> Vec<(Cow<'a, str>, Found<'a, D, N>)> {
    // Each key of the container (or the one root map), and what is under it.
    let mut keys: Vec<(Cow<'a, str>, Under)> = Vec::new();
    let mut maps: Vec<[Option<Raw<'a>>; N]> = Vec::new();
    let mut targets: HashMap<ObjId, Target> = HashMap::new();
    if container {
        targets.insert(root.clone(), Target::Container);
    } else {
        keys.push((Cow::Borrowed(""), Under::Map));
        maps.push([const { None }; N]);
        targets.insert(root.clone(), Target::Map(0));
    }
    let mut looked_at = 0;
    // Items come object by object: look the object up once per run of its items.
    let mut current: Option<(Arc<ObjId>, Option<Target>)> = None;
    for DocObjItem { obj, item } in doc.iter_at(root, None) {
        let target = match &current {
            Some((last, target)) if Arc::ptr_eq(last, &obj) => *target,
            _ => {
                let target = targets.get(obj.as_ref()).copied();
                current = Some((obj, target));
                target
            }
        };
        match (target, item) {
            (Some(Target::Container), DocItem::Map(m)) => {
                if looked_at >= limit {
                    continue;
                }
                looked_at += 1;
                match m.value {
                    ValueRef::Object(ObjType::Map) => {
                        let i = maps.len();
                        maps.push([const { None }; N]);
                        targets.insert(m.id(), Target::Map(i));
                        keys.push((m.key, Under::Map));
                    }
                    ValueRef::Object(ObjType::Table) => {
                        let id = m.id();
                        keys.push((m.key, Under::Table(id)));
                    }
                    _ => keys.push((m.key, Under::Other)),
                }
            }
            (Some(Target::Map(i)), DocItem::Map(m)) => {
                let Some(slot) = names.slot(&m.key) else {
                    continue;
                };
                let raw = match m.value {
                    ValueRef::Object(ObjType::Text) => {
                        targets.insert(m.id(), Target::Field(i, slot));
                        Raw::Str(Cow::Owned(String::new()))
                    }
                    ValueRef::Object(ObjType::List) => {
                        targets.insert(m.id(), Target::Field(i, slot));
                        Raw::Items(Vec::new())
                    }
                    ValueRef::Object(ObjType::Map) => {
                        targets.insert(m.id(), Target::Field(i, slot));
                        Raw::Pairs(Vec::new())
                    }
                    ValueRef::Scalar(s) => Raw::from_scalar(s),
                    ValueRef::Object(ObjType::Table) => Raw::Other,
                };
                maps[i][slot] = Some(raw);
            }
            (Some(Target::Field(i, slot)), DocItem::List(l)) => {
                if let Some(Raw::Items(items)) = &mut maps[i][slot]
                    && items.len() < MAX_LIST_ITEMS
                {
                    let raw = match l.value {
                        ValueRef::Scalar(ScalarValueRef::Str(text)) => Raw::Str(text),
                        ValueRef::Object(ObjType::Text) => {
                            targets.insert(l.id(), Target::ListItem(i, slot, items.len()));
                            Raw::Str(Cow::Owned(String::new()))
                        }
                        _ => Raw::Other,
                    };
                    items.push(raw);
                }
            }
            (Some(Target::Field(i, slot)), DocItem::Map(pair)) => {
                if let Some(Raw::Pairs(pairs)) = &mut maps[i][slot]
                    && pairs.len() < MAX_LIST_ITEMS
                {
                    let raw = match pair.value {
                        ValueRef::Scalar(s) => Raw::from_scalar(s),
                        ValueRef::Object(_) => Raw::Other,
                    };
                    pairs.push((pair.key, raw));
                }
            }
            (Some(Target::Field(i, slot)), DocItem::Text(span)) => {
                if let Some(Raw::Str(Cow::Owned(text))) = &mut maps[i][slot] {
                    text.push_str(span.as_str());
                }
            }
            (Some(Target::ListItem(i, slot, item)), DocItem::Text(span)) => {
                if let Some(Raw::Items(items)) = &mut maps[i][slot]
                    && let Some(Raw::Str(Cow::Owned(text))) = items.get_mut(item)
                {
                    text.push_str(span.as_str());
                }
            }
            // Anything else: keys past the limit and objects no field holds (nested maps,
            // blocks in a Text). Values that lost a conflict never come: the pass yields
            // what `get` would give.
            _ => {}
        }
    }
    // Maps were numbered in key order.
    let mut maps = maps.into_iter();
    keys.into_iter()
        .map(|(key, under)| {
            let found = match under {
                Under::Map => maps.next().map_or(Found::NotAMap, |values| {
                    Found::Map(MapFields::from_values(doc, names, values))
                }),
                Under::Table(id) => Found::ReadAlone(id),
                Under::Other => Found::NotAMap,
            };
            (key, found)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use automerge::transaction::Transactable;
    use automerge::{ActorId, AutoCommit, ROOT};

    use super::*;

    static NAMES: Fields<6> = Fields {
        names: ["count", "list", "note", "num", "text", "when"],
        slot: |key| NAMES.names.iter().position(|name| *name == key),
    };

    fn text(doc: &mut AutoCommit, obj: &ObjId, key: &str, value: &str) -> ObjId {
        let id = doc.put_object(obj, key, ObjType::Text).unwrap();
        doc.splice_text(&id, 0, 0, value).unwrap();
        id
    }

    /// Everything one field can hold, as JS and other clients write it.
    fn month() -> (AutoCommit, ObjId) {
        let mut doc = AutoCommit::new().with_actor(ActorId::from([1; 16]));
        let kind = doc.put_object(ROOT, "pain", ObjType::Map).unwrap();
        // Texts, lists of texts and strings, a block and a mark inside a text.
        let a = doc.put_object(&kind, "a", ObjType::Map).unwrap();
        let note = text(&mut doc, &a, "note", "hello world");
        doc.split_block(&note, 5).unwrap();
        text(&mut doc, &a, "when", " 2026-11-02T08:00:00+01:00 ");
        let list = doc.put_object(&a, "list", ObjType::List).unwrap();
        let item = doc.insert_object(&list, 0, ObjType::Text).unwrap();
        doc.splice_text(&item, 0, 0, "lower_back").unwrap();
        doc.insert(&list, 1, "hip_left").unwrap();
        doc.put(&a, "count", ScalarValue::counter(3)).unwrap();
        doc.increment(&a, "count", 4).unwrap();
        doc.put(&a, "unknown", "ignored").unwrap();
        // Wrong types, nulls and nested objects.
        let b = doc.put_object(&kind, "b", ObjType::Map).unwrap();
        doc.put(&b, "note", ScalarValue::Null).unwrap();
        doc.put(&b, "num", "seven").unwrap();
        let list = doc.put_object(&b, "list", ObjType::List).unwrap();
        doc.insert(&list, 0, "ok").unwrap();
        doc.insert(&list, 1, 7).unwrap();
        doc.put_object(&b, "text", ObjType::Map).unwrap();
        doc.put(&b, "when", ScalarValue::Timestamp(1_800_000_000_000))
            .unwrap();
        // Not a map, and a list longer than is read.
        doc.put(&kind, "c", 1).unwrap();
        let d = doc.put_object(&kind, "d", ObjType::Map).unwrap();
        let list = doc.put_object(&d, "list", ObjType::List).unwrap();
        for i in 0..MAX_LIST_ITEMS + 3 {
            doc.insert(&list, i, format!("x{i}")).unwrap();
        }
        doc.put(&d, "num", 2.5).unwrap();
        // Concurrent writes: the winner is read, as `get` gives it.
        let mut other = doc.fork().with_actor(ActorId::from([2; 16]));
        doc.put(&a, "num", 1).unwrap();
        other.put(&a, "num", 2).unwrap();
        text(&mut other, &b, "note", "from the other device");
        doc.put(&b, "note", "from this device").unwrap();
        doc.merge(&mut other).unwrap();
        (doc, kind)
    }

    fn all<D: ReadDoc>(f: &MapFields<'_, D, 6>) -> String {
        format!(
            "{:?} {:?} {:?} {:?} {:?} {:?}",
            f.opt_number("count"),
            f.string_list("list"),
            f.opt_string("note"),
            f.opt_number("num"),
            f.opt_string("text"),
            f.opt_instant("when"),
        )
    }

    #[test]
    fn one_pass_over_many_maps_finds_what_get_finds() {
        let (doc, kind) = month();
        let tree = read_tree(&doc, &kind, &NAMES, true, 100);
        let keys: Vec<_> = tree.iter().map(|(k, _)| k.to_string()).collect();
        assert_eq!(keys, ["a", "b", "c", "d"]);
        for (key, found) in &tree {
            match (doc.get(&kind, key.as_ref()).unwrap().unwrap(), found) {
                ((Value::Object(ObjType::Map), obj), Found::Map(fields)) => {
                    let one_by_one = MapFields::read(&doc, &obj, &NAMES);
                    assert_eq!(all(fields), all(&one_by_one), "entry {key}");
                    let alone = read_tree(&doc, &obj, &NAMES, false, 1);
                    let Some((_, Found::Map(alone))) = alone.first() else {
                        panic!("entry {key} read alone is a map");
                    };
                    assert_eq!(all(alone), all(&one_by_one), "entry {key}");
                    // And what the `get`-based readers give.
                    assert_eq!(
                        fields.opt_string("note"),
                        opt_string(&doc, &obj, "note"),
                        "entry {key}"
                    );
                    assert_eq!(fields.opt_number("num"), opt_number(&doc, &obj, "num"));
                    assert_eq!(fields.opt_instant("when"), opt_instant(&doc, &obj, "when"));
                }
                ((Value::Scalar(_), _), Found::NotAMap) => {}
                (value, _) => panic!("entry {key}: unexpected {value:?}"),
            }
        }
        let Found::Map(a) = &tree[0].1 else { panic!() };
        assert_eq!(a.opt_number("count"), Ok(Some(7.0)));
        assert_eq!(a.string_list("list").unwrap(), ["lower_back", "hip_left"]);
        assert_eq!(
            a.opt_string("note").unwrap().unwrap(),
            "hello\u{fffc} world"
        );
        let Found::Map(d) = &tree[3].1 else { panic!() };
        assert_eq!(d.string_list("list").unwrap().len(), MAX_LIST_ITEMS);
        assert_eq!(read_tree(&doc, &kind, &NAMES, true, 2).len(), 2);
    }
}
