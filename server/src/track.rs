//! The request-tracking layer around every route: request metrics by matched route, the debug
//! request span, the request context (`ctx`), body faults on answers that were not streamed, and
//! each service's request-id header. A hand-written `tower` layer rather than
//! `axum::middleware::from_fn`, which boxes the service below it and a future per request (issue
//! 12's hot path).

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderName, Method, header};
use axum::response::Response;
use pin_project_lite::pin_project;
use prometheus::{Histogram, IntCounter};
use tokio::task::futures::TaskLocalFuture;
use tower::{Layer, Service};
use tracing::Span;
use tracing::instrument::{Instrument, Instrumented};

use crate::ctx::{BodyFault, RequestCtx};
use crate::metrics::{Last, Metrics};
use crate::state::SharedState;
use crate::wire::RequestIdStyle;

/// Header carrying a seed for reproducible jitter and chaos decisions.
pub const SEED_HEADER: &str = "x-mockmodel-seed";

/// [`SEED_HEADER`] as a constant name: a `&str` name is parsed on every lookup.
const SEED: HeaderName = HeaderName::from_static(SEED_HEADER);

/// How a request's path names the request-id style of the service that answers it (the router
/// assembly knows which wire owns a path; this layer knows no wire).
pub type IdStyleOf = fn(&str) -> RequestIdStyle;

/// Wraps each route in [`Track`].
#[derive(Clone)]
pub struct TrackLayer {
    state: SharedState,
    id_style: IdStyleOf,
}

impl TrackLayer {
    /// The layer for a server's state (its metrics and recorder) and its paths' id styles.
    pub fn new(state: SharedState, id_style: IdStyleOf) -> Self {
        TrackLayer { state, id_style }
    }
}

impl<S> Layer<S> for TrackLayer {
    type Service = Track<S>;

    fn layer(&self, inner: S) -> Track<S> {
        Track {
            inner,
            state: self.state,
            id_style: self.id_style,
            // Kept for the process's life, like the state: a route's clone per request (axum's
            // `Route` clones its service for every call) then copies a reference instead of
            // writing a reference count both workers share. One per route and router built.
            series: Box::leak(Box::default()),
        }
    }
}

/// A route with request tracking (see the module docs).
#[derive(Clone)]
pub struct Track<S> {
    inner: S,
    state: SharedState,
    id_style: IdStyleOf,
    series: &'static Series,
}

/// The metric series a route last counted into, kept (per thread) so the next request does not
/// look them up: `with_label_values` hashes every label value and takes the vector's lock, twice a
/// request (issue 12's hot path). A route (one `Track`) has one matched path, so its duration
/// series is always the same; its request series changes only with the model or the status.
#[derive(Default)]
struct Series {
    duration: Last<String, Histogram>,
    requests: Last<[String; 4], IntCounter>,
}

impl Series {
    /// Observes `secs` in `route`'s duration series.
    fn observe(&self, m: &Metrics, route: &str, secs: f64) {
        self.duration.with(
            |r| r == route,
            || (route.to_string(), m.hot().duration.with_label_values(&[route])),
            |h| h.observe(secs),
        );
    }

    /// Counts a request in the series of `labels` (route, method, model, status).
    fn count(&self, m: &Metrics, labels: [&str; 4]) {
        self.requests.with(
            |l| l.iter().zip(labels).all(|(a, b)| a == b),
            || {
                (
                    labels.map(str::to_string),
                    m.hot().requests.with_label_values(&labels),
                )
            },
            IntCounter::inc,
        );
    }
}

impl<S> Service<Request> for Track<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = TrackFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    /// Everything known before the handler runs is read here, so the future holds only what the
    /// end of the request needs: not the request (240 bytes), nor a boxed `async` block around an
    /// `async fn` that kept both its arguments and its locals (issue 12: every request's future
    /// was moved, memcpy, several times per request).
    fn call(&mut self, req: Request) -> Self::Future {
        // The service polled ready is the one called; a clone stays for the next request.
        let clone = self.inner.clone();
        let mut ready = std::mem::replace(&mut self.inner, clone);
        let started = Instant::now();
        let route = req.extensions().get::<MatchedPath>().cloned();
        let method = req.method().clone();
        let seed = req
            .headers()
            .get(SEED)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse().ok());
        let request_id = (self.id_style)(req.uri().path());
        // The request's debug span and events, what `tower_http`'s `TraceLayer` wrote (`RUST_LOG=
        // mockmodel_server=debug`), without that layer's second wrapper and boxed body per response.
        let span =
            tracing::debug_span!("request", method = %method, route = route_label(&route), uri = %req.uri());
        tracing::debug!(parent: &span, "started processing request");
        let ctx = RequestCtx::new(started, self.state.recorder(), seed);
        let handler = ctx.clone().scope(ready.call(req)).instrument(span.clone());
        TrackFuture {
            stage: Stage::Handler { handler },
            end: End {
                series: self.series,
                started,
                route,
                method,
                span,
                ctx,
                request_id,
            },
        }
    }
}

