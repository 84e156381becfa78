//! A connection's read side: the read buffer and its size policy
//! ([`ReadBuf`]: start small, double on full reads, halve after short
//! ones, hold nothing while a plain TCP connection is idle), and the
//! [`Source`] a reader reads from.
//!
//! Must never interpret protocol bytes: a partial op is kept whole, never
//! looked into.

use std::pin::Pin;

use bytes::{BufMut, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};
use tokio::net::tcp::OwnedReadHalf;

/// Smallest read (nats-server's `startBufSize`). A plain TCP connection
/// that is idle at this size holds no buffer at all (see [`Source`]).
pub const READ_BUF_MIN: usize = 512;
/// Largest read; also bounds what one batch parses beyond a partial op
/// carried over. Twice nats-server's `maxBufSize` (64 KiB): a batch is what
/// each subscriber then receives in one write, so larger batches mean fewer
/// `sendmsg` calls and reader wake-ups per delivered byte; larger still
/// overflows the sockets' send buffers in wide fan-outs (measurements in
/// `docs/performance.md#what-bought-what`). Only a connection whose reads keep filling the buffer grows to
/// this size; short reads shrink it again.
pub const READ_BUF_MAX: usize = 128 * 1024;
/// Short reads in a row (under half the read size) after which the read
/// size halves (nats-server's `shortsToShrink`).
const SHORTS_TO_SHRINK: u8 = 2;

/// A connection's read buffer and how much the next read asks for.
///
/// As in nats-server, the read size starts at [`READ_BUF_MIN`], doubles
/// (up to [`READ_BUF_MAX`]) whenever a read fills it, and halves after more
/// than [`SHORTS_TO_SHRINK`] short reads in a row. The allocation follows
/// the read size when the buffer is empty; an op split across reads keeps
/// its bytes, and the buffer grows (amortized) to hold the whole op, so a
/// 1 MiB payload arrives in one buffer whatever the read size.
#[derive(Debug)]
pub struct ReadBuf {
    buf: BytesMut,
    /// Bytes the next read asks for.
    size: usize,
    /// Short reads in a row.
    shorts: u8,
}

impl Default for ReadBuf {
    fn default() -> Self {
        Self::new()
    }
}

impl ReadBuf {
    pub fn new() -> Self {
        Self {
            buf: BytesMut::new(),
            size: READ_BUF_MIN,
            shorts: 0,
        }
    }

    /// The bytes read and not yet consumed.
    pub fn bytes(&mut self) -> &mut BytesMut {
        &mut self.buf
    }

    /// What the next read asks for.
    pub fn read_size(&self) -> usize {
        self.size
    }

    /// Bytes allocated for reading at the current position (what an idle
    /// connection holds).
    pub fn capacity(&self) -> usize {
        self.buf.capacity()
    }

    /// Makes room for a read of `read_size` bytes. An empty buffer larger
    /// than the read size is given back and replaced by one of that size;
    /// otherwise the allocation is reused (a partial op moves to the front,
    /// or the buffer grows to hold the rest of it).
    pub(super) fn prepare(&mut self) {
        if self.buf.is_empty() {
            if self.buf.capacity() < self.size {
                // Reclaims the consumed front when the allocation is ours.
                self.buf.reserve(self.size);
            }
            if self.buf.capacity() > self.size {
                self.buf = BytesMut::with_capacity(self.size);
            }
        } else if self.buf.capacity() - self.buf.len() < self.size {
            self.buf.reserve(self.size);
        }
    }

    /// Adapts the read size to a read of `n` bytes.
    fn filled(&mut self, n: usize) {
        if n >= self.size {
            self.size = (self.size * 2).min(READ_BUF_MAX);
            self.shorts = 0;
        } else if n < self.size / 2 {
            self.shorts += 1;
            if self.shorts > SHORTS_TO_SHRINK {
                self.size = (self.size / 2).max(READ_BUF_MIN);
                self.shorts = 0;
            }
        } else {
            self.shorts = 0;
        }
    }

