//! `/connz`: client connections, open and recently closed, with
//! nats-server's query parameters — `sort` (every key), `limit`, `offset`,
//! `subs` (`true`/`1` or `detail`), `auth`, `state` (`open`, `closed`,
//! `all`/`any`), `cid`, `user`, `acc` — and its field names and meanings:
//! `in_*` is what the client published, `out_*` what was delivered to it,
//! `pending_bytes` what is queued and not yet written, `idle` the time since
//! the last message in or out (or interest change), `rtt` the last PING
//! round trip. Closed connections come from the server's bounded ring
//! (`max_closed_clients`) with their `stop` time and close `reason`, their
//! subscriptions and their figures as they were at the close.
//!
//! **Sort the whole set, then page** (nats-top#4, nats-server#770): every
//! matching connection is snapshotted into a [`Row`], the rows are sorted,
//! and only the requested page is rendered (subscription lists included).
//! Sort orders are nats-server's: `cid`/`start` ascending, `uptime`
//! ascending (Go sorts it unreversed), `reason` ascending, everything else
//! descending; ties are broken by ascending `cid` so that pages never
//! overlap (Go's sort is unstable).
//!
//! Accounts as nats-server 2.15 shows them: `acc=A` keeps A's connections
//! (`total` counts only those); an unknown account answers `server_id: ""`
//! and `connections: null`; closed `$G` connections are never selected by
//! `acc=$G` (Go records no account for them). `auth=1` adds
//! `authorized_user`, `account` (not for `$G`) and `name_tag` (the account's
//! name; for closed connections not for `$G`).
//!
//! **Differs from nats-server:** tokens are shown as
//! `authorized_user: "[REDACTED]"` like Go main; subscription lists are
//! ordered by sid (Go: map order); `tls_*` fields are a hook for TLS.
//!
//! Must never hold the server's connection registry lock (or any
//! connection's lock) while sorting, paging or serialising.

use std::cmp::Ordering;
use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::SystemTime;

use axum::response::Response;
use serde::Serialize;

use super::subsz::{sorted_details, SubDetail};
use super::{format, json_or_400, page_bounds, page_range, text, BadRequest, Monitor, Query};
use crate::config::GLOBAL_ACCOUNT;
use crate::server::close::ClosedState;
use crate::server::subscription::SubSnapshot;
use crate::server::ClosedClient;
use crate::server::ConnShared;

#[derive(Serialize)]
pub struct Connz {
    server_id: String,
    now: String,
    num_connections: usize,
    total: usize,
    offset: usize,
    limit: usize,
    /// `null` for an unknown `acc` (Go's quirk).
    connections: Option<Vec<ConnInfo>>,
}

/// One connection, nats-server's `ConnInfo` for a client.
#[derive(Serialize)]
pub struct ConnInfo {
    cid: u64,
    kind: &'static str,
    #[serde(rename = "type")]
    conn_type: &'static str,
    ip: String,
    port: u16,
    start: String,
    last_activity: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    stop: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'static str>,
    rtt: String,
    uptime: String,
    idle: String,
    pending_bytes: usize,
    in_msgs: u64,
    out_msgs: u64,
    in_bytes: u64,
    out_bytes: u64,
    subscriptions: u32,
    #[serde(skip_serializing_if = "String::is_empty")]
    name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    lang: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    version: String,
    /// TLS hook: filled once client TLS exists.
    #[serde(skip_serializing_if = "String::is_empty")]
    tls_version: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    tls_cipher_suite: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    authorized_user: String,
    /// With `auth`, for accounts other than the global one.
    #[serde(skip_serializing_if = "String::is_empty")]
    account: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    subscriptions_list: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    subscriptions_list_detail: Option<Vec<SubDetail>>,
    /// With `auth`: the account's name tag (its name).
    #[serde(skip_serializing_if = "String::is_empty")]
    name_tag: String,
}

/// A sort key of `?sort=`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SortBy {
    Cid,
    Subs,
    Pending,
    MsgsTo,
    MsgsFrom,
    BytesTo,
    BytesFrom,
    Last,
    Idle,
    Uptime,
    Stop,
    Reason,
    Rtt,
}

/// Every `sort` key nats-server accepts (`start` is the same as `cid`;
/// `stop` and `reason` only with `state=closed`).
pub const SORT_KEYS: [&str; 14] = [
    "cid",
    "start",
    "subs",
    "pending",
    "msgs_to",
    "msgs_from",
    "bytes_to",
    "bytes_from",
    "last",
    "idle",
    "uptime",
    "stop",
    "reason",
    "rtt",
];

