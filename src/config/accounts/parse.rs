//! Parses `accounts {}` (map and short array forms), the blocks inside an
//! account (`users`, `default_permissions`, `limits`, `exports`, `imports`,
//! `mappings`, `nkey`) and `mappings {}` into the typed shapes of
//! [`super`], with nats-server's texts and positions (`parseAccounts`,
//! `parseExportStreamOrService`, `parseImportStreamOrService`,
//! `parseServiceLatency`, `parseAccountMappings`, `parseAccountMapDest`).
//!
//! Users and permissions are parsed by `auth.rs` (shared, not duplicated).
//! Checks that need every account (imports against exports, cycles, unknown
//! accounts) are `validate.rs`; checks that need a compiled subject
//! transform (destination functions) are not made here. It never builds
//! runtime state and never reads files.
//!
//! Deliberate differences: nats-server walks Go maps in random order, so
//! some of its errors come and go between runs (`prefix` + `to`, a single
//! user plus account users, which of two duplicate users is reported); here
//! keys are walked in file order and such conflicts are always reported.
//! `jetstream` and `msg_trace` inside an account are accepted and ignored
//! (only `jetstream: "<not enabled/disabled>"` is refused, as nats-server).

use std::time::Duration;

use super::{
    AccountConfig, AccountLimits, ExportConfig, ExportKind, ImportConfig, LatencyConfig,
    ResponseType, GLOBAL_ACCOUNT,
};
use crate::config::apply::{array_of, bool_of, go_v, int_of, str_of, type_err, Report, R};
use crate::config::auth::{parse_permissions, parse_users};
use crate::config::error::Diag;
use crate::config::go;
use crate::config::value::{Kind, Map, Pos, Value};

/// An account as parsed, with the positions later checks report at.
#[derive(Debug, Clone)]
pub(in crate::config) struct ParsedAccount {
    pub account: AccountConfig,
    /// Position of the account's `users` key (nats-server reports user
    /// conflicts there).
    pub users_pos: Option<Pos>,
}

/// Parses the value of the top-level `accounts` key. Errors of single
/// entries are pushed to `rep` and the entry is skipped.
pub(in crate::config) fn parse_accounts(v: &Value, rep: &mut Report) -> R<Vec<ParsedAccount>> {
    let mut out: Vec<ParsedAccount> = Vec::new();
    match &v.kind {
        Kind::Array(names) => {
            for n in names {
                let name = str_of(n)?;
                if name == GLOBAL_ACCOUNT {
                    rep.errors.push(reserved(&n.pos, name));
                    continue;
                }
                if out.iter().any(|a| a.account.name == name) {
                    rep.errors.push(Diag::invalid(
                        &n.pos,
                        format!("Duplicate Account Entry: {name}"),
                    ));
                    continue;
                }
                out.push(ParsedAccount {
                    account: AccountConfig {
                        name: name.to_string(),
                        ..AccountConfig::default()
                    },
                    users_pos: None,
                });
            }
        }
        Kind::Map(m) => {
            for e in m.iter() {
                if e.used_as_variable {
                    continue;
                }
                let Some(am) = e.value.as_map() else {
                    rep.errors.push(Diag::invalid(
                        &e.value.pos,
                        "Expected map entries for accounts",
                    ));
                    continue;
                };
                if e.key == GLOBAL_ACCOUNT {
                    rep.errors.push(reserved(&e.value.pos, &e.key));
                    continue;
                }
                out.push(parse_account(&e.key, am, rep));
            }
        }
        _ => return Err(type_err(v, "map[string]interface {}")),
    }
    Ok(out)
}

fn reserved(pos: &Pos, name: &str) -> Diag {
    Diag::invalid(pos, format!("{name:?} is a Reserved Account"))
}

