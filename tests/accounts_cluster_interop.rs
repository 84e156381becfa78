//! Accounts across a mixed cluster: our server and the real nats-server
//! (2.9.10 and 2.15.x) with the same accounts, soliciting each other. Each
//! account stays apart across the route, a stream import is served from a
//! publish on the other server, and a service import is answered across the
//! route in both directions (requester on one server, responder on the
//! other). Fails under CI when a real server is missing.

mod support;

use std::net::SocketAddr;
use std::path::Path;

use support::{Event, Raw, RealServer, WAIT};

const ACCOUNTS: &str = r#"
accounts {
  A {
    users [ {user: a, password: pw} ]
    exports [ {stream: "news.>"}, {service: "svc.echo"} ]
  }
  B {
    users [ {user: b, password: pw} ]
    imports [
      {stream: {account: A, subject: "news.>"}, prefix: "fromA"}
      {service: {account: A, subject: "svc.echo"}, to: "echo"}
    ]
  }
  C { users [ {user: c, password: pw} ] }
}
"#;

/// A node of cluster `acc` on route port `port`, routing to `routes`.
async fn node(bin: &Path, port: u16, routes: &[u16], log: Option<&Path>) -> RealServer {
    let routes: Vec<String> = routes
        .iter()
        .map(|p| format!("\"nats-route://127.0.0.1:{p}\""))
        .collect();
    let mut config = format!(
        "{ACCOUNTS}\ncluster {{\n  name: acc\n  listen: \"127.0.0.1:{port}\"\n  routes: [{}]\n}}\n",
        routes.join(", ")
    );
    if let Some(log) = log {
        config.push_str(&format!("log_file: {:?}\n", log.display().to_string()));
    }
    RealServer::start(bin, Some(&config)).await
}

async fn login(addr: SocketAddr, user: &str) -> Raw {
    let mut c = Raw::login(addr, user).await;
    c.sync().await;
    c
}

/// MSG lines (payloads dropped) received until the PONG of a PING.
async fn msgs(c: &mut Raw) -> Vec<String> {
    c.msgs().await
}

