//! InvokeModel and InvokeModelWithResponseStream: the body is the model family's own JSON.
//!
//! The family comes from the model id (after stripping an ARN prefix and an inference-profile region
//! prefix such as `us.`), falling back to the body's shape for ids that name no provider (application
//! inference profiles, custom models). Each family module decodes its request into the conversation and
//! encodes a plan as its response body and its own streaming events; this module wraps those events as
//! Bedrock `chunk` frames (`{"bytes": "<base64>"}`), adds `amazon-bedrock-invocationMetrics` to the last
//! one, and sets the token-count and latency headers. A request naming a guardrail
//! (`X-Amzn-Bedrock-GuardrailIdentifier`) gets the fixture's verdict through [`super::guardrail`].

pub mod anthropic;
pub mod cohere;
pub mod embed;
pub mod llama;
pub mod mistral;
pub mod nova;
pub mod titan;

use std::time::Instant;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde_json::{Value, json};

use super::guardrail::{self, Guard, Verdict};
use super::{Bedrock, BedrockError, EVENT_STREAM, event_frame, latency_ms, model_id};
use crate::conversation::{Conversation, Protocol};
use crate::plan::Plan;
use crate::state::SharedState;
use crate::stream::Frame;
use crate::wire::{Reply, labelled, respond};

/// A model family's request/response dialect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// Anthropic Messages API (`anthropic.claude-*`).
    Anthropic,
    /// Amazon Nova (`amazon.nova-*`), Converse-shaped messages.
    Nova,
    /// Amazon Titan Text (`amazon.titan-text-*`).
    Titan,
    /// Meta Llama (`meta.llama*`).
    Llama,
    /// Mistral text completion (`{"prompt"}`).
    Mistral,
    /// Mistral chat completion (`{"messages"}`, Mistral Large 2 and later).
    MistralChat,
    /// Cohere Command R / R+ chat (`cohere.command-r*`).
    Cohere,
}

/// The model part of an id: ARNs lose everything up to their last `/`, inference profiles their
/// region-group prefix (`us.`, `eu.`, `apac.`, `global.` …).
pub fn base_model(id: &str) -> &str {
    let id = if id.starts_with("arn:") {
        id.rsplit('/').next().unwrap_or(id)
    } else {
        id
    };
    match id.split_once('.') {
        Some((prefix, rest)) if !prefix.is_empty() && PROVIDERS.iter().any(|p| rest.starts_with(p)) => rest,
        _ => id,
    }
}

const PROVIDERS: &[&str] = &["anthropic.", "amazon.", "meta.", "mistral.", "cohere."];

impl Family {
    /// The family a model id names, if any.
    pub fn from_model(id: &str) -> Option<Self> {
        let m = base_model(id);
        Some(if m.starts_with("anthropic.") {
            Family::Anthropic
        } else if m.starts_with("amazon.nova") {
            Family::Nova
        } else if m.starts_with("amazon.titan-text") || m.starts_with("amazon.titan-tg1") {
            Family::Titan
        } else if m.starts_with("meta.llama") {
            Family::Llama
        } else if m.starts_with("mistral.") {
            Family::Mistral
        } else if m.starts_with("cohere.command-r") {
            Family::Cohere
        } else {
            return None;
        })
    }

    /// The family a request body's shape implies (for ids that name no provider).
    pub fn from_body(body: &Value) -> Option<Self> {
        let has = |k: &str| body.get(k).is_some();
        Some(if has("anthropic_version") {
            Family::Anthropic
        } else if has("schemaVersion") || (has("messages") && has("inferenceConfig")) {
            Family::Nova
        } else if has("messages") {
            Family::Anthropic
        } else if has("inputText") {
            Family::Titan
        } else if has("message") {
            Family::Cohere
        } else if has("prompt") {
            Family::Llama
        } else {
            return None;
        })
    }

    /// Its request schema's name in `server/data/bedrock-model-bodies.json` (`validate::family`).
    fn schema(self) -> &'static str {
        match self {
            Family::Anthropic => "anthropic",
            Family::Nova => "nova",
            Family::Titan => "titan",
            Family::Llama => "llama",
            Family::Mistral => "mistral",
            // The chat dialect is read by the Chat Completions codec, which names bad fields itself.
            Family::MistralChat => "mistral-chat",
            Family::Cohere => "cohere",
        }
    }

    /// Decodes the body into the conversation.
    fn decode(self, body: &Value, c: &mut Conversation) -> Result<(), BedrockError> {
        match self {
            Family::Anthropic => anthropic::decode(body, c),
            Family::Nova => nova::decode(body, c),
            Family::Titan => titan::decode(body, c),
            Family::Llama => llama::decode(body, c),
            Family::Mistral | Family::MistralChat => mistral::decode(body, c),
            Family::Cohere => cohere::decode(body, c),
        }
    }

    /// The InvokeModel response body.
    pub(super) fn body(self, plan: &Plan) -> Value {
        match self {
            Family::Anthropic => anthropic::body(plan),
            Family::Nova => nova::body(plan),
            Family::Titan => titan::body(plan),
            Family::Llama => llama::body(plan),
            Family::Mistral => mistral::body(plan, false),
            Family::MistralChat => mistral::body(plan, true),
            Family::Cohere => cohere::body(plan),
        }
    }

    /// The family's own streaming events.
    fn events(self, plan: &Plan) -> Vec<Event> {
        match self {
            Family::Anthropic => anthropic::events(plan),
            Family::Nova => nova::events(plan),
            Family::Titan => titan::events(plan),
            Family::Llama => llama::events(plan),
            Family::Mistral => mistral::events(plan, false),
            Family::MistralChat => mistral::events(plan, true),
            Family::Cohere => cohere::events(plan),
        }
    }
}

