//! One route connection: the TLS handshake when configured, CONNECT and
//! INFO both ways with authorization and cluster-name checks, then the
//! route's [`Protocol`] under `conn::read_loop` — remote interest (RS+/RS-
//! with queue weights), messages from the peer (RMSG/HMSG) delivered
//! locally, PING/PONG — and teardown (unregistration, async INFO).
//!
//! A route reuses a client's building blocks: a [`ConnShared`] (its
//! outbound buffer, counters, and the remote interest it announced, kept in
//! `subs`) and the same writer, in a task of its own, with a larger buffer
//! and write deadline (`docs/protocol.md#slow-routes`).
//!
//! **Must never:** forward a message received from a route to another
//! route (one hop at most).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::net::TcpStream;
use tokio::time::Instant;

use super::wire::{interest_key, RouteConnect};
use super::{route_limits, route_ping_interval, FIRST_PING};
use crate::config::{Options, RouteUrl};
use crate::conn::{self, Core, Pings, Protocol};
use crate::log::{self, ConnKind, ConnPrefix};
use crate::outbound::Message;
use crate::parser::{Frame, Limits, Op, Parser, Role};
use crate::server::account::{Account, LastAccount};
use crate::server::close::ClosedState;
use crate::server::routes::{PeerInfo, RouteEntry};
use crate::server::subscription::{SubRef, Subscription};
use crate::server::{ConnShared, Server};

/// How a route connection ended.
pub(super) struct RouteEnd {
    pub(super) reason: ClosedState,
    pub(super) peer_id: Option<String>,
    pub(super) self_route: bool,
}

