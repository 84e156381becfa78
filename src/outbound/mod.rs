//! A connection's outbound side: the pending-bytes buffer that publishers
//! append to, and the writer that drains it to the socket (a future in the
//! client's one task, beside its reader; a task of its own for a route).
//!
//! **Why this shape.** Publishers run on *their own* connection tasks and
//! never wait on a subscriber's socket: delivering a message is appending to
//! the subscriber's buffer under a short mutex, and at the end of its read
//! batch the publisher either writes that buffer to the socket itself, when
//! the writer is idle and the socket takes it without blocking
//! ([`Outbound::flush_or_wake`]), or wakes the writer. Small payloads are
//! copied next to their `MSG` line so that thousands of messages leave in
//! one `write`; a large payload is not copied at all — the buffer holds a
//! clone of the `Bytes` split off the publisher's read buffer, shared by
//! every delivery, and the writer sends the pieces with one vectored write.
//! A publisher wakes each writer at most once per read batch (the `wake`
//! flag), not once per message.
//!
//! **Limits (nats-server's slow-consumer rules).** More than `max_pending`
//! bytes queued, or one write blocked longer than `write_deadline`, and the
//! connection is cut: its pending data is dropped, never half-sent, and the
//! publisher carries on at full speed. A publisher may *stall* briefly (bounded)
//! when a subscriber is more than 3/4 full, to let a merely slower consumer
//! catch up, as nats-server does.
//!
//! **Memory.** An idle connection holds no outbound memory: when the buffer
//! is drained (by the writer or a publisher's direct write) after
//! [`SMALL_TO_FREE`] small batches in a row (under [`INITIAL_CAPACITY`]: an
//! `INFO`, a `PONG`, a reply) it is given back, and the next append
//! allocates [`INITIAL_CAPACITY`] again. A busy connection keeps its buffer,
//! which is reused without copying once the write is done with it (freeing
//! it on every drain makes a busy connection regrow it by doubling, and
//! copying, over and over), and
//! each batch starts again at its front, in memory that is still cached.
//! The writer's own state stays small (no slice array kept across an await).
//!
//! **Must never:** block a publisher on a socket, hold the mutex across an
//! await, or reorder bytes queued by one publisher.

use std::collections::VecDeque;
use std::future::Future;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use parking_lot::Mutex;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::Notify;

/// Payloads at least this large are shared (`Bytes` clone) instead of copied.
pub const SHARE_THRESHOLD: usize = 16 * 1024;
/// Capacity a drained (unallocated) outbound buffer gets on its next append.
pub const INITIAL_CAPACITY: usize = 4 * 1024;
/// Small batches in a row after which a drained buffer is freed.
pub const SMALL_TO_FREE: u8 = 2;
/// Most slices handed to one vectored write.
const MAX_IOVECS: usize = 64;

/// What happened to an append.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Push {
    /// Queued. `wake` is true for the first append since the writer last
    /// took the buffer: the caller owes one [`Outbound::wake`].
    Queued { wake: bool, stall: bool },
    /// Over `max_pending`: the caller must close this connection as a slow
    /// consumer. Nothing was queued.
    SlowConsumer,
    /// The connection is closing; nothing was queued.
    Closed,
}

/// One message to deliver, borrowed from the publisher's read buffer.
#[derive(Clone, Copy, Debug)]
pub struct Message<'a> {
    pub subject: &'a [u8],
    pub reply: Option<&'a [u8]>,
    /// Length of the header block at the start of `payload` (HPUB/HMSG).
    pub header_len: Option<usize>,
    /// Headers and body.
    pub payload: &'a [u8],
    /// The same payload as shared bytes, when the reader split it off.
    pub shared: Option<&'a Bytes>,
}

impl Message<'_> {
    /// Bytes of the body the subscriber receives.
    #[inline]
    fn delivered_payload(&self, headers: bool) -> (usize, usize) {
        match (self.header_len, headers) {
            (Some(h), false) => (h, self.payload.len()),
            _ => (0, self.payload.len()),
        }
    }
}

