//! The automerge-repo protocol v1 messages and their CBOR wire form.
//!
//! Each WebSocket frame holds one CBOR map with a `type` field. Field names on the wire are
//! camelCase (`senderId`, `documentId`, ...); here they are `snake_case`. Unknown extra
//! fields are ignored so newer peers can add fields; missing or mistyped known fields are
//! a [`DecodeError`] naming the field. Errors never echo payload bytes, and the one
//! string they may echo (an unknown `type`, or a duplicated key) is cut to 32 characters.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::fmt;
use std::str::FromStr;

use minicbor::Encoder;
use minicbor::encode::Error as EncodeError;

use super::cbor::{self, CborError, CborLimits, CborValue};
use crate::ids::{DocumentId, DocumentIdError};

/// The protocol version this codec speaks, as it appears in `supportedProtocolVersions`.
pub const PROTOCOL_VERSION: &str = "1";

/// The longest peer or storage ID accepted, in bytes of UTF-8.
pub const MAX_ID_BYTES: usize = 256;

/// First byte of an Automerge sync message (v1).
pub const SYNC_MESSAGE_V1: u8 = 0x42;

/// First byte of an Automerge sync message (v2).
pub const SYNC_MESSAGE_V2: u8 = 0x43;

/// How many characters of a peer-supplied string an error may echo.
const MAX_ECHO_CHARS: usize = 32;

/// Why a peer or storage ID was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// The ID is the empty string.
    #[error("identifier is empty")]
    Empty,
    /// The ID is longer than [`MAX_ID_BYTES`].
    #[error("identifier is {0} bytes, over the limit of {MAX_ID_BYTES}")]
    TooLong(usize),
}

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// Checks and wraps an ID: non-empty, at most [`MAX_ID_BYTES`] bytes.
            ///
            /// # Errors
            /// [`IdError::Empty`] or [`IdError::TooLong`].
            pub fn new(id: impl Into<String>) -> Result<Self, IdError> {
                let id = id.into();
                if id.is_empty() {
                    Err(IdError::Empty)
                } else if id.len() > MAX_ID_BYTES {
                    Err(IdError::TooLong(id.len()))
                } else {
                    Ok(Self(id))
                }
            }

            /// The ID as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// The ID's text, by value.
            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), self.0)
            }
        }

        impl FromStr for $name {
            type Err = IdError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::new(s)
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;

            fn try_from(s: String) -> Result<Self, Self::Error> {
                Self::new(s)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

string_id!(
    /// A peer's ID as it announces itself (`senderId`, `targetId`): any non-empty text of
    /// at most [`MAX_ID_BYTES`] bytes. It is a claim, not an identity: authenticate
    /// elsewhere.
    PeerId
);

string_id!(
    /// A storage ID (a peer's persistent storage, used to key sync state and remote
    /// heads): any non-empty text of at most [`MAX_ID_BYTES`] bytes.
    StorageId
);

/// Decoding limits for one frame. The server configuration may lower them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The largest frame accepted, in bytes (default 16 MiB).
    pub max_frame_bytes: usize,
    /// The longest text string accepted, in bytes (default 64 KiB). Byte strings (`data`)
    /// are bounded by `max_frame_bytes` only.
    pub max_string_bytes: usize,
    /// The deepest nesting of arrays and maps accepted (default 16, never above
    /// [`cbor::HARD_MAX_DEPTH`]).
    pub max_depth: usize,
    /// The most CBOR data items (keys, values and elements at any depth) one frame may
    /// hold (default 65,536); an array or map declaring more than are left is refused
    /// before anything is allocated.
    pub max_items: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_frame_bytes: 16 * 1024 * 1024,
            max_string_bytes: 64 * 1024,
            max_depth: 16,
            max_items: 65_536,
        }
    }
}

impl Limits {
    fn cbor(&self) -> CborLimits {
        CborLimits {
            max_input_bytes: self.max_frame_bytes,
            max_depth: self.max_depth,
            max_items: self.max_items,
            max_text_bytes: self.max_string_bytes,
        }
    }
}

/// What a peer says about itself in `join` and `peer` (`peerMetadata` on the wire).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PeerMetadata {
    /// The peer's storage ID, if it persists documents.
    pub storage_id: Option<StorageId>,
    /// Whether the peer keeps no state worth remembering sync state for. An absent
    /// `isEphemeral` (optional in the JS types) decodes as `false`.
    pub is_ephemeral: bool,
}

