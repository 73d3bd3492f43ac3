//! Amazon Nova on InvokeModel (`schemaVersion: messages-v1`): the request uses Converse's message
//! shapes; the response is Converse-like and the stream events are Nova's own JSON objects keyed by
//! event name (`{"contentBlockDelta": {…}}`), which is correct here: they are the decoded chunk bytes,
//! not event-stream frames.

use serde_json::{Value, json};

use super::Event;
use crate::conversation::Conversation;
use crate::plan::{Block, Plan, chunk_text};
use crate::routes::bedrock::converse::{ConverseRequest, content_block};
use crate::routes::bedrock::{BedrockError, from_value};

/// Reads a Nova request (Converse message shapes).
pub fn decode(body: &Value, c: &mut Conversation) -> Result<(), BedrockError> {
    let req: ConverseRequest = from_value(body)?;
    req.decode_into(c);
    Ok(())
}

fn usage(plan: &Plan) -> Value {
    json!({
        "inputTokens": plan.usage.uncached_input(), "outputTokens": plan.usage.output, "totalTokens": plan.usage.total,
        "cacheReadInputTokenCount": plan.usage.cache_read, "cacheWriteInputTokenCount": plan.usage.cache_write,
    })
}

/// The InvokeModel response body.
pub fn body(plan: &Plan) -> Value {
    let content: Vec<Value> = plan.blocks.iter().map(content_block).collect();
    json!({
        "output": {"message": {"role": "assistant", "content": content}},
        "stopReason": crate::routes::bedrock::stop_reason(plan.stop),
        "usage": usage(plan),
    })
}

/// Nova's streaming events.
pub fn events(plan: &Plan) -> Vec<Event> {
    let size = plan.timing.chunk_size;
    let mut out = vec![Event::control(json!({"messageStart": {"role": "assistant"}}))];
    let delta = |i: usize, d: Value| json!({"contentBlockDelta": {"delta": d, "contentBlockIndex": i}});
    for (i, b) in plan.blocks.iter().enumerate() {
        match b {
            Block::Text(t) => {
                out.extend(
                    chunk_text(t, size)
                        .into_iter()
                        .map(|p| Event::content(delta(i, json!({"text": p})))),
                );
            }
            Block::Reasoning { text, .. } => {
                out.extend(
                    chunk_text(text, size)
                        .into_iter()
                        .map(|p| Event::content(delta(i, json!({"reasoningContent": {"text": p}})))),
                );
            }
            Block::ToolCall { id, name, arguments } => {
                out.push(Event::control(json!({"contentBlockStart": {
                    "start": {"toolUse": {"toolUseId": id, "name": name}}, "contentBlockIndex": i,
                }})));
                out.push(Event::content(delta(i, json!({"toolUse": {"input": arguments}}))));
            }
        }
        out.push(Event::control(
            json!({"contentBlockStop": {"contentBlockIndex": i}}),
        ));
    }
    out.push(Event::control(
        json!({"messageStop": {"stopReason": crate::routes::bedrock::stop_reason(plan.stop)}}),
    ));
    out.push(Event::control(
        json!({"metadata": {"usage": usage(plan), "metrics": {}, "trace": {}}}),
    ));
    out
}
