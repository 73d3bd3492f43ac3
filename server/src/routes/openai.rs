//! OpenAI-compatible API: `/v1/chat/completions` (JSON and SSE), `/v1/embeddings`, `/v1/models`.
//!
//! Decodes requests into a [`Conversation`] and encodes [`Outcome`]s in OpenAI's shapes; errors use
//! OpenAI's `{"error": {message, type, param, code}}` body with the status the official SDKs map
//! to their exception classes.

use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::conversation::{Conversation, Endpoint, Message, Protocol, Role, ToolCallRef};
use crate::errors::ErrorClass;
use crate::plan::{Block, ErrorPlan, Outcome, Plan, chunk_text};
use crate::state::{NoMatch, SharedState};
use crate::stream::{Frame, timed};

/// The OpenAI routes.
pub fn routes() -> Router<SharedState> {
    Router::new()
        .route("/v1/chat/completions", post(chat_completions))
        .route("/v1/embeddings", post(embeddings))
        .route("/v1/models", get(models))
}

/// An error in OpenAI's wire shape (boxed: it travels in every handler's `Result`).
#[derive(Debug)]
pub struct OpenAiError(Box<OpenAiErrorBody>);

#[derive(Debug)]
struct OpenAiErrorBody {
    status: StatusCode,
    type_: String,
    message: String,
    param: Option<String>,
    code: Option<Value>,
    retry_after: Option<u64>,
}

impl OpenAiError {
    /// A 400 `invalid_request_error`.
    pub fn invalid(message: impl Into<String>, param: Option<&str>) -> Self {
        OpenAiError::new(OpenAiErrorBody {
            status: StatusCode::BAD_REQUEST,
            type_: "invalid_request_error".into(),
            message: message.into(),
            param: param.map(str::to_string),
            code: None,
            retry_after: None,
        })
    }

    /// The error's message (for protocols that reuse the chat decoder with their own error shape).
    pub(crate) fn message(&self) -> &str {
        &self.0.message
    }

    fn new(body: OpenAiErrorBody) -> Self {
        OpenAiError(Box::new(body))
    }

    fn from_plan(e: ErrorPlan) -> Self {
        let class = ErrorClass::classify(e.type_.as_deref(), e.status);
        let (default_type, _) = class.openai();
        // Keep an OpenAI-style type the author wrote; translate AWS names to OpenAI's vocabulary.
        let type_ = match e.type_ {
            Some(t) if t.contains('_') || t.chars().all(|c| c.is_ascii_lowercase()) => t,
            _ => default_type.to_string(),
        };
        let code = e
            .code
            .or_else(|| (class == ErrorClass::Throttling).then(|| json!("rate_limit_exceeded")));
        // As on Bedrock: the fixture's status wins, except aimock's default 500 under a name that
        // says otherwise (`rate_limit_error` is a 429 on the wire, never a retried 500).
        let status = if e.status == 500 && class != ErrorClass::Internal && class != ErrorClass::ModelError {
            class.openai().1
        } else {
            e.status
        };
        OpenAiError::new(OpenAiErrorBody {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            type_,
            message: e.message,
            param: e.param,
            code,
            retry_after: e.retry_after,
        })
    }

    fn no_match(n: NoMatch) -> Self {
        OpenAiError::new(OpenAiErrorBody {
            status: if n.strict {
                StatusCode::SERVICE_UNAVAILABLE
            } else {
                StatusCode::NOT_FOUND
            },
            type_: "invalid_request_error".into(),
            message: n.message,
            param: None,
            code: Some(json!("no_fixture_match")),
            retry_after: None,
        })
    }
}

impl IntoResponse for OpenAiError {
    fn into_response(self) -> Response {
        let e = *self.0;
        let body = json!({"error": {
            "message": e.message, "type": e.type_, "param": e.param, "code": e.code,
        }});
        let mut res = (e.status, axum::Json(body)).into_response();
        if let Some(secs) = e.retry_after {
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        res
    }
}

/// JSON body extractor whose rejections (bad JSON, wrong types, too large) are OpenAI-shaped.
pub struct OpenAiJson<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> FromRequest<S> for OpenAiJson<T> {
    type Rejection = OpenAiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            let mut err = OpenAiError::invalid(e.body_text(), None);
            err.0.status = e.status();
            err
        })?;
        let de = &mut serde_json::Deserializer::from_slice(&bytes);
        serde_path_to_error::deserialize(de).map(OpenAiJson).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            if inner.is_syntax() || inner.is_eof() {
                OpenAiError::invalid(
                    format!("We could not parse the JSON body of your request: {inner}"),
                    None,
                )
            } else {
                OpenAiError::invalid(format!("Invalid value for '{path}': {inner}"), Some(&path))
            }
        })
    }
}

