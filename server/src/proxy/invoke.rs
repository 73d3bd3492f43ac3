//! InvokeModel and InvokeModelWithResponseStream answers, decoded for recording. The body is the
//! model family's own JSON, told apart by its shape (the proxy reads no wire's code): a Claude
//! `message`, a Nova Converse-shaped `output`, Titan `results`, Llama `generation`, Mistral
//! `outputs` or chat `choices`, Cohere Command R's `text` (its tool calls are not read). A body of
//! none of these shapes is not recorded. A stream is event-stream `chunk` messages whose payload is
//! `{"bytes": base64(the family's event JSON)}`; Bedrock adds `amazon-bedrock-invocationMetrics` to the
//! last one, which gives the usage for every family.

use base64::Engine as _;
use serde_json::{Value, json};

use super::decode::{
    Decoded, Kind, chat_chunk, chat_whole, converse_event, converse_whole, event_frame, messages_event,
    messages_whole, whole,
};
use super::frames::{Arrived, Framing};

/// Decodes an InvokeModel body, or an InvokeModelWithResponseStream's chunks. `header_usage` is
/// the `x-amzn-bedrock-{input,output}-token-count` pair of a whole answer, the usage of families
/// whose body carries none.
pub(super) fn decode(
    framing: Framing,
    frames: &[Arrived],
    header_usage: Option<(u64, u64)>,
) -> Result<Decoded, String> {
    let mut d = Decoded::default();
    if framing != Framing::EventStream {
        let body = whole(frames)?;
        if !whole_body(&mut d, &body) {
            return Err("an InvokeModel body of a model family recording does not read".into());
        }
        if d.usage.is_none() {
            d.usage = header_usage.map(|(i, o)| json!({"inputTokens": i, "outputTokens": o}));
        }
        return Ok(d);
    }
    let mut input = None;
    for f in frames {
        let (event, payload) = event_frame(&f.bytes)?;
        if event != "chunk" {
            continue;
        }
        let outer: Value = serde_json::from_slice(payload).map_err(|e| e.to_string())?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(outer["bytes"].as_str().unwrap_or(""))
            .map_err(|e| format!("a chunk's bytes are not base64: {e}"))?;
        let ev: Value =
            serde_json::from_slice(&bytes).map_err(|e| format!("a chunk's event is not JSON: {e}"))?;
        chunk_event(&mut d, f.at, &ev, &mut input);
        // Bedrock's own count, on the last chunk of every family, is what the client sees too.
        let m = &ev["amazon-bedrock-invocationMetrics"];
        if let (Some(i), Some(o)) = (m["inputTokenCount"].as_u64(), m["outputTokenCount"].as_u64()) {
            d.usage = Some(json!({"inputTokens": i, "outputTokens": o}));
        }
    }
    Ok(d)
}

/// A whole InvokeModel body of any family the server speaks; false for another shape.
fn whole_body(d: &mut Decoded, body: &Value) -> bool {
    if body.get("content").is_some_and(Value::is_array) {
        messages_whole(d, body);
    } else if body["output"].get("message").is_some() {
        converse_whole(d, body);
    } else if let Some(r) = body["results"].get(0) {
        text(d, r["outputText"].as_str());
        d.usage = usage(body["inputTextTokenCount"].as_u64(), r["tokenCount"].as_u64());
    } else if body.get("generation").is_some() {
        text(d, body["generation"].as_str());
        d.usage = usage(
            body["prompt_token_count"].as_u64(),
            body["generation_token_count"].as_u64(),
        );
    } else if let Some(o) = body["outputs"].get(0) {
        text(d, o["text"].as_str());
    } else if body.get("choices").is_some() {
        chat_whole(d, body);
    } else if let Some(t) = body["text"].as_str() {
        text(d, Some(t));
        let billed = &body["meta"]["billed_units"];
        d.usage = usage(billed["input_tokens"].as_u64(), billed["output_tokens"].as_u64());
    } else {
        return false;
    }
    true
}

/// One family event of a stream.
fn chunk_event(d: &mut Decoded, at: std::time::Instant, ev: &Value, input: &mut Option<u64>) {
    if ev.get("type").is_some() {
        messages_event(d, at, ev, input);
    } else if let Some((name, payload)) = ev
        .as_object()
        .and_then(|o| o.iter().find(|(k, _)| CONVERSE_EVENTS.contains(&k.as_str())))
    {
        converse_event(d, at, name, payload);
    } else if let Some(t) = ev["outputText"]
        .as_str()
        .or_else(|| ev["generation"].as_str())
        .or_else(|| ev["outputs"][0]["text"].as_str())
        .or_else(|| {
            // Cohere: only `text-generation` events carry text (`stream-end` repeats the whole).
            (ev["event_type"] == "text-generation")
                .then(|| ev["text"].as_str())
                .flatten()
        })
    {
        if !t.is_empty() {
            text(d, Some(t));
            d.content_frames.push((at, t.chars().count()));
        }
    } else if ev.get("choices").is_some() {
        // Mistral's chat dialect streams `message` where Chat Completions has `delta`.
        let mut chunk = ev.clone();
        if chunk["choices"][0].get("delta").is_none() {
            chunk["choices"][0]["delta"] = chunk["choices"][0]["message"].take();
        }
        chat_chunk(d, at, &chunk);
    }
}

