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
//!
//! The shutdown signal reaches connections through [`Stop`], not a `watch` channel: a pending
//! `watch::Receiver::changed()` (like `axum::serve`'s `Sender::closed()`) locks a mutex every
//! connection shares each time its task is polled, at least once a request, and both workers
//! writing one lock word moves its cache line between cores (issue 12's hot path).

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Waker, ready};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use hyper::body::Incoming;
use hyper::server::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::service::TowerToHyperService;
use pin_project_lite::pin_project;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tower::ServiceExt;

/// What an HTTP/2 prior-knowledge client sends first (RFC 9113 §3.4).
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Serves `app` on `listener` until `shutdown` resolves, then waits for open connections.
pub async fn run(listener: TcpListener, app: Router, shutdown: impl Future<Output = ()>) {
    // Connections hold a receiver each; `closed()` on the sender resolves when all are gone. The
    // channel only counts them: the stop itself is `Stop`'s.
    let (open_tx, open_rx) = watch::channel(());
    let stop = Arc::new(Stop::default());
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
        tokio::spawn(connection(tcp, app.clone(), stop.clone(), open_rx.clone()));
    }
    drop(listener);
    drop(open_rx);
    stop.stop();
    open_tx.closed().await;
}

/// The server's stop as connections read it: a flag loaded on every poll (a cache line nobody
/// writes until shutdown, so each core keeps its copy) and each open connection's task waker,
/// registered once, to wake it when the flag is set.
#[derive(Default)]
struct Stop {
    stopping: AtomicBool,
    /// The next key, and the wakers of the connections not yet told, by key.
    wakers: Mutex<(u64, HashMap<u64, Waker>)>,
}

impl Stop {
    /// Keeps `waker` until the stop (or until the registration is dropped).
    fn register(self: &Arc<Self>, waker: &Waker) -> Registered {
        let mut w = self.wakers.lock().unwrap_or_else(PoisonError::into_inner);
        let key = w.0;
        w.0 += 1;
        w.1.insert(key, waker.clone());
        Registered {
            stop: self.clone(),
            key,
        }
    }

    /// Sets the flag, then wakes every registered connection. A connection registering at the same
    /// time either is in the map taken here or, taking the lock after it, sees the flag set.
    fn stop(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        let wakers = std::mem::take(&mut self.wakers.lock().unwrap_or_else(PoisonError::into_inner).1);
        for w in wakers.into_values() {
            w.wake();
        }
    }

    fn stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }
}

/// A connection's place in [`Stop`]'s wakers, given back when the connection ends.
struct Registered {
    stop: Arc<Stop>,
    key: u64,
}

impl Drop for Registered {
    fn drop(&mut self) {
        let mut w = self.stop.wakers.lock().unwrap_or_else(PoisonError::into_inner);
        w.1.remove(&self.key);
    }
}

/// Tells the protocol from the peeked preface and serves the connection in a task of its own size.
async fn connection(tcp: TcpStream, app: Router, stop: Arc<Stop>, open: watch::Receiver<()>) {
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
        let conn = builder.serve_connection(io, service);
        tokio::spawn(until_stopped(conn, stop, open, |c| c.graceful_shutdown()));
    } else {
        let conn = http1::Builder::new().serve_connection(io, service);
        tokio::spawn(until_stopped(conn, stop, open, |c| c.graceful_shutdown()));
    }
}

/// Drives `conn` to its end; once the server stops, asks it to finish what it is serving and close.
/// `open` is held until then, so the accept loop can wait for every connection.
fn until_stopped<C, E, G>(
    conn: C,
    stop: Arc<Stop>,
    open: watch::Receiver<()>,
    graceful: G,
) -> UntilStopped<C, G>
where
    C: Future<Output = Result<(), E>>,
    E: std::fmt::Display,
    G: FnOnce(Pin<&mut C>),
{
    UntilStopped {
        conn,
        stop,
        registered: None,
        graceful: Some(graceful),
        _open: open,
    }
}

pin_project! {
    /// See [`until_stopped`].
    struct UntilStopped<C, G> {
        #[pin]
        conn: C,
        stop: Arc<Stop>,
        // Taken at the first poll: a spawned task's waker wakes that task for its whole life.
        registered: Option<Registered>,
        // `None` once called.
        graceful: Option<G>,
        _open: watch::Receiver<()>,
    }
}

impl<C, E, G> Future for UntilStopped<C, G>
where
    C: Future<Output = Result<(), E>>,
    E: std::fmt::Display,
    G: FnOnce(Pin<&mut C>),
{
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut this = self.project();
        if this.graceful.is_some() {
            if this.registered.is_none() {
                *this.registered = Some(this.stop.register(cx.waker()));
            }
            if this.stop.stopping() {
                *this.registered = None;
                if let Some(g) = this.graceful.take() {
                    g(this.conn.as_mut());
                }
            }
        }
        if let Err(e) = ready!(this.conn.poll(cx)) {
            tracing::trace!("connection ended with an error: {e}");
        }
        Poll::Ready(())
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

    /// An HTTP/1.1 connection to `addr` that has sent `GET /` and read "hi", and its driving task.
    async fn h1_said_hi(
        addr: std::net::SocketAddr,
    ) -> (
        hyper::client::conn::http1::SendRequest<Empty<Bytes>>,
        tokio::task::JoinHandle<hyper::Result<()>>,
    ) {
        let tcp = TcpStream::connect(addr).await.expect("connect");
        let (mut h1, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
            .await
            .expect("h1");
        let conn = tokio::spawn(conn);
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
        (h1, conn)
    }

    #[tokio::test]
    async fn one_port_answers_http1_and_h2_prior_knowledge() {
        let (addr, stop, task) = server().await;
        let (h1, _) = h1_said_hi(addr).await;

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
    async fn stopping_closes_idle_kept_alive_connections() {
        let (addr, stop, task) = server().await;
        let mut clients = Vec::new();
        for _ in 0..3 {
            // The client keeps its connection open (`h1` is held): only the server can end it.
            clients.push(h1_said_hi(addr).await);
        }
        stop.send(()).expect("server running");
        // A hang guard, not a timing assertion: without the wake-up the server waits forever.
        tokio::time::timeout(Duration::from_secs(30), task)
            .await
            .expect("every idle connection was woken and closed")
            .expect("stops");
        for (_h1, conn) in clients {
            conn.await
                .expect("client task")
                .expect("the server closed the connection cleanly");
        }
    }

    #[tokio::test]
    async fn a_client_that_closes_at_once_is_not_an_error() {
        let (addr, stop, task) = server().await;
        drop(TcpStream::connect(addr).await.expect("connect"));
        stop.send(()).expect("server running");
        task.await.expect("stops");
    }
}
