//! Memory per subscription: 1M literal subscriptions with shared prefixes
//! (`svc.<a>.<b>.<n>`), measured with a counting allocator, ours and the
//! baseline. Prints a table; no timing involved.
//!
//! `cargo bench --bench sublist_memory` (1M); under `cargo test` it runs with
//! 10k so CI checks it works. Goal (issue #2): ≤ 120 bytes per subscription.

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

fn main() {
    let n = if std::env::args().any(|a| a == "--bench") {
        1_000_000
    } else {
        10_000
    };
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
}
