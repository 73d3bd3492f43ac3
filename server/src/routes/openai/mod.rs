//! The OpenAI-compatible wire under `/v1`: Chat Completions (JSON and SSE), embeddings, models.
//!
//! The codecs are shared (`codec::chat_completions`, `codec::openai_error`); this module holds the
//! routes and OpenAI's error vocabulary on the seam.

mod chat;
mod embeddings;
mod models;

use axum::Router;
use axum::body::Bytes;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::codec::openai_error::OpenAiError;
use crate::plan::ErrorPlan;
use crate::state::{NoMatch, SharedState};
use crate::wire::Wire;

/// The OpenAI routes.
pub fn routes() -> Router<SharedState> {
    Router::new()
        .route("/v1/chat/completions", post(chat::chat_completions))
        .route("/v1/embeddings", post(embeddings::embeddings))
        .route("/v1/models", get(models::models))
}

/// An unknown route or method under `/v1`, in OpenAI's shape.
pub fn unrouted(status: StatusCode, code: &str, message: String) -> Response {
    OpenAiError::invalid(message, None)
        .with_status(status)
        .with_code(code)
        .into_response()
}

/// OpenAI's error vocabulary on the seam (also Bedrock's `/openai/v1` paths).
pub struct OpenAi;

impl Wire for OpenAi {
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

    /// OpenAI reports a failure mid-stream as an `error` event; the SDKs raise `APIError` on it.
    fn stream_error(&self, e: &ErrorPlan, _model: &str) -> Result<Bytes, OpenAiError> {
        Ok(Bytes::from(format!(
            "data: {}\n\n",
            OpenAiError::from_plan(e.clone()).json()
        )))
    }
}
