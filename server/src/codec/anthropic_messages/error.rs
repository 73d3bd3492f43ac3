//! Anthropic's error shape, shared by every route that speaks the Messages API:
//! `{"type":"error","error":{"type","message"},"request_id"}` with the status the SDKs map to their
//! exception classes (429 `RateLimitError`, 529 `OverloadedError`, …), a `request-id` header, and
//! `retry-after` on a throttle. In a stream the same object is an `event: error`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::errors::ErrorClass;
use crate::plan::ErrorPlan;
use crate::state::NoMatch;
use crate::wire::json::JsonError;

/// An error in Anthropic's wire shape (boxed: it travels in every handler's `Result`).
#[derive(Debug)]
pub struct AnthropicError(Box<Body>);

#[derive(Debug)]
struct Body {
    status: StatusCode,
    type_: &'static str,
    message: String,
    retry_after: Option<u64>,
}

impl AnthropicError {
    /// An error of `type_` with `status`.
    pub fn new(status: StatusCode, type_: &'static str, message: impl Into<String>) -> Self {
        AnthropicError(Box::new(Body {
            status,
            type_,
            message: message.into(),
            retry_after: None,
        }))
    }

    /// A 400 `invalid_request_error`.
    pub fn invalid(message: impl Into<String>) -> Self {
        AnthropicError::new(StatusCode::BAD_REQUEST, "invalid_request_error", message)
    }

    /// The error's message.
    pub fn message(&self) -> &str {
        &self.0.message
    }

    /// The error's status.
    pub fn status(&self) -> StatusCode {
        self.0.status
    }

    /// The error's `error.type`.
    pub fn type_(&self) -> &'static str {
        self.0.type_
    }

    /// A fixture's (or fault's) error in Anthropic's vocabulary. The name decides the type; the
    /// fixture's status wins, except aimock's default 500 under a name that says otherwise
    /// (`ThrottlingException` is a 429 here), and a 503 for unavailability: Anthropic says that
    /// only as 529 `overloaded_error`, the status its SDKs raise `OverloadedError` for.
    pub fn from_plan(e: &ErrorPlan) -> Self {
        let class = ErrorClass::classify(e.type_.as_deref(), e.status);
        let (type_, status) = class.anthropic();
        let defaulted = e.status == 500 && class != ErrorClass::Internal && class != ErrorClass::ModelError;
        let unavailable = e.status == 503 && class == ErrorClass::Unavailable;
        let status = if defaulted || unavailable {
            status
        } else {
            e.status
        };
        let mut err = AnthropicError::new(
            StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            type_,
            e.message.clone(),
        );
        err.0.retry_after = e.retry_after;
        err
    }

    /// No fixture matched: 404 `not_found_error`, as for a model the API does not know. Strict mode
    /// answers 503 `api_error`: the status every wire uses for a strict miss, under Anthropic's
    /// generic server-side type, since `overloaded_error` would claim a load problem (and its 529
    /// is what clients back off from) when the fixtures simply lack an answer.
    pub fn no_match(n: NoMatch) -> Self {
        if n.strict {
            AnthropicError::new(StatusCode::SERVICE_UNAVAILABLE, "api_error", n.message)
        } else {
            AnthropicError::new(StatusCode::NOT_FOUND, "not_found_error", n.message)
        }
    }

    /// The `{"type":"error","error":{...}}` object (the body adds `request_id`; a stream's `error`
    /// event carries this object alone).
    pub fn json(&self) -> Value {
        json!({"type": "error", "error": {"type": self.0.type_, "message": self.0.message}})
    }
}

/// A request id in Anthropic's style (`req_` + 24 characters), sent as the `request-id` header and
/// the error body's `request_id`, which the SDKs expose as `request_id` / `_request_id`.
pub fn request_id() -> String {
    format!("req_011C{}", &crate::ids::uuid().simple().to_string()[..20])
}

