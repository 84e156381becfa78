//! What client and route connections share: the writer task with its
//! slow-consumer verdicts, the reader's wait for the next event, and the
//! orderly end of the writer.
//!
//! `client.rs` and `route.rs` own their protocols; this module owns only the
//! plumbing common to both, so that a fix to it (cancellation, deadlines,
//! teardown) lands in both at once. Must never interpret protocol bytes.

use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};
use tokio::net::tcp::OwnedReadHalf;
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio::time::{sleep_until, Instant};

use crate::client::ClientShared;
use crate::close::ClosedState;
use crate::log;
use crate::outbound::{self, SharedTcpWriter, WriterEnd};

/// Read buffer size; also the most one batch parses.
pub const READ_BUF: usize = 64 * 1024;

/// Splits a plain TCP socket: the read half for the reader, the write half
/// shared between the writer task and publishers that write to it directly
/// ([`outbound::Outbound::flush_or_wake`]).
pub fn split_tcp(shared: &ClientShared, socket: TcpStream) -> (OwnedReadHalf, SharedTcpWriter) {
    let (rd, wr) = socket.into_split();
    let wr = Arc::new(wr);
    shared.out.set_direct(wr.clone());
    (rd, SharedTcpWriter(wr))
}

/// Spawns the writer for `shared`: it drains the outbound buffer to `wr`,
/// each batch bounded by `deadline`; a blocked write cuts the connection as a
/// slow consumer (logged as nats-server does), a failed one as a write error.
pub fn spawn_writer<W>(shared: Arc<ClientShared>, wr: W, deadline: Duration) -> JoinHandle<()>
where
    W: AsyncWrite + Unpin + Send + 'static,
{
    tokio::spawn(async move {
        match outbound::write_loop(&shared.out, wr, deadline).await {
            WriterEnd::Closed => {}
            WriterEnd::Deadline { chunks, bytes } => {
                log::notice!(
                    "{} - Slow Consumer Detected: WriteDeadline of {} exceeded with {chunks} chunks of {bytes} total bytes.",
                    shared.prefix(),
                    crate::config::go::format_duration(deadline)
                );
                shared.close(ClosedState::SlowConsumerWriteDeadline, false);
            }
            WriterEnd::Io(_) => shared.close(ClosedState::WriteError, false),
        }
    })
}

/// Gives the writer `grace` to send what the close allows, then stops it.
pub async fn finish_writer(mut writer: JoinHandle<()>, grace: Duration) {
    if tokio::time::timeout(grace, &mut writer).await.is_err() {
        writer.abort();
    }
}

/// What woke the reader.
pub enum Event {
    /// Bytes were appended to the buffer.
    Data,
    /// The PING timer fired.
    PingTimer,
    /// CONNECT did not arrive in time.
    AuthTimeout,
    /// The connection ends.
    Closed(ClosedState),
}

/// Waits for the next event on a connection: its close token, bytes from
/// the socket (read into `buf`, grown as needed), the PING timer, or the
/// authorization deadline.
pub async fn next_event<R: AsyncRead + Unpin>(
    shared: &ClientShared,
    rd: &mut R,
    buf: &mut BytesMut,
    next_ping: Instant,
    auth_deadline: Option<Instant>,
) -> Event {
    if buf.capacity() - buf.len() < READ_BUF / 4 {
        buf.reserve(READ_BUF);
    }
    let closed = shared.closed_token();
    let far = Instant::now() + Duration::from_secs(86_400);
    tokio::select! {
        biased;
        _ = closed.cancelled() => Event::Closed(shared.reason().unwrap_or(ClosedState::ServerShutdown)),
        read = rd.read_buf(buf) => match read {
            Ok(0) => Event::Closed(ClosedState::ClientClosed),
            Ok(_) => Event::Data,
            Err(_) => Event::Closed(ClosedState::ReadError),
        },
        _ = sleep_until(next_ping) => Event::PingTimer,
        _ = sleep_until(auth_deadline.unwrap_or(far)), if auth_deadline.is_some() => Event::AuthTimeout,
    }
}