/// Publishes `subject` from `from` until `to` receives it (interest has
/// crossed the route); bounded by SLOW.
async fn until_crossed(from: &mut Raw, to: &mut Raw, subject: &str) {
    let deadline = tokio::time::Instant::now() + support::SLOW;
    loop {
        from.send(format!("PUB {subject} 5\r\nprobe\r\n").as_bytes())
            .await;
        from.sync().await;
        if !msgs(to).await.is_empty() {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "interest in {subject} never crossed"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    tokio::time::sleep(support::QUIET).await;
    msgs(to).await;
}

/// The request a responder got: its `_R_` reply subject.
async fn request_reply(responder: &mut Raw, prefix: &str) -> String {
    for _ in 0..100 {
        match responder.next(WAIT).await {
            Event::Frame(f) if f == b"PING\r\n" => responder.send(b"PONG\r\n").await,
            Event::Frame(f) if f.starts_with(prefix.as_bytes()) => {
                let line = String::from_utf8_lossy(&f).to_string();
                return line.split(' ').nth(3).unwrap().to_string();
            }
            other => panic!("expected {prefix}…, got {other:?}"),
        }
    }
    panic!("no request");
}

/// A request from `requester` (account B on one server) to `responder`
/// (account A on the other), and the answer back.
async fn request_across(requester: &mut Raw, responder: &mut Raw, inbox: &str) {
    requester
        .send(format!("SUB {inbox} 90\r\n").as_bytes())
        .await;
    requester.sync().await;
    // The reply's interest must cross before the answer: retry the request
    // (bounded) until one is answered.
    let deadline = tokio::time::Instant::now() + support::SLOW;
    loop {
        requester
            .send(format!("PUB echo {inbox} 2\r\nhi\r\n").as_bytes())
            .await;
        requester.sync().await;
        let reply = request_reply(responder, "MSG svc.echo 2 _R_.").await;
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        responder
            .send(format!("PUB {reply} 2\r\nok\r\n").as_bytes())
            .await;
        responder.sync().await;
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let got = msgs(requester).await;
        if got
            .iter()
            .any(|m| m.starts_with(&format!("MSG {inbox} 90 2")))
        {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no answer across the route for {inbox}"
        );
    }
}

async fn exercise(ours: &RealServer, theirs: &RealServer) {
    for (name, here, there) in [("ours→theirs", ours, theirs), ("theirs→ours", theirs, ours)] {
        // Responder and A's subscriber on `there`; B and C on `here`.
        let mut a = login(there.addr, "a").await;
        a.send(b"SUB foo 1\r\nSUB svc.echo 2\r\n").await;
        a.sync().await;
        let mut b = login(here.addr, "b").await;
        b.send(b"SUB foo 1\r\nSUB fromA.news.x 2\r\n").await;
        b.sync().await;
        let mut c = login(here.addr, "c").await;
        c.send(b"SUB foo 1\r\n").await;
        c.sync().await;
        let mut a_here = login(here.addr, "a").await;
        until_crossed(&mut a_here, &mut a, "foo").await;
        // A's publish on `there` reaches neither B nor C on `here`…
        a.send(b"PUB foo 1\r\nx\r\n").await;
        a.sync().await;
        tokio::time::sleep(support::QUIET).await;
        assert!(msgs(&mut b).await.is_empty(), "{name}: B saw A's foo");
        assert!(msgs(&mut c).await.is_empty(), "{name}: C saw A's foo");
        // …except through B's import of A's stream.
        let deadline = tokio::time::Instant::now() + support::SLOW;
        loop {
            a.send(b"PUB news.x 1\r\nn\r\n").await;
            a.sync().await;
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            if msgs(&mut b)
                .await
                .iter()
                .any(|m| m == "MSG fromA.news.x 2 1")
            {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{name}: the stream import never crossed"
            );
        }
        request_across(&mut b, &mut a, &format!("inbox.{}", name.len())).await;
    }
}

/// Runs [`exercise`] on a pair; returns our server's log.
async fn pair(real_bin: &Path, ours_solicits: bool) -> String {
    let ours_bin: &Path = env!("CARGO_BIN_EXE_nats-server").as_ref();
    let dir = std::env::temp_dir().join(format!("acc-interop-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join(format!("ours-{}.log", support::free_port()));
    let (p1, p2) = (support::free_port(), support::free_port());
    let (ours, theirs) = if ours_solicits {
        let theirs = node(real_bin, p2, &[], None).await;
        (node(ours_bin, p1, &[p2], Some(&log)).await, theirs)
    } else {
        let ours = node(ours_bin, p1, &[], Some(&log)).await;
        let theirs = node(real_bin, p2, &[p1], None).await;
        (ours, theirs)
    };
    exercise(&ours, &theirs).await;
    drop(theirs);
    drop(ours);
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let _ = std::fs::remove_file(&log);
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    missing_nats_server_2_9,
    ignore = "needs nats-server 2.9.10 at /usr/sbin/nats-server"
)]
async fn accounts_with_2_9_both_ways() {
    let bin = support::real_2_9("accounts_with_2_9_both_ways");
    pair(&bin, true).await;
    pair(&bin, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    missing_nats_server_2_15,
    ignore = "needs nats-server 2.15.x (/opt/natsvenv/bin or .ci/venv/bin)"
)]
async fn accounts_with_2_15_both_ways() {
    let bin = support::real_2_15("accounts_with_2_15_both_ways");
    for ours_solicits in [true, false] {
        let log = pair(&bin, ours_solicits).await;
        // 2.15 tries a dedicated route for the system account and is
        // refused; that is no error on our side.
        assert!(log.contains("Route connection created"), "{log}");
        assert!(!log.contains("[ERR]"), "{log}");
    }
}
