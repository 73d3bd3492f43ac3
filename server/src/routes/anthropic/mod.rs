//! The Anthropic Messages wire: `POST /v1/messages` (JSON and named server-sent events) and
//! `POST /v1/messages/count_tokens`. (`GET /v1/models` in Anthropic's shape is the shared model list,
//! `codec::models`, as OpenAI serves the same path.) Everything is the shared codec's
//! (`codec::anthropic_messages`, also behind Bedrock's `/anthropic/v1/messages` and InvokeModel's
//! Anthropic bodies); this module holds the routes.

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

/// The Anthropic routes.
pub fn routes() -> Router<SharedState> {
    Router::new()
        .route("/v1/messages", post(messages))
        .route("/v1/messages/count_tokens", post(tokens))
}

async fn messages(
    State(state): State<SharedState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    create(&state, &headers, body, Protocol::Anthropic, "messages").await
}

async fn tokens(
    State(state): State<SharedState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    count_tokens(&state, &headers, body, Protocol::Anthropic).await
}
