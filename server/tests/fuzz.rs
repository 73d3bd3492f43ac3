//! Fuzzing every request decoder and the fixture loader, in-process, in a plain test binary: each
//! target feeds `FUZZ_INPUTS` inputs (default 2,000, so `cargo test` runs it) through the router
//! with `oneshot`, reading every body to its end (streams included, on paused time), and fails on
//! any panic, any 5xx (the fixtures answer every request with text, so a 5xx is the server's own
//! failure), or any 4xx whose body is not a JSON object.
//!
//! Inputs are the target's valid seed bodies, mutated: random bytes, byte flips/inserts/cuts,
//! splices of two seeds, and structural JSON mutations (a node replaced by a hostile value: huge
//! and negative numbers, 2^64, NaN-ish floats, deep nesting, wrong types; keys dropped or added),
//! under random content types and model ids. A seeded SplitMix64 makes a run repeatable.
//!
//! The recorded run (one million inputs per target):
//! `FUZZ_INPUTS=1000000 cargo test --release -p mockmodel-server --test fuzz -- --nocapture --test-threads 2`
//! (`FUZZ_SEED=<n>` repeats a particular run; each target prints inputs, time and panics.)

use std::panic::AssertUnwindSafe;
use std::time::Instant;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use futures::FutureExt;
use http_body_util::BodyExt;
use mockmodel_server::{AppState, Config, SharedState, app, fixture};
use serde_json::{Value, json};
use tower::ServiceExt;

/// A small, seedable generator (SplitMix64): no dependency, the same sequence everywhere.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }
}

fn inputs() -> u64 {
    std::env::var("FUZZ_INPUTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000)
}

fn seed(target: &str) -> u64 {
    let base: u64 = std::env::var("FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x5EED);
    // Each target its own stream, so one target's run does not depend on the others'.
    target
        .bytes()
        .fold(base, |h, b| h.wrapping_mul(31).wrapping_add(b as u64))
}

/// Values that break decoders: the edges of every JSON type.
fn hostile(rng: &mut Rng) -> Value {
    let deep = |n: usize| {
        let mut v = json!(1);
        for _ in 0..n {
            v = json!([v]);
        }
        v
    };
    match rng.below(22) {
        0 => Value::Null,
        1 => json!(true),
        2 => json!(-1),
        3 => json!(0),
        4 => json!(i64::MIN),
        5 => json!(u64::MAX),
        6 => serde_json::from_str("18446744073709551616").unwrap_or(Value::Null),
        7 => json!(1e308),
        8 => json!(-0.0),
        9 => json!(2.5),
        10 => json!(""),
        11 => json!("\u{0000}\u{FFFF}é漢🙂"),
        12 => json!("x".repeat(rng.below(5000))),
        13 => json!([]),
        14 => json!({}),
        15 => deep(rng.below(40)),
        16 => json!([{"type": "text"}]),
        17 => json!({"type": "function"}),
        18 => json!(["a", 1, null]),
        19 => json!("user"),
        20 => json!(1_000_000_000),
        _ => json!(5),
    }
}

/// Replaces, drops or adds one node somewhere in `v`.
fn mutate_value(v: &mut Value, rng: &mut Rng, depth: usize) {
    let here = depth > 6 || rng.below(4) == 0;
    match v {
        Value::Object(map) if !map.is_empty() && !here => {
            let keys: Vec<String> = map.keys().cloned().collect();
            let k = rng.pick(&keys).clone();
            match rng.below(6) {
                0 => {
                    map.remove(&k);
                }
                1 => {
                    map.insert(format!("{k}_x"), hostile(rng));
                }
                _ => {
                    if let Some(child) = map.get_mut(&k) {
                        mutate_value(child, rng, depth + 1);
                    }
                }
            }
        }
        Value::Array(items) if !items.is_empty() && !here => {
            let i = rng.below(items.len());
            match rng.below(5) {
                0 => {
                    items.remove(i);
                }
                1 => {
                    let copy = items[i].clone();
                    items.push(copy);
                }
                _ => mutate_value(&mut items[i], rng, depth + 1),
            }
        }
        _ => *v = hostile(rng),
    }
}

/// One fuzz input from the seeds.
fn input(seeds: &[Vec<u8>], rng: &mut Rng) -> Vec<u8> {
    let base = rng.pick(seeds).clone();
    match rng.below(10) {
        // Random bytes (mostly not UTF-8).
        0 => (0..rng.below(300)).map(|_| rng.next() as u8).collect(),
        // Byte-level: flip, insert, cut.
        1 | 2 => {
            let mut b = base;
            for _ in 0..=rng.below(4) {
                if b.is_empty() {
                    break;
                }
                let i = rng.below(b.len());
                match rng.below(3) {
                    0 => b[i] ^= 1 << rng.below(8),
                    1 => b.insert(i, rng.next() as u8),
                    _ => b.truncate(i),
                }
            }
            b
        }
        // Splice: the head of one seed, the tail of another.
        3 => {
            let other = rng.pick(seeds);
            let cut = rng.below(base.len() + 1);
            let cut2 = rng.below(other.len() + 1);
            [&base[..cut], &other[cut2..]].concat()
        }
        // Structural: a few JSON mutations.
        _ => {
            let mut v: Value = serde_json::from_slice(&base).unwrap_or(Value::Null);
            for _ in 0..=rng.below(3) {
                mutate_value(&mut v, rng, 0);
            }
            serde_json::to_vec(&v).unwrap_or_default()
        }
    }
}

const CONTENT_TYPES: &[&str] = &[
    "application/json",
    "application/json",
    "application/json",
    "text/plain",
    "application/x-www-form-urlencoded",
    "application/json; charset=utf-16",
    "",
];

/// A target: the routes that share one decoder, their valid seeds, and model ids for `{model}`.
struct Target {
    name: &'static str,
    paths: &'static [&'static str],
    seeds: Vec<Value>,
    models: &'static [&'static str],
}

