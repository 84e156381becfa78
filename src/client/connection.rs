//! A client connection's protocol: the reader's private state ([`Conn`])
//! and what each op does — CONNECT with authorization, PUB/HPUB (the
//! permission checks, the last-match memo, delivery, no-responders),
//! SUB/UNSUB with auto-unsubscribe, PING/PONG, `+OK` in verbose mode and
//! the `-ERR` table (`docs/protocol.md#client-protocol`). The read loop,
//! the PING timer and batching are `conn::read_loop`'s; this file is the
//! client's [`Protocol`].
//!
//! **Must never:** block on another connection's socket, allocate per
//! message on the publish path, or hold a lock across an await.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::time::Instant;

use super::last_match::LastMatch;
use crate::auth::permissions::Permissions;
use crate::auth::AuthOutcome;
use crate::client::connect::{ConnectError, ConnectOptions};
use crate::conn::{Core, Pings, Protocol};
use crate::log::{self, ConnPrefix};
use crate::outbound::{Message, Push};
use crate::parser::{Frame, Limits, Op, Parser, Role};
use crate::server::account::Account;
use crate::server::close::ClosedState;
use crate::server::shared::{empty_str, unix_nanos};
use crate::server::subject::subject_str;
use crate::server::subscription::{SubRef, Subscription};
use crate::server::{ConnShared, Server};
use crate::transform::{Mapped, Mappings};

/// First server PING after connect (nats-server's `firstClientPingInterval`).
const FIRST_PING: Duration = Duration::from_secs(2);

/// The reader's private state.
pub(super) struct Conn {
    /// What every connection's reader has: server, shared half, log
    /// prefix, parser, PING timer, authorization deadline, wake-ups.
    core: Core,
    /// The accepted CONNECT (the defaults before it), shared with
    /// [`ConnShared`]'s copy.
    opts: Arc<ConnectOptions>,
    /// CONNECT accepted (or not required).
    connected: bool,
    max_subs: usize,
    /// The options generation the limits below were read from (reload).
    opts_generation: u64,
    /// The nonce our INFO carried (nkey users sign it).
    nonce: Option<String>,
    /// This user's permissions (none = unrestricted), refreshed each batch
    /// so that a reload takes effect.
    perms: Option<Arc<Permissions>>,
    /// The last publish's match (nats-server's per-client results cache,
    /// one entry): a publisher that sends a run of messages to one subject
    /// skips validation, hashing and the shared cache for all but the first.
    last_match: LastMatch,
    /// The account this client is bound to (`$G` until CONNECT says
    /// otherwise): resolved once, at CONNECT, never per message.
    account: Arc<Account>,
}

/// The CONNECT defaults, shared by every connection that has not sent one.
fn default_connect() -> Arc<ConnectOptions> {
    static DEFAULT: std::sync::LazyLock<Arc<ConnectOptions>> =
        std::sync::LazyLock::new(|| Arc::new(ConnectOptions::default()));
    DEFAULT.clone()
}

impl Conn {
    pub(super) fn new(
        server: Arc<Server>,
        shared: Arc<ConnShared>,
        prefix: ConnPrefix,
        opts: &crate::config::Options,
        nonce: Option<String>,
    ) -> Self {
        let auth_required = server.auth().required();
        // nats-server: min(ping_interval, 2 s) plus up to 20 % of that.
        let first_ping = opts.ping_interval.min(FIRST_PING);
        let fifth = (first_ping.as_nanos() / 5).max(1) as u64;
        let first_ping = first_ping + Duration::from_nanos(fastrand::u64(0..fifth));
        let parser = Parser::new(
            Role::Client,
            Limits {
                max_control_line: opts.max_control_line as usize,
                max_payload: opts.max_payload as usize,
            },
        );
        let pings = Pings::new(opts.ping_interval, opts.ping_max, first_ping);
        let auth_deadline = auth_required.then(|| Instant::now() + server_auth_timeout(opts));
        Self {
            core: Core::new(server.clone(), shared, prefix, parser, pings, auth_deadline),
            opts: default_connect(),
            connected: !auth_required,
            max_subs: opts.max_subscriptions,
            opts_generation: 0,
            nonce,
            perms: None,
            last_match: LastMatch::default(),
            account: server.global().clone(),
        }
    }

