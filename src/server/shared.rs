//! The shared half of a connection: the part that other tasks see. The
//! routing core delivers into its outbound buffer and reads its delivery
//! permissions and reply tracking; monitoring reads its counters and
//! metadata; the server closes it. Clients and routes (and later leaf and
//! WebSocket connections) each have one; the connection's own task holds
//! the other half, the protocol state.
//!
//! **Must never:** know a wire protocol or hold a lock across an await.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{
    AtomicBool, AtomicU64, AtomicUsize,
    Ordering::{Acquire, Relaxed, Release},
};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use atomic_waker::AtomicWaker;
use parking_lot::{Mutex, RwLock};

use crate::auth::permissions::{DeliveryDeny, Permissions};
use crate::auth::Credentials;
use crate::log::ConnKind;
use crate::outbound::Outbound;
use crate::server::account::Account;
use crate::server::close::ClosedState;
use crate::server::subject::subject_str;
use crate::server::subscription::SubsBySid;

/// The part of a connection that other tasks see: publishers deliver into
/// `out`, monitoring reads the counters and metadata, the server closes it.
pub struct ConnShared {
    pub cid: u64,
    /// A client, or a route (routes reuse this half: outbound buffer,
    /// counters, and their remote interest in `subs`).
    pub kind: ConnKind,
    pub addr: SocketAddr,
    pub start: SystemTime,
    pub out: Outbound,
    /// Negotiated in CONNECT: deliver HMSG (else strip headers).
    pub(crate) headers: AtomicBool,
    /// CONNECT had `protocol >= 1`: the client takes async INFO updates.
    pub(crate) async_info: AtomicBool,
    /// Set when the connection must close; the reader tears it down. The
    /// reader's task waits on `closed_waker` (no allocation, no waiter list:
    /// part of what an idle connection costs).
    closed: AtomicBool,
    closed_waker: AtomicWaker,
    reason: Mutex<Option<ClosedState>>,
    /// Bytes queued when the close was decided (before a slow consumer's
    /// buffer is dropped), for the closed-connection record.
    pending_at_close: AtomicUsize,
    /// Subscriptions by sid.
    pub subs: Mutex<SubsBySid>,
    pub meta: Mutex<ConnMeta>,
    /// The credentials of the accepted CONNECT, kept to re-check them on
    /// reload (the client's CONNECT, seen only as [`Credentials`]). Never
    /// logged or shown. Shared with the reader (one copy per connection).
    pub(crate) connect: Mutex<Option<Arc<dyn Credentials>>>,
    /// The nonce this connection's INFO carried (nkey signatures cover it).
    pub(crate) nonce: Mutex<Option<String>>,
    /// Permissions of the authenticated user (replaced on reload); the flag
    /// keeps unrestricted connections off the lock.
    perms: RwLock<Option<Arc<Permissions>>>,
    has_perms: AtomicBool,
    /// Deny patterns that a wildcard subscription overlapped: deliveries on
    /// them are dropped (nats-server's message deny filter).
    delivery_deny: RwLock<Option<DeliveryDeny>>,
    has_delivery_deny: AtomicBool,
    /// `allow_responses`: reply subjects this client may publish to, with
    /// when it received the request and how many replies it sent.
    replies: Mutex<Replies>,
    tracks_replies: AtomicBool,
    pub in_msgs: AtomicU64,
    pub in_bytes: AtomicU64,
    /// Unix nanos of the last message in or out, for /connz `last_activity`.
    pub last_activity: AtomicU64,
    /// Round-trip time of the last PING, nanoseconds.
    pub rtt_nanos: AtomicU64,
    /// The account a client is counted in (set at CONNECT, released once
    /// when the connection unregisters).
    account: Mutex<Option<Arc<Account>>>,
}

/// What CONNECT told us, for logs and /connz: shared strings, the same
/// allocations as the CONNECT options and the reader's log prefix hold.
#[derive(Clone, Debug)]
pub struct ConnMeta {
    pub name: Arc<str>,
    pub lang: Arc<str>,
    pub version: Arc<str>,
    pub user: Arc<str>,
    /// The account the connection is bound to (`$G` before CONNECT).
    pub account: Arc<str>,
    pub prefix: Arc<str>,
}