fn state() -> SharedState {
    // A catch-all text answer: every decodable request gets a 200, so a 5xx is a server fault.
    // No metrics: random model ids would grow the label sets without bound over a million inputs.
    let set = fixture::load_documents([(
        "fuzz.yaml",
        "fixtures:\n  - match: {}\n    response: {content: \"fuzzed fine\"}\n",
    )])
    .expect("fuzz fixtures load");
    AppState::new(
        set,
        Config {
            metrics: false,
            max_body_bytes: 64 * 1024,
            ..Config::default()
        },
    )
}

async fn run(t: Target) {
    let n = inputs();
    let mut rng = Rng(seed(t.name));
    let seeds: Vec<Vec<u8>> = t
        .seeds
        .iter()
        .map(|s| serde_json::to_vec(s).unwrap_or_default())
        .collect();
    let router = app(state());
    let started = Instant::now();
    let (mut panics, mut by_status) = (0u64, std::collections::BTreeMap::<u16, u64>::new());
    for i in 0..n {
        let body = input(&seeds, &mut rng);
        let model = *rng.pick(t.models);
        let path = rng.pick(t.paths).replace("{model}", model);
        let mut req = Request::post(&path);
        let ct = *rng.pick(CONTENT_TYPES);
        if !ct.is_empty() {
            req = req.header("content-type", ct);
        }
        let req = req.body(Body::from(body.clone())).expect("request");
        let call = router.clone().oneshot(req).then(|res| async move {
            let res = res.expect("infallible");
            let status = res.status();
            let bytes = res.into_body().collect().await.map(|b| b.to_bytes());
            (status, bytes)
        });
        match AssertUnwindSafe(call).catch_unwind().await {
            Err(_) => {
                panics += 1;
                eprintln!(
                    "{}: input {i} panicked on {path}: {:?}",
                    t.name,
                    String::from_utf8_lossy(&body)
                );
            }
            Ok((status, bytes)) => {
                *by_status.entry(status.as_u16()).or_default() += 1;
                let bytes = bytes.unwrap_or_else(|e| panic!("{}: input {i}: body failed: {e}", t.name));
                assert!(
                    !status.is_server_error(),
                    "{}: input {i} on {path} answered {status}: {}\ninput: {:?}",
                    t.name,
                    String::from_utf8_lossy(&bytes),
                    String::from_utf8_lossy(&body)
                );
                if status.is_client_error() && status != StatusCode::NOT_FOUND {
                    let v: Result<Value, _> = serde_json::from_slice(&bytes);
                    assert!(
                        v.as_ref().is_ok_and(Value::is_object),
                        "{}: input {i} on {path}: a {status} that is not a JSON object: {:?}",
                        t.name,
                        String::from_utf8_lossy(&bytes)
                    );
                }
            }
        }
    }
    println!(
        "fuzz {}: {n} inputs in {:.1}s, {panics} panics, statuses {by_status:?}",
        t.name,
        started.elapsed().as_secs_f64()
    );
    assert_eq!(panics, 0, "{}: {panics} inputs panicked", t.name);
}

