//! Converse and ConverseStream responses for a plan.
//!
//! ConverseStream events follow the service model exactly: the payload is the event's members only
//! (the `:event-type` header names the event), `contentBlockStart` is sent only for tool use (the
//! `ContentBlockStart` union has no text member), reasoning ends with a `signature` delta, and the
//! stream closes with `messageStop` then `metadata`.

use serde_json::{Value, json};

use super::super::guardrail::{self, Verdict};
use super::super::{BedrockError, event_frame, stop_reason};
use crate::plan::{Block, Plan, chunk_text};
use crate::stream::Frame;

/// A content block of a Converse response message.
pub fn content_block(b: &Block) -> Value {
    match b {
        Block::Text(t) => json!({"text": t}),
        Block::Reasoning { text, signature } => {
            let mut r = json!({"text": text});
            if let Some(s) = signature {
                r["signature"] = json!(s);
            }
            json!({"reasoningContent": {"reasoningText": r}})
        }
        Block::ToolCall { id, name, arguments } => {
            json!({"toolUse": {"toolUseId": id, "name": name, "input": tool_input(arguments)}})
        }
    }
}

/// Tool arguments as the JSON document Bedrock sends (the text is JSON by fixture validation).
pub fn tool_input(arguments: &str) -> Value {
    serde_json::from_str(arguments).unwrap_or_else(|_| json!({}))
}

/// `TokenUsage`.
pub fn usage(plan: &Plan) -> Value {
    let u = &plan.usage;
    // Bedrock reports `inputTokens` apart from cache reads and writes (TokenUsage in the service
    // model: cacheReadInputTokens/cacheWriteInputTokens are optional members, sent when caching ran).
    let mut v = json!({"inputTokens": u.uncached_input(), "outputTokens": u.output, "totalTokens": u.total});
    if u.cache_read + u.cache_write > 0 {
        v["cacheReadInputTokens"] = json!(u.cache_read);
        v["cacheWriteInputTokens"] = json!(u.cache_write);
    }
    v
}

/// The Converse response body; a guardrail's verdict replaces the answer, names the stop reason
/// and adds `trace.guardrail` when the request asked for the trace.
pub(super) fn converse_body(plan: &Plan, latency: u64, verdict: Option<&Verdict>) -> Value {
    let sent = guardrail::sent(verdict, plan);
    let content: Vec<Value> = sent.blocks.iter().map(content_block).collect();
    let mut body = json!({
        "output": {"message": {"role": "assistant", "content": content}},
        "stopReason": verdict.and_then(Verdict::stop_reason).unwrap_or(stop_reason(plan.stop)),
        "usage": usage(plan),
        "metrics": {"latencyMs": latency},
    });
    if let Some(trace) = verdict.and_then(|v| v.trace(plan)) {
        body["trace"] = json!({"guardrail": trace});
    }
    body
}

/// The ConverseStream events for a plan, in the service's order; a guardrail's verdict is streamed
/// as its replacement text, `messageStop`'s stop reason and `metadata.trace.guardrail`.
pub(super) fn stream_frames(
    plan: &Plan,
    latency: u64,
    verdict: Option<&Verdict>,
) -> Result<Vec<Frame>, BedrockError> {
    let original = plan;
    let sent = guardrail::sent(verdict, plan);
    let plan = &*sent;
    let size = plan.timing.chunk_size;
    let mut frames = vec![Frame::control(event_frame(
        "messageStart",
        &json!({"role": "assistant"}),
    )?)];
    let delta =
        |i: usize, d: Value| event_frame("contentBlockDelta", &json!({"contentBlockIndex": i, "delta": d}));
    for (i, block) in plan.blocks.iter().enumerate() {
        match block {
            Block::Text(text) => {
                // An empty text block still gets one delta: a block with no delta never starts.
                let pieces = chunk_text(text, size);
                for piece in if pieces.is_empty() { vec![""] } else { pieces } {
                    frames.push(Frame::content(delta(i, json!({"text": piece}))?));
                }
            }
            Block::Reasoning { text, signature } => {
                for piece in chunk_text(text, size) {
                    frames.push(Frame::content(delta(
                        i,
                        json!({"reasoningContent": {"text": piece}}),
                    )?));
                }
                if let Some(sig) = signature {
                    frames.push(Frame::control(delta(
                        i,
                        json!({"reasoningContent": {"signature": sig}}),
                    )?));
                }
            }
            Block::ToolCall { id, name, arguments } => {
                frames.push(Frame::control(event_frame(
                    "contentBlockStart",
                    &json!({"contentBlockIndex": i, "start": {"toolUse": {"toolUseId": id, "name": name}}}),
                )?));
                for piece in chunk_text(arguments, size) {
                    frames.push(Frame::content(delta(i, json!({"toolUse": {"input": piece}}))?));
                }
            }
        }
        frames.push(Frame::control(event_frame(
            "contentBlockStop",
            &json!({"contentBlockIndex": i}),
        )?));
    }
    let stop = verdict
        .and_then(Verdict::stop_reason)
        .unwrap_or(stop_reason(plan.stop));
    frames.push(Frame::control(event_frame(
        "messageStop",
        &json!({"stopReason": stop}),
    )?));
    let mut metadata = json!({"usage": usage(plan), "metrics": {"latencyMs": latency}});
    if let Some(trace) = verdict.and_then(|v| v.trace(original)) {
        metadata["trace"] = json!({"guardrail": trace});
    }
    frames.push(Frame::control(event_frame("metadata", &metadata)?));
    Ok(frames)
}
