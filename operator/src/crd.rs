//! The `MockModel` custom resource (`mockmodel.dev/v1alpha1`): spec, status and CRD generation.
//!
//! Pure types. The fixture schema comes from the server crate's own fixture types (feature `schema`),
//! so `kubectl explain mockmodel.spec.fixtures` documents exactly what the server accepts.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ResourceRequirements, Toleration};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::CustomResource;
use mockmodel_server::fixture::schema::{Fixture, SemanticFault, StreamingProfile};
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Desired state of a mock model endpoint: its fixtures and how to run the mock server.
// NB: clippy reads the repeated `type_ = "string"` of two printcolumns as a duplicated attribute.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "mockmodel.dev",
    version = "v1alpha1",
    kind = "MockModel",
    namespaced,
    status = "MockModelStatus",
    shortname = "mm",
    category = "all",
    doc = "A deterministic mock model endpoint (Bedrock Runtime, SageMaker Runtime and OpenAI-compatible) answering from fixtures.",
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(name = "Fixtures", type_ = "integer", json_path = ".status.fixtureCount"),
    printcolumn(name = "Endpoint", type_ = "string", json_path = ".status.endpoints.bedrock"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[serde(rename_all = "camelCase")]
pub struct MockModelSpec {
    /// Inline fixtures, tried in order before those from `fixturesFrom`; the first whose `match`
    /// fits a request answers it (aimock-compatible format).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "fixtures_schema")]
    pub fixtures: Vec<Value>,
    /// ConfigMap keys holding fixture files (`{fixtures: [...]}`, JSON or YAML), appended in order
    /// after the inline fixtures. Use these for large sets: a resource is capped near 1.5 MiB.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fixtures_from: Vec<FixtureSource>,
    /// Defaults applied to every fixture that does not set its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub defaults: Option<FixtureDefaults>,
    /// Number of mock server pods.
    #[serde(default = "default_replicas")]
    #[schemars(range(min = 0))]
    pub replicas: i32,
    /// Container image of mockmodel-server; the operator's default when empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Image pull policy (`Always`, `IfNotPresent`, `Never`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_pull_policy: Option<String>,
    /// Container resources; small requests and a memory limit when empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
    /// Extra settings for the mock server pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_template: Option<PodTemplateOverrides>,
    /// Require credentials as the real services do (the server's `--auth`): SigV4 with AWS access
    /// keys, Bedrock, OpenAI and Anthropic API keys, each rejected in its service's shape. The
    /// credentials come from a Secret the pods mount; the operator never reads it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<AuthSpec>,
    /// Serve HTTPS instead of plain HTTP on the Service's port (the server's `--tls-cert` and
    /// `--tls-key`), offering h2 and HTTP/1.1. boto3 sends a Bedrock API key
    /// (`AWS_BEARER_TOKEN_BEDROCK`) only over HTTPS. The pods mount the Secret; the operator never reads it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsSpec>,
    /// Translate mode (the server's `--upstream-openai`): Bedrock, SageMaker and Anthropic requests
    /// no fixture matches are answered by this OpenAI-compatible model server (a vLLM or Ollama
    /// Service), converted both ways with tools and streaming.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream_openai: Option<UpstreamOpenAiSpec>,
    /// Send requests no fixture answers to real upstreams and relay their answers (the server's
    /// `--record` / `--proxy-unmatched`). In `record` mode each answer is also written as a fixture
    /// into the pod (an `emptyDir`, lost with the pod), read back as one fixture file with `GET
    /// /__mockmodel/recorded` or copied out with `kubectl cp`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record: Option<RecordSpec>,
}

/// The mock server's certificate.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TlsSpec {
    /// A `kubernetes.io/tls` Secret (keys `tls.crt`, PEM chain with the server certificate first,
    /// and `tls.key`) in the MockModel's namespace, e.g. from cert-manager or `kubectl create
    /// secret tls`; the certificate should name `<name>.<namespace>.svc`. A renewed Secret reaches
    /// the pods' files, but the server reads them at start (or on SIGHUP): restart the pods.
    pub secret_name: String,
}

