//! Slow consumers (`docs/protocol.md#keep-alive-and-slow-consumers`): a subscriber that never reads
//! is cut off — over `max_pending` bytes queued, or one write blocked longer
//! than `write_deadline` — while a fast subscriber on the same subject gets
//! every message, the publisher carries on, and the server keeps answering
//! new connections. No `-ERR` is sent; the slow socket just closes.

mod support;

use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use nats_server::config::Options;
use nats_server::server::close::ClosedState;
use support::{options, start, wait_closed, Event, Raw, WAIT};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpSocket;
use tokio::time::{timeout, Instant};

/// Messages in the burst, and the payload size of each.
const N: usize = 3000;
const SIZE: usize = 1024;
/// How long the whole burst (publish, deliver, drain) may take.
const BURST_MAX: Duration = Duration::from_secs(15);

const CONNECT: &[u8] = b"CONNECT {\"verbose\":false,\"pedantic\":false}\r\n";

/// A subscriber on `burst` with a tiny receive buffer, so that the kernel
/// absorbs little once it stops reading.
async fn slow_subscriber(addr: SocketAddr) -> Raw {
    let socket = TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(4096).expect("SO_RCVBUF");
    let stream = timeout(WAIT, socket.connect(addr))
        .await
        .expect("connect timed out")
        .expect("connect");
    let mut c = Raw::from_stream(stream);
    c.info = c.frame().await;
    assert!(c.info.starts_with(b"INFO "));
    c.send(CONNECT).await;
    c.send(b"SUB burst 1\r\n").await;
    c.assert_open().await;
    c
}

/// The payload of message `i`: its number, then filler.
fn payload(i: usize) -> Vec<u8> {
    let mut p = format!("{i:08}").into_bytes();
    p.resize(SIZE, b'.');
    p
}

/// Reads `n` messages of the burst in order on `c`; returns how many came.
async fn read_burst(mut c: Raw, sid: &str, n: usize) -> usize {
    let deadline = Instant::now() + BURST_MAX;
    for i in 0..n {
        let left = deadline.saturating_duration_since(Instant::now());
        let want = [
            format!("MSG burst {sid} {SIZE}\r\n").into_bytes(),
            payload(i),
            b"\r\n".to_vec(),
        ]
        .concat();
        match c.next(left).await {
            Event::Frame(f) if f == want => {}
            Event::Frame(f) if f == b"PING\r\n" => panic!("unexpected server PING"),
            other => {
                eprintln!("message {i}: got {other:?}");
                return i;
            }
        }
    }
    n
}

/// Publishes the burst from a fresh connection, checking half-way through
/// that a new connection still gets its PONG; returns when the publisher's
/// own PONG is back.
async fn publish_burst(addr: SocketAddr) {
    let mut p = Raw::connect(addr).await;
    p.send(CONNECT).await;
    let mut chunk = Vec::new();
    for i in 0..N {
        chunk.extend_from_slice(format!("PUB burst {SIZE}\r\n").as_bytes());
        chunk.extend_from_slice(&payload(i));
        chunk.extend_from_slice(b"\r\n");
        if chunk.len() >= 64 * 1024 || i == N - 1 {
            timeout(BURST_MAX, p.stream().write_all(&chunk))
                .await
                .expect("publisher blocked")
                .expect("publish");
            chunk.clear();
        }
        if i == N / 2 {
            // The server answers a newcomer while the burst is going on.
            let t0 = Instant::now();
            let mut probe = Raw::connect(addr).await;
            probe.assert_open().await;
            assert!(t0.elapsed() < WAIT, "PONG took {:?}", t0.elapsed());
        }
    }
    let events = timeout(BURST_MAX, p.sync()).await.expect("publisher sync");
    assert_eq!(events, vec![Event::frame(b"PONG\r\n")], "publisher");
}

/// Reads the slow socket until it closes; returns the bytes it got.
async fn drain_until_closed(mut c: Raw) -> usize {
    let mut got = 0;
    let mut buf = vec![0u8; 64 * 1024];
    let deadline = Instant::now() + BURST_MAX;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match timeout(left, c.stream().read(&mut buf)).await {
            Err(_) => panic!("slow consumer still open after {BURST_MAX:?} ({got} bytes read)"),
            Ok(Ok(0)) | Ok(Err(_)) => return got,
            Ok(Ok(n)) => got += n,
        }
    }
}

async fn slow_consumer_is_cut(opts: Options, reason: ClosedState) {
    let run = start(opts).await;
    let slow = slow_subscriber(run.addr).await;
    let slow_cid = slow.cid();
    let mut fast = Raw::connect(run.addr).await;
    fast.send(CONNECT).await;
    fast.send(b"SUB burst 2\r\n").await;
    fast.assert_open().await;
    let fast = tokio::spawn(read_burst(fast, "2", N));

    publish_burst(run.addr).await;

    assert_eq!(
        fast.await.expect("fast reader"),
        N,
        "fast subscriber lost messages"
    );
    let closed = wait_closed(&run.server, slow_cid).await;
    assert_eq!(closed.reason, reason);
    assert_eq!(run.server.stats.slow_consumers.load(Relaxed), 1);
    // The slow socket gets what was already in flight, never the whole
    // burst, then the close (no -ERR).
    let got = drain_until_closed(slow).await;
    let burst = N * (format!("MSG burst 1 {SIZE}\r\n").len() + SIZE + 2);
    assert!(got < burst, "slow consumer got {got} of {burst} bytes");
    // Still serving.
    let mut c = Raw::connect(run.addr).await;
    c.assert_open().await;
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_bytes_limit_cuts_the_slow_subscriber() {
    let mut opts = options();
    opts.max_pending = 64 * 1024;
    opts.max_payload = 8 * 1024;
    slow_consumer_is_cut(opts, ClosedState::SlowConsumerPendingBytes).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn write_deadline_cuts_the_slow_subscriber() {
    let mut opts = options();
    opts.write_deadline = Duration::from_millis(200);
    slow_consumer_is_cut(opts, ClosedState::SlowConsumerWriteDeadline).await;
}
