//! The OpenAI Responses API codec: the `POST /responses` request and its decoding into a
//! [`Conversation`], shared by every route that accepts one (OpenAI's `/v1/responses`, Bedrock's
//! `/openai/v1/responses`). The response object and its typed SSE events are in [`encode`].
//!
//! A request may continue an earlier answer by id (`previous_response_id`): the caller passes the
//! store of answered turns, and [`remember`] records each answer there. Field names follow the
//! `openai` SDK's `types/responses` (the API's published schema).

mod encode;
mod request;
mod serve;

pub use encode::{error_event, events, response};
pub use request::ResponsesRequest;
pub use serve::{Responses, SSE, create, delete, retrieve};

use serde_json::Value;

use super::openai_error::OpenAiError;
use crate::conversation::{Conversation, Message, Role, ToolCallRef};
use crate::history::{History, Stored};
use crate::plan::{Block, Plan};

/// Input item types the API accepts; only messages and function calls and outputs steer matching.
const ITEM_TYPES: &[&str] = &[
    "message",
    "function_call",
    "function_call_output",
    "reasoning",
    "item_reference",
    "file_search_call",
    "computer_call",
    "computer_call_output",
    "web_search_call",
    "image_generation_call",
    "code_interpreter_call",
    "local_shell_call",
    "local_shell_call_output",
    "shell_call",
    "shell_call_output",
    "apply_patch_call",
    "apply_patch_call_output",
    "mcp_list_tools",
    "mcp_approval_request",
    "mcp_approval_response",
    "mcp_call",
    "custom_tool_call",
    "custom_tool_call_output",
    "compaction",
];

fn missing(param: &str) -> OpenAiError {
    OpenAiError::invalid(format!("Missing required parameter: '{param}'."), Some(param))
        .with_code("missing_required_parameter")
}

fn invalid_type(param: &str, expected: &str) -> OpenAiError {
    OpenAiError::invalid(
        format!("Invalid type for '{param}': expected {expected}."),
        Some(param),
    )
    .with_code("invalid_type")
}

/// The text of a message `content` or a call `output`: a string, or the `text` of its parts
/// (`input_text`, `output_text`), joined with `\n`; images and files carry none.
fn content_text(content: Option<&Value>, param: &str) -> Result<String, OpenAiError> {
    match content {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(Value::Array(parts)) => Ok(parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join("\n")),
        Some(_) => Err(invalid_type(param, "a string or an array of content parts")),
    }
}

fn required_str<'v>(item: &'v Value, field: &str, at: &str) -> Result<&'v str, OpenAiError> {
    match item.get(field) {
        Some(Value::String(s)) => Ok(s),
        None | Some(Value::Null) => Err(missing(&format!("{at}.{field}"))),
        Some(_) => Err(invalid_type(&format!("{at}.{field}"), "a string")),
    }
}

/// Decodes a request as the API does: `previous_response_id`'s conversation (from `history`)
/// first, then `instructions` as the system prompt (never carried over from earlier turns), then
/// the new input items. A request the API would refuse is a 400 naming the field (`param`).
pub fn decode(
    req: &ResponsesRequest,
    mut c: Conversation,
    history: &History,
) -> Result<Conversation, OpenAiError> {
    if req.model.as_deref().is_none_or(str::is_empty) {
        return Err(missing("model"));
    }
    c.stream = req.streamed();
    if let Some(id) = &req.previous_response_id {
        let Some(prev) = history.get(id) else {
            return Err(OpenAiError::invalid(
                format!("Previous response with id '{id}' not found."),
                Some("previous_response_id"),
            )
            .with_code("previous_response_not_found"));
        };
        c.messages.extend(prev.messages.iter().cloned());
    }
    match &req.instructions {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) => c.system.push(s.clone()),
        Some(_) => return Err(invalid_type("instructions", "a string")),
    }
    for (i, tool) in req.tools.iter().flatten().enumerate() {
        // Function tools are named at the top level in Responses (not under `function`).
        if tool.get("type").and_then(Value::as_str) == Some("function") {
            let name = required_str(tool, "name", &format!("tools[{i}]"))?.to_string();
            if let Some(schema) = tool.get("parameters").filter(|p| p.is_object()) {
                c.tool_schemas.insert(name.clone(), schema.clone());
            }
            c.tools.push(name);
        }
    }
    c.response_format = req
        .text
        .as_ref()
        .and_then(|t| t.pointer("/format/type"))
        .and_then(Value::as_str)
        .map(str::to_string);
    match &req.input {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) => c.messages.push(Message::text(Role::User, s.clone())),
        Some(Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                input_item(&mut c, item, &format!("input[{i}]"))?;
            }
        }
        Some(_) => return Err(invalid_type("input", "a string or an array of input items")),
    }
    Ok(c)
}

