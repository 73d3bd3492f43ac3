//! Requests no fixture matches, forwarded to a real upstream (`--proxy-unmatched`, `--record`).
//!
//! The `capture` middleware keeps a copy of each request's method, path, headers and body in a
//! task-local (only when an upstream is configured); `wire::respond`'s no-match branch calls
//! [`forward`], which sends that copy to the upstream for the request's protocol (re-signed with
//! SigV4 for the AWS services) and relays the answer unchanged, body chunks as they arrive. With
//! `--record` the relayed answer is also written as a fixture (`record`).

mod capture;
mod decode;
mod frames;
mod invoke;
mod record;
mod responses;
mod sagemaker;
mod sign;
mod upstream_error;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, Uri, header};
use axum::middleware::Next;
use axum::response::Response;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::conversation::{Conversation, Protocol};
use crate::journal::Journal;

pub use record::RecordKey;

tokio::task_local! {
    static RAW: Arc<RawRequest>;
}

/// What the client sent, kept so an unmatched request can be sent on unchanged.
#[derive(Debug)]
pub struct RawRequest {
    method: Method,
    /// Path and query, exactly as received (model ids stay percent-encoded).
    path_and_query: String,
    headers: HeaderMap,
    body: Bytes,
}

/// One `--proxy-unmatched` / `--record` value: `[PROTOCOL=]URL`.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    /// The protocol it serves; `None` serves every protocol without its own target.
    pub protocol: Option<Protocol>,
    /// `scheme://host[:port][/prefix]`; the request's path is appended.
    pub base: String,
}

/// Parses `[PROTOCOL=]URL` (a clap value parser).
pub fn parse_target(s: &str) -> Result<Target, String> {
    let (protocol, url) = match s.split_once('=') {
        Some((p, url)) if Protocol::parse(p).is_some() => (Protocol::parse(p), url),
        _ => (None, s),
    };
    let uri: Uri = url.parse().map_err(|e| format!("{url:?} is not a URL: {e}"))?;
    if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.authority().is_none() {
        return Err(format!("{url:?} is not an http:// or https:// URL"));
    }
    if uri.authority().is_some_and(|a| a.as_str().contains('@')) {
        // Credentials in the URL would end up in logs and recorded fixtures' metadata.
        return Err(format!("{url:?}: credentials do not belong in the upstream URL"));
    }
    Ok(Target {
        protocol,
        base: url.trim_end_matches('/').to_string(),
    })
}

/// The client every upstream request goes through (HTTP/1.1, plain or TLS with the system roots).
pub type HttpsClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

/// A client for upstreams (also translate mode's), and whether it has the system's TLS roots.
/// `https` says an upstream needs them: without, missing roots are fine (an image without CA
/// certificates talking to another mock or a local model server over plain http must still start).
pub fn https_client(https: bool) -> Result<(HttpsClient, bool), String> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let native =
        hyper_rustls::HttpsConnectorBuilder::new().with_provider_and_native_roots(Arc::clone(&provider));
    let native_roots = native.is_ok();
    let builder = match native {
        Ok(b) => b,
        Err(e) if https => return Err(format!("cannot load the system's TLS roots: {e}")),
        Err(_) => hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(
            rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map_err(|e| format!("TLS setup: {e}"))?
                .with_root_certificates(rustls::RootCertStore::empty())
                .with_no_client_auth(),
        ),
    };
    let tls = builder.https_or_http().enable_http1().build();
    Ok((Client::builder(TokioExecutor::new()).build(tls), native_roots))
}

/// The upstreams and, when recording, where fixtures go.
pub struct Upstream {
    targets: Vec<Target>,
    record_dir: Option<PathBuf>,
    client: HttpsClient,
    signer: sign::Signer,
}

impl std::fmt::Debug for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upstream")
            .field("targets", &self.targets)
            .field("record_dir", &self.record_dir)
            .finish_non_exhaustive()
    }
}

impl Upstream {
    /// An upstream for `targets`; recording into `record_dir` when given. Loads the AWS credential
    /// chain (environment, profile, web identity, container and instance metadata unless
    /// `AWS_EC2_METADATA_DISABLED=true`) lazily: nothing is fetched until an AWS request is signed.
    pub async fn new(targets: Vec<Target>, record_dir: Option<PathBuf>) -> Result<Self, String> {
        if let Some(dir) = &record_dir {
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("cannot create --record-dir {}: {e}", dir.display()))?;
        }
        let https = targets.iter().any(|t| t.base.starts_with("https:"));
        let (client, native_roots) = https_client(https)?;
        Ok(Upstream {
            targets,
            record_dir,
            client,
            signer: sign::Signer::load(native_roots).await?,
        })
    }

    /// Whether answers are written as fixtures.
    pub fn recording(&self) -> bool {
        self.record_dir.is_some()
    }

    /// Every fixture recorded so far as one fixture file; `None` when not recording.
    pub async fn recorded(&self) -> Option<Result<serde_json::Value, String>> {
        let dir = self.record_dir.clone()?;
        // File reads stay off the async workers.
        let read = tokio::task::spawn_blocking(move || record::read_all(&dir)).await;
        Some(read.unwrap_or_else(|e| Err(e.to_string())))
    }

    fn target(&self, p: Protocol) -> Option<&Target> {
        self.targets
            .iter()
            .find(|t| t.protocol == Some(p))
            .or_else(|| self.targets.iter().find(|t| t.protocol.is_none()))
    }
}

/// The path suffix of Bedrock's InvokeModelWithBidirectionalStream (Nova Sonic).
const BIDIRECTIONAL: &str = "/invoke-with-bidirectional-stream";