impl IntoResponse for AnthropicError {
    fn into_response(self) -> Response {
        let id = request_id();
        let mut body = self.json();
        body["request_id"] = json!(id);
        let mut res = (self.0.status, axum::Json(body)).into_response();
        let h = res.headers_mut();
        if let Ok(v) = HeaderValue::from_str(&id) {
            h.insert("request-id", v);
        }
        if let Some(secs) = self.0.retry_after {
            h.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        // The SDKs retry by status unless the server says otherwise; the API says so on 4xx.
        let retry = matches!(self.0.status.as_u16(), 408 | 409 | 429) || self.0.status.is_server_error();
        h.insert(
            "x-should-retry",
            HeaderValue::from_static(if retry { "true" } else { "false" }),
        );
        res
    }
}

impl From<JsonError> for AnthropicError {
    /// Worded as the API words its validation errors: the field as a dotted path
    /// (`messages.0.content`), then pydantic's phrase.
    fn from(e: JsonError) -> Self {
        if e.syntax {
            return AnthropicError::invalid(format!(
                "There was an issue with your request body: {}",
                e.message
            ));
        }
        let path = dotted(&e.path);
        let (path, phrase) = match e.message.strip_prefix("missing field `") {
            Some(rest) => {
                let field = rest.split('`').next().unwrap_or_default();
                let full = if path.is_empty() {
                    field.to_string()
                } else {
                    format!("{path}.{field}")
                };
                (full, "Field required".to_string())
            }
            None => (path, phrase(&e.message)),
        };
        if path.is_empty() {
            AnthropicError::invalid(phrase)
        } else {
            AnthropicError::invalid(format!("{path}: {phrase}"))
        }
    }
}

/// `messages[0].content` as the API writes it: `messages.0.content` (`.` alone is the document).
fn dotted(path: &str) -> String {
    if path == "." {
        return String::new();
    }
    path.replace('[', ".").replace(']', "")
}

/// Pydantic's phrase for a serde type error, where one applies.
fn phrase(serde: &str) -> String {
    let expected = serde.rsplit("expected ").next().unwrap_or_default();
    let what = if !serde.starts_with("invalid type") {
        None
    } else if ["u64", "u32", "i64", "usize"]
        .iter()
        .any(|t| expected.starts_with(t))
    {
        Some("a valid integer")
    } else if expected.starts_with("a string") {
        Some("a valid string")
    } else if expected.starts_with("a boolean") {
        Some("a valid boolean")
    } else if expected.starts_with("a sequence") {
        Some("a valid list")
    } else {
        None
    };
    match what {
        Some(w) => format!("Input should be {w}"),
        None => serde.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(type_: Option<&str>, status: u16) -> ErrorPlan {
        ErrorPlan {
            status,
            type_: type_.map(str::to_string),
            message: "m".into(),
            code: None,
            param: None,
            retry_after: Some(3),
        }
    }

    #[test]
    fn fixture_errors_take_anthropic_types_and_statuses() {
        let e = |t, s| {
            let e = AnthropicError::from_plan(&plan(t, s));
            (e.type_(), e.status().as_u16())
        };
        assert_eq!(e(Some("ThrottlingException"), 500), ("rate_limit_error", 429));
        assert_eq!(e(Some("rate_limit_error"), 429), ("rate_limit_error", 429));
        assert_eq!(
            e(Some("ServiceUnavailableException"), 500),
            ("overloaded_error", 529)
        );
        assert_eq!(e(Some("overloaded_error"), 529), ("overloaded_error", 529));
        assert_eq!(e(None, 503), ("overloaded_error", 529));
        assert_eq!(e(Some("api_error"), 503), ("api_error", 503));
        assert_eq!(e(None, 500), ("api_error", 500));
        assert_eq!(e(None, 401), ("authentication_error", 401));
        assert_eq!(e(None, 403), ("permission_error", 403));
        assert_eq!(e(None, 413), ("request_too_large", 413));
        assert_eq!(e(None, 404), ("not_found_error", 404));
        let res = AnthropicError::from_plan(&plan(Some("rate_limit_error"), 429)).into_response();
        assert_eq!(res.headers()[header::RETRY_AFTER], "3");
        assert!(res.headers()["request-id"].to_str().unwrap().starts_with("req_"));
    }

    #[test]
    fn paths_are_dotted_and_type_errors_use_the_apis_phrases() {
        let err = |path: &str, message: &str| {
            AnthropicError::from(JsonError {
                path: path.into(),
                message: message.into(),
                syntax: false,
            })
            .message()
            .to_string()
        };
        assert_eq!(
            err("messages[0]", "missing field `content`"),
            "messages.0.content: Field required"
        );
        assert_eq!(err(".", "missing field `model`"), "model: Field required");
        assert_eq!(
            err("max_tokens", "invalid type: string \"x\", expected u64"),
            "max_tokens: Input should be a valid integer"
        );
    }
}
