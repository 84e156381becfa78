//! The one read loop of every connection kind ([`read_loop`]): wait for an
//! event, parse a whole read buffer under one epoch guard ([`process`]),
//! end the batch (counters, writer wake-ups, a bounded stall on a slow
//! subscriber), run the PING timer (outstanding PINGs past the maximum make
//! a stale connection) and the authorization deadline, and return why the
//! connection ends.
//!
//! What differs between kinds (clients, routes; later leaf nodes and
//! WebSocket) is a [`Protocol`]: handling one parsed frame, sending an
//! error or a PING, the work before and after a batch. The loop is generic
//! over it, so each kind gets its own monomorphised copy: no `dyn` on the
//! hot path, no allocation per message.
//!
//! Must never know a protocol's ops: frames go to [`Protocol::handle`]
//! uninterpreted. Must never hold the epoch guard across an await.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use tokio::time::Instant;

use super::events::{next_event, timer, Event};
use super::read_buf::{ReadBuf, Source};
use crate::log::{self, ConnPrefix};
use crate::outbound;
use crate::parser::{Frame, Parser};
use crate::server::close::ClosedState;
use crate::server::shared::unix_nanos;
use crate::server::{ConnShared, Server, Wakes};

/// Longest a reader waits for one slow subscriber per read batch.
const STALL_MAX: Duration = Duration::from_millis(5);

/// How far [`process`] got through the read buffer.
pub enum Batch {
    /// Every complete op was handled.
    Done,
    /// Stopped early: a subscriber is falling behind.
    Stalled,
}

/// The PING timer's state: nats-server's `ping` fields of a client.
#[derive(Debug)]
pub struct Pings {
    pub interval: Duration,
    /// PINGs left unanswered after which the connection is stale.
    pub max: u32,
    /// PINGs sent and not answered.
    pub out: u32,
    /// When the timer fires next.
    pub next: Instant,
    /// When the last read arrived.
    pub last_in: Instant,
    /// When the PING whose PONG gives the round trip time was sent.
    pub rtt_start: Option<Instant>,
}

impl Pings {
    /// The timer of a connection opened now, first firing after `first`.
    pub fn new(interval: Duration, max: u32, first: Duration) -> Self {
        let now = Instant::now();
        Self {
            interval,
            max,
            out: 0,
            next: now + first,
            last_in: now,
            rtt_start: None,
        }
    }

    /// A PONG arrived: nothing is outstanding, and the round trip time is
    /// known if a PING was timed.
    pub fn pong(&mut self, shared: &ConnShared) {
        self.out = 0;
        if let Some(start) = self.rtt_start.take() {
            let rtt = start.elapsed().as_nanos() as u64;
            shared.rtt_nanos.store(rtt.max(1), Relaxed);
        }
    }
}

/// The reader's state that every connection kind has.
pub struct Core {
    pub server: Arc<Server>,
    pub shared: Arc<ConnShared>,
    pub prefix: ConnPrefix,
    pub parser: Parser,
    pub pings: Pings,
    /// CONNECT must arrive by then (none once it did, or when not required).
    pub auth_deadline: Option<Instant>,
    /// Writers to wake and the subscriber to stall on, this batch.
    pub wakes: Wakes,
    /// Messages and payload bytes received this batch, added to the shared
    /// counters once at its end.
    batch_msgs: u64,
    batch_bytes: u64,
}

impl Core {
    pub fn new(
        server: Arc<Server>,
        shared: Arc<ConnShared>,
        prefix: ConnPrefix,
        parser: Parser,
        pings: Pings,
        auth_deadline: Option<Instant>,
    ) -> Self {
        Self {
            server,
            shared,
            prefix,
            parser,
            pings,
            auth_deadline,
            wakes: Wakes::default(),
            batch_msgs: 0,
            batch_bytes: 0,
        }
    }

    /// Counts one message of `payload` bytes received.
    #[inline]
    pub fn count_in(&mut self, payload: usize) {
        self.batch_msgs += 1;
        self.batch_bytes += payload as u64;
    }
}

/// What one kind of connection does differently; the rest is [`read_loop`].
pub trait Protocol {
    /// The kind as the PING timer's log lines name it (`Client`, `Router`).
    const KIND: &'static str;

    fn core(&mut self) -> &mut Core;

    /// Before each batch (a reload's new limits, refreshed permissions).
    fn begin_batch(&mut self) {}

    /// Before each op is parsed, with the unparsed rest of the buffer: an
    /// error refuses the op without looking at its arguments.
    #[inline]
    fn before_op(&mut self, _buf: &[u8]) -> Result<(), ClosedState> {
        Ok(())
    }

    /// Handles one parsed frame. `data` holds its bytes; `shared` holds
    /// the same bytes when the payload is large enough to be shared with
    /// the subscribers rather than copied.
    fn handle(
        &mut self,
        frame: &Frame,
        data: &[u8],
        shared: Option<&Bytes>,
        guard: &sublist::Guard,
    ) -> Result<(), ClosedState>;

    /// Sends `-ERR 'text'`.
    fn send_err(&mut self, text: &str);

    /// Sends `PING` (the timer has counted it).
    fn send_ping(&mut self);

