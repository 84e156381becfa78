//! What a run found, and its three renderings: text for people, JSON and CSV for scripts.
//!
//! **What it owns.** The [`Report`] type (serde, so JSON parses back into the same value), the
//! rate arithmetic ([`Rate::new`]: MB are 10^6 bytes of payload, protocol overhead excluded, as
//! `nats bench` counts), and a fixed CSV column list ([`CSV_COLUMNS`]) so rows from different
//! runs and scenarios line up in one file; a cell a scenario does not fill is empty.
//!
//! **What it must never do.** Measure or decide anything: scenarios fill reports, this module
//! only formats them. Text output may change for readability; JSON field names and CSV columns
//! are an interface for the comparison scripts and change only by adding.

use crate::hist::Latency;
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;
use std::time::Duration;

/// Messages over time.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Rate {
    /// Messages counted.
    pub msgs: u64,
    /// Payload bytes counted.
    pub bytes: u64,
    /// Over how long.
    pub seconds: f64,
    /// `msgs / seconds`.
    pub msgs_per_sec: f64,
    /// `bytes / seconds / 10^6`.
    pub mb_per_sec: f64,
}

impl Rate {
    /// `msgs` messages of `size` payload bytes in `elapsed`.
    pub fn new(msgs: u64, size: usize, elapsed: Duration) -> Rate {
        Rate::with_bytes(msgs, msgs * size as u64, elapsed)
    }

    /// `msgs` messages carrying `bytes` payload bytes in all, in `elapsed`.
    pub fn with_bytes(msgs: u64, bytes: u64, elapsed: Duration) -> Rate {
        let seconds = elapsed.as_secs_f64().max(1e-9);
        Rate {
            msgs,
            bytes,
            seconds,
            msgs_per_sec: msgs as f64 / seconds,
            mb_per_sec: bytes as f64 / seconds / 1e6,
        }
    }
}

/// How long it took to set something up (connections, subscriptions).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Setup {
    /// What was set up: `connections` or `subscriptions`.
    pub what: String,
    /// How many.
    pub count: u64,
    /// How long it took.
    pub seconds: f64,
    /// `count / seconds`.
    pub per_sec: f64,
}

impl Setup {
    /// `count` of `what` in `elapsed`.
    pub fn new(what: &str, count: u64, elapsed: Duration) -> Setup {
        let seconds = elapsed.as_secs_f64().max(1e-9);
        Setup {
            what: what.into(),
            count,
            seconds,
            per_sec: count as f64 / seconds,
        }
    }
}

/// The result of one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Scenario name (`pub`, `fanout`, ...).
    pub scenario: String,
    /// The server's `version` from INFO.
    pub server_version: String,
    /// The address the tool connected to.
    pub server_addr: String,
    /// Payload size in bytes.
    pub msg_size: usize,
    /// Publisher (or requester) connections.
    pub publishers: usize,
    /// Subscriber (or responder) connections.
    pub subscribers: usize,
    /// Messages published, from the first write to the PONG after the last.
    pub publish: Option<Rate>,
    /// Messages received by all subscribers together.
    pub receive: Option<Rate>,
    /// Messages each subscriber received.
    pub per_subscriber: Vec<u64>,
    /// Round-trip (or handshake) latencies.
    pub latency: Option<Latency>,
    /// Setup of connections or subscriptions.
    pub setup: Option<Setup>,
    /// Server RSS in KiB at the end of the run (with a server pid).
    pub server_rss_kib: Option<u64>,
    /// Server RSS in KiB before the run (`idle`, `subjects` and `churn` with a server pid).
    pub server_rss_before_kib: Option<u64>,
    /// Server RSS in KiB once every subscription is in place, before any publish (`subjects`
    /// with a server pid).
    #[serde(default)]
    pub server_rss_subscribed_kib: Option<u64>,
    /// Server RSS in KiB after the warm-up, before the measured work (`churn` with a server
    /// pid).
    #[serde(default)]
    pub server_rss_warm_kib: Option<u64>,
}