/// One streaming event of a family, before Bedrock wraps it in a `chunk`.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// The family's JSON.
    pub json: Value,
    /// Whether it carries generated content (for timing and `errorAfterChunks`).
    pub content: bool,
}

impl Event {
    /// A content event.
    pub fn content(json: Value) -> Self {
        Event { json, content: true }
    }
    /// A bookkeeping event.
    pub fn control(json: Value) -> Self {
        Event { json, content: false }
    }
}

/// A Bedrock `chunk` frame: `{"bytes": base64(event JSON)}`.
fn chunk(json: &Value) -> Result<Bytes, BedrockError> {
    let b64 = base64::engine::general_purpose::STANDARD.encode(json.to_string());
    event_frame("chunk", &json!({"bytes": b64}))
}

/// Reads an InvokeModel body: any JSON object.
fn read_body(
    model: &str,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
    stream: bool,
) -> Result<(Conversation, Value), BedrockError> {
    let mut c = Conversation::new(Protocol::Bedrock, model).with_headers(headers);
    c.stream = stream;
    c.guardrail = Guard::from_headers(headers).map(|g| g.identifier);
    let body = super::body_bytes(body)?;
    let value: Value = super::parse_json(&body)?;
    if !value.is_object() {
        return Err(BedrockError::validation(
            "Malformed input request: the body must be a JSON object",
        ));
    }
    Ok((c, value))
}

/// Decodes an InvokeModel body, read by the family's decoder.
pub(super) fn decode(
    model: &str,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
    stream: bool,
    lenient: bool,
) -> Result<(Conversation, Family), BedrockError> {
    let (mut c, value) = read_body(model, headers, body, stream)?;
    // The body decides only for ids that name no model (application inference profiles, custom and
    // imported model ARNs): a `provider.model` id of a family mockmodel does not speak (ai21, deepseek,
    // openai …) must not be answered in another family's dialect.
    let names_a_model = base_model(&c.model).contains('.');
    let family = Family::from_model(&c.model)
        .or_else(|| if names_a_model { None } else { Family::from_body(&value) })
        .ok_or_else(|| {
            BedrockError::validation(format!(
                "The provided model identifier {:?} names no model family mockmodel's InvokeModel speaks (anthropic, amazon.nova, amazon.titan-text, amazon.titan-embed, meta.llama, mistral, cohere.command-r, cohere.embed); Converse answers any model id",
                c.model
            ))
        })?;
    let family = if family == Family::Mistral && value.get("messages").is_some() {
        Family::MistralChat
    } else {
        family
    };
    if !lenient {
        crate::validate::family::check(family.schema(), &value).map_err(BedrockError::validation)?;
    }
    family.decode(&value, &mut c)?;
    Ok((c, family))
}

/// `amazon-bedrock-invocationMetrics`, added by Bedrock to the last streamed event of every family.
fn invocation_metrics(plan: &Plan, latency: u64) -> Value {
    json!({
        "inputTokenCount": plan.usage.input,
        "outputTokenCount": plan.usage.output,
        "invocationLatency": latency,
        "firstByteLatency": latency,
    })
}

/// `POST /model/{modelId}/invoke`.
pub async fn invoke(
    State(state): State<SharedState>,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let started = Instant::now();
    let model = match model_id(path) {
        Ok(m) => m,
        Err(e) => return e.into_response(),
    };
    if let Err(e) = super::validate(&state, "InvokeModel", &model, &headers, None) {
        return labelled(e.into_response(), &model);
    }
    if let Some(family) = embed::EmbedFamily::from_model(&model) {
        let res = read_body(&model, &headers, body, false)
            .and_then(|(c, value)| embed::answer(family, &state, c, &value))
            .map(|(json, tokens)| {
                let mut res = axum::Json(json).into_response();
                let h = res.headers_mut();
                h.insert("x-amzn-bedrock-input-token-count", HeaderValue::from(tokens));
                h.insert(
                    "x-amzn-bedrock-invocation-latency",
                    HeaderValue::from(latency_ms(started)),
                );
                res
            });
        return labelled(res.unwrap_or_else(IntoResponse::into_response), &model);
    }
    let (c, family) = match decode(&model, &headers, body, false, state.config.lenient) {
        Ok(d) => d,
        Err(e) => return labelled(e.into_response(), &model),
    };
    let guard = Guard::from_headers(&headers);
    respond(state, &Bedrock { invoke: true }, c, "InvokeModel", |plan, _| {
        let verdict = guardrail::verdict(guard.as_ref(), plan);
        let mut body = family.body(&guardrail::sent(verdict.as_ref(), plan));
        if let (Some(v), Some(obj)) = (&verdict, body.as_object_mut()) {
            obj.extend(v.invoke_members());
        }
        Ok(Reply::json(body)
            .header("x-amzn-bedrock-input-token-count", plan.usage.input)
            .header("x-amzn-bedrock-output-token-count", plan.usage.output)
            .header("x-amzn-bedrock-invocation-latency", latency_ms(started)))
    })
    .await
}

