//! Test support (compiled only for tests): a `Context` on a mocked apiserver and a verifier that
//! answers each request and records what was called, so reconcile's API traffic can be asserted.

use std::sync::Arc;
use std::time::Duration;

use http::{Request, Response, StatusCode};
use kube::Client;
use kube::client::Body;
use serde_json::{Value, json};

use crate::controller::Context;
use crate::crd::MockModel;
use crate::metrics::Metrics;
use crate::resources::Settings;

/// The mocked apiserver's side of the client.
pub type Handle = tower_test::mock::Handle<Request<Body>, Response<Body>>;

/// One request reconcile made: method, path and query, and the JSON body.
#[derive(Debug, Clone)]
pub struct Call {
    /// `GET`, `PATCH`, `POST` …
    pub method: String,
    /// Path and query, e.g. `/api/v1/namespaces/ns/configmaps/x?&force=true&fieldManager=…`.
    pub uri: String,
    /// Request body (`Null` when empty).
    pub body: Value,
}

impl Context {
    /// A context whose client talks to a mocked apiserver.
    pub fn test() -> (Arc<Context>, Handle) {
        let (svc, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
        let client = Client::new(svc, "default");
        (
            Arc::new(Context::new(
                client,
                Arc::new(Metrics::default()),
                Settings::default(),
                None,
            )),
            handle,
        )
    }
}

impl MockModel {
    /// A MockModel `bot` in namespace `ns` with the given spec (YAML), as the apiserver would hand it over.
    pub fn test(spec_yaml: &str) -> MockModel {
        let mut mm = MockModel::new("bot", serde_yaml::from_str(spec_yaml).expect("spec"));
        mm.metadata.namespace = Some("ns".into());
        mm.metadata.uid = Some("uid-1".into());
        mm.metadata.generation = Some(1);
        mm
    }
}

/// Answers requests like an empty apiserver until the handle is idle for 1 s: GETs are 404,
/// writes echo their body back. Returns every call in order.
pub async fn serve(mut handle: Handle) -> Vec<Call> {
    let mut calls = Vec::new();
    while let Ok(Some((req, send))) =
        tokio::time::timeout(Duration::from_secs(1), handle.next_request()).await
    {
        let (parts, body) = req.into_parts();
        let bytes = body.collect_bytes().await.unwrap_or_default();
        let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        let (status, reply) = if parts.method == http::Method::GET {
            let missing = json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                                 "reason": "NotFound", "code": 404, "message": "not found"});
            (StatusCode::NOT_FOUND, missing)
        } else {
            let mut echo = body.clone();
            if let Some(obj) = echo.as_object_mut() {
                // a status patch carries only apiVersion, kind and status
                obj.entry("metadata").or_insert_with(|| json!({}));
                if obj.get("kind") == Some(&json!("MockModel")) {
                    obj.entry("spec").or_insert_with(|| json!({}));
                }
            }
            if let Some(meta) = echo.get_mut("metadata").and_then(Value::as_object_mut) {
                meta.insert("resourceVersion".into(), json!("1"));
            }
            (StatusCode::OK, echo)
        };
        calls.push(Call {
            method: parts.method.to_string(),
            uri: parts.uri.to_string(),
            body,
        });
        let response = Response::builder()
            .status(status)
            .body(Body::from(serde_json::to_vec(&reply).unwrap_or_default()))
            .expect("response");
        send.send_response(response);
    }
    calls
}
