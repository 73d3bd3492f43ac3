//! Prometheus metrics of the operator and the small HTTP server exposing them (`/metrics`,
//! `/healthz`) on the operator's own port.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use prometheus::{
    Encoder, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, Opts, Registry, TextEncoder,
};

/// The operator's metrics, in their own registry (fresh per test, no global state).
#[derive(Debug, Clone)]
pub struct Metrics {
    /// Registry holding every metric below.
    pub registry: Registry,
    /// Reconciles started.
    pub reconciles: IntCounter,
    /// Failed reconciles by reason (`Error::metric_label`).
    pub failures: IntCounterVec,
    /// Reconcile duration.
    pub duration: Histogram,
    /// 1 while this replica holds the leader lease.
    pub leader: IntGauge,
    /// Reconciles whose child applies were skipped because the cluster already held them.
    pub applies_skipped: IntCounter,
}

impl Default for Metrics {
    fn default() -> Self {
        let registry = Registry::new();
        let reconciles = IntCounter::new("mockmodel_operator_reconcile_total", "Reconciles started.")
            .expect("valid metric");
        let failures = IntCounterVec::new(
            Opts::new(
                "mockmodel_operator_reconcile_failures_total",
                "Failed reconciles by reason.",
            ),
            &["reason"],
        )
        .expect("valid metric");
        let duration = Histogram::with_opts(
            HistogramOpts::new(
                "mockmodel_operator_reconcile_duration_seconds",
                "Reconcile duration.",
            )
            .buckets(vec![0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0]),
        )
        .expect("valid metric");
        let leader = IntGauge::new(
            "mockmodel_operator_leader",
            "1 while this replica holds the leader lease.",
        )
        .expect("valid metric");
        let applies_skipped = IntCounter::new(
            "mockmodel_operator_applies_skipped_total",
            "Reconciles that skipped applying children the cluster already held.",
        )
        .expect("valid metric");
        for m in [
            Box::new(applies_skipped.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(reconciles.clone()),
            Box::new(failures.clone()),
            Box::new(duration.clone()),
            Box::new(leader.clone()),
        ] {
            registry.register(m).expect("metric registered once");
        }
        Metrics {
            registry,
            reconciles,
            failures,
            duration,
            leader,
            applies_skipped,
        }
    }
}

impl Metrics {
    /// Counts a reconcile and returns a guard that observes its duration when dropped.
    pub fn count_and_measure(&self) -> ReconcileTimer {
        self.reconciles.inc();
        ReconcileTimer {
            start: Instant::now(),
            histogram: self.duration.clone(),
        }
    }

    /// Counts a failure.
    pub fn failure(&self, reason: &str) {
        self.failures.with_label_values(&[reason]).inc();
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        // NB: encoding into a Vec cannot fail for well-formed metrics.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buf);
        String::from_utf8(buf).unwrap_or_default()
    }
}

/// Observes the elapsed time into the duration histogram on drop.
pub struct ReconcileTimer {
    start: Instant,
    histogram: Histogram,
}

impl Drop for ReconcileTimer {
    fn drop(&mut self) {
        self.histogram.observe(self.start.elapsed().as_secs_f64());
    }
}

/// `/metrics` and `/healthz`.
pub fn app(metrics: Arc<Metrics>) -> Router {
    Router::new()
        .route("/metrics", get(metrics_handler))
        .route("/healthz", get(|| async { "ok" }))
        .with_state(metrics)
}

async fn metrics_handler(State(m): State<Arc<Metrics>>) -> impl IntoResponse {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        m.render(),
    )
}

/// Serves [`app`] on `addr` until `shutdown` resolves.
pub async fn serve(
    addr: SocketAddr,
    metrics: Arc<Metrics>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    axum::serve(listener, app(metrics))
        .with_graceful_shutdown(shutdown)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reconciles_failures_and_duration_are_exposed() {
        let m = Metrics::default();
        drop(m.count_and_measure());
        m.failure("invalid_fixtures");
        let text = m.render();
        assert!(text.contains("mockmodel_operator_reconcile_total 1"));
        assert!(text.contains("mockmodel_operator_reconcile_failures_total{reason=\"invalid_fixtures\"} 1"));
        assert!(text.contains("mockmodel_operator_reconcile_duration_seconds_count 1"));
    }
}
