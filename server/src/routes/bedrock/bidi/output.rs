//! The output events of a Nova Sonic session, following AWS's "Handling output events with the
//! bidirectional API" (Amazon Nova user guide): every event repeats the session's `sessionId`, the
//! client's `promptName` and the `completionId`; content events also their `contentId`. Each event
//! travels as an event-stream `chunk` whose `bytes` (base64 in the JSON payload, the service model's
//! `BidirectionalOutputPayloadPart.bytes` blob) hold `{"event": {"<name>": {...}}}`.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use serde_json::{Value, json};

use super::audio::AudioFormat;
use crate::routes::bedrock::{BedrockError, event_frame};

/// The ids every event of one completion repeats.
#[derive(Debug, Clone)]
pub struct Ids {
    /// The session's id (ours).
    pub session_id: String,
    /// The client's `promptName`.
    pub prompt_name: String,
    /// The completion's id (ours).
    pub completion_id: String,
}

impl Ids {
    fn base(&self) -> serde_json::Map<String, Value> {
        let mut m = serde_json::Map::new();
        m.insert("sessionId".into(), json!(self.session_id));
        m.insert("promptName".into(), json!(self.prompt_name));
        m.insert("completionId".into(), json!(self.completion_id));
        m
    }

    fn with(&self, content_id: Option<&str>, members: Value) -> Value {
        let mut m = self.base();
        if let Some(id) = content_id {
            m.insert("contentId".into(), json!(id));
        }
        if let Value::Object(extra) = members {
            m.extend(extra);
        }
        Value::Object(m)
    }
}

/// The `chunk` frame carrying one event.
pub fn chunk(name: &str, body: Value) -> Result<Bytes, BedrockError> {
    // As `to_string` writes it; `compact` checks the audio's base64 for escapes in one pass.
    let doc = crate::wire::compact::to_vec(&json!({"event": {name: body}}))
        .map_err(|e| BedrockError::internal(format!("cannot encode event {name}: {e}")))?;
    event_frame("chunk", &json!({"bytes": STANDARD.encode(doc)}))
}

/// `completionStart`.
pub fn completion_start(ids: &Ids) -> Result<Bytes, BedrockError> {
    chunk("completionStart", ids.with(None, json!({})))
}

/// `completionEnd` with its stop reason.
pub fn completion_end(ids: &Ids, stop: &str) -> Result<Bytes, BedrockError> {
    chunk("completionEnd", ids.with(None, json!({"stopReason": stop})))
}

/// Which text a TEXT content carries: the user's transcript, or the assistant's planned
/// (`SPECULATIVE`) or spoken (`FINAL`) text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextKind {
    /// Role USER, generation stage FINAL.
    UserTranscript,
    /// Role ASSISTANT, generation stage SPECULATIVE.
    Speculative,
    /// Role ASSISTANT, generation stage FINAL.
    Final,
}

impl TextKind {
    fn role(self) -> &'static str {
        match self {
            TextKind::UserTranscript => "USER",
            _ => "ASSISTANT",
        }
    }

    fn stage(self) -> &'static str {
        match self {
            TextKind::Speculative => "SPECULATIVE",
            _ => "FINAL",
        }
    }
}

/// `contentStart` of a TEXT content. `additionalModelFields` is a JSON document *in a string*, as
/// the service sends it.
pub fn text_start(ids: &Ids, content_id: &str, kind: TextKind) -> Result<Bytes, BedrockError> {
    let stage = json!({"generationStage": kind.stage()}).to_string();
    chunk(
        "contentStart",
        ids.with(
            Some(content_id),
            json!({
                "type": "TEXT",
                "role": kind.role(),
                "additionalModelFields": stage,
                "textOutputConfiguration": {"mediaType": "text/plain"},
            }),
        ),
    )
}

/// `textOutput`.
pub fn text_output(ids: &Ids, content_id: &str, kind: TextKind, text: &str) -> Result<Bytes, BedrockError> {
    chunk(
        "textOutput",
        ids.with(Some(content_id), json!({"role": kind.role(), "content": text})),
    )
}

/// `contentEnd` of a content of `type_` (`TEXT`, `AUDIO`, `TOOL`) with its stop reason
/// (`PARTIAL_TURN`, `END_TURN`, `INTERRUPTED`, `TOOL_USE`).
pub fn content_end(ids: &Ids, content_id: &str, type_: &str, stop: &str) -> Result<Bytes, BedrockError> {
    chunk(
        "contentEnd",
        ids.with(Some(content_id), json!({"type": type_, "stopReason": stop})),
    )
}

/// `contentStart` of the assistant's AUDIO content, in the format the prompt asked for.
pub fn audio_start(ids: &Ids, content_id: &str, format: &AudioFormat) -> Result<Bytes, BedrockError> {
    chunk(
        "contentStart",
        ids.with(
            Some(content_id),
            json!({"type": "AUDIO", "role": "ASSISTANT", "audioOutputConfiguration": format}),
        ),
    )
}

/// `audioOutput`: base64 LPCM.
pub fn audio_output(ids: &Ids, content_id: &str, pcm: &[u8]) -> Result<Bytes, BedrockError> {
    chunk(
        "audioOutput",
        ids.with(Some(content_id), json!({"content": STANDARD.encode(pcm)})),
    )
}

/// `contentStart` of a TOOL content (a tool call).
pub fn tool_start(ids: &Ids, content_id: &str) -> Result<Bytes, BedrockError> {
    chunk(
        "contentStart",
        ids.with(
            Some(content_id),
            json!({"type": "TOOL", "role": "TOOL", "toolUseOutputConfiguration": {"mediaType": "application/json"}}),
        ),
    )
}

/// `toolUse`: the call, its arguments as JSON text in `content`.
pub fn tool_use(
    ids: &Ids,
    content_id: &str,
    id: &str,
    name: &str,
    arguments: &str,
) -> Result<Bytes, BedrockError> {
    chunk(
        "toolUse",
        ids.with(
            Some(content_id),
            json!({"toolUseId": id, "toolName": name, "content": arguments}),
        ),
    )
}

/// Token counts of a session, split as `usageEvent` reports them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tokens {
    /// Input speech tokens.
    pub input_speech: u64,
    /// Input text tokens.
    pub input_text: u64,
    /// Output speech tokens.
    pub output_speech: u64,
    /// Output text tokens.
    pub output_text: u64,
}

impl Tokens {
    fn split(&self) -> Value {
        json!({
            "input": {"speechTokens": self.input_speech, "textTokens": self.input_text},
            "output": {"speechTokens": self.output_speech, "textTokens": self.output_text},
        })
    }

    /// Adds another count.
    pub fn add(&mut self, o: Tokens) {
        self.input_speech += o.input_speech;
        self.input_text += o.input_text;
        self.output_speech += o.output_speech;
        self.output_text += o.output_text;
    }
}

/// `usageEvent`: this turn's tokens (`delta`) and the session's running totals.
pub fn usage(ids: &Ids, delta: Tokens, total: Tokens) -> Result<Bytes, BedrockError> {
    let input = total.input_speech + total.input_text;
    let output = total.output_speech + total.output_text;
    chunk(
        "usageEvent",
        ids.with(
            None,
            json!({
                "details": {"delta": delta.split(), "total": total.split()},
                "totalInputTokens": input,
                "totalOutputTokens": output,
                "totalTokens": input + output,
            }),
        ),
    )
}
