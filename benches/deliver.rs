//! Publish → deliver through the whole server (socket, parser, sublist,
//! outbound buffers, writer tasks, socket): one publisher pipelining 16-byte
//! PUBs to 1, 16 and 256 subscribers of the same subject, on loopback.
//! Throughput is deliveries per second (messages × subscribers).
//!
//! `cargo bench --bench deliver`; under `cargo test` it runs once, small.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use nats_server::config::Options;
use nats_server::process::{start, Running};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::runtime::Runtime;

const PAYLOAD: &[u8] = b"0123456789abcdef";

/// Connects a raw client and waits for its CONNECT/SUB to be processed.
async fn raw(addr: SocketAddr, setup: &[u8]) -> TcpStream {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.set_nodelay(true).unwrap();
    let mut buf = vec![0u8; 4096];
    let n = s.read(&mut buf).await.unwrap();
    assert!(buf[..n].starts_with(b"INFO"));
    s.write_all(setup).await.unwrap();
    s.write_all(b"PING\r\n").await.unwrap();
    let mut got = Vec::new();
    while !got.ends_with(b"PONG\r\n") {
        let n = s.read(&mut buf).await.unwrap();
        got.extend_from_slice(&buf[..n]);
    }
    s
}

/// Reads exactly `bytes` bytes of deliveries.
async fn drain(mut s: TcpStream, bytes: usize) -> TcpStream {
    let mut buf = vec![0u8; 256 * 1024];
    let mut left = bytes;
    while left > 0 {
        let n = s.read(&mut buf).await.unwrap();
        assert!(n > 0, "subscriber closed");
        left = left.saturating_sub(n);
    }
    s
}

struct Setup {
    server: Running,
    publisher: TcpStream,
    subscribers: Vec<TcpStream>,
    batch: Vec<u8>,
    msg_len: usize,
}

async fn setup(subs: usize) -> Setup {
    setup_as(subs, Options::default(), "{\"verbose\":false}").await
}

/// A server with `opts`; every client connects with `connect`.
async fn setup_as(subs: usize, opts: Options, connect: &str) -> Setup {
    let server = start(Options {
        host: "127.0.0.1".into(),
        port: 0,
        ..opts
    })
    .await
    .unwrap();
    let mut subscribers = Vec::new();
    let sub_connect = format!("CONNECT {connect}\r\nSUB bench.x 1\r\n");
    for _ in 0..subs {
        subscribers.push(raw(server.addr, sub_connect.as_bytes()).await);
    }
    let publisher = raw(server.addr, format!("CONNECT {connect}\r\n").as_bytes()).await;
    let mut frame = format!("PUB bench.x {}\r\n", PAYLOAD.len()).into_bytes();
    frame.extend_from_slice(PAYLOAD);
    frame.extend_from_slice(b"\r\n");
    let batch = frame.repeat(1024);
    let msg_len = format!("MSG bench.x 1 {}\r\n", PAYLOAD.len()).len() + PAYLOAD.len() + 2;
    Setup {
        server,
        publisher,
        subscribers,
        batch,
        msg_len,
    }
}

/// Publishes `msgs` messages and waits until every subscriber has them all.
async fn round(s: &mut Setup, msgs: usize) -> Duration {
    let start = Instant::now();
    let readers: Vec<_> = s
        .subscribers
        .drain(..)
        .map(|sub| tokio::spawn(drain(sub, msgs * s.msg_len)))
        .collect();
    let mut left = msgs;
    while left > 0 {
        let n = left.min(1024);
        let frame_len = s.batch.len() / 1024;
        s.publisher
            .write_all(&s.batch[..n * frame_len])
            .await
            .unwrap();
        left -= n;
    }
    for r in readers {
        s.subscribers.push(r.await.unwrap());
    }
    start.elapsed()
}

