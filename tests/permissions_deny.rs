//! Subscribe-deny permissions hold at delivery (issue 19, defect 3): a user
//! denied `secret.>` may subscribe to `*.x`, `*.*`, `>` or a queue group on
//! such a subject — as nats-server allows — but never receives a message on a
//! denied subject through it, whether the publisher is on the same server or
//! behind a route. `"subject queue"` deny entries keep a queue group's
//! members from receiving what the group may not take.

mod support;

use std::time::Duration;

use nats_server::config::{Options, Permissions, SubjectPermission};
use support::{start, Raw};
use tokio::time::{sleep, Instant};

fn options() -> Options {
    let mut o = support::options();
    let limited = Permissions {
        publish: None,
        subscribe: Some(SubjectPermission {
            allow: None,
            deny: Some(vec!["secret.>".into(), "jobs.* slow".into()]),
        }),
        allow_responses: None,
    };
    o.authorization.users = Some(vec![
        support::user("limited", Some(limited)),
        support::user("root", None),
    ]);
    o
}

/// Publishes the same three messages from `root`.
async fn publish_all(root: &mut Raw) {
    root.send(b"PUB secret.x 1\r\na\r\nPUB public.x 1\r\nb\r\nPUB jobs.a 1\r\nc\r\n")
        .await;
    root.assert_open().await;
}

#[tokio::test]
async fn a_wider_subscription_never_delivers_a_denied_subject() {
    let s = start(options()).await;
    let mut root = Raw::login(s.addr, "root").await;
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
        let mut c = Raw::login(s.addr, "limited").await;
        c.send(format!("{sub}\r\n").as_bytes()).await;
        c.assert_open().await;
        conns.push(c);
    }
    publish_all(&mut root).await;
    for ((sub, want), c) in cases.iter().zip(conns.iter_mut()) {
        assert_eq!(c.msgs().await, *want, "{sub}");
    }
    s.stop().await;
}

#[tokio::test]
async fn the_deny_holds_for_messages_from_a_route() {
    let a = start(support::clustered(options(), "deny", &[])).await;
    let b = start(support::clustered(
        options(),
        "deny",
        &[a.cluster_addr.unwrap()],
    ))
    .await;

    let mut limited = Raw::login(a.addr, "limited").await;
    limited.send(b"SUB *.x 36\r\nSUB *.a slow 40\r\n").await;
    limited.assert_open().await;
    support::until("interest to reach the route", || {
        ["public.x", "jobs.a"]
            .iter()
            .all(|s| b.server.global().sublist.has_interest(s))
    })
    .await;

    let mut root = Raw::login(b.addr, "root").await;
    publish_all(&mut root).await;
    // Messages cross the route asynchronously: give them a moment, then
    // collect everything (bounded).
    let mut got = Vec::new();
    let until = Instant::now() + Duration::from_secs(2);
    while got.is_empty() && Instant::now() < until {
        sleep(Duration::from_millis(50)).await;
        got = limited.msgs().await;
    }
    sleep(Duration::from_millis(200)).await;
    got.extend(limited.msgs().await);
    assert_eq!(got, ["MSG public.x 36 1"]);
    a.stop().await;
    b.stop().await;
}
