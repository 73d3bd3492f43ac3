//! CountTokens (`POST /model/{modelId}/count-tokens`): the input tokens a Converse or InvokeModel
//! request would use, counted exactly as an answer's `usage.inputTokens` is (the same decoder, the
//! same estimate), so a context manager's count and the next answer's usage agree.
//!
//! Shapes from botocore's `CountTokensRequest`: `input` is a union of `converse` (the Converse
//! request's `messages`, `system`, `toolConfig`) and `invokeModel` (`body`, the model family's JSON
//! as a base64 blob); the answer is `{"inputTokens": N}`. A fixture matching the request (its
//! `operation` is `CountTokens`) may answer it with an error instead.

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde::Deserialize;
use serde_json::{Value, json};

use super::converse::ConverseRequest;
use super::{BedrockError, body_bytes, from_value, invoke, model_id, parse_json, validate};
use crate::conversation::{Conversation, Protocol};
use crate::plan::Outcome;
use crate::state::SharedState;
use crate::wire::labelled;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CountTokensInput {
    #[serde(default)]
    converse: Option<ConverseRequest>,
    #[serde(default)]
    invoke_model: Option<InvokeModelTokens>,
}

#[derive(Deserialize)]
struct InvokeModelTokens {
    /// The model family's request body, base64 (a blob in restJson1).
    body: String,
}

/// `POST /model/{modelId}/count-tokens`.
pub async fn count_tokens(
    State(state): State<SharedState>,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let model = match model_id(path) {
        Ok(m) => m,
        Err(e) => return e.into_response(),
    };
    let res = count(&state, &model, &headers, body)
        .map(|tokens| axum::Json(json!({"inputTokens": tokens})).into_response());
    labelled(res.unwrap_or_else(IntoResponse::into_response), &model)
}

fn count(
    state: &SharedState,
    model: &str,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<u64, BedrockError> {
    let body = body_bytes(body)?;
    let value: Value = parse_json(&body)?;
    validate(state, "CountTokens", model, headers, Some(&value))?;
    let input: CountTokensInput = from_value(value.get("input").unwrap_or(&Value::Null))?;
    let c = match (input.converse, input.invoke_model) {
        (Some(req), None) => {
            let mut c = Conversation::new(Protocol::Bedrock, model);
            req.decode_into(&mut c);
            c
        }
        (None, Some(invoke)) => {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(invoke.body.as_bytes())
                .map_err(|e| {
                    BedrockError::validation(format!("Invalid base64 in input.invokeModel.body: {e}"))
                })?;
            invoke::decode(
                model,
                headers,
                Ok(Bytes::from(bytes)),
                false,
                state.config.lenient,
            )?
            .0
        }
        // The union's "exactly one member" is the service model's check (above), unless --lenient.
        _ => {
            return Err(BedrockError::validation(
                "input must set exactly one of converse or invokeModel",
            ));
        }
    };
    // A fixture may answer CountTokens with an error (any the operation lists: access denied, not
    // found, throttling, internal, unavailable, validation); a message or no match still counts, so
    // counting never needs a fixture of its own.
    if let Ok(Outcome::Error(e)) = state.resolve(&c, "CountTokens") {
        return Err(BedrockError::from_plan(&e, model));
    }
    Ok(crate::tokens::prompt(&c))
}
