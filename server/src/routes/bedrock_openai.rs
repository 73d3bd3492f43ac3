//! Bedrock Runtime's OpenAI-compatible paths (`/openai/v1/…` on the same host as Converse), as
//! AWS's "APIs supported by Amazon Bedrock" page lists them: the OpenAI SDKs point `base_url` at
//! `<endpoint>/openai/v1` and authenticate with a Bedrock API key (`Authorization: Bearer`) or SigV4.
//!
//! Requests match as `protocol: bedrock` with operation `openai.chat.completions` or
//! `openai.responses`; bodies, streams and errors are OpenAI's (the SDKs parse them), served by the
//! shared Chat Completions and Responses codecs.

use axum::Router;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::{get, post};

use crate::codec::chat_completions::{ChatRequest, serve};
use crate::codec::openai_error::OpenAiJson;
use crate::codec::responses::{ResponsesRequest, create, delete, retrieve};
use crate::conversation::Protocol;
use crate::state::SharedState;
use crate::wire::{Answer, RequestHeaders};

/// The routes.
pub fn routes() -> Router<SharedState> {
    Router::new()
        .route("/openai/v1/chat/completions", post(chat_completions))
        .route("/openai/v1/responses", post(create_response))
        .route("/openai/v1/responses/{id}", get(retrieve).delete(delete))
}

fn chat_completions(
    State(state): State<SharedState>,
    RequestHeaders(headers): RequestHeaders,
    OpenAiJson(req): OpenAiJson<ChatRequest>,
) -> Answer<'static> {
    serve(state, headers, req, Protocol::Bedrock, "openai.chat.completions")
}

async fn create_response(
    State(state): State<SharedState>,
    headers: HeaderMap,
    OpenAiJson(req): OpenAiJson<ResponsesRequest>,
) -> Response {
    create(&state, &headers, req, Protocol::Bedrock, "openai.responses").await
}
