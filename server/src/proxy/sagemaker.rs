//! SageMaker answers recording reads: the container's own body, in the two formats LLM containers
//! speak (OpenAI chat: a `chat.completion`, or chunks; TGI: `[{"generated_text"}]`, or
//! `{"token":{"text"}}` events), whole or as InvokeEndpointWithResponseStream's `PayloadPart`s
//! (each payload the container's raw bytes, one `data:` event each).

use serde_json::Value;

use super::decode::{Decoded, Kind, chat_chunk, chat_whole, event_frame, sse_data, whole};
use super::frames::{Arrived, Framing};

/// The answer in an InvokeEndpoint or InvokeEndpointWithResponseStream body.
pub(super) fn decode(framing: Framing, frames: &[Arrived]) -> Result<Decoded, String> {
    let mut d = Decoded::default();
    if framing != Framing::EventStream {
        let body = whole(frames)?;
        if body.get("choices").is_some() {
            chat_whole(&mut d, &body);
        } else {
            let text = body[0]["generated_text"]
                .as_str()
                .or(body["generated_text"].as_str())
                .ok_or("the container's answer is neither OpenAI chat nor TGI")?;
            d.block((Kind::Text as u8, 0), Kind::Text).text.push_str(text);
        }
        return Ok(d);
    }
    for f in frames {
        let (event, payload) = event_frame(&f.bytes)?;
        if event != "PayloadPart" {
            continue;
        }
        for chunk in sse_data(payload)? {
            if chunk.get("choices").is_some() {
                chat_chunk(&mut d, f.at, &chunk);
            } else {
                tgi_token(&mut d, f, &chunk);
            }
        }
    }
    Ok(d)
}

/// A TGI stream event: `{"token":{"text","special"}}`; special tokens (end of sequence) are not text.
fn tgi_token(d: &mut Decoded, f: &Arrived, chunk: &Value) {
    let token = &chunk["token"];
    if token["special"].as_bool() == Some(true) {
        return;
    }
    if let Some(t) = token["text"].as_str().filter(|t| !t.is_empty()) {
        d.block((Kind::Text as u8, 0), Kind::Text).text.push_str(t);
        d.content_frames.push((f.at, t.chars().count()));
    }
}
