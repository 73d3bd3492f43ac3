//! The `POST /responses` request body: the fields that steer the answer or that the response
//! object echoes (names as in the `openai` SDK's `response_create_params`).

use serde::Deserialize;
use serde_json::Value;

use crate::codec::openai_error::Checked;
use crate::validate::api::OpenAiSchema;

/// A `POST /responses` body: the fields that steer the answer or are echoed in the response object.
#[derive(Deserialize, Default, Debug)]
pub struct ResponsesRequest {
    /// The model asked for (checked by [`super::decode`], so a missing one is worded as the API does).
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub(super) input: Option<Value>,
    #[serde(default)]
    pub(super) instructions: Option<Value>,
    #[serde(default)]
    pub(super) tools: Option<Vec<Value>>,
    #[serde(default)]
    pub(super) tool_choice: Option<Value>,
    #[serde(default)]
    pub(super) parallel_tool_calls: Option<bool>,
    /// The earlier answer this request continues.
    #[serde(default)]
    pub previous_response_id: Option<String>,
    /// Whether to stream.
    #[serde(default)]
    pub stream: Option<bool>,
    /// Whether the answer is kept for later retrieval (the API's default is to keep it).
    #[serde(default)]
    pub store: Option<bool>,
    /// Extra output asked for (`reasoning.encrypted_content`).
    #[serde(default)]
    pub(super) include: Option<Vec<String>>,
    #[serde(default)]
    pub(super) max_output_tokens: Option<u64>,
    #[serde(default)]
    pub(super) text: Option<Value>,
    #[serde(default)]
    pub(super) reasoning: Option<Value>,
    #[serde(default)]
    pub(super) metadata: Option<Value>,
    #[serde(default)]
    pub(super) temperature: Option<f64>,
    #[serde(default)]
    pub(super) top_p: Option<f64>,
    #[serde(default)]
    pub(super) truncation: Option<String>,
    #[serde(default)]
    pub(super) user: Option<String>,
}

impl Checked for ResponsesRequest {
    const SCHEMA: OpenAiSchema = OpenAiSchema("openai.responses");
}

impl ResponsesRequest {
    /// Whether the answer is streamed.
    pub fn streamed(&self) -> bool {
        self.stream.unwrap_or(false)
    }

    /// Whether the answer is kept for `previous_response_id` and retrieval.
    pub fn stored(&self) -> bool {
        self.store.unwrap_or(true)
    }
}