    fn trace_in(&self, frame: &Frame, data: &[u8]) {
        let mut line = frame.op.name().as_bytes().to_vec();
        let args = frame.line.of(data);
        if !args.is_empty() {
            line.push(b' ');
            line.extend_from_slice(args);
        }
        log::trace_in(&self.core.prefix, &line);
        if let Some(payload) = frame.op.payload() {
            log::trace_payload(&self.core.prefix, log::TraceDir::In, payload.of(data));
        }
    }

    /// A reload changed the options: take the new limits (nats-server
    /// applies max_payload, max_control_line, ping settings and the
    /// subscription limit to existing connections too).
    fn apply_reloaded_limits(&mut self) {
        let opts = self.core.server.options();
        self.core.parser.set_limits(Limits {
            max_control_line: opts.max_control_line as usize,
            max_payload: opts.max_payload as usize,
        });
        self.max_subs = opts.max_subscriptions;
        self.core.pings.interval = opts.ping_interval;
        self.core.pings.max = opts.ping_max;
        self.apply_account_limits();
    }

    /// The account's `max_payload` and `max_subscriptions`, where tighter
    /// than the server's (nats-server's `applyAccountLimits`).
    fn apply_account_limits(&mut self) {
        let limits = *self.account.limits.read();
        let opts = self.core.server.options();
        if limits.max_payload >= 0 {
            let max = (limits.max_payload as u64).min(u64::from(opts.max_payload));
            self.core.parser.set_limits(Limits {
                max_control_line: opts.max_control_line as usize,
                max_payload: max as usize,
            });
        }
        if limits.max_subscriptions >= 0 {
            let max = limits.max_subscriptions as usize;
            self.max_subs = match self.max_subs {
                0 => max,
                m => m.min(max),
            };
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
            log::trace_out(&self.core.prefix, line);
        }
        self.core.wakes.sent();
        if let Push::Queued { wake: true, .. } = self.core.shared.out.push_proto(bytes) {
            self.core.wakes.push(&self.core.shared);
        }
    }

    /// `User "alice"` for violation log lines (nats-server's getAuthUser),
    /// the name bounded like every client value in a log line.
    fn auth_user(&self) -> String {
        let user = self.core.shared.meta.lock().user.clone();
        format!("User {}", log::clip_quoted(&*user))
    }

    fn auth_violation(&mut self) {
        self.send_err("Authorization Violation");
    }

    /// Refuses a CONNECT: the `-ERR` if nats-server sends one, the log line,
    /// and the closed reason.
    fn connect_error(&mut self, e: ConnectError, json: &[u8]) -> ClosedState {
        if let Some(text) = e.err_text() {
            self.send_err(text);
        }
        log::error!("{} - {}", self.core.prefix, connect_error_log(e, json));
        match e {
            ConnectError::Malformed => ClosedState::ProtocolViolation,
            ConnectError::InvalidProtocol => ClosedState::BadClientProtocolVersion,
            ConnectError::NoRespondersRequiresHeaders => ClosedState::NoRespondersRequiresHeaders,
        }
    }

    /// nats-server's order: JSON, credentials, account fields, then
    /// `protocol` and `no_responders`.
    fn connect(&mut self, json: &[u8]) -> Result<(), ClosedState> {
        let opts = match self.opts.apply(json) {
            Ok(opts) => opts,
            Err(e) => return Err(self.connect_error(e, json)),
        };
        let (user, account) = match self.core.server.auth().check(&opts, self.nonce.as_deref()) {
            AuthOutcome::Allowed {
                user,
                permissions,
                account,
            } => {
                self.core.shared.set_permissions(permissions.clone());
                self.perms = permissions;
                (user, account)
            }
            AuthOutcome::Denied { user } => {
                self.auth_violation();
                let claimed = [
                    user.as_deref().or(opts.user.as_deref()),
                    opts.name.as_deref(),
                    opts.lang.as_deref(),
                    opts.version.as_deref(),
                ];
                self.core
                    .server
                    .event_auth_error(&self.core.shared, claimed);
                match user {
                    Some(u) => log::error!(
                        "{} - authentication error - User {}",
                        self.core.prefix,
                        log::clip_quoted(&*u)
                    ),
                    None => log::error!("{} - authentication error", self.core.prefix),
                }
                return Err(ClosedState::AuthenticationViolation);
            }
        };
        if opts.names_account() {
            self.auth_violation();
            log::error!("{} - authentication error", self.core.prefix);
            return Err(ClosedState::AuthenticationViolation);
        }
        let headers = opts.headers && self.core.server.headers_supported();
        if let Err(e) = opts.check(headers) {
            return Err(self.connect_error(e, json));
        }
        self.bind_account(account.as_deref())?;
        self.core.shared.headers.store(headers, Relaxed);
        self.core
            .shared
            .async_info
            .store(opts.protocol >= 1, Relaxed);
        let described = self.core.prefix.described(
            opts.version.as_deref().unwrap_or(""),
            opts.lang.as_deref().unwrap_or(""),
            opts.name.as_deref().unwrap_or(""),
            None,
        );
        {
            let mut meta = self.core.shared.meta.lock();
            meta.name = opts.name.clone().unwrap_or_else(empty_str);
            meta.lang = opts.lang.clone().unwrap_or_else(empty_str);
            meta.version = opts.version.clone().unwrap_or_else(empty_str);
            meta.user = user.unwrap_or_else(empty_str);
            meta.account = self.account.name.clone();
            meta.prefix = described.shared();
        }
        self.core.prefix = described;
        let opts = Arc::new(opts);
        *self.core.shared.connect.lock() = Some(opts.clone());
        *self.core.shared.nonce.lock() = self.nonce.clone();
        self.opts = opts;
        let first = !self.connected;
        self.connected = true;
        self.core.shared.last_activity.store(unix_nanos(), Relaxed);
        self.core.auth_deadline = None;
        self.ok();
        if first {
            self.core.server.event_connect(&self.core.shared);
        }
        Ok(())
    }

