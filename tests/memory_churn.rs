//! Memory under subscription churn, through the binary (issue 19, defect 1):
//! subscribing and unsubscribing fresh subjects must not grow the server's
//! resident memory. Before the fix every SUB/UNSUB pair of a distinct subject
//! left about 1 KB behind (240k pairs: +240 MB) while nats-server 2.15.1
//! stayed at ~19 MB.
//!
//! Each test starts our binary (`-m` on a free port), drives it over raw TCP,
//! reads its `VmRSS` after a warm-up and at the end, and checks that `/subsz`
//! counts no subscription left:
//! - one connection: 200 SUBs of random three-token subjects, then 200
//!   UNSUBs, again and again, pipelined in large writes with a PING/PONG
//!   after every chunk so the server has processed it;
//! - 50 connections at a time, each CONNECT → 200 SUBs → 20 PUBs → UNSUB of
//!   60 % → close (the rest leave with the connection); the ring of closed
//!   connections' records is cut to 100 so that it is full after the warm-up.
//!
//! Loops are bounded by counts, waits by timeouts; nothing about speed is
//! asserted.

mod support;

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use support::{rss_kib, Event, Raw, RealServer};
use tokio::io::AsyncWriteExt;
use tokio::time::timeout;

const BIN: &str = env!("CARGO_BIN_EXE_nats-server");
/// Bound on writing one chunk and on its PONG (a debug build is slow).
const CHUNK_WAIT: Duration = Duration::from_secs(60);
/// Growth allowed between the warm-up and the end: allocator and page
/// slack. Before the fix both patterns grew by well over 100 MB.
const GROWTH_BOUND_KIB: u64 = 16 * 1024;
/// SUB/UNSUB pairs per write (each batch is 200 SUBs, then their UNSUBs).
const CHUNK: usize = 20_000;
const BATCH: usize = 200;

/// A random three-token subject, `a1b2c3d.x7y8z9w.k1l2m3n` style (a fresh
/// inbox per request looks like this): 84 random bits, distinct in practice.
fn subject(rng: &mut fastrand::Rng) -> String {
    let mut token = || format!("{:07x}", rng.u32(..1 << 28));
    format!("{}.{}.{}", token(), token(), token())
}

const CONNECT: &[u8] = b"CONNECT {\"verbose\":false,\"pedantic\":false}\r\n";

async fn num_subscriptions(monitor: SocketAddr) -> u64 {
    support::http::get_json(monitor, "/subsz").await["num_subscriptions"]
        .as_u64()
        .expect("num_subscriptions")
}

/// Waits (bounded) until `/subsz` counts no client subscription, only the
/// server's own (`baseline`, its system services and imports): closed
/// connections are cleaned up after the client sees the close.
async fn until_no_subscriptions(monitor: SocketAddr, baseline: u64) {
    support::eventually("/subsz to count no client subscription", || async {
        (num_subscriptions(monitor).await == baseline).then_some(())
    })
    .await
}

/// Connects and reads INFO, waiting longer than [`Raw::connect`] would: 50
/// clients connect at once to a debug build busy with the previous ones.
async fn connect(addr: SocketAddr) -> Raw {
    let mut c = Raw::connect_bare(addr).await;
    match c.next(CHUNK_WAIT).await {
        Event::Frame(f) if f.starts_with(b"INFO ") => c,
        other => panic!("expected INFO first, got {other:?}"),
    }
}

/// `pairs` distinct SUB/UNSUB pairs on `c`, `CHUNK` pairs per write, each
/// write ending in a PING whose PONG must come back.
async fn churn(c: &mut Raw, rng: &mut fastrand::Rng, sid: &mut u64, pairs: usize) {
    let mut buf = Vec::with_capacity(CHUNK * 48);
    for _ in 0..pairs / CHUNK {
        buf.clear();
        for _ in 0..CHUNK / BATCH {
            let first = *sid + 1;
            for _ in 0..BATCH {
                *sid += 1;
                buf.extend_from_slice(format!("SUB {} {sid}\r\n", subject(rng)).as_bytes());
            }
            for s in first..=*sid {
                buf.extend_from_slice(format!("UNSUB {s}\r\n").as_bytes());
            }
        }
        buf.extend_from_slice(b"PING\r\n");
        timeout(CHUNK_WAIT, c.stream().write_all(&buf))
            .await
            .expect("the server stopped reading")
            .expect("write a chunk");
        until_pong(c, |f| {
            panic!("expected PONG, got {:?}", String::from_utf8_lossy(&f))
        })
        .await;
    }
}