impl Report {
    /// An empty report for `scenario` against a server.
    pub fn new(scenario: &str, server_version: &str, addr: &str, msg_size: usize) -> Report {
        Report {
            scenario: scenario.into(),
            server_version: server_version.into(),
            server_addr: addr.into(),
            msg_size,
            publishers: 0,
            subscribers: 0,
            publish: None,
            receive: None,
            per_subscriber: Vec::new(),
            latency: None,
            setup: None,
            server_rss_kib: None,
            server_rss_before_kib: None,
            server_rss_subscribed_kib: None,
            server_rss_warm_kib: None,
        }
    }

    /// Pretty-printed JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a report always serialises")
    }

    /// One CSV data row, columns as in [`CSV_COLUMNS`], ending in a newline.
    pub fn to_csv_row(&self) -> String {
        let opt = |v: Option<f64>| v.map(|v| v.to_string()).unwrap_or_default();
        let optu = |v: Option<u64>| v.map(|v| v.to_string()).unwrap_or_default();
        let (p, r, l, s) = (&self.publish, &self.receive, &self.latency, &self.setup);
        let cells = [
            csv_cell(&self.scenario),
            csv_cell(&self.server_version),
            csv_cell(&self.server_addr),
            self.msg_size.to_string(),
            self.publishers.to_string(),
            self.subscribers.to_string(),
            optu(p.map(|p| p.msgs)),
            opt(p.map(|p| p.seconds)),
            opt(p.map(|p| p.msgs_per_sec)),
            opt(p.map(|p| p.mb_per_sec)),
            optu(r.map(|r| r.msgs)),
            opt(r.map(|r| r.seconds)),
            opt(r.map(|r| r.msgs_per_sec)),
            opt(r.map(|r| r.mb_per_sec)),
            optu(l.map(|l| l.count)),
            opt(l.map(|l| l.p50_us)),
            opt(l.map(|l| l.p90_us)),
            opt(l.map(|l| l.p99_us)),
            opt(l.map(|l| l.p999_us)),
            opt(l.map(|l| l.max_us)),
            s.as_ref().map(|s| csv_cell(&s.what)).unwrap_or_default(),
            optu(s.as_ref().map(|s| s.count)),
            opt(s.as_ref().map(|s| s.seconds)),
            opt(s.as_ref().map(|s| s.per_sec)),
            optu(self.server_rss_kib),
            optu(self.server_rss_before_kib),
            optu(self.server_rss_subscribed_kib),
            optu(self.server_rss_warm_kib),
        ];
        debug_assert_eq!(cells.len(), CSV_COLUMNS.len());
        let mut line = cells.join(",");
        line.push('\n');
        line
    }

    /// Text for people.
    pub fn to_text(&self) -> String {
        let mut t = String::new();
        if self.server_version == crate::sink::SINK_VERSION {
            let _ = write!(
                t,
                "{}: in-process sink at {}",
                self.scenario, self.server_addr
            );
        } else {
            let _ = write!(
                t,
                "{}: nats-server {} at {}",
                self.scenario, self.server_version, self.server_addr
            );
        }
        if self.publish.is_some() || self.receive.is_some() {
            let _ = write!(t, ", {} B payloads", self.msg_size);
        }
        if self.publishers > 0 {
            let _ = write!(t, ", {} pub", self.publishers);
        }
        if self.subscribers > 0 {
            let _ = write!(t, ", {} sub", self.subscribers);
        }
        t.push('\n');
        for (label, rate) in [("publish", &self.publish), ("receive", &self.receive)] {
            if let Some(r) = rate {
                let _ = writeln!(
                    t,
                    "  {label:<9} {:>13} msgs in {:>8.3} s  {:>13} msgs/s  {:>9.1} MB/s",
                    group(r.msgs),
                    r.seconds,
                    group(r.msgs_per_sec.round() as u64),
                    r.mb_per_sec
                );
            }
        }
        if self.per_subscriber.len() > 1 {
            let min = self.per_subscriber.iter().min().copied().unwrap_or(0);
            let max = self.per_subscriber.iter().max().copied().unwrap_or(0);
            let _ = writeln!(
                t,
                "  per sub   min {} max {} over {} subscribers",
                group(min),
                group(max),
                self.per_subscriber.len()
            );
        }
        if let Some(l) = &self.latency {
            let _ = writeln!(
                t,
                "  latency   n={} min {:.1} p50 {:.1} p90 {:.1} p99 {:.1} p99.9 {:.1} max {:.1} µs",
                group(l.count),
                l.min_us,
                l.p50_us,
                l.p90_us,
                l.p99_us,
                l.p999_us,
                l.max_us
            );
        }
        if let Some(s) = &self.setup {
            let _ = writeln!(
                t,
                "  setup     {} {} in {:.3} s ({}/s)",
                group(s.count),
                s.what,
                s.seconds,
                group(s.per_sec.round() as u64)
            );
        }
        if let Some(rss) = self.server_rss_kib {
            let before = self
                .server_rss_before_kib
                .map(|b| format!(" (before: {} KiB)", group(b)))
                .unwrap_or_default();
            let subscribed = self
                .server_rss_subscribed_kib
                .map(|s| format!(" (subscribed, before publishing: {} KiB)", group(s)))
                .unwrap_or_default();
            let warm = self
                .server_rss_warm_kib
                .map(|w| format!(" (after the warm-up: {} KiB)", group(w)))
                .unwrap_or_default();
            let _ = writeln!(
                t,
                "  server    RSS {} KiB{before}{subscribed}{warm}",
                group(rss)
            );
        }
        t
    }
}

