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

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use parking_lot::{Mutex, RwLock};
use sublist::{MatchResult, Sublist};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::auth::Auth;
use crate::client::{self, ClientShared};
use crate::close::ClosedState;
use crate::config::{Options, VERSION};
use crate::info::{self, Info};
use crate::log;
use crate::outbound::{Message, OutStats, Push};
use crate::subscription::{Quota, SubRef, SubSnapshot, Subscription};

/// Distinct client names counted by [`Server::record_slow_consumer`].
pub const SLOW_NAMES_MAX: usize = 1024;

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
    auth: RwLock<Arc<Auth>>,
    pub sublist: Sublist<SubRef>,
    clients: Mutex<HashMap<u64, Arc<ClientShared>>>,
    closed: Mutex<VecDeque<Arc<ClosedClient>>>,
    /// Slow-consumer cuts per client name (`/metrics`), bounded.
    slow_by_name: Mutex<HashMap<String, u64>>,
    next_cid: AtomicU64,
    pub stats: ServerStats,
    pub started: SystemTime,
    /// The client listener's bound address.
    pub client_addr: SocketAddr,
    /// True once the listeners are up (for `/healthz`).
    pub ready: AtomicBool,
    shutdown: CancellationToken,
}

impl Server {
    pub fn new(opts: Options, client_addr: SocketAddr) -> Arc<Server> {
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
        Arc::new(Server {
            id,
            name,
            auth: RwLock::new(Arc::new(Auth::from_options(&opts))),
            opts: RwLock::new(Arc::new(opts)),
            sublist,
            clients: Mutex::new(HashMap::new()),
            closed: Mutex::new(VecDeque::new()),
            slow_by_name: Mutex::new(HashMap::new()),
            next_cid: AtomicU64::new(1),
            stats: ServerStats::default(),
            started: SystemTime::now(),
            client_addr,
            ready: AtomicBool::new(false),
            shutdown: CancellationToken::new(),
        })
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

    /// The INFO line for a new client.
    pub fn client_info_line(&self, cid: u64, addr: SocketAddr) -> Vec<u8> {
        let opts = self.options();
        let info = Info {
            server_id: self.id.clone(),
            server_name: self.name.clone(),
            version: VERSION.to_string(),
            proto: 1,
            go: info::TOOLCHAIN.to_string(),
            host: opts.host.clone(),
            port: self.client_addr.port(),
            headers: !opts.no_header_support,
            auth_required: self.auth().required(),
            max_payload: opts.max_payload,
            client_id: Some(cid),
            client_ip: Some(addr.ip().to_string()),
            ..Info::default()
        };
        info.to_line()
    }

    /// Adds a client unless `max_connections` is reached.
    pub fn register_client(&self, client: &Arc<ClientShared>) -> bool {
        let max = self.opts.read().max_connections;
        let mut clients = self.clients.lock();
        if clients.len() >= max {
            return false;
        }
        clients.insert(client.cid, client.clone());
        self.stats.total_connections.fetch_add(1, Relaxed);
        true
    }

    pub fn unregister_client(&self, client: &Arc<ClientShared>, reason: ClosedState) {
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
            name: meta.name,
            lang: meta.lang,
            version: meta.version,
            user: meta.user,
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
    pub fn clients(&self) -> Vec<Arc<ClientShared>> {
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
    pub fn record_slow_consumer(&self, client: &ClientShared) {
        self.stats.slow_consumers.fetch_add(1, Relaxed);
        let name = client.meta.lock().name.clone();
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

    /// Route connections, for `/routez` and `/metrics`. Empty until routes
    /// exist; the route module fills it.
    pub fn routes(&self) -> Vec<crate::monitor::RouteSnapshot> {
        Vec::new()
    }

    /// Resolves once shutdown has been asked for.
    pub fn stopped(&self) -> impl Future<Output = ()> + Send + 'static {
        self.shutdown.clone().cancelled_owned()
    }

    pub fn add_sub(&self, sub: SubRef) {
        let (subject, queue) = (sub.subject.clone(), sub.queue.clone());
        // Subject and queue were validated by the caller.
        let _ = self.sublist.insert(&subject, queue.as_deref(), sub);
    }

    /// Removes one subscription from the trie and from its connection.
    pub fn remove_sub(&self, sub: &Arc<Subscription>) {
        {
            let mut subs = sub.client.subs.lock();
            if subs.get(&sub.sid).is_some_and(|s| Arc::ptr_eq(s, sub)) {
                subs.remove(&sub.sid);
            }
        }
        let _ = self
            .sublist
            .remove(&sub.subject, sub.queue.as_deref(), &SubRef(sub.clone()));
    }

    /// Drops every subscription of a closing connection in one batch.
    pub fn remove_client_subs(&self, client: &ClientShared) {
        let subs: Vec<SubRef> = client.subs.lock().drain().map(|(_, s)| SubRef(s)).collect();
        self.sublist
            .remove_batch(subs.iter().map(|s| (&*s.subject, s.queue.as_deref(), s)));
    }

    /// Delivers one message to a match result: every plain subscription, and
    /// one member (picked at random, skipping closed ones) of each queue group.
    /// Returns how many deliveries were made.
    #[inline]
    pub fn deliver(
        &self,
        from: &Arc<ClientShared>,
        echo: bool,
        msg: &Message<'_>,
        result: &MatchResult<SubRef>,
        wakes: &mut Wakes,
    ) -> usize {
        let mut delivered = 0;
        for sub in &result.plain {
            if !echo && Arc::ptr_eq(&sub.client, from) {
                continue;
            }
            if self.deliver_to(sub, msg, wakes) {
                delivered += 1;
            }
        }
        for group in &result.queues {
            let members = &group.members;
            let start = fastrand::usize(..members.len());
            for i in 0..members.len() {
                let sub = &members[(start + i) % members.len()];
                if !echo && Arc::ptr_eq(&sub.client, from) {
                    continue;
                }
                if self.deliver_to(sub, msg, wakes) {
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
        if client.is_closed() {
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
                    self.opts.read().max_pending
                );
                client.close(ClosedState::SlowConsumerPendingBytes, false);
                return false;
            }
            Push::Closed => return false,
        }
        wakes.out_msgs += 1;
        wakes.out_bytes += msg.payload.len() as u64;
        if quota == Quota::Last {
            log::debug!(
                "{} - Auto-unsubscribe limit of {} reached for sid '{}'",
                client.prefix(),
                sub.max(),
                String::from_utf8_lossy(&sub.sid)
            );
            self.remove_sub(&sub.0);
        }
        true
    }

    /// Asks every connection to close and stops accepting.
    pub fn shutdown(&self) {
        self.shutdown.cancel();
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
            }
        }
        self.ready.store(false, Relaxed);
        drop(listener);
        self.shutdown.cancel();
        for client in self.clients() {
            client.close(ClosedState::ServerShutdown, true);
        }
        tracker.close();
        let grace = self.options().write_deadline + Duration::from_secs(1);
        let _ = tokio::time::timeout(grace, tracker.wait()).await;
    }
}

/// Writers to wake (once each) and counters to add at the end of a read
/// batch, plus the first subscriber found falling behind.
#[derive(Default)]
pub struct Wakes {
    clients: Vec<Arc<ClientShared>>,
    stalled: Option<Arc<ClientShared>>,
    out_msgs: u64,
    out_bytes: u64,
    /// This batch's delivery time (Unix nanos), read at the first delivery.
    now: u64,
}

impl Wakes {
    #[inline]
    pub fn push(&mut self, client: &Arc<ClientShared>) {
        self.clients.push(client.clone());
    }

    /// [`Wakes::push`] for a message delivery, which is activity for the
    /// receiver (nats-server's `flushClients`): stamped once per wake-up,
    /// with one clock read per batch.
    #[inline]
    fn push_delivery(&mut self, client: &Arc<ClientShared>) {
        if self.now == 0 {
            self.now = client::unix_nanos();
        }
        client.last_activity.store(self.now, Relaxed);
        self.clients.push(client.clone());
    }

    fn stalled(&mut self, client: &Arc<ClientShared>) {
        if self.stalled.is_none() {
            self.stalled = Some(client.clone());
        }
    }

    /// Wakes every writer owed a wake-up and adds the counters; returns a
    /// subscriber to stall on, if any.
    pub fn flush(&mut self, server: &Server) -> Option<Arc<ClientShared>> {
        self.now = 0;
        for client in self.clients.drain(..) {
            client.out.wake();
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

/// Runs a server on `listener` until `shutdown` resolves.
pub async fn run(
    listener: TcpListener,
    opts: Options,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let server = Server::new(opts, listener.local_addr()?);
    server.serve(listener, shutdown).await;
    Ok(())
}

/// A server running in the background (tests, embedding).
pub struct Running {
    pub server: Arc<Server>,
    pub addr: SocketAddr,
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
    let listener = TcpListener::bind((opts.host.as_str(), port)).await?;
    let addr = listener.local_addr()?;
    let server = Server::new(opts, addr);
    let monitor = crate::monitor::start_configured(&server).await?;
    let task = {
        let server = server.clone();
        tokio::spawn(async move { server.serve(listener, std::future::pending()).await })
    };
    let (monitor_addr, monitor) = monitor.unzip();
    Ok(Running {
        server,
        addr,
        monitor_addr,
        task,
        monitor,
    })
}
