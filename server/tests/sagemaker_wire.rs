//! SageMaker wire details below what the SDK shows, in-process with `oneshot`: the event-stream
//! frame headers (decoded by `aws-smithy-eventstream`, the SDK's own decoder), the container contract
//! and the per-endpoint payload format override.

use aws_smithy_eventstream::frame::read_message_from;
use aws_smithy_types::event_stream::{HeaderValue, Message};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use mockmodel_server::formats::PayloadFormat;
use mockmodel_server::{AppState, Config, app};
use serde_json::{Value, json};
use tower::ServiceExt;

const CHAT_YAML: &str = include_str!("../../tests/fixtures/chat.yaml");
const SAGEMAKER_YAML: &str = include_str!("../../tests/fixtures/sagemaker.yaml");
const HELLO: &str = "Hello! How can I help you today?";

fn router(config: Config) -> axum::Router {
    let fixtures = mockmodel_server::fixture::load_documents([
        ("chat.yaml", CHAT_YAML),
        ("sagemaker.yaml", SAGEMAKER_YAML),
    ])
    .expect("fixtures load");
    app(AppState::new(fixtures, config))
}

async fn post(config: Config, path: &str, body: Value) -> (StatusCode, axum::http::HeaderMap, bytes::Bytes) {
    let req = Request::post(path)
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    let res = router(config).oneshot(req).await.unwrap();
    let (parts, body) = res.into_parts();
    (
        parts.status,
        parts.headers,
        body.collect().await.unwrap().to_bytes(),
    )
}

fn frames(mut wire: &[u8]) -> Vec<Message> {
    let mut out = Vec::new();
    while !wire.is_empty() {
        out.push(read_message_from(&mut wire).expect("a valid frame"));
    }
    out
}

fn header<'a>(m: &'a Message, name: &str) -> &'a str {
    match m
        .headers()
        .iter()
        .find(|h| h.name().as_str() == name)
        .map(|h| h.value())
    {
        Some(HeaderValue::String(s)) => s.as_str(),
        other => panic!("{name}: {other:?}"),
    }
}

fn chat(text: &str) -> Value {
    json!({"messages": [{"role": "user", "content": text}]})
}

#[tokio::test]
async fn payload_parts_are_octet_stream_events_holding_one_sse_event_each() {
    let (status, headers, body) = post(
        Config::default(),
        "/endpoints/ep/invocations-response-stream",
        chat("hello"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], "application/vnd.amazon.eventstream");
    assert_eq!(headers["x-amzn-sagemaker-content-type"], "text/event-stream");
    assert_eq!(headers["x-amzn-invoked-production-variant"], "AllTraffic");
    assert!(headers.contains_key("x-amzn-requestid"));
    let frames = frames(&body);
    let mut text = String::new();
    for m in &frames {
        assert_eq!(header(m, ":message-type"), "event");
        assert_eq!(header(m, ":event-type"), "PayloadPart");
        assert_eq!(header(m, ":content-type"), "application/octet-stream");
        let payload = std::str::from_utf8(m.payload()).unwrap();
        let data = payload
            .strip_prefix("data: ")
            .and_then(|p| p.strip_suffix("\n\n"))
            .expect(payload);
        if data != "[DONE]" {
            let chunk: Value = serde_json::from_str(data).expect("exactly one JSON chunk");
            text.push_str(chunk["choices"][0]["delta"]["content"].as_str().unwrap_or(""));
        }
    }
    assert_eq!(text, HELLO);
}

#[tokio::test]
async fn in_stream_errors_are_exception_frames_with_the_service_model_members() {
    let (status, _, body) = post(
        Config::default(),
        "/endpoints/ep/invocations-response-stream",
        chat("stream break"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let frames = frames(&body);
    let last = frames.last().unwrap();
    assert_eq!(header(last, ":message-type"), "exception");
    assert_eq!(header(last, ":exception-type"), "ModelStreamError");
    assert_eq!(header(last, ":content-type"), "application/json");
    let payload: Value = serde_json::from_slice(last.payload()).unwrap();
    assert_eq!(
        payload,
        json!({"Message": "Model stream broke", "ErrorCode": "StreamBroken"})
    );
    // The role chunk, then exactly two content chunks.
    assert_eq!(frames.len(), 4);
}

#[tokio::test]
async fn a_forced_format_rejects_the_other_formats_body_naming_the_field() {
    let config = Config {
        sagemaker_formats: vec![("tgi-only".into(), PayloadFormat::Tgi)],
        ..Config::default()
    };
    let (status, headers, body) =
        post(config.clone(), "/endpoints/tgi-only/invocations", chat("hello")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(headers["x-amzn-errortype"], "ValidationError");
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert!(body["Message"].as_str().unwrap().contains("inputs"), "{body}");
    // Other endpoints still detect the format from the body.
    let (status, _, _) = post(config, "/endpoints/other/invocations", chat("hello")).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn the_container_pings_and_answers_invocations_in_the_containers_own_bytes() {
    let res = router(Config::default())
        .oneshot(Request::get("/ping").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);

    let (status, headers, body) = post(
        Config::default(),
        "/invocations",
        json!({"inputs": "hello", "stream": true}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], "text/event-stream");
    let text: String = std::str::from_utf8(&body)
        .unwrap()
        .split("\n\n")
        .filter_map(|e| e.strip_prefix("data:"))
        .map(|e| serde_json::from_str::<Value>(e).unwrap())
        .filter(|e| e["token"]["special"] == false)
        .map(|e| e["token"]["text"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(text, HELLO);

    // A failing container answers with its own status and error body; SageMaker would wrap it.
    let (status, _, body) = post(Config::default(), "/invocations", chat("model error")).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        (body["object"].as_str(), body["message"].as_str()),
        (Some("error"), Some("CUDA out of memory"))
    );
}
