//! Cohere Command R / R+ chat (`{"message", "chat_history", "preamble", "tools", "tool_results"}`):
//! answers `text`, `finish_reason` and `tool_calls`; streams `stream-start`, `text-generation`,
//! `tool-calls-generation` and `stream-end` events.

use serde::Deserialize;
use serde_json::{Value, json};

use super::{Event, plan_text};
use crate::conversation::{Conversation, Message, Role};
use crate::plan::{Block, Plan, StopReason, chunk_text};
use crate::routes::bedrock::{BedrockError, from_value};

#[derive(Deserialize)]
struct Request {
    message: String,
    #[serde(default)]
    chat_history: Vec<Turn>,
    #[serde(default)]
    preamble: Option<String>,
    #[serde(default)]
    tools: Vec<ToolDef>,
    #[serde(default)]
    tool_results: Vec<ToolResult>,
}

#[derive(Deserialize)]
struct Turn {
    role: String,
    #[serde(default)]
    message: String,
}

#[derive(Deserialize)]
struct ToolDef {
    name: String,
}

#[derive(Deserialize)]
struct ToolResult {
    call: ToolCall,
    #[serde(default)]
    outputs: Vec<Value>,
}

#[derive(Deserialize)]
struct ToolCall {
    name: String,
}

/// Reads a Command R request; tool results (Cohere has no call ids) are keyed by tool name.
pub fn decode(body: &Value, c: &mut Conversation) -> Result<(), BedrockError> {
    let req: Request = from_value(body)?;
    c.system.extend(req.preamble);
    c.tools = req.tools.into_iter().map(|t| t.name).collect();
    for t in req.chat_history {
        let role = match t.role.as_str() {
            "CHATBOT" => Role::Assistant,
            "SYSTEM" => {
                c.system.push(t.message);
                continue;
            }
            _ => Role::User,
        };
        c.messages.push(Message::text(role, t.message));
    }
    // With tool results Cohere repeats the user's message (or sends it empty): the results are the turn.
    if !req.message.is_empty() || req.tool_results.is_empty() {
        c.messages.push(Message::text(Role::User, req.message));
    }
    for r in req.tool_results {
        let outputs: Vec<String> = r.outputs.iter().map(Value::to_string).collect();
        c.messages
            .push(Message::tool_result(r.call.name, outputs.join("\n")));
    }
    Ok(())
}

fn finish_reason(s: StopReason) -> &'static str {
    match s {
        StopReason::EndTurn | StopReason::ToolUse | StopReason::StopSequence | StopReason::Refusal => {
            "COMPLETE"
        }
        StopReason::MaxTokens => "MAX_TOKENS",
        StopReason::ContentFilter => "ERROR_TOXIC",
    }
}

fn tool_calls(plan: &Plan) -> Vec<Value> {
    plan.blocks
        .iter()
        .filter_map(|b| match b {
            Block::ToolCall { name, arguments, .. } => Some(json!({
                "name": name, "parameters": crate::routes::bedrock::converse::tool_input(arguments),
            })),
            _ => None,
        })
        .collect()
}

/// The InvokeModel response body.
pub fn body(plan: &Plan) -> Value {
    let id = plan.id.clone().unwrap_or_else(|| crate::ids::uuid().to_string());
    let mut out = json!({
        "response_id": id, "generation_id": crate::ids::uuid().to_string(),
        "text": plan_text(plan), "finish_reason": finish_reason(plan.stop), "chat_history": [],
        "meta": {"billed_units": {"input_tokens": plan.usage.input, "output_tokens": plan.usage.output}},
    });
    let calls = tool_calls(plan);
    if !calls.is_empty() {
        out["tool_calls"] = json!(calls);
    }
    out
}

/// Command R's streaming events.
pub fn events(plan: &Plan) -> Vec<Event> {
    let generation_id = crate::ids::uuid().to_string();
    let mut out = vec![Event::control(
        json!({"is_finished": false, "event_type": "stream-start", "generation_id": generation_id}),
    )];
    out.extend(
        chunk_text(&plan_text(plan), plan.timing.chunk_size)
            .into_iter()
            .map(|p| {
                Event::content(json!({"is_finished": false, "event_type": "text-generation", "text": p}))
            }),
    );
    let calls = tool_calls(plan);
    if !calls.is_empty() {
        out.push(Event::content(json!({
            "is_finished": false, "event_type": "tool-calls-generation", "tool_calls": calls,
        })));
    }
    out.push(Event::control(json!({
        "is_finished": true, "event_type": "stream-end", "finish_reason": finish_reason(plan.stop),
        "response": body(plan),
    })));
    out
}
