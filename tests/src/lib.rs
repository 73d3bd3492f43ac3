//! End-to-end helpers: a client for the test apiserver (KUBECONFIG), the CRD installed from
//! `crds/`, throw-away namespaces, an in-process operator, and polling with a deadline.
//!
//! Cluster tests need a kube-apiserver: `scripts/k8s-testbed.sh` starts one on 127.0.0.1.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Client;
use kube::api::{Api, ObjectMeta, Patch, PatchParams, PostParams};
use kube::runtime::wait::{await_condition, conditions};
use mockmodel_operator::cli::RunArgs;
use mockmodel_operator::metrics::Metrics;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Why cluster tests are ignored by a plain `cargo test`.
pub const NEEDS_CLUSTER: &str = "needs a Kubernetes API server (scripts/k8s-testbed.sh)";

/// The repository root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A client from KUBECONFIG.
pub async fn client() -> anyhow::Result<Client> {
    mockmodel_server::tls::install_crypto_provider();
    Client::try_default()
        .await
        .context("no cluster: set KUBECONFIG (scripts/k8s-testbed.sh start DIR)")
}

/// Applies the committed `crds/mockmodels.yaml` and waits until it is established.
pub async fn install_crd(client: &Client) -> anyhow::Result<CustomResourceDefinition> {
    let text = std::fs::read_to_string(repo_root().join("crds/mockmodels.yaml"))?;
    let crd: CustomResourceDefinition = serde_yaml::from_str(&text)?;
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let name = crd.metadata.name.clone().unwrap_or_default();
    api.patch(&name, &PatchParams::apply("e2e").force(), &Patch::Apply(&crd))
        .await?;
    tokio::time::timeout(
        Duration::from_secs(20),
        await_condition(api.clone(), &name, conditions::is_crd_established()),
    )
    .await
    .context("CRD not established in 20 s")??;
    Ok(api.get(&name).await?)
}

/// A namespace for one test. Kept afterwards: without a controller-manager a deleted namespace
/// never finishes terminating, and the testbed's etcd is fresh on every start anyway.
pub struct TempNs {
    /// Its name.
    pub name: String,
}

static NS_COUNTER: AtomicU64 = AtomicU64::new(0);

impl TempNs {
    /// Creates `e2e-<prefix>-<unique suffix>`.
    pub async fn new(client: &Client, prefix: &str) -> anyhow::Result<Self> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .subsec_nanos();
        let name = format!(
            "e2e-{prefix}-{:x}{}",
            nanos,
            NS_COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let ns = Namespace {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                ..ObjectMeta::default()
            },
            ..Namespace::default()
        };
        Api::<Namespace>::all(client.clone())
            .create(&PostParams::default(), &ns)
            .await?;
        Ok(TempNs { name })
    }
}

/// An operator running in-process, as `mockmodel-operator run` would.
pub struct OperatorHandle {
    /// Its metrics (reconcile counts, leader gauge).
    pub metrics: Arc<Metrics>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<anyhow::Result<()>>,
}

impl OperatorHandle {
    /// Starts an operator with `identity` competing for the Lease `lease` in `default`.
    pub fn start(client: &Client, identity: &str, lease: &str) -> Self {
        let args = RunArgs {
            server_image: "ghcr.io/mockmodel/mockmodel-server:e2e".into(),
            metrics_addr: "127.0.0.1:0".parse().expect("addr"),
            concurrency: 8,
            no_leader_election: false,
            lease_name: lease.into(),
            lease_namespace: "default".into(),
            identity: Some(identity.into()),
            lease_seconds: 3,
            log_json: false,
            watch_namespaces: Vec::new(),
        };
        let metrics = Arc::new(Metrics::default());
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(mockmodel_operator::cli::run(
            client.clone(),
            args,
            metrics.clone(),
            async move {
                let _ = rx.await;
            },
        ));
        OperatorHandle {
            metrics,
            stop: Some(tx),
            task,
        }
    }

    /// Reconciles run so far.
    pub fn reconciles(&self) -> u64 {
        self.metrics.reconciles.get()
    }

    /// Whether it holds the Lease.
    pub fn is_leader(&self) -> bool {
        self.metrics.leader.get() == 1
    }

    /// Graceful shutdown; returns the run result.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        tokio::time::timeout(Duration::from_secs(20), &mut self.task)
            .await
            .context("operator did not stop")??
    }
}

impl Drop for OperatorHandle {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

/// Polls `probe` every 100 ms until it returns `Some`, failing after `timeout` with `what`.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut probe: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<Option<T>>>,
{
    let deadline = Instant::now() + timeout;
    let mut last_err = None;
    loop {
        match probe().await {
            Ok(Some(v)) => return Ok(v),
            Ok(None) => {}
            Err(e) => last_err = Some(e),
        }
        if Instant::now() > deadline {
            match last_err {
                Some(e) => bail!("timed out waiting for {what}: last error {e:#}"),
                None => bail!("timed out waiting for {what}"),
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Reads a MockModel manifest (e.g. a sample) into the namespace `ns`.
pub fn mockmodel_from_file(path: &str, ns: &str) -> anyhow::Result<mockmodel_operator::crd::MockModel> {
    let text = std::fs::read_to_string(repo_root().join(path))?;
    let mut mm: mockmodel_operator::crd::MockModel = serde_yaml::from_str(&text)?;
    mm.metadata.namespace = Some(ns.into());
    Ok(mm)
}

/// Server-side applies `mm` as a test author would (`kubectl apply --server-side`).
pub async fn apply_mockmodel(
    client: &Client,
    mm: &mockmodel_operator::crd::MockModel,
) -> anyhow::Result<mockmodel_operator::crd::MockModel> {
    let ns = mm.metadata.namespace.clone().context("namespace")?;
    let name = mm.metadata.name.clone().context("name")?;
    let api: Api<mockmodel_operator::crd::MockModel> = Api::namespaced(client.clone(), &ns);
    let mut body = serde_json::to_value(mm)?;
    if let Some(obj) = body.as_object_mut() {
        obj.remove("status");
    }
    Ok(api
        .patch(
            &name,
            &PatchParams::apply("e2e-author").force(),
            &Patch::Apply(&body),
        )
        .await?)
}

/// Every YAML document of a repository file, as JSON values.
pub fn yaml_documents(path: &str) -> anyhow::Result<Vec<serde_json::Value>> {
    use serde::Deserialize;
    let text = std::fs::read_to_string(repo_root().join(path))?;
    let mut docs = Vec::new();
    for d in serde_yaml::Deserializer::from_str(&text) {
        let v = serde_json::Value::deserialize(d)?;
        if !v.is_null() {
            docs.push(v);
        }
    }
    Ok(docs)
}
