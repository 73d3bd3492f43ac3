//! Command line (`mockmodel-operator [run]`, `mockmodel-operator crd`) and the run loop:
//! check the CRD, win the leader Lease, run the controller and the metrics server, shut down
//! gracefully on SIGTERM/ctrl-c (draining reconciles, releasing the Lease).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use kube::Client;
use kube::api::{Api, ListParams};
use tokio::sync::watch;

use crate::controller::Context;
use crate::crd::MockModel;
use crate::lease::{Elector, LeaseConfig};
use crate::metrics::{self, Metrics};
use crate::resources::{Settings, default_image};
use crate::watches;

/// Kubernetes operator for MockModel resources.
#[derive(Debug, Parser)]
#[command(name = "mockmodel-operator", version, args_conflicts_with_subcommands = true)]
pub struct Cli {
    /// What to do (default: run).
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Options for running.
    #[command(flatten)]
    pub run: RunArgs,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the operator (the default).
    Run(RunArgs),
    /// Print the MockModel CustomResourceDefinition as YAML.
    Crd,
}

/// Options of `run`.
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// Default mockmodel-server image for MockModels that do not set `spec.image`.
    #[arg(long, env = "MOCKMODEL_SERVER_IMAGE", default_value_t = default_image())]
    pub server_image: String,
    /// Address of the `/metrics` and `/healthz` server.
    #[arg(long, env = "MOCKMODEL_OPERATOR_METRICS_ADDR", default_value = "0.0.0.0:8081")]
    pub metrics_addr: SocketAddr,
    /// Reconciles running at once (per watched namespace when `--watch-namespaces` lists several).
    #[arg(long, env = "MOCKMODEL_OPERATOR_CONCURRENCY", default_value_t = 32)]
    pub concurrency: u16,
    /// Run without leader election (a single replica only).
    #[arg(long, env = "MOCKMODEL_OPERATOR_NO_LEADER_ELECTION")]
    pub no_leader_election: bool,
    /// Name of the leader election Lease.
    #[arg(
        long,
        env = "MOCKMODEL_OPERATOR_LEASE_NAME",
        default_value = "mockmodel-operator"
    )]
    pub lease_name: String,
    /// Namespace of the Lease (the operator's own).
    #[arg(long, env = "POD_NAMESPACE", default_value = "default")]
    pub lease_namespace: String,
    /// This replica's identity in the Lease (the pod name); hostname and PID when unset.
    #[arg(long, env = "POD_NAME")]
    pub identity: Option<String>,
    /// Seconds a Lease stays valid without renewal.
    #[arg(long, env = "MOCKMODEL_OPERATOR_LEASE_SECONDS", default_value_t = 15)]
    pub lease_seconds: u64,
    /// Log lines as JSON.
    #[arg(long, env = "MOCKMODEL_OPERATOR_LOG_JSON")]
    pub log_json: bool,
    /// Namespaces to watch, comma-separated; empty: all namespaces. With a list, the operator
    /// only makes namespaced requests there (a Role per namespace suffices, no ClusterRole).
    #[arg(
        long,
        env = "MOCKMODEL_OPERATOR_WATCH_NAMESPACES",
        value_delimiter = ',',
        num_args = 0..
    )]
    pub watch_namespaces: Vec<String>,
}

impl RunArgs {
    /// The identity to hold the Lease under.
    pub fn identity(&self) -> String {
        self.identity.clone().unwrap_or_else(|| {
            let host = std::fs::read_to_string("/etc/hostname").unwrap_or_default();
            format!("{}-{}", host.trim(), std::process::id())
        })
    }

    /// What to watch: every namespace, or exactly the listed ones (blanks and repeats dropped).
    pub fn scope(&self) -> Scope {
        let mut namespaces: Vec<String> = self
            .watch_namespaces
            .iter()
            .map(|n| n.trim().to_string())
            .filter(|n| !n.is_empty())
            .collect();
        namespaces.sort();
        namespaces.dedup();
        if namespaces.is_empty() {
            Scope::All
        } else {
            Scope::Namespaces(namespaces)
        }
    }

    /// The Lease settings, unless leader election is off.
    pub fn lease(&self) -> Option<LeaseConfig> {
        (!self.no_leader_election).then(|| LeaseConfig {
            name: self.lease_name.clone(),
            namespace: self.lease_namespace.clone(),
            identity: self.identity(),
            duration: Duration::from_secs(self.lease_seconds.max(3)),
        })
    }
}

/// The namespaces the operator watches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Every namespace (cluster-wide list/watch).
    All,
    /// Only these, sorted and distinct (namespaced list/watch in each).
    Namespaces(Vec<String>),
}

impl Scope {
    /// One entry per controller to run: `None` for cluster-wide, else each namespace.
    pub fn namespaces(&self) -> Vec<Option<String>> {
        match self {
            Scope::All => vec![None],
            Scope::Namespaces(ns) => ns.iter().cloned().map(Some).collect(),
        }
    }
}

