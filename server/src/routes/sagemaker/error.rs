//! The SageMaker Runtime error shape: the status and `x-amzn-ErrorType` the service model gives each
//! error, and a body with the model's own member names, which is where botocore and the Rust SDK
//! read `Message`, `OriginalStatusCode`, `OriginalMessage` and `LogStreamArn`.

use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use crate::codec::aws;
use crate::errors::ErrorClass;
use crate::plan::ErrorPlan;
use crate::state::NoMatch;

/// A SageMaker Runtime error: status, `x-amzn-ErrorType` and a body with the service model's
/// member names (`Message`, and for `ModelError` `OriginalStatusCode`, `OriginalMessage`, `LogStreamArn`).
#[derive(Debug)]
pub struct SageMakerError {
    status: StatusCode,
    type_: &'static str,
    body: Map<String, Value>,
    /// Seconds for a `Retry-After` header (throttling faults and fixtures with `retryAfter`).
    retry_after: Option<u64>,
}

impl SageMakerError {
    fn new(status: u16, type_: &'static str, message: impl Into<String>) -> Self {
        let mut body = Map::new();
        body.insert("Message".into(), Value::String(message.into()));
        SageMakerError {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            type_,
            body,
            retry_after: None,
        }
    }

    /// The error's `Message`.
    pub fn message(&self) -> &str {
        self.body.get("Message").and_then(Value::as_str).unwrap_or("")
    }

    /// The error as a JSON document: its body with the error type as `ErrorCode` (what an
    /// asynchronous invocation writes to its failure location).
    pub(super) fn to_json(&self) -> Value {
        let mut doc = self.body.clone();
        doc.insert("ErrorCode".into(), json!(self.type_));
        Value::Object(doc)
    }

    /// A 400 `ValidationError`.
    pub fn validation(message: impl Into<String>) -> Self {
        Self::new(400, "ValidationError", message)
    }

    pub(super) fn internal(message: impl Into<String>) -> Self {
        Self::new(500, "InternalFailure", message)
    }

    /// A body the server could not read (too large, broken connection).
    pub(super) fn rejected(e: BytesRejection) -> Self {
        let mut err = Self::validation(e.body_text());
        err.status = e.status();
        err
    }

    pub(super) fn no_match(n: NoMatch) -> Self {
        if n.strict {
            Self::new(503, "ServiceUnavailable", n.message)
        } else {
            // SageMaker's own "not found" is a ValidationError; 404 keeps mockmodel's no-match status.
            Self::new(404, "ValidationError", n.message)
        }
    }

    /// Translates a fixture error; keeps a SageMaker type the author wrote.
    pub(super) fn from_plan(e: ErrorPlan, endpoint: &str) -> Self {
        let class = ErrorClass::classify(e.type_.as_deref(), e.status);
        let (type_, status) = match e.type_.as_deref() {
            Some("InternalDependencyException") => ("InternalDependencyException", 530),
            Some("InternalFailure") => ("InternalFailure", 500),
            _ => class.sagemaker(),
        };
        if type_ != "ModelError" {
            // The status is the one the service model gives the type, whatever the fixture said.
            let mut err = Self::new(status, type_, e.message);
            err.retry_after = e.retry_after;
            return err;
        }
        // The container's status: a numeric `code`, else the fixture status unless it is the 424 itself.
        let original = match &e.code {
            Some(Value::Number(n)) => n.as_u64().unwrap_or(500),
            _ if e.status != 424 => u64::from(e.status),
            _ => 500,
        };
        let log_group = format!("/aws/sagemaker/Endpoints/{endpoint}");
        let message = format!(
            "Received server error ({original}) from primary with message \"{}\". See https://us-east-1.console.aws.amazon.com/cloudwatch/home?region=us-east-1#logEventViewer:group={log_group} in account 123456789012 for more information.",
            e.message
        );
        let mut err = Self::new(424, "ModelError", message);
        err.body.insert("OriginalStatusCode".into(), json!(original));
        err.body.insert("OriginalMessage".into(), json!(e.message));
        err.body.insert(
            "LogStreamArn".into(),
            json!(format!(
                "arn:aws:logs:us-east-1:123456789012:log-group:{log_group}"
            )),
        );
        err
    }
}

impl IntoResponse for SageMakerError {
    fn into_response(self) -> Response {
        let mut res = aws::error_with(self.status, self.type_, self.body);
        if let Some(secs) = self.retry_after {
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        res
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan_error(type_: Option<&str>, status: u16, code: Option<Value>) -> ErrorPlan {
        ErrorPlan {
            status,
            type_: type_.map(str::to_string),
            message: "boom".into(),
            code,
            param: None,
            retry_after: None,
        }
    }

    #[test]
    fn a_model_error_carries_the_original_status_and_message() {
        let e = SageMakerError::from_plan(plan_error(Some("ModelError"), 424, Some(json!(503))), "ep");
        assert_eq!(e.status, StatusCode::FAILED_DEPENDENCY);
        assert_eq!(e.type_, "ModelError");
        assert_eq!(e.body["OriginalStatusCode"], json!(503));
        assert_eq!(e.body["OriginalMessage"], json!("boom"));
        assert!(e.body["Message"].as_str().unwrap().contains("(503)"));
        let e = SageMakerError::from_plan(plan_error(Some("ModelError"), 400, None), "ep");
        assert_eq!(e.status, StatusCode::FAILED_DEPENDENCY);
        assert_eq!(e.body["OriginalStatusCode"], json!(400));
    }

    #[test]
    fn aws_and_openai_error_names_map_to_sagemaker_types() {
        let e = SageMakerError::from_plan(plan_error(Some("ServiceUnavailableException"), 503, None), "ep");
        assert_eq!((e.type_, e.status.as_u16()), ("ServiceUnavailable", 503));
        let e = SageMakerError::from_plan(plan_error(Some("ModelNotReadyException"), 429, None), "ep");
        assert_eq!((e.type_, e.status.as_u16()), ("ModelNotReadyException", 429));
        let e = SageMakerError::from_plan(plan_error(None, 400, None), "ep");
        assert_eq!((e.type_, e.status.as_u16()), ("ValidationError", 400));
        let e = SageMakerError::from_plan(plan_error(Some("InternalDependencyException"), 500, None), "ep");
        assert_eq!((e.type_, e.status.as_u16()), ("InternalDependencyException", 530));
    }

    #[test]
    fn a_throttling_error_keeps_its_retry_after_header() {
        let mut plan = plan_error(Some("ThrottlingException"), 429, None);
        plan.retry_after = Some(7);
        let res = SageMakerError::from_plan(plan, "ep").into_response();
        assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(res.headers()[header::RETRY_AFTER], "7");
        assert_eq!(res.headers()["x-amzn-errortype"], "ThrottlingException");
    }
}
