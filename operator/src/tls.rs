//! `spec.tls`: what HTTPS changes in a MockModel's children. The Secret volume and its mount, the
//! server's `--tls-cert`/`--tls-key`, the port's name and the probes' scheme.
//!
//! Pure; no client. The kubelet reads the Secret; the operator only names it.

use k8s_openapi::api::core::v1::{KeyToPath, SecretVolumeSource, Volume, VolumeMount};

use crate::crd::MockModel;

/// Where the `spec.tls` Secret is mounted.
pub const TLS_DIR: &str = "/etc/mockmodel/tls";
/// The keys of a `kubernetes.io/tls` Secret.
const CERT_KEY: &str = "tls.crt";
const KEY_KEY: &str = "tls.key";
const VOLUME: &str = "tls";

/// Whether the MockModel serves HTTPS.
pub fn enabled(mm: &MockModel) -> bool {
    mm.spec.tls.is_some()
}

/// The URL scheme of the Service and the probes' `scheme`.
pub fn scheme(mm: &MockModel) -> &'static str {
    if enabled(mm) { "https" } else { "http" }
}

/// The container and Service port's name: `https` under TLS, so meshes that pick a protocol from
/// the name (Istio) do not read TLS bytes as plain HTTP.
pub fn port_name(mm: &MockModel) -> &'static str {
    scheme(mm)
}

/// The server's TLS arguments.
pub fn server_args(mm: &MockModel) -> Vec<String> {
    if !enabled(mm) {
        return Vec::new();
    }
    vec![
        "--tls-cert".into(),
        format!("{TLS_DIR}/{CERT_KEY}"),
        "--tls-key".into(),
        format!("{TLS_DIR}/{KEY_KEY}"),
    ]
}

/// The Secret volume.
pub fn volume(mm: &MockModel) -> Option<Volume> {
    let tls = mm.spec.tls.as_ref()?;
    let item = |key: &str| KeyToPath {
        key: key.into(),
        path: key.into(),
        ..KeyToPath::default()
    };
    Some(Volume {
        name: VOLUME.into(),
        secret: Some(SecretVolumeSource {
            secret_name: Some(tls.secret_name.clone()),
            items: Some(vec![item(CERT_KEY), item(KEY_KEY)]),
            // 0444, as the auth volume: the pod sets no fsGroup, so the files are root-owned and the
            // server's non-root user reads them as "other"; the volume exists only in this pod.
            default_mode: Some(0o444),
            ..SecretVolumeSource::default()
        }),
        ..Volume::default()
    })
}

/// The mount of [`volume`]: a whole directory (no subPath), so a renewed Secret reaches the files.
pub fn mount(mm: &MockModel) -> Option<VolumeMount> {
    enabled(mm).then(|| VolumeMount {
        name: VOLUME.into(),
        mount_path: TLS_DIR.into(),
        read_only: Some(true),
        ..VolumeMount::default()
    })
}

#[cfg(test)]
mod tests {
    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

    use super::*;
    use crate::crd::{MockModelSpec, TlsSpec};
    use crate::resources::{PORT, Settings, deployment, endpoints, service};

    fn mm(tls: bool) -> MockModel {
        let mut mm = MockModel::new(
            "support-bot",
            MockModelSpec {
                replicas: 1,
                tls: tls.then(|| TlsSpec {
                    secret_name: "bot-tls".into(),
                }),
                ..MockModelSpec::default()
            },
        );
        mm.metadata.namespace = Some("staging".into());
        mm.metadata.uid = Some("uid-1".into());
        mm
    }

    #[test]
    fn spec_tls_mounts_the_secret_passes_the_files_and_probes_over_https() {
        let d = deployment(&mm(true), &Settings::default()).expect("deploy");
        let pod = d.spec.template.spec.expect("pod");
        let volume = pod
            .volumes
            .as_ref()
            .and_then(|v| v.iter().find(|v| v.name == "tls"))
            .expect("a tls volume");
        let secret = volume.secret.as_ref().expect("a Secret volume");
        assert_eq!(secret.secret_name.as_deref(), Some("bot-tls"));
        let items: Vec<_> = secret
            .items
            .as_ref()
            .expect("items")
            .iter()
            .map(|i| (i.key.as_str(), i.path.as_str()))
            .collect();
        assert_eq!(items, [("tls.crt", "tls.crt"), ("tls.key", "tls.key")]);
        let c = &pod.containers[0];
        let mount = c
            .volume_mounts
            .as_ref()
            .and_then(|m| m.iter().find(|m| m.name == "tls"))
            .expect("a tls mount");
        assert_eq!(
            (mount.mount_path.as_str(), mount.read_only),
            (TLS_DIR, Some(true))
        );
        let args = c.args.as_ref().expect("args").join(" ");
        assert!(
            args.contains("--tls-cert /etc/mockmodel/tls/tls.crt --tls-key /etc/mockmodel/tls/tls.key"),
            "{args}"
        );
        // HTTPS replaces HTTP on the one port: the server gets no --tls-port.
        assert!(!args.contains("--tls-port"), "{args}");
        let port = &c.ports.as_ref().expect("ports")[0];
        assert_eq!((port.name.as_deref(), port.container_port), (Some("https"), PORT));
        for probe in [&c.liveness_probe, &c.readiness_probe] {
            let get = probe.as_ref().and_then(|p| p.http_get.as_ref()).expect("httpGet");
            assert_eq!(get.scheme.as_deref(), Some("HTTPS"));
            assert_eq!(get.port, IntOrString::String("https".into()));
        }
        let svc = service(&mm(true)).expect("svc");
        let sport = &svc.spec.and_then(|s| s.ports).expect("ports")[0];
        assert_eq!(sport.name.as_deref(), Some("https"));
        assert_eq!(sport.target_port, Some(IntOrString::String("https".into())));
        assert_eq!(sport.app_protocol.as_deref(), Some("https"));
        let e = endpoints("support-bot", "staging", true);
        assert_eq!(e.get("bedrock"), Some("https://support-bot.staging.svc:8080"));
        assert_eq!(e.get("openai"), Some("https://support-bot.staging.svc:8080/v1"));
    }

    #[test]
    fn without_spec_tls_nothing_changes() {
        let d = deployment(&mm(false), &Settings::default()).expect("deploy");
        let pod = d.spec.template.spec.expect("pod");
        assert!(pod.volumes.expect("volumes").iter().all(|v| v.name != "tls"));
        let c = &pod.containers[0];
        assert!(
            !c.args
                .as_ref()
                .expect("args")
                .iter()
                .any(|a| a.starts_with("--tls"))
        );
        let get = c
            .liveness_probe
            .as_ref()
            .and_then(|p| p.http_get.as_ref())
            .expect("httpGet");
        assert_eq!(get.scheme, None);
        assert_eq!(get.port, IntOrString::String("http".into()));
        let svc = service(&mm(false)).expect("svc");
        let sport = &svc.spec.and_then(|s| s.ports).expect("ports")[0];
        assert_eq!(
            (sport.name.as_deref(), sport.app_protocol.as_deref()),
            (Some("http"), None)
        );
        let parsed: TlsSpec = serde_json::from_value(serde_json::json!({"secretName": "s"})).expect("tls");
        assert_eq!(parsed.secret_name, "s");
    }
}