/// A document's heads as seen by one storage ID (one entry of `newHeads`).
#[derive(Debug, Clone, PartialEq)]
pub struct RemoteHeads {
    /// The heads, as hex change hashes.
    pub heads: Vec<String>,
    /// When the heads were observed (JS `Date.now()`, milliseconds since the epoch).
    pub timestamp: f64,
}

/// One automerge-repo protocol v1 message.
///
/// `Request` and `Sync` carry an Automerge sync message in `data`; [`Message::decode`]
/// checks its first byte, [`Message::encode`] does not (it writes what it is given).
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    /// `join`: the client's opening message.
    Join {
        /// The client's peer ID.
        sender_id: PeerId,
        /// The client's metadata (`peerMetadata`, or `metadata` as the spec text says).
        peer_metadata: Option<PeerMetadata>,
        /// The protocol versions the client speaks (`["1"]`).
        supported_protocol_versions: Vec<String>,
    },
    /// `peer`: the server's answer to `join`.
    Peer {
        /// The server's peer ID.
        sender_id: PeerId,
        /// The client's peer ID.
        target_id: PeerId,
        /// The version chosen (`"1"`).
        selected_protocol_version: String,
        /// The server's metadata.
        peer_metadata: Option<PeerMetadata>,
    },
    /// `error`: a fatal problem; the sender closes the connection.
    Error {
        /// A human-readable description.
        message: String,
    },
    /// `leave`: the sender is going away.
    Leave {
        /// Who is leaving.
        sender_id: PeerId,
    },
    /// `request`: the first sync message for a document the sender does not have.
    Request {
        /// The document.
        document_id: DocumentId,
        /// The sender.
        sender_id: PeerId,
        /// The recipient.
        target_id: PeerId,
        /// An Automerge sync message (first byte 0x42 or 0x43).
        data: Vec<u8>,
        /// The optional `docType` some clients send.
        doc_type: Option<String>,
    },
    /// `sync`: an Automerge sync message for a document.
    Sync {
        /// The document.
        document_id: DocumentId,
        /// The sender.
        sender_id: PeerId,
        /// The recipient.
        target_id: PeerId,
        /// An Automerge sync message (first byte 0x42 or 0x43).
        data: Vec<u8>,
        /// The optional `docType` some clients send.
        doc_type: Option<String>,
    },
    /// `doc-unavailable`: neither the sender nor its peers have the document.
    DocUnavailable {
        /// The sender.
        sender_id: PeerId,
        /// The recipient.
        target_id: PeerId,
        /// The document.
        document_id: DocumentId,
    },
    /// `ephemeral`: application data that is gossiped, never stored.
    Ephemeral {
        /// The sender.
        sender_id: PeerId,
        /// The recipient.
        target_id: PeerId,
        /// The sender's sequence number within its session.
        count: u64,
        /// The sender's session (random per start-up).
        session_id: String,
        /// The document the data is about.
        document_id: DocumentId,
        /// Opaque application bytes.
        data: Vec<u8>,
    },
    /// `remote-subscription-change`: storage IDs whose heads the sender wants to hear about.
    RemoteSubscriptionChange {
        /// The sender.
        sender_id: PeerId,
        /// The recipient.
        target_id: PeerId,
        /// Storage IDs to subscribe to.
        add: Option<Vec<StorageId>>,
        /// Storage IDs to unsubscribe from.
        remove: Option<Vec<StorageId>>,
    },
    /// `remote-heads-changed`: a document's heads changed at some storage IDs.
    RemoteHeadsChanged {
        /// The sender.
        sender_id: PeerId,
        /// The recipient.
        target_id: PeerId,
        /// The document.
        document_id: DocumentId,
        /// The new heads per storage ID.
        new_heads: BTreeMap<StorageId, RemoteHeads>,
    },
}

