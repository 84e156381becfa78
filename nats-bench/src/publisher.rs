//! The pipelined publisher: one connection writing pre-encoded `PUB` frames as fast as the
//! socket takes them.
//!
//! **What it owns.** The write loop and its exact end. A [`Source`] hands out large slices of
//! ready-made frames ([`Repeat`] builds one buffer of many identical frames once and hands out
//! the same bytes every time), the loop writes them until the [`Bound`] is reached, then sends
//! `PING` and waits for the `PONG`: at that moment the server has processed every message, so
//! the count is exact and the elapsed time covers the server's work, not just our writes. A
//! reader task answers the server's `PING`s and reports `-ERR` or a closed socket.
//!
//! **What it must never do.** Encode per message on the hot path (sources may encode ahead, in
//! bulk), wait for anything per write, or stop without the final `PONG` (a run that cannot
//! confirm its count fails).

use crate::conn::{Conn, Event};
use crate::error::{Error, Result};
use crate::scenario::{Bound, Options};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// Hands out ready-made `PUB` frames in bulk.
pub trait Source: Send {
    /// Up to `max` (at least 1) whole frames, and how many there are (at least 1).
    fn next(&mut self, max: u64) -> (&[u8], u64);
}

/// One buffer of identical frames, written again and again.
#[derive(Debug, Clone)]
pub struct Repeat {
    buf: Vec<u8>,
    frame_len: usize,
    frames: u64,
}

impl Repeat {
    /// Frames `PUB <subject> [reply] <size>` with a filler payload, as many as fit in
    /// `batch_bytes` (at least one).
    pub fn new(subject: &str, reply: Option<&str>, size: usize, batch_bytes: usize) -> Repeat {
        let payload = filler(size);
        let mut one = Vec::new();
        crate::conn::encode_pub(
            &mut one,
            subject.as_bytes(),
            reply.map(str::as_bytes),
            &payload,
        );
        let frames = (batch_bytes / one.len()).max(1);
        Repeat {
            buf: one.repeat(frames),
            frame_len: one.len(),
            frames: frames as u64,
        }
    }

    /// Bytes of one frame.
    pub fn frame_len(&self) -> usize {
        self.frame_len
    }
}

impl Source for Repeat {
    fn next(&mut self, max: u64) -> (&[u8], u64) {
        let n = max.clamp(1, self.frames);
        (&self.buf[..n as usize * self.frame_len], n)
    }
}

/// A payload of `size` printable bytes (never CR or LF, so that no payload looks like `PING`).
pub fn filler(size: usize) -> Vec<u8> {
    (0..size).map(|i| b'a' + (i % 26) as u8).collect()
}

/// What a publisher did.
#[derive(Debug, Clone, Copy)]
pub struct PubOutcome {
    /// Messages published and confirmed by the final PONG.
    pub sent: u64,
    /// Before the first write.
    pub started: Instant,
    /// When the final PONG arrived.
    pub finished: Instant,
    /// Bytes written on the connection, handshake included.
    pub written: u64,
}

enum Ctl {
    Ping,
    Pong,
    Fail(Error),
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Publishes from `src` on `conn` until `bound`, then flushes. Progress goes to `opts`.
pub async fn publish<S: Source>(
    conn: Conn,
    mut src: S,
    bound: Bound,
    opts: &Options,
) -> Result<PubOutcome> {
    let timeout = conn.timeout();
    let (mut rd, mut wr) = conn.into_split();
    let (tx, mut rx) = mpsc::unbounded_channel::<Ctl>();
    let _reader = AbortOnDrop(tokio::spawn(async move {
        loop {
            let (mut pings, mut pongs, mut err) = (0, 0, None);
            let r = rd
                .read_events(|ev| match ev {
                    Event::Ping => pings += 1,
                    Event::Pong => pongs += 1,
                    Event::Err(t) => {
                        err.get_or_insert_with(|| String::from_utf8_lossy(t).into_owned());
                    }
                    _ => {}
                })
                .await;
            for _ in 0..pings {
                let _ = tx.send(Ctl::Ping);
            }
            for _ in 0..pongs {
                let _ = tx.send(Ctl::Pong);
            }
            if let Some(text) = err {
                let _ = tx.send(Ctl::Fail(Error::Server(text)));
                return;
            }
            if let Err(e) = r {
                let _ = tx.send(Ctl::Fail(e));
                return;
            }
        }
    }));

    let started = Instant::now();
    let mut sent = 0u64;
    while sent < bound.count && !bound.expired() {
        let (bytes, n) = src.next(bound.count - sent);
        if let Err(e) = wr.write_all(bytes).await {
            return Err(reader_failure(&mut rx).await.unwrap_or(e));
        }
        sent += n;
        opts.progress_add(n);
        while let Ok(ctl) = rx.try_recv() {
            match ctl {
                Ctl::Ping => wr.write_all(b"PONG\r\n").await?,
                Ctl::Pong => return Err(Error::Unexpected("PONG without PING".into())),
                Ctl::Fail(e) => return Err(e),
            }
        }
    }
    if let Err(e) = wr.write_all(b"PING\r\n").await {
        return Err(reader_failure(&mut rx).await.unwrap_or(e));
    }
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Err(_) => return Err(Error::Timeout("waiting for the publisher's PONG".into())),
            Ok(None) => return Err(Error::Closed("publisher reader stopped".into())),
            Ok(Some(Ctl::Pong)) => break,
            Ok(Some(Ctl::Ping)) => wr.write_all(b"PONG\r\n").await?,
            Ok(Some(Ctl::Fail(e))) => return Err(e),
        }
    }
    Ok(PubOutcome {
        sent,
        started,
        finished: Instant::now(),
        written: wr.written(),
    })
}

/// After a failed write, the reader usually knows why (`-ERR`, EOF): give it a moment.
async fn reader_failure(rx: &mut mpsc::UnboundedReceiver<Ctl>) -> Option<Error> {
    let wait = tokio::time::timeout(Duration::from_secs(1), async {
        while let Some(ctl) = rx.recv().await {
            if let Ctl::Fail(e) = ctl {
                return Some(e);
            }
        }
        None
    });
    wait.await.ok().flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeat_hands_out_whole_frames() {
        let mut r = Repeat::new("s", None, 3, 100);
        assert_eq!(r.frame_len(), b"PUB s 3\r\nabc\r\n".len());
        let (b, n) = r.next(2);
        assert_eq!((b, n), (&b"PUB s 3\r\nabc\r\nPUB s 3\r\nabc\r\n"[..], 2));
        let (b, n) = r.next(u64::MAX);
        assert_eq!(n, 100 / 14);
        assert_eq!(b.len(), 7 * 14);
        let mut big = Repeat::new("s", Some("r"), 1000, 10);
        assert_eq!(big.next(5).1, 1);
    }
}
