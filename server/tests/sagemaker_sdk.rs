//! The AWS SDK for Rust (`aws-sdk-sagemakerruntime`), unchanged apart from `endpoint_url`, against
//! the mock in-process: both operations, both payload formats, streamed bytes re-assembled, typed
//! errors. Fixtures are the shared end-to-end ones in `tests/fixtures/`.

use aws_sdk_sagemakerruntime::Client;
use aws_sdk_sagemakerruntime::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_sagemakerruntime::operation::invoke_endpoint::InvokeEndpointError;
use aws_sdk_sagemakerruntime::primitives::Blob;
use aws_sdk_sagemakerruntime::types::ResponseStream;
use aws_sdk_sagemakerruntime::types::error::ResponseStreamError;
use mockmodel_server::{AppState, Config, app};
use serde_json::{Value, json};

const CHAT_YAML: &str = include_str!("../../tests/fixtures/chat.yaml");
const SAGEMAKER_YAML: &str = include_str!("../../tests/fixtures/sagemaker.yaml");
const HELLO: &str = "Hello! How can I help you today?";

/// Serves the shared fixtures on 127.0.0.1:0 and returns a client pointed at it.
async fn client() -> Client {
    let fixtures = mockmodel_server::fixture::load_documents([
        ("chat.yaml", CHAT_YAML),
        ("sagemaker.yaml", SAGEMAKER_YAML),
    ])
    .expect("fixtures load");
    let state = AppState::new(fixtures, Config::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app(state)).await });
    let config = aws_sdk_sagemakerruntime::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "static"))
        .endpoint_url(url)
        .build();
    Client::from_conf(config)
}

fn chat(text: &str) -> Blob {
    Blob::new(json!({"messages": [{"role": "user", "content": text}], "max_tokens": 64}).to_string())
}

fn tgi(text: &str) -> Blob {
    Blob::new(json!({"inputs": text, "parameters": {"max_new_tokens": 64}}).to_string())
}

/// Every PayloadPart's bytes, and the in-stream error if one ended the stream.
async fn payload_parts(
    mut stream: aws_sdk_sagemakerruntime::primitives::event_stream::EventReceiver<
        ResponseStream,
        ResponseStreamError,
    >,
) -> (Vec<Vec<u8>>, Option<ResponseStreamError>) {
    let mut parts = Vec::new();
    loop {
        match stream.recv().await {
            Ok(Some(ResponseStream::PayloadPart(p))) => {
                parts.push(p.bytes().expect("PayloadPart has bytes").as_ref().to_vec())
            }
            Ok(Some(other)) => panic!("unexpected event {other:?}"),
            Ok(None) => return (parts, None),
            Err(e) => return (parts, Some(e.into_service_error())),
        }
    }
}

/// The JSON of one SSE event (`data: {...}\n\n` or TGI's `data:{...}\n\n`); `None` for `[DONE]`.
fn sse_json(part: &[u8]) -> Option<Value> {
    let text = std::str::from_utf8(part).expect("utf-8");
    assert!(
        text.ends_with("\n\n"),
        "one whole event per PayloadPart: {text:?}"
    );
    let data = text.strip_prefix("data:").expect("data: event").trim();
    (data != "[DONE]").then(|| serde_json::from_str(data).expect("one JSON chunk per PayloadPart"))
}

#[tokio::test]
async fn invoke_endpoint_answers_openai_chat_with_a_chat_completion() {
    let out = client()
        .await
        .invoke_endpoint()
        .endpoint_name("llama-endpoint")
        .content_type("application/json")
        .custom_attributes("trace=abc")
        .body(chat("hello"))
        .send()
        .await
        .expect("invoke");
    assert_eq!(out.content_type(), Some("application/json"));
    assert_eq!(out.invoked_production_variant(), Some("AllTraffic"));
    assert_eq!(out.custom_attributes(), Some("trace=abc"));
    let body: Value = serde_json::from_slice(out.body().expect("body").as_ref()).unwrap();
    assert_eq!(body["object"], "chat.completion");
    assert_eq!(body["choices"][0]["message"]["content"], HELLO);
    assert_eq!(body["choices"][0]["finish_reason"], "stop");
    assert!(body["usage"]["total_tokens"].as_u64().unwrap() > 0);
}

