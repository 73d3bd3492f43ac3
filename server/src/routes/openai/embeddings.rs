//! `POST /v1/embeddings`: deterministic vectors (or a fixture's), float or base64 as asked.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::codec::embedding::deterministic;
use crate::codec::openai_error::{Checked, OpenAiError, OpenAiJson};
use crate::conversation::{Conversation, Endpoint, Protocol};
use crate::plan::Outcome;
use crate::state::SharedState;
use crate::validate::api::OpenAiSchema;
use crate::wire::labelled;

/// Default embedding width (text-embedding-3-small's).
const DEFAULT_DIMENSIONS: usize = 1536;

#[derive(Deserialize, Debug)]
pub(super) struct EmbeddingRequest {
    model: String,
    input: Value,
    #[serde(default)]
    encoding_format: Option<String>,
    #[serde(default)]
    dimensions: Option<usize>,
}

impl Checked for EmbeddingRequest {
    const SCHEMA: OpenAiSchema = OpenAiSchema("openai.embeddings");
}

fn embedding_inputs(input: &Value) -> Result<Vec<String>, OpenAiError> {
    let bad = || {
        OpenAiError::invalid(
            "'input' must be a string, an array of strings, or token arrays",
            Some("input"),
        )
    };
    match input {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(items) if items.is_empty() => Err(bad()),
        Value::Array(items) if items.iter().all(Value::is_string) => Ok(items
            .iter()
            .filter_map(|i| i.as_str().map(str::to_string))
            .collect()),
        // Token ids: embed their decimal text so the vector is still deterministic.
        Value::Array(items) if items.iter().all(Value::is_number) => Ok(vec![input.to_string()]),
        Value::Array(items) if items.iter().all(Value::is_array) => {
            Ok(items.iter().map(Value::to_string).collect())
        }
        _ => Err(bad()),
    }
}

pub(super) async fn embeddings(
    State(state): State<SharedState>,
    headers: HeaderMap,
    OpenAiJson(req): OpenAiJson<EmbeddingRequest>,
) -> Result<Response, OpenAiError> {
    let inputs = embedding_inputs(&req.input)?;
    let mut c = Conversation::new(Protocol::OpenAi, req.model.clone()).with_headers(&headers);
    c.endpoint = Endpoint::Embedding;
    c.input_text = Some(inputs.join("\n"));
    let dims = req.dimensions.unwrap_or(DEFAULT_DIMENSIONS).clamp(1, 16_384);
    let fixture_vector = match state.resolve(&c, "embeddings") {
        Ok(Outcome::Error(e)) => return Err(OpenAiError::from_plan(e)),
        Ok(Outcome::Embedding(v)) => Some(v),
        // A chat answer or no fixture at all still embeds: deterministic vectors need no fixture.
        Ok(Outcome::Message(_)) | Err(_) => None,
    };
    let base64 = req.encoding_format.as_deref() == Some("base64");
    let data: Vec<Value> = inputs
        .iter()
        .enumerate()
        .map(|(i, text)| {
            let v = fixture_vector
                .clone()
                .unwrap_or_else(|| deterministic(text, dims));
            let embedding = if base64 {
                // The OpenAI SDKs ask for base64 by default: little-endian f32s.
                let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
                json!(base64::engine::general_purpose::STANDARD.encode(bytes))
            } else {
                json!(v)
            };
            json!({"object": "embedding", "index": i, "embedding": embedding})
        })
        .collect();
    let tokens = crate::tokens::counter(&req.model).texts(inputs.iter().map(String::as_str));
    let body = json!({"object": "list", "data": data, "model": req.model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens}});
    Ok(labelled(axum::Json(body).into_response(), &req.model))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::openai_error::both_paths;
    use crate::validate::api::generated::{body, near_valid, text};

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(500))]

        /// The one-parse path reads an embeddings body as the full path does (`openai_error`).
        #[test]
        fn a_body_read_in_one_parse_is_what_the_full_path_reads(g in body(), (_, near) in near_valid(), lenient in proptest::bool::ANY) {
            for t in [text(&g), text(&near)] {
                let (fast, full) = both_paths::<EmbeddingRequest>(t.as_bytes(), lenient);
                proptest::prop_assert_eq!(fast, full, "{}", t);
            }
        }
    }
}
