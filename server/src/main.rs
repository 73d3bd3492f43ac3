//! mockmodel-server binary: parse the CLI, load fixtures, serve until SIGTERM / Ctrl-C.

use std::process::ExitCode;

use axum::serve::ListenerExt;
use clap::Parser;
use mockmodel_server::cli::{Cli, Command};
use mockmodel_server::{AppState, app, reload, telemetry};

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
        (true, false) => match reload::watch(state.clone(), args.fixtures.clone()) {
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
    let listener = match tokio::net::TcpListener::bind(addr).await {
        Ok(l) => l,
        Err(e) => {
            tracing::error!("cannot listen on {addr}: {e}");
            return ExitCode::from(1);
        }
    };
    let local = listener.local_addr().unwrap_or(addr);
    // Tests start the server on port 0 and read the real port from this line.
    tracing::info!("mockmodel-server listening on http://{local} (HTTP/1.1 and h2c)");
    // axum::serve speaks HTTP/1.1 and HTTP/2 prior-knowledge (h2c) on the same port. A plain
    // `Router` given to `serve` is rebuilt for every connection (each route re-boxed into a new
    // map, about 10 KB per connection held for its lifetime); `into_make_service` builds it once
    // and each connection shares it.
    // TCP_NODELAY on every accepted socket: without it Nagle holds a stream's second small frame
    // until the client's delayed ACK (~40 ms), so every stream after the first on a kept-alive
    // connection (what every SDK's pool reuses) stalls for a gap no fixture asked for.
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!("cannot set TCP_NODELAY: {e}");
        }
    });
    let served = axum::serve(listener, app(state).into_make_service())
        .with_graceful_shutdown(shutdown_signal())
        .await;
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("server error: {e}");
            ExitCode::from(1)
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down");
}