/// The top-level keys of Nova's streamed events (ConverseStream's event names).
const CONVERSE_EVENTS: [&str; 4] = [
    "contentBlockStart",
    "contentBlockDelta",
    "contentBlockStop",
    "metadata",
];

fn text(d: &mut Decoded, t: Option<&str>) {
    if let Some(t) = t.filter(|t| !t.is_empty()) {
        d.block((Kind::Text as u8, 0), Kind::Text).text.push_str(t);
    }
}

fn usage(input: Option<u64>, output: Option<u64>) -> Option<Value> {
    Some(json!({"inputTokens": input?, "outputTokens": output?}))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy::record::response;
    use axum::body::Bytes;
    use std::time::Instant;

    fn chunk(ev: Value) -> Arrived {
        let b64 = base64::engine::general_purpose::STANDARD.encode(ev.to_string());
        let frame = crate::eventstream::event(
            "chunk",
            "application/json",
            json!({"bytes": b64}).to_string().as_bytes(),
        )
        .unwrap();
        Arrived {
            at: Instant::now(),
            bytes: frame,
        }
    }

    fn body(v: Value) -> [Arrived; 1] {
        [Arrived {
            at: Instant::now(),
            bytes: Bytes::from(v.to_string()),
        }]
    }

    #[test]
    fn whole_bodies_of_each_family_decode_into_text_and_usage() {
        let claude = json!({"type": "message", "content": [{"type": "text", "text": "Hi"}],
            "usage": {"input_tokens": 3, "output_tokens": 1}});
        let nova = json!({"output": {"message": {"content": [{"text": "Hi"}]}},
            "usage": {"inputTokens": 3, "outputTokens": 1}});
        let titan = json!({"inputTextTokenCount": 3, "results": [{"outputText": "Hi", "tokenCount": 1}]});
        let llama = json!({"generation": "Hi", "prompt_token_count": 3, "generation_token_count": 1});
        let mistral = json!({"outputs": [{"text": "Hi", "stop_reason": "stop"}]});
        let cohere = json!({"text": "Hi", "meta": {"billed_units": {"input_tokens": 3, "output_tokens": 1}}});
        for b in [claude, nova, titan, llama, mistral, cohere] {
            let d = decode(Framing::Whole, &body(b.clone()), Some((3, 1))).unwrap();
            assert_eq!(
                response(&d),
                json!({"content": "Hi", "usage": {"inputTokens": 3, "outputTokens": 1}}),
                "{b}"
            );
        }
        // A shape no family has is not recorded as an empty answer.
        assert!(decode(Framing::Whole, &body(json!({"images": []})), Some((3, 1))).is_err());
    }

    #[test]
    fn stream_chunks_decode_by_their_family_with_bedrocks_usage() {
        let metrics = json!({"inputTokenCount": 4, "outputTokenCount": 2});
        let claude = [
            chunk(json!({"type": "message_start", "message": {"usage": {"input_tokens": 4}}})),
            chunk(
                json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
            ),
            chunk(
                json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "He"}}),
            ),
            chunk(
                json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "llo"}}),
            ),
            chunk(json!({"type": "message_stop", "amazon-bedrock-invocationMetrics": metrics})),
        ];
        let titan = [
            chunk(json!({"outputText": "He", "index": 0})),
            chunk(json!({"outputText": "llo", "index": 0, "amazon-bedrock-invocationMetrics": metrics})),
        ];
        let nova = [
            chunk(json!({"messageStart": {"role": "assistant"}})),
            chunk(json!({"contentBlockDelta": {"delta": {"text": "He"}, "contentBlockIndex": 0}})),
            chunk(json!({"contentBlockDelta": {"delta": {"text": "llo"}, "contentBlockIndex": 0}})),
            chunk(
                json!({"metadata": {"usage": {"inputTokens": 4, "outputTokens": 2}},
                "amazon-bedrock-invocationMetrics": metrics}),
            ),
        ];
        let llama = [
            chunk(json!({"generation": "He"})),
            chunk(json!({"generation": "llo", "amazon-bedrock-invocationMetrics": metrics})),
        ];
        for frames in [&claude[..], &titan, &nova, &llama] {
            let d = decode(Framing::EventStream, frames, None).unwrap();
            assert_eq!(d.content_frames.len(), 2);
            assert_eq!(
                response(&d),
                json!({"content": "Hello", "usage": {"inputTokens": 4, "outputTokens": 2}})
            );
        }
    }
}
