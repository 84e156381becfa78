//! A client connection's accept side: [`serve`] sets up an accepted socket
//! (its shared half, INFO, TLS in the order `tls_first` decides) and
//! [`serve_stream`] registers it, runs the read loop (`conn::read_loop`
//! with the client's protocol, `connection.rs`) with the writer beside it
//! in one task, and tears it down.
//!
//! Mirrors nats-server's `client.go` for core NATS clients
//! (`docs/protocol.md#client-protocol`).
//!
//! **Shape.** Each connection runs one task holding two futures: the
//! reader, which parses a whole read buffer at a time under one epoch guard
//! and delivers to subscribers' outbound buffers, and the writer in
//! `outbound/` (`conn::InlineWriter`; one task, not two, is most of what
//! keeps an idle connection under 4 KiB). The reader owns all per-connection
//! protocol state; other tasks only touch the [`ConnShared`] half.
//!
//! **Must never:** block on another connection's socket, allocate per
//! message on the publish path, or hold a lock across an await.

pub mod connect;
mod connection;
pub mod info;
mod last_match;
mod tls_first;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncWrite;
use tokio::net::TcpStream;
use tokio_util::either::Either;

use crate::conn;
use crate::log::{self, ConnKind, ConnPrefix};
use crate::server::close::ClosedState;
use crate::server::{ConnShared, Server};
use connection::Conn;

/// Serves one accepted client socket until it closes: INFO, then TLS when
/// configured (in the order `tls_first` decides), then the protocol.
///
/// The setup runs when this is called, and the future it returns is the
/// connection's task: a plain `fn` rather than an `async fn`, because an
/// `async fn` keeps its arguments and locals beside the inner future for the
/// connection's whole life, a few hundred bytes on every idle connection.
pub fn serve(
    server: Arc<Server>,
    socket: TcpStream,
    addr: SocketAddr,
    cid: u64,
) -> impl std::future::Future<Output = ()> + Send {
    let opts = server.options();
    let _ = socket.set_nodelay(true);
    let shared = Arc::new(ConnShared::new(
        ConnKind::Client,
        cid,
        addr,
        opts.max_pending as usize,
    ));
    let base_prefix = ConnPrefix::client(addr, cid);
    shared.meta.lock().prefix = base_prefix.shared();
    log::debug!("{base_prefix} - Client connection created");
    let nonce = server.auth().needs_nonce().then(crate::auth::new_nonce);
    let info = crate::client::info::Info {
        nonce: nonce.clone(),
        ..server.client_info(cid, addr)
    };

    let Some(tls) = server.tls_acceptor() else {
        let (rd, wr) = conn::split_tcp(&shared, socket);
        let info = Some(info.to_line());
        return Either::Left(serve_stream(server, shared, rd, wr, info, nonce));
    };
    // Boxed: the handshake and the TLS stream types would otherwise enlarge
    // every connection's task, plain ones included.
    Either::Right(Box::pin(crate::client::tls_first::serve_tls(
        server, socket, shared, tls, info, nonce,
    )))
}