#[tokio::test]
async fn invoke_endpoint_answers_tgi_generate_with_generated_text() {
    let out = client()
        .await
        .invoke_endpoint()
        .endpoint_name("tgi-endpoint")
        .content_type("application/json")
        .body(tgi("<s>[INST] hello [/INST]"))
        .send()
        .await
        .expect("invoke");
    let body: Value = serde_json::from_slice(out.body().unwrap().as_ref()).unwrap();
    assert_eq!(body, json!([{"generated_text": HELLO}]));
}

#[tokio::test]
async fn streamed_openai_chunks_reassemble_one_chunk_per_payload_part() {
    let out = client()
        .await
        .invoke_endpoint_with_response_stream()
        .endpoint_name("llama-endpoint")
        .content_type("application/json")
        .body(chat("hello"))
        .send()
        .await
        .expect("stream");
    assert_eq!(out.content_type(), Some("text/event-stream"));
    assert_eq!(out.invoked_production_variant(), Some("AllTraffic"));
    let (parts, error) = payload_parts(out.body).await;
    assert!(error.is_none());
    let chunks: Vec<Value> = parts.iter().filter_map(|p| sse_json(p)).collect();
    assert!(chunks.iter().all(|c| c["object"] == "chat.completion.chunk"));
    let text: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(text, HELLO);
    assert_eq!(chunks.last().unwrap()["choices"][0]["finish_reason"], "stop");
    assert_eq!(parts.last().unwrap(), b"data: [DONE]\n\n");
}

#[tokio::test]
async fn streamed_tgi_tokens_reassemble_and_end_with_the_generated_text() {
    let out = client()
        .await
        .invoke_endpoint_with_response_stream()
        .endpoint_name("tgi-endpoint")
        .body(tgi("hello"))
        .send()
        .await
        .expect("stream");
    let (parts, error) = payload_parts(out.body).await;
    assert!(error.is_none());
    let events: Vec<Value> = parts.iter().filter_map(|p| sse_json(p)).collect();
    let text: String = events
        .iter()
        .filter(|e| e["token"]["special"] == false)
        .map(|e| e["token"]["text"].as_str().unwrap())
        .collect();
    assert_eq!(text, HELLO);
    let last = events.last().unwrap();
    assert_eq!(last["generated_text"], HELLO);
    assert_eq!(last["details"]["finish_reason"], "eos_token");
}

#[tokio::test]
async fn streamed_tool_calls_carry_the_fixture_name_and_arguments() {
    let out = client()
        .await
        .invoke_endpoint_with_response_stream()
        .endpoint_name("llama-endpoint")
        .body(chat("weather in Paris?"))
        .send()
        .await
        .expect("stream");
    let (parts, _) = payload_parts(out.body).await;
    let calls: Vec<Value> = parts
        .iter()
        .filter_map(|p| sse_json(p))
        .filter_map(|c| c["choices"][0]["delta"]["tool_calls"].get(0).cloned())
        .collect();
    assert_eq!(calls[0]["function"]["name"], "get_weather");
    assert_eq!(calls[0]["id"], "call_weather_1");
    let args: String = calls
        .iter()
        .filter_map(|c| c["function"]["arguments"].as_str())
        .collect();
    assert_eq!(
        serde_json::from_str::<Value>(&args).unwrap(),
        json!({"city": "Paris"})
    );
}

#[tokio::test]
async fn a_model_error_fixture_is_the_typed_model_error_with_the_original_status() {
    let err = client()
        .await
        .invoke_endpoint()
        .endpoint_name("llama-endpoint")
        .body(chat("model error please"))
        .send()
        .await
        .expect_err("ModelError")
        .into_service_error();
    let InvokeEndpointError::ModelError(e) = err else {
        panic!("expected ModelError, got {err:?}")
    };
    assert_eq!(e.original_status_code(), Some(503));
    assert_eq!(e.original_message(), Some("CUDA out of memory"));
    assert!(
        e.log_stream_arn()
            .unwrap()
            .contains("/aws/sagemaker/Endpoints/llama-endpoint")
    );
    assert!(e.message().unwrap().contains("CUDA out of memory"));
}

