//! Memory per subscription: 1M literal subscriptions with shared prefixes
//! (`svc.<a>.<b>.<n>`), measured with a counting allocator, ours and the
//! baseline. Prints a table; no timing involved.
//!
//! Then churn (issue 19): 200k distinct three-token subjects inserted and
//! removed, 200 at a time, each batch under one outer pin as a server's read
//! batch is, nothing collected by hand: the heap after the warm-up and at the
//! end. Ours only: the baseline's `remove` leaves empty nodes behind (Go's
//! prunes them), so its growth would say nothing about Go.
//!
//! `cargo bench --bench sublist_memory` (1M, 200k pairs); under `cargo test`
//! it runs with 10k and 20k pairs so CI checks it works. Goal (issue #2):
//! ≤ 120 bytes per subscription; churn: flat.

// Only the baseline's insert path is used here.
#[allow(dead_code)]
mod baseline;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering::Relaxed};

use baseline::GoSublist;
use sublist::Sublist;

struct Counting;
static LIVE: AtomicIsize = AtomicIsize::new(0);
/// Bytes including glibc malloc's chunk overhead (8-byte header, 16-byte
/// granularity, 32-byte minimum), i.e. what the process really pays.
static CHUNKS: AtomicIsize = AtomicIsize::new(0);

fn chunk(size: usize) -> isize {
    ((size + 8 + 15) & !15).max(32) as isize
}

// SAFETY: forwards to the system allocator, only counting bytes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Relaxed);
        CHUNKS.fetch_add(chunk(layout.size()), Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Relaxed);
        CHUNKS.fetch_sub(chunk(layout.size()), Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

fn subject(i: usize) -> String {
    format!("svc.{}.{}.{i}", i % 10, (i / 10) % 100)
}

fn measure(label: &str, n: usize, build: impl FnOnce() -> Box<dyn std::any::Any>) {
    let (before, before_chunks) = (LIVE.load(Relaxed), CHUNKS.load(Relaxed));
    let keep = build();
    for _ in 0..64 {
        crossbeam_epoch::pin().flush();
    }
    let bytes = LIVE.load(Relaxed) - before;
    let chunks = CHUNKS.load(Relaxed) - before_chunks;
    println!(
        "{label:<28} {n:>9} subs  {:>7.1} bytes/sub requested  {:>7.1} bytes/sub with malloc overhead  ({:.1} MiB)",
        bytes as f64 / n as f64,
        chunks as f64 / n as f64,
        chunks as f64 / (1 << 20) as f64,
    );
    drop(keep);
}

/// A random-looking three-token subject, distinct for every `k`
/// (`a1b2c3d.x7y8z9w.k1l2m3n` style).
fn churn_subject(k: u64) -> String {
    let h = |i: u64| k.wrapping_add(i).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 36;
    format!("{:07x}.{:07x}.{:07x}", h(1), h(2), h(3))
}

/// `pairs` distinct insert/remove pairs after `warmup` ones, 200 inserts then
/// their removes under one outer pin per batch; prints the heap growth.
fn churn(warmup: u64, pairs: u64) {
    const BATCH: u64 = 200;
    let s: Sublist<u64> = Sublist::new();
    let batch = |b: u64| {
        let _read_batch = s.pin();
        let subjects: Vec<String> = (0..BATCH).map(|i| churn_subject(b * BATCH + i)).collect();
        for (i, subj) in (0..).zip(&subjects) {
            s.insert(subj, None, i).unwrap();
        }
        for (i, subj) in (0..).zip(&subjects) {
            s.remove(subj, None, &i).unwrap();
        }
    };
    (0..warmup / BATCH).for_each(batch);
    let (warm, warm_chunks) = (LIVE.load(Relaxed), CHUNKS.load(Relaxed));
    (warmup / BATCH..(warmup + pairs) / BATCH).for_each(batch);
    let bytes = LIVE.load(Relaxed) - warm;
    let chunks = CHUNKS.load(Relaxed) - warm_chunks;
    assert_eq!(s.count(), 0);
    println!(
        "{:<28} {pairs:>9} pairs {:>+7.1} bytes/pair requested  {:>+7.1} bytes/pair with malloc overhead  ({:+.2} MiB after a {warmup}-pair warm-up)",
        "sublist (ours), churn",
        bytes as f64 / pairs as f64,
        chunks as f64 / pairs as f64,
        chunks as f64 / (1 << 20) as f64,
    );
}

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    let n = if bench { 1_000_000 } else { 10_000 };
    measure("sublist (ours), u64 handle", n, || {
        let s: Sublist<u64> = Sublist::new();
        for i in 0..n {
            s.insert(&subject(i), None, i as u64).unwrap();
        }
        assert_eq!(s.count(), n);
        Box::new(s)
    });
    measure("baseline (RwLock+HashMap)", n, || {
        let s: GoSublist<u64> = GoSublist::new();
        for i in 0..n {
            s.insert(&subject(i), None, i as u64);
        }
        Box::new(s)
    });
    let (warmup, pairs) = if bench {
        (20_000, 200_000)
    } else {
        (2_000, 20_000)
    };
    churn(warmup, pairs);
}
