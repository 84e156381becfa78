//! The writer: waits for data, writes each batch with one (vectored)
//! write bounded by `write_deadline`, and reports the bytes written back to
//! the buffer. [`SharedTcpWriter`] is its end of a plain TCP socket whose
//! write half publishers share for direct writes.
//!
//! **Must never:** keep memory while idle (no queue or timer across the
//! wait), or half-send a batch after the deadline cut the connection.

use std::collections::VecDeque;
use std::future::Future;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use bytes::{Buf, Bytes};
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::net::tcp::OwnedWriteHalf;

use super::Outbound;

/// Most slices handed to one vectored write.
const MAX_IOVECS: usize = 64;

impl Outbound {
    /// Writer side: takes everything queued, as one chunk or (with shared
    /// payloads) as chunks moved into `into`. When nothing is queued the
    /// buffer's memory is given back (freed after the lock is released).
    pub(super) fn take(&self, into: &mut VecDeque<Bytes>) -> Taken {
        let mut st = self.state.lock();
        if st.closing == Some(false) {
            return Taken::Stop;
        }
        if st.writing {
            // A publisher is writing directly; it wakes us when it is done
            // and anything is left.
            return Taken::Empty;
        }
        st.woken = false;
        st.note_batch();
        if st.chunks.is_empty() {
            if !st.buf.is_empty() {
                st.writing = true;
                return Taken::One(st.buf.split().freeze());
            }
            let stop = st.closing.is_some();
            let idle = (st.idle_buf(stop), std::mem::take(&mut st.chunks));
            drop(st);
            drop(idle);
            return if stop { Taken::Stop } else { Taken::Empty };
        }
        if !st.buf.is_empty() {
            let tail = st.buf.split().freeze();
            st.chunks.push_back(tail);
        }
        std::mem::swap(&mut st.chunks, into);
        st.writing = true;
        Taken::Many
    }

    fn written(&self, n: usize) {
        let mut st = self.state.lock();
        st.writing = false;
        st.pending = st.pending.saturating_sub(n);
        st.rewind();
        drop(st);
        self.drained.notify_waiters();
    }
}

pub(super) enum Taken {
    /// Everything queued, in one chunk.
    One(Bytes),
    /// Everything queued, moved into the caller's queue.
    Many,
    Empty,
    Stop,
}

/// The writer task's end of a plain TCP socket whose write half is shared
/// with publishers ([`Outbound::set_direct`]). Writes go through the
/// socket's readiness like tokio's own halves; the socket is shut down for
/// writing when the last holder drops it.
pub struct SharedTcpWriter(pub Arc<OwnedWriteHalf>);

impl SharedTcpWriter {
    fn poll_io<T>(
        &self,
        cx: &mut Context<'_>,
        mut op: impl FnMut(&tokio::net::TcpStream) -> io::Result<T>,
    ) -> Poll<io::Result<T>> {
        let tcp: &tokio::net::TcpStream = self.0.as_ref().as_ref();
        loop {
            ready!(tcp.poll_write_ready(cx))?;
            match op(tcp) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                result => return Poll::Ready(result),
            }
        }
    }
}

