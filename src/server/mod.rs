//! The server core: shared state, the accept loop, and message routing.
//!
//! [`Server`] owns what every connection shares: the options, the subject trie
//! ([`sublist::Sublist`]), the connection registry and the counters behind
//! `/varz`. [`Server::deliver`] is the heart of the data path: given a
//! publish and its (cached, lock-free) match result it appends the message to
//! each subscriber's outbound buffer — every plain subscription, one random
//! member per queue group — and records whose writer to wake.
//!
//! Entry points follow mini-redis: [`run`] takes a bound listener, options and
//! a shutdown future; [`start`] runs one in the background for tests.
//!
//! **Must never:** refer back to the protocol parser, block on a socket, or
//! take a lock on the per-message path other than the subscriber's outbound
//! mutex.

pub mod close;
pub mod shared;
pub mod spin;
pub mod subject;
pub mod subscription;

pub use shared::{ConnMeta, ConnShared};

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use parking_lot::{Mutex, RwLock};
use smallvec::SmallVec;
use sublist::{MatchResult, Sublist};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::auth::Auth;
use crate::client;
use crate::client::info::{self, Info};
use crate::config::{Options, VERSION};
use crate::log::{self, ConnKind};
use crate::outbound::{Message, OutStats, Push};
use crate::server::close::ClosedState;
use crate::server::subscription::{Quota, SubRef, SubSnapshot, Subscription};

/// Distinct client names counted by [`Server::record_slow_consumer`].
pub const SLOW_NAMES_MAX: usize = 1024;

/// A local interest aggregate: subject and optional queue.
pub(crate) type InterestKey = (Box<str>, Option<Box<str>>);

/// Server-wide counters (`/varz`). Updated once per read batch, not per
/// message.
#[derive(Default)]
pub struct ServerStats {
    pub in_msgs: AtomicU64,
    pub in_bytes: AtomicU64,
    pub out_msgs: AtomicU64,
    pub out_bytes: AtomicU64,
    pub slow_consumers: AtomicU64,
    pub total_connections: AtomicU64,
}

impl ServerStats {
    pub fn add_in(&self, msgs: u64, bytes: u64) {
        self.in_msgs.fetch_add(msgs, Relaxed);
        self.in_bytes.fetch_add(bytes, Relaxed);
    }
}

/// A closed connection remembered for `/connz?state=closed`.
#[derive(Clone, Debug)]
pub struct ClosedClient {
    pub cid: u64,
    pub addr: SocketAddr,
    pub start: SystemTime,
    pub stop: SystemTime,
    /// Unix nanos of the last activity before the close.
    pub last_activity: u64,
    pub reason: ClosedState,
    pub name: String,
    pub lang: String,
    pub version: String,
    pub user: String,
    pub in_msgs: u64,
    pub in_bytes: u64,
    pub out: OutStats,
    pub rtt_nanos: u64,
    /// The subscriptions held when the connection closed.
    pub subs: Vec<SubSnapshot>,
}

