//! In-process tests of the Anthropic Messages wire (`app(state).oneshot(...)`): body and stream
//! shapes, errors in Anthropic's shape, token counting and the model list by header.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use mockmodel_server::fixture::load_documents;
use mockmodel_server::{AppState, Config, app};
use serde_json::{Value, json};
use tower::ServiceExt;

const FIXTURES: &str = r#"
fixtures:
  - match: {userMessage: "wire hello"}
    response: {content: "Hello from the wire", usage: {input_tokens: 7, output_tokens: 5}}
  - match: {userMessage: "wire tool", hasToolResult: true}
    response: {content: "It is sunny."}
  - match: {userMessage: "wire tool"}
    response: {toolCalls: [{name: get_weather, arguments: {city: Paris}, id: toolu_1}]}
  - match: {userMessage: "wire think"}
    response: {reasoning: "Let me think", reasoningSignature: "sig123", content: "42"}
  - match: {userMessage: "wire stop"}
    response: {content: "up to", finishReason: stop_sequence}
  - match: {userMessage: "wire throttle"}
    response: {error: {type: rate_limit_error, message: "Slow down"}, status: 429, retryAfter: 2}
  - match: {userMessage: "wire overloaded"}
    response: {error: {type: ServiceUnavailableException, message: "Overloaded"}}
  - match: {userMessage: "wire midstream"}
    errorAfterChunks: 1
    chunkSize: 3
    response: {content: "abcdefghi", error: {type: overloaded_error, message: "Overloaded"}, status: 529}
"#;

fn state(strict: bool) -> mockmodel_server::SharedState {
    let config = Config {
        strict,
        ..Config::default()
    };
    AppState::new(load_documents([("t.yaml", FIXTURES)]).expect("valid"), config)
}

async fn call(
    s: &mockmodel_server::SharedState,
    req: Request<Body>,
) -> (StatusCode, axum::http::HeaderMap, String) {
    let res = app(s).oneshot(req).await.expect("infallible");
    let (parts, body) = res.into_parts();
    let bytes = body.collect().await.expect("body").to_bytes();
    (
        parts.status,
        parts.headers,
        String::from_utf8(bytes.to_vec()).unwrap(),
    )
}

fn post(path: &str, body: Value) -> Request<Body> {
    Request::post(path)
        .header("content-type", "application/json")
        .header("anthropic-version", "2023-06-01")
        .header("x-api-key", "ignored")
        .body(Body::from(body.to_string()))
        .unwrap()
}

fn ask(text: &str, stream: bool) -> Value {
    json!({"model": "claude-sonnet-4-5", "max_tokens": 100, "stream": stream,
        "stop_sequences": ["END"], "messages": [{"role": "user", "content": text}]})
}

async fn message(
    s: &mockmodel_server::SharedState,
    body: Value,
) -> (StatusCode, axum::http::HeaderMap, Value) {
    let (status, headers, text) = call(s, post("/v1/messages", body)).await;
    (status, headers, serde_json::from_str(&text).expect("JSON"))
}

#[tokio::test]
async fn a_message_echoes_the_model_and_reports_usage_with_cache_counts() {
    let (status, headers, v) = message(&state(false), ask("wire hello", false)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(headers["request-id"].to_str().unwrap().starts_with("req_"));
    assert!(v["id"].as_str().unwrap().starts_with("msg_"));
    assert_eq!(
        (&v["type"], &v["role"], &v["model"]),
        (
            &json!("message"),
            &json!("assistant"),
            &json!("claude-sonnet-4-5")
        )
    );
    assert_eq!(
        v["content"],
        json!([{"type": "text", "text": "Hello from the wire"}])
    );
    assert_eq!(
        (&v["stop_reason"], &v["stop_sequence"]),
        (&json!("end_turn"), &Value::Null)
    );
    assert_eq!(
        v["usage"],
        json!({"input_tokens": 7, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0, "output_tokens": 5})
    );
    let (_, _, v) = message(&state(false), ask("wire stop", false)).await;
    assert_eq!(
        (&v["stop_reason"], &v["stop_sequence"]),
        (&json!("stop_sequence"), &json!("END"))
    );
}

#[tokio::test]
async fn tool_use_then_tool_result_and_thinking_with_its_signature() {
    let s = state(false);
    let (_, _, v) = message(&s, ask("wire tool", false)).await;
    assert_eq!(v["stop_reason"], "tool_use");
    assert_eq!(
        v["content"][0],
        json!({"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}})
    );
    let round_trip = json!({"model": "claude-sonnet-4-5", "max_tokens": 100, "messages": [
        {"role": "user", "content": "wire tool"},
        {"role": "assistant", "content": [v["content"][0].clone()]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "sunny"}]}]});
    let (_, _, v) = message(&s, round_trip).await;
    assert_eq!(v["content"][0]["text"], "It is sunny.");
    let (_, _, v) = message(&s, ask("wire think", false)).await;
    assert_eq!(
        v["content"][0],
        json!({"type": "thinking", "thinking": "Let me think", "signature": "sig123"})
    );
}

/// The `event:` names of an SSE body, in order.
fn event_names(body: &str) -> Vec<&str> {
    body.lines().filter_map(|l| l.strip_prefix("event: ")).collect()
}

#[tokio::test]
async fn a_stream_sends_the_named_events_in_the_apis_order() {
    let (status, headers, body) = call(&state(false), post("/v1/messages", ask("wire think", true))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], "text/event-stream; charset=utf-8");
    let names = event_names(&body);
    assert_eq!(&names[..3], ["message_start", "ping", "content_block_start"]);
    assert_eq!(&names[names.len() - 2..], ["message_delta", "message_stop"]);
    for needle in [
        "\"thinking_delta\"",
        "\"signature_delta\"",
        "\"text_delta\"",
        "\"output_tokens\"",
    ] {
        assert!(body.contains(needle), "{needle} in {body}");
    }
    let (_, _, body) = call(&state(false), post("/v1/messages", ask("wire tool", true))).await;
    assert!(body.contains("\"input_json_delta\""), "{body}");
}

