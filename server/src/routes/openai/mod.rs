//! The OpenAI-compatible wire under `/v1`: Chat Completions (JSON and SSE), embeddings, models.
//!
//! The codecs and OpenAI's error vocabulary are shared (`codec::chat_completions`,
//! `codec::openai_error`); this module holds the routes.

mod chat;
mod embeddings;
mod models;

use axum::Router;
use axum::routing::{get, post};

use crate::state::SharedState;

/// The OpenAI routes.
pub fn routes() -> Router<SharedState> {
    Router::new()
        .route("/v1/chat/completions", post(chat::chat_completions))
        .route("/v1/embeddings", post(embeddings::embeddings))
        .route("/v1/models", get(models::models))
}