/// The OpenAI-compatible model server behind translate mode.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct UpstreamOpenAiSpec {
    /// Base URL as the OpenAI SDKs take it (`http://vllm.models.svc:8000/v1`); `/chat/completions`
    /// is appended. No credentials in the URL (the server refuses them): use `apiKeySecret`.
    pub url: String,
    /// Model name sent upstream instead of each request's model id (or SageMaker endpoint name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// A Secret key holding the upstream's API key (sent as `Authorization: Bearer`); the pods read
    /// it as an environment variable, the operator never reads it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key_secret: Option<SecretKey>,
}

/// A key of a Secret in the same namespace.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
pub struct SecretKey {
    /// Secret name.
    pub name: String,
    /// Key within the Secret's `data`.
    pub key: String,
}

/// Where unmatched requests go, and whether their answers are recorded.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RecordSpec {
    /// `record` (relay and write fixtures, the default) or `proxy` (relay only).
    #[serde(default)]
    pub mode: RecordMode,
    /// The upstreams: one per protocol, or one without `protocol` for every protocol that has none
    /// of its own.
    #[schemars(length(min = 1))]
    pub upstreams: Vec<UpstreamSpec>,
    /// A Secret in the MockModel's namespace whose keys become the pods' environment
    /// (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_REGION`): the
    /// credentials Bedrock and SageMaker requests are re-signed with. Without it the standard AWS
    /// chain applies (web identity, container or instance credentials). The operator never reads it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws_credentials_secret: Option<String>,
}

/// Whether relayed answers are written as fixtures.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum RecordMode {
    /// Relay and write each answer as a fixture (`--record`).
    #[default]
    Record,
    /// Relay only (`--proxy-unmatched`).
    Proxy,
}

/// One upstream.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct UpstreamSpec {
    /// `http://` or `https://` base URL; the request's own path is appended
    /// (`https://bedrock-runtime.us-east-1.amazonaws.com`, `http://other-mock.ns.svc:8080`). No
    /// credentials in it: clients' keys are passed on and AWS requests re-signed.
    pub url: String,
    /// The protocol it serves: `openai`, `anthropic`, `bedrock` or `sagemaker`; every protocol
    /// without an upstream of its own when omitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<UpstreamProtocol>,
}

/// The protocol an upstream serves (`--record PROTOCOL=URL`): `openai`, `anthropic`, `bedrock` or
/// `sagemaker`; every protocol without an upstream of its own when omitted.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum UpstreamProtocol {
    /// OpenAI Chat Completions, Responses and embeddings (`/v1/*`).
    Openai,
    /// Anthropic Messages (`/v1/messages`).
    Anthropic,
    /// Bedrock Runtime (also its `/openai/v1` and `/anthropic/v1` paths).
    Bedrock,
    /// SageMaker Runtime.
    Sagemaker,
}

impl UpstreamSpec {
    /// The server's `[PROTOCOL=]URL` value.
    pub fn flag_value(&self) -> String {
        match self.protocol {
            Some(p) => {
                let name = match p {
                    UpstreamProtocol::Openai => "openai",
                    UpstreamProtocol::Anthropic => "anthropic",
                    UpstreamProtocol::Bedrock => "bedrock",
                    UpstreamProtocol::Sagemaker => "sagemaker",
                };
                format!("{name}={}", self.url)
            }
            None => self.url.clone(),
        }
    }
}

/// Where the mock server's credentials file is (docs/auth.md describes its format).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuthSpec {
    /// A Secret in the MockModel's namespace, mounted read-only into the mock server pods.
    pub secret_name: String,
    /// The Secret key holding the credentials file (YAML or JSON: `aws: [{accessKeyId,
    /// secretAccessKey}]`, `bedrockApiKeys`, `openaiApiKeys`, `anthropicApiKeys`, `adminApiKeys`).
    #[serde(default = "default_auth_key")]
    pub key: String,
}

