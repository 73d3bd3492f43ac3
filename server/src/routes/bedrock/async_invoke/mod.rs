//! StartAsyncInvoke (`POST /async-invoke`) and the job it runs; GetAsyncInvoke and ListAsyncInvokes
//! read the jobs in `query.rs`. Shapes from botocore's bedrock-runtime model.
//!
//! A job is matched against the fixtures when it starts, as InvokeModel would match its
//! `modelInput`; it stays `InProgress` for the fixture's latency (or streaming profile), then writes
//! `<s3Uri>/<invocation id>/output.json` to the S3-compatible store (`--s3-endpoint`) and turns
//! `Completed`. Real Bedrock writes under the same `<s3Uri>/<invocation id>/` folder (Nova Reel puts
//! `output.mp4` there); mockmodel answers text, so it writes the model family's InvokeModel response
//! body as `output.json` (for models without an InvokeModel dialect here, such as Nova Reel,
//! `{"outputText": …}` answering the prompt's text).
//!
//! A fixture error the operation lists (throttling, access denied, not found, conflict, quota,
//! unavailable, internal, validation) is StartAsyncInvoke's own answer; a model's failure (model
//! error, timeout, not ready), which StartAsyncInvoke cannot answer, fails the job instead with the
//! fixture's message as `failureMessage`, as a failed write to the store does.

mod query;

pub use query::{get, list};

use std::time::SystemTime;

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::invoke::{self, Family, base_model, plan_text};
use super::{BedrockError, body_bytes, from_value, parse_json, validate_labels};
use crate::conversation::{Conversation, Message, Protocol, Role};
use crate::errors::ErrorClass;
use crate::jobs::{Job, Started, Status};
use crate::objects::S3Location;
use crate::plan::{Outcome, Plan};
use crate::state::SharedState;
use crate::wire::labelled;