/// The connection over any stream (plain TCP halves or TLS): registration,
/// the read loop with the writer beside it in this one task, and teardown.
/// `info` is queued first unless it was already written in plaintext.
pub(crate) async fn serve_stream<R, W>(
    server: Arc<Server>,
    shared: Arc<ConnShared>,
    mut rd: R,
    wr: W,
    info: Option<Vec<u8>>,
    nonce: Option<String>,
) where
    R: conn::Source,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let opts = server.options();
    let base_prefix = ConnPrefix::client(shared.addr, shared.cid);
    let writer = conn::writer(&shared, wr, opts.write_deadline);
    tokio::pin!(writer);
    let mut writer = conn::InlineWriter::new(writer);

    if let Some(info) = info {
        shared.out.push_proto(&info);
        shared.out.wake();
    }

    let reason = if !server.register_client(&shared) {
        let text = b"-ERR 'maximum connections exceeded'\r\n";
        shared.out.push_proto(text);
        log::error!("{base_prefix} - maximum connections exceeded");
        ClosedState::MaxConnectionsExceeded
    } else {
        // Registered after the server's shutdown swept the registry: close
        // now (the sweep and this check are ordered by the registry's lock).
        if server.is_shutting_down() {
            shared.close(ClosedState::ServerShutdown, true);
        }
        let mut conn = Conn::new(server.clone(), shared.clone(), base_prefix, &opts, nonce);
        // Clients stop only through their own close (the server closes each
        // registered client at shutdown).
        let read = conn::read_loop(&mut conn, &mut rd, std::future::pending::<()>());
        tokio::pin!(read);
        writer.beside(read).await
    };

    // Teardown: whatever ended the connection, record the first reason, let
    // the writer flush what the reason allows, and drop every subscription.
    let flush = reason.flushes();
    shared.close(reason, flush);
    let reason = shared.reason().unwrap_or(reason);
    if matches!(
        reason,
        ClosedState::SlowConsumerPendingBytes | ClosedState::SlowConsumerWriteDeadline
    ) {
        server.record_slow_consumer(&shared);
    }
    let grace = if flush {
        opts.write_deadline
    } else {
        Duration::from_millis(100)
    };
    writer.finish(grace).await;
    // Unregister first: the closed-connection record keeps the subscriptions.
    server.unregister_client(&shared, reason);
    server.remove_client_subs(&shared);
    log::debug!(
        "{} - Client connection closed: {}",
        shared.prefix(),
        reason.as_str()
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::Ordering::Relaxed;

    /// A server with default options on a free loopback port, serving
    /// every connection it accepts as the server's accept loop does
    /// (without its limits and bookkeeping).
    async fn serving() -> (Arc<Server>, SocketAddr) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = Server::new(crate::config::Options::default(), addr).unwrap();
        let serves = server.clone();
        tokio::spawn(async move {
            for cid in 1.. {
                let (socket, peer) = listener.accept().await.unwrap();
                tokio::spawn(serve(serves.clone(), socket, peer, cid));
            }
        });
        (server, addr)
    }

    /// Connects and says CONNECT, reading the INFO first.
    async fn connected(addr: SocketAddr) -> tokio::io::BufReader<TcpStream> {
        use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
        let mut conn = tokio::io::BufReader::new(TcpStream::connect(addr).await.unwrap());
        let mut info = String::new();
        conn.read_line(&mut info).await.unwrap();
        assert!(info.starts_with("INFO "));
        conn.write_all(b"CONNECT {\"verbose\":false}\r\n")
            .await
            .unwrap();
        conn
    }

    async fn line(conn: &mut tokio::io::BufReader<TcpStream>) -> String {
        use tokio::io::AsyncBufReadExt;
        let mut line = String::new();
        conn.read_line(&mut line).await.unwrap();
        line
    }

    /// The spin after traffic (`server/spin.rs`) is there to catch an answer to
    /// what a batch sent. A publisher nobody listens to is sent nothing, so
    /// its batches must not start it (it would only take a CPU from the
    /// publisher); a delivery or a reply to the reader (`PONG`) must.
    /// (No spinning task runs here, so a spin once started stays visible.)
    #[tokio::test]
    async fn only_a_batch_that_sent_something_starts_the_spin() {
        use crate::testing::until;
        use tokio::io::AsyncWriteExt;
        let (server, addr) = serving().await;

        let mut publisher = connected(addr).await;
        for _ in 0..100 {
            publisher
                .write_all(b"PUB nobody 2\r\nhi\r\n")
                .await
                .unwrap();
        }
        until("the server has read 100 messages", || {
            server.stats.in_msgs.load(Relaxed) == 100
        })
        .await;
        assert!(
            !server.spinner.is_spinning(),
            "publishing to no one started the spin"
        );

        publisher.write_all(b"PING\r\n").await.unwrap();
        assert_eq!(line(&mut publisher).await, "PONG\r\n");
        assert!(server.spinner.is_spinning(), "a PONG did not start it");

        // A delivery, on a server of its own.
        let (server, addr) = serving().await;
        // The system account's automatic imports are subscriptions too.
        let before = server.accounts.subscriptions();
        let mut subscriber = connected(addr).await;
        subscriber.write_all(b"SUB foo 1\r\n").await.unwrap();
        until("the subscription is in", || {
            server.accounts.subscriptions() == before + 1
        })
        .await;
        assert!(!server.spinner.is_spinning(), "a SUB sent nothing");
        let mut publisher = connected(addr).await;
        publisher.write_all(b"PUB foo 2\r\nhi\r\n").await.unwrap();
        assert_eq!(line(&mut subscriber).await, "MSG foo 1 2\r\n");
        assert!(server.spinner.is_spinning(), "a delivery did not start it");
    }

    /// A connection's task (reader and writer together) is most of what an
    /// idle connection costs: keep rare paths (TLS, stalls, a blocked write's
    /// deadline) boxed, timers out of the per-read future, and arguments out
    /// of the task (`serve` is a plain `fn`). tokio rounds a task up to
    /// 128 bytes: at this bound it takes 1,664 with its header.
    #[tokio::test]
    async fn a_plain_connection_task_stays_small() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = Server::new(crate::config::Options::default(), addr).unwrap();
        let _client = TcpStream::connect(addr).await.unwrap();
        let (socket, peer) = listener.accept().await.unwrap();
        let fut = serve(server, socket, peer, 1);
        let size = std::mem::size_of_val(&fut);
        assert!(size <= 1472, "serve future is {size} bytes");
    }
}
