//! Imports between accounts, as internal subscriptions (`internal.rs`):
//!
//! * a **stream import** (B imports `news.>` from A) is a subscription in
//!   the exporter A whose handler re-publishes each message into B under
//!   the import's local subject, to B's local subscribers only (B's peers
//!   have the same import and get A's message through their own);
//! * a **service import** (B imports service `q` from A) is a subscription
//!   in B on the local subject; a request there is re-published in A on the
//!   export subject with a fresh reply `_R_.<prefix>.<id>` and a
//!   `Nats-Request-Info` header, remembered in A's response map;
//! * A's **response router**, a subscription on `_R_.<prefix>.>`, sends a
//!   response back into B on the requester's own reply subject, once for a
//!   singleton service, until the threshold for stream and chunked ones.
//!
//! **Differs from nats-server:** nats-server adds a stream import's
//! subscription in the exporter only while an importer's client subscribes
//! to a matching subject (one shadow subscription per client
//! subscription), so an idle import costs nothing on routes and queue groups
//! of the importer keep one delivery per group across a cluster. Here the
//! import's subscription is permanent (the exporter's interest is announced
//! on routes even with no importing subscriber) and each server delivers an
//! imported message to one member of each of its local queue groups.
//!
//! Built from the configuration at start and rebuilt on reload; the
//! configuration has already refused unknown accounts, unauthorized imports
//! and cycles.
//!
//! **Must never:** re-publish a message that arrived through a service import
//! to stream importers, or answer a routed request (its origin server
//! already did).

use std::collections::HashMap;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use crate::config::{ExportConfig, ExportKind, ImportConfig, Options, ResponseType};
use crate::log;
use crate::outbound::Message;
use crate::server::account::Account;
use crate::server::internal::{Internal, Origin};
use crate::server::latency::{self, sampled, Tracking};
use crate::server::subscription::Subscription;
use crate::server::{Server, Wakes};
use crate::transform::{tokenize, untokenize, Mapped, Transform};

/// Unanswered response mappings are swept when the map reaches this many
/// entries (and then at every doubling), besides expiring when looked up.
const SWEEP_AT: usize = 1024;

/// The local subject of an import: the same, a prefix, or a transform.
enum Local {
    Same,
    Prefix(Box<str>),
    To(Transform),
}

impl Local {
    fn subject<'a>(&self, subject: &'a [u8], buf: &'a mut Vec<u8>) -> Option<&'a [u8]> {
        match self {
            Local::Same => Some(subject),
            Local::Prefix(p) => {
                buf.extend_from_slice(p.as_bytes());
                buf.push(b'.');
                buf.extend_from_slice(subject);
                Some(buf)
            }
            Local::To(t) => t.apply_into(subject, buf).then_some(&buf[..]),
        }
    }
}

/// A stream import's subscription in the exporting account.
struct StreamImport {
    importer: Arc<Account>,
    local: Local,
}

impl Internal for StreamImport {
    fn deliver(
        &self,
        server: &Server,
        _exporter: &Arc<Account>,
        msg: &Message<'_>,
        origin: Origin<'_>,
        wakes: &mut Wakes,
    ) -> usize {
        if origin.hops > 0 {
            // It came through an import already: not re-exported.
            return 0;
        }
        let mut buf = Vec::new();
        let Some(subject) = self.local.subject(msg.subject, &mut buf) else {
            return 0;
        };
        let msg = Message { subject, ..*msg };
        // Local subscribers only: every server of the cluster imports.
        let origin = Origin {
            routed: true,
            ..origin
        };
        server.publish_in(&self.importer, &msg, origin, wakes)
    }
}

/// A service import's subscription in the importing account.
struct ServiceImport {
    exporter: Arc<Account>,
    /// Local subject → export subject, when they differ.
    to_export: Option<Transform>,
    /// A fixed export subject (the system account's automatic imports).
    fixed: Option<Box<[u8]>>,
    response_type: ResponseType,
    threshold: Duration,
    share: bool,
    /// `latency {}` of the export: (sampling percent, results subject).
    latency: Option<(u8, Box<str>)>,
}

