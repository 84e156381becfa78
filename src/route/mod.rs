//! Routes: the full-mesh cluster protocol between servers
//! (`docs/protocol.md#routes`, the profile that interoperates with 2.9 to 2.15).
//!
//! Owns the route connections — soliciting (explicit routes from the
//! configuration, retried forever; implicit ones learned by gossip), accepting
//! on the cluster port, the CONNECT/INFO handshake with authorization and
//! cluster-name checks, registration by peer server id with duplicate
//! resolution, interest propagation (RS+/RS- aggregated per subject and queue
//! with weights), and messages (RMSG/HMSG) received from peers. Routing a
//! *local* publish to routes lives in `Server::deliver`.
//!
//! A route reuses a client's building blocks: a [`ConnShared`] (its
//! outbound buffer, counters, and the remote interest it announced, kept in
//! `subs`) and the same writer task, with a larger buffer and write deadline
//! so ordinary fan-out bursts never cut a route (`docs/protocol.md#slow-routes`).
//!
//! **Must never:** forward a message received from a route to another route
//! (one hop at most), re-announce interest learned from a route, or block
//! the accept loop on a handshake.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use parking_lot::{Mutex, RwLock};
use serde::{Deserialize, Serialize};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{sleep, Instant};

use crate::client::info;
use crate::config::{Options, RouteUrl, VERSION};
use crate::conn::{self, Event, ReadBuf};
use crate::log::{self, ConnKind, ConnPrefix};
use crate::outbound::{self, Message};
use crate::parser::{Frame, Limits, Op, Parser, Role};
use crate::server::close::ClosedState;
use crate::server::shared::unix_nanos;
use crate::server::subscription::{SubRef, Subscription};
use crate::server::ConnShared;
use crate::server::{Server, Wakes};

/// Route protocol level we speak: accounts (RS+/RMSG with `$G`).
const ROUTE_PROTO: u32 = 2;
/// The only account of a core server.
const ACCOUNT: &str = "$G";
/// First PING on a new route, then every `route_ping_interval`.
const FIRST_PING: Duration = Duration::from_secs(1);
/// Route PINGs are capped at this interval (nats-server 2.10+).
const MAX_PING_INTERVAL: Duration = Duration::from_secs(30);
/// Dial timeout and retry delay for solicited routes.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
const RETRY_DELAY: Duration = Duration::from_secs(1);
/// Routes buffer this many times the client `max_pending`, and wait this many
/// times the client `write_deadline`, before being cut.
const ROUTE_BUFFER_FACTOR: u64 = 4;
/// Longest a route's reader waits for one slow local subscriber per batch.
const STALL_MAX: Duration = Duration::from_millis(5);

/// Cluster-wide settings and state shared by all routes.
pub struct ClusterState {
    enabled: bool,
    name: RwLock<String>,
    dynamic: AtomicBool,
    /// Our route listener's bound address.
    listen: Mutex<Option<SocketAddr>>,
    /// Peers (by server id) we are dialling through gossip right now.
    dialing: Mutex<HashSet<String>>,
    /// Explicit routes being solicited, by URL as written; cancelled when a
    /// reload removes the URL.
    solicits: Mutex<std::collections::HashMap<String, tokio_util::sync::CancellationToken>>,
}

impl ClusterState {
    pub fn new(opts: &Options) -> Self {
        let dynamic = opts.cluster.name.is_empty();
        let name = if dynamic {
            nkeys::KeyPair::new_server().public_key()[1..23].to_string()
        } else {
            opts.cluster.name.clone()
        };
        Self {
            enabled: opts.cluster.enabled(),
            name: RwLock::new(name),
            dynamic: AtomicBool::new(dynamic),
            listen: Mutex::new(None),
            dialing: Mutex::new(HashSet::new()),
            solicits: Mutex::new(std::collections::HashMap::new()),
        }
    }

    pub fn enabled(&self) -> bool {
        self.enabled
    }

    pub fn name(&self) -> String {
        self.name.read().clone()
    }

    pub fn is_dynamic(&self) -> bool {
        self.dynamic.load(Relaxed)
    }

    /// The cluster name for client INFO (only when clustering is on).
    pub fn name_if_enabled(&self) -> Option<String> {
        self.enabled.then(|| self.name())
    }

    /// The bound route listener address, once listening.
    pub fn listen_addr(&self) -> Option<SocketAddr> {
        *self.listen.lock()
    }

    /// A dynamic name gives way to a peer's static name (or to a larger
    /// dynamic one), so that a cluster converges on one name.
    fn adopt(&self, peer: &str, peer_dynamic: bool) -> bool {
        if !self.is_dynamic() || peer.is_empty() {
            return false;
        }
        let mut name = self.name.write();
        if *name == peer || (peer_dynamic && peer < name.as_str()) {
            return false;
        }
        *name = peer.to_string();
        if !peer_dynamic {
            self.dynamic.store(false, Relaxed);
        }
        true
    }
}

/// A registered route.
pub struct RouteEntry {
    pub shared: Arc<ConnShared>,
    /// The explicit route URL (as written) this connection was dialled for.
    pub url: Option<String>,
    pub peer: PeerInfo,
    /// The peer's INFO as received, for gossip (with `ip` filled in).
    pub raw: serde_json::Value,
    pub solicited: bool,
}

/// The fields of a peer's route INFO that we use. Unknown fields are kept in
/// [`RouteEntry::raw`] and ignored.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct PeerInfo {
    pub server_id: String,
    pub server_name: String,
    pub version: String,
    pub proto: u32,
    pub host: String,
    pub port: u16,
    pub ip: Option<String>,
    pub cluster: Option<String>,
    pub cluster_dynamic: bool,
    pub connect_urls: Vec<String>,
    pub auth_required: bool,
    pub tls_required: bool,
    pub headers: bool,
    pub max_payload: u64,
    pub ldm: bool,
}

