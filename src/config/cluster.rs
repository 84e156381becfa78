//! The `cluster` block (nats-server `parseCluster`): listen address, route
//! authorization, routes, advertise, permissions, TLS and the 2.10+ keys
//! (`pool_size`, `accounts`, `compression`, per-route ping/write settings).
//!
//! Owns the block's keys and texts. It never opens a route. Deliberate
//! difference: `write_timeout` (2.11+) is refused as not supported.

use std::time::Duration;

use super::apply::{
    array_of, bool_of, duration, num, parse_listen, port_of, str_of, type_err, Report, R,
};
use super::auth::{check_subjects, parse_authorization, parse_permissions};
use super::error::{Diag, DiagKind};
use super::options::{Options, Permissions, RoutePermissions, SubjectPermission};
use super::url::RouteUrl;
use super::value::{Kind, Value};

/// Route ping interval cap (nats-server `routeMaxPingInterval`).
pub const ROUTE_MAX_PING_INTERVAL: Duration = Duration::from_secs(30);

/// Compression modes accepted for routes.
pub const COMPRESSION_MODES: &[&str] = &[
    "off",
    "accept",
    "s2_auto",
    "s2_uncompressed",
    "s2_fast",
    "s2_better",
    "s2_best",
    "on",
];

pub(super) fn apply_cluster(o: &mut Options, v: &Value, rep: &mut Report) -> R<()> {
    let Some(m) = v.as_map() else {
        return Err(Diag::invalid(
            &v.pos,
            format!("Expected map to define cluster, got {}", v.go_type()),
        ));
    };
    for e in m.iter() {
        let mv = &e.value;
        let c = &mut o.cluster;
        let r: R<()> = (|| {
            match e.lower.as_str() {
                "name" => {
                    let n = str_of(mv)?;
                    if n.contains(' ') {
                        return Err(Diag::invalid(&mv.pos, "cluster name cannot contain spaces"));
                    }
                    c.name = n.to_string();
                }
                "listen" => {
                    let (host, port) = parse_listen(mv)?;
                    c.host = host.unwrap_or_default();
                    c.port = port;
                }
                "port" => c.port = port_of("port", mv)?,
                "host" | "net" => c.host = str_of(mv)?.to_string(),
                "authorization" => {
                    let auth = parse_authorization(mv, rep)?;
                    if auth.users.is_some() {
                        return Err(Diag::invalid(
                            &mv.pos,
                            "Cluster authorization does not allow multiple users",
                        ));
                    }
                    if auth.token.as_deref().is_some_and(|t| !t.is_empty()) {
                        return Err(Diag::invalid(
                            &mv.pos,
                            "Cluster authorization does not support tokens",
                        ));
                    }
                    c.username = auth.user.unwrap_or_default();
                    c.password = auth.password.unwrap_or_default();
                    c.auth_timeout = auth.timeout;
                    if let Some(p) = auth.default_permissions {
                        check_route_permissions(&p).map_err(|e| Diag::invalid(&mv.pos, e))?;
                        rep.warnings.push(Diag::warning(
                            &mv.pos,
                            &e.key,
                            "setting \"permissions\" within cluster authorization block is deprecated",
                        ));
                        if c.permissions.is_none() {
                            c.permissions = Some(route_permissions(p));
                        }
                    }
                }
                "routes" => {
                    let list = array_of(mv)?;
                    let mut routes = Vec::new();
                    let mut errs = Vec::new();
                    for it in list {
                        let s = str_of(it)?;
                        if routes.iter().any(|r: &RouteUrl| r.raw == s.trim()) {
                            rep.warnings.push(Diag::warning(
                                &it.pos,
                                s,
                                "Duplicate route entry detected",
                            ));
                            continue;
                        }
                        match RouteUrl::parse(s) {
                            Ok(u) => routes.push(u),
                            Err(_) => errs.push(Diag::invalid(
                                &it.pos,
                                format!("error parsing route url [{:?}]", s.trim()),
                            )),
                        }
                    }
                    if let Some(last) = errs.pop() {
                        rep.errors.extend(errs);
                        return Err(last);
                    }
                    c.routes = routes;
                }
                "tls" => c.tls = Some(super::tls::parse_tls(mv, false)?),
                "cluster_advertise" | "advertise" => c.advertise = str_of(mv)?.to_string(),
                "no_advertise" => c.no_advertise = bool_of(mv)?,
                "connect_retries" => c.connect_retries = num("connect_retries", mv)?,
                "connect_backoff" => c.connect_backoff = bool_of(mv)?,
                "permissions" => {
                    let p = parse_permissions(mv, rep)?;
                    if p.allow_responses.is_some() {
                        return Err(Diag::invalid(
                            &mv.pos,
                            "Cluster permissions do not support dynamic responses",
                        ));
                    }
                    check_route_permissions(&p).map_err(|e| Diag::invalid(&mv.pos, e))?;
                    c.permissions = Some(route_permissions(p));
                }
                "pool_size" => {
                    let n = mv.as_i64().ok_or_else(|| type_err(mv, "int64"))?;
                    c.pool_size = i32::try_from(n).map_err(|_| {
                        Diag::invalid(&mv.pos, format!("pool_size value {n} is out of range"))
                    })?;
                }
                "accounts" => c.accounts = accounts(mv, rep)?,
                "compression" => c.compression = compression(&e.key, mv)?,
                "ping_interval" => {
                    let d = duration("ping_interval", mv, rep)?;
                    if d > ROUTE_MAX_PING_INTERVAL {
                        rep.warnings.push(Diag::invalid(
                            &mv.pos,
                            "Cluster 'ping_interval' will reset to 30s which is the max for routes",
                        ));
                    }
                    c.ping_interval = Some(d);
                }
                "ping_max" => c.ping_max = Some(num("ping_max", mv)?),
                "write_deadline" => c.write_deadline = Some(duration("write_deadline", mv, rep)?),
                "write_timeout" => {
                    return Err(Diag {
                        pos: Some(mv.pos.clone()),
                        kind: DiagKind::Unsupported(e.key.clone()),
                    })
                }
                _ if e.used_as_variable => {}
                _ => return Err(Diag::unknown(&mv.pos, &e.key)),
            }
            Ok(())
        })();
        if let Err(d) = r {
            rep.errors.push(d);
        }
    }
    Ok(())
}

