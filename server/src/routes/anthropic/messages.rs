//! `POST /v1/messages` and `POST /v1/messages/count_tokens`: read the body with the Messages codec,
//! answer on the seam (or, for a token count, with the estimate the usage reports).

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::Anthropic;
use crate::codec::anthropic_messages::encode::{self, MESSAGES_API, events, sse_frames};
use crate::codec::anthropic_messages::error::request_id;
use crate::codec::anthropic_messages::{self as codec, AnthropicError, Envelope};
use crate::conversation::{Conversation, Protocol};
use crate::plan::estimate_tokens;
use crate::state::SharedState;
use crate::wire::{Reply, labelled, respond};

/// Content type of a Messages stream.
const SSE: &str = "text/event-stream; charset=utf-8";

/// Reads the body into the conversation, with the API's 400s (413 for an oversized body).
fn read(
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
    count_tokens: bool,
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
    let (envelope, req) = codec::read(&value, count_tokens)?;
    let mut c = Conversation::new(Protocol::Anthropic, envelope.model.clone()).with_headers(headers);
    c.stream = envelope.stream.unwrap_or(false) && !count_tokens;
    codec::decode(&req, &mut c)?;
    Ok((envelope, c))
}

fn request_id_header() -> HeaderValue {
    HeaderValue::from_str(&request_id()).unwrap_or(HeaderValue::from_static("req_mockmodel"))
}

pub(super) async fn create(
    State(state): State<SharedState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let (envelope, c) = match read(&headers, body, false) {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    let stops = envelope.stop_sequences.unwrap_or_default();
    respond(&state, &Anthropic, &c, "messages", |plan| {
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
pub(super) async fn count_tokens(
    State(_state): State<SharedState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    match read(&headers, body, true) {
        Ok((_, c)) => {
            let mut res =
                axum::Json(json!({"input_tokens": estimate_tokens(c.prompt_chars())})).into_response();
            res.headers_mut().insert("request-id", request_id_header());
            labelled(res, &c.model)
        }
        Err(e) => e.into_response(),
    }
}
