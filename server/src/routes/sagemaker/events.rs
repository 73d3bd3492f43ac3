//! The InvokeEndpointWithResponseStream event stream: `PayloadPart` events carrying the container's
//! raw bytes, and the in-stream `ModelStreamError` / `InternalStreamFailure` exception frames.
//! Frames only; timing is `crate::stream`'s.

use axum::body::Bytes;
use serde_json::{Value, json};

use super::{Payload, SageMakerError};
use crate::errors::ErrorClass;
use crate::eventstream;
use crate::plan::{ErrorPlan, Plan};
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

/// The events of a planned message: its chunks as `PayloadPart`s, cut after the fixture's
/// `errorAfterChunks` content chunks and ended by the in-stream exception when it has one.
pub(super) fn message_events(payload: &Payload, plan: &Plan) -> Result<Vec<Frame>, SageMakerError> {
    let mut chunks = payload.chunks(plan);
    let Some(se) = plan.timing.stream_error.as_deref() else {
        return payload_parts(chunks);
    };
    crate::stream::cut_after_content(&mut chunks, se.after_chunks);
    let mut frames = payload_parts(chunks)?;
    frames.push(Frame::control(exception_frame(&se.error)?));
    Ok(frames)
}

/// A fixture error on the streaming route: an in-stream exception frame at once when the fixture
/// names an in-stream type (`ModelStreamError`, `InternalStreamFailure`); otherwise an HTTP error
/// before any event, as SageMaker does when the container fails before its first byte.
pub(super) fn stream_error(e: ErrorPlan, endpoint: &str) -> Result<Vec<Frame>, SageMakerError> {
    if matches!(
        e.type_.as_deref(),
        Some("ModelStreamError" | "InternalStreamFailure")
    ) {
        Ok(vec![Frame::control(exception_frame(&e)?)])
    } else {
        Err(SageMakerError::from_plan(e, endpoint))
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mid_stream_error_replaces_the_proper_end_even_with_fewer_chunks_than_asked() {
        use crate::plan::{Block, StopReason, StreamError, Timing, Usage};
        let error = ErrorPlan {
            status: 424,
            type_: Some("ModelStreamError".into()),
            message: "broke".into(),
            code: None,
            param: None,
            retry_after: None,
        };
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
                stream_error: Some(Box::new(StreamError {
                    after_chunks: 10,
                    error,
                })),
                ..Default::default()
            },
            system_fingerprint: None,
        };
        let payload = Payload::OpenAi { include_usage: false };
        let frames = message_events(&payload, &plan).ok().unwrap();
        // Role chunk, the one content chunk, the exception: no finish chunk, no [DONE].
        assert_eq!(frames.len(), 3);
        assert!(frames[1].content);
        let wire: Vec<u8> = frames.iter().flat_map(|f| f.bytes.to_vec()).collect();
        let wire = String::from_utf8_lossy(&wire);
        assert!(!wire.contains("[DONE]") && !wire.contains("finish_reason\":\"stop"));
        assert!(wire.contains("ModelStreamError"));
    }
}
