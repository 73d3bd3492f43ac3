//! Encoding a [`Plan`] as the Messages API answers: the `message` body and the stream events
//! (`message_start`, `content_block_start`/`_delta`/`_stop`, `message_delta`, `message_stop`), as
//! JSON events for Bedrock to wrap in its `chunk` frames or as server-sent events.
//!
//! Callers differ only in what [`Dialect`] says: Bedrock's InvokeModel has its own id style and
//! reports only input and output tokens, where the Messages API also reports cache tokens and
//! sends a `ping` after `message_start`.

use axum::body::Bytes;
use serde_json::{Value, json};

use crate::plan::{Block, Plan, StopReason, chunk_text};
use crate::stream::Frame;

/// What differs between the callers of the codec.
#[derive(Debug, Clone, Copy)]
pub struct Dialect {
    /// Prefix of generated message ids.
    pub id_prefix: &'static str,
    /// Whether `usage` reports `cache_creation_input_tokens` / `cache_read_input_tokens`.
    pub cache_usage: bool,
}

/// The Messages API itself (`/v1/messages`).
pub const MESSAGES_API: Dialect = Dialect {
    id_prefix: "msg_01",
    cache_usage: true,
};

/// Bedrock's InvokeModel Anthropic bodies.
pub const BEDROCK_INVOKE: Dialect = Dialect {
    id_prefix: "msg_bdrk_",
    cache_usage: false,
};

/// One streaming event, before the caller frames it.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// The event's JSON; its `type` is the SSE event name.
    pub json: Value,
    /// Whether it carries generated content (for timing and `errorAfterChunks`).
    pub content: bool,
}

impl Event {
    fn content(json: Value) -> Self {
        Event { json, content: true }
    }
    fn control(json: Value) -> Self {
        Event { json, content: false }
    }
}

/// The Messages `stop_reason` for a neutral stop reason.
pub fn stop_reason(s: StopReason) -> &'static str {
    match s {
        StopReason::EndTurn => "end_turn",
        StopReason::ToolUse => "tool_use",
        StopReason::MaxTokens => "max_tokens",
        StopReason::StopSequence => "stop_sequence",
        StopReason::ContentFilter | StopReason::Refusal => "refusal",
    }
}

/// The `stop_sequence` a message reports: the request's first stop sequence when the plan stopped
/// on one, else `null`.
fn stop_sequence(plan: &Plan, stop_sequences: &[String]) -> Value {
    match (plan.stop, stop_sequences.first()) {
        (StopReason::StopSequence, Some(s)) => json!(s),
        _ => Value::Null,
    }
}

fn message_id(plan: &Plan, d: Dialect) -> String {
    plan.id.clone().unwrap_or_else(|| {
        format!(
            "{}{}",
            d.id_prefix,
            &crate::ids::uuid().simple().to_string()[..24]
        )
    })
}

/// Tool arguments as the `input` object (the text is JSON by fixture validation).
fn tool_input(arguments: &str) -> Value {
    serde_json::from_str(arguments).unwrap_or_else(|_| json!({}))
}

fn usage(plan: &Plan, d: Dialect, output: u64) -> Value {
    let u = &plan.usage;
    // `input_tokens` counts only what was neither read from nor written to the cache (Anthropic's
    // prompt-caching docs: total input = input_tokens + cache_creation + cache_read).
    if d.cache_usage || u.cache_read + u.cache_write > 0 {
        json!({"input_tokens": u.uncached_input(), "cache_creation_input_tokens": u.cache_write,
            "cache_read_input_tokens": u.cache_read, "output_tokens": output})
    } else {
        json!({"input_tokens": u.input, "output_tokens": output})
    }
}

/// The `message` response body.
pub fn body(plan: &Plan, d: Dialect, stop_sequences: &[String]) -> Value {
    let content: Vec<Value> = plan
        .blocks
        .iter()
        .map(|b| match b {
            Block::Text(t) => json!({"type": "text", "text": t}),
            Block::Reasoning { text, signature } => {
                json!({"type": "thinking", "thinking": text, "signature": signature.clone().unwrap_or_default()})
            }
            Block::ToolCall { id, name, arguments } => json!({
                "type": "tool_use", "id": id, "name": name, "input": tool_input(arguments),
            }),
        })
        .collect();
    json!({
        "id": message_id(plan, d), "type": "message", "role": "assistant", "model": plan.model,
        "content": content, "stop_reason": stop_reason(plan.stop),
        "stop_sequence": stop_sequence(plan, stop_sequences),
        "usage": usage(plan, d, plan.usage.output),
    })
}

