//! A TLS listener for `axum::serve`: handshakes run in their own tasks and finished ones are
//! handed to `serve`, so one slow or broken client never holds up accepting the next.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::serve::Listener;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// A client that opens a connection and never finishes its handshake is dropped after this.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The first byte of every TLS connection: a handshake record (RFC 8446 §5.1, content type 22).
const TLS_HANDSHAKE: u8 = 0x16;

/// What a plain-HTTP client on the TLS port reads, so it fails with a reason instead of a reset.
const PLAIN_HTTP_ANSWER: &[u8] = b"HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain\r\n\
connection: close\r\ncontent-length: 55\r\n\r\nThis port speaks TLS: use https:// instead of http://.\n";

/// Accepted connections whose TLS handshake has finished.
pub struct TlsListener {
    ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local: SocketAddr,
}

impl TlsListener {
    /// Starts accepting on `tcp`; the accept loop ends when the listener is dropped.
    pub fn new(tcp: TcpListener, config: rustls::ServerConfig) -> io::Result<Self> {
        let local = tcp.local_addr()?;
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let (tx, ready) = mpsc::channel(64);
        tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    a = tcp.accept() => a,
                    () = tx.closed() => return,
                };
                match accepted {
                    Ok((stream, peer)) => {
                        tokio::spawn(handshake(acceptor.clone(), stream, peer, tx.clone()));
                    }
                    // As axum's own TCP listener does: out of file descriptors and the like pass.
                    Err(e) => {
                        tracing::debug!("accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            }
        });
        Ok(Self { ready, local })
    }
}

/// One handshake; a failure is logged at debug and ends only this connection.
async fn handshake(
    acceptor: TlsAcceptor,
    mut stream: TcpStream,
    peer: SocketAddr,
    ready: mpsc::Sender<(TlsStream<TcpStream>, SocketAddr)>,
) {
    // TCP_NODELAY, as on the plain listener: without it Nagle holds a stream's second small frame
    // until the client's delayed ACK (~40 ms).
    if let Err(e) = stream.set_nodelay(true) {
        tracing::debug!("cannot set TCP_NODELAY: {e}");
    }
    let shaken = tokio::time::timeout(HANDSHAKE_TIMEOUT, async {
        let mut first = [0u8; 1];
        if stream.peek(&mut first).await? == 1 && first[0] != TLS_HANDSHAKE {
            let _ = stream.write_all(PLAIN_HTTP_ANSWER).await;
            let _ = stream.shutdown().await;
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "not a TLS handshake (plain HTTP on the TLS port?)",
            ));
        }
        acceptor.accept(stream).await
    })
    .await;
    match shaken {
        Ok(Ok(tls)) => {
            let _ = ready.send((tls, peer)).await;
        }
        Ok(Err(e)) => tracing::debug!(%peer, "TLS handshake failed: {e}"),
        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
    }
}

impl Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(conn) => conn,
            // The accept loop owns a sender until this listener is dropped: never reached.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(self.local)
    }
}
