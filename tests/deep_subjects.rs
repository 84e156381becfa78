//! Subjects of 100k tokens, which a 1 MB `max_control_line` lets through
//! (issue 19, defect 2: the match of such a publish against a deep wildcard
//! subscription overflowed a worker's stack and aborted the process). Each
//! path that walks a subject is exercised with one: subscribe and publish,
//! permissions (allow, deny and the delivery-time deny filter), the match
//! cache, `/subsz?subs=1`, and interest (`RS+`) and messages over a route.

mod support;

use std::time::Duration;

use nats_server::config::{Options, Permissions, SubjectPermission};
use support::Raw;
use tokio::time::Instant;

const TOKENS: usize = 100_000;

fn deep(first: &str, token: &str) -> String {
    let mut s = String::with_capacity(TOKENS * (token.len() + 1));
    s.push_str(first);
    for _ in 1..TOKENS {
        s.push('.');
        s.push_str(token);
    }
    s
}

fn options() -> Options {
    let mut o = support::options();
    o.max_control_line = 1 << 20;
    let secret_denied = || {
        Some(SubjectPermission {
            allow: Some(vec![">".into()]),
            deny: Some(vec!["secret.>".into()]),
        })
    };
    let limited = Permissions {
        publish: secret_denied(),
        subscribe: secret_denied(),
        allow_responses: None,
    };
    o.authorization.users = Some(vec![
        support::user("limited", Some(limited)),
        support::user("root", None),
    ]);
    o
}

/// The subjects of the MSGs received up to a PONG.
async fn received(c: &mut Raw) -> Vec<String> {
    c.msgs()
        .await
        .iter()
        .map(|line| line.split(' ').nth(1).unwrap_or_default().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deep_subjects_through_delivery_permissions_cache_and_subsz() {
    let (s, mon) = support::monitor::ours(|o| {
        let http_port = o.http_port;
        *o = options();
        o.http_port = http_port;
    })
    .await;
    let stars = deep("*", "*");
    let literal = deep("a", "a");
    let secret = deep("secret", "a");
    // The server's own subscriptions (system services, automatic imports).
    let own = s.server.accounts.subscriptions();
    let mut limited = Raw::login(s.addr, "limited").await;
    // Accepted: the deny can be reached through it, so deliveries are filtered.
    limited.send(format!("SUB {stars} 1\r\n").as_bytes()).await;
    limited.assert_open().await;
    let mut root = Raw::login(s.addr, "root").await;
    for _ in 0..3 {
        // Three times: a miss, an admitted miss, then a cache hit.
        root.send(format!("PUB {literal} 1\r\nx\r\nPUB {secret} 1\r\ny\r\n").as_bytes())
            .await;
        root.assert_open().await;
        assert_eq!(received(&mut limited).await, std::slice::from_ref(&literal));
    }
    // Publishing a deep subject against the user's publish permissions.
    limited
        .send(format!("PUB {literal} 1\r\nz\r\n").as_bytes())
        .await;
    assert_eq!(received(&mut limited).await, std::slice::from_ref(&literal));
    let subsz = support::http::get_json(mon, "/subsz?subs=1").await;
    assert_eq!(
        subsz["num_subscriptions"],
        own + 1,
        "{}",
        &subsz.to_string()[..200]
    );
    let listed = subsz["subscriptions_list"].as_array().unwrap();
    assert!(listed.iter().any(|d| d["subject"] == stars.as_str()));
    let connz = support::http::get_json(mon, "/connz?subs=1").await;
    assert_eq!(connz["num_connections"], 2);
    limited.send(b"UNSUB 1\r\n").await;
    limited.assert_open().await;
    assert_eq!(s.server.accounts.subscriptions(), own);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deep_interest_and_messages_cross_a_route() {
    let a = support::start(support::clustered(options(), "deep", &[])).await;
    let b = support::start(support::clustered(
        options(),
        "deep",
        &[a.cluster_addr.unwrap()],
    ))
    .await;
    support::until("the route", || {
        a.server.num_routes() == 1 && b.server.num_routes() == 1
    })
    .await;
    let stars = deep("*", "*");
    let literal = deep("a", "a");
    let mut sub = Raw::login(a.addr, "root").await;
    sub.send(format!("SUB {stars} 1\r\nSUB {literal} q 2\r\n").as_bytes())
        .await;
    sub.assert_open().await;
    support::until("both RS+ at b", || {
        let r = b.server.global().sublist.matches(&literal);
        r.plain.len() == 1 && r.queues.len() == 1
    })
    .await;
    let mut publisher = Raw::login(b.addr, "root").await;
    publisher
        .send(format!("PUB {literal} 1\r\nx\r\n").as_bytes())
        .await;
    publisher.assert_open().await;
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    while got.len() < 2 && Instant::now() < deadline {
        got.extend(received(&mut sub).await);
    }
    assert_eq!(got.len(), 2, "messages received");
    assert!(got.iter().all(|s| *s == literal));
    a.stop().await;
    b.stop().await;
}
