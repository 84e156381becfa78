//! A subscription: what the trie stores, and what a publisher needs to deliver
//! a message without looking anything up.
//!
//! The trie (`sublist`) holds [`SubRef`]s — opaque to it — compared by
//! identity. A subscription points at its connection's shared half
//! (`client::ClientShared`) so that delivery is one pointer chase; the
//! connection, not the subscription, owns the socket. Must never hold
//! anything that would keep a closed connection's socket open.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use bytes::Bytes;

use crate::client::ClientShared;
use crate::log::ConnKind;

/// One `SUB` (or, later, one route's interest).
pub struct Subscription {
    /// The connection that receives the messages.
    pub client: Arc<ClientShared>,
    pub subject: Box<str>,
    pub queue: Option<Box<str>>,
    /// The sid exactly as the client sent it, echoed in every `MSG`.
    pub sid: Bytes,
    /// `UNSUB sid max`: total deliveries allowed (0 = unlimited).
    max: AtomicU64,
    /// Deliveries so far (also shown in `/connz?subs=detail`).
    delivered: AtomicU64,
    /// Queue weight: 1 for a local member; for a route's queue interest, the
    /// number of members behind it (updated in place by a repeated `RS+`).
    weight: AtomicU32,
}

/// What a delivery attempt decided about the subscription's limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Quota {
    /// Deliver; more may follow.
    Deliver,
    /// Deliver; this was the last one — remove the subscription.
    Last,
    /// The limit was already reached by another publisher: skip.
    Exhausted,
}

impl Subscription {
    pub fn new(client: Arc<ClientShared>, subject: &str, queue: Option<&str>, sid: Bytes) -> Self {
        Self {
            client,
            subject: subject.into(),
            queue: queue.map(Into::into),
            sid,
            max: AtomicU64::new(0),
            delivered: AtomicU64::new(0),
            weight: AtomicU32::new(1),
        }
    }

    #[inline]
    pub fn weight(&self) -> u32 {
        self.weight.load(Relaxed)
    }

    pub fn set_weight(&self, weight: u32) {
        self.weight.store(weight, Relaxed);
    }

    /// True when this is a route's (remote) interest, not a client's SUB.
    #[inline]
    pub fn is_remote(&self) -> bool {
        self.client.kind == ConnKind::Route
    }

    /// Counts one delivery against the limit. Exactly `max` callers ever get
    /// `Deliver`/`Last`, however many publishers race.
    #[inline]
    pub fn take_quota(&self) -> Quota {
        let n = self.delivered.fetch_add(1, Relaxed) + 1;
        match self.max.load(Relaxed) {
            0 => Quota::Deliver,
            max if n < max => Quota::Deliver,
            max if n == max => Quota::Last,
            _ => Quota::Exhausted,
        }
    }

    /// `UNSUB sid max`: returns false when `max` deliveries already happened
    /// (the caller removes the subscription now).
    pub fn set_max(&self, max: u64) -> bool {
        self.max.store(max, Relaxed);
        max > self.delivered.load(Relaxed)
    }

    pub fn max(&self) -> u64 {
        self.max.load(Relaxed)
    }

    pub fn delivered(&self) -> u64 {
        self.delivered.load(Relaxed).min(match self.max() {
            0 => u64::MAX,
            m => m,
        })
    }

    /// A copy of what monitoring shows of this subscription.
    pub fn snapshot(&self) -> SubSnapshot {
        SubSnapshot {
            subject: self.subject.clone(),
            queue: self.queue.clone(),
            sid: self.sid.clone(),
            msgs: self.delivered(),
            max: self.max(),
            cid: self.client.cid,
        }
    }
}

/// A subscription as `/connz?subs=detail` and `/subsz?subs=1` list it
/// (nats-server's `SubDetail`), detached from the live subscription.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubSnapshot {
    pub subject: Box<str>,
    pub queue: Option<Box<str>>,
    pub sid: Bytes,
    /// Messages delivered so far.
    pub msgs: u64,
    /// The `UNSUB sid max` limit; 0 = none.
    pub max: u64,
    /// The connection that holds it.
    pub cid: u64,
}

/// The handle stored in the trie: a subscription compared by identity.
#[derive(Clone)]
pub struct SubRef(pub Arc<Subscription>);

impl PartialEq for SubRef {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl std::ops::Deref for SubRef {
    type Target = Subscription;
    fn deref(&self) -> &Subscription {
        &self.0
    }
}
