//! Criterion benchmarks of the `sublist` crate, each beside the baseline
//! (`baseline/`: nats-server's RwLock trie + mutex-guarded cache) so that every
//! figure is also a ratio from one run. Names follow nats-server's
//! `sublist_test.go` benchmarks where one exists (four-token matches, cache
//! contention with inserts and removes).
//!
//! `cargo bench --bench sublist` runs the full sizes; under `cargo test` each
//! benchmark runs once on small sets, so CI only checks they work.

mod baseline;

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering::*};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use baseline::GoSublist;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use rand::{rngs::StdRng, Rng, SeedableRng};
use sublist::{Config, Sublist};

/// The two implementations behind one interface.
trait Trie: Send + Sync + 'static {
    fn add(&self, subject: &str, value: u64);
    fn del(&self, subject: &str, value: u64);
    fn fanout(&self, subject: &str) -> usize;
}

impl Trie for Sublist<u64> {
    fn add(&self, subject: &str, value: u64) {
        self.insert(subject, None, value).unwrap();
    }
    fn del(&self, subject: &str, value: u64) {
        self.remove(subject, None, &value).unwrap();
    }
    #[inline]
    fn fanout(&self, subject: &str) -> usize {
        let guard = self.pin();
        self.match_in(subject, &guard).len()
    }
}

impl Trie for GoSublist<u64> {
    fn add(&self, subject: &str, value: u64) {
        self.insert(subject, None, value);
    }
    fn del(&self, subject: &str, value: u64) {
        self.remove(subject, &value);
    }
    #[inline]
    fn fanout(&self, subject: &str) -> usize {
        self.matches(subject).len()
    }
}

fn full_run() -> bool {
    std::env::args().any(|a| a == "--bench")
}

fn ours() -> Arc<Sublist<u64>> {
    Arc::new(Sublist::new())
}

fn ours_uncached() -> Arc<Sublist<u64>> {
    Arc::new(Sublist::with_config(Config {
        cache_slots: 0,
        ..Config::default()
    }))
}

fn theirs() -> Arc<GoSublist<u64>> {
    Arc::new(GoSublist::new())
}

const TOKENS: [&str; 8] = [
    "apcera",
    "continuum",
    "component",
    "router",
    "api",
    "imgr",
    "jmgr",
    "auth",
];

/// nats-server's four-token benchmark population: every 4-token combination of
/// the first tokens, plus wildcard variants.
fn populate_four_tokens(t: &dyn Trie) {
    let mut v = 0;
    for a in &TOKENS[..4] {
        for b in &TOKENS {
            for c in &TOKENS {
                for d in &TOKENS {
                    t.add(&format!("{a}.{b}.{c}.{d}"), v);
                    v += 1;
                }
            }
        }
        t.add(&format!("{a}.*.*.auth"), v);
        t.add(&format!("{a}.>"), v + 1);
        v += 2;
    }
}

/// Runs `per_thread` matches of `subjects` on each of `threads` threads and
/// returns the wall time, for `iter_custom`.
fn parallel_match(
    t: Arc<dyn Trie>,
    subjects: Arc<Vec<String>>,
    threads: usize,
    per_thread: u64,
) -> Duration {
    let barrier = Arc::new(Barrier::new(threads + 1));
    let handles: Vec<_> = (0..threads)
        .map(|k| {
            let (t, subjects, barrier) = (t.clone(), subjects.clone(), barrier.clone());
            thread::spawn(move || {
                barrier.wait();
                let n = subjects.len();
                let mut acc = 0;
                for i in 0..per_thread as usize {
                    acc += t.fanout(&subjects[(i + k * 7) % n]);
                }
                black_box(acc);
            })
        })
        .collect();
    barrier.wait();
    let start = Instant::now();
    for h in handles {
        h.join().unwrap();
    }
    start.elapsed()
}

