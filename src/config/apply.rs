//! Applies a parsed file to [`Options`]: the top-level keys of
//! nats-server's `processConfigFileLine`, with its aliases, its type rules
//! (a wrong type is reported as Go's `interface conversion: interface {} is
//! string, not int64`) and its error and warning texts.
//!
//! Owns key dispatch and the shared value helpers used by `auth.rs`,
//! `cluster.rs` and `tls.rs`. It never reads files (the tree is given) and
//! never checks cross-field rules (that is `validate.rs`, run at startup).
//!
//! Deliberate differences from nats-server, each with its own message:
//! * keys of features this server does not implement (leaf
//!   nodes, gateways, websocket, MQTT, operators/resolvers, OCSP…, and a
//!   `jetstream` that enables JetStream: see `jetstream.rs`) are errors
//!   (`field "gateway" is not supported by this server (core NATS only)`)
//!   instead of being silently honoured;
//! * numbers that do not fit the field (a negative size, a port above
//!   65535) are errors (`port value 70000 is out of range`) where Go would
//!   wrap or fail later;
//! * negative durations are errors.

use std::path::PathBuf;
use std::time::Duration;

use super::error::{Diag, DiagKind};
use super::go;
use super::options::Options;
use super::value::{Kind, Map, Value};

pub(super) type R<T> = Result<T, Diag>;

/// Errors and warnings collected while applying a file.
#[derive(Debug, Default)]
pub(super) struct Report {
    pub errors: Vec<Diag>,
    pub warnings: Vec<Diag>,
}

/// Top-level keys of nats-server that this server refuses (see module doc).
const UNSUPPORTED: &[&str] = &[
    "default_sentinel",
    "gateway",
    "leaf",
    "leafnodes",
    "proxy_protocol",
    "ocsp",
    "ocsp_cache",
    "operator",
    "operators",
    "roots",
    "root",
    "root_operators",
    "root_operator",
    "resolver",
    "account_resolver",
    "accounts_resolver",
    "resolver_tls",
    "resolver_preload",
    "resolver_pinned_accounts",
    "trusted",
    "trusted_keys",
    "websocket",
    "ws",
    "mqtt",
    "default_js_domain",
    "proxies",
    "write_timeout",
];

/// Top-level keys accepted and ignored: they have no effect on core NATS.
const IGNORED: &[&str] = &[
    "prof_block_rate",
    "server_tags",
    "server_metadata",
    "feature_flags",
    "no_fast_producer_stall",
];

/// Applies every top-level entry of `root` to `o`.
pub(super) fn apply_file(o: &mut Options, root: &Map, file: &str, report: &mut Report) {
    if root.is_empty() {
        report.warnings.push(Diag {
            pos: None,
            kind: DiagKind::Invalid(format!("{file}: config has no values or is empty")),
        });
    }
    for e in root.iter() {
        if let Err(d) = apply_key(o, &e.key, &e.lower, &e.value, e.used_as_variable, report) {
            report.errors.push(d);
        }
    }
    // Accounts last: they are checked against `authorization`, `no_sys_acc`.
    for e in root.iter().filter(|e| e.lower == "accounts") {
        super::accounts::apply::apply_accounts(o, &e.value, report);
    }
}

