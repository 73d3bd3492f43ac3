//! Embedding models on InvokeModel: Amazon Titan Text Embeddings (`amazon.titan-embed-text-*`,
//! `{"inputText"}` → `{"embedding", "inputTextTokenCount"}`) and Cohere Embed (`cohere.embed-*`,
//! `{"texts", "input_type"}` → `{"embeddings", "id", "response_type", "texts"}`).
//!
//! Their bodies look like a chat family's (Titan Text also sends `inputText`), so they are told apart
//! by the model id before any chat decoding. A fixture's `embedding` answers; otherwise (a chat
//! fixture or none) the vector is derived from the text, as on the OpenAI route.

use serde::Deserialize;
use serde_json::{Value, json};

use super::base_model;
use crate::codec::embedding::deterministic;
use crate::conversation::{Conversation, Endpoint};
use crate::plan::Outcome;
use crate::routes::bedrock::{BedrockError, from_value};
use crate::state::SharedState;
use crate::tokens::estimate_tokens;

/// An embedding model's request/response dialect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmbedFamily {
    /// Amazon Titan Text Embeddings; the default width is the model's (v1: 1536, v2: 1024).
    Titan {
        /// Default `dimensions`.
        default_dims: usize,
    },
    /// Cohere Embed (v3: 1024 dimensions).
    Cohere,
}

impl EmbedFamily {
    /// The embedding family a model id names, if any.
    pub fn from_model(id: &str) -> Option<Self> {
        let m = base_model(id);
        if m.starts_with("amazon.titan-embed-text-v2") {
            Some(EmbedFamily::Titan { default_dims: 1024 })
        } else if m.starts_with("amazon.titan-embed") {
            Some(EmbedFamily::Titan { default_dims: 1536 })
        } else if m.starts_with("cohere.embed") {
            Some(EmbedFamily::Cohere)
        } else {
            None
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TitanRequest {
    input_text: String,
    #[serde(default)]
    dimensions: Option<usize>,
    #[serde(default)]
    embedding_types: Option<Vec<String>>,
}

#[derive(Deserialize)]
struct CohereRequest {
    texts: Vec<String>,
    #[serde(default)]
    embedding_types: Option<Vec<String>>,
    #[serde(default)]
    output_dimension: Option<usize>,
}

/// The vector for one text: the fixture's, else one derived from the text.
fn vector(fixture: Option<&Vec<f32>>, text: &str, dims: usize) -> Vec<f32> {
    fixture
        .cloned()
        .unwrap_or_else(|| deterministic(text, dims.clamp(1, 16_384)))
}

/// Answers an embedding InvokeModel body: the response JSON and its input token count.
pub fn answer(
    family: EmbedFamily,
    state: &SharedState,
    mut c: Conversation,
    body: &Value,
) -> Result<(Value, u64), BedrockError> {
    c.endpoint = Endpoint::Embedding;
    let (texts, dims, types, titan) = match family {
        EmbedFamily::Titan { default_dims } => {
            let r: TitanRequest = from_value(body)?;
            let dims = r.dimensions.unwrap_or(default_dims);
            (vec![r.input_text], dims, r.embedding_types, true)
        }
        EmbedFamily::Cohere => {
            let r: CohereRequest = from_value(body)?;
            if r.texts.is_empty() {
                return Err(BedrockError::validation(
                    "Malformed input request: #/texts: expected minimum item count: 1, found: 0, please reformat your input and try again.",
                ));
            }
            (
                r.texts,
                r.output_dimension.unwrap_or(1024),
                r.embedding_types,
                false,
            )
        }
    };
    c.input_text = Some(texts.join("\n"));
    let fixture = match state.resolve(&c, "InvokeModel") {
        Ok(Outcome::Error(e)) => return Err(BedrockError::from_plan(&e, &c.model)),
        Ok(Outcome::Embedding(v)) => Some(v),
        // Deterministic vectors need no fixture, as on the OpenAI route.
        Ok(Outcome::Message(_)) | Err(_) => None,
    };
    let tokens = estimate_tokens(texts.iter().map(|t| t.chars().count()).sum());
    let vectors: Vec<Vec<f32>> = texts.iter().map(|t| vector(fixture.as_ref(), t, dims)).collect();
    let body = if titan {
        let mut out = json!({"embedding": vectors[0], "inputTextTokenCount": tokens});
        if types.is_some_and(|t| t.iter().any(|t| t == "float")) {
            out["embeddingsByType"] = json!({"float": vectors[0]});
        }
        out
    } else {
        let id = crate::ids::uuid().to_string();
        match types {
            Some(types) => {
                let by_type: serde_json::Map<String, Value> = types
                    .iter()
                    .map(|t| {
                        (
                            t.clone(),
                            json!(vectors.iter().map(|v| typed(t, v)).collect::<Vec<_>>()),
                        )
                    })
                    .collect();
                json!({"id": id, "texts": texts, "embeddings": by_type, "response_type": "embeddings_by_type"})
            }
            None => {
                json!({"id": id, "texts": texts, "embeddings": vectors, "response_type": "embeddings_floats"})
            }
        }
    };
    Ok((body, tokens))
}

/// A unit vector in one of Cohere's `embedding_types`: floats, bytes scaled from [-1, 1], or sign bits
/// packed eight to a byte (`ubinary`; `binary` is the same minus 128).
fn typed(kind: &str, v: &[f32]) -> Value {
    match kind {
        "int8" => json!(v.iter().map(|x| (x * 127.0).round() as i8).collect::<Vec<_>>()),
        "uint8" => json!(
            v.iter()
                .map(|x| ((x * 127.0).round() + 128.0) as u8)
                .collect::<Vec<_>>()
        ),
        "binary" | "ubinary" => {
            let packed = v.chunks(8).map(|bits| {
                bits.iter()
                    .enumerate()
                    .fold(0u8, |acc, (i, x)| if *x > 0.0 { acc | (0x80 >> i) } else { acc })
            });
            if kind == "binary" {
                json!(packed.map(|b| i16::from(b) - 128).collect::<Vec<_>>())
            } else {
                json!(packed.collect::<Vec<_>>())
            }
        }
        _ => json!(v),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedding_models_are_told_apart_from_text_models() {
        assert_eq!(
            EmbedFamily::from_model("amazon.titan-embed-text-v2:0"),
            Some(EmbedFamily::Titan { default_dims: 1024 })
        );
        assert_eq!(
            EmbedFamily::from_model("amazon.titan-embed-text-v1"),
            Some(EmbedFamily::Titan { default_dims: 1536 })
        );
        assert_eq!(
            EmbedFamily::from_model("cohere.embed-english-v3"),
            Some(EmbedFamily::Cohere)
        );
        assert_eq!(EmbedFamily::from_model("amazon.titan-text-express-v1"), None);
        assert_eq!(EmbedFamily::from_model("cohere.command-r-v1:0"), None);
    }
}
