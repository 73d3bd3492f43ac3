//! `POST /v1/chat/completions`, served by the shared Chat Completions codec.

use axum::extract::State;

use crate::codec::chat_completions::{ChatRequest, serve};
use crate::codec::openai_error::OpenAiJson;
use crate::conversation::Protocol;
use crate::state::SharedState;
use crate::wire::{Answer, RequestHeaders};

pub(super) fn chat_completions(
    State(state): State<SharedState>,
    RequestHeaders(headers): RequestHeaders,
    OpenAiJson(req): OpenAiJson<ChatRequest>,
) -> Answer<'static> {
    serve(state, headers, req, Protocol::OpenAi, "chat.completions")
}
