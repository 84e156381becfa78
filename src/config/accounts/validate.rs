//! Checks across accounts, made once every account of the file is known
//! (the second half of nats-server's `parseAccounts`): exports naming
//! unknown accounts, `account_token_position`, latency without a system
//! account, imports from unknown accounts or of subjects not exported to
//! the importer, wildcard prefixes, duplicate stream imports and import
//! cycles (service and stream, search depth 1024). Every error is reported
//! at the `accounts` key, as nats-server does.
//!
//! It follows nats-server's order (stream exports, service exports, stream
//! imports, service imports, each in file order) because the cycle search
//! sees only the imports registered before. It never compiles subject
//! transforms (the `to` functions are checked elsewhere) and never changes
//! the accounts.

use sublist::subject::subjects_collide;

use super::{AccountConfig, ExportConfig, ExportKind, ImportConfig};
use crate::config::auth::is_valid_subject;
use crate::config::error::Diag;
use crate::config::value::Pos;
use crate::transform::{tokenize, Transform};

/// nats-server's `MaxAccountCycleSearchDepth`.
pub const MAX_CYCLE_SEARCH_DEPTH: usize = 1024;

const INVALID_SUBJECT: &str = "sublist: invalid subject";
const IMPORT_FORMS_CYCLE: &str = "import forms a cycle";
const CYCLE_DEPTH: &str = "search cycle depth exhausted";

/// An import as registered: `from` is the subject in the importing account
/// for services / in the exporter for streams (nats-server's naming).
#[derive(Debug, Clone)]
struct Registered {
    /// Index of the exporting account.
    acc: usize,
    from: String,
    to: String,
}

#[derive(Default)]
struct State<'a> {
    streams: Vec<Vec<&'a ExportConfig>>,
    services: Vec<Vec<&'a ExportConfig>>,
    stream_imports: Vec<Vec<Registered>>,
    service_imports: Vec<Vec<Registered>>,
}

/// Checks `accounts`; errors are returned in nats-server's order.
pub(in crate::config) fn check(
    accounts: &[AccountConfig],
    no_sys_acc: bool,
    pos: &Pos,
) -> Vec<Diag> {
    let n = accounts.len();
    let idx = |name: &str| accounts.iter().position(|a| a.name == name);
    let mut errs = Vec::new();
    let mut err = |msg: String| errs.push(Diag::invalid(pos, msg));
    let mut st = State {
        streams: vec![Vec::new(); n],
        services: vec![Vec::new(); n],
        stream_imports: vec![Vec::new(); n],
        service_imports: vec![Vec::new(); n],
    };
    for kind in [ExportKind::Stream, ExportKind::Service] {
        let what = if kind == ExportKind::Stream {
            "stream"
        } else {
            "service"
        };
        for (ai, a) in accounts.iter().enumerate() {
            for x in a.exports.iter().filter(|x| x.kind == kind) {
                for name in x.accounts.iter().flatten() {
                    if idx(name).is_none() {
                        err(format!("{name:?} account not defined for {what} export"));
                    }
                }
                if !token_position_ok(x) {
                    err(format!(
                        "Error adding {what} export {:?}: {INVALID_SUBJECT}",
                        x.subject
                    ));
                    continue;
                }
                if kind == ExportKind::Stream {
                    st.streams[ai].push(x);
                    continue;
                }
                st.services[ai].push(x);
                if let Some(lat) = &x.latency {
                    if no_sys_acc {
                        err(format!(
                            "Error adding service latency sampling for {:?}: system account not setup",
                            x.subject
                        ));
                    } else if !is_valid_publish_subject(&lat.subject)
                        || a.exports.iter().any(|e| {
                            e.kind == ExportKind::Service
                                && subject_is_subset_match(&lat.subject, &e.subject)
                        })
                    {
                        err(format!(
                            "Error adding service latency sampling for {:?} on subject {:?}: invalid publish subject",
                            x.subject, lat.subject
                        ));
                    }
                }
            }
        }
    }
    // Streams first, then services, as nats-server adds them.
    for (kind, what) in [
        (ExportKind::Stream, "stream"),
        (ExportKind::Service, "service"),
    ] {
        for (ai, a) in accounts.iter().enumerate() {
            for im in a.imports.iter().filter(|i| i.kind == kind) {
                let Some(ei) = idx(&im.account) else {
                    err(format!(
                        "{:?} account not defined for {what} import",
                        im.account
                    ));
                    continue;
                };
                let added = match kind {
                    ExportKind::Stream => add_stream_import(&mut st, accounts, ai, ei, im),
                    ExportKind::Service => add_service_import(&mut st, accounts, ai, ei, im),
                };
                if let Err(why) = added {
                    err(format!(
                        "Error adding {what} import {:?}: {why}",
                        im.subject
                    ));
                }
            }
        }
    }
    errs
}

