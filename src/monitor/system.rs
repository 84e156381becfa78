//! The system account's request services: the
//! `$SYS.REQ.SERVER.*`, `$SYS.REQ.ACCOUNT.*` and `$SYS.REQ.USER.*` subjects,
//! answered from the same builders as the HTTP endpoints so the two never
//! drift. Each is an internal subscription in the system account
//! (`server/internal.rs`); a request is copied and answered on a tokio
//! task, the answer published in the system account on the request's reply
//! subject.
//!
//! Answers are `{"server":{…},"data":{…}}` (or `"error":{code,description}`
//! for a bad request body), except `PING` (the statsz message), `IDZ` (bare
//! `{name,host,id}`) and `ACCOUNT.<acc>.CONNS` (an `account_connections`
//! event). A request whose filters (`server_name`, `cluster`, `host`,
//! `tags`, `domain`) do not match this server, or an account service for
//! an account without local connections where nats-server stays silent,
//! gets no answer.
//!
//! The HTTP endpoints are reused through their axum responses: a request
//! body's options become a query string, a `200` body becomes `data`, any
//! other status an `error`. Heavy endpoints (`CONNZ` over many connections)
//! run on the answering task, not in the publisher's.
//!
//! **Must never:** answer a request without a reply subject, or change
//! server state (the services are read-only here: no RELOAD, KICK or LDM).

use std::sync::{Arc, Weak};

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Map, Value};

use super::{accountz, connz, healthz, routez, stubs, subsz, varz, Monitor, Query};
use crate::log;
use crate::outbound::Message;
use crate::server::account::Account;
use crate::server::account_stats::{account_stat, live_traffic, AccountStat};
use crate::server::events::rfc3339;
use crate::server::internal::{Internal, Origin};
use crate::server::{Server, Wakes};

/// Endpoints answered per server (`$SYS.REQ.SERVER.PING.<EP>` and
/// `$SYS.REQ.SERVER.<id>.<EP>`).
const SERVER_EPS: [&str; 11] = [
    "IDZ", "STATSZ", "VARZ", "SUBSZ", "CONNZ", "ROUTEZ", "GATEWAYZ", "LEAFZ", "ACCOUNTZ", "JSZ",
    "HEALTHZ",
];

/// Endpoints answered per account (`$SYS.REQ.ACCOUNT.<acc>.<EP>`).
const ACCOUNT_EPS: [&str; 7] = ["SUBSZ", "CONNZ", "LEAFZ", "JSZ", "INFO", "STATZ", "CONNS"];

