//! HTTP monitoring: nats-server's read-only JSON endpoints on `http_port`,
//! plus a Prometheus `/metrics`.
//!
//! Owns the transport shared by every endpoint, as nats-server 2.10 does it:
//! the listener (`-m`, `http_port`, `monitor_port`, `http: host:port`), the
//! `http_base_path` prefix, dispatch of paths (anything else is Go's
//! `404 page not found`), the response headers (`Content-Type:
//! application/json` and `Access-Control-Allow-Origin: *`, or
//! `application/javascript` for a JSONP `?callback=fn`), the plain-text
//! `400` for bad query values with Go's `strconv` wording, the `/` index
//! page and the `http_req_stats` counters. Each endpoint family lives in its
//! own file and only builds its document.
//!
//! **Must never:** change server state (monitoring is read-only, as
//! nats-server#3813 insists), or block the data path. Handlers take
//! snapshots — `Arc` clones and atomic loads, each lock held only to copy
//! — and sort, page and serialise afterwards, off the async workers
//! (`spawn_blocking`), so that a `/connz` over 64k connections never delays
//! a connection's task.
//!
//! **Differs from nats-server:** JSON is serde's (no `\u003c` escaping of
//! `<`, `>` and `&` as Go's encoder does); HTTPS monitoring (`https_port`,
//! `-ms`) is refused with an error until TLS exists (see
//! [`start_configured`]).

/// Also what the system account's `$SYS.REQ.ACCOUNT.*` services will answer.
pub(crate) mod accountz;
mod connz;
mod format;
mod healthz;
mod metrics;
mod procstat;
mod routez;
mod stubs;
mod subsz;
pub mod system;
mod tls;
mod varz;

use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::Response;
use axum::Router;
use parking_lot::Mutex;
use serde::Serialize;
use tokio::net::{TcpListener, ToSocketAddrs};
use tokio::task::JoinHandle;

use crate::config::go;
use crate::log;
use crate::server::Server;

pub use connz::SORT_KEYS;
pub use routez::RouteSnapshot;

/// nats-server's default page size for `/connz` and `/subsz`.
pub const DEFAULT_LIST_SIZE: usize = 1024;

/// Starts the monitoring endpoints the options ask for, logging
/// `Starting http monitor on <host>:<port>` as nats-server does. `None` when
/// neither `http_port` nor `https_port` is set.
///
/// `https_port` is the hook for HTTPS monitoring: nats-server serves the same
/// router over the client TLS configuration; until this server has TLS it is
/// an error rather than a silently missing listener.
pub async fn start_configured(
    server: &Arc<Server>,
) -> io::Result<Option<(SocketAddr, JoinHandle<()>)>> {
    let opts = server.options();
    if opts.http_port != 0 && opts.https_port != 0 {
        return Err(io::Error::other(format!(
            "can't specify both HTTP ({}) and HTTPs ({}) ports",
            opts.http_port, opts.https_port
        )));
    }
    let https = opts.https_port != 0;
    let tls = match (&opts.tls, https) {
        (None, true) => return Err(io::Error::other("TLS cert and key required for HTTPS")),
        (Some(t), true) => Some(crate::tls::server_config(t).map_err(io::Error::other)?),
        _ => None,
    };
    let port = if https {
        opts.https_port
    } else {
        opts.http_port
    };
    if port == 0 {
        return Ok(None);
    }
    let host = opts.monitor_host().to_string();
    let port = u16::try_from(port).unwrap_or(0);
    let hp = format::join_host_port(&host, port);
    let (addr, task) = start_with(server.clone(), (host.as_str(), port), tls)
        .await
        .map_err(|e| {
            io::Error::new(
                e.kind(),
                format!(
                    "can't listen to the monitor port: listen tcp {hp}: bind: {}",
                    go::errno_text(&e)
                ),
            )
        })?;
    log::notice!(
        "Starting {} monitor on {}",
        if https { "https" } else { "http" },
        format::join_host_port(&host, addr.port())
    );
    Ok(Some((addr, task)))
}

/// Serves the monitoring endpoints on `addr` until the server shuts down.
/// Returns the bound address and the serving task.
pub async fn start(
    server: Arc<Server>,
    addr: impl ToSocketAddrs,
) -> io::Result<(SocketAddr, JoinHandle<()>)> {
    start_with(server, addr, None).await
}

