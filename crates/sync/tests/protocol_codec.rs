//! Wire-codec tests for the automerge-repo protocol v1: round trips, hand-built CBOR
//! vectors, and malformed input that must fail with a specific typed error.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;

use paindiary_sync::ids::{DocumentId, DocumentIdError};
use paindiary_sync::protocol::cbor::{CborError, HARD_MAX_DEPTH};
use paindiary_sync::protocol::{
    DecodeError, IdError, Limits, MESSAGE_TYPES, Message, PeerId, PeerMetadata, RemoteHeads,
    StorageId,
};

fn peer(s: &str) -> PeerId {
    PeerId::new(s).unwrap()
}

fn storage(s: &str) -> StorageId {
    StorageId::new(s).unwrap()
}

fn doc() -> DocumentId {
    DocumentId::from_bytes([0x5a; 16])
}

fn decode(frame: &[u8]) -> Result<Message, DecodeError> {
    Message::decode(frame, &Limits::default())
}

/// One message of every type.
fn every_message() -> Vec<Message> {
    let mut new_heads = BTreeMap::new();
    new_heads.insert(
        storage("storage-1"),
        RemoteHeads {
            heads: vec!["ab".repeat(32), "cd".repeat(32)],
            timestamp: 1_764_230_400_123.0,
        },
    );
    new_heads.insert(
        storage("storage-2"),
        RemoteHeads {
            heads: vec![],
            timestamp: 7.0,
        },
    );
    vec![
        Message::Join {
            sender_id: peer("phone-1"),
            peer_metadata: Some(PeerMetadata {
                storage_id: Some(storage("storage-1")),
                is_ephemeral: false,
            }),
            supported_protocol_versions: vec!["1".into()],
        },
        Message::Join {
            sender_id: peer("phone-2"),
            peer_metadata: None,
            supported_protocol_versions: vec![],
        },
        Message::Peer {
            sender_id: peer("server"),
            target_id: peer("phone-1"),
            selected_protocol_version: "1".into(),
            peer_metadata: Some(PeerMetadata {
                storage_id: None,
                is_ephemeral: true,
            }),
        },
        Message::Error {
            message: "unsupported protocol version".into(),
        },
        Message::Leave {
            sender_id: peer("phone-1"),
        },
        Message::Request {
            document_id: doc(),
            sender_id: peer("phone-1"),
            target_id: peer("server"),
            data: vec![0x42, 0, 1, 2, 3],
            doc_type: None,
        },
        Message::Sync {
            document_id: doc(),
            sender_id: peer("server"),
            target_id: peer("phone-1"),
            data: vec![0x43; 40],
            doc_type: Some("paindiary/diary-month/v1".into()),
        },
        Message::DocUnavailable {
            sender_id: peer("server"),
            target_id: peer("phone-1"),
            document_id: doc(),
        },
        Message::Ephemeral {
            sender_id: peer("phone-1"),
            target_id: peer("server"),
            count: 12,
            session_id: "session-xyz".into(),
            document_id: doc(),
            data: vec![1, 2, 3],
        },
        Message::RemoteSubscriptionChange {
            sender_id: peer("phone-1"),
            target_id: peer("server"),
            add: Some(vec![storage("storage-1"), storage("storage-2")]),
            remove: None,
        },
        Message::RemoteSubscriptionChange {
            sender_id: peer("phone-1"),
            target_id: peer("server"),
            add: None,
            remove: Some(vec![]),
        },
        Message::RemoteHeadsChanged {
            sender_id: peer("server"),
            target_id: peer("phone-1"),
            document_id: doc(),
            new_heads,
        },
    ]
}

#[test]
fn every_message_type_round_trips() {
    let messages = every_message();
    let mut types: Vec<&str> = messages.iter().map(Message::type_name).collect();
    types.sort_unstable();
    types.dedup();
    let mut all = MESSAGE_TYPES.to_vec();
    all.sort_unstable();
    assert_eq!(types, all, "every message type is covered");
    for message in messages {
        let frame = message.encode();
        assert_eq!(
            decode(&frame),
            Ok(message.clone()),
            "{}",
            message.type_name()
        );
    }
}

#[test]
fn accessors_report_document_and_sender() {
    for message in every_message() {
        let has_doc = matches!(
            message.type_name(),
            "request" | "sync" | "doc-unavailable" | "ephemeral" | "remote-heads-changed"
        );
        assert_eq!(
            message.document_id().is_some(),
            has_doc,
            "{}",
            message.type_name()
        );
        if has_doc {
            assert_eq!(message.document_id(), Some(doc()));
        }
        assert_eq!(
            message.sender_id().is_none(),
            message.type_name() == "error",
            "{}",
            message.type_name()
        );
    }
}

