//! The SageMaker model-container contract: `GET /ping` and `POST /invocations` on one port, so the
//! same image can run as a real SageMaker model container (or stand in for one behind a proxy).
//!
//! Here mockmodel *is* the container: answers are the payload format's own bytes (JSON, or raw SSE
//! when the body asks to stream) and errors are the container's own (vLLM's or TGI's shape) with
//! the fixture's status; SageMaker itself would wrap those in `ModelError`.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;

use super::{Decoded, Payload, configured_format, decode};
use crate::plan::ErrorPlan;
use crate::state::{NoMatch, SharedState};
use crate::wire::{Reply, Wire, respond};

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

/// The container contract's error vocabulary: vLLM's shape for OpenAI chat, TGI's otherwise.
struct Container<'a>(&'a Payload);

/// A container error response (boxed: it travels in every encoder's `Result`).
struct ContainerError(Box<Response>);

impl IntoResponse for ContainerError {
    fn into_response(self) -> Response {
        *self.0
    }
}

impl Wire for Container<'_> {
    type Error = ContainerError;

    fn error(&self, e: &ErrorPlan, _model: &str) -> ContainerError {
        ContainerError(Box::new(fixture_error(self.0, e)))
    }

    fn no_match(&self, n: NoMatch) -> ContainerError {
        let status = if n.strict {
            StatusCode::SERVICE_UNAVAILABLE
        } else {
            StatusCode::NOT_FOUND
        };
        ContainerError(Box::new(plain_error(status, &n.message)))
    }

    fn invalid(&self, message: String) -> ContainerError {
        ContainerError(Box::new(plain_error(StatusCode::BAD_REQUEST, &message)))
    }

    /// Both servers report a failure mid-stream as one more server-sent event.
    fn stream_error(&self, e: &ErrorPlan, _model: &str) -> Result<Bytes, ContainerError> {
        let body = match self.0 {
            Payload::OpenAi { .. } => {
                json!({"object": "error", "message": e.message, "type": e.type_.as_deref().unwrap_or("InternalServerError"), "param": null, "code": e.status})
            }
            Payload::Tgi(_) => json!({"error": e.message, "error_type": "generation"}),
        };
        Ok(Bytes::from(format!("data: {body}\n\n")))
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
    let wire = Container(&payload);
    respond(state, &wire, conversation, "invocations", |plan, c| {
        Ok(if c.stream {
            Reply::stream(payload.chunks(plan), "text/event-stream")
        } else {
            Reply::json(payload.body(plan))
        })
    })
    .await
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