/// Cache-hit matching of one hot four-token subject, 1 and 2 threads.
fn match_four_tokens_cache_hit(c: &mut Criterion) {
    let mut g = c.benchmark_group("match_four_tokens_cache_hit");
    g.throughput(Throughput::Elements(1));
    let subjects = Arc::new(vec!["apcera.continuum.component.auth".to_string()]);
    let impls: [(&str, Arc<dyn Trie>); 2] = [("ours", ours()), ("baseline", theirs())];
    for (name, t) in impls {
        populate_four_tokens(&*t);
        for threads in [1usize, 2] {
            g.bench_with_input(
                BenchmarkId::new(name, format!("{threads}t")),
                &threads,
                |b, &threads| {
                    b.iter_custom(|iters| {
                        let per = iters.div_ceil(threads as u64);
                        parallel_match(t.clone(), subjects.clone(), threads, per)
                    })
                },
            );
        }
    }
    g.finish();
}

/// Cache hits as the server does them: one epoch pin per read batch (here
/// 64 matches), not per message. The baseline has no equivalent: nats-server
/// takes its lock for every message.
fn match_four_tokens_cache_hit_batched(c: &mut Criterion) {
    let mut g = c.benchmark_group("match_four_tokens_cache_hit");
    g.throughput(Throughput::Elements(1));
    let s = ours();
    populate_four_tokens(&*s);
    for threads in [1usize, 2] {
        g.bench_with_input(
            BenchmarkId::new("ours_pin_per_64", format!("{threads}t")),
            &threads,
            |b, &threads| {
                b.iter_custom(|iters| {
                    let per = iters.div_ceil(threads as u64);
                    let barrier = Arc::new(Barrier::new(threads + 1));
                    let handles: Vec<_> = (0..threads)
                        .map(|_| {
                            let (s, barrier) = (s.clone(), barrier.clone());
                            thread::spawn(move || {
                                barrier.wait();
                                let mut acc = 0;
                                let mut left = per;
                                while left > 0 {
                                    let guard = s.pin();
                                    for _ in 0..left.min(64) {
                                        acc += s
                                            .match_in("apcera.continuum.component.auth", &guard)
                                            .len();
                                    }
                                    left = left.saturating_sub(64);
                                }
                                black_box(acc);
                            })
                        })
                        .collect();
                    barrier.wait();
                    let start = Instant::now();
                    for h in handles {
                        h.join().unwrap();
                    }
                    start.elapsed()
                })
            },
        );
    }
    g.finish();
}

/// Misses: a stream of distinct subjects (none repeats within the run), with
/// our cache on and off, and the baseline (whose cache thrashes).
fn match_cache_miss(c: &mut Criterion) {
    let n = if full_run() { 1_000_000 } else { 1_000 };
    let subjects: Arc<Vec<String>> = Arc::new(
        (0..n)
            .map(|i| format!("apcera.continuum.{}.{i}", i % 1000))
            .collect(),
    );
    let mut g = c.benchmark_group("match_distinct_subjects");
    g.throughput(Throughput::Elements(1));
    let impls: [(&str, Arc<dyn Trie>); 3] = [
        ("ours", ours()),
        ("ours_cache_off", ours_uncached()),
        ("baseline", theirs()),
    ];
    for (name, t) in impls {
        populate_four_tokens(&*t);
        t.add("apcera.continuum.*.>", 1);
        let mut i = 0usize;
        g.bench_function(name, |b| {
            b.iter(|| {
                i = (i + 1) % subjects.len();
                t.fanout(&subjects[i])
            })
        });
    }
    g.finish();
}

