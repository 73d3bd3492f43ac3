//! Prometheus metrics of the mock server, held in its own `Registry` (fresh per test, never global).
//!
//! Besides mockmodel's own request/fixture/fault counters, it exports the vLLM metric names
//! (`vllm:time_to_first_token_seconds`, …, labelled `model_name`) so dashboards and autoscalers
//! built for real model servers work against the mock unchanged.
//!
//! The series every request writes (requests, durations, fixture matches, the vLLM ones) are kept
//! once per thread ([`Hot`]) and summed when `/metrics` is read: a Prometheus counter or histogram
//! is atomics that every worker writes, and each write by one core takes the cache line from the
//! other (issue 12: with `--no-metrics` the benchmark's chat requests cost 0.5-0.7 µs less CPU,
//! several times what callgrind counts for them).

use std::cell::RefCell;
use std::sync::{Arc, RwLock};

use std::collections::BTreeMap;

use prometheus::proto::{Metric, MetricFamily, MetricType};
use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};
use rustc_hash::FxHashMap;
use thread_local::ThreadLocal;

/// vLLM's latency buckets (seconds), so histograms line up with real-server dashboards.
const LLM_BUCKETS: &[f64] = &[
    0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0,
    80.0,
];

/// vLLM-compatible model-server metrics, labelled by `model_name` (one set per thread, in [`Hot`]).
pub struct LlmMetrics {
    /// Request start to the first content chunk.
    pub ttft: HistogramVec,
    /// Gap between consecutive content chunks.
    pub inter_token: HistogramVec,
    /// Request start to the end of the response.
    pub e2e: HistogramVec,
    /// Requests being answered now.
    pub running: IntGaugeVec,
    /// Prompt tokens processed.
    pub prompt_tokens: IntCounterVec,
    /// Tokens generated.
    pub generation_tokens: IntCounterVec,
    /// Each model's handles, looked up once per model (see [`LlmMetrics::model`]).
    by_model: RwLock<FxHashMap<String, Arc<ModelMetrics>>>,
    /// The model each thread last asked for, and its handles.
    last: Last<String, Arc<ModelMetrics>>,
}

/// A metric handle kept per thread with the labels it was last used with. A request with the same
/// labels as the one before it on its thread then hashes no label, takes no lock, and writes no
/// memory the other worker threads write: a lock word or map shared by the workers is a cache-line
/// transfer between cores on every request (issue 12's hot path), which `--no-metrics` runs of the
/// benchmark showed costing more, in most runs, than its instruction count.
pub struct Last<K: Send, V: Send> {
    slots: ThreadLocal<RefCell<Option<(K, V)>>>,
}

impl<K: Send, V: Send> Default for Last<K, V> {
    fn default() -> Self {
        Last {
            slots: ThreadLocal::new(),
        }
    }
}

impl<K: Send, V: Send> Last<K, V> {
    /// Runs `f` on this thread's handle when `same` accepts its labels; otherwise on `make`'s
    /// labels and handle, which this thread keeps from then on.
    pub fn with<R>(
        &self,
        same: impl FnOnce(&K) -> bool,
        make: impl FnOnce() -> (K, V),
        f: impl FnOnce(&V) -> R,
    ) -> R {
        let mut slot = self.slots.get_or_default().borrow_mut();
        let kept = slot.take().filter(|(k, _)| same(k));
        let (_, v) = slot.insert(kept.unwrap_or_else(make));
        f(v)
    }
}

/// One model's vLLM series. A request touches up to five of them, and each `with_label_values`
/// hashes the label and takes the vector's lock: one lookup here instead (issue 12's hot path).
pub struct ModelMetrics {
    /// `vllm:time_to_first_token_seconds`.
    pub ttft: Histogram,
    /// `vllm:inter_token_latency_seconds`.
    pub inter_token: Histogram,
    /// `vllm:e2e_request_latency_seconds`.
    pub e2e: Histogram,
    /// `vllm:num_requests_running`.
    pub running: IntGauge,
    /// `vllm:prompt_tokens_total`.
    pub prompt_tokens: IntCounter,
    /// `vllm:generation_tokens_total`.
    pub generation_tokens: IntCounter,
}

impl LlmMetrics {
    /// The series of `model`: this thread's last one when it is the same model.
    pub fn model(&self, model: &str) -> Arc<ModelMetrics> {
        self.last.with(
            |m| m == model,
            || (model.to_string(), self.lookup(model)),
            Arc::clone,
        )
    }

