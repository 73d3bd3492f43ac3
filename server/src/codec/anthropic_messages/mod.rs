//! The Anthropic Messages codec: the request types and their decoding into a [`Conversation`],
//! shared by every route that accepts a Messages body (Anthropic's `/v1/messages` and
//! `/v1/messages/count_tokens`, Bedrock's InvokeModel Anthropic bodies). Encoding is in [`encode`],
//! the error shape in [`error`].
//!
//! A body is read in two parts: [`Request`] (messages, system, tools), which every caller shares,
//! and [`Envelope`] (model, max_tokens, stream, stop sequences), which only the Messages API itself
//! carries: Bedrock's InvokeModel puts the model in the URL and `anthropic_version` in the body, and
//! streams by operation. Each caller keeps its own required keys and error wording.

pub mod encode;
pub mod error;
mod serve;

use serde::Deserialize;
use serde_json::Value;

use crate::conversation::{Conversation, Message, Role, Sampling, ToolCallRef, ToolChoice};
pub use error::AnthropicError;
pub use serve::{Anthropic, SSE, count_tokens, create, unrouted};

/// The part of a Messages body every caller reads (shapes of the SDK's `MessageCreateParams`).
#[derive(Deserialize)]
pub struct Request {
    messages: Vec<AMessage>,
    #[serde(default)]
    system: Option<Content>,
    #[serde(default)]
    tools: Vec<ToolDef>,
    /// `{type: auto|any|tool|none, name?}`.
    #[serde(default)]
    tool_choice: Option<Value>,
    // Sampling options, read again here (beside the envelope) because InvokeModel bodies carry
    // them too; kept for a request sent on to an upstream model, read loosely (validation words a
    // wrong type).
    #[serde(default)]
    max_tokens: Option<Value>,
    #[serde(default)]
    temperature: Option<Value>,
    #[serde(default)]
    top_p: Option<Value>,
    #[serde(default)]
    stop_sequences: Option<Value>,
}

/// What only the Messages API carries beside [`Request`].
#[derive(Deserialize)]
pub struct Envelope {
    /// The model asked for.
    pub model: String,
    /// The output limit (required on `/v1/messages`, absent on `count_tokens`).
    #[serde(default)]
    pub max_tokens: Option<u64>,
    /// Whether to answer as server-sent events.
    #[serde(default)]
    pub stream: Option<bool>,
    /// Custom stop sequences; the first is the one a `stop_sequence` answer reports.
    #[serde(default)]
    pub stop_sequences: Option<Vec<String>>,
}

#[derive(Deserialize)]
struct ToolDef {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    input_schema: Option<Value>,
}

#[derive(Deserialize)]
struct AMessage {
    role: String,
    content: Content,
}

/// `content`: a string or a list of typed blocks. Block types mockmodel does not read (images,
/// documents, citations) are accepted and ignored, as matching only reads text and tool blocks.
#[derive(Deserialize)]
#[serde(untagged)]
enum Content {
    Text(String),
    Blocks(Vec<ABlock>),
}

#[derive(Deserialize)]
struct ABlock {
    #[serde(rename = "type")]
    type_: String,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    tool_use_id: Option<String>,
    #[serde(default)]
    content: Option<Box<Content>>,
    /// A `tool_use` block's arguments.
    #[serde(default)]
    input: Option<Value>,
}

impl Content {
    fn text(&self) -> String {
        match self {
            Content::Text(t) => t.clone(),
            Content::Blocks(blocks) => blocks
                .iter()
                .filter(|b| b.type_ == "text")
                .filter_map(|b| b.text.as_deref())
                .collect::<Vec<_>>()
                .join("\n"),
        }
    }
    fn blocks(&self) -> &[ABlock] {
        match self {
            Content::Text(_) => &[],
            Content::Blocks(b) => b,
        }
    }
}

/// A message whose role is neither `user` nor `assistant`; each caller words it.
#[derive(Debug, Clone, PartialEq)]
pub struct BadRole {
    /// The message's index.
    pub index: usize,
    /// The role it named.
    pub role: String,
}

