//! The InvokeEndpointWithResponseStream event stream: `PayloadPart` events carrying the container's
//! raw bytes, and the in-stream `ModelStreamError` / `InternalStreamFailure` exception frames.
//! Frames only; timing is `crate::stream`'s.

use axum::body::Bytes;
use serde_json::{Value, json};

use super::{Payload, SageMakerError};
use crate::errors::ErrorClass;
use crate::eventstream;
use crate::plan::{ErrorPlan, Timing};
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

/// A fixture error on the streaming route. It becomes an in-stream exception frame when the fixture
/// asks for it mid-stream (`errorAfterChunks`) or names an in-stream type (`ModelStreamError`,
/// `InternalStreamFailure`); otherwise it is an HTTP error before any event, as SageMaker does when
/// the container fails before its first byte.
pub(super) fn stream_error(
    e: ErrorPlan,
    payload: &Payload,
    endpoint: &str,
) -> Result<(Vec<Frame>, Timing), SageMakerError> {
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
        None if named_in_stream => (Vec::new(), Timing::default()),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mid_stream_error_replaces_the_proper_end_even_with_fewer_chunks_than_asked() {
        use crate::plan::{Block, MidStream, Plan, StopReason, Usage};
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
}
