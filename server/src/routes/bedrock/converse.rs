//! Converse and ConverseStream: the request decoder (shared with Amazon Nova's InvokeModel body,
//! which uses the same message shapes) and the two response encoders.
//!
//! ConverseStream events follow the service model exactly: the payload is the event's members only
//! (the `:event-type` header names the event), `contentBlockStart` is sent only for tool use (the
//! `ContentBlockStart` union has no text member), reasoning ends with a `signature` delta, and the
//! stream closes with `messageStop` then `metadata`.

use std::time::Instant;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Bedrock, BedrockError, EVENT_STREAM, event_frame, latency_ms, model_id, stop_reason};
use crate::conversation::{Conversation, Message, Protocol, Role, ToolCallRef};
use crate::plan::{Block, Plan, chunk_text};
use crate::state::SharedState;
use crate::stream::Frame;
use crate::wire::{Reply, labelled, respond};

/// The Converse request members that matter for matching (others are accepted and ignored).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConverseRequest {
    /// The conversation so far.
    #[serde(default)]
    pub messages: Vec<ChatMessage>,
    /// System prompt blocks.
    #[serde(default)]
    pub system: Vec<SystemBlock>,
    /// Tool definitions.
    #[serde(default)]
    pub tool_config: Option<ToolConfig>,
    /// Parsed only so that wrongly typed values are rejected as the service does.
    #[serde(default)]
    pub inference_config: Option<InferenceConfig>,
}

/// `inferenceConfig`: type-checked, not used by a mock.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InferenceConfig {
    /// Token limit.
    #[serde(default)]
    pub max_tokens: Option<u64>,
    /// Sampling temperature.
    #[serde(default)]
    pub temperature: Option<f64>,
    /// Nucleus sampling.
    #[serde(default)]
    pub top_p: Option<f64>,
    /// Stop sequences.
    #[serde(default)]
    pub stop_sequences: Vec<String>,
}

/// A message: `role` and content blocks.
#[derive(Deserialize)]
pub struct ChatMessage {
    /// `user` or `assistant`.
    pub role: ChatRole,
    /// Content blocks.
    pub content: Vec<ContentBlock>,
}

/// `ConversationRole`.
#[derive(Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ChatRole {
    /// The user (also carries tool results).
    User,
    /// The model.
    Assistant,
}

/// One content block; a union, so exactly one member is set. Images, documents, video, cache points
/// and other members are accepted and ignored for matching.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContentBlock {
    /// Text.
    #[serde(default)]
    pub text: Option<String>,
    /// A tool call the assistant made.
    #[serde(default)]
    pub tool_use: Option<ToolUse>,
    /// A tool's result.
    #[serde(default)]
    pub tool_result: Option<ToolResult>,
}

/// `ToolUseBlock`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolUse {
    /// Call id.
    pub tool_use_id: String,
    /// Tool name.
    pub name: String,
}

/// `ToolResultBlock`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolResult {
    /// The call this answers.
    pub tool_use_id: String,
    /// Result blocks (`text`, `json`, images, documents).
    pub content: Vec<ToolResultContent>,
}

/// `ToolResultContentBlock`: only text and JSON feed matching.
#[derive(Deserialize)]
pub struct ToolResultContent {
    /// Text result.
    #[serde(default)]
    pub text: Option<String>,
    /// JSON result.
    #[serde(default)]
    pub json: Option<Value>,
}

/// `SystemContentBlock`.
#[derive(Deserialize)]
pub struct SystemBlock {
    /// System text (absent for guard content and cache points).
    #[serde(default)]
    pub text: Option<String>,
}

/// `toolConfig`.
#[derive(Deserialize)]
pub struct ToolConfig {
    /// Tools.
    pub tools: Vec<Tool>,
}

/// `Tool` union: only `toolSpec` defines a named tool.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Tool {
    /// The tool's specification.
    #[serde(default)]
    pub tool_spec: Option<ToolSpec>,
}

/// `ToolSpecification` (the schema is not needed for matching).
#[derive(Deserialize)]
pub struct ToolSpec {
    /// Tool name.
    pub name: String,
}

