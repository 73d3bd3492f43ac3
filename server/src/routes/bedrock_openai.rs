//! Bedrock Runtime's OpenAI-compatible paths (`/openai/v1/…` on the same host as Converse), as
//! AWS's "APIs supported by Amazon Bedrock" page lists them: the OpenAI SDKs point `base_url` at
//! `<endpoint>/openai/v1` and authenticate with a Bedrock API key (`Authorization: Bearer`) or SigV4.
//!
//! Requests match as `protocol: bedrock` with operation `openai.chat.completions`; bodies, streams
//! and errors are OpenAI's (the SDKs parse them), served by the shared Chat Completions codec.

use axum::Router;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::post;

use crate::codec::chat_completions::{ChatRequest, serve};
use crate::codec::openai_error::OpenAiJson;
use crate::conversation::Protocol;
use crate::state::SharedState;

/// The routes.
pub fn routes() -> Router<SharedState> {
    Router::new().route("/openai/v1/chat/completions", post(chat_completions))
}

async fn chat_completions(
    State(state): State<SharedState>,
    headers: HeaderMap,
    OpenAiJson(req): OpenAiJson<ChatRequest>,
) -> Response {
    serve(
        &state,
        &headers,
        req,
        Protocol::Bedrock,
        "openai.chat.completions",
    )
    .await
}
