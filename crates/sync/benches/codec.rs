//! Decode and encode of a 2 KB `sync` frame, the hot path of the sync hub.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use paindiary_sync::ids::DocumentId;
use paindiary_sync::protocol::{Limits, Message, PeerId};

fn sync_frame() -> Vec<u8> {
    let mut data = vec![0x42];
    data.extend((0..2047u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8));
    Message::Sync {
        document_id: DocumentId::from_bytes([9; 16]),
        sender_id: PeerId::new("phone-3f6c2a1e-8d7b-4c5e-9a0f-1b2c3d4e5f60").unwrap(),
        target_id: PeerId::new("server-eu-1").unwrap(),
        data,
        doc_type: None,
    }
    .encode()
}

fn codec(c: &mut Criterion) {
    let frame = sync_frame();
    let limits = Limits::default();
    let message = Message::decode(&frame, &limits).unwrap();
    c.bench_function("decode sync 2KB", |b| {
        b.iter(|| Message::decode(black_box(&frame), &limits).unwrap())
    });
    c.bench_function("encode sync 2KB", |b| {
        b.iter(|| black_box(&message).encode())
    });
    c.bench_function("decode+encode sync 2KB", |b| {
        b.iter(|| {
            Message::decode(black_box(&frame), &limits)
                .unwrap()
                .encode()
        })
    });
}

criterion_group!(benches, codec);
criterion_main!(benches);