fn parse_account(name: &str, m: &Map, rep: &mut Report) -> ParsedAccount {
    let mut acc = AccountConfig {
        name: name.to_string(),
        ..AccountConfig::default()
    };
    let mut users_pos = None;
    for e in m.iter() {
        let mv = &e.value;
        let r: R<()> = (|| {
            match e.lower.as_str() {
                "nkey" => {
                    let nk = mv.as_str().filter(|k| is_account_nkey(k));
                    let Some(nk) = nk else {
                        return Err(Diag::invalid(
                            &mv.pos,
                            format!("Not a valid public nkey for an account: {:?}", go_v(mv)),
                        ));
                    };
                    acc.nkey = nk.to_string();
                }
                "imports" => acc.imports = parse_imports(mv, rep)?,
                "exports" => acc.exports = parse_exports(mv, rep)?,
                "jetstream" => check_jetstream(mv)?,
                "users" => {
                    users_pos = Some(mv.pos.clone());
                    acc.users = parse_users(mv, rep)?;
                }
                "default_permissions" => {
                    acc.default_permissions = Some(parse_permissions(mv, rep)?)
                }
                "mappings" | "maps" => acc
                    .mappings
                    .extend(super::mappings::parse_mappings(mv, rep)?),
                "limits" => acc.limits = parse_limits(mv, rep)?,
                "msg_trace" | "trace_dest" => {}
                _ if e.used_as_variable => {}
                _ => return Err(Diag::unknown(&mv.pos, &e.key)),
            }
            Ok(())
        })();
        if let Err(d) = r {
            rep.errors.push(d);
        }
    }
    if let Some(def) = &acc.default_permissions {
        for u in acc.users.iter_mut().filter(|u| u.permissions.is_none()) {
            u.permissions = Some(def.clone());
        }
    }
    ParsedAccount {
        account: acc,
        users_pos,
    }
}

/// An account public nkey: `A` followed by the rest of a valid encoded key.
fn is_account_nkey(key: &str) -> bool {
    key.starts_with('A') && nkeys::KeyPair::from_public_key(key).is_ok()
}

/// `jetstream` inside an account: ignored, but a string must say
/// enabled/disabled (reported without a position, as nats-server).
fn check_jetstream(v: &Value) -> R<()> {
    if let Some(s) = v.as_str() {
        if !matches!(
            s.to_lowercase().as_str(),
            "enabled" | "enable" | "disabled" | "disable"
        ) {
            return Err(Diag {
                pos: None,
                kind: crate::config::error::DiagKind::Invalid(format!(
                    "Expected 'enabled' or 'disabled' for string value, got '{s}'"
                )),
            });
        }
    }
    Ok(())
}

fn parse_limits(v: &Value, rep: &mut Report) -> R<AccountLimits> {
    let Some(m) = v.as_map() else {
        return Err(Diag::invalid(
            &v.pos,
            format!(
                "Expected account limits to be a map/struct, got {}",
                go_v(v)
            ),
        ));
    };
    let mut l = AccountLimits::default();
    for e in m.iter() {
        let lv = &e.value;
        let slot = match e.lower.as_str() {
            "max_connections" | "max_conn" => &mut l.max_connections,
            "max_subscriptions" | "max_subs" => &mut l.max_subscriptions,
            "max_payload" | "max_pay" => &mut l.max_payload,
            "max_leafnodes" | "max_leafs" => &mut l.max_leafnodes,
            _ if e.used_as_variable => continue,
            _ => {
                rep.errors.push(Diag::invalid(
                    &lv.pos,
                    format!("Unknown field {:?} parsing account limits", e.key),
                ));
                continue;
            }
        };
        // A wrong type abandons the rest of the block, as nats-server.
        *slot = int_of(lv)?;
    }
    Ok(l)
}

// ---- exports ----

fn parse_exports(v: &Value, rep: &mut Report) -> R<Vec<ExportConfig>> {
    let Some(items) = v.as_array() else {
        return Err(Diag::invalid(
            &v.pos,
            format!("Exports should be an array, got {}", v.go_type()),
        ));
    };
    let mut out = Vec::new();
    for it in items {
        match parse_export(it, rep) {
            Ok(Some(x)) => out.push(x),
            Ok(None) => {}
            Err(d) => rep.errors.push(d),
        }
    }
    Ok(out)
}

