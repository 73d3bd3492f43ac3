//! The answers recording reads, decoded from the upstream's own wire into ordered blocks, usage
//! and the arrival times of the frames that carried content: OpenAI Chat Completions (a
//! `chat.completion`, or `chat.completion.chunk`s as SSE), Anthropic Messages (a `message`, or its
//! named SSE events) and Bedrock Converse (JSON, or ConverseStream's event-stream messages);
//! SageMaker's container formats are in `sagemaker`.

use std::collections::BTreeMap;
use std::time::Instant;

use serde_json::{Value, json};

use super::frames::{Arrived, Framing};

/// One content block of the answer, in order.
#[derive(Debug, Default, Clone)]
pub(super) struct Block {
    pub kind: Kind,
    pub text: String,
    pub signature: Option<String>,
    pub id: Option<String>,
    pub name: String,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    /// Reasoning comes first in a Chat Completions answer: the order is the discriminant.
    Reasoning,
    #[default]
    Text,
    Tool,
}

/// The answer decoded from the wire, and which frames carried content (for the timing).
#[derive(Debug, Default)]
pub(super) struct Decoded {
    pub blocks: BTreeMap<(u8, usize), Block>,
    pub usage: Option<Value>,
    pub content_frames: Vec<(Instant, usize)>,
}

impl Decoded {
    pub(super) fn block(&mut self, order: (u8, usize), kind: Kind) -> &mut Block {
        self.blocks.entry(order).or_insert_with(|| Block {
            kind,
            ..Block::default()
        })
    }
}

/// Chat Completions: one `chat.completion`, or `chat.completion.chunk`s as `data:` events.
pub(super) fn chat_completions(framing: Framing, frames: &[Arrived]) -> Result<Decoded, String> {
    let mut d = Decoded::default();
    if framing == Framing::Whole {
        chat_whole(&mut d, &whole(frames)?);
        return Ok(d);
    }
    for f in frames {
        for chunk in sse_data(&f.bytes)? {
            chat_chunk(&mut d, f.at, &chunk);
        }
    }
    Ok(d)
}

/// A whole `chat.completion`.
pub(super) fn chat_whole(d: &mut Decoded, body: &Value) {
    let msg = &body["choices"][0]["message"];
    for (field, kind) in [
        ("reasoning_content", Kind::Reasoning),
        ("reasoning", Kind::Reasoning),
        ("content", Kind::Text),
    ] {
        if let Some(t) = msg[field].as_str().filter(|t| !t.is_empty()) {
            d.block((kind as u8, 0), kind).text.push_str(t);
        }
    }
    for (i, call) in msg["tool_calls"].as_array().into_iter().flatten().enumerate() {
        chat_tool_delta(d, i, call);
    }
    d.usage = chat_usage(&body["usage"]);
}

/// One `chat.completion.chunk`, arrived at `at`.
pub(super) fn chat_chunk(d: &mut Decoded, at: Instant, chunk: &Value) {
    if let Some(u) = chat_usage(&chunk["usage"]) {
        d.usage = Some(u);
    }
    let delta = &chunk["choices"][0]["delta"];
    let mut chars = 0;
    for (field, kind) in [
        ("reasoning_content", Kind::Reasoning),
        ("reasoning", Kind::Reasoning),
        ("content", Kind::Text),
    ] {
        if let Some(t) = delta[field].as_str().filter(|t| !t.is_empty()) {
            d.block((kind as u8, 0), kind).text.push_str(t);
            chars += t.chars().count();
        }
    }
    for call in delta["tool_calls"].as_array().into_iter().flatten() {
        let i = call["index"].as_u64().unwrap_or(0) as usize;
        chars += call["function"]["arguments"]
            .as_str()
            .map_or(0, |a| a.chars().count());
        chat_tool_delta(d, i, call);
    }
    if chars > 0 {
        d.content_frames.push((at, chars));
    }
}

fn chat_tool_delta(d: &mut Decoded, i: usize, call: &Value) {
    let b = d.block((Kind::Tool as u8, i), Kind::Tool);
    if let Some(id) = call["id"].as_str() {
        b.id = Some(id.to_string());
    }
    if let Some(n) = call["function"]["name"].as_str() {
        b.name.push_str(n);
    }
    if let Some(a) = call["function"]["arguments"].as_str() {
        b.text.push_str(a);
    }
}