/// The account in the ARNs mockmodel makes (the documentation's example account).
const ACCOUNT: &str = "123456789012";

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StartRequest {
    model_id: String,
    model_input: Value,
    output_data_config: OutputDataConfig,
    #[serde(default)]
    client_request_token: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OutputDataConfig {
    #[serde(default)]
    s3_output_data_config: Option<S3OutputDataConfig>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct S3OutputDataConfig {
    s3_uri: String,
}

/// How a job's output is written.
enum Encoding {
    /// The family's InvokeModel response body.
    Family(Family),
    /// `{"outputText": …}` for models mockmodel speaks no InvokeModel dialect of.
    Text,
}

/// `POST /async-invoke`.
pub async fn start(
    State(state): State<SharedState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    match start_job(&state, &headers, body) {
        Ok((arn, model)) => labelled(axum::Json(json!({"invocationArn": arn})).into_response(), &model),
        Err(e) => e.into_response(),
    }
}

fn start_job(
    state: &SharedState,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(String, String), BedrockError> {
    let body = body_bytes(body)?;
    let value: Value = parse_json(&body)?;
    validate_labels(state, "StartAsyncInvoke", &[], headers, Some(&value))?;
    let req: StartRequest = from_value(&value)?;
    let model = req.model_id;
    let Some(out) = req.output_data_config.s3_output_data_config else {
        return Err(BedrockError::validation(
            "outputDataConfig must set s3OutputDataConfig",
        ));
    };
    let Some(folder) = S3Location::parse(&out.s3_uri) else {
        return Err(BedrockError::validation(format!(
            "Invalid S3 URI at 'outputDataConfig.s3OutputDataConfig.s3Uri': {}",
            out.s3_uri
        )));
    };
    if !state.objects.configured() {
        return Err(BedrockError::validation(
            "mockmodel has no S3 store to write asynchronous invocation output to: start it with --s3-endpoint (MOCKMODEL_S3_ENDPOINT)",
        ));
    }
    // What a retry with the same token must repeat exactly (the token itself aside).
    let request = json!({
        "modelId": model,
        "modelInput": req.model_input,
        "outputDataConfig": value["outputDataConfig"],
    });
    if let Some(token) = &req.client_request_token
        && let Some(old) = state
            .jobs
            .all()
            .into_iter()
            .find(|j| j.token.as_ref() == Some(token))
    {
        return existing(old, &request).map(|arn| (arn, model));
    }
    let (c, encoding) = decode(state, &model, headers, &req.model_input)?;
    let outcome = match state.resolve(&c, "StartAsyncInvoke") {
        Ok(o) => o,
        Err(n) => return Err(BedrockError::no_match(n)),
    };
    let (plan, failure) = match outcome {
        Outcome::Message(plan) => (Some(plan), None),
        Outcome::Error(e) => match ErrorClass::classify(e.type_.as_deref(), e.status) {
            ErrorClass::ModelError | ErrorClass::Timeout | ErrorClass::ModelNotReady => {
                (None, Some(e.message))
            }
            _ => return Err(BedrockError::from_plan(&e, &model)),
        },
        Outcome::Embedding(_) => return Err(BedrockError::embedding_fixture()),
    };
    let id = job_id();
    let region = region(headers);
    let now = SystemTime::now();
    let job = Job {
        arn: format!("arn:aws:bedrock:{region}:{ACCOUNT}:async-invoke/{id}"),
        model_arn: model_arn(&model, &region),
        id: id.clone(),
        token: req.client_request_token,
        request: request.clone(),
        output: value["outputDataConfig"].clone(),
        status: Status::InProgress,
        failure: None,
        submitted: now,
        modified: now,
        ended: None,
    };
    let arn = job.arn.clone();
    match state.jobs.start(job) {
        Started::New => {}
        // A concurrent retry with the same token got there first.
        Started::Existing(old) => return existing(*old, &request).map(|arn| (arn, model)),
        Started::Conflict => return Err(conflict()),
    }
    let output = folder.join(&format!("{id}/output.json"));
    tokio::spawn(run(state, id, plan, failure, encoding, output));
    Ok((arn, model))
}

/// The earlier job a token names, if the request is the same one.
fn existing(old: Job, request: &Value) -> Result<String, BedrockError> {
    if &old.request == request {
        Ok(old.arn)
    } else {
        Err(conflict())
    }
}

fn conflict() -> BedrockError {
    BedrockError::from_plan(
        &crate::plan::ErrorPlan {
            status: 400,
            type_: Some("ConflictException".into()),
            message: "The clientRequestToken was already used for a different request".into(),
            code: None,
            param: None,
            retry_after: None,
        },
        "",
    )
}

/// Runs a job: waits the plan's time, writes the output, records the end.
async fn run(
    state: SharedState,
    id: String,
    plan: Option<Plan>,
    failure: Option<String>,
    encoding: Encoding,
    output: S3Location,
) {
    let result = match (plan, failure) {
        (Some(plan), _) => {
            plan.delay().await;
            let body = match encoding {
                Encoding::Family(f) => f.body(&plan),
                Encoding::Text => json!({"outputText": plan_text(&plan)}),
            };
            state
                .objects
                .put(&output, body.to_string().into_bytes(), "application/json")
                .await
                .err()
        }
        (None, failure) => failure,
    };
    if let Some(f) = &result {
        tracing::info!(job = %id, failure = %f, "asynchronous invocation failed");
    }
    state.jobs.finish(&id, result);
}

/// The conversation a job's `modelInput` holds, read as InvokeModel reads its body; models with no
/// InvokeModel dialect here (Nova Reel, Nova Canvas, …) are read for their prompt text.
fn decode(
    state: &SharedState,
    model: &str,
    headers: &HeaderMap,
    input: &Value,
) -> Result<(Conversation, Encoding), BedrockError> {
    let base = base_model(model);
    let media = base.starts_with("amazon.nova-reel") || base.starts_with("amazon.nova-canvas");
    if !media && Family::from_model(model).is_some() {
        let body = Bytes::from(input.to_string());
        let (c, family) = invoke::decode(model, headers, Ok(body), false, state.config.lenient)?;
        return Ok((c, Encoding::Family(family)));
    }
    let mut c = Conversation::new(Protocol::Bedrock, model).with_headers(headers);
    if let Some(text) = prompt_text(input) {
        c.messages.push(Message::text(Role::User, text));
    }
    Ok((c, Encoding::Text))
}

/// The prompt of a media model's input: Nova Reel's `textToVideoParams.text` and
/// `multiShotAutomatedParams.text`, the first shot of `multiShotManualParams`, Nova Canvas's
/// `textToImageParams.text`, else a top-level `inputText`, `prompt` or `text`.
fn prompt_text(input: &Value) -> Option<String> {
    [
        "/textToVideoParams/text",
        "/multiShotAutomatedParams/text",
        "/multiShotManualParams/shots/0/text",
        "/textToImageParams/text",
        "/inputText",
        "/prompt",
        "/text",
    ]
    .iter()
    .find_map(|p| input.pointer(p).and_then(Value::as_str))
    .map(str::to_string)
}

/// Twelve lowercase letters and digits, as `InvocationArn`'s pattern ends.
fn job_id() -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    (0..12)
        .map(|_| ALPHABET[rand::random_range(0..ALPHABET.len())] as char)
        .collect()
}

/// The region the request was signed for (SigV4's credential scope), else `us-east-1`.
fn region(headers: &HeaderMap) -> String {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|a| a.split("Credential=").nth(1))
        .and_then(|c| c.split('/').nth(2))
        .filter(|r| !r.is_empty() && r.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
        .unwrap_or("us-east-1")
        .to_string()
}

/// The model's ARN: an ARN stays, a model id becomes a foundation-model ARN.
fn model_arn(model: &str, region: &str) -> String {
    if model.starts_with("arn:") {
        model.to_string()
    } else {
        format!("arn:aws:bedrock:{region}::foundation-model/{model}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_fit_the_invocation_arn_pattern_and_regions_come_from_the_signature() {
        let id = job_id();
        assert_eq!(id.len(), 12);
        assert!(id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()));
        let mut h = HeaderMap::new();
        h.insert(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=AKID/20260101/eu-west-3/bedrock/aws4_request, SignedHeaders=host"
                .parse()
                .unwrap(),
        );
        assert_eq!(region(&h), "eu-west-3");
        assert_eq!(region(&HeaderMap::new()), "us-east-1");
        assert_eq!(
            model_arn("amazon.nova-reel-v1:1", "us-east-1"),
            "arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-reel-v1:1"
        );
    }

    #[test]
    fn media_prompts_are_read_from_their_params() {
        let v = json!({"taskType": "TEXT_VIDEO", "textToVideoParams": {"text": "a cat"}});
        assert_eq!(prompt_text(&v).as_deref(), Some("a cat"));
        assert_eq!(prompt_text(&json!({"x": 1})), None);
    }
}
