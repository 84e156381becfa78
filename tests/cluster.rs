//! Clustering with routes: three of our servers pointed at one seed form a
//! full mesh; messages, wildcards and queue groups cross every pair; a node
//! killed and restarted rejoins with its interest; wrong route credentials
//! are refused; a node shutting down never tells its clients that the
//! cluster shrank. Mixed clusters with the real nats-server are in
//! `cluster_interop.rs`, the partition test in `cluster_partition.rs`.

mod support;

use support::SETTLE;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::time::Duration;

use futures::StreamExt;
use nats_server::config::{Options, RouteUrl};
use nats_server::process::{start, Running};
use tokio::net::TcpStream;
use tokio::time::{sleep, timeout, Instant};

fn options(cluster_port: u16, routes: &[SocketAddr]) -> Options {
    let mut o = Options {
        host: "127.0.0.1".into(),
        port: 0,
        ..Options::default()
    };
    o.cluster.name = "test".into();
    o.cluster.host = "127.0.0.1".into();
    o.cluster.port = if cluster_port == 0 {
        -1
    } else {
        cluster_port as i32
    };
    o.cluster.routes = routes
        .iter()
        .map(|a| RouteUrl::parse(&format!("nats-route://{a}")).unwrap())
        .collect();
    o.http_port = -1;
    o.http_host = Some("127.0.0.1".into());
    o
}

/// `GET path` on a node's monitoring port, parsed as JSON.
async fn monitor_json(n: &Running, path: &str) -> serde_json::Value {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = TcpStream::connect(n.monitor_addr.expect("monitoring on"))
        .await
        .unwrap();
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).await.unwrap();
    let text = String::from_utf8(raw).unwrap();
    let body = text.split_once("\r\n\r\n").unwrap().1;
    serde_json::from_str(body).unwrap()
}

async fn node(cluster_port: u16, routes: &[SocketAddr]) -> Running {
    start(options(cluster_port, routes))
        .await
        .expect("server starts")
}

async fn mesh(nodes: &[&Running]) {
    let want = nodes.len() - 1;
    for (i, n) in nodes.iter().enumerate() {
        support::until(&format!("node {i} to have {want} routes"), || {
            n.server.num_routes() == want
        })
        .await;
    }
}

/// Waits until every node sees interest in `subject` (RS+ propagated).
async fn interest(nodes: &[&Running], subject: &str) {
    for n in nodes {
        support::until(&format!("interest in {subject}"), || {
            n.server.global().sublist.has_interest(subject)
        })
        .await;
    }
}

async fn client(n: &Running) -> async_nats::Client {
    async_nats::connect(format!("nats://{}", n.addr))
        .await
        .unwrap()
}

