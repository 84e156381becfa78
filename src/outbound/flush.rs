//! The publisher's side of draining: [`Outbound::flush_or_wake`] settles
//! the wake-up an append said is owed, writing straight to the socket when
//! nobody else is (nats-server's `flushClients`), and [`Outbound::stall`]
//! lets a publisher wait, bounded, for a subscriber more than 3/4 full.
//!
//! **Must never:** block on the socket (one non-blocking write at most),
//! write while the writer task is writing, or stall a publisher unbounded.

use std::time::Duration;

use bytes::BytesMut;

use super::Outbound;

impl Outbound {
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
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::super::test_support::msg;
    use super::super::{write_loop, Outbound, Push, SharedTcpWriter, WriterEnd};

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
}
