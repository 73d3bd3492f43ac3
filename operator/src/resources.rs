//! Pure builders for a MockModel's children: the fixtures ConfigMap, the mock server Deployment
//! and its Service. Deterministic names (the MockModel's), owner references, standard labels.
//!
//! Pure; no client. The controller applies what these return with server-side apply.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec};
use k8s_openapi::api::core::v1::{
    Capabilities, ConfigMap, ConfigMapVolumeSource, Container, ContainerPort, EnvVar, EnvVarSource,
    HTTPGetAction, KeyToPath, PodSecurityContext, PodSpec, PodTemplateSpec, Probe, ResourceRequirements,
    SeccompProfile, SecretKeySelector, SecretVolumeSource, SecurityContext, Service, ServicePort,
    ServiceSpec, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, OwnerReference};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::{Resource, ResourceExt};

use crate::crd::{Endpoints, MockModel};
use crate::recording;
use crate::{Error, Result};

/// The one field manager for every server-side apply.
pub const FIELD_MANAGER: &str = "mockmodel-operator";
/// Port the mock server listens on, in the pod and on the Service.
pub const PORT: i32 = 8080;
/// Where the fixtures ConfigMap is mounted (a directory: the server loads it recursively).
pub const FIXTURES_DIR: &str = "/etc/mockmodel/fixtures";
/// Where the `spec.auth` Secret is mounted.
pub const AUTH_DIR: &str = "/etc/mockmodel/auth";
/// Name of the mock server container.
pub const CONTAINER: &str = "mockmodel-server";
/// `app.kubernetes.io/managed-by` value, also the label selector of the operator's watches.
pub const MANAGED_BY: &str = "mockmodel-operator";
/// Label selector matching every child the operator manages.
pub const MANAGED_SELECTOR: &str = "app.kubernetes.io/managed-by=mockmodel-operator";
/// UID/GID the server runs as (the distroless "nonroot" user).
const RUN_AS: i64 = 65532;

/// Operator-wide settings the builders need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// Default mock server image.
    pub image: String,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            image: default_image(),
        }
    }
}

/// `ghcr.io/mockmodel/mockmodel-server:<version>`.
pub fn default_image() -> String {
    format!("ghcr.io/mockmodel/mockmodel-server:{}", env!("CARGO_PKG_VERSION"))
}

/// Selector labels: stable for the Deployment's lifetime.
pub fn selector_labels(mm: &MockModel) -> BTreeMap<String, String> {
    BTreeMap::from([
        (
            "app.kubernetes.io/name".to_string(),
            "mockmodel-server".to_string(),
        ),
        ("app.kubernetes.io/instance".to_string(), mm.name_any()),
    ])
}

/// Labels on every child and pod.
pub fn labels(mm: &MockModel) -> BTreeMap<String, String> {
    let mut l = selector_labels(mm);
    l.insert("app.kubernetes.io/component".into(), "mock-endpoint".into());
    l.insert("app.kubernetes.io/part-of".into(), "mockmodel".into());
    l.insert("app.kubernetes.io/managed-by".into(), MANAGED_BY.into());
    l.insert(
        "app.kubernetes.io/version".into(),
        env!("CARGO_PKG_VERSION").into(),
    );
    l
}

fn metadata(mm: &MockModel) -> Result<ObjectMeta> {
    let owner: OwnerReference = mm
        .controller_owner_ref(&())
        .ok_or(Error::MissingObjectKey(".metadata.uid"))?;
    Ok(ObjectMeta {
        name: Some(mm.name_any()),
        namespace: Some(
            mm.namespace()
                .ok_or(Error::MissingObjectKey(".metadata.namespace"))?,
        ),
        labels: Some(labels(mm)),
        owner_references: Some(vec![owner]),
        ..ObjectMeta::default()
    })
}

/// The ConfigMap holding the rendered fixtures.
pub fn config_map(mm: &MockModel, data: BTreeMap<String, String>) -> Result<ConfigMap> {
    Ok(ConfigMap {
        metadata: metadata(mm)?,
        data: Some(data),
        ..ConfigMap::default()
    })
}