/// Our route INFO.
#[derive(Serialize)]
struct RouteInfo<'a> {
    server_id: &'a str,
    server_name: &'a str,
    version: &'a str,
    proto: u32,
    go: &'a str,
    host: &'a str,
    port: u16,
    headers: bool,
    max_payload: u32,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    auth_required: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    tls_required: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    tls_verify: bool,
    cluster: &'a str,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    cluster_dynamic: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    connect_urls: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ip: Option<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    ldm: bool,
}

/// The CONNECT a solicitor sends.
#[derive(Serialize, Deserialize, Default)]
#[serde(default)]
struct RouteConnect {
    echo: bool,
    verbose: bool,
    pedantic: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pass: Option<String>,
    tls_required: bool,
    headers: bool,
    name: String,
    cluster: String,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    cluster_dynamic: bool,
    /// Only clients send `lang`: its presence means a client dialled the
    /// route port.
    #[serde(skip_serializing)]
    lang: Option<String>,
}

/// Routes' outbound limits: larger than clients' so that fan-out bursts
/// do not cut the cluster apart.
fn route_limits(opts: &Options) -> (usize, Duration) {
    let pending = opts.max_pending.saturating_mul(ROUTE_BUFFER_FACTOR) as usize;
    let deadline = opts
        .cluster
        .write_deadline
        .unwrap_or(opts.write_deadline * ROUTE_BUFFER_FACTOR as u32);
    (pending, deadline)
}

fn route_ping_interval(opts: &Options) -> Duration {
    opts.cluster
        .ping_interval
        .unwrap_or(opts.ping_interval)
        .min(MAX_PING_INTERVAL)
}

// --------------------------------------------------------------- the server

impl Server {
    /// Starts clustering: the route listener and every configured route.
    /// Returns the bound route address.
    pub async fn start_cluster(self: &Arc<Self>) -> std::io::Result<Option<SocketAddr>> {
        let opts = self.options();
        if !opts.cluster.enabled() {
            return Ok(None);
        }
        let port = if opts.cluster.port < 0 {
            0
        } else {
            opts.cluster.port as u16
        };
        let listener = crate::listen::bind(opts.cluster.bind_host(), port).await?;
        let addr = listener.local_addr()?;
        *self.cluster.listen.lock() = Some(addr);
        log::notice!("Cluster name is {}", self.cluster.name());
        if self.cluster.is_dynamic() {
            log::warn!("Cluster name was dynamically generated, consider setting one");
        }
        log::notice!(
            "Listening for route connections on {}:{}",
            opts.cluster.bind_host(),
            addr.port()
        );
        let server = self.clone();
        self.route_tasks
            .spawn(async move { server.accept_routes(listener).await });
        for url in opts.cluster.routes.clone() {
            self.spawn_solicit(url, true);
        }
        Ok(Some(addr))
    }

