//! The request each scenario sends, per protocol: path, body and the wire its answer speaks.

use bytes::Bytes;
use serde_json::json;

use crate::wire::Wire;

/// The model id of the Bedrock requests (an id with a `:` as real ones have).
pub const BEDROCK_MODEL: &str = "anthropic.claude-3-haiku-20240307-v1:0";

/// One kind of request.
#[derive(Clone)]
pub struct Target {
    /// Name in the report.
    pub name: &'static str,
    /// How to count content frames in its answer.
    pub wire: Wire,
    /// Request path.
    pub path: String,
    /// JSON body.
    pub body: Bytes,
}

/// OpenAI chat completions.
pub fn openai_chat(text: &str, stream: bool) -> Target {
    Target {
        name: if stream {
            "OpenAI chat stream"
        } else {
            "OpenAI chat"
        },
        wire: Wire::Sse,
        path: "/v1/chat/completions".into(),
        body: Bytes::from(
            json!({"model": "gpt-4o", "stream": stream, "messages": [{"role": "user", "content": text}]})
                .to_string(),
        ),
    }
}

fn converse_body(text: &str) -> Bytes {
    Bytes::from(json!({"messages": [{"role": "user", "content": [{"text": text}]}]}).to_string())
}

/// Bedrock Converse.
pub fn converse(text: &str) -> Target {
    Target {
        name: "Bedrock Converse",
        wire: Wire::Bedrock,
        path: format!("/model/{BEDROCK_MODEL}/converse"),
        body: converse_body(text),
    }
}

/// Bedrock ConverseStream.
pub fn converse_stream(text: &str) -> Target {
    Target {
        name: "Bedrock ConverseStream",
        wire: Wire::Bedrock,
        path: format!("/model/{BEDROCK_MODEL}/converse-stream"),
        body: converse_body(text),
    }
}

/// Anthropic Messages, streamed.
pub fn anthropic_stream(text: &str) -> Target {
    Target {
        name: "Anthropic Messages stream",
        wire: Wire::Sse,
        path: "/v1/messages".into(),
        body: Bytes::from(
            json!({"model": "claude-sonnet-4-5", "max_tokens": 256, "stream": true,
                "messages": [{"role": "user", "content": text}]})
            .to_string(),
        ),
    }
}

/// OpenAI Responses, streamed.
pub fn responses_stream(text: &str) -> Target {
    Target {
        name: "OpenAI Responses stream",
        wire: Wire::Sse,
        path: "/v1/responses".into(),
        body: Bytes::from(json!({"model": "gpt-4o", "stream": true, "input": text}).to_string()),
    }
}

/// SageMaker InvokeEndpointWithResponseStream with an OpenAI chat body (TGI Messages API, vLLM).
pub fn sagemaker_stream(text: &str) -> Target {
    Target {
        name: "SageMaker response stream",
        wire: Wire::SageMaker,
        path: "/endpoints/bench-endpoint/invocations-response-stream".into(),
        body: Bytes::from(
            json!({"messages": [{"role": "user", "content": text}], "stream": true}).to_string(),
        ),
    }
}
