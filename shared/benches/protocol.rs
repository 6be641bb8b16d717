//! Frame parse + validate: what every `send` invocation pays before any I/O.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use starling_shared::protocol::{MAX_BODY_BYTES, parse_request};
use std::hint::black_box;

fn parse(c: &mut Criterion) {
    let mut group = c.benchmark_group("parse_request");
    let frames = [
        ("ping", r#"{"action":"ping"}"#.to_owned()),
        ("send_small", r#"{"action":"send","room":"lobby","body":"hello there","clientMsgId":"c-1"}"#.to_owned()),
        (
            "send_16KiB",
            format!(
                r#"{{"action":"send","room":"lobby","body":"{}","clientMsgId":"c-1"}}"#,
                "é".repeat(MAX_BODY_BYTES / 2)
            ),
        ),
        ("history", r#"{"action":"history","room":"team.eng:general","before":4200,"limit":100}"#.to_owned()),
        ("bad_json", r#"{"action":"send","room":"lobby","body":"#.to_owned()),
    ];
    for (name, frame) in &frames {
        group.throughput(Throughput::Bytes(frame.len() as u64));
        group.bench_function(*name, |b| b.iter(|| parse_request(black_box(frame))));
    }
    group.finish();
}

criterion_group!(benches, parse);
criterion_main!(benches);
