//! The counting subscriber: one connection whose subscriptions were set up in its handshake,
//! reading as fast as the server sends and counting `MSG`/`HMSG` frames without copying them.
//!
//! **What it owns.** The read loop and its end. Either it knows how many messages to expect
//! ([`Stop::After`], for an external publisher), or it reads until told the publishers are done
//! ([`Stop::OnSignal`]) and then flushes: the server queued every delivery for us before it
//! answered the publishers' `PING`s, so the `PONG` to our own `PING` comes after the last of
//! them and the count is exact.
//!
//! With a tag ([`receive_tagged`]) it also checks each message's reply subject: a message whose
//! reply is not the tag came from a publisher it should never hear from (another account) and
//! is counted apart, in [`SubOutcome::foreign`].
//!
//! **What it must never do.** Look at payload bytes (the parser skips them), wait without a
//! bound (a deadline, a signal or the connection's timeout ends every wait), or swallow a closed
//! connection: nats-server closes slow consumers without a word, and that must fail the run.

use crate::conn::{Conn, Event};
use crate::error::{Error, Result};
use crate::scenario::Progress;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::watch;

/// When a subscriber stops.
#[derive(Debug)]
pub enum Stop {
    /// After this many messages (or at the deadline).
    After(u64),
    /// When the value turns `true` (or the sender is dropped); then flush.
    OnSignal(watch::Receiver<bool>),
}

/// What a subscriber counted.
#[derive(Debug, Clone, Copy, Default)]
pub struct SubOutcome {
    /// Messages received.
    pub received: u64,
    /// Payload bytes (headers excluded) received.
    pub payload_bytes: u64,
    /// When the read holding the first message returned.
    pub first: Option<Instant>,
    /// When the read holding the last message returned.
    pub last: Option<Instant>,
    /// Messages (also counted in `received`) whose reply subject was not the expected tag
    /// ([`receive_tagged`] only).
    pub foreign: u64,
}

/// Counts messages on `conn` until `stop`, or until `deadline`.
pub async fn receive(
    conn: Conn,
    stop: Stop,
    deadline: Option<Instant>,
    progress: Option<Arc<Progress>>,
) -> Result<SubOutcome> {
    receive_inner(conn, stop, deadline, progress, None).await
}

/// Like [`receive`] with [`Stop::OnSignal`], and every message whose reply subject is not `tag`
/// is also counted in [`SubOutcome::foreign`].
pub async fn receive_tagged(
    conn: Conn,
    stop: watch::Receiver<bool>,
    tag: Vec<u8>,
) -> Result<SubOutcome> {
    receive_inner(conn, Stop::OnSignal(stop), None, None, Some(&tag)).await
}

async fn receive_inner(
    mut conn: Conn,
    mut stop: Stop,
    deadline: Option<Instant>,
    progress: Option<Arc<Progress>>,
    tag: Option<&[u8]>,
) -> Result<SubOutcome> {
    let is_foreign = |reply: Option<&[u8]>| tag.is_some_and(|t| reply != Some(t));
    let mut out = SubOutcome::default();
    let far = tokio::time::Instant::now() + std::time::Duration::from_secs(365 * 24 * 3600);
    let sleep_to = deadline.map(tokio::time::Instant::from_std).unwrap_or(far);
    let (mut signal, after) = match &mut stop {
        Stop::After(n) => (None, *n),
        Stop::OnSignal(rx) => (Some(rx), u64::MAX),
    };
    let mut signalled = false;
    while out.received < after {
        let before = out.received;
        let (mut n, mut bytes, mut foreign) = (0u64, 0u64, 0u64);
        tokio::select! {
            biased;
            r = conn.read_events(|ev| {
                if let Event::Msg(m) = ev {
                    n += 1;
                    bytes += m.payload_len() as u64;
                    foreign += u64::from(is_foreign(m.reply));
                }
            }) => {
                r.map_err(|e| closed_after(e, before))?;
            }
            _ = async {
                let _ = signal.as_mut().expect("guarded by the condition").wait_for(|v| *v).await;
            }, if signal.is_some() => {
                signalled = true;
            }
            _ = tokio::time::sleep_until(sleep_to), if deadline.is_some() => break,
        }
        out.received += n;
        out.payload_bytes += bytes;
        out.foreign += foreign;
        if n > 0 {
            let now = Instant::now();
            out.first.get_or_insert(now);
            out.last = Some(now);
            if let Some(p) = &progress {
                p.done.fetch_add(n, Ordering::Relaxed);
            }
        }
        if signalled {
            let (mut n, mut bytes, mut foreign) = (0u64, 0u64, 0u64);
            conn.flush(|m| {
                n += 1;
                bytes += m.payload_len() as u64;
                foreign += u64::from(is_foreign(m.reply));
            })
            .await
            .map_err(|e| closed_after(e, out.received))?;
            out.received += n;
            out.payload_bytes += bytes;
            out.foreign += foreign;
            if n > 0 {
                let now = Instant::now();
                out.first.get_or_insert(now);
                out.last = Some(now);
            }
            break;
        }
    }
    Ok(out)
}

fn closed_after(e: Error, received: u64) -> Error {
    match e {
        Error::Closed(why) => Error::Closed(format!(
            "subscriber after {received} messages: {why}; a slow consumer?"
        )),
        other => other,
    }
}
