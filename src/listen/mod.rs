//! Opening listening sockets the way nats-server's (Go's) listeners are
//! opened: `SO_REUSEADDR`, and a backlog of 4096 rather than the 128 a plain
//! `TcpListener::bind` asks for.
//!
//! **Why.** A burst of clients connecting at once (a service fleet
//! restarting, a load test opening thousands of connections) overflows a
//! 128-entry accept queue; the kernel drops the SYNs and each of those clients
//! waits a full second to retry. Go asks for the kernel's `somaxconn`, which
//! is 4096 on current Linux (the kernel caps the request at `somaxconn`).
//!
//! **Must never:** accept, or know about any protocol.

use std::io;

use tokio::net::{lookup_host, TcpListener, TcpSocket};

/// The accept queue length asked for (capped by the kernel's `somaxconn`).
pub const BACKLOG: u32 = 4096;

/// Binds `host:port` (port 0: any free port) and listens, trying every
/// address `host` resolves to, as `TcpListener::bind` does.
pub async fn bind(host: &str, port: u16) -> io::Result<TcpListener> {
    let mut last = None;
    for addr in lookup_host((host, port)).await? {
        let socket = if addr.is_ipv4() {
            TcpSocket::new_v4()?
        } else {
            TcpSocket::new_v6()?
        };
        socket.set_reuseaddr(true)?;
        match socket.bind(addr).and_then(|()| socket.listen(BACKLOG)) {
            Ok(listener) => return Ok(listener),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "could not resolve to any address",
        )
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// Nobody accepts, yet far more than 128 clients connect: the accept
    /// queue holds them. With the default backlog the 130th SYN is dropped
    /// and its connect never completes (nobody ever accepts here).
    #[tokio::test]
    async fn holds_more_than_128_pending_connections() {
        let listener = bind("127.0.0.1", 0).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let somaxconn: usize = std::fs::read_to_string("/proc/sys/net/core/somaxconn")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(BACKLOG as usize);
        let n = somaxconn.min(BACKLOG as usize).min(500);
        if n <= 200 {
            eprintln!("NOTICE: net.core.somaxconn is {somaxconn}; a larger backlog cannot be seen");
            return;
        }
        let streams = tokio::task::spawn_blocking(move || {
            (0..n)
                .map(|i| {
                    std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(3))
                        .unwrap_or_else(|e| panic!("connect {i} of {n}: {e}"))
                })
                .collect::<Vec<_>>()
        })
        .await
        .unwrap();
        assert_eq!(streams.len(), n);
        drop(listener);
    }

    #[tokio::test]
    async fn resolves_names_and_reports_refusals() {
        let listener = bind("localhost", 0).await.unwrap();
        assert!(listener.local_addr().unwrap().ip().is_loopback());
        let taken = listener.local_addr().unwrap();
        let err = bind(&taken.ip().to_string(), taken.port())
            .await
            .unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::AddrInUse);
    }
}