/// `{"type":"join","senderId":"peer-a","peerMetadata":{"isEphemeral":false},
///   "supportedProtocolVersions":["1"]}`, byte by byte (RFC 8949).
fn join_vector() -> Vec<u8> {
    let mut v = vec![0xa4]; // map, 4 entries
    v.push(0x64); // text, 4 bytes
    v.extend_from_slice(b"type");
    v.push(0x64);
    v.extend_from_slice(b"join");
    v.push(0x68); // text, 8 bytes
    v.extend_from_slice(b"senderId");
    v.push(0x66);
    v.extend_from_slice(b"peer-a");
    v.push(0x6c); // text, 12 bytes
    v.extend_from_slice(b"peerMetadata");
    v.push(0xa1); // map, 1 entry
    v.push(0x6b); // text, 11 bytes
    v.extend_from_slice(b"isEphemeral");
    v.push(0xf4); // false
    v.extend_from_slice(&[0x78, 25]); // text, length in one following byte
    v.extend_from_slice(b"supportedProtocolVersions");
    v.push(0x81); // array, 1 item
    v.extend_from_slice(&[0x61, b'1']);
    v
}

#[test]
fn join_matches_a_hand_built_cbor_vector() {
    let expected = Message::Join {
        sender_id: peer("peer-a"),
        peer_metadata: Some(PeerMetadata {
            storage_id: None,
            is_ephemeral: false,
        }),
        supported_protocol_versions: vec!["1".into()],
    };
    let bytes = join_vector();
    assert_eq!(decode(&bytes), Ok(expected.clone()));
    assert_eq!(expected.encode(), bytes);
}

#[test]
fn join_accepts_spec_metadata_indefinite_lengths_and_extra_fields() {
    // {_ "supportedProtocolVersions": [_ "1"], "metadata": {"storageId": "s1"},
    //    "extra": null, "senderId": "p", "type": "join"}
    let mut v = vec![0xbf]; // map, indefinite
    v.extend_from_slice(&[0x78, 25]);
    v.extend_from_slice(b"supportedProtocolVersions");
    v.extend_from_slice(&[0x9f, 0x61, b'1', 0xff]); // indefinite array ["1"]
    v.push(0x68);
    v.extend_from_slice(b"metadata");
    v.push(0xa1);
    v.push(0x69);
    v.extend_from_slice(b"storageId");
    v.extend_from_slice(&[0x62, b's', b'1']);
    v.push(0x65);
    v.extend_from_slice(b"extra");
    v.push(0xf6); // null
    v.push(0x68);
    v.extend_from_slice(b"senderId");
    v.extend_from_slice(&[0x7f, 0x61, b'p', 0xff]); // indefinite text "p"
    v.push(0x64);
    v.extend_from_slice(b"type");
    v.push(0x64);
    v.extend_from_slice(b"join");
    v.push(0xff); // break
    assert_eq!(
        decode(&v),
        Ok(Message::Join {
            sender_id: peer("p"),
            peer_metadata: Some(PeerMetadata {
                storage_id: Some(storage("s1")),
                is_ephemeral: false,
            }),
            supported_protocol_versions: vec!["1".into()],
        })
    );
}

/// `{"type":"sync","documentId":<id>,"senderId":"a","targetId":"b","data":h'4201ff'}`,
/// byte by byte; `data` optionally wrapped in tag 64 as cbor-x may write it.
fn sync_vector(tag_64: bool) -> Vec<u8> {
    let id = doc().to_string();
    assert!((24..256).contains(&id.len()));
    let mut v = vec![0xa5]; // map, 5 entries
    v.push(0x64);
    v.extend_from_slice(b"type");
    v.push(0x64);
    v.extend_from_slice(b"sync");
    v.push(0x6a); // text, 10 bytes
    v.extend_from_slice(b"documentId");
    v.extend_from_slice(&[0x78, id.len() as u8]);
    v.extend_from_slice(id.as_bytes());
    v.push(0x68);
    v.extend_from_slice(b"senderId");
    v.extend_from_slice(&[0x61, b'a']);
    v.push(0x68);
    v.extend_from_slice(b"targetId");
    v.extend_from_slice(&[0x61, b'b']);
    v.push(0x64);
    v.extend_from_slice(b"data");
    if tag_64 {
        v.extend_from_slice(&[0xd8, 0x40]); // tag 64, Uint8Array
    }
    v.extend_from_slice(&[0x43, 0x42, 0x01, 0xff]); // byte string, 3 bytes: 42 01 ff
    v
}