/// [`start`], over TLS when `tls` is given (`https_port`).
pub async fn start_with(
    server: Arc<Server>,
    addr: impl ToSocketAddrs,
    tls: Option<Arc<rustls::ServerConfig>>,
) -> io::Result<(SocketAddr, JoinHandle<()>)> {
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    let stopped = server.stopped();
    let monitor = Arc::new(Monitor::new(server));
    let app = Router::new().fallback(dispatch).with_state(monitor);
    let task = match tls {
        None => tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(stopped);
            if let Err(e) = serve.await {
                log::error!("Error serving http monitor: {e}");
            }
        }),
        Some(config) => {
            let listener = tls::TlsListener::new(listener, config);
            tokio::spawn(async move {
                let serve = axum::serve(listener, app).with_graceful_shutdown(stopped);
                if let Err(e) = serve.await {
                    log::error!("Error serving https monitor: {e}");
                }
            })
        }
    };
    Ok((local, task))
}

/// What every handler shares.
pub(crate) struct Monitor {
    server: Arc<Server>,
    /// `http_base_path`, normalised: `/` or `/a/b` (no trailing slash).
    base: String,
    /// `/varz` `http_req_stats`: requests per endpoint path (without the
    /// base path).
    requests: Mutex<BTreeMap<&'static str, u64>>,
    cpu: procstat::CpuMeter,
}

impl Monitor {
    fn new(server: Arc<Server>) -> Self {
        let base = server.options().http_base_path.clone();
        let base = match base.trim_end_matches('/') {
            "" => "/".to_string(),
            b if b.starts_with('/') => b.to_string(),
            b => format!("/{b}"),
        };
        Self {
            server,
            base,
            requests: Mutex::new(BTreeMap::new()),
            cpu: procstat::CpuMeter::default(),
        }
    }

    /// Counts one request to `path` (nats-server's `httpReqStats`).
    fn count(&self, path: &'static str) {
        *self.requests.lock().entry(path).or_insert(0) += 1;
    }

    fn request_stats(&self) -> BTreeMap<String, u64> {
        let requests = self.requests.lock();
        requests.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    }

    /// `p` under the base path (Go's `path.Join(base, p)`).
    fn path(&self, p: &str) -> String {
        if self.base == "/" {
            p.to_string()
        } else if p == "/" {
            self.base.clone()
        } else {
            format!("{}{p}", self.base)
        }
    }