/// Why a frame was not a valid message. Field names are wire names (camelCase), with
/// nested fields written `outer.inner`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The frame is larger than [`Limits::max_frame_bytes`].
    #[error("frame is {len} bytes, over the limit of {max}")]
    FrameTooLarge {
        /// The frame's length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The frame is not well-formed CBOR within the limits.
    #[error("malformed CBOR: {0}")]
    Cbor(#[from] CborError),
    /// The top-level item is not a map.
    #[error("a message must be a CBOR map, got a {found}")]
    NotAMap {
        /// The kind of item found.
        found: &'static str,
    },
    /// A map (the message or a nested object) has a key that is not a text string.
    #[error("map key in `{field}` is not a text string")]
    NonTextKey {
        /// The map: `message` for the top level, otherwise the field holding it.
        field: &'static str,
    },
    /// A map has the same key twice.
    #[error("key {key:?} appears twice in `{field}`")]
    DuplicateKey {
        /// The map: `message` for the top level, otherwise the field holding it.
        field: &'static str,
        /// The key, cut to 32 characters.
        key: String,
    },
    /// The message has no `type` field.
    #[error("message has no `type` field")]
    MissingType,
    /// The `type` is not a known message type.
    #[error("unknown message type {0:?}")]
    UnknownType(String),
    /// A required field is absent (or null/undefined).
    #[error("`{message_type}` message is missing field `{field}`")]
    MissingField {
        /// The message type.
        message_type: &'static str,
        /// The missing field.
        field: &'static str,
    },
    /// A field has the wrong CBOR type.
    #[error("field `{field}` of `{message_type}` must be {expected}, got a {found}")]
    WrongFieldType {
        /// The message type (or `message` before the type is known).
        message_type: &'static str,
        /// The field.
        field: &'static str,
        /// What was expected.
        expected: &'static str,
        /// The kind of item found.
        found: &'static str,
    },
    /// A number field is out of range (negative, fractional or too large).
    #[error("field `{field}` of `{message_type}` is out of range")]
    NumberOutOfRange {
        /// The message type.
        message_type: &'static str,
        /// The field.
        field: &'static str,
    },
    /// A document ID is not valid base58check of 16 bytes.
    #[error("field `{field}` of `{message_type}` is not a valid document ID: {source}")]
    InvalidDocumentId {
        /// The message type.
        message_type: &'static str,
        /// The field.
        field: &'static str,
        /// Why it was rejected.
        source: DocumentIdError,
    },
    /// A peer or storage ID is empty or too long.
    #[error("field `{field}` of `{message_type}` is not a valid ID: {source}")]
    InvalidId {
        /// The message type.
        message_type: &'static str,
        /// The field.
        field: &'static str,
        /// Why it was rejected.
        source: IdError,
    },
    /// `data` of a `request` or `sync` does not start with 0x42 or 0x43.
    #[error(
        "`data` of `{message_type}` is not an Automerge sync message (first byte {first_byte:?})"
    )]
    NotAnAutomergeSyncMessage {
        /// The message type.
        message_type: &'static str,
        /// The first byte found, if any.
        first_byte: Option<u8>,
    },
}

type Result<T, E = DecodeError> = std::result::Result<T, E>;

fn echo(s: &str) -> String {
    s.chars().take(MAX_ECHO_CHARS).collect()
}

/// Turns a CBOR map into a text-keyed map, refusing other keys and duplicates.
fn text_map(
    entries: Vec<(CborValue, CborValue)>,
    field: &'static str,
) -> Result<BTreeMap<String, CborValue>> {
    let mut map = BTreeMap::new();
    for (key, value) in entries {
        let CborValue::Text(key) = key else {
            return Err(DecodeError::NonTextKey { field });
        };
        if map.contains_key(&key) {
            return Err(DecodeError::DuplicateKey {
                field,
                key: echo(&key),
            });
        }
        map.insert(key, value);
    }
    Ok(map)
}

fn is_absent(value: &CborValue) -> bool {
    matches!(value, CborValue::Null | CborValue::Undefined)
}

/// Typed access to the fields of one message (or nested object).
struct Fields {
    message_type: &'static str,
    map: BTreeMap<String, CborValue>,
}

impl Fields {
    fn wrong(&self, field: &'static str, expected: &'static str, found: &CborValue) -> DecodeError {
        wrong(self.message_type, field, expected, found)
    }

    /// The field's value; `None` if absent, null or undefined.
    fn optional(&mut self, field: &'static str) -> Option<CborValue> {
        self.map.remove(field).filter(|v| !is_absent(v))
    }

    fn required(&mut self, field: &'static str) -> Result<CborValue> {
        self.optional(field).ok_or(DecodeError::MissingField {
            message_type: self.message_type,
            field,
        })
    }

