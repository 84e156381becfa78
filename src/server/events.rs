//! System-account events: what nats-server publishes in its system account
//! about itself and its clients — client CONNECT and
//! DISCONNECT, authentication errors, account connection counts (with a 30 s
//! heartbeat), the STATSZ timer, SHUTDOWN and LAMEDUCK — and the JSON pieces
//! the `$SYS.REQ` services share (`server` object, statsz, account stats).
//!
//! Every message carries the `server` object whose `seq` counts the messages
//! the system client sent. Event ids are 22 base62 characters (a NUID's
//! shape), times RFC 3339 with nanoseconds in UTC.
//!
//! **Must never:** publish anything when there is no system account
//! (`no_sys_acc`), block, or be called while a registry lock is held.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Weak};
use std::time::{Duration, SystemTime};

use serde::Serialize;

use crate::config::{GLOBAL_ACCOUNT, VERSION};
use crate::outbound::Message;
use crate::server::account::Account;
use crate::server::account_stats::{account_stat, live_traffic, AccountStat, MsgBytes};
use crate::server::close::ClosedState;
use crate::server::{ConnShared, Server};

/// The first STATSZ comes this soon after start; the interval then doubles.
const STATSZ_FIRST: Duration = Duration::from_millis(250);
/// The STATSZ interval stops doubling here.
const STATSZ_MAX: Duration = Duration::from_secs(10);
/// Account connection counts are repeated this often while non-zero.
const ACCOUNT_CONNS_HEARTBEAT: Duration = Duration::from_secs(30);

/// The system client's state.
#[derive(Default)]
pub struct SysState {
    /// Messages sent by the system client (the `seq` of `server`).
    seq: AtomicU64,
    /// The SHUTDOWN event went out.
    shutdown_sent: AtomicBool,
}

/// nats-server 2.15's `feature_flags` (no JetStream here).
#[derive(Serialize)]
struct FeatureFlags {
    js_ack_fc_v2: bool,
    js_api_reply_v2: bool,
    js_raft_delete_range: bool,
    js_snapshot_sources: bool,
}

/// The `server` object of every event and response.
#[derive(Serialize)]
pub struct ServerInfo {
    pub name: String,
    pub host: String,
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    pub ver: &'static str,
    feature_flags: FeatureFlags,
    pub jetstream: bool,
    pub flags: u64,
    pub seq: u64,
    pub time: String,
}

/// A client as events, latency results and shared request info describe
/// it (Go's `ClientInfo`, in its field order).
#[derive(Serialize)]
pub(crate) struct ClientInfo {
    start: String,
    host: String,
    id: u64,
    acc: String,
    #[serde(skip_serializing_if = "str::is_empty")]
    user: String,
    #[serde(skip_serializing_if = "str::is_empty")]
    name: String,
    #[serde(skip_serializing_if = "str::is_empty")]
    lang: String,
    #[serde(skip_serializing_if = "str::is_empty")]
    ver: String,
    /// Left out while unmeasured in events (`omitempty`); latency results
    /// always carry it.
    #[serde(skip_serializing_if = "Option::is_none")]
    rtt: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    server: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stop: Option<String>,
    #[serde(skip_serializing_if = "str::is_empty")]
    name_tag: String,
    kind: &'static str,
    client_type: &'static str,
}

/// `client`'s info: with `stop` for a disconnect, `server` (our name) for
/// latency results and shared request info, `name_tag` for events.
pub(crate) fn client_info(
    client: &ConnShared,
    stop: Option<SystemTime>,
    server: Option<&str>,
    name_tag: bool,
) -> ClientInfo {
    let meta = client.meta.lock().clone();
    ClientInfo {
        start: rfc3339(client.start),
        host: client.addr.ip().to_string(),
        id: client.cid,
        acc: meta.account.to_string(),
        user: meta.user.to_string(),
        name: meta.name.to_string(),
        lang: meta.lang.to_string(),
        ver: meta.version.to_string(),
        rtt: Some(client.rtt_nanos.load(Relaxed)).filter(|&r| r > 0 || server.is_some()),
        server: server.map(str::to_string),
        stop: stop.map(rfc3339),
        name_tag: if name_tag {
            meta.account.to_string()
        } else {
            String::new()
        },
        kind: "Client",
        client_type: "nats",
    }
}