pin_project! {
    /// A tracked request: its handler, then (rarely) the handler's body cut by a fault.
    pub struct TrackFuture<F> {
        #[pin]
        stage: Stage<F>,
        end: End,
    }
}

pin_project! {
    #[project = StageProj]
    enum Stage<F> {
        Handler { #[pin] handler: Instrumented<TaskLocalFuture<Arc<RequestCtx>, F>> },
        // Boxed: a fault is rare, and inline its future would make every request's as large.
        Faulty { body: Pin<Box<dyn Future<Output = Response> + Send>>, elapsed: Duration },
    }
}

/// What the end of a request needs: see [`End::finish`].
struct End {
    series: &'static Series,
    started: Instant,
    route: Option<MatchedPath>,
    method: Method,
    span: Span,
    ctx: Arc<RequestCtx>,
    request_id: RequestIdStyle,
}

impl<F> Future for TrackFuture<F>
where
    F: Future<Output = Result<Response, Infallible>>,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            // The handler's response headers are the end the duration metrics time (a faulty
            // body is cut after them); one clock reading serves every metric.
            let (res, elapsed) = match this.stage.as_mut().project() {
                StageProj::Handler { handler } => {
                    let res = match ready!(handler.poll(cx)) {
                        Ok(res) => res,
                        Err(never) => match never {},
                    };
                    let elapsed = this.end.started.elapsed();
                    if let Some(fault) = this.end.ctx.finish_unary(elapsed) {
                        this.stage.set(Stage::Faulty {
                            body: Box::pin(faulty_body(res, fault)),
                            elapsed,
                        });
                        continue;
                    }
                    (res, elapsed)
                }
                StageProj::Faulty { body, elapsed } => (ready!(body.as_mut().poll(cx)), *elapsed),
            };
            return Poll::Ready(Ok(this.end.finish(res, elapsed)));
        }
    }
}

impl End {
    /// Counts and times the request by matched route (never the raw URI: model ids would explode
    /// label cardinality) and gives the response the request id its service sends
    /// (`x-amzn-RequestId` on AWS paths, `x-request-id` on OpenAI's, `request-id` on Anthropic's).
    fn finish(&self, mut res: Response, elapsed: Duration) -> Response {
        let model = self.ctx.take_label().unwrap_or_default();
        if let Some(m) = self.ctx.recorder() {
            let route = route_label(&self.route);
            self.series
                .count(m, [route, self.method.as_str(), &model, res.status().as_str()]);
            self.series.observe(m, route, elapsed.as_secs_f64());
        }
        tracing::debug!(
            parent: &self.span,
            latency = ?elapsed,
            status = res.status().as_u16(),
            "finished processing request"
        );
        // One lookup: a wire may have set the id itself (`entry` hashes the name once; a
        // `contains_key` then `insert` hashed it twice).
        res.headers_mut()
            .entry(self.request_id.header())
            .or_insert_with(|| self.request_id.value());
        res
    }
}

fn route_label(route: &Option<MatchedPath>) -> &str {
    route.as_ref().map_or("unmatched", MatchedPath::as_str)
}

/// A non-streamed body with a fault: cut in half (malformed), or half then a dropped connection.
async fn faulty_body(res: Response, fault: BodyFault) -> Response {
    let (mut parts, body) = res.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
        return Response::from_parts(parts, Body::empty());
    };
    let half = bytes.slice(..bytes.len() / 2);
    parts.headers.remove(header::CONTENT_LENGTH);
    let body = match fault {
        BodyFault::Malformed => Body::from(half),
        BodyFault::Disconnect => Body::from_stream(futures::stream::iter([
            Ok(half),
            Err(std::io::Error::new(
                std::io::ErrorKind::ConnectionAborted,
                "injected disconnect",
            )),
        ])),
    };
    Response::from_parts(parts, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kept_series_follow_their_labels() {
        let m = Metrics::new();
        let s = Series::default();
        for labels in [
            ["/r", "POST", "a", "200"],
            ["/r", "POST", "a", "200"],
            ["/r", "POST", "b", "200"],
            ["/r", "POST", "a", "429"],
            ["/r", "POST", "a", "200"],
        ] {
            s.count(&m, labels);
        }
        let count = |l: [&str; 4]| m.hot().requests.with_label_values(&l).get();
        assert_eq!(count(["/r", "POST", "a", "200"]), 3);
        assert_eq!(count(["/r", "POST", "b", "200"]), 1);
        assert_eq!(count(["/r", "POST", "a", "429"]), 1);
        s.observe(&m, "/r", 0.5);
        s.observe(&m, "/r", 0.25);
        s.observe(&m, "unmatched", 1.0);
        assert_eq!(m.hot().duration.with_label_values(&["/r"]).get_sample_count(), 2);
        assert_eq!(
            m.hot()
                .duration
                .with_label_values(&["unmatched"])
                .get_sample_count(),
            1
        );
    }
}
