//! `/routez`: route connections, with `subs=1|detail`.
//!
//! Routes do not exist yet, so [`Server::routes`](crate::server::Server::routes)
//! returns no [`RouteSnapshot`] and the document is the empty-cluster shape
//! nats-server returns (`"num_routes": 0, "routes": []`). The route module
//! fills a snapshot per route connection; everything below already renders
//! them with nats-server 2.10's `RouteInfo` fields, plus the cluster's
//! `import`/`export` permissions.
//!
//! **Differs from nats-server:** `server_name` is the effective name (the
//! id when none is configured), as 2.15 prints it; 2.10 printed the
//! configured one, possibly empty.
//!
//! Must never hold a route's lock while rendering: the snapshots are copies.

use std::net::SocketAddr;
use std::time::SystemTime;

use axum::response::Response;
use serde::Serialize;

use super::subsz::{sorted_details, SubDetail};
use super::{format, json_or_400, BadRequest, Monitor, Query};
use crate::config::SubjectPermission;
use crate::server::subscription::SubSnapshot;

/// What monitoring needs of one route connection, copied out of it.
#[derive(Clone, Debug)]
pub struct RouteSnapshot {
    pub rid: u64,
    pub remote_id: String,
    pub remote_name: String,
    pub did_solicit: bool,
    /// An explicitly configured route (not discovered by gossip).
    pub is_configured: bool,
    pub addr: SocketAddr,
    pub start: SystemTime,
    /// Unix nanoseconds of the last activity.
    pub last_activity: u64,
    pub rtt_nanos: u64,
    pub pending: usize,
    pub in_msgs: u64,
    pub out_msgs: u64,
    pub in_bytes: u64,
    pub out_bytes: u64,
    /// The remote interest held for this route.
    pub subs: Vec<SubSnapshot>,
    /// The pinned account, for a per-account route.
    pub account: String,
    pub compression: String,
    pub import: Option<SubjectPermission>,
    pub export: Option<SubjectPermission>,
}

/// Go's `SubjectPermission` JSON.
#[derive(Serialize)]
pub struct Perm {
    #[serde(skip_serializing_if = "Option::is_none")]
    allow: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    deny: Option<Vec<String>>,
}

impl From<&SubjectPermission> for Perm {
    fn from(p: &SubjectPermission) -> Self {
        Perm {
            allow: p.allow.clone(),
            deny: p.deny.clone(),
        }
    }
}

#[derive(Serialize)]
pub struct Routez {
    server_id: String,
    server_name: String,
    now: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    import: Option<Perm>,
    #[serde(skip_serializing_if = "Option::is_none")]
    export: Option<Perm>,
    num_routes: usize,
    routes: Vec<RouteInfo>,
}

#[derive(Serialize)]
pub struct RouteInfo {
    rid: u64,
    remote_id: String,
    remote_name: String,
    did_solicit: bool,
    is_configured: bool,
    ip: String,
    port: u16,
    start: String,
    last_activity: String,
    rtt: String,
    uptime: String,
    idle: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    import: Option<Perm>,
    #[serde(skip_serializing_if = "Option::is_none")]
    export: Option<Perm>,
    pending_size: usize,
    in_msgs: u64,
    out_msgs: u64,
    in_bytes: u64,
    out_bytes: u64,
    subscriptions: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    subscriptions_list: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    subscriptions_list_detail: Option<Vec<SubDetail>>,
    #[serde(skip_serializing_if = "String::is_empty")]
    account: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    compression: String,
}

pub(super) fn handle(m: &Monitor, q: &Query) -> Response {
    let (subs, detail) = match q.subs() {
        Ok(v) => v,
        Err(BadRequest(msg)) => return super::text(axum::http::StatusCode::BAD_REQUEST, msg),
    };
    m.count("/routez");
    json_or_400(q, Ok(routez(m, subs, detail)))
}

pub(super) fn routez(m: &Monitor, subs: bool, detail: bool) -> Routez {
    let server = &m.server;
    let opts = server.options();
    let now_time = SystemTime::now();
    let now = format::unix_nanos(now_time);
    let perms = opts.cluster.permissions.as_ref();
    let routes: Vec<RouteInfo> = server
        .routes()
        .into_iter()
        .map(|r| {
            let start = format::unix_nanos(r.start);
            let details = if subs || detail {
                sorted_details(r.subs.clone(), false)
            } else {
                Vec::new()
            };
            let (list, list_detail) = match (details.is_empty(), detail) {
                (true, _) => (None, None),
                (false, true) => (None, Some(details)),
                (false, false) => (Some(details.into_iter().map(|d| d.subject).collect()), None),
            };
            RouteInfo {
                rid: r.rid,
                remote_id: r.remote_id,
                remote_name: r.remote_name,
                did_solicit: r.did_solicit,
                is_configured: r.is_configured,
                ip: r.addr.ip().to_string(),
                port: r.addr.port(),
                start: format::time_nanos(start),
                last_activity: format::time_nanos(r.last_activity),
                rtt: format::rtt(r.rtt_nanos),
                uptime: format::uptime(format::between(start, now)),
                idle: format::uptime(format::between(r.last_activity, now)),
                import: r.import.as_ref().map(Perm::from),
                export: r.export.as_ref().map(Perm::from),
                pending_size: r.pending,
                in_msgs: r.in_msgs,
                out_msgs: r.out_msgs,
                in_bytes: r.in_bytes,
                out_bytes: r.out_bytes,
                subscriptions: u32::try_from(r.subs.len()).unwrap_or(u32::MAX),
                subscriptions_list: list,
                subscriptions_list_detail: list_detail,
                account: r.account,
                compression: r.compression,
            }
        })
        .collect();
    Routez {
        server_id: server.id.clone(),
        server_name: server.name.clone(),
        now: format::time(now_time),
        import: perms.and_then(|p| p.import.as_ref()).map(Perm::from),
        export: perms.and_then(|p| p.export.as_ref()).map(Perm::from),
        num_routes: routes.len(),
        routes,
    }
}
