//! OpenAI's error object, shared by every route that speaks an OpenAI API (Chat Completions,
//! Responses, embeddings, and Bedrock's `/openai/v1` paths): `{"error": {message, type, param,
//! code}}` with the status the official SDKs map to their exception classes, plus the JSON body
//! extractor whose rejections take that shape.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::errors::ErrorClass;
use crate::plan::ErrorPlan;
use crate::state::{NoMatch, SharedState};
use crate::validate::api::{self, OpenAiInvalid, OpenAiSchema};
use crate::wire::Wire;
use crate::wire::json::{self, JsonError};

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
    pub fn message(&self) -> &str {
        &self.0.message
    }

    /// The same error with an OpenAI `code`.
    pub fn with_code(mut self, code: &str) -> Self {
        self.0.code = Some(json!(code));
        self
    }

    /// The same error with another HTTP status (413 for an oversized body).
    pub fn with_status(mut self, status: StatusCode) -> Self {
        self.0.status = status;
        self
    }

    /// The `{"error": {...}}` object, as a body or as an in-stream `error` event.
    pub fn json(&self) -> Value {
        let e = &self.0;
        json!({"error": {"message": e.message, "type": e.type_, "param": e.param, "code": e.code}})
    }

    fn new(body: OpenAiErrorBody) -> Self {
        OpenAiError(Box::new(body))
    }

    /// A fixture's (or fault's) error in OpenAI's vocabulary.
    pub fn from_plan(e: ErrorPlan) -> Self {
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

    /// No fixture matched: 404 (503 in strict mode) with code `no_fixture_match`.
    pub fn no_match(n: NoMatch) -> Self {
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
        let body = self.json();
        let mut res = (self.0.status, axum::Json(body)).into_response();
        if let Some(secs) = self.0.retry_after {
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        res
    }
}

/// OpenAI's error vocabulary on the seam, for every route that speaks an OpenAI API.
pub struct OpenAi;

impl Wire for OpenAi {
    type Error = OpenAiError;

    fn error(&self, e: &ErrorPlan, _model: &str) -> OpenAiError {
        OpenAiError::from_plan(e.clone())
    }

    fn no_match(&self, n: NoMatch) -> OpenAiError {
        OpenAiError::no_match(n)
    }

    fn invalid(&self, message: String) -> OpenAiError {
        OpenAiError::invalid(message, None)
    }

    /// OpenAI reports a failure mid-stream as an `error` event; the SDKs raise `APIError` on it.
    fn stream_error(&self, e: &ErrorPlan, _model: &str) -> Result<Bytes, OpenAiError> {
        Ok(Bytes::from(format!(
            "data: {}\n\n",
            OpenAiError::from_plan(e.clone()).json()
        )))
    }
}

/// An unknown route or method under an OpenAI base URL, in OpenAI's shape.
pub fn unrouted(status: StatusCode, code: &str, message: String) -> Response {
    OpenAiError::invalid(message, None)
        .with_status(status)
        .with_code(code)
        .into_response()
}

/// A request body with a published OpenAI schema, checked before it is read (unless `--lenient`).
pub trait Checked {
    /// Its schema in `server/data/api-request-schemas.json`.
    const SCHEMA: OpenAiSchema;
}

/// JSON body extractor whose rejections (bad JSON, wrong types, out-of-range values, too large)
/// are OpenAI-shaped, with `param` naming the field.
pub struct OpenAiJson<T>(pub T);

impl<T: serde::de::DeserializeOwned + Checked> FromRequest<SharedState> for OpenAiJson<T> {
    type Rejection = OpenAiError;

    // Not an `async fn`: that would keep `req` (240 bytes) in the future beside the body read
    // that already took it, in every JSON handler's boxed future (issue 12).
    fn from_request(
        req: Request,
        state: &SharedState,
    ) -> impl Future<Output = Result<Self, Self::Rejection>> + Send {
        let (body, lenient) = (Bytes::from_request(req, state), state.config.lenient);
        async move {
            let bytes = body
                .await
                .map_err(|e| OpenAiError::invalid(e.body_text(), None).with_status(e.status()))?;
            read(&bytes, lenient).map(OpenAiJson)
        }
    }
}

/// Reads a request body: checked against `T`'s schema (unless `lenient`), then into `T`.
fn read<T: serde::de::DeserializeOwned + Checked>(bytes: &[u8], lenient: bool) -> Result<T, OpenAiError> {
    // A body the schema clears is read once, straight into the request, checked as it is read
    // (issue 12's hot path). Any other body takes the full path, which words the error; so does
    // one the typed parse refuses (a key given twice, which a `Value` reads as its last), and it
    // ends as that path decides. A property test holds the two paths' results equal.
    if let Ok(text) = std::str::from_utf8(bytes) {
        let once = match lenient {
            true => crate::validate::typed::parse_strict(text),
            false => api::openai_parse(T::SCHEMA, text),
        };
        if let Some(req) = once {
            return Ok(req);
        }
    }
    read_parsed(bytes, lenient)
}

/// [`read`] by way of a parsed `Value`: the schema check words a violation from it.
fn read_parsed<T: serde::de::DeserializeOwned + Checked>(
    bytes: &[u8],
    lenient: bool,
) -> Result<T, OpenAiError> {
    let value: Value = json::from_slice(bytes)?;
    if !lenient {
        api::openai(T::SCHEMA, &value).map_err(OpenAiError::from)?;
    }
    Ok(json::from_owned(value, bytes)?)
}

impl From<OpenAiInvalid> for OpenAiError {
    fn from(e: OpenAiInvalid) -> Self {
        OpenAiError::invalid(e.message, Some(&e.param)).with_code(e.code)
    }
}

impl From<JsonError> for OpenAiError {
    fn from(e: JsonError) -> Self {
        if e.syntax {
            OpenAiError::invalid(
                format!("We could not parse the JSON body of your request: {}", e.message),
                None,
            )
        } else {
            OpenAiError::invalid(
                format!("Invalid value for '{}': {}", e.path, e.message),
                Some(&e.path),
            )
        }
    }
}

/// What [`read`] and the full path each make of `bytes` (a request's `Debug`, or the error's), for
/// the property tests of every checked request type.
#[cfg(test)]
pub(crate) fn both_paths<T>(bytes: &[u8], lenient: bool) -> (String, String)
where
    T: serde::de::DeserializeOwned + Checked + std::fmt::Debug,
{
    (
        format!("{:?}", read::<T>(bytes, lenient)),
        format!("{:?}", read_parsed::<T>(bytes, lenient)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::chat_completions::ChatRequest;
    use crate::codec::responses::ResponsesRequest;
    use crate::validate::api::generated::{body, in_order, near_valid, one_case_key, text};

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(1500))]

        /// The one-parse path changes nothing a client sees: the same request, or the same error.
        #[test]
        fn a_body_read_in_one_parse_is_what_the_full_path_reads(g in body(), (_, near) in near_valid(), lenient in proptest::bool::ANY) {
            for t in [text(&g), text(&near)] {
                let (fast, full) = both_paths::<ChatRequest>(t.as_bytes(), lenient);
                proptest::prop_assert_eq!(fast, full, "{}", t);
                let (fast, full) = both_paths::<ResponsesRequest>(t.as_bytes(), lenient);
                proptest::prop_assert_eq!(fast, full, "{}", t);
                once_when_valid::<ChatRequest>(&t)?;
                once_when_valid::<ResponsesRequest>(&t)?;
            }
        }
    }

    /// A valid body, each key once, is read in the one pass (not merely read alike by the full
    /// path): with each object's case key first, and with every key in sorted order.
    fn once_when_valid<T>(t: &str) -> Result<(), proptest::test_runner::TestCaseError>
    where
        T: serde::de::DeserializeOwned + Checked + std::fmt::Debug,
    {
        let Ok(value) = serde_json::from_str::<Value>(t) else {
            return Ok(());
        };
        for once in [in_order(&value), value.to_string()] {
            if one_case_key(&value) && read_parsed::<T>(once.as_bytes(), false).is_ok() {
                proptest::prop_assert!(api::openai_parse::<T>(T::SCHEMA, &once).is_some(), "{}", once);
            }
        }
        Ok(())
    }

    #[test]
    fn text_a_value_refuses_is_refused_on_the_one_parse_path_too() {
        let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        for x in ["1e400", r#""\ud800""#, &deep, &format!(r#"{{"a":{deep}}}"#)] {
            for member in ["x", "metadata", "tool_choice"] {
                let body = format!(
                    r#"{{"model":"gpt-4o","messages":[{{"role":"user","content":"hi"}}],"{member}":{x}}}"#
                );
                for lenient in [false, true] {
                    let (fast, full) = both_paths::<ChatRequest>(body.as_bytes(), lenient);
                    assert_eq!(fast, full, "{body}");
                    assert!(fast.starts_with("Err("), "{body}: {fast}");
                    let (fast, full) = both_paths::<ResponsesRequest>(body.as_bytes(), lenient);
                    assert_eq!(fast, full, "{body}");
                }
            }
        }
    }

    #[test]
    fn a_chat_body_with_tools_takes_the_one_parse_path() {
        let body = r#"{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],
            "tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}]}"#;
        assert!(api::openai_parse::<ChatRequest>(ChatRequest::SCHEMA, body).is_some());
        let wrong = body.replace(r#""type":"function","#, r#""type":"robot","#);
        assert!(api::openai_parse::<ChatRequest>(ChatRequest::SCHEMA, &wrong).is_none());
    }

    #[test]
    fn a_valid_chat_body_takes_the_one_parse_path_and_a_repeated_key_the_full_one() {
        let body = br#"{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"temperature":1}"#;
        let text = std::str::from_utf8(body).unwrap();
        assert!(api::openai_parse::<ChatRequest>(ChatRequest::SCHEMA, text).is_some());
        let (fast, full) = both_paths::<ChatRequest>(body, false);
        assert_eq!(fast, full);
        assert!(fast.starts_with("Ok("), "{fast}");
        // Valid as a `Value` reads it (the last `temperature`), refused by the typed parse.
        let twice =
            br#"{"model":"m","messages":[{"role":"user","content":"hi"}],"temperature":9,"temperature":1}"#;
        assert!(serde_json::from_slice::<ChatRequest>(twice).is_err());
        let text = std::str::from_utf8(twice).unwrap();
        assert!(api::openai_parse::<ChatRequest>(ChatRequest::SCHEMA, text).is_none());
        let (fast, full) = both_paths::<ChatRequest>(twice, false);
        assert_eq!(fast, full);
        assert!(fast.starts_with("Ok("), "{fast}");
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