#[derive(Clone, Copy)]
enum Kind {
    /// `$SYS.REQ.SERVER.PING`: the statsz message.
    Ping,
    Server(&'static str),
    Account(&'static str),
    User,
}

struct Service {
    server: Weak<Server>,
    kind: Kind,
}

/// A request, copied out of the publisher's delivery.
struct Request {
    subject: String,
    reply: Vec<u8>,
    header: Vec<u8>,
    body: Vec<u8>,
    /// The requesting client's account and user, when it is local.
    client: Option<(String, String)>,
}

/// Subscribes the request services in the system account, if there is one.
pub fn start(server: &Arc<Server>) {
    let Some(sys) = server.system_account() else {
        return;
    };
    let sub = |subject: String, kind: Kind| {
        let handler = Service {
            server: Arc::downgrade(server),
            kind,
        };
        server.subscribe_internal(&sys, &subject, Arc::new(handler));
    };
    sub("$SYS.REQ.SERVER.PING".into(), Kind::Ping);
    for ep in SERVER_EPS {
        sub(format!("$SYS.REQ.SERVER.PING.{ep}"), Kind::Server(ep));
        sub(
            format!("$SYS.REQ.SERVER.{}.{ep}", server.id),
            Kind::Server(ep),
        );
    }
    for ep in ACCOUNT_EPS {
        sub(format!("$SYS.REQ.ACCOUNT.*.{ep}"), Kind::Account(ep));
    }
    sub("$SYS.REQ.USER.INFO".into(), Kind::User);
    sub("$SYS.REQ.USER.*.INFO".into(), Kind::User);
}

impl Internal for Service {
    fn deliver(
        &self,
        _server: &Server,
        _account: &Arc<Account>,
        msg: &Message<'_>,
        origin: Origin<'_>,
        _wakes: &mut Wakes,
    ) -> usize {
        let Some(reply) = msg.reply.filter(|r| !r.is_empty()) else {
            return 0;
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return 0;
        };
        let (header, body) = match msg.header_len {
            Some(h) if h <= msg.payload.len() => msg.payload.split_at(h),
            _ => (&[][..], msg.payload),
        };
        let client = origin.client.map(|c| {
            let meta = c.meta.lock();
            (meta.account.to_string(), meta.user.to_string())
        });
        let request = Request {
            subject: String::from_utf8_lossy(msg.subject).into_owned(),
            reply: reply.to_vec(),
            header: header.to_vec(),
            body: body.to_vec(),
            client,
        };
        let (server, kind) = (self.server.clone(), self.kind);
        runtime.spawn(async move {
            let Some(server) = server.upgrade() else {
                return;
            };
            let Some(answer) = answer(&server, kind, &request).await else {
                return;
            };
            if let Some(sys) = server.system_account() {
                let msg = Message {
                    subject: &request.reply,
                    reply: None,
                    header_len: None,
                    payload: &answer,
                    shared: None,
                };
                server.publish_now(&sys, &msg);
            }
        });
        1
    }
}

/// The answer to one request, or `None` to stay silent.
async fn answer(server: &Arc<Server>, kind: Kind, req: &Request) -> Option<Vec<u8>> {
    let opts = match parse_body(&req.body) {
        Ok(opts) => opts,
        Err(e) => return Some(error(server, 400, &e)),
    };
    if !matches!(kind, Kind::Server("IDZ")) && !filters_match(server, &opts) {
        return None;
    }
    match kind {
        Kind::Ping => Some(json(&server.statsz_msg())),
        Kind::Server("IDZ") => {
            #[derive(serde::Serialize)]
            struct Idz<'a> {
                name: &'a str,
                host: &'a str,
                id: &'a str,
            }
            let host = server.options().host.clone();
            Some(json(&Idz {
                name: &server.name,
                host: &host,
                id: &server.id,
            }))
        }
        Kind::Server("STATSZ") => Some(json(&server.statsz_msg())),
        Kind::Server(ep) => Some(endpoint(server, ep, query(&opts, &[])).await),
        Kind::Account(ep) => account(server, ep, &req.subject, &opts).await,
        Kind::User => Some(user_info(server, req)),
    }
}

/// An HTTP endpoint's document under `data`, or its error under `error`.
async fn endpoint(server: &Arc<Server>, ep: &str, q: Query) -> Vec<u8> {
    let m = Monitor::new(server.clone());
    let name = ep.to_string();
    let response = tokio::task::spawn_blocking(move || http(&m, &name, &q)).await;
    let Ok(Some(response)) = response else {
        return error(server, 500, "unknown endpoint");
    };
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap_or_default();
    if status == StatusCode::OK || ep == "HEALTHZ" {
        let mut doc = compact(&body);
        if let Ok(Value::Object(mut map)) = serde_json::from_slice::<Value>(&doc) {
            // Not an HTTP request: no HTTP counters; healthz carries its code.
            if let Some(Value::Object(stats)) = map.get_mut("http_req_stats") {
                stats.clear();
            }
            if ep == "HEALTHZ" {
                map.insert("status_code".into(), status.as_u16().into());
            }
            doc = json(&map);
        }
        data(server, &doc)
    } else {
        let text = String::from_utf8_lossy(&body);
        error(server, i64::from(status.as_u16()), text.trim_end())
    }
}

fn http(m: &Monitor, ep: &str, q: &Query) -> Option<Response> {
    Some(match ep {
        "VARZ" => varz::handle(m, q),
        "SUBSZ" => subsz::handle(m, q),
        "CONNZ" => connz::handle(m, q),
        "ROUTEZ" => routez::handle(m, q),
        "GATEWAYZ" => stubs::gatewayz(m, q),
        "LEAFZ" => stubs::leafz(m, q),
        "ACCOUNTZ" => accountz::handle_accountz(m, q),
        "JSZ" => stubs::jsz(m, q),
        "HEALTHZ" => healthz::handle(m, q),
        _ => return None,
    })
}

/// `$SYS.REQ.ACCOUNT.<acc>.<EP>`.
async fn account(
    server: &Arc<Server>,
    ep: &str,
    subject: &str,
    opts: &Map<String, Value>,
) -> Option<Vec<u8>> {
    let name = subject.split('.').nth(3).unwrap_or_default();
    if name == "PING" {
        // `$SYS.REQ.ACCOUNT.PING.STATZ`: every account with local
        // connections (or those the body names).
        return match ep {
            "STATZ" => statz(server, opts, None),
            "CONNZ" => Some(endpoint(server, "CONNZ", query(opts, &[])).await),
            _ => None,
        };
    }
    let acc = server.accounts.get(name);
    let with_acc = [("acc", name)];
    match ep {
        // nats-server lists an account's subscriptions by default.
        "SUBSZ" => Some(endpoint(server, ep, query(opts, &[("acc", name), ("subs", "1")])).await),
        "CONNZ" | "LEAFZ" | "JSZ" => Some(endpoint(server, ep, query(opts, &with_acc)).await),
        "INFO" => {
            let doc = endpoint(server, "ACCOUNTZ", query(opts, &with_acc)).await;
            let mut v: Value = serde_json::from_slice(&doc).ok()?;
            if let Some(detail) = v.pointer("/data/account_detail").cloned() {
                v["data"] = detail;
            }
            Some(json(&v))
        }
        "STATZ" => statz(server, opts, Some(acc?)),
        "CONNS" => {
            let acc = acc.filter(|a| a.num_conns() > 0)?;
            Some(server.account_conns_body(&acc))
        }
        _ => None,
    }
}

/// Account statistics: of `only`, or of the accounts the body lists, or of
/// every account with local connections; silent when none qualifies.
fn statz(
    server: &Arc<Server>,
    opts: &Map<String, Value>,
    only: Option<Arc<Account>>,
) -> Option<Vec<u8>> {
    let unused = opts
        .get("include_unused")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let named: Vec<String> = opts
        .get("accounts")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let mut accounts = match only {
        Some(acc) => vec![acc],
        None => server.accounts.all(),
    };
    accounts.retain(|a| named.is_empty() || named.iter().any(|n| **n == *a.name));
    accounts.retain(|a| unused || a.num_conns() > 0);
    if accounts.is_empty() {
        return None;
    }
    accounts.sort_by(|a, b| a.name.cmp(&b.name));
    let live = live_traffic(server);
    let stats: Vec<AccountStat> = accounts
        .iter()
        .map(|a| account_stat(a, live.get(&a.name).copied().unwrap_or_default()))
        .collect();
    let doc = serde_json::json!({
        "server_id": server.id,
        "now": rfc3339(std::time::SystemTime::now()),
        "account_statz": stats,
    });
    Some(data(server, &json(&doc)))
}

/// `$SYS.REQ.USER.INFO`: the requester, from the `Nats-Request-Info` header
/// of the automatic import, or the local client itself.
fn user_info(server: &Arc<Server>, req: &Request) -> Vec<u8> {
    let from_header = request_info(&req.header).map(|v| {
        let s = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        (s("acc"), s("user"))
    });
    let (account, user) = from_header
        .or_else(|| req.client.clone())
        .unwrap_or_default();
    let opts = server.options();
    let permissions = opts
        .user_permissions(&account, &user)
        .map(UserPermissions::of);
    let doc = UserInfo {
        user: &user,
        account: &account,
        account_name: &account,
        permissions,
    };
    data(server, &json(&doc))
}

/// `$SYS.REQ.USER.INFO`'s data, in nats-server's key order.
#[derive(serde::Serialize)]
struct UserInfo<'a> {
    user: &'a str,
    account: &'a str,
    account_name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    permissions: Option<UserPermissions>,
}

