//! ApplyGuardrail (`POST /guardrail/{guardrailIdentifier}/version/{guardrailVersion}/apply`): a
//! fixture's verdict on the content's text, matched like a user message (`userMessage`,
//! `guardrailId`, `operation: ApplyGuardrail`).
//!
//! A guardrail no fixture's `match.guardrailId` names does not exist: `ResourceNotFoundException`.
//! A known guardrail with no matching fixture lets the content through (`action: NONE`), as a real
//! guardrail does with content none of its policies flags.

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::super::BedrockError;
use crate::conversation::{Conversation, Message, Protocol, Role};
use crate::plan::{Guardrail, Outcome};
use crate::state::SharedState;
use crate::wire::labelled;

/// The ApplyGuardrail body members that matter (botocore `ApplyGuardrailRequest`; images are
/// accepted and not matched).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ApplyRequest {
    content: Vec<ContentBlock>,
    /// `FULL` also returns content the guardrail let through.
    #[serde(default)]
    output_scope: Option<String>,
}

/// `GuardrailContentBlock` (a union of `text` and `image`).
#[derive(Deserialize)]
struct ContentBlock {
    #[serde(default)]
    text: Option<TextBlock>,
}

/// `GuardrailTextBlock`.
#[derive(Deserialize)]
struct TextBlock {
    text: String,
}

/// `POST /guardrail/{guardrailIdentifier}/version/{guardrailVersion}/apply`.
pub async fn apply_guardrail(
    State(state): State<SharedState>,
    path: Result<Path<(String, String)>, PathRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let (id, version) = match path {
        Ok(Path(p)) => p,
        Err(e) => return BedrockError::validation(format!("Invalid path: {e}")).into_response(),
    };
    let res = answer(&state, &id, &version, &headers, body).await;
    labelled(res.unwrap_or_else(IntoResponse::into_response), &id)
}

