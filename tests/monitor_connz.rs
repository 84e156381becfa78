//! `/connz` at scale: more than 1,024 raw connections with different
//! subscription counts and traffic, sorted by every key and paged — the
//! pages must be the sorted whole cut in pieces (nats-top#4,
//! nats-server#770) — and closed connections kept with their reasons,
//! subscriptions and the bytes they had queued.

mod support;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::time::Duration;

use futures::future::join_all;
use serde_json::Value;
use support::monitor::*;

const OPEN: usize = 1100;
const CLIENT_CLOSED: usize = 30;

fn conns(connz: &Value) -> &Vec<Value> {
    connz["connections"].as_array().expect("connections array")
}

fn cids(connz: &Value) -> Vec<u64> {
    conns(connz)
        .iter()
        .map(|c| c["cid"].as_u64().unwrap())
        .collect()
}

/// Raises the soft descriptor limit when it is too low for the test.
fn enough_descriptors() {
    use rustix::process::{getrlimit, setrlimit, Resource};
    let mut limit = getrlimit(Resource::Nofile);
    let want = 4 * OPEN as u64;
    if limit.current.is_some_and(|c| c < want) {
        limit.current = limit.maximum.map(|m| m.min(want * 2)).or(Some(want * 2));
        let _ = setrlimit(Resource::Nofile, limit);
    }
}

/// Connection `i`: `i % 4` subscriptions, `i % 5` messages of `i % 13`
/// bytes published to nobody.
async fn client(addr: SocketAddr, i: usize) -> Lines {
    let mut c = Lines::connect(
        addr,
        &format!(
            r#"{{"verbose":false,"name":"c{i}","lang":"rust","version":"1.{}"}}"#,
            i % 3
        ),
    )
    .await;
    let mut ops = String::new();
    for j in 0..i % 4 {
        ops.push_str(&format!("SUB to.{i}.{j} {j}\r\n"));
    }
    let payload = "p".repeat(i % 13);
    for _ in 0..i % 5 {
        ops.push_str(&format!("PUB void {}\r\n{payload}\r\n", payload.len()));
    }
    c.send(&ops).await;
    c.sync().await;
    c
}

/// The figure a sort key orders by, and whether it sorts descending.
fn key_of(key: &str, c: &Value) -> (i128, bool) {
    let n = |f: &str| i128::from(c[f].as_u64().unwrap_or_else(|| panic!("{f} in {c}")));
    let t = |f: &str| i128::from(nanos(&c[f]));
    match key {
        "cid" | "start" => (0, false),
        "subs" => (n("subscriptions"), true),
        "pending" => (n("pending_bytes"), true),
        "msgs_to" => (n("out_msgs"), true),
        "msgs_from" => (n("in_msgs"), true),
        "bytes_to" => (n("out_bytes"), true),
        "bytes_from" => (n("in_bytes"), true),
        "last" => (t("last_activity"), true),
        // Most idle first: the oldest last activity.
        "idle" => (t("last_activity"), false),
        // nats-server sorts uptime ascending: the newest start first.
        "uptime" => (t("start"), true),
        "rtt" => (go_duration(c["rtt"].as_str().unwrap()) as i128, true),
        "stop" => (t("stop"), true),
        other => panic!("no key {other}"),
    }
}

/// Checks the order of a sorted answer: by the key, then ascending cid.
fn check_order(key: &str, connz: &Value) {
    for pair in conns(connz).windows(2) {
        let ((a, desc), (b, _)) = (key_of(key, &pair[0]), key_of(key, &pair[1]));
        let in_order = if desc { a > b } else { a < b };
        let tie = a == b && pair[0]["cid"].as_u64() < pair[1]["cid"].as_u64();
        assert!(
            in_order || tie,
            "sort={key}: {} before {}",
            pair[0],
            pair[1]
        );
    }
}