/// One export; `None` when neither a stream nor a service was accepted.
fn parse_export(v: &Value, rep: &mut Report) -> R<Option<ExportConfig>> {
    let Some(m) = v.as_map() else {
        return Err(Diag::invalid(
            &v.pos,
            format!(
                "Export Items should be a map with type entry, got {}",
                v.go_type()
            ),
        ));
    };
    let mut x = ExportConfig::default();
    let mut kind: Option<ExportKind> = None;
    let (mut rt_pos, mut lat_pos, mut trace_pos) = (None::<Pos>, None::<Pos>, None::<Pos>);
    let (mut rt_seen, mut thresh_seen) = (false, false);
    for e in m.iter() {
        let mv = &e.value;
        let pos = &mv.pos;
        let r: R<()> = (|| {
            match e.lower.as_str() {
                "stream" => {
                    if kind == Some(ExportKind::Service) {
                        let msg =
                            format!("Detected stream {:?} but already saw a service", go_v(mv));
                        return Err(Diag::invalid(pos, msg));
                    }
                    for (p, what) in [
                        (&rt_pos, "response"),
                        (&lat_pos, "latency"),
                        (&trace_pos, "allow_trace"),
                    ] {
                        if let Some(p) = p {
                            return Err(non_service(p, what));
                        }
                    }
                    let s = mv.as_str().ok_or_else(|| {
                        Diag::invalid(
                            pos,
                            format!("Expected stream name to be string, got {}", mv.go_type()),
                        )
                    })?;
                    kind = Some(ExportKind::Stream);
                    x.subject = s.to_string();
                }
                "service" => {
                    if kind == Some(ExportKind::Stream) {
                        let msg =
                            format!("Detected service {:?} but already saw a stream", go_v(mv));
                        return Err(Diag::invalid(pos, msg));
                    }
                    let s = mv.as_str().ok_or_else(|| {
                        Diag::invalid(
                            pos,
                            format!("Expected service name to be string, got {}", mv.go_type()),
                        )
                    })?;
                    kind = Some(ExportKind::Service);
                    x.subject = s.to_string();
                }
                "response" | "response_type" => {
                    if rt_seen {
                        return Err(Diag::invalid(pos, "Duplicate response type definition"));
                    }
                    rt_seen = true;
                    rt_pos = Some(pos.clone());
                    let s = mv.as_str().ok_or_else(|| {
                        Diag::invalid(
                            pos,
                            format!("Expected response type to be string, got {}", mv.go_type()),
                        )
                    })?;
                    x.response_type = match s.to_lowercase().as_str() {
                        "single" | "singleton" => ResponseType::Singleton,
                        "stream" => ResponseType::Stream,
                        "chunk" | "chunked" => ResponseType::Chunked,
                        _ => {
                            return Err(Diag::invalid(pos, format!("Unknown response type: {s:?}")))
                        }
                    };
                    if kind == Some(ExportKind::Stream) {
                        return Err(non_service(pos, "response"));
                    }
                }
                "threshold" | "response_threshold" | "response_max_time" | "response_time" => {
                    if thresh_seen {
                        return Err(Diag::invalid(pos, "Duplicate response threshold detected"));
                    }
                    thresh_seen = true;
                    let Some(s) = mv.as_str() else {
                        return Err(Diag::invalid(
                            pos,
                            format!(
                            "Expected response threshold to be a parseable time duration, got {}",
                            mv.go_type()
                        ),
                        ));
                    };
                    x.response_threshold = threshold(s).ok_or_else(|| {
                        Diag::invalid(
                            pos,
                            format!(
                            "Expected response threshold to be a parseable time duration, got {s:?}"
                        ),
                        )
                    })?;
                    if kind == Some(ExportKind::Stream) {
                        return Err(non_service(pos, "response"));
                    }
                }
                "accounts" => {
                    let mut accs = Vec::new();
                    for a in array_of(mv)? {
                        accs.push(str_of(a)?.to_string());
                    }
                    // An empty list is a public export in a configuration file.
                    x.accounts = (!accs.is_empty()).then_some(accs);
                }
                "latency" => {
                    lat_pos = Some(pos.clone());
                    x.latency = Some(parse_latency(mv)?);
                    if kind == Some(ExportKind::Stream) {
                        return Err(non_service(pos, "latency"));
                    }
                }
                "account_token_position" => {
                    let n = int_of(mv)?;
                    x.token_position = u8::try_from(n).unwrap_or(u8::MAX);
                }
                "allow_trace" => {
                    trace_pos = Some(pos.clone());
                    x.allow_trace = bool_of(mv)?;
                    if kind == Some(ExportKind::Stream) {
                        return Err(non_service(pos, "allow_trace"));
                    }
                }
                _ if e.used_as_variable => {}
                _ => return Err(Diag::unknown(pos, &e.key)),
            }
            Ok(())
        })();
        if let Err(d) = r {
            rep.errors.push(d);
        }
    }
    Ok(kind.map(|k| {
        if k == ExportKind::Stream {
            // Service directives given before the stream are not kept.
            x.response_type = ResponseType::Singleton;
            x.latency = None;
            x.allow_trace = false;
            x.response_threshold = super::DEFAULT_RESPONSE_THRESHOLD;
        }
        ExportConfig { kind: k, ..x }
    }))
}