#[test]
fn sync_matches_a_hand_built_cbor_vector() {
    let expected = Message::Sync {
        document_id: doc(),
        sender_id: peer("a"),
        target_id: peer("b"),
        data: vec![0x42, 0x01, 0xff],
        doc_type: None,
    };
    assert_eq!(decode(&sync_vector(false)), Ok(expected.clone()));
    assert_eq!(decode(&sync_vector(true)), Ok(expected.clone()));
    assert_eq!(expected.encode(), sync_vector(false));
}

#[test]
fn every_truncation_of_every_frame_is_a_typed_cbor_error() {
    for message in every_message() {
        let frame = message.encode();
        for len in 0..frame.len() {
            match decode(&frame[..len]) {
                Err(DecodeError::Cbor(
                    CborError::UnexpectedEnd { offset }
                    | CborError::LengthBeyondInput { offset, .. },
                )) => assert!(offset <= len, "{} cut at {len}", message.type_name()),
                other => panic!("{} cut at {len}: {other:?}", message.type_name()),
            }
        }
    }
}

/// A frame with `type` and the given extra entries (already-encoded key/value pairs).
fn frame_with(ty: &str, entries: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut v = vec![0xa0 + 1 + entries.len() as u8];
    push_text(&mut v, "type");
    push_text(&mut v, ty);
    for (key, value) in entries {
        push_text(&mut v, key);
        v.extend_from_slice(value);
    }
    v
}

fn push_text(v: &mut Vec<u8>, s: &str) {
    assert!(s.len() < 256);
    if s.len() < 24 {
        v.push(0x60 + s.len() as u8);
    } else {
        v.extend_from_slice(&[0x78, s.len() as u8]);
    }
    v.extend_from_slice(s.as_bytes());
}

fn text(s: &str) -> Vec<u8> {
    let mut v = Vec::new();
    push_text(&mut v, s);
    v
}

fn bytes(b: &[u8]) -> Vec<u8> {
    assert!(b.len() < 24);
    let mut v = vec![0x40 + b.len() as u8];
    v.extend_from_slice(b);
    v
}

fn sync_fields(data: Vec<u8>) -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("documentId", text(&doc().to_string())),
        ("senderId", text("a")),
        ("targetId", text("b")),
        ("data", data),
    ]
}

#[test]
fn wrong_field_types_name_the_field() {
    let cases: Vec<(Vec<u8>, &str, &str)> = vec![
        (
            frame_with("leave", &[("senderId", vec![0x05])]),
            "senderId",
            "unsigned integer",
        ),
        (
            frame_with("sync", &sync_fields(text("BAD"))),
            "data",
            "text string",
        ),
        (
            frame_with("error", &[("message", vec![0x80])]),
            "message",
            "array",
        ),
        (
            frame_with(
                "join",
                &[
                    ("senderId", text("a")),
                    ("supportedProtocolVersions", vec![0x81, 0x01]),
                ],
            ),
            "supportedProtocolVersions",
            "unsigned integer",
        ),
        (
            frame_with(
                "join",
                &[
                    ("senderId", text("a")),
                    ("peerMetadata", vec![0x80]),
                    ("supportedProtocolVersions", vec![0x80]),
                ],
            ),
            "peerMetadata",
            "array",
        ),
        (
            frame_with(
                "join",
                &[
                    ("senderId", text("a")),
                    (
                        "peerMetadata",
                        [vec![0xa1], text("isEphemeral"), text("no")].concat(),
                    ),
                    ("supportedProtocolVersions", vec![0x80]),
                ],
            ),
            "peerMetadata.isEphemeral",
            "text string",
        ),
        (
            vec![0xa1, 0x64, b't', b'y', b'p', b'e', 0x01],
            "type",
            "unsigned integer",
        ),
    ];
    for (frame, field, found_kind) in cases {
        match decode(&frame) {
            Err(DecodeError::WrongFieldType {
                field: f, found, ..
            }) => {
                assert_eq!((f, found), (field, found_kind));
            }
            other => panic!("{field}: {other:?}"),
        }
    }
}

