//! Prometheus metrics of the mock server, held in its own `Registry` (fresh per test, never global).

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, Opts, Registry, TextEncoder,
};

/// The server's metrics.
#[derive(Clone)]
pub struct Metrics {
    /// The registry `/metrics` renders.
    pub registry: Registry,
    /// Requests by route, method, model and status.
    pub requests: IntCounterVec,
    /// Request duration by route.
    pub duration: HistogramVec,
    /// Requests answered by each fixture.
    pub fixture_matches: IntCounterVec,
    /// Requests no fixture matched, by protocol.
    pub fixture_misses: IntCounterVec,
    /// Fixtures currently loaded.
    pub fixtures_loaded: IntGauge,
    /// Fixture reloads by result (`ok` or `error`).
    pub reloads: IntCounterVec,
}

impl Metrics {
    /// Creates and registers every metric.
    pub fn new() -> Self {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new(
                "mockmodel_requests_total",
                "HTTP requests by route, method, model and status",
            ),
            &["route", "method", "model", "status"],
        )
        .expect("valid metric");
        let duration = HistogramVec::new(
            HistogramOpts::new(
                "mockmodel_request_duration_seconds",
                "Time to the response headers by route",
            )
            .buckets(vec![0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 30.0]),
            &["route"],
        )
        .expect("valid metric");
        let fixture_matches = IntCounterVec::new(
            Opts::new(
                "mockmodel_fixture_matches_total",
                "Requests answered by each fixture (file#index)",
            ),
            &["fixture"],
        )
        .expect("valid metric");
        let fixture_misses = IntCounterVec::new(
            Opts::new(
                "mockmodel_fixture_misses_total",
                "Requests no fixture matched, by protocol",
            ),
            &["protocol"],
        )
        .expect("valid metric");
        let fixtures_loaded =
            IntGauge::new("mockmodel_fixtures_loaded", "Fixtures currently loaded").expect("valid metric");
        let reloads = IntCounterVec::new(
            Opts::new(
                "mockmodel_fixture_reloads_total",
                "Fixture reloads by result (ok, error)",
            ),
            &["result"],
        )
        .expect("valid metric");
        for c in [
            Box::new(requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(duration.clone()),
            Box::new(fixture_matches.clone()),
            Box::new(fixture_misses.clone()),
            Box::new(fixtures_loaded.clone()),
            Box::new(reloads.clone()),
        ] {
            registry.register(c).expect("metric names are unique");
        }
        Metrics {
            registry,
            requests,
            duration,
            fixture_matches,
            fixture_misses,
            fixtures_loaded,
            reloads,
        }
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        // Encoding into a Vec cannot fail for well-formed metrics.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buf);
        String::from_utf8(buf).unwrap_or_default()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
