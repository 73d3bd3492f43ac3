//! OpenAI Responses API answers, decoded for recording: a `response` object, or its typed SSE
//! events. The stream's last event (`response.completed`, or `response.incomplete`) carries the
//! whole `response`, so the answer is read from it; the delta events only give the timing.

use serde_json::{Value, json};

use super::decode::{Decoded, Kind, sse_data, whole};
use super::frames::{Arrived, Framing};

/// The events whose `delta` is generated content (text, reasoning summary, tool-call arguments).
const CONTENT_DELTAS: [&str; 4] = [
    "response.output_text.delta",
    "response.refusal.delta",
    "response.reasoning_summary_text.delta",
    "response.function_call_arguments.delta",
];

/// Decodes a `response`, or the SSE events of a streamed one.
pub(super) fn decode(framing: Framing, frames: &[Arrived]) -> Result<Decoded, String> {
    let mut d = Decoded::default();
    if framing == Framing::Whole {
        response_object(&mut d, &whole(frames)?);
        return Ok(d);
    }
    let mut done = false;
    for f in frames {
        for ev in sse_data(&f.bytes)? {
            let kind = ev["type"].as_str().unwrap_or("");
            if CONTENT_DELTAS.contains(&kind) {
                let n = ev["delta"].as_str().map_or(0, |t| t.chars().count());
                if n > 0 {
                    d.content_frames.push((f.at, n));
                }
            } else if matches!(kind, "response.completed" | "response.incomplete") {
                response_object(&mut d, &ev["response"]);
                done = true;
            }
        }
    }
    if done {
        Ok(d)
    } else {
        Err("the stream ended without response.completed".into())
    }
}

/// The `output` items of a `response` as ordered blocks, and its usage.
fn response_object(d: &mut Decoded, r: &Value) {
    for (i, item) in r["output"].as_array().into_iter().flatten().enumerate() {
        match item["type"].as_str().unwrap_or("") {
            "message" => {
                for part in item["content"].as_array().into_iter().flatten() {
                    let t = part["text"].as_str().or_else(|| part["refusal"].as_str());
                    d.block((0, i), Kind::Text).text.push_str(t.unwrap_or(""));
                }
            }
            "reasoning" => {
                let blk = d.block((0, i), Kind::Reasoning);
                for s in item["summary"].as_array().into_iter().flatten() {
                    blk.text.push_str(s["text"].as_str().unwrap_or(""));
                }
                // Replayed as the item's `encrypted_content`, which clients only send back.
                blk.signature = item["encrypted_content"].as_str().map(str::to_string);
            }
            "function_call" => {
                let blk = d.block((0, i), Kind::Tool);
                blk.id = item["call_id"].as_str().map(str::to_string);
                blk.name = item["name"].as_str().unwrap_or("").to_string();
                blk.text = item["arguments"].as_str().unwrap_or("").to_string();
            }
            _ => {}
        }
    }
    let u = &r["usage"];
    if let (Some(i), Some(o)) = (u["input_tokens"].as_u64(), u["output_tokens"].as_u64()) {
        d.usage = Some(json!({"inputTokens": i, "outputTokens": o}));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy::record::response;
    use std::time::Instant;

    fn at(s: String) -> Arrived {
        Arrived {
            at: Instant::now(),
            bytes: s.into(),
        }
    }

    #[test]
    fn a_streamed_response_is_read_from_its_completed_event_and_timed_by_its_deltas() {
        let completed = json!({"type": "response.completed", "response": {"output": [
            {"type": "message", "content": [{"type": "output_text", "text": "Hello"}]},
            {"type": "function_call", "call_id": "call_1", "name": "get_weather", "arguments": "{\"city\":\"Paris\"}"},
        ], "usage": {"input_tokens": 5, "output_tokens": 4}}});
        let frames = [
            at("event: response.created\ndata: {\"type\":\"response.created\"}\n\n".into()),
            at("data: {\"type\":\"response.output_text.delta\",\"delta\":\"Hel\"}\n\n".into()),
            at("data: {\"type\":\"response.output_text.delta\",\"delta\":\"lo\"}\n\n".into()),
            at(format!("event: response.completed\ndata: {completed}\n\n")),
        ];
        let d = decode(Framing::Sse, &frames).unwrap();
        assert_eq!(d.content_frames.len(), 2);
        assert_eq!(
            response(&d),
            json!({"blocks": [
                {"type": "text", "text": "Hello"},
                {"type": "toolCall", "name": "get_weather", "arguments": {"city": "Paris"}, "id": "call_1"},
            ], "usage": {"inputTokens": 5, "outputTokens": 4}})
        );
        assert!(decode(Framing::Sse, &frames[..3]).is_err());
    }
}