/// `POST /model/{modelId}/invoke-with-response-stream`.
pub async fn invoke_stream(
    State(state): State<SharedState>,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let started = Instant::now();
    let model = match model_id(path) {
        Ok(m) => m,
        Err(e) => return e.into_response(),
    };
    let decoded = if let Err(e) =
        super::validate(&state, "InvokeModelWithResponseStream", &model, &headers, None)
    {
        Err(e)
    } else if embed::EmbedFamily::from_model(&model).is_some() {
        Err(BedrockError::validation(format!(
            "The model {model} is an embedding model and does not support InvokeModelWithResponseStream; call InvokeModel"
        )))
    } else {
        decode(&model, &headers, body, true, state.config.lenient)
    };
    let (c, family) = match decoded {
        Ok(d) => d,
        Err(e) => return labelled(e.into_response(), &model),
    };
    let guard = Guard::from_headers(&headers);
    respond(
        state,
        &Bedrock { invoke: true },
        c,
        "InvokeModelWithResponseStream",
        |plan, _| {
            let latency = latency_ms(started) + plan.timing.latency_ms;
            let verdict = guardrail::verdict(guard.as_ref(), plan);
            Ok(Reply::stream(
                chunk_frames(family, plan, latency, verdict.as_ref())?,
                EVENT_STREAM,
            )
            .header(
                "x-amzn-bedrock-content-type",
                HeaderValue::from_static("application/json"),
            ))
        },
    )
    .await
}

/// The family's streaming events as `chunk` frames, the last one carrying the invocation metrics
/// (and a guardrail's action, with its trace when asked for).
fn chunk_frames(
    family: Family,
    plan: &Plan,
    latency: u64,
    verdict: Option<&Verdict>,
) -> Result<Vec<Frame>, BedrockError> {
    let mut events = family.events(&guardrail::sent(verdict, plan));
    if let Some(last) = events.last_mut()
        && let Some(obj) = last.json.as_object_mut()
    {
        obj.insert(
            "amazon-bedrock-invocationMetrics".into(),
            invocation_metrics(plan, latency),
        );
        if let Some(v) = verdict {
            obj.extend(v.invoke_members());
        }
    }
    events
        .iter()
        .map(|e| {
            chunk(&e.json).map(|b| {
                if e.content {
                    Frame::content(b)
                } else {
                    Frame::control(b)
                }
            })
        })
        .collect()
}

/// Text of the plan's text blocks, concatenated (families without content blocks send only this).
pub fn plan_text(plan: &Plan) -> String {
    plan.blocks
        .iter()
        .filter_map(|b| match b {
            crate::plan::Block::Text(t) => Some(t.as_str()),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_come_from_plain_ids_inference_profiles_and_arns() {
        for (id, family) in [
            ("anthropic.claude-3-5-sonnet-20240620-v1:0", Family::Anthropic),
            ("us.anthropic.claude-sonnet-4-20250514-v1:0", Family::Anthropic),
            (
                "arn:aws:bedrock:us-east-1:123456789012:inference-profile/eu.anthropic.claude-3-haiku-20240307-v1:0",
                Family::Anthropic,
            ),
            ("us.amazon.nova-lite-v1:0", Family::Nova),
            ("amazon.titan-text-express-v1", Family::Titan),
            ("meta.llama3-8b-instruct-v1:0", Family::Llama),
            ("us.meta.llama3-2-1b-instruct-v1:0", Family::Llama),
            ("mistral.mistral-7b-instruct-v0:2", Family::Mistral),
            ("cohere.command-r-plus-v1:0", Family::Cohere),
        ] {
            assert_eq!(Family::from_model(id), Some(family), "{id}");
        }
        assert_eq!(Family::from_model("cohere.embed-english-v3"), None);
        assert!(
            base_model("arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/a1b2c3")
                .find('.')
                .is_none()
        );
        assert!(base_model("us.deepseek.r1-v1:0").contains('.'));
        assert_eq!(
            Family::from_body(&json!({"inputText": "hi"})),
            Some(Family::Titan)
        );
    }
}
