//! `GET /_devstack/metrics`: what the handlers record through the `metrics` facade (the same
//! calls that become CloudWatch EMF in the Lambdas, docs/metrics.md), as Prometheus text from
//! `metrics-exporter-prometheus`, each series labelled `function` with the function that
//! recorded it, as the Lambdas' `Function` dimension.
//!
//! One recorder per process (the `metrics` recorder is global): every devstack started in the
//! process records into it, so the counts are the process's, from its first devstack on. With
//! `--lambda-endpoint` the handlers run in other processes and record there (to their stdout, as
//! EMF); this page then shows only what this process records, which is nothing of theirs.

use std::future::Future;
use std::sync::OnceLock;
use std::time::Duration;

use axum::http::header;
use axum::response::{IntoResponse, Response};
use metrics::{Counter, Gauge, Histogram, Key, KeyName, Label, Metadata, Recorder, SharedString, Unit};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle, PrometheusRecorder};
use starling_shared::telemetry::metric::{self, Function};

/// The label that says which function recorded a series.
pub(crate) const FUNCTION_LABEL: &str = "function";
/// How often recorded histogram values are folded into their summaries when nobody scrapes (the
/// exporter's own listener does this every 5 s; this devstack has no listener of the exporter).
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

tokio::task_local! {
    /// The function whose handler is running in this task.
    static FUNCTION: Function;
}

/// The process's recorder: `None` when another recorder was installed first.
static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Runs `handler` as `function`: what it records is labelled `function="<name>"`.
pub(crate) async fn as_function<F: Future>(function: Function, handler: F) -> F::Output {
    FUNCTION.scope(function, handler).await
}

/// Installs the Prometheus recorder the first time a devstack starts in this process.
pub(crate) fn install() {
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        if let Err(e) = metrics::set_global_recorder(Labelled { inner: recorder }) {
            tracing::warn!(error = %e, "another metrics recorder is installed; /_devstack/metrics stays empty");
            return None;
        }
        metric::describe();
        let upkeep = handle.clone();
        let spawned = std::thread::Builder::new().name("metrics-upkeep".into()).spawn(move || {
            loop {
                std::thread::sleep(UPKEEP_EVERY);
                upkeep.run_upkeep();
            }
        });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "no metrics upkeep thread; histograms are folded at each scrape only");
        }
        Some(handle)
    });
}

/// `GET /_devstack/metrics`: Prometheus text exposition format 0.0.4.
pub(crate) async fn render() -> Response {
    let body = HANDLE.get().and_then(Option::as_ref).map(PrometheusHandle::render).unwrap_or_default();
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], body).into_response()
}

/// The Prometheus recorder, with the `function` label of the task's [`FUNCTION`] added to every
/// series registered inside [`as_function`].
struct Labelled {
    inner: PrometheusRecorder,
}

impl Labelled {
    fn key(key: &Key) -> Key {
        match FUNCTION.try_with(|f| f.name()) {
            Ok(name) => key.with_extra_labels(vec![Label::new(FUNCTION_LABEL, name)]),
            Err(_) => key.clone(),
        }
    }
}

impl Recorder for Labelled {
    fn describe_counter(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.inner.describe_counter(key, unit, description);
    }

    fn describe_gauge(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.inner.describe_gauge(key, unit, description);
    }

    fn describe_histogram(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.inner.describe_histogram(key, unit, description);
    }

    fn register_counter(&self, key: &Key, metadata: &Metadata<'_>) -> Counter {
        self.inner.register_counter(&Self::key(key), metadata)
    }

    fn register_gauge(&self, key: &Key, metadata: &Metadata<'_>) -> Gauge {
        self.inner.register_gauge(&Self::key(key), metadata)
    }

    fn register_histogram(&self, key: &Key, metadata: &Metadata<'_>) -> Histogram {
        self.inner.register_histogram(&Self::key(key), metadata)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_series_recorded_inside_a_function_gets_its_label_and_one_outside_gets_none() {
        let recorder = Labelled { inner: PrometheusBuilder::new().build_recorder() };
        let handle = recorder.inner.handle();
        let record = || metrics::with_local_recorder(&recorder, || metrics::counter!("probe").increment(1));
        as_function(Function::Fanout, async { record() }).await;
        record();
        let text = handle.render();
        assert!(text.lines().any(|l| l == r#"probe{function="fanout"} 1"#), "{text}");
        assert!(text.lines().any(|l| l == "probe 1"), "{text}");
    }
}
