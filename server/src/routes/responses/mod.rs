//! The OpenAI Responses API under `/v1/responses`: create (JSON or typed SSE events), retrieve and
//! delete stored responses. The codec is shared (`codec::responses`, `codec::openai_error`); this
//! module holds the routes and the Responses flavour of OpenAI's error vocabulary on the seam.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;

use crate::codec::openai_error::{OpenAiError, OpenAiJson};
use crate::codec::responses::{self, ResponsesRequest, error_event};
use crate::conversation::{Conversation, Protocol};
use crate::plan::ErrorPlan;
use crate::state::{NoMatch, SharedState};
use crate::wire::{Reply, Wire, labelled, respond};

/// Content type of the event stream.
const SSE: &str = "text/event-stream; charset=utf-8";

/// The Responses routes.
pub fn routes() -> Router<SharedState> {
    Router::new()
        .route("/v1/responses", post(create))
        .route("/v1/responses/{id}", get(retrieve).delete(delete))
}

/// An unknown route or method under `/v1/responses`, in OpenAI's shape.
pub fn unrouted(status: StatusCode, code: &str, message: String) -> Response {
    OpenAiError::invalid(message, None)
        .with_status(status)
        .with_code(code)
        .into_response()
}

/// OpenAI's error vocabulary, with the Responses stream's numbered `error` event.
pub struct Responses;

impl Wire for Responses {
    type Error = OpenAiError;

    fn error(&self, e: &ErrorPlan, _model: &str) -> OpenAiError {
        OpenAiError::from_plan(e.clone())
    }

    fn no_match(&self, n: NoMatch) -> OpenAiError {
        OpenAiError::no_match(n)
    }

    fn invalid(&self, message: String) -> OpenAiError {
        OpenAiError::invalid(message, None)
    }

    fn stream_error(&self, e: &ErrorPlan, model: &str) -> Result<Bytes, OpenAiError> {
        self.stream_error_at(e, model, 0)
    }

    fn stream_error_at(&self, e: &ErrorPlan, _model: &str, sent: usize) -> Result<Bytes, OpenAiError> {
        Ok(error_event(&OpenAiError::from_plan(e.clone()), sent))
    }
}

async fn create(
    State(state): State<SharedState>,
    headers: HeaderMap,
    OpenAiJson(req): OpenAiJson<ResponsesRequest>,
) -> Response {
    let model = req.model.clone().unwrap_or_default();
    let c = Conversation::new(Protocol::OpenAi, model.clone()).with_headers(&headers);
    let c = match responses::decode(&req, c, &state.history) {
        Ok(c) => c,
        Err(e) => return labelled(e.into_response(), &model),
    };
    respond(&state, &Responses, &c, "responses", |plan| {
        let body = responses::response(plan, &req);
        // A stream that fails midway never completed: nothing to continue from.
        if plan.timing.stream_error.is_none() {
            responses::remember(&state.history, &req, &c, plan, &body);
        }
        Ok(if c.stream {
            Reply::stream(responses::events(&body, plan.timing.chunk_size), SSE)
                .header("cache-control", HeaderValue::from_static("no-cache"))
        } else {
            Reply::json(body)
        })
    })
    .await
}

fn not_found(id: &str) -> OpenAiError {
    OpenAiError::invalid(format!("Response with id '{id}' not found."), None)
        .with_status(StatusCode::NOT_FOUND)
}

async fn retrieve(State(state): State<SharedState>, Path(id): Path<String>) -> Result<Response, OpenAiError> {
    let stored = state.history.get(&id).ok_or_else(|| not_found(&id))?;
    Ok(axum::Json(stored.body.clone()).into_response())
}

async fn delete(State(state): State<SharedState>, Path(id): Path<String>) -> Result<Response, OpenAiError> {
    if !state.history.remove(&id) {
        return Err(not_found(&id));
    }
    // The SDKs return nothing from a delete. OpenAI's reference example says `"object": "response"`,
    // its newer schema and clients that record the live API say `response.deleted`: the latter.
    Ok(axum::Json(json!({"id": id, "object": "response.deleted", "deleted": true})).into_response())
}