/// Reads up to our PONG, answering the server's PINGs and passing every
/// other frame to `other`.
async fn until_pong(c: &mut Raw, mut other: impl FnMut(Vec<u8>)) {
    loop {
        match c.next(CHUNK_WAIT).await {
            Event::Frame(f) if f == b"PONG\r\n" => return,
            Event::Frame(f) if f == b"PING\r\n" => c.send(b"PONG\r\n").await,
            Event::Frame(f) => other(f),
            closed_or_timeout => panic!("expected PONG, got {closed_or_timeout:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn distinct_subject_churn_on_one_connection_keeps_rss_flat() {
    let server = RealServer::start_monitored(Path::new(BIN), None).await;
    let monitor = server.monitor.expect("monitor");
    let baseline = num_subscriptions(monitor).await;
    let mut c = connect(server.addr).await;
    c.send(CONNECT).await;
    let (mut rng, mut sid) = (fastrand::Rng::with_seed(19), 0);

    churn(&mut c, &mut rng, &mut sid, CHUNK).await;
    let warm = rss_kib(server.pid());
    churn(&mut c, &mut rng, &mut sid, 9 * CHUNK).await;
    let after = rss_kib(server.pid());
    assert_eq!(num_subscriptions(monitor).await, baseline);
    eprintln!(
        "one connection, {} distinct SUB/UNSUB pairs: RSS {warm} KiB after {CHUNK}, \
         {after} KiB at the end ({:+} KiB)",
        10 * CHUNK,
        after as i64 - warm as i64
    );
    assert!(
        after <= warm + GROWTH_BOUND_KIB,
        "RSS grew from {warm} KiB to {after} KiB over {} distinct SUB/UNSUB pairs",
        9 * CHUNK
    );
}

/// One short-lived client: CONNECT, 200 SUBs, 20 PUBs to its own subjects
/// (echo is on: 20 MSGs back), UNSUB of 120 of the 200, PING/PONG, close.
async fn short_lived(addr: SocketAddr, seed: u64) {
    let mut rng = fastrand::Rng::with_seed(seed);
    let subjects: Vec<String> = (0..BATCH).map(|_| subject(&mut rng)).collect();
    let mut buf = CONNECT.to_vec();
    for (i, s) in subjects.iter().enumerate() {
        buf.extend_from_slice(format!("SUB {s} {}\r\n", i + 1).as_bytes());
    }
    for s in subjects.iter().step_by(BATCH / 20) {
        buf.extend_from_slice(format!("PUB {s} 5\r\nhello\r\n").as_bytes());
    }
    for sid in (1..=BATCH).filter(|i| i % 5 < 3) {
        buf.extend_from_slice(format!("UNSUB {sid}\r\n").as_bytes());
    }
    buf.extend_from_slice(b"PING\r\n");
    let mut c = connect(addr).await;
    timeout(CHUNK_WAIT, c.stream().write_all(&buf))
        .await
        .expect("the server stopped reading")
        .expect("write");
    let mut msgs = 0;
    until_pong(&mut c, |f| {
        let text = String::from_utf8_lossy(&f);
        assert!(
            text.starts_with("MSG "),
            "expected MSG or PONG, got {text:?}"
        );
        msgs += 1;
    })
    .await;
    assert_eq!(msgs, 20, "every PUB reaches its own subscription");
}

/// `rounds` rounds of `CLIENTS` short-lived clients at once.
async fn short_lived_rounds(addr: SocketAddr, first: u64, rounds: u64) {
    const CLIENTS: u64 = 50;
    for round in first..first + rounds {
        let mut set = tokio::task::JoinSet::new();
        for i in 0..CLIENTS {
            set.spawn(short_lived(addr, round * CLIENTS + i));
        }
        while let Some(done) = set.join_next().await {
            done.expect("a client panicked");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn short_lived_clients_churning_subscriptions_keep_rss_flat() {
    // Each closed connection's record (`/connz?state=closed`) keeps the
    // subscriptions it still held, as nats-server's does: ~12 KB here, 10,000
    // records by default. A ring of 100 is full after the warm-up, so what
    // grows after it is the churn's.
    let config = "max_closed_clients: 100\n";
    let server = RealServer::start_monitored(Path::new(BIN), Some(config)).await;
    let monitor = server.monitor.expect("monitor");
    let baseline = num_subscriptions(monitor).await;
    let (warm_rounds, rounds) = (4, 16);

    short_lived_rounds(server.addr, 0, warm_rounds).await;
    until_no_subscriptions(monitor, baseline).await;
    let warm = rss_kib(server.pid());
    short_lived_rounds(server.addr, warm_rounds, rounds).await;
    until_no_subscriptions(monitor, baseline).await;
    let after = rss_kib(server.pid());
    let conns = 50 * rounds;
    eprintln!(
        "{conns} short-lived clients, {} subscriptions: RSS {warm} KiB after the warm-up, \
         {after} KiB at the end ({:+} KiB)",
        conns * BATCH as u64,
        after as i64 - warm as i64
    );
    assert!(
        after <= warm + GROWTH_BOUND_KIB,
        "RSS grew from {warm} KiB to {after} KiB over {conns} short-lived clients \
         of 200 subscriptions each"
    );
}
