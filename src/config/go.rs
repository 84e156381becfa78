//! Small re-implementations of the Go standard-library behaviours whose
//! output the user sees through nats-server: `time.ParseDuration` and
//! `Duration.String()`, `filepath.Join`/`Dir`/`Clean`, `%v` of a float,
//! `os` error texts, and `net.SplitHostPort`.
//!
//! Only what the configuration layer needs; nothing here touches options.

use std::io;
use std::time::Duration;

/// `time.ParseDuration`, restricted to non-negative results (a negative
/// duration is returned as `Err` with Go's text so callers can report it).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    parse_duration_signed(s).and_then(|(neg, d)| {
        if neg && !d.is_zero() {
            Err(format!("time: invalid duration \"{s}\""))
        } else {
            Ok(d)
        }
    })
}

/// `time.ParseDuration` returning (negative, magnitude).
pub fn parse_duration_signed(orig: &str) -> Result<(bool, Duration), String> {
    let invalid = || format!("time: invalid duration \"{orig}\"");
    let mut s = orig;
    let mut neg = false;
    if let Some(c) = s.chars().next() {
        if c == '-' || c == '+' {
            neg = c == '-';
            s = &s[1..];
        }
    }
    if s == "0" {
        return Ok((false, Duration::ZERO));
    }
    if s.is_empty() {
        return Err(invalid());
    }
    let mut total: u128 = 0;
    while !s.is_empty() {
        // Integer part.
        let int_len = s.bytes().take_while(u8::is_ascii_digit).count();
        let int_part = &s[..int_len];
        s = &s[int_len..];
        let mut frac_part = "";
        if let Some(rest) = s.strip_prefix('.') {
            let n = rest.bytes().take_while(u8::is_ascii_digit).count();
            frac_part = &rest[..n];
            s = &rest[n..];
        }
        if int_part.is_empty() && frac_part.is_empty() {
            return Err(invalid());
        }
        let unit_len = s
            .bytes()
            .take_while(|b| *b != b'.' && !b.is_ascii_digit())
            .count();
        if unit_len == 0 {
            return Err(format!("time: missing unit in duration \"{orig}\""));
        }
        let unit = &s[..unit_len];
        s = &s[unit_len..];
        let nanos: u128 = match unit {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => {
                return Err(format!(
                    "time: unknown unit \"{unit}\" in duration \"{orig}\""
                ))
            }
        };
        let int: u128 = if int_part.is_empty() {
            0
        } else {
            int_part.parse().map_err(|_| invalid())?
        };
        let mut v = int.checked_mul(nanos).ok_or_else(invalid)?;
        if !frac_part.is_empty() {
            let digits = frac_part.len().min(30) as u32;
            let frac: u128 = frac_part[..digits as usize]
                .parse()
                .map_err(|_| invalid())?;
            v += frac * nanos / 10u128.pow(digits);
        }
        total = total.checked_add(v).ok_or_else(invalid)?;
        if total > i64::MAX as u128 {
            return Err(invalid());
        }
    }
    Ok((neg, Duration::from_nanos(total as u64)))
}

/// Go's `time.Duration.String()`: `2m0s`, `1.5s`, `500ms`, `0s`.
pub fn format_duration(d: Duration) -> String {
    let n = d.as_nanos();
    if n == 0 {
        return "0s".to_string();
    }
    if n < 1_000_000_000 {
        let (unit, div) = if n < 1_000 {
            ("ns", 1)
        } else if n < 1_000_000 {
            ("µs", 1_000)
        } else {
            ("ms", 1_000_000)
        };
        return format!("{}{unit}", frac_str(n, div));
    }
    let mut out = String::new();
    let hours = n / 3_600_000_000_000;
    let rem = n % 3_600_000_000_000;
    let mins = rem / 60_000_000_000;
    let secs_n = rem % 60_000_000_000;
    if hours > 0 {
        out.push_str(&format!("{hours}h"));
    }
    if hours > 0 || mins > 0 {
        out.push_str(&format!("{mins}m"));
    }
    out.push_str(&format!("{}s", frac_str(secs_n, 1_000_000_000)));
    out
}

