//! The seam every wire plugs into: the one respond path (resolve -> faults -> unary body or timed
//! frames -> journal and metrics), written once for every protocol.
//!
//! A wire supplies only what is its own: its routes, decoding a request into a [`Conversation`], an
//! encoder turning a [`Plan`] into a [`Reply`], and its error vocabulary ([`Wire`]). Everything that
//! holds on every protocol (matching, the journal, faults, the latency before an answer, splicing an
//! `errorAfterChunks` error into a stream, the frame scheduler, the model label of the request
//! metrics) happens here, so a new wire cannot forget any of it. This module knows no wire.

pub mod compact;
pub mod json;

use std::future::Ready;

use axum::body::{Body, Bytes};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use futures::future::{BoxFuture, Either};

use crate::conversation::Conversation;
use crate::ctx;
use crate::plan::{ErrorPlan, Outcome, Plan, Timing};
use crate::state::{NoMatch, SharedState};
use crate::stream::{Frame, cut_after_content, schedule, timed};

/// The content frames' planned send offsets (ms from the start of the response, comma separated),
/// sent on streams whose request carried `X-Mockmodel-Seed`.
pub const SCHEDULE_HEADER: HeaderName = HeaderName::from_static("x-mockmodel-schedule-ms");

fn schedule_header(frames: &[Frame], timing: &Timing, seed: u64) -> HeaderValue {
    let offsets: Vec<String> = schedule(frames, timing, Some(seed))
        .iter()
        .zip(frames)
        .filter(|(_, f)| f.content)
        .map(|(d, _)| format!("{:.1}", d.as_secs_f64() * 1000.0))
        .collect();
    HeaderValue::from_str(&offsets.join(",")).unwrap_or(HeaderValue::from_static(""))
}

/// The request's headers, moved out of the request: axum's `HeaderMap` extractor clones the map,
/// an allocation and a copy of every header on every request (issue 12's hot path). Extractors
/// after it see no headers, so it goes after any that reads them; `Path`, `Bytes` and the wires'
/// JSON body extractors read none.
pub struct RequestHeaders(pub HeaderMap);

impl<S: Send + Sync> FromRequestParts<S> for RequestHeaders {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(RequestHeaders(std::mem::take(&mut parts.headers)))
    }
}

/// Marks a response with the model it answered (success or error), for the request metrics
/// (`ctx::label`).
pub fn labelled(res: Response, model: &str) -> Response {
    ctx::label(model);
    res
}

/// How a service names the id it gives every response (set by the request middleware unless the
/// wire set it itself).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestIdStyle {
    /// AWS: `x-amzn-RequestId: <uuid>` (botocore reads it into `ResponseMetadata.RequestId`).
    Aws,
    /// OpenAI: `x-request-id: req_<hex>` (the SDKs expose it as `_request_id`).
    OpenAi,
    /// Anthropic: `request-id: req_…` (the SDKs expose it as `_request_id`).
    Anthropic,
}

impl RequestIdStyle {
    /// The header name (a constant: naming a header by `&str` parses and copies it per response).
    pub fn header(self) -> HeaderName {
        // Constants, so `from_static`'s validation runs at compile time, not per response.
        const AWS: HeaderName = HeaderName::from_static("x-amzn-requestid");
        const OPENAI: HeaderName = HeaderName::from_static("x-request-id");
        const ANTHROPIC: HeaderName = HeaderName::from_static("request-id");
        match self {
            RequestIdStyle::Aws => AWS,
            RequestIdStyle::OpenAi => OPENAI,
            RequestIdStyle::Anthropic => ANTHROPIC,
        }
    }

    /// A fresh id in the service's style, written into one header value.
    pub fn value(self) -> HeaderValue {
        let id = crate::ids::uuid();
        let mut buf = [0u8; 4 + uuid::fmt::Hyphenated::LENGTH];
        let text: &str = match self {
            RequestIdStyle::Aws => id.hyphenated().encode_lower(&mut buf),
            RequestIdStyle::OpenAi | RequestIdStyle::Anthropic => {
                buf[..4].copy_from_slice(b"req_");
                id.simple().encode_lower(&mut buf[4..]);
                std::str::from_utf8(&buf[..4 + uuid::fmt::Simple::LENGTH]).unwrap_or_default()
            }
        };
        HeaderValue::from_str(text).unwrap_or(HeaderValue::from_static(""))
    }
}

/// A wire's error vocabulary: how its protocol says each neutral failure.
pub trait Wire {
    /// The wire's error response.
    type Error: IntoResponse;

    /// A fixture's (or an injected fault's) error, in this wire's names, statuses and body shape.
    fn error(&self, e: &ErrorPlan, model: &str) -> Self::Error;

    /// No fixture matched (404, or 503 in strict mode), in this wire's shape.
    fn no_match(&self, n: NoMatch) -> Self::Error;

    /// A request the service would reject (400), in this wire's shape.
    fn invalid(&self, message: String) -> Self::Error;

    /// The frame that carries `e` inside a stream (an `errorAfterChunks` error).
    fn stream_error(&self, e: &ErrorPlan, model: &str) -> Result<Bytes, Self::Error>;