/// A user's permissions as nats-server shows them (`publish`, `subscribe`,
/// `responses` with `max` and `ttl` in nanoseconds), empty parts left out.
#[derive(serde::Serialize)]
struct UserPermissions {
    #[serde(skip_serializing_if = "Option::is_none")]
    publish: Option<SubjectPerm>,
    #[serde(skip_serializing_if = "Option::is_none")]
    subscribe: Option<SubjectPerm>,
    #[serde(skip_serializing_if = "Option::is_none")]
    responses: Option<ResponsePerm>,
}

#[derive(serde::Serialize)]
struct SubjectPerm {
    #[serde(skip_serializing_if = "Option::is_none")]
    allow: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    deny: Option<Vec<String>>,
}

#[derive(serde::Serialize)]
struct ResponsePerm {
    max: i64,
    ttl: i64,
}

impl UserPermissions {
    fn of(p: &crate::config::Permissions) -> UserPermissions {
        let subject = |s: &Option<crate::config::SubjectPermission>| {
            s.as_ref().map(|s| SubjectPerm {
                allow: s.allow.clone().filter(|v| !v.is_empty()),
                deny: s.deny.clone().filter(|v| !v.is_empty()),
            })
        };
        UserPermissions {
            publish: subject(&p.publish),
            subscribe: subject(&p.subscribe),
            responses: p.allow_responses.as_ref().map(|r| ResponsePerm {
                max: r.max_msgs,
                ttl: r
                    .expires
                    .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)),
            }),
        }
    }
}

