//! Frames captured from the real JS client (`@automerge/automerge-repo` 2.5) must decode.
//!
//! Every file in `tests/fixtures/js-frames/` is one WebSocket frame (documentation files
//! ending in `.md`, `.txt` or `.json` are skipped). A file whose name contains a message
//! type (`join`, `sync`, `remote-heads-changed`, ... with `_` read as `-`) must decode to
//! that type; the longest matching type name wins. At least one `join` and one `sync`
//! frame must be present, so an empty or missing directory fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fs;
use std::path::Path;

use paindiary_sync::protocol::{Limits, MESSAGE_TYPES, Message};

const SKIPPED_EXTENSIONS: [&str; 3] = ["md", "txt", "json"];

#[test]
fn frames_from_the_js_client_decode_to_their_named_types() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/js-frames");
    let entries = fs::read_dir(&dir).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; frames captured from the JS automerge-repo client belong here",
            dir.display()
        )
    });
    let mut joins = 0;
    let mut syncs = 0;
    let mut decoded = 0;
    for entry in entries {
        let path = entry.unwrap().path();
        if !path.is_file() {
            continue;
        }
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
        if SKIPPED_EXTENSIONS.contains(&ext.to_ascii_lowercase().as_str()) {
            continue;
        }
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap()
            .to_ascii_lowercase()
            .replace('_', "-");
        let frame = fs::read(&path).unwrap();
        let message = Message::decode(&frame, &Limits::default())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        decoded += 1;
        let named = MESSAGE_TYPES
            .iter()
            .filter(|t| name.contains(*t))
            .max_by_key(|t| t.len());
        if let Some(expected) = named {
            assert_eq!(message.type_name(), *expected, "{}", path.display());
            match *expected {
                "join" => joins += 1,
                "sync" => syncs += 1,
                _ => {}
            }
        }
        // What we decode we must be able to write back in a form we read identically.
        assert_eq!(
            Message::decode(&message.encode(), &Limits::default()).as_ref(),
            Ok(&message),
            "{}",
            path.display()
        );
    }
    assert!(
        joins > 0,
        "no *join* frame in {} ({decoded} frames)",
        dir.display()
    );
    assert!(
        syncs > 0,
        "no *sync* frame in {} ({decoded} frames)",
        dir.display()
    );
}