impl Default for ConnMeta {
    fn default() -> Self {
        let empty = empty_str();
        Self {
            name: empty.clone(),
            lang: empty.clone(),
            version: empty.clone(),
            user: empty.clone(),
            account: Arc::from(crate::config::GLOBAL_ACCOUNT),
            prefix: empty,
        }
    }
}

/// One empty string for every field that has none.
pub fn empty_str() -> Arc<str> {
    static EMPTY: std::sync::LazyLock<Arc<str>> = std::sync::LazyLock::new(|| Arc::from(""));
    EMPTY.clone()
}

impl ConnShared {
    /// A new connection's shared half. Server shutdown closes it through
    /// the server's registry of clients ([`Server::shutdown`]); a route
    /// closes through its stop token.
    pub(crate) fn new(kind: ConnKind, cid: u64, addr: SocketAddr, max_pending: usize) -> Self {
        Self {
            cid,
            kind,
            addr,
            start: SystemTime::now(),
            out: Outbound::new(max_pending),
            headers: AtomicBool::new(false),
            async_info: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            closed_waker: AtomicWaker::new(),
            reason: Mutex::new(None),
            pending_at_close: AtomicUsize::new(0),
            subs: Mutex::new(SubsBySid::default()),
            meta: Mutex::new(ConnMeta::default()),
            connect: Mutex::new(None),
            nonce: Mutex::new(None),
            perms: RwLock::new(None),
            has_perms: AtomicBool::new(false),
            delivery_deny: RwLock::new(None),
            has_delivery_deny: AtomicBool::new(false),
            replies: Mutex::new(HashMap::new()),
            tracks_replies: AtomicBool::new(false),
            in_msgs: AtomicU64::new(0),
            in_bytes: AtomicU64::new(0),
            last_activity: AtomicU64::new(unix_nanos()),
            rtt_nanos: AtomicU64::new(0),
            account: Mutex::new(None),
        }
    }

    /// Counts this connection in `account` (releasing the one it was in);
    /// false when the account is at its connection limit.
    pub fn bind_account(&self, account: &Arc<Account>) -> bool {
        let mut current = self.account.lock();
        if current.as_ref().is_some_and(|a| Arc::ptr_eq(a, account)) {
            return true;
        }
        if !account.add_conn() {
            return false;
        }
        if let Some(old) = current.replace(account.clone()) {
            old.remove_conn();
        }
        true
    }

    /// Releases the account count (the connection is going away).
    pub fn release_account(&self) {
        if let Some(old) = self.account.lock().take() {
            old.remove_conn();
        }
    }

    /// The account a client is bound to, if it completed CONNECT.
    pub fn account(&self) -> Option<Arc<Account>> {
        self.account.lock().clone()
    }

    #[inline]
    pub fn headers(&self) -> bool {
        self.headers.load(Relaxed)
    }

    /// Asks the connection to close for `reason` (the first reason wins). With
    /// `flush`, what is queued is still sent (an `-ERR`, a lame-duck INFO).
    pub fn close(&self, reason: ClosedState, flush: bool) {
        {
            let mut r = self.reason.lock();
            if r.is_none() {
                *r = Some(reason);
                self.pending_at_close
                    .store(self.out.stats().pending, Relaxed);
            }
        }
        self.out.close(flush);
        self.closed.store(true, Release);
        self.closed_waker.wake();
    }

    /// Sets the user's permissions (CONNECT, reload).
    pub(crate) fn set_permissions(&self, perms: Option<Arc<Permissions>>) {
        let responses = perms.as_ref().is_some_and(|p| p.responses().is_some());
        self.has_perms.store(perms.is_some(), Relaxed);
        self.tracks_replies.store(responses, Relaxed);
        *self.perms.write() = perms;
    }

    #[inline]
    pub(crate) fn has_permissions(&self) -> bool {
        self.has_perms.load(Relaxed)
    }

    pub fn permissions(&self) -> Option<Arc<Permissions>> {
        self.perms.read().clone()
    }

