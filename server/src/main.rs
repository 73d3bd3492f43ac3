//! mockmodel-server binary: parse the CLI, load fixtures, serve (`serve.rs`) until SIGTERM / Ctrl-C.

use std::process::ExitCode;

use clap::Parser;
use mockmodel_server::cli::{Cli, Command};
use mockmodel_server::{AppState, app, reload, telemetry};

// jemalloc, with its background purge thread, instead of glibc's malloc (issue 12, measured with
// `mockmodel-bench --streams-only`, 10,000 live streams): peak RSS 230 -> 177 MiB, and 12 s after
// the streams end 230 -> 30 MiB. glibc keeps every page a connection touched (its arenas shrink
// only from the top, and long-lived allocations land between the streams'), and writes a chunk
// header into the page after each hyper buffer. mimalloc measured worse (390 MiB peak). Freed
// pages go back after 1 s (`.cargo/config.toml`), not 10: the tiktoken-rs tables dropped at start
// were still resident at the first burst's peak (177 -> 157 MiB).
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[tokio::main]
async fn main() -> ExitCode {
    mockmodel_server::tls::install_crypto_provider();
    let cli = Cli::parse();
    if let Some(Command::Validate { paths }) = &cli.command {
        return ExitCode::from(mockmodel_server::cli::validate(paths) as u8);
    }
    let args = cli.serve;
    telemetry::init(args.log_format);
    let addr = match args.addr() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    // Read before the fixtures, so a bad certificate fails at once.
    let tls = match args.tls() {
        Ok(t) => t,
        Err(e) => {
            tracing::error!("cannot start: {e}");
            return ExitCode::from(1);
        }
    };
    // Built while the fixtures load; joined before the port opens.
    let tokenizer = mockmodel_server::tokens::configure(args.token_count);
    let fixtures = match args.load_fixtures() {
        Ok(f) => f,
        Err(e) => {
            tracing::error!("cannot start: {e}");
            return ExitCode::from(1);
        }
    };
    if args.fixtures.is_empty() {
        tracing::info!(
            fixtures = fixtures.len(),
            "no --fixtures given: serving the embedded default fixtures"
        );
    } else {
        tracing::info!(
            fixtures = fixtures.len(),
            files = fixtures.files.len(),
            "fixtures loaded"
        );
    }
    for w in &fixtures.warnings {
        tracing::warn!("{w}");
    }
    let mut config = args.config();
    match args.upstream().await {
        Ok(up) => config.upstream = up.map(std::sync::Arc::new),
        Err(e) => {
            tracing::error!("cannot start: {e}");
            return ExitCode::from(1);
        }
    }
    match args.translator() {
        Ok(t) => config.translate = t.map(std::sync::Arc::new),
        Err(e) => {
            tracing::error!("cannot start: {e}");
            return ExitCode::from(1);
        }
    }
    config.auth = match args.load_auth() {
        Ok(a) => a,
        Err(e) => {
            tracing::error!("cannot start: {e}");
            return ExitCode::from(1);
        }
    };
    if let Some(a) = &config.auth {
        tracing::info!(credentials = ?a, "--auth: requests must carry credentials");
    }
    let state = AppState::new(fixtures, config);
    let _watcher = match (args.watch, args.fixtures.is_empty()) {
        (true, false) => match reload::watch(state, args.fixtures.clone()) {
            Ok(w) => Some(w),
            Err(e) => {
                tracing::error!("cannot watch fixtures: {e}");
                return ExitCode::from(1);
            }
        },
        (true, true) => {
            tracing::warn!("--watch ignored: the embedded default fixtures never change");
            None
        }
        _ => None,
    };
    if let Some(t) = tokenizer {
        let _ = tokio::task::spawn_blocking(move || t.join()).await;
    }
    let bound = match mockmodel_server::serve::Bound::new(addr, tls).await {
        Ok(b) => b,
        Err(e) => {
            tracing::error!("cannot start: {e}");
            return ExitCode::from(1);
        }
    };
    // Tests start the server on port 0 and read the real port from this line.
    tracing::info!("mockmodel-server listening on {}", bound.describe());
    match bound.serve(app(state)).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("server error: {e}");
            ExitCode::from(1)
        }
    }
}
