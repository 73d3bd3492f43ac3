//! mockmodel-operator: reconciles MockModel resources into running mockmodel-server endpoints.

use std::sync::Arc;

use anyhow::Context as _;
use clap::Parser;
use mockmodel_operator::cli::{self, Cli, Command};
use mockmodel_operator::metrics::Metrics;
use mockmodel_operator::{crd, telemetry};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // Before any kube client exists: see `mockmodel_server::tls`.
    mockmodel_server::tls::install_crypto_provider();
    let cli = Cli::parse();
    let args = match cli.command {
        Some(Command::Crd) => {
            print!("{}", crd::crd_yaml());
            return Ok(());
        }
        Some(Command::Run(args)) => args,
        None => cli.run,
    };
    telemetry::init(args.log_json);
    let client = kube::Client::try_default()
        .await
        .context("connecting to Kubernetes")?;
    cli::run(client, args, Arc::new(Metrics::default()), cli::shutdown_signal()).await
}