/// Middleware: keeps a copy of the request for [`forward`]. Its state is the body limit when an
/// upstream is configured, else `None` (requests pass untouched). A body over the limit is passed
/// on whole (so the handler answers its 413) and never forwarded.
pub async fn capture(State(limit): State<Option<usize>>, req: Request, next: Next) -> Response {
    // A bidirectional stream's body is the whole session: waiting for its end would stall it, and
    // such a session is never forwarded.
    let Some(limit) = limit.filter(|_| !req.uri().path().ends_with(BIDIRECTIONAL)) else {
        return next.run(req).await;
    };
    let (parts, mut body) = req.into_parts();
    let mut buf = Vec::new();
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(f) => {
                if let Ok(data) = f.into_data() {
                    buf.extend_from_slice(&data);
                    if buf.len() > limit {
                        break;
                    }
                }
            }
            // The handler sees the same broken body and answers it in its wire's shape.
            Err(_) => break,
        }
    }
    let body = Bytes::from(buf);
    let raw = Arc::new(RawRequest {
        method: parts.method.clone(),
        path_and_query: parts
            .uri
            .path_and_query()
            .map_or_else(|| parts.uri.path().to_string(), |p| p.as_str().to_string()),
        headers: parts.headers.clone(),
        body: body.clone(),
    });
    let req = Request::from_parts(parts, Body::from(body));
    RAW.scope(raw, next.run(req)).await
}

/// The journal entry of a forwarded request, completed with the upstream that answered and the
/// file its answer was recorded into.
#[derive(Debug, Clone)]
pub struct JournalMark {
    journal: Arc<Journal>,
    id: u64,
}

impl JournalMark {
    /// Entry `id` of `journal`.
    pub fn new(journal: &Arc<Journal>, id: u64) -> Self {
        JournalMark {
            journal: Arc::clone(journal),
            id,
        }
    }

    fn forwarded(&self, upstream: &str, outcome: String) {
        self.journal.annotate(self.id, |e| {
            e.upstream = Some(upstream.to_string());
            e.outcome = outcome.into();
        });
    }

    fn recorded(&self, file: String) {
        self.journal.annotate(self.id, |e| e.recorded = Some(file));
    }
}

/// Headers that belong to one connection, never forwarded either way (RFC 9110 §7.6.1).
const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
];

/// Sends the unmatched request `c` to its protocol's upstream and relays the answer; `None` when no
/// upstream serves the protocol (the caller answers its no-match error). An upstream that cannot be
/// reached is `Err(why)`, naming it, which the caller answers as a 502 in its wire's error shape:
/// the client must not mistake it for the model's answer.
pub async fn forward(
    up: Option<&Upstream>,
    limit: usize,
    c: &Conversation,
    operation: &'static str,
    mark: JournalMark,
) -> Option<Result<Response, String>> {
    let up = up?;
    let target = up.target(c.protocol)?;
    let raw = RAW.try_with(Arc::clone).ok()?;
    if raw.body.len() > limit {
        return None;
    }
    let url = format!("{}{}", target.base, raw.path_and_query);
    let mut headers = raw.headers.clone();
    for h in HOP_BY_HOP {
        headers.remove(h);
    }
    headers.remove(header::CONTENT_LENGTH);
    headers.remove(header::ACCEPT_ENCODING); // recorded bodies must be readable as sent
    let aws = matches!(c.protocol, Protocol::Bedrock | Protocol::SageMaker);
    let mut req = match http::Request::builder()
        .method(raw.method.clone())
        .uri(&url)
        .body(Full::new(raw.body.clone()))
    {
        Ok(r) => r,
        Err(e) => return Some(Err(bad_gateway(&target.base, &e.to_string(), &mark))),
    };
    *req.headers_mut() = headers;
    if aws
        && let Err(e) = up
            .signer
            .sign(&mut req, c.protocol, &raw.headers, &raw.body)
            .await
    {
        return Some(Err(bad_gateway(&target.base, &e, &mark)));
    }
    let sent = Instant::now();
    let res = match up.client.request(req).await {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(upstream = %target.base, "proxying an unmatched request failed: {e}");
            return Some(Err(bad_gateway(&target.base, &e.to_string(), &mark)));
        }
    };
    tracing::info!(upstream = %target.base, status = res.status().as_u16(), operation, "proxied an unmatched request");
    mark.forwarded(&target.base, format!("forwarded {}", res.status().as_u16()));
    let (mut parts, incoming) = res.into_parts();
    for h in HOP_BY_HOP {
        parts.headers.remove(h);
    }
    let recorder = up.record_dir.as_ref().and_then(|dir| {
        let key = RecordKey::new(c, operation, &parts.status, &parts.headers)?;
        let expected = parts
            .headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse().ok());
        Some(capture::Recorder::new(
            dir.clone(),
            key,
            sent,
            target.base.clone(),
            expected,
            mark,
        ))
    });
    let body = capture::relay(incoming, recorder);
    Some(Ok(Response::from_parts(parts, body)))
}

fn bad_gateway(upstream: &str, why: &str, mark: &JournalMark) -> String {
    mark.forwarded(upstream, "error 502".into());
    format!("mockmodel: the upstream {upstream} did not answer: {why}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_target_names_its_protocol_or_serves_all() {
        assert_eq!(
            parse_target("bedrock=https://bedrock-runtime.us-east-1.amazonaws.com/").unwrap(),
            Target {
                protocol: Some(Protocol::Bedrock),
                base: "https://bedrock-runtime.us-east-1.amazonaws.com".into()
            }
        );
        assert_eq!(parse_target("http://127.0.0.1:8000").unwrap().protocol, None);
        assert!(parse_target("ftp://x").is_err());
        assert!(parse_target("https://user:pw@example.com").is_err());
        assert!(parse_target("nope").is_err());
    }
}
