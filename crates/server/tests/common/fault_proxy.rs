//! A TCP proxy in front of a server whose behaviour a test switches while it runs: pass bytes
//! through, be down (every connection closed at once), be slow (every connection held before
//! anything passes), or answer every request 503 itself. Switching cuts the connections already
//! open, so a client's pooled connection meets the new behaviour too.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// What the proxy does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Pass everything through.
    None,
    /// Close every connection as soon as it is accepted.
    Down,
    /// Hold every new connection this long, then pass it through.
    Slow(Duration),
    /// Answer every request `503 Service Unavailable` and close.
    Http503,
}

/// The proxy; it stops with the test's runtime.
pub struct FaultProxy {
    /// Where clients connect.
    pub addr: SocketAddr,
    fault: watch::Sender<Fault>,
    connections: Arc<AtomicUsize>,
}

/// How long a client gets to notice that its pooled connections were cut.
const SETTLE: std::time::Duration = std::time::Duration::from_millis(200);

impl FaultProxy {
    /// A proxy to `target`, passing everything through.
    pub async fn start(target: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the proxy");
        let addr = listener.local_addr().expect("the proxy's address");
        let (fault, watching) = watch::channel(Fault::None);
        let connections = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&connections);
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                counted.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(serve(client, target, watching.clone()));
            }
        });
        Self {
            addr,
            fault,
            connections,
        }
    }

    /// Switches the behaviour; open connections are cut. Returns once a client has had time to
    /// see the cut (a connection it pooled and that is gone would otherwise take one attempt
    /// without reaching the proxy, and the connection counts would be off by one).
    pub async fn set(&self, fault: Fault) {
        self.fault.send_replace(fault);
        tokio::time::sleep(SETTLE).await;
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

async fn serve(mut client: TcpStream, target: SocketAddr, mut fault: watch::Receiver<Fault>) {
    let now = *fault.borrow_and_update();
    match now {
        Fault::Down => return,
        Fault::Http503 => {
            let mut head = [0u8; 4096];
            let _ = client.read(&mut head).await;
            let _ = client
                .write_all(
                    b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                )
                .await;
            return;
        }
        Fault::Slow(hold) => {
            tokio::select! {
                () = tokio::time::sleep(hold) => {}
                _ = fault.changed() => return,
            }
        }
        Fault::None => {}
    }
    let Ok(mut server) = TcpStream::connect(target).await else {
        return;
    };
    tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
        _ = fault.changed() => {}
    }
}
