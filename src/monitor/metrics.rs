//! `/metrics`: the `/varz`, `/subsz`, `/routez` and `/connz` figures in the
//! Prometheus text format (0.0.4; OpenMetrics 1.0 when the scraper's
//! `Accept` asks for it), encoded by `prometheus-client`, so that no sidecar
//! exporter is needed (nats-server#345, prometheus-nats-exporter#78).
//!
//! Counters only grow and end in `_total`; gauges go up and down:
//!
//! | metric | type | `/varz` (exporter) equivalent |
//! |---|---|---|
//! | `nats_server_info{server_id,server_name,version}` | gauge, 1 | identity |
//! | `nats_server_start_time_seconds` | gauge | `start` |
//! | `process_resident_memory_bytes` | gauge | `mem` |
//! | `process_cpu_seconds_total` | counter | (`cpu` is its rate) |
//! | `nats_connections` | gauge | `connections` |
//! | `nats_connections_accepted_total` | counter | `total_connections` |
//! | `nats_subscriptions` | gauge | `subscriptions` |
//! | `nats_{in,out}_{msgs,bytes}_total` | counter | `in_msgs`, … |
//! | `nats_slow_consumers_total` | counter | `slow_consumers` |
//! | `nats_client_slow_consumers_total{client_name}` | counter | per client name (user wish 1) |
//! | `nats_routes`, `nats_remotes` | gauge | `routes`, `remotes` |
//! | `nats_max_{connections,payload_bytes,pending_bytes}` | gauge | limits |
//! | `nats_sublist_*` | counter/gauge | `/subsz` |
//! | `nats_http_requests_total{path}` | counter | `http_req_stats` |
//! | `nats_route_*{rid,remote_id,remote_name}` | per route | `/routez` |
//! | `nats_connection_*{cid,name}` | per connection | `/connz`, top N |
//! | `nats_account_{connections,subscriptions}{account}` | gauge | `/accstatz?unused=1` |
//! | `nats_account_{in,out}_{msgs,bytes}_total{account}` | counter | `received`, `sent` |
//! | `nats_account_slow_consumers_total{account}` | counter | `slow_consumers` |
//!
//! Every account has its series (accounts come from the configuration, so
//! their number is bounded): `in` is what the account's connections
//! published, `out` what was delivered to them, closed connections
//! included (see `accountz.rs`).
//!
//! Per-connection series are limited to the top N connections (`?top=N`,
//! default [`DEFAULT_TOP`], at most [`MAX_TOP`]) ranked by pending bytes,
//! then messages in and out, then connection id: the connections worth
//! looking at, with bounded cardinality. A connection's counters appear
//! and disappear as it enters and leaves the top N; Prometheus' `rate()`
//! treats that as a series start.
//!
//! Must never keep state between scrapes: every scrape builds its registry
//! from one snapshot (a [`Collector`] of constant metrics).

use std::fmt;
use std::sync::atomic::Ordering::Relaxed;

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeGaugeValue, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use super::accountz::{accstatz, AccountStat};
use super::connz::Row;
use super::{format, procstat, text, Monitor, Query};
use crate::config::VERSION;

/// Per-connection series by default.
pub const DEFAULT_TOP: usize = 20;
/// Most per-connection series a scrape may ask for.
pub const MAX_TOP: usize = 1024;

const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

