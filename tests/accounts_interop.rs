//! Accounts against the real nats-server 2.15.1: one configuration file
//! (accounts with users, a stream export imported with a prefix and with a
//! remap, a service export imported under another name, an account mapping)
//! run by both servers, and the same raw conversation with each; the frames
//! every client receives must be the same once the random parts (the `_R_`
//! reply ids, the measured `rtt`, sizes that carry it) are blanked.

mod support;

use std::net::SocketAddr;

use support::{Event, Raw, RealServer};

const CONFIG: &str = r#"
accounts {
  A {
    users [ {user: a, password: pw} ]
    exports [
      {stream: "news.>"}
      {stream: "ev.*.*"}
      {service: "svc.echo"}
      {service: "svc.none"}
    ]
  }
  B {
    users [ {user: b, password: pw} ]
    imports [
      {stream: {account: A, subject: "news.>"}, prefix: "fromA"}
      {stream: {account: A, subject: "ev.*.*"}, to: "imp.$2.$1"}
      {service: {account: A, subject: "svc.echo"}, to: "echo"}
      {service: {account: A, subject: "svc.none"}}
    ]
    mappings { "orders.*": "orders.mapped.{{wildcard(1)}}" }
  }
  C { users [ {user: c, password: pw} ] }
}
"#;

async fn login(addr: SocketAddr, user: &str) -> Raw {
    let mut c = Raw::connect(addr).await;
    let connect = serde_json::json!({
        "user": user, "pass": "pw", "verbose": false, "headers": true,
        "no_responders": true, "protocol": 1,
    });
    c.send(format!("CONNECT {connect}\r\n").as_bytes()).await;
    c
}

/// Frames up to the PONG of a PING sent now, random parts blanked, PINGs
/// answered and INFOs left out (2.12+ sends one after CONNECT).
async fn settle(c: &mut Raw) -> Vec<String> {
    c.send(b"PING\r\n").await;
    let mut out = Vec::new();
    for _ in 0..1000 {
        match c.next(support::WAIT).await {
            Event::Frame(f) if f == b"PONG\r\n" => return out,
            Event::Frame(f) if f == b"PING\r\n" => c.send(b"PONG\r\n").await,
            Event::Frame(f) if f.starts_with(b"INFO ") => {}
            Event::Frame(f) => out.push(blank(&String::from_utf8_lossy(&f))),
            other => {
                out.push(format!("{other:?}"));
                return out;
            }
        }
    }
    out
}

/// Blanks `_R_` ids, the rtt value, and the sizes of an HMSG that carries
/// one (they depend on the rtt's digits).
fn blank(frame: &str) -> String {
    let mut lines: Vec<String> = frame.split("\r\n").map(str::to_string).collect();
    let has_rtt = frame.contains("\"rtt\":");
    for line in &mut lines {
        let words: Vec<String> = line
            .split(' ')
            .map(|w| match w.strip_prefix("_R_.") {
                Some(_) => "_R_.<id>".to_string(),
                None => w.to_string(),
            })
            .collect();
        *line = words.join(" ");
        if let Some(at) = line.find("\"rtt\":") {
            let end = line[at + 6..]
                .find(|c: char| !c.is_ascii_digit())
                .map_or(line.len(), |e| at + 6 + e);
            line.replace_range(at + 6..end, "<rtt>");
        }
    }
    if has_rtt && lines[0].starts_with("HMSG ") {
        let mut w: Vec<&str> = lines[0].split(' ').collect();
        let n = w.len();
        w.truncate(n - 2);
        lines[0] = format!("{} <sizes>", w.join(" "));
    }
    lines.join("|")
}

