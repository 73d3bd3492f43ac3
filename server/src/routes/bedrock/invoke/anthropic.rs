//! Anthropic Messages API on Bedrock (`anthropic_version: bedrock-2023-05-31`): a thin adapter
//! over the shared Messages codec (`codec::anthropic_messages`). Bedrock's own parts stay here:
//! its required keys and error words, the model in the URL rather than the body, and its `chunk`
//! framing of the codec's stream events.

use serde_json::Value;

use super::Event;
use crate::codec::anthropic_messages::encode::{self, BEDROCK_INVOKE};
use crate::codec::anthropic_messages::{self as messages, Request};
use crate::conversation::Conversation;
use crate::plan::Plan;
use crate::routes::bedrock::{BedrockError, from_value};

/// Reads an Anthropic Messages request.
pub fn decode(body: &Value, c: &mut Conversation) -> Result<(), BedrockError> {
    // Bedrock's schema check runs before the model does, in these words.
    if let Some(key) = messages::missing(body, &["anthropic_version", "max_tokens", "messages"]).first() {
        return Err(BedrockError::validation(format!(
            "Malformed input request: #: required key [{key}] not found, please reformat your input and try again."
        )));
    }
    let req: Request = from_value(body)?;
    messages::decode(&req, c).map_err(|e| {
        BedrockError::validation(format!(
            "messages.{}.role: Input should be 'user' or 'assistant', got {:?}",
            e.index, e.role
        ))
    })
}

/// The `message` response body.
pub fn body(plan: &Plan) -> Value {
    encode::body(plan, BEDROCK_INVOKE, &[])
}

/// The Messages streaming events, as Bedrock relays them (no `ping`).
pub fn events(plan: &Plan) -> Vec<Event> {
    encode::events(plan, BEDROCK_INVOKE, &[])
        .into_iter()
        .map(|e| {
            if e.content {
                Event::content(e.json)
            } else {
                Event::control(e.json)
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conversation::Protocol;
    use serde_json::json;

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
