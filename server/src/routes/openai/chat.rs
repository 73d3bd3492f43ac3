//! `POST /v1/chat/completions`: decode with the Chat Completions codec, answer on the seam.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};

use super::OpenAi;
use crate::codec::chat_completions::{self, ChatRequest, completion, completion_chunks};
use crate::codec::openai_error::OpenAiJson;
use crate::conversation::{Conversation, Protocol};
use crate::state::SharedState;
use crate::wire::{Reply, labelled, respond};

/// Content type of an OpenAI stream.
pub const SSE: &str = "text/event-stream; charset=utf-8";

pub(super) async fn chat_completions(
    State(state): State<SharedState>,
    headers: HeaderMap,
    OpenAiJson(req): OpenAiJson<ChatRequest>,
) -> Response {
    let c = Conversation::new(Protocol::OpenAi, req.model.clone()).with_headers(&headers);
    let c = match chat_completions::decode(&req, c) {
        Ok(c) => c,
        Err(e) => return labelled(e.into_response(), &req.model),
    };
    let include_usage = req.include_usage();
    respond(&state, &OpenAi, &c, "chat.completions", |plan| {
        Ok(if c.stream {
            Reply::stream(completion_chunks(plan, include_usage), SSE)
                .header("cache-control", axum::http::HeaderValue::from_static("no-cache"))
        } else {
            Reply::json(completion(plan))
        })
    })
    .await
}
