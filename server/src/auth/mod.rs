//! `--auth FILE`: credentials checked the way AWS, OpenAI and Anthropic check them, answered with
//! each service's own rejection. Off by default; the router applies [`check`] to every request
//! but the open operational routes when a credentials file is given (see docs/auth.md).

mod aws;
pub mod credentials;
pub mod sigv4;

use credentials::ct_eq;
pub use credentials::{AwsKey, Credentials};

use axum::extract::Request;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::codec::anthropic_messages::AnthropicError;
use crate::codec::openai_error::OpenAiError;

/// A rejection in the service's own shape (boxed: it is the cold path).
pub type Rejection = Box<Response>;

/// How a wire's service authenticates its callers (each `WireSpec` names one).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    /// SigV4 with an AWS access key; on Bedrock also a Bedrock API key as `Authorization: Bearer`.
    Aws {
        /// Whether Bedrock API keys are accepted (Bedrock Runtime, not SageMaker).
        bedrock_api_keys: bool,
    },
    /// `Authorization: Bearer <OpenAI API key>`.
    OpenAi,
    /// `x-api-key: <Anthropic API key>`.
    Anthropic,
}

/// Routes that stay open with `--auth`: probes and metrics (kubelet and Prometheus hold no key),
/// and the SageMaker container contract's health check.
pub const OPEN_PATHS: &[&str] = &["/healthz", "/readyz", "/metrics", "/ping"];

/// Checks a request under `scheme`; returns it (its body buffered when SigV4 needed the payload
/// hash) or the service's rejection.
pub async fn check(
    creds: &Credentials,
    scheme: Scheme,
    req: Request,
    max_body: usize,
) -> Result<Request, Rejection> {
    match scheme {
        Scheme::Aws { bedrock_api_keys } => {
            aws::check(creds, bedrock_api_keys, req, max_body, unix_now()).await
        }
        Scheme::OpenAi => openai(creds, req.headers()).map(|()| req),
        Scheme::Anthropic => anthropic(creds, req.headers()).map(|()| req),
    }
}

/// The journal and control routes: any configured API key (or `adminApiKeys`) as
/// `Authorization: Bearer` or `x-api-key`.
pub fn admin(creds: &Credentials, headers: &HeaderMap) -> Result<(), Rejection> {
    let given = bearer(headers).or_else(|| header_str(headers, "x-api-key"));
    let known = creds
        .admin_api_keys
        .iter()
        .chain(&creds.openai_api_keys)
        .chain(&creds.anthropic_api_keys)
        .chain(&creds.bedrock_api_keys);
    match given {
        Some(k) if known.into_iter().any(|c| ct_eq(c, k)) => Ok(()),
        _ => Err(Box::new((
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"message": "mockmodel --auth: the journal and control routes need an API key (Authorization: Bearer or x-api-key)"})),
        )
            .into_response())),
    }
}

/// OpenAI's 401s. Missing key: "You didn't provide an API key. …" with `code: null`; wrong key:
/// "Incorrect API key provided: sk-proj-****…MxYA. You can find your API key at
/// https://platform.openai.com/account/api-keys." with `code: "invalid_api_key"`, both
/// `invalid_request_error` (as api.openai.com answers, e.g. continuedev/continue#9634 quoting the
/// message; the SDKs raise `AuthenticationError` for any 401).
fn openai(creds: &Credentials, headers: &HeaderMap) -> Result<(), Rejection> {
    match bearer(headers) {
        Some(k) if creds.openai_api_keys.iter().any(|c| ct_eq(c, k)) => Ok(()),
        Some(k) => Err(Box::new(OpenAiError::invalid(
            format!(
                "Incorrect API key provided: {}. You can find your API key at https://platform.openai.com/account/api-keys.",
                mask(k)
            ),
            None,
        )
        .with_status(StatusCode::UNAUTHORIZED)
        .with_code("invalid_api_key")
        .into_response())),
        None => Err(Box::new(OpenAiError::invalid(
            "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field (with blank username) if you're accessing the API from your browser and are prompted for a username and password. You can obtain an API key from https://platform.openai.com/account/api-keys.",
            None,
        )
        .with_status(StatusCode::UNAUTHORIZED)
        .into_response())),
    }
}

/// Anthropic's 401 `authentication_error`: "invalid x-api-key" for a wrong key (as
/// api.anthropic.com answers, quoted in eyaltoledano/claude-task-master#222:
/// `{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}`),
/// "x-api-key header is required" without one. The SDKs raise `AuthenticationError`.
fn anthropic(creds: &Credentials, headers: &HeaderMap) -> Result<(), Rejection> {
    let known = |k: &str| creds.anthropic_api_keys.iter().any(|c| ct_eq(c, k));
    let message = match (header_str(headers, "x-api-key"), bearer(headers)) {
        (Some(k), _) if known(k) => return Ok(()),
        (None, Some(k)) if known(k) => return Ok(()),
        (Some(_), _) => "invalid x-api-key",
        (None, Some(_)) => "Invalid bearer token",
        (None, None) => "x-api-key header is required",
    };
    Err(Box::new(
        AnthropicError::new(StatusCode::UNAUTHORIZED, "authentication_error", message).into_response(),
    ))
}

/// OpenAI shows a wrong key's first 8 and last 4 characters.
fn mask(key: &str) -> String {
    let chars: Vec<char> = key.chars().collect();
    if chars.len() <= 12 {
        return "*".repeat(chars.len());
    }
    let head: String = chars[..8].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}{}{tail}", "*".repeat(chars.len() - 12))
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim)
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = header_str(headers, header::AUTHORIZATION.as_str())?;
    let (scheme, token) = v.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_masked_as_openai_masks_them() {
        assert_eq!(mask("sk-proj-abcdefghMxYA"), "sk-proj-********MxYA");
        assert_eq!(mask("short"), "*****");
    }
}