/// A chat completions request (also what SageMaker's OpenAI-compatible containers accept).
#[derive(Deserialize)]
pub(crate) struct ChatRequest {
    model: String,
    messages: Vec<ChatMessage>,
    #[serde(default)]
    stream: bool,
    #[serde(default)]
    pub(crate) stream_options: Option<StreamOptions>,
    #[serde(default)]
    tools: Vec<ToolDef>,
    #[serde(default)]
    functions: Vec<FunctionDef>,
    #[serde(default)]
    response_format: Option<ResponseFormat>,
}

#[derive(Deserialize)]
pub(crate) struct StreamOptions {
    #[serde(default)]
    pub(crate) include_usage: bool,
}

#[derive(Deserialize)]
struct ToolDef {
    function: Option<FunctionDef>,
}

#[derive(Deserialize)]
struct FunctionDef {
    name: String,
}

#[derive(Deserialize)]
struct ResponseFormat {
    #[serde(rename = "type")]
    type_: String,
}

#[derive(Deserialize)]
struct ChatMessage {
    role: String,
    #[serde(default)]
    content: Option<Value>,
    #[serde(default)]
    tool_calls: Vec<ChatToolCall>,
    #[serde(default)]
    tool_call_id: Option<String>,
}

#[derive(Deserialize)]
struct ChatToolCall {
    id: String,
    function: FunctionDef,
}