#[tokio::test]
async fn not_ready_unavailable_and_malformed_bodies_are_their_typed_errors() {
    let c = client().await;
    let call = |body: Blob| c.invoke_endpoint().endpoint_name("ep").body(body).send();
    let err = call(chat("not ready")).await.unwrap_err().into_service_error();
    assert!(
        matches!(err, InvokeEndpointError::ModelNotReadyException(_)),
        "{err:?}"
    );
    let err = call(chat("unavailable")).await.unwrap_err().into_service_error();
    assert!(
        matches!(err, InvokeEndpointError::ServiceUnavailable(_)),
        "{err:?}"
    );
    let err = call(Blob::new("{\"prompt\": 1}"))
        .await
        .unwrap_err()
        .into_service_error();
    let InvokeEndpointError::ValidationError(e) = err else {
        panic!("expected ValidationError, got {err:?}")
    };
    assert!(e.message().unwrap().contains("\"messages\""), "{e:?}");
}

#[tokio::test]
async fn an_error_after_chunks_arrives_as_a_model_stream_error_after_the_chunks() {
    let out = client()
        .await
        .invoke_endpoint_with_response_stream()
        .endpoint_name("llama-endpoint")
        .body(chat("stream break"))
        .send()
        .await
        .expect("the stream starts");
    let (parts, error) = payload_parts(out.body).await;
    let text: String = parts
        .iter()
        .filter_map(|p| sse_json(p))
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str().map(str::to_string))
        .collect();
    assert_eq!(text, "This str", "two 4-character chunks, then the error");
    let Some(ResponseStreamError::ModelStreamError(e)) = error else {
        panic!("expected ModelStreamError, got {error:?}")
    };
    assert_eq!(e.error_code(), Some("StreamBroken"));
    assert_eq!(e.message(), Some("Model stream broke"));
}

#[tokio::test]
async fn an_internal_stream_failure_fixture_fails_the_stream_in_band() {
    let out = client()
        .await
        .invoke_endpoint_with_response_stream()
        .endpoint_name("llama-endpoint")
        .body(chat("stream failure"))
        .send()
        .await
        .expect("the stream starts");
    let (parts, error) = payload_parts(out.body).await;
    assert!(parts.is_empty());
    assert!(
        matches!(error, Some(ResponseStreamError::InternalStreamFailure(_))),
        "{error:?}"
    );
}

#[tokio::test]
async fn endpoint_name_target_variant_and_inference_component_select_fixtures() {
    let c = client().await;
    let text = |out: aws_sdk_sagemakerruntime::operation::invoke_endpoint::InvokeEndpointOutput| {
        let v: Value = serde_json::from_slice(out.body().unwrap().as_ref()).unwrap();
        v["choices"][0]["message"]["content"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let out = c
        .invoke_endpoint()
        .endpoint_name("canary-endpoint")
        .target_variant("canary")
        .body(chat("which one?"))
        .send()
        .await
        .unwrap();
    assert_eq!(out.invoked_production_variant(), Some("canary"));
    assert_eq!(text(out), "canary variant");
    let out = c
        .invoke_endpoint()
        .endpoint_name("prod-llm")
        .inference_component_name("ic-small")
        .body(chat("which one?"))
        .send()
        .await
        .unwrap();
    assert_eq!(text(out), "small component");
    let out = c
        .invoke_endpoint()
        .endpoint_name("prod-llm")
        .body(chat("which one?"))
        .send()
        .await
        .unwrap();
    assert_eq!(text(out), "production endpoint");
    let err = c
        .invoke_endpoint()
        .endpoint_name("canary-endpoint")
        .body(chat("which one?"))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(
        matches!(err, InvokeEndpointError::ValidationError(_)),
        "no fixture: {err:?}"
    );
}