fn user(text: &str) -> Value {
    json!({"role": "user", "content": text})
}

#[tokio::test(start_paused = true)]
async fn chat_completions_decoder() {
    run(Target {
        name: "chat_completions",
        paths: &["/v1/chat/completions", "/openai/v1/chat/completions"],
        models: &["gpt-4o"],
        seeds: vec![
            json!({"model": "gpt-4o", "messages": [user("hi")]}),
            json!({"model": "gpt-4o", "stream": true, "stream_options": {"include_usage": true},
                "temperature": 0.5, "top_p": 1, "n": 1, "max_tokens": 10, "stop": ["x"],
                "messages": [{"role": "system", "content": "be brief"}, user("hi")]}),
            json!({"model": "gpt-4o", "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {}}}],
                "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
                "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {}}},
                "messages": [user("weather"),
                    {"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}]},
                    {"role": "tool", "tool_call_id": "c1", "content": [{"type": "text", "text": "sunny"}]}]}),
        ],
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn embeddings_decoder() {
    run(Target {
        name: "embeddings",
        paths: &["/v1/embeddings"],
        models: &["m"],
        seeds: vec![
            json!({"model": "text-embedding-3-small", "input": "hello"}),
            json!({"model": "text-embedding-3-small", "input": ["a", "b"], "encoding_format": "base64", "dimensions": 8}),
            json!({"model": "text-embedding-3-small", "input": [[1, 2, 3]], "encoding_format": "float"}),
        ],
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn responses_decoder() {
    run(Target {
        name: "responses",
        paths: &["/v1/responses", "/openai/v1/responses"],
        models: &["gpt-4o"],
        seeds: vec![
            json!({"model": "gpt-4o", "input": "hi"}),
            json!({"model": "gpt-4o", "stream": true, "instructions": "brief", "temperature": 1, "max_output_tokens": 64,
                "input": [{"role": "user", "content": [{"type": "input_text", "text": "hi"}]}]}),
            json!({"model": "gpt-4o", "previous_response_id": "resp_1", "tools": [{"type": "function", "name": "f", "parameters": {}}],
                "input": [{"type": "function_call_output", "call_id": "c1", "output": "ok"}], "text": {"format": {"type": "text"}}}),
        ],
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn anthropic_messages_decoder() {
    run(Target {
        name: "anthropic_messages",
        paths: &[
            "/v1/messages",
            "/anthropic/v1/messages",
            "/v1/messages/count_tokens",
            "/anthropic/v1/messages/count_tokens",
        ],
        models: &["claude"],
        seeds: vec![
            json!({"model": "claude-sonnet-4-5", "max_tokens": 100, "messages": [user("hi")]}),
            json!({"model": "claude-sonnet-4-5", "max_tokens": 100, "stream": true, "temperature": 0.5, "top_k": 5,
                "system": [{"type": "text", "text": "brief"}], "stop_sequences": ["x"],
                "thinking": {"type": "enabled", "budget_tokens": 2048},
                "tools": [{"name": "get_weather", "input_schema": {"type": "object"}}], "tool_choice": {"type": "auto"},
                "messages": [user("weather"),
                    {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "get_weather", "input": {}}]},
                    {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "sunny"}]}]}),
        ],
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn converse_decoder() {
    run(Target {
        name: "converse",
        paths: &["/model/{model}/converse", "/model/{model}/converse-stream"],
        models: &["anthropic.claude-3-haiku-20240307-v1%3A0", "us.amazon.nova-lite-v1:0", "x", "%ZZ", "a%2Fb"],
        seeds: vec![
            json!({"messages": [{"role": "user", "content": [{"text": "hi"}]}]}),
            json!({"system": [{"text": "brief"}], "inferenceConfig": {"maxTokens": 10, "temperature": 0.5, "topP": 1, "stopSequences": ["x"]},
                "toolConfig": {"tools": [{"toolSpec": {"name": "get_weather", "inputSchema": {"json": {}}}}]},
                "messages": [{"role": "user", "content": [{"text": "weather"}]},
                    {"role": "assistant", "content": [{"toolUse": {"toolUseId": "t1", "name": "get_weather", "input": {}}}]},
                    {"role": "user", "content": [{"toolResult": {"toolUseId": "t1", "content": [{"text": "sunny"}]}}]}]}),
        ],
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn invoke_model_decoder() {
    run(Target {
        name: "invoke_model",
        paths: &["/model/{model}/invoke", "/model/{model}/invoke-with-response-stream"],
        models: &[
            "anthropic.claude-3-haiku-20240307-v1:0",
            "amazon.nova-lite-v1:0",
            "amazon.titan-text-express-v1",
            "amazon.titan-embed-text-v2:0",
            "meta.llama3-8b-instruct-v1:0",
            "mistral.mistral-7b-instruct-v0:2",
            "cohere.command-r-v1:0",
            "cohere.embed-english-v3",
            "arn%3Aaws%3Abedrock%3Aus-east-1%3A1%3Aapplication-inference-profile%2Fx",
        ],
        seeds: vec![
            json!({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 10, "messages": [user("hi")]}),
            json!({"schemaVersion": "messages-v1", "messages": [{"role": "user", "content": [{"text": "hi"}]}],
                "inferenceConfig": {"max_new_tokens": 10, "temperature": 0.5}}),
            json!({"inputText": "hi", "textGenerationConfig": {"maxTokenCount": 10, "temperature": 0.5}}),
            json!({"prompt": "hi", "max_gen_len": 10, "temperature": 0.5}),
            json!({"prompt": "<s>[INST] hi [/INST]", "max_tokens": 10}),
            json!({"messages": [user("hi")], "max_tokens": 10}),
            json!({"message": "hi", "chat_history": [], "max_tokens": 10}),
            json!({"texts": ["hi"], "input_type": "search_query"}),
        ],
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn bedrock_count_tokens_decoder() {
    run(Target {
        name: "bedrock_count_tokens",
        paths: &["/model/{model}/count-tokens"],
        models: &["anthropic.claude-3-haiku-20240307-v1:0", "m"],
        seeds: vec![
            json!({"input": {"converse": {"messages": [{"role": "user", "content": [{"text": "hi"}]}]}}}),
            json!({"input": {"invokeModel": {"body": "eyJtZXNzYWdlcyI6W119"}}}),
        ],
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn sagemaker_decoder() {
    run(Target {
        name: "sagemaker",
        paths: &[
            "/endpoints/{model}/invocations",
            "/endpoints/{model}/invocations-response-stream",
            "/invocations",
        ],
        models: &["my-llm", "bad_name", "x"],
        seeds: vec![
            json!({"inputs": "hi", "parameters": {"max_new_tokens": 10}}),
            json!({"messages": [user("hi")], "max_tokens": 10, "stream": true}),
            json!({"model": "m", "messages": [user("hi")]}),
        ],
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn guardrail_decoder() {
    run(Target {
        name: "guardrail",
        paths: &["/guardrail/{model}/version/1/apply", "/guardrail-checks/invoke"],
        models: &["gr1abc", "arn%3Aaws%3Abedrock%3Aus-east-1%3A1%3Aguardrail%2Fgr1abc", "bad!id"],
        seeds: vec![
            json!({"source": "INPUT", "content": [{"text": {"text": "hello", "qualifiers": ["query"]}}], "outputScope": "FULL"}),
            json!({"source": "OUTPUT", "content": [{"text": {"text": "answer"}}, {"image": {"format": "png", "source": {"bytes": "aGk="}}}]}),
            json!({"messages": [{"role": "system", "content": [{"text": "bot"}]}, {"role": "user", "content": [{"text": "mail jane@example.com"}]}],
                "checks": {"promptAttack": {"categories": [{"category": "JAILBREAK"}]},
                    "sensitiveInformation": {"entities": [{"type": "EMAIL"}]},
                    "contentFilter": {"categories": [{"category": "HATE"}]}}}),
        ],
    })
    .await;
}

/// The fixture loader: mutated YAML and JSON fixture documents must load or fail with an error,
/// never panic.
#[test]
fn fixture_loader() {
    let n = inputs();
    let mut rng = Rng(seed("fixture_loader"));
    let seeds: Vec<Vec<u8>> = [
        json!({"fixtures": [{"match": {"userMessage": "hello"}, "response": {"content": "Hi"}}]}),
        json!({"fixtures": [
            {"match": {"userMessage": {"regex": "^w.*r$"}, "hasToolResult": true, "model": "gpt-4"},
             "response": {"toolCalls": [{"name": "get_weather", "arguments": {"city": "Paris"}}]}},
            {"match": {"sequenceIndex": 1}, "response": {"error": {"type": "ThrottlingException", "message": "slow"}, "status": 429, "retryAfter": 2}},
            {"match": {}, "response": {"blocks": [{"type": "reasoning", "text": "hm"}, {"type": "text", "text": "ok"}],
              "usage": {"input": 1, "output": 2}}, "latency": 5, "chunkSize": 3,
              "streamingProfile": {"ttft": 1, "tps": 100, "jitter": 0.1}, "chaos": {"dropRate": 0.1}}]}),
        json!({"fixtures": [{"match": {"inputText": "x"}, "response": {"embedding": [0.1, 0.2]}}]}),
    ]
    .iter()
    .map(|s| serde_json::to_vec(s).unwrap_or_default())
    .collect();
    let started = Instant::now();
    let (mut panics, mut loaded) = (0u64, 0u64);
    for i in 0..n {
        let bytes = input(&seeds, &mut rng);
        let text = String::from_utf8_lossy(&bytes).into_owned();
        // The same text as JSON and as YAML (a superset): both parsers and the loader behind them.
        let name = if rng.below(2) == 0 { "f.json" } else { "f.yaml" };
        match std::panic::catch_unwind(|| fixture::load_documents([(name, text.as_str())]).is_ok()) {
            Ok(ok) => loaded += u64::from(ok),
            Err(_) => {
                panics += 1;
                eprintln!("fixture_loader: input {i} panicked: {text:?}");
            }
        }
    }
    println!(
        "fuzz fixture_loader: {n} inputs in {:.1}s, {panics} panics, {loaded} loaded",
        started.elapsed().as_secs_f64()
    );
    assert_eq!(panics, 0);
}