    pub(crate) fn set_delivery_deny(&self, deny: Option<DeliveryDeny>) {
        self.has_delivery_deny.store(deny.is_some(), Relaxed);
        *self.delivery_deny.write() = deny;
    }

    /// Would a delivery on `subject` to a subscription (in `queue`) be
    /// filtered out by the deny filter?
    #[inline]
    pub(crate) fn delivery_denied(&self, subject: &[u8], queue: Option<&str>) -> bool {
        if !self.has_delivery_deny.load(Relaxed) {
            return false;
        }
        let deny = self.delivery_deny.read();
        let subject = subject_str(subject);
        deny.as_ref().is_some_and(|d| d.denies(&subject, queue))
    }

    /// Remembers the reply subject of a request delivered to this client,
    /// when its permissions allow responses.
    #[inline]
    pub(crate) fn note_request(&self, reply: Option<&[u8]>) {
        if let Some(reply) = reply.filter(|_| self.tracks_replies.load(Relaxed)) {
            let mut replies = self.replies.lock();
            if replies.len() >= MAX_TRACKED_REPLIES {
                let expires = self
                    .permissions()
                    .and_then(|p| p.responses())
                    .and_then(|(_, e)| e);
                prune_replies(&mut replies, expires);
            }
            replies.insert(reply.into(), (std::time::Instant::now(), 0));
        }
    }

    /// May this client publish to `subject` as a response (allow_responses)?
    /// Counts the reply against the limit.
    pub(crate) fn take_response(&self, subject: &[u8]) -> bool {
        if !self.tracks_replies.load(Relaxed) {
            return false;
        }
        let Some((max, expires)) = self.permissions().and_then(|p| p.responses()) else {
            return false;
        };
        let mut replies = self.replies.lock();
        let Some((since, sent)) = replies.get_mut(subject) else {
            return false;
        };
        *sent += 1;
        let expired = expires.is_some_and(|e| since.elapsed() > e);
        let over = max > 0 && *sent > max;
        if expired || over {
            replies.remove(subject);
            return false;
        }
        if max > 0 && *sent == max {
            replies.remove(subject);
        }
        true
    }

    /// Whether this client accepts asynchronous INFO updates.
    pub fn wants_async_info(&self) -> bool {
        self.async_info.load(Relaxed)
    }

    /// Ready once the connection must close ([`ConnShared::close`]); the
    /// reader polls this in its wait for the next event.
    pub fn poll_closed(&self, cx: &mut std::task::Context<'_>) -> std::task::Poll<()> {
        if self.closed.load(Acquire) {
            return std::task::Poll::Ready(());
        }
        self.closed_waker.register(cx.waker());
        // A close between the load and the registration woke nobody.
        if self.closed.load(Acquire) {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    }

    pub fn is_closed(&self) -> bool {
        self.closed.load(Acquire)
    }

    pub fn reason(&self) -> Option<ClosedState> {
        *self.reason.lock()
    }

    /// Bytes that were queued when the connection was told to close.
    pub fn pending_at_close(&self) -> usize {
        self.pending_at_close.load(Relaxed)
    }

    /// The log prefix, with the CONNECT descriptor once known.
    pub fn prefix(&self) -> Arc<str> {
        self.meta.lock().prefix.clone()
    }
}

/// Reply subject → (when the request arrived, replies sent so far).
type Replies = HashMap<Box<[u8]>, (std::time::Instant, i64)>;

/// Reply subjects remembered per client before expired ones are pruned.
const MAX_TRACKED_REPLIES: usize = 4096;

fn prune_replies(
    replies: &mut HashMap<Box<[u8]>, (std::time::Instant, i64)>,
    expires: Option<Duration>,
) {
    match expires {
        Some(e) => replies.retain(|_, (since, _)| since.elapsed() <= e),
        None => {
            // Without expiry, forget the oldest half.
            let mut ages: Vec<_> = replies.values().map(|(t, _)| *t).collect();
            ages.sort();
            if let Some(cut) = ages.get(ages.len() / 2).copied() {
                replies.retain(|_, (since, _)| *since > cut);
            }
        }
    }
}

pub fn unix_nanos() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}
