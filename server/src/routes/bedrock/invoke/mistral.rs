//! Mistral on Bedrock, in its two dialects: text completion (`{"prompt": "<s>[INST] … [/INST]"}` →
//! `outputs[]`) and chat completion (`{"messages": […]}` → `choices[]`, Mistral Large 2 and later).

use serde::Deserialize;
use serde_json::{Value, json};

use super::{Event, llama, plan_text};
use crate::codec::chat_completions::{self, ChatRequest};
use crate::conversation::Conversation;
use crate::plan::{Block, Plan, StopReason, chunk_text};
use crate::routes::bedrock::{BedrockError, from_value};

#[derive(Deserialize)]
struct PromptRequest {
    prompt: String,
}

/// Reads either dialect (`messages` means chat).
pub fn decode(body: &Value, c: &mut Conversation) -> Result<(), BedrockError> {
    if body.get("messages").is_none() {
        let req: PromptRequest = from_value(body)?;
        // Mistral's instruct template is Llama 2's `[INST]` without `<<SYS>>`.
        llama::decode_prompt(&req.prompt, c);
        return Ok(());
    }
    // The chat dialect is Chat Completions without `model` (the URL names it) and without `stream`
    // (the operation decides): the shared codec reads it, with those two kept from the request.
    let mut body = body.clone();
    if let Some(obj) = body.as_object_mut() {
        obj.entry("model")
            .or_insert_with(|| Value::String(c.model.clone()));
        obj.remove("stream");
    }
    let req: ChatRequest = from_value(&body)?;
    let stream = c.stream;
    let conversation = std::mem::replace(c, Conversation::new(c.protocol, ""));
    *c = chat_completions::decode_into(conversation, &req)
        .map_err(|e| BedrockError::validation(format!("Malformed input request: {}", e.message())))?;
    c.stream = stream;
    Ok(())
}

fn stop_reason(s: StopReason) -> &'static str {
    match s {
        StopReason::MaxTokens => "length",
        StopReason::ToolUse => "tool_calls",
        _ => "stop",
    }
}

fn tool_calls(plan: &Plan) -> Vec<Value> {
    plan.blocks
        .iter()
        .filter_map(|b| match b {
            Block::ToolCall { id, name, arguments } => Some(
                json!({"id": id, "type": "function", "function": {"name": name, "arguments": arguments}}),
            ),
            _ => None,
        })
        .collect()
}

/// The InvokeModel response body of either dialect.
pub fn body(plan: &Plan, chat: bool) -> Value {
    if !chat {
        return json!({"outputs": [{"text": plan_text(plan), "stop_reason": stop_reason(plan.stop)}]});
    }
    let mut message = json!({"role": "assistant", "content": plan_text(plan)});
    let calls = tool_calls(plan);
    if !calls.is_empty() {
        message["tool_calls"] = json!(calls);
    }
    json!({"choices": [{"index": 0, "message": message, "stop_reason": stop_reason(plan.stop)}]})
}

/// Streaming chunks of either dialect; the stop reason arrives on the last.
pub fn events(plan: &Plan, chat: bool) -> Vec<Event> {
    let text = plan_text(plan);
    let mut pieces: Vec<Value> = chunk_text(&text, plan.timing.chunk_size)
        .into_iter()
        .map(|p| json!({"content": p}))
        .collect();
    if chat {
        let calls = tool_calls(plan);
        if !calls.is_empty() {
            pieces.push(json!({"content": "", "tool_calls": calls}));
        }
    }
    if pieces.is_empty() {
        pieces.push(json!({"content": ""}));
    }
    let last = pieces.len() - 1;
    pieces
        .into_iter()
        .enumerate()
        .map(|(i, delta)| {
            let stop = if i == last {
                json!(stop_reason(plan.stop))
            } else {
                Value::Null
            };
            Event::content(if chat {
                let mut d = delta;
                d["role"] = json!("assistant");
                json!({"choices": [{"index": 0, "message": d, "stop_reason": stop}]})
            } else {
                json!({"outputs": [{"text": delta["content"], "stop_reason": stop}]})
            })
        })
        .collect()
}