/// The CSV header, one name per column of [`Report::to_csv_row`].
pub const CSV_COLUMNS: [&str; 28] = [
    "scenario",
    "server_version",
    "server_addr",
    "msg_size",
    "publishers",
    "subscribers",
    "pub_msgs",
    "pub_seconds",
    "pub_msgs_per_sec",
    "pub_mb_per_sec",
    "sub_msgs",
    "sub_seconds",
    "sub_msgs_per_sec",
    "sub_mb_per_sec",
    "lat_count",
    "lat_p50_us",
    "lat_p90_us",
    "lat_p99_us",
    "lat_p999_us",
    "lat_max_us",
    "setup_what",
    "setup_count",
    "setup_seconds",
    "setup_per_sec",
    "server_rss_kib",
    "server_rss_before_kib",
    "server_rss_subscribed_kib",
    "server_rss_warm_kib",
];

/// The CSV header line, ending in a newline.
pub fn csv_header() -> String {
    let mut h = CSV_COLUMNS.join(",");
    h.push('\n');
    h
}

/// Quotes a cell if it holds a comma, a quote or a line break (RFC 4180).
fn csv_cell(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// `1234567` → `1,234,567`.
fn group(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grouping() {
        assert_eq!(group(0), "0");
        assert_eq!(group(999), "999");
        assert_eq!(group(1000), "1,000");
        assert_eq!(group(1234567), "1,234,567");
    }

    #[test]
    fn cells_quote_when_needed() {
        assert_eq!(csv_cell("a"), "a");
        assert_eq!(csv_cell("a,b"), "\"a,b\"");
        assert_eq!(csv_cell("say \"x\""), "\"say \"\"x\"\"\"");
    }

    #[test]
    fn rate_arithmetic() {
        let r = Rate::new(1_000_000, 16, Duration::from_millis(500));
        assert_eq!(r.bytes, 16_000_000);
        assert!((r.msgs_per_sec - 2_000_000.0).abs() < 1e-6);
        assert!((r.mb_per_sec - 32.0).abs() < 1e-9);
    }
}
