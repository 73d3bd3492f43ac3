//! Chat Completions responses: the `chat.completion` body and the `chat.completion.chunk` SSE
//! frames of a plan, byte-for-byte as OpenAI sends them.

use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use serde_json::{Value, json};

use crate::plan::{Block, Plan, StopReason, chunk_text};
use crate::stream::Frame;

/// OpenAI's `finish_reason` for a neutral stop reason.
pub fn finish_reason(stop: StopReason) -> &'static str {
    match stop {
        StopReason::EndTurn | StopReason::StopSequence => "stop",
        StopReason::ToolUse => "tool_calls",
        StopReason::MaxTokens => "length",
        StopReason::ContentFilter => "content_filter",
    }
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn completion_id(plan: &Plan) -> String {
    plan.id
        .clone()
        .unwrap_or_else(|| format!("chatcmpl-{}", uuid::Uuid::new_v4().simple()))
}

fn usage_json(plan: &Plan) -> Value {
    let u = &plan.usage;
    let mut v = json!({
        "prompt_tokens": u.input,
        "completion_tokens": u.output,
        "total_tokens": u.total,
    });
    // The details objects, in the shape OpenAI sends them (openai-python `CompletionUsage`), when
    // a fixture states cached or reasoning tokens; OpenAI-compatible servers (vLLM, SageMaker
    // containers) that have no cache omit them, as the plain answer does.
    if u.cache_read > 0 || u.reasoning > 0 {
        v["prompt_tokens_details"] = json!({"cached_tokens": u.cache_read, "audio_tokens": 0});
        v["completion_tokens_details"] = json!({"reasoning_tokens": u.reasoning, "audio_tokens": 0,
            "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0});
    }
    v
}

/// A `chat.completion` body.
pub fn completion(plan: &Plan) -> Value {
    let text: String = plan
        .blocks
        .iter()
        .filter_map(|b| {
            if let Block::Text(t) = b {
                Some(t.as_str())
            } else {
                None
            }
        })
        .collect();
    let reasoning: String = plan
        .blocks
        .iter()
        .filter_map(|b| {
            if let Block::Reasoning { text, .. } = b {
                Some(text.as_str())
            } else {
                None
            }
        })
        .collect();
    let tool_calls: Vec<Value> = plan
        .blocks
        .iter()
        .filter_map(|b| match b {
            Block::ToolCall { id, name, arguments } => Some(
                json!({"id": id, "type": "function", "function": {"name": name, "arguments": arguments}}),
            ),
            _ => None,
        })
        .collect();
    let has_text = plan.blocks.iter().any(|b| matches!(b, Block::Text(_)));
    let mut message = json!({"role": "assistant", "content": if has_text { json!(text) } else { Value::Null }, "refusal": null});
    if !tool_calls.is_empty() {
        message["tool_calls"] = json!(tool_calls);
    }
    if !reasoning.is_empty() {
        // vLLM / DeepSeek-style OpenAI-compatible servers put reasoning beside the content.
        message["reasoning_content"] = json!(reasoning);
    }
    json!({
        "id": completion_id(plan),
        "object": "chat.completion",
        "created": plan.created.unwrap_or_else(now_secs),
        "model": plan.model,
        "choices": [{"index": 0, "message": message, "logprobs": null, "finish_reason": finish_reason(plan.stop)}],
        "usage": usage_json(plan),
        "system_fingerprint": plan.system_fingerprint,
    })
}

/// A chunk event serialized once around a marker delta: content chunks differ only in their delta,
/// so each is the head, its delta's JSON and the tail, not a whole JSON tree built and serialized
/// per frame (which dominated the setup of thousands of streams).
struct ChunkTemplate {
    head: String,
    tail: String,
}

impl ChunkTemplate {
    const MARKER: &str = "\u{1}mockmodel-delta\u{1}";

    /// Splits `render(marker)` at the marker's JSON; `None` if it does not occur exactly once.
    fn new(render: impl Fn(Value) -> String) -> Option<Self> {
        let whole = render(Value::String(Self::MARKER.into()));
        let marker = Value::String(Self::MARKER.into()).to_string();
        let (head, tail) = whole.split_once(&marker)?;
        (!tail.contains(&marker)).then(|| ChunkTemplate {
            head: head.to_string(),
            tail: tail.to_string(),
        })
    }

    fn render(&self, delta: &Value) -> Bytes {
        let delta = delta.to_string();
        let mut s = String::with_capacity(self.head.len() + delta.len() + self.tail.len());
        s.push_str(&self.head);
        s.push_str(&delta);
        s.push_str(&self.tail);
        Bytes::from(s)
    }
}

/// The SSE frames of a streamed completion, as OpenAI sends them (one `data:` event per frame).
pub fn completion_chunks(plan: &Plan, include_usage: bool) -> Vec<Frame> {
    let id = completion_id(plan);
    let created = plan.created.unwrap_or_else(now_secs);
    let full = |delta: Value, finish: Value| {
        let mut v = json!({
            "id": id, "object": "chat.completion.chunk", "created": created, "model": plan.model,
            "system_fingerprint": plan.system_fingerprint,
            "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}],
        });
        if include_usage {
            v["usage"] = Value::Null;
        }
        format!("data: {v}\n\n")
    };
    let template = ChunkTemplate::new(|delta| full(delta, Value::Null));
    let chunk = |delta: Value, finish: Value| match (&template, finish) {
        (Some(t), Value::Null) => t.render(&delta),
        (_, finish) => Bytes::from(full(delta, finish)),
    };
    let size = plan.timing.chunk_size;
    let mut frames = vec![Frame::control(chunk(
        json!({"role": "assistant", "content": "", "refusal": null}),
        Value::Null,
    ))];
    let mut tool_index = 0;
    for block in &plan.blocks {
        match block {
            Block::Text(text) => {
                for piece in chunk_text(text, size) {
                    frames.push(Frame::content(chunk(json!({"content": piece}), Value::Null)));
                }
            }
            Block::Reasoning { text, .. } => {
                for piece in chunk_text(text, size) {
                    frames.push(Frame::content(chunk(
                        json!({"reasoning_content": piece}),
                        Value::Null,
                    )));
                }
            }
            Block::ToolCall {
                id: call_id,
                name,
                arguments,
            } => {
                let head = json!({"tool_calls": [{"index": tool_index, "id": call_id, "type": "function",
                    "function": {"name": name, "arguments": ""}}]});
                frames.push(Frame::content(chunk(head, Value::Null)));
                for piece in chunk_text(arguments, size) {
                    let delta =
                        json!({"tool_calls": [{"index": tool_index, "function": {"arguments": piece}}]});
                    frames.push(Frame::content(chunk(delta, Value::Null)));
                }
                tool_index += 1;
            }
        }
    }
    frames.push(Frame::control(chunk(json!({}), json!(finish_reason(plan.stop)))));
    if include_usage {
        let v = json!({
            "id": id, "object": "chat.completion.chunk", "created": created, "model": plan.model,
            "system_fingerprint": plan.system_fingerprint, "choices": [], "usage": usage_json(plan),
        });
        frames.push(Frame::control(format!("data: {v}\n\n")));
    }
    frames.push(Frame::control("data: [DONE]\n\n"));
    frames
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_templated_chunk_is_byte_identical_to_a_serialized_one() {
        let render = |delta: Value| {
            let v = json!({"id": "c-1", "model": "m\"x", "choices": [{"index": 0, "delta": delta, "finish_reason": null}], "usage": null});
            format!("data: {v}\n\n")
        };
        let t = ChunkTemplate::new(render).expect("marker found once");
        for delta in [
            json!({"content": "plain"}),
            json!({"content": "quote \" and \\ and é 東 🌤️ \n"}),
            json!({"tool_calls": [{"index": 0, "function": {"arguments": "{\"a\":1}"}}]}),
            json!({}),
        ] {
            assert_eq!(t.render(&delta), Bytes::from(render(delta.clone())), "{delta}");
        }
        assert!(
            ChunkTemplate::new(|d| format!("{d}{d}")).is_none(),
            "a marker seen twice cannot be split"
        );
    }
}