    fn text(&mut self, field: &'static str) -> Result<String> {
        match self.required(field)? {
            CborValue::Text(s) => Ok(s),
            other => Err(self.wrong(field, "a text string", &other)),
        }
    }

    fn optional_text(&mut self, field: &'static str) -> Result<Option<String>> {
        match self.optional(field) {
            None => Ok(None),
            Some(CborValue::Text(s)) => Ok(Some(s)),
            Some(other) => Err(self.wrong(field, "a text string", &other)),
        }
    }

    fn peer_id(&mut self, field: &'static str) -> Result<PeerId> {
        let text = self.text(field)?;
        PeerId::new(text).map_err(|source| DecodeError::InvalidId {
            message_type: self.message_type,
            field,
            source,
        })
    }

    fn bytes(&mut self, field: &'static str) -> Result<Vec<u8>> {
        match self.required(field)? {
            CborValue::Bytes(b) => Ok(b),
            other => Err(self.wrong(field, "a byte string", &other)),
        }
    }

    fn sync_data(&mut self) -> Result<Vec<u8>> {
        let data = self.bytes("data")?;
        match data.first() {
            Some(&b) if b == SYNC_MESSAGE_V1 || b == SYNC_MESSAGE_V2 => Ok(data),
            first => Err(DecodeError::NotAnAutomergeSyncMessage {
                message_type: self.message_type,
                first_byte: first.copied(),
            }),
        }
    }

    fn document_id(&mut self) -> Result<DocumentId> {
        const FIELD: &str = "documentId";
        let text = self.text(FIELD)?;
        text.parse()
            .map_err(|source| DecodeError::InvalidDocumentId {
                message_type: self.message_type,
                field: FIELD,
                source,
            })
    }

    fn count(&mut self, field: &'static str) -> Result<u64> {
        // JS numbers: cbor-x writes integers above 2^32 as float64.
        const MAX_SAFE_INTEGER: f64 = 9_007_199_254_740_991.0;
        match self.required(field)? {
            CborValue::Unsigned(n) => Ok(n),
            CborValue::Float(f) if f.fract() == 0.0 && (0.0..=MAX_SAFE_INTEGER).contains(&f) => {
                // Integral and within 0..=2^53-1, so the conversion is exact.
                Ok(f as u64)
            }
            CborValue::Negative(_) | CborValue::Float(_) => Err(DecodeError::NumberOutOfRange {
                message_type: self.message_type,
                field,
            }),
            other => Err(self.wrong(field, "an unsigned integer", &other)),
        }
    }

    fn storage_ids(&mut self, field: &'static str) -> Result<Option<Vec<StorageId>>> {
        let items = match self.optional(field) {
            None => return Ok(None),
            Some(CborValue::Array(items)) => items,
            Some(other) => return Err(self.wrong(field, "an array of text strings", &other)),
        };
        let mut ids = Vec::new();
        for item in items {
            ids.push(storage_id(self.message_type, field, item)?);
        }
        Ok(Some(ids))
    }

    fn text_list(&mut self, field: &'static str) -> Result<Vec<String>> {
        match self.required(field)? {
            CborValue::Array(items) => text_list(self.message_type, field, items),
            other => Err(self.wrong(field, "an array of text strings", &other)),
        }
    }

    /// `peerMetadata`, or the spec text's `metadata` if that is all there is.
    fn peer_metadata(&mut self) -> Result<Option<PeerMetadata>> {
        let (field, value) = match self.optional("peerMetadata") {
            Some(value) => ("peerMetadata", value),
            None => match self.optional("metadata") {
                Some(value) => ("metadata", value),
                None => return Ok(None),
            },
        };
        let CborValue::Map(entries) = value else {
            return Err(self.wrong(field, "a map", &value));
        };
        let (storage_field, ephemeral_field) = if field == "peerMetadata" {
            ("peerMetadata.storageId", "peerMetadata.isEphemeral")
        } else {
            ("metadata.storageId", "metadata.isEphemeral")
        };
        let mut inner = Fields {
            message_type: self.message_type,
            map: text_map(entries, field)?,
        };
        let storage_id = match inner.optional("storageId") {
            None => None,
            Some(value) => Some(storage_id(self.message_type, storage_field, value)?),
        };
        let is_ephemeral = match inner.optional("isEphemeral") {
            None => false,
            Some(CborValue::Bool(b)) => b,
            Some(other) => return Err(self.wrong(ephemeral_field, "a boolean", &other)),
        };
        Ok(Some(PeerMetadata {
            storage_id,
            is_ephemeral,
        }))
    }