    /// [`Wire::stream_error`] for wires whose events are numbered (the Responses API's
    /// `sequence_number`): `sent` frames went before it.
    fn stream_error_at(&self, e: &ErrorPlan, model: &str, _sent: usize) -> Result<Bytes, Self::Error> {
        self.stream_error(e, model)
    }

    /// For wires that report a streaming request's error inside a 200 stream (SageMaker's
    /// containers do), that stream; `None` answers with [`Wire::error`].
    fn error_stream(&self, _e: &ErrorPlan, _model: &str) -> Option<Result<Reply, Self::Error>> {
        None
    }
}

/// What a wire's encoder makes of a plan.
pub struct Reply {
    body: ReplyBody,
    headers: HeaderMap,
}

enum ReplyBody {
    /// Serialized JSON, or why it could not be (never for the encoders' own types).
    Json(Result<Vec<u8>, String>),
    Stream {
        frames: Vec<Frame>,
        content_type: &'static str,
    },
}

impl Reply {
    /// A whole JSON body (a non-streamed answer): a `Value`, or an encoder's typed body, which
    /// skips building a `Value` tree per request (issue 12's hot path). Serialized here into a
    /// buffer sized for a typical answer (`axum::Json` starts at 128 bytes and grows it several
    /// times); the bytes and `content-type` are what `axum::Json` sends.
    pub fn json(body: impl serde::Serialize) -> Self {
        let mut buf = Vec::with_capacity(1024);
        let body = compact::to_writer(&mut buf, &body)
            .map(|()| buf)
            .map_err(|e| e.to_string());
        Reply {
            body: ReplyBody::Json(body),
            headers: HeaderMap::new(),
        }
    }

    /// Encoded frames, sent on the plan's schedule under `content_type`.
    pub fn stream(frames: Vec<Frame>, content_type: &'static str) -> Self {
        Reply {
            body: ReplyBody::Stream { frames, content_type },
            headers: HeaderMap::new(),
        }
    }

    /// Adds a response header (token counts, latencies, echoed request headers).
    pub fn header(mut self, name: &'static str, value: impl Into<HeaderValue>) -> Self {
        self.headers.insert(HeaderName::from_static(name), value.into());
        self
    }
}

/// Answers a decoded request: resolves it against the fixtures (journal, faults, metrics), then
/// sends the wire's encoding of the plan: for a non-streamed request after the plan's latency,
/// for a stream as timed frames with any `errorAfterChunks` error spliced in. Every outcome that is
/// not a message becomes the wire's own error. The response is labelled with the model.
///
/// It takes the conversation, so what waits (a boxed future) owns it and what does not borrows
/// nothing: a handler that returns the [`Answer`] itself, not an `async fn` awaiting it, keeps the
/// request's decoded form out of its future (issue 12: the chat handler's future was 3 KB, boxed
/// and copied on every request). `encode` reads the conversation as the second argument.
pub fn respond<'a, W: Wire + Sync>(
    state: SharedState,
    wire: &'a W,
    c: Conversation,
    operation: &'static str,
    encode: impl FnOnce(&Plan, &Conversation) -> Result<Reply, W::Error> + Send + 'a,
) -> Answer<'a> {
    let res = match state.resolve(&c, operation) {
        Ok(Outcome::Message(plan)) if !c.stream && plan.timing.latency_ms > 0 => {
            return Either::Right(Box::pin(async move {
                labelled(collapse(waited_message(wire, &c, &plan, encode).await), &c.model)
            }));
        }
        Ok(Outcome::Message(plan)) => message(wire, &c, &plan, encode),
        Ok(Outcome::Error(e)) => match c.stream.then(|| wire.error_stream(&e, &c.model)).flatten() {
            Some(reply) => reply.map(|r| r.into_response(&Timing::default())),
            None => Err(wire.error(&e, &c.model)),
        },
        Ok(Outcome::Embedding(_)) => Err(wire.invalid(format!(
            "The matched fixture answers embeddings, not {operation} requests"
        ))),
        Err(n) => return Either::Right(Box::pin(unmatched(state, wire, c, operation, n, encode))),
    };
    Either::Left(std::future::ready(labelled(collapse(res), &c.model)))
}

/// A response already made, as an [`Answer`] (a handler's early error).
pub fn answered<'a>(res: Response) -> Answer<'a> {
    Either::Left(std::future::ready(res))
}

/// What [`respond`] returns: the response itself when nothing is waited for (every answer without
/// a latency: the hot path, whose future is then no larger than a response), else a boxed future
/// for it (a fixture's latency, an OpenAI-compatible model, an upstream). Inline, those waits made
/// every handler's future kilobytes large, moved (memcpy) several times per request (issue 12).
pub type Answer<'a> = Either<Ready<Response>, BoxFuture<'a, Response>>;

fn collapse<E: IntoResponse>(res: Result<Response, E>) -> Response {
    res.unwrap_or_else(IntoResponse::into_response)
}