fn chat_usage(u: &Value) -> Option<Value> {
    let input = u["prompt_tokens"].as_u64()?;
    let output = u["completion_tokens"].as_u64()?;
    Some(json!({"inputTokens": input, "outputTokens": output}))
}

/// Converse: `{output:{message:{content}}, usage}`, or ConverseStream's event-stream messages.
pub(super) fn converse(framing: Framing, frames: &[Arrived]) -> Result<Decoded, String> {
    let mut d = Decoded::default();
    if framing == Framing::Whole {
        converse_whole(&mut d, &whole(frames)?);
        return Ok(d);
    }
    for f in frames {
        let (event, payload) = event_message(&f.bytes)?;
        converse_event(&mut d, f.at, &event, &payload);
    }
    Ok(d)
}

/// A whole Converse answer (also Nova's InvokeModel body, which has the same shape).
pub(super) fn converse_whole(d: &mut Decoded, body: &Value) {
    for (i, b) in body["output"]["message"]["content"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        if let Some(t) = b["text"].as_str() {
            d.block((0, i), Kind::Text).text.push_str(t);
        } else if let Some(r) = b.get("reasoningContent") {
            let blk = d.block((0, i), Kind::Reasoning);
            blk.text
                .push_str(r["reasoningText"]["text"].as_str().unwrap_or(""));
            blk.signature = r["reasoningText"]["signature"].as_str().map(str::to_string);
        } else if let Some(t) = b.get("toolUse") {
            let blk = d.block((0, i), Kind::Tool);
            blk.id = t["toolUseId"].as_str().map(str::to_string);
            blk.name = t["name"].as_str().unwrap_or("").to_string();
            blk.text = t["input"].to_string();
        }
    }
    d.usage = converse_usage(&body["usage"]);
}

/// One ConverseStream event (also a Nova InvokeModelWithResponseStream chunk, `{event: payload}`).
pub(super) fn converse_event(d: &mut Decoded, at: Instant, event: &str, payload: &Value) {
    let i = payload["contentBlockIndex"].as_u64().unwrap_or(0) as usize;
    match event {
        "contentBlockStart" => {
            if let Some(t) = payload["start"].get("toolUse") {
                let blk = d.block((0, i), Kind::Tool);
                blk.id = t["toolUseId"].as_str().map(str::to_string);
                blk.name = t["name"].as_str().unwrap_or("").to_string();
            }
        }
        "contentBlockDelta" => {
            let delta = &payload["delta"];
            let chars = if let Some(t) = delta["text"].as_str() {
                d.block((0, i), Kind::Text).text.push_str(t);
                t.chars().count()
            } else if let Some(t) = delta["toolUse"]["input"].as_str() {
                d.block((0, i), Kind::Tool).text.push_str(t);
                t.chars().count()
            } else if let Some(r) = delta.get("reasoningContent") {
                let blk = d.block((0, i), Kind::Reasoning);
                if let Some(s) = r["signature"].as_str() {
                    blk.signature = Some(s.to_string());
                    0
                } else {
                    let t = r["text"].as_str().unwrap_or("");
                    blk.text.push_str(t);
                    t.chars().count()
                }
            } else {
                0
            };
            if chars > 0 {
                d.content_frames.push((at, chars));
            }
        }
        "metadata" => d.usage = converse_usage(&payload["usage"]),
        _ => {}
    }
}

fn converse_usage(u: &Value) -> Option<Value> {
    let input = u["inputTokens"].as_u64()?;
    let output = u["outputTokens"].as_u64()?;
    Some(json!({"inputTokens": input, "outputTokens": output}))
}

/// Anthropic Messages: one `message`, or its named SSE events (`message_start` carries the input
/// tokens, `message_delta` the output tokens).
pub(super) fn messages(framing: Framing, frames: &[Arrived]) -> Result<Decoded, String> {
    let mut d = Decoded::default();
    if framing == Framing::Whole {
        messages_whole(&mut d, &whole(frames)?);
        return Ok(d);
    }
    let mut input = None;
    for f in frames {
        for ev in sse_data(&f.bytes)? {
            messages_event(&mut d, f.at, &ev, &mut input);
        }
    }
    Ok(d)
}

