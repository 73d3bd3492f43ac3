//! SageMaker Runtime (restJson1, blob payloads): `InvokeEndpoint` and
//! `InvokeEndpointWithResponseStream`, plus the SageMaker container contract (`container.rs`).
//!
//! SageMaker never reads the body; the container behind the endpoint does. So this module only
//! handles what the service itself owns (the path, the `X-Amzn-SageMaker-*` headers, the error
//! types and the `PayloadPart` event stream) and hands the body to a payload format module:
//! `openai_format.rs` (TGI Messages API, DJL-LMI, vLLM) or `tgi.rs` (TGI generate). The error shape
//! is in `error.rs`, the PayloadPart and exception frames in `events.rs`.
//! Shapes follow botocore's `sagemaker-runtime/2017-05-13/service-2.json`.

mod container;
mod error;
mod events;
mod openai_format;
mod tgi;

pub use error::SageMakerError;

use std::str::FromStr;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::Value;

use crate::conversation::{Conversation, Protocol};
use crate::fixture::matcher::TARGET_VARIANT_HEADER;
use crate::plan::{Outcome, Plan, Timing};
use crate::routes::openai::with_model;
use crate::state::SharedState;
use crate::stream::{Frame, timed};

/// `x-Amzn-Invoked-Production-Variant` when the request names no variant (SageMaker's default name).
pub const DEFAULT_VARIANT: &str = "AllTraffic";
const CUSTOM_ATTRIBUTES: &str = "x-amzn-sagemaker-custom-attributes";

/// The SageMaker routes (service API and container contract).
pub fn routes() -> Router<SharedState> {
    Router::new()
        .route("/endpoints/{endpoint}/invocations", post(invoke_endpoint))
        .route(
            "/endpoints/{endpoint}/invocations-response-stream",
            post(invoke_endpoint_with_response_stream),
        )
        .merge(container::routes())
}

/// Which payload format an endpoint's container speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PayloadFormat {
    /// Detect from the body: `messages` is OpenAI chat, `inputs` is TGI generate.
    #[default]
    Auto,
    /// OpenAI chat completions (TGI Messages API, DJL-LMI, vLLM).
    OpenAi,
    /// Hugging Face TGI `generate`.
    Tgi,
}

impl FromStr for PayloadFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "auto" => Ok(PayloadFormat::Auto),
            "openai" => Ok(PayloadFormat::OpenAi),
            "tgi" => Ok(PayloadFormat::Tgi),
            other => Err(format!(
                "unknown SageMaker payload format {other:?}: expected auto, openai or tgi"
            )),
        }
    }
}

/// Parses a `--sagemaker-format` value: `ENDPOINT=FORMAT` (`*` for every endpoint) or just `FORMAT`.
pub fn parse_format_override(s: &str) -> Result<(String, PayloadFormat), String> {
    match s.rsplit_once('=') {
        Some((endpoint, format)) if !endpoint.is_empty() => Ok((endpoint.to_string(), format.parse()?)),
        _ => Ok(("*".to_string(), s.parse()?)),
    }
}

/// The format configured for an endpoint: its own entry, else `*`, else auto-detection.
fn configured_format(state: &SharedState, endpoint: &str) -> PayloadFormat {
    let formats = &state.config.sagemaker_formats;
    let find = |name: &str| formats.iter().find(|(e, _)| e == name).map(|(_, f)| *f);
    find(endpoint).or_else(|| find("*")).unwrap_or_default()
}

/// A request body decoded by its payload format.
pub(crate) struct Decoded {
    /// The neutral conversation (`model` is the endpoint name, `stream` what the body asked for).
    pub conversation: Conversation,
    /// How to encode the answer.
    pub payload: Payload,
}

/// The payload format of one request, with the options its answer depends on.
pub(crate) enum Payload {
    /// OpenAI chat; `include_usage` from `stream_options`.
    OpenAi { include_usage: bool },
    /// TGI generate.
    Tgi(tgi::Options),
}

impl Payload {
    /// The whole answer (InvokeEndpoint, or a container asked not to stream).
    fn body(&self, plan: &Plan) -> Value {
        match self {
            Payload::OpenAi { .. } => openai_format::body(plan),
            Payload::Tgi(o) => tgi::body(plan, o),
        }
    }

