//! The input events of a Nova Sonic session, as the client sends them inside `chunk.bytes`
//! (`{"event": {"<name>": {...}}}`), following AWS's "Handling input events with the bidirectional
//! API" (Amazon Nova user guide). Parsed with the field named on failure; what the service
//! constrains beyond the JSON shape (audio formats, roles, types) is checked in [`AudioFormat`] and
//! the session.

use serde::Deserialize;
use serde::de::IgnoredAny;

use super::audio::AudioFormat;

/// `{"event": {...}}`, the document every chunk carries.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Envelope {
    /// The one event.
    pub event: InputEvent,
}

/// One input event; the member name is the event's name.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum InputEvent {
    /// Opens the session; its inference configuration is accepted as given.
    SessionStart(IgnoredAny),
    /// Opens the prompt: output formats and tools.
    PromptStart(PromptStart),
    /// Opens a content block (system text, history, user audio or text, a tool result).
    ContentStart(ContentStart),
    /// Text of an open TEXT content.
    TextInput(ContentInput),
    /// Base64 LPCM of an open AUDIO content.
    AudioInput(ContentInput),
    /// A tool's result, in an open TOOL content.
    ToolResult(ContentInput),
    /// Closes a content block.
    ContentEnd(ContentRef),
    /// Closes the prompt.
    PromptEnd(PromptRef),
    /// Closes the session.
    SessionEnd(IgnoredAny),
}

impl InputEvent {
    /// The event's name, for messages.
    pub fn name(&self) -> &'static str {
        match self {
            InputEvent::SessionStart(_) => "sessionStart",
            InputEvent::PromptStart(_) => "promptStart",
            InputEvent::ContentStart(_) => "contentStart",
            InputEvent::TextInput(_) => "textInput",
            InputEvent::AudioInput(_) => "audioInput",
            InputEvent::ToolResult(_) => "toolResult",
            InputEvent::ContentEnd(_) => "contentEnd",
            InputEvent::PromptEnd(_) => "promptEnd",
            InputEvent::SessionEnd(_) => "sessionEnd",
        }
    }
}

/// `promptStart`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PromptStart {
    /// The id every later event of this prompt repeats.
    pub prompt_name: String,
    /// The format of the assistant's audio (24 kHz 16-bit mono LPCM when absent).
    #[serde(default)]
    pub audio_output_configuration: Option<AudioFormat>,
    /// The tools the model may call.
    #[serde(default)]
    pub tool_configuration: Option<ToolConfiguration>,
}

/// `promptStart.toolConfiguration`.
#[derive(Debug, Deserialize)]
pub struct ToolConfiguration {
    /// The tools.
    #[serde(default)]
    pub tools: Vec<Tool>,
}

/// One tool.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Tool {
    /// Its specification.
    pub tool_spec: ToolSpec,
}

/// A tool's name (its description and schema are not read).
#[derive(Debug, Deserialize)]
pub struct ToolSpec {
    /// The name the model calls it by.
    pub name: String,
}

/// `contentStart`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContentStart {
    /// The prompt it belongs to.
    pub prompt_name: String,
    /// Its id, repeated by its input events and its `contentEnd`.
    pub content_name: String,
    /// `TEXT`, `AUDIO` or `TOOL`.
    #[serde(rename = "type")]
    pub type_: ContentType,
    /// Whether the model answers it (user text) rather than reading it as context.
    #[serde(default)]
    pub interactive: Option<bool>,
    /// `SYSTEM`, `USER`, `ASSISTANT`, `TOOL` or `SYSTEM_SPEECH`.
    pub role: ContentRole,
    /// The format of an AUDIO content.
    #[serde(default)]
    pub audio_input_configuration: Option<AudioFormat>,
    /// Which tool call a TOOL content answers.
    #[serde(default)]
    pub tool_result_input_configuration: Option<ToolResultConfiguration>,
}

/// `contentStart.type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum ContentType {
    /// Text.
    Text,
    /// Audio.
    Audio,
    /// A tool result.
    Tool,
}

/// `contentStart.role`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ContentRole {
    /// The system prompt.
    System,
    /// The user (audio, text or history).
    User,
    /// The assistant (history).
    Assistant,
    /// A tool result.
    Tool,
    /// Text the assistant is told to speak (Nova 2 Sonic).
    SystemSpeech,
}

/// `contentStart.toolResultInputConfiguration`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolResultConfiguration {
    /// The `toolUseId` of the call this result answers.
    pub tool_use_id: String,
}

/// `textInput`, `audioInput`, `toolResult`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContentInput {
    /// The prompt.
    pub prompt_name: String,
    /// The open content it belongs to.
    pub content_name: String,
    /// Text, base64 audio, or the tool's result.
    pub content: String,
}

/// `contentEnd`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContentRef {
    /// The prompt.
    pub prompt_name: String,
    /// The content it closes.
    pub content_name: String,
}

/// `promptEnd`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PromptRef {
    /// The prompt it closes.
    pub prompt_name: String,
}

/// Parses one event document, naming the field that failed.
pub fn parse(bytes: &[u8]) -> Result<InputEvent, String> {
    crate::wire::json::from_slice::<Envelope>(bytes)
        .map(|e| e.event)
        .map_err(|e| {
            if e.syntax {
                format!(
                    "Invalid input event: chunk.bytes is not a JSON document ({})",
                    e.message
                )
            } else {
                format!("Invalid input event at '{}': {}", e.path, e.message)
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_parse_and_bad_ones_name_the_field() {
        let e = parse(br#"{"event":{"contentStart":{"promptName":"p","contentName":"c","type":"AUDIO","role":"USER","interactive":true,
            "audioInputConfiguration":{"mediaType":"audio/lpcm","sampleRateHertz":16000,"sampleSizeBits":16,"channelCount":1,"audioType":"SPEECH","encoding":"base64"}}}}"#)
            .unwrap();
        assert!(matches!(
            e,
            InputEvent::ContentStart(ContentStart {
                type_: ContentType::Audio,
                ..
            })
        ));
        let e = parse(br#"{"event":{"sessionEnd":{}}}"#).unwrap();
        assert_eq!(e.name(), "sessionEnd");
        let msg = parse(br#"{"event":{"contentStart":{"promptName":"p","contentName":"c","type":"VIDEO","role":"USER"}}}"#)
            .unwrap_err();
        assert!(msg.contains("event.contentStart.type"), "{msg}");
        let msg = parse(br#"{"event":{"textInput":{"promptName":"p","content":"x"}}}"#).unwrap_err();
        assert!(msg.contains("contentName"), "{msg}");
        assert!(parse(b"{oops").unwrap_err().contains("not a JSON document"));
        assert!(parse(br#"{"event":{"dance":{}}}"#).unwrap_err().contains("event"));
    }
}
