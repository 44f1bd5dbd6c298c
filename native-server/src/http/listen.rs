//! The listeners' accept loop: HTTP/1.1 connections served by hyper with a header timeout and
//! a cap on open connections, shut down gracefully.
//!
//! - **Header timeout** (`http.header_timeout_ms`): hyper's timer runs whenever a connection
//!   waits for a request's headers, from the moment it opens and again each time it falls idle
//!   after a response; a client that trickles header bytes, or holds an idle keep-alive
//!   connection, is cut off when it expires. Request bodies and handlers are bounded by the
//!   request deadline elsewhere.
//! - **Connection cap** (`http.max_connections`): one permit per open connection. Past the cap a
//!   new connection gets a fixed `503` with `Retry-After: 1` and is closed, without a task or a
//!   parser of its own.
//! - **Peer address**: each request carries its connection's peer as an
//!   `axum::extract::ConnectInfo<SocketAddr>` extension (the rate limits key on it).
//! - **Shutdown**: stop accepting, let each connection finish the request it is serving, close
//!   idle ones, return when all are gone.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::http::Request;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tower::ServiceExt;

use crate::metrics as m;

/// How connections are bounded.
#[derive(Debug, Clone, Copy)]
pub struct ConnLimits {
    pub header_timeout: Duration,
    pub max_connections: usize,
}

impl ConnLimits {
    pub fn from_config(http: &crate::config::HttpConfig) -> ConnLimits {
        ConnLimits {
            header_timeout: Duration::from_millis(http.header_timeout_ms.max(1)),
            max_connections: http.max_connections.max(1),
        }
    }
}

/// What a connection over the cap is told before it is closed.
const OVER_CAP: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nretry-after: 1\r\n\
content-type: application/json\r\nx-content-type-options: nosniff\r\nconnection: close\r\n\
content-length: 67\r\n\r\n{\"code\":\"overloaded\",\"message\":\"too many open connections; retry\"}\n";

/// Serves `app` on `listener` until `shutdown` resolves, then waits for open connections.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnLimits,
    shutdown: impl Future<Output = ()>,
) {
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .keep_alive(true);
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: wait a little rather than spin.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            metrics::counter!(m::REJECTED, "reason" => "connections").increment(1);
            tokio::spawn(refuse(stream));
            continue;
        };
        let _ = stream.set_nodelay(true);
        // Handlers learn the peer's address from each request (rate limits are keyed on it).
        let app = app.clone().map_request(move |req| with_peer(req, peer));
        let service = TowerToHyperService::new(app);
        let conn = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!("connection closed: {e}");
            }
            drop(slot);
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

/// `req` with its connection's peer address as `ConnectInfo`.
fn with_peer(mut req: Request<Incoming>, peer: SocketAddr) -> Request<Incoming> {
    req.extensions_mut().insert(ConnectInfo(peer));
    req
}

/// Answers a connection over the cap with a fixed 503, within a short bound.
async fn refuse(mut stream: TcpStream) {
    let write = async {
        stream.write_all(OVER_CAP).await?;
        stream.shutdown().await
    };
    let _ = tokio::time::timeout(Duration::from_secs(1), write).await;
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_refusal_is_a_complete_response() {
        let text = std::str::from_utf8(super::OVER_CAP).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length: "))
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(body.len(), length);
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(v["code"], "overloaded");
    }
}
