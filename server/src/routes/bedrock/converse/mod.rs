//! Converse and ConverseStream: the routes' handlers. The request shapes (shared with Amazon Nova's
//! InvokeModel body) are in [`request`], the response encoders in [`encode`]; a `guardrailConfig`
//! brings the fixture's guardrail verdict in ([`super::guardrail`]).

mod encode;
mod request;

pub use encode::{content_block, tool_input, usage};
pub use request::*;

use std::time::Instant;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::IntoResponse;

use super::guardrail::{self, Guard};
use super::{Bedrock, BedrockError, EVENT_STREAM, latency_ms, model_id};
use crate::conversation::{Conversation, Protocol};
use crate::state::SharedState;
use crate::wire::{Answer, Reply, RequestHeaders, answered, labelled, respond};
use encode::{converse_body, stream_frames};

/// Decodes a Converse/ConverseStream request.
fn decode(
    state: &SharedState,
    operation: &str,
    model: &str,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
    stream: bool,
) -> Result<(Conversation, Option<Guard>), BedrockError> {
    let body = super::body_bytes(body)?;
    let req: ConverseRequest = match super::read_once(state, operation, model, &headers, &body) {
        Some(req) => req,
        None => {
            let value: serde_json::Value = super::parse_json(&body)?;
            super::validate(state, operation, model, &headers, Some(&value))?;
            super::from_owned(value, &body)?
        }
    };
    if req.messages.is_empty() {
        return Err(BedrockError::validation(
            "1 validation error detected: Value at 'messages' failed to satisfy constraint: Member must not be empty",
        ));
    }
    check_turns(&req.messages)?;
    // The headers move into the conversation once nothing else reads them (no copy per request).
    let mut c = Conversation::new(Protocol::Bedrock, model).with_headers(headers);
    c.stream = stream;
    req.decode_into(&mut c);
    let guard = req
        .guardrail_config
        .as_ref()
        .map(|g| Guard::from_config(g.guardrail_identifier.as_deref(), g.trace.as_deref()));
    Ok((c, guard))
}

/// The turn rules Converse enforces before any model runs: the first message is the user's and the
/// roles alternate (tool results travel in user messages), with the service's own messages.
fn check_turns(messages: &[ChatMessage]) -> Result<(), BedrockError> {
    if messages.first().is_some_and(|m| m.role != ChatRole::User) {
        return Err(BedrockError::validation(
            "A conversation must start with a user message. Try again with a conversation that starts with a user message.",
        ));
    }
    if messages.windows(2).any(|w| w[0].role == w[1].role) {
        return Err(BedrockError::validation(
            "A conversation must alternate between user and assistant roles. Make sure the conversation alternates between user and assistant roles and try again.",
        ));
    }
    Ok(())
}

/// `POST /model/{modelId}/converse`.
pub fn converse(
    State(state): State<SharedState>,
    path: Result<Path<String>, PathRejection>,
    RequestHeaders(headers): RequestHeaders,
    body: Result<Bytes, BytesRejection>,
) -> Answer<'static> {
    answer(state, path, headers, body, false)
}

/// `POST /model/{modelId}/converse-stream`.
pub fn converse_stream(
    State(state): State<SharedState>,
    path: Result<Path<String>, PathRejection>,
    RequestHeaders(headers): RequestHeaders,
    body: Result<Bytes, BytesRejection>,
) -> Answer<'static> {
    answer(state, path, headers, body, true)
}

