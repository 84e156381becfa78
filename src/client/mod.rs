//! A client connection: its shared half (what publishers and monitoring see)
//! and its task (socket → parser → ops, with the writer beside it).
//!
//! Mirrors nats-server's `client.go` for core NATS clients
//! (`docs/protocol.md#client-protocol`): INFO on accept, CONNECT with defaults, PUB/HPUB,
//! SUB/UNSUB with auto-unsubscribe, PING/PONG both ways, `+OK` in verbose mode,
//! the `-ERR` table, the authorization timeout, stale-connection detection
//! and slow-consumer cuts.
//!
//! **Shape.** Each connection runs one task holding two futures: this
//! reader, which parses a whole read buffer at a time under one epoch guard
//! and delivers to subscribers' outbound buffers, and the writer in
//! `outbound/` (`conn::InlineWriter`; one task, not two, is most of what
//! keeps an idle connection under 4 KiB). The reader owns all per-connection
//! protocol state; other tasks only touch the [`ConnShared`] half.
//!
//! **Must never:** block on another connection's socket, allocate per
//! message on the publish path, or hold a lock across an await.

pub mod connect;
pub mod info;
mod tls_first;

use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::AsyncWrite;
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_util::either::Either;

use crate::auth::permissions::Permissions;
use crate::auth::AuthOutcome;
use crate::client::connect::{ConnectError, ConnectOptions};
use crate::conn::{self, Event, ReadBuf};
use crate::log::{self, ConnKind, ConnPrefix};
use crate::outbound::{self, Message, Push};
use crate::parser::{Frame, Limits, Op, Parser, Role};
use crate::server::close::ClosedState;
use crate::server::shared::{empty_str, unix_nanos};
use crate::server::subject::subject_str;
use crate::server::subscription::{SubRef, Subscription};
use crate::server::{ConnShared, Server, Wakes};

/// First server PING after connect (nats-server's `firstClientPingInterval`).
const FIRST_PING: Duration = Duration::from_secs(2);
/// Longest a publisher waits for one slow subscriber per read batch.
const STALL_MAX: Duration = Duration::from_millis(5);

/// Serves one accepted client socket until it closes: INFO, then TLS when
/// configured (in the order `tls_first` decides), then the protocol.
///
/// The setup runs when this is called, and the future it returns is the
/// connection's task: a plain `fn` rather than an `async fn`, because an
/// `async fn` keeps its arguments and locals beside the inner future for the
/// connection's whole life, a few hundred bytes on every idle connection.
pub fn serve(
    server: Arc<Server>,
    socket: TcpStream,
    addr: SocketAddr,
    cid: u64,
) -> impl std::future::Future<Output = ()> + Send {
    let opts = server.options();
    let _ = socket.set_nodelay(true);
    let shared = Arc::new(ConnShared::new(
        ConnKind::Client,
        cid,
        addr,
        opts.max_pending as usize,
    ));
    let base_prefix = ConnPrefix::client(addr, cid);
    shared.meta.lock().prefix = base_prefix.shared();
    log::debug!("{base_prefix} - Client connection created");
    let nonce = server.auth().needs_nonce().then(crate::auth::new_nonce);
    let info = crate::client::info::Info {
        nonce: nonce.clone(),
        ..server.client_info(cid, addr)
    };

    let Some(tls) = server.tls_acceptor() else {
        let (rd, wr) = conn::split_tcp(&shared, socket);
        let info = Some(info.to_line());
        return Either::Left(serve_stream(server, shared, rd, wr, info, nonce));
    };
    // Boxed: the handshake and the TLS stream types would otherwise enlarge
    // every connection's task, plain ones included.
    Either::Right(Box::pin(crate::client::tls_first::serve_tls(
        server, socket, shared, tls, info, nonce,
    )))
}