    fn new_heads(&mut self) -> Result<BTreeMap<StorageId, RemoteHeads>> {
        const FIELD: &str = "newHeads";
        let value = self.required(FIELD)?;
        let CborValue::Map(entries) = value else {
            return Err(self.wrong(FIELD, "a map", &value));
        };
        let mut out = BTreeMap::new();
        for (key, value) in text_map(entries, FIELD)? {
            let storage = StorageId::new(key).map_err(|source| DecodeError::InvalidId {
                message_type: self.message_type,
                field: FIELD,
                source,
            })?;
            let CborValue::Map(entries) = value else {
                return Err(self.wrong("newHeads.*", "a map", &value));
            };
            let mut inner = Fields {
                message_type: self.message_type,
                map: text_map(entries, "newHeads.*")?,
            };
            let heads = match inner.optional("heads") {
                Some(CborValue::Array(items)) => {
                    text_list(self.message_type, "newHeads.*.heads", items)?
                }
                Some(other) => {
                    return Err(self.wrong("newHeads.*.heads", "an array of text strings", &other));
                }
                None => {
                    return Err(DecodeError::MissingField {
                        message_type: self.message_type,
                        field: "newHeads.*.heads",
                    });
                }
            };
            let timestamp = match inner.optional("timestamp") {
                Some(CborValue::Unsigned(n)) => n as f64,
                Some(CborValue::Negative(n)) => -1.0 - n as f64,
                Some(CborValue::Float(f)) => f,
                Some(other) => {
                    return Err(self.wrong("newHeads.*.timestamp", "a number", &other));
                }
                None => {
                    return Err(DecodeError::MissingField {
                        message_type: self.message_type,
                        field: "newHeads.*.timestamp",
                    });
                }
            };
            out.insert(storage, RemoteHeads { heads, timestamp });
        }
        Ok(out)
    }
}

fn wrong(
    message_type: &'static str,
    field: &'static str,
    expected: &'static str,
    found: &CborValue,
) -> DecodeError {
    DecodeError::WrongFieldType {
        message_type,
        field,
        expected,
        found: found.kind(),
    }
}

fn storage_id(
    message_type: &'static str,
    field: &'static str,
    value: CborValue,
) -> Result<StorageId> {
    match value {
        CborValue::Text(s) => StorageId::new(s).map_err(|source| DecodeError::InvalidId {
            message_type,
            field,
            source,
        }),
        other => Err(wrong(message_type, field, "a text string", &other)),
    }
}

fn text_list(
    message_type: &'static str,
    field: &'static str,
    items: Vec<CborValue>,
) -> Result<Vec<String>> {
    items
        .into_iter()
        .map(|item| match item {
            CborValue::Text(s) => Ok(s),
            other => Err(wrong(
                message_type,
                field,
                "an array of text strings",
                &other,
            )),
        })
        .collect()
}

/// The wire names of every message type, in declaration order.
pub const MESSAGE_TYPES: [&str; 10] = [
    "join",
    "peer",
    "error",
    "leave",
    "request",
    "sync",
    "doc-unavailable",
    "ephemeral",
    "remote-subscription-change",
    "remote-heads-changed",
];

