//! Anthropic Messages API on Bedrock (`anthropic_version: bedrock-2023-05-31`): request decoding,
//! the `message` response body and the `message_start` … `message_stop` streaming events.

use serde::Deserialize;
use serde_json::{Value, json};

use super::Event;
use crate::conversation::{Conversation, Message, Role, ToolCallRef};
use crate::plan::{Block, Plan, StopReason, chunk_text};
use crate::routes::bedrock::{BedrockError, from_value};

#[derive(Deserialize)]
struct Request {
    messages: Vec<AMessage>,
    #[serde(default)]
    system: Option<Content>,
    #[serde(default)]
    tools: Vec<ToolDef>,
}

#[derive(Deserialize)]
struct ToolDef {
    #[serde(default)]
    name: Option<String>,
}

#[derive(Deserialize)]
struct AMessage {
    role: String,
    content: Content,
}

/// `content`: a string or a list of typed blocks.
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

/// Reads an Anthropic Messages request.
pub fn decode(body: &Value, c: &mut Conversation) -> Result<(), BedrockError> {
    // Bedrock's schema check runs before the model does, in these words.
    for key in ["anthropic_version", "max_tokens", "messages"] {
        if body.get(key).is_none() {
            return Err(BedrockError::validation(format!(
                "Malformed input request: #: required key [{key}] not found, please reformat your input and try again."
            )));
        }
    }
    let req: Request = from_value(body)?;
    c.system.extend(req.system.map(|s| s.text()));
    c.tools = req.tools.into_iter().filter_map(|t| t.name).collect();
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
                return Err(BedrockError::validation(format!(
                    "messages.{i}.role: Input should be 'user' or 'assistant', got {other:?}"
                )));
            }
        }
    }
    Ok(())
}

fn stop_reason(s: StopReason) -> &'static str {
    match s {
        StopReason::EndTurn => "end_turn",
        StopReason::ToolUse => "tool_use",
        StopReason::MaxTokens => "max_tokens",
        StopReason::ContentFilter => "refusal",
    }
}

fn message_id(plan: &Plan) -> String {
    plan.id
        .clone()
        .unwrap_or_else(|| format!("msg_bdrk_{}", &uuid::Uuid::new_v4().simple().to_string()[..24]))
}

/// The `message` response body.
pub fn body(plan: &Plan) -> Value {
    let content: Vec<Value> = plan
        .blocks
        .iter()
        .map(|b| match b {
            Block::Text(t) => json!({"type": "text", "text": t}),
            Block::Reasoning { text, signature } => {
                json!({"type": "thinking", "thinking": text, "signature": signature.clone().unwrap_or_default()})
            }
            Block::ToolCall { id, name, arguments } => json!({
                "type": "tool_use", "id": id, "name": name,
                "input": crate::routes::bedrock::converse::tool_input(arguments),
            }),
        })
        .collect();
    json!({
        "id": message_id(plan), "type": "message", "role": "assistant", "model": plan.model,
        "content": content, "stop_reason": stop_reason(plan.stop), "stop_sequence": null,
        "usage": {"input_tokens": plan.usage.input, "output_tokens": plan.usage.output},
    })
}

/// The Messages streaming events, as Bedrock relays them.
pub fn events(plan: &Plan) -> Vec<Event> {
    let size = plan.timing.chunk_size;
    let mut out = vec![Event::control(json!({"type": "message_start", "message": {
        "id": message_id(plan), "type": "message", "role": "assistant", "model": plan.model,
        "content": [], "stop_reason": null, "stop_sequence": null,
        "usage": {"input_tokens": plan.usage.input, "output_tokens": 1},
    }}))];
    let delta = |i: usize, d: Value| json!({"type": "content_block_delta", "index": i, "delta": d});
    for (i, b) in plan.blocks.iter().enumerate() {
        let (start, deltas): (Value, Vec<Value>) = match b {
            Block::Text(t) => (
                json!({"type": "text", "text": ""}),
                chunk_text(t, size)
                    .into_iter()
                    .map(|p| json!({"type": "text_delta", "text": p}))
                    .collect(),
            ),
            Block::Reasoning { text, signature } => {
                let mut d: Vec<Value> = chunk_text(text, size)
                    .into_iter()
                    .map(|p| json!({"type": "thinking_delta", "thinking": p}))
                    .collect();
                if let Some(sig) = signature {
                    d.push(json!({"type": "signature_delta", "signature": sig}));
                }
                (json!({"type": "thinking", "thinking": ""}), d)
            }
            Block::ToolCall { id, name, arguments } => (
                json!({"type": "tool_use", "id": id, "name": name, "input": {}}),
                chunk_text(arguments, size)
                    .into_iter()
                    .map(|p| json!({"type": "input_json_delta", "partial_json": p}))
                    .collect(),
            ),
        };
        out.push(Event::control(
            json!({"type": "content_block_start", "index": i, "content_block": start}),
        ));
        out.extend(deltas.into_iter().map(|d| Event::content(delta(i, d))));
        out.push(Event::control(json!({"type": "content_block_stop", "index": i})));
    }
    out.push(Event::control(json!({
        "type": "message_delta",
        "delta": {"stop_reason": stop_reason(plan.stop), "stop_sequence": null},
        "usage": {"output_tokens": plan.usage.output},
    })));
    out.push(Event::control(json!({"type": "message_stop"})));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conversation::Protocol;

    #[test]
    fn the_keys_bedrock_requires_are_required() {
        for missing in ["anthropic_version", "max_tokens", "messages"] {
            let mut body = json!({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 10,
                "messages": [{"role": "user", "content": "hi"}]});
            body.as_object_mut().unwrap().remove(missing);
            let mut c = Conversation::new(Protocol::Bedrock, "anthropic.claude-3-haiku-20240307-v1:0");
            let err = decode(&body, &mut c).unwrap_err();
            assert!(
                err.0
                    .message
                    .contains(&format!("required key [{missing}] not found")),
                "{}",
                err.0.message
            );
        }
    }

    #[test]
    fn tool_results_and_string_or_block_content_decode() {
        let mut c = Conversation::new(Protocol::Bedrock, "anthropic.claude-3-haiku-20240307-v1:0");
        decode(
            &json!({
                "anthropic_version": "bedrock-2023-05-31", "max_tokens": 100,
                "system": "be brief",
                "tools": [{"name": "get_weather", "input_schema": {"type": "object"}}],
                "messages": [
                    {"role": "user", "content": "weather?"},
                    {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "get_weather", "input": {}}]},
                    {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": [{"type": "text", "text": "sunny"}]}]}
                ]
            }),
            &mut c,
        )
        .unwrap();
        assert_eq!(c.system, vec!["be brief"]);
        assert_eq!(c.tools, vec!["get_weather"]);
        assert!(c.has_tool_result());
        assert_eq!(c.last_tool_result().unwrap().text, "sunny");
    }
}
