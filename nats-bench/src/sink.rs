//! A trivial in-process TCP "server" that reads and discards: the yardstick for the tool itself.
//!
//! **What it owns.** Just enough of a server for the tool's clients: it greets with an `INFO`,
//! then reads into one buffer and throws the bytes away, counting them. It answers `PONG` when
//! a read ends with `PING\r\n` (the handshake and the publisher's final flush both end that way;
//! the filler payloads never contain CR or LF, so a frame never does). It never parses `PUB`
//! frames and never delivers anything, so a publisher against it runs at the tool's own speed.
//!
//! **What it must never do.** Pretend to be a NATS server beyond this: a subscriber connected to
//! it receives nothing, which the scenarios must (and do) report as counts that do not add up.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The `version` the sink puts in its INFO.
pub const SINK_VERSION: &str = "sink";

/// A running sink; dropping it stops accepting (open connections end with their clients).
#[derive(Debug)]
pub struct Sink {
    addr: SocketAddr,
    bytes: Arc<AtomicU64>,
    accept: tokio::task::JoinHandle<()>,
}

impl Sink {
    /// Listens on `127.0.0.1` on a free port.
    pub async fn start() -> std::io::Result<Sink> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let bytes = Arc::new(AtomicU64::new(0));
        let counter = bytes.clone();
        let accept = tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                tokio::spawn(serve(sock, counter.clone()));
            }
        });
        Ok(Sink {
            addr,
            bytes,
            accept,
        })
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Bytes read from all connections so far.
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::SeqCst)
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

async fn serve(mut sock: TcpStream, bytes: Arc<AtomicU64>) {
    let _ = sock.set_nodelay(true);
    let info = format!(
        "INFO {{\"server_id\":\"nats-bench-sink\",\"version\":\"{SINK_VERSION}\",\"proto\":1,\
         \"headers\":true,\"max_payload\":1048576}} \r\n"
    );
    if sock.write_all(info.as_bytes()).await.is_err() {
        return;
    }
    let mut buf = vec![0u8; 1 << 20];
    // The last bytes of the stream so far, to spot a PING split between reads.
    let mut tail = [0u8; 6];
    loop {
        let n = match sock.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        bytes.fetch_add(n as u64, Ordering::SeqCst);
        let k = tail.len();
        if n >= k {
            tail.copy_from_slice(&buf[n - k..n]);
        } else {
            tail.copy_within(n.., 0);
            tail[k - n..].copy_from_slice(&buf[..n]);
        }
        if &tail == b"PING\r\n" && sock.write_all(b"PONG\r\n").await.is_err() {
            return;
        }
    }
}
