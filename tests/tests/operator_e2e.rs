//! End to end across processes: the operator renders a MockModel's children on a real apiserver,
//! then `mockmodel-server` starts exactly as the rendered Deployment's container (args, env, the
//! ConfigMap's data at the mount path, laid out as the kubelet does) and the OpenAI Python SDK
//! calls it. A fixture edit then reaches the running server by hot reload, mid-stream.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context as _, bail};
use e2e::{
    OperatorHandle, TempNs, apply_mockmodel, client, eventually, install_crd, mockmodel_from_file, repo_root,
};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Container};
use kube::Client;
use kube::api::Api;
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(20);

/// The server binary: MOCKMODEL_SERVER_BIN, else the workspace's debug build.
fn server_bin() -> anyhow::Result<PathBuf> {
    let p = std::env::var_os("MOCKMODEL_SERVER_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target/debug/mockmodel-server"));
    anyhow::ensure!(
        p.exists(),
        "{} missing: run `cargo build -p mockmodel-server`",
        p.display()
    );
    Ok(p)
}

/// The Python venv with the real clients: MOCKMODEL_VENV, else `scripts/venv.sh` (creates it once).
fn venv() -> anyhow::Result<PathBuf> {
    if let Some(v) = std::env::var_os("MOCKMODEL_VENV") {
        return Ok(PathBuf::from(v));
    }
    let out = Command::new(repo_root().join("scripts/venv.sh"))
        .stderr(Stdio::inherit())
        .output()?;
    anyhow::ensure!(out.status.success(), "scripts/venv.sh failed");
    Ok(PathBuf::from(String::from_utf8(out.stdout)?.trim()))
}

/// Lays out ConfigMap data as the kubelet does: `..<timestamp>/key`, `..data -> ..<timestamp>`, `key -> ..data/key`.
fn kubelet_volume(dir: &Path, data: &std::collections::BTreeMap<String, String>) -> anyhow::Result<()> {
    let stamp = "..2026_01_01_00_00_00.000000001";
    std::fs::create_dir(dir.join(stamp))?;
    for (k, v) in data {
        std::fs::write(dir.join(stamp).join(k), v)?;
        std::os::unix::fs::symlink(Path::new("..data").join(k), dir.join(k))?;
    }
    std::os::unix::fs::symlink(stamp, dir.join("..data"))?;
    Ok(())
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the server as `container` says: its args and env, with the mount path and container
/// port mapped to a local directory and a free local port (what the kubelet and a Service do).
fn start_as_container(c: &Container, mount_path: &str, dir: &Path) -> anyhow::Result<(Server, u16)> {
    let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let container_port = c
        .ports
        .as_ref()
        .and_then(|p| p.first())
        .map(|p| p.container_port)
        .context("port")?;
    let local_dir = dir.to_string_lossy().to_string();
    let args: Vec<String> = c
        .args
        .clone()
        .unwrap_or_default()
        .into_iter()
        .map(|a| {
            if a == mount_path {
                local_dir.clone()
            } else if a == container_port.to_string() {
                port.to_string()
            } else {
                a
            }
        })
        .collect();
    let mut cmd = Command::new(server_bin()?);
    cmd.args(&args)
        .env_clear()
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    for e in c.env.clone().unwrap_or_default() {
        cmd.env(&e.name, e.value.unwrap_or_default());
    }
    Ok((Server(cmd.spawn()?), port))
}

fn http_ok(port: u16, path: &str) -> bool {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.write_all(format!("GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").as_bytes());
    let mut buf = String::new();
    let _ = s.read_to_string(&mut buf);
    buf.starts_with("HTTP/1.0 200") || buf.starts_with("HTTP/1.1 200")
}

async fn rendered(client: &Client, ns: &str, name: &str) -> anyhow::Result<(Container, String, ConfigMap)> {
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), ns);
    let d = eventually("deployment", WAIT, || async {
        Ok(deployments.get_opt(name).await?)
    })
    .await?;
    let pod = d.spec.template.spec.context("pod spec")?;
    let c = pod.containers.first().cloned().context("container")?;
    let mount = c
        .volume_mounts
        .clone()
        .unwrap_or_default()
        .into_iter()
        .next()
        .context("mount")?;
    let volume = pod
        .volumes
        .unwrap_or_default()
        .into_iter()
        .find(|v| v.name == mount.name)
        .context("volume")?;
    let cm_name = volume.config_map.context("configMap volume")?.name;
    let cm = Api::<ConfigMap>::namespaced(client.clone(), ns)
        .get(&cm_name)
        .await?;
    Ok((c, mount.mount_path, cm))
}

