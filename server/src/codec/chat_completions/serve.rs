//! Answers a decoded Chat Completions request on the seam: the whole handler of every route that
//! serves Chat Completions bodies with OpenAI's errors (`/v1/chat/completions` and Bedrock's
//! `/openai/v1/chat/completions`), which differ only in the protocol and operation they match as.

use axum::http::{HeaderMap, HeaderValue};
use axum::response::IntoResponse;

use super::{ChatRequest, completion_body, completion_chunks, decode};
use crate::codec::openai_error::OpenAi;
use crate::conversation::{Conversation, Protocol};
use crate::state::SharedState;
use crate::wire::{Answer, Reply, answered, labelled, respond};

/// Content type of an OpenAI stream.
pub const SSE: &str = "text/event-stream; charset=utf-8";

/// Decodes `req` as a `protocol` conversation and answers it as `operation`. Not `async`: the
/// handlers return its [`Answer`], so the request is not held in their futures (see [`respond`]).
pub fn serve(
    state: SharedState,
    headers: HeaderMap,
    req: ChatRequest,
    protocol: Protocol,
    operation: &'static str,
) -> Answer<'static> {
    let c = Conversation::new(protocol, req.model.clone()).with_headers(headers);
    let c = match decode(&req, c) {
        Ok(c) => c,
        Err(e) => return answered(labelled(e.into_response(), &req.model)),
    };
    let include_usage = req.include_usage();
    drop(req);
    respond(state, &OpenAi, c, operation, move |plan, c| {
        Ok(if c.stream {
            Reply::stream(completion_chunks(plan, include_usage), SSE)
                .header("cache-control", HeaderValue::from_static("no-cache"))
        } else {
            Reply::json(completion_body(plan))
        })
    })
}