    /// Binds the connection to the account its user belongs to (`None` =
    /// `$G`), counting it against the account's connection limit. A repeated
    /// CONNECT rebinds.
    fn bind_account(&mut self, name: Option<&str>) -> Result<(), ClosedState> {
        let server = &self.core.server;
        let account = match name {
            None => server.global().clone(),
            Some(name) => match server.accounts.get(name) {
                Some(a) => a,
                None => {
                    // The user's account was removed by a reload in between.
                    self.auth_violation();
                    log::error!("{} - authentication error", self.core.prefix);
                    return Err(ClosedState::AuthenticationViolation);
                }
            },
        };
        if !self.core.shared.bind_account(&account) {
            self.send_err("maximum account active connections exceeded");
            log::error!(
                "{} - maximum account active connections exceeded",
                self.core.prefix
            );
            return Err(ClosedState::MaxAccountConnectionsExceeded);
        }
        if !Arc::ptr_eq(&account, &self.account) {
            self.last_match = LastMatch::default();
        }
        self.account = account;
        self.apply_account_limits();
        Ok(())
    }

    /// Applies the account's mappings to a published subject.
    #[cold]
    fn map_subject(
        &self,
        mappings: &Mappings,
        subject: &[u8],
        out: &mut Vec<u8>,
    ) -> Option<Mapped> {
        let cluster = self
            .core
            .server
            .cluster
            .enabled()
            .then(|| self.core.server.cluster.name());
        mappings.map_into(subject, cluster.as_deref(), || fastrand::u8(..100), out)
    }