impl Message {
    /// Decodes one frame, enforcing `limits`.
    ///
    /// # Errors
    /// A [`DecodeError`] if the frame is too large, is not well-formed CBOR within the
    /// limits, or is not a valid message (unknown `type`, missing or mistyped field, bad
    /// ID, `request`/`sync` data that is not an Automerge sync message).
    pub fn decode(frame: &[u8], limits: &Limits) -> Result<Message> {
        if frame.len() > limits.max_frame_bytes {
            return Err(DecodeError::FrameTooLarge {
                len: frame.len(),
                max: limits.max_frame_bytes,
            });
        }
        let entries = match cbor::decode(frame, &limits.cbor())? {
            CborValue::Map(entries) => entries,
            other => {
                return Err(DecodeError::NotAMap {
                    found: other.kind(),
                });
            }
        };
        let mut map = text_map(entries, "message")?;
        let message_type = match map.remove("type") {
            None => return Err(DecodeError::MissingType),
            Some(CborValue::Text(t)) => t,
            Some(other) => return Err(wrong("message", "type", "a text string", &other)),
        };
        let Some(&message_type) = MESSAGE_TYPES.iter().find(|t| **t == message_type) else {
            return Err(DecodeError::UnknownType(echo(&message_type)));
        };
        let mut f = Fields { message_type, map };
        let message = match message_type {
            "join" => Message::Join {
                sender_id: f.peer_id("senderId")?,
                peer_metadata: f.peer_metadata()?,
                supported_protocol_versions: f.text_list("supportedProtocolVersions")?,
            },
            "peer" => Message::Peer {
                sender_id: f.peer_id("senderId")?,
                target_id: f.peer_id("targetId")?,
                selected_protocol_version: f.text("selectedProtocolVersion")?,
                peer_metadata: f.peer_metadata()?,
            },
            "error" => Message::Error {
                message: f.text("message")?,
            },
            "leave" => Message::Leave {
                sender_id: f.peer_id("senderId")?,
            },
            "request" => Message::Request {
                document_id: f.document_id()?,
                sender_id: f.peer_id("senderId")?,
                target_id: f.peer_id("targetId")?,
                data: f.sync_data()?,
                doc_type: f.optional_text("docType")?,
            },
            "sync" => Message::Sync {
                document_id: f.document_id()?,
                sender_id: f.peer_id("senderId")?,
                target_id: f.peer_id("targetId")?,
                data: f.sync_data()?,
                doc_type: f.optional_text("docType")?,
            },
            "doc-unavailable" => Message::DocUnavailable {
                sender_id: f.peer_id("senderId")?,
                target_id: f.peer_id("targetId")?,
                document_id: f.document_id()?,
            },
            "ephemeral" => Message::Ephemeral {
                sender_id: f.peer_id("senderId")?,
                target_id: f.peer_id("targetId")?,
                count: f.count("count")?,
                session_id: f.text("sessionId")?,
                document_id: f.document_id()?,
                data: f.bytes("data")?,
            },
            "remote-subscription-change" => Message::RemoteSubscriptionChange {
                sender_id: f.peer_id("senderId")?,
                target_id: f.peer_id("targetId")?,
                add: f.storage_ids("add")?,
                remove: f.storage_ids("remove")?,
            },
            _ => Message::RemoteHeadsChanged {
                sender_id: f.peer_id("senderId")?,
                target_id: f.peer_id("targetId")?,
                document_id: f.document_id()?,
                new_heads: f.new_heads()?,
            },
        };
        Ok(message)
    }

    /// Encodes the message as one CBOR map with definite lengths, `type` first.
    pub fn encode(&self) -> Vec<u8> {
        let data_len = match self {
            Message::Request { data, .. }
            | Message::Sync { data, .. }
            | Message::Ephemeral { data, .. } => data.len(),
            _ => 0,
        };
        let mut e = Encoder::new(Vec::with_capacity(data_len + 160));
        let written = self.write(&mut e);
        // Writing into a Vec cannot fail: its write error type is `Infallible`.
        debug_assert!(written.is_ok());
        e.into_writer()
    }