/// Matching random published subjects against sets of literal or
/// wildcard-heavy subscriptions of growing size.
fn match_sets(c: &mut Criterion) {
    let sizes: &[usize] = if full_run() {
        &[1_000, 100_000, 1_000_000]
    } else {
        &[1_000]
    };
    let mut g = c.benchmark_group("match_set");
    g.throughput(Throughput::Elements(1));
    for &size in sizes {
        for kind in ["literal", "wildcard"] {
            let mut rng = StdRng::seed_from_u64(7);
            let mut subs = Vec::with_capacity(size);
            for i in 0..size {
                let (a, b) = (i % 100, (i / 100) % 100);
                let s = match (kind, i % 4) {
                    ("wildcard", 0) => format!("svc.{a}.*.{i}"),
                    ("wildcard", 1) => format!("svc.{a}.{b}.>"),
                    ("wildcard", 2) => format!("svc.*.{b}.{i}"),
                    _ => format!("svc.{a}.{b}.{i}"),
                };
                subs.push(s);
            }
            let published: Arc<Vec<String>> = Arc::new(
                (0..4096)
                    .map(|_| {
                        let i = rng.random_range(0..size);
                        format!("svc.{}.{}.{i}", i % 100, (i / 100) % 100)
                    })
                    .collect(),
            );
            let impls: [(&str, Arc<dyn Trie>); 2] = [("ours", ours()), ("baseline", theirs())];
            for (name, t) in impls {
                for (v, s) in subs.iter().enumerate() {
                    t.add(s, v as u64);
                }
                let mut i = 0usize;
                g.bench_function(BenchmarkId::new(format!("{name}/{kind}"), size), |b| {
                    b.iter(|| {
                        i = (i + 1) % published.len();
                        t.fanout(&published[i])
                    })
                });
            }
        }
    }
    g.finish();
}

/// Insert and remove rates: 10k literal subscriptions with shared prefixes.
fn insert_remove(c: &mut Criterion) {
    let n = 10_000u64;
    let subjects: Vec<String> = (0..n)
        .map(|i| format!("apcera.continuum.{}.{i}", i % 100))
        .collect();
    let mut g = c.benchmark_group("insert_remove");
    g.throughput(Throughput::Elements(n));
    type Make = fn() -> Arc<dyn Trie>;
    let makers: [(&str, Make); 2] = [
        ("ours", || ours() as Arc<dyn Trie>),
        ("baseline", || theirs() as Arc<dyn Trie>),
    ];
    for (name, make) in makers {
        g.bench_function(BenchmarkId::new("insert", name), |b| {
            b.iter_batched(
                make,
                |t| {
                    for (v, s) in subjects.iter().enumerate() {
                        t.add(s, v as u64);
                    }
                    t
                },
                criterion::BatchSize::LargeInput,
            )
        });
        g.bench_function(BenchmarkId::new("remove", name), |b| {
            b.iter_batched(
                || {
                    let t = make();
                    for (v, s) in subjects.iter().enumerate() {
                        t.add(s, v as u64);
                    }
                    t
                },
                |t| {
                    for (v, s) in subjects.iter().enumerate() {
                        t.del(s, v as u64);
                    }
                    t
                },
                criterion::BatchSize::LargeInput,
            )
        });
    }
    g.finish();
}