/// The mock server's command-line arguments (the container's `args`).
pub fn server_args(mm: &MockModel) -> Vec<String> {
    let mut args: Vec<String> = ["--fixtures", FIXTURES_DIR, "--host", "0.0.0.0", "--port"]
        .into_iter()
        .map(String::from)
        .collect();
    args.push(PORT.to_string());
    args.push("--watch".into());
    if mm.spec.auth.is_some() {
        args.extend(["--auth".to_string(), auth_file()]);
    }
    args.extend(crate::tls::server_args(mm));
    if let Some(up) = &mm.spec.upstream_openai {
        args.extend(["--upstream-openai".to_string(), up.url.clone()]);
        if let Some(model) = &up.model {
            args.extend(["--upstream-openai-model".to_string(), model.clone()]);
        }
    }
    if let Some(d) = &mm.spec.defaults {
        if let Some(n) = d.chunk_size {
            args.extend(["--chunk-size".to_string(), n.to_string()]);
        }
        if let Some(ms) = d.latency_ms {
            args.extend(["--latency-ms".to_string(), ms.to_string()]);
        }
        if d.strict == Some(true) {
            args.push("--strict".into());
        }
        if d.lenient == Some(true) {
            args.push("--lenient".into());
        }
        for f in &d.semantic_faults {
            args.extend([
                "--semantic-fault".to_string(),
                mockmodel_server::semantic::to_flag(f),
            ]);
        }
        if let Some(url) = &d.s3_endpoint {
            args.extend(["--s3-endpoint".to_string(), url.clone()]);
        }
    }
    args.extend(recording::args(mm));
    args
}

/// The translate-mode upstream's API key, from its Secret (the kubelet reads it, not the operator).
fn upstream_key_env(mm: &MockModel) -> Option<EnvVar> {
    let secret = mm.spec.upstream_openai.as_ref()?.api_key_secret.as_ref()?;
    Some(EnvVar {
        name: "MOCKMODEL_UPSTREAM_OPENAI_KEY".into(),
        value_from: Some(EnvVarSource {
            secret_key_ref: Some(SecretKeySelector {
                name: secret.name.clone(),
                key: secret.key.clone(),
                optional: Some(false),
            }),
            ..EnvVarSource::default()
        }),
        ..EnvVar::default()
    })
}

/// The credentials file in the pod: the Secret's key is projected under one fixed name.
fn auth_file() -> String {
    format!("{AUTH_DIR}/credentials")
}

/// The Secret volume for `spec.auth` (the kubelet reads the Secret; the operator only names it).
fn auth_volume(mm: &MockModel) -> Option<Volume> {
    let auth = mm.spec.auth.as_ref()?;
    Some(Volume {
        name: "auth".into(),
        secret: Some(SecretVolumeSource {
            secret_name: Some(auth.secret_name.clone()),
            items: Some(vec![KeyToPath {
                key: auth.key.clone(),
                path: "credentials".into(),
                ..KeyToPath::default()
            }]),
            // 0444: the pod sets no fsGroup, so the files are root-owned and the server's
            // non-root user reads them as "other"; the volume exists only in this pod.
            default_mode: Some(0o444),
            ..SecretVolumeSource::default()
        }),
        ..Volume::default()
    })
}

fn http_probe(mm: &MockModel, path: &str, period: i32, failures: i32) -> Probe {
    Probe {
        http_get: Some(HTTPGetAction {
            path: Some(path.into()),
            port: IntOrString::String(crate::tls::port_name(mm).into()),
            // The kubelet's HTTPS probes skip certificate verification.
            scheme: crate::tls::enabled(mm).then(|| "HTTPS".into()),
            ..HTTPGetAction::default()
        }),
        period_seconds: Some(period),
        failure_threshold: Some(failures),
        timeout_seconds: Some(2),
        ..Probe::default()
    }
}

fn default_resources() -> ResourceRequirements {
    let q = |s: &str| Quantity(s.to_string());
    ResourceRequirements {
        requests: Some(BTreeMap::from([
            ("cpu".into(), q("10m")),
            ("memory".into(), q("32Mi")),
        ])),
        limits: Some(BTreeMap::from([("memory".into(), q("256Mi"))])),
        ..ResourceRequirements::default()
    }
}

