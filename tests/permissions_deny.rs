//! Subscribe-deny permissions hold at delivery (issue 19, defect 3): a user
//! denied `secret.>` may subscribe to `*.x`, `*.*`, `>` or a queue group on
//! such a subject — as nats-server allows — but never receives a message on a
//! denied subject through it, whether the publisher is on the same server or
//! behind a route. `"subject queue"` deny entries keep a queue group's
//! members from receiving what the group may not take.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::start;
use common::{Event, Raw};
use nats_server::config::{Options, Permissions, RouteUrl, SubjectPermission, User};
use nats_server::server::Running;
use tokio::time::{sleep, Instant};

fn options(users: bool) -> Options {
    let mut o = common::options();
    if users {
        o.authorization.users = Some(vec![
            User {
                username: "limited".into(),
                password: "pw".into(),
                permissions: Some(Permissions {
                    publish: None,
                    subscribe: Some(SubjectPermission {
                        allow: None,
                        deny: Some(vec!["secret.>".into(), "jobs.* slow".into()]),
                    }),
                    allow_responses: None,
                }),
                ..User::default()
            },
            User {
                username: "root".into(),
                password: "pw".into(),
                ..User::default()
            },
        ]);
    }
    o
}

async fn login(addr: SocketAddr, user: &str) -> Raw {
    Raw::login(addr, user, "pw").await
}

/// The MSG lines a connection has received (payloads dropped), up to a PONG.
async fn received(c: &mut Raw) -> Vec<String> {
    c.sync()
        .await
        .into_iter()
        .filter_map(|e| match e {
            Event::Frame(f) if f.starts_with(b"MSG ") => {
                let line = String::from_utf8_lossy(&f);
                Some(line.lines().next().unwrap_or_default().to_string())
            }
            // The server's first PING (its RTT measure) may come at any time.
            Event::Frame(f) if f == b"PONG\r\n" || f == b"PING\r\n" => None,
            other => panic!("unexpected {other:?}"),
        })
        .collect()
}

/// Publishes the same three messages from `root`.
async fn publish_all(root: &mut Raw) {
    root.send(b"PUB secret.x 1\r\na\r\nPUB public.x 1\r\nb\r\nPUB jobs.a 1\r\nc\r\n")
        .await;
    root.assert_open().await;
}

#[tokio::test]
async fn a_wider_subscription_never_delivers_a_denied_subject() {
    let s = start(options(true)).await;
    let mut root = login(s.addr, "root").await;
    // Each subscription on a connection of its own: the filter must not
    // depend on what else the connection holds.
    let cases: [(&str, &[&str]); 6] = [
        ("SUB *.x 36", &["MSG public.x 36 1"]),
        ("SUB *.* 37", &["MSG public.x 37 1", "MSG jobs.a 37 1"]),
        ("SUB > 38", &["MSG public.x 38 1", "MSG jobs.a 38 1"]),
        ("SUB *.x grp 39", &["MSG public.x 39 1"]),
        // A queue group the deny names: jobs.a withheld, the rest delivered.
        ("SUB *.a slow 40", &[]),
        ("SUB *.a fast 41", &["MSG jobs.a 41 1"]),
    ];
    let mut conns = Vec::new();
    for (sub, _) in &cases {
        let mut c = login(s.addr, "limited").await;
        c.send(format!("{sub}\r\n").as_bytes()).await;
        c.assert_open().await;
        conns.push(c);
    }
    publish_all(&mut root).await;
    for ((sub, want), c) in cases.iter().zip(conns.iter_mut()) {
        assert_eq!(received(c).await, *want, "{sub}");
    }
    s.stop().await;
}

#[tokio::test]
async fn the_deny_holds_for_messages_from_a_route() {
    let mut seed_opts = options(true);
    seed_opts.cluster.name = "deny".into();
    seed_opts.cluster.host = "127.0.0.1".into();
    seed_opts.cluster.port = -1;
    let a = start(seed_opts).await;
    let mut b_opts = options(true);
    b_opts.cluster.name = "deny".into();
    b_opts.cluster.host = "127.0.0.1".into();
    b_opts.cluster.port = -1;
    b_opts.cluster.routes =
        vec![RouteUrl::parse(&format!("nats-route://{}", a.cluster_addr.unwrap())).unwrap()];
    let b = start(b_opts).await;

    let mut limited = login(a.addr, "limited").await;
    limited.send(b"SUB *.x 36\r\nSUB *.a slow 40\r\n").await;
    limited.assert_open().await;
    wait_for_interest(&b, &["public.x", "jobs.a"]).await;

    let mut root = login(b.addr, "root").await;
    publish_all(&mut root).await;
    // Messages cross the route asynchronously: give them a moment, then
    // collect everything (bounded).
    let mut got = Vec::new();
    let until = Instant::now() + Duration::from_secs(2);
    while got.is_empty() && Instant::now() < until {
        sleep(Duration::from_millis(50)).await;
        got = received(&mut limited).await;
    }
    sleep(Duration::from_millis(200)).await;
    got.extend(received(&mut limited).await);
    assert_eq!(got, ["MSG public.x 36 1"]);
    a.stop().await;
    b.stop().await;
}

async fn wait_for_interest(n: &Running, subjects: &[&str]) {
    let until = Instant::now() + Duration::from_secs(10);
    while !subjects.iter().all(|s| n.server.sublist.has_interest(s)) {
        assert!(Instant::now() < until, "interest never reached the route");
        sleep(Duration::from_millis(20)).await;
    }
}