/// Everything connections share.
pub struct Server {
    pub id: String,
    pub name: String,
    opts: RwLock<Arc<Options>>,
    opts_generation: AtomicU64,
    /// Keeps a worker polling briefly after traffic (see `server/spin.rs`).
    pub spinner: crate::server::spin::Spinner,
    auth: RwLock<Arc<Auth>>,
    /// Client TLS, rebuilt on reload.
    tls: RwLock<Option<tokio_rustls::TlsAcceptor>>,
    pub sublist: Sublist<SubRef>,
    clients: Mutex<HashMap<u64, Arc<ConnShared>>>,
    closed: Mutex<VecDeque<Arc<ClosedClient>>>,
    /// Slow-consumer cuts per client name (`/metrics`), bounded.
    slow_by_name: Mutex<HashMap<String, u64>>,
    /// Registered routes by peer server id (`route/`).
    pub(crate) routes: Mutex<HashMap<String, crate::route::RouteEntry>>,
    /// Local interest counts per (subject, queue), for RS+/RS- aggregation.
    /// Lock order: `interest` before `routes`.
    pub(crate) interest: Mutex<HashMap<InterestKey, u32>>,
    /// Cluster state (name, our route INFO), when clustering is on.
    pub(crate) cluster: crate::route::ClusterState,
    next_cid: AtomicU64,
    pub stats: ServerStats,
    pub started: SystemTime,
    /// The client listener's bound address.
    pub client_addr: SocketAddr,
    /// True once the listeners are up (for `/healthz`).
    pub ready: AtomicBool,
    /// Signalled to enter lame duck mode (`process/lameduck.rs`).
    pub(crate) lame_duck: tokio::sync::Notify,
    pub(crate) in_lame_duck: AtomicBool,
    shutdown: CancellationToken,
    /// Route tasks (listener, solicitors, connections), awaited at shutdown
    /// so that their close lines come before "Server Exiting..".
    pub(crate) route_tasks: TaskTracker,
}

impl Server {
    /// Builds the server state; fails only on a TLS configuration that
    /// cannot be loaded.
    pub fn new(
        opts: Options,
        client_addr: SocketAddr,
    ) -> Result<Arc<Server>, crate::listen::tls::TlsError> {
        let id = info::new_server_id();
        let name = if opts.server_name.is_empty() {
            id.clone()
        } else {
            opts.server_name.clone()
        };
        let sublist = Sublist::with_config(sublist::Config {
            cache_slots: if opts.disable_sublist_cache {
                0
            } else {
                sublist::DEFAULT_CACHE_SLOTS
            },
            collector: None,
        });
        let cluster = crate::route::ClusterState::new(&opts);
        let server = Arc::new(Server {
            id,
            name,
            auth: RwLock::new(Arc::new(Auth::from_options(&opts))),
            tls: RwLock::new(None),
            opts: RwLock::new(Arc::new(opts)),
            opts_generation: AtomicU64::new(0),
            spinner: crate::server::spin::Spinner::default(),
            sublist,
            clients: Mutex::new(HashMap::new()),
            closed: Mutex::new(VecDeque::new()),
            routes: Mutex::new(HashMap::new()),
            interest: Mutex::new(HashMap::new()),
            cluster,
            slow_by_name: Mutex::new(HashMap::new()),
            next_cid: AtomicU64::new(1),
            stats: ServerStats::default(),
            started: SystemTime::now(),
            client_addr,
            ready: AtomicBool::new(false),
            lame_duck: tokio::sync::Notify::new(),
            in_lame_duck: AtomicBool::new(false),
            shutdown: CancellationToken::new(),
            route_tasks: TaskTracker::new(),
        });
        server.load_tls(&server.options())?;
        Ok(server)
    }

    /// The running options (replaced as a whole on reload).
    pub fn options(&self) -> Arc<Options> {
        self.opts.read().clone()
    }

    pub fn auth(&self) -> Arc<Auth> {
        self.auth.read().clone()
    }

    pub fn headers_supported(&self) -> bool {
        !self.opts.read().no_header_support
    }

    /// Connection ids are shared by clients and routes, as in nats-server.
    pub fn next_cid(&self) -> u64 {
        self.next_cid.fetch_add(1, Relaxed)
    }

    /// The INFO a client gets.
    pub fn client_info(&self, cid: u64, addr: SocketAddr) -> Info {
        self.client_info_with(cid, addr, self.connect_urls())
    }