fn publish_deliver(c: &mut Criterion) {
    let full = std::env::args().any(|a| a == "--bench");
    let rt = Runtime::new().unwrap();
    let mut g = c.benchmark_group("publish_deliver_16B");
    for subs in [1usize, 16, 256] {
        let msgs = if full { 200_000 / subs.min(16) } else { 1000 };
        let mut s = rt.block_on(setup(subs));
        g.throughput(Throughput::Elements((msgs * subs) as u64));
        g.bench_with_input(BenchmarkId::from_parameter(subs), &subs, |b, _| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    total += rt.block_on(round(&mut s, msgs));
                }
                total
            })
        });
        rt.block_on(s.server.stop());
    }
    g.finish();
}

/// The same 1:1 stream from an unrestricted user and from one whose
/// publish and subscribe permissions are checked on every message (the
/// allow list matches, so every message is delivered).
fn permission_checks(c: &mut Criterion) {
    use nats_server::config::{Permissions, SubjectPermission, User};
    let full = std::env::args().any(|a| a == "--bench");
    let rt = Runtime::new().unwrap();
    let msgs = if full { 200_000 } else { 1000 };
    let allow = |subjects: &[&str]| SubjectPermission {
        allow: Some(subjects.iter().map(|s| s.to_string()).collect()),
        deny: Some(vec!["bench.denied".into()]),
    };
    let users = vec![
        User {
            username: "free".into(),
            password: "pw".into(),
            ..User::default()
        },
        User {
            username: "limited".into(),
            password: "pw".into(),
            permissions: Some(Permissions {
                publish: Some(allow(&["bench.>", "other.*"])),
                subscribe: Some(allow(&["bench.*"])),
                allow_responses: None,
            }),
            ..User::default()
        },
    ];
    let mut g = c.benchmark_group("publish_deliver_permissions");
    g.throughput(Throughput::Elements(msgs as u64));
    for user in ["free", "limited"] {
        let mut opts = Options::default();
        opts.authorization.users = Some(users.clone());
        let connect = format!("{{\"verbose\":false,\"user\":\"{user}\",\"pass\":\"pw\"}}");
        let mut s = rt.block_on(setup_as(1, opts, &connect));
        g.bench_function(user, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    total += rt.block_on(round(&mut s, msgs));
                }
                total
            })
        });
        rt.block_on(s.server.stop());
    }
    g.finish();
}

/// The same 1:1 stream in the global account of a server without accounts,
/// and in account `A07` of a server with 100 accounts, one of them (not
/// A07) with subject mappings: the account is resolved at CONNECT, so the
/// per-message cost must be the same.
fn accounts(c: &mut Criterion) {
    use nats_server::config::{AccountConfig, MapDest, MappingConfig, User};
    let full = std::env::args().any(|a| a == "--bench");
    let rt = Runtime::new().unwrap();
    let msgs = if full { 200_000 } else { 1000 };
    let mut g = c.benchmark_group("publish_deliver_accounts");
    g.throughput(Throughput::Elements(msgs as u64));
    for case in ["global", "account_of_100"] {
        let mut opts = Options::default();
        let mut connect = "{\"verbose\":false}".to_string();
        if case == "account_of_100" {
            opts.accounts = (0..100)
                .map(|i| AccountConfig {
                    name: format!("A{i:02}"),
                    users: vec![User {
                        username: format!("u{i:02}"),
                        password: "pw".into(),
                        ..User::default()
                    }],
                    mappings: if i == 3 {
                        vec![MappingConfig {
                            source: "bench.x".into(),
                            destinations: vec![MapDest {
                                subject: "elsewhere".into(),
                                weight: 100,
                                cluster: None,
                            }],
                        }]
                    } else {
                        Vec::new()
                    },
                    ..AccountConfig::default()
                })
                .collect();
            connect = "{\"verbose\":false,\"user\":\"u07\",\"pass\":\"pw\"}".to_string();
        }
        let mut s = rt.block_on(setup_as(1, opts, &connect));
        g.bench_function(case, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    total += rt.block_on(round(&mut s, msgs));
                }
                total
            })
        });
        rt.block_on(s.server.stop());
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10).measurement_time(Duration::from_secs(5));
    targets = publish_deliver, permission_checks, accounts
}
criterion_main!(benches);
