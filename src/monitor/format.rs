//! The value formats nats-server's monitoring JSON uses, as Go prints them:
//! `time.Time` as RFC 3339 UTC with nanoseconds (trailing zeros trimmed),
//! `myUptime` for `uptime`/`idle` (`1m5s`, `2d0h0m3s`), `time.Duration`
//! strings for `rtt`, and `float64` numbers (integral values without `.0`).
//!
//! Pure functions only; must never read server state.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chrono::{DateTime, Utc};
use serde::Serializer;

use crate::config::go;

/// Unix nanoseconds of `t` (0 before the epoch).
pub fn unix_nanos(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// Go's `time.Time` JSON form (`RFC3339Nano`) of a UTC instant given in Unix
/// nanoseconds: `2026-01-01T00:00:00.0725Z`, no fraction when it is zero.
pub fn time_nanos(nanos: u64) -> String {
    let secs = i64::try_from(nanos / 1_000_000_000).unwrap_or(i64::MAX);
    let frac = (nanos % 1_000_000_000) as u32;
    let t: DateTime<Utc> = DateTime::from_timestamp(secs, frac).unwrap_or_default();
    let mut out = t.format("%Y-%m-%dT%H:%M:%S").to_string();
    if frac != 0 {
        let digits = format!("{frac:09}");
        out.push('.');
        out.push_str(digits.trim_end_matches('0'));
    }
    out.push('Z');
    out
}

/// [`time_nanos`] of a `SystemTime`.
pub fn time(t: SystemTime) -> String {
    time_nanos(unix_nanos(t))
}

/// nats-server's `myUptime`: whole seconds, leading zero units dropped, days
/// and years once they are reached (`45s`, `1m5s`, `2d0h0m3s`, `1y0d0h0m0s`).
pub fn uptime(d: Duration) -> String {
    let secs = d.as_secs();
    let (mins, hrs, days) = (secs / 60, secs / 3600, secs / 86_400);
    let years = days / 365;
    if years > 0 {
        format!(
            "{years}y{}d{}h{}m{}s",
            days % 365,
            hrs % 24,
            mins % 60,
            secs % 60
        )
    } else if days > 0 {
        format!("{days}d{}h{}m{}s", hrs % 24, mins % 60, secs % 60)
    } else if hrs > 0 {
        format!("{hrs}h{}m{}s", mins % 60, secs % 60)
    } else if mins > 0 {
        format!("{mins}m{}s", secs % 60)
    } else {
        format!("{secs}s")
    }
}

/// The span between two Unix-nanosecond instants (0 when `to` is earlier).
pub fn between(from: u64, to: u64) -> Duration {
    Duration::from_nanos(to.saturating_sub(from))
}

/// nats-server's `getRTT().String()`: truncated to microseconds between 1 µs
/// and 1 ms, then Go's `Duration.String` (`0s` when unknown).
pub fn rtt(nanos: u64) -> String {
    let nanos = if nanos > 1_000 && nanos < 1_000_000 {
        nanos - nanos % 1_000
    } else {
        nanos
    };
    go::format_duration(Duration::from_nanos(nanos))
}

/// Go's `net.JoinHostPort`.
pub fn join_host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// Go's `strconv.Quote` for the ASCII strings query errors echo.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Serialises an `f64` as Go's `encoding/json` does for the values we emit:
/// integral values print without a fraction (`2`, not `2.0`).
pub fn go_float<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
    if v.is_finite() && v.fract() == 0.0 && v.abs() < 1e15 {
        s.serialize_i64(*v as i64)
    } else {
        s.serialize_f64(*v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_print_like_go_rfc3339nano() {
        assert_eq!(
            time_nanos(1_795_739_359_072_505_590),
            "2026-11-27T00:29:19.07250559Z"
        );
        assert_eq!(
            time_nanos(1_795_739_359_000_000_000),
            "2026-11-27T00:29:19Z"
        );
        assert_eq!(time_nanos(1_000_000_001), "1970-01-01T00:00:01.000000001Z");
    }

    #[test]
    fn uptime_drops_leading_zero_units() {
        assert_eq!(uptime(Duration::from_millis(999)), "0s");
        assert_eq!(uptime(Duration::from_secs(45)), "45s");
        assert_eq!(uptime(Duration::from_secs(65)), "1m5s");
        assert_eq!(uptime(Duration::from_secs(3600)), "1h0m0s");
        assert_eq!(uptime(Duration::from_secs(2 * 86_400 + 3)), "2d0h0m3s");
        assert_eq!(uptime(Duration::from_secs(365 * 86_400)), "1y0d0h0m0s");
    }

    #[test]
    fn rtt_truncates_like_get_rtt() {
        assert_eq!(rtt(0), "0s");
        assert_eq!(rtt(585_432), "585µs");
        assert_eq!(rtt(1_234_567), "1.234567ms");
        assert_eq!(rtt(999), "999ns");
    }

    #[test]
    fn floats_print_like_go() {
        let mut out = Vec::new();
        go_float(&2.0, &mut serde_json::Serializer::new(&mut out)).unwrap();
        go_float(&0.5, &mut serde_json::Serializer::new(&mut out)).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "20.5");
    }

    #[test]
    fn host_port_and_quote() {
        assert_eq!(join_host_port("::1", 8222), "[::1]:8222");
        assert_eq!(join_host_port("0.0.0.0", 8222), "0.0.0.0:8222");
        assert_eq!(go_quote("a\"b"), "\"a\\\"b\"");
    }
}