/// `account_token_position: N` needs a `*` as token N.
fn token_position_ok(x: &ExportConfig) -> bool {
    let n = usize::from(x.token_position);
    n == 0 || x.subject.split('.').nth(n - 1) == Some("*")
}

fn add_stream_import(
    st: &mut State,
    accounts: &[AccountConfig],
    ai: usize,
    ei: usize,
    im: &ImportConfig,
) -> Result<(), String> {
    let from = im.subject.as_str();
    let importer = &accounts[ai].name;
    if !authorized(&st.streams[ei], importer, from) {
        return Err("stream import not authorized".into());
    }
    let to = match im.prefix.as_deref().filter(|p| !p.is_empty()) {
        Some(p) => {
            if !sublist::subject::is_literal(p) {
                return Err("stream import prefix can not contain wildcard tokens".into());
            }
            if p.ends_with('.') {
                format!("{p}{from}")
            } else {
                format!("{p}.{from}")
            }
        }
        None => im
            .to
            .clone()
            .filter(|t| !t.is_empty())
            .unwrap_or_else(|| from.to_string()),
    };
    if let Some(given) = im
        .to
        .as_deref()
        .filter(|t| !t.is_empty() && im.prefix.is_none())
    {
        if given != from {
            Transform::for_import(from, &tokenize(given)).map_err(|e| {
                format!("failed to create mapping transform for stream import subject from {from:?} to {given:?}: {e}")
            })?;
        }
    }
    let mut visited = vec![ai];
    stream_cycles(st, ei, &to, &mut visited)?;
    let mut visited = vec![ai];
    stream_cycles(st, ei, from, &mut visited)?;
    let stored_to = if has_wildcard(from) && to != from {
        untokenize(&to)
    } else {
        to
    };
    if st.stream_imports[ai]
        .iter()
        .any(|r| r.acc == ei && r.from == from)
    {
        return Err("stream import already exists".into());
    }
    st.stream_imports[ai].push(Registered {
        acc: ei,
        from: from.to_string(),
        to: stored_to,
    });
    Ok(())
}

fn add_service_import(
    st: &mut State,
    accounts: &[AccountConfig],
    ai: usize,
    ei: usize,
    im: &ImportConfig,
) -> Result<(), String> {
    // nats-server's naming: `from` is local, `to` is the exporter's subject.
    let to = im.subject.as_str();
    let from = im.to.as_deref().filter(|t| !t.is_empty()).unwrap_or(to);
    if !is_valid_subject(from) || !is_valid_subject(to) {
        return Err(INVALID_SUBJECT.into());
    }
    if !authorized(&st.services[ei], &accounts[ai].name, to) {
        return Err("service import not authorized".into());
    }
    if from != to {
        Transform::for_import(&untokenize(to), &tokenize(from)).map_err(|e| {
            format!("failed to create mapping transform for service import subject from {from:?} to {to:?}: {e}")
        })?;
    }
    let from_t = if has_wildcard(to) {
        untokenize(from)
    } else {
        from.to_string()
    };
    let mut visited = vec![ai];
    service_cycles(st, ei, &from_t, &mut visited)?;
    let (mut from_s, mut to_s) = (from.to_string(), to.to_string());
    if has_wildcard(to) && to != from {
        to_s = untokenize(to);
        from_s = untokenize(from);
    }
    st.service_imports[ai].push(Registered {
        acc: ei,
        from: from_s,
        to: to_s,
    });
    Ok(())
}

