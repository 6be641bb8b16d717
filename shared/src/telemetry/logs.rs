//! Structured JSON logs on stdout, one object per line, as CloudWatch Logs Insights reads them.

use tracing::level_filters::LevelFilter;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::prelude::*;

/// Installs the JSON subscriber; the level comes from `RUST_LOG` (default `info`).
pub fn init() {
    // A second init (tests, the devstack) keeps the first subscriber; that is fine.
    let _ = tracing_subscriber::registry().with(fmt_layer()).with(filter(std::env::var("RUST_LOG").ok())).try_init();
}

/// An error and its sources, `: `-separated, as a human reads them in a log line or the DLQ.
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// The JSON formatting layer, flat events without span lists.
fn fmt_layer<S>() -> impl tracing_subscriber::Layer<S>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    tracing_subscriber::fmt::layer()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(false)
        .with_target(false)
}

/// `RUST_LOG` as `target=level` directives (`info`, `warn,starling_shared=debug`). A Lambda only
/// needs targets and levels, and `Targets` parses them without the regex engine `EnvFilter`
/// links for span and field filters (docs/deploy.md). A value that is empty or does not parse
/// falls back to `info`, as an unset one does, so a typo never silences the logs.
fn filter(rust_log: Option<String>) -> Targets {
    rust_log
        .filter(|value| !value.trim().is_empty())
        .and_then(|value| value.parse::<Targets>().ok())
        .unwrap_or_else(|| Targets::new().with_default(LevelFilter::INFO))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing::Level;

    #[test]
    fn rust_log_sets_levels_per_target_and_falls_back_to_info() {
        let f = filter(Some("warn,starling_shared=debug".into()));
        assert!(f.would_enable("starling_shared::service", &Level::DEBUG));
        assert!(!f.would_enable("aws_smithy_runtime", &Level::INFO));
        assert!(f.would_enable("aws_smithy_runtime", &Level::WARN));
        for unset_or_bad in [None, Some(String::new()), Some(" ".into()), Some("starling=loud".into())] {
            let f = filter(unset_or_bad);
            assert!(f.would_enable("anything", &Level::INFO));
            assert!(!f.would_enable("anything", &Level::DEBUG));
        }
    }
}