/// What no fixture answers: an OpenAI-compatible model, when configured, whose answer becomes a
/// plan this wire encodes as it would a fixture's; otherwise an upstream, when configured
/// (relayed, maybe recorded, marked in the journal); otherwise the wire's no-match error.
async fn unmatched<W: Wire + Sync>(
    state: SharedState,
    wire: &W,
    c: Conversation,
    operation: &'static str,
    n: NoMatch,
    encode: impl FnOnce(&Plan, &Conversation) -> Result<Reply, W::Error>,
) -> Response {
    let c = &c;
    let res = match state
        .config
        .translate
        .as_deref()
        .filter(|t| t.serves(c, operation))
    {
        Some(t) => match t
            .answer(c, state.config.max_body_bytes, &state.config.defaults)
            .await
        {
            Ok(plan) => waited_message(wire, c, &plan, encode).await,
            Err(e) => Err(wire.error(&e, &c.model)),
        },
        None => {
            let up = state.config.upstream.as_deref();
            let mark = crate::proxy::JournalMark::new(&state.journal, n.journal_id);
            match crate::proxy::forward(up, state.config.max_body_bytes, c, operation, mark).await {
                Some(Ok(res)) => Ok(res),
                Some(Err(message)) => Err(wire.error(&bad_gateway(message), &c.model)),
                None => Err(wire.no_match(n)),
            }
        }
    };
    labelled(collapse(res), &c.model)
}

/// An upstream that did not answer, as a 502 each wire words in its own shape.
fn bad_gateway(message: String) -> ErrorPlan {
    ErrorPlan {
        status: 502,
        type_: None,
        message,
        code: None,
        param: None,
        retry_after: None,
    }
}

/// [`message`] after the plan's latency when the request is not streamed: its body is encoded
/// after the wait, so latencies it reports include it (a stream's schedule is its own wait).
async fn waited_message<W: Wire>(
    wire: &W,
    c: &Conversation,
    plan: &Plan,
    encode: impl FnOnce(&Plan, &Conversation) -> Result<Reply, W::Error>,
) -> Result<Response, W::Error> {
    if !c.stream {
        plan.delay().await;
    }
    message(wire, c, plan, encode)
}

/// The wire's encoding of a message plan (after any wait): a stream gets any `errorAfterChunks`
/// error spliced in.
fn message<W: Wire>(
    wire: &W,
    c: &Conversation,
    plan: &Plan,
    encode: impl FnOnce(&Plan, &Conversation) -> Result<Reply, W::Error>,
) -> Result<Response, W::Error> {
    let mut reply = encode(plan, c)?;
    if let (ReplyBody::Stream { frames, .. }, Some(se)) =
        (&mut reply.body, plan.timing.stream_error.as_deref())
    {
        cut_after_content(frames, se.after_chunks);
        let error = wire.stream_error_at(&se.error, &c.model, frames.len())?;
        frames.push(Frame::control(error));
    }
    Ok(reply.into_response(&plan.timing))
}

impl Reply {
    /// The response: a JSON body, or the frames on `timing`'s schedule.
    fn into_response(self, timing: &Timing) -> Response {
        let mut res = match self.body {
            // What `([(CONTENT_TYPE, json)], bytes).into_response()` builds, without first
            // setting and then replacing `application/octet-stream` (per request: issue 12).
            ReplyBody::Json(Ok(bytes)) => {
                let mut res = Response::new(Body::from(bytes));
                res.headers_mut()
                    .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
                res
            }
            // As `axum::Json` answers a body that does not serialize.
            ReplyBody::Json(Err(e)) => (
                axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                [(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/plain; charset=utf-8"),
                )],
                e,
            )
                .into_response(),
            ReplyBody::Stream { frames, content_type } => {
                // A seeded request is told its schedule, so a test can assert the plan instead of
                // timing arrivals on a loaded machine; unseeded streams pay nothing for it.
                let planned = ctx::seed().map(|seed| schedule_header(&frames, timing, seed));
                let mut res = Response::new(Body::from_stream(timed(frames, timing, None)));
                res.headers_mut()
                    .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
                if let Some(v) = planned {
                    res.headers_mut().insert(SCHEDULE_HEADER, v);
                }
                res
            }
        };
        if !self.headers.is_empty() {
            res.headers_mut().extend(self.headers);
        }
        res
    }
}

#[cfg(test)]
mod tests {
    use super::RequestIdStyle;

    #[test]
    fn request_ids_are_in_each_services_style() {
        let aws = RequestIdStyle::Aws.value();
        let aws = aws.to_str().unwrap();
        assert_eq!(uuid::Uuid::parse_str(aws).unwrap().hyphenated().to_string(), aws);
        for style in [RequestIdStyle::OpenAi, RequestIdStyle::Anthropic] {
            let v = style.value();
            let hex = v.to_str().unwrap().strip_prefix("req_").unwrap();
            assert!(hex.len() == 32 && uuid::Uuid::parse_str(hex).is_ok());
        }
        assert_eq!(RequestIdStyle::Aws.header().as_str(), "x-amzn-requestid");
    }
}
