//! Accepting connections: HTTP/1.1, over TLS when an acceptor is given (a plain HTTP request
//! there gets a 400 that says to use HTTPS), with a header-read
//! timeout (a client that trickles its handshake or headers is cut off), the client's address
//! handed to the handlers, and a graceful shutdown that lets requests in flight finish.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

/// The address a request came from (absent for requests that did not come over a socket).
#[derive(Clone, Copy, Debug)]
pub struct ClientAddr(pub SocketAddr);

/// Marks the requests that came in on the private endpoint (`serve --private-listen`), where an
/// instance with an `allowedNetwork: private-only` policy is served (a request extension).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PrivateEndpoint;

/// The local address a request came in on (a request extension).
#[derive(Clone, Copy, Debug)]
pub struct LocalAddr(pub SocketAddr);

/// Limits of the connection layer.
#[derive(Clone, Copy, Debug)]
pub struct ConnectionLimits {
    /// Longest a client may take to send a request's headers.
    pub header_read_timeout: Duration,
    /// Longest shutdown waits for requests in flight.
    pub shutdown_grace: Duration,
}

/// The answer to a plain HTTP request on the HTTPS port: it says what to do instead. Nothing
/// of the request is read beyond its first byte, and nothing is routed.
const PLAIN_HTTP_ANSWER: &[u8] = b"HTTP/1.1 400 Bad Request\r\n\
Content-Type: application/json\r\n\
Connection: close\r\n\
Content-Length: 92\r\n\
\r\n\
{\"error\":\"this port speaks HTTPS only; the request was not processed. Use an https:// URL\"}\n";

/// Whether the client opened with plain HTTP rather than a TLS handshake: a TLS connection's
/// first byte is a handshake record (22); an HTTP request's is the method's first letter.
async fn speaks_plain_http(stream: &mut tokio::net::TcpStream) -> std::io::Result<bool> {
    let mut first = [0u8; 1];
    let n = stream.peek(&mut first).await?;
    Ok(n == 1 && first[0].is_ascii_uppercase())
}

async fn answer_plain_http(stream: &mut tokio::net::TcpStream) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let _ = stream.write_all(PLAIN_HTTP_ANSWER).await;
    let _ = stream.shutdown().await;
    // Read what the client sent before closing: closing over unread bytes resets the
    // connection, and a reset can destroy the answer before the client reads it.
    let mut sink = [0u8; 1024];
    let drain = async {
        let mut left: usize = 16 * 1024;
        while left > 0 {
            match stream.read(&mut sink).await {
                Ok(0) | Err(_) => break,
                Ok(n) => left = left.saturating_sub(n),
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(1), drain).await;
}

/// Serves `router` on `listener` (over TLS with `tls`) until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    tls: Option<TlsAcceptor>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let graceful = GracefulShutdown::new();
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .keep_alive(true);
    tokio::pin!(shutdown);
    loop {
        let (stream, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of descriptors and the like: wait a moment rather than spin.
                    tracing::warn!(error = %e, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let local = stream.local_addr().ok();
        let service = router.clone().map_request(move |mut request: Request<_>| {
            request.extensions_mut().insert(ClientAddr(remote));
            if let Some(local) = local {
                request.extensions_mut().insert(LocalAddr(local));
            }
            request
        });
        let service = TowerToHyperService::new(service);
        let Some(tls) = &tls else {
            let watched = graceful.watch(builder.serve_connection(TokioIo::new(stream), service));
            tokio::spawn(async move {
                if let Err(e) = watched.await {
                    tracing::debug!(error = %e, %remote, "connection ended with an error");
                }
            });
            continue;
        };
        let (tls, builder, watcher) = (tls.clone(), builder.clone(), graceful.watcher());
        tokio::spawn(async move {
            let mut stream = stream;
            let handshake = async {
                if speaks_plain_http(&mut stream).await? {
                    answer_plain_http(&mut stream).await;
                    return Err(std::io::Error::other("plain HTTP on the HTTPS port"));
                }
                tls.accept(stream).await
            };
            let stream = match tokio::time::timeout(limits.header_read_timeout, handshake).await {
                Ok(Ok(stream)) => stream,
                Ok(Err(e)) => {
                    tracing::debug!(error = %e, %remote, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!(%remote, "TLS handshake timed out");
                    return;
                }
            };
            let watched = watcher.watch(builder.serve_connection(TokioIo::new(stream), service));
            if let Err(e) = watched.await {
                tracing::debug!(error = %e, %remote, "connection ended with an error");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(limits.shutdown_grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("requests still in flight at shutdown were cut off");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::PLAIN_HTTP_ANSWER;

    #[test]
    fn the_plain_http_answer_declares_its_own_length() {
        let text = std::str::from_utf8(PLAIN_HTTP_ANSWER).expect("ASCII");
        let (head, body) = text.split_once("\r\n\r\n").expect("a head and a body");
        let declared: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("Content-Length: "))
            .expect("a Content-Length")
            .parse()
            .expect("a number");
        assert_eq!(declared, body.len());
        assert!(serde_json::from_str::<serde_json::Value>(body).is_ok());
    }
}
