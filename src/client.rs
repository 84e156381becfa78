//! A client connection: its shared half (what publishers and monitoring see)
//! and its reader task (socket → parser → ops).
//!
//! Mirrors nats-server's `client.go` for core NATS clients
//! (`client-protocol.md`): INFO on accept, CONNECT with defaults, PUB/HPUB,
//! SUB/UNSUB with auto-unsubscribe, PING/PONG both ways, `+OK` in verbose mode,
//! the `-ERR` table, the authorization timeout, stale-connection detection
//! and slow-consumer cuts.
//!
//! **Shape.** Each connection runs two tasks: this reader, which parses a
//! whole read buffer at a time under one epoch guard and delivers to
//! subscribers' outbound buffers, and the writer in `outbound.rs`. The reader
//! owns all per-connection protocol state; other tasks only touch the
//! [`ClientShared`] half.
//!
//! **Must never:** block on another connection's socket, allocate per
//! message on the publish path, or hold a lock across an await.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::{Buf, Bytes, BytesMut};
use parking_lot::Mutex;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio::time::{sleep_until, Instant};
use tokio_util::sync::CancellationToken;

use crate::auth::AuthOutcome;
use crate::close::ClosedState;
use crate::connect::{ConnectError, ConnectOptions};
use crate::log::{self, ConnPrefix};
use crate::outbound::{self, Message, Outbound, Push, WriterEnd};
use crate::parser::{Frame, Limits, Op, Parser, Role};
use crate::server::{Server, Wakes};
use crate::subscription::{SubRef, Subscription};

/// Read buffer size; also the most one batch parses.
const READ_BUF: usize = 64 * 1024;
/// First server PING after connect (nats-server's `firstClientPingInterval`).
const FIRST_PING: Duration = Duration::from_secs(2);
/// Longest a publisher waits for one slow subscriber per read batch.
const STALL_MAX: Duration = Duration::from_millis(5);

/// The part of a connection that other tasks see: publishers deliver into
/// `out`, monitoring reads the counters and metadata, the server closes it.
pub struct ClientShared {
    pub cid: u64,
    pub addr: SocketAddr,
    pub start: SystemTime,
    pub out: Outbound,
    /// Negotiated in CONNECT: deliver HMSG (else strip headers).
    headers: AtomicBool,
    /// Cancelled when the connection must close; the reader tears it down.
    closed: CancellationToken,
    reason: Mutex<Option<ClosedState>>,
    /// Bytes queued when the close was decided (before a slow consumer's
    /// buffer is dropped), for the closed-connection record.
    pending_at_close: AtomicUsize,
    /// Subscriptions by sid.
    pub subs: Mutex<HashMap<Bytes, Arc<Subscription>>>,
    pub meta: Mutex<ClientMeta>,
    pub in_msgs: AtomicU64,
    pub in_bytes: AtomicU64,
    /// Unix nanos of the last message in or out, for /connz `last_activity`.
    pub last_activity: AtomicU64,
    /// Round-trip time of the last PING, nanoseconds.
    pub rtt_nanos: AtomicU64,
}

/// What CONNECT told us, for logs and /connz.
#[derive(Clone, Debug, Default)]
pub struct ClientMeta {
    pub name: String,
    pub lang: String,
    pub version: String,
    pub user: String,
    pub prefix: String,
}

impl ClientShared {
    fn new(cid: u64, addr: SocketAddr, max_pending: usize) -> Self {
        Self {
            cid,
            addr,
            start: SystemTime::now(),
            out: Outbound::new(max_pending),
            headers: AtomicBool::new(false),
            closed: CancellationToken::new(),
            reason: Mutex::new(None),
            pending_at_close: AtomicUsize::new(0),
            subs: Mutex::new(HashMap::new()),
            meta: Mutex::new(ClientMeta::default()),
            in_msgs: AtomicU64::new(0),
            in_bytes: AtomicU64::new(0),
            last_activity: AtomicU64::new(unix_nanos()),
            rtt_nanos: AtomicU64::new(0),
        }
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
        self.closed.cancel();
    }

    pub fn is_closed(&self) -> bool {
        self.closed.is_cancelled()
    }

    pub fn reason(&self) -> Option<ClosedState> {
        *self.reason.lock()
    }

    /// Bytes that were queued when the connection was told to close.
    pub fn pending_at_close(&self) -> usize {
        self.pending_at_close.load(Relaxed)
    }

    /// The log prefix, with the CONNECT descriptor once known.
    pub fn prefix(&self) -> String {
        self.meta.lock().prefix.clone()
    }
}

