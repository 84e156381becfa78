//! Cluster membership: the route listener and its accept loop, soliciting
//! configured and gossiped routes (with retries), registration by peer
//! server id with duplicate resolution, gossip of new peers, local interest
//! sent to every route, `connect_urls` and the async INFO it feeds to
//! clients, and the route snapshots monitoring reads.
//!
//! **Must never:** re-announce interest learned from a route, or block the
//! accept loop on a handshake (each route is served in its own task).

use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::time::sleep;

use super::connection::serve_route;
use super::wire::{RouteInfo, ROUTE_PROTO};
use super::{CONNECT_TIMEOUT, RETRY_DELAY};
use crate::client::info;
use crate::config::{RouteUrl, VERSION};
use crate::log;
use crate::server::close::ClosedState;
use crate::server::routes::{PeerInfo, RouteEntry};
use crate::server::{ConnShared, Server};

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
    pub(super) fn route_info_line(&self) -> Vec<u8> {
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
    pub(super) fn push_async_info(&self) {
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
    pub(crate) fn local_interest(
        &self,
        account: &Arc<str>,
        subject: &str,
        queue: Option<&str>,
        delta: i32,
    ) {
        if !self.cluster.enabled() {
            // No route can ever connect (the cluster port is fixed at start),
            // so there is nobody to tell: keep no copy of the interest.
            return;
        }
        let mut interest = self.interest.lock();
        let key = (
            account.clone(),
            Box::<str>::from(subject),
            queue.map(Box::<str>::from),
        );
        let old = interest.get(&key).copied().unwrap_or(0);
        let new = old.saturating_add_signed(delta);
        if new == 0 {
            interest.remove(&key);
        } else {
            interest.insert(key, new);
        }
        let line = match queue {
            None if old == 0 && new > 0 => format!("RS+ {account} {subject}\r\n"),
            None if old > 0 && new == 0 => format!("RS- {account} {subject}\r\n"),
            None => return,
            Some(q) if new > 0 => format!("RS+ {account} {subject} {q} {new}\r\n"),
            Some(q) if old > 0 => format!("RS- {account} {subject} {q}\r\n"),
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
    pub(super) fn register_route(&self, entry: RouteEntry) -> Result<(), ()> {
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
        for ((account, subject, queue), count) in interest.iter() {
            match queue {
                None => batch.extend_from_slice(format!("RS+ {account} {subject}\r\n").as_bytes()),
                Some(q) => batch.extend_from_slice(
                    format!("RS+ {account} {subject} {q} {count}\r\n").as_bytes(),
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
    pub(super) fn gossip(&self, new_peer: &str) {
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

    pub(super) fn unregister_route(&self, peer: &str, shared: &Arc<ConnShared>) -> bool {
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
    pub(super) fn maybe_dial_gossiped(self: &Arc<Self>, info: &PeerInfo) {
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
