//! Latency recording, a thin wrapper around the `hdrhistogram` crate.
//!
//! **What it owns.** One histogram type with fixed bounds (1 ns to 60 s, 3 significant digits,
//! so any recorded value is within 0.1 % of the truth) and the summary the reports print:
//! count, min, mean, p50, p90, p99, p99.9 and max, in microseconds.
//!
//! **What it must never do.** Allocate or fail while recording: values outside the bounds are
//! clamped, never dropped, so the count always equals the number of round trips measured.

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use std::time::Duration;

const LOWEST_NS: u64 = 1;
const HIGHEST_NS: u64 = 60_000_000_000;
const SIGFIG: u8 = 3;

/// Latencies in nanoseconds.
#[derive(Debug, Clone)]
pub struct LatencyHist {
    h: Histogram<u64>,
}

impl Default for LatencyHist {
    fn default() -> Self {
        Self::new()
    }
}

impl LatencyHist {
    /// An empty histogram.
    pub fn new() -> Self {
        LatencyHist {
            h: Histogram::new_with_bounds(LOWEST_NS, HIGHEST_NS, SIGFIG)
                .expect("constant bounds are valid"),
        }
    }

    /// Records one latency (clamped to the histogram's range).
    pub fn record(&mut self, d: Duration) {
        let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        self.h.saturating_record(ns.clamp(LOWEST_NS, HIGHEST_NS));
    }

    /// Adds every value of `other`.
    pub fn merge(&mut self, other: &LatencyHist) {
        self.h
            .add(&other.h)
            .expect("histograms with the same bounds always merge");
    }

    /// Number of values recorded.
    pub fn len(&self) -> u64 {
        self.h.len()
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.h.is_empty()
    }

    /// The summary printed in reports; `None` when empty.
    pub fn summary(&self) -> Option<Latency> {
        if self.h.is_empty() {
            return None;
        }
        let us = |ns: u64| ns as f64 / 1_000.0;
        let q = |q: f64| us(self.h.value_at_quantile(q));
        Some(Latency {
            count: self.h.len(),
            min_us: us(self.h.min()),
            mean_us: self.h.mean() / 1_000.0,
            p50_us: q(0.50),
            p90_us: q(0.90),
            p99_us: q(0.99),
            p999_us: q(0.999),
            max_us: us(self.h.max()),
        })
    }
}

/// Latency percentiles in microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Latency {
    /// Values recorded.
    pub count: u64,
    /// Smallest.
    pub min_us: f64,
    /// Mean.
    pub mean_us: f64,
    /// Median.
    pub p50_us: f64,
    /// 90th percentile.
    pub p90_us: f64,
    /// 99th percentile.
    pub p99_us: f64,
    /// 99.9th percentile.
    pub p999_us: f64,
    /// Largest.
    pub max_us: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_ordered_and_close() {
        let mut h = LatencyHist::new();
        for us in 1..=1000u64 {
            h.record(Duration::from_micros(us));
        }
        let s = h.summary().unwrap();
        assert_eq!(s.count, 1000);
        assert!((s.p50_us - 500.0).abs() < 1.0, "{s:?}");
        assert!((s.p99_us - 990.0).abs() < 1.0, "{s:?}");
        assert!(s.min_us <= s.p50_us && s.p50_us <= s.p90_us && s.p90_us <= s.p99_us);
        assert!(s.p99_us <= s.p999_us && s.p999_us <= s.max_us);
    }

    #[test]
    fn out_of_range_is_clamped_not_dropped() {
        let mut h = LatencyHist::new();
        h.record(Duration::ZERO);
        h.record(Duration::from_secs(3600));
        assert_eq!(h.len(), 2);
    }
}
