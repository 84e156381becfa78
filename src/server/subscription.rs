//! A subscription: what the trie stores, and what a publisher needs to deliver
//! a message without looking anything up.
//!
//! The trie (`sublist`) holds [`SubRef`]s — opaque to it — compared by
//! identity. A subscription points at its connection's shared half
//! (`client::ConnShared`) so that delivery is one pointer chase; the
//! connection, not the subscription, owns the socket. Must never hold
//! anything that would keep a closed connection's socket open.

use std::borrow::Borrow;
use std::collections::HashSet;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use bytes::Bytes;

use crate::log::ConnKind;
use crate::server::account::Account;
use crate::server::internal::Internal;
use crate::server::ConnShared;

/// One `SUB` (or, later, one route's interest).
pub struct Subscription {
    /// The connection that receives the messages.
    pub client: Arc<ConnShared>,
    /// The account whose trie holds this subscription.
    pub account: Arc<Account>,
    pub subject: Box<str>,
    pub queue: Option<Box<str>>,
    /// The sid exactly as the client sent it, echoed in every `MSG`
    /// (inline: sids are short, usually a number).
    pub sid: smallvec::SmallVec<[u8; 16]>,
    /// `UNSUB sid max`: total deliveries allowed (0 = unlimited).
    max: AtomicU64,
    /// Deliveries so far (also shown in `/connz?subs=detail`).
    delivered: AtomicU64,
    /// Queue weight: 1 for a local member; for a route's queue interest, the
    /// number of members behind it (updated in place by a repeated `RS+`).
    weight: AtomicU32,
    /// Set for the server's own subscriptions (imports, system services):
    /// messages go to this handler, not to `client`'s socket.
    pub internal: Option<Arc<dyn Internal>>,
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
    pub fn new(
        client: Arc<ConnShared>,
        account: Arc<Account>,
        subject: &str,
        queue: Option<&str>,
        sid: &[u8],
    ) -> Self {
        Self {
            client,
            account,
            subject: subject.into(),
            queue: queue.map(Into::into),
            sid: sid.into(),
            max: AtomicU64::new(0),
            delivered: AtomicU64::new(0),
            weight: AtomicU32::new(1),
            internal: None,
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
            sid: Bytes::copy_from_slice(&self.sid),
            msgs: self.delivered(),
            max: self.max(),
            cid: self.client.cid,
            account: self.account.name.clone(),
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
    /// The account it lives in.
    pub account: Arc<str>,
}

/// A connection's subscriptions, found by sid. Most connections hold a
/// handful: up to [`FEW_SUBS`] sit inline and are found by a scan (an idle
/// connection with one subscription allocates nothing here); beyond that, a
/// set keyed through each subscription's own `sid` rather than a map with a
/// second copy of it, so a connection with many pays one pointer per entry.
pub struct SubsBySid(Repr);

/// Up to this many subscriptions are kept in a list, not a set.
pub const FEW_SUBS: usize = 8;

enum Repr {
    Few(smallvec::SmallVec<[Arc<Subscription>; 1]>),
    Many(HashSet<BySid>),
}

impl Default for SubsBySid {
    fn default() -> Self {
        SubsBySid(Repr::Few(smallvec::SmallVec::new()))
    }
}

struct BySid(Arc<Subscription>);

impl Hash for BySid {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // As `[u8]` hashes, for `Borrow<[u8]>` lookups.
        self.0.sid[..].hash(state);
    }
}

impl PartialEq for BySid {
    fn eq(&self, other: &Self) -> bool {
        self.0.sid[..] == other.0.sid[..]
    }
}

impl Eq for BySid {}

impl Borrow<[u8]> for BySid {
    fn borrow(&self) -> &[u8] {
        &self.0.sid[..]
    }
}

impl SubsBySid {
    pub fn get(&self, sid: &[u8]) -> Option<&Arc<Subscription>> {
        match &self.0 {
            Repr::Few(few) => few.iter().find(|s| s.sid[..] == *sid),
            Repr::Many(set) => set.get(sid).map(|s| &s.0),
        }
    }

    pub fn contains(&self, sid: &[u8]) -> bool {
        self.get(sid).is_some()
    }

    /// Adds `sub`, replacing any subscription with the same sid.
    pub fn insert(&mut self, sub: Arc<Subscription>) {
        match &mut self.0 {
            Repr::Few(few) => {
                if let Some(slot) = few.iter_mut().find(|s| s.sid == sub.sid) {
                    *slot = sub;
                } else if few.len() < FEW_SUBS {
                    few.push(sub);
                } else {
                    let all = few.drain(..).chain(std::iter::once(sub));
                    self.0 = Repr::Many(all.map(BySid).collect());
                }
            }
            Repr::Many(set) => {
                set.replace(BySid(sub));
            }
        }
    }

