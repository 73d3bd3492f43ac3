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
    serde_json::to_value(token_usage(plan)).unwrap_or(Value::Null)
}

/// `TokenUsage` as a typed body, members in key order (the bytes of its sorted `Value`).
/// Bedrock reports `inputTokens` apart from cache reads and writes (TokenUsage in the service
/// model: cacheReadInputTokens/cacheWriteInputTokens are optional members, sent when caching ran).
fn token_usage(plan: &Plan) -> TokenUsage {
    let u = &plan.usage;
    let cached = u.cache_read + u.cache_write > 0;
    TokenUsage {
        cache_read_input_tokens: cached.then_some(u.cache_read),
        cache_write_input_tokens: cached.then_some(u.cache_write),
        input_tokens: u.uncached_input(),
        output_tokens: u.output,
        total_tokens: u.total,
    }
}

#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct TokenUsage {
    #[serde(skip_serializing_if = "Option::is_none")]
    cache_read_input_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cache_write_input_tokens: Option<u64>,
    input_tokens: u64,
    output_tokens: u64,
    total_tokens: u64,
}

/// The Converse response body; a guardrail's verdict replaces the answer, names the stop reason
/// and adds `trace.guardrail` when the request asked for the trace. Typed, members in key order,
/// so it serializes straight to the bytes its sorted `Value` form had (building that tree per
/// request was a measurable share of a Converse request, issue 12).
pub(super) fn converse_body(plan: &Plan, latency: u64, verdict: Option<&Verdict>) -> ConverseBody {
    let sent = guardrail::sent(verdict, plan);
    ConverseBody {
        metrics: Metrics { latency_ms: latency },
        output: Output {
            message: Message {
                content: sent.blocks.iter().map(content_block).collect(),
                role: "assistant",
            },
        },
        stop_reason: verdict
            .and_then(Verdict::stop_reason)
            .unwrap_or(stop_reason(plan.stop)),
        trace: verdict
            .and_then(|v| v.trace(plan))
            .map(|t| json!({"guardrail": t})),
        usage: token_usage(plan),
    }
}

/// `ConverseResponse` (botocore's bedrock-runtime model), members in key order.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ConverseBody {
    metrics: Metrics,
    output: Output,
    stop_reason: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    trace: Option<Value>,
    usage: TokenUsage,
}

#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct Metrics {
    latency_ms: u64,
}

#[derive(serde::Serialize)]
struct Output {
    message: Message,
}

#[derive(serde::Serialize)]
struct Message {
    content: Vec<Value>,
    role: &'static str,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{StopReason, Usage};

    fn plan(blocks: Vec<Block>, usage: Usage) -> Plan {
        Plan {
            blocks,
            stop: StopReason::ToolUse,
            usage,
            ..Plan::default()
        }
    }

    #[test]
    fn the_typed_body_writes_the_bytes_of_its_sorted_value() {
        let blocks = vec![
            Block::Reasoning {
                text: "hmm".into(),
                signature: Some("sig".into()),
            },
            Block::Text("Hi \"there\"".into()),
            Block::ToolCall {
                id: "t1".into(),
                name: "get_weather".into(),
                arguments: "{\"city\":\"Paris\"}".into(),
            },
        ];
        let cached = Usage {
            cache_read: 2,
            cache_write: 1,
            ..plain_usage()
        };
        for p in [
            plan(blocks.clone(), plain_usage()),
            plan(blocks, cached),
            plan(vec![], Usage::default()),
        ] {
            let body = converse_body(&p, 12, None);
            let typed = serde_json::to_string(&body).expect("serializes");
            // A `Value` map sorts its keys: equal bytes mean the members are declared in key order.
            let sorted = serde_json::to_value(&body).expect("a value").to_string();
            assert_eq!(typed, sorted);
        }
        let body = serde_json::to_value(converse_body(
            &plan(vec![Block::Text("x".into())], plain_usage()),
            7,
            None,
        ))
        .expect("a value");
        assert_eq!(
            body,
            json!({"output": {"message": {"role": "assistant", "content": [{"text": "x"}]}},
                "stopReason": "tool_use", "usage": {"inputTokens": 5, "outputTokens": 3, "totalTokens": 8},
                "metrics": {"latencyMs": 7}})
        );
    }

    fn plain_usage() -> Usage {
        Usage {
            input: 5,
            output: 3,
            total: 8,
            ..Default::default()
        }
    }
}