/// The server's statistics (`statsz`).
#[derive(Serialize)]
pub struct Statsz {
    start: String,
    mem: u64,
    cores: usize,
    #[serde(serialize_with = "go_float")]
    cpu: f64,
    connections: usize,
    total_connections: u64,
    active_accounts: usize,
    subscriptions: usize,
    sent: MsgBytes,
    sent_to_clients: MsgBytes,
    received: MsgBytes,
    received_from_clients: MsgBytes,
    slow_consumers: u64,
    active_servers: usize,
    gomaxprocs: usize,
}

#[derive(Serialize)]
pub struct StatszMsg {
    pub server: ServerInfo,
    pub statsz: Statsz,
}

/// RFC 3339 with nanoseconds, UTC (Go's `time.Time` in JSON).
pub fn rfc3339(t: SystemTime) -> String {
    let t: chrono::DateTime<chrono::Utc> = t.into();
    let nanos = format!("{:09}", t.timestamp_subsec_nanos());
    let nanos = nanos.trim_end_matches('0');
    let dot = if nanos.is_empty() { "" } else { "." };
    format!("{}{dot}{nanos}Z", t.format("%Y-%m-%dT%H:%M:%S"))
}

/// A fresh event id: 22 base62 characters, as a NUID.
pub fn event_id() -> String {
    crate::server::imports::base62(22)
}

/// The resident set size, in bytes (0 when unknown).
fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * 4096)
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

impl Server {
    /// The system account, when there is one.
    pub fn system_account(&self) -> Option<Arc<Account>> {
        self.accounts.system()
    }

    /// The `server` object of the next message the system client sends.
    pub fn server_info(&self) -> ServerInfo {
        let opts = self.options();
        ServerInfo {
            name: self.name.clone(),
            host: opts.host.clone(),
            id: self.id.clone(),
            cluster: self.cluster.name_if_enabled(),
            ver: VERSION,
            feature_flags: FeatureFlags {
                js_ack_fc_v2: false,
                js_api_reply_v2: false,
                js_raft_delete_range: true,
                js_snapshot_sources: false,
            },
            jetstream: false,
            flags: 0,
            seq: self.sys.seq.fetch_add(1, Relaxed) + 1,
            time: rfc3339(SystemTime::now()),
        }
    }

    /// The server's statistics now.
    pub fn statsz(&self) -> Statsz {
        let accounts = self.accounts.all();
        let received = MsgBytes {
            msgs: self.stats.in_msgs.load(Relaxed),
            bytes: self.stats.in_bytes.load(Relaxed),
        };
        let sent = MsgBytes {
            msgs: self.stats.out_msgs.load(Relaxed),
            bytes: self.stats.out_bytes.load(Relaxed),
        };
        Statsz {
            start: rfc3339(self.started),
            mem: rss_bytes(),
            cores: cores(),
            cpu: 0.0,
            connections: self.num_clients(),
            total_connections: self.stats.total_connections.load(Relaxed),
            active_accounts: accounts.iter().filter(|a| a.num_conns() > 0).count(),
            subscriptions: self.accounts.subscriptions(),
            sent,
            sent_to_clients: sent,
            received,
            received_from_clients: received,
            slow_consumers: self.stats.slow_consumers.load(Relaxed),
            active_servers: 1 + self.routes.lock().len(),
            gomaxprocs: cores(),
        }
    }

    /// `{"server":…,"statsz":…}` (the STATSZ event and the PING answer).
    pub fn statsz_msg(&self) -> StatszMsg {
        StatszMsg {
            server: self.server_info(),
            statsz: self.statsz(),
        }
    }

    /// Publishes `body` on `subject` in the system account.
    pub fn send_system(&self, subject: &str, body: &[u8]) {
        if let Some(sys) = self.system_account() {
            self.send_in(&sys, subject, body);
        }
    }

    fn send_in(&self, account: &Arc<Account>, subject: &str, body: &[u8]) {
        let msg = Message {
            subject: subject.as_bytes(),
            reply: None,
            header_len: None,
            payload: body,
            shared: None,
        };
        self.publish_now(account, &msg);
    }

    fn event_client(&self, client: &ConnShared, stop: Option<SystemTime>) -> ClientInfo {
        client_info(client, stop, None, true)
    }