    /// The streamed answer: one complete SSE event per frame, so each PayloadPart holds one chunk.
    fn chunks(&self, plan: &Plan) -> Vec<Frame> {
        match self {
            Payload::OpenAi { include_usage } => openai_format::chunks(plan, *include_usage),
            Payload::Tgi(o) => tgi::chunks(plan, o),
        }
    }
}

/// Decodes a body for an endpoint: picks the format (configured, else detected) and parses it.
pub(crate) fn decode(
    body: &[u8],
    format: PayloadFormat,
    endpoint: &str,
    headers: &HeaderMap,
) -> Result<Decoded, SageMakerError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        SageMakerError::validation(format!(
            "Malformed request body: not JSON ({e}). Expected an OpenAI chat body {{\"messages\": [...]}} or a TGI generate body {{\"inputs\": \"...\"}}"
        ))
    })?;
    let format = match format {
        PayloadFormat::Auto if value.get("messages").is_some() => PayloadFormat::OpenAi,
        PayloadFormat::Auto if value.get("inputs").is_some() => PayloadFormat::Tgi,
        PayloadFormat::Auto => {
            return Err(SageMakerError::validation(
                "Malformed request body: expected a JSON object with \"messages\" (OpenAI chat) or \"inputs\" (TGI generate)",
            ));
        }
        f => f,
    };
    let conversation = Conversation::new(Protocol::SageMaker, endpoint).with_headers(headers);
    match format {
        PayloadFormat::Tgi => tgi::decode(value, conversation),
        _ => openai_format::decode(value, conversation),
    }
}

/// Checks the endpoint name against the service model's constraints (`^[a-zA-Z0-9](-*[a-zA-Z0-9])*`,
/// at most 63 characters), with the message AWS's validation layer gives.
fn check_endpoint_name(name: &str) -> Result<(), SageMakerError> {
    let constraint = if name.chars().count() > 63 {
        "Member must have length less than or equal to 63"
    } else if name.is_empty()
        || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        || name.starts_with('-')
        || name.ends_with('-')
    {
        "Member must satisfy regular expression pattern: ^[a-zA-Z0-9](-*[a-zA-Z0-9])*"
    } else {
        return Ok(());
    };
    Err(SageMakerError::validation(format!(
        "1 validation error detected: Value '{name}' at 'endpointName' failed to satisfy constraint: {constraint}"
    )))
}

/// Deserializes a body into `T`, naming the failing field in a `ValidationError`.
fn from_value<T: serde::de::DeserializeOwned>(value: Value, what: &str) -> Result<T, SageMakerError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        SageMakerError::validation(format!(
            "Malformed {what} request body at '{path}': {}",
            e.into_inner()
        ))
    })
}

/// What both operations do first: check the body and endpoint name, then decode the payload in the
/// endpoint's format into a conversation marked streamed or not.
fn decode_request(
    state: &SharedState,
    endpoint: &str,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
    stream: bool,
) -> Result<Decoded, SageMakerError> {
    let body = body.map_err(SageMakerError::rejected)?;
    check_endpoint_name(endpoint)?;
    let format = configured_format(state, endpoint);
    let mut decoded = decode(&body, format, endpoint, headers)?;
    decoded.conversation.stream = stream;
    Ok(decoded)
}