impl Internal for ServiceImport {
    fn deliver(
        &self,
        server: &Server,
        importer: &Arc<Account>,
        msg: &Message<'_>,
        origin: Origin<'_>,
        wakes: &mut Wakes,
    ) -> usize {
        if origin.routed {
            return 0;
        }
        let mut subject_buf = Vec::new();
        let subject = match &self.to_export {
            _ if self.fixed.is_some() => self.fixed.as_deref().unwrap_or_default(),
            Some(t) if t.apply_into(msg.subject, &mut subject_buf) => &subject_buf[..],
            Some(_) => return 0,
            None => msg.subject,
        };
        // The exporter's own mappings apply to the subject it receives.
        let mut mapped = Vec::new();
        let subject = match self.exporter.mappings() {
            None => subject,
            Some(m) => match m.map_into(subject, None, || fastrand::u8(..100), &mut mapped) {
                None => subject,
                Some(Mapped::To) => &mapped[..],
                Some(Mapped::Drop) => return 0,
            },
        };
        let arrived = Instant::now();
        let info = request_info(importer, origin, self.share, &server.name);
        let tracked = self
            .latency
            .as_ref()
            .filter(|(sampling, _)| msg.reply.is_some() && sampled(*sampling));
        let tracking = tracked.map(|(_, subject)| Tracking {
            subject: subject.clone(),
            requestor: info.clone(),
            requestor_rtt: origin.client.map_or(0, |c| c.rtt_nanos.load(Relaxed)),
            start: SystemTime::now(),
            forwarded: arrived,
            system: 0,
        });
        let reply = msg.reply.map(|reply| {
            server.track_response(
                &self.exporter,
                importer,
                reply,
                (self.response_type, self.threshold),
                tracking,
            )
        });
        let payload = with_header(msg, "Nats-Request-Info", &info);
        let forwarded = Message {
            subject,
            reply: reply.as_deref().map(str::as_bytes),
            header_len: Some(payload.1),
            payload: &payload.0,
            shared: None,
        };
        let n = server.publish_in(&self.exporter, &forwarded, origin, wakes);
        if let Some(reply) = reply.as_deref().filter(|_| tracked.is_some()) {
            let system = u64::try_from(arrived.elapsed().as_nanos()).unwrap_or(u64::MAX);
            if let Some(e) = self.exporter.responses.lock().map.get_mut(reply) {
                if let Some(t) = e.tracking.as_mut() {
                    t.system = system;
                    t.forwarded = Instant::now();
                }
            }
        }
        if n == 0 {
            if let Some(reply) = &reply {
                self.exporter.responses.lock().map.remove(reply.as_str());
            }
        }
        n
    }
}

/// The exporting account's router of responses (`_R_.<prefix>.>`).
struct Responses;

impl Internal for Responses {
    fn deliver(
        &self,
        server: &Server,
        exporter: &Arc<Account>,
        msg: &Message<'_>,
        origin: Origin<'_>,
        wakes: &mut Wakes,
    ) -> usize {
        let Ok(subject) = std::str::from_utf8(msg.subject) else {
            return 0;
        };
        let now = Instant::now();
        let (importer, reply, tracking) = {
            let mut table = exporter.responses.lock();
            let Some(entry) = table.map.get_mut(subject) else {
                return 0;
            };
            if entry.expires <= now {
                table.map.remove(subject);
                return 0;
            }
            let out = (
                entry.importer.clone(),
                entry.reply.clone(),
                entry.tracking.take(),
            );
            match entry.response_type {
                ResponseType::Singleton => {
                    table.map.remove(subject);
                }
                ResponseType::Stream | ResponseType::Chunked => {
                    entry.expires = now + entry.threshold;
                }
            }
            out
        };
        let msg = Message {
            subject: &reply,
            ..*msg
        };
        let origin = Origin {
            routed: false,
            ..origin
        };
        let n = server.publish_in(&importer, &msg, origin, wakes);
        if let Some(t) = tracking {
            let responder = origin.client.map(|c| &**c);
            let result = latency::result(&t, responder, &server.name);
            let event = Message {
                subject: t.subject.as_bytes(),
                reply: None,
                header_len: None,
                payload: result.as_bytes(),
                shared: None,
            };
            server.publish_in(exporter, &event, origin, wakes);
        }
        n
    }
}

/// One pending response of a service import.
pub(crate) struct ResponseEntry {
    importer: Arc<Account>,
    /// The requester's reply subject, in the importing account.
    reply: Box<[u8]>,
    response_type: ResponseType,
    threshold: Duration,
    expires: Instant,
    /// Set for a request sampled for latency, until its first response.
    tracking: Option<Box<Tracking>>,
}

/// An exporting account's pending responses, by the `_R_` reply subject.
#[derive(Default)]
pub(crate) struct ResponseTable {
    map: HashMap<Box<str>, ResponseEntry>,
    sweep_at: usize,
    /// The router subscription, made on the first tracked response.
    router: Option<Arc<Subscription>>,
}

impl ResponseTable {
    /// Pending responses (for `/accountz` `responses`).
    pub fn len(&self) -> usize {
        self.map.len()
    }
}

