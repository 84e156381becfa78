//! A stuck destination must never stall a caller: with the writer blocked,
//! a bounded flood of log calls returns promptly, the overflow is dropped
//! and counted, and the writer reports the loss once it can write again.

use std::io::Write;
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nats_server::log::{Level, LogConfig, LogError, Logger};

/// Blocks in its first write until the test sends on the gate.
struct Stuck {
    gate: Option<Receiver<()>>,
    out: Arc<Mutex<Vec<u8>>>,
}

impl Write for Stuck {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Some(gate) = self.gate.take() {
            let _ = gate.recv();
        }
        self.out.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn full_channel_drops_instead_of_blocking() {
    const CAPACITY: usize = 16;
    const FLOOD: u64 = 100_000;
    let (open_gate, gate) = mpsc::channel();
    let out = Arc::new(Mutex::new(Vec::new()));
    let l = Logger::builder(LogConfig {
        logtime: false,
        ..LogConfig::default()
    })
    .capacity(CAPACITY)
    .writer(Stuck {
        gate: Some(gate),
        out: Arc::clone(&out),
    })
    .build()
    .unwrap();

    // Get the writer thread stuck inside its first write.
    l.log(Level::Info, format_args!("first"));
    let mut filling = 0u64;
    let deadline = Instant::now() + Duration::from_secs(5);
    while l.dropped_lines() == 0 && Instant::now() < deadline {
        l.log(Level::Info, format_args!("filling"));
        filling += 1;
        std::thread::sleep(Duration::from_millis(1));
    }
    assert!(l.dropped_lines() > 0, "channel never filled");

    // The flood: bounded in count, and it must finish quickly.
    let before = l.dropped_lines();
    let start = Instant::now();
    for i in 0..FLOOD {
        l.log(Level::Info, format_args!("flood {i}"));
    }
    let took = start.elapsed();
    assert!(took < Duration::from_secs(5), "flood blocked for {took:?}");
    // Nothing could be queued: every flood line was dropped.
    assert_eq!(l.dropped_lines() - before, FLOOD);

    // A bounded flush (what fatal! uses) gives up instead of hanging.
    let start = Instant::now();
    assert_eq!(
        l.flush_timeout(Duration::from_millis(50)),
        Err(LogError::Timeout)
    );
    assert!(start.elapsed() < Duration::from_secs(2));

    // Unblock; the writer drains and reports exactly what was lost.
    open_gate.send(()).unwrap();
    l.flush().unwrap();
    let dropped = l.dropped_lines();
    let text = String::from_utf8(out.lock().unwrap().clone()).unwrap();
    let pid = std::process::id();
    assert!(
        text.starts_with(&format!("[{pid}] [INF] first\n")),
        "{text}"
    );
    assert!(!text.contains("flood"));
    let reported: u64 = text
        .lines()
        .filter_map(|l| l.split("Log writer fell behind, dropped ").nth(1))
        .map(|n| n.trim_end_matches(" lines").parse::<u64>().unwrap())
        .sum();
    assert_eq!(reported, dropped);
    // Every line that was not dropped was written, once, in order.
    let written = text.lines().filter(|l| l.ends_with("] filling")).count() as u64;
    assert_eq!(written, filling + FLOOD - dropped);
    assert!(written >= CAPACITY as u64 - 1, "{written}");

    // After recovery, lines flow again.
    l.log(Level::Warn, format_args!("recovered"));
    l.flush().unwrap();
    let text = String::from_utf8(out.lock().unwrap().clone()).unwrap();
    assert!(text.ends_with(&format!("[{pid}] [WRN] recovered\n")));
}

#[test]
fn many_threads_logging_at_once_lose_nothing_when_there_is_room() {
    let out = Arc::new(Mutex::new(Vec::new()));
    struct Sink(Arc<Mutex<Vec<u8>>>);
    impl Write for Sink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let l = Arc::new(
        Logger::builder(LogConfig {
            logtime: false,
            ..LogConfig::default()
        })
        .capacity(4 * 500)
        .writer(Sink(Arc::clone(&out)))
        .build()
        .unwrap(),
    );
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let l = Arc::clone(&l);
            std::thread::spawn(move || {
                for i in 0..500 {
                    l.log(Level::Info, format_args!("t{t} {i}"));
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    l.flush().unwrap();
    assert_eq!(l.dropped_lines(), 0);
    let text = String::from_utf8(out.lock().unwrap().clone()).unwrap();
    assert_eq!(text.lines().count(), 2000);
    // Each thread's lines stay in order.
    for t in 0..4 {
        let mine: Vec<u32> = text
            .lines()
            .filter_map(|l| l.split(&format!("[INF] t{t} ")).nth(1))
            .map(|n| n.parse().unwrap())
            .collect();
        assert_eq!(mine, (0..500).collect::<Vec<_>>());
    }
}