/// Serves one route connection (accepted, or solicited to `url`) until it
/// closes; cancelling `parent` (the server's shutdown token, or a solicited
/// route's stop token) closes it. With cluster TLS the handshake comes
/// first, before CONNECT and INFO, as nats-server does for routes.
pub(super) async fn serve_route(
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
    // Stops when the route closes, or `parent` (the server's shutdown
    // token, or a solicited route's stop token) is cancelled.
    let reason = conn::read_loop(&mut conn, &mut rd, parent.cancelled()).await;

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

/// The route reader's private state.
struct RouteConn {
    /// What every connection's reader has: server, shared half, log
    /// prefix, parser, PING timer, authorization deadline, wake-ups.
    core: Core,
    solicited: bool,
    /// The URL we dialled, for explicit routes.
    url: Option<String>,
    /// CONNECT received (acceptor) — solicitors never get one.
    connected: bool,
    peer: Option<PeerInfo>,
    registered: bool,
    self_route: bool,
    /// The account of the last route op (`RS+`/`RMSG`), to skip the lookup.
    last_account: LastAccount,
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
        let parser = Parser::new(
            Role::Route,
            Limits {
                max_control_line: opts.max_control_line as usize,
                // Routes carry what any peer accepted from its clients.
                max_payload: (opts.max_payload as usize).max(64 * 1024 * 1024),
            },
        );
        let pings = Pings::new(
            route_ping_interval(opts),
            opts.cluster.ping_max.unwrap_or(opts.ping_max),
            FIRST_PING,
        );
        let auth_deadline = needs_auth.then(|| Instant::now() + auth_timeout);
        Self {
            core: Core::new(server, shared, prefix, parser, pings, auth_deadline),
            solicited,
            url: None,
            connected: solicited,
            peer: None,
            registered: false,
            self_route: false,
            last_account: LastAccount::default(),
        }
    }

    fn send(&self, bytes: &[u8]) {
        if log::trace_enabled() {
            log::trace_out(
                &self.core.prefix,
                bytes.strip_suffix(b"\r\n").unwrap_or(bytes),
            );
        }
        self.core.shared.out.push_proto(bytes);
        self.core.shared.out.wake();
    }

    fn connect(&mut self, json: &[u8]) -> Result<(), ClosedState> {
        let Ok(connect) = serde_json::from_slice::<RouteConnect>(json) else {
            log::error!(
                "{} - processRouteConnect Parse Error: {}",
                self.core.prefix,
                log::clip_body(json)
            );
            return Err(ClosedState::ProtocolViolation);
        };
        if connect.lang.is_some() {
            self.send(b"-ERR 'attempted to connect to route port'\r\n");
            log::error!(
                "{} - Client attempted to connect to route port",
                self.core.prefix
            );
            return Err(ClosedState::WrongPort);
        }
        let opts = self.core.server.options();
        if !opts.cluster.username.is_empty() {
            let ok = connect.user.as_deref() == Some(opts.cluster.username.as_str())
                && connect.pass.as_deref() == Some(opts.cluster.password.as_str());
            if !ok {
                self.send(b"-ERR 'Authorization Violation'\r\n");
                log::error!("{} - authentication error", self.core.prefix);
                return Err(ClosedState::AuthenticationViolation);
            }
        }
        let ours = self.core.server.cluster.name();
        // A dynamic name (ours or theirs) gives way; two static names that
        // differ are a conflict.
        let conflict = !connect.cluster.is_empty()
            && connect.cluster != ours
            && !self
                .core
                .server
                .cluster
                .adopt(&connect.cluster, connect.cluster_dynamic)
            && !connect.cluster_dynamic
            && !self.core.server.cluster.is_dynamic();
        if conflict {
            let text = format!(
                "-ERR 'Rejecting connection, cluster name {:?} does not match {ours:?}'\r\n",
                connect.cluster
            );
            self.send(text.as_bytes());
            log::error!(
                "{} - Rejecting connection, cluster name {} does not match {ours:?}",
                self.core.prefix,
                log::clip_quoted(&connect.cluster)
            );
            return Err(ClosedState::ClusterNameConflict);
        }
        self.connected = true;
        self.core.auth_deadline = None;
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
                self.core.server.maybe_dial_gossiped(&info);
            } else if self.registered {
                // An update from the peer itself (lame duck, new URLs).
                let changed = {
                    let mut routes = self.core.server.routes.lock();
                    match routes.get_mut(&info.server_id) {
                        Some(entry) if Arc::ptr_eq(&entry.shared, &self.core.shared) => {
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
                    self.core.server.push_async_info();
                }
            }
            return Ok(());
        }
        if info.server_id == self.core.server.id {
            log::debug!("{} - Detected route to self, ignoring", self.core.prefix);
            self.self_route = true;
            return Err(ClosedState::DuplicateRoute);
        }
        if let Some(cluster) = info.cluster.as_deref() {
            let ours = self.core.server.cluster.name();
            if cluster != ours
                && !self
                    .core
                    .server
                    .cluster
                    .adopt(cluster, info.cluster_dynamic)
                && !info.cluster_dynamic
            {
                log::error!(
                    "{} - Cluster name conflict: {} vs {ours:?}",
                    self.core.prefix,
                    log::clip_quoted(cluster)
                );
                return Err(ClosedState::ClusterNameConflict);
            }
        }
        if !self.solicited
            && !info.server_name.is_empty()
            && info.server_name == self.core.server.name
        {
            log::error!(
                "{} - Remote server has a duplicate name: {}",
                self.core.prefix,
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
                SocketAddr::new(self.core.shared.addr.ip(), info.port)
            )
            .into();
        }
        if let Some(obj) = raw.as_object_mut() {
            obj.remove("nonce");
        }
        let described = ConnPrefix::route(self.core.shared.addr, self.core.shared.cid);
        self.peer = Some(info.clone());
        let entry = RouteEntry {
            shared: self.core.shared.clone(),
            url: self.url.clone(),
            peer: info.clone(),
            raw,
            solicited: self.solicited,
        };
        log::debug!(
            "{} - Registering remote route {}",
            self.core.prefix,
            log::clip_quoted(&info.server_id)
        );
        if self.core.server.register_route(entry).is_err() {
            log::debug!(
                "{} - Detected duplicate remote route {}",
                self.core.prefix,
                log::clip_quoted(&info.server_id)
            );
            return Err(ClosedState::DuplicateRoute);
        }
        self.registered = true;
        self.core.prefix = described;
        {
            let mut meta = self.core.shared.meta.lock();
            meta.name = info.server_name.as_str().into();
            meta.version = info.version.as_str().into();
        }
        log::notice!("{} - Route connection created", self.core.prefix);
        log::debug!("{} - Sent local subscriptions to route", self.core.prefix);
        self.core
            .server
            .cluster
            .dialing
            .lock()
            .remove(&info.server_id);
        self.core.server.gossip(&info.server_id);
        self.core.server.push_async_info();
        Ok(())
    }

    fn remote_sub(&mut self, account: &[u8], subject: &[u8], queue: Option<&[u8]>, weight: u32) {
        let Some(account) = self.account(account) else {
            return;
        };
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
        let key = interest_key(&account.name, subject, queue);
        let existing = self.core.shared.subs.lock().get(&key).cloned();
        if let Some(sub) = existing {
            sub.set_weight(weight.max(1));
            return;
        }
        let sub = Arc::new(Subscription::new(
            self.core.shared.clone(),
            account,
            subject,
            queue,
            &key,
        ));
        sub.set_weight(weight.max(1));
        self.core.shared.subs.lock().insert(sub.clone());
        self.core.server.add_sub(SubRef(sub));
    }

    fn remote_unsub(&mut self, account: &[u8], subject: &[u8], queue: Option<&[u8]>) {
        let Some(account) = self.account(account) else {
            return;
        };
        let (Ok(subject), Ok(queue)) = (
            std::str::from_utf8(subject),
            queue.map(std::str::from_utf8).transpose(),
        ) else {
            return;
        };
        let key = interest_key(&account.name, subject, queue);
        let sub = self.core.shared.subs.lock().get(&key).cloned();
        if let Some(sub) = sub {
            self.core.server.remove_sub(&sub);
        }
    }

    /// The local account a route op names (cached: consecutive ops usually
    /// name the same one); `None` for an account this server does not have.
    #[inline]
    fn account(&mut self, name: &[u8]) -> Option<Arc<Account>> {
        self.last_account.resolve(&self.core.server.accounts, name)
    }
}