impl ConverseRequest {
    /// Fills a conversation: user text, tool results as `Role::Tool` messages, assistant tool calls.
    pub fn decode_into(&self, c: &mut Conversation) {
        c.system.extend(self.system.iter().filter_map(|s| s.text.clone()));
        c.tools = self
            .tool_config
            .iter()
            .flat_map(|t| &t.tools)
            .filter_map(|t| t.tool_spec.as_ref().map(|s| s.name.clone()))
            .collect();
        for m in &self.messages {
            let text = m
                .content
                .iter()
                .filter_map(|b| b.text.as_deref())
                .collect::<Vec<_>>()
                .join("\n");
            match m.role {
                ChatRole::Assistant => {
                    let mut msg = Message::text(Role::Assistant, text);
                    msg.tool_calls = m
                        .content
                        .iter()
                        .filter_map(|b| b.tool_use.as_ref())
                        .map(|t| ToolCallRef {
                            id: t.tool_use_id.clone(),
                            name: t.name.clone(),
                        })
                        .collect();
                    c.messages.push(msg);
                }
                ChatRole::User => {
                    let results: Vec<&ToolResult> =
                        m.content.iter().filter_map(|b| b.tool_result.as_ref()).collect();
                    // A user message that only returns tool results is not a new user turn: the
                    // result must stay in the current turn for `hasToolResult`.
                    if !text.is_empty() || results.is_empty() {
                        c.messages.push(Message::text(Role::User, text));
                    }
                    for r in results {
                        let content = r
                            .content
                            .iter()
                            .map(|p| match (&p.text, &p.json) {
                                (Some(t), _) => t.clone(),
                                (None, Some(j)) => j.to_string(),
                                (None, None) => String::new(),
                            })
                            .collect::<Vec<_>>()
                            .join("\n");
                        c.messages
                            .push(Message::tool_result(r.tool_use_id.clone(), content));
                    }
                }
            }
        }
    }
}

/// Decodes a Converse/ConverseStream request.
fn decode(
    model: &str,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
    stream: bool,
) -> Result<Conversation, BedrockError> {
    let mut c = Conversation::new(Protocol::Bedrock, model).with_headers(headers);
    c.stream = stream;
    let body = super::body_bytes(body)?;
    let req: ConverseRequest = super::parse_json(&body)?;
    if req.messages.is_empty() {
        return Err(BedrockError::validation(
            "1 validation error detected: Value at 'messages' failed to satisfy constraint: Member must not be empty",
        ));
    }
    check_turns(&req.messages)?;
    req.decode_into(&mut c);
    Ok(c)
}

/// The turn rules Converse enforces before any model runs: the first message is the user's and the
/// roles alternate (tool results travel in user messages), with the service's own messages.
fn check_turns(messages: &[ChatMessage]) -> Result<(), BedrockError> {
    if messages.first().is_some_and(|m| m.role != ChatRole::User) {
        return Err(BedrockError::validation(
            "A conversation must start with a user message. Try again with a conversation that starts with a user message.",
        ));
    }
    if messages.windows(2).any(|w| w[0].role == w[1].role) {
        return Err(BedrockError::validation(
            "A conversation must alternate between user and assistant roles. Make sure the conversation alternates between user and assistant roles and try again.",
        ));
    }
    Ok(())
}

/// A content block of a Converse response message.
pub fn content_block(b: &Block) -> Value {
    match b {
        Block::Text(t) => json!({"text": t}),
        Block::Reasoning { text, signature } => {
            let mut r = json!({"text": text});
            if let Some(s) = signature {
                r["signature"] = json!(s);
            }
            json!({"reasoningContent": {"reasoningText": r}})
        }
        Block::ToolCall { id, name, arguments } => {
            json!({"toolUse": {"toolUseId": id, "name": name, "input": tool_input(arguments)}})
        }
    }
}

/// Tool arguments as the JSON document Bedrock sends (the text is JSON by fixture validation).
pub fn tool_input(arguments: &str) -> Value {
    serde_json::from_str(arguments).unwrap_or_else(|_| json!({}))
}

/// `TokenUsage`.
pub fn usage(plan: &Plan) -> Value {
    json!({"inputTokens": plan.usage.input, "outputTokens": plan.usage.output, "totalTokens": plan.usage.total})
}

/// The Converse response body.
fn converse_body(plan: &Plan, latency: u64) -> Value {
    let content: Vec<Value> = plan.blocks.iter().map(content_block).collect();
    json!({
        "output": {"message": {"role": "assistant", "content": content}},
        "stopReason": stop_reason(plan.stop),
        "usage": usage(plan),
        "metrics": {"latencyMs": latency},
    })
}

/// The ConverseStream events for a plan, in the service's order.
fn stream_frames(plan: &Plan, latency: u64) -> Result<Vec<Frame>, BedrockError> {
    let size = plan.timing.chunk_size;
    let mut frames = vec![Frame::control(event_frame(
        "messageStart",
        &json!({"role": "assistant"}),
    )?)];
    let delta =
        |i: usize, d: Value| event_frame("contentBlockDelta", &json!({"contentBlockIndex": i, "delta": d}));
    for (i, block) in plan.blocks.iter().enumerate() {
        match block {
            Block::Text(text) => {
                // An empty text block still gets one delta: a block with no delta never starts.
                let pieces = chunk_text(text, size);
                for piece in if pieces.is_empty() { vec![""] } else { pieces } {
                    frames.push(Frame::content(delta(i, json!({"text": piece}))?));
                }
            }
            Block::Reasoning { text, signature } => {
                for piece in chunk_text(text, size) {
                    frames.push(Frame::content(delta(
                        i,
                        json!({"reasoningContent": {"text": piece}}),
                    )?));
                }
                if let Some(sig) = signature {
                    frames.push(Frame::control(delta(
                        i,
                        json!({"reasoningContent": {"signature": sig}}),
                    )?));
                }
            }
            Block::ToolCall { id, name, arguments } => {
                frames.push(Frame::control(event_frame(
                    "contentBlockStart",
                    &json!({"contentBlockIndex": i, "start": {"toolUse": {"toolUseId": id, "name": name}}}),
                )?));
                for piece in chunk_text(arguments, size) {
                    frames.push(Frame::content(delta(i, json!({"toolUse": {"input": piece}}))?));
                }
            }
        }
        frames.push(Frame::control(event_frame(
            "contentBlockStop",
            &json!({"contentBlockIndex": i}),
        )?));
    }
    frames.push(Frame::control(event_frame(
        "messageStop",
        &json!({"stopReason": stop_reason(plan.stop)}),
    )?));
    frames.push(Frame::control(event_frame(
        "metadata",
        &json!({"usage": usage(plan), "metrics": {"latencyMs": latency}}),
    )?));
    Ok(frames)
}

