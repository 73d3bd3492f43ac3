//! The AWS restJson1 error response shared by Bedrock Runtime and SageMaker Runtime: the status,
//! the `x-amzn-ErrorType` header botocore and the SDKs read the error code from, and a JSON body.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

/// An error with a `{"message"}` body.
pub fn error(status: StatusCode, error_type: &str, message: &str) -> Response {
    error_with(
        status,
        error_type,
        json!({"message": message})
            .as_object()
            .cloned()
            .unwrap_or_default(),
    )
}

/// An error whose body carries members beside the message (`originalStatusCode`, `Message`, …).
pub fn error_with(status: StatusCode, error_type: &str, body: Map<String, Value>) -> Response {
    let mut res = (status, axum::Json(Value::Object(body))).into_response();
    if let Ok(v) = HeaderValue::from_str(error_type) {
        res.headers_mut().insert("x-amzn-errortype", v);
    }
    res
}
