//! Baseline servers run by the benchmark in the same run: a bare axum server returning a fixed
//! chat.completion (or Bedrock Converse) body, and a minimal timed-SSE server. Each figure of mockmodel is reported as a
//! ratio to these, so the machine's speed cancels out.

use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::Query;
use axum::routing::post;
use serde_json::json;
use tokio::time::Instant;

/// The body the bare server returns: the same shape and size class as mockmodel's answer.
fn fixed_body() -> String {
    json!({"id": "chatcmpl-0", "object": "chat.completion", "created": 0, "model": "gpt-4o",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello! How can I help you today?", "refusal": null},
        "logprobs": null, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 2, "completion_tokens": 8, "total_tokens": 10}, "system_fingerprint": null})
    .to_string()
}

/// A fixed Bedrock Converse answer, the size of mockmodel's.
fn fixed_converse_body() -> String {
    json!({"output": {"message": {"role": "assistant", "content": [{"text": "Hello! How can I help you today?"}]}},
        "stopReason": "end_turn", "usage": {"inputTokens": 2, "outputTokens": 8, "totalTokens": 10},
        "metrics": {"latencyMs": 1}})
    .to_string()
}

#[derive(serde::Deserialize)]
struct SseParams {
    ttft: u64,
    tps: f64,
    frames: usize,
}

/// Frames at `ttft` ms then every 1/`tps` s, with the same timer approach as any minimal server.
async fn sse(Query(p): Query<SseParams>, _body: Bytes) -> axum::response::Response {
    let start = Instant::now();
    let gap = Duration::from_secs_f64(1.0 / p.tps);
    let stream = futures::stream::unfold(0usize, move |i| async move {
        if i > p.frames {
            return None;
        }
        if i == p.frames {
            return Some((
                Ok::<_, std::io::Error>(Bytes::from_static(b"data: [DONE]\n\n")),
                i + 1,
            ));
        }
        tokio::time::sleep_until(start + Duration::from_millis(p.ttft) + gap * i as u32).await;
        let line =
            format!("data: {{\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"frame{i} \"}}}}]}}\n\n");
        Some((Ok(Bytes::from(line)), i + 1))
    });
    axum::response::Response::builder()
        .header("content-type", "text/event-stream")
        .body(Body::from_stream(stream))
        .unwrap_or_default()
}

/// Serves both baselines on 127.0.0.1:0 and prints the address like mockmodel-server does.
pub async fn serve() -> anyhow::Result<()> {
    let body = fixed_body();
    let converse = fixed_converse_body();
    let app = Router::new()
        .route(
            "/v1/chat/completions",
            post(move |_req: Bytes| {
                let body = body.clone();
                async move { ([("content-type", "application/json")], body) }
            }),
        )
        .route(
            "/model/{model_id}/converse",
            post(move |_req: Bytes| {
                let body = converse.clone();
                async move { ([("content-type", "application/json")], body) }
            }),
        )
        .route("/sse", post(sse));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    eprintln!("baseline listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}
