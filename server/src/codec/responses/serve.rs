//! Serving Responses API requests on the seam, shared by every route that speaks the API with
//! OpenAI's errors (`/v1/responses`, Bedrock's `/openai/v1/responses`): create, retrieve, delete,
//! and the Responses flavour of OpenAI's error vocabulary (a numbered `error` event in streams).

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::{ResponsesRequest, decode, error_event, events, remember, response};
use crate::codec::openai_error::{OpenAi, OpenAiError};
use crate::conversation::{Conversation, Protocol};
use crate::plan::ErrorPlan;
use crate::state::{NoMatch, SharedState};
use crate::wire::{Reply, Wire, labelled, respond};

/// Content type of the event stream.
pub const SSE: &str = "text/event-stream; charset=utf-8";

/// OpenAI's error vocabulary ([`OpenAi`]), with the Responses stream's numbered `error` event.
pub struct Responses;

impl Wire for Responses {
    type Error = OpenAiError;

    fn error(&self, e: &ErrorPlan, model: &str) -> OpenAiError {
        OpenAi.error(e, model)
    }

    fn no_match(&self, n: NoMatch) -> OpenAiError {
        OpenAi.no_match(n)
    }

    fn invalid(&self, message: String) -> OpenAiError {
        OpenAi.invalid(message)
    }

    fn stream_error(&self, e: &ErrorPlan, model: &str) -> Result<Bytes, OpenAiError> {
        self.stream_error_at(e, model, 0)
    }

    fn stream_error_at(&self, e: &ErrorPlan, _model: &str, sent: usize) -> Result<Bytes, OpenAiError> {
        Ok(error_event(&OpenAiError::from_plan(e.clone()), sent))
    }
}

/// Answers a create request as a `protocol` conversation under `operation` (`/v1/responses`, and
/// Bedrock's `/openai/v1/responses`).
pub async fn create(
    state: &SharedState,
    headers: &HeaderMap,
    req: ResponsesRequest,
    protocol: Protocol,
    operation: &'static str,
) -> Response {
    let model = req.model.clone().unwrap_or_default();
    let c = Conversation::new(protocol, model.clone()).with_headers(headers);
    let c = match decode(&req, c, &state.history) {
        Ok(c) => c,
        Err(e) => return labelled(e.into_response(), &model),
    };
    respond(state, &Responses, c, operation, |plan, c| {
        let body = response(plan, &req);
        // A stream that fails midway never completed: nothing to continue from.
        if plan.timing.stream_error.is_none() {
            remember(&state.history, &req, c, plan, &body);
        }
        Ok(if c.stream {
            Reply::stream(events(&body, plan.timing.chunk_size), SSE)
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

/// `GET …/responses/{id}`: a stored response.
pub async fn retrieve(
    State(state): State<SharedState>,
    Path(id): Path<String>,
) -> Result<Response, OpenAiError> {
    let stored = state.history.get(&id).ok_or_else(|| not_found(&id))?;
    Ok(axum::Json(stored.body.clone()).into_response())
}

/// `DELETE …/responses/{id}`.
pub async fn delete(
    State(state): State<SharedState>,
    Path(id): Path<String>,
) -> Result<Response, OpenAiError> {
    if !state.history.remove(&id) {
        return Err(not_found(&id));
    }
    // The SDKs return nothing from a delete. OpenAI's reference example says `"object": "response"`,
    // its newer schema and clients that record the live API say `response.deleted`: the latter.
    Ok(axum::Json(json!({"id": id, "object": "response.deleted", "deleted": true})).into_response())
}
