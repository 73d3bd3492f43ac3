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
        // A refusal is a complete answer whose text is `message.refusal`.
        StopReason::EndTurn | StopReason::StopSequence | StopReason::Refusal => "stop",
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
        .unwrap_or_else(|| crate::ids::hex32_after("chatcmpl-"))
}

fn usage_json(plan: &Plan) -> Value {
    serde_json::to_value(usage(plan)).unwrap_or(Value::Null)
}

/// `usage` (openai-python `CompletionUsage`), fields in key order. The details objects, in the
/// shape OpenAI sends them, come when a fixture states cached or reasoning tokens;
/// OpenAI-compatible servers (vLLM, SageMaker containers) that have no cache omit them, as the
/// plain answer does.
fn usage(plan: &Plan) -> Usage {
    let u = &plan.usage;
    let details = u.cache_read > 0 || u.reasoning > 0;
    Usage {
        completion_tokens: u.output,
        completion_tokens_details: details.then_some(CompletionDetails {
            accepted_prediction_tokens: 0,
            audio_tokens: 0,
            reasoning_tokens: u.reasoning,
            rejected_prediction_tokens: 0,
        }),
        prompt_tokens: u.input,
        prompt_tokens_details: details.then_some(PromptDetails {
            audio_tokens: 0,
            cached_tokens: u.cache_read,
        }),
        total_tokens: u.total,
    }
}

#[derive(serde::Serialize)]
struct Usage {
    completion_tokens: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    completion_tokens_details: Option<CompletionDetails>,
    prompt_tokens: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    prompt_tokens_details: Option<PromptDetails>,
    total_tokens: u64,
}

#[derive(serde::Serialize)]
struct CompletionDetails {
    accepted_prediction_tokens: u64,
    audio_tokens: u64,
    reasoning_tokens: u64,
    rejected_prediction_tokens: u64,
}

#[derive(serde::Serialize)]
struct PromptDetails {
    audio_tokens: u64,
    cached_tokens: u64,
}

/// A `chat.completion` body.
pub fn completion(plan: &Plan) -> Value {
    serde_json::to_value(completion_body(plan)).unwrap_or(Value::Null)
}

/// A `chat.completion` body as a typed tree that serializes straight to bytes: building the
/// `serde_json::Value` (a map and a string per key) then serializing it was about a quarter of a
/// request's instructions (issue 12's hot path, measured with callgrind). Fields are declared in
/// key order: the bytes are exactly what the `Value` form (a sorted map) wrote.
pub fn completion_body(plan: &Plan) -> Completion<'_> {
    let mut text = String::new();
    let mut reasoning = String::new();
    let mut tool_calls = Vec::new();
    let mut has_text = false;
    for b in &plan.blocks {
        match b {
            Block::Text(t) => {
                has_text = true;
                text.push_str(t);
            }
            Block::Reasoning { text: r, .. } => reasoning.push_str(r),
            Block::ToolCall { id, name, arguments } => tool_calls.push(ToolCall {
                function: Function { arguments, name },
                id,
                type_: "function",
            }),
        }
    }
    // An answer with no blocks at all is the empty string the API sends for an empty completion.
    let content = (has_text || plan.blocks.is_empty()).then_some(());
    let (content, refusal) = if plan.stop == StopReason::Refusal {
        (None, Some(text))
    } else {
        (content.map(|()| text), None)
    };
    Completion {
        choices: [Choice {
            finish_reason: finish_reason(plan.stop),
            index: 0,
            logprobs: (),
            message: Message {
                content,
                // vLLM / DeepSeek-style OpenAI-compatible servers put reasoning beside the content.
                reasoning_content: (!reasoning.is_empty()).then_some(reasoning),
                refusal,
                role: "assistant",
                tool_calls,
            },
        }],
        created: plan.created.unwrap_or_else(now_secs),
        id: completion_id(plan),
        model: &plan.model,
        object: "chat.completion",
        system_fingerprint: plan.system_fingerprint.as_deref(),
        usage: usage(plan),
    }
}

