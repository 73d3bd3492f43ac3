//! OpenAI chat payloads, as SageMaker's LLM containers speak them (TGI Messages API, DJL-LMI, vLLM):
//! `{"messages": [...]}` in, `chat.completion` out, or `data: {chat.completion.chunk}` events when
//! streamed. The codec is the shared Chat Completions one; this module only adapts it to SageMaker.

use serde_json::Value;

use super::{Decoded, Payload, SageMakerError, from_value};
use crate::codec::chat_completions::{self, ChatRequest};
use crate::conversation::Conversation;
use crate::plan::Plan;
use crate::stream::Frame;

/// Decodes an OpenAI chat body into the endpoint's conversation.
pub(super) fn decode(mut value: Value, conversation: Conversation) -> Result<Decoded, SageMakerError> {
    // Containers serve one model and do not require `model` (strands-agents never sends it);
    // the OpenAI decoder does, so the endpoint name stands in. Matching uses the endpoint name anyway.
    if let Some(obj) = value.as_object_mut()
        && !obj.contains_key("model")
    {
        obj.insert("model".into(), Value::String(conversation.model.clone()));
    }
    let req: ChatRequest = from_value(value, "OpenAI chat")?;
    let include_usage = req.include_usage();
    let conversation = chat_completions::decode_into(conversation, &req).map_err(|e| {
        SageMakerError::validation(format!("Malformed OpenAI chat request body: {}", e.message()))
    })?;
    Ok(Decoded {
        conversation,
        payload: Payload::OpenAi { include_usage },
    })
}

/// A `chat.completion` body.
pub(super) fn body(plan: &Plan) -> Value {
    chat_completions::completion(plan)
}

/// `data: {chat.completion.chunk}\n\n` events, one per frame, ending with `data: [DONE]`.
pub(super) fn chunks(plan: &Plan, include_usage: bool) -> Vec<Frame> {
    chat_completions::completion_chunks(plan, include_usage)
}