/// The connection over any stream (plain TCP halves or TLS): registration,
/// the read loop with the writer beside it in this one task, and teardown.
/// `info` is queued first unless it was already written in plaintext.
pub(crate) async fn serve_stream<R, W>(
    server: Arc<Server>,
    shared: Arc<ConnShared>,
    mut rd: R,
    wr: W,
    info: Option<Vec<u8>>,
    nonce: Option<String>,
) where
    R: conn::Source,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let opts = server.options();
    let base_prefix = ConnPrefix::client(shared.addr, shared.cid);
    let writer = conn::writer(&shared, wr, opts.write_deadline);
    tokio::pin!(writer);
    let mut writer = conn::InlineWriter::new(writer);

    if let Some(info) = info {
        shared.out.push_proto(&info);
        shared.out.wake();
    }

    let reason = if !server.register_client(&shared) {
        let text = b"-ERR 'maximum connections exceeded'\r\n";
        shared.out.push_proto(text);
        log::error!("{base_prefix} - maximum connections exceeded");
        ClosedState::MaxConnectionsExceeded
    } else {
        // Registered after the server's shutdown swept the registry: close
        // now (the sweep and this check are ordered by the registry's lock).
        if server.is_shutting_down() {
            shared.close(ClosedState::ServerShutdown, true);
        }
        let mut conn = Conn::new(server.clone(), shared.clone(), base_prefix, &opts);
        conn.nonce = nonce;
        let read = conn.read_loop(&mut rd);
        tokio::pin!(read);
        writer.beside(read).await
    };

    // Teardown: whatever ended the connection, record the first reason, let
    // the writer flush what the reason allows, and drop every subscription.
    let flush = reason.flushes();
    shared.close(reason, flush);
    let reason = shared.reason().unwrap_or(reason);
    if matches!(
        reason,
        ClosedState::SlowConsumerPendingBytes | ClosedState::SlowConsumerWriteDeadline
    ) {
        server.record_slow_consumer(&shared);
    }
    let grace = if flush {
        opts.write_deadline
    } else {
        Duration::from_millis(100)
    };
    writer.finish(grace).await;
    // Unregister first: the closed-connection record keeps the subscriptions.
    server.unregister_client(&shared, reason);
    server.remove_client_subs(&shared);
    log::debug!(
        "{} - Client connection closed: {}",
        shared.prefix(),
        reason.as_str()
    );
}

/// The reader's private state.
struct Conn {
    server: Arc<Server>,
    shared: Arc<ConnShared>,
    parser: Parser,
    prefix: ConnPrefix,
    /// The accepted CONNECT (the defaults before it), shared with
    /// [`ConnShared`]'s copy.
    opts: Arc<ConnectOptions>,
    /// CONNECT accepted (or not required).
    connected: bool,
    auth_deadline: Option<Instant>,
    max_subs: usize,
    /// The options generation the limits below were read from (reload).
    opts_generation: u64,
    /// The nonce our INFO carried (nkey users sign it).
    nonce: Option<String>,
    /// This user's permissions (none = unrestricted), refreshed each batch
    /// so that a reload takes effect.
    perms: Option<Arc<Permissions>>,
    ping_interval: Duration,
    ping_max: u32,
    pings_out: u32,
    next_ping: Instant,
    last_in: Instant,
    rtt_start: Option<Instant>,
    wakes: Wakes,
    /// Counters of the current batch, added to the shared ones once.
    batch_msgs: u64,
    batch_bytes: u64,
    /// The last publish's match (nats-server's per-client results cache,
    /// one entry): a publisher that sends a run of messages to one subject
    /// skips validation, hashing and the shared cache for all but the first.
    last_match: LastMatch,
}

/// The CONNECT defaults, shared by every connection that has not sent one.
fn default_connect() -> Arc<ConnectOptions> {
    static DEFAULT: std::sync::LazyLock<Arc<ConnectOptions>> =
        std::sync::LazyLock::new(|| Arc::new(ConnectOptions::default()));
    DEFAULT.clone()
}

/// A reason to stop reading.
type Close = ClosedState;

/// How far [`Conn::process`] got through the read buffer.
enum Batch {
    /// Every complete op was handled.
    Done,
    /// Stopped early: a subscriber is falling behind.
    Stalled,
}

impl Conn {
    fn new(
        server: Arc<Server>,
        shared: Arc<ConnShared>,
        prefix: ConnPrefix,
        opts: &crate::config::Options,
    ) -> Self {
        let now = Instant::now();
        let auth_required = server.auth().required();
        // nats-server: min(ping_interval, 2 s) plus up to 20 % of that.
        let first_ping = opts.ping_interval.min(FIRST_PING);
        let fifth = (first_ping.as_nanos() / 5).max(1) as u64;
        let first_ping = first_ping + Duration::from_nanos(fastrand::u64(0..fifth));
        Self {
            server,
            shared,
            parser: Parser::new(
                Role::Client,
                Limits {
                    max_control_line: opts.max_control_line as usize,
                    max_payload: opts.max_payload as usize,
                },
            ),
            prefix,
            opts: default_connect(),
            connected: !auth_required,

            auth_deadline: auth_required.then(|| now + server_auth_timeout(opts)),
            max_subs: opts.max_subscriptions,
            opts_generation: 0,
            nonce: None,
            perms: None,
            ping_interval: opts.ping_interval,
            ping_max: opts.ping_max,
            pings_out: 0,
            next_ping: now + first_ping,
            last_in: now,
            rtt_start: None,
            wakes: Wakes::default(),
            batch_msgs: 0,
            batch_bytes: 0,
            last_match: LastMatch::default(),
        }
    }

