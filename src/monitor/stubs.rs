//! `/accountz`, `/accstatz`, `/gatewayz`, `/leafz`, `/jsz`: the answers of
//! a nats-server without multiple accounts, gateways, leaf nodes or
//! JetStream, so that tools polling them (nats-top, the Prometheus exporter,
//! `nats server report`) do not break.
//!
//! What is there is true: the one account is `$G` with every connection and
//! subscription; `/accstatz` reports its traffic; the rest is empty or zero.
//!
//! **Differs from nats-server:** there is no `$SYS` system account, so
//! `/accountz` lists only `$G` and has no `system_account`, and `$G` has no
//! service imports. `/leafz` prints `"leafs": []` (2.9 printed `null`).
//!
//! Must never invent activity: every figure is a server counter or 0.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering::Relaxed;
use std::time::SystemTime;

use axum::response::Response;
use serde::Serialize;

use super::{format, json_or_400, BadRequest, Monitor, Query};

const GLOBAL: &str = "$G";

#[derive(Serialize)]
struct Accountz {
    server_id: String,
    now: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    accounts: Option<Vec<&'static str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    account_detail: Option<AccountInfo>,
}

#[derive(Serialize)]
struct AccountInfo {
    account_name: &'static str,
    update_time: String,
    expired: bool,
    complete: bool,
    jetstream_enabled: bool,
    leafnode_connections: usize,
    client_connections: usize,
    subscriptions: usize,
    sublist_stats: SublistStats,
}

#[derive(Serialize)]
struct SublistStats {
    num_subscriptions: u64,
    num_cache: u64,
    num_inserts: u64,
    num_removes: u64,
    num_matches: u64,
    #[serde(serialize_with = "format::go_float")]
    cache_hit_rate: f64,
    max_fanout: u64,
    #[serde(serialize_with = "format::go_float")]
    avg_fanout: f64,
}

fn now() -> String {
    format::time(SystemTime::now())
}

pub(super) fn accountz(m: &Monitor, q: &Query) -> Response {
    m.count("/accountz");
    let s = &m.server;
    let acc = q.get("acc");
    let doc = if acc.is_empty() {
        Ok(Accountz {
            server_id: s.id.clone(),
            now: now(),
            accounts: Some(vec![GLOBAL]),
            account_detail: None,
        })
    } else if acc != GLOBAL {
        Err(BadRequest(format!("Account {acc} does not exist")))
    } else {
        let st = s.global().sublist.stats();
        Ok(Accountz {
            server_id: s.id.clone(),
            now: now(),
            accounts: None,
            account_detail: Some(AccountInfo {
                account_name: GLOBAL,
                update_time: format::time(s.started),
                expired: false,
                complete: true,
                jetstream_enabled: false,
                leafnode_connections: 0,
                client_connections: s.num_clients(),
                subscriptions: s.global().sublist.count(),
                sublist_stats: SublistStats {
                    num_subscriptions: st.num_subscriptions,
                    num_cache: st.num_cache,
                    num_inserts: st.num_inserts,
                    num_removes: st.num_removes,
                    num_matches: st.num_matches,
                    cache_hit_rate: st.cache_hit_rate,
                    max_fanout: st.max_fanout,
                    avg_fanout: st.avg_fanout,
                },
            }),
        })
    };
    json_or_400(q, doc)
}

#[derive(Serialize)]
struct AccountStatz {
    server_id: String,
    now: String,
    account_statz: Vec<AccountStat>,
}

#[derive(Serialize)]
struct AccountStat {
    acc: &'static str,
    conns: usize,
    leafnodes: usize,
    total_conns: usize,
    num_subscriptions: usize,
    sent: DataStats,
    received: DataStats,
    slow_consumers: u64,
}

#[derive(Serialize)]
struct DataStats {
    msgs: u64,
    bytes: u64,
}

pub(super) fn accstatz(m: &Monitor, q: &Query) -> Response {
    m.count("/accstatz");
    let doc = q.bool("unused").map(|unused| {
        let s = &m.server;
        let conns = s.num_clients();
        let mut account_statz = Vec::new();
        if unused || conns > 0 {
            account_statz.push(AccountStat {
                acc: GLOBAL,
                conns,
                leafnodes: 0,
                total_conns: conns,
                num_subscriptions: s.global().sublist.count(),
                sent: DataStats {
                    msgs: s.stats.out_msgs.load(Relaxed),
                    bytes: s.stats.out_bytes.load(Relaxed),
                },
                received: DataStats {
                    msgs: s.stats.in_msgs.load(Relaxed),
                    bytes: s.stats.in_bytes.load(Relaxed),
                },
                slow_consumers: s.stats.slow_consumers.load(Relaxed),
            });
        }
        AccountStatz {
            server_id: s.id.clone(),
            now: now(),
            account_statz,
        }
    });
    json_or_400(q, doc)
}

#[derive(Serialize)]
struct Gatewayz {
    server_id: String,
    now: String,
    outbound_gateways: BTreeMap<String, ()>,
    inbound_gateways: BTreeMap<String, ()>,
}

pub(super) fn gatewayz(m: &Monitor, q: &Query) -> Response {
    m.count("/gatewayz");
    let doc = q.bool("accs").map(|_| Gatewayz {
        server_id: m.server.id.clone(),
        now: now(),
        outbound_gateways: BTreeMap::new(),
        inbound_gateways: BTreeMap::new(),
    });
    json_or_400(q, doc)
}

#[derive(Serialize)]
struct Leafz {
    server_id: String,
    now: String,
    leafnodes: usize,
    leafs: Vec<()>,
}

pub(super) fn leafz(m: &Monitor, q: &Query) -> Response {
    m.count("/leafz");
    let doc = q.bool("subs").map(|_| Leafz {
        server_id: m.server.id.clone(),
        now: now(),
        leafnodes: 0,
        leafs: Vec::new(),
    });
    json_or_400(q, doc)
}

#[derive(Serialize)]
struct Jsz {
    server_id: String,
    now: String,
    disabled: bool,
    config: JsConfig,
    memory: u64,
    storage: u64,
    reserved_memory: u64,
    reserved_storage: u64,
    accounts: u64,
    ha_assets: u64,
    api: JsApi,
    streams: u64,
    consumers: u64,
    messages: u64,
    bytes: u64,
}

#[derive(Serialize)]
struct JsConfig {
    max_memory: i64,
    max_storage: i64,
}

#[derive(Serialize)]
struct JsApi {
    total: u64,
    errors: u64,
}

pub(super) fn jsz(m: &Monitor, q: &Query) -> Response {
    m.count("/jsz");
    json_or_400(
        q,
        Ok(Jsz {
            server_id: m.server.id.clone(),
            now: now(),
            disabled: true,
            config: JsConfig {
                max_memory: 0,
                max_storage: 0,
            },
            memory: 0,
            storage: 0,
            reserved_memory: 0,
            reserved_storage: 0,
            accounts: 0,
            ha_assets: 0,
            api: JsApi {
                total: 0,
                errors: 0,
            },
            streams: 0,
            consumers: 0,
            messages: 0,
            bytes: 0,
        }),
    )
}
