//! The HTTP application: `app(state) -> Router` with every protocol's routes, the operational routes
//! (`/healthz`, `/readyz`, `/metrics`, `/__mockmodel/*`), request metrics and body limits.

use std::sync::atomic::Ordering;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Query, Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use serde_json::json;
use tower::ServiceBuilder;

use crate::auth;
use crate::routes;
use crate::state::SharedState;
use crate::wire::RequestIdStyle;

/// The whole server as a router (no listener: tests call it with `oneshot`).
pub fn app(state: SharedState) -> Router {
    let limit = state.config.max_body_bytes;
    let router = Router::new()
        .merge(routes::router())
        .merge(admin_routes())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed);
    // Every layer around every route, as one stack applied once: `Router::layer` boxes each route
    // again per layer, and each box is cloned (allocated) per request at every level below it,
    // twelve allocations a request for three layers (issue 12's hot path, seen with callgrind).
    // The capture and auth layers only where configured: a `from_fn` layer boxes a future per
    // request even when it passes the request straight on. Outermost first.
    let stack = ServiceBuilder::new()
        .layer(crate::track::TrackLayer::new(state, request_id_style))
        .option_layer(
            state
                .config
                .auth
                .is_some()
                .then(|| middleware::from_fn_with_state(state, authenticate)),
        )
        .layer(DefaultBodyLimit::max(limit))
        .option_layer(
            state
                .config
                .upstream
                .is_some()
                .then(|| middleware::from_fn_with_state(Some(limit), crate::proxy::capture)),
        );
    router.layer(stack).with_state(state)
}

/// The request-id style of the wire that owns `path` (AWS's for paths no wire claims).
fn request_id_style(path: &str) -> RequestIdStyle {
    routes::owner(path).map_or(RequestIdStyle::Aws, |w| w.request_id)
}

/// `--auth`: the owning wire's scheme (`WireSpec::auth`) for protocol routes, any API key for the
/// journal and control routes, nothing for probes and metrics. Inside `track`, so a rejection is
/// counted and carries its service's request-id header; outside the body limit, because SigV4
/// hashes the body and hands the handler the buffered copy.
async fn authenticate(State(state): State<SharedState>, req: Request, next: Next) -> Response {
    let Some(creds) = state.config.auth.clone() else {
        return next.run(req).await;
    };
    let path = req.uri().path();
    if auth::OPEN_PATHS.contains(&path) {
        return next.run(req).await;
    }
    if path.starts_with("/__mockmodel/") {
        return match auth::admin(&creds, req.headers()) {
            Ok(()) => next.run(req).await,
            Err(res) => *res,
        };
    }
    // Paths no wire claims fall to Bedrock's "/" prefix, as their 404s do.
    let scheme = routes::owner(path).map_or(
        auth::Scheme::Aws {
            bedrock_api_keys: true,
        },
        |w| w.auth,
    );
    match auth::check(&creds, scheme, req, state.config.max_body_bytes).await {
        Ok(req) => next.run(req).await,
        Err(res) => *res,
    }
}

fn admin_routes() -> Router<SharedState> {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/__mockmodel/journal", get(journal).delete(clear_journal))
        .route("/__mockmodel/fixtures", get(fixtures))
        .route("/__mockmodel/recorded", get(recorded))
        .route("/__mockmodel/reset", axum::routing::post(reset))
}

async fn readyz(State(state): State<SharedState>) -> Response {
    if state.ready.load(Ordering::Acquire) {
        "ready".into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "fixtures not loaded").into_response()
    }
}

async fn metrics(State(state): State<SharedState>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
        .into_response()
}

#[derive(Deserialize)]
struct JournalQuery {
    limit: Option<usize>,
}

async fn journal(State(state): State<SharedState>, Query(q): Query<JournalQuery>) -> Response {
    let mut entries = state.journal.snapshot();
    if let Some(limit) = q.limit {
        let skip = entries.len().saturating_sub(limit);
        entries.drain(..skip);
    }
    axum::Json(json!({"entries": entries})).into_response()
}

/// The fixtures `--record` has written, as one fixture file (`{"fixtures": […]}`): how a recording
/// made in a pod is read back (`kubectl port-forward` + curl). 404 when not recording.
async fn recorded(State(state): State<SharedState>) -> Response {
    let read = match state.config.upstream.as_deref() {
        Some(up) => up.recorded().await,
        None => None,
    };
    match read {
        Some(Ok(doc)) => axum::Json(doc).into_response(),
        Some(Err(e)) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            axum::Json(json!({"message": format!("cannot read the recorded fixtures: {e}")})),
        )
            .into_response(),
        None => (
            StatusCode::NOT_FOUND,
            axum::Json(
                json!({"message": "not recording: start the server with --record URL --record-dir DIR"}),
            ),
        )
            .into_response(),
    }
}

async fn clear_journal(State(state): State<SharedState>) -> StatusCode {
    state.journal.clear();
    StatusCode::NO_CONTENT
}

/// Clears the journal, every `sequenceIndex` counter, the asynchronous jobs and the stored responses (between test
/// cases: a reset test must not continue an earlier test's `previous_response_id` chain).
async fn reset(State(state): State<SharedState>) -> StatusCode {
    state.journal.clear();
    state.history.clear();
    state.counters.clear();
    state.fail_first.clear();
    state.semantic_times.clear();
    state.jobs.clear();
    StatusCode::NO_CONTENT
}

async fn fixtures(State(state): State<SharedState>) -> Response {
    let set = state.fixtures.load();
    let list: Vec<_> = set
        .fixtures
        .iter()
        .map(|f| json!({"file": f.file, "index": f.index, "label": f.label(), "match": f.fixture.match_, "response": f.fixture.response}))
        .collect();
    let warnings: Vec<String> = set.warnings.iter().map(ToString::to_string).collect();
    axum::Json(json!({"files": set.files, "count": list.len(), "fixtures": list, "warnings": warnings}))
        .into_response()
}

/// Unknown routes: the shape of the wire that owns the path (`routes::WIRES`).
async fn not_found(method: Method, uri: axum::http::Uri) -> Response {
    routes::unrouted(&method, &uri, false)
}

async fn method_not_allowed(method: Method, uri: axum::http::Uri) -> Response {
    routes::unrouted(&method, &uri, true)
}