/// The stream's events: `message_start` (output tokens 1, as the API reports before generating),
/// each block's start, deltas in `chunk_size` pieces and stop, then `message_delta` with the stop
/// reason and output tokens, and `message_stop`.
pub fn events(plan: &Plan, d: Dialect, stop_sequences: &[String]) -> Vec<Event> {
    let size = plan.timing.chunk_size;
    let mut out = vec![Event::control(json!({"type": "message_start", "message": {
        "id": message_id(plan, d), "type": "message", "role": "assistant", "model": plan.model,
        "content": [], "stop_reason": null, "stop_sequence": null,
        "usage": usage(plan, d, 1),
    }}))];
    let delta = |i: usize, d: Value| json!({"type": "content_block_delta", "index": i, "delta": d});
    for (i, b) in plan.blocks.iter().enumerate() {
        let (start, deltas): (Value, Vec<Value>) = match b {
            Block::Text(t) => (
                json!({"type": "text", "text": ""}),
                chunk_text(t, size)
                    .into_iter()
                    .map(|p| json!({"type": "text_delta", "text": p}))
                    .collect(),
            ),
            Block::Reasoning { text, signature } => {
                let mut d: Vec<Value> = chunk_text(text, size)
                    .into_iter()
                    .map(|p| json!({"type": "thinking_delta", "thinking": p}))
                    .collect();
                if let Some(sig) = signature {
                    d.push(json!({"type": "signature_delta", "signature": sig}));
                }
                (json!({"type": "thinking", "thinking": ""}), d)
            }
            Block::ToolCall { id, name, arguments } => (
                json!({"type": "tool_use", "id": id, "name": name, "input": {}}),
                chunk_text(arguments, size)
                    .into_iter()
                    .map(|p| json!({"type": "input_json_delta", "partial_json": p}))
                    .collect(),
            ),
        };
        out.push(Event::control(
            json!({"type": "content_block_start", "index": i, "content_block": start}),
        ));
        out.extend(deltas.into_iter().map(|d| Event::content(delta(i, d))));
        out.push(Event::control(json!({"type": "content_block_stop", "index": i})));
    }
    out.push(Event::control(json!({
        "type": "message_delta",
        "delta": {"stop_reason": stop_reason(plan.stop), "stop_sequence": stop_sequence(plan, stop_sequences)},
        "usage": {"output_tokens": plan.usage.output},
    })));
    out.push(Event::control(json!({"type": "message_stop"})));
    out
}

/// One server-sent event: `event: <name>` then the JSON as `data`.
pub fn sse(name: &str, json: &Value) -> Bytes {
    Bytes::from(format!("event: {name}\ndata: {json}\n\n"))
}

/// The events as server-sent events, with the `ping` the API sends after `message_start`.
pub fn sse_frames(events: &[Event]) -> Vec<Frame> {
    let mut out = Vec::with_capacity(events.len() + 1);
    for (i, e) in events.iter().enumerate() {
        let name = e.json["type"].as_str().unwrap_or("message");
        let bytes = sse(name, &e.json);
        out.push(if e.content {
            Frame::content(bytes)
        } else {
            Frame::control(bytes)
        });
        if i == 0 {
            out.push(Frame::control(sse("ping", &json!({"type": "ping"}))));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{Timing, Usage};

    fn plan(blocks: Vec<Block>, stop: StopReason) -> Plan {
        Plan {
            id: Some("msg_1".into()),
            model: "claude".into(),
            created: None,
            blocks,
            stop,
            usage: Usage {
                input: 3,
                output: 4,
                total: 7,
                ..Default::default()
            },
            timing: Timing {
                chunk_size: 4,
                ..Timing::default()
            },
            system_fingerprint: None,
            speech: None,
            guardrail: None,
            guardrail_checks: None,
        }
    }

    #[test]
    fn a_stream_opens_with_message_start_then_ping_and_names_every_event() {
        let p = plan(
            vec![
                Block::Reasoning {
                    text: "hmm".into(),
                    signature: Some("sig".into()),
                },
                Block::Text("Hello there".into()),
            ],
            StopReason::EndTurn,
        );
        let frames = sse_frames(&events(&p, MESSAGES_API, &[]));
        let text: Vec<String> = frames
            .iter()
            .map(|f| String::from_utf8(f.bytes.to_vec()).unwrap())
            .collect();
        assert!(text[0].starts_with("event: message_start\ndata: {"));
        assert_eq!(text[1], "event: ping\ndata: {\"type\":\"ping\"}\n\n");
        assert!(text.iter().any(|t| t.contains("\"signature_delta\"")));
        assert!(text.last().unwrap().starts_with("event: message_stop\n"));
        assert_eq!(frames.iter().filter(|f| f.content).count(), 1 + 1 + 3);
    }

    #[test]
    fn a_stop_sequence_answer_names_the_requests_first_stop_sequence() {
        let p = plan(vec![Block::Text("a".into())], StopReason::StopSequence);
        let b = body(&p, MESSAGES_API, &["END".into()]);
        assert_eq!(
            (b["stop_reason"].clone(), b["stop_sequence"].clone()),
            (json!("stop_sequence"), json!("END"))
        );
        assert_eq!(b["usage"]["cache_read_input_tokens"], json!(0));
        let b = body(&p, BEDROCK_INVOKE, &[]);
        assert!(b["usage"].get("cache_read_input_tokens").is_none());
    }
}