#[test]
fn missing_fields_bad_ids_and_numbers_are_typed_errors() {
    assert_eq!(
        decode(&frame_with("leave", &[])),
        Err(DecodeError::MissingField {
            message_type: "leave",
            field: "senderId"
        })
    );
    assert_eq!(
        decode(&frame_with("leave", &[("senderId", vec![0xf6])])),
        Err(DecodeError::MissingField {
            message_type: "leave",
            field: "senderId"
        })
    );
    assert_eq!(
        decode(&frame_with("leave", &[("senderId", text(""))])),
        Err(DecodeError::InvalidId {
            message_type: "leave",
            field: "senderId",
            source: IdError::Empty
        })
    );
    let mut fields = sync_fields(bytes(&[0x42]));
    fields[0].1 = text(&doc().to_url());
    assert_eq!(
        decode(&frame_with("sync", &fields)),
        Err(DecodeError::InvalidDocumentId {
            message_type: "sync",
            field: "documentId",
            source: DocumentIdError::NotBase58Check
        })
    );
    let ephemeral = |count: Vec<u8>| {
        frame_with(
            "ephemeral",
            &[
                ("senderId", text("a")),
                ("targetId", text("b")),
                ("count", count),
                ("sessionId", text("s")),
                ("documentId", text(&doc().to_string())),
                ("data", bytes(&[])),
            ],
        )
    };
    assert_eq!(
        decode(&ephemeral(vec![0x20])),
        Err(DecodeError::NumberOutOfRange {
            message_type: "ephemeral",
            field: "count"
        })
    );
    let mut float_count = vec![0xfb];
    float_count.extend_from_slice(&5e9f64.to_be_bytes());
    assert!(matches!(
        decode(&ephemeral(float_count)),
        Ok(Message::Ephemeral {
            count: 5_000_000_000,
            ..
        })
    ));
    assert_eq!(
        decode(&frame_with(
            "remote-heads-changed",
            &[
                ("senderId", text("a")),
                ("targetId", text("b")),
                ("documentId", text(&doc().to_string())),
                (
                    "newHeads",
                    [vec![0xa1], text("s"), vec![0xa1], text("heads"), vec![0x80]].concat()
                ),
            ]
        )),
        Err(DecodeError::MissingField {
            message_type: "remote-heads-changed",
            field: "newHeads.*.timestamp"
        })
    );
}

#[test]
fn sync_and_request_data_must_be_an_automerge_sync_message() {
    for ty in ["sync", "request"] {
        assert!(decode(&frame_with(ty, &sync_fields(bytes(&[0x42])))).is_ok());
        assert!(decode(&frame_with(ty, &sync_fields(bytes(&[0x43, 9])))).is_ok());
        assert_eq!(
            decode(&frame_with(ty, &sync_fields(bytes(&[0x85, 0x6f, 0x4a])))),
            Err(DecodeError::NotAnAutomergeSyncMessage {
                message_type: if ty == "sync" { "sync" } else { "request" },
                first_byte: Some(0x85)
            })
        );
        assert!(matches!(
            decode(&frame_with(ty, &sync_fields(bytes(&[])))),
            Err(DecodeError::NotAnAutomergeSyncMessage {
                first_byte: None,
                ..
            })
        ));
    }
}

#[test]
fn unknown_and_missing_types_are_rejected_without_echoing_long_strings() {
    assert_eq!(
        decode(&frame_with("bogus", &[])),
        Err(DecodeError::UnknownType("bogus".into()))
    );
    let long = "x".repeat(200);
    match decode(&frame_with(&long, &[])) {
        Err(DecodeError::UnknownType(echoed)) => assert_eq!(echoed, "x".repeat(32)),
        other => panic!("{other:?}"),
    }
    let err = decode(&frame_with(&long, &[])).unwrap_err().to_string();
    assert!(err.len() < 80, "{err}");
    assert_eq!(decode(&[0xa0]), Err(DecodeError::MissingType));
    assert_eq!(
        decode(&[0x80]),
        Err(DecodeError::NotAMap { found: "array" })
    );
    assert_eq!(
        decode(&[0xa1, 0x01, 0x02]),
        Err(DecodeError::NonTextKey { field: "message" })
    );
    let mut dup = frame_with("leave", &[("senderId", text("a")), ("senderId", text("b"))]);
    assert_eq!(
        decode(&dup),
        Err(DecodeError::DuplicateKey {
            field: "message",
            key: "senderId".into()
        })
    );
    dup[0] = 0xa2;
    assert!(matches!(
        decode(&dup),
        Err(DecodeError::Cbor(CborError::TrailingBytes { .. }))
    ));
}

