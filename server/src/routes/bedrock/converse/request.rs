//! The Converse request shapes (botocore's `ConverseRequest` members that matter for matching), shared
//! with Amazon Nova's InvokeModel body, and their decoding into the neutral conversation.

use serde::Deserialize;
use serde_json::Value;

use crate::conversation::{Conversation, Message, Role, Sampling, ToolCallRef, ToolChoice};

/// The Converse request members that matter for matching (others are accepted and ignored).
#[derive(Deserialize, Debug)]
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
    /// The guardrail to apply (`GuardrailConfiguration`, ConverseStream's `GuardrailStreamConfiguration`).
    #[serde(default)]
    pub guardrail_config: Option<GuardrailConfig>,
}

/// `guardrailConfig` (the service model requires none of its members).
#[derive(Deserialize, Debug)]
#[serde(rename_all = "camelCase")]
pub struct GuardrailConfig {
    /// The guardrail's id or ARN.
    #[serde(default)]
    pub guardrail_identifier: Option<String>,
    /// Its version (a number or `DRAFT`).
    #[serde(default)]
    pub guardrail_version: Option<String>,
    /// `enabled`, `disabled` (the default) or `enabled_full`.
    #[serde(default)]
    pub trace: Option<String>,
}

/// `GuardrailConverseContentBlock`: content only the guardrail evaluates; its text is matched like
/// any other text of the message.
#[derive(Deserialize, Debug)]
pub struct GuardContent {
    /// The guarded text (absent for guarded images).
    #[serde(default)]
    pub text: Option<GuardText>,
}

/// `GuardrailConverseTextBlock`.
#[derive(Deserialize, Debug)]
pub struct GuardText {
    /// The text.
    pub text: String,
}

impl GuardContent {
    fn text(this: &Option<GuardContent>) -> Option<&str> {
        this.as_ref()?.text.as_ref().map(|t| t.text.as_str())
    }
}

/// `inferenceConfig`: type-checked; kept for a request sent on to an upstream model.
#[derive(Deserialize, Debug)]
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
#[derive(Deserialize, Debug)]
pub struct ChatMessage {
    /// `user` or `assistant`.
    pub role: ChatRole,
    /// Content blocks.
    pub content: Vec<ContentBlock>,
}

/// `ConversationRole`.
#[derive(Deserialize, Clone, Copy, PartialEq, Eq, Debug)]
#[serde(rename_all = "lowercase")]
pub enum ChatRole {
    /// The user (also carries tool results).
    User,
    /// The model.
    Assistant,
}

/// One content block; a union, so exactly one member is set. Images, documents, video, cache points
/// and other members are accepted and ignored for matching.
#[derive(Deserialize, Debug)]
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
    /// Text only the guardrail evaluates.
    #[serde(default)]
    pub guard_content: Option<GuardContent>,
}

/// `ToolUseBlock`.
#[derive(Deserialize, Debug)]
#[serde(rename_all = "camelCase")]
pub struct ToolUse {
    /// Call id.
    pub tool_use_id: String,
    /// Tool name.
    pub name: String,
    /// The call's arguments (a JSON document).
    #[serde(default)]
    pub input: Option<Value>,
}

/// `ToolResultBlock`.
#[derive(Deserialize, Debug)]
#[serde(rename_all = "camelCase")]
pub struct ToolResult {
    /// The call this answers.
    pub tool_use_id: String,
    /// Result blocks (`text`, `json`, images, documents).
    pub content: Vec<ToolResultContent>,
}

/// `ToolResultContentBlock`: only text and JSON feed matching.
#[derive(Deserialize, Debug)]
pub struct ToolResultContent {
    /// Text result.
    #[serde(default)]
    pub text: Option<String>,
    /// JSON result.
    #[serde(default)]
    pub json: Option<Value>,
}

/// `SystemContentBlock`.
#[derive(Deserialize, Debug)]
#[serde(rename_all = "camelCase")]
pub struct SystemBlock {
    /// System text (absent for guard content and cache points).
    #[serde(default)]
    pub text: Option<String>,
    /// System text only the guardrail evaluates (matched like system text).
    #[serde(default)]
    pub guard_content: Option<GuardContent>,
}

/// `toolConfig`.
#[derive(Deserialize, Debug)]
pub struct ToolConfig {
    /// Tools.
    pub tools: Vec<Tool>,
    /// `ToolChoice` union: `{auto:{}}`, `{any:{}}` or `{tool:{name}}`.
    #[serde(default, rename = "toolChoice")]
    pub tool_choice: Option<Value>,
}

/// `Tool` union: only `toolSpec` defines a named tool.
#[derive(Deserialize, Debug)]
#[serde(rename_all = "camelCase")]
pub struct Tool {
    /// The tool's specification.
    #[serde(default)]
    pub tool_spec: Option<ToolSpec>,
}