impl Server {
    /// Remembers a response owed to `reply` in `importer` and returns the
    /// reply subject the exporter's responder sees.
    fn track_response(
        &self,
        exporter: &Arc<Account>,
        importer: &Arc<Account>,
        reply: &[u8],
        (response_type, threshold): (ResponseType, Duration),
        tracking: Option<Tracking>,
    ) -> String {
        let now = Instant::now();
        let mut table = exporter.responses.lock();
        if table.router.is_none() {
            let subject = format!("_R_.{}.>", exporter.reply_prefix);
            table.router = Some(self.subscribe_internal(exporter, &subject, Arc::new(Responses)));
        }
        if table.map.len() >= table.sweep_at.max(SWEEP_AT) {
            table.map.retain(|_, e| e.expires > now);
            table.sweep_at = table.map.len() * 2;
        }
        let suffix = match &tracking {
            Some(_) => format!(".{}.T", latency::server_hash(&self.name)),
            None => String::new(),
        };
        let key = loop {
            let key = format!("_R_.{}.{}{suffix}", exporter.reply_prefix, base62(6));
            if !table.map.contains_key(key.as_str()) {
                break key;
            }
        };
        table.map.insert(
            key.as_str().into(),
            ResponseEntry {
                importer: importer.clone(),
                reply: reply.into(),
                response_type,
                threshold,
                expires: now + threshold,
                tracking: tracking.map(Box::new),
            },
        );
        key
    }

    /// (Re)builds every account's imports and mappings from `opts`: the
    /// previous import subscriptions are removed first (start and reload).
    pub fn build_imports(&self, opts: &Options) {
        for account in self.accounts.all() {
            let old = std::mem::take(&mut *account.import_subs.lock());
            for sub in old {
                self.remove_sub(&sub);
            }
        }
        for acc in &opts.accounts {
            let Some(importer) = self.accounts.get(&acc.name) else {
                continue;
            };
            for import in &acc.imports {
                if let Err(e) = self.add_import(&importer, import, opts) {
                    log::warn!("Error adding {e}");
                }
            }
        }
        self.add_system_imports();
    }

    /// The system account's services every other account imports (as
    /// nats-server): `$SYS.REQ.SERVER.PING.CONNZ` and
    /// `$SYS.REQ.ACCOUNT.PING.CONNZ` answer with the account's own
    /// connections, `$SYS.REQ.ACCOUNT.PING.STATZ` with its own statistics,
    /// `$SYS.REQ.USER.INFO` (shared, so the requester is known) with the
    /// requesting user.
    fn add_system_imports(&self) {
        let Some(sys) = self.accounts.system() else {
            return;
        };
        for account in self.accounts.all() {
            if Arc::ptr_eq(&account, &sys) {
                continue;
            }
            let name = &account.name;
            let imports = [
                (
                    "$SYS.REQ.SERVER.PING.CONNZ",
                    format!("$SYS.REQ.ACCOUNT.{name}.CONNZ"),
                    false,
                ),
                (
                    "$SYS.REQ.ACCOUNT.PING.CONNZ",
                    format!("$SYS.REQ.ACCOUNT.{name}.CONNZ"),
                    false,
                ),
                (
                    "$SYS.REQ.ACCOUNT.PING.STATZ",
                    format!("$SYS.REQ.ACCOUNT.{name}.STATZ"),
                    false,
                ),
                (
                    "$SYS.REQ.USER.INFO",
                    format!("$SYS.REQ.USER.{name}.INFO"),
                    true,
                ),
            ];
            for (local, target, share) in imports {
                let handler = ServiceImport {
                    exporter: sys.clone(),
                    to_export: None,
                    fixed: Some(target.into_bytes().into()),
                    response_type: ResponseType::Singleton,
                    threshold: crate::config::DEFAULT_RESPONSE_THRESHOLD,
                    share,
                    latency: None,
                };
                let sub = self.subscribe_internal(&account, local, Arc::new(handler));
                account.import_subs.lock().push(sub);
            }
        }
    }