impl Request {
    /// Whether `messages` is empty.
    pub fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }

    /// The role of the first message, if any.
    pub fn first_role(&self) -> Option<&str> {
        self.messages.first().map(|m| m.role.as_str())
    }

    /// The first message with no content (`""` or `[]`), other than a final assistant message
    /// (a prefill the model continues).
    pub fn first_empty(&self) -> Option<usize> {
        let last = self.messages.len().saturating_sub(1);
        self.messages.iter().enumerate().position(|(i, m)| {
            let empty = match &m.content {
                Content::Text(t) => t.is_empty(),
                Content::Blocks(b) => b.is_empty(),
            };
            empty && !(i == last && m.role == "assistant")
        })
    }
}

/// Adds a Messages request's system prompt, tools and messages to a conversation.
pub fn decode(req: &Request, c: &mut Conversation) -> Result<(), BadRole> {
    c.system.extend(req.system.as_ref().map(Content::text));
    c.tools = req.tools.iter().filter_map(|t| t.name.clone()).collect();
    for t in &req.tools {
        if let (Some(name), Some(schema)) = (&t.name, &t.input_schema) {
            c.tool_schemas.insert(name.clone(), schema.clone());
        }
        if let (Some(name), Some(d)) = (&t.name, &t.description) {
            c.tool_descriptions.insert(name.clone(), d.clone());
        }
    }
    c.tool_choice = req
        .tool_choice
        .as_ref()
        .and_then(|t| match t.get("type")?.as_str()? {
            "auto" => Some(ToolChoice::Auto),
            "any" => Some(ToolChoice::Any),
            "none" => Some(ToolChoice::None),
            "tool" => Some(ToolChoice::Tool(t.get("name")?.as_str()?.to_string())),
            _ => None,
        });
    c.sampling = Sampling::from_json(
        req.max_tokens.as_ref(),
        req.temperature.as_ref(),
        req.top_p.as_ref(),
        req.stop_sequences.as_ref(),
    );
    for (i, m) in req.messages.iter().enumerate() {
        let text = m.content.text();
        match m.role.as_str() {
            "assistant" => {
                let mut msg = Message::text(Role::Assistant, text);
                msg.tool_calls = m
                    .content
                    .blocks()
                    .iter()
                    .filter(|b| b.type_ == "tool_use")
                    .map(|b| ToolCallRef {
                        id: b.id.clone().unwrap_or_default(),
                        name: b.name.clone().unwrap_or_default(),
                        arguments: b.input.as_ref().map(Value::to_string).unwrap_or_default(),
                    })
                    .collect();
                c.messages.push(msg);
            }
            "user" => {
                let results: Vec<&ABlock> = m
                    .content
                    .blocks()
                    .iter()
                    .filter(|b| b.type_ == "tool_result")
                    .collect();
                // As in Converse: a message of tool results only stays in the current turn.
                if !text.is_empty() || results.is_empty() {
                    c.messages.push(Message::text(Role::User, text));
                }
                for r in results {
                    let content = r.content.as_ref().map(|c| c.text()).unwrap_or_default();
                    c.messages.push(Message::tool_result(
                        r.tool_use_id.clone().unwrap_or_default(),
                        content,
                    ));
                }
            }
            other => {
                return Err(BadRole {
                    index: i,
                    role: other.to_string(),
                });
            }
        }
    }
    Ok(())
}

/// The keys of `body` (an object) that are absent, of `keys`, in order.
pub fn missing<'a>(body: &Value, keys: &[&'a str]) -> Vec<&'a str> {
    keys.iter().copied().filter(|k| body.get(k).is_none()).collect()
}