    async fn accept_routes(self: Arc<Self>, listener: TcpListener) {
        loop {
            tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok((socket, addr)) => {
                        let rid = self.next_cid();
                        let server = self.clone();
                        self.route_tasks.spawn(async move {
                            let parent = server.shutdown_token().clone();
                            serve_route(server, socket, addr, rid, None, &parent).await
                        });
                    }
                    Err(e) => {
                        log::error!("Temporary Route Accept Error({e}), sleeping 10ms");
                        sleep(Duration::from_millis(10)).await;
                    }
                },
                _ = self.shutdown_token().cancelled() => return,
            }
        }
    }

    /// Dials `url` in the background: explicit routes forever, implicit
    /// ones `connect_retries` extra times.
    pub fn spawn_solicit(self: &Arc<Self>, url: RouteUrl, explicit: bool) {
        let token = self.shutdown_token().child_token();
        if explicit {
            self.cluster
                .solicits
                .lock()
                .insert(url.raw.clone(), token.clone());
        }
        let server = self.clone();
        self.route_tasks
            .spawn(async move { server.solicit(url, explicit, None, token).await });
    }

    /// Stops soliciting an explicit route (removed by a reload) and closes
    /// its connection.
    pub(crate) fn remove_solicited(&self, raw: &str) {
        for entry in self.routes.lock().values() {
            if entry.url.as_deref() == Some(raw) {
                entry.shared.close(ClosedState::RouteRemoved, true);
            }
        }
        // Also closes a connection still in its handshake (its close token
        // is a child of this one).
        if let Some(token) = self.cluster.solicits.lock().remove(raw) {
            token.cancel();
        }
    }

    /// Dials `url` until connected, serves the route, and redials explicit
    /// routes when it ends. `stop` (shutdown, or a reload removing the
    /// route) cancels the dialling and the waits between attempts, never a
    /// connection in service: that one closes itself (its close token is a
    /// child of the shutdown token; a removed route is closed by
    /// `remove_solicited`), flushing and logging its close.
    async fn solicit(
        self: Arc<Self>,
        url: RouteUrl,
        explicit: bool,
        gossiped_id: Option<String>,
        stop: tokio_util::sync::CancellationToken,
    ) {
        let Some(port) = url.port else {
            log::error!(
                "Error trying to connect to route: missing port in {}",
                url.redacted()
            );
            return;
        };
        let target = format!("{}:{}", url.host, port);
        let mut attempt: u64 = 0;
        let mut was_connected = false;
        // Sleeps `d` unless stopped first; false when stopped.
        let pause = |d: Duration| {
            let stop = stop.clone();
            async move {
                tokio::select! {
                    _ = sleep(d) => true,
                    _ = stop.cancelled() => false,
                }
            }
        };
        loop {
            if self.is_shutting_down() || stop.is_cancelled() {
                break;
            }
            attempt += 1;
            let dialed = tokio::select! {
                dialed = tokio::time::timeout(CONNECT_TIMEOUT, dial(&target)) => dialed,
                _ = stop.cancelled() => break,
            };
            match dialed {
                Ok(Ok(socket)) => {
                    let addr = socket
                        .peer_addr()
                        .unwrap_or_else(|_| ([0, 0, 0, 0], port).into());
                    let rid = self.next_cid();
                    let end = serve_route(self.clone(), socket, addr, rid, Some(&url), &stop).await;
                    attempt = 0;
                    was_connected = true;
                    if end.self_route || !explicit || self.is_shutting_down() {
                        break;
                    }
                    if let (ClosedState::DuplicateRoute, Some(peer)) = (end.reason, end.peer_id) {
                        // The peer is reachable through another connection:
                        // redial only once that one is gone.
                        while self.routes.lock().contains_key(&peer) && !self.is_shutting_down() {
                            if !pause(RETRY_DELAY).await {
                                break;
                            }
                        }
                    }
                    if !pause(RETRY_DELAY + Duration::from_millis(fastrand::u64(0..100))).await {
                        break;
                    }
                }
                failed => {
                    let why = match failed {
                        Ok(Err(e)) => e.to_string(),
                        _ => "i/o timeout".to_string(),
                    };
                    let opts = self.options();
                    let every = if was_connected {
                        opts.reconnect_error_reports.max(1) as u64
                    } else {
                        opts.connect_error_reports.max(1) as u64
                    };
                    if attempt == 1 || attempt % every == 0 {
                        log::error!("Error trying to connect to route (attempt {attempt}): dial tcp {}: {why}", log::clip(&target));
                    } else {
                        log::debug!("Error trying to connect to route (attempt {attempt}): dial tcp {}: {why}", log::clip(&target));
                    }
                    if !explicit && attempt > u64::from(opts.cluster.connect_retries) {
                        break;
                    }
                    if !pause(RETRY_DELAY).await {
                        break;
                    }
                }
            }
        }
        if let Some(id) = gossiped_id {
            self.cluster.dialing.lock().remove(&id);
        }
    }

    /// Our route INFO announcing lame duck mode.
    pub(crate) fn route_ldm_info(&self) -> Vec<u8> {
        self.route_info(true)
    }

    /// Our route INFO line (`ip` only when advertising).
    fn route_info_line(&self) -> Vec<u8> {
        self.route_info(false)
    }

    fn route_info(&self, ldm: bool) -> Vec<u8> {
        let opts = self.options();
        let listen = self.cluster.listen_addr();
        let (host, port, ip) = match opts.cluster.advertise.rsplit_once(':') {
            Some((h, p)) if !opts.cluster.advertise.is_empty() => {
                let port = p.parse().unwrap_or(0);
                (
                    h.to_string(),
                    port,
                    Some(format!("nats-route://{h}:{port}/")),
                )
            }
            _ => (
                opts.cluster.bind_host().to_string(),
                listen.map_or(0, |a| a.port()),
                None,
            ),
        };
        let name = self.cluster.name();
        let info = RouteInfo {
            server_id: &self.id,
            server_name: &self.name,
            version: VERSION,
            proto: ROUTE_PROTO,
            go: info::TOOLCHAIN,
            host: &host,
            port,
            headers: true,
            max_payload: opts.max_payload,
            auth_required: !opts.cluster.username.is_empty(),
            tls_required: opts.cluster.tls.is_some(),
            tls_verify: opts.cluster.tls.as_ref().is_some_and(|t| t.verify),
            cluster: &name,
            cluster_dynamic: self.cluster.is_dynamic(),
            connect_urls: if opts.cluster.no_advertise {
                Vec::new()
            } else {
                self.own_client_urls()
            },
            ip,
            ldm,
        };
        let mut line = b"INFO ".to_vec();
        serde_json::to_writer(&mut line, &info).expect("route INFO serialises");
        line.extend_from_slice(b" \r\n");
        line
    }

    /// The client URLs of this server, as advertised to clients and peers.
    pub fn own_client_urls(&self) -> Vec<String> {
        let opts = self.options();
        if !opts.client_advertise.is_empty() {
            let adv = &opts.client_advertise;
            return vec![if adv.contains(':') {
                adv.clone()
            } else {
                format!("{adv}:{}", self.client_addr.port())
            }];
        }
        let port = self.client_addr.port();
        if opts.host == "0.0.0.0" || opts.host == "::" || opts.host.is_empty() {
            log::debug!("Get non local IPs for {:?}", opts.host);
            let mut urls = Vec::new();
            for iface in if_addrs::get_if_addrs().unwrap_or_default() {
                let ip = iface.ip();
                if ip.is_loopback() || (opts.host == "0.0.0.0" && ip.is_ipv6()) {
                    continue;
                }
                log::debug!("  ip={ip}");
                urls.push(SocketAddr::new(ip, port).to_string());
            }
            return urls;
        }
        vec![format!("{}:{port}", opts.host)]
    }

    /// `connect_urls` for client INFO: ours plus every routed peer's
    /// (unless `no_advertise`); empty when not clustered. In lame duck mode
    /// without ours, for good: as nats-server, clients are never sent back.
    pub fn connect_urls(&self) -> Vec<String> {
        if !self.cluster.enabled() {
            return Vec::new();
        }
        let mut urls = if self.is_lame_duck() {
            Vec::new()
        } else {
            self.own_client_urls()
        };
        if !self.options().cluster.no_advertise {
            for entry in self.routes.lock().values() {
                if entry.peer.ldm {
                    continue;
                }
                for url in &entry.peer.connect_urls {
                    if !urls.contains(url) {
                        urls.push(url.clone());
                    }
                }
            }
        }
        urls
    }

    /// Sends the current INFO to clients that accept async INFO, unless the
    /// server is shutting down: its routes close then too, and each removal
    /// would tell clients still connected that the cluster shrank, down to
    /// this server alone (nats-server's `sendAsyncInfoToClients` sends
    /// nothing once shutting down either).
    fn push_async_info(&self) {
        let urls = self.connect_urls();
        // Checked after reading the routes: a route the shutdown removed was
        // removed after the token was cancelled, so `urls` lacks none yet.
        if self.is_shutting_down() {
            return;
        }
        for client in self.clients() {
            if client.wants_async_info() {
                let info = self.client_info_with(client.cid, client.addr, urls.clone());
                let line = info.to_line();
                if let crate::outbound::Push::Queued { .. } = client.out.push_proto(&line) {
                    client.out.wake();
                }
            }
        }
    }

    /// A local subscription was added (`delta` 1) or removed (-1): update the
    /// aggregate and tell every route when it changes
    /// (`docs/protocol.md#interest`).
    pub(crate) fn local_interest(&self, subject: &str, queue: Option<&str>, delta: i32) {
        if !self.cluster.enabled() {
            // No route can ever connect (the cluster port is fixed at start),
            // so there is nobody to tell: keep no copy of the interest.
            return;
        }
        let mut interest = self.interest.lock();
        let key = (Box::<str>::from(subject), queue.map(Box::<str>::from));
        let old = interest.get(&key).copied().unwrap_or(0);
        let new = old.saturating_add_signed(delta);
        if new == 0 {
            interest.remove(&key);
        } else {
            interest.insert(key, new);
        }
        let line = match queue {
            None if old == 0 && new > 0 => format!("RS+ {ACCOUNT} {subject}\r\n"),
            None if old > 0 && new == 0 => format!("RS- {ACCOUNT} {subject}\r\n"),
            None => return,
            Some(q) if new > 0 => format!("RS+ {ACCOUNT} {subject} {q} {new}\r\n"),
            Some(q) if old > 0 => format!("RS- {ACCOUNT} {subject} {q}\r\n"),
            Some(_) => return,
        };
        for entry in self.routes.lock().values() {
            if let crate::outbound::Push::Queued { .. } =
                entry.shared.out.push_proto(line.as_bytes())
            {
                entry.shared.out.wake();
            }
        }
    }

    /// Registers a route under its peer's id, sending it our whole local
    /// interest atomically with respect to interest changes. Fails when the
    /// peer already has a route (a duplicate).
    ///
    /// Duplicates (both servers dialled each other) are resolved the same way
    /// on both sides, so that exactly one connection survives: the one
    /// solicited by the server with the smaller id. "First registered wins"
    /// can make each side keep a different connection and close the other,
    /// losing both when neither is redialled (gossiped routes).
    fn register_route(&self, entry: RouteEntry) -> Result<(), ()> {
        let interest = self.interest.lock();
        let mut routes = self.routes.lock();
        if let Some(existing) = routes.get(&entry.peer.server_id) {
            let solicitor = |solicited: bool| {
                if solicited {
                    self.id.as_str()
                } else {
                    entry.peer.server_id.as_str()
                }
            };
            let (new_by, old_by) = (solicitor(entry.solicited), solicitor(existing.solicited));
            if new_by >= old_by {
                return Err(());
            }
            log::debug!(
                "{} - Replacing duplicate remote route {} (keeping the one {} dialled)",
                existing.shared.prefix(),
                log::clip_quoted(&entry.peer.server_id),
                log::clip_quoted(new_by)
            );
            existing.shared.close(ClosedState::DuplicateRoute, true);
        }
        let mut batch = Vec::new();
        for ((subject, queue), count) in interest.iter() {
            match queue {
                None => batch.extend_from_slice(format!("RS+ {ACCOUNT} {subject}\r\n").as_bytes()),
                Some(q) => batch.extend_from_slice(
                    format!("RS+ {ACCOUNT} {subject} {q} {count}\r\n").as_bytes(),
                ),
            }
        }
        if !batch.is_empty() {
            entry.shared.out.push_proto(&batch);
            entry.shared.out.wake();
        }
        routes.insert(entry.peer.server_id.clone(), entry);
        Ok(())
    }

    /// Tells every other route about a newly registered peer (`docs/protocol.md#gossip`).
    fn gossip(&self, new_peer: &str) {
        let routes = self.routes.lock();
        let Some(new) = routes.get(new_peer) else {
            return;
        };
        let mut line = b"INFO ".to_vec();
        serde_json::to_writer(&mut line, &new.raw).expect("INFO re-serialises");
        line.extend_from_slice(b" \r\n");
        for (id, entry) in routes.iter() {
            if id != new_peer {
                entry.shared.out.push_proto(&line);
                entry.shared.out.wake();
            }
        }
    }

    fn unregister_route(&self, peer: &str, shared: &Arc<ConnShared>) -> bool {
        let mut routes = self.routes.lock();
        if routes
            .get(peer)
            .is_some_and(|e| Arc::ptr_eq(&e.shared, shared))
        {
            routes.remove(peer);
            return true;
        }
        false
    }

    /// Gossip told us of `info`: dial it unless we already know it.
    fn maybe_dial_gossiped(self: &Arc<Self>, info: &PeerInfo) {
        if info.server_id.is_empty()
            || info.server_id == self.id
            || self.routes.lock().contains_key(&info.server_id)
        {
            return;
        }
        if !self.cluster.dialing.lock().insert(info.server_id.clone()) {
            return;
        }
        let target = info
            .ip
            .as_deref()
            .and_then(|ip| RouteUrl::parse(ip).ok())
            .filter(|u| u.port.is_some())
            .unwrap_or_else(|| RouteUrl {
                raw: String::new(),
                scheme: "nats-route".into(),
                username: None,
                password: None,
                host: info.host.clone(),
                port: Some(info.port),
                rest: String::new(),
            });
        let opts = self.options();
        let mut url = target;
        if info.auth_required && !opts.cluster.username.is_empty() {
            url.username = Some(opts.cluster.username.clone());
            url.password = Some(opts.cluster.password.clone());
        }
        let server = self.clone();
        let id = info.server_id.clone();
        let stop = self.shutdown_token().child_token();
        self.route_tasks
            .spawn(async move { server.solicit(url, false, Some(id), stop).await });
    }

    /// The registered routes, for `/routez` and `/metrics`.
    pub fn routes(&self) -> Vec<crate::monitor::RouteSnapshot> {
        let opts = self.options();
        let configured: Vec<&str> = opts.cluster.routes.iter().map(|u| u.raw.as_str()).collect();
        let routes = self.routes.lock();
        routes
            .values()
            .map(|e| {
                let out = e.shared.out.stats();
                let mut subs: Vec<_> = e
                    .shared
                    .subs
                    .lock()
                    .values()
                    .map(|s| s.snapshot())
                    .collect();
                subs.sort_by(|a, b| a.subject.cmp(&b.subject));
                crate::monitor::RouteSnapshot {
                    rid: e.shared.cid,
                    remote_id: e.peer.server_id.clone(),
                    remote_name: e.peer.server_name.clone(),
                    did_solicit: e.solicited,
                    is_configured: e.url.as_deref().is_some_and(|u| configured.contains(&u)),
                    addr: e.shared.addr,
                    start: e.shared.start,
                    last_activity: e.shared.last_activity.load(Relaxed),
                    rtt_nanos: e.shared.rtt_nanos.load(Relaxed),
                    pending: out.pending,
                    in_msgs: e.shared.in_msgs.load(Relaxed),
                    out_msgs: out.out_msgs,
                    in_bytes: e.shared.in_bytes.load(Relaxed),
                    out_bytes: out.out_bytes,
                    subs,
                    account: String::new(),
                    compression: "not supported".to_string(),
                    import: None,
                    export: None,
                }
            })
            .collect()
    }

    /// Number of registered routes.
    pub fn num_routes(&self) -> usize {
        self.routes.lock().len()
    }

    /// Server ids of the registered peers.
    pub fn route_peer_ids(&self) -> Vec<String> {
        self.routes.lock().keys().cloned().collect()
    }
}