async fn invoke_endpoint(
    State(state): State<SharedState>,
    Path(endpoint): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, SageMakerError> {
    let Decoded {
        conversation,
        payload,
    } = decode_request(&state, &endpoint, &headers, body, false)?;
    let plan = match state.resolve(&conversation, "InvokeEndpoint") {
        Ok(Outcome::Message(plan)) => plan,
        Ok(Outcome::Error(e)) => return Err(SageMakerError::from_plan(e, &endpoint)),
        Ok(Outcome::Embedding(_)) => return Err(embedding_matched()),
        Err(n) => return Err(SageMakerError::no_match(n)),
    };
    plan.delay().await;
    let mut res = axum::Json(payload.body(&plan)).into_response();
    echo_headers(&mut res, &headers);
    Ok(with_model(res, &endpoint))
}

async fn invoke_endpoint_with_response_stream(
    State(state): State<SharedState>,
    Path(endpoint): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, SageMakerError> {
    let Decoded {
        conversation,
        payload,
    } = decode_request(&state, &endpoint, &headers, body, true)?;
    let (frames, timing) = match state.resolve(&conversation, "InvokeEndpointWithResponseStream") {
        Ok(Outcome::Message(plan)) => (events::message_events(&payload, &plan)?, plan.timing),
        Ok(Outcome::Error(e)) => (events::stream_error(e, &endpoint)?, Timing::default()),
        Ok(Outcome::Embedding(_)) => return Err(embedding_matched()),
        Err(n) => return Err(SageMakerError::no_match(n)),
    };
    let mut res = Response::new(Body::from_stream(timed(frames, &timing, None)));
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/vnd.amazon.eventstream"),
    );
    // The container's own content type: both formats stream server-sent events.
    h.insert(
        "x-amzn-sagemaker-content-type",
        HeaderValue::from_static("text/event-stream"),
    );
    echo_headers(&mut res, &headers);
    Ok(with_model(res, &endpoint))
}

fn embedding_matched() -> SageMakerError {
    SageMakerError::validation("The matched fixture answers embeddings, not an LLM invocation")
}

/// Response headers SageMaker sets from the request: the invoked variant and the echoed custom
/// attributes.
fn echo_headers(res: &mut Response, req: &HeaderMap) {
    let variant = req
        .get(TARGET_VARIANT_HEADER)
        .cloned()
        .unwrap_or(HeaderValue::from_static(DEFAULT_VARIANT));
    let h = res.headers_mut();
    h.insert(
        HeaderName::from_static("x-amzn-invoked-production-variant"),
        variant,
    );
    if let Some(attrs) = req.get(CUSTOM_ATTRIBUTES) {
        h.insert(HeaderName::from_static(CUSTOM_ATTRIBUTES), attrs.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_overrides_parse_per_endpoint_or_for_all() {
        assert_eq!(
            parse_format_override("llama=tgi"),
            Ok(("llama".into(), PayloadFormat::Tgi))
        );
        assert_eq!(
            parse_format_override("openai"),
            Ok(("*".into(), PayloadFormat::OpenAi))
        );
        assert!(parse_format_override("x=gguf").is_err());
    }

    #[test]
    fn endpoint_names_follow_the_service_model_constraints() {
        for ok in ["a", "llama-3-8b", "A--b9", &"x".repeat(63)] {
            assert!(check_endpoint_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "-a", "a-", "a_b", "a.b", &"x".repeat(64)] {
            let e = check_endpoint_name(bad).expect_err(bad);
            assert!(
                e.message()
                    .contains("at 'endpointName' failed to satisfy constraint"),
                "{bad}"
            );
        }
    }

    #[test]
    fn bodies_are_detected_and_malformed_ones_are_named() {
        let h = HeaderMap::new();
        let d = decode(
            br#"{"messages":[{"role":"user","content":"hi"}]}"#,
            PayloadFormat::Auto,
            "ep",
            &h,
        )
        .ok()
        .unwrap();
        assert!(matches!(d.payload, Payload::OpenAi { .. }));
        assert_eq!(d.conversation.model, "ep");
        assert_eq!(d.conversation.last_user_text(), Some("hi"));
        let d = decode(br#"{"inputs":"hi"}"#, PayloadFormat::Auto, "ep", &h)
            .ok()
            .unwrap();
        assert!(matches!(d.payload, Payload::Tgi(_)));
        let msg = |r: Result<Decoded, SageMakerError>| r.err().unwrap().message().to_string();
        assert!(msg(decode(b"{oops", PayloadFormat::Auto, "ep", &h)).contains("not JSON"));
        assert!(msg(decode(br#"{"prompt":"x"}"#, PayloadFormat::Auto, "ep", &h)).contains("\"messages\""));
        assert!(msg(decode(br#"{"inputs":"x"}"#, PayloadFormat::OpenAi, "ep", &h)).contains("messages"));
        assert!(msg(decode(br#"{"inputs":[1]}"#, PayloadFormat::Auto, "ep", &h)).contains("inputs"));
    }
}
