//! Responses API answers: the `response` object of a plan and the typed SSE events that build it
//! (`event: <type>` + `data: {..., "sequence_number": n}`), as OpenAI sends them.
//!
//! The events are derived from the finished object, so a stream and the object a later
//! `GET /responses/{id}` returns carry the same ids and text.

use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use base64::Engine as _;
use serde_json::{Value, json};

use super::ResponsesRequest;
use crate::codec::openai_error::OpenAiError;
use crate::plan::{Block, Plan, StopReason, chunk_text};
use crate::stream::Frame;

/// An id in the API's style: a prefix (`resp`, `msg`, `fc`, `rs`) and 48 hex digits.
fn new_id(prefix: &str) -> String {
    let a = crate::ids::uuid().simple().to_string();
    let b = crate::ids::uuid().simple().to_string();
    format!("{prefix}_{a}{}", &b[..16])
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// The response object of a plan, echoing the request's settings as the API does; a stop at the
/// token limit (or a filter) is `status: incomplete` with its reason.
pub fn response(plan: &Plan, req: &ResponsesRequest) -> Value {
    let (status, incomplete) = match plan.stop {
        StopReason::MaxTokens => ("incomplete", json!({"reason": "max_output_tokens"})),
        StopReason::ContentFilter => ("incomplete", json!({"reason": "content_filter"})),
        StopReason::EndTurn | StopReason::StopSequence | StopReason::ToolUse | StopReason::Refusal => {
            ("completed", Value::Null)
        }
    };
    let created_at = plan.created.unwrap_or_else(now_secs);
    // Clients that keep no server state (`store: false`, Codex) ask for reasoning they can replay.
    let encrypted = req
        .include
        .iter()
        .flatten()
        .any(|i| i == "reasoning.encrypted_content");
    let output: Vec<Value> = plan
        .blocks
        .iter()
        .map(|b| output_item(b, status, encrypted, plan.stop == StopReason::Refusal))
        .collect();
    json!({
        "id": plan.id.clone().unwrap_or_else(|| new_id("resp")),
        "object": "response",
        "created_at": created_at,
        "status": status,
        "background": false,
        "completed_at": (status == "completed").then_some(created_at),
        "error": null,
        "incomplete_details": incomplete,
        "instructions": req.instructions.clone().unwrap_or(Value::Null),
        "max_output_tokens": req.max_output_tokens,
        "max_tool_calls": null,
        "model": plan.model,
        "output": output,
        "parallel_tool_calls": req.parallel_tool_calls.unwrap_or(true),
        "previous_response_id": req.previous_response_id,
        "prompt_cache_key": null,
        "reasoning": req.reasoning.clone().unwrap_or(json!({"effort": null, "summary": null})),
        "safety_identifier": null,
        "service_tier": "default",
        "store": req.stored(),
        "temperature": req.temperature.unwrap_or(1.0),
        "text": req.text.clone().unwrap_or(json!({"format": {"type": "text"}, "verbosity": "medium"})),
        "tool_choice": req.tool_choice.clone().unwrap_or(json!("auto")),
        "tools": req.tools.clone().unwrap_or_default(),
        "top_logprobs": 0,
        "top_p": req.top_p.unwrap_or(1.0),
        "truncation": req.truncation.as_deref().unwrap_or("disabled"),
        "usage": {
            "input_tokens": plan.usage.input,
            "input_tokens_details": {"cached_tokens": plan.usage.cache_read, "cache_write_tokens": plan.usage.cache_write},
            "output_tokens": plan.usage.output,
            "output_tokens_details": {"reasoning_tokens": plan.usage.reasoning},
            "total_tokens": plan.usage.total,
        },
        "user": req.user,
        "metadata": req.metadata.clone().unwrap_or(json!({})),
    })
}

/// One block as a finished output item (`status` is the response's: an incomplete response's
/// message is incomplete too). With `encrypted`, a reasoning item carries `encrypted_content`: the
/// fixture's signature, else an opaque token (clients only send it back). With `refusal`, text is a
/// `refusal` content part (the API's form of a declined answer).
fn output_item(block: &Block, status: &str, encrypted: bool, refusal: bool) -> Value {
    match block {
        Block::Text(text) if refusal => json!({
            "id": new_id("msg"), "type": "message", "status": status, "role": "assistant",
            "content": [{"type": "refusal", "refusal": text}],
        }),
        Block::Text(text) => json!({
            "id": new_id("msg"), "type": "message", "status": status, "role": "assistant",
            "content": [{"type": "output_text", "annotations": [], "logprobs": [], "text": text}],
        }),
        Block::Reasoning { text, signature } => {
            let mut item = json!({
                "id": new_id("rs"), "type": "reasoning",
                "summary": [{"type": "summary_text", "text": text}],
            });
            if encrypted {
                let token = signature.clone().unwrap_or_else(|| {
                    let raw = format!("mockmodel:{text}");
                    format!("gAAAAA{}", base64::engine::general_purpose::URL_SAFE.encode(raw))
                });
                item["encrypted_content"] = json!(token);
            }
            item
        }
        Block::ToolCall { id, name, arguments } => json!({
            "id": new_id("fc"), "type": "function_call", "status": "completed",
            "arguments": arguments, "call_id": id, "name": name,
        }),
    }
}

/// Numbers and frames events: every event carries its `sequence_number` (its index in the stream).
struct Events {
    frames: Vec<Frame>,
}

impl Events {
    fn push(&mut self, content: bool, mut event: Value) {
        event["sequence_number"] = json!(self.frames.len());
        let type_ = event["type"].as_str().unwrap_or_default().to_string();
        let bytes = Bytes::from(format!("event: {type_}\ndata: {event}\n\n"));
        self.frames.push(if content {
            Frame::content(bytes)
        } else {
            Frame::control(bytes)
        });
    }
}

/// The SSE events that stream `response` (made by [`response`]): `response.created`,
/// `response.in_progress`, each output item's added / delta / done events (deltas of at most
/// `chunk_size` characters are the content frames), then `response.completed` (or
/// `response.incomplete`) with the whole object.
pub fn events(response: &Value, chunk_size: usize) -> Vec<Frame> {
    let mut ev = Events { frames: Vec::new() };
    let mut pending = response.clone();
    pending["status"] = json!("in_progress");
    pending["output"] = json!([]);
    pending["usage"] = Value::Null;
    pending["completed_at"] = Value::Null;
    pending["incomplete_details"] = Value::Null;
    ev.push(false, json!({"type": "response.created", "response": pending}));
    ev.push(
        false,
        json!({"type": "response.in_progress", "response": pending}),
    );
    let empty = Vec::new();
    let output = response["output"].as_array().unwrap_or(&empty);
    for (index, item) in output.iter().enumerate() {
        item_events(&mut ev, index, item, chunk_size);
    }
    let end = match response["status"].as_str() {
        Some("incomplete") => "response.incomplete",
        _ => "response.completed",
    };
    ev.push(false, json!({"type": end, "response": response}));
    ev.frames
}

fn item_events(ev: &mut Events, index: usize, item: &Value, size: usize) {
    let id = item["id"].clone();
    let at = |v: Value| {
        let mut v = v;
        v["item_id"] = id.clone();
        v["output_index"] = json!(index);
        v
    };
    match item["type"].as_str() {
        Some("message") if item.pointer("/content/0/type") == Some(&json!("refusal")) => {
            let mut added = item.clone();
            added["status"] = json!("in_progress");
            added["content"] = json!([]);
            ev.push(
                false,
                json!({"type": "response.output_item.added", "output_index": index, "item": added}),
            );
            let text = item
                .pointer("/content/0/refusal")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let part = |text: &str| json!({"type": "refusal", "refusal": text});
            ev.push(
                false,
                at(json!({"type": "response.content_part.added", "content_index": 0, "part": part("")})),
            );
            for piece in chunk_text(text, size) {
                ev.push(
                    true,
                    at(json!({"type": "response.refusal.delta", "content_index": 0, "delta": piece})),
                );
            }
            ev.push(
                false,
                at(json!({"type": "response.refusal.done", "content_index": 0, "refusal": text})),
            );
            ev.push(
                false,
                at(json!({"type": "response.content_part.done", "content_index": 0, "part": part(text)})),
            );
        }
        Some("message") => {
            let mut added = item.clone();
            added["status"] = json!("in_progress");
            added["content"] = json!([]);
            ev.push(
                false,
                json!({"type": "response.output_item.added", "output_index": index, "item": added}),
            );
            let text = item
                .pointer("/content/0/text")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let part =
                |text: &str| json!({"type": "output_text", "annotations": [], "logprobs": [], "text": text});
            ev.push(
                false,
                at(json!({"type": "response.content_part.added", "content_index": 0, "part": part("")})),
            );
            for piece in chunk_text(text, size) {
                ev.push(true, at(json!({"type": "response.output_text.delta", "content_index": 0, "delta": piece, "logprobs": []})));
            }
            ev.push(false, at(json!({"type": "response.output_text.done", "content_index": 0, "text": text, "logprobs": []})));
            ev.push(
                false,
                at(json!({"type": "response.content_part.done", "content_index": 0, "part": part(text)})),
            );
        }
        Some("reasoning") => {
            let mut added = item.clone();
            added["summary"] = json!([]);
            ev.push(
                false,
                json!({"type": "response.output_item.added", "output_index": index, "item": added}),
            );
            let text = item
                .pointer("/summary/0/text")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let part = |text: &str| json!({"type": "summary_text", "text": text});
            ev.push(false, at(json!({"type": "response.reasoning_summary_part.added", "summary_index": 0, "part": part("")})));
            for piece in chunk_text(text, size) {
                ev.push(true, at(json!({"type": "response.reasoning_summary_text.delta", "summary_index": 0, "delta": piece})));
            }
            ev.push(
                false,
                at(json!({"type": "response.reasoning_summary_text.done", "summary_index": 0, "text": text})),
            );
            ev.push(false, at(json!({"type": "response.reasoning_summary_part.done", "summary_index": 0, "part": part(text)})));
        }
        _ => {
            let mut added = item.clone();
            added["status"] = json!("in_progress");
            added["arguments"] = json!("");
            // Naming the call is a content frame, as in the plan's chunk count.
            ev.push(
                true,
                json!({"type": "response.output_item.added", "output_index": index, "item": added}),
            );
            let arguments = item["arguments"].as_str().unwrap_or_default();
            for piece in chunk_text(arguments, size) {
                ev.push(
                    true,
                    at(json!({"type": "response.function_call_arguments.delta", "delta": piece})),
                );
            }
            ev.push(
                false,
                at(json!({"type": "response.function_call_arguments.done",
                "arguments": arguments, "name": item["name"]})),
            );
        }
    }
    ev.push(
        false,
        json!({"type": "response.output_item.done", "output_index": index, "item": item}),
    );
}

/// An error inside a stream, as the live API sends it: an `error` event whose fields are nested
/// under `error` (the SDKs raise `APIError` on it), numbered after the `sent` events before it.
pub fn error_event(e: &OpenAiError, sent: usize) -> Bytes {
    let v = json!({"type": "error", "sequence_number": sent, "error": e.json()["error"]});
    Bytes::from(format!("event: error\ndata: {v}\n\n"))
}

#[cfg(test)]
mod tests {
    use super::super::tests::plan;
    use super::*;

    fn data(f: &Frame) -> Value {
        let s = std::str::from_utf8(&f.bytes).unwrap();
        let (event, rest) = s.split_once('\n').unwrap();
        let v: Value = serde_json::from_str(rest.trim().strip_prefix("data: ").unwrap()).unwrap();
        assert_eq!(event.strip_prefix("event: "), v["type"].as_str(), "{s}");
        v
    }

    #[test]
    fn a_text_answer_streams_numbered_events_whose_deltas_join_to_the_text() {
        let p = plan(vec![Block::Text("hello there".into())], StopReason::EndTurn);
        let body = response(&p, &ResponsesRequest::default());
        assert_eq!(body["output"][0]["content"][0]["text"], "hello there");
        assert_eq!(body["status"], "completed");
        let frames = events(&body, 4);
        let all: Vec<Value> = frames.iter().map(data).collect();
        for (i, v) in all.iter().enumerate() {
            assert_eq!(v["sequence_number"], json!(i));
        }
        let deltas: String = all
            .iter()
            .filter(|v| v["type"] == "response.output_text.delta")
            .map(|v| v["delta"].as_str().unwrap())
            .collect();
        assert_eq!(deltas, "hello there");
        assert_eq!(frames.iter().filter(|f| f.content).count(), p.content_chunks());
        assert_eq!(all[0]["type"], "response.created");
        assert_eq!(all[0]["response"]["status"], "in_progress");
        assert_eq!(all.last().unwrap()["response"], body);
    }

    #[test]
    fn a_token_limit_stop_is_an_incomplete_response() {
        let p = plan(vec![Block::Text("cut".into())], StopReason::MaxTokens);
        let body = response(&p, &ResponsesRequest::default());
        assert_eq!(body["status"], "incomplete");
        assert_eq!(body["incomplete_details"]["reason"], "max_output_tokens");
        let last = data(events(&body, 4).last().unwrap());
        assert_eq!(last["type"], "response.incomplete");
    }

    #[test]
    fn tool_calls_and_reasoning_are_output_items_with_their_own_events() {
        let mut p = plan(
            vec![
                Block::Reasoning {
                    text: "mull".into(),
                    signature: None,
                },
                Block::ToolCall {
                    id: "call_1".into(),
                    name: "f".into(),
                    arguments: r#"{"a":1}"#.into(),
                },
            ],
            StopReason::ToolUse,
        );
        p.usage.reasoning = 2;
        let body = response(&p, &ResponsesRequest::default());
        assert_eq!(body["output"][0]["summary"][0]["text"], "mull");
        assert!(body["output"][0].get("encrypted_content").is_none());
        let asked: ResponsesRequest =
            serde_json::from_value(json!({"include": ["reasoning.encrypted_content"]})).unwrap();
        assert!(response(&p, &asked)["output"][0]["encrypted_content"].is_string());
        assert_eq!(body["output"][1]["call_id"], "call_1");
        assert_eq!(body["usage"]["output_tokens_details"]["reasoning_tokens"], 2);
        let frames = events(&body, 4);
        assert_eq!(frames.iter().filter(|f| f.content).count(), p.content_chunks());
        let types: Vec<String> = frames
            .iter()
            .map(|f| data(f)["type"].as_str().unwrap().to_string())
            .collect();
        assert!(types.contains(&"response.reasoning_summary_text.delta".to_string()));
        assert!(types.contains(&"response.function_call_arguments.done".to_string()));
    }

    #[test]
    fn an_in_stream_error_nests_its_fields_under_error() {
        let e = OpenAiError::invalid("bad", None);
        let b = error_event(&e, 7);
        let s = std::str::from_utf8(&b).unwrap();
        assert!(s.starts_with("event: error\ndata: "));
        let v: Value = serde_json::from_str(s.trim().strip_prefix("event: error\ndata: ").unwrap()).unwrap();
        assert_eq!(v["sequence_number"], 7);
        assert_eq!(v["error"]["message"], "bad");
    }
}