    /// [`Server::client_info`] advertising `connect_urls`.
    pub(crate) fn client_info_with(
        &self,
        cid: u64,
        addr: SocketAddr,
        connect_urls: Vec<String>,
    ) -> Info {
        let opts = self.options();
        Info {
            server_id: self.id.clone(),
            server_name: self.name.clone(),
            version: VERSION.to_string(),
            proto: 1,
            go: info::TOOLCHAIN.to_string(),
            host: opts.host.clone(),
            port: self.client_addr.port(),
            headers: !opts.no_header_support,
            auth_required: self.auth().required(),
            tls_required: opts.tls.is_some() && !opts.allow_non_tls,
            tls_verify: opts.tls.as_ref().is_some_and(|t| t.verify),
            tls_available: opts.tls.is_some() && opts.allow_non_tls,
            max_payload: opts.max_payload,
            client_id: Some(cid),
            client_ip: Some(addr.ip().to_string()),
            cluster: self.cluster.name_if_enabled(),
            connect_urls,
            ..Info::default()
        }
    }

    /// The TLS acceptor for clients, when `tls {}` is configured.
    pub fn tls_acceptor(&self) -> Option<tokio_rustls::TlsAcceptor> {
        self.tls.read().clone()
    }

    /// Rebuilds the client TLS acceptor from the options (start and reload).
    pub(crate) fn load_tls(&self, opts: &Options) -> Result<(), crate::listen::tls::TlsError> {
        let acceptor = match &opts.tls {
            Some(t) => Some(tokio_rustls::TlsAcceptor::from(
                crate::listen::tls::server_config(t)?,
            )),
            None => None,
        };
        *self.tls.write() = acceptor;
        Ok(())
    }

    /// Records a connection that failed before it was served (a TLS
    /// handshake) among the closed connections.
    pub fn record_failed_client(&self, client: &Arc<ConnShared>, reason: ClosedState) {
        self.clients.lock().insert(client.cid, client.clone());
        self.unregister_client(client, reason);
    }

    /// Adds a client unless `max_connections` is reached.
    pub fn register_client(&self, client: &Arc<ConnShared>) -> bool {
        let max = self.opts.read().max_connections;
        let mut clients = self.clients.lock();
        if clients.len() >= max {
            return false;
        }
        clients.insert(client.cid, client.clone());
        self.stats.total_connections.fetch_add(1, Relaxed);
        true
    }

    pub fn unregister_client(&self, client: &Arc<ConnShared>, reason: ClosedState) {
        if self.clients.lock().remove(&client.cid).is_none() {
            return;
        }
        let meta = client.meta.lock().clone();
        let subs: Vec<SubSnapshot> = client.subs.lock().values().map(|s| s.snapshot()).collect();
        let record = ClosedClient {
            cid: client.cid,
            addr: client.addr,
            start: client.start,
            stop: SystemTime::now(),
            last_activity: client.last_activity.load(Relaxed),
            reason,
            name: meta.name.to_string(),
            lang: meta.lang.to_string(),
            version: meta.version.to_string(),
            user: meta.user.to_string(),
            in_msgs: client.in_msgs.load(Relaxed),
            in_bytes: client.in_bytes.load(Relaxed),
            out: OutStats {
                pending: client.pending_at_close(),
                ..client.out.stats()
            },
            rtt_nanos: client.rtt_nanos.load(Relaxed),
            subs,
        };
        let max = self.opts.read().max_closed_clients;
        let mut closed = self.closed.lock();
        if max > 0 {
            while closed.len() >= max {
                closed.pop_front();
            }
            closed.push_back(Arc::new(record));
        }
    }

    /// Live client connections.
    pub fn clients(&self) -> Vec<Arc<ConnShared>> {
        self.clients.lock().values().cloned().collect()
    }

    pub fn num_clients(&self) -> usize {
        self.clients.lock().len()
    }

    /// Recently closed connections, oldest first.
    pub fn closed_clients(&self) -> Vec<Arc<ClosedClient>> {
        self.closed.lock().iter().cloned().collect()
    }