/// Every page of `limit` under `query`, concatenated.
async fn paged(mon: SocketAddr, query: &str, total: usize, limit: usize) -> Vec<u64> {
    let mut all = Vec::new();
    let mut offset = 0;
    while offset < total + limit {
        let page = get_json(
            mon,
            &format!("/connz?{query}&limit={limit}&offset={offset}"),
        )
        .await;
        assert_eq!(page["offset"], offset as u64);
        assert_eq!(page["limit"], limit as u64);
        assert_eq!(page["total"], total as u64, "{query}");
        let expected = total.saturating_sub(offset).min(limit);
        assert_eq!(
            page["num_connections"], expected as u64,
            "{query} offset {offset}"
        );
        all.extend(cids(&page));
        offset += limit;
    }
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connz_sorts_the_whole_set_then_pages() {
    enough_descriptors();
    let (running, mon) = ours(|o| {
        o.max_payload = 4096;
        o.max_pending = 256 * 1024;
    })
    .await;
    let addr = running.addr;

    // More than 1,024 open connections, connected 100 at a time.
    let mut open = Vec::with_capacity(OPEN);
    for chunk in (0..OPEN).collect::<Vec<_>>().chunks(100) {
        open.extend(join_all(chunk.iter().map(|&i| client(addr, i))).await);
    }
    // Deliveries: `i % 6` messages of `i % 7 + 1` bytes to the first
    // subscription of connection i.
    let mut driver = Lines::connect(addr, r#"{"verbose":false,"name":"driver"}"#).await;
    let mut ops = String::new();
    for i in (0..OPEN).filter(|i| i % 4 != 0) {
        let payload = "d".repeat(i % 7 + 1);
        for _ in 0..i % 6 {
            ops.push_str(&format!("PUB to.{i}.0 {}\r\n{payload}\r\n", payload.len()));
        }
    }
    driver.send(&ops).await;
    driver.sync().await;

    // Closed connections, each with its reason.
    for k in 0..CLIENT_CLOSED {
        let mut c = Lines::connect(addr, &format!(r#"{{"verbose":false,"name":"cc{k}"}}"#)).await;
        c.send(&format!("SUB closing.{k} {k}\r\n")).await;
        c.sync().await;
    }
    let mut big = Lines::connect(addr, r#"{"verbose":false,"name":"big"}"#).await;
    big.send("PUB x 5000\r\n").await;
    big.wait_closed().await;
    let mut bad = Lines::connect(addr, r#"{"verbose":false,"name":"bad"}"#).await;
    bad.send("SUB keep.me 1\r\nFOO\r\n").await;
    bad.wait_closed().await;
    make_slow_consumer(addr, mon, "slow", "flood").await;
    // big, bad, slow and the connection that flooded it.
    let closed_total = CLIENT_CLOSED + 4;
    // The driver is open too.
    let open_total = OPEN + 1;
    let closed = eventually("every close recorded", || async {
        let c = get_json(mon, "/connz?state=closed&subs=1&limit=5000").await;
        (c["total"] == closed_total as u64).then_some(c)
    })
    .await;

    // /varz agrees.
    let varz = get_json(mon, "/varz").await;
    assert_eq!(varz["connections"], open_total as u64);
    assert_eq!(
        varz["total_connections"],
        (open_total + closed_total) as u64
    );
    assert_eq!(varz["slow_consumers"], 1);

    // Default answer: the first 1,024 by cid.
    let first = get_json(mon, "/connz").await;
    assert_eq!(first["total"], open_total as u64);
    assert_eq!(first["num_connections"], 1024);
    assert_eq!(first["limit"], 1024);
    let first_cids = cids(&first);
    assert!(first_cids.windows(2).all(|w| w[0] < w[1]), "cid ascending");

    // Every open sort key: the whole set in order, and pages that are it.
    let keys = nats_server::monitor::SORT_KEYS
        .into_iter()
        .filter(|k| !matches!(*k, "stop" | "reason"));
    for key in keys {
        // Pending bytes move while the server PINGs; retry a moving target.
        let mut attempt = 0;
        loop {
            let whole = get_json(mon, &format!("/connz?sort={key}&limit=5000")).await;
            assert_eq!(conns(&whole).len(), open_total, "sort={key}");
            check_order(key, &whole);
            let pages = paged(mon, &format!("sort={key}"), open_total, 257).await;
            if pages == cids(&whole) {
                break;
            }
            attempt += 1;
            assert!(attempt < 3, "sort={key}: pages are not the sorted whole");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    // The sorts are not trivially equal: subs puts the 3-subscription
    // connections first, msgs_to the most delivered-to.
    let subs = get_json(mon, "/connz?sort=subs&limit=1").await;
    assert_eq!(conns(&subs)[0]["subscriptions"], 3);
    let to = get_json(mon, "/connz?sort=msgs_to&limit=1").await;
    assert_eq!(conns(&to)[0]["out_msgs"], 5);
    let from = get_json(mon, "/connz?sort=bytes_from&limit=2").await;
    assert_eq!(conns(&from)[0]["name"], "driver");
    assert_eq!(conns(&from)[1]["in_bytes"], 4 * 12);

    // Closed connections: reasons, subscriptions at the close, pending.
    let reason = |name: &str| -> Value {
        conns(&closed)
            .iter()
            .find(|c| c["name"] == name)
            .unwrap_or_else(|| panic!("closed {name}"))
            .clone()
    };
    assert_eq!(reason("cc0")["reason"], "Client Closed");
    assert_eq!(
        reason("cc7")["subscriptions_list"],
        serde_json::json!(["closing.7"])
    );
    assert_eq!(reason("big")["reason"], "Maximum Message Payload Exceeded");
    assert_eq!(reason("bad")["reason"], "Protocol Violation");
    assert_eq!(reason("bad")["subscriptions"], 1);
    let slow = reason("slow");
    assert_eq!(slow["reason"], "Slow Consumer (Pending Bytes)");
    assert!(
        slow["pending_bytes"].as_u64().unwrap() > 200_000,
        "pending at the cut: {slow}"
    );
    for c in conns(&closed) {
        assert!(nanos(&c["stop"]) >= nanos(&c["start"]));
    }
    let by_stop = get_json(mon, "/connz?state=closed&sort=stop").await;
    check_order("stop", &by_stop);
    let by_reason = get_json(mon, "/connz?state=closed&sort=reason").await;
    let reasons: Vec<&str> = conns(&by_reason)
        .iter()
        .map(|c| c["reason"].as_str().unwrap())
        .collect();
    assert!(reasons.windows(2).all(|w| w[0] <= w[1]), "{reasons:?}");

    // Open and closed together, paged: every connection exactly once.
    let total = open_total + closed_total;
    let all = paged(mon, "state=all", total, 400).await;
    assert_eq!(all.len(), total);
    assert_eq!(
        all.iter().collect::<HashSet<_>>().len(),
        total,
        "no repeats"
    );
    assert!(all.windows(2).all(|w| w[0] < w[1]));

    // One connection by cid, open or closed.
    let one = first_cids[500];
    let by_cid = get_json(mon, &format!("/connz?cid={one}")).await;
    assert_eq!(cids(&by_cid), vec![one]);
    assert_eq!(by_cid["limit"], 1);
    let gone = reason("big")["cid"].as_u64().unwrap();
    assert_eq!(
        cids(&get_json(mon, &format!("/connz?cid={gone}")).await),
        Vec::<u64>::new()
    );
    let found = get_json(mon, &format!("/connz?cid={gone}&state=closed")).await;
    assert_eq!(cids(&found), vec![gone]);

    drop(open);
    running.stop().await;
}