/// nats-server's `checkServiceImportsForCycles`.
fn service_cycles(
    st: &State,
    a: usize,
    from: &str,
    visited: &mut Vec<usize>,
) -> Result<(), &'static str> {
    if visited.len() >= MAX_CYCLE_SEARCH_DEPTH {
        return Err(CYCLE_DEPTH);
    }
    for si in &st.service_imports[a] {
        if subjects_collide(from, &si.to) {
            if visited.contains(&si.acc) {
                return Err(IMPORT_FORMS_CYCLE);
            }
            if !visited.contains(&a) {
                visited.push(a);
            }
            let f = if subject_is_subset_match(&si.from, from) {
                si.from.as_str()
            } else {
                from
            };
            service_cycles(st, si.acc, f, visited)?;
        }
    }
    Ok(())
}

/// nats-server's `checkStreamImportsForCycles`.
fn stream_cycles(
    st: &State,
    a: usize,
    to: &str,
    visited: &mut Vec<usize>,
) -> Result<(), &'static str> {
    if visited.len() >= MAX_CYCLE_SEARCH_DEPTH {
        return Err(CYCLE_DEPTH);
    }
    if !st.streams[a]
        .iter()
        .any(|x| subject_is_subset_match(to, &x.subject))
    {
        return Ok(());
    }
    for si in &st.stream_imports[a] {
        if subjects_collide(to, &si.to) {
            if visited.contains(&si.acc) {
                return Err(IMPORT_FORMS_CYCLE);
            }
            if !visited.contains(&a) {
                visited.push(a);
            }
            let t = if subject_is_subset_match(&si.to, to) {
                si.to.as_str()
            } else {
                to
            };
            stream_cycles(st, si.acc, t, visited)?;
        }
    }
    Ok(())
}

/// May `importer` import `subject` given the exporter's exports of one
/// kind? An exact export subject wins; else the first export the subject
/// is a subset of.
fn authorized(exports: &[&ExportConfig], importer: &str, subject: &str) -> bool {
    if exports.is_empty() || !is_valid_subject(subject) {
        return false;
    }
    // Several exports of one subject: the last one counts (a map in Go).
    if let Some(x) = exports.iter().rev().find(|x| x.subject == subject) {
        return check_auth(x, importer, None);
    }
    let tokens: Vec<&str> = subject.split('.').collect();
    exports
        .iter()
        .find(|x| is_subset_match(&tokens, &x.subject))
        .is_some_and(|x| check_auth(x, importer, Some(&tokens)))
}

fn check_auth(x: &ExportConfig, importer: &str, tokens: Option<&[&str]>) -> bool {
    if x.token_position > 0 {
        let n = usize::from(x.token_position);
        return tokens.is_some_and(|t| n <= t.len() && t[n - 1] == importer);
    }
    match &x.accounts {
        None => true,
        Some(list) => list.iter().any(|a| a == importer),
    }
}

fn has_wildcard(s: &str) -> bool {
    s.split('.').any(|t| t == "*" || t == ">")
}

fn is_valid_publish_subject(s: &str) -> bool {
    is_valid_subject(s) && !has_wildcard(s)
}

/// nats-server's `transformUntokenize`: `$N` and `{{wildcard(N)}}` tokens
/// become `*`.
fn untokenize(s: &str) -> String {
    crate::transform::untokenize(s).0
}

/// nats-server's `subjectIsSubsetMatch`.
fn subject_is_subset_match(subject: &str, test: &str) -> bool {
    let tokens: Vec<&str> = subject.split('.').collect();
    is_subset_match(&tokens, test)
}

