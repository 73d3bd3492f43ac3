//! Bedrock wire details no SDK call exposes: h2c prior knowledge (the AWS SDK for JavaScript v3's
//! default handler), raw headers, malformed bodies and unknown routes. Event-stream frames are decoded
//! with `aws-smithy-eventstream`, the SDKs' own decoder.

mod support;

use aws_smithy_eventstream::frame::{DecodedFrame, MessageFrameDecoder};
use aws_smithy_types::event_stream::Message;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request, StatusCode, Version};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};

const FIXTURES: &str = r#"
fixtures:
  - match: {model: "anthropic.claude-v2:1", userMessage: "exact"}
    response: {content: "matched the decoded id"}
  - match: {userMessage: "hello"}
    chunkSize: 5
    response: {content: "Hello! How can I help you today?", usage: {inputTokens: 11, outputTokens: 7}}
"#;

fn header<'a>(m: &'a Message, name: &str) -> Option<&'a str> {
    m.headers()
        .iter()
        .find(|h| h.name().as_str() == name)
        .and_then(|h| h.value().as_string().ok())
        .map(|s| s.as_str())
}

/// Splits an event-stream body into messages with the SDK's decoder.
fn frames(mut body: Bytes) -> Vec<Message> {
    let mut decoder = MessageFrameDecoder::new();
    let mut out = Vec::new();
    while let DecodedFrame::Complete(m) = decoder.decode_frame(&mut body).expect("valid frame") {
        out.push(m);
    }
    assert!(body.is_empty(), "trailing bytes after the last frame");
    out
}

async fn send(
    client: &Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>,
    method: Method,
    uri: String,
    body: &str,
) -> (StatusCode, Version, hyper::HeaderMap, Bytes) {
    let req = Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap();
    let res = client.request(req).await.expect("request");
    let (parts, body) = res.into_parts();
    let bytes = body.collect().await.expect("body").to_bytes();
    (parts.status, parts.version, parts.headers, bytes)
}

fn http1() -> Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>> {
    Client::builder(TokioExecutor::new()).build_http()
}