    /// A client completed CONNECT: its account's connection count, then
    /// `$SYS.ACCOUNT.<acc>.CONNECT`.
    pub fn event_connect(&self, client: &ConnShared) {
        if self.system_account().is_none() {
            return;
        }
        if let Some(acc) = client.account() {
            self.event_account_conns(&acc);
        }
        #[derive(Serialize)]
        struct Connect {
            #[serde(rename = "type")]
            kind: &'static str,
            id: String,
            timestamp: String,
            server: ServerInfo,
            client: ClientInfo,
        }
        let timestamp = rfc3339(SystemTime::now());
        let info = self.event_client(client, None);
        let subject = format!("$SYS.ACCOUNT.{}.CONNECT", info.acc);
        let event = Connect {
            kind: "io.nats.server.advisory.v1.client_connect",
            id: event_id(),
            timestamp,
            server: self.server_info(),
            client: info,
        };
        self.send_system(&subject, &to_json(&event));
    }

    /// A client closed: the account's connection count (for a client that
    /// was bound to one), then `$SYS.ACCOUNT.<acc>.DISCONNECT`.
    pub fn event_disconnect(
        &self,
        client: &ConnShared,
        account: Option<&Arc<Account>>,
        reason: ClosedState,
    ) {
        if self.system_account().is_none() {
            return;
        }
        if let Some(acc) = account {
            self.event_account_conns(acc);
        }
        let body = self.disconnect_body(client, reason);
        let acc = client.meta.lock().account.clone();
        self.send_system(&format!("$SYS.ACCOUNT.{acc}.DISCONNECT"), &body);
    }

    fn disconnect_body(&self, client: &ConnShared, reason: ClosedState) -> Vec<u8> {
        #[derive(Serialize)]
        struct Disconnect {
            #[serde(rename = "type")]
            kind: &'static str,
            id: String,
            timestamp: String,
            server: ServerInfo,
            client: ClientInfo,
            sent: MsgBytes,
            received: MsgBytes,
            reason: &'static str,
        }
        let now = SystemTime::now();
        let out = client.out.stats();
        let event = Disconnect {
            kind: "io.nats.server.advisory.v1.client_disconnect",
            id: event_id(),
            timestamp: rfc3339(now),
            server: self.server_info(),
            client: self.event_client(client, Some(now)),
            sent: MsgBytes {
                msgs: client.in_msgs.load(Relaxed),
                bytes: client.in_bytes.load(Relaxed),
            },
            received: MsgBytes {
                msgs: out.out_msgs,
                bytes: out.out_bytes,
            },
            reason: reason.as_str(),
        };
        to_json(&event)
    }

    /// A client failed to authenticate claiming `[user, name, lang,
    /// version]`: records them on the connection, then `$SYS.SERVER.<id>.CLIENT.AUTH.ERR` in the system
    /// account and `$SYS.ACCOUNT.CLIENT.AUTH.ERR` in the account the
    /// connection is bound to (`$G`).
    pub fn event_auth_error(&self, client: &ConnShared, claimed: [Option<&str>; 4]) {
        {
            let mut meta = client.meta.lock();
            let [user, name, lang, version] = claimed.map(|v| v.filter(|s| !s.is_empty()));
            if let Some(v) = user {
                meta.user = v.into();
            }
            if let Some(v) = name {
                meta.name = v.into();
            }
            if let Some(v) = lang {
                meta.lang = v.into();
            }
            if let Some(v) = version {
                meta.version = v.into();
            }
        }
        if self.system_account().is_none() {
            return;
        }
        let body = self.disconnect_body(client, ClosedState::AuthenticationViolation);
        self.send_system(&format!("$SYS.SERVER.{}.CLIENT.AUTH.ERR", self.id), &body);
        let bound = client.account().unwrap_or_else(|| self.global().clone());
        self.send_in(&bound, "$SYS.ACCOUNT.CLIENT.AUTH.ERR", &body);
    }

    /// The `account_connections` message of `account`.
    pub fn account_conns_body(&self, account: &Account) -> Vec<u8> {
        #[derive(Serialize)]
        struct Conns {
            #[serde(rename = "type")]
            kind: &'static str,
            id: String,
            timestamp: String,
            server: ServerInfo,
            #[serde(flatten)]
            stat: AccountStat,
        }
        let event = Conns {
            kind: "io.nats.server.advisory.v1.account_connections",
            id: event_id(),
            timestamp: rfc3339(SystemTime::now()),
            server: self.server_info(),
            stat: {
                let live = live_traffic(self);
                account_stat(
                    account,
                    live.get(&account.name).copied().unwrap_or_default(),
                )
            },
        };
        to_json(&event)
    }