/// The conversation, returning what each step's clients received.
async fn conversation(addr: SocketAddr) -> Vec<(String, Vec<String>)> {
    let mut log = Vec::new();
    let mut a = login(addr, "a").await;
    let mut b = login(addr, "b").await;
    let mut c = login(addr, "c").await;
    a.send(b"SUB foo 1\r\nSUB svc.echo 2\r\nSUB news.> 3\r\n")
        .await;
    b.send(b"SUB foo 1\r\nSUB fromA.> 2\r\nSUB imp.> 3\r\nSUB inbox.> 4\r\nSUB orders.> 5\r\n")
        .await;
    c.send(b"SUB foo 1\r\n").await;
    for (who, cl) in [("a", &mut a), ("b", &mut b), ("c", &mut c)] {
        log.push((format!("login {who}"), settle(cl).await));
    }
    let mut step = |name: &str, a: Vec<String>, b: Vec<String>, c: Vec<String>| {
        log.push((format!("{name}: a"), a));
        log.push((format!("{name}: b"), b));
        log.push((format!("{name}: c"), c));
    };

    c.send(b"PUB foo 2\r\nhi\r\n").await;
    let sc = settle(&mut c).await;
    step("isolation", settle(&mut a).await, settle(&mut b).await, sc);

    a.send(b"PUB news.x 3\r\nabc\r\nPUB ev.one.two 1\r\nz\r\n")
        .await;
    let sa = settle(&mut a).await;
    step(
        "stream imports",
        sa,
        settle(&mut b).await,
        settle(&mut c).await,
    );

    b.send(b"PUB echo inbox.r1 5\r\nhello\r\n").await;
    let sb = settle(&mut b).await;
    let sa = settle(&mut a).await;
    step("service request", sa.clone(), sb, settle(&mut c).await);

    // a answers on the reply it saw, twice: a singleton passes one.
    let reply = sa
        .iter()
        .find(|f| f.starts_with("HMSG svc.echo"))
        .map(|_| ());
    assert!(reply.is_some(), "no request reached a: {sa:?}");
    let raw_reply = last_reply(&mut a, &mut b).await;
    a.send(format!("PUB {raw_reply} 2\r\nok\r\nPUB {raw_reply} 3\r\nbad\r\n").as_bytes())
        .await;
    let sa = settle(&mut a).await;
    step(
        "service responses",
        sa,
        settle(&mut b).await,
        settle(&mut c).await,
    );

    b.send(b"PUB svc.none inbox.r5 0\r\n\r\n").await;
    step(
        "no responders",
        settle(&mut a).await,
        settle(&mut b).await,
        settle(&mut c).await,
    );

    b.send(b"PUB orders.new 1\r\nx\r\n").await;
    step(
        "mapping",
        settle(&mut a).await,
        settle(&mut b).await,
        settle(&mut c).await,
    );

    c.send(b"PUB foo _R_.abc.def 1\r\nx\r\n").await;
    let sc = settle(&mut c).await;
    step(
        "reserved reply",
        settle(&mut a).await,
        settle(&mut b).await,
        sc,
    );
    log
}

/// Sends one more request from b and returns the raw `_R_` reply a sees.
async fn last_reply(a: &mut Raw, b: &mut Raw) -> String {
    b.send(b"PUB echo inbox.r2 2\r\nhi\r\n").await;
    settle(b).await;
    a.send(b"PING\r\n").await;
    for _ in 0..100 {
        match a.next(support::WAIT).await {
            Event::Frame(f) if f.starts_with(b"HMSG svc.echo 2 _R_.") => {
                let line = String::from_utf8_lossy(&f).to_string();
                let reply = line.split(' ').nth(3).unwrap().to_string();
                // Drain to the PONG of the PING above (not a new one: a
                // PONG left behind would end a later settle too early).
                for _ in 0..100 {
                    match a.next(support::WAIT).await {
                        Event::Frame(f) if f == b"PONG\r\n" => return reply,
                        Event::Frame(f) if f == b"PING\r\n" => a.send(b"PONG\r\n").await,
                        Event::Frame(_) => {}
                        other => panic!("no PONG: {other:?}"),
                    }
                }
                panic!("no PONG");
            }
            Event::Frame(f) if f == b"PING\r\n" => a.send(b"PONG\r\n").await,
            Event::Frame(_) => {}
            other => panic!("no request reached a: {other:?}"),
        }
    }
    panic!("no request reached a");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    missing_nats_server_2_15,
    ignore = "needs nats-server 2.15.x (/opt/natsvenv/bin or .ci/venv/bin)"
)]
async fn accounts_conversation_matches_nats_server() {
    let real_bin = support::real_2_15("accounts_conversation_matches_nats_server");
    let ours = RealServer::start(env!("CARGO_BIN_EXE_nats-server").as_ref(), Some(CONFIG)).await;
    let real = RealServer::start(&real_bin, Some(CONFIG)).await;
    let got = conversation(ours.addr).await;
    let want = conversation(real.addr).await;
    for ((step, o), (_, t)) in got.iter().zip(&want) {
        assert_eq!(o, t, "{step}: ours vs nats-server 2.15.1");
    }
    assert_eq!(got.len(), want.len());
    // What the conversation must have shown, so that two servers that both
    // deliver nothing cannot pass.
    let flat: Vec<&String> = got.iter().flat_map(|(_, f)| f).collect();
    for needle in [
        "MSG fromA.news.x 2 3",
        "MSG imp.two.one 3 1",
        "HMSG svc.echo 2 _R_.<id> <sizes>",
        "MSG inbox.r2 4 2",
        "MSG orders.mapped.new 5 1",
    ] {
        assert!(
            flat.iter().any(|f| f.starts_with(needle)),
            "missing {needle}: {flat:?}"
        );
    }
}

const LATENCY: &str = r#"
accounts {
  A {
    users [ {user: a, password: pw} ]
    exports [ {service: "svc.lat", latency: {sampling: 100%, subject: "lat.results"}} ]
  }
  B {
    users [ {user: b, password: pw} ]
    imports [ {service: {account: A, subject: "svc.lat"}} ]
  }
}
"#;