/// A whole `message` (also Claude's InvokeModel body).
pub(super) fn messages_whole(d: &mut Decoded, body: &Value) {
    for (i, b) in body["content"].as_array().into_iter().flatten().enumerate() {
        messages_block(d, i, b);
    }
    d.usage = messages_usage(body["usage"]["input_tokens"].as_u64(), &body["usage"]);
}

/// One Messages stream event (an SSE event, or a Claude InvokeModelWithResponseStream chunk);
/// `input` keeps `message_start`'s input tokens for the usage `message_delta` completes.
pub(super) fn messages_event(d: &mut Decoded, at: Instant, ev: &Value, input: &mut Option<u64>) {
    let i = ev["index"].as_u64().unwrap_or(0) as usize;
    match ev["type"].as_str().unwrap_or("") {
        "message_start" => *input = ev["message"]["usage"]["input_tokens"].as_u64(),
        "content_block_start" => messages_block(d, i, &ev["content_block"]),
        "content_block_delta" => {
            let delta = &ev["delta"];
            let (kind, text) = match delta["type"].as_str().unwrap_or("") {
                "text_delta" => (Kind::Text, &delta["text"]),
                "input_json_delta" => (Kind::Tool, &delta["partial_json"]),
                "thinking_delta" => (Kind::Reasoning, &delta["thinking"]),
                "signature_delta" => {
                    d.block((0, i), Kind::Reasoning).signature =
                        delta["signature"].as_str().map(str::to_string);
                    return;
                }
                _ => return,
            };
            let t = text.as_str().unwrap_or("");
            d.block((0, i), kind).text.push_str(t);
            if !t.is_empty() {
                d.content_frames.push((at, t.chars().count()));
            }
        }
        "message_delta" => d.usage = messages_usage(*input, &ev["usage"]),
        _ => {}
    }
}

/// A content block as `message` or `content_block_start` gives it (a streamed tool call's input
/// starts as `{}` and arrives in `input_json_delta`s).
fn messages_block(d: &mut Decoded, i: usize, b: &Value) {
    match b["type"].as_str().unwrap_or("") {
        "text" => d
            .block((0, i), Kind::Text)
            .text
            .push_str(b["text"].as_str().unwrap_or("")),
        "thinking" => {
            let blk = d.block((0, i), Kind::Reasoning);
            blk.text.push_str(b["thinking"].as_str().unwrap_or(""));
            blk.signature = b["signature"]
                .as_str()
                .filter(|s| !s.is_empty())
                .map(str::to_string);
        }
        "tool_use" => {
            let blk = d.block((0, i), Kind::Tool);
            blk.id = b["id"].as_str().map(str::to_string);
            blk.name = b["name"].as_str().unwrap_or("").to_string();
            if b["input"].as_object().is_some_and(|o| !o.is_empty()) {
                blk.text = b["input"].to_string();
            }
        }
        _ => {}
    }
}

fn messages_usage(input: Option<u64>, u: &Value) -> Option<Value> {
    Some(json!({"inputTokens": input?, "outputTokens": u["output_tokens"].as_u64()?}))
}

/// The JSON documents in an SSE frame's `data:` lines (`[DONE]` skipped).
pub(super) fn sse_data(bytes: &[u8]) -> Result<Vec<Value>, String> {
    String::from_utf8_lossy(bytes)
        .lines()
        .filter_map(|l| l.strip_prefix("data:").map(str::trim))
        .filter(|d| *d != "[DONE]")
        .map(|d| serde_json::from_str(d).map_err(|e| format!("an SSE event is not JSON: {e}")))
        .collect()
}

pub(super) fn whole(frames: &[Arrived]) -> Result<Value, String> {
    let bytes: Vec<u8> = frames.iter().flat_map(|f| f.bytes.iter().copied()).collect();
    serde_json::from_slice(&bytes).map_err(|e| format!("the upstream's answer is not JSON: {e}"))
}

/// An event-stream message's `:event-type` and JSON payload (an exception is an error).
pub(super) fn event_message(frame: &[u8]) -> Result<(String, Value), String> {
    let (event, payload) = event_frame(frame)?;
    let value = if payload.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(payload).map_err(|e| e.to_string())?
    };
    Ok((event, value))
}

