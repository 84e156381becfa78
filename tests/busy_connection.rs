//! A client's reader and writer share one task (`conn::InlineWriter`): a
//! publisher that keeps its reader busy must still get what its writer
//! sends, so a PING in the middle of a stream is answered while the stream
//! goes on, not after it ends. (Whether the reader here ever spends tokio's
//! whole per-poll budget depends on the machine; the unit test
//! `a_reader_that_spends_every_budget_does_not_starve_the_writer` covers
//! that case deterministically.)

mod support;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use support::{options, start};

/// Bound on the stream: with a starved writer the PONG would come only
/// after this.
const STREAM_MAX: Duration = Duration::from_secs(20);
/// Bytes streamed before the PING (so the reader is busy when it arrives).
const BEFORE_PING: usize = 32 << 20;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publisher_that_never_pauses_still_gets_its_pong() {
    let server = start(options()).await;
    let addr = server.addr;
    let result = tokio::task::spawn_blocking(move || {
        let stream = TcpStream::connect(addr).expect("connect");
        stream.set_read_timeout(Some(STREAM_MAX * 2)).unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        assert!(line.starts_with("INFO "), "{line}");

        let stop = Arc::new(AtomicBool::new(false));
        let writer = {
            let stop = stop.clone();
            let mut stream = stream;
            std::thread::spawn(move || {
                stream
                    .write_all(b"CONNECT {\"verbose\":false,\"pedantic\":false}\r\n")
                    .unwrap();
                let batch = b"PUB busy.nobody 16\r\n0123456789abcdef\r\n".repeat(8192);
                let start = Instant::now();
                let (mut sent, mut pinged) = (0usize, None);
                while !stop.load(Relaxed) && start.elapsed() < STREAM_MAX {
                    stream.write_all(&batch).unwrap();
                    sent += batch.len();
                    if pinged.is_none() && sent >= BEFORE_PING {
                        stream.write_all(b"PING\r\n").unwrap();
                        pinged = Some(Instant::now());
                    }
                }
                // Stopped by the reader (PONG seen), or by the bound.
                (stop.load(Relaxed), pinged)
            })
        };
        line.clear();
        reader.read_line(&mut line).unwrap();
        let pong_at = Instant::now();
        stop.store(true, Relaxed);
        let (stopped_by_pong, pinged) = writer.join().unwrap();
        (line, stopped_by_pong, pinged.map(|p| pong_at - p))
    })
    .await
    .unwrap();
    let (line, stopped_by_pong, waited) = result;
    assert_eq!(line, "PONG\r\n");
    assert!(
        stopped_by_pong,
        "the PONG came only after the stream ended (waited {waited:?})"
    );
    eprintln!("PONG {waited:?} after the PING, mid-stream");
}