#[tokio::test]
async fn an_h2c_prior_knowledge_client_gets_a_converse_stream_answer() {
    let (url, _) = support::start(FIXTURES).await;
    // HTTP/2 only, no upgrade: what the JS SDK v3's NodeHttp2Handler does on an http:// endpoint.
    let h2 = Client::builder(TokioExecutor::new())
        .http2_only(true)
        .build_http::<Full<Bytes>>();
    let body = json!({"messages": [{"role": "user", "content": [{"text": "hello"}]}]}).to_string();
    let (status, version, headers, bytes) = send(
        &h2,
        Method::POST,
        format!("{url}/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse-stream"),
        &body,
    )
    .await;
    assert_eq!((status, version), (StatusCode::OK, Version::HTTP_2));
    assert_eq!(headers["content-type"], "application/vnd.amazon.eventstream");
    assert!(headers.contains_key("x-amzn-requestid"));
    let messages = frames(bytes);
    let types: Vec<&str> = messages
        .iter()
        .map(|m| header(m, ":event-type").unwrap())
        .collect();
    assert_eq!(types.first(), Some(&"messageStart"));
    assert_eq!(types.last(), Some(&"metadata"));
    let text: String = messages
        .iter()
        .filter(|m| header(m, ":event-type") == Some("contentBlockDelta"))
        .map(|m| {
            let v: Value = serde_json::from_slice(m.payload()).unwrap();
            v["delta"]["text"].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(text, "Hello! How can I help you today?");
    // The payload is the event's members only, never wrapped in its own name.
    let start: Value = serde_json::from_slice(messages[0].payload()).unwrap();
    assert_eq!(start, json!({"role": "assistant"}));
    for m in &messages {
        assert_eq!(header(m, ":message-type"), Some("event"));
        assert_eq!(header(m, ":content-type"), Some("application/json"));
    }

    // The same port still speaks HTTP/1.1.
    let (status, version, _, _) =
        send(&http1(), Method::POST, format!("{url}/model/m/converse"), &body).await;
    assert_eq!((status, version), (StatusCode::OK, Version::HTTP_11));
}

#[tokio::test]
async fn invoke_model_sends_token_count_and_latency_headers_and_the_stream_its_content_type() {
    let (url, _) = support::start(FIXTURES).await;
    let body = json!({"inputText": "hello"}).to_string();
    let (status, _, headers, _) = send(
        &http1(),
        Method::POST,
        format!("{url}/model/amazon.titan-text-express-v1/invoke"),
        &body,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["x-amzn-bedrock-input-token-count"], "11");
    assert_eq!(headers["x-amzn-bedrock-output-token-count"], "7");
    assert!(
        headers["x-amzn-bedrock-invocation-latency"]
            .to_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            >= 1
    );
    let (status, _, headers, bytes) = send(
        &http1(),
        Method::POST,
        format!("{url}/model/amazon.titan-text-express-v1/invoke-with-response-stream"),
        &body,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["x-amzn-bedrock-content-type"], "application/json");
    let first = &frames(bytes)[0];
    assert_eq!(header(first, ":event-type"), Some("chunk"));
    let payload: Value = serde_json::from_slice(first.payload()).unwrap();
    let keys: Vec<&String> = payload.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        ["bytes"],
        "a chunk is {{\"bytes\": base64}} and nothing else"
    );
}

#[tokio::test]
async fn a_percent_encoded_model_id_matches_its_decoded_fixture() {
    let (url, _) = support::start(FIXTURES).await;
    let body = json!({"messages": [{"role": "user", "content": [{"text": "exact"}]}]}).to_string();
    let (status, _, _, bytes) = send(
        &http1(),
        Method::POST,
        format!("{url}/model/anthropic.claude-v2%3A1/converse"),
        &body,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let v: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(
        v["output"]["message"]["content"][0]["text"],
        "matched the decoded id"
    );
}

#[tokio::test]
async fn malformed_bodies_unknown_routes_and_methods_are_aws_errors_with_a_request_id() {
    let (url, _) = support::start(FIXTURES).await;
    let client = http1();
    let cases = [
        (
            Method::POST,
            "/model/m/converse",
            "{not json",
            400,
            "ValidationException",
            "not valid JSON",
        ),
        (
            Method::POST,
            "/model/m/converse",
            r#"{"messages":[{"role":"user","content":[{"text":1}]}]}"#,
            400,
            "ValidationException",
            "messages[0].content[0].text",
        ),
        (
            Method::POST,
            "/model/m/converse-stream",
            r#"{"messages":[{"role":"robot","content":[]}]}"#,
            400,
            "ValidationException",
            // Checked against the service model first, and reported in AWS's words.
            "Value 'robot' at 'messages.1.member.role' failed to satisfy constraint: Member must satisfy enum value set",
        ),
        (
            Method::POST,
            "/model/meta.llama3-8b-instruct-v1:0/invoke",
            r#"{"prompt": 5}"#,
            400,
            "ValidationException",
            "prompt",
        ),
        (
            Method::POST,
            "/model/m/unknown-op",
            "{}",
            404,
            "UnknownOperationException",
            "/model/m/unknown-op",
        ),
        (
            Method::GET,
            "/model/m/converse",
            "",
            405,
            "UnknownOperationException",
            "GET",
        ),
    ];
    for (method, path, body, status, type_, needle) in cases {
        let (got, _, headers, bytes) = send(&client, method.clone(), format!("{url}{path}"), body).await;
        assert_eq!(got.as_u16(), status, "{method} {path}");
        assert_eq!(headers["x-amzn-errortype"], type_, "{method} {path}");
        assert!(headers.contains_key("x-amzn-requestid"));
        let v: Value = serde_json::from_slice(&bytes).unwrap();
        let message = v["message"].as_str().unwrap();
        assert!(message.contains(needle), "{method} {path}: {message}");
    }
}

#[tokio::test]
async fn an_oversized_body_is_a_validation_exception() {
    let set = mockmodel_server::fixture::load_documents([("t.yaml", FIXTURES)]).unwrap();
    let config = mockmodel_server::Config {
        max_body_bytes: 64,
        ..Default::default()
    };
    let (url, _) = support::start_with(set, config).await;
    let big = json!({"messages": [{"role": "user", "content": [{"text": "x".repeat(200)}]}]}).to_string();
    let (status, _, headers, _) = send(&http1(), Method::POST, format!("{url}/model/m/converse"), &big).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(headers["x-amzn-errortype"], "ValidationException");
}