fn non_service(pos: &Pos, what: &str) -> Diag {
    Diag::invalid(pos, format!("Detected {what} directive on non-service"))
}

/// A response threshold: a Go duration; `0` keeps the default.
fn threshold(s: &str) -> Option<Duration> {
    match go::parse_duration_signed(s) {
        Ok((_, d)) if d.is_zero() => Some(super::DEFAULT_RESPONSE_THRESHOLD),
        Ok((false, d)) => Some(d),
        // A negative threshold is kept by nats-server; we refuse it.
        Ok((true, _)) | Err(_) => None,
    }
}

/// `latency`: a results subject (sampling 100%), or `{sampling, subject}`.
fn parse_latency(v: &Value) -> R<LatencyConfig> {
    let m = match &v.kind {
        Kind::String(s) => {
            return Ok(LatencyConfig {
                sampling: 100,
                subject: s.clone(),
            })
        }
        Kind::Map(m) => m,
        _ => {
            return Err(Diag::invalid(
                &v.pos,
                format!(
                    "Expected latency entry to be a map/struct or string, got {}",
                    v.go_type()
                ),
            ))
        }
    };
    let mut sampling = 100u8;
    if let Some(sv) = m.get("sampling") {
        let n: i64 = match &sv.kind {
            Kind::Integer(n) => *n,
            Kind::String(s) if s.trim().eq_ignore_ascii_case("headers") => 0,
            Kind::String(s) => {
                let t = s.strip_suffix('%').unwrap_or(s);
                go_atoi(t).map_err(|e| {
                    Diag::invalid(&sv.pos, format!("Failed to parse latency sample: {e}"))
                })?
            }
            _ => {
                return Err(Diag::invalid(
                    &sv.pos,
                    format!(
                        "Expected latency sample to be a string or map/struct, got {}",
                        sv.go_type()
                    ),
                ))
            }
        };
        let header =
            matches!(&sv.kind, Kind::String(s) if s.trim().eq_ignore_ascii_case("headers"));
        if !header && !(1..=100).contains(&n) {
            return Err(Diag::invalid(
                &sv.pos,
                "bad sampling percentage, should be 1-100",
            ));
        }
        sampling = n as u8;
    }
    let Some(subj) = m.get("subject") else {
        return Err(Diag::invalid(
            &v.pos,
            "Latency subject required, but missing",
        ));
    };
    let Some(subject) = subj.as_str() else {
        // nats-server prints the type of its (empty) string variable here.
        return Err(Diag::invalid(
            &subj.pos,
            "Expected latency subject to be a string, got string",
        ));
    };
    Ok(LatencyConfig {
        sampling,
        subject: subject.to_string(),
    })
}

/// Go's `strconv.Atoi` with its error text.
pub(super) fn go_atoi(s: &str) -> Result<i64, String> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("strconv.Atoi: parsing {s:?}: invalid syntax"));
    }
    s.parse::<i64>()
        .map_err(|_| format!("strconv.Atoi: parsing {s:?}: value out of range"))
}

// ---- imports ----

fn parse_imports(v: &Value, rep: &mut Report) -> R<Vec<ImportConfig>> {
    let Some(items) = v.as_array() else {
        return Err(Diag::invalid(
            &v.pos,
            format!("Imports should be an array, got {}", v.go_type()),
        ));
    };
    let mut out: Vec<ImportConfig> = Vec::new();
    for it in items {
        let im = match parse_import(it, rep) {
            Ok(Some(im)) => im,
            Ok(None) => continue,
            Err(d) => {
                rep.errors.push(d);
                continue;
            }
        };
        if im.kind == ExportKind::Service {
            let local = im.to.as_deref().unwrap_or(&im.subject);
            let dup = out.iter().find(|o| {
                o.kind == ExportKind::Service
                    && o.account == im.account
                    && o.to.as_deref().unwrap_or(&o.subject) == local
            });
            if let Some(dup) = dup {
                rep.errors.push(Diag::invalid(
                    &it.pos,
                    format!(
                        "Duplicate service import subject {local:?}, previously used in import for account {:?}, subject {:?}",
                        dup.account, dup.subject
                    ),
                ));
                continue;
            }
        }
        out.push(im);
    }
    Ok(out)
}