fn apply_key(
    o: &mut Options,
    key: &str,
    k: &str,
    v: &Value,
    used_var: bool,
    rep: &mut Report,
) -> R<()> {
    match k {
        "listen" => {
            let (host, port) = parse_listen(v)?;
            if let Some(h) = host {
                o.host = h;
            }
            o.port = port;
        }
        "client_advertise" => o.client_advertise = str_of(v)?.to_string(),
        "port" => o.port = port_of(key, v)?,
        "server_name" => {
            let sn = str_of(v)?;
            if sn.contains(' ') {
                return Err(Diag::invalid(&v.pos, "server name cannot contain spaces"));
            }
            o.server_name = sn.to_string();
        }
        "host" | "net" => o.host = str_of(v)?.to_string(),
        "debug" => o.debug = bool_of(v)?,
        "trace" => o.trace = bool_of(v)?,
        "trace_verbose" => {
            o.trace_verbose = bool_of(v)?;
            o.trace = o.trace_verbose;
        }
        "trace_headers" => o.trace = bool_of(v)?,
        "logtime" => o.logtime = bool_of(v)?,
        "logtime_utc" => o.logtime_utc = bool_of(v)?,
        "disable_sublist_cache" | "no_sublist_cache" => o.disable_sublist_cache = bool_of(v)?,
        "authorization" => super::auth::apply_authorization(o, v, rep)?,
        "no_auth_user" => o.no_auth_user = str_of(v)?.to_string(),
        // Applied after every other key (see `apply_file`).
        "accounts" => {}
        "system_account" | "system" => {
            let Some(name) = v.as_str() else {
                return Err(Diag::invalid(
                    &v.pos,
                    "system account name must be a string",
                ));
            };
            o.system_account = Some(name.to_string());
        }
        "no_system_account" | "no_system" | "no_sys_acc" => o.no_sys_acc = bool_of(v)?,
        "mappings" | "maps" => {
            let m = super::accounts::mappings::parse_mappings(v, rep)?;
            o.mappings.extend(m);
        }
        "http" => {
            let (host, port) = parse_listen(v)?;
            o.http_host = host.filter(|h| !h.is_empty());
            o.http_port = port;
        }
        "https" => {
            let (host, port) = parse_listen(v)?;
            o.http_host = host.filter(|h| !h.is_empty());
            o.https_port = port;
        }
        "http_port" | "monitor_port" => o.http_port = port_of(key, v)?,
        "https_port" => o.https_port = port_of(key, v)?,
        "http_base_path" => o.http_base_path = normalize_base_path(str_of(v)?),
        "cluster" => super::cluster::apply_cluster(o, v, rep)?,
        "logfile" | "log_file" => o.log_file = Some(PathBuf::from(str_of(v)?)),
        "logfile_size_limit" | "log_size_limit" => o.log_size_limit = num(key, v)?,
        "logfile_max_num" | "log_max_num" => o.log_max_files = num(key, v)?,
        "syslog" => o.syslog = bool_of(v)?,
        "remote_syslog" => o.remote_syslog = str_of(v)?.to_string(),
        "pidfile" | "pid_file" => o.pid_file = Some(PathBuf::from(str_of(v)?)),
        "ports_file_dir" => o.ports_file_dir = Some(PathBuf::from(str_of(v)?)),
        "prof_port" => o.prof_port = port_of(key, v)?,
        "max_control_line" => o.max_control_line = size_i32(key, v)?,
        "max_payload" => o.max_payload = size_i32(key, v)?,
        "max_pending" => o.max_pending = num(key, v)?,
        "max_connections" | "max_conn" => {
            // 0 (or less) in the file means: accept no client at all.
            o.max_connections = usize::try_from(int_of(v)?).unwrap_or(0);
        }
        "max_traced_msg_len" => o.max_traced_msg_len = num(key, v)?,
        "max_subscriptions" | "max_subs" => o.max_subscriptions = num(key, v)?,
        "max_sub_tokens" | "max_subscription_tokens" => {
            let n = int_of(v)?;
            if n > i64::from(u8::MAX) {
                return Err(Diag::invalid(&v.pos, format!("{key} value is too big")));
            }
            if n <= 0 {
                return Err(Diag::invalid(
                    &v.pos,
                    format!("{key} value can not be negative"),
                ));
            }
            o.max_sub_tokens = n as u8;
        }
        "ping_interval" => o.ping_interval = duration("ping_interval", v, rep)?,
        "ping_max" => o.ping_max = num(key, v)?,
        "tls" => o.tls = Some(super::tls::parse_tls(v, true)?),
        "store_dir" | "storedir" => super::jetstream::apply_store_dir(o, v)?,
        "jetstream" => super::jetstream::apply_jetstream(o, key, v, rep)?,
        "allow_non_tls" => o.allow_non_tls = bool_of(v)?,
        "write_deadline" => o.write_deadline = duration("write_deadline", v, rep)?,
        "lame_duck_duration" => {
            let d = str_duration("lame_duck_duration", v)?;
            if d < Duration::from_secs(30) {
                return Err(Diag::invalid(
                    &v.pos,
                    format!(
                        "invalid lame_duck_duration of {}, minimum is 30 seconds",
                        go::format_duration(d)
                    ),
                ));
            }
            o.lame_duck_duration = d;
        }
        "lame_duck_grace_period" => {
            o.lame_duck_grace_period = str_duration("lame_duck_grace_period", v)?;
        }
        "connect_error_reports" => o.connect_error_reports = num(key, v)?,
        "reconnect_error_reports" => o.reconnect_error_reports = num(key, v)?,
        "no_header_support" => o.no_header_support = bool_of(v)?,
        "max_closed_clients" => o.max_closed_clients = num(key, v)?,
        k if IGNORED.contains(&k) => {}
        k if UNSUPPORTED.contains(&k) => {
            return Err(Diag {
                pos: Some(v.pos.clone()),
                kind: DiagKind::Unsupported(key.to_string()),
            })
        }
        _ if used_var => {}
        _ => return Err(Diag::unknown(&v.pos, key)),
    }
    Ok(())
}

