//! `/gatewayz`, `/leafz`, `/jsz`: the answers of a nats-server without
//! gateways, leaf nodes or JetStream, so that tools polling them (nats-top,
//! the Prometheus exporter, `nats server report`) do not break. (Accounts
//! are real: `accountz.rs`.)
//!
//! What is there is true: everything is empty or zero.
//!
//! **Differs from nats-server:** `/leafz` prints `"leafs": []` (2.9 printed
//! `null`).
//!
//! Must never invent activity: every figure is a server counter or 0.

use std::collections::BTreeMap;
use std::time::SystemTime;

use axum::response::Response;
use serde::Serialize;

use super::{format, json_or_400, Monitor, Query};

fn now() -> String {
    format::time(SystemTime::now())
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