    /// An account's connection count changed (not for `$G`): the old and
    /// the new subject, same body.
    pub fn event_account_conns(&self, account: &Account) {
        if &*account.name == GLOBAL_ACCOUNT || self.system_account().is_none() {
            return;
        }
        let name = &account.name;
        let (old, new) = (
            format!("$SYS.SERVER.ACCOUNT.{name}.CONNS"),
            format!("$SYS.ACCOUNT.{name}.SERVER.CONNS"),
        );
        // The body sums the traffic of every live connection: not worth it
        // on each connect and disconnect when nobody listens. The sequence
        // number moves as if the message had gone out.
        let listened = self
            .system_account()
            .is_some_and(|sys| sys.sublist.has_interest(&old) || sys.sublist.has_interest(&new));
        if !listened {
            self.sys.seq.fetch_add(1, Relaxed);
            return;
        }
        let body = self.account_conns_body(account);
        self.send_system(&old, &body);
        self.send_system(&new, &body);
    }

    /// `$SYS.SERVER.<id>.SHUTDOWN`, once, before the clients are closed.
    pub fn event_shutdown(&self) {
        if self.sys.shutdown_sent.swap(true, Relaxed) || self.system_account().is_none() {
            return;
        }
        let body = to_json(&self.server_info());
        self.send_system(&format!("$SYS.SERVER.{}.SHUTDOWN", self.id), &body);
    }

    /// `$SYS.SERVER.<id>.LAMEDUCK`.
    pub fn event_lame_duck(&self) {
        if self.system_account().is_none() {
            return;
        }
        let body = to_json(&self.server_info());
        self.send_system(&format!("$SYS.SERVER.{}.LAMEDUCK", self.id), &body);
    }

    /// Sends STATSZ when someone listens (standalone servers stay quiet
    /// otherwise).
    fn send_statsz(&self) {
        let Some(sys) = self.system_account() else {
            return;
        };
        let subject = format!("$SYS.SERVER.{}.STATSZ", self.id);
        if !sys.sublist.has_interest(&subject) {
            return;
        }
        self.send_in(&sys, &subject, &to_json(&self.statsz_msg()));
    }

    /// Starts the event timers (STATSZ, account connection heartbeats); they
    /// end at shutdown.
    pub fn start_system_events(self: &Arc<Self>) {
        if self.system_account().is_none() {
            return;
        }
        let weak: Weak<Server> = Arc::downgrade(self);
        let stopped = self.stopped();
        tokio::spawn(async move {
            tokio::pin!(stopped);
            let mut statsz = STATSZ_FIRST;
            let mut next_statsz = tokio::time::Instant::now() + statsz;
            let mut next_conns = tokio::time::Instant::now() + ACCOUNT_CONNS_HEARTBEAT;
            loop {
                let at = next_statsz.min(next_conns);
                tokio::select! {
                    _ = &mut stopped => return,
                    _ = tokio::time::sleep_until(at) => {}
                }
                let Some(server) = weak.upgrade() else { return };
                let now = tokio::time::Instant::now();
                if now >= next_statsz {
                    server.send_statsz();
                    statsz = (statsz * 2).min(STATSZ_MAX);
                    next_statsz = now + statsz;
                }
                if now >= next_conns {
                    for acc in server.accounts.all() {
                        if acc.num_conns() > 0 {
                            server.event_account_conns(&acc);
                        }
                    }
                    next_conns = now + ACCOUNT_CONNS_HEARTBEAT;
                }
            }
        });
    }
}

/// Go prints an integral float64 without a fraction.
fn go_float<S: serde::Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        s.serialize_i64(*v as i64)
    } else {
        s.serialize_f64(*v)
    }
}

fn to_json<T: Serialize>(v: &T) -> Vec<u8> {
    serde_json::to_vec(v).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc3339_utc_with_nanos() {
        let t = SystemTime::UNIX_EPOCH + Duration::new(1, 5);
        assert_eq!(rfc3339(t), "1970-01-01T00:00:01.000000005Z");
        assert_eq!(rfc3339(SystemTime::UNIX_EPOCH), "1970-01-01T00:00:00Z");
    }

    #[test]
    fn event_ids_are_nuid_shaped() {
        let id = event_id();
        assert_eq!(id.len(), 22);
        assert!(id.bytes().all(|b| b.is_ascii_alphanumeric()));
    }
}