/// nats-server's "cache contention" benchmark: readers matching hot subjects
/// while one thread inserts and removes other subscriptions at full speed.
fn match_under_churn(c: &mut Criterion) {
    let hot: Arc<Vec<String>> = Arc::new(
        TOKENS[..4]
            .iter()
            .flat_map(|a| {
                TOKENS
                    .iter()
                    .map(move |b| format!("{a}.{b}.component.auth"))
            })
            .collect(),
    );
    let mut g = c.benchmark_group("match_under_churn");
    g.throughput(Throughput::Elements(1));
    let impls: [(&str, Arc<dyn Trie>); 2] = [("ours", ours()), ("baseline", theirs())];
    for (name, t) in impls {
        populate_four_tokens(&*t);
        for churn in [false, true] {
            let label = if churn { "churn" } else { "quiet" };
            g.bench_function(BenchmarkId::new(name, label), |b| {
                b.iter_custom(|iters| {
                    let stop = Arc::new(AtomicBool::new(false));
                    let churner = churn.then(|| {
                        let (t, stop) = (t.clone(), stop.clone());
                        thread::spawn(move || {
                            let mut i = 0u64;
                            while !stop.load(Relaxed) {
                                let s = format!("churn.{}.{}", i % 64, i);
                                t.add(&s, i);
                                t.del(&s, i);
                                i += 1;
                            }
                        })
                    });
                    let elapsed = parallel_match(t.clone(), hot.clone(), 1, iters);
                    stop.store(true, Relaxed);
                    if let Some(h) = churner {
                        h.join().unwrap();
                    }
                    elapsed
                })
            });
        }
    }
    // Ours as the server uses it: one epoch pin per batch of 64 matches.
    // Measured twice: wall time, and the reader thread's CPU time, which
    // leaves out the time a shared 2-core machine did not run it (so it shows
    // interference through memory, not scheduling).
    let s = ours();
    populate_four_tokens(&*s);
    for (churn, cpu) in [(false, false), (true, false), (false, true), (true, true)] {
        let label = match (churn, cpu) {
            (false, false) => "quiet",
            (true, false) => "churn",
            (false, true) => "quiet_cpu_time",
            (true, true) => "churn_cpu_time",
        };
        g.bench_function(BenchmarkId::new("ours_pin_per_64", label), |b| {
            b.iter_custom(|iters| {
                let stop = Arc::new(AtomicBool::new(false));
                let churner = churn.then(|| {
                    let (s, stop) = (s.clone(), stop.clone());
                    thread::spawn(move || {
                        let mut i = 0u64;
                        while !stop.load(Relaxed) {
                            let subject = format!("churn.{}.{}", i % 64, i);
                            s.add(&subject, i);
                            s.del(&subject, i);
                            i += 1;
                        }
                    })
                });
                let start = Instant::now();
                let cpu_start = cpu_time::ThreadTime::now();
                let mut acc = 0;
                let mut left = iters as usize;
                let mut k = 0;
                while left > 0 {
                    let guard = s.pin();
                    for _ in 0..left.min(64) {
                        acc += s.match_in(&hot[k % hot.len()], &guard).len();
                        k += 1;
                    }
                    left = left.saturating_sub(64);
                }
                black_box(acc);
                let elapsed = if cpu {
                    cpu_start.elapsed()
                } else {
                    start.elapsed()
                };
                stop.store(true, Relaxed);
                if let Some(h) = churner {
                    h.join().unwrap();
                }
                elapsed
            })
        });
    }
    g.finish();
}

/// A wildcard subscribe and unsubscribe while the match cache is warm with
/// publish subjects the wildcard does not match: a client's
/// `_INBOX.<id>.*` (the cost a connection's set-up pays on a busy server),
/// and a wildcard sharing the cached subjects' first token (the cache must
/// look at each of them).
fn wildcard_subscribe_warm_cache(c: &mut Criterion) {
    let warm = if full_run() { 20_000 } else { 500 };
    let subjects: Vec<String> = (0..warm).map(|i| format!("orders.{i}.created")).collect();
    let mut g = c.benchmark_group("wildcard_subscribe_warm_cache");
    g.throughput(Throughput::Elements(1));
    let impls: [(&str, Arc<dyn Trie>); 2] = [("ours", ours()), ("baseline", theirs())];
    for (name, t) in impls {
        t.add("orders.>", 0);
        // Twice each: ours admits a subject on its second miss.
        for s in subjects.iter().chain(&subjects) {
            black_box(t.fanout(s));
        }
        type Pattern = fn(u64) -> String;
        let patterns: [(&str, Pattern); 3] = [
            ("inbox", |i| format!("_INBOX.{i}.*")),
            ("same_first_token", |i| format!("orders.*.shipped{i}")),
            ("leading_wildcard", |i| format!("*.{i}.shipped")),
        ];
        for (label, pattern) in patterns {
            let mut i = 0u64;
            g.bench_function(BenchmarkId::new(name, label), |b| {
                b.iter(|| {
                    let p = pattern(i);
                    t.add(&p, i);
                    t.del(&p, i);
                    i += 1;
                })
            });
        }
    }
    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
}

criterion_group! {
    name = benches;
    config = config();
    targets = match_four_tokens_cache_hit, match_four_tokens_cache_hit_batched, match_cache_miss, match_sets, insert_remove, match_under_churn, wildcard_subscribe_warm_cache
}
criterion_main!(benches);
