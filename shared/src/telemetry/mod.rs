//! What the functions tell their operators: JSON logs ([`init`], [`chain`]) and metrics through
//! the `metrics` facade ([`metric`]: every name, its unit, and the calls that record it).
//!
//! A Lambda installs both with [`init_function`] and runs its handler with [`run`], which flushes
//! the metrics as CloudWatch Embedded Metric Format after each invocation; the devstack installs
//! its own recorder (Prometheus text). Any `metrics::counter!` or `metrics::histogram!` anywhere
//! in this crate reaches whichever is installed, and nothing when none is (unit tests).
//! docs/metrics.md lists the metrics.

mod lambda;
mod logs;
pub mod metric;

pub use lambda::{DEFAULT_NAMESPACE, MetricsError, NAMESPACE_VAR, init_function, namespace, run};
pub use logs::{chain, init};