// ------------------------------------------------------------ a connection

/// How a route connection ended.
struct RouteEnd {
    reason: ClosedState,
    peer_id: Option<String>,
    self_route: bool,
}

/// Serves one route connection (accepted, or solicited to `url`) until it
/// closes; cancelling `parent` (the server's shutdown token, or a solicited
/// route's stop token) closes it. With cluster TLS the handshake comes
/// first, before CONNECT and INFO, as nats-server does for routes.
async fn serve_route(
    server: Arc<Server>,
    socket: TcpStream,
    addr: SocketAddr,
    rid: u64,
    url: Option<&RouteUrl>,
    parent: &tokio_util::sync::CancellationToken,
) -> RouteEnd {
    let opts = server.options();
    let _ = socket.set_nodelay(true);
    let failed = |reason| RouteEnd {
        reason,
        peer_id: None,
        self_route: false,
    };
    let (max_pending, _) = route_limits(&opts);
    let shared = Arc::new(ConnShared::new(ConnKind::Route, rid, addr, max_pending));
    let prefix = ConnPrefix::route(addr, rid);
    shared.meta.lock().prefix = prefix.shared();
    let Some(tls) = &opts.cluster.tls else {
        let (rd, wr) = conn::split_tcp(&shared, socket);
        return serve_route_stream(server, shared, prefix, rd, wr, url, parent).await;
    };
    let timeout = tls.timeout;
    let result = match url {
        Some(url) => {
            let connector = crate::tls::client_config(tls).map(tokio_rustls::TlsConnector::from);
            let name = crate::tls::server_name(&url.host);
            match (connector, name) {
                (Ok(connector), Ok(name)) => {
                    tokio::time::timeout(timeout, connector.connect(name, socket))
                        .await
                        .map(|r| r.map(tokio_rustls::TlsStream::Client))
                }
                (Err(e), _) | (_, Err(e)) => {
                    log::error!("{prefix} - TLS route configuration error: {e}");
                    return failed(ClosedState::TlsHandshakeError);
                }
            }
        }
        None => match crate::tls::server_config(tls) {
            Ok(config) => tokio::time::timeout(
                timeout,
                tokio_rustls::TlsAcceptor::from(config).accept(socket),
            )
            .await
            .map(|r| r.map(tokio_rustls::TlsStream::Server)),
            Err(e) => {
                log::error!("{prefix} - TLS route configuration error: {e}");
                return failed(ClosedState::TlsHandshakeError);
            }
        },
    };
    match result {
        Ok(Ok(stream)) => {
            let (rd, wr) = tokio::io::split(stream);
            serve_route_stream(server, shared, prefix, rd, wr, url, parent).await
        }
        Ok(Err(e)) => {
            log::error!("{prefix} - TLS route handshake error: {e}");
            failed(ClosedState::TlsHandshakeError)
        }
        Err(_) => {
            log::error!("{prefix} - TLS route handshake error: timeout");
            failed(ClosedState::TlsHandshakeError)
        }
    }
}

