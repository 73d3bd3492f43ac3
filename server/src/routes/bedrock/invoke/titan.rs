//! Amazon Titan Text (`{"inputText", "textGenerationConfig"}`): one prompt string in, `results[]` out;
//! each streamed chunk carries `outputText` and `completionReason` (null until the last).

use serde::Deserialize;
use serde_json::{Value, json};

use super::{Event, plan_text};
use crate::conversation::{Conversation, Message, Role};
use crate::plan::{Plan, StopReason, chunk_text};
use crate::routes::bedrock::{BedrockError, from_value};
use crate::tokens::estimate_tokens;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Request {
    input_text: String,
}

/// Reads a Titan request: the whole prompt is the user message.
pub fn decode(body: &Value, c: &mut Conversation) -> Result<(), BedrockError> {
    let req: Request = from_value(body)?;
    c.messages.push(Message::text(Role::User, req.input_text));
    Ok(())
}

fn completion_reason(s: StopReason) -> &'static str {
    match s {
        StopReason::EndTurn | StopReason::ToolUse | StopReason::StopSequence => "FINISH",
        StopReason::MaxTokens => "LENGTH",
        StopReason::ContentFilter => "CONTENT_FILTERED",
    }
}

/// The InvokeModel response body.
pub fn body(plan: &Plan) -> Value {
    json!({
        "inputTextTokenCount": plan.usage.input,
        "results": [{
            "tokenCount": plan.usage.output,
            "outputText": plan_text(plan),
            "completionReason": completion_reason(plan.stop),
        }],
    })
}

/// Titan's streaming chunks.
pub fn events(plan: &Plan) -> Vec<Event> {
    let text = plan_text(plan);
    let mut pieces = chunk_text(&text, plan.timing.chunk_size);
    if pieces.is_empty() {
        pieces.push("");
    }
    let last = pieces.len() - 1;
    pieces
        .into_iter()
        .enumerate()
        .map(|(i, p)| {
            Event::content(json!({
                "outputText": p,
                "index": 0,
                "totalOutputTextTokenCount": if i == last { plan.usage.output } else { estimate_tokens(p.chars().count()) },
                "completionReason": if i == last { json!(completion_reason(plan.stop)) } else { Value::Null },
                "inputTextTokenCount": if i == 0 { json!(plan.usage.input) } else { Value::Null },
            }))
        })
        .collect()
}
