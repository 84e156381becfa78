//! The `authorization` block: single user/password, token, `users` with
//! permissions, default permissions and timeout (nats-server
//! `parseAuthorization`, `parseUsers`, `parseUserPermissions`).
//!
//! Owns the block's keys, their texts and the exclusivity rules checked
//! when the block is applied (`Cannot have a user/pass and token`, …). It
//! never authenticates anybody and never hashes passwords.
//!
//! Deliberate difference: `auth_callout` is refused as not
//! supported (core NATS: user/password, token and nkey users).

use std::time::Duration;

use super::apply::{bool_of, go_v, int_of, map_of, str_of, timeout_secs, Report, R};
use super::error::{Diag, DiagKind};
use super::go;
use super::options::{
    Authorization, Options, Permissions, ResponsePermission, SubjectPermission, User,
};
use super::value::{Kind, Value};

/// Parses an authorization map (also used for the cluster block).
pub(super) fn parse_authorization(v: &Value, rep: &mut Report) -> R<Authorization> {
    let m = map_of(v)?;
    let mut auth = Authorization::default();
    for e in m.iter() {
        let mv = &e.value;
        let r: R<()> = (|| {
            match e.lower.as_str() {
                "user" | "username" => auth.user = Some(str_of(mv)?.to_string()),
                "pass" | "password" => auth.password = Some(str_of(mv)?.to_string()),
                "token" => auth.token = Some(str_of(mv)?.to_string()),
                "timeout" => {
                    let t = timeout_secs("authorization", mv)?;
                    if t > Duration::from_secs(60) {
                        let reason = format!(
                            "timeout of {} ({} seconds) is high, consider keeping it under 60 seconds. possibly caused by unquoted duration; use '1m' instead of 1m, for example",
                            go_v(mv),
                            go::format_float_f(t.as_secs_f64())
                        );
                        rep.warnings.push(Diag::warning(&mv.pos, &e.key, reason));
                    }
                    // 0 means "the default", as in nats-server.
                    auth.timeout = (!t.is_zero()).then_some(t);
                }
                "users" => auth.users = Some(parse_users(mv, rep)?),
                "default_permission" | "default_permissions" | "permissions" => {
                    auth.default_permissions = Some(parse_permissions(mv, rep)?)
                }
                "auth_callout" | "auth_hook" => {
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
        match (r, e.lower.as_str()) {
            // A bad timeout abandons the whole block, as in nats-server.
            (Err(d), "timeout") => return Err(d),
            (Err(d), _) => rep.errors.push(d),
            (Ok(()), _) => {}
        }
    }
    if let (Some(users), Some(def)) = (auth.users.as_mut(), auth.default_permissions.as_ref()) {
        for u in users.iter_mut().filter(|u| u.permissions.is_none()) {
            u.permissions = Some(def.clone());
        }
    }
    Ok(auth)
}

/// Applies the top-level `authorization` block and its exclusivity rules.
pub(super) fn apply_authorization(o: &mut Options, v: &Value, rep: &mut Report) -> R<()> {
    let auth = parse_authorization(v, rep)?;
    let has_user = auth.user.as_deref().is_some_and(|s| !s.is_empty());
    let has_pass = auth.password.as_deref().is_some_and(|s| !s.is_empty());
    let has_token = auth.token.as_deref().is_some_and(|s| !s.is_empty());
    let tk = &v.pos;
    o.authorization = Authorization {
        users: None,
        ..auth.clone()
    };
    if (has_user || has_pass) && has_token {
        return Err(Diag::invalid(tk, "Cannot have a user/pass and token"));
    }
    if let Some(users) = auth.users {
        if has_user {
            return Err(Diag::invalid(
                tk,
                "Can not have a single user/pass and a users array",
            ));
        }
        if has_token {
            return Err(Diag::invalid(tk, "Can not have a token and a users array"));
        }
        let mut seen = std::collections::HashSet::new();
        for u in &users {
            if !seen.insert(u.username.clone()) {
                return Err(Diag::invalid(
                    tk,
                    format!("Duplicate user {:?} detected", u.username),
                ));
            }
        }
        o.authorization.users = Some(users);
    }
    Ok(())
}

pub(super) fn parse_users(v: &Value, rep: &mut Report) -> R<Vec<User>> {
    let Some(list) = v.as_array() else {
        return Err(Diag::invalid(
            &v.pos,
            format!("Expected users field to be an array, got {}", go_v(v)),
        ));
    };
    let mut users = Vec::new();
    for entry in list {
        let Some(um) = entry.as_map() else {
            rep.errors.push(Diag::invalid(
                &entry.pos,
                format!(
                    "Expected user entry to be a map/struct, got {}",
                    go_v(entry)
                ),
            ));
            continue;
        };
        let mut user = User::default();
        let mut last = &entry.pos;
        for e in um.iter() {
            let fv = &e.value;
            last = &fv.pos;
            let r: R<()> = (|| {
                match e.lower.as_str() {
                    "user" | "username" => user.username = str_of(fv)?.to_string(),
                    "pass" | "password" => user.password = str_of(fv)?.to_string(),
                    "permission" | "permissions" | "authorization" => {
                        user.permissions = Some(parse_permissions(fv, rep)?)
                    }
                    "allowed_connection_types" | "connection_types" | "clients" => {
                        user.allowed_connection_types =
                            Some(string_list("allowed connection types", fv, rep)?)
                    }
                    "proxy_required" => {
                        bool_of(fv)?;
                    }
                    "nkey" => {
                        let key = str_of(fv)?;
                        if !is_user_nkey(key) {
                            return Err(Diag::invalid(
                                &fv.pos,
                                "Not a valid public nkey for a user",
                            ));
                        }
                        user.nkey = key.to_string();
                    }
                    _ if e.used_as_variable => {}
                    _ => return Err(Diag::unknown(&fv.pos, &e.key)),
                }
                Ok(())
            })();
            if let Err(d) = r {
                rep.errors.push(d);
            }
        }
        if user.username.is_empty() && user.nkey.is_empty() {
            if um.get("nkey").is_some() {
                continue;
            }
            return Err(Diag::invalid(last, "User entry requires a user"));
        }
        users.push(user);
    }
    Ok(users)
}

/// A user public nkey: `U` followed by the rest of a valid encoded key.
fn is_user_nkey(key: &str) -> bool {
    key.starts_with('U') && nkeys::KeyPair::from_public_key(key).is_ok()
}

/// A string or an array of strings.
fn string_list(what: &str, v: &Value, rep: &mut Report) -> R<Vec<String>> {
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
                            "error parsing {what}: unsupported type in array {}",
                            it.go_type()
                        ),
                    )),
                }
            }
            Ok(out)
        }
        _ => Err(Diag::invalid(
            &v.pos,
            format!("error parsing {what}: unsupported type {}", v.go_type()),
        )),
    }
}