/// Parsing stores import in `publish` and export in `subscribe`.
fn route_permissions(p: Permissions) -> RoutePermissions {
    RoutePermissions {
        import: p.publish,
        export: p.subscribe,
    }
}

/// nats-server's `checkClusterPermissionSubjects` (no queue forms).
fn check_route_permissions(p: &Permissions) -> Result<(), String> {
    let check = |sp: &Option<SubjectPermission>, name: &str| -> Result<(), String> {
        if let Some(sp) = sp {
            if let Some(a) = &sp.allow {
                check_subjects(a, false).map_err(|e| format!("cluster {name} allow: {e}"))?;
            }
            if let Some(d) = &sp.deny {
                check_subjects(d, false).map_err(|e| format!("cluster {name} deny: {e}"))?;
            }
        }
        Ok(())
    };
    check(&p.publish, "import")?;
    check(&p.subscribe, "export")
}

fn accounts(v: &Value, rep: &mut Report) -> R<Vec<String>> {
    match &v.kind {
        Kind::String(s) => Ok(vec![s.clone()]),
        Kind::Array(items) => {
            let mut out = Vec::new();
            for it in items {
                match it.as_str() {
                    Some(s) => out.push(s.to_string()),
                    None => rep.errors.push(Diag::invalid(
                        &it.pos,
                        format!(
                            "error parsing accounts: unsupported type in array {}",
                            it.go_type()
                        ),
                    )),
                }
            }
            Ok(out)
        }
        _ => Err(Diag::invalid(
            &v.pos,
            format!("error parsing accounts: unsupported type {}", v.go_type()),
        )),
    }
}

/// `compression: s2_fast` / `true` / `{mode: s2_auto, rtt_thresholds: [...]}`.
fn compression(key: &str, v: &Value) -> R<String> {
    let mode = match &v.kind {
        Kind::String(s) => s.clone(),
        Kind::Bool(true) => "s2_fast".to_string(),
        Kind::Bool(false) => "off".to_string(),
        Kind::Map(m) => {
            let mut mode = String::new();
            for e in m.iter() {
                match e.lower.as_str() {
                    "mode" => mode = str_of(&e.value)?.to_string(),
                    "rtt_thresholds" | "thresholds" | "rtts" | "rtt" => {
                        for t in array_of(&e.value)? {
                            super::go::parse_duration(str_of(t)?)
                                .map_err(|err| Diag::invalid(&e.value.pos, err))?;
                        }
                    }
                    _ if e.used_as_variable => {}
                    _ => {
                        return Err(Diag::invalid(
                            &e.value.pos,
                            format!("unknown field {:?}", e.key),
                        ))
                    }
                }
            }
            mode
        }
        _ => {
            return Err(Diag::invalid(
                &v.pos,
                format!(
                    "field {key:?} should be a boolean or a structure, got {}",
                    v.go_type()
                ),
            ))
        }
    };
    let lower = mode.to_lowercase();
    if !lower.is_empty() && !COMPRESSION_MODES.contains(&lower.as_str()) {
        return Err(Diag::invalid(
            &v.pos,
            format!("unknown compression mode {mode:?}"),
        ));
    }
    Ok(lower)
}
