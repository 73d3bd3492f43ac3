//! SageMaker Runtime (restJson1, blob payloads): `InvokeEndpoint` and
//! `InvokeEndpointWithResponseStream`, plus the SageMaker container contract (`container.rs`).
//!
//! SageMaker never reads the body; the container behind the endpoint does. So this module only
//! handles what the service itself owns (the path, the `X-Amzn-SageMaker-*` headers, the error
//! types and the `PayloadPart` event stream) and hands the body to a payload format module:
//! `openai_format.rs` (TGI Messages API, DJL-LMI, vLLM) or `tgi.rs` (TGI generate). The error shape
//! is in `error.rs`.
//! Shapes follow botocore's `sagemaker-runtime/2017-05-13/service-2.json`.

mod container;
mod error;
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
use serde_json::{Value, json};

use crate::conversation::{Conversation, Protocol};
use crate::errors::ErrorClass;
use crate::eventstream;
use crate::fixture::matcher::TARGET_VARIANT_HEADER;
use crate::plan::{ErrorPlan, Outcome, Plan};
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

async fn invoke_endpoint(
    State(state): State<SharedState>,
    Path(endpoint): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, SageMakerError> {
    let body = body.map_err(SageMakerError::rejected)?;
    check_endpoint_name(&endpoint)?;
    let format = configured_format(&state, &endpoint);
    let Decoded {
        mut conversation,
        payload,
    } = decode(&body, format, &endpoint, &headers)?;
    conversation.stream = false;
    let plan = match state.resolve(&conversation, "InvokeEndpoint") {
        Ok(Outcome::Message(plan)) => plan,
        Ok(Outcome::Error(e)) => return Err(SageMakerError::from_plan(e, &endpoint)),
        Ok(Outcome::Embedding(_)) => return Err(embedding_matched()),
        Err(n) => return Err(SageMakerError::no_match(n)),
    };
    tokio::time::sleep(std::time::Duration::from_millis(plan.timing.latency_ms)).await;
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
    let body = body.map_err(SageMakerError::rejected)?;
    check_endpoint_name(&endpoint)?;
    let format = configured_format(&state, &endpoint);
    let Decoded {
        mut conversation,
        payload,
    } = decode(&body, format, &endpoint, &headers)?;
    conversation.stream = true;
    let (frames, timing) = match state.resolve(&conversation, "InvokeEndpointWithResponseStream") {
        Ok(Outcome::Message(plan)) => (payload_parts(payload.chunks(&plan))?, plan.timing),
        Ok(Outcome::Error(e)) => stream_error(e, &payload, &endpoint)?,
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

/// Wraps raw chunks as `PayloadPart` events: the payload is the bytes themselves (an
/// `eventpayload` blob), so `:content-type` is `application/octet-stream` (the Rust SDK rejects
/// a PayloadPart with any other).
fn payload_parts(chunks: Vec<Frame>) -> Result<Vec<Frame>, SageMakerError> {
    chunks
        .into_iter()
        .map(|f| {
            let bytes = eventstream::event("PayloadPart", "application/octet-stream", &f.bytes)
                .map_err(|e| SageMakerError::internal(e.to_string()))?;
            Ok(Frame {
                bytes,
                content: f.content,
            })
        })
        .collect()
}

/// A fixture error on the streaming route. It becomes an in-stream exception frame when the fixture
/// asks for it mid-stream (`errorAfterChunks`) or names an in-stream type (`ModelStreamError`,
/// `InternalStreamFailure`); otherwise it is an HTTP error before any event, as SageMaker does when
/// the container fails before its first byte.
fn stream_error(
    e: ErrorPlan,
    payload: &Payload,
    endpoint: &str,
) -> Result<(Vec<Frame>, crate::plan::Timing), SageMakerError> {
    let named_in_stream = matches!(
        e.type_.as_deref(),
        Some("ModelStreamError" | "InternalStreamFailure")
    );
    let (mut frames, timing) = match &e.mid_stream {
        Some(mid) => {
            let mut frames = payload.chunks(&mid.plan);
            // Cut right after the Nth content chunk (or the last, if there are fewer): the error
            // replaces the stream's proper end (finish chunk, `[DONE]`).
            let mut seen = 0;
            let cut = frames
                .iter()
                .position(|f| {
                    seen += u32::from(f.content);
                    f.content && seen == mid.after_chunks
                })
                .or_else(|| frames.iter().rposition(|f| f.content))
                .map_or(0, |i| i + 1);
            frames.truncate(cut);
            (payload_parts(frames)?, mid.plan.timing.clone())
        }
        None if named_in_stream => (Vec::new(), crate::plan::Timing::default()),
        None => return Err(SageMakerError::from_plan(e, endpoint)),
    };
    frames.push(Frame::control(exception_frame(&e)?));
    Ok((frames, timing))
}

/// The in-stream exception: `ModelStreamError` (with `ErrorCode`) for model failures,
/// `InternalStreamFailure` otherwise.
fn exception_frame(e: &ErrorPlan) -> Result<Bytes, SageMakerError> {
    let model_failure = match e.type_.as_deref() {
        Some("ModelStreamError") => true,
        Some("InternalStreamFailure") => false,
        t => matches!(
            ErrorClass::classify(t, e.status),
            ErrorClass::ModelError | ErrorClass::Timeout
        ),
    };
    let (kind, payload) = if model_failure {
        let code = match &e.code {
            Some(Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
            None => "StreamBroken".into(),
        };
        (
            "ModelStreamError",
            json!({"Message": e.message, "ErrorCode": code}),
        )
    } else {
        ("InternalStreamFailure", json!({"Message": e.message}))
    };
    eventstream::exception(kind, payload.to_string().as_bytes())
        .map_err(|err| SageMakerError::internal(err.to_string()))
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
    fn a_mid_stream_error_replaces_the_proper_end_even_with_fewer_chunks_than_asked() {
        use crate::plan::{Block, MidStream, StopReason, Timing, Usage};
        let plan = Plan {
            id: None,
            model: "ep".into(),
            created: None,
            blocks: vec![Block::Text("short".into())],
            stop: StopReason::EndTurn,
            usage: Usage {
                input: 1,
                output: 1,
                total: 2,
            },
            timing: Timing {
                chunk_size: 20,
                ..Default::default()
            },
            system_fingerprint: None,
        };
        let e = ErrorPlan {
            status: 424,
            type_: Some("ModelStreamError".into()),
            message: "broke".into(),
            code: None,
            param: None,
            retry_after: None,
            mid_stream: Some(MidStream {
                after_chunks: 10,
                plan: Box::new(plan),
            }),
        };
        let payload = Payload::OpenAi { include_usage: false };
        let (frames, _) = stream_error(e, &payload, "ep").ok().unwrap();
        // Role chunk, the one content chunk, the exception: no finish chunk, no [DONE].
        assert_eq!(frames.len(), 3);
        assert!(frames[1].content);
        let wire: Vec<u8> = frames.iter().flat_map(|f| f.bytes.to_vec()).collect();
        let wire = String::from_utf8_lossy(&wire);
        assert!(!wire.contains("[DONE]") && !wire.contains("finish_reason\":\"stop"));
        assert!(wire.contains("ModelStreamError"));
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
