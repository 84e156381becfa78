//! Unit tests of `accounts {}` / `mappings {}` parsing: every form, checked
//! on the typed result.

use std::time::Duration;

use crate::config::accounts::*;
use crate::config::{parse_str, Includes, Options};

fn opts(text: &str) -> Options {
    let root = parse_str(text, "t.conf", Includes::Refuse).expect("parse");
    let mut o = Options::default();
    if let Err(e) = o.apply_map(&root, "t.conf") {
        panic!("{e}");
    }
    o
}

fn err(text: &str) -> String {
    let root = parse_str(text, "t.conf", Includes::Refuse).expect("parse");
    let mut o = Options::default();
    o.apply_map(&root, "t.conf").unwrap_err().to_string()
}

fn account<'a>(o: &'a Options, name: &str) -> &'a AccountConfig {
    o.accounts.iter().find(|a| a.name == name).expect(name)
}

#[test]
fn short_array_form_and_empty_account() {
    let o = opts("accounts: [A, B]\n");
    let names: Vec<&str> = o.accounts.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, ["A", "B"]);
    assert_eq!(
        o.accounts[0],
        AccountConfig {
            name: "A".into(),
            ..AccountConfig::default()
        }
    );
    let o = opts("accounts { B: {} }\n");
    assert_eq!(
        o.accounts,
        vec![AccountConfig {
            name: "B".into(),
            ..AccountConfig::default()
        }]
    );
}

#[test]
fn users_default_permissions_limits_and_nkey() {
    let o = opts(
        "accounts {\n A {\n  nkey: AA5WUJ54Z23KILLCUOUNAKTPBVZWKMQVO4O6EQ5GHLAERIMLLHNCS47C\n  \
         users [ {user: a, password: pa, permissions: {publish: \"x.>\"}}, {user: b, password: pb} ]\n  \
         default_permissions { publish: \"y.>\" }\n  \
         limits { max_connections: 10, max_subs: 20, max_payload: 1024, max_leafnodes: 2 }\n  \
         jetstream: enabled\n  msg_trace: {dest: \"t.a\"}\n }\n}\nno_auth_user: b\n",
    );
    let a = account(&o, "A");
    assert_eq!(
        a.nkey,
        "AA5WUJ54Z23KILLCUOUNAKTPBVZWKMQVO4O6EQ5GHLAERIMLLHNCS47C"
    );
    assert_eq!(a.users.len(), 2);
    let allow = |u: &crate::config::User| {
        u.permissions
            .as_ref()
            .unwrap()
            .publish
            .as_ref()
            .unwrap()
            .allow
            .clone()
    };
    assert_eq!(allow(&a.users[0]), Some(vec!["x.>".to_string()]));
    assert_eq!(
        allow(&a.users[1]),
        Some(vec!["y.>".to_string()]),
        "default permissions"
    );
    assert_eq!(
        a.limits,
        AccountLimits {
            max_connections: 10,
            max_subscriptions: 20,
            max_payload: 1024,
            max_leafnodes: 2
        }
    );
    assert_eq!(o.validate(), Ok(()), "no_auth_user names an account user");
}

#[test]
fn exports_every_form() {
    let o = opts(
        "accounts {\n A {\n exports [\n\
         {stream: \"news.>\"}\n\
         {stream: \"p.>\", accounts: [B]}\n\
         {service: \"s.one\", response_type: Stream}\n\
         {service: \"s.two\", response: CHUNK, threshold: \"5s\"}\n\
         {service: \"s.lat\", latency: {sampling: \"50%\", subject: \"lat.r\"}}\n\
         {service: \"s.lat2\", latency: \"lat.r2\"}\n\
         {service: \"s.lat3\", latency: {sampling: headers, subject: \"lat.r3\"}}\n\
         {service: \"s.*\", accounts: [B], allow_trace: true, response_type: single}\n\
         {stream: \"tok.*\", account_token_position: 2}\n\
         ]\n }\n B {}\n}\n",
    );
    let x = &account(&o, "A").exports;
    assert_eq!(x.len(), 9);
    assert_eq!(
        x[0],
        ExportConfig {
            subject: "news.>".into(),
            ..ExportConfig::default()
        }
    );
    assert_eq!(x[1].accounts, Some(vec!["B".to_string()]));
    assert_eq!(
        (x[2].kind, x[2].response_type),
        (ExportKind::Service, ResponseType::Stream)
    );
    assert_eq!(x[3].response_type, ResponseType::Chunked);
    assert_eq!(x[3].response_threshold, Duration::from_secs(5));
    assert_eq!(x[2].response_threshold, DEFAULT_RESPONSE_THRESHOLD);
    assert_eq!(
        x[4].latency,
        Some(LatencyConfig {
            sampling: 50,
            subject: "lat.r".into()
        })
    );
    assert_eq!(
        x[5].latency,
        Some(LatencyConfig {
            sampling: 100,
            subject: "lat.r2".into()
        })
    );
    assert_eq!(
        x[6].latency,
        Some(LatencyConfig {
            sampling: 0,
            subject: "lat.r3".into()
        })
    );
    assert!(x[7].allow_trace);
    assert_eq!(x[7].response_type, ResponseType::Singleton);
    assert_eq!(x[8].token_position, 2);
}