/// Both operations' handler. Not `async`: the handlers return its [`Answer`], so the request
/// is not held in their futures (see [`respond`]).
fn answer(
    state: SharedState,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
    stream: bool,
) -> Answer<'static> {
    let started = Instant::now();
    let model = match model_id(path) {
        Ok(m) => m,
        Err(e) => return answered(e.into_response()),
    };
    let operation = if stream { "ConverseStream" } else { "Converse" };
    let (c, guard) = match decode(&state, operation, &model, headers, body, stream) {
        Ok(d) => d,
        // Errors are labelled with the model too, once the path names one.
        Err(e) => return answered(labelled(e.into_response(), &model)),
    };
    respond(state, &Bedrock { invoke: false }, c, operation, move |plan, _| {
        let verdict = guardrail::verdict(guard.as_ref(), plan);
        if stream {
            // The stream's own latency is what its schedule adds before the first frame.
            let latency = latency_ms(started) + plan.timing.latency_ms;
            Ok(Reply::stream(
                stream_frames(plan, latency, verdict.as_ref())?,
                EVENT_STREAM,
            ))
        } else {
            Ok(Reply::json(converse_body(
                plan,
                latency_ms(started),
                verdict.as_ref(),
            )))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn conversations_must_start_with_the_user_and_alternate() {
        let msgs = |roles: &[&str]| -> Vec<ChatMessage> {
            roles
                .iter()
                .map(|r| serde_json::from_value(json!({"role": r, "content": [{"text": "x"}]})).unwrap())
                .collect()
        };
        assert!(check_turns(&msgs(&["user", "assistant", "user"])).is_ok());
        let err = |roles: &[&str]| check_turns(&msgs(roles)).unwrap_err().message().to_string();
        assert!(err(&["assistant", "user"]).starts_with("A conversation must start with a user message"));
        assert!(err(&["user", "user"]).starts_with("A conversation must alternate"));
        assert!(err(&["user", "assistant", "assistant"]).starts_with("A conversation must alternate"));
    }

    /// What the one-parse path and the full path make of a body: the request, or the error.
    fn both_paths(body: &str, lenient: bool) -> (String, String) {
        let config = crate::Config {
            lenient,
            ..crate::Config::default()
        };
        let state = crate::AppState::new(crate::fixture::FixtureSet::embedded(), config);
        let shown = |r: Result<ConverseRequest, BedrockError>| match r {
            Ok(req) => format!("{req:?}"),
            Err(e) => e.message().to_string(),
        };
        let once = super::super::read_once::<ConverseRequest>(
            &state,
            "Converse",
            "m",
            &HeaderMap::new(),
            body.as_bytes(),
        );
        let fast = once.map_or_else(|| shown(full_path(&state, body)), |r| format!("{r:?}"));
        (fast, shown(full_path(&state, body)))
    }

    /// The body parsed to a `Value`, validated, then read.
    fn full_path(state: &SharedState, body: &str) -> Result<ConverseRequest, BedrockError> {
        let value: serde_json::Value = super::super::parse_json(body.as_bytes())?;
        super::super::validate(state, "Converse", "m", &HeaderMap::new(), Some(&value))?;
        super::super::from_owned(value, body.as_bytes())
    }

    #[test]
    fn a_body_read_in_one_parse_is_what_the_full_path_reads() {
        let valid = r#"{"messages":[{"role":"user","content":[{"text":"hi"}]}],"system":[{"text":"s"}],
            "inferenceConfig":{"maxTokens":10,"temperature":0.5},"additionalModelRequestFields":{"k":[1]},
            "toolConfig":{"tools":[{"toolSpec":{"name":"f","inputSchema":{"json":{"type":"object"}}}}]}}"#;
        let state = crate::AppState::new(crate::fixture::FixtureSet::embedded(), crate::Config::default());
        assert!(
            super::super::read_once::<ConverseRequest>(
                &state,
                "Converse",
                "m",
                &HeaderMap::new(),
                valid.as_bytes()
            )
            .is_some()
        );
        let deep = format!(
            r#"{{"messages":[{{"role":"user","content":[{{"text":"hi"}}]}}],"x":{}{}}}"#,
            "[".repeat(200),
            "]".repeat(200)
        );
        for body in [
            valid,
            r#"{"messages":[{"role":"user","content":[{"text":"hi"}]}],"messages":[]}"#,
            r#"{"messages":[{"role":"user","content":[{"text":"hi"}]}],"inferenceConfig":{"maxTokens":0}}"#,
            r#"{"messages":[{"role":"user","content":[{"text":5}]}]}"#,
            r#"{"messages":[{"role":"user","content":[{"text":"hi","image":{}}]}]}"#,
            r#"{"messages":[{"role":"user","content":[{"text":"hi"}]}],"inferenceConfig":"x"}"#,
            r#"{"messages": oops"#,
            "[]",
            // What serde_json's own skip passes and a `Value` refuses, in members nothing reads.
            r#"{"messages":[{"role":"user","content":[{"text":"hi"}]}],"x":1e400}"#,
            r#"{"messages":[{"role":"user","content":[{"text":"hi"}]}],"x":"\ud800"}"#,
            &deep,
            r#"{"messages":[{"role":"user","content":[{"text":"hi"}]}],"additionalModelRequestFields":{"a":1e400}}"#,
        ] {
            for lenient in [false, true] {
                let (fast, full) = both_paths(body, lenient);
                assert_eq!(fast, full, "{body} (lenient: {lenient})");
            }
        }
    }

    #[test]
    fn malformed_fields_are_named_in_the_validation_error() {
        let Err(err) = super::super::parse_json::<ConverseRequest>(
            br#"{"messages":[{"role":"user","content":[{"text":5}]}]}"#,
        ) else {
            panic!("a number is not text")
        };
        assert!(
            err.message().contains("messages[0].content[0].text"),
            "{}",
            err.message()
        );
        assert_eq!(err.type_(), "ValidationException");
    }
}