struct State {
    /// Somebody (the writer task, or a publisher in [`Outbound::flush_or_wake`])
    /// has taken data and is writing it: nobody else may write until it
    /// clears this, so bytes never interleave on the socket.
    writing: bool,
    /// The plain TCP socket, for publishers to write to directly.
    direct: Option<Arc<OwnedWriteHalf>>,
    /// The tail being appended to.
    buf: BytesMut,
    /// Completed segments and shared payloads, in order, before `buf`.
    chunks: VecDeque<Bytes>,
    /// Bytes queued and not yet written (in-flight included).
    pending: usize,
    /// A wake-up is owed or already sent since the writer last took data.
    woken: bool,
    /// No more appends: `Some(flush)` — drain what is queued first if `flush`.
    closing: Option<bool>,
    /// Messages and bytes delivered to this connection (for /varz, /connz).
    out_msgs: u64,
    out_bytes: u64,
    /// Small batches (under [`INITIAL_CAPACITY`]) taken in a row.
    small_batches: u8,
}

/// A connection's outbound buffer. Shared by the connection's tasks and by
/// every publisher that delivers to it.
pub struct Outbound {
    state: Mutex<State>,
    wake: Notify,
    drained: Notify,
    max_pending: usize,
}

/// Counters read by monitoring.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OutStats {
    pub pending: usize,
    pub out_msgs: u64,
    pub out_bytes: u64,
}

impl Outbound {
    pub fn new(max_pending: usize) -> Self {
        Self {
            state: Mutex::new(State {
                writing: false,
                direct: None,
                buf: BytesMut::new(),
                chunks: VecDeque::new(),
                pending: 0,
                woken: false,
                closing: None,
                out_msgs: 0,
                out_bytes: 0,
                small_batches: 0,
            }),
            wake: Notify::new(),
            drained: Notify::new(),
            max_pending,
        }
    }

    /// Appends a `MSG`/`HMSG` for subscription `sid`. `headers` says whether
    /// this connection understands headers (else they are stripped).
    #[inline]
    pub fn push_msg(&self, sid: &[u8], msg: &Message<'_>, headers: bool) -> Push {
        let hdr = msg.header_len.filter(|_| headers);
        let line_len =
            5 + msg.subject.len() + 1 + sid.len() + msg.reply.map_or(0, |r| r.len() + 1) + 24;
        self.push_with_line(msg, headers, line_len, |buf, body| {
            buf.extend_from_slice(if hdr.is_some() { b"HMSG " } else { b"MSG " });
            buf.extend_from_slice(msg.subject);
            buf.extend_from_slice(b" ");
            buf.extend_from_slice(sid);
            if let Some(reply) = msg.reply {
                buf.extend_from_slice(b" ");
                buf.extend_from_slice(reply);
            }
            put_sizes(buf, hdr, body);
        })
    }

    /// Appends an `RMSG`/`HMSG` for a route (account `$G`), naming the queue
    /// groups whose member was picked on the peer (`docs/protocol.md#routed-messages`).
    pub fn push_rmsg(&self, msg: &Message<'_>, queues: &[&str]) -> Push {
        let qlen: usize = queues.iter().map(|q| q.len() + 1).sum();
        let line_len = 8 + msg.subject.len() + msg.reply.map_or(2, |r| r.len() + 3) + qlen + 24;
        self.push_with_line(msg, true, line_len, |buf, body| {
            buf.extend_from_slice(if msg.header_len.is_some() {
                b"HMSG $G "
            } else {
                b"RMSG $G "
            });
            buf.extend_from_slice(msg.subject);
            match (msg.reply, queues.is_empty()) {
                (Some(reply), true) => {
                    buf.extend_from_slice(b" ");
                    buf.extend_from_slice(reply);
                }
                (Some(reply), false) => {
                    buf.extend_from_slice(b" + ");
                    buf.extend_from_slice(reply);
                }
                (None, false) => buf.extend_from_slice(b" |"),
                (None, true) => {}
            }
            for q in queues {
                buf.extend_from_slice(b" ");
                buf.extend_from_slice(q.as_bytes());
            }
            put_sizes(buf, msg.header_len, body);
        })
    }