fn container(mm: &MockModel, settings: &Settings) -> Container {
    Container {
        name: CONTAINER.into(),
        image: Some(
            mm.spec
                .image
                .clone()
                .filter(|i| !i.is_empty())
                .unwrap_or_else(|| settings.image.clone()),
        ),
        image_pull_policy: mm.spec.image_pull_policy.clone(),
        args: Some(server_args(mm)),
        env: Some(
            std::iter::once(EnvVar {
                name: "MOCKMODEL_LOG_FORMAT".into(),
                value: Some("json".into()),
                ..EnvVar::default()
            })
            .chain(upstream_key_env(mm))
            .collect(),
        ),
        env_from: recording::env_from(mm),
        ports: Some(vec![ContainerPort {
            name: Some(crate::tls::port_name(mm).into()),
            container_port: PORT,
            protocol: Some("TCP".into()),
            ..ContainerPort::default()
        }]),
        liveness_probe: Some(http_probe(mm, "/healthz", 10, 3)),
        readiness_probe: Some(http_probe(mm, "/readyz", 5, 2)),
        resources: Some(mm.spec.resources.clone().unwrap_or_else(default_resources)),
        security_context: Some(SecurityContext {
            allow_privilege_escalation: Some(false),
            read_only_root_filesystem: Some(true),
            run_as_non_root: Some(true),
            run_as_user: Some(RUN_AS),
            run_as_group: Some(RUN_AS),
            capabilities: Some(Capabilities {
                drop: Some(vec!["ALL".into()]),
                ..Capabilities::default()
            }),
            ..SecurityContext::default()
        }),
        // NB: a whole-directory mount (no subPath), so the kubelet swaps the `..data` link on a
        // ConfigMap edit and the server's --watch hot-reloads without restarting the pod.
        volume_mounts: Some(
            std::iter::once(VolumeMount {
                name: "fixtures".into(),
                mount_path: FIXTURES_DIR.into(),
                read_only: Some(true),
                ..VolumeMount::default()
            })
            .chain(mm.spec.auth.as_ref().map(|_| VolumeMount {
                name: "auth".into(),
                mount_path: AUTH_DIR.into(),
                read_only: Some(true),
                ..VolumeMount::default()
            }))
            .chain(crate::tls::mount(mm))
            .chain(recording::mount(mm))
            .collect(),
        ),
        ..Container::default()
    }
}

/// The mock server Deployment. Its pod template does not depend on the fixtures, so fixture edits
/// never roll the pods (in-flight streams survive; the server reloads the mounted ConfigMap).
pub fn deployment(mm: &MockModel, settings: &Settings) -> Result<Deployment> {
    let overrides = mm.spec.pod_template.clone().unwrap_or_default();
    let mut pod_labels = overrides.labels.clone();
    pod_labels.extend(labels(mm));
    Ok(Deployment {
        metadata: metadata(mm)?,
        spec: DeploymentSpec {
            replicas: Some(mm.spec.replicas),
            selector: LabelSelector {
                match_labels: Some(selector_labels(mm)),
                ..LabelSelector::default()
            },
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(pod_labels),
                    annotations: Some(overrides.annotations).filter(|a| !a.is_empty()),
                    ..ObjectMeta::default()
                }),
                spec: Some(PodSpec {
                    containers: vec![container(mm, settings)],
                    automount_service_account_token: Some(false),
                    enable_service_links: Some(false),
                    security_context: Some(PodSecurityContext {
                        run_as_non_root: Some(true),
                        seccomp_profile: Some(SeccompProfile {
                            type_: "RuntimeDefault".into(),
                            ..SeccompProfile::default()
                        }),
                        ..PodSecurityContext::default()
                    }),
                    node_selector: Some(overrides.node_selector).filter(|n| !n.is_empty()),
                    tolerations: Some(overrides.tolerations).filter(|t| !t.is_empty()),
                    volumes: Some(
                        std::iter::once(Volume {
                            name: "fixtures".into(),
                            config_map: Some(ConfigMapVolumeSource {
                                name: mm.name_any(),
                                ..ConfigMapVolumeSource::default()
                            }),
                            ..Volume::default()
                        })
                        .chain(auth_volume(mm))
                        .chain(crate::tls::volume(mm))
                        .chain(recording::volume(mm))
                        .collect(),
                    ),
                    ..PodSpec::default()
                }),
            },
            ..DeploymentSpec::default()
        },
        ..Deployment::default()
    })
}