pub(crate) fn unix_nanos() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// Serves one accepted client socket until it closes.
pub async fn serve(server: Arc<Server>, socket: TcpStream, addr: SocketAddr, cid: u64) {
    let opts = server.options();
    let _ = socket.set_nodelay(true);
    let shared = Arc::new(ClientShared::new(cid, addr, opts.max_pending as usize));
    let base_prefix = ConnPrefix::client(addr, cid);
    shared.meta.lock().prefix = base_prefix.to_string();
    log::debug!("{base_prefix} - Client connection created");

    let (mut rd, wr) = socket.into_split();
    let writer = {
        let shared = shared.clone();
        let deadline = opts.write_deadline;
        tokio::spawn(async move {
            let end = outbound::write_loop(&shared.out, wr, deadline).await;
            match end {
                WriterEnd::Closed => {}
                WriterEnd::Deadline { chunks, bytes } => {
                    log::notice!(
                        "{} - Slow Consumer Detected: WriteDeadline of {} exceeded with {chunks} chunks of {bytes} total bytes.",
                        shared.prefix(),
                        crate::config::go::format_duration(deadline)
                    );
                    shared.close(ClosedState::SlowConsumerWriteDeadline, false);
                }
                WriterEnd::Io(_) => shared.close(ClosedState::WriteError, false),
            }
        })
    };

    let info = server.client_info_line(cid, addr);
    shared.out.push_proto(&info);
    shared.out.wake();

    let reason = if !server.register_client(&shared) {
        let text = b"-ERR 'maximum connections exceeded'\r\n";
        shared.out.push_proto(text);
        log::error!("{base_prefix} - maximum connections exceeded");
        ClosedState::MaxConnectionsExceeded
    } else {
        let mut conn = Conn::new(server.clone(), shared.clone(), base_prefix, &opts);
        conn.read_loop(&mut rd).await
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
    let mut writer = writer;
    if tokio::time::timeout(grace, &mut writer).await.is_err() {
        writer.abort();
    }
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
    shared: Arc<ClientShared>,
    parser: Parser,
    prefix: ConnPrefix,
    opts: ConnectOptions,
    /// CONNECT accepted (or not required).
    connected: bool,
    auth_deadline: Option<Instant>,
    max_subs: usize,
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
}

/// A reason to stop reading.
type Close = ClosedState;

impl Conn {
    fn new(
        server: Arc<Server>,
        shared: Arc<ClientShared>,
        prefix: ConnPrefix,
        opts: &crate::config::Options,
    ) -> Self {
        let now = Instant::now();
        let auth_required = server.auth().required();
        let jitter = Duration::from_millis(fastrand::u64(0..=FIRST_PING.as_millis() as u64 / 5));
        let first_ping = opts.ping_interval.min(FIRST_PING) + jitter;
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
            opts: ConnectOptions::default(),
            connected: !auth_required,

            auth_deadline: auth_required.then(|| now + server_auth_timeout(opts)),
            max_subs: opts.max_subscriptions,
            ping_interval: opts.ping_interval,
            ping_max: opts.ping_max,
            pings_out: 0,
            next_ping: now + first_ping,
            last_in: now,
            rtt_start: None,
            wakes: Wakes::default(),
            batch_msgs: 0,
            batch_bytes: 0,
        }
    }

    async fn read_loop(&mut self, rd: &mut tokio::net::tcp::OwnedReadHalf) -> Close {
        let mut buf = BytesMut::with_capacity(READ_BUF);
        let closed = self.shared.closed.clone();
        loop {
            if buf.capacity() - buf.len() < READ_BUF / 4 {
                buf.reserve(READ_BUF);
            }
            let far = Instant::now() + Duration::from_secs(86_400);
            tokio::select! {
                biased;
                _ = closed.cancelled() => return self.shared.reason().unwrap_or(ClosedState::ServerShutdown),
                read = rd.read_buf(&mut buf) => match read {
                    Ok(0) => return ClosedState::ClientClosed,
                    Ok(_) => {}
                    Err(_) => return ClosedState::ReadError,
                },
                _ = sleep_until(self.next_ping) => {
                    if let Err(reason) = self.ping_timer() {
                        return reason;
                    }
                    continue;
                }
                _ = sleep_until(self.auth_deadline.unwrap_or(far)), if self.auth_deadline.is_some() => {
                    self.send_err("Authentication Timeout");
                    log::error!("{} - Authentication Timeout", self.prefix);
                    return ClosedState::AuthenticationTimeout;
                }
            }
            self.last_in = Instant::now();
            let result = self.process(&mut buf);
            self.end_batch().await;
            if let Err(reason) = result {
                return reason;
            }
        }
    }

    /// Parses and handles every complete op in `buf` under one epoch guard.
    fn process(&mut self, buf: &mut BytesMut) -> Result<(), Close> {
        let server = self.server.clone();
        let guard = server.sublist.pin();
        loop {
            let frame = match self.parser.next(buf) {
                Ok(Some(frame)) => frame,
                Ok(None) => return Ok(()),
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
            slow.out.stall(STALL_MAX).await;
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
            Op::Ok | Op::Info { .. } => Ok(()),
            Op::Err { text } => {
                log::error!(
                    "{} - Client Error {}",
                    self.prefix,
                    String::from_utf8_lossy(text.of(data))
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
        if let Push::Queued { wake: true, .. } = self.shared.out.push_proto(bytes) {
            self.wakes.push(&self.shared);
        }
    }

    fn send_err(&mut self, text: &str) {
        let line = format!("-ERR '{text}'\r\n");
        self.send(line.as_bytes());
        self.shared.out.wake();
    }

    fn auth_violation(&mut self) {
        self.send_err("Authorization Violation");
    }

    fn connect(&mut self, json: &[u8]) -> Result<(), Close> {
        let opts = match ConnectOptions::parse(json) {
            Ok(opts) => opts,
            Err(e) => {
                if let Some(text) = e.err_text() {
                    self.send_err(text);
                }
                log::error!("{} - {}", self.prefix, connect_error_log(e, json));
                return Err(match e {
                    ConnectError::Malformed => ClosedState::ProtocolViolation,
                    ConnectError::InvalidProtocol => ClosedState::BadClientProtocolVersion,
                    ConnectError::NoRespondersRequiresHeaders => {
                        ClosedState::NoRespondersRequiresHeaders
                    }
                });
            }
        };
        if opts.account.is_some() || opts.new_account.is_some() {
            self.auth_violation();
            log::error!("{} - authentication error", self.prefix);
            return Err(ClosedState::AuthenticationViolation);
        }
        let user = match self.server.auth().check(&opts) {
            AuthOutcome::Allowed { user } => user,
            AuthOutcome::Denied { user } => {
                self.auth_violation();
                match user {
                    Some(u) => log::error!("{} - authentication error - User {u:?}", self.prefix),
                    None => log::error!("{} - authentication error", self.prefix),
                }
                return Err(ClosedState::AuthenticationViolation);
            }
        };
        self.shared
            .headers
            .store(opts.headers && self.server.headers_supported(), Relaxed);
        let described = self.prefix.described(
            opts.version.as_deref().unwrap_or(""),
            opts.lang.as_deref().unwrap_or(""),
            opts.name.as_deref().unwrap_or(""),
            None,
        );
        {
            let mut meta = self.shared.meta.lock();
            meta.name = opts.name.clone().unwrap_or_default();
            meta.lang = opts.lang.clone().unwrap_or_default();
            meta.version = opts.version.clone().unwrap_or_default();
            meta.user = user.unwrap_or_default();
            meta.prefix = described.to_string();
        }
        self.prefix = described;
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
        let subject = std::str::from_utf8(msg.subject).ok();
        if pedantic && !subject.is_some_and(sublist::subject::is_valid_literal_subject) {
            self.send_err("Invalid Publish Subject");
        }
        let msg = Message { shared, ..msg };
        let delivered = match subject {
            Some(subject) => {
                let result = self.server.sublist.match_in(subject, guard);
                self.server
                    .deliver(&self.shared, self.opts.echo, &msg, &result, &mut self.wakes)
            }
            None => 0,
        };
        if delivered == 0 && self.opts.no_responders {
            if let (Some(reply), Some(subject)) = (msg.reply, subject) {
                self.no_responders(subject, reply, guard);
            }
        }
        self.ok();
        Ok(())
    }

    /// Tells a requester nobody is listening: a 503 status to its own
    /// subscription on the reply subject, if it has one.
    fn no_responders(&mut self, subject: &str, reply: &[u8], guard: &sublist::Guard) {
        let Ok(reply_str) = std::str::from_utf8(reply) else {
            return;
        };
        let result = self.server.sublist.match_in(reply_str, guard);
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
            format!(" {len} {len}\r\nNATS/1.0 503\r\nNats-Subject: {subject}\r\n\r\n\r\n")
                .as_bytes(),
        );
        self.send(&frame);
    }

    fn subscribe(&mut self, subject: &[u8], queue: Option<&[u8]>, sid: &[u8]) -> Result<(), Close> {
        let subject = match std::str::from_utf8(subject) {
            Ok(s) if sublist::subject::is_valid_subject(s) => s,
            _ => {
                self.send_err("Invalid Subject");
                return Ok(());
            }
        };
        let queue = match queue.map(std::str::from_utf8) {
            None => None,
            Some(Ok(q)) if sublist::subject::is_valid_queue(q) => Some(q),
            Some(_) => {
                self.send_err("Invalid Subject");
                return Ok(());
            }
        };
        {
            let subs = self.shared.subs.lock();
            if subs.contains_key(sid) {
                drop(subs);
                self.ok();
                return Ok(());
            }
            if self.max_subs > 0 && subs.len() >= self.max_subs {
                drop(subs);
                log::error!("{} - maximum subscriptions exceeded", self.prefix);
                self.send_err("maximum subscriptions exceeded");
                return Ok(());
            }
        }
        let sid = Bytes::copy_from_slice(sid);
        let sub = Arc::new(Subscription::new(
            self.shared.clone(),
            subject,
            queue,
            sid.clone(),
        ));
        self.shared.subs.lock().insert(sid, sub.clone());
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

fn server_auth_timeout(opts: &crate::config::Options) -> Duration {
    opts.authorization.effective_timeout(opts.tls.as_ref())
}

fn connect_error_log(e: ConnectError, json: &[u8]) -> String {
    match e {
        ConnectError::Malformed => format!(
            "processConnect Parse Error: {:?}",
            String::from_utf8_lossy(json)
        ),
        ConnectError::InvalidProtocol => "invalid client protocol".to_string(),
        ConnectError::NoRespondersRequiresHeaders => {
            "no responders requires headers support".to_string()
        }
    }
}