fn default_auth_key() -> String {
    "credentials.yaml".into()
}

fn default_replicas() -> i32 {
    1
}

/// The schema of `spec.fixtures`: the server's `Fixture` type. The field itself stays raw JSON so
/// a semantically invalid fixture is reported in status (with its path) instead of breaking the watch.
fn fixtures_schema(generator: &mut SchemaGenerator) -> Schema {
    let item = generator.subschema_for::<Fixture>();
    json_schema!({ "type": "array", "items": item })
}

/// Where to read more fixtures.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FixtureSource {
    /// A key of a ConfigMap in the MockModel's namespace.
    pub config_map_key_ref: ConfigMapKey,
}

/// A key of a ConfigMap in the same namespace.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
pub struct ConfigMapKey {
    /// ConfigMap name.
    pub name: String,
    /// Key within the ConfigMap's `data`; its name decides the format (`.json` is JSON, else YAML).
    pub key: String,
}

/// Server-wide fixture defaults.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FixtureDefaults {
    /// Streaming timing for fixtures without their own `streamingProfile`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub streaming_profile: Option<StreamingProfile>,
    /// Characters per streamed chunk for fixtures without their own `chunkSize`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub chunk_size: Option<u32>,
    /// Delay in milliseconds before every answer, for fixtures without their own `latency`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<u32>,
    /// Answer unmatched requests with 503 instead of 404.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strict: Option<bool>,
    /// Accept requests the real service would reject (no validation against the AWS service models
    /// or the OpenAI and Anthropic request schemas: out-of-range values, missing members, bad enums
    /// and patterns answer as if valid).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lenient: Option<bool>,
    /// Model misbehaviour injected into answers whose fixture has no `semanticFault` of its own
    /// (passed to the server as `--semantic-fault KIND[=RATE][@TIMES]`, tried in order).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub semantic_faults: Vec<SemanticFault>,
    /// S3-compatible endpoint (`http://minio.storage.svc:9000`) where asynchronous invocations
    /// (StartAsyncInvoke, InvokeEndpointAsync) read inputs and write outputs (`--s3-endpoint`).
    /// Credentials come from the pod's standard AWS chain (IRSA, EKS Pod Identity); without an
    /// endpoint those operations answer an error naming it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s3_endpoint: Option<String>,
}

/// Additions to the mock server's pod template.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PodTemplateOverrides {
    /// Extra pod labels (the operator's own labels win on conflict).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Extra pod annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// Node selector for the pods.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub node_selector: BTreeMap<String, String>,
    /// Tolerations for the pods.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tolerations: Vec<Toleration>,
}

/// Observed state: whether the endpoint serves the current fixtures, and where to reach it.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MockModelStatus {
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Number of fixtures the endpoint serves (the last valid set).
    #[serde(default)]
    pub fixture_count: i32,
    /// Mock server pods that are ready.
    #[serde(default)]
    pub ready_replicas: i32,
    /// `Ready`, `FixturesValid` and `Available`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "conditions_schema")]
    pub conditions: Vec<Condition>,
    /// URLs to point agents at, by protocol.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoints: Option<Endpoints>,
}

/// Base URLs of the mock endpoint (the Service's cluster DNS name), one per wire the server speaks,
/// keyed as the server's wire registry names them: `bedrock` (boto3/strands/LangChain
/// `endpoint_url`), `sagemaker`, `openai` (the OpenAI SDKs' `base_url`), `anthropic` (the Anthropic
/// SDKs' `base_url`), `bedrockOpenai` and `bedrockAnthropic` (Bedrock's compatible paths).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(transparent)]
pub struct Endpoints(pub BTreeMap<String, String>);

impl Endpoints {
    /// The base URL of one wire (`bedrock`, `openai`, …), if the server speaks it.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }
}

