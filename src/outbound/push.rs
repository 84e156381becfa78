//! Appending to the pending buffer: `MSG`/`HMSG` for a subscription,
//! `RMSG` for a route, and the server's own protocol bytes. Small payloads
//! are copied next to their control line; a large one is queued as a clone
//! of the publisher's shared `Bytes`. Over `max_pending` the append is
//! refused ([`Push::SlowConsumer`]) and the caller cuts the connection.
//!
//! **Must never:** allocate per message beyond the buffer's growth, queue
//! part of a message, or count protocol bytes against `max_pending`.

use bytes::BytesMut;

use super::{Message, Outbound, Push, State, INITIAL_CAPACITY, SHARE_THRESHOLD};

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

impl Outbound {
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

    /// Appends an `RMSG`/`HMSG` for a route in `account`, naming the queue
    /// groups whose member was picked on the peer (`docs/protocol.md#routed-messages`).
    pub fn push_rmsg(&self, account: &str, msg: &Message<'_>, queues: &[&str]) -> Push {
        let qlen: usize = queues.iter().map(|q| q.len() + 1).sum();
        let line_len = 6
            + account.len()
            + msg.subject.len()
            + msg.reply.map_or(2, |r| r.len() + 3)
            + qlen
            + 24;
        self.push_with_line(msg, true, line_len, |buf, body| {
            buf.extend_from_slice(if msg.header_len.is_some() {
                b"HMSG "
            } else {
                b"RMSG "
            });
            buf.extend_from_slice(account.as_bytes());
            buf.extend_from_slice(b" ");
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

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;

    use bytes::Bytes;

    use super::super::test_support::{drain, msg};
    use super::super::writer::Taken;
    use super::*;

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
        out.push_rmsg("$G", &msg(b"foo", None, b"hi"), &[]);
        out.push_rmsg("$G", &msg(b"foo", Some(b"r"), b"hi"), &[]);
        out.push_rmsg("$G", &msg(b"foo", Some(b"r"), b"hi"), &["q1", "q2"]);
        out.push_rmsg("$G", &msg(b"foo", None, b"hi"), &["q1"]);
        let h = Message {
            header_len: Some(12),
            ..msg(b"a", None, b"NATS/1.0\r\n\r\nhi")
        };
        out.push_rmsg("$G", &h, &["g"]);
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
}