    fn write(&self, e: &mut Writer) -> Written {
        let ty = self.type_name();
        match self {
            Message::Join {
                sender_id,
                peer_metadata,
                supported_protocol_versions,
            } => {
                e.map(3 + u64::from(peer_metadata.is_some()))?;
                key_text(e, "type", ty)?;
                key_text(e, "senderId", sender_id.as_str())?;
                if let Some(meta) = peer_metadata {
                    e.str("peerMetadata")?;
                    write_metadata(e, meta)?;
                }
                e.str("supportedProtocolVersions")?;
                e.array(count(supported_protocol_versions.len()))?;
                for version in supported_protocol_versions {
                    e.str(version)?;
                }
            }
            Message::Peer {
                sender_id,
                target_id,
                selected_protocol_version,
                peer_metadata,
            } => {
                e.map(4 + u64::from(peer_metadata.is_some()))?;
                key_text(e, "type", ty)?;
                key_text(e, "senderId", sender_id.as_str())?;
                key_text(e, "targetId", target_id.as_str())?;
                key_text(e, "selectedProtocolVersion", selected_protocol_version)?;
                if let Some(meta) = peer_metadata {
                    e.str("peerMetadata")?;
                    write_metadata(e, meta)?;
                }
            }
            Message::Error { message } => {
                e.map(2)?;
                key_text(e, "type", ty)?;
                key_text(e, "message", message)?;
            }
            Message::Leave { sender_id } => {
                e.map(2)?;
                key_text(e, "type", ty)?;
                key_text(e, "senderId", sender_id.as_str())?;
            }
            Message::Request {
                document_id,
                sender_id,
                target_id,
                data,
                doc_type,
            }
            | Message::Sync {
                document_id,
                sender_id,
                target_id,
                data,
                doc_type,
            } => {
                e.map(5 + u64::from(doc_type.is_some()))?;
                key_text(e, "type", ty)?;
                key_text(e, "documentId", &document_id.to_string())?;
                key_text(e, "senderId", sender_id.as_str())?;
                key_text(e, "targetId", target_id.as_str())?;
                e.str("data")?;
                e.bytes(data)?;
                if let Some(doc_type) = doc_type {
                    key_text(e, "docType", doc_type)?;
                }
            }
            Message::DocUnavailable {
                sender_id,
                target_id,
                document_id,
            } => {
                e.map(4)?;
                key_text(e, "type", ty)?;
                key_text(e, "senderId", sender_id.as_str())?;
                key_text(e, "targetId", target_id.as_str())?;
                key_text(e, "documentId", &document_id.to_string())?;
            }
            Message::Ephemeral {
                sender_id,
                target_id,
                count,
                session_id,
                document_id,
                data,
            } => {
                e.map(7)?;
                key_text(e, "type", ty)?;
                key_text(e, "senderId", sender_id.as_str())?;
                key_text(e, "targetId", target_id.as_str())?;
                e.str("count")?;
                e.u64(*count)?;
                key_text(e, "sessionId", session_id)?;
                key_text(e, "documentId", &document_id.to_string())?;
                e.str("data")?;
                e.bytes(data)?;
            }
            Message::RemoteSubscriptionChange {
                sender_id,
                target_id,
                add,
                remove,
            } => {
                e.map(3 + u64::from(add.is_some()) + u64::from(remove.is_some()))?;
                key_text(e, "type", ty)?;
                key_text(e, "senderId", sender_id.as_str())?;
                key_text(e, "targetId", target_id.as_str())?;
                for (key, ids) in [("add", add), ("remove", remove)] {
                    if let Some(ids) = ids {
                        e.str(key)?;
                        e.array(count(ids.len()))?;
                        for id in ids {
                            e.str(id.as_str())?;
                        }
                    }
                }
            }
            Message::RemoteHeadsChanged {
                sender_id,
                target_id,
                document_id,
                new_heads,
            } => {
                e.map(5)?;
                key_text(e, "type", ty)?;
                key_text(e, "senderId", sender_id.as_str())?;
                key_text(e, "targetId", target_id.as_str())?;
                key_text(e, "documentId", &document_id.to_string())?;
                e.str("newHeads")?;
                e.map(count(new_heads.len()))?;
                for (storage, remote) in new_heads {
                    e.str(storage.as_str())?;
                    e.map(2)?;
                    e.str("heads")?;
                    e.array(count(remote.heads.len()))?;
                    for head in &remote.heads {
                        e.str(head)?;
                    }
                    e.str("timestamp")?;
                    write_js_number(e, remote.timestamp)?;
                }
            }
        }
        Ok(())
    }

