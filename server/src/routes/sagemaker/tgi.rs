//! Hugging Face TGI `generate` payloads, as the Hugging Face LLM containers on SageMaker speak them:
//! `{"inputs": "...", "parameters": {...}}` in, `[{"generated_text": "..."}]` out; streamed as
//! `data:{"token": {...}}` events whose last one carries `generated_text` and `details`.
//!
//! TGI generate has no tool calls: a planned tool call is written into the text as
//! `{"name": ..., "arguments": {...}}`, the way prompt-templated tool use comes back from such models.

use serde::Deserialize;
use serde_json::{Value, json};

use super::{Decoded, Payload, SageMakerError, from_value};
use crate::conversation::{Conversation, Message, Role, Sampling};
use crate::plan::{Block, Plan, StopReason, chunk_text};
use crate::stream::Frame;

#[derive(Deserialize)]
struct GenerateRequest {
    inputs: String,
    #[serde(default)]
    parameters: Parameters,
    #[serde(default)]
    stream: bool,
}

#[derive(Deserialize, Default)]
struct Parameters {
    #[serde(default)]
    details: bool,
    #[serde(default)]
    return_full_text: bool,
    // Sampling options, kept for a request sent on to an upstream model; read loosely (any type
    // the container would reject is not this mock's to word).
    #[serde(default)]
    max_new_tokens: Option<Value>,
    #[serde(default)]
    temperature: Option<Value>,
    #[serde(default)]
    top_p: Option<Value>,
    #[serde(default)]
    stop: Option<Value>,
}

/// What a TGI answer depends on besides the plan.
pub(crate) struct Options {
    /// `parameters.details`: add `details` to the non-streamed answer.
    details: bool,
    /// `parameters.return_full_text`: the prompt is prefixed to `generated_text`.
    prefix: Option<String>,
}

/// Decodes a TGI generate body; the whole `inputs` prompt is the user message.
pub(super) fn decode(value: Value, mut conversation: Conversation) -> Result<Decoded, SageMakerError> {
    let req: GenerateRequest = from_value(value, "TGI generate")?;
    conversation.stream = req.stream;
    conversation
        .messages
        .push(Message::text(Role::User, req.inputs.clone()));
    let p = &req.parameters;
    conversation.sampling = Sampling::from_json(
        p.max_new_tokens.as_ref(),
        p.temperature.as_ref(),
        p.top_p.as_ref(),
        p.stop.as_ref(),
    );
    let options = Options {
        details: req.parameters.details,
        prefix: req.parameters.return_full_text.then_some(req.inputs),
    };
    Ok(Decoded {
        conversation,
        payload: Payload::Tgi(options),
    })
}

/// The generated text: text blocks, then tool calls as JSON objects (reasoning is not sent).
fn generated_text(plan: &Plan) -> String {
    plan.blocks
        .iter()
        .filter_map(|b| match b {
            Block::Text(t) => Some(t.clone()),
            Block::ToolCall { name, arguments, .. } => {
                let args: Value = serde_json::from_str(arguments).unwrap_or(Value::Null);
                Some(json!({"name": name, "arguments": args}).to_string())
            }
            Block::Reasoning { .. } => None,
        })
        .collect()
}

/// TGI's `finish_reason` vocabulary: `length`, `eos_token`, `stop_sequence`.
fn finish_reason(stop: StopReason) -> &'static str {
    match stop {
        StopReason::MaxTokens => "length",
        _ => "eos_token",
    }
}

/// `[{"generated_text": ...}]`, with `details` when asked for.
pub(super) fn body(plan: &Plan, options: &Options) -> Value {
    let text = format!(
        "{}{}",
        options.prefix.as_deref().unwrap_or(""),
        generated_text(plan)
    );
    let mut out = json!({"generated_text": text});
    if options.details {
        out["details"] = json!({
            "finish_reason": finish_reason(plan.stop),
            "generated_tokens": plan.usage.output,
            "seed": null, "prefill": [], "tokens": [],
        });
    }
    json!([out])
}

