//! What the tool asks of the operating system: the open-files limit and another process's
//! resident memory.
//!
//! **What it owns.** Raising the soft `RLIMIT_NOFILE` towards the hard limit before opening
//! thousands of connections, and reading `VmRSS` from `/proc/<pid>/status` so that a run can
//! report the server's memory when given its pid.
//!
//! **What it must never do.** Lower a limit, or guess: an unreadable `/proc` entry is an error
//! for the caller to report, not a zero.

use rustix::process::{getrlimit, setrlimit, Resource};

/// Raises the soft open-files limit to at least `want` if the hard limit allows (otherwise to
/// the hard limit). Returns the soft limit now in force.
pub fn raise_nofile(want: u64) -> std::io::Result<u64> {
    let mut lim = getrlimit(Resource::Nofile);
    let cur = lim.current.unwrap_or(u64::MAX);
    if cur >= want {
        return Ok(cur);
    }
    let target = match lim.maximum {
        Some(max) => want.min(max),
        None => want,
    };
    lim.current = Some(target);
    setrlimit(Resource::Nofile, lim)?;
    Ok(target)
}

/// The resident set size of process `pid` in KiB (`VmRSS` of `/proc/<pid>/status`).
pub fn rss_kib(pid: u32) -> std::io::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    parse_vmrss(&status).ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("no VmRSS line in /proc/{pid}/status"),
        )
    })
}

fn parse_vmrss(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let mut it = line["VmRSS:".len()..].split_whitespace();
    let kib: u64 = it.next()?.parse().ok()?;
    match it.next() {
        Some("kB") | None => Some(kib),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vmrss_parses() {
        let s = "Name:\tx\nVmPeak:\t  10 kB\nVmRSS:\t    1234 kB\nThreads: 2\n";
        assert_eq!(parse_vmrss(s), Some(1234));
        assert_eq!(parse_vmrss("Name: x\n"), None);
    }

    #[test]
    fn own_rss_is_readable() {
        assert!(rss_kib(std::process::id()).unwrap() > 0);
    }

    #[test]
    fn raise_is_never_a_decrease() {
        let before = getrlimit(Resource::Nofile).current.unwrap_or(u64::MAX);
        let now = raise_nofile(16).unwrap();
        assert!(now >= before.min(16));
        assert_eq!(
            getrlimit(Resource::Nofile).current.unwrap_or(u64::MAX),
            before
        );
    }
}
