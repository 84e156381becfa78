//! What wakes a connection's reader: its close, a stop signal, bytes from
//! the socket, the PING timer or the authorization deadline
//! ([`next_event`], [`Event`]), with one timer per connection ([`timer`]).
//!
//! Must never act on an event: the read loop (`skeleton.rs`) decides.

use std::pin::Pin;

use tokio::time::{Instant, Sleep};

use super::read_buf::{ReadBuf, Source};
use crate::server::close::ClosedState;
use crate::server::ConnShared;

/// What woke the reader.
pub enum Event {
    /// Bytes were appended to the buffer.
    Data,
    /// The PING timer fired.
    PingTimer,
    /// CONNECT did not arrive in time.
    AuthTimeout,
    /// The connection ends.
    Closed(ClosedState),
}

/// Waits for the next event on a connection: its close
/// ([`ConnShared::poll_closed`]), `stop` (a route's stop token; clients
/// pass a future that never resolves), bytes from the socket (read into
/// `buf`, sized by its policy), the PING timer, or the authorization
/// deadline.
///
/// `stop` and `timer` are created once per connection and pinned by the
/// read loop: one timer serves both deadlines and is only reset when the
/// earlier one moves, so waiting for a read registers nothing new.
pub async fn next_event<R: Source, S: std::future::Future<Output = ()>>(
    shared: &ConnShared,
    rd: &mut R,
    buf: &mut ReadBuf,
    mut stop: Pin<&mut S>,
    mut timer: Pin<&mut Sleep>,
    next_ping: Instant,
    auth_deadline: Option<Instant>,
) -> Event {
    loop {
        let due = auth_deadline.map_or(next_ping, |a| a.min(next_ping));
        if timer.deadline() != due {
            timer.as_mut().reset(due);
        }
        tokio::select! {
            biased;
            _ = std::future::poll_fn(|cx| shared.poll_closed(cx)) => return Event::Closed(shared.reason().unwrap_or(ClosedState::ServerShutdown)),
            _ = stop.as_mut() => return Event::Closed(shared.reason().unwrap_or(ClosedState::ServerShutdown)),
            read = buf.read_from(rd) => return match read {
                Ok(0) => Event::Closed(ClosedState::ClientClosed),
                Ok(_) => Event::Data,
                Err(_) => Event::Closed(ClosedState::ReadError),
            },
            _ = timer.as_mut() => {
                // The PING timer first when both are due, as before.
                let now = Instant::now();
                if now >= next_ping {
                    return Event::PingTimer;
                }
                if auth_deadline.is_some_and(|a| now >= a) {
                    return Event::AuthTimeout;
                }
            }
        }
    }
}

/// A connection's PING/authorization timer, to pin in its read loop and
/// pass to [`next_event`].
pub fn timer(first: Instant) -> Sleep {
    tokio::time::sleep_until(first)
}
