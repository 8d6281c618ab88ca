//! The automerge-repo protocol v1 on the wire: a strict CBOR codec and the typed messages.
//!
//! One WebSocket binary frame holds one CBOR map; [`Message::decode`] turns a frame into a
//! [`Message`] under [`Limits`], and [`Message::encode`] writes one back.

pub mod cbor;
pub mod message;

pub use message::{
    DecodeError, IdError, Limits, MAX_ID_BYTES, MESSAGE_TYPES, Message, PROTOCOL_VERSION, PeerId,
    PeerMetadata, RemoteHeads, StorageId,
};