    pub fn remove(&mut self, sid: &[u8]) -> Option<Arc<Subscription>> {
        match &mut self.0 {
            Repr::Few(few) => {
                let i = few.iter().position(|s| s.sid[..] == *sid)?;
                Some(few.swap_remove(i))
            }
            Repr::Many(set) => set.take(sid).map(|s| s.0),
        }
    }

    pub fn len(&self) -> usize {
        match &self.0 {
            Repr::Few(few) => few.len(),
            Repr::Many(set) => set.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn values(&self) -> impl Iterator<Item = &Arc<Subscription>> {
        let (few, many) = match &self.0 {
            Repr::Few(few) => (Some(few.iter()), None),
            Repr::Many(set) => (None, Some(set.iter().map(|s| &s.0))),
        };
        few.into_iter().flatten().chain(many.into_iter().flatten())
    }

    /// Takes every subscription out (the set, if any, is given back).
    pub fn drain(&mut self) -> impl Iterator<Item = Arc<Subscription>> {
        let taken = std::mem::take(self);
        let (few, many) = match taken.0 {
            Repr::Few(few) => (Some(few.into_iter()), None),
            Repr::Many(set) => (None, Some(set.into_iter().map(|s| s.0))),
        };
        few.into_iter().flatten().chain(many.into_iter().flatten())
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn acc() -> Arc<crate::server::account::Account> {
        Arc::new(crate::server::account::Account::new("$G", true))
    }

    fn client() -> Arc<ConnShared> {
        Arc::new(ConnShared::new(
            ConnKind::Client,
            1,
            "127.0.0.1:1".parse().unwrap(),
            1 << 20,
        ))
    }

    #[test]
    fn subs_by_sid_finds_replaces_and_drains() {
        let c = client();
        let mut subs = SubsBySid::default();
        let a = Arc::new(Subscription::new(c.clone(), acc(), "foo", None, b"1"));
        let b = Arc::new(Subscription::new(c.clone(), acc(), "bar", Some("q"), b"22"));
        subs.insert(a.clone());
        subs.insert(b.clone());
        assert_eq!(subs.len(), 2);
        assert!(Arc::ptr_eq(subs.get(b"1").unwrap(), &a));
        assert!(subs.contains(b"22") && !subs.contains(b"2"));
        let a2 = Arc::new(Subscription::new(c.clone(), acc(), "baz", None, b"1"));
        subs.insert(a2.clone());
        assert_eq!(subs.len(), 2, "same sid replaces");
        assert!(Arc::ptr_eq(subs.get(b"1").unwrap(), &a2));
        assert!(Arc::ptr_eq(&subs.remove(b"22").unwrap(), &b));
        assert!(subs.remove(b"22").is_none());
        let drained: Vec<_> = subs.drain().collect();
        assert_eq!(drained.len(), 1);
        assert!(subs.is_empty());
        // A long sid (spilled out of the inline buffer) works the same.
        let long = vec![b'7'; 100];
        subs.insert(Arc::new(Subscription::new(
            c.clone(),
            acc(),
            "x",
            None,
            &long,
        )));
        assert_eq!(&subs.get(&long).unwrap().sid[..], &long[..]);
    }

    #[test]
    fn subs_by_sid_behaves_the_same_past_the_inline_few() {
        let c = client();
        let sub = |sid: usize, subject: &str| {
            Arc::new(Subscription::new(
                c.clone(),
                acc(),
                subject,
                None,
                sid.to_string().as_bytes(),
            ))
        };
        let mut subs = SubsBySid::default();
        for n in 0..3 * FEW_SUBS {
            subs.insert(sub(n, "a"));
            assert_eq!(subs.len(), n + 1);
            assert!((0..=n).all(|i| subs.contains(i.to_string().as_bytes())));
            assert_eq!(subs.values().count(), n + 1);
        }
        // Replacing and removing work in the set as in the list.
        subs.insert(sub(3, "b"));
        assert_eq!(subs.len(), 3 * FEW_SUBS);
        assert_eq!(&*subs.get(b"3").unwrap().subject, "b");
        assert!(subs.remove(b"5").is_some() && subs.remove(b"5").is_none());
        let mut sids: Vec<usize> = subs
            .drain()
            .map(|s| std::str::from_utf8(&s.sid).unwrap().parse().unwrap())
            .collect();
        sids.sort_unstable();
        let want: Vec<usize> = (0..3 * FEW_SUBS).filter(|&i| i != 5).collect();
        assert_eq!(sids, want);
        assert!(subs.is_empty() && subs.get(b"3").is_none());
    }
}