/// `permissions { publish, subscribe, allow_responses }` (also the route
/// `import`/`export` spelling).
pub(super) fn parse_permissions(v: &Value, rep: &mut Report) -> R<Permissions> {
    let Some(m) = v.as_map() else {
        return Err(Diag::invalid(
            &v.pos,
            format!("Expected permissions to be a map/struct, got {}", go_v(v)),
        ));
    };
    let mut p = Permissions::default();
    for e in m.iter() {
        let pv = &e.value;
        let r: R<()> = (|| {
            match e.lower.as_str() {
                "pub" | "publish" | "import" => p.publish = subject_permission(pv, false, rep)?,
                "sub" | "subscribe" | "export" => p.subscribe = subject_permission(pv, true, rep)?,
                "publish_allow_responses" | "allow_responses" => {
                    p.allow_responses = match pv.kind {
                        Kind::Bool(true) => Some(ResponsePermission::default()),
                        Kind::Bool(false) => None,
                        _ => allow_responses(pv, rep),
                    };
                }
                _ if e.used_as_variable => {}
                _ => {
                    return Err(Diag::invalid(
                        &pv.pos,
                        format!("Unknown field {:?} parsing permissions", e.key),
                    ))
                }
            }
            Ok(())
        })();
        if let Err(d) = r {
            rep.errors.push(d);
        }
    }
    if p.allow_responses.is_some() {
        let publish = p.publish.get_or_insert_with(SubjectPermission::default);
        publish.allow.get_or_insert_with(Vec::new);
    }
    Ok(p)
}

