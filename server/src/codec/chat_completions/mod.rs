//! The Chat Completions codec: the request types and their decoding into a [`Conversation`], shared
//! by every route that accepts a Chat Completions body (OpenAI's `/v1/chat/completions`, Bedrock's
//! `/openai/v1/chat/completions`, SageMaker's OpenAI-compatible containers). Encoding is in
//! [`encode`]. Callers keep their own leniencies (SageMaker bodies need no `model`).

mod encode;
mod serve;

pub use encode::{Completion, completion, completion_body, completion_chunks, finish_reason};
pub use serve::{SSE, serve};

use serde::Deserialize;
use serde_json::Value;

use super::openai_error::{Checked, OpenAiError};
use crate::conversation::{Conversation, Message, Role, Sampling, ToolCallRef, ToolChoice};
use crate::validate::api::OpenAiSchema;

/// A chat completions request (also what SageMaker's OpenAI-compatible containers accept).
#[derive(Deserialize, Debug)]
pub struct ChatRequest {
    /// The model asked for.
    pub model: String,
    messages: Vec<ChatMessage>,
    /// Whether to stream.
    #[serde(default)]
    pub stream: bool,
    /// `stream_options`.
    #[serde(default)]
    pub stream_options: Option<StreamOptions>,
    #[serde(default)]
    tools: Vec<ToolDef>,
    #[serde(default)]
    functions: Vec<FunctionDef>,
    #[serde(default)]
    response_format: Option<ResponseFormat>,
    #[serde(default)]
    tool_choice: Option<Value>,
    // Sampling options, kept for a request sent on to an upstream model; read loosely (the schema
    // check words a wrong type, and `--lenient` must not turn one into a new rejection).
    #[serde(default)]
    max_tokens: Option<Value>,
    #[serde(default)]
    max_completion_tokens: Option<Value>,
    #[serde(default)]
    temperature: Option<Value>,
    #[serde(default)]
    top_p: Option<Value>,
    /// A string or a list of strings.
    #[serde(default)]
    stop: Option<Value>,
}

impl Checked for ChatRequest {
    const SCHEMA: OpenAiSchema = OpenAiSchema("openai.chat.completions");
}

/// `stream_options`.
#[derive(Deserialize, Debug)]
pub struct StreamOptions {
    /// Send a final usage chunk.
    #[serde(default)]
    pub include_usage: bool,
}

impl ChatRequest {
    /// Whether the stream ends with a usage chunk.
    pub fn include_usage(&self) -> bool {
        self.stream_options.as_ref().is_some_and(|o| o.include_usage)
    }
}

#[derive(Deserialize, Debug)]
struct ToolDef {
    function: Option<FunctionDef>,
}

#[derive(Deserialize, Debug)]
struct FunctionDef {
    name: String,
    #[serde(default)]
    description: Option<String>,
    /// A call's arguments (JSON text).
    #[serde(default)]
    arguments: Option<String>,
    /// The input schema of a declared function (absent on a call).
    #[serde(default)]
    parameters: Option<Value>,
}

#[derive(Deserialize, Debug)]
struct ResponseFormat {
    #[serde(rename = "type")]
    type_: String,
}

#[derive(Deserialize, Debug)]
struct ChatMessage {
    role: String,
    #[serde(default)]
    content: Option<Value>,
    #[serde(default)]
    tool_calls: Vec<ChatToolCall>,
    #[serde(default)]
    tool_call_id: Option<String>,
}

#[derive(Deserialize, Debug)]
struct ChatToolCall {
    id: String,
    function: FunctionDef,
}

/// The text of an OpenAI `content`: a string, or the `text` parts of a part list.
fn content_text(content: &Option<Value>) -> String {
    match content {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

/// Decodes a request as the OpenAI API does: an empty `messages` is a 400 before any model runs.
pub fn decode(req: &ChatRequest, c: Conversation) -> Result<Conversation, OpenAiError> {
    if req.messages.is_empty() {
        // What the API answers: a 400 before any model runs (a catch-all fixture must not answer it).
        return Err(OpenAiError::invalid(
            "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.",
            Some("messages"),
        )
        .with_code("empty_array"));
    }
    decode_into(c, req)
}

/// Adds a chat request's messages, tools and options to a conversation (any protocol's), with no
/// checks beyond the roles (SageMaker containers accept an empty list).
pub fn decode_into(mut c: Conversation, req: &ChatRequest) -> Result<Conversation, OpenAiError> {
    c.stream = req.stream;
    c.response_format = req.response_format.as_ref().map(|f| f.type_.clone());
    c.tools = req
        .tools
        .iter()
        .filter_map(|t| t.function.as_ref().map(|f| f.name.clone()))
        .collect();
    c.tools.extend(req.functions.iter().map(|f| f.name.clone()));
    let declared = req.tools.iter().filter_map(|t| t.function.as_ref());
    for f in declared.chain(&req.functions) {
        if let Some(schema) = &f.parameters {
            c.tool_schemas.insert(f.name.clone(), schema.clone());
        }
        if let Some(d) = &f.description {
            c.tool_descriptions.insert(f.name.clone(), d.clone());
        }
    }
    c.tool_choice = req.tool_choice.as_ref().and_then(|t| match t {
        Value::String(s) if s == "auto" => Some(ToolChoice::Auto),
        Value::String(s) if s == "required" => Some(ToolChoice::Any),
        Value::String(s) if s == "none" => Some(ToolChoice::None),
        other => Some(ToolChoice::Tool(
            other.get("function")?.get("name")?.as_str()?.to_string(),
        )),
    });
    c.sampling = Sampling::from_json(
        [&req.max_completion_tokens, &req.max_tokens]
            .into_iter()
            .find_map(Option::as_ref),
        req.temperature.as_ref(),
        req.top_p.as_ref(),
        req.stop.as_ref(),
    );
    for (i, m) in req.messages.iter().enumerate() {
        let text = content_text(&m.content);
        match m.role.as_str() {
            "system" | "developer" => c.system.push(text),
            "user" => c.messages.push(Message::text(Role::User, text)),
            "assistant" => {
                let mut msg = Message::text(Role::Assistant, text);
                msg.tool_calls = m
                    .tool_calls
                    .iter()
                    .map(|t| ToolCallRef {
                        id: t.id.clone(),
                        name: t.function.name.clone(),
                        arguments: t.function.arguments.clone().unwrap_or_default(),
                    })
                    .collect();
                c.messages.push(msg);
            }
            "tool" | "function" => {
                c.messages.push(Message::tool_result(
                    m.tool_call_id.clone().unwrap_or_default(),
                    text,
                ));
            }
            other => {
                return Err(OpenAiError::invalid(
                    format!(
                        "Invalid value: '{other}'. Supported values are: 'system', 'developer', 'user', 'assistant', and 'tool'."
                    ),
                    Some(&format!("messages[{i}].role")),
                ));
            }
        }
    }
    Ok(c)
}