/// Conditions as a list-map keyed by `type`, like the built-in types.
fn conditions_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "array",
        "x-kubernetes-list-type": "map",
        "x-kubernetes-list-map-keys": ["type"],
        "items": {
            "type": "object",
            "required": ["lastTransitionTime", "message", "reason", "status", "type"],
            "properties": {
                "lastTransitionTime": { "type": "string", "format": "date-time", "description": "When the condition last flipped." },
                "message": { "type": "string", "description": "Human-readable details." },
                "observedGeneration": { "type": "integer", "format": "int64", "description": "Generation the condition describes." },
                "reason": { "type": "string", "description": "PascalCase reason for the status." },
                "status": { "type": "string", "enum": ["True", "False", "Unknown"], "description": "Condition status." },
                "type": { "type": "string", "description": "Condition type." }
            }
        }
    })
}

/// The CustomResourceDefinition as YAML (what `crds/mockmodels.yaml` holds).
pub fn crd_yaml() -> String {
    use kube::CustomResourceExt;
    serde_yaml::to_string(&MockModel::crd()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::CustomResourceExt;

    fn schema() -> Value {
        serde_json::to_value(MockModel::crd()).expect("crd serializes")["spec"]["versions"][0]["schema"]
            ["openAPIV3Schema"]
            .clone()
    }

    #[test]
    fn crd_yaml_is_current() {
        let committed: Value = serde_yaml::from_str(include_str!("../../crds/mockmodels.yaml"))
            .expect("crds/mockmodels.yaml parses");
        let generated = serde_json::to_value(MockModel::crd()).expect("crd serializes");
        assert!(
            committed == generated,
            "crds/mockmodels.yaml is out of date: run `make generate`"
        );
    }

    #[test]
    fn crd_has_name_short_name_and_status_subresource() {
        let crd = MockModel::crd();
        assert_eq!(crd.metadata.name.as_deref(), Some("mockmodels.mockmodel.dev"));
        assert_eq!(crd.spec.names.short_names, Some(vec!["mm".to_string()]));
        assert_eq!(crd.spec.scope, "Namespaced");
        let v = &crd.spec.versions[0];
        assert!(v.subresources.as_ref().and_then(|s| s.status.as_ref()).is_some());
        let cols: Vec<&str> = v
            .additional_printer_columns
            .iter()
            .flatten()
            .map(|c| c.name.as_str())
            .collect();
        assert_eq!(cols, ["Ready", "Fixtures", "Endpoint", "Age"]);
    }

    #[test]
    fn fixture_schema_comes_from_server_types_and_documents_fields() {
        let s = schema();
        let fixture = &s["properties"]["spec"]["properties"]["fixtures"]["items"];
        let user = &fixture["properties"]["match"]["properties"]["userMessage"];
        assert_eq!(user["x-kubernetes-preserve-unknown-fields"], true);
        assert!(
            user["description"]
                .as_str()
                .is_some_and(|d| d.contains("substring"))
        );
        let chunk = &fixture["properties"]["chunkSize"];
        assert!(chunk["description"].as_str().is_some());
        let content = &fixture["properties"]["response"]["properties"]["content"];
        assert_eq!(content["x-kubernetes-preserve-unknown-fields"], true);
    }

    #[test]
    fn every_schema_property_has_a_description() {
        fn walk(v: &Value, path: &str, missing: &mut Vec<String>) {
            if let Some(props) = v.get("properties").and_then(Value::as_object) {
                for (k, p) in props {
                    let here = format!("{path}.{k}");
                    if p.get("description").is_none()
                        && !["apiVersion", "kind", "metadata"].contains(&k.as_str())
                    {
                        missing.push(here.clone());
                    }
                    walk(p, &here, missing);
                }
            }
            for key in ["items", "additionalProperties"] {
                if let Some(inner) = v.get(key) {
                    walk(inner, path, missing);
                }
            }
        }
        let mut missing = Vec::new();
        walk(&schema(), "", &mut missing);
        assert!(missing.is_empty(), "fields without a description: {missing:?}");
    }
}