/// Adds one input item. Function calls join the assistant message before them, so a replayed
/// turn counts once (`turnIndex`) whether it had text, calls or both.
fn input_item(c: &mut Conversation, item: &Value, at: &str) -> Result<(), OpenAiError> {
    if !item.is_object() {
        return Err(invalid_type(at, "an object"));
    }
    // Easy input messages (`{role, content}`) may omit `type`.
    let type_ = match item.get("type") {
        None | Some(Value::Null) => "message",
        Some(Value::String(t)) => t.as_str(),
        Some(_) => return Err(invalid_type(&format!("{at}.type"), "a string")),
    };
    match type_ {
        "message" => {
            let role = required_str(item, "role", at)?;
            let text = content_text(item.get("content"), &format!("{at}.content"))?;
            match role {
                "user" => c.messages.push(Message::text(Role::User, text)),
                "system" | "developer" => c.system.push(text),
                "assistant" => c.messages.push(Message::text(Role::Assistant, text)),
                other => {
                    return Err(OpenAiError::invalid(
                        format!(
                            "Invalid value: '{other}'. Supported values are: 'assistant', 'system', 'developer', and 'user'."
                        ),
                        Some(&format!("{at}.role")),
                    )
                    .with_code("invalid_value"));
                }
            }
        }
        "function_call" => {
            let call = ToolCallRef {
                id: required_str(item, "call_id", at)?.to_string(),
                name: required_str(item, "name", at)?.to_string(),
                arguments: required_str(item, "arguments", at)?.to_string(),
            };
            match c.messages.last_mut() {
                Some(m) if m.role == Role::Assistant => m.tool_calls.push(call),
                _ => {
                    let mut m = Message::text(Role::Assistant, "");
                    m.tool_calls.push(call);
                    c.messages.push(m);
                }
            }
        }
        "function_call_output" => {
            let call_id = required_str(item, "call_id", at)?;
            let output = match item.get("output") {
                None | Some(Value::Null) => return Err(missing(&format!("{at}.output"))),
                o => content_text(o, &format!("{at}.output"))?,
            };
            c.messages.push(Message::tool_result(call_id, output));
        }
        // Reasoning, references and built-in tool items carry nothing fixtures match on.
        t if ITEM_TYPES.contains(&t) => {}
        other => {
            return Err(OpenAiError::invalid(
                format!(
                    "Invalid value: '{other}'. Supported values are: {}.",
                    ITEM_TYPES.join(", ")
                ),
                Some(&format!("{at}.type")),
            )
            .with_code("invalid_value"));
        }
    }
    Ok(())
}

/// The assistant's turn in a plan, as the neutral message the next request continues from.
pub fn answer_message(plan: &Plan) -> Message {
    let mut m = Message::text(Role::Assistant, "");
    let mut texts = Vec::new();
    for b in &plan.blocks {
        match b {
            Block::Text(t) => texts.push(t.as_str()),
            Block::ToolCall { id, name, arguments } => m.tool_calls.push(ToolCallRef {
                id: id.clone(),
                name: name.clone(),
                arguments: arguments.clone(),
            }),
            Block::Reasoning { .. } => {}
        }
    }
    m.text = texts.join("\n");
    m
}

