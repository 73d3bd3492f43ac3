//! AWS Bedrock Runtime (restJson1): Converse, ConverseStream, InvokeModel and
//! InvokeModelWithResponseStream under `/model/{modelId}/…`.
//!
//! This module holds the routes, the one error type every Bedrock handler answers with
//! ([`BedrockError`]: status, `x-amzn-ErrorType`, `{"message"}` as botocore and the SDKs parse it), the
//! JSON body parsing that names the offending field, and the event-stream helpers shared by both
//! streaming operations. The wire shapes follow the botocore service model, never aimock.

pub mod converse;
pub mod invoke;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::app::{ModelLabel, aws_error};
use crate::errors::ErrorClass;
use crate::eventstream;
use crate::plan::{ErrorPlan, Plan, StreamError};
use crate::state::{NoMatch, SharedState};
use crate::stream::{Frame, timed};

/// The Bedrock Runtime routes.
pub fn routes() -> Router<SharedState> {
    Router::new()
        .route("/model/{model_id}/converse", post(converse::converse))
        .route(
            "/model/{model_id}/converse-stream",
            post(converse::converse_stream),
        )
        .route("/model/{model_id}/invoke", post(invoke::invoke))
        .route(
            "/model/{model_id}/invoke-with-response-stream",
            post(invoke::invoke_stream),
        )
}

/// Content type of every event-stream response.
pub const EVENT_STREAM: &str = "application/vnd.amazon.eventstream";

/// A Bedrock error response (boxed: it travels in every handler's `Result`).
#[derive(Debug)]
pub struct BedrockError(Box<ErrorBody>);

#[derive(Debug)]
struct ErrorBody {
    status: StatusCode,
    type_: &'static str,
    message: String,
    retry_after: Option<u64>,
    /// Members beside `message` (ModelErrorException's `originalStatusCode`, `resourceName`).
    extra: serde_json::Map<String, Value>,
}

impl BedrockError {
    fn new(status: StatusCode, type_: &'static str, message: impl Into<String>) -> Self {
        BedrockError(Box::new(ErrorBody {
            status,
            type_,
            message: message.into(),
            retry_after: None,
            extra: serde_json::Map::new(),
        }))
    }

    /// A 400 `ValidationException`.
    pub fn validation(message: impl Into<String>) -> Self {
        BedrockError::new(StatusCode::BAD_REQUEST, "ValidationException", message)
    }

    /// A 500 `InternalServerException` (a bug of ours, not the client's).
    pub fn internal(message: impl Into<String>) -> Self {
        BedrockError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalServerException",
            message,
        )
    }

    /// The fixture's error in Bedrock's words. The name decides the type; the fixture's status wins,
    /// except aimock's default 500 under a non-internal name, which takes that exception's status.
    /// A `ModelErrorException` also names the model (`resourceName`) and the status the model
    /// itself answered (`originalStatusCode`).
    pub fn from_plan(e: &ErrorPlan, model: &str) -> Self {
        let class = ErrorClass::classify(e.type_.as_deref(), e.status);
        let (type_, status) = class.bedrock();
        let status = if e.status == 500 && class != ErrorClass::Internal {
            status
        } else {
            e.status
        };
        let mut err = BedrockError::new(
            StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            type_,
            e.message.clone(),
        );
        err.0.retry_after = e.retry_after;
        if type_ == "ModelErrorException" {
            err.0
                .extra
                .insert("originalStatusCode".into(), json!(original_status(e)));
            err.0.extra.insert("resourceName".into(), json!(model));
        }
        err
    }

    /// No fixture matched: 404 `ResourceNotFoundException` (503 `ServiceUnavailableException` in strict mode).
    pub fn no_match(n: NoMatch) -> Self {
        if n.strict {
            BedrockError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "ServiceUnavailableException",
                n.message,
            )
        } else {
            BedrockError::new(StatusCode::NOT_FOUND, "ResourceNotFoundException", n.message)
        }
    }

    /// The matched fixture answers embeddings, which no Bedrock chat operation can return.
    pub fn embedding_fixture() -> Self {
        BedrockError::validation("The matched fixture answers embeddings, not chat requests")
    }
}