/// `ToolSpecification`: the name (matched) and the input schema (for semantic faults).
#[derive(Deserialize, Debug)]
#[serde(rename_all = "camelCase")]
pub struct ToolSpec {
    /// Tool name.
    pub name: String,
    /// What the tool does (for a model that reads it).
    #[serde(default)]
    pub description: Option<String>,
    /// `ToolInputSchema`, a union whose `json` member is the JSON Schema document.
    #[serde(default)]
    pub input_schema: Option<ToolInputSchema>,
}

/// `ToolInputSchema`.
#[derive(Deserialize, Debug)]
pub struct ToolInputSchema {
    /// The schema.
    #[serde(default)]
    pub json: Option<serde_json::Value>,
}

impl ConverseRequest {
    /// Fills a conversation: user text, tool results as `Role::Tool` messages, assistant tool calls.
    pub fn decode_into(&self, c: &mut Conversation) {
        c.system.extend(
            self.system
                .iter()
                .filter_map(|s| s.text.as_deref().or(GuardContent::text(&s.guard_content)))
                .map(str::to_string),
        );
        if let Some(g) = &self.guardrail_config {
            c.guardrail = Some(g.guardrail_identifier.clone().unwrap_or_default());
        }
        c.tools = self
            .tool_config
            .iter()
            .flat_map(|t| &t.tools)
            .filter_map(|t| t.tool_spec.as_ref().map(|s| s.name.clone()))
            .collect();
        for spec in self
            .tool_config
            .iter()
            .flat_map(|t| &t.tools)
            .filter_map(|t| t.tool_spec.as_ref())
        {
            if let Some(schema) = spec.input_schema.as_ref().and_then(|s| s.json.clone()) {
                c.tool_schemas.insert(spec.name.clone(), schema);
            }
            if let Some(d) = &spec.description {
                c.tool_descriptions.insert(spec.name.clone(), d.clone());
            }
        }
        c.tool_choice = self
            .tool_config
            .as_ref()
            .and_then(|t| t.tool_choice.as_ref())
            .and_then(|choice| {
                if choice.get("auto").is_some() {
                    Some(ToolChoice::Auto)
                } else if choice.get("any").is_some() {
                    Some(ToolChoice::Any)
                } else {
                    let name = choice.get("tool")?.get("name")?.as_str()?;
                    Some(ToolChoice::Tool(name.to_string()))
                }
            });
        if let Some(i) = &self.inference_config {
            c.sampling = Sampling {
                max_tokens: i.max_tokens,
                temperature: i.temperature,
                top_p: i.top_p,
                stop: i.stop_sequences.clone(),
            };
        }
        for m in &self.messages {
            let text = m
                .content
                .iter()
                .filter_map(|b| b.text.as_deref().or(GuardContent::text(&b.guard_content)))
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
                            arguments: t.input.as_ref().map(Value::to_string).unwrap_or_default(),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conversation::Protocol;
    use serde_json::json;

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
            "toolConfig": {
                "tools": [{"toolSpec": {"name": "get_weather", "description": "Weather", "inputSchema": {"json": {}}}}],
                "toolChoice": {"tool": {"name": "get_weather"}},
            },
            "inferenceConfig": {"maxTokens": 50, "temperature": 0.2, "stopSequences": ["END"]},
            "messages": [
                {"role": "user", "content": [{"text": "weather?"}, {"image": {"format": "png", "source": {"bytes": "AA=="}}}]},
                {"role": "assistant", "content": [{"toolUse": {"toolUseId": "t1", "name": "get_weather", "input": {"city": "Paris"}}}]},
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
        // Kept for a request translated to an upstream model (`--upstream-openai`).
        assert_eq!(c.messages[1].tool_calls[0].arguments, r#"{"city":"Paris"}"#);
        assert_eq!(c.tool_descriptions["get_weather"], "Weather");
        assert_eq!(c.tool_choice, Some(ToolChoice::Tool("get_weather".into())));
        assert_eq!(
            c.sampling,
            Sampling {
                max_tokens: Some(50),
                temperature: Some(0.2),
                top_p: None,
                stop: vec!["END".into()]
            }
        );
    }

    #[test]
    fn guard_content_is_matched_like_text_and_the_guardrail_is_named() {
        let c = decoded(json!({
            "system": [{"guardContent": {"text": {"text": "guarded rules"}}}],
            "guardrailConfig": {"guardrailIdentifier": "gr1", "guardrailVersion": "1", "trace": "enabled"},
            "messages": [{"role": "user", "content": [
                {"text": "context"},
                {"guardContent": {"text": {"text": "tell me about stocks", "qualifiers": ["query"]}}},
            ]}]
        }));
        assert_eq!(c.system, vec!["guarded rules"]);
        assert_eq!(c.last_user_text(), Some("context\ntell me about stocks"));
        assert_eq!(c.guardrail.as_deref(), Some("gr1"));
    }
}