/// Reads a body for the Messages API itself, as the API checks it before any model runs: the
/// required keys (`model`, `messages`, and `max_tokens` unless counting tokens), their types, a
/// non-empty `messages` that opens with a user turn. Messages are the API's own words.
pub fn read(body: &Value, count_tokens: bool) -> Result<(Envelope, Request), AnthropicError> {
    if !body.is_object() {
        return Err(AnthropicError::invalid("Input should be a valid dictionary"));
    }
    let required: &[&str] = if count_tokens {
        &["model", "messages"]
    } else {
        &["model", "max_tokens", "messages"]
    };
    if let Some(key) = missing(body, required).first() {
        return Err(AnthropicError::invalid(format!("{key}: Field required")));
    }
    let envelope: Envelope = crate::wire::json::from_value(body)?;
    if envelope.max_tokens == Some(0) {
        return Err(AnthropicError::invalid(
            "max_tokens: Input should be greater than or equal to 1",
        ));
    }
    let req: Request = crate::wire::json::from_value(body)?;
    if req.is_empty() {
        return Err(AnthropicError::invalid(
            "messages: at least one message is required",
        ));
    }
    if req.first_role() == Some("assistant") {
        return Err(AnthropicError::invalid(
            "messages: first message must use the \"user\" role",
        ));
    }
    if let Some(i) = req.first_empty() {
        return Err(AnthropicError::invalid(format!(
            "messages.{i}: all messages must have non-empty content except for the optional final assistant message"
        )));
    }
    Ok((envelope, req))
}

impl From<BadRole> for AnthropicError {
    fn from(e: BadRole) -> Self {
        AnthropicError::invalid(format!(
            "messages.{}.role: Input should be 'user' or 'assistant'",
            e.index
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conversation::Protocol;
    use serde_json::json;

    fn read_err(body: Value) -> String {
        read(&body, false).err().expect("an error").message().to_string()
    }

    #[test]
    fn the_api_names_the_missing_or_wrong_field() {
        let ok = json!({"model": "claude", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]});
        assert!(read(&ok, false).is_ok());
        for key in ["model", "max_tokens", "messages"] {
            let mut b = ok.clone();
            b.as_object_mut().unwrap().remove(key);
            assert_eq!(read_err(b), format!("{key}: Field required"));
        }
        let mut b = ok.clone();
        b.as_object_mut().unwrap().remove("max_tokens");
        assert!(read(&b, true).is_ok(), "count_tokens needs no max_tokens");
        assert_eq!(
            read_err(json!({"model": "c", "max_tokens": 5, "messages": [{"role": "user"}]})),
            "messages.0.content: Field required"
        );
        assert_eq!(
            read_err(json!({"model": "c", "max_tokens": 0, "messages": [{"role": "user", "content": "x"}]})),
            "max_tokens: Input should be greater than or equal to 1"
        );
        assert_eq!(
            read_err(json!({"model": "c", "max_tokens": 5, "messages": [
                {"role": "user", "content": "x"}, {"role": "assistant", "content": []}, {"role": "user", "content": "y"}]})),
            "messages.1: all messages must have non-empty content except for the optional final assistant message"
        );
        let prefill = json!({"model": "c", "max_tokens": 5, "messages": [
            {"role": "user", "content": "x"}, {"role": "assistant", "content": ""}]});
        assert!(
            read(&prefill, false).is_ok(),
            "a final assistant message may be empty"
        );
        assert_eq!(
            read_err(json!({"model": "c", "max_tokens": 5, "messages": []})),
            "messages: at least one message is required"
        );
        assert_eq!(
            read_err(
                json!({"model": "c", "max_tokens": 5, "messages": [{"role": "assistant", "content": "x"}]})
            ),
            "messages: first message must use the \"user\" role"
        );
        assert_eq!(
            read_err(
                json!({"model": "c", "max_tokens": "many", "messages": [{"role": "user", "content": "x"}]})
            ),
            "max_tokens: Input should be a valid integer"
        );
    }

    #[test]
    fn tool_results_and_string_or_block_content_decode() {
        let (_, req) = read(
            &json!({
                "model": "claude", "max_tokens": 100,
                "system": [{"type": "text", "text": "be brief"}],
                "tools": [{"name": "get_weather", "input_schema": {"type": "object"}}],
                "messages": [
                    {"role": "user", "content": "weather?"},
                    {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "get_weather", "input": {}}]},
                    {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "sunny"}]}
                ]
            }),
            false,
        )
        .unwrap();
        let mut c = Conversation::new(Protocol::Anthropic, "claude");
        decode(&req, &mut c).unwrap();
        assert_eq!(c.system, vec!["be brief"]);
        assert_eq!(c.tools, vec!["get_weather"]);
        assert_eq!(c.last_tool_result().unwrap().text, "sunny");
        assert_eq!(c.messages[1].tool_calls[0].name, "get_weather");
    }
}