    /// The wire name of the message's type (`"sync"`, `"doc-unavailable"`, ...).
    pub fn type_name(&self) -> &'static str {
        match self {
            Message::Join { .. } => "join",
            Message::Peer { .. } => "peer",
            Message::Error { .. } => "error",
            Message::Leave { .. } => "leave",
            Message::Request { .. } => "request",
            Message::Sync { .. } => "sync",
            Message::DocUnavailable { .. } => "doc-unavailable",
            Message::Ephemeral { .. } => "ephemeral",
            Message::RemoteSubscriptionChange { .. } => "remote-subscription-change",
            Message::RemoteHeadsChanged { .. } => "remote-heads-changed",
        }
    }

    /// The document the message is about, for the message types that name one.
    pub fn document_id(&self) -> Option<DocumentId> {
        match self {
            Message::Request { document_id, .. }
            | Message::Sync { document_id, .. }
            | Message::DocUnavailable { document_id, .. }
            | Message::Ephemeral { document_id, .. }
            | Message::RemoteHeadsChanged { document_id, .. } => Some(*document_id),
            Message::Join { .. }
            | Message::Peer { .. }
            | Message::Error { .. }
            | Message::Leave { .. }
            | Message::RemoteSubscriptionChange { .. } => None,
        }
    }

    /// The peer ID the sender claims; every type but `error` has one.
    pub fn sender_id(&self) -> Option<&PeerId> {
        match self {
            Message::Join { sender_id, .. }
            | Message::Peer { sender_id, .. }
            | Message::Leave { sender_id }
            | Message::Request { sender_id, .. }
            | Message::Sync { sender_id, .. }
            | Message::DocUnavailable { sender_id, .. }
            | Message::Ephemeral { sender_id, .. }
            | Message::RemoteSubscriptionChange { sender_id, .. }
            | Message::RemoteHeadsChanged { sender_id, .. } => Some(sender_id),
            Message::Error { .. } => None,
        }
    }

    /// The peer ID the message is addressed to, for the types that have one.
    pub fn target_id(&self) -> Option<&PeerId> {
        match self {
            Message::Peer { target_id, .. }
            | Message::Request { target_id, .. }
            | Message::Sync { target_id, .. }
            | Message::DocUnavailable { target_id, .. }
            | Message::Ephemeral { target_id, .. }
            | Message::RemoteSubscriptionChange { target_id, .. }
            | Message::RemoteHeadsChanged { target_id, .. } => Some(target_id),
            Message::Join { .. } | Message::Error { .. } | Message::Leave { .. } => None,
        }
    }
}

/// The encoder [`Message::encode`] writes with.
type Writer = Encoder<Vec<u8>>;

/// What a write returns; with a Vec to write into it is always `Ok`.
type Written = std::result::Result<(), EncodeError<Infallible>>;

/// A container length as minicbor takes it.
fn count(len: usize) -> u64 {
    u64::try_from(len).unwrap_or(u64::MAX)
}

fn key_text(e: &mut Writer, key: &str, value: &str) -> Written {
    e.str(key)?.str(value)?;
    Ok(())
}

fn write_metadata(e: &mut Writer, meta: &PeerMetadata) -> Written {
    e.map(1 + u64::from(meta.storage_id.is_some()))?;
    if let Some(storage) = &meta.storage_id {
        key_text(e, "storageId", storage.as_str())?;
    }
    e.str("isEphemeral")?.bool(meta.is_ephemeral)?;
    Ok(())
}

/// Writes a JS number the way cbor-x does: integers that fit in 32 bits as CBOR
/// integers, everything else as a float64.
fn write_js_number(e: &mut Writer, value: f64) -> Written {
    if value.fract() == 0.0 {
        if (0.0..=f64::from(u32::MAX)).contains(&value) {
            // Integral and within u32: exact.
            e.u64(value as u64)?;
            return Ok(());
        }
        if (f64::from(i32::MIN)..0.0).contains(&value) {
            // Integral and within i32: exact.
            e.i64(value as i64)?;
            return Ok(());
        }
    }
    e.f64(value)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_checked() {
        assert_eq!(PeerId::new(""), Err(IdError::Empty));
        assert_eq!(StorageId::new("x".repeat(257)), Err(IdError::TooLong(257)));
        assert!(PeerId::new("é".repeat(128)).is_ok());
        assert_eq!(PeerId::new("é".repeat(129)), Err(IdError::TooLong(258)));
    }

    #[test]
    fn js_numbers_are_written_like_cbor_x() {
        let js = |value: f64| {
            let mut e = Encoder::new(Vec::new());
            write_js_number(&mut e, value).unwrap();
            e.into_writer()
        };
        assert_eq!(js(5.0), [0x05]);
        assert_eq!(js(-2.0), [0x21]);
        let out = js(1_700_000_000_000.0);
        assert_eq!(out.first(), Some(&0xfb));
        assert_eq!(out.len(), 9);
        assert_eq!(js(-2_147_483_648.0), [0x3a, 0x7f, 0xff, 0xff, 0xff]);
        assert_eq!(js(4_294_967_295.0), [0x1a, 0xff, 0xff, 0xff, 0xff]);
        assert_eq!(js(4_294_967_296.0).first(), Some(&0xfb));
        assert_eq!(js(0.5).first(), Some(&0xfb));
    }
}