#[tokio::test]
#[ignore = "needs a Kubernetes API server (scripts/k8s-testbed.sh)"]
async fn rendered_deployment_serves_the_fixtures_to_a_real_client_and_hot_reloads() -> anyhow::Result<()> {
    let client = client().await?;
    install_crd(&client).await?;
    let ns = TempNs::new(&client, "e2e").await?;
    let op = OperatorHandle::start(&client, "solo", "lease-e2e");
    let mut mm = mockmodel_from_file("deploy/samples/mockmodel-support-agent.yaml", &ns.name)?;
    // a slow stream, so the fixture edit lands while it is in flight
    mm.spec.fixtures.insert(
        0,
        json!({"match": {"userMessage": "long story"}, "chunkSize": 4,
               "streamingProfile": {"ttft": 0, "tps": 10},
               "response": {"content": "Once upon a time an agent met a mock model."}}),
    );
    apply_mockmodel(&client, &mm).await?;
    let (container, mount_path, cm) = rendered(&client, &ns.name, "support-agent").await?;

    let dir = tempfile::tempdir()?;
    kubelet_volume(dir.path(), &cm.data.clone().unwrap_or_default())?;
    let (_server, port) = start_as_container(&container, &mount_path, dir.path())?;
    eventually("server ready", WAIT, || async {
        Ok(http_ok(port, "/readyz").then_some(()))
    })
    .await?;

    // edit the greeting; the operator re-renders the ConfigMap
    mm.spec.fixtures[1]["response"]["content"] = json!("Welcome back to Acme support!");
    apply_mockmodel(&client, &mm).await?;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), &ns.name);
    let new_cm = eventually("re-rendered ConfigMap", WAIT, || async {
        let cm = cms.get("support-agent").await?;
        let text = cm.data.and_then(|d| d.get("fixtures.json").cloned());
        Ok(text.filter(|t| t.contains("Welcome back")))
    })
    .await?;
    let new_file = dir
        .path()
        .parent()
        .unwrap_or(dir.path())
        .join(format!("new-fixtures-{port}.json"));
    std::fs::write(&new_file, new_cm)?;

    let out = tokio::task::spawn_blocking(move || {
        Command::new(venv()?.join("bin/python"))
            .arg(repo_root().join("tests/python/operator_e2e_client.py"))
            .arg(format!("http://127.0.0.1:{port}"))
            .arg(dir.path())
            .arg(&new_file)
            .stderr(Stdio::inherit())
            .output()
            .map_err(anyhow::Error::from)
    })
    .await??;
    if !out.status.success() {
        bail!("python client failed: {}", String::from_utf8_lossy(&out.stdout));
    }
    let got: Value = serde_json::from_slice(&out.stdout)?;
    assert_eq!(
        got["greeting"],
        "Hi, I'm the Acme support assistant. How can I help you with your order today?"
    );
    // boto3 over Bedrock Runtime gets the same fixture answer from the same endpoint.
    assert_eq!(got["bedrock_greeting"], got["greeting"]);
    assert_eq!(
        got["tool_call"],
        json!({"name": "lookup_order", "arguments": {"orderId": "A-1042"}})
    );
    assert_eq!(
        got["tool_answer"],
        "Your order A-1042 shipped yesterday and should arrive on Thursday."
    );
    assert_eq!(got["throttle"], json!({"status": 429, "retry_after": "2"}));
    assert_eq!(
        got["in_flight_stream"], "Once upon a time an agent met a mock model.",
        "the stream survived the reload"
    );
    assert_eq!(
        got["greeting_after_reload"], "Welcome back to Acme support!",
        "the edit reached the running server"
    );
    op.stop().await
}
