//! The five functions' metrics: CloudWatch Embedded Metric Format on stdout, through
//! `metrics_cloudwatch_embedded`, next to the JSON logs.
//!
//! Each EMF document is one line of its own (`Collector::flush` writes one document per label set
//! and a newline after each), so CloudWatch Logs takes it as one log event and extracts its
//! metrics; the JSON log lines around it stay ordinary log events. The flush runs after the
//! handler's future has finished, when nothing of the invocation is logging any more.

use metrics_cloudwatch_embedded::{Builder, Collector};

use super::logs;
use super::metric::{self, Function};

/// The environment variable naming the CloudWatch namespace.
pub const NAMESPACE_VAR: &str = "STARLING_METRICS_NAMESPACE";
/// The namespace when [`NAMESPACE_VAR`] is unset or blank.
pub const DEFAULT_NAMESPACE: &str = "Starling";

/// The metrics recorder could not be installed.
#[derive(Debug, thiserror::Error)]
#[error("installing the CloudWatch metrics recorder failed: {0}")]
pub struct MetricsError(String);

/// Starts a function's telemetry, once, at init: the JSON logs, and the EMF recorder with the
/// namespace from [`NAMESPACE_VAR`] and the one dimension `Function` = `function`'s short name.
/// The returned collector goes to [`run`]. Fails if a metrics recorder is already installed.
pub fn init_function(function: Function) -> Result<&'static Collector, MetricsError> {
    logs::init();
    let collector = Builder::new()
        .cloudwatch_namespace(namespace(std::env::var(NAMESPACE_VAR).ok()))
        .with_dimension(metric::FUNCTION_DIMENSION, function.name())
        // Written once per instance, before its first invocation runs.
        .lambda_cold_start_metric(metric::COLD_START)
        .init()
        .map_err(|e| MetricsError(e.to_string()))?;
    metric::describe();
    Ok(collector)
}

/// The namespace `value` names, or [`DEFAULT_NAMESPACE`] when it is unset or blank.
pub fn namespace(value: Option<String>) -> String {
    value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty()).unwrap_or_else(|| DEFAULT_NAMESPACE.to_owned())
}

/// `lambda_runtime::run` with the metrics layer: the same handler, the same tracing layer, and
/// a flush of the metrics (one EMF line per label set) after each invocation.
pub use metrics_cloudwatch_embedded::lambda::service::run;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_namespace_is_the_variable_trimmed_or_starling_when_unset_or_blank() {
        assert_eq!(namespace(Some(" StarlingProd ".into())), "StarlingProd");
        assert_eq!(namespace(None), "Starling");
        assert_eq!(namespace(Some("  ".into())), "Starling");
    }
}
