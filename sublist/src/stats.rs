//! Counters behind `/subsz`, kept off the readers' shared cache lines.
//!
//! nats-server bumps one shared atomic per match, which makes every publisher
//! thread fight over a cache line. Here the per-match counters are striped:
//! each thread increments its own cache-padded cell and a reader of the stats
//! sums them. Writer-side counters (inserts, removes) are plain atomics since
//! writers serialise anyway.
//!
//! Stats are advisory: they use std atomics even under loom, and nothing may
//! ever make a decision based on them.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};

use crossbeam_utils::CachePadded;

const STRIPES: usize = 32;

/// A counter that many threads increment without sharing a cache line.
pub(crate) struct StripedCounter {
    cells: Box<[CachePadded<AtomicU64>]>,
}

impl StripedCounter {
    pub(crate) fn new() -> Self {
        Self {
            cells: (0..STRIPES)
                .map(|_| CachePadded::new(AtomicU64::new(0)))
                .collect(),
        }
    }

    #[inline]
    pub(crate) fn incr(&self) {
        self.cells[stripe()].fetch_add(1, Relaxed);
    }

    pub(crate) fn sum(&self) -> u64 {
        self.cells.iter().map(|c| c.load(Relaxed)).sum()
    }
}

/// This thread's stripe, assigned round-robin on first use.
#[inline]
fn stripe() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static STRIPE: usize = NEXT.fetch_add(1, Relaxed) % STRIPES;
    }
    STRIPE.with(|s| *s)
}

/// A snapshot of a sublist's statistics, with nats-server's `/subsz` meanings
/// (`docs/architecture.md#the-tries-semantics`).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Stats {
    /// Subscriptions currently in the trie (plain and queue members).
    pub num_subscriptions: u64,
    /// Results currently cached.
    pub num_cache: u64,
    /// Successful inserts since creation.
    pub num_inserts: u64,
    /// Successful removes since creation.
    pub num_removes: u64,
    /// Matches since creation, cache hits included.
    pub num_matches: u64,
    /// Cache hits since creation.
    pub cache_hits: u64,
    /// `cache_hits / num_matches`, 0 before the first match.
    pub cache_hit_rate: f64,
    /// The largest fan-out among cached results (a queue group counts once).
    pub max_fanout: u64,
    /// The mean fan-out over cached results (empty results included).
    pub avg_fanout: f64,
}

impl Stats {
    /// Sums the stats of several sublists the way nats-server aggregates its
    /// accounts: sums, max of maxima, and means weighted by cache entries.
    pub fn aggregate<'a>(all: impl IntoIterator<Item = &'a Stats>) -> Stats {
        let mut total = Stats::default();
        let mut fanout_sum = 0.0;
        for s in all {
            total.num_subscriptions += s.num_subscriptions;
            total.num_cache += s.num_cache;
            total.num_inserts += s.num_inserts;
            total.num_removes += s.num_removes;
            total.num_matches += s.num_matches;
            total.cache_hits += s.cache_hits;
            total.max_fanout = total.max_fanout.max(s.max_fanout);
            fanout_sum += s.avg_fanout * s.num_cache as f64;
        }
        total.cache_hit_rate = ratio(total.cache_hits as f64, total.num_matches as f64);
        total.avg_fanout = ratio(fanout_sum, total.num_cache as f64);
        total
    }
}

pub(crate) fn ratio(num: f64, den: f64) -> f64 {
    if den > 0.0 {
        num / den
    } else {
        0.0
    }
}