    fn publish(
        &mut self,
        msg: Message<'_>,
        shared: Option<&Bytes>,
        guard: &sublist::Guard,
    ) -> Result<(), ClosedState> {
        if msg.header_len.is_some() && !self.core.shared.headers() {
            log::error!("{} - message headers not supported", self.core.prefix);
            return Err(ClosedState::ProtocolViolation);
        }
        self.core.count_in(msg.payload.len());
        // Mappings first: permissions apply to the mapped subject, as in
        // nats-server. An account without mappings pays one load here.
        let mut mapped = Vec::new();
        let msg = match self.account.mappings() {
            None => msg,
            Some(mappings) => match self.map_subject(&mappings, msg.subject, &mut mapped) {
                None => msg,
                Some(Mapped::To) => Message {
                    subject: &mapped,
                    ..msg
                },
                Some(Mapped::Drop) => return Ok(()),
            },
        };
        let pedantic = self.opts.pedantic;
        if let Some(perms) = &self.perms {
            let subject = subject_str(msg.subject);
            if !perms.can_publish(&subject) && !self.core.shared.take_response(msg.subject) {
                let text = format!("Permissions Violation for Publish to {:?}", &*subject);
                self.send_err(&text);
                log::error!(
                    "{} - Publish Violation - {}, Subject {}",
                    self.core.prefix,
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
                self.core.prefix,
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
            .get(&self.account.sublist, msg.subject, guard);
        let delivered = self.core.server.deliver(
            &self.core.shared,
            &self.account,
            self.opts.echo,
            &msg,
            result,
            &mut self.core.wakes,
        );
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
        let result = self.account.sublist.match_in(&subject_str(reply), guard);
        let Some(sub) = result
            .plain
            .iter()
            .find(|s| Arc::ptr_eq(&s.client, &self.core.shared))
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
    ) -> Result<(), ClosedState> {
        {
            let subs = self.core.shared.subs.lock();
            if self.max_subs > 0 && subs.len() >= self.max_subs {
                drop(subs);
                log::error!("{} - maximum subscriptions exceeded", self.core.prefix);
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
                log::error!("{} - {log_text}", self.core.prefix);
                return Ok(());
            }
            if let Some(deny) = perms.delivery_deny_for(&subject, queue.as_deref()) {
                self.core.shared.set_delivery_deny(Some(deny));
            }
        }
        let sub = Arc::new(Subscription::new(
            self.core.shared.clone(),
            self.account.clone(),
            &subject,
            queue.as_deref(),
            sid,
        ));
        self.core.shared.subs.lock().insert(sub.clone());
        self.core.server.add_sub(SubRef(sub));
        self.core.shared.last_activity.store(unix_nanos(), Relaxed);
        self.ok();
        Ok(())
    }

    fn unsubscribe(&mut self, sid: &[u8], max: Option<u64>) {
        let sub = self.core.shared.subs.lock().get(sid).cloned();
        if let Some(sub) = sub {
            let keep = max.is_some_and(|m| sub.set_max(m));
            if !keep {
                self.core.server.remove_sub(&sub);
            }
            self.core.shared.last_activity.store(unix_nanos(), Relaxed);
        }
        self.ok();
    }
}

impl Protocol for Conn {
    const KIND: &'static str = "Client";

    #[inline]
    fn core(&mut self) -> &mut Core {
        &mut self.core
    }

    /// Refreshes the permissions, and the limits after a reload.
    fn begin_batch(&mut self) {
        if self.core.shared.has_permissions() {
            self.perms = self.core.shared.permissions();
        }
        let generation = self.core.server.options_generation();
        if generation != self.opts_generation {
            self.opts_generation = generation;
            self.apply_reloaded_limits();
        }
    }

    /// Under auth nats-server refuses anything but CONNECT at the op's
    /// first byte, before its arguments or size are looked at (so
    /// `PUB foo 2000000` is an Authorization Violation, not a payload
    /// violation).
    #[inline]
    fn before_op(&mut self, buf: &[u8]) -> Result<(), ClosedState> {
        if !self.connected && buf.first().is_some_and(|&b| b != b'C' && b != b'c') {
            self.auth_violation();
            return Err(ClosedState::AuthenticationViolation);
        }
        Ok(())
    }

    fn handle(
        &mut self,
        frame: &Frame,
        data: &[u8],
        shared: Option<&Bytes>,
        guard: &sublist::Guard,
    ) -> Result<(), ClosedState> {
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
                self.core.pings.pong(&self.core.shared);
                Ok(())
            }
            Op::Ok => Ok(()),
            // Ignored, but it must decode, as nats-server requires.
            Op::Info { json } => {
                if crate::client::connect::client_info_decodes(json.of(data)) {
                    Ok(())
                } else {
                    log::error!("{} - bad client INFO", self.core.prefix);
                    Err(ClosedState::ProtocolViolation)
                }
            }
            Op::Err { text } => {
                log::error!(
                    "{} - Client Error {}",
                    self.core.prefix,
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

    fn send_err(&mut self, text: &str) {
        let line = format!("-ERR '{text}'\r\n");
        self.send(line.as_bytes());
        self.core.shared.out.wake();
    }

    fn send_ping(&mut self) {
        self.send(b"PING\r\n");
        self.core.wakes.flush(&self.core.server);
    }

    /// No PING to a client that sent something within the interval, once
    /// its round trip time is known.
    fn delays_ping(&mut self, now: Instant) -> bool {
        let rtt_known = self.core.shared.rtt_nanos.load(Relaxed) != 0;
        if now.duration_since(self.core.pings.last_in) < self.core.pings.interval && rtt_known {
            log::debug!(
                "{} - Delaying PING due to client activity",
                self.core.prefix
            );
            return true;
        }
        false
    }

    /// Never keeps departed subscribers alive between reads.
    fn end_batch(&mut self) {
        self.last_match.result = None;
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
