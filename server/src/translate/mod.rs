//! Translate mode (`--upstream-openai URL`): Bedrock, SageMaker and Anthropic requests no fixture
//! matches are answered by an OpenAI-compatible chat-completions server (a local vLLM, Ollama, or
//! OpenAI itself). The wire's decoded [`Conversation`] becomes a `/chat/completions` request
//! (`request`), the upstream's answer becomes a neutral [`Plan`] (`answer`), and `wire::respond`
//! hands that plan to the wire's own encoder, so every wire's byte rules hold as for a fixture.
//!
//! Streams are asked for as streams (`stream: true` with the usage chunk) and collected whole
//! before the plan is encoded: the encoders turn a whole plan into frames, so the client's frames
//! are sent once the upstream has finished.

mod answer;
mod request;

use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderValue, Method, Uri, header};
use http_body_util::{BodyExt, Full, Limited};

use crate::conversation::{Conversation, Endpoint, Protocol};
use crate::plan::{Defaults, ErrorPlan, Plan};

/// The operations translated: the chat operations of Bedrock (Converse, InvokeModel, their
/// streams), SageMaker (InvokeEndpoint, its stream, the container's `/invocations`) and Anthropic
/// Messages (and Bedrock's `/anthropic/v1`). OpenAI's own wire, Responses and Bedrock's
/// `/openai/v1` are OpenAI already: `--proxy-unmatched` relays those.
const OPERATIONS: [&str; 9] = [
    "Converse",
    "ConverseStream",
    "InvokeModel",
    "InvokeModelWithResponseStream",
    "InvokeEndpoint",
    "InvokeEndpointWithResponseStream",
    "invocations",
    "messages",
    "anthropic.messages",
];

/// Checks an `--upstream-openai` URL (a clap value parser): `http(s)://host[:port][/prefix]`, the
/// base URL an OpenAI SDK takes (`…/v1`), without credentials.
pub fn parse_url(s: &str) -> Result<String, String> {
    let uri: Uri = s.parse().map_err(|e| format!("{s:?} is not a URL: {e}"))?;
    if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.authority().is_none() {
        return Err(format!("{s:?} is not an http:// or https:// URL"));
    }
    if uri.authority().is_some_and(|a| a.as_str().contains('@')) {
        // As for --record: credentials in a URL end up in logs; --upstream-openai-key carries them.
        return Err(format!(
            "{s:?}: credentials do not belong in the URL (use --upstream-openai-key)"
        ));
    }
    if uri.query().is_some() {
        return Err(format!("{s:?}: the base URL takes no query"));
    }
    Ok(s.trim_end_matches('/').to_string())
}

/// The OpenAI-compatible server that answers unmatched requests.
pub struct Translator {
    base: String,
    key: Option<String>,
    model: Option<String>,
    timeout: Duration,
    client: crate::proxy::HttpsClient,
}

