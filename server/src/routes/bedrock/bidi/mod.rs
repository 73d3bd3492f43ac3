//! Bedrock `InvokeModelWithBidirectionalStream` (Amazon Nova Sonic speech-to-speech): an HTTP/2
//! request whose body is an event stream of the client's events, answered by a response whose body
//! is an event stream of the model's, both flowing at once.
//!
//! Shapes: botocore's `bedrock-runtime` service model (`InvokeModelWithBidirectionalStreamInput`
//! and `…Output`: `chunk` events whose `bytes` blob holds one Nova Sonic event as JSON; the
//! exception members of the output union) and AWS's Nova Sonic input/output event documentation.
//! `session.rs` runs a session, `input.rs` parses the client's events, `output.rs` writes the
//! model's, `audio.rs` makes and measures LPCM.

mod audio;
mod input;
mod output;
mod session;
#[cfg(test)]
mod tests;

use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use tokio_stream::wrappers::ReceiverStream;

use crate::conversation::{Conversation, Protocol};
use crate::metrics::SessionMetrics;
use crate::state::SharedState;
use crate::wire::labelled;

pub use session::{OPERATION, Session};

/// Output frames buffered ahead of a slow reader before the session waits for it.
const OUTPUT_BUFFER: usize = 64;

/// `POST /model/{modelId}/invoke-with-bidirectional-stream`: checks the model id, then answers at
/// once with 200 and the output stream while a task runs the session. The task ends with the
/// session, or as soon as the client stops reading (the response body is dropped).
pub async fn invoke_bidirectional(
    State(state): State<SharedState>,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let model = match super::model_id(path) {
        Ok(m) => m,
        Err(e) => return e.into_response(),
    };
    if let Err(e) = super::validate(&state, OPERATION, &model, &headers, None) {
        return labelled(e.into_response(), &model);
    }
    let base = Conversation::new(Protocol::Bedrock, model.clone()).with_headers(&headers);
    let (tx, rx) = tokio::sync::mpsc::channel(OUTPUT_BUFFER);
    let session = Session::new(state, model.clone(), base);
    let open = state.recorder().map(|m| Open::new(m.bidi_sessions.clone()));
    tokio::spawn(async move {
        let ended = session.run(body.into_data_stream(), tx).await;
        if let Some(open) = open {
            open.ended(ended.label());
        }
    });
    let mut res = Response::new(Body::from_stream(ReceiverStream::new(rx)));
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(super::EVENT_STREAM),
    );
    labelled(res, &model)
}

/// Counts a session as open until it ends, even if its task dies unexpectedly (the gauge must not
/// drift upwards over a long-running mock).
struct Open(Option<SessionMetrics>);

impl Open {
    fn new(m: SessionMetrics) -> Self {
        m.active.inc();
        Open(Some(m))
    }

    fn ended(mut self, how: &str) {
        if let Some(m) = self.0.take() {
            m.active.dec();
            m.ended.with_label_values(&[how]).inc();
        }
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        if let Some(m) = self.0.take() {
            m.active.dec();
            m.ended.with_label_values(&["disconnected"]).inc();
        }
    }
}
