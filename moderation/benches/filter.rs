//! The built-in moderation filter's cost per message (issue #13's goal: at most 20 µs for a
//! 1 KiB body against 1,000 rules): a clean body, one with a masked word, and one in other
//! scripts, each against 1,000 terms with every limit on.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use starling_moderation::{Filter, Rules};
use std::hint::black_box;

/// 1,000 made-up words and phrases, half rejected and half masked.
fn rules() -> Filter {
    rules_with(r#""maxLinks":5,"maxMentions":10,"maxRepeat":20,"#, 1_000)
}

fn rules_with(limits: &str, n: usize) -> Filter {
    let terms: Vec<String> = (0..n)
        .map(|i| {
            let action = if i % 2 == 0 { "reject" } else { "mask" };
            let text = if i % 10 == 0 { format!("zq{i} xv{i}") } else { format!("blorf{i}x") };
            format!(r#"{{"text":"{text}","action":"{action}"}}"#)
        })
        .collect();
    let json = format!(r#"{{"version":1,{limits}"terms":[{}]}}"#, terms.join(","));
    Filter::new(Rules::parse(&json).expect("valid rules")).expect("compiles")
}

/// About 1 KiB: a link and a mention (under the limits), then `text` repeated.
fn kib(text: &str) -> String {
    let head = "see https://example.com/a @bob ";
    format!("{head}{}", text.repeat((1024 - head.len()) / text.len()))
}

fn review(c: &mut Criterion) {
    let filter = rules();
    let mut group = c.benchmark_group("moderation_1000_rules");
    let bodies = [
        ("clean_1KiB", kib("The quick brown fox jumps over the lazy dog, and again. ")),
        ("masked_1KiB", kib("Nothing to see here but blorf1x, which is masked everywhere it appears. ")),
        ("unicode_1KiB", kib("Ｆｕｌｌｗｉｄｔｈ текст ʜ3ll0 wörld 日本語のテキスト ")),
        // Leetspeak signs only: each run's lookahead is made once, so this stays linear.
        ("signs_1KiB", kib("!$|+@")),
    ];
    for (name, body) in &bodies {
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_function(*name, |b| b.iter(|| filter.review(black_box(body))));
    }
    group.finish();
    // Where the time goes: the limits alone, the terms alone.
    let mut group = c.benchmark_group("moderation_parts");
    let (limits, terms) = (rules_with(r#""maxLinks":5,"maxMentions":10,"maxRepeat":20,"#, 0), rules_with("", 1_000));
    let one = rules_with("", 1);
    for (name, body) in &bodies {
        group.bench_function(format!("limits_only/{name}"), |b| b.iter(|| limits.review(black_box(body))));
        group.bench_function(format!("terms_only/{name}"), |b| b.iter(|| terms.review(black_box(body))));
        group.bench_function(format!("one_term/{name}"), |b| b.iter(|| one.review(black_box(body))));
    }
    group.finish();
}

criterion_group!(benches, review);
criterion_main!(benches);