    /// The PING timer fired at `now`: true to skip this PING (the timer is
    /// already re-armed).
    fn delays_ping(&mut self, _now: Instant) -> bool {
        false
    }

    /// After each batch, before the writers are woken.
    fn end_batch(&mut self) {}
}

/// Reads until the connection closes or `stop` resolves (a route's stop
/// token; clients pass a future that never does), handling what arrives
/// through `p`. Returns why the connection ends.
pub async fn read_loop<P, R, S>(p: &mut P, rd: &mut R, stop: S) -> ClosedState
where
    P: Protocol,
    R: Source,
    S: std::future::Future<Output = ()>,
{
    let mut buf = ReadBuf::new();
    let timer = timer(p.core().pings.next);
    tokio::pin!(stop, timer);
    loop {
        let core = p.core();
        match next_event(
            &core.shared,
            rd,
            &mut buf,
            stop.as_mut(),
            timer.as_mut(),
            core.pings.next,
            core.auth_deadline,
        )
        .await
        {
            Event::Data => {}
            Event::Closed(reason) => return reason,
            Event::PingTimer => {
                if let Err(reason) = ping_tick(p) {
                    return reason;
                }
                continue;
            }
            Event::AuthTimeout => {
                p.send_err("Authentication Timeout");
                log::error!("{} - Authentication Timeout", p.core().prefix);
                return ClosedState::AuthenticationTimeout;
            }
        }
        p.core().pings.last_in = Instant::now();
        // Handle what was read; when a subscriber falls behind mid-way,
        // stall on it (bounded) before delivering the rest.
        loop {
            let result = process(p, buf.bytes());
            if let Some(slow) = end_batch(p) {
                // Boxed: a rare wait that would otherwise enlarge every
                // connection's task.
                Box::pin(slow.out.stall(STALL_MAX)).await;
            }
            match result {
                Ok(Batch::Done) => break,
                Ok(Batch::Stalled) => continue,
                Err(reason) => return reason,
            }
        }
    }
}

/// Parses and handles the complete ops in `buf` under one epoch guard:
/// all of them, or up to the first that leaves a subscriber more than 3/4
/// full. nats-server waits on such a subscriber right when it delivers to
/// it; waiting only once the whole read was delivered would cut off a
/// consumer that is merely behind (one read can hold more than its
/// `max_pending`).
pub fn process<P: Protocol>(p: &mut P, buf: &mut BytesMut) -> Result<Batch, ClosedState> {
    p.begin_batch();
    let server = p.core().server.clone();
    let guard = server.pin();
    loop {
        p.before_op(buf)?;
        let core = p.core();
        if core.wakes.has_stalled() {
            return Ok(Batch::Stalled);
        }
        let frame = match core.parser.next(buf) {
            Ok(Some(frame)) => frame,
            Ok(None) => return Ok(Batch::Done),
            Err(e) => {
                log::error!("{} - {e}", core.prefix);
                if let Some(text) = e.err_text() {
                    p.send_err(text);
                }
                return Err(ClosedState::from_protocol(e.close_reason()));
            }
        };
        let large = frame
            .op
            .payload()
            .is_some_and(|p| p.len() >= outbound::SHARE_THRESHOLD);
        if large {
            let bytes = buf.split_to(frame.len).freeze();
            p.handle(&frame, &bytes, Some(&bytes), &guard)?;
        } else {
            let result = p.handle(&frame, &buf[..frame.len], None, &guard);
            buf.advance(frame.len);
            result?;
        }
    }
}

/// The end of a batch: the protocol's own work, the batch's counters, and
/// the writers' wake-ups. Returns a subscriber to stall on, if any.
fn end_batch<P: Protocol>(p: &mut P) -> Option<Arc<ConnShared>> {
    p.end_batch();
    let core = p.core();
    if core.batch_msgs > 0 {
        core.shared.in_msgs.fetch_add(core.batch_msgs, Relaxed);
        core.shared.in_bytes.fetch_add(core.batch_bytes, Relaxed);
        core.server.stats.add_in(core.batch_msgs, core.batch_bytes);
        core.shared.last_activity.store(unix_nanos(), Relaxed);
        core.batch_msgs = 0;
        core.batch_bytes = 0;
    }
    core.wakes.flush(&core.server)
}

/// The PING timer fired: re-arm it, and send a PING unless the protocol
/// delays it; one more than `max` outstanding makes the connection stale.
fn ping_tick<P: Protocol>(p: &mut P) -> Result<(), ClosedState> {
    let now = Instant::now();
    let pings = &mut p.core().pings;
    pings.next = now + pings.interval;
    if p.delays_ping(now) {
        return Ok(());
    }
    let core = p.core();
    log::debug!("{} - {} Ping Timer", core.prefix, P::KIND);
    if core.pings.out + 1 > core.pings.max {
        log::debug!("{} - Stale {} Connection - Closing", core.prefix, P::KIND);
        p.send_err("Stale Connection");
        return Err(ClosedState::StaleConnection);
    }
    core.pings.out += 1;
    core.pings.rtt_start = Some(now);
    p.send_ping();
    Ok(())
}