/// `listen`-style values: a port, or `host:port`.
pub(super) fn parse_listen(v: &Value) -> R<(Option<String>, i32)> {
    match &v.kind {
        Kind::Integer(_) => Ok((None, port_of("port", v)?)),
        Kind::String(s) => {
            let (host, port) = go::split_host_port(s).map_err(|_| {
                Diag::invalid(&v.pos, format!("could not parse address string {s:?}"))
            })?;
            let p = go::atoi(&port)
                .ok_or_else(|| Diag::invalid(&v.pos, format!("could not parse port {port:?}")))?;
            let p = i32::try_from(p)
                .ok()
                .filter(|p| (-1..=65535).contains(p))
                .ok_or_else(|| out_of_range("port", p, &v.pos))?;
            Ok((Some(host), p))
        }
        _ => Err(Diag::invalid(
            &v.pos,
            format!("expected port or host:port, got {}", v.go_type()),
        )),
    }
}

/// nats-server's `normalizeBasePath`: leading slash, `path.Clean`.
pub(super) fn normalize_base_path(p: &str) -> String {
    if p.is_empty() {
        return "/".to_string();
    }
    let with_slash = if p.starts_with('/') {
        p.to_string()
    } else {
        format!("/{p}")
    };
    go::clean_path(&with_slash)
}

// ---- value helpers shared by the block parsers ----

pub(super) fn type_err(v: &Value, want: &str) -> Diag {
    Diag::invalid(
        &v.pos,
        format!(
            "interface conversion: interface {{}} is {}, not {want}",
            v.go_type()
        ),
    )
}

pub(super) fn str_of(v: &Value) -> R<&str> {
    v.as_str().ok_or_else(|| type_err(v, "string"))
}

pub(super) fn int_of(v: &Value) -> R<i64> {
    v.as_i64().ok_or_else(|| type_err(v, "int64"))
}

pub(super) fn bool_of(v: &Value) -> R<bool> {
    v.as_bool().ok_or_else(|| type_err(v, "bool"))
}

pub(super) fn map_of(v: &Value) -> R<&Map> {
    v.as_map()
        .ok_or_else(|| type_err(v, "map[string]interface {}"))
}

pub(super) fn array_of(v: &Value) -> R<&[Value]> {
    v.as_array().ok_or_else(|| type_err(v, "[]interface {}"))
}

