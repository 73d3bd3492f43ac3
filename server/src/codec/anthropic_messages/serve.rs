//! Serving Messages requests on the seam, shared by every route that speaks the Messages API with
//! Anthropic's errors (`/v1/messages`, Bedrock's `/anthropic/v1/messages`): create, count_tokens,
//! and Anthropic's error vocabulary.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::encode::{self, MESSAGES_API, events, sse, sse_frames};
use super::error::request_id;
use super::{AnthropicError, Envelope};
use crate::conversation::{Conversation, Protocol};
use crate::plan::ErrorPlan;
use crate::state::{NoMatch, SharedState};
use crate::wire::{Reply, Wire, labelled, respond};

/// Content type of a Messages stream.
pub const SSE: &str = "text/event-stream; charset=utf-8";

/// Reads the body into the conversation, with the API's 400s (413 for an oversized body).
fn read(
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
    count_tokens: bool,
    protocol: Protocol,
    lenient: bool,
) -> Result<(Envelope, Conversation), AnthropicError> {
    let bytes = body.map_err(|e| {
        let type_ = if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            "request_too_large"
        } else {
            "invalid_request_error"
        };
        AnthropicError::new(e.status(), type_, e.body_text())
    })?;
    let value: Value = crate::wire::json::from_slice(&bytes)?;
    if !lenient {
        crate::validate::api::anthropic(&value, count_tokens).map_err(AnthropicError::invalid)?;
    }
    let (envelope, req) = super::read(&value, count_tokens)?;
    let mut c = Conversation::new(protocol, envelope.model.clone()).with_headers(headers);
    c.stream = envelope.stream.unwrap_or(false) && !count_tokens;
    super::decode(&req, &mut c)?;
    Ok((envelope, c))
}

fn request_id_header() -> HeaderValue {
    HeaderValue::from_str(&request_id()).unwrap_or(HeaderValue::from_static("req_mockmodel"))
}

/// Answers a Messages request as a `protocol` conversation under `operation` (`/v1/messages`, and
/// Bedrock's `/anthropic/v1/messages`).
pub async fn create(
    state: &SharedState,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
    protocol: Protocol,
    operation: &'static str,
) -> Response {
    let (envelope, c) = match read(headers, body, false, protocol, state.config.lenient) {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    let stops = envelope.stop_sequences.unwrap_or_default();
    respond(state, &Anthropic, c, operation, |plan, c| {
        Ok(if c.stream {
            Reply::stream(sse_frames(&events(plan, MESSAGES_API, &stops)), SSE)
                .header("cache-control", HeaderValue::from_static("no-cache"))
        } else {
            Reply::json(encode::body(plan, MESSAGES_API, &stops))
        }
        .header("request-id", request_id_header()))
    })
    .await
}

/// `{"input_tokens": N}`: the same estimate a message's `usage.input_tokens` reports for the body.
pub async fn count_tokens(
    state: &SharedState,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
    protocol: Protocol,
) -> Response {
    match read(headers, body, true, protocol, state.config.lenient) {
        Ok((_, c)) => {
            let mut res = axum::Json(json!({"input_tokens": crate::tokens::prompt(&c)})).into_response();
            res.headers_mut().insert("request-id", request_id_header());
            labelled(res, &c.model)
        }
        Err(e) => e.into_response(),
    }
}

/// An unknown route (`not_found_error`) or method under `/v1/messages`, in Anthropic's shape.
pub fn unrouted(status: StatusCode, _code: &str, message: String) -> Response {
    let type_ = if status == StatusCode::NOT_FOUND {
        "not_found_error"
    } else {
        "invalid_request_error"
    };
    AnthropicError::new(status, type_, message).into_response()
}

/// Anthropic's error vocabulary on the seam.
pub struct Anthropic;

impl Wire for Anthropic {
    type Error = AnthropicError;

    fn error(&self, e: &ErrorPlan, _model: &str) -> AnthropicError {
        AnthropicError::from_plan(e)
    }

    fn no_match(&self, n: NoMatch) -> AnthropicError {
        AnthropicError::no_match(n)
    }

    fn invalid(&self, message: String) -> AnthropicError {
        AnthropicError::invalid(message)
    }

    /// The API reports a failure mid-stream as `event: error` carrying the error object; the SDKs
    /// raise `APIStatusError` / `APIError` from it while iterating.
    fn stream_error(&self, e: &ErrorPlan, _model: &str) -> Result<Bytes, AnthropicError> {
        Ok(sse("error", &AnthropicError::from_plan(e).json()))
    }
}