    /// The common part of `push_msg` and `push_rmsg`: limits, the control
    /// line written by `line`, then the payload (copied or shared).
    #[inline]
    fn push_with_line(
        &self,
        msg: &Message<'_>,
        headers: bool,
        line_len: usize,
        line: impl FnOnce(&mut BytesMut, usize),
    ) -> Push {
        let (skip, end) = msg.delivered_payload(headers);
        let body = end - skip;
        let mut st = self.state.lock();
        if st.closing.is_some() {
            return Push::Closed;
        }
        if st.pending + line_len + body + 2 > self.max_pending {
            return Push::SlowConsumer;
        }
        let start = st.buf.len();
        let share = msg.shared.filter(|_| body >= SHARE_THRESHOLD);
        make_room(
            &mut st.buf,
            line_len + if share.is_some() { 2 } else { body + 2 },
        );
        line(&mut st.buf, body);
        let added = st.buf.len() - start + body + 2;
        match share {
            Some(shared) => {
                let head = st.buf.split().freeze();
                st.chunks.push_back(head);
                st.chunks.push_back(shared.slice(skip..end));
            }
            None => st.buf.extend_from_slice(&msg.payload[skip..end]),
        }
        st.buf.extend_from_slice(b"\r\n");
        st.pending += added;
        st.out_msgs += 1;
        st.out_bytes += body as u64;
        self.queued(st)
    }

    /// Appends protocol bytes (`PONG`, `+OK`, `-ERR`, `INFO`, route ops).
    /// Never counts as a slow consumer: the server's own replies are small.
    pub fn push_proto(&self, bytes: &[u8]) -> Push {
        let mut st = self.state.lock();
        if st.closing.is_some() {
            return Push::Closed;
        }
        make_room(&mut st.buf, bytes.len());
        st.buf.extend_from_slice(bytes);
        st.pending += bytes.len();
        self.queued(st)
    }

    #[inline]
    fn queued(&self, mut st: parking_lot::MutexGuard<'_, State>) -> Push {
        let wake = !st.woken;
        st.woken = true;
        let stall = st.pending > self.max_pending / 4 * 3;
        Push::Queued { wake, stall }
    }