/// The route over any stream (plain TCP halves or TLS), for `shared` and
/// its log `prefix`, made by [`serve_route`].
async fn serve_route_stream<R, W>(
    server: Arc<Server>,
    shared: Arc<ConnShared>,
    prefix: ConnPrefix,
    mut rd: R,
    wr: W,
    url: Option<&RouteUrl>,
    parent: &tokio_util::sync::CancellationToken,
) -> RouteEnd
where
    R: conn::Source,
    W: tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let opts = server.options();
    let (_, deadline) = route_limits(&opts);
    let writer = conn::spawn_writer(shared.clone(), wr, deadline);

    if let Some(url) = url {
        let connect = RouteConnect {
            echo: true,
            tls_required: opts.cluster.tls.is_some(),
            user: url.username.clone(),
            pass: url.password.clone(),
            headers: true,
            name: server.id.clone(),
            cluster: server.cluster.name(),
            cluster_dynamic: server.cluster.is_dynamic(),
            ..RouteConnect::default()
        };
        let mut line = b"CONNECT ".to_vec();
        serde_json::to_writer(&mut line, &connect).expect("CONNECT serialises");
        line.extend_from_slice(b"\r\n");
        shared.out.push_proto(&line);
        log::debug!("{prefix} - Route connect msg sent");
    }
    shared.out.push_proto(&server.route_info_line());
    shared.out.wake();

    let mut conn = RouteConn::new(server.clone(), shared.clone(), prefix, url.is_some(), &opts);
    conn.url = url.map(|u| u.raw.clone()).filter(|raw| !raw.is_empty());
    let reason = conn.read_loop(&mut rd, parent).await;

    shared.close(reason, reason.flushes());
    let reason = shared.reason().unwrap_or(reason);
    if matches!(
        reason,
        ClosedState::SlowConsumerPendingBytes | ClosedState::SlowConsumerWriteDeadline
    ) {
        server.record_slow_consumer(&shared);
    }
    conn::finish_writer(writer, Duration::from_secs(1)).await;
    server.remove_client_subs(&shared);
    let peer_id = conn.peer.as_ref().map(|p| p.server_id.clone());
    if conn.registered {
        if let Some(id) = &peer_id {
            if server.unregister_route(id, &shared) {
                server.push_async_info();
            }
        }
    }
    match reason {
        ClosedState::DuplicateRoute if conn.self_route => {}
        // Harmless: the peer is served by its other connection.
        ClosedState::DuplicateRoute => {
            log::debug!("{} - Router connection closed: {}", shared.prefix(), reason)
        }
        _ if conn.registered => {
            log::notice!("{} - Router connection closed: {}", shared.prefix(), reason)
        }
        _ => log::debug!("{} - Router connection closed: {}", shared.prefix(), reason),
    }
    RouteEnd {
        reason,
        peer_id,
        self_route: conn.self_route,
    }
}

