//! The plain-HTTP accept loop: HTTP/1.1 and HTTP/2 prior knowledge (h2c) on one port, as `axum::serve` does,
//! with less memory held by each connection (issue 12: 10,000 live streams).
//!
//! `axum::serve` hands every socket to hyper-util's auto builder, which reads the first bytes to
//! tell HTTP/2's preface from HTTP/1 and replays them to hyper. hyper's HTTP/1 reader then gets
//! those 24 bytes alone, finds no complete request head, and grows its 8 KiB read buffer to 16 KiB
//! for the rest: every connection kept a 16 KiB buffer, plus a task sized for an HTTP/2 connection.
//! Here the preface is *peeked* (left in the socket), so hyper reads the whole head into its first
//! 8 KiB buffer, and each connection's task holds only the protocol it speaks. Nothing else
//! differs: TCP_NODELAY on every socket, hyper's defaults otherwise, and a graceful shutdown that
//! stops accepting and waits for the open connections to finish.

use std::future::Future;
use std::io;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use hyper::body::Incoming;
use hyper::server::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tower::ServiceExt;

/// What an HTTP/2 prior-knowledge client sends first (RFC 9113 §3.4).
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Serves `app` on `listener` until `shutdown` resolves, then waits for open connections.
pub async fn run(listener: TcpListener, app: Router, shutdown: impl Future<Output = ()>) {
    // Connections hold a receiver each; `closed()` on the sender resolves when all are gone.
    let (stop_tx, stop_rx) = watch::channel(());
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let tcp = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) => tcp,
                Err(e) => {
                    accept_error(e).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        // Without TCP_NODELAY, Nagle holds a stream's second small frame until the client's
        // delayed ACK (~40 ms): every stream after the first on a kept-alive connection (what every
        // SDK's pool reuses) would stall for a gap no fixture asked for.
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!("cannot set TCP_NODELAY: {e}");
        }
        // The Router is one `Arc`: a clone per connection shares every route.
        tokio::spawn(connection(tcp, app.clone(), stop_rx.clone()));
    }
    drop(listener);
    drop(stop_rx);
    // Every connection task sees the sender's `send` as its shutdown signal.
    let _ = stop_tx.send(());
    stop_tx.closed().await;
}

/// Tells the protocol from the peeked preface and serves the connection in a task of its own size.
async fn connection(tcp: TcpStream, app: Router, stop: watch::Receiver<()>) {
    let h2 = match speaks_h2(&tcp).await {
        Ok(h2) => h2,
        Err(e) => {
            tracing::trace!("connection closed before its first bytes: {e}");
            return;
        }
    };
    let service =
        TowerToHyperService::new(app.map_request(|req: http::Request<Incoming>| req.map(Body::new)));
    let io = TokioIo::new(tcp);
    // A task per protocol: a task's allocation is its future's size, and an HTTP/2 connection's
    // state is far larger than an HTTP/1 one's.
    if h2 {
        let mut builder = http2::Builder::new(TokioExecutor::new());
        builder.enable_connect_protocol();
        tokio::spawn(async move {
            let conn = builder.serve_connection(io, service);
            until_stopped(conn, stop, |c| c.graceful_shutdown()).await
        });
    } else {
        tokio::spawn(async move {
            let conn = http1::Builder::new().serve_connection(io, service);
            until_stopped(conn, stop, |c| c.graceful_shutdown()).await
        });
    }
}

/// Drives `conn` to its end; once the server stops, asks it to finish what it is serving and close.
async fn until_stopped<C, E>(
    conn: C,
    mut stop: watch::Receiver<()>,
    graceful: impl FnOnce(std::pin::Pin<&mut C>),
) where
    C: Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    let mut conn = std::pin::pin!(conn);
    let mut graceful = Some(graceful);
    loop {
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    tracing::trace!("connection ended with an error: {e}");
                }
                return;
            }
            // `changed` fails too once the sender is gone; either means "stop".
            _ = stop.changed(), if graceful.is_some() => {
                if let Some(g) = graceful.take() {
                    g(conn.as_mut());
                }
            }
        }
    }
}

/// Whether the client opened with HTTP/2's preface, read without consuming it. A client that
/// sends part of the preface gets 10 ms at a time, up to a second, for the rest; then it is HTTP/1
/// (whose parser rejects a preface like any malformed request).
async fn speaks_h2(tcp: &TcpStream) -> io::Result<bool> {
    let mut buf = [0u8; H2_PREFACE.len()];
    for _ in 0..100 {
        let n = tcp.peek(&mut buf).await?;
        if n == 0 || buf[..n] != H2_PREFACE[..n] {
            return Ok(false);
        }
        if n == H2_PREFACE.len() {
            return Ok(true);
        }
        // Peeking again at once would return the same bytes: wait for more to arrive.
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok(false)
}

/// As hyper 0.14's server and `axum::serve` do: a reset during accept is the client's business;
/// anything else (the process out of file descriptors, say) is logged and retried after 1 s.
async fn accept_error(e: io::Error) {
    if matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused | io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset
    ) {
        return;
    }
    tracing::error!("accept error: {e}");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::routing::get;
    use http_body_util::{BodyExt, Empty};
    use hyper::body::Bytes;

    async fn server() -> (
        std::net::SocketAddr,
        tokio::sync::oneshot::Sender<()>,
        tokio::task::JoinHandle<()>,
    ) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let app = Router::new().route("/", get(|| async { "hi" }));
        let (tx, rx) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(run(listener, app, async {
            let _ = rx.await;
        }));
        (addr, tx, task)
    }

    #[tokio::test]
    async fn one_port_answers_http1_and_h2_prior_knowledge() {
        let (addr, stop, task) = server().await;
        let tcp = TcpStream::connect(addr).await.expect("connect");
        let (mut h1, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
            .await
            .expect("h1");
        tokio::spawn(conn);
        let res = h1
            .send_request(
                http::Request::get("/")
                    .body(Empty::<Bytes>::new())
                    .expect("request"),
            )
            .await
            .expect("h1 answer");
        assert_eq!(res.version(), http::Version::HTTP_11);
        assert_eq!(res.into_body().collect().await.expect("body").to_bytes(), "hi");

        let tcp = TcpStream::connect(addr).await.expect("connect");
        let (mut h2, conn) = hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
            .await
            .expect("h2");
        tokio::spawn(conn);
        let res = h2
            .send_request(
                http::Request::get("http://localhost/")
                    .body(Empty::<Bytes>::new())
                    .expect("request"),
            )
            .await
            .expect("h2 answer");
        assert_eq!(res.version(), http::Version::HTTP_2);
        assert_eq!(res.into_body().collect().await.expect("body").to_bytes(), "hi");

        stop.send(()).expect("server running");
        drop((h1, h2));
        task.await.expect("the server stops once its connections close");
    }

    #[tokio::test]
    async fn a_client_that_closes_at_once_is_not_an_error() {
        let (addr, stop, task) = server().await;
        drop(TcpStream::connect(addr).await.expect("connect"));
        stop.send(()).expect("server running");
        task.await.expect("stops");
    }
}
