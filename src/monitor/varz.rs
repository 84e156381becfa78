//! `/varz`: the server's identity, configuration and counters, with
//! nats-server 2.10's field names, order and types.
//!
//! Semantics of the figures (counter = only grows, gauge = goes up and down):
//!
//! | field | kind | meaning |
//! |---|---|---|
//! | `connections` | gauge | client connections open now |
//! | `total_connections` | counter | clients ever accepted (never decreases) |
//! | `routes`, `remotes` | gauge | route connections; distinct remote servers |
//! | `in_msgs`, `in_bytes` | counter | messages (payload bytes) received from clients and routes |
//! | `out_msgs`, `out_bytes` | counter | deliveries (payload bytes) queued to connections |
//! | `slow_consumers` | counter | connections cut as slow consumers |
//! | `subscriptions` | gauge | subscriptions in the sublist |
//! | `mem` | gauge | resident set size, bytes |
//! | `cpu` | gauge | process CPU %, last ≥1 s window |
//! | `http_req_stats` | counters | monitoring requests per path, this one included |
//!
//! Config values come from the running options: `ping_interval` and
//! `write_deadline` are integer nanoseconds, `auth_timeout`/`tls_timeout`
//! float seconds, `http_port` as configured (`-1` for a random port, as Go
//! shows it). No password, token or user name ever appears here.
//!
//! **Differs from nats-server:** the system account serves nothing yet, so
//! `subscriptions` lacks Go's ~50 internal ones; `go` is the
//! Rust toolchain; `config_load_time` is the start time (no reload yet);
//! `connect_urls` is empty until routes gossip client URLs; `gomaxprocs` is
//! the number of tokio worker threads; 2.11+ fields (`in_client_msgs`,
//! `stale_connections`, …) are not emitted since we are 2.10.
//!
//! Must never hold a lock while reading `/proc` or serialising.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering::Relaxed;
use std::time::SystemTime;

use axum::response::Response;
use serde::Serialize;

use super::{format, json_or_400, procstat, Monitor, Query};
use crate::client::info;
use crate::config::{Options, VERSION};

#[derive(Serialize)]
pub struct Varz {
    server_id: String,
    server_name: String,
    version: &'static str,
    proto: u32,
    go: &'static str,
    host: String,
    port: u16,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    auth_required: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    tls_required: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    tls_verify: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    connect_urls: Vec<String>,
    max_connections: usize,
    #[serde(skip_serializing_if = "is_zero")]
    max_subscriptions: usize,
    ping_interval: u64,
    ping_max: u32,
    http_host: String,
    http_port: i32,
    http_base_path: String,
    https_port: i32,
    #[serde(serialize_with = "format::go_float")]
    auth_timeout: f64,
    max_control_line: u32,
    max_payload: u32,
    max_pending: u64,
    cluster: ClusterVarz,
    gateway: Empty,
    leaf: Empty,
    mqtt: Empty,
    websocket: Empty,
    jetstream: Empty,
    #[serde(serialize_with = "format::go_float")]
    tls_timeout: f64,
    write_deadline: u64,
    start: String,
    now: String,
    uptime: String,
    mem: u64,
    cores: usize,
    gomaxprocs: usize,
    #[serde(serialize_with = "format::go_float")]
    cpu: f64,
    connections: usize,
    total_connections: u64,
    routes: usize,
    remotes: usize,
    leafnodes: usize,
    in_msgs: u64,
    out_msgs: u64,
    in_bytes: u64,
    out_bytes: u64,
    slow_consumers: u64,
    subscriptions: usize,
    http_req_stats: BTreeMap<String, u64>,
    config_load_time: String,
    /// `$SYS`, the configured `system_account`, or absent with `no_sys_acc`.
    #[serde(skip_serializing_if = "Option::is_none")]
    system_account: Option<String>,
    slow_consumer_stats: SlowConsumerStats,
}

/// Go's empty option blocks (`"gateway": {}`).
#[derive(Serialize)]
struct Empty {}

/// `cluster` of `/varz`: every field omitted when unset, `{}` without a
/// cluster. Route credentials are never shown.
#[derive(Serialize, Default)]
struct ClusterVarz {
    #[serde(skip_serializing_if = "String::is_empty")]
    name: String,
    #[serde(rename = "addr", skip_serializing_if = "String::is_empty")]
    host: String,
    #[serde(rename = "cluster_port", skip_serializing_if = "is_zero_i32")]
    port: i32,
    #[serde(
        skip_serializing_if = "is_zero_f64",
        serialize_with = "format::go_float"
    )]
    auth_timeout: f64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    urls: Vec<String>,
    #[serde(
        skip_serializing_if = "is_zero_f64",
        serialize_with = "format::go_float"
    )]
    tls_timeout: f64,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    tls_required: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    tls_verify: bool,
    #[serde(skip_serializing_if = "is_zero_i32")]
    pool_size: i32,
}