struct RouteConn {
    server: Arc<Server>,
    shared: Arc<ConnShared>,
    prefix: ConnPrefix,
    parser: Parser,
    solicited: bool,
    /// The URL we dialled, for explicit routes.
    url: Option<String>,
    /// CONNECT received (acceptor) — solicitors never get one.
    connected: bool,
    auth_deadline: Option<Instant>,
    peer: Option<PeerInfo>,
    registered: bool,
    self_route: bool,
    ping_interval: Duration,
    ping_max: u32,
    pings_out: u32,
    next_ping: Instant,
    rtt_start: Option<Instant>,
    wakes: Wakes,
}

impl RouteConn {
    fn new(
        server: Arc<Server>,
        shared: Arc<ConnShared>,
        prefix: ConnPrefix,
        solicited: bool,
        opts: &Options,
    ) -> Self {
        let needs_auth = !solicited && !opts.cluster.username.is_empty();
        let auth_timeout = opts.cluster.auth_timeout.unwrap_or_else(|| {
            opts.authorization
                .effective_timeout(opts.cluster.tls.as_ref())
        });
        Self {
            server,
            shared,
            prefix,
            parser: Parser::new(
                Role::Route,
                Limits {
                    max_control_line: opts.max_control_line as usize,
                    // Routes carry what any peer accepted from its clients.
                    max_payload: (opts.max_payload as usize).max(64 * 1024 * 1024),
                },
            ),
            solicited,
            url: None,
            connected: solicited,
            auth_deadline: needs_auth.then(|| Instant::now() + auth_timeout),
            peer: None,
            registered: false,
            self_route: false,
            ping_interval: route_ping_interval(opts),
            ping_max: opts.cluster.ping_max.unwrap_or(opts.ping_max),
            pings_out: 0,
            next_ping: Instant::now() + FIRST_PING,
            rtt_start: None,
            wakes: Wakes::default(),
        }
    }

    /// Reads until the route closes, or `parent` (the server's shutdown
    /// token, or a solicited route's stop token) is cancelled.
    async fn read_loop<R: conn::Source>(
        &mut self,
        rd: &mut R,
        parent: &tokio_util::sync::CancellationToken,
    ) -> ClosedState {
        let mut buf = ReadBuf::new();
        let stop = parent.cancelled();
        let timer = conn::timer(self.next_ping);
        tokio::pin!(stop, timer);
        loop {
            match conn::next_event(
                &self.shared,
                rd,
                &mut buf,
                stop.as_mut(),
                timer.as_mut(),
                self.next_ping,
                self.auth_deadline,
            )
            .await
            {
                Event::Data => {}
                Event::Closed(reason) => return reason,
                Event::PingTimer => {
                    if let Err(reason) = self.ping_timer() {
                        return reason;
                    }
                    continue;
                }
                Event::AuthTimeout => {
                    self.send(b"-ERR 'Authentication Timeout'\r\n");
                    log::error!("{} - Authentication Timeout", self.prefix);
                    return ClosedState::AuthenticationTimeout;
                }
            }
            // As for clients: when a local subscriber falls behind mid-way,
            // wait on it (bounded) before delivering the rest of the read.
            loop {
                let result = self.process(buf.bytes());
                if let Some(slow) = self.wakes.flush(&self.server) {
                    // Boxed: a rare wait that would otherwise enlarge every
                    // connection's task.
                    Box::pin(slow.out.stall(STALL_MAX)).await;
                }
                match result {
                    Ok(true) => break,
                    Ok(false) => continue,
                    Err(reason) => return reason,
                }
            }
        }
    }

    /// Handles the complete ops in `buf`; `Ok(false)` when it stopped early
    /// because a subscriber fell behind.
    fn process(&mut self, buf: &mut BytesMut) -> Result<bool, ClosedState> {
        let server = self.server.clone();
        let guard = server.sublist.pin();
        let (mut msgs, mut bytes) = (0u64, 0u64);
        let result = loop {
            if self.wakes.has_stalled() {
                break Ok(false);
            }
            let frame = match self.parser.next(buf) {
                Ok(Some(frame)) => frame,
                Ok(None) => break Ok(true),
                Err(e) => {
                    log::error!("{} - {e}", self.prefix);
                    if let Some(text) = e.err_text() {
                        self.send(format!("-ERR '{text}'\r\n").as_bytes());
                    }
                    break Err(ClosedState::from_protocol(e.close_reason()));
                }
            };
            if let Op::RMsg { payload, .. } = frame.op {
                msgs += 1;
                bytes += payload.len() as u64;
            }
            let large = frame
                .op
                .payload()
                .is_some_and(|p| p.len() >= outbound::SHARE_THRESHOLD);
            let handled = if large {
                let data = buf.split_to(frame.len).freeze();
                self.handle(&frame, &data, Some(&data), &guard)
            } else {
                let handled = self.handle(&frame, &buf[..frame.len], None, &guard);
                buf.advance(frame.len);
                handled
            };
            if let Err(reason) = handled {
                break Err(reason);
            }
        };
        if msgs > 0 {
            self.shared.in_msgs.fetch_add(msgs, Relaxed);
            self.shared.in_bytes.fetch_add(bytes, Relaxed);
            self.shared.last_activity.store(unix_nanos(), Relaxed);
            self.server.stats.add_in(msgs, bytes);
        }
        result
    }

