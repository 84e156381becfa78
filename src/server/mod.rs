//! The routing core's state: [`Server`] owns what every connection shares —
//! the options, the subject trie ([`sublist::Sublist`]), the connection
//! registry (`registry.rs`) and the counters behind `/varz` — and the
//! shutdown signal. Delivery is `deliver.rs` ([`Server::deliver`]); the
//! per-batch wake list is `wakes.rs` ([`Wakes`]).
//!
//! The layers above attach their own `impl Server` blocks (the accept loop and
//! start-up in `process/`, routes in `route/`, a client's `INFO` in
//! `client/info.rs`); the core never names them.
//!
//! **Must never:** import a protocol layer (client, route, conn, parser,
//! listen, process, monitor; `tests/layers.rs` checks), block on a socket,
//! or take a lock on the per-message path other than the subscriber's
//! outbound mutex.

pub mod account;
pub mod account_stats;
pub mod close;
pub mod deliver;
pub mod events;
pub mod imports;
pub mod internal;
pub mod latency;
pub mod registry;
pub mod routes;
pub mod shared;
pub mod spin;
pub mod subject;
pub mod subscription;
pub mod wakes;

pub use shared::{ConnMeta, ConnShared};
pub use wakes::Wakes;

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::SystemTime;

use parking_lot::{Mutex, RwLock};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::auth::Auth;
use crate::config::Options;
use crate::outbound::OutStats;
use crate::server::close::ClosedState;
use crate::server::subscription::SubSnapshot;
use crate::tls::TlsError;

/// Distinct client names counted by [`Server::record_slow_consumer`].
pub const SLOW_NAMES_MAX: usize = 1024;

/// A local interest aggregate: account, subject and optional queue.
pub(crate) type InterestKey = (Arc<str>, Box<str>, Option<Box<str>>);

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
    pub account: Arc<str>,
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
    /// Every account's subject space (`account.rs`).
    pub accounts: account::Accounts,
    clients: Mutex<HashMap<u64, Arc<ConnShared>>>,
    closed: Mutex<VecDeque<Arc<ClosedClient>>>,
    /// Slow-consumer cuts per client name (`/metrics`), bounded.
    slow_by_name: Mutex<HashMap<String, u64>>,
    /// Registered routes by peer server id (`route/`).
    pub(crate) routes: Mutex<HashMap<String, routes::RouteEntry>>,
    /// Local interest counts per (subject, queue), for RS+/RS- aggregation.
    /// Lock order: `interest` before `routes`.
    pub(crate) interest: Mutex<HashMap<InterestKey, u32>>,
    /// Cluster state (name, our route INFO), when clustering is on.
    pub(crate) cluster: routes::ClusterState,
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
    /// The system client's state (`events.rs`).
    pub(crate) sys: events::SysState,
}

impl Server {
    /// Builds the server state; fails only on a TLS configuration that
    /// cannot be loaded.
    pub fn new(opts: Options, client_addr: SocketAddr) -> Result<Arc<Server>, TlsError> {
        let id = new_server_id();
        let name = if opts.server_name.is_empty() {
            id.clone()
        } else {
            opts.server_name.clone()
        };
        let accounts = account::Accounts::from_options(&opts);
        let cluster = routes::ClusterState::new(&opts);
        let server = Arc::new(Server {
            id,
            name,
            auth: RwLock::new(Arc::new(Auth::from_options(&opts))),
            tls: RwLock::new(None),
            opts: RwLock::new(Arc::new(opts)),
            opts_generation: AtomicU64::new(0),
            spinner: crate::server::spin::Spinner::default(),
            accounts,
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
            sys: events::SysState::default(),
        });
        server.load_tls(&server.options())?;
        server.build_imports(&server.options());
        Ok(server)
    }

    /// The global account `$G`.
    #[inline]
    pub fn global(&self) -> &Arc<account::Account> {
        self.accounts.global()
    }

    /// Pins the current thread for matching in any account's trie: every
    /// account's sublist retires memory to the same (global) collector.
    #[inline]
    pub fn pin(&self) -> sublist::Guard {
        self.accounts.global().sublist.pin()
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

    /// The TLS acceptor for clients, when `tls {}` is configured.
    pub fn tls_acceptor(&self) -> Option<tokio_rustls::TlsAcceptor> {
        self.tls.read().clone()
    }

    /// Rebuilds the client TLS acceptor from the options (start and reload).
    pub(crate) fn load_tls(&self, opts: &Options) -> Result<(), TlsError> {
        let acceptor = match &opts.tls {
            Some(t) => Some(tokio_rustls::TlsAcceptor::from(crate::tls::server_config(
                t,
            )?)),
            None => None,
        };
        *self.tls.write() = acceptor;
        Ok(())
    }

    /// Resolves once shutdown has been asked for.
    pub fn stopped(&self) -> impl Future<Output = ()> + Send + 'static {
        self.shutdown.clone().cancelled_owned()
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
        self.event_shutdown();
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
}

/// A fresh server identity in nats-server's format: an nkey server public key
/// (56 characters starting with `N`).
pub fn new_server_id() -> String {
    nkeys::KeyPair::new_server().public_key()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_id_format() {
        let id = new_server_id();
        assert_eq!(id.len(), 56);
        assert!(id.starts_with('N'));
        assert_ne!(id, new_server_id());
    }
}