impl std::fmt::Debug for Translator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The key is never printed.
        f.debug_struct("Translator")
            .field("base", &self.base)
            .field("model", &self.model)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl Translator {
    /// A translator asking `base` (as [`parse_url`] returns it), with `key` as the bearer token
    /// and `model` instead of the request's model id when given.
    pub fn new(
        base: String,
        key: Option<String>,
        model: Option<String>,
        timeout: Duration,
    ) -> Result<Self, String> {
        let (client, _) = crate::proxy::https_client(base.starts_with("https:"))?;
        Ok(Translator {
            base,
            key: key.filter(|k| !k.is_empty()),
            model: model.filter(|m| !m.is_empty()),
            timeout,
            client,
        })
    }

    /// Whether this request is translated (rather than relayed or answered as no match).
    pub fn serves(&self, c: &Conversation, operation: &str) -> bool {
        c.protocol != Protocol::OpenAi && c.endpoint == Endpoint::Chat && OPERATIONS.contains(&operation)
    }

    /// Asks the upstream and reads its answer into a plan. Every failure is an error plan naming
    /// the upstream: its own 4xx/5xx with its message (429 stays a throttle, 503 unavailable, other
    /// 5xx a 502), a 502 when it cannot be reached or answers nonsense, a 408 on `timeout`.
    pub async fn answer(
        &self,
        c: &Conversation,
        limit: usize,
        defaults: &Defaults,
    ) -> Result<Plan, ErrorPlan> {
        let model = self.model.as_deref().unwrap_or(&c.model);
        let body = request::chat_request(c, model).to_string();
        let url = format!("{}/chat/completions", self.base);
        let mut req = http::Request::builder()
            .method(Method::POST)
            .uri(&url)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| self.failed(502, &e.to_string()))?;
        if let Some(key) = &self.key {
            let v = HeaderValue::from_str(&format!("Bearer {key}"))
                .map_err(|_| self.failed(502, "the upstream key is not a valid header value"))?;
            req.headers_mut().insert(header::AUTHORIZATION, v);
        }
        let exchange = async {
            let res = self.client.request(req).await.map_err(|e| {
                tracing::warn!(upstream = %self.base, "translating an unmatched request failed: {e}");
                self.failed(502, &format!("did not answer: {e}"))
            })?;
            let status = res.status().as_u16();
            let retry_after = res
                .headers()
                .get(header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok()?.trim().parse().ok());
            let body = Limited::new(res.into_body(), limit)
                .collect()
                .await
                .map_err(|e| self.failed(502, &format!("answer unreadable or over {limit} bytes: {e}")))?
                .to_bytes();
            Ok::<_, ErrorPlan>((status, retry_after, body))
        };
        let (status, retry_after, body) =
            tokio::time::timeout(self.timeout, exchange).await.map_err(|_| {
                self.failed(
                    408,
                    &format!(
                        "did not answer within {} s (--upstream-timeout)",
                        self.timeout.as_secs_f64()
                    ),
                )
            })??;
        tracing::info!(upstream = %self.base, status, model = %c.model, "translated an unmatched request");
        if !(200..300).contains(&status) {
            let mut e = self.failed(
                relayed_status(status),
                &format!("answered {status}: {}", upstream_message(&body)),
            );
            e.retry_after = retry_after;
            return Err(e);
        }
        answer::read(&body, c, defaults)
            .map_err(|why| self.failed(502, &format!("answered nothing usable: {why}")))
    }

    fn failed(&self, status: u16, why: &str) -> ErrorPlan {
        ErrorPlan {
            status,
            type_: None,
            message: format!("mockmodel: the upstream {} {why}", self.base),
            code: None,
            param: None,
            retry_after: None,
        }
    }
}

/// The status the client sees for an upstream's error: what the client's request caused keeps its
/// class (400, 404, 413, 422, 429), a refused upstream key is the mock's fault (502), 503 stays
/// unavailable, and any other failure is a bad gateway.
fn relayed_status(status: u16) -> u16 {
    match status {
        400 | 404 | 413 | 422 | 429 | 503 => status,
        408 | 504 => 408,
        s if (400..500).contains(&s) && s != 401 && s != 403 => 400,
        _ => 502,
    }
}

/// The upstream's own words: OpenAI's `error.message`, else the body's start.
fn upstream_message(body: &[u8]) -> String {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            v["error"]["message"]
                .as_str()
                .or(v["message"].as_str())
                .or(v["error"].as_str())
                .map(str::to_string)
        })
        .unwrap_or_else(|| String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_url_is_a_base_without_credentials() {
        assert_eq!(
            parse_url("http://127.0.0.1:8000/v1/").unwrap(),
            "http://127.0.0.1:8000/v1"
        );
        assert!(parse_url("https://u:p@example.com/v1").is_err());
        assert!(parse_url("ftp://example.com").is_err());
        assert!(parse_url("http://x/v1?key=1").is_err());
    }

    #[test]
    fn upstream_statuses_keep_their_class_or_become_a_bad_gateway() {
        assert_eq!(relayed_status(429), 429);
        assert_eq!(relayed_status(503), 503);
        assert_eq!(relayed_status(500), 502);
        assert_eq!(relayed_status(401), 502);
        assert_eq!(relayed_status(418), 400);
        assert_eq!(
            upstream_message(br#"{"error":{"message":"slow down"}}"#),
            "slow down"
        );
        assert_eq!(upstream_message(b"oops"), "oops");
    }
}
