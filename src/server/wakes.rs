//! [`Wakes`]: what one read batch owes others — the writers to wake (once
//! each), the `/varz` counters to add, and the first subscriber found
//! falling behind — settled by [`Wakes::flush`] at the end of the batch.
//!
//! **Must never:** wake a writer per message, or touch the server counters
//! more than once per batch.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use crate::server::shared;
use crate::server::{ConnShared, Server};

/// Writers to wake (once each) and counters to add at the end of a read
/// batch, plus the first subscriber found falling behind.
#[derive(Default)]
pub struct Wakes {
    clients: Vec<Arc<ConnShared>>,
    stalled: Option<Arc<ConnShared>>,
    pub(super) out_msgs: u64,
    pub(super) out_bytes: u64,
    /// Something other than a local delivery was queued for a peer this
    /// batch (a routed message, or a reply such as `PONG` to the reader).
    sent: bool,
    /// This batch's delivery time (Unix nanos), read at the first delivery.
    now: u64,
}

impl Wakes {
    #[inline]
    pub fn push(&mut self, client: &Arc<ConnShared>) {
        self.clients.push(client.clone());
    }

    /// Something other than a local delivery was queued for a peer (a
    /// routed message, a reply to the reader): the batch may be answered.
    #[inline]
    pub fn sent(&mut self) {
        self.sent = true;
    }

    /// A subscriber was found more than 3/4 full since the last flush.
    #[inline]
    pub fn has_stalled(&self) -> bool {
        self.stalled.is_some()
    }

    /// [`Wakes::push`] for a message delivery, which is activity for the
    /// receiver (nats-server's `flushClients`): stamped once per wake-up,
    /// with one clock read per batch.
    #[inline]
    pub(super) fn push_delivery(&mut self, client: &Arc<ConnShared>) {
        if self.now == 0 {
            self.now = shared::unix_nanos();
        }
        client.last_activity.store(self.now, Relaxed);
        self.clients.push(client.clone());
    }

    pub(super) fn stalled(&mut self, client: &Arc<ConnShared>) {
        if self.stalled.is_none() {
            self.stalled = Some(client.clone());
        }
    }

    /// Wakes every writer owed a wake-up and adds the counters; returns a
    /// subscriber to stall on, if any.
    pub fn flush(&mut self, server: &Server) -> Option<Arc<ConnShared>> {
        // The end of a batch read from a client or route. If it sent anything
        // to anyone, an answer may come back within microseconds: keep a
        // worker polling for it for a moment. A batch that sent nothing (a
        // publisher nobody listens to) invites no answer; spinning after it
        // would only take a CPU from the peers feeding us.
        if self.out_msgs > 0 || self.sent {
            server.spinner.touch();
        }
        self.sent = false;
        self.now = 0;
        for client in self.clients.drain(..) {
            client.out.flush_or_wake();
        }
        if self.out_msgs > 0 {
            server.stats.out_msgs.fetch_add(self.out_msgs, Relaxed);
            server.stats.out_bytes.fetch_add(self.out_bytes, Relaxed);
            self.out_msgs = 0;
            self.out_bytes = 0;
        }
        self.stalled.take()
    }
}