/// One `data:{...}` event per token chunk, then the end-of-sequence token with the full text and
/// `details`. TGI writes `data:` without a space.
pub(super) fn chunks(plan: &Plan, options: &Options) -> Vec<Frame> {
    let text = generated_text(plan);
    let pieces = chunk_text(&text, plan.timing.chunk_size);
    let event = |v: Value| format!("data:{v}\n\n");
    let mut frames: Vec<Frame> = pieces
        .iter()
        .enumerate()
        .map(|(i, piece)| {
            Frame::content(event(json!({
                "index": i + 1,
                "token": {"id": i + 1, "text": piece, "logprob": 0.0, "special": false},
                "generated_text": null, "details": null, "top_tokens": null,
            })))
        })
        .collect();
    let full = format!("{}{text}", options.prefix.as_deref().unwrap_or(""));
    frames.push(Frame::control(event(json!({
        "index": pieces.len() + 1,
        "token": {"id": 2, "text": "", "logprob": 0.0, "special": true},
        "generated_text": full,
        "details": {
            "finish_reason": finish_reason(plan.stop),
            "generated_tokens": plan.usage.output,
            "input_length": plan.usage.input,
            "seed": null,
        },
        "top_tokens": null,
    }))));
    frames
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{Timing, Usage};

    fn plan(blocks: Vec<Block>) -> Plan {
        Plan {
            id: None,
            model: "ep".into(),
            created: None,
            blocks,
            stop: StopReason::EndTurn,
            usage: Usage {
                input: 3,
                output: 4,
                total: 7,
                ..Default::default()
            },
            timing: Timing {
                chunk_size: 4,
                ..Default::default()
            },
            system_fingerprint: None,
            speech: None,
            guardrail: None,
            guardrail_checks: None,
        }
    }

    fn options(details: bool, prefix: Option<&str>) -> Options {
        Options {
            details,
            prefix: prefix.map(str::to_string),
        }
    }

    #[test]
    fn the_answer_is_a_list_with_generated_text_and_optional_details() {
        let p = plan(vec![Block::Text("Hello there".into())]);
        assert_eq!(
            body(&p, &options(false, None)),
            json!([{"generated_text": "Hello there"}])
        );
        let b = body(&p, &options(true, Some("Q: ")));
        assert_eq!(b[0]["generated_text"], "Q: Hello there");
        assert_eq!(b[0]["details"]["finish_reason"], "eos_token");
        assert_eq!(b[0]["details"]["generated_tokens"], 4);
    }

    #[test]
    fn streamed_tokens_reassemble_and_the_last_event_has_the_full_text() {
        let p = plan(vec![Block::Text("Hello there".into())]);
        let frames = chunks(&p, &options(false, None));
        let events: Vec<Value> = frames
            .iter()
            .map(|f| {
                let s = std::str::from_utf8(&f.bytes).unwrap();
                assert!(s.starts_with("data:{") && s.ends_with("\n\n"), "{s:?}");
                serde_json::from_str(&s[5..]).unwrap()
            })
            .collect();
        let text: String = events
            .iter()
            .filter(|e| e["token"]["special"] == false)
            .map(|e| e["token"]["text"].as_str().unwrap())
            .collect();
        assert_eq!(text, "Hello there");
        assert_eq!(frames.iter().filter(|f| f.content).count(), 3);
        let last = events.last().unwrap();
        assert_eq!(last["generated_text"], "Hello there");
        assert_eq!(last["details"]["finish_reason"], "eos_token");
    }

    #[test]
    fn tool_calls_are_written_as_json_text() {
        let p = plan(vec![Block::ToolCall {
            id: "c1".into(),
            name: "get_weather".into(),
            arguments: r#"{"city":"Paris"}"#.into(),
        }]);
        let b = body(&p, &options(false, None));
        let call: Value = serde_json::from_str(b[0]["generated_text"].as_str().unwrap()).unwrap();
        assert_eq!(
            call,
            json!({"name": "get_weather", "arguments": {"city": "Paris"}})
        );
    }
}