    async fn read_loop<R: conn::Source>(&mut self, rd: &mut R) -> Close {
        let mut buf = ReadBuf::new();
        let timer = conn::timer(self.next_ping);
        // Clients stop only through their own close (the server closes each
        // registered client at shutdown).
        let stop = std::future::pending::<()>();
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
                    self.send_err("Authentication Timeout");
                    log::error!("{} - Authentication Timeout", self.prefix);
                    return ClosedState::AuthenticationTimeout;
                }
            }
            self.last_in = Instant::now();
            // Handle what was read; when a subscriber falls behind mid-way,
            // stall on it (bounded) before delivering the rest.
            loop {
                let result = self.process(buf.bytes());
                self.end_batch().await;
                match result {
                    Ok(Batch::Done) => break,
                    Ok(Batch::Stalled) => continue,
                    Err(reason) => return reason,
                }
            }
        }
    }

    /// Parses and handles the complete ops in `buf` under one epoch guard:
    /// all of them, or up to the first that leaves a subscriber more than
    /// 3/4 full. nats-server waits on such a subscriber right when it
    /// delivers to it; waiting only once the whole read was delivered would
    /// cut off a consumer that is merely behind (one read can hold more
    /// than its `max_pending`).
    fn process(&mut self, buf: &mut BytesMut) -> Result<Batch, Close> {
        if self.shared.has_permissions() {
            self.perms = self.shared.permissions();
        }
        let generation = self.server.options_generation();
        if generation != self.opts_generation {
            self.opts_generation = generation;
            self.apply_reloaded_limits();
        }
        let server = self.server.clone();
        let guard = server.sublist.pin();
        loop {
            // Under auth nats-server refuses anything but CONNECT at the op's
            // first byte, before its arguments or size are looked at (so
            // `PUB foo 2000000` is an Authorization Violation, not a payload
            // violation).
            if !self.connected && buf.first().is_some_and(|&b| b != b'C' && b != b'c') {
                self.auth_violation();
                return Err(ClosedState::AuthenticationViolation);
            }
            if self.wakes.has_stalled() {
                return Ok(Batch::Stalled);
            }
            let frame = match self.parser.next(buf) {
                Ok(Some(frame)) => frame,
                Ok(None) => return Ok(Batch::Done),
                Err(e) => {
                    log::error!("{} - {e}", self.prefix);
                    if let Some(text) = e.err_text() {
                        self.send_err(text);
                    }
                    return Err(ClosedState::from_protocol(e.close_reason()));
                }
            };
            let large = frame
                .op
                .payload()
                .is_some_and(|p| p.len() >= outbound::SHARE_THRESHOLD);
            if large {
                let bytes = buf.split_to(frame.len).freeze();
                self.handle(&frame, &bytes, Some(&bytes), &guard)?;
            } else {
                let result = self.handle(&frame, &buf[..frame.len], None, &guard);
                buf.advance(frame.len);
                result?;
            }
        }
    }

    /// Wakes writers, adds the batch's counters, and stalls briefly on a
    /// subscriber that is falling behind.
    async fn end_batch(&mut self) {
        // Never keep departed subscribers alive between reads.
        self.last_match.result = None;
        if self.batch_msgs > 0 {
            self.shared.in_msgs.fetch_add(self.batch_msgs, Relaxed);
            self.shared.in_bytes.fetch_add(self.batch_bytes, Relaxed);
            self.server.stats.add_in(self.batch_msgs, self.batch_bytes);
            self.shared.last_activity.store(unix_nanos(), Relaxed);
            self.batch_msgs = 0;
            self.batch_bytes = 0;
        }
        let stalled = self.wakes.flush(&self.server);
        if let Some(slow) = stalled {
            // Boxed: a rare wait that would otherwise enlarge every
            // connection's task.
            Box::pin(slow.out.stall(STALL_MAX)).await;
        }
    }

    fn handle(
        &mut self,
        frame: &Frame,
        data: &[u8],
        shared: Option<&Bytes>,
        guard: &sublist::Guard,
    ) -> Result<(), Close> {
        if log::trace_enabled() {
            self.trace_in(frame, data);
        }
        if !self.connected && !matches!(frame.op, Op::Connect { .. }) {
            // Auth is required and the first op is not CONNECT.
            self.auth_violation();
            return Err(ClosedState::AuthenticationViolation);
        }
        match frame.op {
            Op::Connect { json } => self.connect(json.of(data)),
            Op::Pub {
                subject,
                reply,
                header_len,
                payload,
            } => {
                let msg = Message {
                    subject: subject.of(data),
                    reply: reply.map(|r| r.of(data)),
                    header_len,
                    payload: payload.of(data),
                    shared: None,
                };
                let shared_payload = shared.map(|b| b.slice(payload.range()));
                self.publish(msg, shared_payload.as_ref(), guard)
            }
            Op::Sub {
                subject,
                queue,
                sid,
            } => self.subscribe(subject.of(data), queue.map(|q| q.of(data)), sid.of(data)),
            Op::Unsub { sid, max } => {
                self.unsubscribe(sid.of(data), max);
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
            // Ignored, but it must decode, as nats-server requires.
            Op::Info { json } => {
                if crate::client::connect::client_info_decodes(json.of(data)) {
                    Ok(())
                } else {
                    log::error!("{} - bad client INFO", self.prefix);
                    Err(ClosedState::ProtocolViolation)
                }
            }
            Op::Err { text } => {
                log::error!(
                    "{} - Client Error {}",
                    self.prefix,
                    log::clip(text.of(data))
                );
                Err(ClosedState::ClientClosed)
            }
            // The client-role parser never yields route ops.
            Op::RSub { .. } | Op::RUnsub { .. } | Op::RMsg { .. } => {
                Err(ClosedState::ProtocolViolation)
            }
        }
    }

    fn trace_in(&self, frame: &Frame, data: &[u8]) {
        let mut line = frame.op.name().as_bytes().to_vec();
        let args = frame.line.of(data);
        if !args.is_empty() {
            line.push(b' ');
            line.extend_from_slice(args);
        }
        log::trace_in(&self.prefix, &line);
        if let Some(payload) = frame.op.payload() {
            log::trace_payload(&self.prefix, log::TraceDir::In, payload.of(data));
        }
    }

    /// A reload changed the options: take the new limits (nats-server
    /// applies max_payload, max_control_line, ping settings and the
    /// subscription limit to existing connections too).
    fn apply_reloaded_limits(&mut self) {
        let opts = self.server.options();
        self.parser.set_limits(Limits {
            max_control_line: opts.max_control_line as usize,
            max_payload: opts.max_payload as usize,
        });
        self.max_subs = opts.max_subscriptions;
        self.ping_interval = opts.ping_interval;
        self.ping_max = opts.ping_max;
    }

    /// `+OK` in verbose mode. Before any CONNECT the defaults apply, so a
    /// bare `PUB` gets one, as with nats-server.
    fn ok(&mut self) {
        if self.opts.verbose {
            self.send(b"+OK\r\n");
        }
    }

    fn send(&mut self, bytes: &[u8]) {
        if log::trace_enabled() {
            let line = bytes.strip_suffix(b"\r\n").unwrap_or(bytes);
            log::trace_out(&self.prefix, line);
        }
        self.wakes.sent();
        if let Push::Queued { wake: true, .. } = self.shared.out.push_proto(bytes) {
            self.wakes.push(&self.shared);
        }
    }

    fn send_err(&mut self, text: &str) {
        let line = format!("-ERR '{text}'\r\n");
        self.send(line.as_bytes());
        self.shared.out.wake();
    }

    /// `User "alice"` for violation log lines (nats-server's getAuthUser),
    /// the name bounded like every client value in a log line.
    fn auth_user(&self) -> String {
        let user = self.shared.meta.lock().user.clone();
        format!("User {}", log::clip_quoted(&*user))
    }

    fn auth_violation(&mut self) {
        self.send_err("Authorization Violation");
    }

    /// Refuses a CONNECT: the `-ERR` if nats-server sends one, the log line,
    /// and the closed reason.
    fn connect_error(&mut self, e: ConnectError, json: &[u8]) -> Close {
        if let Some(text) = e.err_text() {
            self.send_err(text);
        }
        log::error!("{} - {}", self.prefix, connect_error_log(e, json));
        match e {
            ConnectError::Malformed => ClosedState::ProtocolViolation,
            ConnectError::InvalidProtocol => ClosedState::BadClientProtocolVersion,
            ConnectError::NoRespondersRequiresHeaders => ClosedState::NoRespondersRequiresHeaders,
        }
    }

    /// nats-server's order: JSON, credentials, account fields, then
    /// `protocol` and `no_responders`.
    fn connect(&mut self, json: &[u8]) -> Result<(), Close> {
        let opts = match self.opts.apply(json) {
            Ok(opts) => opts,
            Err(e) => return Err(self.connect_error(e, json)),
        };
        let user = match self.server.auth().check(&opts, self.nonce.as_deref()) {
            AuthOutcome::Allowed { user, permissions } => {
                self.shared.set_permissions(permissions.clone());
                self.perms = permissions;
                user
            }
            AuthOutcome::Denied { user } => {
                self.auth_violation();
                match user {
                    Some(u) => log::error!(
                        "{} - authentication error - User {}",
                        self.prefix,
                        log::clip_quoted(&*u)
                    ),
                    None => log::error!("{} - authentication error", self.prefix),
                }
                return Err(ClosedState::AuthenticationViolation);
            }
        };
        if opts.names_account() {
            self.auth_violation();
            log::error!("{} - authentication error", self.prefix);
            return Err(ClosedState::AuthenticationViolation);
        }
        let headers = opts.headers && self.server.headers_supported();
        if let Err(e) = opts.check(headers) {
            return Err(self.connect_error(e, json));
        }
        self.shared.headers.store(headers, Relaxed);
        self.shared.async_info.store(opts.protocol >= 1, Relaxed);
        let described = self.prefix.described(
            opts.version.as_deref().unwrap_or(""),
            opts.lang.as_deref().unwrap_or(""),
            opts.name.as_deref().unwrap_or(""),
            None,
        );
        {
            let mut meta = self.shared.meta.lock();
            meta.name = opts.name.clone().unwrap_or_else(empty_str);
            meta.lang = opts.lang.clone().unwrap_or_else(empty_str);
            meta.version = opts.version.clone().unwrap_or_else(empty_str);
            meta.user = user.unwrap_or_else(empty_str);
            meta.prefix = described.shared();
        }
        self.prefix = described;
        let opts = Arc::new(opts);
        *self.shared.connect.lock() = Some(opts.clone());
        *self.shared.nonce.lock() = self.nonce.clone();
        self.opts = opts;
        self.connected = true;
        self.shared.last_activity.store(unix_nanos(), Relaxed);
        self.auth_deadline = None;
        self.ok();
        Ok(())
    }

    fn publish(
        &mut self,
        msg: Message<'_>,
        shared: Option<&Bytes>,
        guard: &sublist::Guard,
    ) -> Result<(), Close> {
        if msg.header_len.is_some() && !self.shared.headers() {
            log::error!("{} - message headers not supported", self.prefix);
            return Err(ClosedState::ProtocolViolation);
        }
        self.batch_msgs += 1;
        self.batch_bytes += msg.payload.len() as u64;
        let pedantic = self.opts.pedantic;
        if let Some(perms) = &self.perms {
            let subject = subject_str(msg.subject);
            if !perms.can_publish(&subject) && !self.shared.take_response(msg.subject) {
                let text = format!("Permissions Violation for Publish to {:?}", &*subject);
                self.send_err(&text);
                log::error!(
                    "{} - Publish Violation - {}, Subject {}",
                    self.prefix,
                    self.auth_user(),
                    log::clip_quoted(msg.subject)
                );
                return Ok(());
            }
        }
        if msg.subject.starts_with(b"$GNR.") {
            // nats-server's reserved gateway reply prefix.
            let subject = subject_str(msg.subject);
            let text = format!("Permissions Violation for Publish to {:?}", &*subject);
            self.send_err(&text);
            return Ok(());
        }
        if let Some(raw_reply) = msg.reply.filter(|r| r.starts_with(b"_R_.")) {
            // Reserved for service-import replies in nats-server.
            let reply = subject_str(raw_reply);
            self.send_err(&format!(
                "Permissions Violation for Publish with Reply of {:?}",
                &*reply
            ));
            log::error!(
                "{} - Publish Violation - {}, Reply {}",
                self.prefix,
                self.auth_user(),
                log::clip_quoted(raw_reply)
            );
            return Ok(());
        }
        if pedantic && !sublist::subject::is_valid_literal_subject(&subject_str(msg.subject)) {
            self.send_err("Invalid Publish Subject");
        }
        // As nats-server: the +OK goes out before the message is delivered,
        // so it precedes a MSG to the publisher's own subscription and a
        // no-responders status.
        self.ok();
        // An HPUB with an empty header block (`HPUB foo 0 2`) is delivered
        // as a plain MSG, as nats-server does.
        let msg = Message {
            shared,
            header_len: msg.header_len.filter(|&h| h > 0),
            ..msg
        };
        let result = self
            .last_match
            .get(&self.server.sublist, msg.subject, guard);
        let delivered =
            self.server
                .deliver(&self.shared, self.opts.echo, &msg, result, &mut self.wakes);
        if delivered == 0 && self.opts.no_responders {
            if let Some(reply) = msg.reply {
                self.no_responders(msg.subject, reply, guard);
            }
        }
        Ok(())
    }

    /// Tells a requester nobody is listening: a 503 status to its own
    /// subscription on the reply subject, if it has one.
    fn no_responders(&mut self, subject: &[u8], reply: &[u8], guard: &sublist::Guard) {
        let result = self.server.sublist.match_in(&subject_str(reply), guard);
        let Some(sub) = result
            .plain
            .iter()
            .find(|s| Arc::ptr_eq(&s.client, &self.shared))
        else {
            return;
        };
        let len = 32 + subject.len();
        let mut frame = Vec::with_capacity(64 + reply.len() + subject.len() * 2);
        frame.extend_from_slice(b"HMSG ");
        frame.extend_from_slice(reply);
        frame.push(b' ');
        frame.extend_from_slice(&sub.sid);
        frame.extend_from_slice(
            format!(" {len} {len}\r\nNATS/1.0 503\r\nNats-Subject: ").as_bytes(),
        );
        frame.extend_from_slice(subject);
        frame.extend_from_slice(b"\r\n\r\n\r\n");
        self.send(&frame);
    }

    /// nats-server's order: the subscription limit first (even for a sid
    /// that exists), then a duplicate sid is ignored (whatever its subject),
    /// then the subject is validated.
    fn subscribe(
        &mut self,
        raw_subject: &[u8],
        raw_queue: Option<&[u8]>,
        sid: &[u8],
    ) -> Result<(), Close> {
        {
            let subs = self.shared.subs.lock();
            if self.max_subs > 0 && subs.len() >= self.max_subs {
                drop(subs);
                log::error!("{} - maximum subscriptions exceeded", self.prefix);
                self.send_err("maximum subscriptions exceeded");
                return Ok(());
            }
            if subs.contains(sid) {
                drop(subs);
                self.ok();
                return Ok(());
            }
        }
        let subject = subject_str(raw_subject);
        let queue = raw_queue.map(subject_str);
        if !sublist::subject::is_valid_subject(&subject)
            || !queue
                .as_deref()
                .is_none_or(sublist::subject::is_valid_queue)
        {
            self.send_err("Invalid Subject");
            return Ok(());
        }
        if let Some(perms) = self.perms.clone() {
            if !perms.can_subscribe(&subject, queue.as_deref()) {
                let (sid, subject_q) = (log::clip(sid), log::clip_quoted(raw_subject));
                let (text, log_text) = match queue.as_deref() {
                    None => (
                        format!("Permissions Violation for Subscription to {:?}", &*subject),
                        format!(
                            "Subscription Violation - {}, Subject {subject_q}, SID {sid}",
                            self.auth_user(),
                        ),
                    ),
                    Some(q) => (
                        format!(
                            "Permissions Violation for Subscription to {:?} using queue {q:?}",
                            &*subject
                        ),
                        format!(
                            "Subscription Violation - {}, Subject {subject_q}, Queue: {}, SID {sid}",
                            self.auth_user(),
                            log::clip_quoted(raw_queue.unwrap_or_default())
                        ),
                    ),
                };
                self.send_err(&text);
                log::error!("{} - {log_text}", self.prefix);
                return Ok(());
            }
            if let Some(deny) = perms.delivery_deny_for(&subject, queue.as_deref()) {
                self.shared.set_delivery_deny(Some(deny));
            }
        }
        let sub = Arc::new(Subscription::new(
            self.shared.clone(),
            &subject,
            queue.as_deref(),
            sid,
        ));
        self.shared.subs.lock().insert(sub.clone());
        self.server.add_sub(SubRef(sub));
        self.shared.last_activity.store(unix_nanos(), Relaxed);
        self.ok();
        Ok(())
    }

    fn unsubscribe(&mut self, sid: &[u8], max: Option<u64>) {
        let sub = self.shared.subs.lock().get(sid).cloned();
        if let Some(sub) = sub {
            let keep = max.is_some_and(|m| sub.set_max(m));
            if !keep {
                self.server.remove_sub(&sub);
            }
            self.shared.last_activity.store(unix_nanos(), Relaxed);
        }
        self.ok();
    }

    fn ping_timer(&mut self) -> Result<(), Close> {
        let now = Instant::now();
        self.next_ping = now + self.ping_interval;
        let rtt_known = self.shared.rtt_nanos.load(Relaxed) != 0;
        if now.duration_since(self.last_in) < self.ping_interval && rtt_known {
            log::debug!("{} - Delaying PING due to client activity", self.prefix);
            return Ok(());
        }
        log::debug!("{} - Client Ping Timer", self.prefix);
        if self.pings_out + 1 > self.ping_max {
            log::debug!("{} - Stale Client Connection - Closing", self.prefix);
            self.send_err("Stale Connection");
            return Err(ClosedState::StaleConnection);
        }
        self.pings_out += 1;
        self.rtt_start = Some(now);
        self.send(b"PING\r\n");
        self.wakes.flush(&self.server);
        Ok(())
    }
}

