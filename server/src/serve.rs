//! Listening: plain HTTP (HTTP/1.1 and h2c on one port), TLS (`--tls-cert`/`--tls-key`; h2 and
//! HTTP/1.1 by ALPN), or both (`--tls-port`), all serving one router and stopping together on
//! SIGTERM / Ctrl-C with in-flight requests finished.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::tls::{ServerCert, TlsListener};

/// The TLS settings: the certificate, and `--tls-port`'s address when TLS has a port of its own.
pub struct Tls {
    /// Where HTTPS listens beside plain HTTP; `None`: HTTPS replaces plain HTTP on `--port`.
    pub addr: Option<SocketAddr>,
    /// The certificate and key.
    pub cert: Arc<ServerCert>,
}

/// The bound sockets, before serving (binding first lets `main` report a busy port and exit).
pub struct Bound {
    plain: Option<TcpListener>,
    tls: Option<(TcpListener, Arc<ServerCert>)>,
}

impl Bound {
    /// Binds `addr` for plain HTTP, or for TLS when `tls` is given without an address of its own;
    /// with one (`--tls-port`), `addr` stays plain and TLS listens there too.
    pub async fn new(addr: SocketAddr, tls: Option<Tls>) -> Result<Self, String> {
        let bind = |a: SocketAddr| async move {
            TcpListener::bind(a)
                .await
                .map_err(|e| format!("cannot listen on {a}: {e}"))
        };
        Ok(match tls {
            None => Self {
                plain: Some(bind(addr).await?),
                tls: None,
            },
            Some(Tls { addr: None, cert }) => Self {
                plain: None,
                tls: Some((bind(addr).await?, cert)),
            },
            Some(Tls {
                addr: Some(tls_addr),
                cert,
            }) => Self {
                plain: Some(bind(addr).await?),
                tls: Some((bind(tls_addr).await?, cert)),
            },
        })
    }

    /// The URLs served, for the start-up line (tests read the real ports from it).
    pub fn describe(&self) -> String {
        let url = |scheme: &str, l: &TcpListener| {
            l.local_addr()
                .map_or_else(|_| format!("{scheme}://?"), |a| format!("{scheme}://{a}"))
        };
        let plain = self
            .plain
            .as_ref()
            .map(|l| format!("{} (HTTP/1.1 and h2c)", url("http", l)));
        let tls = self
            .tls
            .as_ref()
            .map(|(l, _)| format!("{} (TLS: h2 and HTTP/1.1)", url("https", l)));
        plain.into_iter().chain(tls).collect::<Vec<_>>().join(" and ")
    }

    /// Serves `app` on every bound socket until SIGTERM or Ctrl-C; with TLS, SIGHUP re-reads the
    /// certificate and key (new connections get the new pair; a bad pair keeps the old one).
    pub async fn serve(self, app: Router) -> io::Result<()> {
        let (stop, stopped) = watch::channel(false);
        tokio::spawn(async move {
            shutdown_signal().await;
            let _ = stop.send(true);
        });
        let until = |mut rx: watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|s| *s).await;
        };
        // Plain HTTP/1.1 and h2c on one port, TCP_NODELAY on every socket, and a connection
        // footprint kept small for 10,000 live streams: see `accept`.
        let plain = self
            .plain
            .map(|l| crate::accept::run(l, app.clone(), until(stopped.clone())));
        let tls = match self.tls {
            Some((l, cert)) => {
                spawn_reload_on_hangup(cert.clone());
                let config = cert.server_config().map_err(io::Error::other)?;
                // Over TLS the client's ALPN choice shows in its first bytes (the h2 preface or
                // an HTTP/1.1 request line), which the same auto builder reads.
                Some(
                    axum::serve(TlsListener::new(l, config)?, app.into_make_service())
                        .with_graceful_shutdown(until(stopped.clone())),
                )
            }
            None => None,
        };
        let plain = async move {
            if let Some(s) = plain {
                s.await;
            }
            io::Result::Ok(())
        };
        let tls = async move {
            match tls {
                Some(s) => s.await,
                None => Ok(()),
            }
        };
        let (a, b) = tokio::join!(plain, tls);
        a.and(b)
    }
}

#[cfg(unix)]
fn spawn_reload_on_hangup(cert: Arc<ServerCert>) {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut hup) = signal(SignalKind::hangup()) else {
        tracing::warn!("cannot watch SIGHUP: the TLS certificate is read at start only");
        return;
    };
    tokio::spawn(async move {
        while hup.recv().await.is_some() {
            match cert.reload() {
                Ok(()) => tracing::info!("SIGHUP: TLS certificate and key reloaded"),
                Err(e) => tracing::warn!("SIGHUP: keeping the current TLS certificate: {e}"),
            }
        }
    });
}

#[cfg(not(unix))]
fn spawn_reload_on_hangup(_: Arc<ServerCert>) {}

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