fn out_of_range(key: &str, n: i64, pos: &super::value::Pos) -> Diag {
    Diag::invalid(pos, format!("{key} value {n} is out of range"))
}

/// An integer converted to the field's type, or an out-of-range error.
pub(super) fn num<T: TryFrom<i64>>(key: &str, v: &Value) -> R<T> {
    let n = int_of(v)?;
    T::try_from(n).map_err(|_| out_of_range(key, n, &v.pos))
}

/// A port: -1 (random) to 65535.
pub(super) fn port_of(key: &str, v: &Value) -> R<i32> {
    let n = int_of(v)?;
    if (-1..=65535).contains(&n) {
        Ok(n as i32)
    } else {
        Err(out_of_range(key, n, &v.pos))
    }
}

/// `max_payload`/`max_control_line`: at most 2^31-1 (`… value is too big`).
fn size_i32(key: &str, v: &Value) -> R<u32> {
    let n = int_of(v)?;
    if n > i64::from(i32::MAX) {
        return Err(Diag::invalid(&v.pos, format!("{key} value is too big")));
    }
    u32::try_from(n).map_err(|_| out_of_range(key, n, &v.pos))
}

/// nats-server's `parseDuration`: a Go duration string, or (with a
/// warning) an integer number of seconds.
pub(super) fn duration(field: &str, v: &Value, rep: &mut Report) -> R<Duration> {
    match &v.kind {
        Kind::String(s) => parse_dur(field, s, v),
        Kind::Integer(n) => {
            rep.warnings.push(Diag::warning(
                &v.pos,
                field,
                format!("{field} should be converted to a duration"),
            ));
            u64::try_from(*n)
                .map(Duration::from_secs)
                .map_err(|_| out_of_range(field, *n, &v.pos))
        }
        _ => Err(type_err(v, "int64")),
    }
}

/// A duration that must be a string (`lame_duck_*`).
fn str_duration(field: &str, v: &Value) -> R<Duration> {
    parse_dur(field, str_of(v)?, v)
}

fn parse_dur(field: &str, s: &str, v: &Value) -> R<Duration> {
    match go::parse_duration_signed(s) {
        Ok((true, d)) if !d.is_zero() => Err(Diag::invalid(
            &v.pos,
            format!("error parsing {field}: negative duration {s:?} is not supported"),
        )),
        Ok((_, d)) => Ok(d),
        Err(e) => Err(Diag::invalid(&v.pos, format!("error parsing {field}: {e}"))),
    }
}

/// Seconds given as an integer, a float or a duration string
/// (authorization and TLS `timeout`). `what` names the block in messages.
pub(super) fn timeout_secs(what: &str, v: &Value) -> R<Duration> {
    let secs = match &v.kind {
        Kind::Integer(n) => *n as f64,
        Kind::Float(f) => *f,
        Kind::String(s) => go::parse_duration(s)
            .map_err(|e| {
                Diag::invalid(
                    &v.pos,
                    format!("error parsing {what} config, 'timeout' {e}"),
                )
            })?
            .as_secs_f64(),
        _ => {
            return Err(Diag::invalid(
                &v.pos,
                format!("error parsing {what} config, 'timeout' wrong type"),
            ))
        }
    };
    Duration::try_from_secs_f64(secs.max(0.0)).map_err(|_| {
        Diag::invalid(
            &v.pos,
            format!("error parsing {what} config, 'timeout' out of range"),
        )
    })
}

/// `%v` of a value, as Go prints it in messages.
pub(super) fn go_v(v: &Value) -> String {
    match &v.kind {
        Kind::String(s) => s.clone(),
        Kind::Integer(n) => n.to_string(),
        Kind::Float(f) => go::format_float(*f),
        Kind::Bool(b) => b.to_string(),
        Kind::Datetime(d) => d.to_string(),
        Kind::Array(_) => "[...]".to_string(),
        Kind::Map(_) => "map[...]".to_string(),
    }
}