    fn send(&self, bytes: &[u8]) {
        if log::trace_enabled() {
            log::trace_out(&self.prefix, bytes.strip_suffix(b"\r\n").unwrap_or(bytes));
        }
        self.shared.out.push_proto(bytes);
        self.shared.out.wake();
    }

    fn handle(
        &mut self,
        frame: &Frame,
        data: &[u8],
        shared: Option<&Bytes>,
        guard: &sublist::Guard,
    ) -> Result<(), ClosedState> {
        if log::trace_enabled() {
            let mut line = frame.op.name().as_bytes().to_vec();
            let args = frame.line.of(data);
            if !args.is_empty() {
                line.push(b' ');
                line.extend_from_slice(args);
            }
            log::trace_in(&self.prefix, &line);
        }
        if !self.connected && !matches!(frame.op, Op::Connect { .. }) {
            self.send(b"-ERR 'Authorization Violation'\r\n");
            log::error!("{} - authentication error", self.prefix);
            return Err(ClosedState::AuthenticationViolation);
        }
        match frame.op {
            Op::Connect { json } => self.connect(json.of(data)),
            Op::Info { json } => self.info(json.of(data)),
            Op::RSub {
                account,
                subject,
                queue,
                weight,
            } => {
                self.remote_sub(
                    account.of(data),
                    subject.of(data),
                    queue.map(|q| q.of(data)),
                    weight,
                );
                Ok(())
            }
            Op::RUnsub {
                account,
                subject,
                queue,
            } => {
                self.remote_unsub(
                    account.of(data),
                    subject.of(data),
                    queue.map(|q| q.of(data)),
                );
                Ok(())
            }
            Op::RMsg {
                account,
                subject,
                reply,
                queues,
                header_len,
                payload,
            } => {
                if account.of(data) != ACCOUNT.as_bytes() {
                    return Ok(());
                }
                let shared_payload = shared.map(|b| b.slice(payload.range()));
                let msg = Message {
                    subject: subject.of(data),
                    reply: reply.map(|r| r.of(data)),
                    header_len,
                    payload: payload.of(data),
                    shared: shared_payload.as_ref(),
                };
                if let Ok(subject) = std::str::from_utf8(msg.subject) {
                    let result = self.server.sublist.match_in(subject, guard);
                    self.server.deliver_routed(
                        &msg,
                        queues.map(|q| q.of(data)),
                        &result,
                        &mut self.wakes,
                    );
                }
                Ok(())
            }
            Op::Ping => {
                self.send(b"PONG\r\n");
                Ok(())
            }
            Op::Pong => {
                self.pings_out = 0;
                if let Some(start) = self.rtt_start.take() {
                    let rtt = start.elapsed().as_nanos() as u64;
                    self.shared.rtt_nanos.store(rtt.max(1), Relaxed);
                }
                Ok(())
            }
            Op::Ok => Ok(()),
            Op::Err { text } => {
                log::error!("{} - Route Error {}", self.prefix, log::clip(text.of(data)));
                Err(ClosedState::ClientClosed)
            }
            // The route-role parser never yields PUB/SUB/UNSUB.
            Op::Pub { .. } | Op::Sub { .. } | Op::Unsub { .. } => {
                Err(ClosedState::ProtocolViolation)
            }
        }
    }

    fn connect(&mut self, json: &[u8]) -> Result<(), ClosedState> {
        let Ok(connect) = serde_json::from_slice::<RouteConnect>(json) else {
            log::error!(
                "{} - processRouteConnect Parse Error: {}",
                self.prefix,
                log::clip_body(json)
            );
            return Err(ClosedState::ProtocolViolation);
        };
        if connect.lang.is_some() {
            self.send(b"-ERR 'attempted to connect to route port'\r\n");
            log::error!(
                "{} - Client attempted to connect to route port",
                self.prefix
            );
            return Err(ClosedState::WrongPort);
        }
        let opts = self.server.options();
        if !opts.cluster.username.is_empty() {
            let ok = connect.user.as_deref() == Some(opts.cluster.username.as_str())
                && connect.pass.as_deref() == Some(opts.cluster.password.as_str());
            if !ok {
                self.send(b"-ERR 'Authorization Violation'\r\n");
                log::error!("{} - authentication error", self.prefix);
                return Err(ClosedState::AuthenticationViolation);
            }
        }
        let ours = self.server.cluster.name();
        // A dynamic name (ours or theirs) gives way; two static names that
        // differ are a conflict.
        let conflict = !connect.cluster.is_empty()
            && connect.cluster != ours
            && !self
                .server
                .cluster
                .adopt(&connect.cluster, connect.cluster_dynamic)
            && !connect.cluster_dynamic
            && !self.server.cluster.is_dynamic();
        if conflict {
            let text = format!(
                "-ERR 'Rejecting connection, cluster name {:?} does not match {ours:?}'\r\n",
                connect.cluster
            );
            self.send(text.as_bytes());
            log::error!(
                "{} - Rejecting connection, cluster name {} does not match {ours:?}",
                self.prefix,
                log::clip_quoted(&connect.cluster)
            );
            return Err(ClosedState::ClusterNameConflict);
        }
        self.connected = true;
        self.auth_deadline = None;
        Ok(())
    }