#[test]
fn imports_every_form() {
    let o = opts(
        "accounts {\n A { exports [ {stream: \"a.>\"}, {service: \"q\"}, {service: \"r.*\"} ] }\n B {\n imports [\n\
         {stream: {account: A, subject: \"a.>\"}, prefix: \"fromA\"}\n\
         {stream: {account: A, subject: \"a.b\"}, to: \"local.b\"}\n\
         {service: {account: A, subject: \"q\"}, to: \"local.q\", share: true}\n\
         {service: {account: A, subject: \"r.*\"}}\n\
         ]\n }\n}\n",
    );
    let i = &account(&o, "B").imports;
    assert_eq!(
        i[0],
        ImportConfig {
            kind: ExportKind::Stream,
            account: "A".into(),
            subject: "a.>".into(),
            prefix: Some("fromA".into()),
            ..ImportConfig::default()
        }
    );
    assert_eq!(i[1].to.as_deref(), Some("local.b"));
    assert_eq!(
        i[2],
        ImportConfig {
            kind: ExportKind::Service,
            account: "A".into(),
            subject: "q".into(),
            to: Some("local.q".into()),
            share: true,
            ..ImportConfig::default()
        }
    );
    assert_eq!((i[3].kind, i[3].to.as_deref()), (ExportKind::Service, None));
}

#[test]
fn mappings_top_level_and_in_accounts() {
    let o = opts(
        "mappings {\n \"orders.*\": \"orders.mapped.{{wildcard(1)}}\"\n \
         w: [ {destination: \"w.a\", weight: 70%}, {dest: \"w.b\", weight: 30} ]\n \
         cs: [ {destination: \"cs.l\", weight: \"100%\", cluster: cx}, {destination: \"cs.o\", weight: 100} ]\n \
         one: {dest: \"one.x\", weight: 40}\n}\n\
         accounts { A { maps { m: n } } }\n",
    );
    let d = |s: &str, w: u8, c: Option<&str>| MapDest {
        subject: s.into(),
        weight: w,
        cluster: c.map(String::from),
    };
    assert_eq!(
        o.mappings,
        vec![
            MappingConfig {
                source: "orders.*".into(),
                destinations: vec![d("orders.mapped.{{wildcard(1)}}", 100, None)]
            },
            MappingConfig {
                source: "w".into(),
                destinations: vec![d("w.a", 70, None), d("w.b", 30, None)]
            },
            MappingConfig {
                source: "cs".into(),
                destinations: vec![d("cs.l", 100, Some("cx")), d("cs.o", 100, None)]
            },
            MappingConfig {
                source: "one".into(),
                destinations: vec![d("one.x", 40, None)]
            },
        ]
    );
    assert_eq!(
        account(&o, "A").mappings,
        vec![MappingConfig {
            source: "m".into(),
            destinations: vec![d("n", 100, None)]
        }]
    );
}

#[test]
fn system_account_and_no_sys_acc_aliases() {
    let o = opts("system_account: SYS\naccounts { SYS {} }\n");
    assert_eq!(o.system_account.as_deref(), Some("SYS"));
    assert_eq!(o.validate(), Ok(()));
    assert_eq!(opts("system: X\n").system_account.as_deref(), Some("X"));
    for key in ["no_sys_acc", "no_system_account", "no_system"] {
        assert!(opts(&format!("{key}: true\n")).no_sys_acc, "{key}");
    }
    assert_eq!(
        opts("system_account: NOPE\n")
            .validate()
            .unwrap_err()
            .to_string(),
        "error resolving system account: account missing"
    );
    assert_eq!(opts("system_account: \"$G\"\n").validate(), Ok(()));
}

#[test]
fn errors_that_nats_server_reports_by_map_order_are_always_reported() {
    assert_eq!(
        err("accounts {\n A { exports [ {stream: \">\"} ] }\n B { imports [ {to: \"y\", stream: {account: A, subject: \"x\"}, prefix: p} ] }\n}\n"),
        "t.conf:3:17: Stream import can not have a 'prefix' and a 'to' property\n"
    );
    assert_eq!(
        err("accounts {\n A { users [ {user: a} ] }\n}\nauthorization { user: u, password: p }\n"),
        "t.conf:2:6: Can not have a single user/pass and accounts\n"
    );
    assert_eq!(
        err("authorization { users [ {user: x} ] }\naccounts {\n A { users [ {user: x} ] }\n}\n"),
        "t.conf:3:6: Duplicate user \"x\" detected\n"
    );
}

#[test]
fn no_auth_user_without_any_user_is_refused_at_start() {
    let o = opts("no_auth_user: nobody\naccounts { A {} }\n");
    assert_eq!(
        o.validate().unwrap_err().to_string(),
        "no_auth_user: \"nobody\" present, but users are not defined"
    );
}

#[test]
fn reload_reports_accounts_and_refuses_system_account_changes() {
    let a = opts("accounts { A {} }\n");
    let b = opts("accounts { A { users [ {user: u} ] } }\n");
    let changes = crate::config::diff(&a, &b).unwrap();
    assert!(
        changes
            .iter()
            .any(|c| c.option == crate::config::ACCOUNTS_CHANGE),
        "{changes:?}"
    );
    assert!(crate::config::diff(&a, &a).unwrap().is_empty());
    let m = opts("mappings { a: b }\n");
    assert_eq!(
        crate::config::diff(&Options::default(), &m).unwrap()[0].to_string(),
        "Reloaded: accounts"
    );
    let s = opts("system_account: A\naccounts { A {} }\n");
    assert_eq!(
        crate::config::diff(&a, &s).unwrap_err().to_string(),
        "config reload not supported for SystemAccount: old=$SYS, new=A"
    );
}