async fn three() -> (Running, Running, Running) {
    let a = node(0, &[]).await;
    let seed = a.cluster_addr.unwrap();
    let b = node(0, &[seed]).await;
    let c = node(0, &[seed]).await;
    mesh(&[&a, &b, &c]).await;
    (a, b, c)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_mesh_from_one_seed_and_pub_sub_across_every_pair() {
    let (a, b, c) = three().await;
    let nodes = [&a, &b, &c];
    let clients = [client(&a).await, client(&b).await, client(&c).await];
    for (i, sub_client) in clients.iter().enumerate() {
        let subject = format!("pair.{i}");
        let mut sub = sub_client.subscribe(subject.clone()).await.unwrap();
        sub_client.flush().await.unwrap();
        interest(&nodes, &subject).await;
        for (j, pub_client) in clients.iter().enumerate() {
            pub_client
                .publish(subject.clone(), format!("{j}->{i}").into())
                .await
                .unwrap();
            pub_client.flush().await.unwrap();
            let msg = timeout(SETTLE, sub.next()).await.unwrap().unwrap();
            assert_eq!(msg.payload, format!("{j}->{i}"));
        }
    }
    // Every client learned the other servers' URLs.
    let urls: HashSet<String> = a.server.connect_urls().into_iter().collect();
    assert_eq!(urls.len(), 3, "{urls:?}");
    // /routez on every node shows the two others, with the interest they sent.
    for n in nodes {
        let routez = monitor_json(n, "/routez?subs=1").await;
        assert_eq!(routez["num_routes"], 2, "{routez}");
        let peers: HashSet<String> = routez["routes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["remote_id"].as_str().unwrap().to_string())
            .collect();
        let others: HashSet<String> = nodes
            .iter()
            .filter(|m| m.server.id != n.server.id)
            .map(|m| m.server.id.clone())
            .collect();
        assert_eq!(peers, others);
    }
    let keep = clients[2].subscribe("keep.here").await.unwrap();
    clients[2].flush().await.unwrap();
    interest(&[&a], "keep.here").await;
    let routez = monitor_json(&a, "/routez?subs=1").await;
    let subs: Vec<String> = routez["routes"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| {
            r["subscriptions_list"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .map(|s| s.as_str().unwrap_or_default().to_string())
        .collect();
    assert!(subs.contains(&"keep.here".to_string()), "{subs:?}");
    drop(keep);
    for n in nodes {
        n.server.shutdown();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wildcards_and_a_queue_group_spanning_three_nodes() {
    const N: usize = 10_000;
    let (a, b, c) = three().await;
    let nodes = [&a, &b, &c];
    let clients = [client(&a).await, client(&b).await, client(&c).await];
    let mut members = Vec::new();
    for nc in &clients {
        members.push(
            nc.queue_subscribe("jobs.>", "workers".into())
                .await
                .unwrap(),
        );
        nc.flush().await.unwrap();
    }
    let mut wild = clients[2].subscribe("jobs.*").await.unwrap();
    clients[2].flush().await.unwrap();
    interest(&nodes, "jobs.x").await;
    // Queue weights reach the publisher's node: one member behind each route.
    sleep(Duration::from_millis(200)).await;

    for i in 0..N {
        clients[0]
            .publish(format!("jobs.{}", i % 7), i.to_string().into())
            .await
            .unwrap();
    }
    clients[0].flush().await.unwrap();

    let mut seen = HashSet::new();
    let mut per_node = Vec::new();
    for m in &mut members {
        let mut count = 0;
        while let Ok(Some(msg)) = timeout(Duration::from_millis(500), m.next()).await {
            assert!(
                seen.insert(msg.payload.clone()),
                "delivered twice across the cluster"
            );
            count += 1;
        }
        per_node.push(count);
    }
    assert_eq!(
        seen.len(),
        N,
        "each message once across the cluster ({per_node:?})"
    );
    assert!(
        per_node.iter().all(|&c| c > N / 10),
        "spread over all nodes: {per_node:?}"
    );
    let mut wild_count = 0;
    while let Ok(Some(_)) = timeout(Duration::from_millis(500), wild.next()).await {
        wild_count += 1;
    }
    assert_eq!(
        wild_count, N,
        "a plain wildcard subscriber on another node gets everything"
    );
    for n in nodes {
        n.server.shutdown();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_reply_across_nodes() {
    let (a, b, c) = three().await;
    let responder = client(&c).await;
    let mut svc = responder.subscribe("svc.time").await.unwrap();
    responder.flush().await.unwrap();
    let r2 = responder.clone();
    tokio::spawn(async move {
        while let Some(m) = svc.next().await {
            r2.publish(m.reply.unwrap(), "pong".into()).await.unwrap();
        }
    });
    interest(&[&a, &b, &c], "svc.time").await;
    let requester = client(&a).await;
    let reply = timeout(SETTLE, requester.request("svc.time", "ping".into()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(reply.payload, "pong");
    for n in [&a, &b, &c] {
        n.server.shutdown();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_node_rejoins_and_interest_recovers() {
    let (a, b, c) = three().await;
    let c_cluster = c.cluster_addr.unwrap();
    c.stop().await;
    support::until("A and B to drop C", || {
        a.server.num_routes() == 1 && b.server.num_routes() == 1
    })
    .await;

    // Restart C on the same route port; it dials the seed again.
    let c = node(c_cluster.port(), &[a.cluster_addr.unwrap()]).await;
    mesh(&[&a, &b, &c]).await;
    let nc = client(&c).await;
    let mut sub = nc.subscribe("back").await.unwrap();
    nc.flush().await.unwrap();
    interest(&[&a, &b], "back").await;
    let pb = client(&b).await;
    pb.publish("back", "again".into()).await.unwrap();
    pb.flush().await.unwrap();
    assert_eq!(
        timeout(SETTLE, sub.next()).await.unwrap().unwrap().payload,
        "again"
    );
    for n in [&a, &b, &c] {
        n.server.shutdown();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_route_credentials_are_refused() {
    let mut seed_opts = options(0, &[]);
    seed_opts.cluster.username = "ruser".into();
    seed_opts.cluster.password = "T0pS3cr3t".into();
    let a = start(seed_opts).await.unwrap();
    let seed = a.cluster_addr.unwrap();

    let mut bad = options(0, &[]);
    bad.cluster.routes =
        vec![RouteUrl::parse(&format!("nats-route://ruser:wrong@{seed}")).unwrap()];
    let b = start(bad).await.unwrap();
    let mut good = options(0, &[]);
    good.cluster.routes =
        vec![RouteUrl::parse(&format!("nats-route://ruser:T0pS3cr3t@{seed}")).unwrap()];
    let c = start(good).await.unwrap();
    support::until("the good route", || c.server.num_routes() == 1).await;
    sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        b.server.num_routes(),
        0,
        "wrong credentials must not form a route"
    );
    assert!(!a.server.route_peer_ids().contains(&b.server.id));

    // The refusal on the wire: -ERR 'Authorization Violation', then close.
    let mut raw = TcpStream::connect(seed).await.unwrap();
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    raw.write_all(
        b"CONNECT {\"user\":\"ruser\",\"pass\":\"nope\",\"name\":\"X\",\"cluster\":\"test\"}\r\n",
    )
    .await
    .unwrap();
    let mut got = Vec::new();
    let _ = timeout(SETTLE, raw.read_to_end(&mut got)).await.unwrap();
    let got = String::from_utf8_lossy(&got);
    assert!(got.starts_with("INFO {"), "{got}");
    assert!(got.ends_with("-ERR 'Authorization Violation'\r\n"), "{got}");
    for n in [&a, &b, &c] {
        n.server.shutdown();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lame_duck_moves_clients_to_another_server() {
    let mut o = options(0, &[]);
    o.lame_duck_grace_period = Duration::from_millis(300);
    o.lame_duck_duration = Duration::from_secs(2);
    let a = start(o).await.unwrap();
    let b = node(0, &[a.cluster_addr.unwrap()]).await;
    mesh(&[&a, &b]).await;

    let (tx, mut events) = tokio::sync::mpsc::unbounded_channel();
    let nc = async_nats::ConnectOptions::new()
        .event_callback(move |e| {
            let tx = tx.clone();
            async move {
                let _ = tx.send(e.to_string());
            }
        })
        .connect(format!("nats://{}", a.addr))
        .await
        .unwrap();
    let mut sub = nc.subscribe("ldm.x").await.unwrap();
    nc.flush().await.unwrap();
    assert_eq!(nc.server_info().server_id, a.server.id);

    a.server.enter_lame_duck();
    // The client is told (INFO ldm:true), then closed, and reconnects to B,
    // which it learned from connect_urls.
    let deadline = Instant::now() + SETTLE;
    let mut told = false;
    while !told {
        let e = timeout(SETTLE, events.recv()).await.unwrap().unwrap();
        told = e.contains("lame duck");
        assert!(Instant::now() < deadline);
    }
    // No new clients are accepted by A meanwhile.
    assert!(timeout(
        Duration::from_secs(2),
        async_nats::connect(format!("nats://{}", a.addr))
    )
    .await
    .map_or(true, |r| r.is_err()));
    support::until("reconnect to B", || {
        nc.server_info().server_id == b.server.id
    })
    .await;
    let pb = client(&b).await;
    interest(&[&b], "ldm.x").await;
    pb.publish("ldm.x", "moved".into()).await.unwrap();
    pb.flush().await.unwrap();
    assert_eq!(
        timeout(SETTLE, sub.next()).await.unwrap().unwrap().payload,
        "moved"
    );
    // A finished its lame duck sequence and shut down by itself.
    support::until("A to shut down", || a.server.is_shutting_down()).await;
    b.server.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fan_out_bursts_do_not_cut_routes() {
    // Small buffers everywhere: a route may hold 4 x 256 KiB. A burst of
    // 8 MiB must be throttled at the publisher, not drop the route.
    let small = |routes: &[SocketAddr]| {
        let mut o = options(0, routes);
        o.max_pending = 256 * 1024;
        o
    };
    let a = start(small(&[])).await.unwrap();
    let b = start(small(&[a.cluster_addr.unwrap()])).await.unwrap();
    mesh(&[&a, &b]).await;
    let subs: Vec<async_nats::Client> = vec![client(&b).await, client(&b).await, client(&b).await];
    let mut streams = Vec::new();
    for nc in &subs {
        streams.push(nc.subscribe("burst").await.unwrap());
        nc.flush().await.unwrap();
    }
    interest(&[&a], "burst").await;
    let publisher = client(&a).await;
    const N: usize = 8 * 1024;
    let payload = bytes::Bytes::from(vec![b'x'; 1024]);
    for _ in 0..N {
        publisher.publish("burst", payload.clone()).await.unwrap();
    }
    publisher.flush().await.unwrap();
    for s in &mut streams {
        let mut got = 0;
        while got < N {
            match timeout(SETTLE, s.next()).await {
                Ok(Some(_)) => got += 1,
                _ => break,
            }
        }
        assert_eq!(got, N, "every message crossed the route");
    }
    assert_eq!(a.server.num_routes(), 1, "the route survived the burst");
    assert_eq!(
        a.server
            .stats
            .slow_consumers
            .load(std::sync::atomic::Ordering::Relaxed),
        0
    );
    a.server.shutdown();
    b.server.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn servers_dialling_each_other_keep_exactly_one_route() {
    for _ in 0..3 {
        // Reserve two route ports, then start both servers pointing at each
        // other at the same moment: both connections race to register.
        let ports: Vec<u16> = (0..2).map(|_| support::free_port()).collect();
        let addr = |p: u16| -> SocketAddr { format!("127.0.0.1:{p}").parse().unwrap() };
        let (to_b, to_a) = ([addr(ports[1])], [addr(ports[0])]);
        let (a, b) = tokio::join!(node(ports[0], &to_b), node(ports[1], &to_a));
        mesh(&[&a, &b]).await;
        // Stable: still one route each a little later, and traffic flows.
        sleep(Duration::from_millis(1500)).await;
        assert_eq!((a.server.num_routes(), b.server.num_routes()), (1, 1));
        let (ca, cb) = (client(&a).await, client(&b).await);
        let mut sub = cb.subscribe("dup.x").await.unwrap();
        cb.flush().await.unwrap();
        interest(&[&a], "dup.x").await;
        ca.publish("dup.x", "once".into()).await.unwrap();
        ca.flush().await.unwrap();
        assert_eq!(
            timeout(SETTLE, sub.next()).await.unwrap().unwrap().payload,
            "once"
        );
        // Exactly once: no second copy through a lingering duplicate.
        assert!(timeout(Duration::from_millis(300), sub.next())
            .await
            .is_err());
        a.server.shutdown();
        b.server.shutdown();
        sleep(Duration::from_millis(200)).await;
    }
}

/// The connect_urls of an INFO frame, or `None` for any other frame.
fn info_urls(frame: &[u8]) -> Option<HashSet<String>> {
    if !frame.starts_with(b"INFO ") {
        return None;
    }
    let info = support::info_json(frame);
    let urls = info["connect_urls"].as_array().cloned().unwrap_or_default();
    Some(
        urls.iter()
            .map(|u| u.as_str().unwrap_or_default().to_string())
            .collect(),
    )
}

/// A raw client on `n` that takes async INFO and has seen `want` advertised.
async fn raw_client(n: &Running, want: &HashSet<String>) -> support::Raw {
    let mut raw = support::Raw::connect(n.addr).await;
    assert_eq!(info_urls(&raw.info).as_ref(), Some(want), "first INFO");
    raw.send(b"CONNECT {\"verbose\":false,\"protocol\":1}\r\n")
        .await;
    assert_eq!(
        raw.sync().await.last(),
        Some(&support::Event::frame(b"PONG\r\n"))
    );
    raw
}

/// Everything `raw` receives until the server closes it (bounded), as the
/// connect_urls of each INFO among it.
async fn infos_until_closed(raw: &mut support::Raw) -> Vec<HashSet<String>> {
    let mut infos = Vec::new();
    loop {
        match raw.next(SETTLE).await {
            support::Event::Frame(f) => infos.extend(info_urls(&f)),
            support::Event::Closed => return infos,
            support::Event::Timeout => panic!("the stopping server did not close the client"),
        }
    }
}

/// Issue 19, defect 7: while a clustered node shuts down (`Server::shutdown`,
/// what the SIGINT handler calls), its routes close too; no INFO may then
/// tell its clients that the cluster shrank (to this node alone), or they
/// forget the servers to reconnect to. A race: each round a fresh node A
/// joins B and C, takes several clients, and stops.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_never_shrinks_the_advertised_cluster() {
    const ROUNDS: usize = 30;
    const CLIENTS: usize = 8;
    let b = node(0, &[]).await;
    let c = node(0, &[b.cluster_addr.unwrap()]).await;
    mesh(&[&b, &c]).await;
    let (mut shrunk, mut rounds) = (0, 0);
    for _ in 0..ROUNDS {
        let a = node(0, &[b.cluster_addr.unwrap()]).await;
        mesh(&[&a, &b, &c]).await;
        let all: HashSet<String> = [&a, &b, &c].iter().map(|n| n.addr.to_string()).collect();
        support::until("A to advertise all three", || {
            a.server.connect_urls().into_iter().collect::<HashSet<_>>() == all
        })
        .await;
        let mut clients = Vec::new();
        for _ in 0..CLIENTS {
            clients.push(raw_client(&a, &all).await);
        }
        a.server.shutdown();
        let before = shrunk;
        for raw in &mut clients {
            let infos = infos_until_closed(raw).await;
            if infos.iter().any(|urls| !urls.is_superset(&all)) {
                shrunk += 1;
                eprintln!("advertised {all:?}, then during shutdown {infos:?}");
            }
        }
        rounds += usize::from(shrunk > before);
        a.stop().await;
        support::until("B and C to drop A", || {
            b.server.num_routes() == 1 && c.server.num_routes() == 1
        })
        .await;
    }
    assert_eq!(
        shrunk,
        0,
        "clients told of a smaller cluster during shutdown: {shrunk} of {} clients, \
         in {rounds} of {ROUNDS} rounds",
        ROUNDS * CLIENTS
    );
    b.server.shutdown();
    c.server.shutdown();
}

/// Issue 19, defect 7, lame duck: once a node announced lame duck mode (INFO
/// `ldm:true` listing only the others), later INFOs never bring it back nor
/// drop the others: not when a new peer joins (nats-server forgets its own
/// URLs at the announcement), not when the node is stopped meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lame_duck_infos_never_bring_the_node_back_nor_drop_others() {
    let mut o = options(0, &[]);
    o.lame_duck_grace_period = Duration::from_secs(30);
    o.lame_duck_duration = Duration::from_secs(60);
    let a = start(o).await.unwrap();
    let b = node(0, &[a.cluster_addr.unwrap()]).await;
    let c = node(0, &[a.cluster_addr.unwrap()]).await;
    mesh(&[&a, &b, &c]).await;
    let url = |n: &Running| n.addr.to_string();
    let all: HashSet<String> = [&a, &b, &c].iter().map(|n| url(n)).collect();
    support::until("A to advertise all three", || {
        a.server.connect_urls().into_iter().collect::<HashSet<_>>() == all
    })
    .await;
    let mut raw = raw_client(&a, &all).await;

    a.server.enter_lame_duck();
    let ldm = raw.frame().await;
    assert_eq!(support::info_json(&ldm)["ldm"], true, "{ldm:?}");
    let others: HashSet<String> = [url(&b), url(&c)].into();
    assert_eq!(info_urls(&ldm), Some(others.clone()), "the lame duck INFO");

    // A new peer joins: A tells its clients, without itself.
    let d = node(0, &[b.cluster_addr.unwrap()]).await;
    mesh(&[&a, &b, &c, &d]).await;
    let joined: HashSet<String> = [url(&b), url(&c), url(&d)].into();
    let update = raw.frame().await;
    assert_eq!(info_urls(&update), Some(joined.clone()), "after D joined");

    // Stopped during the grace period: nothing shrinks on the way out.
    a.server.shutdown();
    for urls in infos_until_closed(&mut raw).await {
        assert_eq!(urls, joined, "an INFO while A stopped");
    }
    for n in [&b, &c, &d] {
        n.server.shutdown();
    }
}
