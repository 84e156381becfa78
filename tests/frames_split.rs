//! Framing across reads: one conversation written to our server split into
//! two writes at every byte offset, and one byte at a time, must get exactly
//! the answer the unsplit conversation gets (`docs/protocol.md#framing`).
//!
//! The writes are separated by a short sleep so that they reach the server
//! as separate reads. The splits run on a few servers side by side, one
//! conversation at a time on each (so no other connection can join its queue
//! group or receive its messages), which keeps the test to a couple of
//! seconds.

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use nats_server::process::Running;
use support::{options, start, Event, Raw};
use tokio::io::AsyncWriteExt;
use tokio::task::JoinSet;
use tokio::time::Instant;

/// Exercises every client op, optional fields, headers, a payload that looks
/// like protocol, lower case and LF-only lines.
fn conversation() -> Vec<u8> {
    let mut c = Vec::new();
    c.extend_from_slice(b"CONNECT {\"verbose\":true,\"pedantic\":false,\"headers\":true}\r\n");
    c.extend_from_slice(b"SUB foo 1\r\n");
    c.extend_from_slice(b"SUB bar q 2\r\n");
    c.extend_from_slice(b"PUB foo 5\r\nhello\r\n");
    c.extend_from_slice(b"PUB bar reply.x 3\r\nabc\r\n");
    c.extend_from_slice(b"HPUB foo 18 23\r\nNATS/1.0\r\nA: b\r\n\r\nworld\r\n");
    c.extend_from_slice(b"HPUB bar r 12 12\r\nNATS/1.0\r\n\r\n\r\n");
    c.extend_from_slice(b"PUB foo 6\r\nPING\r\n\r\n");
    c.extend_from_slice(b"PING\r\n");
    c.extend_from_slice(b"UNSUB 1\r\n");
    c.extend_from_slice(b"PUB foo 2\r\nno\r\n");
    c.extend_from_slice(b"sub a.* 9\npub\ta.b  r 1\nx\r\n");
    c.extend_from_slice(b"SUB c 3\r\nUNSUB 3 1\r\nPUB c 0\r\n\r\nPUB c 0\r\n\r\n");
    c.extend_from_slice(b"ping\n");
    c
}

/// What the server must answer to [`conversation`], frame by frame.
fn expected() -> Vec<&'static [u8]> {
    let ok: &[u8] = b"+OK\r\n";
    vec![
        ok, // CONNECT
        ok, // SUB foo
        ok, // SUB bar q
        ok,
        b"MSG foo 1 5\r\nhello\r\n",
        ok,
        b"MSG bar 2 reply.x 3\r\nabc\r\n",
        ok,
        b"HMSG foo 1 18 23\r\nNATS/1.0\r\nA: b\r\n\r\nworld\r\n",
        ok,
        b"HMSG bar 2 r 12 12\r\nNATS/1.0\r\n\r\n\r\n",
        ok,
        b"MSG foo 1 6\r\nPING\r\n\r\n",
        b"PONG\r\n",
        ok, // UNSUB 1
        ok, // PUB foo: nobody
        ok, // sub a.*
        ok,
        b"MSG a.b 9 r 1\r\nx\r\n",
        ok, // SUB c
        ok, // UNSUB 3 1
        ok,
        b"MSG c 3 0\r\n\r\n",
        ok, // second PUB c: the sub is gone
        b"PONG\r\n",
    ]
}

const PONGS: usize = 2;

/// Plays `pieces` as separate writes `gap` apart and returns the frames the
/// server sent, up to the last PONG (or a close or timeout). The server must
/// have no other client (see [`wait_idle`]), so that nothing but this
/// conversation can reach the connection.
async fn play(addr: SocketAddr, pieces: Vec<Vec<u8>>, gap: Duration) -> Vec<Event> {
    let mut c = Raw::connect(addr).await;
    for (i, piece) in pieces.iter().enumerate() {
        if i > 0 && !gap.is_zero() {
            tokio::time::sleep(gap).await;
        }
        c.stream().write_all(piece).await.expect("write");
        c.stream().flush().await.expect("flush");
    }
    let mut events = Vec::new();
    let mut pongs = 0;
    while pongs < PONGS {
        let e = c.next(support::WAIT).await;
        let stop = !matches!(e, Event::Frame(_));
        if e.is_frame(b"PONG\r\n") {
            pongs += 1;
        }
        events.push(e);
        if stop {
            break;
        }
    }
    // Nothing may follow the last PONG.
    events.push(c.next(Duration::from_millis(20)).await);
    events
}

/// Waits (bounded) until the server has dropped every client and its
/// subscriptions.
async fn wait_idle(run: &Running) {
    let deadline = Instant::now() + support::WAIT;
    while run.server.num_clients() > 0 {
        assert!(Instant::now() < deadline, "server never went idle");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

fn want() -> Vec<Event> {
    let mut v: Vec<Event> = expected().into_iter().map(Event::frame).collect();
    v.push(Event::Timeout);
    v
}

/// Split runs in flight at once, each on its own server.
const WORKERS: usize = 6;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_two_way_split_gets_the_same_answer() {
    let conv = conversation();
    let want = want();
    let started = Instant::now();
    let mut set = JoinSet::new();
    for worker in 0..WORKERS {
        let (conv, want) = (conv.clone(), want.clone());
        set.spawn(async move {
            let run = start(options()).await;
            if worker == 0 {
                let got = play(run.addr, vec![conv.clone()], Duration::ZERO).await;
                assert_eq!(got, want, "unsplit conversation");
                wait_idle(&run).await;
            }
            for at in (1..conv.len()).filter(|at| at % WORKERS == worker) {
                let pieces = vec![conv[..at].to_vec(), conv[at..].to_vec()];
                let got = play(run.addr, pieces, Duration::from_millis(2)).await;
                assert_eq!(
                    got,
                    want,
                    "split at byte {at}: {:?} | {:?}",
                    String::from_utf8_lossy(&conv[..at]),
                    String::from_utf8_lossy(&conv[at..])
                );
                wait_idle(&run).await;
            }
            run.stop().await;
        });
    }
    while let Some(done) = set.join_next().await {
        if let Err(e) = done {
            std::panic::resume_unwind(e.into_panic());
        }
    }
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "splits took {:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_byte_at_a_time_gets_the_same_answer() {
    let run = start(options()).await;
    let conv = conversation();
    let pieces: Vec<Vec<u8>> = conv.iter().map(|&b| vec![b]).collect();
    let got = play(run.addr, pieces, Duration::from_micros(500)).await;
    assert_eq!(got, want());
    run.stop().await;
}
