//! The SageMaker model-container contract: `GET /ping` and `POST /invocations` on one port, so the
//! same image can run as a real SageMaker model container (or stand in for one behind a proxy).
//!
//! Here mockmodel *is* the container: answers are the payload format's own bytes (JSON, or raw SSE
//! when the body asks to stream) and errors are the container's own (vLLM's or TGI's shape) with
//! the fixture's status; SageMaker itself would wrap those in `ModelError`.

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;

use super::{Decoded, Payload, configured_format, decode};
use crate::plan::{ErrorPlan, Outcome};
use crate::routes::openai::with_model;
use crate::state::SharedState;
use crate::stream::timed;

/// The conversation's `model` (matchable as `endpointName`): a container does not know its endpoint.
pub const CONTAINER_ENDPOINT: &str = "container";

pub(super) fn routes() -> Router<SharedState> {
    Router::new()
        .route("/ping", get(ping))
        .route("/invocations", post(invocations))
}

/// Healthy once fixtures are loaded (SageMaker sends traffic only after a 200).
async fn ping(State(state): State<SharedState>) -> StatusCode {
    if state.ready.load(std::sync::atomic::Ordering::Acquire) {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    }
}

async fn invocations(
    State(state): State<SharedState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match body {
        Ok(b) => b,
        Err(e) => return plain_error(e.status(), &e.body_text()),
    };
    let format = configured_format(&state, CONTAINER_ENDPOINT);
    let Decoded {
        conversation,
        payload,
    } = match decode(&body, format, CONTAINER_ENDPOINT, &headers) {
        Ok(d) => d,
        Err(e) => return plain_error(StatusCode::BAD_REQUEST, e.message()),
    };
    let res = match state.resolve(&conversation, "invocations") {
        Ok(Outcome::Message(plan)) if conversation.stream => {
            let frames = payload.chunks(&plan);
            let mut res = Response::new(Body::from_stream(timed(frames, &plan.timing, None)));
            res.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/event-stream"),
            );
            res
        }
        Ok(Outcome::Message(plan)) => {
            plan.delay().await;
            axum::Json(payload.body(&plan)).into_response()
        }
        Ok(Outcome::Error(e)) => fixture_error(&payload, &e),
        Ok(Outcome::Embedding(_)) => plain_error(
            StatusCode::BAD_REQUEST,
            "The matched fixture answers embeddings, not an LLM invocation",
        ),
        Err(n) => plain_error(
            if n.strict {
                StatusCode::SERVICE_UNAVAILABLE
            } else {
                StatusCode::NOT_FOUND
            },
            &n.message,
        ),
    };
    with_model(res, CONTAINER_ENDPOINT)
}

/// TGI's error body, also used before the format is known.
fn plain_error(status: StatusCode, message: &str) -> Response {
    let kind = if status.is_client_error() {
        "validation"
    } else {
        "generation"
    };
    (status, axum::Json(json!({"error": message, "error_type": kind}))).into_response()
}

/// A fixture error in the container's own shape: vLLM's for OpenAI chat, TGI's otherwise.
fn fixture_error(payload: &Payload, e: &ErrorPlan) -> Response {
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    match payload {
        Payload::OpenAi { .. } => {
            let body = json!({"object": "error", "message": e.message,
                "type": e.type_.as_deref().unwrap_or("InternalServerError"), "param": null, "code": e.status});
            (status, axum::Json(body)).into_response()
        }
        Payload::Tgi(_) => plain_error(status, &e.message),
    }
}