#[derive(Serialize)]
struct SlowConsumerStats {
    clients: u64,
    routes: u64,
    gateways: u64,
    leafs: u64,
}

fn is_zero(v: &usize) -> bool {
    *v == 0
}
fn is_zero_i32(v: &i32) -> bool {
    *v == 0
}
fn is_zero_f64(v: &f64) -> bool {
    *v == 0.0
}

pub(super) fn handle(m: &Monitor, q: &Query) -> Response {
    m.count("/varz");
    json_or_400(q, Ok(build(m)))
}

/// Builds the document from one pass over the server's counters.
pub(super) fn build(m: &Monitor) -> Varz {
    let s = &m.server;
    let opts = s.options();
    let now = SystemTime::now();
    let routes = s.routes();
    let mut remotes: Vec<&str> = routes.iter().map(|r| r.remote_id.as_str()).collect();
    remotes.sort_unstable();
    remotes.dedup();
    let slow = s.stats.slow_consumers.load(Relaxed);
    Varz {
        server_id: s.id.clone(),
        server_name: s.name.clone(),
        version: VERSION,
        proto: 1,
        go: info::TOOLCHAIN,
        host: opts.host.clone(),
        port: s.client_addr.port(),
        auth_required: s.auth().required(),
        // TLS hook: these follow the INFO sent to clients, which has no TLS yet.
        tls_required: false,
        tls_verify: false,
        connect_urls: Vec::new(),
        max_connections: opts.max_connections,
        max_subscriptions: opts.max_subscriptions,
        ping_interval: nanos(opts.ping_interval),
        ping_max: opts.ping_max,
        http_host: opts.monitor_host().to_string(),
        http_port: opts.http_port,
        http_base_path: match opts.http_base_path.as_str() {
            "/" => String::new(),
            p => p.to_string(),
        },
        https_port: opts.https_port,
        auth_timeout: opts
            .authorization
            .effective_timeout(opts.tls.as_ref())
            .as_secs_f64(),
        max_control_line: opts.max_control_line,
        max_payload: opts.max_payload,
        max_pending: opts.max_pending,
        cluster: cluster(&opts),
        gateway: Empty {},
        leaf: Empty {},
        mqtt: Empty {},
        websocket: Empty {},
        jetstream: Empty {},
        tls_timeout: opts
            .tls
            .as_ref()
            .map_or(crate::config::TLS_TIMEOUT, |t| t.timeout)
            .as_secs_f64(),
        write_deadline: nanos(opts.write_deadline),
        start: format::time(s.started),
        now: format::time(now),
        uptime: format::uptime(now.duration_since(s.started).unwrap_or_default()),
        mem: procstat::rss_bytes(),
        cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        gomaxprocs: tokio::runtime::Handle::try_current().map_or(1, |h| h.metrics().num_workers()),
        cpu: m.cpu.percent(),
        connections: s.num_clients(),
        total_connections: s.stats.total_connections.load(Relaxed),
        routes: routes.len(),
        remotes: remotes.len(),
        leafnodes: 0,
        in_msgs: s.stats.in_msgs.load(Relaxed),
        out_msgs: s.stats.out_msgs.load(Relaxed),
        in_bytes: s.stats.in_bytes.load(Relaxed),
        out_bytes: s.stats.out_bytes.load(Relaxed),
        slow_consumers: slow,
        subscriptions: s.accounts.subscriptions(),
        http_req_stats: m.request_stats(),
        config_load_time: format::time(s.started),
        system_account: s.accounts.system_name().map(|n| n.to_string()),
        slow_consumer_stats: SlowConsumerStats {
            // Route slow consumers get their own counter with routes.
            clients: slow,
            routes: 0,
            gateways: 0,
            leafs: 0,
        },
    }
}

fn nanos(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// nats-server fills the cluster block only when clustering is on, with its
/// defaults (2 s timeouts, pool size 3) applied.
fn cluster(opts: &Options) -> ClusterVarz {
    let c = &opts.cluster;
    if !c.enabled() {
        return ClusterVarz::default();
    }
    let tls_timeout = c
        .tls
        .as_ref()
        .map_or(crate::config::TLS_TIMEOUT, |t| t.timeout);
    let auth_timeout = c.auth_timeout.unwrap_or(match &c.tls {
        Some(t) => t.timeout + std::time::Duration::from_secs(1),
        None => crate::config::AUTH_TIMEOUT,
    });
    ClusterVarz {
        name: c.name.clone(),
        host: c.bind_host().to_string(),
        port: c.port,
        auth_timeout: auth_timeout.as_secs_f64(),
        urls: c
            .routes
            .iter()
            .map(|u| match u.port {
                Some(p) => format::join_host_port(&u.host, p),
                None => u.host.clone(),
            })
            .collect(),
        tls_timeout: tls_timeout.as_secs_f64(),
        tls_required: c.tls.is_some(),
        tls_verify: c.tls.is_some(),
        pool_size: c.pool_size,
    }
}
