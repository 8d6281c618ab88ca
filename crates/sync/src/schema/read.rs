//! Lenient, typed reading of fields from Automerge maps: strings as Text or scalars,
//! numbers as any numeric scalar, instants as timestamps, milliseconds or RFC 3339.
//!
//! A field is first taken out of the document as a [`Raw`] value, then read as its schema
//! type. One field is found with `get` (the `opt_string(doc, obj, key)` family); all fields
//! of a map are found in one pass with [`MapFields`], which is what reading many entries
//! needs: each `get` seeks through the document's columns afresh, a pass over the map
//! seeks once.

use std::borrow::Cow;

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
            Ok(Some((Value::Object(_), _))) | Err(_) => Some(Raw::Other),
        }
    }

    /// A value from a pass over a map; `id` is asked for only when it is an object.
    fn from_value_ref(value: ValueRef<'a>, id: impl FnOnce() -> ObjId) -> Self {
        match value {
            ValueRef::Scalar(s) => match s {
                ScalarValueRef::Str(text) => Raw::Str(text),
                ScalarValueRef::Int(i) => Raw::Int(i),
                ScalarValueRef::Uint(u) => Raw::Uint(u),
                ScalarValueRef::F64(f) => Raw::F64(f),
                ScalarValueRef::Counter(c) => Raw::Counter(c),
                ScalarValueRef::Timestamp(ms) => Raw::Timestamp(ms),
                ScalarValueRef::Boolean(b) => Raw::Bool(b),
                ScalarValueRef::Null => Raw::Null,
                ScalarValueRef::Bytes(_) | ScalarValueRef::Unknown { .. } => Raw::Other,
            },
            ValueRef::Object(ObjType::Text) => Raw::Text(id()),
            ValueRef::Object(ObjType::List) => Raw::List(id()),
            ValueRef::Object(ObjType::Map | ObjType::Table) => Raw::Other,
        }
    }
}

/// The fields of one map, found in a single pass: only those named in `names` are kept
/// (unknown fields are ignored, and cost no memory however many there are).
pub(crate) struct MapFields<'a, D, const N: usize> {
    doc: &'a D,
    names: &'static [&'static str; N],
    values: [Option<Raw<'a>>; N],
}

impl<'a, D: ReadDoc, const N: usize> MapFields<'a, D, N> {
    /// Reads the fields of the map `obj` named in `names` (which must be sorted).
    pub(crate) fn read(doc: &'a D, obj: &ObjId, names: &'static [&'static str; N]) -> Self {
        debug_assert!(names.is_sorted(), "field names must be sorted");
        let mut values = [const { None }; N];
        for item in doc.map_range(obj, ..) {
            if let Ok(slot) = names.binary_search(&item.key.as_ref()) {
                values[slot] = Some(Raw::from_value_ref(item.value.clone(), || item.id()));
            }
        }
        Self { doc, names, values }
    }

    fn get(&self, key: &'static str) -> Option<&Raw<'a>> {
        match self.names.binary_search(&key) {
            Ok(slot) => self.values[slot].as_ref(),
            Err(_) => {
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