async fn answer(
    state: &SharedState,
    id: &str,
    version: &str,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, BedrockError> {
    let body = super::super::body_bytes(body)?;
    let value: Value = super::super::parse_json(&body)?;
    super::super::validate_labels(
        state,
        "ApplyGuardrail",
        &[("guardrailIdentifier", id), ("guardrailVersion", version)],
        headers,
        Some(&value),
    )?;
    let req: ApplyRequest = super::super::from_value(&value)?;
    if !state.fixtures.load().names_guardrail(id) {
        return Err(BedrockError::not_found(format!(
            "The guardrail {id} (version {version}) was not found. Check the guardrail identifier and version and try again."
        )));
    }
    let texts: Vec<&str> = req
        .content
        .iter()
        .filter_map(|b| b.text.as_ref().map(|t| t.text.as_str()))
        .collect();
    let mut c = Conversation::new(Protocol::Bedrock, id).with_headers(headers);
    c.guardrail = Some(id.to_string());
    c.messages.push(Message::text(Role::User, texts.join("\n")));
    let verdict = match state.resolve(&c, "ApplyGuardrail") {
        Ok(Outcome::Message(plan)) => {
            plan.delay().await;
            plan.guardrail
        }
        Ok(Outcome::Error(e)) => return Err(BedrockError::from_plan(&e, id)),
        Ok(Outcome::Embedding(_)) => return Err(BedrockError::embedding_fixture()),
        Err(_) => None,
    };
    let full = req.output_scope.as_deref() == Some("FULL");
    Ok(axum::Json(body_of(verdict.as_deref(), &texts, full)).into_response())
}

/// The `ApplyGuardrailResponse`: `outputs` carry an intervention's text (or, with `outputScope:
/// FULL`, the content let through); unset usage members count text units (1,000 characters each,
/// at least one) for every policy an assessment names; coverage counts every character.
fn body_of(g: Option<&Guardrail>, texts: &[&str], full: bool) -> Value {
    let chars: usize = texts.iter().map(|t| t.chars().count()).sum();
    let intervened = g.is_some_and(|g| g.intervened);
    let outputs: Vec<Value> = match g.and_then(|g| g.output.as_ref()) {
        Some(out) if intervened => vec![json!({"text": out})],
        _ if full => texts.iter().map(|t| json!({"text": t})).collect(),
        _ => Vec::new(),
    };
    let assessments = g.map(|g| g.assessments.clone()).unwrap_or_default();
    let units = chars.div_ceil(1000).max(1);
    let policy_units = |policy: &str| {
        if assessments.iter().any(|a| a.get(policy).is_some()) {
            units
        } else {
            0
        }
    };
    let mut usage = json!({
        "topicPolicyUnits": policy_units("topicPolicy"),
        "contentPolicyUnits": policy_units("contentPolicy"),
        "wordPolicyUnits": policy_units("wordPolicy"),
        "sensitiveInformationPolicyUnits": policy_units("sensitiveInformationPolicy"),
        "sensitiveInformationPolicyFreeUnits": 0,
        "contextualGroundingPolicyUnits": policy_units("contextualGroundingPolicy"),
    });
    if let (Some(u), Some(given)) = (
        usage.as_object_mut(),
        g.and_then(|g| g.usage.as_ref()).and_then(Value::as_object),
    ) {
        u.extend(given.clone());
    }
    let mut body = Map::new();
    body.insert("usage".into(), usage);
    body.insert(
        "action".into(),
        json!(if intervened {
            "GUARDRAIL_INTERVENED"
        } else {
            "NONE"
        }),
    );
    if let Some(reason) = g.and_then(|g| g.action_reason.as_ref()) {
        body.insert("actionReason".into(), json!(reason));
    }
    body.insert("outputs".into(), json!(outputs));
    body.insert("assessments".into(), json!(assessments));
    body.insert(
        "guardrailCoverage".into(),
        g.and_then(|g| g.coverage.clone())
            .unwrap_or_else(|| json!({"textCharacters": {"guarded": chars, "total": chars}})),
    );
    Value::Object(body)
}

impl BedrockError {
    /// A 404 `ResourceNotFoundException`.
    pub fn not_found(message: impl Into<String>) -> Self {
        let mut e = BedrockError::validation(message);
        e.0.status = StatusCode::NOT_FOUND;
        e.0.type_ = "ResourceNotFoundException";
        e
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_intervention_sends_its_output_and_counts_units_for_the_policies_it_names() {
        let g = Guardrail {
            intervened: true,
            output: Some("Sorry.".into()),
            on_output: false,
            assessments: vec![json!({"contentPolicy": {"filters": []}})],
            action_reason: Some("Guardrail blocked.".into()),
            usage: Some(json!({"wordPolicyUnits": 7})),
            coverage: None,
        };
        let b = body_of(Some(&g), &["a".repeat(1500).as_str()], false);
        assert_eq!(b["action"], "GUARDRAIL_INTERVENED");
        assert_eq!(b["outputs"], json!([{"text": "Sorry."}]));
        assert_eq!(b["usage"]["contentPolicyUnits"], 2);
        assert_eq!(b["usage"]["topicPolicyUnits"], 0);
        assert_eq!(b["usage"]["wordPolicyUnits"], 7);
        assert_eq!(b["actionReason"], "Guardrail blocked.");
        assert_eq!(b["guardrailCoverage"]["textCharacters"]["total"], 1500);
    }

    #[test]
    fn nothing_flagged_is_none_with_no_outputs_unless_the_full_scope_is_asked() {
        let b = body_of(None, &["fine"], false);
        assert_eq!(b["action"], "NONE");
        assert_eq!(b["outputs"], json!([]));
        assert_eq!(b["assessments"], json!([]));
        assert_eq!(
            body_of(None, &["fine"], true)["outputs"],
            json!([{"text": "fine"}])
        );
    }
}