    /// [`ReadBuf::read_from`] for an idle connection on a [`Source`] that
    /// waits unbuffered: no allocation until the socket is readable, and
    /// none kept while it is not. A poll function, not an `async` block, so
    /// that waiting adds nothing to the connection's task.
    ///
    /// Readiness is asked first, every time: a read that came back short
    /// has already told tokio the socket is drained (it clears readiness
    /// on a short read), so the wait that follows it costs no system call.
    /// Reading first would make every request on a quiet connection cost a
    /// second `recvfrom` that finds nothing (strace of a request/reply run:
    /// half of the server's reads returned `EAGAIN`).
    pub(super) fn poll_read_unbuffered<R: Source>(
        &mut self,
        rd: &mut R,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<usize>> {
        use std::task::Poll;
        match rd.poll_readable(cx) {
            Poll::Ready(Ok(())) => {}
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Pending => {
                self.buf = BytesMut::new();
                return Poll::Pending;
            }
        }
        self.prepare();
        let limited = &mut (&mut self.buf).limit(self.size);
        match tokio_util::io::poll_read_buf(Pin::new(rd), cx, limited) {
            Poll::Ready(Ok(n)) => {
                self.filled(n);
                Poll::Ready(Ok(n))
            }
            // Readiness was stale: the read found nothing, cleared it and
            // registered the wake-up. Wait without the buffer.
            Poll::Pending => {
                self.buf = BytesMut::new();
                Poll::Pending
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
        }
    }

    /// Reads once from `rd`: at most `read_size` bytes, appended.
    ///
    /// From a [`Source`] that can wait without a buffer, an empty buffer at
    /// the smallest read size is given back whenever the socket turns out to
    /// be drained, and allocated again only once it is readable: an idle
    /// connection holds no read buffer (nats-server keeps its 512 bytes).
    /// A busy connection (bigger reads, or a partial op) keeps its buffer.
    pub(super) async fn read_from<R: Source>(&mut self, rd: &mut R) -> std::io::Result<usize> {
        if R::WAITS_UNBUFFERED && self.buf.is_empty() && self.size == READ_BUF_MIN {
            return std::future::poll_fn(|cx| self.poll_read_unbuffered(&mut *rd, cx)).await;
        }
        self.prepare();
        let n = rd.read_buf(&mut (&mut self.buf).limit(self.size)).await?;
        self.filled(n);
        Ok(n)
    }
}

/// A connection's read side: any stream, and for plain TCP also a wait for
/// readability that needs no buffer, so that [`ReadBuf`] can give its
/// allocation back while the connection is idle.
pub trait Source: AsyncRead + Unpin + Send {
    /// [`Source::poll_readable`] works (else the reader always reads into a
    /// buffer, as through TLS).
    const WAITS_UNBUFFERED: bool = false;

    /// Ready when a read may find bytes (or the end of the stream).
    fn poll_readable(
        &self,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}

impl Source for OwnedReadHalf {
    const WAITS_UNBUFFERED: bool = true;

    fn poll_readable(
        &self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        self.as_ref().poll_read_ready(cx)
    }
}

impl<S: AsyncRead + AsyncWrite + Send> Source for tokio::io::ReadHalf<S> {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conn::loopback_pair;
    use crate::parser::{Limits, Op, Parser, Role};
    use bytes::{Buf, Bytes};
    use std::collections::VecDeque;
    use std::task::{Context, Poll};
    use tokio::io::ReadBuf as IoBuf;

    /// A socket that delivers scripted chunks, each as far as the reader's
    /// buffer allows (the rest of a chunk comes with the next read).
    struct Script(VecDeque<Vec<u8>>);

    impl AsyncRead for Script {
        fn poll_read(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            out: &mut IoBuf<'_>,
        ) -> Poll<std::io::Result<()>> {
            if let Some(chunk) = self.0.front_mut() {
                let n = chunk.len().min(out.remaining());
                out.put_slice(&chunk[..n]);
                chunk.drain(..n);
                if chunk.is_empty() {
                    self.0.pop_front();
                }
            }
            Poll::Ready(Ok(()))
        }
    }

    impl Source for Script {}

    fn script<I: IntoIterator<Item = Vec<u8>>>(chunks: I) -> Script {
        Script(chunks.into_iter().collect())
    }

    #[tokio::test]
    async fn starts_small_and_doubles_on_full_reads_up_to_the_max() {
        let mut buf = ReadBuf::new();
        assert_eq!(buf.read_size(), READ_BUF_MIN);
        assert_eq!(buf.capacity(), 0, "nothing allocated before the first read");
        let mut rd = script([vec![b'x'; 1 << 20]]);
        let mut sizes = Vec::new();
        for _ in 0..10 {
            let want = buf.read_size();
            let n = buf.read_from(&mut rd).await.unwrap();
            assert_eq!(n, want, "a read asks for exactly the read size");
            sizes.push(n);
            buf.bytes().clear();
        }
        assert_eq!(
            sizes,
            [512, 1024, 2048, 4096, 8192, 16384, 32768, 65536, 131072, 131072]
        );
        assert_eq!(buf.read_size(), READ_BUF_MAX);
    }

    #[tokio::test]
    async fn shrinks_after_short_reads_and_gives_the_allocation_back() {
        let mut buf = ReadBuf::new();
        let mut rd = script([vec![b'x'; 512 + 1024 + 2048 + 4096]]);
        for _ in 0..4 {
            buf.read_from(&mut rd).await.unwrap();
            buf.bytes().clear();
        }
        assert_eq!(buf.read_size(), 8192);
        // Short reads: a few in a row halve the read size, down to the
        // minimum and never below.
        let mut rd = script((0..40).map(|_| b"PING\r\n".to_vec()));
        let mut sizes = Vec::new();
        for _ in 0..20 {
            buf.read_from(&mut rd).await.unwrap();
            buf.bytes().advance(6);
            sizes.push(buf.read_size());
        }
        assert_eq!(
            sizes,
            [
                8192, 8192, 4096, 4096, 4096, 2048, 2048, 2048, 1024, 1024, 1024, 512, 512, 512,
                512, 512, 512, 512, 512, 512
            ]
        );
        // An idle connection holds a minimum-size buffer, not the largest
        // it ever had.
        buf.read_from(&mut rd).await.unwrap();
        assert_eq!(buf.bytes().len(), 6);
        buf.bytes().advance(6);
        buf.prepare();
        assert_eq!(buf.capacity(), READ_BUF_MIN);
        // One read that is not short resets the count.
        let mut buf = ReadBuf::new();
        let mut rd = script([vec![b'x'; 512], vec![b'x'; 100], vec![b'x'; 100]]);
        for _ in 0..3 {
            buf.read_from(&mut rd).await.unwrap();
            buf.bytes().clear();
        }
        let mut rd = script([vec![b'x'; 700], vec![b'x'; 1], vec![b'x'; 1]]);
        for _ in 0..3 {
            buf.read_from(&mut rd).await.unwrap();
            buf.bytes().clear();
        }
        assert_eq!(buf.read_size(), 1024, "700 of 1024 is not short");
    }

    /// A reader that always has work spends tokio's whole budget on every
    /// poll; the writer beside it must still complete.
    #[tokio::test]
    async fn an_idle_tcp_connection_holds_no_read_buffer() {
        use tokio::io::AsyncWriteExt;
        let (mut client, server) = loopback_pair().await;
        let (mut rd, _wr) = server.into_split();
        let mut buf = ReadBuf::new();
        let mut cx = Context::from_waker(std::task::Waker::noop());
        assert!(buf.poll_read_unbuffered(&mut rd, &mut cx).is_pending());
        assert_eq!(buf.capacity(), 0, "nothing allocated before bytes arrive");
        for _ in 0..3 {
            client.write_all(b"PING\r\n").await.unwrap();
            assert_eq!(buf.read_from(&mut rd).await.unwrap(), 6);
            assert_eq!(&buf.bytes()[..], b"PING\r\n");
            assert_eq!(buf.capacity(), READ_BUF_MIN);
            buf.bytes().clear();
            // The next read finds the socket drained: the buffer goes back.
            assert!(buf.poll_read_unbuffered(&mut rd, &mut cx).is_pending());
            assert_eq!(buf.capacity(), 0);
        }
        // A partial op keeps its bytes (and so its buffer) across the wait.
        client.write_all(b"PUB a 5\r\nhe").await.unwrap();
        buf.read_from(&mut rd).await.unwrap();
        assert_eq!(&buf.bytes()[..], b"PUB a 5\r\nhe");
        client.write_all(b"llo\r\n").await.unwrap();
        buf.read_from(&mut rd).await.unwrap();
        assert_eq!(&buf.bytes()[..], b"PUB a 5\r\nhello\r\n");
        // The end of the stream reads as 0, as through `AsyncRead`.
        buf.bytes().clear();
        drop(client);
        assert_eq!(buf.read_from(&mut rd).await.unwrap(), 0);
    }

    /// A TCP read half that counts the reads that found nothing: a read
    /// tokio let through because the socket was marked readable, which
    /// came back `Pending` (a `recvfrom` that returned `EAGAIN`).
    struct CountingTcp {
        rd: OwnedReadHalf,
        empty_reads: usize,
    }

    impl AsyncRead for CountingTcp {
        fn poll_read(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            out: &mut IoBuf<'_>,
        ) -> Poll<std::io::Result<()>> {
            let marked_readable = self.rd.as_ref().poll_read_ready(cx).is_ready();
            let polled = Pin::new(&mut self.rd).poll_read(cx, out);
            if marked_readable && polled.is_pending() {
                self.empty_reads += 1;
            }
            polled
        }
    }

    impl Source for CountingTcp {
        const WAITS_UNBUFFERED: bool = true;

        fn poll_readable(&self, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            self.rd.as_ref().poll_read_ready(cx)
        }
    }

    /// Requests that arrive one at a time on a quiet connection cost one
    /// read each: the short read that took a request has shown the socket
    /// drained, so the wait for the next one does not read again first.
    #[tokio::test]
    async fn a_quiet_connection_reads_each_request_once() {
        use tokio::io::AsyncWriteExt;
        let (mut client, server) = loopback_pair().await;
        let (rd, _wr) = server.into_split();
        let mut rd = CountingTcp { rd, empty_reads: 0 };
        let mut buf = ReadBuf::new();
        let mut cx = Context::from_waker(std::task::Waker::noop());
        for _ in 0..20 {
            client.write_all(b"PING\r\n").await.unwrap();
            assert_eq!(buf.read_from(&mut rd).await.unwrap(), 6);
            buf.bytes().clear();
            // Waiting between requests: nothing held, nothing read.
            assert!(buf.poll_read_unbuffered(&mut rd, &mut cx).is_pending());
            assert_eq!(buf.capacity(), 0);
        }
        assert_eq!(rd.empty_reads, 0, "reads that found the socket drained");
        // Still a correct stream: a burst and the end arrive.
        client.write_all(&[b'x'; 3000]).await.unwrap();
        drop(client);
        let mut got = 0;
        loop {
            let n = buf.read_from(&mut rd).await.unwrap();
            if n == 0 {
                break;
            }
            got += n;
            buf.bytes().clear();
        }
        assert_eq!(got, 3000);
    }

    /// Parses everything `rd` delivers through a [`ReadBuf`], as the read
    /// loops do; returns the payloads published.
    async fn parse_all(rd: &mut Script, buf: &mut ReadBuf) -> Vec<Bytes> {
        let mut parser = Parser::new(
            Role::Client,
            Limits {
                max_payload: 8 << 20,
                ..Limits::default()
            },
        );
        let mut payloads = Vec::new();
        while !rd.0.is_empty() {
            let n = buf.read_from(rd).await.unwrap();
            assert!(n > 0);
            while let Some(frame) = parser.next(buf.bytes()).unwrap() {
                let bytes = buf.bytes().split_to(frame.len).freeze();
                if let Op::Pub { payload, .. } = frame.op {
                    payloads.push(bytes.slice(payload.range()));
                }
            }
        }
        assert!(buf.bytes().is_empty(), "no partial op left");
        payloads
    }

    #[tokio::test]
    async fn a_frame_split_at_any_byte_arrives_whole() {
        let wire = b"PUB foo.bar reply 11\r\nhello world\r\nPING\r\nPUB x 0\r\n\r\n".to_vec();
        for cut in 1..wire.len() {
            let mut buf = ReadBuf::new();
            let mut rd = script([wire[..cut].to_vec(), wire[cut..].to_vec()]);
            let payloads = parse_all(&mut rd, &mut buf).await;
            assert_eq!(payloads, [&b"hello world"[..], b""], "cut at {cut}");
        }
    }

    #[tokio::test]
    async fn a_one_mib_payload_in_odd_pieces_grows_the_buffer_then_it_shrinks() {
        let payload: Vec<u8> = (0..1 << 20).map(|i| (i % 251) as u8).collect();
        let mut wire = format!("PUB big {}\r\n", payload.len()).into_bytes();
        wire.extend_from_slice(&payload);
        wire.extend_from_slice(b"\r\n");
        // Pieces of awkward sizes, cutting the header and the final CR LF.
        let mut chunks = Vec::new();
        let mut rest = &wire[..];
        for size in [3usize, 7, 1000, 70_000, 4097].iter().cycle() {
            if rest.is_empty() {
                break;
            }
            let n = (*size).min(rest.len());
            chunks.push(rest[..n].to_vec());
            rest = &rest[n..];
        }
        let last = chunks.pop().unwrap();
        let (a, b) = last.split_at(last.len() - 1);
        chunks.extend([a.to_vec(), b.to_vec()]);
        let mut buf = ReadBuf::new();
        let mut rd = script(chunks);
        let payloads = parse_all(&mut rd, &mut buf).await;
        assert_eq!(payloads.len(), 1);
        assert_eq!(&payloads[0][..], &payload[..]);
        assert!(buf.read_size() <= READ_BUF_MAX);
        drop(payloads);
        // Then the connection goes quiet: the buffer follows it down (three
        // short reads per halving, seven halvings from the maximum).
        let mut rd = script((0..21).map(|_| b"PING\r\n".to_vec()));
        parse_all(&mut rd, &mut buf).await;
        buf.prepare();
        assert_eq!(buf.read_size(), READ_BUF_MIN);
        assert_eq!(buf.capacity(), READ_BUF_MIN);
    }
}
