//! The writer beside every connection: drains the outbound buffer to the
//! socket ([`writer`]) in its own task ([`spawn_writer`], routes) or inside
//! the connection's task ([`InlineWriter`], clients), cuts a slow consumer,
//! and ends in order ([`finish_writer`], [`InlineWriter::finish`]).
//!
//! Must never read from the socket or parse: the reader owns that half.

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncWrite;
use tokio::net::tcp::OwnedReadHalf;
use tokio::net::TcpStream;
use tokio::task::JoinHandle;

use crate::log;
use crate::outbound::{self, SharedTcpWriter, WriterEnd};
use crate::server::close::ClosedState;
use crate::server::ConnShared;

/// Splits a plain TCP socket: the read half for the reader, the write half
/// shared between the writer task and publishers that write to it directly
/// ([`outbound::Outbound::flush_or_wake`]).
pub fn split_tcp(shared: &ConnShared, socket: TcpStream) -> (OwnedReadHalf, SharedTcpWriter) {
    let (rd, wr) = socket.into_split();
    let wr = Arc::new(wr);
    shared.out.set_direct(wr.clone());
    (rd, SharedTcpWriter(wr))
}

/// The writer for `shared`: drains its outbound buffer to `wr`, each batch
/// bounded by `deadline`; a blocked write cuts the connection as a slow
/// consumer (logged as nats-server does), a failed one as a write error.
pub async fn writer<W>(shared: &ConnShared, wr: W, deadline: Duration)
where
    W: AsyncWrite + Unpin,
{
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
}

/// Spawns [`writer`] as a task of its own (routes: a route carries a whole
/// server's traffic each way, and its reader and writer each keep a core
/// busy).
pub fn spawn_writer<W>(shared: Arc<ConnShared>, wr: W, deadline: Duration) -> JoinHandle<()>
where
    W: AsyncWrite + Unpin + Send + 'static,
{
    tokio::spawn(async move { writer(&shared, wr, deadline).await })
}

/// Gives the writer `grace` to send what the close allows, then stops it.
pub async fn finish_writer(mut writer: JoinHandle<()>, grace: Duration) {
    if tokio::time::timeout(grace, &mut writer).await.is_err() {
        writer.abort();
    }
}

/// A [`writer`] that runs inside the connection's own task, beside its
/// reader (clients). One task per connection instead of two is what keeps
/// an idle client small: a task costs its future plus about 200 bytes, and
/// the writer is idle or done in one poll on most wake-ups, because
/// publishers write to a subscriber's socket directly when they can
/// ([`outbound::Outbound::flush_or_wake`]).
pub struct InlineWriter<'a, F> {
    fut: Pin<&'a mut F>,
    done: bool,
    /// Which of the two goes first on the next poll (they alternate).
    writer_first: bool,
}

impl<'a, F: std::future::Future<Output = ()>> InlineWriter<'a, F> {
    pub fn new(fut: Pin<&'a mut F>) -> Self {
        Self {
            fut,
            done: false,
            writer_first: false,
        }
    }

    /// Runs `reader` to its end, the writer making progress beside it. A
    /// poll function, not an `async` block: it adds nothing to the task's
    /// size beyond the two futures.
    ///
    /// The two take turns going first. Socket operations draw on tokio's
    /// per-poll budget: a reader that always finds bytes spends all of it,
    /// and a writer always polled second would never write (a busy
    /// publisher would get no PONG).
    pub fn beside<'b, R: std::future::Future>(
        &'b mut self,
        mut reader: Pin<&'b mut R>,
    ) -> impl std::future::Future<Output = R::Output> + use<'a, 'b, F, R> {
        std::future::poll_fn(move |cx| {
            self.writer_first = !self.writer_first;
            if self.writer_first {
                self.poll_writer(cx);
            }
            if let std::task::Poll::Ready(out) = reader.as_mut().poll(cx) {
                return std::task::Poll::Ready(out);
            }
            if !self.writer_first {
                self.poll_writer(cx);
            }
            std::task::Poll::Pending
        })
    }

    /// The writer's end (a slow consumer, a write error) closes the
    /// connection, which wakes the reader.
    fn poll_writer(&mut self, cx: &mut std::task::Context<'_>) {
        if !self.done && self.fut.as_mut().poll(cx).is_ready() {
            self.done = true;
        }
    }

    /// Gives the writer `grace` to send what the close allows, then drops
    /// it.
    pub async fn finish(self, grace: Duration) {
        if !self.done {
            let _ = tokio::time::timeout(grace, self.fut).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_reader_that_spends_every_budget_does_not_starve_the_writer() {
        let wrote = std::cell::Cell::new(false);
        let writer = async {
            // A socket write draws on the budget in the same way.
            tokio::task::consume_budget().await;
            wrote.set(true);
        };
        tokio::pin!(writer);
        let mut writer = InlineWriter::new(writer);
        let reader = async {
            while !wrote.get() {
                tokio::task::consume_budget().await;
            }
        };
        tokio::pin!(reader);
        let ran = tokio::time::timeout(Duration::from_secs(5), writer.beside(reader)).await;
        assert!(ran.is_ok(), "the writer never got a turn");
        assert!(writer.done);
    }
}