/// The `Nats-Request-Info` header's JSON.
fn request_info(header: &[u8]) -> Option<Value> {
    let text = std::str::from_utf8(header).ok()?;
    let line = text
        .split("\r\n")
        .find_map(|l| l.strip_prefix("Nats-Request-Info:"))?;
    serde_json::from_str(line.trim()).ok()
}

/// The request body's options: empty, or a JSON object.
fn parse_body(body: &[u8]) -> Result<Map<String, Value>, String> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Ok(Map::new()),
        Err(e) => Err(go_json_error(body, &e)),
    }
}

/// Go's `encoding/json` wording for the commonest syntax errors.
fn go_json_error(body: &[u8], e: &serde_json::Error) -> String {
    if e.is_eof() {
        return "unexpected end of JSON input".to_string();
    }
    let at = body
        .iter()
        .enumerate()
        .filter(|(_, b)| **b == b'\n')
        .nth(e.line().saturating_sub(2))
        .map_or(0, |(i, _)| i + 1)
        * usize::from(e.line() > 1)
        + e.column().saturating_sub(1);
    let c = body.get(at).map_or('?', |b| *b as char);
    let text = e.to_string();
    let looking = if text.starts_with("key must be a string") {
        "looking for beginning of object key string"
    } else {
        "looking for beginning of value"
    };
    format!("invalid character '{c}' {looking}")
}

/// Whether the request's filters select this server (no filter: yes).
fn filters_match(server: &Server, opts: &Map<String, Value>) -> bool {
    let exact = opts
        .get("exact_match")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let want = |key: &str, have: &str| match opts.get(key).and_then(Value::as_str) {
        None | Some("") => true,
        Some(w) if exact => w == have,
        Some(w) => have.contains(w),
    };
    let cluster = server.cluster.name_if_enabled().unwrap_or_default();
    let host = server.options().host.clone();
    let tags_ok = opts
        .get("tags")
        .and_then(Value::as_array)
        .is_none_or(|t| t.is_empty());
    let domain_ok = opts
        .get("domain")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty);
    want("server_name", &server.name) && want("cluster", &cluster) && want("host", &host)
        // This server has neither tags nor a JetStream domain.
        && tags_ok
        && domain_ok
}