/// The Service agents call: one TCP port, 8080 (HTTPS with `spec.tls`).
pub fn service(mm: &MockModel) -> Result<Service> {
    let port = crate::tls::port_name(mm);
    Ok(Service {
        metadata: metadata(mm)?,
        spec: Some(ServiceSpec {
            selector: Some(selector_labels(mm)),
            ports: Some(vec![ServicePort {
                name: Some(port.into()),
                port: PORT,
                target_port: Some(IntOrString::String(port.into())),
                app_protocol: crate::tls::enabled(mm).then(|| "https".into()),
                // NB: server-side apply of a Service needs `protocol` (a key of the ports list-map).
                protocol: Some("TCP".into()),
                ..ServicePort::default()
            }]),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    })
}

/// The URLs agents use, from the Service's cluster DNS name (`https://` with `spec.tls`).
pub fn endpoints(name: &str, namespace: &str, tls: bool) -> Endpoints {
    let scheme = if tls { "https" } else { "http" };
    let base = format!("{scheme}://{name}.{namespace}.svc:{PORT}");
    Endpoints(
        mockmodel_server::routes::endpoints(&base)
            .into_iter()
            .map(|(key, url)| (key.to_string(), url))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::{FixtureDefaults, MockModelSpec};

    fn mm() -> MockModel {
        let mut mm = MockModel::new(
            "support-bot",
            MockModelSpec {
                replicas: 2,
                ..MockModelSpec::default()
            },
        );
        mm.metadata.namespace = Some("staging".into());
        mm.metadata.uid = Some("uid-1".into());
        mm
    }

    #[test]
    fn children_are_named_after_the_resource_and_owned_by_it() {
        let mm = mm();
        let cm = config_map(&mm, BTreeMap::new()).expect("cm");
        let d = deployment(&mm, &Settings::default()).expect("deploy");
        let s = service(&mm).expect("svc");
        for meta in [&cm.metadata, &d.metadata, &s.metadata] {
            assert_eq!(meta.name.as_deref(), Some("support-bot"));
            assert_eq!(meta.namespace.as_deref(), Some("staging"));
            let owner = &meta.owner_references.as_ref().expect("owners")[0];
            assert_eq!(
                (owner.kind.as_str(), owner.uid.as_str(), owner.controller),
                ("MockModel", "uid-1", Some(true))
            );
            assert_eq!(
                meta.labels.as_ref().expect("labels")["app.kubernetes.io/managed-by"],
                MANAGED_BY
            );
        }
    }

    #[test]
    fn builders_need_a_uid_for_the_owner_reference() {
        let mut mm = mm();
        mm.metadata.uid = None;
        assert!(matches!(
            service(&mm),
            Err(Error::MissingObjectKey(".metadata.uid"))
        ));
    }

    #[test]
    fn deployment_selector_matches_template_labels_and_service_selector() {
        let mm = mm();
        let d = deployment(&mm, &Settings::default()).expect("deploy");
        let spec = d.spec;
        let selector = spec.selector.match_labels.expect("selector");
        let template = spec.template.metadata.and_then(|m| m.labels).expect("labels");
        assert!(selector.iter().all(|(k, v)| template.get(k) == Some(v)));
        assert_eq!(
            service(&mm).expect("svc").spec.and_then(|s| s.selector),
            Some(selector)
        );
        assert_eq!(spec.replicas, Some(2));
    }

    #[test]
    fn container_is_locked_down_and_probed() {
        let d = deployment(&mm(), &Settings::default()).expect("deploy");
        let pod = d.spec.template.spec.expect("pod");
        let c = &pod.containers[0];
        let sc = c.security_context.as_ref().expect("security context");
        assert_eq!(sc.allow_privilege_escalation, Some(false));
        assert_eq!(sc.read_only_root_filesystem, Some(true));
        assert_eq!(sc.run_as_non_root, Some(true));
        assert_eq!(
            sc.capabilities.as_ref().and_then(|c| c.drop.clone()),
            Some(vec!["ALL".to_string()])
        );
        let path = |p: &Option<Probe>| {
            p.as_ref()
                .and_then(|p| p.http_get.as_ref())
                .and_then(|h| h.path.clone())
        };
        assert_eq!(path(&c.liveness_probe).as_deref(), Some("/healthz"));
        assert_eq!(path(&c.readiness_probe).as_deref(), Some("/readyz"));
        assert!(c.resources.as_ref().and_then(|r| r.requests.as_ref()).is_some());
        assert_eq!(c.image.as_deref(), Some(default_image().as_str()));
        let mount = &c.volume_mounts.as_ref().expect("mounts")[0];
        assert_eq!(
            (mount.mount_path.as_str(), mount.sub_path.as_deref()),
            (FIXTURES_DIR, None)
        );
    }

    #[test]
    fn service_port_is_tcp_and_targets_the_container_port() {
        let mm = mm();
        let svc = service(&mm).expect("svc");
        let ports = svc.spec.and_then(|s| s.ports).expect("ports");
        assert!(ports.iter().all(|p| p.protocol.as_deref() == Some("TCP")));
        let d = deployment(&mm, &Settings::default()).expect("deploy");
        let cport = &d.spec.template.spec.expect("pod").containers[0]
            .ports
            .clone()
            .expect("ports")[0];
        assert_eq!(ports[0].port, cport.container_port);
        assert_eq!(
            ports[0].target_port,
            Some(IntOrString::String(cport.name.clone().unwrap_or_default()))
        );
    }

    #[test]
    fn defaults_become_server_flags() {
        let mut mm = mm();
        mm.spec.defaults = Some(FixtureDefaults {
            chunk_size: Some(7),
            latency_ms: Some(30),
            strict: Some(true),
            lenient: Some(true),
            streaming_profile: None,
            semantic_faults: vec![
                mockmodel_server::semantic::parse_flag("refusal=0.25@3").expect("valid"),
                mockmodel_server::semantic::parse_flag("emptyResponse").expect("valid"),
            ],
            s3_endpoint: Some("http://minio:9000".into()),
        });
        let args = server_args(&mm).join(" ");
        assert!(args.starts_with("--fixtures /etc/mockmodel/fixtures --host 0.0.0.0 --port 8080 --watch"));
        assert!(
            args.ends_with(
                "--chunk-size 7 --latency-ms 30 --strict --lenient \
                 --semantic-fault refusal=0.25@3 --semantic-fault emptyResponse --s3-endpoint http://minio:9000"
            ),
            "{args}"
        );
    }

    #[test]
    fn spec_upstream_openai_passes_the_flags_and_the_key_from_its_secret() {
        let plain = container(&mm(), &Settings::default());
        assert_eq!(plain.env.as_ref().expect("env").len(), 1);
        let mut mm = mm();
        mm.spec.upstream_openai = serde_json::from_value(serde_json::json!({
            "url": "http://vllm.models.svc:8000/v1",
            "model": "qwen2.5-0.5b",
            "apiKeySecret": {"name": "vllm-key", "key": "token"},
        }))
        .expect("spec");
        let c = container(&mm, &Settings::default());
        let args = c.args.as_ref().expect("args").join(" ");
        assert!(
            args.contains(
                "--upstream-openai http://vllm.models.svc:8000/v1 --upstream-openai-model qwen2.5-0.5b"
            ),
            "{args}"
        );
        let env = &c.env.as_ref().expect("env")[1];
        assert_eq!(env.name, "MOCKMODEL_UPSTREAM_OPENAI_KEY");
        assert!(env.value.is_none(), "the key is never in the spec");
        let key = env
            .value_from
            .as_ref()
            .and_then(|v| v.secret_key_ref.as_ref())
            .expect("a Secret key ref");
        assert_eq!((key.name.as_str(), key.key.as_str()), ("vllm-key", "token"));
    }

    #[test]
    fn spec_auth_mounts_the_secret_and_passes_auth() {
        let plain = deployment(&mm(), &Settings::default()).expect("deploy");
        let pod = plain.spec.template.spec.expect("pod");
        assert_eq!(pod.volumes.expect("volumes").len(), 1);
        assert!(!server_args(&mm()).contains(&"--auth".to_string()));

        let mut mm = mm();
        mm.spec.auth = Some(crate::crd::AuthSpec {
            secret_name: "bot-credentials".into(),
            key: "creds.json".into(),
        });
        let d = deployment(&mm, &Settings::default()).expect("deploy");
        let pod = d.spec.template.spec.expect("pod");
        let volume = &pod.volumes.expect("volumes")[1];
        let secret = volume.secret.as_ref().expect("a Secret volume");
        assert_eq!(secret.secret_name.as_deref(), Some("bot-credentials"));
        let item = &secret.items.as_ref().expect("items")[0];
        assert_eq!(
            (item.key.as_str(), item.path.as_str()),
            ("creds.json", "credentials")
        );
        let c = &pod.containers[0];
        let mount = &c.volume_mounts.as_ref().expect("mounts")[1];
        assert_eq!(
            (mount.name.as_str(), mount.mount_path.as_str()),
            ("auth", AUTH_DIR)
        );
        assert_eq!(mount.read_only, Some(true));
        let args = c.args.as_ref().expect("args").join(" ");
        assert!(
            args.contains("--watch --auth /etc/mockmodel/auth/credentials"),
            "{args}"
        );
        // The default key when the spec names none.
        let parsed: crate::crd::AuthSpec =
            serde_json::from_value(serde_json::json!({"secretName": "s"})).expect("auth");
        assert_eq!(parsed.key, "credentials.yaml");
    }

    #[test]
    fn endpoints_use_the_service_dns_name() {
        let e = endpoints("support-bot", "staging", false);
        assert_eq!(e.get("bedrock"), Some("http://support-bot.staging.svc:8080"));
        assert_eq!(e.get("sagemaker"), Some("http://support-bot.staging.svc:8080"));
        assert_eq!(e.get("openai"), Some("http://support-bot.staging.svc:8080/v1"));
        assert_eq!(
            e.get("bedrockOpenai"),
            Some("http://support-bot.staging.svc:8080/openai/v1")
        );
    }
}
