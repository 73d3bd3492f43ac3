//! InvokeGuardrailChecks (`POST /guardrail-checks/invoke`): a fixture's `guardrailChecks` results
//! for the messages, matched like a conversation (`userMessage`, `systemMessage`,
//! `operation: InvokeGuardrailChecks`). It names no guardrail: the checks run on their own.
//!
//! Only the checks the request asks for are answered; a check the fixture gives no results for, or
//! a request no fixture matches, finds nothing (`results: []`). Usage counts text units (1,000
//! characters each, at least one) for every check asked for.

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::super::BedrockError;
use crate::conversation::{Conversation, Message, Protocol, Role};
use crate::plan::Outcome;
use crate::state::SharedState;
use crate::wire::labelled;

/// The label requests carry in the journal and metrics (there is no model).
const LABEL: &str = "guardrail-checks";

/// botocore `InvokeGuardrailChecksRequest`.
#[derive(Deserialize)]
struct ChecksRequest {
    messages: Vec<ChecksMessage>,
    /// `GuardrailChecksConfig`: which checks to run (only the names are needed).
    checks: Map<String, Value>,
}

/// `GuardrailChecksMessage`.
#[derive(Deserialize)]
struct ChecksMessage {
    role: String,
    content: Vec<ChecksContent>,
}

/// `GuardrailChecksContentBlock` (a union whose only member is `text`).
#[derive(Deserialize)]
struct ChecksContent {
    #[serde(default)]
    text: Option<String>,
}

/// `POST /guardrail-checks/invoke`.
pub async fn invoke_guardrail_checks(
    State(state): State<SharedState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let res = answer(&state, &headers, body).await;
    labelled(res.unwrap_or_else(IntoResponse::into_response), LABEL)
}

async fn answer(
    state: &SharedState,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, BedrockError> {
    let body = super::super::body_bytes(body)?;
    let value: Value = super::super::parse_json(&body)?;
    super::super::validate_labels(state, "InvokeGuardrailChecks", &[], headers, Some(&value))?;
    let req: ChecksRequest = super::super::from_value(&value)?;
    let mut c = Conversation::new(Protocol::Bedrock, LABEL).with_headers(headers);
    let mut chars = 0;
    for m in &req.messages {
        let text = m
            .content
            .iter()
            .filter_map(|b| b.text.as_deref())
            .collect::<Vec<_>>()
            .join("\n");
        chars += text.chars().count();
        match m.role.as_str() {
            "system" => c.system.push(text),
            "assistant" => c.messages.push(Message::text(Role::Assistant, text)),
            _ => c.messages.push(Message::text(Role::User, text)),
        }
    }
    let found = match state.resolve(&c, "InvokeGuardrailChecks") {
        Ok(Outcome::Message(plan)) => {
            plan.delay().await;
            plan.guardrail_checks.map(|b| *b)
        }
        Ok(Outcome::Error(e)) => return Err(BedrockError::from_plan(&e, LABEL)),
        Ok(Outcome::Embedding(_)) => return Err(BedrockError::embedding_fixture()),
        Err(_) => None,
    };
    Ok(axum::Json(body_of(&req.checks, found.as_ref(), chars)).into_response())
}

/// The `InvokeGuardrailChecksResponse` for the checks asked for.
fn body_of(asked: &Map<String, Value>, found: Option<&Value>, chars: usize) -> Value {
    let units = chars.div_ceil(1000).max(1);
    let mut results = Map::new();
    let mut usage = Map::new();
    for check in asked.keys() {
        let result = found
            .and_then(|f| f.get(check))
            .cloned()
            .unwrap_or_else(|| json!({"results": []}));
        results.insert(check.clone(), result);
        usage.insert(check.clone(), json!({"textUnits": units}));
    }
    json!({"results": results, "usage": usage})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_checks_asked_for_are_answered_and_unfound_ones_are_empty() {
        let asked = json!({"contentFilter": {"categories": [{"category": "HATE"}]}, "promptAttack": {"categories": [{"category": "JAILBREAK"}]}});
        let found = json!({
            "promptAttack": {"results": [{"category": "JAILBREAK", "severityScore": 0.93}]},
            "sensitiveInformation": {"results": []},
        });
        let b = body_of(asked.as_object().unwrap(), Some(&found), 1200);
        assert_eq!(b["results"]["promptAttack"]["results"][0]["severityScore"], 0.93);
        assert_eq!(b["results"]["contentFilter"], json!({"results": []}));
        assert!(b["results"].get("sensitiveInformation").is_none());
        assert_eq!(b["usage"]["contentFilter"]["textUnits"], 2);
    }
}