impl SortBy {
    pub fn parse(s: &str) -> Option<SortBy> {
        Some(match s {
            "" | "cid" | "start" => SortBy::Cid,
            "subs" => SortBy::Subs,
            "pending" => SortBy::Pending,
            "msgs_to" => SortBy::MsgsTo,
            "msgs_from" => SortBy::MsgsFrom,
            "bytes_to" => SortBy::BytesTo,
            "bytes_from" => SortBy::BytesFrom,
            "last" => SortBy::Last,
            "idle" => SortBy::Idle,
            "uptime" => SortBy::Uptime,
            "stop" => SortBy::Stop,
            "reason" => SortBy::Reason,
            "rtt" => SortBy::Rtt,
            _ => return None,
        })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnState {
    Open,
    Closed,
    All,
}

/// The decoded query.
pub struct ConnzOptions {
    sort: String,
    auth: bool,
    subs: bool,
    detail: bool,
    offset: i64,
    limit: i64,
    cid: u64,
    state: ConnState,
    user: String,
    acc: String,
}

/// Decodes the query in nats-server's order, so that the first bad value is
/// the one reported.
fn decode(q: &Query) -> Result<ConnzOptions, BadRequest> {
    let auth = q.bool("auth")?;
    let (subs, detail) = q.subs()?;
    let offset = q.int("offset")?;
    let limit = q.int("limit")?;
    let cid = q.uint64("cid")?;
    let state = match q.get("state").to_ascii_lowercase().as_str() {
        "" | "open" => ConnState::Open,
        "closed" => ConnState::Closed,
        "any" | "all" => ConnState::All,
        _ => {
            return Err(BadRequest(format!(
                "Error decoding state for {}",
                q.get("state")
            )))
        }
    };
    Ok(ConnzOptions {
        sort: q.get("sort").to_string(),
        auth,
        subs,
        detail,
        offset,
        limit,
        cid,
        state,
        user: q.get("user").to_string(),
        acc: q.get("acc").to_string(),
    })
}

pub(super) fn handle(m: &Monitor, q: &Query) -> Response {
    let opts = match decode(q) {
        Ok(opts) => opts,
        Err(BadRequest(msg)) => return text(axum::http::StatusCode::BAD_REQUEST, msg),
    };
    m.count("/connz");
    json_or_400(q, connz(m, &opts))
}

/// Where a row's subscriptions are read from, for the page only.
pub(super) enum Source {
    Open(Arc<ConnShared>),
    Closed(Arc<ClosedClient>),
}

/// A connection's figures, read once; sorting and paging work on these.
pub(super) struct Row {
    pub(super) cid: u64,
    pub(super) addr: SocketAddr,
    pub(super) start: u64,
    pub(super) last: u64,
    pub(super) stop: Option<u64>,
    pub(super) reason: Option<ClosedState>,
    pub(super) rtt: u64,
    pub(super) pending: usize,
    pub(super) in_msgs: u64,
    pub(super) out_msgs: u64,
    pub(super) in_bytes: u64,
    pub(super) out_bytes: u64,
    pub(super) subs: u32,
    pub(super) name: String,
    pub(super) lang: String,
    pub(super) version: String,
    pub(super) user: String,
    /// The account the connection is (or was) bound to.
    pub(super) account: Arc<str>,
    pub(super) source: Source,
}

impl Row {
    pub(super) fn open(c: Arc<ConnShared>) -> Row {
        let meta = c.meta.lock().clone();
        let out = c.out.stats();
        let subs = c.subs.lock().len();
        Row {
            cid: c.cid,
            addr: c.addr,
            start: format::unix_nanos(c.start),
            last: c.last_activity.load(Relaxed),
            stop: None,
            reason: None,
            rtt: c.rtt_nanos.load(Relaxed),
            pending: out.pending,
            in_msgs: c.in_msgs.load(Relaxed),
            out_msgs: out.out_msgs,
            in_bytes: c.in_bytes.load(Relaxed),
            out_bytes: out.out_bytes,
            subs: u32::try_from(subs).unwrap_or(u32::MAX),
            name: meta.name.to_string(),
            lang: meta.lang.to_string(),
            version: meta.version.to_string(),
            user: meta.user.to_string(),
            account: meta.account.clone(),
            source: Source::Open(c),
        }
    }

    fn closed(c: Arc<ClosedClient>) -> Row {
        Row {
            cid: c.cid,
            addr: c.addr,
            start: format::unix_nanos(c.start),
            last: c.last_activity,
            stop: Some(format::unix_nanos(c.stop)),
            reason: Some(c.reason),
            rtt: c.rtt_nanos,
            pending: c.out.pending,
            in_msgs: c.in_msgs,
            out_msgs: c.out.out_msgs,
            in_bytes: c.in_bytes,
            out_bytes: c.out.out_bytes,
            subs: u32::try_from(c.subs.len()).unwrap_or(u32::MAX),
            name: c.name.clone(),
            lang: c.lang.clone(),
            version: c.version.clone(),
            user: c.user.clone(),
            account: c.account.clone(),
            source: Source::Closed(c.clone()),
        }
    }

    /// How long it was (or has been) up.
    fn uptime(&self, now: u64) -> u64 {
        self.stop.unwrap_or(now).saturating_sub(self.start)
    }
}

/// Orders two rows by `sort` as nats-server does; ascending `cid` breaks ties.
fn compare(sort: SortBy, now: u64, a: &Row, b: &Row) -> Ordering {
    let by = match sort {
        SortBy::Cid => Ordering::Equal,
        SortBy::Subs => b.subs.cmp(&a.subs),
        SortBy::Pending => b.pending.cmp(&a.pending),
        SortBy::MsgsTo => b.out_msgs.cmp(&a.out_msgs),
        SortBy::MsgsFrom => b.in_msgs.cmp(&a.in_msgs),
        SortBy::BytesTo => b.out_bytes.cmp(&a.out_bytes),
        SortBy::BytesFrom => b.in_bytes.cmp(&a.in_bytes),
        SortBy::Last => b.last.cmp(&a.last),
        // Most idle first: idle is `now - last` for open and closed alike.
        SortBy::Idle => now.saturating_sub(b.last).cmp(&now.saturating_sub(a.last)),
        SortBy::Uptime => a.uptime(now).cmp(&b.uptime(now)),
        SortBy::Stop => b.stop.cmp(&a.stop),
        SortBy::Reason => reason_str(a).cmp(reason_str(b)),
        SortBy::Rtt => b.rtt.cmp(&a.rtt),
    };
    by.then(a.cid.cmp(&b.cid))
}

fn reason_str(r: &Row) -> &'static str {
    r.reason.map_or("", ClosedState::as_str)
}

/// Builds the document: snapshot, filter, sort, page, render.
pub(super) fn connz(m: &Monitor, o: &ConnzOptions) -> Result<Connz, BadRequest> {
    let sort = SortBy::parse(&o.sort)
        .ok_or_else(|| BadRequest(format!("invalid sorting option: {}", o.sort)))?;
    if sort == SortBy::Stop && o.state != ConnState::Closed {
        return Err(BadRequest(
            "sort by stop only valid on closed connections".into(),
        ));
    }
    if sort == SortBy::Reason && o.state != ConnState::Closed {
        return Err(BadRequest(
            "sort by reason only valid on closed connections".into(),
        ));
    }
    let (offset, mut limit) = page_bounds(o.offset, o.limit);
    if o.cid > 0 {
        limit = 1;
    }
    let server = &m.server;
    let now_time = SystemTime::now();
    let now = format::unix_nanos(now_time);
    let mut doc = Connz {
        server_id: server.id.clone(),
        now: format::time(now_time),
        num_connections: 0,
        total: 0,
        offset,
        limit,
        connections: None,
    };
    if !o.acc.is_empty() && server.accounts.get(&o.acc).is_none() {
        // nats-server answers an unknown account before filling its id.
        doc.server_id = String::new();
        return Ok(doc);
    }

    let want_open = o.state != ConnState::Closed;
    let want_closed = o.state != ConnState::Open;
    let all_open = if want_open {
        server.clients()
    } else {
        Vec::new()
    };
    let mut closed = if want_closed {
        server.closed_clients()
    } else {
        Vec::new()
    };
    let mut open = all_open.clone();
    if !o.acc.is_empty() {
        open.retain(|c| *c.meta.lock().account == *o.acc);
        // Go records no account for closed `$G` connections.
        closed.retain(|c| *c.account == *o.acc && o.acc != GLOBAL_ACCOUNT);
    }
    // As in nats-server, `total` counts the state's whole set (of the
    // account), before the cid and user filters.
    doc.total = open.len() + closed.len();

    let mut rows: Vec<Row> = if o.cid > 0 {
        // Go looks an open cid up among all clients, whatever `acc` says.
        let found_open = all_open.into_iter().find(|c| c.cid == o.cid).map(Row::open);
        let found =
            found_open.or_else(|| closed.into_iter().find(|c| c.cid == o.cid).map(Row::closed));
        found.into_iter().collect()
    } else {
        let mut rows = Vec::with_capacity(open.len() + closed.len());
        rows.extend(open.into_iter().map(Row::open));
        rows.extend(closed.into_iter().map(Row::closed));
        rows
    };

    let token_auth = server.auth().is_token();
    for row in &mut rows {
        if row.user.is_empty() && token_auth {
            // nats-server main shows that a token was used, never the token.
            row.user = "[REDACTED]".to_string();
        }
    }
    if !o.user.is_empty() {
        rows.retain(|r| r.user == o.user);
    }

    rows.sort_by(|a, b| compare(sort, now, a, b));
    let page = page_range(rows.len(), offset, limit);
    let connections: Vec<ConnInfo> = rows.drain(page).map(|row| render(row, now, o)).collect();
    doc.num_connections = connections.len();
    doc.connections = Some(connections);
    Ok(doc)
}

fn render(row: Row, now: u64, o: &ConnzOptions) -> ConnInfo {
    let end = row.stop.unwrap_or(now);
    let (subscriptions_list, subscriptions_list_detail) = if o.subs || o.detail {
        let (subs, closed): (Vec<SubSnapshot>, bool) = match &row.source {
            Source::Open(c) => (
                c.subs.lock().values().map(|s| s.snapshot()).collect(),
                false,
            ),
            Source::Closed(c) => (c.subs.clone(), true),
        };
        // nats-server names the account only in the records it keeps for
        // closed connections.
        let details = sorted_details(subs, closed);
        if details.is_empty() {
            (None, None)
        } else if o.detail {
            (None, Some(details))
        } else {
            (Some(details.into_iter().map(|d| d.subject).collect()), None)
        }
    } else {
        (None, None)
    };
    let global = *row.account == *GLOBAL_ACCOUNT;
    let closed = row.stop.is_some();
    let (account, name_tag) = if o.auth {
        (
            if global { "" } else { &*row.account }.to_string(),
            if global && closed { "" } else { &*row.account }.to_string(),
        )
    } else {
        (String::new(), String::new())
    };
    ConnInfo {
        cid: row.cid,
        kind: "Client",
        conn_type: "nats",
        ip: row.addr.ip().to_string(),
        port: row.addr.port(),
        start: format::time_nanos(row.start),
        last_activity: format::time_nanos(row.last),
        stop: row.stop.map(format::time_nanos),
        reason: row.reason.map(ClosedState::as_str),
        rtt: format::rtt(row.rtt),
        uptime: format::uptime(format::between(row.start, end)),
        idle: format::uptime(format::between(row.last, end)),
        pending_bytes: row.pending,
        in_msgs: row.in_msgs,
        out_msgs: row.out_msgs,
        in_bytes: row.in_bytes,
        out_bytes: row.out_bytes,
        subscriptions: row.subs,
        name: row.name,
        lang: row.lang,
        version: row.version,
        tls_version: String::new(),
        tls_cipher_suite: String::new(),
        authorized_user: if o.auth { row.user } else { String::new() },
        account,
        subscriptions_list,
        subscriptions_list_detail,
        name_tag,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_go_sort_key_parses_and_nothing_else() {
        for key in SORT_KEYS {
            assert!(SortBy::parse(key).is_some(), "{key}");
        }
        assert_eq!(SortBy::parse(""), Some(SortBy::Cid));
        assert_eq!(SortBy::parse("start"), Some(SortBy::Cid));
        assert_eq!(SortBy::parse("CID"), None);
        assert_eq!(SortBy::parse("foo"), None);
    }

    #[test]
    fn bad_values_are_reported_in_go_order() {
        let q = Query::parse(Some("limit=x&auth=maybe"));
        assert_eq!(
            decode(&q).err().map(|e| e.0).as_deref(),
            Some("Error decoding boolean for 'auth': strconv.ParseBool: parsing \"maybe\": invalid syntax")
        );
        let q = Query::parse(Some("state=foo"));
        assert_eq!(
            decode(&q).err().map(|e| e.0).as_deref(),
            Some("Error decoding state for foo")
        );
        let q = Query::parse(Some("state=ALL&subs=detail"));
        let o = decode(&q).ok().unwrap();
        assert_eq!(o.state, ConnState::All);
        assert!(o.detail && !o.subs);
    }
}
