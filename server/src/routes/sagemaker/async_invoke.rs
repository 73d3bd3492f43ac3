//! InvokeEndpointAsync (`POST /endpoints/{EndpointName}/async-invocations`, 202): the request is read
//! from `X-Amzn-SageMaker-InputLocation` in the S3-compatible store (`--s3-endpoint`), or from the
//! request body (the model's `Body` payload) when no location is given; the answer is written to
//! `OutputLocation`, a failure to `FailureLocation`, both named in the response headers at once.
//!
//! A real endpoint's output and failure paths come from its `AsyncInferenceConfig`, which a mock has
//! none of: mockmodel writes `s3://<input bucket>/async-output/[<S3OutputPathExtension>/]<id>.out`
//! and `s3://<input bucket>/async-failures/<id>-error.out`, the `<uuid>.out` and `-error.out` names
//! SageMaker uses (a body-only request, with no input bucket, is refused).
//!
//! The request is matched when it arrives, so a fixture error the operation lists
//! (`InternalFailure`, `ServiceUnavailable`, `ValidationError`, and the other request-level errors)
//! is the call's own typed answer; a model's failure (model error, timeout, not ready) is written to
//! the failure location, as is an unreadable input. The output is written after the fixture's
//! latency, so it appears over time as a real endpoint's does.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::{Decoded, SageMaker, SageMakerError, configured_format, decode, validate};
use crate::errors::ErrorClass;
use crate::objects::S3Location;
use crate::plan::Outcome;
use crate::state::SharedState;
use crate::wire::{Wire, labelled};

const INPUT_LOCATION: &str = "x-amzn-sagemaker-inputlocation";
const INFERENCE_ID: &str = "x-amzn-sagemaker-inference-id";
const OUTPUT_EXTENSION: &str = "x-amzn-sagemaker-s3outputpathextension";

/// `POST /endpoints/{EndpointName}/async-invocations`.
pub async fn invoke_endpoint_async(
    State(state): State<SharedState>,
    Path(endpoint): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let res = accept(&state, &endpoint, &headers, body).await;
    labelled(res.unwrap_or_else(IntoResponse::into_response), &endpoint)
}

async fn accept(
    state: &SharedState,
    endpoint: &str,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, SageMakerError> {
    let body = body.map_err(SageMakerError::rejected)?;
    validate(state, "InvokeEndpointAsync", endpoint, headers)?;
    if !state.objects.configured() {
        return Err(SageMakerError::validation(
            "mockmodel has no S3 store for asynchronous inference: start it with --s3-endpoint (MOCKMODEL_S3_ENDPOINT)",
        ));
    }
    let input_uri = headers.get(INPUT_LOCATION).and_then(|v| v.to_str().ok());
    let Some(input) = input_uri.and_then(S3Location::parse) else {
        return Err(SageMakerError::validation(match input_uri {
            Some(uri) => format!("Invalid InputLocation {uri:?}: expected s3://bucket/key"),
            None => "InputLocation is required: mockmodel writes the output beside it".into(),
        }));
    };
    let id = headers
        .get(INFERENCE_ID)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .unwrap_or_else(|| crate::ids::uuid().to_string());
    let bucket = S3Location {
        bucket: input.bucket.clone(),
        key: String::new(),
    };
    let output_dir = match headers.get(OUTPUT_EXTENSION).and_then(|v| v.to_str().ok()) {
        Some(ext) => bucket.join("async-output").join(ext.trim_matches('/')),
        None => bucket.join("async-output"),
    };
    let output = output_dir.join(&format!("{id}.out"));
    let failure = bucket.join(&format!("async-failures/{id}-error.out"));

    // The request is read and matched now, so the errors the call itself answers come back typed.
    let payload = if body.is_empty() {
        state.objects.get(&input).await
    } else {
        Ok(body.to_vec())
    };
    let job = match payload {
        Ok(bytes) => plan_job(state, endpoint, headers, &bytes)?,
        Err(message) => Job::Fail(json!({"ErrorCode": "ValidationError", "Message": message})),
    };
    let mut res = (StatusCode::ACCEPTED, axum::Json(json!({"InferenceId": id}))).into_response();
    let h = res.headers_mut();
    for (name, at) in [
        ("x-amzn-sagemaker-outputlocation", &output),
        ("x-amzn-sagemaker-failurelocation", &failure),
    ] {
        if let Ok(v) = HeaderValue::from_str(&at.uri()) {
            h.insert(name, v);
        }
    }
    tokio::spawn(run(state, job, output, failure));
    Ok(res)
}

/// What the background half of an invocation does.
enum Job {
    /// Wait the plan's time, then write this body to the output location.
    Answer(Box<crate::plan::Plan>, Value),
    /// Write this error document to the failure location.
    Fail(Value),
}

/// Decodes the payload in the endpoint's format and matches it; errors the call answers itself
/// come back as `Err`.
fn plan_job(
    state: &SharedState,
    endpoint: &str,
    headers: &HeaderMap,
    bytes: &[u8],
) -> Result<Job, SageMakerError> {
    let Decoded {
        conversation,
        payload,
    } = match decode(bytes, configured_format(state, endpoint), endpoint, headers) {
        Ok(d) => d,
        // The container, not the service, reads the payload: a body it cannot read is a failed job.
        Err(e) => return Ok(Job::Fail(e.to_json())),
    };
    match state.resolve(&conversation, "InvokeEndpointAsync") {
        Ok(Outcome::Message(plan)) => {
            let body = payload.body(&plan);
            Ok(Job::Answer(Box::new(plan), body))
        }
        Ok(Outcome::Error(e)) => match ErrorClass::classify(e.type_.as_deref(), e.status) {
            ErrorClass::ModelError | ErrorClass::Timeout | ErrorClass::ModelNotReady => {
                Ok(Job::Fail(SageMaker.error(&e, endpoint).to_json()))
            }
            _ => Err(SageMaker.error(&e, endpoint)),
        },
        Ok(Outcome::Embedding(_)) => Err(SageMaker
            .invalid("The matched fixture answers embeddings, not InvokeEndpointAsync requests".into())),
        Err(n) => Err(SageMaker.no_match(n)),
    }
}

async fn run(state: SharedState, job: Job, output: S3Location, failure: S3Location) {
    let (at, doc) = match job {
        Job::Answer(plan, body) => {
            plan.delay().await;
            (output, body)
        }
        Job::Fail(doc) => (failure, doc),
    };
    let written = state
        .objects
        .put(&at, doc.to_string().into_bytes(), "application/json")
        .await;
    if let Err(e) = written {
        tracing::warn!(error = %e, "asynchronous inference could not write its result");
    }
}
