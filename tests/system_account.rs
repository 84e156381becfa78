//! The system account against the real nats-server 2.15.1: one
//! configuration (accounts A and B, a SYS account with a user,
//! `system_account: SYS`) run by both servers, the same raw conversation
//! with each — a SYS user watching `$SYS.ACCOUNT.>` and auth errors while A
//! connects, asks the services and leaves, and a login fails — and every
//! JSON document compared key for key and type for type (ids, times and
//! counts differ by nature). A service where one server answers and the
//! other stays silent is a difference too.

mod support;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use serde_json::Value;
use support::{Event, Raw, RealServer};

const CONFIG: &str = r#"
server_name: S1
accounts {
  A { users [ {user: a, password: pw, permissions: {
        publish: {allow: [">"], deny: ["foo.bar"]}
        subscribe: {allow: [">"], deny: ["x"]}
        allow_responses: {max: 2, expires: "1m"} }} ] }
  B { users [ {user: b, password: pw} ] }
  SYS { users [ {user: sys, password: pw} ] }
}
system_account: SYS
"#;

/// (step, JSON path, why) differences accepted on purpose.
const ALLOWED: &[(&str, &str, &str)] = &[
    (
        "SERVER.PING.VARZ",
        "*",
        "/varz itself differs from 2.15.1 (tests/monitor_diff.rs)",
    ),
    (
        "ACCOUNT.A.INFO",
        "",
        "/accountz of a named account is the acct-monitor branch's",
    ),
    (
        "disconnect",
        ".client.rtt",
        "we have not measured an rtt yet",
    ),
    (
        "auth error",
        ".client.rtt",
        "we have not measured an rtt yet",
    ),
    (
        "auth error $G disconnect",
        ".client.rtt",
        "we have not measured an rtt yet",
    ),
];

async fn login(addr: SocketAddr, user: &str, pass: &str) -> Raw {
    let mut c = Raw::connect(addr).await;
    let connect = serde_json::json!({
        "user": user, "pass": pass, "verbose": false, "headers": true,
        "no_responders": true, "protocol": 1, "name": "evt", "lang": "raw", "version": "0.1",
    });
    c.send(format!("CONNECT {connect}\r\n").as_bytes()).await;
    c
}

/// The next `MSG`/`HMSG` (subject, payload) within `bound`, answering PINGs.
async fn next_msg(c: &mut Raw, bound: Duration) -> Option<(String, Vec<u8>)> {
    let end = tokio::time::Instant::now() + bound;
    loop {
        let left = end.saturating_duration_since(tokio::time::Instant::now());
        if left.is_zero() {
            return None;
        }
        match c.next(left).await {
            Event::Frame(f) if f == b"PING\r\n" => c.send(b"PONG\r\n").await,
            Event::Frame(f) if f.starts_with(b"MSG ") || f.starts_with(b"HMSG ") => {
                let eol = f.windows(2).position(|w| w == b"\r\n")?;
                let line = String::from_utf8_lossy(&f[..eol]).to_string();
                let subject = line.split_whitespace().nth(1)?.to_string();
                let mut payload = f[eol + 2..f.len() - 2].to_vec();
                if f.starts_with(b"HMSG ") {
                    // Keep the status line only (no-responders).
                    payload = payload.split(|b| *b == b'\r').next()?.to_vec();
                }
                return Some((subject, payload));
            }
            Event::Frame(_) => {}
            _ => return None,
        }
    }
}

/// Waits for a message on `subject`, skipping others (bounded).
async fn wait_for(c: &mut Raw, subject: &str) -> Option<Value> {
    let end = tokio::time::Instant::now() + support::WAIT;
    while let Some((s, p)) = next_msg(
        c,
        end.saturating_duration_since(tokio::time::Instant::now()),
    )
    .await
    {
        if s == subject {
            return Some(
                serde_json::from_slice(&p)
                    .unwrap_or(Value::String(String::from_utf8_lossy(&p).to_string())),
            );
        }
    }
    None
}