/// nats-server's `isSubsetMatch`: is every subject matched by `tokens`
/// also matched by `test`?
fn is_subset_match(tokens: &[&str], test: &str) -> bool {
    let test: Vec<&str> = test.split('.').collect();
    for (i, t2) in test.iter().enumerate() {
        let Some(t1) = tokens.get(i) else {
            return false;
        };
        if t2.is_empty() {
            return false;
        }
        if *t2 == ">" {
            return true;
        }
        if t1.is_empty() || *t1 == ">" {
            return false;
        }
        if *t1 == "*" {
            if *t2 != "*" {
                return false;
            }
            continue;
        }
        if *t2 != "*" && t1 != t2 {
            return false;
        }
    }
    tokens.len() == test.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::accounts::ExportConfig;

    fn acc(name: &str, exports: Vec<ExportConfig>, imports: Vec<ImportConfig>) -> AccountConfig {
        AccountConfig {
            name: name.into(),
            exports,
            imports,
            ..AccountConfig::default()
        }
    }

    fn svc_export(s: &str) -> ExportConfig {
        ExportConfig {
            kind: ExportKind::Service,
            subject: s.into(),
            ..ExportConfig::default()
        }
    }

    fn svc_import(from: &str, s: &str) -> ImportConfig {
        ImportConfig {
            kind: ExportKind::Service,
            account: from.into(),
            subject: s.into(),
            ..ImportConfig::default()
        }
    }

    fn texts(accounts: &[AccountConfig]) -> Vec<String> {
        check(accounts, false, &Pos::default())
            .iter()
            .map(|d| match &d.kind {
                crate::config::error::DiagKind::Invalid(s) => s.clone(),
                k => panic!("unexpected {k:?}"),
            })
            .collect()
    }

    #[test]
    fn subset_match_follows_nats_server() {
        assert!(subject_is_subset_match("a.b", "a.*"));
        assert!(subject_is_subset_match("a.*", "a.*"));
        assert!(subject_is_subset_match("a.b.c", "a.>"));
        assert!(!subject_is_subset_match("a.>", "a.*"));
        assert!(!subject_is_subset_match("a.*", "a.b"));
        assert!(!subject_is_subset_match("a", "a.b"));
    }

    #[test]
    fn untokenize_replaces_wildcard_references() {
        assert_eq!(untokenize("x.$1.{{wildcard(2)}}.y"), "x.*.*.y");
        assert_eq!(untokenize("x.$0.{{split(1,-)}}"), "x.$0.{{split(1,-)}}");
    }

    #[test]
    fn a_chain_longer_than_the_search_depth_is_refused() {
        // A(i) imports q from A(i+1); every account exports q.
        let n = MAX_CYCLE_SEARCH_DEPTH + 2;
        let mut accounts: Vec<AccountConfig> = (0..n)
            .map(|i| {
                let imports = if i + 1 < n {
                    vec![svc_import(&format!("A{}", i + 1), "q")]
                } else {
                    Vec::new()
                };
                acc(&format!("A{i}"), vec![svc_export("q")], imports)
            })
            .collect();
        // Head first: each search finds nothing registered yet.
        assert!(texts(&accounts).is_empty());
        // Tail first: the search from A1 walks 1024 accounts.
        accounts.reverse();
        assert_eq!(
            texts(&accounts),
            vec![format!("Error adding service import \"q\": {CYCLE_DEPTH}")]
        );
    }

    #[test]
    fn a_two_account_service_cycle_is_refused() {
        let accounts = vec![
            acc("A", vec![svc_export("q")], vec![svc_import("B", "q")]),
            acc("B", vec![svc_export("q")], vec![svc_import("A", "q")]),
        ];
        assert_eq!(
            texts(&accounts),
            vec![format!(
                "Error adding service import \"q\": {IMPORT_FORMS_CYCLE}"
            )]
        );
    }
}