fn parse_import(v: &Value, rep: &mut Report) -> R<Option<ImportConfig>> {
    let Some(m) = v.as_map() else {
        return Err(Diag::invalid(
            &v.pos,
            format!(
                "Import Items should be a map with type entry, got {}",
                v.go_type()
            ),
        ));
    };
    let mut im = ImportConfig::default();
    let mut kind: Option<ExportKind> = None;
    let mut trace_pos: Option<Pos> = None;
    for e in m.iter() {
        let mv = &e.value;
        let pos = &mv.pos;
        let r: R<()> = (|| {
            match e.lower.as_str() {
                "stream" | "service" => {
                    let (this, other, name) = if e.lower == "stream" {
                        (ExportKind::Stream, ExportKind::Service, "Stream")
                    } else {
                        (ExportKind::Service, ExportKind::Stream, "Service")
                    };
                    if kind == Some(other) {
                        let (a, b) = if this == ExportKind::Stream {
                            ("stream", "service")
                        } else {
                            ("service", "stream")
                        };
                        return Err(Diag::invalid(
                            pos,
                            format!("Detected {a} but already saw a {b}"),
                        ));
                    }
                    if this == ExportKind::Service {
                        if let Some(p) = &trace_pos {
                            return Err(Diag::invalid(
                                p,
                                "Detected allow_trace directive on a non-stream",
                            ));
                        }
                    }
                    let Some(am) = mv.as_map() else {
                        return Err(Diag::invalid(
                            pos,
                            format!(
                                "{name} entry should be an account map, got {}",
                                mv.go_type()
                            ),
                        ));
                    };
                    let (account, subject) = parse_import_source(am, rep);
                    if account.is_empty() || subject.is_empty() {
                        return Err(Diag::invalid(pos, "Expect an account name and a subject"));
                    }
                    kind = Some(this);
                    im.account = account;
                    im.subject = subject;
                }
                "prefix" => im.prefix = Some(str_of(mv)?.to_string()),
                "to" => {
                    im.to = Some(str_of(mv)?.to_string());
                    if kind == Some(ExportKind::Stream) && im.prefix.is_some() {
                        return Err(Diag::invalid(
                            pos,
                            "Stream import can not have a 'prefix' and a 'to' property",
                        ));
                    }
                }
                "share" => im.share = bool_of(mv)?,
                "allow_trace" => {
                    if kind == Some(ExportKind::Service) {
                        return Err(Diag::invalid(
                            pos,
                            "Detected allow_trace directive on a non-stream",
                        ));
                    }
                    bool_of(mv)?;
                    trace_pos = Some(pos.clone());
                }
                _ if e.used_as_variable => {}
                _ => return Err(Diag::unknown(pos, &e.key)),
            }
            Ok(())
        })();
        if let Err(d) = r {
            rep.errors.push(d);
        }
    }
    let Some(kind) = kind else { return Ok(None) };
    if kind == ExportKind::Stream && im.prefix.is_some() && im.to.is_some() {
        // `to` came before `stream`/`prefix`: nats-server may let it pass
        // (map order); we always refuse the pair.
        let pos = m.iter().find(|e| e.lower == "to").map(|e| &e.value.pos);
        rep.errors.push(Diag::invalid(
            pos.unwrap_or(&v.pos),
            "Stream import can not have a 'prefix' and a 'to' property",
        ));
        return Ok(None);
    }
    if kind == ExportKind::Service {
        im.prefix = None;
    } else {
        im.share = false;
    }
    Ok(Some(ImportConfig { kind, ..im }))
}

/// `{account, subject}` of an import; type errors are reported and leave
/// the field empty.
fn parse_import_source(m: &Map, rep: &mut Report) -> (String, String) {
    let (mut account, mut subject) = (String::new(), String::new());
    for e in m.iter() {
        let slot = match e.lower.as_str() {
            "account" => &mut account,
            "subject" => &mut subject,
            _ if e.used_as_variable => continue,
            _ => {
                rep.errors.push(Diag::unknown(&e.value.pos, &e.key));
                continue;
            }
        };
        match str_of(&e.value) {
            Ok(s) => *slot = s.to_string(),
            Err(d) => {
                rep.errors.push(d);
                return (String::new(), String::new());
            }
        }
    }
    (account, subject)
}

#[cfg(test)]
#[path = "parse_tests.rs"]
mod tests;