async fn request(c: &mut Raw, n: usize, subject: &str, body: &str) -> Option<Value> {
    let reply = format!("rsp.{n}");
    c.send(format!("PUB {subject} {reply} {}\r\n{body}\r\n", body.len()).as_bytes())
        .await;
    wait_for(c, &reply).await
}

/// Every document of the conversation, by step (`None` = no answer).
async fn conversation(addr: SocketAddr) -> Vec<(String, Option<Value>)> {
    let mut out = Vec::new();
    let mut sys = login(addr, "sys", "pw").await;
    sys.send(b"SUB $SYS.ACCOUNT.> 1\r\nSUB $SYS.SERVER.*.CLIENT.AUTH.ERR 2\r\nSUB rsp.> 9\r\n")
        .await;
    sys.until_pong().await;
    let mut a = login(addr, "a", "pw").await;
    a.send(b"SUB rsp.> 9\r\n").await;
    a.until_pong().await;
    out.push((
        "account conns".into(),
        wait_for(&mut sys, "$SYS.ACCOUNT.A.SERVER.CONNS").await,
    ));
    out.push((
        "connect".into(),
        wait_for(&mut sys, "$SYS.ACCOUNT.A.CONNECT").await,
    ));
    let sys_requests = [
        ("SERVER.PING", "$SYS.REQ.SERVER.PING", ""),
        ("SERVER.PING.IDZ", "$SYS.REQ.SERVER.PING.IDZ", ""),
        ("SERVER.PING.STATSZ", "$SYS.REQ.SERVER.PING.STATSZ", ""),
        ("SERVER.PING.VARZ", "$SYS.REQ.SERVER.PING.VARZ", ""),
        ("SERVER.PING.HEALTHZ", "$SYS.REQ.SERVER.PING.HEALTHZ", ""),
        ("bad body", "$SYS.REQ.SERVER.PING.HEALTHZ", "{bad"),
        (
            "filtered out",
            "$SYS.REQ.SERVER.PING.VARZ",
            r#"{"server_name":"zz"}"#,
        ),
        ("ACCOUNT.A.STATZ", "$SYS.REQ.ACCOUNT.A.STATZ", ""),
        ("ACCOUNT.B.STATZ (silent)", "$SYS.REQ.ACCOUNT.B.STATZ", ""),
        ("ACCOUNT.A.CONNS", "$SYS.REQ.ACCOUNT.A.CONNS", ""),
        ("ACCOUNT.B.CONNS (silent)", "$SYS.REQ.ACCOUNT.B.CONNS", ""),
        ("ACCOUNT.A.INFO", "$SYS.REQ.ACCOUNT.A.INFO", ""),
        ("ACCOUNT.PING.STATZ", "$SYS.REQ.ACCOUNT.PING.STATZ", ""),
        ("sys USER.INFO", "$SYS.REQ.USER.INFO", ""),
    ];
    for (n, (step, subject, body)) in sys_requests.iter().enumerate() {
        let quiet = step.contains("silent") || step.contains("filtered");
        let got = if quiet {
            let reply = format!("rsp.{n}");
            sys.send(format!("PUB {subject} {reply} {}\r\n{body}\r\n", body.len()).as_bytes())
                .await;
            // Silence: nothing on the reply within the quiet bound.
            let mut seen = None;
            while let Some((s, p)) = next_msg(&mut sys, support::QUIET * 3).await {
                if s == reply {
                    seen = Some(Value::String(String::from_utf8_lossy(&p).to_string()));
                }
            }
            seen
        } else {
            request(&mut sys, n, subject, body).await
        };
        out.push((step.to_string(), got));
    }
    let a_requests = [
        ("a USER.INFO", "$SYS.REQ.USER.INFO"),
        ("a ACCOUNT.PING.STATZ", "$SYS.REQ.ACCOUNT.PING.STATZ"),
        ("a SERVER.PING (503)", "$SYS.REQ.SERVER.PING"),
    ];
    for (n, (step, subject)) in a_requests.iter().enumerate() {
        out.push((step.to_string(), request(&mut a, n, subject, "").await));
    }
    drop(a);
    out.push((
        "disconnect".into(),
        wait_for(&mut sys, "$SYS.ACCOUNT.A.DISCONNECT").await,
    ));
    let _bad = login(addr, "a", "wrong").await;
    let mut auth_err = None;
    let end = tokio::time::Instant::now() + support::WAIT;
    while auth_err.is_none() {
        let left = end.saturating_duration_since(tokio::time::Instant::now());
        let Some((s, p)) = next_msg(&mut sys, left).await else {
            break;
        };
        if s.ends_with(".CLIENT.AUTH.ERR") {
            auth_err = serde_json::from_slice(&p).ok();
        }
    }
    out.push(("auth error".into(), auth_err));
    out.push((
        "auth error $G disconnect".into(),
        wait_for(&mut sys, "$SYS.ACCOUNT.$G.DISCONNECT").await,
    ));
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    missing_nats_server_2_15,
    ignore = "needs nats-server 2.15.x (/opt/natsvenv/bin or .ci/venv/bin)"
)]
async fn system_account_matches_nats_server() {
    let real_bin = support::real_2_15("system_account_matches_nats_server");
    let ours = RealServer::start(env!("CARGO_BIN_EXE_nats-server").as_ref(), Some(CONFIG)).await;
    let real = RealServer::start(&real_bin, Some(CONFIG)).await;
    let got = conversation(ours.addr).await;
    let want = conversation(real.addr).await;
    assert_eq!(got.len(), want.len());
    let mut problems = Vec::new();
    for ((step, o), (_, t)) in got.iter().zip(&want) {
        let allowed = |path: &str| {
            ALLOWED
                .iter()
                .any(|(s, p, _)| s == step && (p.is_empty() || *p == "*" || *p == path))
        };
        match (o, t) {
            (Some(o), Some(t)) => support::shape::compare(
                step,
                "",
                &support::shape::shape(o),
                &support::shape::shape(t),
                &mut problems,
                &|_, path| allowed(path),
            ),
            (None, None) => {}
            _ if allowed("") => {}
            _ => problems.push(format!(
                "{step}: ours answered {}, nats-server {}",
                o.is_some(),
                t.is_some()
            )),
        }
    }
    assert!(problems.is_empty(), "differences: {problems:#?}");
    // What the conversation must have shown, so that two silent servers
    // cannot pass.
    let by_step: BTreeMap<&str, &Option<Value>> =
        got.iter().map(|(s, v)| (s.as_str(), v)).collect();
    for step in [
        "connect",
        "disconnect",
        "auth error",
        "SERVER.PING",
        "ACCOUNT.A.STATZ",
        "a USER.INFO",
    ] {
        assert!(by_step[step].is_some(), "{step}: no answer from ours");
    }
    let user = by_step["a USER.INFO"].as_ref().unwrap();
    assert_eq!(user["data"]["user"], "a");
    assert_eq!(user["data"]["account"], "A");
    // The user's permissions, value for value.
    let theirs: BTreeMap<&str, &Option<Value>> =
        want.iter().map(|(s, v)| (s.as_str(), v)).collect();
    assert_eq!(
        user["data"]["permissions"],
        theirs["a USER.INFO"].as_ref().unwrap()["data"]["permissions"]
    );
    assert_eq!(
        user["data"]["permissions"]["responses"]["ttl"],
        60_000_000_000u64
    );
    let err = by_step["bad body"].as_ref().unwrap();
    assert_eq!(
        err["error"]["description"],
        "invalid character 'b' looking for beginning of object key string"
    );
    assert_eq!(err["error"]["code"], 400);
    assert_eq!(
        by_step["a SERVER.PING (503)"],
        &Some(Value::String("NATS/1.0 503".into()))
    );
    assert_eq!(
        by_step["auth error"].as_ref().unwrap()["reason"],
        "Authentication Failure"
    );
    assert_eq!(by_step["ACCOUNT.B.STATZ (silent)"], &None);
    assert_eq!(by_step["filtered out"], &None);
}
