//! Lenient, typed reading of fields from Automerge maps: strings as Text or scalars,
//! numbers as any numeric scalar, instants as timestamps, milliseconds or RFC 3339.

use automerge::{ObjId, ObjType, ReadDoc, ScalarValue, ScalarValueRef, Value, ValueRef};
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

/// Reads `key` of `obj` as a string: a scalar string or an Automerge Text object.
pub(crate) fn opt_string<D: ReadDoc>(
    doc: &D,
    obj: &ObjId,
    key: &'static str,
) -> Result<Option<String>, FieldError> {
    match doc.get(obj, key) {
        Ok(None) => Ok(None),
        Ok(Some((Value::Scalar(s), _))) => match s.as_ref() {
            ScalarValue::Str(text) => Ok(Some(cap(text.as_str()))),
            ScalarValue::Null => Ok(None),
            _ => Err(FieldError::WrongType {
                field: key,
                expected: "a string",
            }),
        },
        Ok(Some((Value::Object(ObjType::Text), id))) => doc
            .text(&id)
            .map(|t| Some(cap(&t)))
            .map_err(|_| FieldError::WrongType {
                field: key,
                expected: "a string",
            }),
        Ok(Some((Value::Object(_), _))) | Err(_) => Err(FieldError::WrongType {
            field: key,
            expected: "a string",
        }),
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
    match doc.get(obj, key) {
        Ok(None) => Ok(None),
        Ok(Some((Value::Scalar(s), _))) => match s.as_ref() {
            ScalarValue::Int(i) => Ok(Some(*i as f64)),
            ScalarValue::Uint(u) => Ok(Some(*u as f64)),
            ScalarValue::F64(f) if f.is_finite() => Ok(Some(*f)),
            ScalarValue::Counter(c) => Ok(Some(i64::from(c) as f64)),
            ScalarValue::Null => Ok(None),
            _ => Err(FieldError::WrongType {
                field: key,
                expected: "a number",
            }),
        },
        Ok(Some(_)) | Err(_) => Err(FieldError::WrongType {
            field: key,
            expected: "a number",
        }),
    }
}

/// Reads a required number.
pub(crate) fn number<D: ReadDoc>(
    doc: &D,
    obj: &ObjId,
    key: &'static str,
) -> Result<f64, FieldError> {
    opt_number(doc, obj, key)?.ok_or(FieldError::Missing(key))
}

/// Reads `key` as a boolean.
pub(crate) fn opt_bool<D: ReadDoc>(
    doc: &D,
    obj: &ObjId,
    key: &'static str,
) -> Result<Option<bool>, FieldError> {
    match doc.get(obj, key) {
        Ok(None) => Ok(None),
        Ok(Some((Value::Scalar(s), _))) => match s.as_ref() {
            ScalarValue::Boolean(b) => Ok(Some(*b)),
            ScalarValue::Null => Ok(None),
            _ => Err(FieldError::WrongType {
                field: key,
                expected: "true or false",
            }),
        },
        Ok(Some(_)) | Err(_) => Err(FieldError::WrongType {
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
    let wrong = FieldError::WrongType {
        field: key,
        expected: "a timestamp",
    };
    let millis = |ms: i64| Utc.timestamp_millis_opt(ms).single();
    match doc.get(obj, key) {
        Ok(None) => Ok(None),
        Ok(Some((Value::Scalar(s), _))) => match s.as_ref() {
            ScalarValue::Timestamp(ms) | ScalarValue::Int(ms) => millis(*ms).map(Some).ok_or(wrong),
            ScalarValue::Uint(ms) => i64::try_from(*ms)
                .ok()
                .and_then(millis)
                .map(Some)
                .ok_or(wrong),
            ScalarValue::Str(text) => parse_rfc3339(text).map(Some).ok_or(wrong),
            ScalarValue::Null => Ok(None),
            _ => Err(wrong),
        },
        Ok(Some((Value::Object(ObjType::Text), id))) => doc
            .text(&id)
            .ok()
            .and_then(|t| parse_rfc3339(&t))
            .map(Some)
            .ok_or(wrong),
        Ok(Some(_)) | Err(_) => Err(wrong),
    }
}

fn parse_rfc3339(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text.trim())
        .ok()
        .map(|d| d.with_timezone(&Utc))
}

/// Reads a required instant.
pub(crate) fn instant<D: ReadDoc>(
    doc: &D,
    obj: &ObjId,
    key: &'static str,
) -> Result<DateTime<Utc>, FieldError> {
    opt_instant(doc, obj, key)?.ok_or(FieldError::Missing(key))
}

/// Reads `key` as a list of strings (each a scalar string or Text); absent is empty.
/// At most [`MAX_LIST_ITEMS`] items are read.
pub(crate) fn string_list<D: ReadDoc>(
    doc: &D,
    obj: &ObjId,
    key: &'static str,
) -> Result<Vec<String>, FieldError> {
    let wrong = FieldError::WrongType {
        field: key,
        expected: "a list of strings",
    };
    let list = match doc.get(obj, key) {
        Ok(None) => return Ok(Vec::new()),
        Ok(Some((Value::Object(ObjType::List), id))) => id,
        Ok(Some((Value::Scalar(s), _))) if matches!(s.as_ref(), ScalarValue::Null) => {
            return Ok(Vec::new());
        }
        Ok(Some(_)) | Err(_) => return Err(wrong),
    };
    let mut out = Vec::new();
    for item in doc.list_range(&list, ..).take(MAX_LIST_ITEMS) {
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