/// An event-stream message's `:event-type` and raw payload (an exception is an error).
pub(super) fn event_frame(frame: &[u8]) -> Result<(String, &[u8]), String> {
    let short = || "a truncated event-stream message".to_string();
    let total = frame.len();
    let headers_len = u32::from_be_bytes(
        frame
            .get(4..8)
            .ok_or_else(short)?
            .try_into()
            .map_err(|_| short())?,
    ) as usize;
    let headers = frame.get(12..12 + headers_len).ok_or_else(short)?;
    let payload = frame
        .get(12 + headers_len..total.saturating_sub(4))
        .ok_or_else(short)?;
    let mut at = 0;
    let mut found = BTreeMap::new();
    while at < headers.len() {
        let n = usize::from(headers[at]);
        let name = String::from_utf8_lossy(headers.get(at + 1..at + 1 + n).ok_or_else(short)?).into_owned();
        at += 1 + n;
        let kind = *headers.get(at).ok_or_else(short)?;
        at += 1;
        // Only string values (type 7) are read; every header the services send here is one.
        if kind != 7 {
            return Err(format!(
                "event-stream header {name} has type {kind}, not a string"
            ));
        }
        let len = usize::from(u16::from_be_bytes([
            *headers.get(at).ok_or_else(short)?,
            *headers.get(at + 1).ok_or_else(short)?,
        ]));
        let value =
            String::from_utf8_lossy(headers.get(at + 2..at + 2 + len).ok_or_else(short)?).into_owned();
        at += 2 + len;
        found.insert(name, value);
    }
    if found.get(":message-type").map(String::as_str) != Some("event") {
        return Err(format!(
            "the stream carried an exception: {}",
            String::from_utf8_lossy(payload)
        ));
    }
    let event = found.get(":event-type").cloned().unwrap_or_default();
    Ok((event, payload))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy::record::response;
    use axum::body::Bytes;

    fn at(bytes: impl Into<Bytes>) -> Arrived {
        Arrived {
            at: Instant::now(),
            bytes: bytes.into(),
        }
    }

    #[test]
    fn a_converse_stream_decodes_into_ordered_blocks_and_usage() {
        let ev = |t: &str, p: Value| {
            at(crate::eventstream::event(t, "application/json", p.to_string().as_bytes()).unwrap())
        };
        let frames = [
            ev("messageStart", json!({"role": "assistant"})),
            ev(
                "contentBlockDelta",
                json!({"contentBlockIndex": 0, "delta": {"text": "Let me check."}}),
            ),
            ev("contentBlockStop", json!({"contentBlockIndex": 0})),
            ev(
                "contentBlockStart",
                json!({"contentBlockIndex": 1, "start": {"toolUse": {"toolUseId": "t1", "name": "get_weather"}}}),
            ),
            ev(
                "contentBlockDelta",
                json!({"contentBlockIndex": 1, "delta": {"toolUse": {"input": "{\"city\":"}}}),
            ),
            ev(
                "contentBlockDelta",
                json!({"contentBlockIndex": 1, "delta": {"toolUse": {"input": "\"Paris\"}"}}}),
            ),
            ev("messageStop", json!({"stopReason": "tool_use"})),
            ev(
                "metadata",
                json!({"usage": {"inputTokens": 5, "outputTokens": 7, "totalTokens": 12}, "metrics": {"latencyMs": 1}}),
            ),
        ];
        let d = converse(Framing::EventStream, &frames).unwrap();
        assert_eq!(d.content_frames.len(), 3);
        let r = response(&d);
        assert_eq!(r["blocks"][0], json!({"type": "text", "text": "Let me check."}));
        assert_eq!(
            r["blocks"][1],
            json!({"type": "toolCall", "name": "get_weather", "arguments": {"city": "Paris"}, "id": "t1"})
        );
        assert_eq!(r["usage"], json!({"inputTokens": 5, "outputTokens": 7}));
    }

    #[test]
    fn chat_completion_chunks_decode_into_text_and_usage() {
        let frames = [
            at("data: {\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\n\n"),
            at("data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hel\"}}]}\n\n"),
            at("data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"lo\"}}]}\n\n"),
            at(
                "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":2,\"total_tokens\":5}}\n\ndata: [DONE]\n\n",
            ),
        ];
        let d = chat_completions(Framing::Sse, &frames).unwrap();
        assert_eq!(d.content_frames.len(), 2);
        let r = response(&d);
        assert_eq!(
            r,
            json!({"content": "Hello", "usage": {"inputTokens": 3, "outputTokens": 2}})
        );
    }
}