    fn lookup(&self, model: &str) -> Arc<ModelMetrics> {
        let known = self
            .by_model
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(model)
            .cloned();
        known.unwrap_or_else(|| {
            let m = Arc::new(ModelMetrics {
                ttft: self.ttft.with_label_values(&[model]),
                inter_token: self.inter_token.with_label_values(&[model]),
                e2e: self.e2e.with_label_values(&[model]),
                running: self.running.with_label_values(&[model]),
                prompt_tokens: self.prompt_tokens.with_label_values(&[model]),
                generation_tokens: self.generation_tokens.with_label_values(&[model]),
            });
            let mut all = self.by_model.write().unwrap_or_else(|e| e.into_inner());
            all.entry(model.to_string()).or_insert(m).clone()
        })
    }
}

/// The series every request writes, one set per thread (see the module docs); `/metrics` shows
/// their sums.
pub struct Hot {
    registry: Registry,
    /// Requests by route, method, model and status.
    pub requests: IntCounterVec,
    /// Request duration by route.
    pub duration: HistogramVec,
    /// Requests answered by each fixture.
    pub fixture_matches: IntCounterVec,
    /// vLLM-compatible metrics.
    pub llm: LlmMetrics,
}

impl Hot {
    fn new() -> Self {
        let registry = Registry::new();
        let requests = counter(
            "mockmodel_requests_total",
            "HTTP requests by route, method, model and status",
            &["route", "method", "model", "status"],
        );
        let duration = histogram(
            "mockmodel_request_duration_seconds",
            "Time to the response headers by route",
            &[0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 30.0],
            &["route"],
        );
        let fixture_matches = counter(
            "mockmodel_fixture_matches_total",
            "Requests answered by each fixture (file#index)",
            &["fixture"],
        );
        let m = &["model_name"];
        let llm = LlmMetrics {
            ttft: histogram(
                "vllm:time_to_first_token_seconds",
                "Time to first token in seconds.",
                LLM_BUCKETS,
                m,
            ),
            inter_token: histogram(
                "vllm:inter_token_latency_seconds",
                "Inter-token latency in seconds.",
                LLM_BUCKETS,
                m,
            ),
            e2e: histogram(
                "vllm:e2e_request_latency_seconds",
                "End-to-end request latency in seconds.",
                LLM_BUCKETS,
                m,
            ),
            running: IntGaugeVec::new(
                Opts::new(
                    "vllm:num_requests_running",
                    "Number of requests in model execution batches.",
                ),
                m,
            )
            .expect("valid metric"),
            prompt_tokens: counter(
                "vllm:prompt_tokens_total",
                "Number of prefill tokens processed.",
                m,
            ),
            generation_tokens: counter(
                "vllm:generation_tokens_total",
                "Number of generation tokens processed.",
                m,
            ),
            by_model: RwLock::default(),
            last: Last::default(),
        };
        for c in [
            Box::new(requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(duration.clone()),
            Box::new(fixture_matches.clone()),
            Box::new(llm.ttft.clone()),
            Box::new(llm.inter_token.clone()),
            Box::new(llm.e2e.clone()),
            Box::new(llm.running.clone()),
            Box::new(llm.prompt_tokens.clone()),
            Box::new(llm.generation_tokens.clone()),
        ] {
            registry.register(c).expect("metric names are unique");
        }
        Hot {
            registry,
            requests,
            duration,
            fixture_matches,
            llm,
        }
    }
}

/// The server's metrics.
pub struct Metrics {
    /// The registry of the series written rarely (misses, reloads, faults, sessions).
    registry: Registry,
    /// Each recording thread's series every request writes.
    hot: ThreadLocal<Hot>,
    /// The fixture each thread last counted a match of, and its series.
    pub last_match: Last<Arc<str>, IntCounter>,
    /// Requests no fixture matched, by protocol.
    pub fixture_misses: IntCounterVec,
    /// Fixtures currently loaded.
    pub fixtures_loaded: IntGauge,
    /// Fixture reloads by result (`ok` or `error`).
    pub reloads: IntCounterVec,
    /// Injected faults by kind (`drop`, `malformed`, `disconnect`, `fail_first`, …).
    pub faults: IntCounterVec,
    /// Bidirectional (Nova Sonic) sessions.
    pub bidi_sessions: SessionMetrics,
}

/// Long-lived bidirectional sessions (`InvokeModelWithBidirectionalStream`), whose HTTP request
/// is counted when it starts but lasts minutes.
#[derive(Clone)]
pub struct SessionMetrics {
    /// Sessions open now.
    pub active: IntGauge,
    /// Sessions ended, by how (`completed`, `error`, `disconnected`).
    pub ended: IntCounterVec,
}

fn histogram(name: &str, help: &str, buckets: &[f64], labels: &[&str]) -> HistogramVec {
    HistogramVec::new(HistogramOpts::new(name, help).buckets(buckets.to_vec()), labels).expect("valid metric")
}

fn counter(name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric")
}

impl Metrics {
    /// Creates and registers every metric.
    pub fn new() -> Self {
        let registry = Registry::new();
        let fixture_misses = counter(
            "mockmodel_fixture_misses_total",
            "Requests no fixture matched, by protocol",
            &["protocol"],
        );
        let fixtures_loaded =
            IntGauge::new("mockmodel_fixtures_loaded", "Fixtures currently loaded").expect("valid metric");
        let reloads = counter(
            "mockmodel_fixture_reloads_total",
            "Fixture reloads by result (ok, error)",
            &["result"],
        );
        let faults = counter("mockmodel_faults_total", "Injected faults by kind", &["kind"]);
        // Known label values start at 0, so dashboards and alerts see a series before the first event.
        for p in crate::conversation::Protocol::ALL {
            fixture_misses.with_label_values(&[p.as_str()]);
        }
        for r in ["ok", "error"] {
            reloads.with_label_values(&[r]);
        }
        for k in [
            "drop",
            "malformed",
            "disconnect",
            "throttle",
            "unavailable",
            "internal",
            "fail_first",
        ] {
            faults.with_label_values(&[k]);
        }
        for k in crate::fixture::schema::SemanticFaultKind::ALL {
            faults.with_label_values(&[k.as_str()]);
        }
        let bidi_sessions = SessionMetrics {
            active: IntGauge::new(
                "mockmodel_bidi_sessions_active",
                "Bidirectional-stream sessions open now",
            )
            .expect("valid metric"),
            ended: counter(
                "mockmodel_bidi_sessions_total",
                "Bidirectional-stream sessions ended, by outcome (completed, error, disconnected)",
                &["outcome"],
            ),
        };
        for o in ["completed", "error", "disconnected"] {
            bidi_sessions.ended.with_label_values(&[o]);
        }
        for c in [
            Box::new(bidi_sessions.active.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(bidi_sessions.ended.clone()),
            Box::new(fixture_misses.clone()),
            Box::new(fixtures_loaded.clone()),
            Box::new(reloads.clone()),
            Box::new(faults.clone()),
        ] {
            registry.register(c).expect("metric names are unique");
        }
        Metrics {
            registry,
            hot: ThreadLocal::new(),
            last_match: Last::default(),
            fixture_misses,
            fixtures_loaded,
            reloads,
            faults,
            bidi_sessions,
        }
    }

    /// This thread's series of the metrics every request writes.
    pub fn hot(&self) -> &Hot {
        self.hot.get_or(Hot::new)
    }

    /// Every metric as Prometheus families, each thread's series of a family summed into one.
    pub fn gather(&self) -> Vec<MetricFamily> {
        let mut families: BTreeMap<String, MetricFamily> = BTreeMap::new();
        let per_thread = self.hot.iter().flat_map(|h| h.registry.gather());
        for family in self.registry.gather().into_iter().chain(per_thread) {
            match families.get_mut(family.name()) {
                Some(into) => merge(into, family),
                None => {
                    families.insert(family.name().to_string(), family);
                }
            }
        }
        let values = |m: &Metric| {
            m.get_label()
                .iter()
                .map(|l| l.value().to_string())
                .collect::<Vec<_>>()
        };
        families
            .into_values()
            .map(|mut f| {
                // In the order `Registry::gather` gives them: by label values.
                f.mut_metric().sort_by_key(values);
                f
            })
            .collect()
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        // Encoding into a Vec cannot fail for well-formed metrics.
        let _ = TextEncoder::new().encode(&self.gather(), &mut buf);
        String::from_utf8(buf).unwrap_or_default()
    }
}

/// Adds `from`'s series into `into`'s (one family, gathered from two threads): counters, gauges
/// and histograms (count, sum and each bucket) sum; a series only one side has is kept as it is.
fn merge(into: &mut MetricFamily, mut from: MetricFamily) {
    let kind = into.get_field_type();
    for m in from.take_metric() {
        let Some(same) = into
            .mut_metric()
            .iter_mut()
            .find(|t| t.get_label() == m.get_label())
        else {
            into.mut_metric().push(m);
            continue;
        };
        match kind {
            MetricType::COUNTER => {
                let mut c = same.get_counter().clone();
                c.set_value(c.get_value() + m.get_counter().get_value());
                same.set_counter(c);
            }
            MetricType::GAUGE => {
                let mut g = same.get_gauge().clone();
                g.set_value(g.get_value() + m.get_gauge().get_value());
                same.set_gauge(g);
            }
            MetricType::HISTOGRAM => {
                let (a, b) = (same.get_histogram(), m.get_histogram());
                let mut h = a.clone();
                h.set_sample_count(a.get_sample_count() + b.get_sample_count());
                h.set_sample_sum(a.get_sample_sum() + b.get_sample_sum());
                // Every thread's histograms of a family have the same bounds.
                let buckets = a
                    .get_bucket()
                    .iter()
                    .zip(b.get_bucket())
                    .map(|(x, y)| {
                        let mut sum = x.clone();
                        sum.set_cumulative_count(x.cumulative_count() + y.cumulative_count());
                        sum
                    })
                    .collect();
                h.set_bucket(buckets);
                same.set_histogram(h);
            }
            // Only counters, gauges and histograms are kept per thread.
            _ => {}
        }
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The value on the exposition line that starts with `series` (name and labels).
    fn value(text: &str, series: &str) -> Option<f64> {
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
    }

    #[test]
    fn each_threads_series_show_as_their_sums() {
        let m = Metrics::new();
        let record = |route: &str, secs: f64, running: i64| {
            let hot = m.hot();
            hot.requests
                .with_label_values(&[route, "POST", "gpt-4o", "200"])
                .inc();
            hot.duration.with_label_values(&[route]).observe(secs);
            hot.llm.model("gpt-4o").running.add(running);
        };
        std::thread::scope(|s| {
            s.spawn(|| {
                record("/a", 0.0002, 1);
                record("/a", 0.002, 1);
            });
            s.spawn(|| {
                record("/a", 0.02, -1);
                record("/b", 2.0, 0);
            });
        });
        record("/b", 0.0003, 0);
        let text = m.render();
        let req = |r: &str| {
            format!(
                "mockmodel_requests_total{{method=\"POST\",model=\"gpt-4o\",route=\"{r}\",status=\"200\"}}"
            )
        };
        assert_eq!(value(&text, &req("/a")), Some(3.0), "{text}");
        assert_eq!(value(&text, &req("/b")), Some(2.0));
        let dur = "mockmodel_request_duration_seconds";
        assert_eq!(value(&text, &format!("{dur}_count{{route=\"/a\"}}")), Some(3.0));
        assert_eq!(
            value(&text, &format!("{dur}_bucket{{route=\"/a\",le=\"0.0005\"}}")),
            Some(1.0)
        );
        assert_eq!(
            value(&text, &format!("{dur}_bucket{{route=\"/a\",le=\"0.005\"}}")),
            Some(2.0)
        );
        assert_eq!(
            value(&text, &format!("{dur}_bucket{{route=\"/a\",le=\"+Inf\"}}")),
            Some(3.0)
        );
        let sum = value(&text, &format!("{dur}_sum{{route=\"/a\"}}")).expect("sum");
        assert!((sum - 0.0222).abs() < 1e-12, "{sum}");
        assert_eq!(value(&text, &format!("{dur}_count{{route=\"/b\"}}")), Some(2.0));
        // A gauge raised on one thread and lowered on another shows the net.
        assert_eq!(
            value(&text, "vllm:num_requests_running{model_name=\"gpt-4o\"}"),
            Some(1.0)
        );
        // Each family once, with its help and type once, and the rarely written ones beside them.
        assert_eq!(text.matches("# TYPE mockmodel_requests_total counter").count(), 1);
        assert_eq!(
            text.matches("# TYPE mockmodel_request_duration_seconds histogram")
                .count(),
            1
        );
        assert!(text.contains("mockmodel_fixtures_loaded 0"));
        // Series in label order, as the registry writes them.
        assert!(text.find(&req("/a")) < text.find(&req("/b")));
    }
}