    /// Counts a slow-consumer cut (`/varz` `slow_consumers`, and per client
    /// name for `/metrics`; names past [`SLOW_NAMES_MAX`] count under `""`).
    pub fn record_slow_consumer(&self, client: &ConnShared) {
        self.stats.slow_consumers.fetch_add(1, Relaxed);
        let name = client.meta.lock().name.to_string();
        let mut by_name = self.slow_by_name.lock();
        let key = if by_name.contains_key(&name) || by_name.len() < SLOW_NAMES_MAX {
            name
        } else {
            String::new()
        };
        *by_name.entry(key).or_insert(0) += 1;
    }

    /// Slow-consumer cuts per client name, since start.
    pub fn slow_consumers_by_name(&self) -> Vec<(String, u64)> {
        let by_name = self.slow_by_name.lock();
        by_name.iter().map(|(n, c)| (n.clone(), *c)).collect()
    }

    /// Resolves once shutdown has been asked for.
    pub fn stopped(&self) -> impl Future<Output = ()> + Send + 'static {
        self.shutdown.clone().cancelled_owned()
    }

    pub fn add_sub(&self, sub: SubRef) {
        let (subject, queue) = (sub.subject.clone(), sub.queue.clone());
        let local = !sub.is_remote();
        // Subject and queue were validated by the caller.
        if let Ok(true) = self.sublist.insert(&subject, queue.as_deref(), sub) {
            if local {
                self.local_interest(&subject, queue.as_deref(), 1);
            }
        }
    }

    /// Removes one subscription from the trie and from its connection.
    pub fn remove_sub(&self, sub: &Arc<Subscription>) {
        {
            let mut subs = sub.client.subs.lock();
            if subs.get(&sub.sid).is_some_and(|s| Arc::ptr_eq(s, sub)) {
                subs.remove(&sub.sid);
            }
        }
        let removed = self
            .sublist
            .remove(&sub.subject, sub.queue.as_deref(), &SubRef(sub.clone()));
        if removed.is_ok() && !sub.is_remote() {
            self.local_interest(&sub.subject, sub.queue.as_deref(), -1);
        }
    }

    /// Drops every subscription of a closing connection in one batch.
    pub fn remove_client_subs(&self, client: &ConnShared) {
        let subs: Vec<SubRef> = client.subs.lock().drain().map(SubRef).collect();
        self.sublist
            .remove_batch(subs.iter().map(|s| (&*s.subject, s.queue.as_deref(), s)));
        if client.kind == ConnKind::Client {
            for sub in &subs {
                self.local_interest(&sub.subject, sub.queue.as_deref(), -1);
            }
        }
    }

    /// Delivers a message published by a local client: to every local plain
    /// subscription, to one member of each queue group (weighted across local
    /// members and routes), and at most one `RMSG` per route that has
    /// interest (`docs/protocol.md#routed-messages`). Returns how many deliveries (local
    /// messages plus RMSGs) were made.
    #[inline]
    pub fn deliver(
        &self,
        from: &Arc<ConnShared>,
        echo: bool,
        msg: &Message<'_>,
        result: &MatchResult<SubRef>,
        wakes: &mut Wakes,
    ) -> usize {
        let mut delivered = 0;
        let mut routes: SmallVec<[RouteTarget<'_>; 4]> = SmallVec::new();
        for sub in &result.plain {
            if sub.is_remote() {
                route_target(&mut routes, &sub.client);
                continue;
            }
            if !echo && Arc::ptr_eq(&sub.client, from) {
                continue;
            }
            if self.deliver_to(sub, msg, wakes) {
                delivered += 1;
            }
        }
        for group in &result.queues {
            let eligible = |s: &SubRef| echo || !Arc::ptr_eq(&s.client, from);
            let Some(start) = weighted_pick(&group.members, eligible) else {
                continue;
            };
            let members = &group.members;
            for i in 0..members.len() {
                let sub = &members[(start + i) % members.len()];
                if !eligible(sub) {
                    continue;
                }
                if sub.is_remote() {
                    route_target(&mut routes, &sub.client)
                        .queues
                        .push(&group.name);
                    break;
                }
                if self.deliver_to(sub, msg, wakes) {
                    delivered += 1;
                    break;
                }
            }
        }
        for target in &routes {
            match target.route.out.push_rmsg(msg, &target.queues) {
                Push::Queued { wake, stall } => {
                    wakes.sent();
                    if wake {
                        wakes.push(target.route);
                    }
                    if stall {
                        // Slow the publisher down rather than cut the route.
                        wakes.stalled(target.route);
                    }
                    delivered += 1;
                }
                Push::SlowConsumer => {
                    log::notice!(
                        "{} - Slow Consumer Detected: MaxPending of {} Exceeded",
                        target.route.prefix(),
                        target.route.out.max_pending()
                    );
                    target
                        .route
                        .close(ClosedState::SlowConsumerPendingBytes, false);
                }
                Push::Closed => {}
            }
        }
        delivered
    }

    /// Delivers a message that arrived from a route: to local plain
    /// subscriptions, and for each queue group the sender named, to one local
    /// member. Never forwarded to another route (one hop at most).
    pub fn deliver_routed(
        &self,
        msg: &Message<'_>,
        queues: Option<&[u8]>,
        result: &MatchResult<SubRef>,
        wakes: &mut Wakes,
    ) -> usize {
        let mut delivered = 0;
        for sub in &result.plain {
            if !sub.is_remote() && self.deliver_to(sub, msg, wakes) {
                delivered += 1;
            }
        }
        let Some(queues) = queues else {
            return delivered;
        };
        for name in queues.split(|b| *b == b' ').filter(|q| !q.is_empty()) {
            let Some(group) = result.queues.iter().find(|g| g.name.as_bytes() == name) else {
                continue;
            };
            let local = |s: &SubRef| !s.is_remote();
            let Some(start) = weighted_pick(&group.members, local) else {
                continue;
            };
            let members = &group.members;
            for i in 0..members.len() {
                let sub = &members[(start + i) % members.len()];
                if local(sub) && self.deliver_to(sub, msg, wakes) {
                    delivered += 1;
                    break;
                }
            }
        }
        delivered
    }

    #[inline]
    fn deliver_to(&self, sub: &SubRef, msg: &Message<'_>, wakes: &mut Wakes) -> bool {
        let client = &sub.client;
        // A closed connection's buffer refuses the push below; no need to
        // ask its cancellation token (a mutex) on every delivery.
        if client.delivery_denied(msg.subject, sub.queue.as_deref()) {
            return false;
        }
        let quota = sub.take_quota();
        if quota == Quota::Exhausted {
            return false;
        }
        match client.out.push_msg(&sub.sid, msg, client.headers()) {
            Push::Queued { wake, stall } => {
                if wake {
                    wakes.push_delivery(client);
                }
                if stall {
                    wakes.stalled(client);
                }
            }
            Push::SlowConsumer => {
                log::notice!(
                    "{} - Slow Consumer Detected: MaxPending of {} Exceeded",
                    client.prefix(),
                    client.out.max_pending()
                );
                client.close(ClosedState::SlowConsumerPendingBytes, false);
                return false;
            }
            Push::Closed => return false,
        }
        client.note_request(msg.reply);
        if log::trace_enabled() {
            trace_delivery(client, &sub.sid, msg);
        }
        wakes.out_msgs += 1;
        wakes.out_bytes += msg.payload.len() as u64;
        if quota == Quota::Last {
            log::debug!(
                "{} - Auto-unsubscribe limit of {} reached for sid '{}'",
                client.prefix(),
                sub.max(),
                log::clip(&sub.sid)
            );
            self.remove_sub(&sub.0);
        }
        true
    }

    /// Replaces the running options (reload).
    pub(crate) fn set_options(&self, opts: Options) {
        *self.opts.write() = Arc::new(opts);
        self.opts_generation.fetch_add(1, Relaxed);
    }

    /// Changes whenever the options are replaced (reload), so connections
    /// can pick up new limits with one relaxed load per batch.
    #[inline]
    pub fn options_generation(&self) -> u64 {
        self.opts_generation.load(Relaxed)
    }

    pub(crate) fn set_auth(&self, auth: Auth) {
        *self.auth.write() = Arc::new(auth);
    }

    /// Asks every connection to close and stops accepting.
    pub fn shutdown(&self) {
        self.shutdown.cancel();
        self.close_all_clients();
    }

    /// Closes every registered client for shutdown (each flushes what it has
    /// queued). A client that registers after this sweep sees
    /// [`Server::is_shutting_down`] and closes itself; routes stop through
    /// the shutdown token.
    fn close_all_clients(&self) {
        let clients: Vec<Arc<ConnShared>> = self.clients.lock().values().cloned().collect();
        for client in clients {
            client.close(ClosedState::ServerShutdown, true);
        }
    }

    /// Cancelled at shutdown: stops the accept loops, and routes (their stop
    /// tokens are children).
    pub fn shutdown_token(&self) -> &CancellationToken {
        &self.shutdown
    }

    pub fn is_shutting_down(&self) -> bool {
        self.shutdown.is_cancelled()
    }

    /// Accepts clients until `shutdown` resolves (or [`Server::shutdown`] is
    /// called), then closes every connection, flushing what is queued.
    pub async fn serve(
        self: &Arc<Self>,
        listener: TcpListener,
        shutdown: impl Future<Output = ()>,
    ) {
        let tracker = TaskTracker::new();
        let spinner = {
            let server = self.clone();
            tokio::spawn(async move { server.spinner.run().await })
        };
        tokio::pin!(shutdown);
        self.ready.store(true, Relaxed);
        loop {
            tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok((socket, addr)) => {
                        let cid = self.next_cid();
                        tracker.spawn(client::serve(self.clone(), socket, addr, cid));
                    }
                    Err(e) => {
                        log::error!("Temporary Client Accept Error({e}), sleeping 10ms");
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                },
                _ = &mut shutdown => break,
                _ = self.shutdown.cancelled() => break,
                _ = self.lame_duck.notified() => {
                    // Stop accepting, then let clients go gradually.
                    drop(listener);
                    self.run_lame_duck(&mut shutdown).await;
                    break;
                }
            }
        }
        self.ready.store(false, Relaxed);
        // Every client and route closes, each flushing what it has queued.
        self.shutdown();
        tracker.close();
        self.route_tasks.close();
        let grace = self.options().write_deadline + Duration::from_secs(1);
        let _ = tokio::time::timeout(grace, async {
            tracker.wait().await;
            self.route_tasks.wait().await;
        })
        .await;
        spinner.abort();
    }
}