    fn info(&mut self, json: &[u8]) -> Result<(), ClosedState> {
        let Ok(mut raw) = serde_json::from_slice::<serde_json::Value>(json) else {
            return Err(ClosedState::ProtocolViolation);
        };
        let Ok(info) = serde_json::from_value::<PeerInfo>(raw.clone()) else {
            return Err(ClosedState::ProtocolViolation);
        };
        if let Some(peer) = &self.peer {
            if info.server_id != peer.server_id {
                // Gossip: a member we may not know.
                self.server.maybe_dial_gossiped(&info);
            } else if self.registered {
                // An update from the peer itself (lame duck, new URLs).
                let changed = {
                    let mut routes = self.server.routes.lock();
                    match routes.get_mut(&info.server_id) {
                        Some(entry) if Arc::ptr_eq(&entry.shared, &self.shared) => {
                            let changed = entry.peer.ldm != info.ldm
                                || entry.peer.connect_urls != info.connect_urls;
                            entry.peer.ldm = info.ldm;
                            entry.peer.connect_urls = info.connect_urls.clone();
                            changed
                        }
                        _ => false,
                    }
                };
                if changed {
                    self.server.push_async_info();
                }
            }
            return Ok(());
        }
        if info.server_id == self.server.id {
            log::debug!("{} - Detected route to self, ignoring", self.prefix);
            self.self_route = true;
            return Err(ClosedState::DuplicateRoute);
        }
        if let Some(cluster) = info.cluster.as_deref() {
            let ours = self.server.cluster.name();
            if cluster != ours
                && !self.server.cluster.adopt(cluster, info.cluster_dynamic)
                && !info.cluster_dynamic
            {
                log::error!(
                    "{} - Cluster name conflict: {} vs {ours:?}",
                    self.prefix,
                    log::clip_quoted(cluster)
                );
                return Err(ClosedState::ClusterNameConflict);
            }
        }
        if !self.solicited && !info.server_name.is_empty() && info.server_name == self.server.name {
            log::error!(
                "{} - Remote server has a duplicate name: {}",
                self.prefix,
                log::clip_quoted(&info.server_name)
            );
            return Err(ClosedState::DuplicateServerName);
        }
        // Fill `ip` for gossip: the peer's socket IP with its route port.
        if raw
            .get("ip")
            .and_then(|v| v.as_str())
            .is_none_or(str::is_empty)
        {
            raw["ip"] = format!(
                "nats-route://{}/",
                SocketAddr::new(self.shared.addr.ip(), info.port)
            )
            .into();
        }
        if let Some(obj) = raw.as_object_mut() {
            obj.remove("nonce");
        }
        let described = ConnPrefix::route(self.shared.addr, self.shared.cid);
        self.peer = Some(info.clone());
        let entry = RouteEntry {
            shared: self.shared.clone(),
            url: self.url.clone(),
            peer: info.clone(),
            raw,
            solicited: self.solicited,
        };
        log::debug!(
            "{} - Registering remote route {}",
            self.prefix,
            log::clip_quoted(&info.server_id)
        );
        if self.server.register_route(entry).is_err() {
            log::debug!(
                "{} - Detected duplicate remote route {}",
                self.prefix,
                log::clip_quoted(&info.server_id)
            );
            return Err(ClosedState::DuplicateRoute);
        }
        self.registered = true;
        self.prefix = described;
        {
            let mut meta = self.shared.meta.lock();
            meta.name = info.server_name.as_str().into();
            meta.version = info.version.as_str().into();
        }
        log::notice!("{} - Route connection created", self.prefix);
        log::debug!("{} - Sent local subscriptions to route", self.prefix);
        self.server.cluster.dialing.lock().remove(&info.server_id);
        self.server.gossip(&info.server_id);
        self.server.push_async_info();
        Ok(())
    }

    fn remote_sub(&mut self, account: &[u8], subject: &[u8], queue: Option<&[u8]>, weight: u32) {
        if account != ACCOUNT.as_bytes() {
            return;
        }
        let (Ok(subject), Ok(queue)) = (
            std::str::from_utf8(subject),
            queue.map(std::str::from_utf8).transpose(),
        ) else {
            return;
        };
        if !sublist::subject::is_valid_subject(subject)
            || queue.is_some_and(|q| !sublist::subject::is_valid_queue(q))
        {
            return;
        }
        let key = interest_key(subject, queue);
        let existing = self.shared.subs.lock().get(&key).cloned();
        if let Some(sub) = existing {
            sub.set_weight(weight.max(1));
            return;
        }
        let sub = Arc::new(Subscription::new(self.shared.clone(), subject, queue, &key));
        sub.set_weight(weight.max(1));
        self.shared.subs.lock().insert(sub.clone());
        self.server.add_sub(SubRef(sub));
    }

    fn remote_unsub(&mut self, account: &[u8], subject: &[u8], queue: Option<&[u8]>) {
        if account != ACCOUNT.as_bytes() {
            return;
        }
        let (Ok(subject), Ok(queue)) = (
            std::str::from_utf8(subject),
            queue.map(std::str::from_utf8).transpose(),
        ) else {
            return;
        };
        let key = interest_key(subject, queue);
        let sub = self.shared.subs.lock().get(&key).cloned();
        if let Some(sub) = sub {
            self.server.remove_sub(&sub);
        }
    }

    fn ping_timer(&mut self) -> Result<(), ClosedState> {
        self.next_ping = Instant::now() + self.ping_interval;
        log::debug!("{} - Router Ping Timer", self.prefix);
        if self.pings_out + 1 > self.ping_max {
            log::debug!("{} - Stale Router Connection - Closing", self.prefix);
            self.send(b"-ERR 'Stale Connection'\r\n");
            return Err(ClosedState::StaleConnection);
        }
        self.pings_out += 1;
        self.rtt_start = Some(Instant::now());
        self.send(b"PING\r\n");
        Ok(())
    }
}

/// Resolves `target` (`host:port`; in Docker often a container name, from
/// /etc/hosts or the engine's DNS), picks one address at random as
/// nats-server does, and connects to it.
async fn dial(target: &str) -> std::io::Result<TcpStream> {
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host(target).await?.collect();
    let Some(&addr) = addrs.get(fastrand::usize(..addrs.len().max(1))) else {
        return Err(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("lookup {}: no such host", log::clip(target)),
        ));
    };
    log::debug!(
        "Trying to connect to route on {} ({addr})",
        log::clip(target)
    );
    TcpStream::connect(addr).await
}

/// The key of a route's remote interest in its `subs` map.
fn interest_key(subject: &str, queue: Option<&str>) -> Bytes {
    match queue {
        None => Bytes::copy_from_slice(subject.as_bytes()),
        Some(q) => Bytes::from(format!("{subject} {q}")),
    }
}