impl Protocol for RouteConn {
    const KIND: &'static str = "Router";

    #[inline]
    fn core(&mut self) -> &mut Core {
        &mut self.core
    }

    fn handle(
        &mut self,
        frame: &Frame,
        data: &[u8],
        shared: Option<&Bytes>,
        guard: &sublist::Guard,
    ) -> Result<(), ClosedState> {
        if let Op::RMsg { payload, .. } = frame.op {
            self.core.count_in(payload.len());
        }
        if log::trace_enabled() {
            let mut line = frame.op.name().as_bytes().to_vec();
            let args = frame.line.of(data);
            if !args.is_empty() {
                line.push(b' ');
                line.extend_from_slice(args);
            }
            log::trace_in(&self.core.prefix, &line);
        }
        if !self.connected && !matches!(frame.op, Op::Connect { .. }) {
            self.send(b"-ERR 'Authorization Violation'\r\n");
            log::error!("{} - authentication error", self.core.prefix);
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
                let Some(account) = self.account(account.of(data)) else {
                    log::debug!(
                        "{} - Unknown account {} for routed message on subject: {}",
                        self.core.prefix,
                        log::clip_quoted(account.of(data)),
                        log::clip_quoted(subject.of(data))
                    );
                    return Ok(());
                };
                let shared_payload = shared.map(|b| b.slice(payload.range()));
                let msg = Message {
                    subject: subject.of(data),
                    reply: reply.map(|r| r.of(data)),
                    header_len,
                    payload: payload.of(data),
                    shared: shared_payload.as_ref(),
                };
                if let Ok(subject) = std::str::from_utf8(msg.subject) {
                    let result = account.sublist.match_in(subject, guard);
                    self.core.server.deliver_routed(
                        &account,
                        &msg,
                        queues.map(|q| q.of(data)),
                        &result,
                        0,
                        &mut self.core.wakes,
                    );
                }
                Ok(())
            }
            Op::Ping => {
                self.send(b"PONG\r\n");
                Ok(())
            }
            Op::Pong => {
                self.core.pings.pong(&self.core.shared);
                Ok(())
            }
            Op::Ok => Ok(()),
            Op::Err { text } => {
                let text = text.of(data);
                if is_dedicated_route_refusal(text) {
                    // A 2.10+ peer tried a pinned-account connection: we do
                    // not pool, so it closes that one and keeps the shared
                    // route, which carries every account. Nothing is wrong.
                    log::debug!(
                        "{} - Route Error {} (the shared route carries the account)",
                        self.core.prefix,
                        log::clip(text)
                    );
                } else {
                    log::error!("{} - Route Error {}", self.core.prefix, log::clip(text));
                }
                Err(ClosedState::ClientClosed)
            }
            // The route-role parser never yields PUB/SUB/UNSUB.
            Op::Pub { .. } | Op::Sub { .. } | Op::Unsub { .. } => {
                Err(ClosedState::ProtocolViolation)
            }
        }
    }

    fn send_err(&mut self, text: &str) {
        self.send(format!("-ERR '{text}'\r\n").as_bytes());
    }

    fn send_ping(&mut self) {
        self.send(b"PING\r\n");
    }
}

/// The `-ERR` a 2.10+ server sends on a connection it opened for one pinned
/// account (`route_account`) when the peer does not pool routes.
fn is_dedicated_route_refusal(text: &[u8]) -> bool {
    const REFUSAL: &[u8] = b"Not possible to have a dedicated route for account";
    text.windows(REFUSAL.len()).any(|w| w == REFUSAL)
}