/// The status the model behind a model error answered: a numeric fixture `code`, else the fixture's
/// status unless that is the 424 Bedrock itself answers (or aimock's default 500), else 500.
fn original_status(e: &ErrorPlan) -> u64 {
    match &e.code {
        Some(Value::Number(n)) if n.as_u64().is_some() => n.as_u64().unwrap_or(500),
        _ if e.status != 424 => u64::from(e.status),
        _ => 500,
    }
}

impl IntoResponse for BedrockError {
    fn into_response(self) -> Response {
        let e = *self.0;
        let mut res = if e.extra.is_empty() {
            aws_error(e.status, e.type_, &e.message)
        } else {
            let mut body = e.extra;
            body.insert("message".into(), json!(e.message));
            let mut res = (e.status, axum::Json(Value::Object(body))).into_response();
            res.headers_mut()
                .insert("x-amzn-errortype", HeaderValue::from_static(e.type_));
            res
        };
        if let Some(secs) = e.retry_after {
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        res
    }
}

/// The percent-decoded `{modelId}` (axum decodes path segments; `%2F` in an ARN stays inside the segment).
pub fn model_id(path: Result<axum::extract::Path<String>, PathRejection>) -> Result<String, BedrockError> {
    let axum::extract::Path(id) =
        path.map_err(|e| BedrockError::validation(format!("Invalid modelId: {e}")))?;
    if id.is_empty() {
        return Err(BedrockError::validation("modelId must not be empty"));
    }
    Ok(id)
}

/// The request body, or the ValidationException Bedrock answers for an unreadable or oversized one.
pub fn body_bytes(body: Result<Bytes, BytesRejection>) -> Result<Bytes, BedrockError> {
    body.map_err(|e| {
        let mut err = BedrockError::validation(e.body_text());
        err.0.status = e.status();
        err
    })
}

/// Parses a JSON body, naming the field that failed (`messages[0].content[1].toolUse.name`).
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, BedrockError> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            BedrockError::validation(format!(
                "Malformed input request: the body is not valid JSON: {inner}"
            ))
        } else {
            BedrockError::validation(format!(
                "1 validation error detected: Value at '{path}' failed to satisfy constraint: {inner}"
            ))
        }
    })
}

/// Like [`parse_json`] for a body already read as a JSON value.
pub fn from_value<T: DeserializeOwned>(value: &Value) -> Result<T, BedrockError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        BedrockError::validation(format!(
            "1 validation error detected: Value at '{path}' failed to satisfy constraint: {}",
            e.into_inner()
        ))
    })
}

/// An `event` frame with a JSON payload.
pub fn event_frame(event_type: &str, payload: &Value) -> Result<Bytes, BedrockError> {
    eventstream::event(event_type, "application/json", payload.to_string().as_bytes())
        .map_err(|e| BedrockError::internal(format!("cannot encode event {event_type}: {e}")))
}

/// Cuts a stream after the fixture's `errorAfterChunks` content frames and appends the error as an
/// `exception` frame; without a stream error the frames are returned unchanged.
pub fn with_stream_error(
    mut frames: Vec<Frame>,
    stream_error: Option<&StreamError>,
    invoke: bool,
) -> Result<Vec<Frame>, BedrockError> {
    let Some(se) = stream_error else {
        return Ok(frames);
    };
    crate::stream::cut_after_content(&mut frames, se.after_chunks);
    let class = ErrorClass::classify(se.error.type_.as_deref(), se.error.status);
    let mut payload = json!({"message": se.error.message});
    if class == ErrorClass::ModelError {
        payload["originalStatusCode"] = json!(original_status(&se.error));
        payload["originalMessage"] = json!(se.error.message);
    }
    let name = class.bedrock_stream(invoke);
    let bytes = eventstream::exception(name, payload.to_string().as_bytes())
        .map_err(|e| BedrockError::internal(format!("cannot encode exception {name}: {e}")))?;
    frames.push(Frame::control(bytes));
    Ok(frames)
}