/// Keeps an answered request under its response id (`body["id"]`) when the request allows it
/// (`store`), so `previous_response_id` and retrieval find it.
pub fn remember(history: &History, req: &ResponsesRequest, c: &Conversation, plan: &Plan, body: &Value) {
    let Some(id) = body.get("id").and_then(Value::as_str) else {
        return;
    };
    if !req.stored() {
        return;
    }
    let mut messages = c.messages.clone();
    messages.push(answer_message(plan));
    history.insert(
        id,
        Stored {
            messages,
            body: body.clone(),
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conversation::Protocol;
    use serde_json::json;

    /// A plan answering with `blocks`.
    pub(super) fn plan(blocks: Vec<Block>, stop: crate::plan::StopReason) -> Plan {
        Plan {
            id: None,
            model: "gpt-4o".into(),
            created: Some(1_700_000_000),
            blocks,
            stop,
            usage: crate::plan::Usage {
                input: 5,
                output: 7,
                total: 12,
                ..Default::default()
            },
            timing: crate::plan::Timing {
                chunk_size: 4,
                ..Default::default()
            },
            system_fingerprint: None,
            speech: None,
            guardrail: None,
            guardrail_checks: None,
        }
    }

    fn req(v: Value) -> ResponsesRequest {
        serde_json::from_value(v).expect("a request")
    }

    fn decoded(v: Value, h: &History) -> Result<Conversation, OpenAiError> {
        decode(&req(v), Conversation::new(Protocol::OpenAi, "gpt-4o"), h)
    }

    #[test]
    fn a_string_input_and_instructions_become_a_user_message_and_a_system_prompt() {
        let c = decoded(
            json!({"model": "gpt-4o", "input": "hi", "instructions": "be brief"}),
            &History::default(),
        )
        .unwrap();
        assert_eq!(c.last_user_text(), Some("hi"));
        assert_eq!(c.system, vec!["be brief".to_string()]);
    }

    #[test]
    fn a_replayed_tool_turn_is_one_assistant_message_then_its_result() {
        let c = decoded(
            json!({"model": "m", "tools": [{"type": "function", "name": "get_forecast", "parameters": {}}],
                "input": [
                {"role": "user", "content": [{"type": "input_text", "text": "forecast?"}]},
                {"type": "reasoning", "id": "rs_1", "summary": []},
                {"type": "function_call", "call_id": "call_1", "name": "get_forecast", "arguments": "{}"},
                {"type": "function_call_output", "call_id": "call_1", "output": "sunny"}
            ]}),
            &History::default(),
        )
        .unwrap();
        assert_eq!(c.tools, vec!["get_forecast".to_string()]);
        assert_eq!(c.turn_index(), 1);
        assert!(c.has_tool_result());
        assert_eq!(c.messages[1].tool_calls[0].name, "get_forecast");
    }

    #[test]
    fn bad_items_are_refused_naming_the_field() {
        let h = History::default();
        let param = |v: Value| decoded(v, &h).unwrap_err().json()["error"]["param"].clone();
        assert_eq!(param(json!({"input": "x"})), json!("model"));
        assert_eq!(
            param(json!({"model": "m", "input": [{"type": "function_call_output", "output": "x"}]})),
            json!("input[0].call_id")
        );
        assert_eq!(
            param(json!({"model": "m", "input": [{"role": "robot", "content": "x"}]})),
            json!("input[0].role")
        );
        assert_eq!(
            param(json!({"model": "m", "previous_response_id": "resp_nope"})),
            json!("previous_response_id")
        );
    }

    #[test]
    fn a_previous_response_continues_its_conversation_and_store_false_is_not_kept() {
        let h = History::default();
        let first = req(json!({"model": "m", "input": "one"}));
        let c = decode(&first, Conversation::new(Protocol::OpenAi, "m"), &h).unwrap();
        let plan = plan(
            vec![Block::Text("answer".into())],
            crate::plan::StopReason::EndTurn,
        );
        remember(&h, &first, &c, &plan, &json!({"id": "resp_1"}));
        let c = decoded(
            json!({"model": "m", "input": "two", "previous_response_id": "resp_1"}),
            &h,
        )
        .unwrap();
        let texts: Vec<_> = c.messages.iter().map(|m| m.text.as_str()).collect();
        assert_eq!(texts, ["one", "answer", "two"]);
        let unstored = req(json!({"model": "m", "input": "x", "store": false}));
        remember(&h, &unstored, &c, &plan, &json!({"id": "resp_2"}));
        assert!(h.get("resp_2").is_none());
    }
}
