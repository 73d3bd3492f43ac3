//! Bedrock Runtime's Anthropic-compatible path (`/anthropic/v1/messages` on the same host as
//! Converse): the Anthropic SDKs point `base_url` at `<endpoint>/anthropic` and authenticate with a
//! Bedrock API key or SigV4 (neither is checked by the mock).
//!
//! Requests match as `protocol: bedrock` with operation `anthropic.messages`; bodies, streams and
//! errors are the Messages API's (the SDKs parse them), served by the shared Messages codec.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::post;

use crate::codec::anthropic_messages::{count_tokens, create};
use crate::conversation::Protocol;
use crate::state::SharedState;

/// The routes.
pub fn routes() -> Router<SharedState> {
    Router::new()
        .route("/anthropic/v1/messages", post(messages))
        .route("/anthropic/v1/messages/count_tokens", post(tokens))
}

async fn messages(
    State(state): State<SharedState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    create(&state, &headers, body, Protocol::Bedrock, "anthropic.messages").await
}

async fn tokens(
    State(state): State<SharedState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    count_tokens(&state, &headers, body, Protocol::Bedrock).await
}
