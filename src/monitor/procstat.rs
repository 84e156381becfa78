//! Process memory and CPU for `/varz` (`mem`, `cpu`) and `/metrics`, read
//! from `/proc` as nats-server's `pse` package does on Linux.
//!
//! `mem` is the resident set size (`VmRSS` of `/proc/self/status`). `cpu` is
//! a percentage of one core over the last sampling window of at least one
//! second (nats-server samples every second in the background; here the
//! window closes on the first request after a second has passed, so an idle
//! monitor costs nothing), with one decimal; the first window runs from
//! process start. Elsewhere than Linux both read as 0.
//!
//! Must never fail a request: unreadable files give 0.

use std::time::Instant;

use parking_lot::Mutex;

/// Resident set size in bytes.
pub fn rss_bytes() -> u64 {
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else {
        return 0;
    };
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// Fields of `/proc/self/stat` after the command name: index 0 is the state
/// (field 3 of proc(5)).
fn stat_fields() -> Option<Vec<u64>> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    Some(
        rest.split_whitespace()
            .map(|f| f.parse::<u64>().unwrap_or(0))
            .collect(),
    )
}

fn ticks_per_second() -> u64 {
    rustix::param::clock_ticks_per_second().max(1)
}

/// User plus system CPU time of the process, in seconds.
pub fn cpu_seconds() -> f64 {
    let Some(f) = stat_fields() else {
        return 0.0;
    };
    // utime and stime are fields 14 and 15 of proc(5).
    let ticks = f.get(11).copied().unwrap_or(0) + f.get(12).copied().unwrap_or(0);
    ticks as f64 / ticks_per_second() as f64
}

/// Seconds since the process started (field 22 against `/proc/uptime`).
fn process_age() -> f64 {
    let start_ticks = stat_fields().and_then(|f| f.get(19).copied());
    let uptime = std::fs::read_to_string("/proc/uptime")
        .ok()
        .and_then(|u| u.split_whitespace().next()?.parse::<f64>().ok());
    match (start_ticks, uptime) {
        (Some(start), Some(up)) => (up - start as f64 / ticks_per_second() as f64).max(0.0),
        _ => 0.0,
    }
}

/// `cpu` of `/varz`.
#[derive(Default)]
pub struct CpuMeter {
    /// End of the last window: when, CPU seconds then, and its percentage.
    last: Mutex<Option<(Instant, f64, f64)>>,
}

impl CpuMeter {
    /// The CPU percentage over the latest closed window.
    pub fn percent(&self) -> f64 {
        let mut last = self.last.lock();
        let now = Instant::now();
        let cpu = cpu_seconds();
        let (elapsed, used) = match *last {
            Some((at, _, pct)) if now.duration_since(at).as_secs_f64() < 1.0 => return pct,
            Some((at, then, _)) => (now.duration_since(at).as_secs_f64(), cpu - then),
            None => (process_age(), cpu),
        };
        let pct = if elapsed > 0.0 {
            // Per mille, truncated, then one decimal, as nats-server does.
            (used / elapsed * 1000.0).max(0.0).floor() / 10.0
        } else {
            0.0
        };
        *last = Some((now, cpu, pct));
        pct
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_real_process_figures() {
        if !std::path::Path::new("/proc/self/stat").exists() {
            return;
        }
        let rss = rss_bytes();
        assert!(rss > 1024 * 1024, "rss {rss}");
        // Burn some CPU so the counter moves.
        let before = cpu_seconds();
        let start = Instant::now();
        let mut x = 0u64;
        while start.elapsed().as_millis() < 300 {
            x = x.wrapping_mul(31).wrapping_add(7);
        }
        std::hint::black_box(x);
        assert!(cpu_seconds() > before, "CPU time must grow");
        assert!(process_age() > 0.0);
        let pct = CpuMeter::default().percent();
        assert!(pct > 0.0, "{pct}");
    }
}