/// The HTTP query equivalent to a request body's options: nats-server's
/// JSON option names mapped to the query keys, plus `extra`.
fn query(opts: &Map<String, Value>, extra: &[(&str, &str)]) -> Query {
    let mut pairs: Vec<(String, String)> = Vec::new();
    for (k, v) in opts {
        let value = match v {
            Value::String(s) => s.clone(),
            Value::Bool(b) => if *b { "1" } else { "0" }.to_string(),
            Value::Number(n) => n.to_string(),
            _ => continue,
        };
        let (key, value) = match k.as_str() {
            "subscriptions" => ("subs".to_string(), value),
            "subscriptions_detail" if value == "1" => ("subs".to_string(), "detail".to_string()),
            "account" => ("acc".to_string(), value),
            "include_unused" => ("unused".to_string(), value),
            "state" => {
                let state = match value.as_str() {
                    "1" => "closed",
                    "2" => "all",
                    _ => "open",
                };
                ("state".to_string(), state.to_string())
            }
            _ => (k.clone(), value),
        };
        pairs.push((key, value));
    }
    for (k, v) in extra {
        pairs.insert(0, (k.to_string(), v.to_string()));
    }
    Query(pairs)
}

/// `{"server":…,"data":<doc>}`, `doc` being JSON text.
fn data(server: &Server, doc: &[u8]) -> Vec<u8> {
    let mut out = b"{\"server\":".to_vec();
    out.extend_from_slice(&json(&server.server_info()));
    out.extend_from_slice(b",\"data\":");
    out.extend_from_slice(doc);
    out.push(b'}');
    out
}

/// `{"server":…,"error":{"code":…,"description":…}}`.
fn error(server: &Server, code: i64, description: &str) -> Vec<u8> {
    log::debug!("System request failed: {description}");
    #[derive(serde::Serialize)]
    struct Error<'a> {
        code: i64,
        description: &'a str,
    }
    #[derive(serde::Serialize)]
    struct Envelope<'a> {
        server: crate::server::events::ServerInfo,
        error: Error<'a>,
    }
    json(&Envelope {
        server: server.server_info(),
        error: Error { code, description },
    })
}

fn json<T: serde::Serialize>(v: &T) -> Vec<u8> {
    serde_json::to_vec(v).unwrap_or_default()
}

/// JSON text without the whitespace between tokens (the HTTP documents are
/// indented).
fn compact(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    let (mut in_string, mut escaped) = (false, false);
    for &b in text {
        if in_string {
            out.push(b);
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
        } else if !b.is_ascii_whitespace() {
            if b == b'"' {
                in_string = true;
            }
            out.push(b);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_keeps_strings() {
        let text = b"{\n  \"a b\": \"x \\\" y\",\n  \"c\": [1, 2]\n}";
        assert_eq!(
            compact(text),
            b"{\"a b\":\"x \\\" y\",\"c\":[1,2]}".to_vec()
        );
    }

    #[test]
    fn bad_bodies_get_go_wording() {
        assert_eq!(
            parse_body(b"{bad").unwrap_err(),
            "invalid character 'b' looking for beginning of object key string"
        );
        assert_eq!(
            parse_body(b"{\"a\":").unwrap_err(),
            "unexpected end of JSON input"
        );
        assert!(parse_body(b"").unwrap().is_empty());
    }

    #[test]
    fn body_options_become_query_keys() {
        let opts: Map<String, Value> =
            serde_json::from_str(r#"{"subscriptions":true,"account":"A","limit":5}"#).unwrap();
        let q = query(&opts, &[]);
        assert_eq!(q.get("subs"), "1");
        assert_eq!(q.get("acc"), "A");
        assert_eq!(q.get("limit"), "5");
    }

    #[test]
    fn request_info_header_is_read() {
        let h = b"NATS/1.0\r\nNats-Request-Info: {\"acc\":\"A\",\"user\":\"a\"}\r\n\r\n";
        let v = request_info(h).unwrap();
        assert_eq!(v["acc"], "A");
        assert_eq!(v["user"], "a");
    }
}
