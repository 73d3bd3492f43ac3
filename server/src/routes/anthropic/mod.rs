//! The Anthropic Messages wire: `POST /v1/messages` (JSON and named server-sent events) and
//! `POST /v1/messages/count_tokens`. (`GET /v1/models` in Anthropic's shape is the shared model list,
//! `codec::models`, as OpenAI serves the same path.)
//!
//! The codec is shared (`codec::anthropic_messages`, also behind Bedrock's InvokeModel Anthropic
//! bodies); this module holds the routes and Anthropic's error vocabulary on the seam.

mod messages;

use axum::Router;
use axum::body::Bytes;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;

use crate::codec::anthropic_messages::AnthropicError;
use crate::codec::anthropic_messages::encode::sse;
use crate::plan::ErrorPlan;
use crate::state::{NoMatch, SharedState};
use crate::wire::Wire;

/// The Anthropic routes.
pub fn routes() -> Router<SharedState> {
    Router::new()
        .route("/v1/messages", post(messages::create))
        .route("/v1/messages/count_tokens", post(messages::count_tokens))
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