impl AsyncWrite for SharedTcpWriter {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_io(cx, |tcp| tcp.try_write(buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.poll_io(cx, |tcp| tcp.try_write_vectored(bufs))
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

fn chunks_len(chunks: &VecDeque<Bytes>) -> usize {
    chunks.iter().map(Bytes::len).sum()
}

/// Why the writer stopped.
#[derive(Debug)]
pub enum WriterEnd {
    /// Closed by the connection (everything requested was sent).
    Closed,
    /// A write did not complete within the deadline.
    Deadline { chunks: usize, bytes: usize },
    /// The socket failed.
    Io(std::io::Error),
}

/// The writer: waits for data, writes it with one (vectored) write per
/// batch, each batch bounded by `deadline`.
///
/// Written as poll functions inside one `async fn` with few locals: the
/// writer lives in every connection's task, so its state is part of what an
/// idle connection costs. The deadline's timer is allocated only when a
/// write has to wait, and given back when the writer goes idle.
pub async fn write_loop<W>(out: &Outbound, mut sink: W, deadline: Duration) -> WriterEnd
where
    W: AsyncWrite + Unpin,
{
    let mut batch: VecDeque<Bytes> = VecDeque::new();
    let mut timer: Option<Pin<Box<tokio::time::Sleep>>> = None;
    loop {
        let mut one = match out.take(&mut batch) {
            Taken::Stop => {
                let _ = sink.flush().await;
                return WriterEnd::Closed;
            }
            Taken::Empty => {
                // Idle: keep no queue or timer memory while waiting.
                batch = VecDeque::new();
                timer = None;
                out.wake.notified().await;
                continue;
            }
            Taken::One(chunk) => Some(chunk),
            Taken::Many => None,
        };
        let (chunks, bytes) = match &one {
            Some(chunk) => (1, chunk.len()),
            None => (batch.len(), chunks_len(&batch)),
        };
        let mut waiting = false;
        let written = std::future::poll_fn(|cx| {
            let write = match &mut one {
                Some(chunk) => poll_write_chunk(&mut sink, chunk, cx),
                None => poll_write_batch(&mut sink, &mut batch, cx),
            };
            if let Poll::Ready(result) = write {
                return Poll::Ready(result.map_err(WriterEnd::Io));
            }
            // The deadline runs from the batch's first wait.
            let timer = timer.get_or_insert_with(|| Box::pin(tokio::time::sleep(deadline)));
            if !waiting {
                waiting = true;
                timer.as_mut().reset(tokio::time::Instant::now() + deadline);
            }
            match timer.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Err(WriterEnd::Deadline { chunks, bytes })),
                Poll::Pending => Poll::Pending,
            }
        })
        .await;
        // Sent (or failed): let go of the batch so that `written` can rewind.
        drop(one);
        match written {
            Ok(()) => out.written(bytes),
            Err(end) => return end,
        }
    }
}

/// Writes all of `chunk` (advancing it past what was written).
fn poll_write_chunk<W: AsyncWrite + Unpin>(
    sink: &mut W,
    chunk: &mut Bytes,
    cx: &mut Context<'_>,
) -> Poll<io::Result<()>> {
    while !chunk.is_empty() {
        let n = ready!(Pin::new(&mut *sink).poll_write(cx, chunk))?;
        if n == 0 {
            return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
        }
        chunk.advance(n);
    }
    Poll::Ready(Ok(()))
}

/// Writes all of `batch` with vectored writes (popping what was written).
fn poll_write_batch<W: AsyncWrite + Unpin>(
    sink: &mut W,
    batch: &mut VecDeque<Bytes>,
    cx: &mut Context<'_>,
) -> Poll<io::Result<()>> {
    while !batch.is_empty() {
        if batch.len() == 1 {
            let chunk = batch.front_mut().expect("one chunk");
            ready!(poll_write_chunk(sink, chunk, cx))?;
            batch.pop_front();
            continue;
        }
        let n = {
            let slices: smallvec::SmallVec<[IoSlice<'_>; MAX_IOVECS]> = batch
                .iter()
                .take(MAX_IOVECS)
                .map(|b| IoSlice::new(b))
                .collect();
            ready!(Pin::new(&mut *sink).poll_write_vectored(cx, &slices))?
        };
        if n == 0 {
            return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
        }
        let mut left = n;
        while left > 0 {
            let front = batch.front_mut().expect("wrote more than queued");
            if front.len() <= left {
                left -= front.len();
                batch.pop_front();
            } else {
                front.advance(left);
                left = 0;
            }
        }
    }
    Poll::Ready(Ok(()))
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{msg, tail};
    use super::super::{Message, SHARE_THRESHOLD};
    use super::*;

    #[tokio::test]
    async fn writer_sends_single_and_vectored_batches_and_stays_small() {
        let out = std::sync::Arc::new(Outbound::new(1 << 24));
        let (wr, mut rd) = tokio::io::duplex(1 << 20);
        let fut = write_loop(&out, tokio::io::sink(), Duration::from_secs(5));
        assert!(
            std::mem::size_of_val(&fut) < 512,
            "writer future is {} bytes",
            std::mem::size_of_val(&fut)
        );
        drop(fut);
        let writer = {
            let out = out.clone();
            tokio::spawn(async move { write_loop(&out, wr, Duration::from_secs(5)).await })
        };
        let big = Bytes::from(vec![b'y'; SHARE_THRESHOLD]);
        let m = Message {
            shared: Some(&big),
            ..msg(b"b", None, &big)
        };
        out.push_proto(b"PING\r\n");
        out.wake();
        let mut got = vec![0u8; 6];
        tokio::io::AsyncReadExt::read_exact(&mut rd, &mut got)
            .await
            .unwrap();
        assert_eq!(got, b"PING\r\n");
        for _ in 0..100 {
            out.push_msg(b"1", &m, true);
        }
        out.wake();
        let want = 100 * (15 + SHARE_THRESHOLD + 2);
        let mut got = vec![0u8; want];
        tokio::io::AsyncReadExt::read_exact(&mut rd, &mut got)
            .await
            .unwrap();
        assert!(got.starts_with(b"MSG b 1 16384\r\nyyy"));
        assert!(got.ends_with(b"yyy\r\n"));
        out.close(true);
        assert!(matches!(writer.await.unwrap(), WriterEnd::Closed));
        let mut rest = Vec::new();
        tokio::io::AsyncReadExt::read_to_end(&mut rd, &mut rest)
            .await
            .unwrap();
        assert!(rest.is_empty());
        assert_eq!(out.stats().pending, 0);
    }

    /// Once a batch is sent — by a publisher's direct write or by the writer
    /// task — the next one is appended at the front of the same allocation,
    /// not after the bytes just sent.
    #[tokio::test]
    async fn each_batch_starts_at_the_front_of_the_buffer() {
        use tokio::io::AsyncReadExt;
        let body = [b'z'; 1000];
        let batch = 5 * (b"MSG s 1 1000\r\n".len() + body.len() + 2);
        let fill = |out: &Outbound| {
            for _ in 0..5 {
                out.push_msg(b"1", &msg(b"s", None, &body), true);
            }
        };

        // A publisher's direct write.
        let (mut reader, server_side) = crate::conn::loopback_pair().await;
        let (_rd, wr) = server_side.into_split();
        let out = Outbound::new(1 << 20);
        out.set_direct(Arc::new(wr));
        fill(&out);
        let (front, room) = tail(&out);
        out.flush_or_wake();
        let mut got = vec![0u8; batch];
        reader.read_exact(&mut got).await.unwrap();
        assert!(got.starts_with(b"MSG s 1 1000\r\nzzz") && got.ends_with(b"zzz\r\n"));
        assert_eq!(out.stats().pending, 0, "sent in one direct write");
        assert_eq!(tail(&out), (front, room), "rewound after a direct write");

        // The writer task.
        let out = Arc::new(Outbound::new(1 << 20));
        let (wr, mut rd) = tokio::io::duplex(1 << 20);
        let writer = {
            let out = out.clone();
            tokio::spawn(async move { write_loop(&out, wr, Duration::from_secs(5)).await })
        };
        fill(&out);
        let (front, room) = tail(&out);
        out.wake();
        let mut got = vec![0u8; batch];
        rd.read_exact(&mut got).await.unwrap();
        for _ in 0..5000 {
            if out.stats().pending == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        assert_eq!(
            out.stats().pending,
            0,
            "the writer reported the batch written"
        );
        assert_eq!(
            tail(&out),
            (front, room),
            "rewound after the writer's write"
        );
        out.close(true);
        assert!(matches!(writer.await.unwrap(), WriterEnd::Closed));
    }
}
