//! SageMaker Runtime (restJson1, blob payloads): `InvokeEndpoint` and
//! `InvokeEndpointWithResponseStream`, plus the SageMaker container contract (`container.rs`).
//!
//! SageMaker never reads the body; the container behind the endpoint does. So this module only
//! handles what the service itself owns (the path, the `X-Amzn-SageMaker-*` headers, the error
//! types and the `PayloadPart` event stream) and hands the body to a payload format module:
//! `openai_format.rs` (TGI Messages API, DJL-LMI, vLLM) or `tgi.rs` (TGI generate). The error shape
//! is in `error.rs`, the PayloadPart and exception frames in `events.rs`.
//! Shapes follow botocore's `sagemaker-runtime/2017-05-13/service-2.json`.

mod async_invoke;
mod container;
mod error;
mod events;
mod openai_format;
mod tgi;

pub use error::SageMakerError;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::Value;

use crate::conversation::{Conversation, Protocol};
use crate::fixture::matcher::TARGET_VARIANT_HEADER;
use crate::formats::PayloadFormat;
use crate::plan::{ErrorPlan, Plan};
use crate::state::{NoMatch, SharedState};
use crate::stream::Frame;
use crate::validate::aws::{Request, SAGEMAKER_RUNTIME};
use crate::wire::{Reply, Wire, labelled, respond};

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
        .route(
            "/endpoints/{endpoint}/async-invocations",
            post(async_invoke::invoke_endpoint_async),
        )
        .merge(container::routes())
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

/// Checks a request's URI and header members (`EndpointName`, `X-Amzn-SageMaker-*`) against
/// SageMaker Runtime's service model, as the service does; `--lenient` skips it.
fn validate(
    state: &SharedState,
    operation: &str,
    endpoint: &str,
    headers: &HeaderMap,
) -> Result<(), SageMakerError> {
    if state.config.lenient {
        return Ok(());
    }
    let req = Request {
        uri: &[("EndpointName", endpoint)],
        headers,
        body: None,
    };
    SAGEMAKER_RUNTIME
        .validate(operation, &req)
        .map_err(SageMakerError::validation)
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
    let operation = if stream {
        "InvokeEndpointWithResponseStream"
    } else {
        "InvokeEndpoint"
    };
    validate(state, operation, endpoint, headers)?;
    let format = configured_format(state, endpoint);
    let mut decoded = decode(&body, format, endpoint, headers)?;
    decoded.conversation.stream = stream;
    Ok(decoded)
}

/// Content type of the service's event stream.
const EVENT_STREAM: &str = "application/vnd.amazon.eventstream";

/// SageMaker Runtime's error vocabulary on the seam.
struct SageMaker;

impl Wire for SageMaker {
    type Error = SageMakerError;

    fn error(&self, e: &ErrorPlan, model: &str) -> SageMakerError {
        SageMakerError::from_plan(e.clone(), model)
    }

    fn no_match(&self, n: NoMatch) -> SageMakerError {
        SageMakerError::no_match(n)
    }

    fn invalid(&self, message: String) -> SageMakerError {
        SageMakerError::validation(message)
    }

    fn stream_error(&self, e: &ErrorPlan, _model: &str) -> Result<Bytes, SageMakerError> {
        events::exception_frame(e)
    }

    fn error_stream(&self, e: &ErrorPlan, _model: &str) -> Option<Result<Reply, SageMakerError>> {
        events::stream_error(e).map(|frames| frames.map(stream_reply))
    }
}

/// An event stream whose PayloadParts carry the container's server-sent events.
fn stream_reply(frames: Vec<Frame>) -> Reply {
    Reply::stream(frames, EVENT_STREAM).header(
        "x-amzn-sagemaker-content-type",
        HeaderValue::from_static("text/event-stream"),
    )
}

async fn invoke_endpoint(
    State(state): State<SharedState>,
    Path(endpoint): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    answer(state, endpoint, headers, body, false).await
}

async fn invoke_endpoint_with_response_stream(
    State(state): State<SharedState>,
    Path(endpoint): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    answer(state, endpoint, headers, body, true).await
}

async fn answer(
    state: SharedState,
    endpoint: String,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
    stream: bool,
) -> Response {
    let Decoded {
        conversation,
        payload,
    } = match decode_request(&state, &endpoint, &headers, body, stream) {
        Ok(d) => d,
        Err(e) => return e.into_response(),
    };
    let operation = if stream {
        "InvokeEndpointWithResponseStream"
    } else {
        "InvokeEndpoint"
    };
    let mut res = respond(state, &SageMaker, conversation, operation, |plan, _| {
        Ok(if stream {
            stream_reply(events::payload_parts(payload.chunks(plan))?)
        } else {
            Reply::json(payload.body(plan))
        })
    })
    .await;
    if res.status().is_success() {
        echo_headers(&mut res, &headers);
    }
    labelled(res, &endpoint)
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
    fn endpoint_names_follow_the_service_model_constraints() {
        let state = crate::AppState::new(crate::fixture::FixtureSet::embedded(), crate::Config::default());
        let h = HeaderMap::new();
        for ok in ["a", "llama-3-8b", "A--b9", &"x".repeat(63)] {
            assert!(validate(&state, "InvokeEndpoint", ok, &h).is_ok(), "{ok}");
        }
        for bad in ["-a", "a-", "a_b", "a.b", &"x".repeat(64)] {
            let e = validate(&state, "InvokeEndpoint", bad, &h).expect_err(bad);
            assert!(
                e.message().starts_with(&format!(
                    "1 validation error detected: Value '{bad}' at 'endpointName' failed to satisfy constraint"
                )),
                "{bad}: {}",
                e.message()
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