/// A future resolving once the watch flag turns true.
fn signalled(
    mut rx: watch::Receiver<bool>,
) -> impl std::future::Future<Output = ()> + Send + Sync + Unpin + 'static {
    Box::pin(async move {
        let _ = rx.wait_for(|v| *v).await;
    })
}

/// Runs the operator until `shutdown` resolves; fails if the CRD is missing or leadership is lost.
pub async fn run(
    client: Client,
    args: RunArgs,
    metrics: Arc<Metrics>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let scope = args.scope();
    // namespaced when watching a list: the operator may hold no cluster-wide permission at all
    let probe: Api<MockModel> = match &scope {
        Scope::All => Api::all(client.clone()),
        Scope::Namespaces(ns) => Api::namespaced(client.clone(), &ns[0]),
    };
    match probe.list_metadata(&ListParams::default().limit(1)).await {
        Ok(_) => {}
        Err(kube::Error::Api(s)) if s.code == 404 => {
            anyhow::bail!("the MockModel CRD is not installed: kubectl apply -f crds/mockmodels.yaml")
        }
        // e.g. 403: RBAC does not cover the watched namespaces
        Err(e) => return Err(anyhow::Error::new(e).context("listing MockModels")),
    }
    tracing::info!(?scope, "watching");

    let (stop_tx, stop_rx) = watch::channel(false);
    let stop_tx = Arc::new(stop_tx);
    {
        let tx = stop_tx.clone();
        tokio::spawn(async move {
            shutdown.await;
            tracing::info!("shutting down");
            let _ = tx.send(true);
        });
    }
    let metrics_server = tokio::spawn(metrics::serve(
        args.metrics_addr,
        metrics.clone(),
        signalled(stop_rx.clone()),
    ));

    let identity = args.identity();
    let elector = args.lease().map(|cfg| Elector::new(client.clone(), cfg));
    let mut lost = None;
    if let Some(elector) = &elector {
        tracing::info!(identity, "waiting for the leader lease");
        if !elector.acquire(&mut signalled(stop_rx.clone())).await {
            return Ok(());
        }
        tracing::info!(identity, "acquired the leader lease");
        let (elector, tx) = (elector.clone(), stop_tx.clone());
        lost = Some(tokio::spawn(async move {
            elector.hold().await;
            tracing::error!("lost the leader lease; stopping");
            let _ = tx.send(true);
        }));
    }
    metrics.leader.set(1);

    let settings = Settings {
        image: args.server_image.clone(),
    };
    // one controller per watched namespace (disjoint, so each keeps its own caches)
    let controllers = scope.namespaces().into_iter().map(|ns| {
        let (store, stores, writers) = watches::caches();
        let ctx = Context::new(
            client.clone(),
            metrics.clone(),
            settings.clone(),
            Some(identity.clone()),
            stores,
        );
        watches::run(
            ctx,
            store,
            writers,
            ns,
            args.concurrency,
            signalled(stop_rx.clone()),
        )
    });
    futures::future::join_all(controllers).await;
    metrics.leader.set(0);

    let lost_leadership = lost.as_ref().is_some_and(|h| h.is_finished());
    if let Some(h) = lost {
        h.abort();
    }
    if let Some(elector) = &elector {
        elector.release().await;
    }
    let _ = metrics_server.await;
    anyhow::ensure!(!lost_leadership, "lost the leader lease");
    Ok(())
}

/// SIGTERM or ctrl-c.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope_of(args: &[&str]) -> Scope {
        let cli = Cli::try_parse_from(args).expect("parses");
        let run = match cli.command {
            Some(Command::Run(run)) => run,
            _ => cli.run,
        };
        run.scope()
    }

    fn listed(ns: &[&str]) -> Scope {
        Scope::Namespaces(ns.iter().map(|n| n.to_string()).collect())
    }

    #[test]
    fn no_watch_namespaces_means_every_namespace() {
        assert_eq!(scope_of(&["op"]), Scope::All);
        assert_eq!(scope_of(&["op", "run"]), Scope::All);
        assert_eq!(scope_of(&["op", "--watch-namespaces", ""]), Scope::All);
        assert_eq!(Scope::All.namespaces(), [None]);
    }

    #[test]
    fn watch_namespaces_split_on_commas_sorted_without_blanks_or_repeats() {
        assert_eq!(
            scope_of(&["op", "--watch-namespaces", "team-b,team-a,,team-b"]),
            listed(&["team-a", "team-b"])
        );
        assert_eq!(
            scope_of(&[
                "op",
                "run",
                "--watch-namespaces=team-a",
                "--watch-namespaces",
                "team-c"
            ]),
            listed(&["team-a", "team-c"])
        );
        assert_eq!(
            listed(&["a", "b"]).namespaces(),
            [Some("a".to_string()), Some("b".to_string())]
        );
    }
}
