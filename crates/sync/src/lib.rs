//! Paindiary's shared document layer: the diary schema (v1), the automerge-repo v1 wire
//! protocol, and the phone-side replica that keeps documents offline and syncs them.
//!
//! Nothing here touches a database; the server and the phone apps both build on it.

pub mod ids;
pub mod protocol;
pub mod questionnaire;
pub mod replica;
pub mod schema;
