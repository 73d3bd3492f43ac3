//! Test support (compiled only for tests): a `Context` on a mocked apiserver and a strict verifier:
//! each [`Scenario`] lists the exact API calls reconcile must make, in order; an unexpected call, a
//! missing one (1 s timeout) or an extra one fails the test.

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
        let (_, stores, _) = crate::watches::caches();
        (
            Arc::new(Context::new(
                client,
                Arc::new(Metrics::default()),
                Settings::default(),
                None,
                stores,
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

/// One expected request: method, path (no query) and what the query must contain.
#[derive(Debug, Clone)]
pub struct Expect {
    method: &'static str,
    path: String,
    query_has: &'static [&'static str],
}

impl Expect {
    fn new(method: &'static str, path: &str, query_has: &'static [&'static str]) -> Self {
        Expect {
            method,
            path: path.to_string(),
            query_has,
        }
    }

    fn matches(&self, call: &Call) -> bool {
        let (path, query) = call.uri.split_once('?').unwrap_or((&call.uri, ""));
        call.method == self.method && path == self.path && self.query_has.iter().all(|q| query.contains(q))
    }
}

/// Server-side apply, as the operator does it.
const SSA: &[&str] = &["fieldManager=mockmodel-operator", "force=true"];

/// The situations reconcile is tested in, for MockModel `ns/bot` (see [`MockModel::test`]).
#[derive(Debug, Clone, Copy)]
pub enum Scenario {
    /// A new, valid MockModel: its ConfigMap, Deployment and Service applied (concurrently, so
    /// in any order), then its status; nothing read.
    NewMockModel,
    /// Invalid fixtures: no child applied; the running Deployment and ConfigMap read, a Warning
    /// Event posted, the status applied.
    InvalidFixtures,
}

impl Scenario {
    /// The expected calls: groups in order, each group's calls in any order.
    fn expected(self) -> Vec<Vec<Expect>> {
        let status = Expect::new(
            "PATCH",
            "/apis/mockmodel.dev/v1alpha1/namespaces/ns/mockmodels/bot/status",
            SSA,
        );
        match self {
            Scenario::NewMockModel => vec![
                vec![
                    Expect::new("PATCH", "/api/v1/namespaces/ns/configmaps/bot", SSA),
                    Expect::new("PATCH", "/apis/apps/v1/namespaces/ns/deployments/bot", SSA),
                    Expect::new("PATCH", "/api/v1/namespaces/ns/services/bot", SSA),
                ],
                vec![status],
            ],
            Scenario::InvalidFixtures => vec![
                vec![Expect::new(
                    "GET",
                    "/apis/apps/v1/namespaces/ns/deployments/bot",
                    &[],
                )],
                // what the running endpoint serves, for status.fixtureCount
                vec![Expect::new("GET", "/api/v1/namespaces/ns/configmaps/bot", &[])],
                vec![Expect::new(
                    "POST",
                    "/apis/events.k8s.io/v1/namespaces/ns/events",
                    &[],
                )],
                vec![status],
            ],
        }
    }
}

/// Plays `scenario` against reconcile's client: answers each expected call like an empty
/// apiserver (GETs are 404, writes echo their body back) and panics on anything else, on a call
/// that does not come within 1 s, or on an extra call. Returns every call in order.
pub async fn run_scenario(mut handle: Handle, scenario: Scenario) -> Vec<Call> {
    let mut calls = Vec::new();
    for mut pending in scenario.expected() {
        while !pending.is_empty() {
            let (req, send) = tokio::time::timeout(Duration::from_secs(1), handle.next_request())
                .await
                .unwrap_or_else(|_| panic!("{scenario:?}: no call within 1 s; expected one of {pending:#?}"))
                .unwrap_or_else(|| panic!("{scenario:?}: client gone; expected one of {pending:#?}"));
            let (parts, body) = req.into_parts();
            let bytes = body.collect_bytes().await.unwrap_or_default();
            let call = Call {
                method: parts.method.to_string(),
                uri: parts.uri.to_string(),
                body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            };
            let Some(i) = pending.iter().position(|e| e.matches(&call)) else {
                panic!(
                    "{scenario:?}: unexpected call {} {}; expected one of {pending:#?}",
                    call.method, call.uri
                );
            };
            pending.remove(i);
            send.send_response(reply(&call));
            calls.push(call);
        }
    }
    if let Ok(Some((req, _))) = tokio::time::timeout(Duration::from_millis(200), handle.next_request()).await
    {
        panic!(
            "{scenario:?}: unexpected extra call {} {}",
            req.method(),
            req.uri()
        );
    }
    calls
}

/// What an empty apiserver answers: 404 to a GET, the body echoed (with a resourceVersion) to a write.
fn reply(call: &Call) -> Response<Body> {
    let (status, reply) = if call.method == "GET" {
        let missing = json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                             "reason": "NotFound", "code": 404, "message": "not found"});
        (StatusCode::NOT_FOUND, missing)
    } else {
        let mut echo = call.body.clone();
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
    Response::builder()
        .status(status)
        .body(Body::from(serde_json::to_vec(&reply).unwrap_or_default()))
        .expect("response")
}
