//! Reloading accounts (SIGHUP) while traffic flows: a user removed from its
//! account and a user moved to another account are cut with nats-server's
//! `Authorization Violation`; every message between the clients that stay
//! arrives, in order. Also `no_auth_user` naming a user inside an account.

mod support;

use std::time::Duration;

use support::{Event, Raw, RealServer};

fn config(b_users: &str, m_account: &str) -> String {
    let m_in = |acc: &str| {
        if acc == m_account {
            ", {user: m, password: pw}"
        } else {
            ""
        }
    };
    format!(
        "accounts {{\n  A {{ users [ {{user: a, password: pw}}, {{user: a2, password: pw}}{} ] }}\n  B {{ users [ {b_users}{} ] }}\n}}\n",
        m_in("A"),
        m_in("B")
    )
}

/// Reads until the server closes the connection; returns the frames.
async fn until_closed(c: &mut Raw) -> Vec<Vec<u8>> {
    let mut frames = Vec::new();
    for _ in 0..1000 {
        match c.next(support::SETTLE).await {
            Event::Frame(f) if f == b"PING\r\n" => c.send(b"PONG\r\n").await,
            Event::Frame(f) => frames.push(f),
            Event::Closed => return frames,
            Event::Timeout => panic!("still open: {frames:?}"),
        }
    }
    panic!("no close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_cuts_removed_and_moved_users_and_loses_nothing_for_others() {
    let bin: &std::path::Path = env!("CARGO_BIN_EXE_nats-server").as_ref();
    let s = RealServer::start(bin, Some(&config("{user: b, password: pw}", "A"))).await;
    let mut sub = Raw::login(s.addr, "a2").await;
    sub.send(b"SUB seq 1\r\n").await;
    sub.sync().await;
    let mut publisher = Raw::login(s.addr, "a").await;
    let mut b = Raw::login(s.addr, "b").await;
    let mut m = Raw::login(s.addr, "m").await;

    // Publish 3 × 500 numbered messages; reload between the first two.
    let total = 1500;
    let mut sent = 0;
    for round in 0..3 {
        let mut batch = Vec::new();
        for _ in 0..500 {
            let body = sent.to_string();
            batch.extend_from_slice(format!("PUB seq {}\r\n{body}\r\n", body.len()).as_bytes());
            sent += 1;
        }
        publisher.send(&batch).await;
        if round == 0 {
            // b is removed from B; m moves from A to B.
            s.reload(&config("{user: b2, password: pw}", "B"));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    publisher.sync().await;

    for (who, c) in [("b", &mut b), ("m", &mut m)] {
        let frames = until_closed(c).await;
        assert!(
            frames
                .iter()
                .any(|f| f == b"-ERR 'Authorization Violation'\r\n"),
            "{who}: {frames:?}"
        );
    }
    // Every message, in order.
    let mut next = 0;
    for _ in 0..(total * 2) {
        if next == total {
            break;
        }
        match sub.next(support::SETTLE).await {
            Event::Frame(f) if f == b"PING\r\n" => sub.send(b"PONG\r\n").await,
            Event::Frame(f) if f.starts_with(b"MSG seq 1 ") => {
                let text = String::from_utf8_lossy(&f).to_string();
                let body = text.split("\r\n").nth(1).unwrap();
                assert_eq!(body, next.to_string(), "a message was lost or reordered");
                next += 1;
            }
            other => panic!("after {next} messages: {other:?}"),
        }
    }
    assert_eq!(next, total);
    // The new user of B and the moved user work.
    Raw::login(s.addr, "b2").await;
    let mut m2 = Raw::login(s.addr, "m").await;
    m2.send(b"SUB seq 1\r\n").await;
    m2.sync().await;
    publisher.send(b"PUB seq 1\r\nx\r\n").await;
    publisher.sync().await;
    assert!(m2.msgs().await.is_empty(), "m now lives in B");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_auth_user_inside_an_account() {
    let bin: &std::path::Path = env!("CARGO_BIN_EXE_nats-server").as_ref();
    let conf = "no_auth_user: anon\naccounts {\n  A { users [ {user: anon, password: pw} ] }\n  B { users [ {user: b, password: pw} ] }\n}\n";
    let s = RealServer::start(bin, Some(conf)).await;
    let mut anon = Raw::connect(s.addr).await;
    assert!(
        anon.info_json().get("auth_required").is_none(),
        "{:?}",
        anon.info_json()
    );
    anon.send(b"CONNECT {\"verbose\":false}\r\nSUB foo 1\r\n")
        .await;
    anon.sync().await;
    let mut b = Raw::login(s.addr, "b").await;
    b.send(b"PUB foo 1\r\nb\r\n").await;
    b.sync().await;
    assert!(anon.msgs().await.is_empty(), "anonymous landed outside A");
    let mut a = Raw::login(s.addr, "anon").await;
    a.send(b"PUB foo 1\r\na\r\n").await;
    a.sync().await;
    assert_eq!(anon.msgs().await, ["MSG foo 1 1"]);
}
