//! In-process tests of the router (`app(state).oneshot(...)`): operational routes, error shapes of
//! unknown routes, hot reload keeping the last good fixtures.

use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use mockmodel_server::fixture::{load_documents, load_paths};
use mockmodel_server::{AppState, Config, app, reload};
use serde_json::{Value, json};
use tower::ServiceExt;

const FIXTURES: &str = "fixtures:\n- {match: {userMessage: hello}, response: {content: Hi there}}\n";

fn state() -> mockmodel_server::SharedState {
    AppState::new(
        load_documents([("t.yaml", FIXTURES)]).expect("valid"),
        Config::default(),
    )
}

async fn call(
    state: &mockmodel_server::SharedState,
    req: Request<Body>,
) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
    let res = app(state).oneshot(req).await.expect("infallible");
    let (parts, body) = res.into_parts();
    (
        parts.status,
        parts.headers,
        body.collect().await.expect("body").to_bytes().to_vec(),
    )
}

fn chat(text: &str) -> Request<Body> {
    let body = json!({"model": "gpt-4o", "messages": [{"role": "user", "content": text}]});
    Request::post("/v1/chat/completions")
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap()
}

#[tokio::test]
async fn health_readiness_and_fixture_listing() {
    let s = state();
    let (status, _, body) = call(&s, Request::get("/healthz").body(Body::empty()).unwrap()).await;
    assert_eq!((status, body.as_slice()), (StatusCode::OK, b"ok".as_slice()));
    let (status, _, _) = call(&s, Request::get("/readyz").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    let (_, _, body) = call(
        &s,
        Request::get("/__mockmodel/fixtures").body(Body::empty()).unwrap(),
    )
    .await;
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["count"], 1);
    assert_eq!(v["fixtures"][0]["label"], "t.yaml#0 (userMessage \"hello\")");
}

#[tokio::test]
async fn strict_mode_answers_unmatched_requests_with_503() {
    let s = AppState::new(
        load_documents([("t.yaml", FIXTURES)]).unwrap(),
        Config {
            strict: true,
            ..Config::default()
        },
    );
    let (status, _, body) = call(&s, chat("goodbye")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert!(v["error"]["message"].as_str().unwrap().contains("\"goodbye\""));
}

#[tokio::test]
async fn unknown_routes_get_the_error_shape_of_their_protocol_and_a_request_id() {
    let s = state();
    let (status, headers, body) = call(&s, Request::get("/v1/nope").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        serde_json::from_slice::<Value>(&body).unwrap()["error"]["code"],
        "unknown_url"
    );
    // OpenAI's request id, as its SDKs read it (AWS paths get `x-amzn-RequestId`).
    assert!(headers["x-request-id"].to_str().unwrap().starts_with("req_"));
    assert!(!headers.contains_key("x-amzn-requestid"));

    let (status, headers, body) = call(&s, Request::post("/nope").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(headers["x-amzn-errortype"], "UnknownOperationException");
    assert!(serde_json::from_slice::<Value>(&body).unwrap()["message"].is_string());

    let (status, _, body) = call(
        &s,
        Request::get("/v1/chat/completions").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(
        serde_json::from_slice::<Value>(&body).unwrap()["error"]["type"],
        "invalid_request_error"
    );
}

#[tokio::test]
async fn the_journal_is_bounded_limited_and_clearable() {
    let s = AppState::new(
        load_documents([("t.yaml", FIXTURES)]).unwrap(),
        Config {
            journal_size: 2,
            ..Config::default()
        },
    );
    for text in ["hello 1", "hello 2", "hello 3"] {
        assert_eq!(call(&s, chat(text)).await.0, StatusCode::OK);
    }
    let (_, _, body) = call(
        &s,
        Request::get("/__mockmodel/journal").body(Body::empty()).unwrap(),
    )
    .await;
    let v: Value = serde_json::from_slice(&body).unwrap();
    let texts: Vec<&str> = v["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["userMessage"].as_str().unwrap())
        .collect();
    assert_eq!(texts, vec!["hello 2", "hello 3"]);
    let (_, _, body) = call(
        &s,
        Request::get("/__mockmodel/journal?limit=1")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(
        serde_json::from_slice::<Value>(&body).unwrap()["entries"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let (status, _, _) = call(
        &s,
        Request::delete("/__mockmodel/journal")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(s.journal.snapshot().is_empty());
}

#[tokio::test]
async fn with_metrics_off_requests_are_answered_and_not_counted() {
    let s = AppState::new(
        load_documents([("t.yaml", FIXTURES)]).expect("valid"),
        Config {
            metrics: false,
            ..Config::default()
        },
    );
    let (status, _, _) = call(&s, chat("hello")).await;
    assert_eq!(status, StatusCode::OK);
    call(&s, chat("nothing fits")).await;
    let (_, _, body) = call(&s, Request::get("/metrics").body(Body::empty()).unwrap()).await;
    let text = String::from_utf8(body).unwrap();
    for name in [
        "mockmodel_requests_total{",
        "mockmodel_fixture_matches_total{",
        "vllm:prompt_tokens_total{",
        "vllm:e2e_request_latency_seconds_count{",
    ] {
        assert!(!text.contains(name), "{name} recorded: {text}");
    }
    // Known label values are pre-created at 0 and must stay there.
    assert!(
        text.contains("mockmodel_fixture_misses_total{protocol=\"openai\"} 0"),
        "{text}"
    );
    assert!(text.contains("mockmodel_fixtures_loaded 1"), "{text}");
}

#[tokio::test]
async fn metrics_count_matches_and_misses() {
    let s = state();
    call(&s, chat("hello")).await;
    call(&s, chat("nothing fits")).await;
    let (_, _, body) = call(&s, Request::get("/metrics").body(Body::empty()).unwrap()).await;
    let text = String::from_utf8(body).unwrap();
    assert!(
        text.contains("mockmodel_fixture_matches_total{fixture=\"t.yaml#0\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("mockmodel_fixture_misses_total{protocol=\"openai\"} 1"),
        "{text}"
    );
    assert!(text.contains("status=\"404\""), "{text}");
    assert!(text.contains("mockmodel_fixtures_loaded 1"), "{text}");
}

async fn wait_for(mut cond: impl FnMut() -> bool) -> bool {
    for _ in 0..100 {
        if cond() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

#[tokio::test]
async fn hot_reload_swaps_good_edits_and_keeps_the_last_good_set_on_bad_ones() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("f.yaml");
    std::fs::write(&file, FIXTURES).unwrap();
    let paths = vec![dir.path().to_path_buf()];
    let s = AppState::new(load_paths(&paths).unwrap(), Config::default());
    let _watcher = reload::watch(s, paths).expect("watch");

    std::fs::write(
        &file,
        "fixtures:\n- {match: {userMessage: hello}, response: {content: Reloaded}}\n",
    )
    .unwrap();
    assert!(
        wait_for(|| s.fixtures.load().fixtures[0].fixture.response.content == Some(json!("Reloaded"))).await,
        "a valid edit is picked up"
    );

    std::fs::write(&file, "fixtures:\n- {response: {toolCalls: []}}\n").unwrap();
    assert!(
        wait_for(|| s.metrics.reloads.with_label_values(&["error"]).get() >= 1).await,
        "an invalid edit is counted as a rejected reload"
    );
    assert_eq!(
        s.fixtures.load().fixtures[0].fixture.response.content,
        Some(json!("Reloaded"))
    );
    let (status, _, body) = call(&s, chat("hello")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(String::from_utf8(body).unwrap().contains("Reloaded"));
}
