//! Property tests for the wire codec: `Message::decode` never panics on random or mutated
//! input, and every generated message survives encode then decode unchanged.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;

use paindiary_sync::ids::DocumentId;
use paindiary_sync::protocol::cbor::{self, CborLimits, CborValue};
use paindiary_sync::protocol::{
    DecodeError, Limits, Message, PeerId, PeerMetadata, RemoteHeads, StorageId,
};
use proptest::collection::{btree_map, vec};
use proptest::option;
use proptest::prelude::*;

fn peer_id() -> impl Strategy<Value = PeerId> {
    "[a-zA-Z0-9_-]{1,40}".prop_map(|s| PeerId::new(s).unwrap())
}

fn storage_id() -> impl Strategy<Value = StorageId> {
    "[a-f0-9-]{1,36}".prop_map(|s| StorageId::new(s).unwrap())
}

fn document_id() -> impl Strategy<Value = DocumentId> {
    any::<[u8; 16]>().prop_map(DocumentId::from_bytes)
}

fn sync_data() -> impl Strategy<Value = Vec<u8>> {
    (
        prop_oneof![Just(0x42u8), Just(0x43u8)],
        vec(any::<u8>(), 0..300),
    )
        .prop_map(|(first, rest)| {
            let mut data = vec![first];
            data.extend(rest);
            data
        })
}

fn metadata() -> impl Strategy<Value = Option<PeerMetadata>> {
    option::of(
        (option::of(storage_id()), any::<bool>()).prop_map(|(storage_id, is_ephemeral)| {
            PeerMetadata {
                storage_id,
                is_ephemeral,
            }
        }),
    )
}

fn timestamp() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<u32>().prop_map(f64::from),
        any::<i32>().prop_map(f64::from),
        (0u64..(1 << 53)).prop_map(|n| n as f64),
        -1e300f64..1e300f64,
    ]
}

fn message() -> impl Strategy<Value = Message> {
    prop_oneof![
        (peer_id(), metadata(), vec("[0-9]{1,3}", 0..4)).prop_map(
            |(sender_id, peer_metadata, v)| {
                Message::Join {
                    sender_id,
                    peer_metadata,
                    supported_protocol_versions: v,
                }
            }
        ),
        (peer_id(), peer_id(), "[0-9]{1,3}", metadata()).prop_map(|(s, t, v, m)| Message::Peer {
            sender_id: s,
            target_id: t,
            selected_protocol_version: v,
            peer_metadata: m,
        }),
        ".{0,100}".prop_map(|message| Message::Error { message }),
        peer_id().prop_map(|sender_id| Message::Leave { sender_id }),
        (
            document_id(),
            peer_id(),
            peer_id(),
            sync_data(),
            option::of("[a-z/0-9]{0,30}"),
            any::<bool>()
        )
            .prop_map(|(d, s, t, data, doc_type, is_sync)| {
                if is_sync {
                    Message::Sync {
                        document_id: d,
                        sender_id: s,
                        target_id: t,
                        data,
                        doc_type,
                    }
                } else {
                    Message::Request {
                        document_id: d,
                        sender_id: s,
                        target_id: t,
                        data,
                        doc_type,
                    }
                }
            }),
        (peer_id(), peer_id(), document_id()).prop_map(|(s, t, d)| Message::DocUnavailable {
            sender_id: s,
            target_id: t,
            document_id: d,
        }),
        (
            peer_id(),
            peer_id(),
            any::<u64>(),
            ".{0,40}",
            document_id(),
            vec(any::<u8>(), 0..200)
        )
            .prop_map(|(s, t, count, session_id, d, data)| Message::Ephemeral {
                sender_id: s,
                target_id: t,
                count,
                session_id,
                document_id: d,
                data,
            }),
        (
            peer_id(),
            peer_id(),
            option::of(vec(storage_id(), 0..5)),
            option::of(vec(storage_id(), 0..5))
        )
            .prop_map(|(s, t, add, remove)| Message::RemoteSubscriptionChange {
                sender_id: s,
                target_id: t,
                add,
                remove,
            }),
        (
            peer_id(),
            peer_id(),
            document_id(),
            btree_map(
                storage_id(),
                (vec("[0-9a-f]{64}", 0..3), timestamp())
                    .prop_map(|(heads, timestamp)| RemoteHeads { heads, timestamp }),
                0..4,
            )
        )
            .prop_map(|(s, t, d, new_heads): (_, _, _, BTreeMap<_, _>)| {
                Message::RemoteHeadsChanged {
                    sender_id: s,
                    target_id: t,
                    document_id: d,
                    new_heads,
                }
            }),
    ]
}