/// New style `{allow, deny}` or old style subject / list (= allow).
fn subject_permission(v: &Value, queue: bool, rep: &mut Report) -> R<Option<SubjectPermission>> {
    let Some(m) = v.as_map() else {
        // Old style: nats-server reports these errors without a position.
        let list = subjects(v, queue).map_err(|d| Diag { pos: None, ..d })?;
        return Ok(Some(SubjectPermission {
            allow: Some(list),
            deny: None,
        }));
    };
    if m.is_empty() {
        return Ok(None);
    }
    let mut sp = SubjectPermission::default();
    for e in m.iter() {
        let r = match e.lower.as_str() {
            "allow" => subjects(&e.value, queue).map(|s| sp.allow = Some(s)),
            "deny" => subjects(&e.value, queue).map(|s| sp.deny = Some(s)),
            _ if e.used_as_variable => Ok(()),
            _ => Err(Diag::invalid(
                &e.value.pos,
                format!(
                    "Unknown field name {:?} parsing subject permissions, only 'allow' or 'deny' are permitted",
                    e.key
                ),
            )),
        };
        if let Err(d) = r {
            rep.errors.push(d);
        }
    }
    Ok(Some(sp))
}

fn subjects(v: &Value, queue: bool) -> R<Vec<String>> {
    let list = match &v.kind {
        Kind::String(s) => vec![s.clone()],
        Kind::Array(items) => {
            let mut out = Vec::new();
            for it in items {
                let s = it.as_str().ok_or_else(|| {
                    Diag::invalid(
                        &it.pos,
                        "Subject in permissions array cannot be cast to string",
                    )
                })?;
                out.push(s.to_string());
            }
            out
        }
        _ => {
            return Err(Diag::invalid(
                &v.pos,
                format!(
                    "Expected subject permissions to be a subject, or array of subjects, got {}",
                    v.go_type()
                ),
            ))
        }
    };
    check_subjects(&list, queue).map_err(|e| Diag::invalid(&v.pos, e))?;
    Ok(list)
}

/// nats-server's `checkPermSubjectArray`.
pub(super) fn check_subjects(list: &[String], queue: bool) -> Result<(), String> {
    for s in list {
        if is_valid_subject(s) {
            continue;
        }
        let parts: Vec<&str> = s.split_whitespace().collect();
        if !queue || parts.len() != 2 {
            return Err(format!("subject {s:?} is not a valid subject"));
        }
        if !is_valid_subject(parts[0]) {
            return Err(format!("subject {:?} is not a valid subject", parts[0]));
        }
        if !is_valid_subject(parts[1]) {
            return Err(format!("queue {:?} is not a valid queue", parts[1]));
        }
    }
    Ok(())
}

/// nats-server's `IsValidSubject`: non-empty tokens, no whitespace, `>` last.
pub fn is_valid_subject(s: &str) -> bool {
    if s.is_empty() {
        return false;
    }
    let mut full_wc = false;
    for t in s.split('.') {
        if t.is_empty() || full_wc {
            return false;
        }
        if t.len() > 1 {
            if t.contains([' ', '\t', '\n', '\r', '\u{0C}']) {
                return false;
            }
            continue;
        }
        match t {
            ">" => full_wc = true,
            " " | "\t" | "\n" | "\r" | "\u{0C}" => return false,
            _ => {}
        }
    }
    true
}

fn allow_responses(v: &Value, rep: &mut Report) -> Option<ResponsePermission> {
    let Some(m) = v.as_map() else {
        rep.errors.push(Diag::invalid(
            &v.pos,
            "error parsing response permissions, expected a boolean or a map",
        ));
        return None;
    };
    let mut rp = ResponsePermission::default();
    for e in m.iter() {
        let ev = &e.value;
        match e.lower.as_str() {
            "max" | "max_msgs" | "max_messages" | "max_responses" => match int_of(ev) {
                Ok(0) => {}
                Ok(n) => rp.max_msgs = n,
                Err(d) => {
                    rep.errors.push(d);
                    return None;
                }
            },
            "expires" | "expiration" | "ttl" => {
                let Some(s) = ev.as_str() else {
                    rep.errors.push(Diag::invalid(
                        &ev.pos,
                        "error parsing expires, not a duration string",
                    ));
                    return None;
                };
                match go::parse_duration_signed(s) {
                    Ok((_, d)) if d.is_zero() => {}
                    Ok((true, _)) => rp.expires = None,
                    Ok((false, d)) => rp.expires = Some(d),
                    Err(err) => {
                        rep.errors.push(Diag::invalid(
                            &ev.pos,
                            format!("error parsing expires: {err}"),
                        ));
                        return None;
                    }
                }
            }
            _ if e.used_as_variable => {}
            _ => rep.errors.push(Diag::invalid(
                &ev.pos,
                format!("Unknown field {:?} parsing permissions", e.key),
            )),
        }
    }
    Some(rp)
}