#[tokio::test]
async fn errors_take_anthropics_shape_status_and_headers() {
    let s = state(false);
    let (status, headers, v) = message(&s, ask("wire throttle", false)).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(headers["retry-after"], "2");
    assert_eq!(v["type"], "error");
    assert_eq!(
        v["error"],
        json!({"type": "rate_limit_error", "message": "Slow down"})
    );
    assert!(v["request_id"].as_str().unwrap().starts_with("req_"));
    let (status, _, v) = message(&s, ask("wire overloaded", false)).await;
    assert_eq!(
        (status.as_u16(), &v["error"]["type"]),
        (529, &json!("overloaded_error"))
    );
    let (status, _, v) = message(&s, ask("nothing matches this", false)).await;
    assert_eq!(
        (status, &v["error"]["type"]),
        (StatusCode::NOT_FOUND, &json!("not_found_error"))
    );
    let (status, _, v) = message(&state(true), ask("nothing matches this", false)).await;
    assert_eq!(
        (status, &v["error"]["type"]),
        (StatusCode::SERVICE_UNAVAILABLE, &json!("api_error"))
    );
}

#[tokio::test]
async fn an_error_after_chunks_is_an_error_event_inside_the_stream() {
    let (status, _, body) = call(&state(false), post("/v1/messages", ask("wire midstream", true))).await;
    assert_eq!(status, StatusCode::OK);
    let names = event_names(&body);
    assert_eq!(names.last(), Some(&"error"), "{body}");
    assert!(!names.contains(&"message_stop"));
    let last = body
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .next_back()
        .unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(last).unwrap(),
        json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})
    );
    assert!(body.contains("\"text\":\"abc\""), "{body}");
}

#[tokio::test]
async fn bad_input_is_a_400_naming_the_field_never_a_5xx() {
    let s = state(false);
    for (body, said) in [
        (
            json!({"model": "c", "messages": [{"role": "user", "content": "x"}]}),
            "max_tokens: Field required",
        ),
        (
            json!({"max_tokens": 1, "messages": [{"role": "user", "content": "x"}]}),
            "model: Field required",
        ),
        (
            json!({"model": "c", "max_tokens": 1, "messages": []}),
            "messages: at least one message is required",
        ),
        (
            json!({"model": "c", "max_tokens": 1, "messages": [{"role": "user"}]}),
            "messages.0.content: Field required",
        ),
        (
            json!({"model": "c", "max_tokens": 1, "messages": [{"role": "user", "content": "x"}, {"role": "system", "content": "x"}]}),
            "messages.1.role: Input should be 'user' or 'assistant'",
        ),
    ] {
        let (status, _, v) = message(&s, body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(
            v["error"],
            json!({"type": "invalid_request_error", "message": said})
        );
    }
    let req = Request::post("/v1/messages").body(Body::from("{nope")).unwrap();
    let (status, _, text) = call(&s, req).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{text}");
    let (status, _, text) = call(&s, Request::get("/v1/messages/nope").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(text.contains("not_found_error"), "{text}");
}

#[tokio::test]
async fn count_tokens_reports_the_estimate_the_usage_uses() {
    let s = state(false);
    let body = json!({"model": "c", "system": "be brief", "messages": [{"role": "user", "content": "count these words"}]});
    let (status, _, text) = call(&s, post("/v1/messages/count_tokens", body.clone())).await;
    assert_eq!(status, StatusCode::OK);
    let expected = ("be brief".len() + "count these words".len()).div_ceil(4);
    assert_eq!(
        serde_json::from_str::<Value>(&text).unwrap(),
        json!({"input_tokens": expected})
    );
}

#[tokio::test]
async fn the_model_list_takes_anthropics_shape_when_the_client_is_anthropics() {
    let s = state(false);
    let get = |anthropic: bool| {
        let mut r = Request::get("/v1/models");
        if anthropic {
            r = r.header("anthropic-version", "2023-06-01");
        }
        r.body(Body::empty()).unwrap()
    };
    let (_, _, text) = call(&s, get(true)).await;
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        (&v["has_more"], &v["data"][0]["type"]),
        (&json!(false), &json!("model"))
    );
    let (_, _, text) = call(&s, get(false)).await;
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        (&v["object"], &v["data"][0]["object"]),
        (&json!("list"), &json!("model"))
    );
}
