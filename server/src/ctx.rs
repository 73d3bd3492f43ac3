//! Per-request context, carried in a tokio task-local set by the `app::track` middleware.
//!
//! It lets protocol-independent concerns reach every codec without threading arguments through
//! them: `state.resolve` records the model and the fault decided for the request, `stream::timed`
//! picks up the jitter seed, the stream fault and a metrics observer, and the middleware applies
//! faults to non-streamed bodies and records their latency. Codecs never see any of it.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::task::futures::TaskLocalFuture;

use crate::metrics::{Metrics, ModelMetrics};

tokio::task_local! {
    static CTX: Arc<RequestCtx>;
}

/// A fault decided for one request, applied to its body whatever the protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFault {
    /// Cut a chunk (or the whole body) in half, so the client's parser fails.
    Malformed,
    /// Drop the connection part-way through the body.
    Disconnect,
}

impl BodyFault {
    /// Label for `mockmodel_faults_total`.
    pub fn label(self) -> &'static str {
        match self {
            BodyFault::Malformed => "malformed",
            BodyFault::Disconnect => "disconnect",
        }
    }
}

#[derive(Default)]
struct Inner {
    /// The model's series and the output tokens of a planned message.
    message: Option<(Arc<ModelMetrics>, u64)>,
    fault: Option<BodyFault>,
    streamed: bool,
    /// The model the response answered (success or error), for the request metrics.
    label: Option<String>,
}

/// What the middleware and the stream scheduler share for one request.
pub struct RequestCtx {
    /// When the request arrived.
    pub started: Instant,
    /// Seed for reproducible jitter and chaos (`X-Mockmodel-Seed`), if the client sent one.
    pub seed: Option<u64>,
    /// Where to record (the server's metrics, which live as long as it does); `None` when off.
    metrics: Option<&'static Metrics>,
    inner: Mutex<Inner>,
}

impl RequestCtx {
    /// The context of a request that arrived at `started` (the caller's clock reading: one read
    /// a request fewer, issue 12).
    pub fn new(started: Instant, metrics: Option<&'static Metrics>, seed: Option<u64>) -> Arc<Self> {
        Arc::new(RequestCtx {
            started,
            seed,
            metrics,
            inner: Mutex::new(Inner::default()),
        })
    }

    /// Where to record metrics; `None` when they are switched off.
    pub fn recorder(&self) -> Option<&Metrics> {
        self.metrics
    }

    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `fut` with this context installed.
    pub fn scope<F: Future>(self: Arc<Self>, fut: F) -> TaskLocalFuture<Arc<RequestCtx>, F> {
        CTX.scope(self, fut)
    }

    /// After the handler, `elapsed` after the request arrived: the fault to apply to a body that
    /// was not streamed by `stream::timed`, and records the vLLM latency metrics of such a message
    /// answer.
    pub fn finish_unary(&self, elapsed: Duration) -> Option<BodyFault> {
        let inner = self.inner();
        if inner.streamed {
            return None;
        }
        if let Some((m, output)) = &inner.message {
            m.e2e.observe(elapsed.as_secs_f64());
            m.generation_tokens.inc_by(*output);
            m.running.dec();
        }
        inner.fault
    }
}

impl RequestCtx {
    /// The model the response was labelled with (`wire::labelled`), if any.
    pub fn take_label(&self) -> Option<String> {
        self.inner().label.take()
    }
}

/// Labels this request's response with the model it answered, for the request metrics. Kept here,
/// not in the response's extensions: the first extension allocates a map per response.
pub fn label(model: &str) {
    let _ = CTX.try_with(|c| c.inner().label = Some(model.to_string()));
}

/// Called by `resolve` when a message is planned: counts prompt tokens and a running request.
pub fn message_planned(model: &str, input_tokens: u64, output_tokens: u64) {
    let _ = CTX.try_with(|c| {
        let Some(m) = c.recorder() else { return };
        let series = m.hot().llm.model(model);
        series.prompt_tokens.inc_by(input_tokens);
        series.running.inc();
        c.inner().message = Some((series, output_tokens));
    });
}

/// Records the fault decided for this request.
pub fn set_fault(fault: BodyFault) {
    let _ = CTX.try_with(|c| c.inner().fault = Some(fault));
}

/// The seed sent with this request, if any.
pub fn seed() -> Option<u64> {
    CTX.try_with(|c| c.seed).ok().flatten()
}

/// For `stream::timed`: the stream's fault and a metrics observer; marks the request as streamed.
pub fn stream_parts() -> (Option<BodyFault>, Option<Observer>) {
    CTX.try_with(|c| {
        let mut inner = c.inner();
        inner.streamed = true;
        let observer = inner.message.as_ref().map(|(m, output)| Observer {
            started: c.started,
            last: None,
            output_tokens: *output,
            completed: false,
            series: m.clone(),
        });
        (inner.fault, observer)
    })
    .unwrap_or((None, None))
}

/// Watches one stream's content chunks for the vLLM latency metrics; settles on drop, so a
/// client that disconnects still ends the running count.
pub struct Observer {
    started: Instant,
    last: Option<Instant>,
    output_tokens: u64,
    completed: bool,
    series: Arc<ModelMetrics>,
}

impl Observer {
    /// A content chunk was just handed to the connection.
    pub fn content(&mut self) {
        let now = Instant::now();
        match self.last {
            None => self.series.ttft.observe((now - self.started).as_secs_f64()),
            Some(prev) => self.series.inter_token.observe((now - prev).as_secs_f64()),
        }
        self.last = Some(now);
    }

    /// The stream ended normally.
    pub fn completed(&mut self) {
        self.completed = true;
    }
}

impl Drop for Observer {
    fn drop(&mut self) {
        self.series.running.dec();
        if self.completed {
            self.series.e2e.observe(self.started.elapsed().as_secs_f64());
            self.series.generation_tokens.inc_by(self.output_tokens);
        }
    }
}