/// `chat.completion` (openai-python `ChatCompletion`), fields in key order.
#[derive(serde::Serialize)]
pub struct Completion<'a> {
    choices: [Choice<'a>; 1],
    created: i64,
    id: String,
    model: &'a str,
    object: &'static str,
    system_fingerprint: Option<&'a str>,
    usage: Usage,
}

#[derive(serde::Serialize)]
struct Choice<'a> {
    finish_reason: &'static str,
    index: u32,
    /// Always `null`: logprobs are not mocked.
    logprobs: (),
    message: Message<'a>,
}

#[derive(serde::Serialize)]
struct Message<'a> {
    content: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reasoning_content: Option<String>,
    refusal: Option<String>,
    role: &'static str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tool_calls: Vec<ToolCall<'a>>,
}

#[derive(serde::Serialize)]
struct ToolCall<'a> {
    function: Function<'a>,
    id: &'a str,
    #[serde(rename = "type")]
    type_: &'static str,
}

#[derive(serde::Serialize)]
struct Function<'a> {
    arguments: &'a str,
    name: &'a str,
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
                // A refusal streams as `refusal` deltas instead of `content` ones.
                let field = if plan.stop == StopReason::Refusal {
                    "refusal"
                } else {
                    "content"
                };
                for piece in chunk_text(text, size) {
                    frames.push(Frame::content(chunk(json!({ field: piece }), Value::Null)));
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

    #[test]
    fn the_typed_completion_writes_the_bytes_of_its_sorted_value() {
        use crate::plan::{Timing, Usage};
        let plan = |blocks: Vec<Block>, stop: StopReason, fingerprint: Option<&str>| Plan {
            id: Some("chatcmpl-1".into()),
            model: "gpt-4o".into(),
            created: Some(7),
            blocks,
            stop,
            usage: Usage {
                input: 3,
                output: 4,
                total: 7,
                reasoning: 2,
                ..Default::default()
            },
            timing: Timing::default(),
            system_fingerprint: fingerprint.map(str::to_string),
            speech: None,
            guardrail: None,
            guardrail_checks: None,
        };
        let call = |id: &str| Block::ToolCall {
            id: id.into(),
            name: "get_weather".into(),
            arguments: "{\"city\":\"Paris\"}".into(),
        };
        let thought = Block::Reasoning {
            text: "hmm".into(),
            signature: None,
        };
        for p in [
            plan(vec![Block::Text("Hello \"é\"".into())], StopReason::EndTurn, None),
            plan(vec![], StopReason::EndTurn, Some("fp_1")),
            plan(vec![Block::Text("no".into())], StopReason::Refusal, None),
            plan(vec![thought, call("a"), call("b")], StopReason::ToolUse, None),
            plan(vec![Block::Text("cut".into())], StopReason::MaxTokens, None),
        ] {
            // A `Value` map sorts its keys: equal bytes mean the fields are declared in key order.
            let typed = serde_json::to_string(&completion_body(&p)).expect("serializes");
            assert_eq!(typed, completion(&p).to_string());
        }
        let refusal = completion(&plan(vec![Block::Text("no".into())], StopReason::Refusal, None));
        assert_eq!(refusal["choices"][0]["message"]["refusal"], "no");
        assert_eq!(refusal["choices"][0]["message"]["content"], Value::Null);
        let calls = completion(&plan(vec![call("a")], StopReason::ToolUse, None));
        assert_eq!(
            calls["choices"][0]["message"]["tool_calls"][0],
            json!({"id": "a", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}})
        );
        assert_eq!(calls["choices"][0]["finish_reason"], "tool_calls");
        // Usage with reasoning tokens carries both details objects, as openai-python's
        // `CompletionUsage` reads them; without cache or reasoning counts, neither.
        assert_eq!(
            calls["usage"],
            json!({"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7,
                "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
                "completion_tokens_details": {"reasoning_tokens": 2, "audio_tokens": 0,
                    "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}})
        );
        let mut plain = plan(vec![], StopReason::EndTurn, None);
        plain.usage.reasoning = 0;
        assert_eq!(
            completion(&plain)["usage"],
            json!({"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7})
        );
    }
}