/// A 200 event-stream response sending `frames` on the plan's schedule.
pub fn stream_response(frames: Vec<Frame>, plan: &Plan) -> Response {
    let body = Body::from_stream(timed(frames, &plan.timing, None));
    let mut res = Response::new(body);
    res.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(EVENT_STREAM));
    res
}

/// Labels a response (success or error) with the model for the request metrics.
pub fn labelled(res: Result<Response, BedrockError>, model: &str) -> Response {
    let mut res = res.unwrap_or_else(IntoResponse::into_response);
    res.extensions_mut().insert(ModelLabel(model.to_string()));
    res
}

/// Milliseconds since `started`, at least 1 (Bedrock never reports a zero latency).
pub fn latency_ms(started: std::time::Instant) -> u64 {
    (started.elapsed().as_millis() as u64).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames() -> Vec<Frame> {
        vec![
            Frame::control("start"),
            Frame::content("a"),
            Frame::content("b"),
            Frame::content("c"),
            Frame::control("end"),
        ]
    }

    fn throttle(after_chunks: u32) -> StreamError {
        StreamError {
            after_chunks,
            error: ErrorPlan {
                status: 429,
                type_: Some("ThrottlingException".into()),
                message: "Rate exceeded".into(),
                code: None,
                param: None,
                retry_after: None,
            },
        }
    }

    #[test]
    fn a_stream_error_follows_the_nth_content_frame_and_ends_the_stream() {
        let out = with_stream_error(frames(), Some(&throttle(2)), false).unwrap();
        assert_eq!(out.len(), 4);
        assert_eq!(out[2].bytes, "b");
        let msg = aws_smithy_eventstream::frame::read_message_from(out[3].bytes.clone()).unwrap();
        let header = |n: &str| {
            msg.headers()
                .iter()
                .find(|h| h.name().as_str() == n)
                .and_then(|h| h.value().as_string().ok())
                .map(|s| s.as_str().to_string())
        };
        assert_eq!(header(":message-type").as_deref(), Some("exception"));
        assert_eq!(header(":exception-type").as_deref(), Some("throttlingException"));
        assert_eq!(msg.payload().as_ref(), br#"{"message":"Rate exceeded"}"#);
    }

    #[test]
    fn a_stream_error_after_more_chunks_than_exist_follows_the_last_one() {
        let out = with_stream_error(frames(), Some(&throttle(9)), true).unwrap();
        assert_eq!(out.len(), 5);
        assert_eq!(out[3].bytes, "c");
    }

    #[test]
    fn fixture_errors_take_the_bedrock_name_and_status() {
        let e = BedrockError::from_plan(
            &ErrorPlan {
                status: 500,
                type_: Some("rate_limit_error".into()),
                message: "slow".into(),
                code: None,
                param: None,
                retry_after: None,
            },
            "m",
        );
        assert_eq!((e.0.status.as_u16(), e.0.type_), (429, "ThrottlingException"));
    }

    #[test]
    fn a_model_error_names_the_model_and_its_original_status() {
        let plan = |status, code| ErrorPlan {
            status,
            type_: Some("ModelErrorException".into()),
            message: "boom".into(),
            code,
            param: None,
            retry_after: None,
        };
        let e = BedrockError::from_plan(&plan(424, Some(json!(503))), "my-model");
        assert_eq!((e.0.status.as_u16(), e.0.type_), (424, "ModelErrorException"));
        assert_eq!(e.0.extra["originalStatusCode"], json!(503));
        assert_eq!(e.0.extra["resourceName"], json!("my-model"));
        assert_eq!(original_status(&plan(424, None)), 500);
        assert_eq!(original_status(&plan(400, None)), 400);
    }
}