/// One edit to a valid frame.
#[derive(Debug, Clone)]
enum Mutation {
    Set(usize, u8),
    Insert(usize, u8),
    Remove(usize),
    Truncate(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Set(i, b)),
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Insert(i, b)),
        any::<usize>().prop_map(Mutation::Remove),
        any::<usize>().prop_map(Mutation::Truncate),
    ]
}

fn apply(frame: &mut Vec<u8>, mutation: &Mutation) {
    let len = frame.len();
    match *mutation {
        Mutation::Set(i, b) if len > 0 => frame[i % len] = b,
        Mutation::Insert(i, b) => frame.insert(i % (len + 1), b),
        Mutation::Remove(i) if len > 0 => {
            frame.remove(i % len);
        }
        Mutation::Truncate(i) => frame.truncate(i % (len + 1)),
        _ => {}
    }
}

/// Decodes and also formats any error, so `Display` is exercised too.
fn decode_quietly(frame: &[u8], limits: &Limits) -> Result<Message, DecodeError> {
    let result = Message::decode(frame, limits);
    if let Err(e) = &result {
        assert!(!e.to_string().is_empty());
    }
    result
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_bytes_never_panic(frame in vec(any::<u8>(), 0..512)) {
        let _ = decode_quietly(&frame, &Limits::default());
    }

    #[test]
    fn random_bytes_behind_a_map_head_never_panic(head in 0xa0u8..=0xbf, rest in vec(any::<u8>(), 0..512)) {
        let mut frame = vec![head];
        frame.extend(rest);
        let _ = decode_quietly(&frame, &Limits::default());
    }

    #[test]
    fn mutated_frames_never_panic(
        message in message(),
        mutations in vec(mutation(), 1..8),
        small in any::<bool>(),
    ) {
        let mut frame = message.encode();
        for m in &mutations {
            apply(&mut frame, m);
        }
        let limits = if small {
            Limits { max_frame_bytes: 256, max_string_bytes: 16, max_depth: 3, max_items: 20 }
        } else {
            Limits::default()
        };
        if let Ok(decoded) = decode_quietly(&frame, &limits) {
            // Whatever decodes must re-encode to something that decodes to the same.
            prop_assert_eq!(Message::decode(&decoded.encode(), &Limits::default()), Ok(decoded));
        }
    }

    #[test]
    fn generated_messages_round_trip(message in message()) {
        let frame = message.encode();
        prop_assert_eq!(Message::decode(&frame, &Limits::default()), Ok(message));
    }

    #[test]
    fn encoded_messages_are_canonical_cbor(message in message()) {
        // Definite lengths and shortest heads throughout, `type` first: re-encoding the
        // decoded CBOR tree (which keeps map order) gives the same bytes back.
        let frame = message.encode();
        let tree = cbor::decode(&frame, &CborLimits::default()).unwrap();
        prop_assert_eq!(cbor::encode(&tree), frame);
        let CborValue::Map(entries) = tree else { panic!("not a map") };
        prop_assert_eq!(
            entries.first().map(|(key, _)| key),
            Some(&CborValue::Text("type".into()))
        );
    }
}
