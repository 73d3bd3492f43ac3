//! `spec.record` in the mock server pod: `--record` / `--proxy-unmatched` arguments, the `emptyDir`
//! recorded fixtures are written to (the root filesystem is read-only), and the environment from
//! the AWS credentials Secret re-signed requests use.
//!
//! Pure; no client. The operator names the Secret; the kubelet reads it.

use k8s_openapi::api::core::v1::{EmptyDirVolumeSource, EnvFromSource, SecretEnvSource, Volume, VolumeMount};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use crate::crd::{MockModel, MockModelSpec, RecordMode};

/// Where recorded fixtures are written in the pod (`kubectl cp <pod>:/var/lib/mockmodel/recorded .`).
pub const RECORD_DIR: &str = "/var/lib/mockmodel/recorded";
/// The volume's name.
const VOLUME: &str = "recorded";
/// A recording is text: a cap keeps a runaway one from filling the node's disk.
const SIZE_LIMIT: &str = "256Mi";

/// The server arguments for `spec.record` (none without it).
pub fn args(mm: &MockModel) -> Vec<String> {
    let Some(r) = &mm.spec.record else {
        return Vec::new();
    };
    let flag = match r.mode {
        RecordMode::Record => "--record",
        RecordMode::Proxy => "--proxy-unmatched",
    };
    let mut args: Vec<String> = r
        .upstreams
        .iter()
        .flat_map(|u| [flag.to_string(), u.flag_value()])
        .collect();
    if r.mode == RecordMode::Record {
        args.extend(["--record-dir".to_string(), RECORD_DIR.to_string()]);
    }
    args
}

/// The `emptyDir` recorded fixtures go to, in `record` mode.
pub fn volume(mm: &MockModel) -> Option<Volume> {
    records(mm).then(|| Volume {
        name: VOLUME.into(),
        empty_dir: Some(EmptyDirVolumeSource {
            size_limit: Some(Quantity(SIZE_LIMIT.into())),
            ..EmptyDirVolumeSource::default()
        }),
        ..Volume::default()
    })
}

/// Its mount, writable.
pub fn mount(mm: &MockModel) -> Option<VolumeMount> {
    records(mm).then(|| VolumeMount {
        name: VOLUME.into(),
        mount_path: RECORD_DIR.into(),
        ..VolumeMount::default()
    })
}

/// The AWS credentials Secret as environment variables, when named.
pub fn env_from(mm: &MockModel) -> Option<Vec<EnvFromSource>> {
    let secret = mm.spec.record.as_ref()?.aws_credentials_secret.clone()?;
    Some(vec![EnvFromSource {
        secret_ref: Some(SecretEnvSource {
            name: secret,
            optional: Some(false),
        }),
        ..EnvFromSource::default()
    }])
}

fn records(mm: &MockModel) -> bool {
    mm.spec
        .record
        .as_ref()
        .is_some_and(|r| r.mode == RecordMode::Record)
}