/// Writers to wake (once each) and counters to add at the end of a read
/// batch, plus the first subscriber found falling behind.
#[derive(Default)]
pub struct Wakes {
    clients: Vec<Arc<ConnShared>>,
    stalled: Option<Arc<ConnShared>>,
    out_msgs: u64,
    out_bytes: u64,
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
    fn push_delivery(&mut self, client: &Arc<ConnShared>) {
        if self.now == 0 {
            self.now = shared::unix_nanos();
        }
        client.last_activity.store(self.now, Relaxed);
        self.clients.push(client.clone());
    }

    fn stalled(&mut self, client: &Arc<ConnShared>) {
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

/// `->> [MSG subject sid [reply] size]` on the subscriber's connection.
#[cold]
fn trace_delivery(client: &ConnShared, sid: &[u8], msg: &Message<'_>) {
    let headers = msg.header_len.filter(|_| client.headers());
    let body = match (msg.header_len, headers) {
        (Some(h), None) => msg.payload.len() - h,
        _ => msg.payload.len(),
    };
    let mut line = String::from(if headers.is_some() { "HMSG " } else { "MSG " });
    line.push_str(&String::from_utf8_lossy(msg.subject));
    line.push(' ');
    line.push_str(&String::from_utf8_lossy(sid));
    if let Some(reply) = msg.reply {
        line.push(' ');
        line.push_str(&String::from_utf8_lossy(reply));
    }
    if let Some(h) = headers {
        line.push_str(&format!(" {h}"));
    }
    line.push_str(&format!(" {body}"));
    log::trace!("{} - ->> [{line}]", client.prefix());
}

/// One route's share of a message: the route and the queue groups whose
/// member behind it was picked.
struct RouteTarget<'a> {
    route: &'a Arc<ConnShared>,
    queues: SmallVec<[&'a str; 4]>,
}

/// The target for `route`, added on first use (one RMSG per route).
fn route_target<'a, 'b>(
    routes: &'b mut SmallVec<[RouteTarget<'a>; 4]>,
    route: &'a Arc<ConnShared>,
) -> &'b mut RouteTarget<'a> {
    let at = match routes.iter().position(|t| Arc::ptr_eq(t.route, route)) {
        Some(at) => at,
        None => {
            routes.push(RouteTarget {
                route,
                queues: SmallVec::new(),
            });
            routes.len() - 1
        }
    };
    &mut routes[at]
}

/// Picks the index of a queue member at random, each eligible member weighted
/// by its `weight` (1 locally, the member count behind a route).
#[inline]
fn weighted_pick(members: &[SubRef], eligible: impl Fn(&SubRef) -> bool) -> Option<usize> {
    let total: u64 = members
        .iter()
        .filter(|m| eligible(m))
        .map(|m| u64::from(m.weight().max(1)))
        .sum();
    if total == 0 {
        return None;
    }
    let mut r = fastrand::u64(..total);
    for (i, m) in members.iter().enumerate() {
        if !eligible(m) {
            continue;
        }
        let w = u64::from(m.weight().max(1));
        if r < w {
            return Some(i);
        }
        r -= w;
    }
    None
}

/// Runs a server on `listener` until `shutdown` resolves.
pub async fn run(
    listener: TcpListener,
    opts: Options,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let server = Server::new(opts, listener.local_addr()?).map_err(io::Error::other)?;
    server.serve(listener, shutdown).await;
    Ok(())
}

/// A server running in the background (tests, embedding).
pub struct Running {
    pub server: Arc<Server>,
    pub addr: SocketAddr,
    /// The route listener, when clustering is on.
    pub cluster_addr: Option<SocketAddr>,
    /// The monitoring listener's address, when `http_port` is set.
    pub monitor_addr: Option<SocketAddr>,
    task: tokio::task::JoinHandle<()>,
    monitor: Option<tokio::task::JoinHandle<()>>,
}

impl Running {
    /// Shuts down and waits for every connection to finish.
    pub async fn stop(self) {
        self.server.shutdown();
        let _ = self.task.await;
        if let Some(mut monitor) = self.monitor {
            // In-flight monitoring requests finish; a stuck one is cut.
            if tokio::time::timeout(Duration::from_secs(5), &mut monitor)
                .await
                .is_err()
            {
                monitor.abort();
            }
        }
    }
}

/// Binds `opts.host:opts.port` (port 0 or -1 = random) and serves in the
/// background, with the monitoring endpoints when `http_port` is set.
pub async fn start(opts: Options) -> io::Result<Running> {
    let port = if opts.port < 0 { 0 } else { opts.port as u16 };
    let listener = crate::listen::bind(&opts.host, port).await?;
    let addr = listener.local_addr()?;
    let server = Server::new(opts, addr).map_err(io::Error::other)?;
    let monitor = crate::monitor::start_configured(&server).await?;
    let task = {
        let server = server.clone();
        tokio::spawn(async move { server.serve(listener, std::future::pending()).await })
    };
    let cluster_addr = server.start_cluster().await?;
    let (monitor_addr, monitor) = monitor.unzip();
    Ok(Running {
        server,
        addr,
        cluster_addr,
        monitor_addr,
        task,
        monitor,
    })
}
