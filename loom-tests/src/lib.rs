//! Helpers shared by the loom models in `tests/loom_*.rs`.
//!
//! Every model builds its sublist on a fresh crossbeam-epoch `Collector`
//! (as crossbeam-epoch's own `tests/loom.rs` does), so no garbage or epoch
//! state leaks from one explored execution into the next.
#![cfg(loom)]

pub use sublist::Sublist;

use loom::sync::Arc;
use sublist::{Collector, Config};

/// Runs a model with the project's bounds (see `scripts/loom`).
pub fn model<F: Fn() + Sync + Send + 'static>(f: F) {
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(2);
    }
    builder.check(f);
}

/// A `Sublist<u32>` with `cache_slots` slots on a fresh collector.
pub fn sublist(cache_slots: usize) -> (Arc<Sublist<u32>>, Collector) {
    sublist_of(cache_slots)
}

/// A sublist of any handle type on a fresh collector.
pub fn sublist_of<S>(cache_slots: usize) -> (Arc<Sublist<S>>, Collector)
where
    S: Clone + PartialEq + Send + Sync + 'static,
{
    let collector = Collector::new();
    let s = Sublist::with_config(Config {
        cache_slots,
        collector: Some(collector.clone()),
    });
    (Arc::new(s), collector)
}

/// The plain subscriptions matched by `subject`, sorted.
pub fn plain(s: &Sublist<u32>, subject: &str) -> Vec<u32> {
    let mut v = s.matches(subject).plain.clone();
    v.sort_unstable();
    v
}