    fn add_import(
        &self,
        importer: &Arc<Account>,
        import: &ImportConfig,
        opts: &Options,
    ) -> Result<(), String> {
        let exporter = self
            .accounts
            .get(&import.account)
            .ok_or_else(|| format!("import: account {:?} not found", import.account))?;
        let sub = match import.kind {
            ExportKind::Stream => {
                let local = match (&import.prefix, &import.to) {
                    (Some(p), _) => Local::Prefix(p.as_str().into()),
                    (None, Some(to)) if to != &import.subject => Local::To(
                        Transform::for_import(&import.subject, &tokenize(to))
                            .map_err(|e| format!("stream import {:?}: {e}", import.subject))?,
                    ),
                    (None, _) => Local::Same,
                };
                let handler = StreamImport {
                    importer: importer.clone(),
                    local,
                };
                self.subscribe_internal(&exporter, &import.subject, Arc::new(handler))
            }
            ExportKind::Service => {
                let local = import.to.clone().unwrap_or_else(|| import.subject.clone());
                let to_export = if local == import.subject {
                    None
                } else {
                    let export = untokenize(&import.subject).0;
                    let t = Transform::for_import(&export, &tokenize(&local))
                        .ok()
                        .and_then(|t| t.reverse())
                        .ok_or_else(|| format!("service import {:?}", import.subject))?;
                    Some(t)
                };
                let export = find_export(opts, &import.account, &import.subject);
                let handler = ServiceImport {
                    exporter: exporter.clone(),
                    to_export,
                    response_type: export.map(|e| e.response_type).unwrap_or_default(),
                    threshold: export
                        .map(|e| e.response_threshold)
                        .unwrap_or(crate::config::DEFAULT_RESPONSE_THRESHOLD),
                    share: import.share,
                    latency: export
                        .and_then(|e| e.latency.as_ref())
                        .map(|l| (l.sampling, l.subject.as_str().into())),
                    fixed: None,
                };
                self.subscribe_internal(importer, &untokenize(&local).0, Arc::new(handler))
            }
        };
        importer.import_subs.lock().push(sub);
        Ok(())
    }
}

/// The service export that `subject` imports from `account`: the exact
/// subject first, else a wildcard export it falls under.
fn find_export<'o>(opts: &'o Options, account: &str, subject: &str) -> Option<&'o ExportConfig> {
    let acc = opts.accounts.iter().find(|a| a.name == account)?;
    let mut exports = acc.exports.iter().filter(|e| e.kind == ExportKind::Service);
    let exact = exports.clone().find(|e| e.subject == subject);
    exact.or_else(|| exports.find(|e| sublist::subject::pattern_matches(&e.subject, subject)))
}

/// The `Nats-Request-Info` header value: the requesting account and its
/// round-trip time, or the requester's full client info with `share`.
fn request_info(importer: &Account, origin: Origin<'_>, share: bool, server: &str) -> String {
    match (share, origin.client) {
        (true, Some(c)) => latency::client_info(c, server),
        _ => {
            let rtt = origin.client.map_or(0, |c| c.rtt_nanos.load(Relaxed));
            let acc = serde_json::to_string(&*importer.name).unwrap_or_default();
            format!("{{\"acc\":{acc},\"rtt\":{rtt}}}")
        }
    }
}

/// The message's headers and body with one header added (a header block
/// is created when it had none). Returns the payload and header length.
fn with_header(msg: &Message<'_>, name: &str, value: &str) -> (Vec<u8>, usize) {
    let line = format!("{name}: {value}\r\n");
    let mut out = Vec::with_capacity(msg.payload.len() + line.len() + 12);
    match msg.header_len {
        Some(h) if h >= 4 => {
            // Before the blank line that ends the block.
            out.extend_from_slice(&msg.payload[..h - 2]);
            out.extend_from_slice(line.as_bytes());
            out.extend_from_slice(b"\r\n");
            let hlen = out.len();
            out.extend_from_slice(&msg.payload[h..]);
            (out, hlen)
        }
        _ => {
            out.extend_from_slice(b"NATS/1.0\r\n");
            out.extend_from_slice(line.as_bytes());
            out.extend_from_slice(b"\r\n");
            let hlen = out.len();
            out.extend_from_slice(msg.payload);
            (out, hlen)
        }
    }
}

/// `n` random base62 characters (reply subjects of service imports).
pub(crate) fn base62(n: usize) -> String {
    const DIGITS: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    (0..n)
        .map(|_| DIGITS[fastrand::usize(..DIGITS.len())] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg<'a>(payload: &'a [u8], header_len: Option<usize>) -> Message<'a> {
        Message {
            subject: b"q",
            reply: None,
            header_len,
            payload,
            shared: None,
        }
    }

    #[test]
    fn a_header_is_added_to_a_plain_message() {
        let (p, h) = with_header(&msg(b"hello", None), "Nats-Request-Info", "{}");
        assert_eq!(
            std::str::from_utf8(&p).unwrap(),
            "NATS/1.0\r\nNats-Request-Info: {}\r\n\r\nhello"
        );
        assert_eq!(&p[h..], b"hello");
    }

    #[test]
    fn a_header_is_appended_to_existing_headers() {
        let m = b"NATS/1.0\r\nA: b\r\n\r\nhi";
        let (p, h) = with_header(&msg(m, Some(18)), "X", "1");
        assert_eq!(
            std::str::from_utf8(&p).unwrap(),
            "NATS/1.0\r\nA: b\r\nX: 1\r\n\r\nhi"
        );
        assert_eq!(&p[h..], b"hi");
    }

    #[test]
    fn base62_ids() {
        let id = base62(6);
        assert_eq!(id.len(), 6);
        assert!(id.bytes().all(|b| b.is_ascii_alphanumeric()));
    }
}