/// A one-entry memo of a publish's match. Valid while the subject is the
/// same and the sublist's generation has not moved (it moves after every
/// change's cache evictions); emptied at the end of each read batch.
struct LastMatch<S = SubRef> {
    /// On the heap, allocated by the first publish (and kept): an inline
    /// copy would enlarge every connection, idle ones included.
    subject: Vec<u8>,
    generation: u64,
    result: Option<Arc<sublist::MatchResult<S>>>,
}

impl<S> Default for LastMatch<S> {
    fn default() -> Self {
        Self {
            subject: Vec::new(),
            generation: 0,
            result: None,
        }
    }
}

impl<S: Clone + PartialEq + Send + Sync + 'static> LastMatch<S> {
    #[inline]
    fn get(
        &mut self,
        sublist: &sublist::Sublist<S>,
        subject: &[u8],
        guard: &sublist::Guard,
    ) -> &sublist::MatchResult<S> {
        let generation = sublist.generation();
        let hit =
            self.result.is_some() && self.generation == generation && *self.subject == *subject;
        if !hit {
            let result = sublist.match_in(&subject_str(subject), guard).to_arc();
            self.subject.clear();
            self.subject.extend_from_slice(subject);
            self.generation = generation;
            self.result = Some(result);
        }
        self.result.as_deref().expect("just set")
    }
}