/// `POST /model/{modelId}/converse`.
pub async fn converse(
    State(state): State<SharedState>,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    answer(state, path, headers, body, false).await
}

/// `POST /model/{modelId}/converse-stream`.
pub async fn converse_stream(
    State(state): State<SharedState>,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    answer(state, path, headers, body, true).await
}

async fn answer(
    state: SharedState,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
    stream: bool,
) -> Response {
    let started = Instant::now();
    let model = match model_id(path) {
        Ok(m) => m,
        Err(e) => return e.into_response(),
    };
    let c = match decode(&model, &headers, body, stream) {
        Ok(c) => c,
        // Errors are labelled with the model too, once the path names one.
        Err(e) => return labelled(e.into_response(), &model),
    };
    let operation = if stream { "ConverseStream" } else { "Converse" };
    respond(&state, &Bedrock { invoke: false }, &c, operation, |plan| {
        if stream {
            // The stream's own latency is what its schedule adds before the first frame.
            let latency = latency_ms(started) + plan.timing.latency_ms;
            Ok(Reply::stream(stream_frames(plan, latency)?, EVENT_STREAM))
        } else {
            Ok(Reply::json(converse_body(plan, latency_ms(started))))
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decoded(body: Value) -> Conversation {
        let req: ConverseRequest = serde_json::from_value(body).unwrap();
        let mut c = Conversation::new(Protocol::Bedrock, "m");
        req.decode_into(&mut c);
        c
    }

    #[test]
    fn a_tool_result_only_user_message_keeps_the_result_in_the_current_turn() {
        let c = decoded(json!({
            "system": [{"text": "be brief"}, {"cachePoint": {"type": "default"}}],
            "toolConfig": {"tools": [{"toolSpec": {"name": "get_weather", "inputSchema": {"json": {}}}}]},
            "messages": [
                {"role": "user", "content": [{"text": "weather?"}, {"image": {"format": "png", "source": {"bytes": "AA=="}}}]},
                {"role": "assistant", "content": [{"toolUse": {"toolUseId": "t1", "name": "get_weather", "input": {}}}]},
                {"role": "user", "content": [{"toolResult": {"toolUseId": "t1", "content": [{"json": {"sky": "clear"}}, {"text": "22C"}]}}]},
            ]
        }));
        assert_eq!(c.system, vec!["be brief"]);
        assert_eq!(c.tools, vec!["get_weather"]);
        assert_eq!(c.last_user_text(), Some("weather?"));
        assert!(c.has_tool_result());
        let result = c.last_tool_result().unwrap();
        assert_eq!(result.tool_call_id.as_deref(), Some("t1"));
        assert_eq!(result.text, "{\"sky\":\"clear\"}\n22C");
        assert_eq!(c.messages[1].tool_calls[0].name, "get_weather");
    }

    #[test]
    fn conversations_must_start_with_the_user_and_alternate() {
        let msgs = |roles: &[&str]| -> Vec<ChatMessage> {
            roles
                .iter()
                .map(|r| serde_json::from_value(json!({"role": r, "content": [{"text": "x"}]})).unwrap())
                .collect()
        };
        assert!(check_turns(&msgs(&["user", "assistant", "user"])).is_ok());
        let err = |roles: &[&str]| check_turns(&msgs(roles)).unwrap_err().message().to_string();
        assert!(err(&["assistant", "user"]).starts_with("A conversation must start with a user message"));
        assert!(err(&["user", "user"]).starts_with("A conversation must alternate"));
        assert!(err(&["user", "assistant", "assistant"]).starts_with("A conversation must alternate"));
    }

    #[test]
    fn malformed_fields_are_named_in_the_validation_error() {
        let Err(err) = super::super::parse_json::<ConverseRequest>(
            br#"{"messages":[{"role":"user","content":[{"text":5}]}]}"#,
        ) else {
            panic!("a number is not text")
        };
        assert!(
            err.message().contains("messages[0].content[0].text"),
            "{}",
            err.message()
        );
        assert_eq!(err.type_(), "ValidationException");
    }
}