fn frac_str(n: u128, div: u128) -> String {
    let whole = n / div;
    let frac = n % div;
    if frac == 0 {
        return whole.to_string();
    }
    let width = div.to_string().len() - 1;
    let digits = format!("{frac:0width$}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

/// Go's `%v` of a float64 (shortest representation, exponent past 1e21).
pub fn format_float(f: f64) -> String {
    if f.is_finite() && f.abs() < 1e21 && (f == 0.0 || f.abs() >= 1e-4) {
        format!("{f}")
    } else {
        let s = format!("{f:e}");
        // Rust prints 1e21 as "1e21"; Go as "1e+21".
        match s.split_once('e') {
            Some((m, e)) if !e.starts_with('-') => format!("{m}e+{e:0>2}"),
            Some((m, e)) => format!("{m}e-{:0>2}", &e[1..]),
            None => s,
        }
    }
}

/// Go's `%f` (six decimals).
pub fn format_float_f(f: f64) -> String {
    format!("{f:.6}")
}

/// The text Go's `os` package gives an I/O error on `op path`, e.g.
/// `open nope.conf: no such file or directory`.
pub fn os_error(op: &str, path: &str, e: &io::Error) -> String {
    format!("{op} {path}: {}", errno_text(e))
}

/// The lower-case errno text Go prints (`syscall.Errno.Error()`).
pub fn errno_text(e: &io::Error) -> String {
    let text = match e.raw_os_error() {
        Some(2) => "no such file or directory",
        Some(13) => "permission denied",
        Some(20) => "not a directory",
        Some(21) => "is a directory",
        Some(40) => "too many levels of symbolic links",
        Some(36) => "file name too long",
        _ => "",
    };
    if !text.is_empty() {
        return text.to_string();
    }
    let s = e.to_string();
    let s = match s.find(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s,
    };
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().collect::<String>() + c.as_str(),
        None => s,
    }
}

/// `filepath.Clean` for Unix paths.
pub fn clean_path(p: &str) -> String {
    if p.is_empty() {
        return ".".to_string();
    }
    let rooted = p.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|l| *l != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            s => parts.push(s),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_string(),
        (false, false) => joined,
    }
}

/// `filepath.Dir`.
pub fn dir_of(p: &str) -> String {
    match p.rfind('/') {
        Some(i) => clean_path(&p[..=i]),
        None => ".".to_string(),
    }
}

/// `filepath.Join(dir, name)`.
pub fn join_path(dir: &str, name: &str) -> String {
    match (dir.is_empty(), name.is_empty()) {
        (true, true) => String::new(),
        (true, false) => clean_path(name),
        (false, true) => clean_path(dir),
        (false, false) => clean_path(&format!("{dir}/{name}")),
    }
}

/// `net.SplitHostPort`: `host:port`, `[v6]:port`. Errors carry Go's text.
pub fn split_host_port(hostport: &str) -> Result<(String, String), String> {
    let missing_port = || format!("address {hostport}: missing port in address");
    let too_many = || format!("address {hostport}: too many colons in address");
    let Some(i) = hostport.rfind(':') else {
        return Err(missing_port());
    };
    let (host, port) = (&hostport[..i], &hostport[i + 1..]);
    if let Some(rest) = host.strip_prefix('[') {
        let Some(end) = rest.find(']') else {
            return Err(format!("address {hostport}: missing ']' in address"));
        };
        if end + 1 != rest.len() {
            return Err(missing_port());
        }
        return Ok((rest[..end].to_string(), port.to_string()));
    }
    if host.contains(':') {
        return Err(too_many());
    }
    if host.contains('[') || host.contains(']') {
        return Err(format!("address {hostport}: unexpected '[' in address"));
    }
    Ok((host.to_string(), port.to_string()))
}

/// `strconv.Atoi` (decimal, optional sign).
pub fn atoi(s: &str) -> Option<i64> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_round_trip_go_texts() {
        assert_eq!(parse_duration("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1.5h"), Ok(Duration::from_secs(5400)));
        assert_eq!(
            parse_duration("5"),
            Err("time: missing unit in duration \"5\"".into())
        );
        assert_eq!(
            parse_duration("abc"),
            Err("time: invalid duration \"abc\"".into())
        );
        assert_eq!(
            parse_duration("5x"),
            Err("time: unknown unit \"x\" in duration \"5x\"".into())
        );
        assert_eq!(format_duration(Duration::from_secs(120)), "2m0s");
        assert_eq!(format_duration(Duration::from_secs(10)), "10s");
        assert_eq!(format_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(format_duration(Duration::from_millis(500)), "500ms");
        assert_eq!(format_duration(Duration::from_secs(3600 * 24)), "24h0m0s");
        assert_eq!(format_duration(Duration::ZERO), "0s");
    }

    #[test]
    fn paths_follow_filepath() {
        assert_eq!(join_path(".", "./nope.conf"), "nope.conf");
        assert_eq!(join_path("/tmp/x", "../y.conf"), "/tmp/y.conf");
        assert_eq!(dir_of("a.conf"), ".");
        assert_eq!(dir_of("/etc/nats/a.conf"), "/etc/nats");
        assert_eq!(dir_of("/a.conf"), "/");
    }

    #[test]
    fn host_port_split() {
        assert_eq!(
            split_host_port("0.0.0.0:4222"),
            Ok(("0.0.0.0".into(), "4222".into()))
        );
        assert_eq!(
            split_host_port("[::1]:4222"),
            Ok(("::1".into(), "4222".into()))
        );
        assert!(split_host_port("localhost").is_err());
    }

    #[test]
    fn floats_like_go() {
        assert_eq!(format_float(0.75), "0.75");
        assert_eq!(format_float(2.0), "2");
        assert_eq!(format_float_f(61.0), "61.000000");
    }
}
