//! In-process tests of the Responses API wire (`/v1/responses`): the object and its numbered SSE
//! events, `previous_response_id` through the history, retrieve / delete, in-stream errors, the
//! journal's operation name, and OpenAI-shaped errors for bad input and unknown routes.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use mockmodel_server::fixture::load_documents;
use mockmodel_server::{AppState, Config, SharedState, app};
use serde_json::{Value, json};
use tower::ServiceExt;

const FIXTURES: &str = r#"
fixtures:
  - match: {userMessage: "forecast", hasToolResult: true}
    response: {content: "Snowy."}
  - match: {userMessage: "forecast"}
    response: {toolCalls: [{name: get_forecast, arguments: {city: Oslo}, id: call_1}]}
  - match: {userMessage: "broken"}
    chunkSize: 3
    errorAfterChunks: 2
    response: {content: "abcdefghijkl", error: {type: server_error, message: "boom"}, status: 500}
  - match: {userMessage: "hello"}
    chunkSize: 4
    response: {content: "Hi there"}
"#;

fn state() -> SharedState {
    AppState::new(
        load_documents([("t.yaml", FIXTURES)]).expect("valid"),
        Config::default(),
    )
}

async fn call(s: &SharedState, req: Request<Body>) -> (StatusCode, Vec<u8>) {
    let res = app(s).oneshot(req).await.expect("infallible");
    let (parts, body) = res.into_parts();
    (
        parts.status,
        body.collect().await.expect("body").to_bytes().to_vec(),
    )
}

async fn create(s: &SharedState, body: Value) -> (StatusCode, Value) {
    let req = Request::post("/v1/responses")
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    let (status, bytes) = call(s, req).await;
    (status, serde_json::from_slice(&bytes).expect("JSON"))
}

/// The `(event name, data)` pairs of an SSE body.
fn sse(bytes: &[u8]) -> Vec<(String, Value)> {
    std::str::from_utf8(bytes)
        .unwrap()
        .split("\n\n")
        .filter(|e| !e.is_empty())
        .map(|e| {
            let (event, data) = e.split_once('\n').expect("two lines");
            let name = event.strip_prefix("event: ").expect("event line").to_string();
            let data = data.strip_prefix("data: ").expect("data line");
            (name, serde_json::from_str(data).expect("JSON data"))
        })
        .collect()
}

#[tokio::test]
async fn a_function_call_is_continued_by_previous_response_id_then_retrieved_and_deleted() {
    let s = state();
    let (status, first) = create(&s, json!({"model": "gpt-4o", "input": "forecast?"})).await;
    assert_eq!(status, StatusCode::OK);
    let call_item = &first["output"][0];
    assert_eq!(call_item["type"], "function_call");
    assert_eq!(
        (&call_item["call_id"], &call_item["name"]),
        (&json!("call_1"), &json!("get_forecast"))
    );
    assert_eq!(call_item["arguments"], r#"{"city":"Oslo"}"#);
    let id = first["id"].as_str().unwrap().to_string();
    let (_, second) = create(
        &s,
        json!({"model": "gpt-4o", "previous_response_id": id,
            "input": [{"type": "function_call_output", "call_id": "call_1", "output": "snow"}]}),
    )
    .await;
    assert_eq!(second["output"][0]["content"][0]["text"], "Snowy.");
    assert_eq!(second["previous_response_id"], json!(id));

    let get = |id: &str| {
        Request::get(format!("/v1/responses/{id}"))
            .body(Body::empty())
            .unwrap()
    };
    let (status, body) = call(&s, get(&id)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(serde_json::from_slice::<Value>(&body).unwrap(), first);
    let del = Request::delete(format!("/v1/responses/{id}"))
        .body(Body::empty())
        .unwrap();
    let (status, body) = call(&s, del).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        serde_json::from_slice::<Value>(&body).unwrap(),
        json!({"id": id, "object": "response.deleted", "deleted": true})
    );
    let (status, body) = call(&s, get(&id)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        serde_json::from_slice::<Value>(&body).unwrap()["error"]["type"],
        "invalid_request_error"
    );
}

#[tokio::test]
async fn a_stream_is_numbered_events_ending_in_the_completed_response_and_the_journal_says_responses() {
    let s = state();
    let req = Request::post("/v1/responses")
        .header("content-type", "application/json")
        .body(Body::from(
            json!({"model": "gpt-4o", "input": "hello", "stream": true}).to_string(),
        ))
        .unwrap();
    let (status, bytes) = call(&s, req).await;
    assert_eq!(status, StatusCode::OK);
    let events = sse(&bytes);
    for (i, (name, data)) in events.iter().enumerate() {
        assert_eq!(data["type"], json!(name));
        assert_eq!(data["sequence_number"], json!(i));
    }
    let deltas: Vec<&str> = events
        .iter()
        .filter(|(n, _)| n == "response.output_text.delta")
        .map(|(_, d)| d["delta"].as_str().unwrap())
        .collect();
    assert_eq!(deltas, ["Hi t", "here"]);
    let (last, done) = events.last().unwrap();
    assert_eq!(last, "response.completed");
    assert_eq!(done["response"]["status"], "completed");
    let journal = s.journal.snapshot();
    assert_eq!(journal.last().unwrap().operation, "responses");
}

#[tokio::test]
async fn an_error_after_chunks_is_an_error_event_numbered_after_the_deltas() {
    let s = state();
    let req = Request::post("/v1/responses")
        .header("content-type", "application/json")
        .body(Body::from(
            json!({"model": "gpt-4o", "input": "broken", "stream": true}).to_string(),
        ))
        .unwrap();
    let (_, bytes) = call(&s, req).await;
    let events = sse(&bytes);
    let (name, error) = events.last().unwrap();
    assert_eq!(name, "error");
    assert_eq!(error["sequence_number"], json!(events.len() - 1));
    assert_eq!(error["error"]["message"], "boom");
    assert_eq!(error["error"]["type"], "server_error");
    let deltas = events
        .iter()
        .filter(|(n, _)| n == "response.output_text.delta")
        .count();
    assert_eq!(deltas, 2);
    assert!(s.history.is_empty(), "a failed stream is not kept");
}

#[tokio::test]
async fn bad_requests_and_unknown_routes_are_openai_errors() {
    let s = state();
    let (status, e) = create(
        &s,
        json!({"model": "gpt-4o", "previous_response_id": "resp_nope"}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(e["error"]["code"], "previous_response_not_found");
    let (status, e) = create(
        &s,
        json!({"model": "gpt-4o", "input": [{"role": "user", "content": 5}]}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(e["error"]["param"], "input[0].content");
    let (status, body) = call(&s, Request::put("/v1/responses").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(
        serde_json::from_slice::<Value>(&body).unwrap()["error"]["code"],
        "method_not_allowed"
    );
}

#[tokio::test]
async fn a_reset_forgets_stored_responses_and_store_false_keeps_none() {
    let s = state();
    create(&s, json!({"model": "gpt-4o", "input": "hello", "store": false})).await;
    assert!(s.history.is_empty());
    create(&s, json!({"model": "gpt-4o", "input": "hello"})).await;
    assert_eq!(s.history.len(), 1);
    let (status, _) = call(
        &s,
        Request::post("/__mockmodel/reset").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(s.history.is_empty());
}
