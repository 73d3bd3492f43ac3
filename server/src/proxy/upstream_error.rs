//! An upstream's error answer, read into a fixture `response.error` (`status`, `type`, `message`,
//! OpenAI's `code`/`param`, `retryAfter`) so replaying it raises the same SDK exception. The shape is
//! read from the body, not the protocol, because Bedrock also serves the OpenAI and Anthropic wires
//! (`/openai/v1`, `/anthropic/v1`): `{"error": {type, message, code, param}}` is OpenAI's (Anthropic's
//! adds `"type": "error"` around it); anything else is AWS's, whose type is the `x-amzn-ErrorType`
//! header (`ThrottlingException:http://…`, the part before the colon) or the body's `__type`.

use serde_json::{Map, Value, json};

/// What the answer's headers say about an error.
#[derive(Debug, Clone, PartialEq)]
pub struct ErrorHead {
    pub status: u16,
    /// `x-amzn-ErrorType`, up to its first `:`.
    pub aws_type: Option<String>,
    /// `Retry-After` in seconds.
    pub retry_after: Option<u64>,
}

/// The fixture's `response` for an error answer with `body`.
pub(super) fn response(head: &ErrorHead, body: &[u8]) -> Value {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let mut e = Map::new();
    let inner = v.get("error").filter(|e| e.is_object());
    let (type_, message) = match inner {
        Some(inner) => {
            for (from, to) in [("code", "code"), ("param", "param")] {
                if let Some(x) = inner.get(from).filter(|x| !x.is_null()) {
                    e.insert(to.into(), x.clone());
                }
            }
            (
                inner["type"].as_str().map(str::to_string),
                inner["message"].as_str().map(str::to_string),
            )
        }
        None => (
            head.aws_type.clone().or_else(|| {
                // awsJson's `__type` may carry a namespace: `com.amazonaws…#ThrottlingException`.
                v["__type"]
                    .as_str()
                    .map(|t| t.rsplit('#').next().unwrap_or(t).to_string())
            }),
            v["message"]
                .as_str()
                .or_else(|| v["Message"].as_str())
                .map(str::to_string),
        ),
    };
    let message = message.unwrap_or_else(|| {
        // Not a body any wire defines: keep its start, so the replay still says something.
        String::from_utf8_lossy(body).chars().take(500).collect()
    });
    e.insert("message".into(), json!(message));
    if let Some(t) = type_ {
        e.insert("type".into(), json!(t));
    }
    e.insert("status".into(), json!(head.status));
    if let Some(s) = head.retry_after {
        e.insert("retryAfter".into(), json!(s));
    }
    json!({"error": Value::Object(e)})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(status: u16, aws_type: Option<&str>) -> ErrorHead {
        ErrorHead {
            status,
            aws_type: aws_type.map(str::to_string),
            retry_after: None,
        }
    }

    #[test]
    fn each_wires_error_shape_keeps_its_status_type_and_message() {
        assert_eq!(
            response(
                &head(429, Some("ThrottlingException")),
                br#"{"message":"Too many requests"}"#
            ),
            json!({"error": {"message": "Too many requests", "type": "ThrottlingException", "status": 429}})
        );
        assert_eq!(
            response(
                &head(429, None),
                br#"{"error":{"message":"Slow down","type":"requests","param":null,"code":"rate_limit_exceeded"}}"#
            ),
            json!({"error": {"message": "Slow down", "type": "requests", "code": "rate_limit_exceeded", "status": 429}})
        );
        assert_eq!(
            response(
                &head(529, None),
                br#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#
            ),
            json!({"error": {"message": "Overloaded", "type": "overloaded_error", "status": 529}})
        );
        assert_eq!(
            response(
                &head(400, None),
                br#"{"__type":"com.amazon#ValidationException","Message":"bad"}"#
            )["error"]["type"],
            "ValidationException"
        );
        assert_eq!(
            response(&head(502, None), b"<html>bad gateway</html>")["error"]["message"],
            "<html>bad gateway</html>"
        );
    }
}