    fn endpoint(&self, path: &str) -> Option<Endpoint> {
        let rest = if self.base == "/" {
            path
        } else {
            match path.strip_prefix(self.base.as_str())? {
                "" => "/",
                rest if rest.starts_with('/') && rest != "/" => rest,
                _ => return None,
            }
        };
        Some(match rest {
            "/" => Endpoint::Root,
            "/varz" => Endpoint::Varz,
            "/connz" => Endpoint::Connz,
            "/routez" => Endpoint::Routez,
            "/subsz" | "/subscriptionsz" => Endpoint::Subsz,
            "/healthz" => Endpoint::Healthz,
            "/accountz" => Endpoint::Accountz,
            "/accstatz" => Endpoint::Accstatz,
            "/gatewayz" => Endpoint::Gatewayz,
            "/leafz" => Endpoint::Leafz,
            "/jsz" => Endpoint::Jsz,
            "/metrics" => Endpoint::Metrics,
            _ => return None,
        })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Endpoint {
    Root,
    Varz,
    Connz,
    Routez,
    Subsz,
    Healthz,
    Accountz,
    Accstatz,
    Gatewayz,
    Leafz,
    Jsz,
    Metrics,
}

async fn dispatch(
    State(m): State<Arc<Monitor>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let Some(endpoint) = m.endpoint(uri.path()) else {
        return not_found();
    };
    let query = Query::parse(uri.query());
    let built = tokio::task::spawn_blocking(move || match endpoint {
        Endpoint::Root => root(&m),
        Endpoint::Varz => varz::handle(&m, &query),
        Endpoint::Connz => connz::handle(&m, &query),
        Endpoint::Routez => routez::handle(&m, &query),
        Endpoint::Subsz => subsz::handle(&m, &query),
        Endpoint::Healthz => healthz::handle(&m, &query),
        Endpoint::Accountz => accountz::handle_accountz(&m, &query),
        Endpoint::Accstatz => accountz::handle_accstatz(&m, &query),
        Endpoint::Gatewayz => stubs::gatewayz(&m, &query),
        Endpoint::Leafz => stubs::leafz(&m, &query),
        Endpoint::Jsz => stubs::jsz(&m, &query),
        Endpoint::Metrics => metrics::handle(&m, &query, &headers),
    })
    .await;
    let mut response =
        built.unwrap_or_else(|_| text(StatusCode::INTERNAL_SERVER_ERROR, "internal error".into()));
    if method == Method::HEAD {
        *response.body_mut() = Body::empty();
    }
    response
}

/// The query string as Go's `r.URL.Query()` sees it: `Get` returns the first
/// value of a key, or `""`.
pub(crate) struct Query(Vec<(String, String)>);

/// A rejected request: HTTP 400 with a plain-text body.
pub(crate) struct BadRequest(pub String);

impl Query {
    fn parse(raw: Option<&str>) -> Query {
        let raw = raw.unwrap_or("");
        Query(
            form_urlencoded::parse(raw.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    pub(crate) fn get(&self, key: &str) -> &str {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map_or("", |(_, v)| v.as_str())
    }

    /// Go's `decodeBool`: `strconv.ParseBool`, false when absent.
    pub(crate) fn bool(&self, key: &str) -> Result<bool, BadRequest> {
        match self.get(key) {
            "" => Ok(false),
            "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
            "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
            v => Err(BadRequest(format!(
                "Error decoding boolean for '{key}': strconv.ParseBool: parsing {}: invalid syntax",
                format::go_quote(v)
            ))),
        }
    }

    /// Go's `decodeInt`: `strconv.Atoi`, 0 when absent.
    pub(crate) fn int(&self, key: &str) -> Result<i64, BadRequest> {
        let v = self.get(key);
        if v.is_empty() {
            return Ok(0);
        }
        let digits = v.strip_prefix(['+', '-']).unwrap_or(v);
        let err = |what: &str| {
            BadRequest(format!(
                "Error decoding int for '{key}': strconv.Atoi: parsing {}: {what}",
                format::go_quote(v)
            ))
        };
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(err("invalid syntax"));
        }
        v.parse::<i64>().map_err(|_| err("value out of range"))
    }

    /// Go's `decodeUint64`: `strconv.ParseUint(s, 10, 64)`, 0 when absent.
    pub(crate) fn uint64(&self, key: &str) -> Result<u64, BadRequest> {
        let v = self.get(key);
        if v.is_empty() {
            return Ok(0);
        }
        let err = |what: &str| {
            BadRequest(format!(
                "Error decoding uint64 for '{key}': strconv.ParseUint: parsing {}: {what}",
                format::go_quote(v)
            ))
        };
        if !v.bytes().all(|b| b.is_ascii_digit()) {
            return Err(err("invalid syntax"));
        }
        v.parse::<u64>().map_err(|_| err("value out of range"))
    }

    /// Go's `decodeSubs`: `detail` → (false, true), else a boolean.
    pub(crate) fn subs(&self) -> Result<(bool, bool), BadRequest> {
        if self.get("subs").eq_ignore_ascii_case("detail") {
            return Ok((false, true));
        }
        Ok((self.bool("subs")?, false))
    }
}

/// `offset`/`limit` as nats-server sanitises them: a negative offset is 0, a
/// limit of 0 or less is the default.
pub(crate) fn page_bounds(offset: i64, limit: i64) -> (usize, usize) {
    let offset = usize::try_from(offset.max(0)).unwrap_or(usize::MAX);
    let limit = if limit <= 0 {
        DEFAULT_LIST_SIZE
    } else {
        usize::try_from(limit).unwrap_or(usize::MAX)
    };
    (offset, limit)
}

/// The slice `[offset, offset + limit)` of `len` items, clamped.
pub(crate) fn page_range(len: usize, offset: usize, limit: usize) -> std::ops::Range<usize> {
    let start = offset.min(len);
    let end = offset.saturating_add(limit).min(len);
    start..end
}

/// nats-server's `MarshalIndent(v, "", "  ")`.
pub(crate) fn pretty<T: Serialize>(v: &T) -> Vec<u8> {
    serde_json::to_vec_pretty(v).expect("monitoring documents serialise")
}

/// nats-server's `handleResponse`: JSON (with CORS), or JSONP when the query
/// has a `callback`.
pub(crate) fn respond(q: &Query, code: StatusCode, data: Vec<u8>) -> Response {
    let callback = q.get("callback");
    let mut builder = Response::builder().status(code);
    let body = if callback.is_empty() {
        builder = builder
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::ACCESS_CONTROL_ALLOW_ORIGIN, "*");
        data
    } else {
        builder = builder.header(header::CONTENT_TYPE, "application/javascript");
        let mut body = Vec::with_capacity(callback.len() + data.len() + 2);
        body.extend_from_slice(callback.as_bytes());
        body.push(b'(');
        body.extend_from_slice(&data);
        body.push(b')');
        body
    };
    builder
        .body(Body::from(body))
        .unwrap_or_else(|_| text(StatusCode::BAD_REQUEST, "invalid callback".into()))
}

/// A `200` JSON document, or the `400` it was rejected with.
pub(crate) fn json_or_400<T: Serialize>(q: &Query, doc: Result<T, BadRequest>) -> Response {
    match doc {
        Ok(doc) => respond(q, StatusCode::OK, pretty(&doc)),
        Err(BadRequest(msg)) => text(StatusCode::BAD_REQUEST, msg),
    }
}

/// A plain-text response, as Go's `w.Write` of an error string.
pub(crate) fn text(code: StatusCode, body: String) -> Response {
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = code;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

/// Go's `http.NotFound`.
fn not_found() -> Response {
    let mut r = text(StatusCode::NOT_FOUND, "404 page not found\n".into());
    r.headers_mut().insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    r
}

/// The `/` index: version and links to every endpoint (nats-server's
/// `HandleRoot`, with plainer styling). Links are `.` + the full path, as in
/// Go, so that they resolve under a base path.
fn root(m: &Monitor) -> Response {
    m.count("/");
    let links = [
        ("/varz", "General"),
        ("/jsz", "JetStream"),
        ("/connz", "Connections"),
        ("/accountz", "Accounts"),
        ("/accstatz", "Account Stats"),
        ("/subsz", "Subscriptions"),
        ("/routez", "Routes"),
        ("/leafz", "LeafNodes"),
        ("/gatewayz", "Gateways"),
        ("/healthz", "Health Probe"),
        ("/metrics", "Prometheus Metrics"),
    ];
    let mut html = String::from(
        "<html lang=\"en\">\n<head>\n<title>NATS Server</title>\n<style type=\"text/css\">\n\
         body { font-family: ui-sans-serif, system-ui, sans-serif; margin-left: 32px }\n\
         a { display: block; margin-left: 7px; padding-bottom: 6px; color: rgb(72 72 92); text-decoration: none }\n\
         a:hover { font-weight: 600; color: rgb(59 50 202) }\n\
         a.help { display: inline; font-weight: 600; color: rgb(59 50 202) }\n\
         </style>\n</head>\n<body>\n<h1>NATS</h1>\n",
    );
    html.push_str(&format!(
        "<a href=https://github.com/nats-io/nats-server class='version'>v{}</a>\n<br/>\n",
        crate::config::VERSION
    ));
    for (path, label) in links {
        html.push_str(&format!("<a href=.{}>{label}</a>\n", m.path(path)));
    }
    html.push_str(
        "<a href=https://docs.nats.io/running-a-nats-service/nats_admin/monitoring class=\"help\">Help</a>\n</body>\n</html>\n",
    );
    let mut r = Response::new(Body::from(html));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_integer_and_bool_parsing() {
        let q = Query::parse(Some(
            "a=1&b=x&c=-3&d=%2B4&e=99999999999999999999&f=True&g=-1",
        ));
        assert_eq!(q.get("a"), "1");
        assert_eq!(q.get("missing"), "");
        assert_eq!(q.int("c").ok(), Some(-3));
        assert_eq!(q.int("d").ok(), Some(4));
        assert_eq!(
            q.int("b").err().map(|e| e.0).as_deref(),
            Some("Error decoding int for 'b': strconv.Atoi: parsing \"x\": invalid syntax")
        );
        assert_eq!(
            q.int("e").err().map(|e| e.0).as_deref(),
            Some("Error decoding int for 'e': strconv.Atoi: parsing \"99999999999999999999\": value out of range")
        );
        assert_eq!(q.bool("f").ok(), Some(true));
        assert_eq!(q.bool("a").ok(), Some(true));
        assert!(q.bool("b").is_err());
        assert!(q.uint64("g").is_err(), "ParseUint takes no sign");
        assert_eq!(q.uint64("a").ok(), Some(1));
    }

    #[test]
    fn first_value_wins_and_plus_is_space() {
        let q = Query::parse(Some("k=1&k=2&s=a+b"));
        assert_eq!(q.get("k"), "1");
        assert_eq!(q.get("s"), "a b");
    }

    #[test]
    fn paging_is_clamped() {
        assert_eq!(page_bounds(-5, 0), (0, DEFAULT_LIST_SIZE));
        assert_eq!(page_bounds(3, -1), (3, DEFAULT_LIST_SIZE));
        assert_eq!(page_range(10, 8, 5), 8..10);
        assert_eq!(page_range(10, 20, 5), 10..10);
        assert_eq!(page_range(10, 2, usize::MAX), 2..10);
    }
}