    /// Wakes the writer (owed after a `Queued { wake: true }`).
    #[inline]
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Lets publishers write to `socket` directly (plain TCP only; a TLS
    /// stream has one owner, its writer task).
    pub fn set_direct(&self, socket: Arc<OwnedWriteHalf>) {
        self.state.lock().direct = Some(socket);
    }

    /// Settles the wake-up a [`Push::Queued`] said is owed: when nobody is
    /// writing, sends what is queued right away from the caller's task with
    /// one non-blocking write (nats-server's `flushClients`), which saves the
    /// writer task's wake-up and a trip through the scheduler per batch;
    /// anything it could not send (a full socket, shared payloads, TLS) is
    /// left to the writer task, woken here.
    pub fn flush_or_wake(&self) {
        let mut st = self.state.lock();
        let direct = match &st.direct {
            Some(d) if !st.writing && st.closing.is_none() && st.chunks.is_empty() => d.clone(),
            _ => {
                drop(st);
                return self.wake();
            }
        };
        if st.buf.is_empty() {
            return;
        }
        st.note_batch();
        let data = st.buf.split().freeze();
        st.writing = true;
        st.woken = false;
        drop(st);
        // On an error nothing is written; the writer task meets it itself.
        let written = direct
            .as_ref()
            .as_ref()
            .try_write(&data)
            .unwrap_or_default();
        // Let go of the batch before the rewind below.
        let rest = (written < data.len()).then(|| data.slice(written..));
        drop(data);
        let mut st = self.state.lock();
        st.writing = false;
        st.pending = st.pending.saturating_sub(written);
        match rest {
            Some(rest) if st.closing != Some(false) => st.chunks.push_front(rest),
            Some(_) => {}
            None => st.rewind(),
        }
        let more = !st.chunks.is_empty() || !st.buf.is_empty() || st.closing.is_some();
        if more {
            st.woken = true;
        }
        let idle = if more {
            BytesMut::new()
        } else {
            st.idle_buf(false)
        };
        drop(st);
        drop(idle);
        if more {
            self.wake();
        }
        if written > 0 {
            self.drained.notify_waiters();
        }
    }

    /// Waits until the writer has drained some data, at most `max`. Used by
    /// a publisher that found this connection more than 3/4 full.
    pub async fn stall(&self, max: Duration) {
        let drained = self.drained.notified();
        if self.state.lock().pending <= self.max_pending / 2 {
            return;
        }
        let _ = tokio::time::timeout(max, drained).await;
    }

    /// Stops accepting data. With `flush`, the writer first sends what is
    /// queued (so an `-ERR` reaches the peer); without, it is dropped (slow
    /// consumers, shutdown of a stuck peer).
    pub fn close(&self, flush: bool) {
        let mut st = self.state.lock();
        if st.closing.is_none() {
            st.closing = Some(flush);
        }
        // From now on only the writer task writes; when it ends, its handle is
        // the last and the socket is shut down then, not when this buffer
        // is dropped.
        st.direct = None;
        if !flush {
            st.closing = Some(false);
            st.chunks = VecDeque::new();
            st.buf = BytesMut::new();
            st.pending = 0;
        }
        drop(st);
        self.wake.notify_one();
        self.drained.notify_waiters();
    }

    /// The pending-bytes limit of this connection.
    pub fn max_pending(&self) -> usize {
        self.max_pending
    }

    pub fn stats(&self) -> OutStats {
        let st = self.state.lock();
        OutStats {
            pending: st.pending,
            out_msgs: st.out_msgs,
            out_bytes: st.out_bytes,
        }
    }

    /// Writer side: takes everything queued, as one chunk or (with shared
    /// payloads) as chunks moved into `into`. When nothing is queued the
    /// buffer's memory is given back (freed after the lock is released).
    fn take(&self, into: &mut VecDeque<Bytes>) -> Taken {
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

    /// Bytes of memory the buffer holds (capacity of the tail and of the
    /// chunk queue), for tests and diagnostics.
    pub fn held(&self) -> usize {
        let st = self.state.lock();
        st.buf.capacity() + st.chunks.capacity() * std::mem::size_of::<Bytes>()
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

impl State {
    /// Moves an empty tail back to the front of its allocation once no
    /// write holds any of it (the caller has dropped the batch it sent).
    ///
    /// Otherwise every batch is appended where the previous one ended: a
    /// busy connection walks through its whole allocation, writing to memory
    /// that has left the cache, and a batch that reaches the end is copied
    /// back to the front by [`make_room`] (or grows the buffer). Starting
    /// each batch at the front keeps delivery in the same, warm bytes.
    /// Never allocates: a buffer still shared, or already at its front,
    /// stays as it is.
    fn rewind(&mut self) {
        if self.buf.is_empty() {
            let whole = self.buf.capacity() + 1;
            // `false` when it is still shared or already at its front.
            let _ = self.buf.try_reclaim(whole);
        }
    }

    /// Counts a batch about to be taken from `buf` as small or not.
    #[inline]
    fn note_batch(&mut self) {
        if !self.buf.is_empty() {
            self.small_batches = if self.buf.len() < INITIAL_CAPACITY {
                self.small_batches.saturating_add(1)
            } else {
                0
            };
        }
    }

    /// The drained buffer, taken out to be freed (after the lock is
    /// released) when the connection looks idle — [`SMALL_TO_FREE`] small
    /// batches in a row — or `anyway`; else an empty placeholder and the
    /// buffer stays for reuse.
    fn idle_buf(&mut self, anyway: bool) -> BytesMut {
        if anyway || self.small_batches >= SMALL_TO_FREE {
            std::mem::take(&mut self.buf)
        } else {
            BytesMut::new()
        }
    }
}

enum Taken {
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

/// Makes room for `n` more bytes; an unallocated (drained) buffer gets at
/// least [`INITIAL_CAPACITY`].
#[inline]
fn make_room(buf: &mut BytesMut, n: usize) {
    if buf.capacity() - buf.len() < n {
        buf.reserve(n.max(INITIAL_CAPACITY));
    }
}

/// ` [<hdr>] <size>\r\n`: the sizes closing a MSG/HMSG/RMSG line.
#[inline]
fn put_sizes(buf: &mut BytesMut, hdr: Option<usize>, body: usize) {
    let mut num = itoa::Buffer::new();
    if let Some(h) = hdr {
        buf.extend_from_slice(b" ");
        buf.extend_from_slice(num.format(h).as_bytes());
    }
    buf.extend_from_slice(b" ");
    buf.extend_from_slice(num.format(body).as_bytes());
    buf.extend_from_slice(b"\r\n");
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
    use super::*;

    fn msg<'a>(subject: &'a [u8], reply: Option<&'a [u8]>, payload: &'a [u8]) -> Message<'a> {
        Message {
            subject,
            reply,
            header_len: None,
            payload,
            shared: None,
        }
    }

    fn drain(out: &Outbound) -> Vec<u8> {
        let mut q = VecDeque::new();
        let mut all = Vec::new();
        loop {
            match out.take(&mut q) {
                Taken::One(b) => all.extend_from_slice(&b),
                Taken::Many => {
                    for b in q.drain(..) {
                        all.extend_from_slice(&b);
                    }
                }
                Taken::Empty | Taken::Stop => return all,
            }
            // As if the writer were still sending it: `pending` keeps
            // counting it, but the next take may proceed.
            out.state.lock().writing = false;
        }
    }

    #[test]
    fn formats_msg_and_hmsg() {
        let out = Outbound::new(1 << 20);
        assert_eq!(
            out.push_msg(b"1", &msg(b"foo", None, b"hello"), true),
            Push::Queued {
                wake: true,
                stall: false
            }
        );
        assert_eq!(
            out.push_msg(b"22", &msg(b"foo", Some(b"r.1"), b""), true),
            Push::Queued {
                wake: false,
                stall: false
            }
        );
        let h = Message {
            header_len: Some(12),
            ..msg(b"a.b", None, b"NATS/1.0\r\n\r\nhi")
        };
        out.push_msg(b"3", &h, true);
        out.push_msg(b"4", &h, false);
        let wire = drain(&out);
        assert_eq!(
            wire,
            b"MSG foo 1 5\r\nhello\r\nMSG foo 22 r.1 0\r\n\r\nHMSG a.b 3 12 14\r\nNATS/1.0\r\n\r\nhi\r\nMSG a.b 4 2\r\nhi\r\n"
        );
        let s = out.stats();
        assert_eq!(s.out_msgs, 4);
        assert_eq!(
            s.pending,
            wire.len(),
            "pending counts until the writer reports it written"
        );
    }

    #[test]
    fn formats_rmsg() {
        let out = Outbound::new(1 << 20);
        out.push_rmsg(&msg(b"foo", None, b"hi"), &[]);
        out.push_rmsg(&msg(b"foo", Some(b"r"), b"hi"), &[]);
        out.push_rmsg(&msg(b"foo", Some(b"r"), b"hi"), &["q1", "q2"]);
        out.push_rmsg(&msg(b"foo", None, b"hi"), &["q1"]);
        let h = Message {
            header_len: Some(12),
            ..msg(b"a", None, b"NATS/1.0\r\n\r\nhi")
        };
        out.push_rmsg(&h, &["g"]);
        assert_eq!(
            String::from_utf8(drain(&out)).unwrap(),
            "RMSG $G foo 2\r\nhi\r\nRMSG $G foo r 2\r\nhi\r\nRMSG $G foo + r q1 q2 2\r\nhi\r\n\
             RMSG $G foo | q1 2\r\nhi\r\nHMSG $G a | g 12 14\r\nNATS/1.0\r\n\r\nhi\r\n"
        );
    }

    #[test]
    fn shares_large_payloads() {
        let out = Outbound::new(1 << 24);
        let big = Bytes::from(vec![b'x'; SHARE_THRESHOLD]);
        let m = Message {
            shared: Some(&big),
            ..msg(b"big", None, &big)
        };
        out.push_msg(b"1", &m, true);
        out.push_msg(b"2", &m, true);
        let mut q = VecDeque::new();
        assert!(matches!(out.take(&mut q), Taken::Many));
        let shared = q.iter().filter(|b| b.as_ptr() == big.as_ptr()).count();
        assert_eq!(shared, 2, "payload not copied");
        let bytes: Vec<u8> = q.iter().flat_map(|b| b.iter().copied()).collect();
        assert!(bytes.starts_with(b"MSG big 1 16384\r\nxxx"));
        assert_eq!(bytes.len(), 2 * (17 + SHARE_THRESHOLD + 2));
    }

    #[test]
    fn slow_consumer_over_max_pending() {
        let out = Outbound::new(100);
        assert!(matches!(
            out.push_msg(b"1", &msg(b"foo", None, &[0; 40]), true),
            Push::Queued { .. }
        ));
        assert_eq!(
            out.push_msg(b"1", &msg(b"foo", None, &[0; 60]), true),
            Push::SlowConsumer
        );
        out.close(false);
        assert_eq!(out.push_proto(b"PONG\r\n"), Push::Closed);
        assert_eq!(out.stats().pending, 0, "pending data dropped");
    }

    /// Publishers on several threads write directly while the writer task
    /// also drains (a small socket buffer makes both paths busy): every
    /// message arrives, whole, and each publisher's messages in order.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn direct_writes_and_the_writer_never_interleave() {
        use tokio::io::AsyncReadExt;
        let (mut reader, server_side) = crate::conn::loopback_pair().await;
        socket2::SockRef::from(&server_side)
            .set_send_buffer_size(4096)
            .unwrap();

        let out = Arc::new(Outbound::new(64 << 20));
        let (_rd, wr) = server_side.into_split();
        let wr = Arc::new(wr);
        out.set_direct(wr.clone());
        let writer = {
            let out = out.clone();
            tokio::spawn(async move {
                write_loop(&out, SharedTcpWriter(wr), Duration::from_secs(10)).await
            })
        };
        const PUBLISHERS: usize = 4;
        const EACH: usize = 20_000;
        let publishers: Vec<_> = (0..PUBLISHERS)
            .map(|p| {
                let out = out.clone();
                std::thread::spawn(move || {
                    for i in 0..EACH {
                        let payload = format!("{p}:{i}");
                        let subject = format!("p{p}");
                        let pushed = out.push_msg(
                            b"1",
                            &msg(subject.as_bytes(), None, payload.as_bytes()),
                            true,
                        );
                        if let Push::Queued { wake: true, .. } = pushed {
                            out.flush_or_wake();
                        }
                    }
                })
            })
            .collect();

        let mut wire = Vec::new();
        let mut next = [0usize; PUBLISHERS];
        let mut buf = vec![0u8; 64 * 1024];
        while next.iter().sum::<usize>() < PUBLISHERS * EACH {
            let n = tokio::time::timeout(Duration::from_secs(20), reader.read(&mut buf))
                .await
                .expect("messages keep coming")
                .unwrap();
            assert!(n > 0, "socket closed early");
            wire.extend_from_slice(&buf[..n]);
            // Consume whole `MSG pP 1 len\r\nP:I\r\n` frames.
            while let Some(eol) = wire.windows(2).position(|w| w == b"\r\n") {
                let line = std::str::from_utf8(&wire[..eol]).unwrap().to_string();
                let len: usize = line.rsplit(' ').next().unwrap().parse().unwrap();
                if wire.len() < eol + 2 + len + 2 {
                    break;
                }
                let body = std::str::from_utf8(&wire[eol + 2..eol + 2 + len]).unwrap();
                let (p, i) = body.split_once(':').unwrap();
                let (p, i): (usize, usize) = (p.parse().unwrap(), i.parse().unwrap());
                assert_eq!(line, format!("MSG p{p} 1 {len}"), "header matches its body");
                assert_eq!(i, next[p], "publisher {p}'s messages arrive in order");
                assert_eq!(&wire[eol + 2 + len..eol + 4 + len], b"\r\n");
                next[p] += 1;
                wire.drain(..eol + 4 + len);
            }
        }
        for p in publishers {
            p.join().unwrap();
        }
        assert!(wire.is_empty());
        assert_eq!(out.stats().pending, 0, "every byte written is accounted");
        out.close(true);
        assert!(matches!(writer.await.unwrap(), WriterEnd::Closed));
        assert_eq!(
            reader.read(&mut buf).await.unwrap(),
            0,
            "the socket is shut down once the writer ends"
        );
    }

    #[test]
    fn holds_memory_only_while_data_is_queued() {
        let out = Outbound::new(1 << 20);
        assert_eq!(out.held(), 0, "nothing allocated before the first append");
        out.push_proto(b"INFO {}\r\n");
        assert!(out.held() >= INITIAL_CAPACITY);
        assert_eq!(drain(&out), b"INFO {}\r\n");
        out.push_proto(b"PONG\r\n");
        assert_eq!(drain(&out), b"PONG\r\n");
        assert_eq!(
            out.held(),
            0,
            "drained after small batches: memory given back"
        );
        // A shared payload goes through the chunk queue; that too is freed.
        let big = Bytes::from(vec![b'x'; SHARE_THRESHOLD]);
        let m = Message {
            shared: Some(&big),
            ..msg(b"big", None, &big)
        };
        out.push_msg(b"1", &m, true);
        out.push_proto(b"PING\r\n");
        assert_eq!(drain(&out).len(), 17 + SHARE_THRESHOLD + 2 + 6);
        assert_eq!(out.held(), 0);
        // Appends after a drain still land in order.
        out.push_msg(b"2", &msg(b"a", None, b"x"), true);
        out.push_proto(b"PING\r\n");
        assert_eq!(drain(&out), b"MSG a 2 1\r\nx\r\nPING\r\n");
    }

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

    /// Where the next append will land, and the room from there.
    fn tail(out: &Outbound) -> (*const u8, usize) {
        let st = out.state.lock();
        (st.buf.as_ptr(), st.buf.capacity())
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

    #[test]
    fn a_busy_connection_keeps_its_buffer_an_idle_one_gives_it_back() {
        let out = Outbound::new(1 << 24);
        let body = [b'z'; 1000];
        for _ in 0..100 {
            out.push_msg(b"1", &msg(b"s", None, &body), true);
        }
        let batch = drain(&out).len();
        assert!(out.held() > 0, "kept after a batch of {batch} bytes");
        // Reused in place once the writer is done with it.
        let held = out.held();
        out.push_proto(b"PING\r\n");
        assert_eq!(drain(&out), b"PING\r\n");
        assert!(out.held() > 0, "one small batch is a lull, not idleness");
        out.push_proto(b"PING\r\n");
        assert_eq!(drain(&out), b"PING\r\n");
        assert_eq!(out.held(), 0, "given back after two small batches");
        assert!(held >= INITIAL_CAPACITY);
    }
}