type Labels = Vec<(&'static str, String)>;

/// Everything one scrape reports, read once.
struct Snapshot {
    server_id: String,
    server_name: String,
    start_time: f64,
    rss: u64,
    cpu_seconds: f64,
    connections: u64,
    accepted: u64,
    subscriptions: u64,
    in_msgs: u64,
    out_msgs: u64,
    in_bytes: u64,
    out_bytes: u64,
    slow_consumers: u64,
    slow_by_name: Vec<(String, u64)>,
    routes: Vec<super::RouteSnapshot>,
    remotes: u64,
    max_connections: u64,
    max_payload: u64,
    max_pending: u64,
    sublist: sublist::Stats,
    http: Vec<(String, u64)>,
    conns: Vec<Row>,
    accounts: Vec<AccountStat>,
}

pub(super) fn handle(m: &Monitor, q: &Query, headers: &HeaderMap) -> Response {
    m.count("/metrics");
    let top = match q.int("top") {
        Ok(0) => DEFAULT_TOP,
        Ok(n) => usize::try_from(n.max(0)).unwrap_or(0).min(MAX_TOP),
        Err(e) => return text(StatusCode::BAD_REQUEST, e.0),
    };
    let mut registry = Registry::default();
    registry.register_collector(Box::new(snapshot(m, top)));
    let openmetrics = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("application/openmetrics-text"));
    let mut body = String::new();
    let (encoded, content_type) = if openmetrics {
        (
            prometheus_client::encoding::text::encode(&mut body, &registry),
            OPENMETRICS,
        )
    } else {
        (
            prometheus_client::encoding::prometheus_text::encode(&mut body, &registry),
            prometheus_client::encoding::prometheus_text::CONTENT_TYPE,
        )
    };
    if encoded.is_err() {
        return text(StatusCode::INTERNAL_SERVER_ERROR, "encoding failed".into());
    }
    let mut r = Response::new(Body::from(body));
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

fn snapshot(m: &Monitor, top: usize) -> Snapshot {
    let s = &m.server;
    let opts = s.options();
    let routes = s.routes();
    let mut remotes: Vec<&str> = routes.iter().map(|r| r.remote_id.as_str()).collect();
    remotes.sort_unstable();
    remotes.dedup();
    let remotes = remotes.len() as u64;
    let mut conns: Vec<Row> = s.clients().into_iter().map(Row::open).collect();
    conns.sort_by(|a, b| {
        b.pending
            .cmp(&a.pending)
            .then((b.in_msgs + b.out_msgs).cmp(&(a.in_msgs + a.out_msgs)))
            .then(a.cid.cmp(&b.cid))
    });
    conns.truncate(top);
    Snapshot {
        server_id: s.id.clone(),
        server_name: s.name.clone(),
        start_time: format::unix_nanos(s.started) as f64 / 1e9,
        rss: procstat::rss_bytes(),
        cpu_seconds: procstat::cpu_seconds(),
        connections: s.num_clients() as u64,
        accepted: s.stats.total_connections.load(Relaxed),
        subscriptions: s.accounts.subscriptions() as u64,
        in_msgs: s.stats.in_msgs.load(Relaxed),
        out_msgs: s.stats.out_msgs.load(Relaxed),
        in_bytes: s.stats.in_bytes.load(Relaxed),
        out_bytes: s.stats.out_bytes.load(Relaxed),
        slow_consumers: s.stats.slow_consumers.load(Relaxed),
        slow_by_name: s.slow_consumers_by_name(),
        routes,
        remotes,
        max_connections: opts.max_connections as u64,
        max_payload: u64::from(opts.max_payload),
        max_pending: opts.max_pending,
        sublist: s.accounts.stats(),
        http: m.request_stats().into_iter().collect(),
        conns,
        accounts: accstatz(s, &[], true).account_statz,
    }
}

impl fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Snapshot")
            .field("server_id", &self.server_id)
            .field("connections", &self.conns.len())
            .finish_non_exhaustive()
    }
}

fn counter(e: &mut DescriptorEncoder, name: &str, help: &str, v: u64) -> fmt::Result {
    let c = ConstCounter::new(v);
    c.encode(e.encode_descriptor(name, help, None, c.metric_type())?)
}

fn gauge<N: EncodeGaugeValue>(
    e: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    v: N,
) -> fmt::Result {
    let g = ConstGauge::new(v);
    g.encode(e.encode_descriptor(name, help, None, g.metric_type())?)
}

fn counter_family(
    e: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    series: impl IntoIterator<Item = (Labels, u64)>,
) -> fmt::Result {
    let mut family = e.encode_descriptor(name, help, None, MetricType::Counter)?;
    for (labels, v) in series {
        ConstCounter::new(v).encode(family.encode_family(&labels)?)?;
    }
    Ok(())
}

fn gauge_family<N: EncodeGaugeValue>(
    e: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    series: impl IntoIterator<Item = (Labels, N)>,
) -> fmt::Result {
    let mut family = e.encode_descriptor(name, help, None, MetricType::Gauge)?;
    for (labels, v) in series {
        ConstGauge::new(v).encode(family.encode_family(&labels)?)?;
    }
    Ok(())
}

fn conn_labels(r: &Row) -> Labels {
    vec![("cid", r.cid.to_string()), ("name", r.name.clone())]
}

