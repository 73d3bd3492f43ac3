//! The InvokeEndpointWithResponseStream event stream: `PayloadPart` events carrying the container's
//! raw bytes, and the in-stream `ModelStreamError` / `InternalStreamFailure` exception frames.
//! Frames only; timing is `crate::stream`'s.

use axum::body::Bytes;
use serde_json::{Value, json};

use super::SageMakerError;
use crate::errors::ErrorClass;
use crate::eventstream;
use crate::plan::ErrorPlan;
use crate::stream::Frame;

/// Wraps raw chunks as `PayloadPart` events: the payload is the bytes themselves (an
/// `eventpayload` blob), so `:content-type` is `application/octet-stream` (the Rust SDK rejects
/// a PayloadPart with any other).
pub(super) fn payload_parts(chunks: Vec<Frame>) -> Result<Vec<Frame>, SageMakerError> {
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

/// A fixture error on the streaming route: an in-stream exception frame at once when the fixture
/// names an in-stream type (`ModelStreamError`, `InternalStreamFailure`); otherwise `None`, and the
/// error is an HTTP error before any event, as SageMaker answers when the container fails before
/// its first byte.
pub(super) fn stream_error(e: &ErrorPlan) -> Option<Result<Vec<Frame>, SageMakerError>> {
    matches!(
        e.type_.as_deref(),
        Some("ModelStreamError" | "InternalStreamFailure")
    )
    .then(|| Ok(vec![Frame::control(exception_frame(e)?)]))
}

/// The in-stream exception: `ModelStreamError` (with `ErrorCode`) for model failures,
/// `InternalStreamFailure` otherwise.
pub(super) fn exception_frame(e: &ErrorPlan) -> Result<Bytes, SageMakerError> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn error(type_: &str) -> ErrorPlan {
        ErrorPlan {
            status: 424,
            type_: Some(type_.into()),
            message: "broke".into(),
            code: None,
            param: None,
            retry_after: None,
        }
    }

    #[test]
    fn only_in_stream_error_types_are_sent_inside_the_stream() {
        let frames = stream_error(&error("ModelStreamError")).unwrap().ok().unwrap();
        let msg = aws_smithy_eventstream::frame::read_message_from(frames[0].bytes.clone()).unwrap();
        assert!(String::from_utf8_lossy(msg.payload()).contains("\"ErrorCode\":\"StreamBroken\""));
        assert!(stream_error(&error("ModelError")).is_none());
    }

    #[test]
    fn payload_parts_keep_which_frames_carry_content() {
        let parts = payload_parts(vec![Frame::control("a"), Frame::content("b")])
            .ok()
            .unwrap();
        assert_eq!(parts.iter().map(|f| f.content).collect::<Vec<_>>(), [false, true]);
    }
}
