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
//! Files: `push.rs` appends (`MSG`/`RMSG`/protocol bytes, the
//! `max_pending` limit), `flush.rs` settles a publisher's wake-up
//! ([`Outbound::flush_or_wake`]) and paces it ([`Outbound::stall`]),
//! `writer.rs` is the writer ([`write_loop`]). This file holds the buffer's
//! state and its memory policy.
//!
//! **Must never:** block a publisher on a socket, hold the mutex across an
//! await, or reorder bytes queued by one publisher.

pub mod flush;
pub mod push;
pub mod writer;

pub use writer::{write_loop, SharedTcpWriter, WriterEnd};

use std::collections::VecDeque;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use parking_lot::Mutex;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::Notify;

/// Payloads at least this large are shared (`Bytes` clone) instead of copied.
pub const SHARE_THRESHOLD: usize = 16 * 1024;
/// Capacity a drained (unallocated) outbound buffer gets on its next append.
pub const INITIAL_CAPACITY: usize = 4 * 1024;
/// Small batches in a row after which a drained buffer is freed.
pub const SMALL_TO_FREE: u8 = 2;

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

    /// Bytes of memory the buffer holds (capacity of the tail and of the
    /// chunk queue), for tests and diagnostics.
    pub fn held(&self) -> usize {
        let st = self.state.lock();
        st.buf.capacity() + st.chunks.capacity() * std::mem::size_of::<Bytes>()
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

#[cfg(test)]
mod tests {
    use super::test_support::{drain, msg};
    use super::*;

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

/// Helpers shared by the tests of this module's files.
#[cfg(test)]
mod test_support {
    use super::writer::Taken;
    use super::*;

    pub(super) fn msg<'a>(
        subject: &'a [u8],
        reply: Option<&'a [u8]>,
        payload: &'a [u8],
    ) -> Message<'a> {
        Message {
            subject,
            reply,
            header_len: None,
            payload,
            shared: None,
        }
    }

    pub(super) fn drain(out: &Outbound) -> Vec<u8> {
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

    /// Where the next append will land, and the room from there.
    pub(super) fn tail(out: &Outbound) -> (*const u8, usize) {
        let st = out.state.lock();
        (st.buf.as_ptr(), st.buf.capacity())
    }
}