fn route_labels(r: &super::RouteSnapshot) -> Labels {
    vec![
        ("rid", r.rid.to_string()),
        ("remote_id", r.remote_id.clone()),
        ("remote_name", r.remote_name.clone()),
    ]
}

impl Collector for Snapshot {
    fn encode(&self, mut e: DescriptorEncoder) -> fmt::Result {
        let e = &mut e;
        let info: Labels = vec![
            ("server_id", self.server_id.clone()),
            ("server_name", self.server_name.clone()),
            ("version", VERSION.to_string()),
        ];
        gauge_family(
            e,
            "nats_server_info",
            "Server identity (always 1).",
            [(info, 1u64)],
        )?;
        gauge(
            e,
            "nats_server_start_time_seconds",
            "When the server started, Unix seconds.",
            self.start_time,
        )?;
        gauge(
            e,
            "process_resident_memory_bytes",
            "Resident memory size in bytes.",
            self.rss,
        )?;
        let cpu = ConstCounter::new(self.cpu_seconds);
        cpu.encode(e.encode_descriptor(
            "process_cpu_seconds",
            "User and system CPU time spent, seconds.",
            None,
            MetricType::Counter,
        )?)?;
        gauge(
            e,
            "nats_connections",
            "Client connections open now.",
            self.connections,
        )?;
        counter(
            e,
            "nats_connections_accepted",
            "Client connections accepted since start.",
            self.accepted,
        )?;
        gauge(
            e,
            "nats_subscriptions",
            "Subscriptions in the sublist.",
            self.subscriptions,
        )?;
        counter(
            e,
            "nats_in_msgs",
            "Messages received from clients and routes.",
            self.in_msgs,
        )?;
        counter(
            e,
            "nats_out_msgs",
            "Messages delivered to clients and routes.",
            self.out_msgs,
        )?;
        counter(
            e,
            "nats_in_bytes",
            "Payload bytes received from clients and routes.",
            self.in_bytes,
        )?;
        counter(
            e,
            "nats_out_bytes",
            "Payload bytes delivered to clients and routes.",
            self.out_bytes,
        )?;
        counter(
            e,
            "nats_slow_consumers",
            "Connections cut as slow consumers.",
            self.slow_consumers,
        )?;
        counter_family(
            e,
            "nats_client_slow_consumers",
            "Client connections cut as slow consumers, by client name.",
            self.slow_by_name
                .iter()
                .map(|(name, n)| (vec![("client_name", name.clone())], *n)),
        )?;
        gauge(
            e,
            "nats_routes",
            "Route connections open now.",
            self.routes.len() as u64,
        )?;
        gauge(
            e,
            "nats_remotes",
            "Distinct remote servers connected by routes.",
            self.remotes,
        )?;
        gauge(
            e,
            "nats_max_connections",
            "Configured max_connections.",
            self.max_connections,
        )?;
        gauge(
            e,
            "nats_max_payload_bytes",
            "Configured max_payload.",
            self.max_payload,
        )?;
        gauge(
            e,
            "nats_max_pending_bytes",
            "Configured max_pending per connection.",
            self.max_pending,
        )?;

        let sl = &self.sublist;
        gauge(
            e,
            "nats_sublist_cache_entries",
            "Match results currently cached.",
            sl.num_cache,
        )?;
        counter(
            e,
            "nats_sublist_inserts",
            "Subscriptions inserted into the sublist.",
            sl.num_inserts,
        )?;
        counter(
            e,
            "nats_sublist_removes",
            "Subscriptions removed from the sublist.",
            sl.num_removes,
        )?;
        counter(
            e,
            "nats_sublist_matches",
            "Subject matches, cache hits included.",
            sl.num_matches,
        )?;
        counter(
            e,
            "nats_sublist_cache_hits",
            "Subject matches answered by the cache.",
            sl.cache_hits,
        )?;
        gauge(
            e,
            "nats_sublist_max_fanout",
            "Largest fan-out among cached results.",
            sl.max_fanout,
        )?;
        gauge(
            e,
            "nats_sublist_avg_fanout",
            "Mean fan-out over cached results.",
            sl.avg_fanout,
        )?;
        counter_family(
            e,
            "nats_http_requests",
            "Monitoring requests served, by endpoint.",
            self.http
                .iter()
                .map(|(p, n)| (vec![("path", p.clone())], *n)),
        )?;

        let routes = &self.routes;
        let per_route = |f: fn(&super::RouteSnapshot) -> u64| {
            routes.iter().map(move |r| (route_labels(r), f(r)))
        };
        counter_family(
            e,
            "nats_route_in_msgs",
            "Messages received from the route.",
            per_route(|r| r.in_msgs),
        )?;
        counter_family(
            e,
            "nats_route_out_msgs",
            "Messages sent to the route.",
            per_route(|r| r.out_msgs),
        )?;
        counter_family(
            e,
            "nats_route_in_bytes",
            "Payload bytes received from the route.",
            per_route(|r| r.in_bytes),
        )?;
        counter_family(
            e,
            "nats_route_out_bytes",
            "Payload bytes sent to the route.",
            per_route(|r| r.out_bytes),
        )?;
        gauge_family(
            e,
            "nats_route_pending_bytes",
            "Bytes queued to the route.",
            per_route(|r| r.pending as u64),
        )?;
        gauge_family(
            e,
            "nats_route_subscriptions",
            "Remote interest held for the route.",
            per_route(|r| r.subs.len() as u64),
        )?;
        gauge_family(
            e,
            "nats_route_rtt_seconds",
            "Last round-trip time to the route.",
            routes
                .iter()
                .map(|r| (route_labels(r), r.rtt_nanos as f64 / 1e9)),
        )?;

        let conns = &self.conns;
        let per_conn = |f: fn(&Row) -> u64| conns.iter().map(move |r| (conn_labels(r), f(r)));
        counter_family(
            e,
            "nats_connection_in_msgs",
            "Messages published by the client (top connections).",
            per_conn(|r| r.in_msgs),
        )?;
        counter_family(
            e,
            "nats_connection_out_msgs",
            "Messages delivered to the client (top connections).",
            per_conn(|r| r.out_msgs),
        )?;
        counter_family(
            e,
            "nats_connection_in_bytes",
            "Payload bytes published by the client (top connections).",
            per_conn(|r| r.in_bytes),
        )?;
        counter_family(
            e,
            "nats_connection_out_bytes",
            "Payload bytes delivered to the client (top connections).",
            per_conn(|r| r.out_bytes),
        )?;
        gauge_family(
            e,
            "nats_connection_pending_bytes",
            "Bytes queued to the client (top connections).",
            per_conn(|r| r.pending as u64),
        )?;
        gauge_family(
            e,
            "nats_connection_subscriptions",
            "Subscriptions of the client (top connections).",
            per_conn(|r| u64::from(r.subs)),
        )?;
        gauge_family(
            e,
            "nats_connection_rtt_seconds",
            "Last PING round-trip time to the client (top connections).",
            conns.iter().map(|r| (conn_labels(r), r.rtt as f64 / 1e9)),
        )?;

        let accounts = &self.accounts;
        let per_account = |f: fn(&AccountStat) -> u64| {
            accounts
                .iter()
                .map(move |a| (vec![("account", a.acc.clone())], f(a)))
        };
        gauge_family(
            e,
            "nats_account_connections",
            "Client connections bound to the account now.",
            per_account(|a| a.conns),
        )?;
        gauge_family(
            e,
            "nats_account_subscriptions",
            "Subscriptions in the account's sublist.",
            per_account(|a| a.num_subscriptions),
        )?;
        counter_family(
            e,
            "nats_account_in_msgs",
            "Messages published by the account's client connections.",
            per_account(|a| a.received.msgs),
        )?;
        counter_family(
            e,
            "nats_account_out_msgs",
            "Messages delivered to the account's client connections.",
            per_account(|a| a.sent.msgs),
        )?;
        counter_family(
            e,
            "nats_account_in_bytes",
            "Payload bytes published by the account's client connections.",
            per_account(|a| a.received.bytes),
        )?;
        counter_family(
            e,
            "nats_account_out_bytes",
            "Payload bytes delivered to the account's client connections.",
            per_account(|a| a.sent.bytes),
        )?;
        counter_family(
            e,
            "nats_account_slow_consumers",
            "Client connections of the account cut as slow consumers.",
            per_account(|a| a.slow_consumers),
        )?;
        Ok(())
    }
}