/// Checks the upstream URLs as the server will (so a bad one is an `InvalidSpec` in the status,
/// not a crash-looping pod); every error names its field.
pub fn validate(spec: &MockModelSpec) -> Result<(), Vec<String>> {
    let Some(r) = &spec.record else {
        return Ok(());
    };
    let errors: Vec<String> = r
        .upstreams
        .iter()
        .enumerate()
        .filter_map(|(i, u)| {
            mockmodel_server::proxy::parse_target(&u.url)
                .err()
                .map(|e| format!("spec.record.upstreams[{i}].url: {e}"))
        })
        .chain(
            r.upstreams
                .is_empty()
                .then(|| "spec.record.upstreams: name at least one upstream".to_string()),
        )
        .collect();
    if errors.is_empty() { Ok(()) } else { Err(errors) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::MockModelSpec;
    use crate::resources::{Settings, deployment};

    fn mm(record: serde_json::Value) -> MockModel {
        let spec: MockModelSpec =
            serde_json::from_value(serde_json::json!({"record": record})).expect("spec");
        let mut mm = MockModel::new("recorder", spec);
        mm.metadata.namespace = Some("staging".into());
        mm.metadata.uid = Some("uid-1".into());
        mm
    }

    #[test]
    fn record_mode_passes_each_upstream_and_writes_into_an_empty_dir() {
        let mm = mm(serde_json::json!({
            "upstreams": [
                {"url": "http://upstream.staging.svc:8080"},
                {"protocol": "bedrock", "url": "https://bedrock-runtime.us-east-1.amazonaws.com"},
            ],
            "awsCredentialsSecret": "recorder-aws",
        }));
        assert!(validate(&mm.spec).is_ok());
        let d = deployment(&mm, &Settings::default()).expect("deploy");
        let pod = d.spec.template.spec.expect("pod");
        let c = &pod.containers[0];
        let args = c.args.as_ref().expect("args").join(" ");
        assert!(
            args.ends_with(
                "--watch --record http://upstream.staging.svc:8080 \
                 --record bedrock=https://bedrock-runtime.us-east-1.amazonaws.com \
                 --record-dir /var/lib/mockmodel/recorded"
            ),
            "{args}"
        );
        let volume = pod
            .volumes
            .as_ref()
            .expect("volumes")
            .iter()
            .find(|v| v.name == "recorded")
            .expect("the recorded volume");
        assert!(volume.empty_dir.is_some());
        let mount = c
            .volume_mounts
            .as_ref()
            .expect("mounts")
            .iter()
            .find(|m| m.name == "recorded")
            .expect("the recorded mount");
        // Writable, while the root filesystem stays read-only.
        assert_eq!((mount.mount_path.as_str(), mount.read_only), (RECORD_DIR, None));
        let sc = c.security_context.as_ref().expect("security context");
        assert_eq!(sc.read_only_root_filesystem, Some(true));
        let env = c.env_from.as_ref().expect("envFrom");
        assert_eq!(
            env[0].secret_ref.as_ref().map(|s| s.name.as_str()),
            Some("recorder-aws")
        );
    }

    #[test]
    fn proxy_mode_relays_only_with_no_volume() {
        let mm = mm(serde_json::json!({
            "mode": "proxy",
            "upstreams": [{"protocol": "openai", "url": "http://vllm:8000"}],
        }));
        let d = deployment(&mm, &Settings::default()).expect("deploy");
        let pod = d.spec.template.spec.expect("pod");
        let args = pod.containers[0].args.as_ref().expect("args").join(" ");
        assert!(
            args.ends_with("--watch --proxy-unmatched openai=http://vllm:8000"),
            "{args}"
        );
        assert!(!args.contains("--record"));
        assert_eq!(pod.volumes.expect("volumes").len(), 1);
        assert!(pod.containers[0].env_from.is_none());
    }

    #[test]
    fn bad_upstreams_are_spec_errors_naming_the_field() {
        let bad = mm(serde_json::json!({"upstreams": [
            {"url": "http://ok:1"},
            {"url": "https://user:pw@example.com"},
            {"url": "ftp://x"},
        ]}));
        let errors = validate(&bad.spec).expect_err("invalid");
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(
            errors[0].starts_with("spec.record.upstreams[1].url: "),
            "{errors:?}"
        );
        assert!(
            errors[1].starts_with("spec.record.upstreams[2].url: "),
            "{errors:?}"
        );
        let none = mm(serde_json::json!({"upstreams": []}));
        assert!(validate(&none.spec).is_err());
        // Unknown modes and protocols are refused when the spec is read (the CRD lists both).
        let spec = serde_json::json!({"record": {"mode": "replay", "upstreams": []}});
        assert!(serde_json::from_value::<MockModelSpec>(spec).is_err());
    }

    #[test]
    fn without_spec_record_nothing_changes() {
        let plain = MockModel::new("x", MockModelSpec::default());
        assert!(args(&plain).is_empty());
        assert!(volume(&plain).is_none() && mount(&plain).is_none() && env_from(&plain).is_none());
    }
}