#[test]
fn limits_are_enforced() {
    let big = Message::Sync {
        document_id: doc(),
        sender_id: peer("a"),
        target_id: peer("b"),
        data: vec![0x42; 1000],
        doc_type: None,
    }
    .encode();
    let limits = Limits {
        max_frame_bytes: 512,
        ..Limits::default()
    };
    assert_eq!(
        Message::decode(&big, &limits),
        Err(DecodeError::FrameTooLarge {
            len: big.len(),
            max: 512
        })
    );

    // 100 nested arrays in an unknown field: refused at the default depth of 16.
    let deep = frame_with(
        "leave",
        &[
            ("senderId", text("a")),
            ("x", [vec![0x81; 100], vec![0x00]].concat()),
        ],
    );
    assert!(matches!(
        decode(&deep),
        Err(DecodeError::Cbor(CborError::NestingTooDeep { max: 16, .. }))
    ));
    let deeper = Limits {
        max_depth: 10_000,
        ..Limits::default()
    };
    let very_deep = frame_with("leave", &[("x", [vec![0x81; 5_000], vec![0x00]].concat())]);
    assert!(matches!(
        Message::decode(&very_deep, &deeper),
        Err(DecodeError::Cbor(CborError::NestingTooDeep {
            max: HARD_MAX_DEPTH,
            ..
        }))
    ));

    // Declared lengths far beyond the input.
    let huge_bytes = frame_with(
        "leave",
        &[(
            "x",
            vec![0x5b, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
        )],
    );
    assert!(matches!(
        decode(&huge_bytes),
        Err(DecodeError::Cbor(CborError::LengthBeyondInput {
            offset: 14,
            ..
        }))
    ));
    let huge_array = frame_with("leave", &[("x", vec![0x9a, 0x00, 0x00, 0x10, 0x00])]);
    assert!(matches!(
        decode(&huge_array),
        Err(DecodeError::Cbor(CborError::LengthBeyondInput {
            declared: 4096,
            ..
        }))
    ));
    let huge_map = vec![0xbb, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
    assert!(matches!(
        decode(&huge_map),
        Err(DecodeError::Cbor(CborError::TooManyItems { offset: 0, .. }))
    ));
    let few_items = Limits {
        max_items: 8,
        ..Limits::default()
    };
    let frame = frame_with(
        "leave",
        &[("senderId", text("a")), ("x", vec![0x83, 1, 2, 3])],
    );
    assert!(matches!(
        Message::decode(&frame, &few_items),
        Err(DecodeError::Cbor(CborError::TooManyItems { max: 8, .. }))
    ));
    let short_strings = Limits {
        max_string_bytes: 4,
        ..Limits::default()
    };
    assert!(matches!(
        Message::decode(
            &frame_with("leave", &[("senderId", text("abcde"))]),
            &short_strings
        ),
        Err(DecodeError::Cbor(CborError::TextTooLong {
            len: 5,
            max: 4,
            ..
        }))
    ));
}

#[test]
fn trailing_garbage_is_rejected() {
    let mut frame = every_message()[0].encode();
    let end = frame.len();
    frame.extend_from_slice(&[0x00, 0x01]);
    assert_eq!(
        decode(&frame),
        Err(DecodeError::Cbor(CborError::TrailingBytes {
            offset: end,
            count: 2
        }))
    );
}

#[test]
fn peer_metadata_wins_over_metadata_and_long_ids_are_refused() {
    let meta = |storage: &str| [vec![0xa1], text("storageId"), text(storage)].concat();
    let frame = frame_with(
        "peer",
        &[
            ("senderId", text("server")),
            ("targetId", text("phone")),
            ("selectedProtocolVersion", text("1")),
            ("metadata", meta("from-metadata")),
            ("peerMetadata", meta("from-peer-metadata")),
        ],
    );
    assert!(matches!(
        decode(&frame),
        Ok(Message::Peer {
            peer_metadata: Some(PeerMetadata {
                storage_id: Some(ref s),
                is_ephemeral: false,
            }),
            ..
        }) if s.as_str() == "from-peer-metadata"
    ));

    let mut long_id = vec![0x79, 0x01, 0x01]; // text, 257 bytes
    long_id.extend_from_slice(&[b'p'; 257]);
    assert_eq!(
        decode(&frame_with("leave", &[("senderId", long_id)])),
        Err(DecodeError::InvalidId {
            message_type: "leave",
            field: "senderId",
            source: IdError::TooLong(257)
        })
    );
}