fn server_auth_timeout(opts: &crate::config::Options) -> Duration {
    opts.authorization.effective_timeout(opts.tls.as_ref())
}

fn connect_error_log(e: ConnectError, json: &[u8]) -> String {
    match e {
        // nats-server writes Go's JSON error here, never the body; we show
        // the body's first bytes, as many as it shows of a bad op, with the
        // secrets hidden.
        ConnectError::Malformed => format!("processConnect Parse Error: {}", log::clip_body(json)),
        ConnectError::InvalidProtocol => "invalid client protocol".to_string(),
        ConnectError::NoRespondersRequiresHeaders => {
            "no responders requires headers support".to_string()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_match_follows_every_change_and_subject() {
        let sl: sublist::Sublist<u32> = sublist::Sublist::new();
        let mut memo = LastMatch::default();
        let guard = sl.pin();
        assert!(memo.get(&sl, b"foo.bar", &guard).is_empty());
        sl.insert("foo.*", None, 1).unwrap();
        assert_eq!(
            memo.get(&sl, b"foo.bar", &guard).plain,
            [1],
            "an insert is seen"
        );
        assert_eq!(memo.get(&sl, b"foo.bar", &guard).plain, [1]);
        assert!(memo.get(&sl, b"foo", &guard).is_empty(), "another subject");
        sl.insert("foo.bar", None, 2).unwrap();
        let mut got = memo.get(&sl, b"foo.bar", &guard).plain.to_vec();
        got.sort();
        assert_eq!(got, [1, 2]);
        sl.remove("foo.*", None, &1).unwrap();
        assert_eq!(
            memo.get(&sl, b"foo.bar", &guard).plain,
            [2],
            "a remove is seen"
        );
        sl.insert("other", None, 3).unwrap();
        assert_eq!(memo.get(&sl, b"foo.bar", &guard).plain, [2]);
    }

    /// A server with default options on a free loopback port, serving
    /// every connection it accepts as the server's accept loop does
    /// (without its limits and bookkeeping).
    async fn serving() -> (Arc<Server>, SocketAddr) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = Server::new(crate::config::Options::default(), addr).unwrap();
        let serves = server.clone();
        tokio::spawn(async move {
            for cid in 1.. {
                let (socket, peer) = listener.accept().await.unwrap();
                tokio::spawn(serve(serves.clone(), socket, peer, cid));
            }
        });
        (server, addr)
    }

    /// Connects and says CONNECT, reading the INFO first.
    async fn connected(addr: SocketAddr) -> tokio::io::BufReader<TcpStream> {
        use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
        let mut conn = tokio::io::BufReader::new(TcpStream::connect(addr).await.unwrap());
        let mut info = String::new();
        conn.read_line(&mut info).await.unwrap();
        assert!(info.starts_with("INFO "));
        conn.write_all(b"CONNECT {\"verbose\":false}\r\n")
            .await
            .unwrap();
        conn
    }

    async fn line(conn: &mut tokio::io::BufReader<TcpStream>) -> String {
        use tokio::io::AsyncBufReadExt;
        let mut line = String::new();
        conn.read_line(&mut line).await.unwrap();
        line
    }

    /// The spin after traffic (`server/spin.rs`) is there to catch an answer to
    /// what a batch sent. A publisher nobody listens to is sent nothing, so
    /// its batches must not start it (it would only take a CPU from the
    /// publisher); a delivery or a reply to the reader (`PONG`) must.
    /// (No spinning task runs here, so a spin once started stays visible.)
    #[tokio::test]
    async fn only_a_batch_that_sent_something_starts_the_spin() {
        use crate::testing::until;
        use tokio::io::AsyncWriteExt;
        let (server, addr) = serving().await;

        let mut publisher = connected(addr).await;
        for _ in 0..100 {
            publisher
                .write_all(b"PUB nobody 2\r\nhi\r\n")
                .await
                .unwrap();
        }
        until("the server has read 100 messages", || {
            server.stats.in_msgs.load(Relaxed) == 100
        })
        .await;
        assert!(
            !server.spinner.is_spinning(),
            "publishing to no one started the spin"
        );

        publisher.write_all(b"PING\r\n").await.unwrap();
        assert_eq!(line(&mut publisher).await, "PONG\r\n");
        assert!(server.spinner.is_spinning(), "a PONG did not start it");

        // A delivery, on a server of its own.
        let (server, addr) = serving().await;
        let mut subscriber = connected(addr).await;
        subscriber.write_all(b"SUB foo 1\r\n").await.unwrap();
        until("the subscription is in", || server.sublist.count() == 1).await;
        assert!(!server.spinner.is_spinning(), "a SUB sent nothing");
        let mut publisher = connected(addr).await;
        publisher.write_all(b"PUB foo 2\r\nhi\r\n").await.unwrap();
        assert_eq!(line(&mut subscriber).await, "MSG foo 1 2\r\n");
        assert!(server.spinner.is_spinning(), "a delivery did not start it");
    }

    /// A connection's task (reader and writer together) is most of what an
    /// idle connection costs: keep rare paths (TLS, stalls, a blocked write's
    /// deadline) boxed, timers out of the per-read future, and arguments out
    /// of the task (`serve` is a plain `fn`). tokio rounds a task up to
    /// 128 bytes: at this bound it takes 1,664 with its header.
    #[tokio::test]
    async fn a_plain_connection_task_stays_small() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = Server::new(crate::config::Options::default(), addr).unwrap();
        let _client = TcpStream::connect(addr).await.unwrap();
        let (socket, peer) = listener.accept().await.unwrap();
        let fut = serve(server, socket, peer, 1);
        let size = std::mem::size_of_val(&fut);
        assert!(size <= 1472, "serve future is {size} bytes");
    }
}
