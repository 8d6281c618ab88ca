//! The automerge-repo protocol v1 on the wire: a strict CBOR codec and the typed messages.

pub mod cbor;