/// The text of an OpenAI `content`: a string, or the `text` parts of a part list.
fn content_text(content: &Option<Value>) -> String {
    match content {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

fn decode_chat(req: &ChatRequest, headers: &HeaderMap) -> Result<Conversation, OpenAiError> {
    if req.messages.is_empty() {
        // What the API answers: a 400 before any model runs (a catch-all fixture must not answer it).
        let mut e = OpenAiError::invalid(
            "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.",
            Some("messages"),
        );
        e.0.code = Some(json!("empty_array"));
        return Err(e);
    }
    let c = Conversation::new(Protocol::OpenAi, req.model.clone()).with_headers(headers);
    decode_chat_into(c, req)
}

/// Adds a chat request's messages, tools and options to a conversation (any protocol's).
pub(crate) fn decode_chat_into(mut c: Conversation, req: &ChatRequest) -> Result<Conversation, OpenAiError> {
    c.stream = req.stream;
    c.response_format = req.response_format.as_ref().map(|f| f.type_.clone());
    c.tools = req
        .tools
        .iter()
        .filter_map(|t| t.function.as_ref().map(|f| f.name.clone()))
        .collect();
    c.tools.extend(req.functions.iter().map(|f| f.name.clone()));
    for (i, m) in req.messages.iter().enumerate() {
        let text = content_text(&m.content);
        match m.role.as_str() {
            "system" | "developer" => c.system.push(text),
            "user" => c.messages.push(Message::text(Role::User, text)),
            "assistant" => {
                let mut msg = Message::text(Role::Assistant, text);
                msg.tool_calls = m
                    .tool_calls
                    .iter()
                    .map(|t| ToolCallRef {
                        id: t.id.clone(),
                        name: t.function.name.clone(),
                    })
                    .collect();
                c.messages.push(msg);
            }
            "tool" | "function" => {
                c.messages.push(Message::tool_result(
                    m.tool_call_id.clone().unwrap_or_default(),
                    text,
                ));
            }
            other => {
                return Err(OpenAiError::invalid(
                    format!(
                        "Invalid value: '{other}'. Supported values are: 'system', 'developer', 'user', 'assistant', and 'tool'."
                    ),
                    Some(&format!("messages[{i}].role")),
                ));
            }
        }
    }
    Ok(c)
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn completion_id(plan: &Plan) -> String {
    plan.id
        .clone()
        .unwrap_or_else(|| format!("chatcmpl-{}", uuid::Uuid::new_v4().simple()))
}

fn usage_json(plan: &Plan) -> Value {
    json!({
        "prompt_tokens": plan.usage.input,
        "completion_tokens": plan.usage.output,
        "total_tokens": plan.usage.total,
    })
}

/// A `chat.completion` body.
pub(crate) fn completion(plan: &Plan) -> Value {
    let text: String = plan
        .blocks
        .iter()
        .filter_map(|b| {
            if let Block::Text(t) = b {
                Some(t.as_str())
            } else {
                None
            }
        })
        .collect();
    let reasoning: String = plan
        .blocks
        .iter()
        .filter_map(|b| {
            if let Block::Reasoning { text, .. } = b {
                Some(text.as_str())
            } else {
                None
            }
        })
        .collect();
    let tool_calls: Vec<Value> = plan
        .blocks
        .iter()
        .filter_map(|b| match b {
            Block::ToolCall { id, name, arguments } => Some(
                json!({"id": id, "type": "function", "function": {"name": name, "arguments": arguments}}),
            ),
            _ => None,
        })
        .collect();
    let has_text = plan.blocks.iter().any(|b| matches!(b, Block::Text(_)));
    let mut message = json!({"role": "assistant", "content": if has_text { json!(text) } else { Value::Null }, "refusal": null});
    if !tool_calls.is_empty() {
        message["tool_calls"] = json!(tool_calls);
    }
    if !reasoning.is_empty() {
        // vLLM / DeepSeek-style OpenAI-compatible servers put reasoning beside the content.
        message["reasoning_content"] = json!(reasoning);
    }
    json!({
        "id": completion_id(plan),
        "object": "chat.completion",
        "created": plan.created.unwrap_or_else(now_secs),
        "model": plan.model,
        "choices": [{"index": 0, "message": message, "logprobs": null, "finish_reason": plan.stop.openai()}],
        "usage": usage_json(plan),
        "system_fingerprint": plan.system_fingerprint,
    })
}

/// A chunk event serialized once around a marker delta: content chunks differ only in their delta,
/// so each is the head, its delta's JSON and the tail, not a whole JSON tree built and serialized
/// per frame (which dominated the setup of thousands of streams).
struct ChunkTemplate {
    head: String,
    tail: String,
}

impl ChunkTemplate {
    const MARKER: &str = "\u{1}mockmodel-delta\u{1}";

    /// Splits `render(marker)` at the marker's JSON; `None` if it does not occur exactly once.
    fn new(render: impl Fn(Value) -> String) -> Option<Self> {
        let whole = render(Value::String(Self::MARKER.into()));
        let marker = Value::String(Self::MARKER.into()).to_string();
        let (head, tail) = whole.split_once(&marker)?;
        (!tail.contains(&marker)).then(|| ChunkTemplate {
            head: head.to_string(),
            tail: tail.to_string(),
        })
    }

    fn render(&self, delta: &Value) -> Bytes {
        let delta = delta.to_string();
        let mut s = String::with_capacity(self.head.len() + delta.len() + self.tail.len());
        s.push_str(&self.head);
        s.push_str(&delta);
        s.push_str(&self.tail);
        Bytes::from(s)
    }
}

/// The SSE frames of a streamed completion, as OpenAI sends them (one `data:` event per frame).
pub(crate) fn completion_chunks(plan: &Plan, include_usage: bool) -> Vec<Frame> {
    let id = completion_id(plan);
    let created = plan.created.unwrap_or_else(now_secs);
    let full = |delta: Value, finish: Value| {
        let mut v = json!({
            "id": id, "object": "chat.completion.chunk", "created": created, "model": plan.model,
            "system_fingerprint": plan.system_fingerprint,
            "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}],
        });
        if include_usage {
            v["usage"] = Value::Null;
        }
        format!("data: {v}\n\n")
    };
    let template = ChunkTemplate::new(|delta| full(delta, Value::Null));
    let chunk = |delta: Value, finish: Value| match (&template, finish) {
        (Some(t), Value::Null) => t.render(&delta),
        (_, finish) => Bytes::from(full(delta, finish)),
    };
    let size = plan.timing.chunk_size;
    let mut frames = vec![Frame::control(chunk(
        json!({"role": "assistant", "content": "", "refusal": null}),
        Value::Null,
    ))];
    let mut tool_index = 0;
    for block in &plan.blocks {
        match block {
            Block::Text(text) => {
                for piece in chunk_text(text, size) {
                    frames.push(Frame::content(chunk(json!({"content": piece}), Value::Null)));
                }
            }
            Block::Reasoning { text, .. } => {
                for piece in chunk_text(text, size) {
                    frames.push(Frame::content(chunk(
                        json!({"reasoning_content": piece}),
                        Value::Null,
                    )));
                }
            }
            Block::ToolCall {
                id: call_id,
                name,
                arguments,
            } => {
                let head = json!({"tool_calls": [{"index": tool_index, "id": call_id, "type": "function",
                    "function": {"name": name, "arguments": ""}}]});
                frames.push(Frame::content(chunk(head, Value::Null)));
                for piece in chunk_text(arguments, size) {
                    let delta =
                        json!({"tool_calls": [{"index": tool_index, "function": {"arguments": piece}}]});
                    frames.push(Frame::content(chunk(delta, Value::Null)));
                }
                tool_index += 1;
            }
        }
    }
    frames.push(Frame::control(chunk(json!({}), json!(plan.stop.openai()))));
    if include_usage {
        let v = json!({
            "id": id, "object": "chat.completion.chunk", "created": created, "model": plan.model,
            "system_fingerprint": plan.system_fingerprint, "choices": [], "usage": usage_json(plan),
        });
        frames.push(Frame::control(format!("data: {v}\n\n")));
    }
    frames.push(Frame::control("data: [DONE]\n\n"));
    frames
}

/// Marks a response with the model it answered, for the request metrics.
pub fn with_model(mut res: Response, model: &str) -> Response {
    res.extensions_mut()
        .insert(crate::app::ModelLabel(model.to_string()));
    res
}

async fn chat_completions(
    State(state): State<SharedState>,
    headers: HeaderMap,
    OpenAiJson(req): OpenAiJson<ChatRequest>,
) -> Result<Response, OpenAiError> {
    let c = decode_chat(&req, &headers)?;
    let include_usage = req.stream_options.as_ref().is_some_and(|o| o.include_usage);
    let outcome = state
        .resolve(&c, "chat.completions")
        .map_err(OpenAiError::no_match)?;
    let plan = match outcome {
        Outcome::Message(plan) => plan,
        Outcome::Error(e) => return Err(OpenAiError::from_plan(e)),
        Outcome::Embedding(_) => {
            return Err(OpenAiError::invalid(
                "The matched fixture answers embeddings, not chat completions",
                None,
            ));
        }
    };
    let res = if req.stream {
        let mut frames = completion_chunks(&plan, include_usage);
        if let Some(se) = plan.timing.stream_error.as_deref() {
            // OpenAI reports a failure mid-stream as an `error` event; the SDKs raise APIError on it.
            crate::stream::cut_after_content(&mut frames, se.after_chunks);
            let e = OpenAiError::from_plan(se.error.clone()).0;
            let event =
                json!({"error": {"message": e.message, "type": e.type_, "param": e.param, "code": e.code}});
            frames.push(Frame::control(format!("data: {event}\n\n")));
        }
        let body = Body::from_stream(timed(frames, &plan.timing, None));
        Response::builder()
            .header(header::CONTENT_TYPE, "text/event-stream; charset=utf-8")
            .header(header::CACHE_CONTROL, "no-cache")
            .body(body)
            .unwrap_or_default()
    } else {
        plan.delay().await;
        axum::Json(completion(&plan)).into_response()
    };
    Ok(with_model(res, &c.model))
}

#[derive(Deserialize)]
struct EmbeddingRequest {
    model: String,
    input: Value,
    #[serde(default)]
    encoding_format: Option<String>,
    #[serde(default)]
    dimensions: Option<usize>,
}

/// Default embedding width (text-embedding-3-small's).
const DEFAULT_DIMENSIONS: usize = 1536;

/// A unit vector derived from the text alone: the same input always embeds the same way.
pub fn deterministic_embedding(text: &str, dims: usize) -> Vec<f32> {
    use rand::{Rng, SeedableRng};
    // FNV-1a: stable across runs and platforms, unlike std's randomly keyed hasher.
    let seed = text.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let v: Vec<f32> = (0..dims).map(|_| rng.random_range(-1.0f32..1.0)).collect();
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(f32::EPSILON);
    v.into_iter().map(|x| x / norm).collect()
}

fn embedding_inputs(input: &Value) -> Result<Vec<String>, OpenAiError> {
    let bad = || {
        OpenAiError::invalid(
            "'input' must be a string, an array of strings, or token arrays",
            Some("input"),
        )
    };
    match input {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(items) if items.is_empty() => Err(bad()),
        Value::Array(items) if items.iter().all(Value::is_string) => Ok(items
            .iter()
            .filter_map(|i| i.as_str().map(str::to_string))
            .collect()),
        // Token ids: embed their decimal text so the vector is still deterministic.
        Value::Array(items) if items.iter().all(Value::is_number) => Ok(vec![input.to_string()]),
        Value::Array(items) if items.iter().all(Value::is_array) => {
            Ok(items.iter().map(Value::to_string).collect())
        }
        _ => Err(bad()),
    }
}

async fn embeddings(
    State(state): State<SharedState>,
    headers: HeaderMap,
    OpenAiJson(req): OpenAiJson<EmbeddingRequest>,
) -> Result<Response, OpenAiError> {
    let inputs = embedding_inputs(&req.input)?;
    let mut c = Conversation::new(Protocol::OpenAi, req.model.clone()).with_headers(&headers);
    c.endpoint = Endpoint::Embedding;
    c.input_text = Some(inputs.join("\n"));
    let dims = req.dimensions.unwrap_or(DEFAULT_DIMENSIONS).clamp(1, 16_384);
    let fixture_vector = match state.resolve(&c, "embeddings") {
        Ok(Outcome::Error(e)) => return Err(OpenAiError::from_plan(e)),
        Ok(Outcome::Embedding(v)) => Some(v),
        // A chat answer or no fixture at all still embeds: deterministic vectors need no fixture.
        Ok(Outcome::Message(_)) | Err(_) => None,
    };
    let base64 = req.encoding_format.as_deref() == Some("base64");
    let data: Vec<Value> = inputs
        .iter()
        .enumerate()
        .map(|(i, text)| {
            let v = fixture_vector
                .clone()
                .unwrap_or_else(|| deterministic_embedding(text, dims));
            let embedding = if base64 {
                // The OpenAI SDKs ask for base64 by default: little-endian f32s.
                let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
                json!(base64::engine::general_purpose::STANDARD.encode(bytes))
            } else {
                json!(v)
            };
            json!({"object": "embedding", "index": i, "embedding": embedding})
        })
        .collect();
    let tokens = crate::plan::estimate_tokens(inputs.iter().map(|t| t.chars().count()).sum());
    let body = json!({"object": "list", "data": data, "model": req.model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens}});
    Ok(with_model(axum::Json(body).into_response(), &req.model))
}

async fn models(State(state): State<SharedState>) -> Response {
    let set = state.fixtures.load();
    let mut ids: Vec<String> = set
        .fixtures
        .iter()
        .filter_map(|f| match &f.fixture.match_.model {
            Some(crate::fixture::schema::TextMatch::Text(m)) => Some(m.clone()),
            _ => None,
        })
        .collect();
    ids.push("mockmodel".into());
    ids.sort();
    ids.dedup();
    let data: Vec<Value> = ids
        .iter()
        .map(|id| json!({"id": id, "object": "model", "created": 0, "owned_by": "mockmodel"}))
        .collect();
    axum::Json(json!({"object": "list", "data": data})).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_templated_chunk_is_byte_identical_to_a_serialized_one() {
        let render = |delta: Value| {
            let v = json!({"id": "c-1", "model": "m\"x", "choices": [{"index": 0, "delta": delta, "finish_reason": null}], "usage": null});
            format!("data: {v}\n\n")
        };
        let t = ChunkTemplate::new(render).expect("marker found once");
        for delta in [
            json!({"content": "plain"}),
            json!({"content": "quote \" and \\ and é 東 🌤️ \n"}),
            json!({"tool_calls": [{"index": 0, "function": {"arguments": "{\"a\":1}"}}]}),
            json!({}),
        ] {
            assert_eq!(t.render(&delta), Bytes::from(render(delta.clone())), "{delta}");
        }
        assert!(
            ChunkTemplate::new(|d| format!("{d}{d}")).is_none(),
            "a marker seen twice cannot be split"
        );
    }

    #[test]
    fn deterministic_embeddings_repeat_and_are_unit_length() {
        let a = deterministic_embedding("hello", 8);
        assert_eq!(a, deterministic_embedding("hello", 8));
        assert_ne!(a, deterministic_embedding("hello!", 8));
        let norm: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-5);
    }

    #[test]
    fn aws_error_names_become_openai_types() {
        let e = OpenAiError::from_plan(ErrorPlan {
            status: 429,
            type_: Some("ThrottlingException".into()),
            message: "slow".into(),
            code: None,
            param: None,
            retry_after: Some(2),
        });
        assert_eq!(e.0.type_, "rate_limit_error");
        assert_eq!(e.0.code, Some(json!("rate_limit_exceeded")));
    }

    #[test]
    fn a_named_error_without_a_status_takes_that_errors_status() {
        let plan = |type_: &str, status| ErrorPlan {
            status,
            type_: Some(type_.into()),
            message: "m".into(),
            code: None,
            param: None,
            retry_after: None,
        };
        let status = |p| OpenAiError::from_plan(p).0.status.as_u16();
        assert_eq!(status(plan("rate_limit_error", 500)), 429);
        assert_eq!(status(plan("ServiceUnavailableException", 500)), 503);
        assert_eq!(status(plan("server_error", 500)), 500);
        assert_eq!(
            status(plan("rate_limit_error", 503)),
            503,
            "an explicit status wins"
        );
    }
}