/// A sampled request and its answer; returns the tracked reply subject and
/// the latency result a subscriber of `lat.results` in A received.
async fn latency_result(addr: SocketAddr) -> (String, serde_json::Value) {
    let mut a = login(addr, "a").await;
    let mut b = login(addr, "b").await;
    a.send(b"SUB svc.lat 1\r\nSUB lat.results 2\r\n").await;
    settle(&mut a).await;
    b.send(b"SUB inbox.1 1\r\nPUB svc.lat inbox.1 2\r\nhi\r\n")
        .await;
    settle(&mut b).await;
    let reply = loop {
        match a.next(support::WAIT).await {
            Event::Frame(f) if f.starts_with(b"HMSG svc.lat 1 ") => {
                let line = String::from_utf8_lossy(&f).to_string();
                break line.split(' ').nth(3).unwrap().to_string();
            }
            Event::Frame(f) if f == b"PING\r\n" || f.starts_with(b"INFO ") || f == b"PONG\r\n" => {}
            other => panic!("expected the request, got {other:?}"),
        }
    };
    a.send(format!("PUB {reply} 2\r\nok\r\n").as_bytes()).await;
    let result = loop {
        match a.next(support::WAIT).await {
            Event::Frame(f) if f.starts_with(b"MSG lat.results 2 ") => {
                let text = String::from_utf8_lossy(&f).to_string();
                let body = text.split("\r\n").nth(1).unwrap().to_string();
                break serde_json::from_str(&body).unwrap();
            }
            Event::Frame(f) if f == b"PING\r\n" || f.starts_with(b"INFO ") || f == b"PONG\r\n" => {}
            other => panic!("expected the latency result, got {other:?}"),
        }
    };
    assert_eq!(settle(&mut b).await, ["MSG inbox.1 1 2|ok|"]);
    (reply, result)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    missing_nats_server_2_15,
    ignore = "needs nats-server 2.15.x (/opt/natsvenv/bin or .ci/venv/bin)"
)]
async fn service_latency_result_matches_nats_server() {
    let real_bin = support::real_2_15("service_latency_result_matches_nats_server");
    let ours = RealServer::start(env!("CARGO_BIN_EXE_nats-server").as_ref(), Some(LATENCY)).await;
    let real = RealServer::start(&real_bin, Some(LATENCY)).await;
    let (our_reply, ours_json) = latency_result(ours.addr).await;
    let (their_reply, theirs_json) = latency_result(real.addr).await;
    // `_R_.<6>.<6>.<server hash>.T`
    let shape = |r: &str| r.split('.').map(str::len).collect::<Vec<_>>();
    assert_eq!(
        shape(&our_reply),
        shape(&their_reply),
        "{our_reply} vs {their_reply}"
    );
    assert!(our_reply.ends_with(".T"));
    let mut diffs = Vec::new();
    support::shape::compare(
        "latency",
        "",
        &support::shape::shape(&ours_json),
        &support::shape::shape(&theirs_json),
        &mut diffs,
        &|_, _| false,
    );
    assert!(diffs.is_empty(), "{diffs:?}\n{ours_json}\n{theirs_json}");
    assert_eq!(
        ours_json["type"],
        "io.nats.server.metric.v1.service_latency"
    );
    assert_eq!(ours_json["requestor"]["acc"], "B");
    assert_eq!(ours_json["responder"]["acc"], "A");
    let n = |k: &str| ours_json[k].as_u64().unwrap();
    assert!(n("total") >= n("service") + n("system"), "{ours_json}");
}

const LIMITS: &str = r#"
accounts {
  A {
    users [ {user: a, password: pw} ]
    limits { max_payload: 10, max_subscriptions: 2, max_connections: 2 }
  }
}
"#;

/// Account limits: subscriptions, connections, payload (the last closes).
async fn limits_conversation(addr: SocketAddr) -> Vec<String> {
    let mut out = Vec::new();
    let mut a = login(addr, "a").await;
    a.send(b"SUB s1 1\r\nSUB s2 2\r\nSUB s3 3\r\n").await;
    out.extend(settle(&mut a).await);
    let mut second = login(addr, "a").await;
    out.extend(settle(&mut second).await);
    let mut third = login(addr, "a").await;
    out.extend(settle(&mut third).await);
    a.send(b"PUB s1 11\r\n01234567890\r\n").await;
    out.extend(settle(&mut a).await);
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    missing_nats_server_2_15,
    ignore = "needs nats-server 2.15.x (/opt/natsvenv/bin or .ci/venv/bin)"
)]
async fn account_limits_match_nats_server() {
    let real_bin = support::real_2_15("account_limits_match_nats_server");
    let ours = RealServer::start(env!("CARGO_BIN_EXE_nats-server").as_ref(), Some(LIMITS)).await;
    let real = RealServer::start(&real_bin, Some(LIMITS)).await;
    let got = limits_conversation(ours.addr).await;
    let want = limits_conversation(real.addr).await;
    assert_eq!(got, want);
    for expected in [
        "-ERR 'maximum subscriptions exceeded'|",
        "-ERR 'maximum account active connections exceeded'|",
        "-ERR 'Maximum Payload Violation'|",
    ] {
        assert!(got.iter().any(|f| f == expected), "{expected}: {got:?}");
    }
}
