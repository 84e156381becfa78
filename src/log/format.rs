//! Rendering of one log record into the bytes a destination receives.
//!
//! Owns the line layout and every timestamp format the logger writes:
//!
//! * text lines, as nats-server's Go `log.Logger` writes them:
//!   `[<pid>] <YYYY/MM/DD HH:MM:SS.micros> [<LVL>] <message>\n`, without the
//!   timestamp when `logtime` is off, in local time unless `logtime_utc`;
//!   a newline is added only when the message does not already end in one
//!   (Go's rule);
//! * the opt-in JSON line (not a nats-server format, see [`LogFormat`]);
//! * the rotation backup suffix `YYYY.MM.DD.HH.MM.SS.nnnnnnnnn` (local time,
//!   as nats-server);
//! * the syslog header timestamps (`Jan _2 15:04:05` for local sockets,
//!   RFC 3339 for the network).
//!
//! Everything here runs on the writer thread, never on a caller's: the
//! caller only hands over the level, a `SystemTime` and the message text.
//! Local time comes from `chrono`, which reads the zone database and `TZ`
//! safely in a multi-threaded process (`time`'s local offset refuses to, and
//! hand-rolling zone rules is how loggers end up an hour off).

use std::fmt::Write as _;
use std::time::SystemTime;

use chrono::{DateTime, Datelike, Local, Timelike, Utc};

use super::{Level, LogFormat};

/// How lines for one destination look. Built by the writer from the current
/// [`super::LogConfig`] and the destination kind.
#[derive(Clone, Debug)]
pub(crate) struct LineStyle {
    /// `"[1234] "`.
    pub pid_prefix: String,
    pub pid: u32,
    pub logtime: bool,
    pub utc: bool,
    /// ANSI colour labels: only for a terminal on stderr.
    pub color: bool,
    pub format: LogFormat,
}

/// How a rendered line ends. nats-server's file logger writes its own
/// rotation notices with `\r\n`; everything else ends in `\n`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ending {
    Newline,
    CrLf,
}

impl LineStyle {
    pub(crate) fn new(pid: u32, logtime: bool, utc: bool, color: bool, format: LogFormat) -> Self {
        LineStyle {
            pid_prefix: format!("[{pid}] "),
            pid,
            logtime,
            utc,
            color,
            format,
        }
    }

    /// Appends one complete line for `msg` to `out`.
    pub(crate) fn render(
        &self,
        out: &mut Vec<u8>,
        level: Level,
        time: SystemTime,
        msg: &str,
        ending: Ending,
    ) {
        match self.format {
            LogFormat::Text => self.render_text(out, level, time, msg, ending),
            LogFormat::Json => self.render_json(out, level, time, msg),
        }
    }

    fn render_text(
        &self,
        out: &mut Vec<u8>,
        level: Level,
        time: SystemTime,
        msg: &str,
        ending: Ending,
    ) {
        out.extend_from_slice(self.pid_prefix.as_bytes());
        if self.logtime {
            let mut ts = String::with_capacity(27);
            if self.utc {
                write_log_time(&mut ts, &DateTime::<Utc>::from(time));
            } else {
                write_log_time(&mut ts, &DateTime::<Local>::from(time));
            }
            out.extend_from_slice(ts.as_bytes());
        }
        let label = if self.color {
            level.colored_label()
        } else {
            level.label()
        };
        out.push(b'[');
        out.extend_from_slice(label.as_bytes());
        out.extend_from_slice(b"] ");
        out.extend_from_slice(msg.as_bytes());
        match ending {
            Ending::CrLf => out.extend_from_slice(b"\r\n"),
            Ending::Newline if !msg.ends_with('\n') => out.push(b'\n'),
            Ending::Newline => {}
        }
    }

    fn render_json(&self, out: &mut Vec<u8>, level: Level, time: SystemTime, msg: &str) {
        out.push(b'{');
        if self.logtime {
            let ts = if self.utc {
                rfc3339(&DateTime::<Utc>::from(time), true)
            } else {
                rfc3339(&DateTime::<Local>::from(time), true)
            };
            out.extend_from_slice(b"\"time\":\"");
            out.extend_from_slice(ts.as_bytes());
            out.extend_from_slice(b"\",");
        }
        out.extend_from_slice(b"\"level\":\"");
        out.extend_from_slice(level.name().as_bytes());
        out.extend_from_slice(b"\",\"pid\":");
        out.extend_from_slice(self.pid.to_string().as_bytes());
        out.extend_from_slice(b",\"msg\":");
        let msg = msg.strip_suffix('\n').unwrap_or(msg);
        // Serialising a &str to a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *out, msg);
        out.extend_from_slice(b"}\n");
    }
}

/// `2026/11/27 00:06:21.072934 ` (with the trailing space).
fn write_log_time<Tz: chrono::TimeZone>(out: &mut String, t: &DateTime<Tz>) {
    let _ = write!(
        out,
        "{:04}/{:02}/{:02} {:02}:{:02}:{:02}.{:06} ",
        t.year(),
        t.month(),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.nanosecond() % 1_000_000_000 / 1000
    );
}

/// The suffix nats-server appends to a rotated log file's name, in local
/// time: `2026.11.27.00.06.20.656665599`.
pub(crate) fn backup_suffix(time: SystemTime) -> String {
    let t = DateTime::<Local>::from(time);
    format!(
        "{:04}.{:02}.{:02}.{:02}.{:02}.{:02}.{:09}",
        t.year(),
        t.month(),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.nanosecond() % 1_000_000_000
    )
}

/// True when `stamp` is a backup suffix nats-server would recognise when
/// purging: `YYYY.MM.DD.hh.mm.ss` with an optional `.fraction` of 1 to 9
/// digits, each field in range.
pub(crate) fn is_backup_suffix(stamp: &str) -> bool {
    let (main, frac) = match stamp.as_bytes().get(19) {
        Some(b'.') => (&stamp[..19], Some(&stamp[20..])),
        Some(_) => return false,
        None => (stamp, None),
    };
    if let Some(frac) = frac {
        if frac.is_empty() || frac.len() > 9 || !frac.bytes().all(|b| b.is_ascii_digit()) {
            return false;
        }
    }
    let b = main.as_bytes();
    if b.len() != 19 {
        return false;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        let s = &main[r];
        if s.bytes().all(|c| c.is_ascii_digit()) {
            s.parse().ok()
        } else {
            None
        }
    };
    let dots = [4, 7, 10, 13, 16];
    if dots.iter().any(|&i| b[i] != b'.') {
        return false;
    }
    matches!(
        (
            num(0..4),
            num(5..7),
            num(8..10),
            num(11..13),
            num(14..16),
            num(17..19)
        ),
        (
            Some(_),
            Some(1..=12),
            Some(1..=31),
            Some(0..=23),
            Some(0..=59),
            Some(0..=59)
        )
    )
}

/// Go's `time.Stamp` layout, used by Go's syslog writer on local sockets:
/// `Nov 27 00:06:08`, day space-padded (`Nov  7`).
pub(crate) fn syslog_local_stamp(time: SystemTime) -> String {
    DateTime::<Local>::from(time)
        .format("%b %e %H:%M:%S")
        .to_string()
}

/// RFC 3339 in local time, as Go's syslog writer sends over the network:
/// `2026-11-27T08:46:47+09:00`, or `…Z` when the offset is zero.
pub(crate) fn syslog_network_stamp(time: SystemTime) -> String {
    rfc3339(&DateTime::<Local>::from(time), false)
}

fn rfc3339<Tz: chrono::TimeZone>(t: &DateTime<Tz>, micros: bool) -> String
where
    Tz::Offset: std::fmt::Display,
{
    let mut s = if micros {
        t.format("%Y-%m-%dT%H:%M:%S%.6f%:z").to_string()
    } else {
        t.format("%Y-%m-%dT%H:%M:%S%:z").to_string()
    };
    if s.ends_with("+00:00") {
        s.truncate(s.len() - 6);
        s.push('Z');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    fn at(secs: u64, nanos: u32) -> SystemTime {
        UNIX_EPOCH + Duration::new(secs, nanos)
    }

    #[test]
    fn text_line_utc_layout() {
        let style = LineStyle::new(42, true, true, false, LogFormat::Text);
        let mut out = Vec::new();
        // 2026-11-27T00:06:21.072934500Z
        style.render(
            &mut out,
            Level::Info,
            at(1_795_737_981, 72_934_500),
            "Server is ready",
            Ending::Newline,
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "[42] 2026/11/27 00:06:21.072934 [INF] Server is ready\n"
        );
    }

    #[test]
    fn text_line_without_time_and_trailing_newline() {
        let style = LineStyle::new(7, false, false, false, LogFormat::Text);
        let mut out = Vec::new();
        style.render(&mut out, Level::Warn, at(0, 0), "a\n", Ending::Newline);
        style.render(&mut out, Level::Info, at(0, 0), "b", Ending::CrLf);
        assert_eq!(out, b"[7] [WRN] a\n[7] [INF] b\r\n");
    }

    #[test]
    fn colored_labels() {
        let style = LineStyle::new(1, false, false, true, LogFormat::Text);
        let mut out = Vec::new();
        for l in [
            Level::Info,
            Level::Debug,
            Level::Warn,
            Level::Error,
            Level::Fatal,
            Level::Trace,
        ] {
            style.render(&mut out, l, at(0, 0), "x", Ending::Newline);
        }
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "[1] [\x1b[32mINF\x1b[0m] x\n[1] [\x1b[36mDBG\x1b[0m] x\n\
             [1] [\x1b[0;93mWRN\x1b[0m] x\n[1] [\x1b[31mERR\x1b[0m] x\n\
             [1] [\x1b[31mFTL\x1b[0m] x\n[1] [\x1b[33mTRC\x1b[0m] x\n"
        );
    }

    #[test]
    fn json_line() {
        let style = LineStyle::new(9, true, true, false, LogFormat::Json);
        let mut out = Vec::new();
        style.render(
            &mut out,
            Level::Error,
            at(1_795_737_981, 72_934_500),
            "say \"hi\"\n",
            Ending::CrLf,
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"time\":\"2026-11-27T00:06:21.072934Z\",\"level\":\"error\",\"pid\":9,\"msg\":\"say \\\"hi\\\"\"}\n"
        );
    }

    #[test]
    fn backup_suffix_shape() {
        let s = backup_suffix(at(1_795_737_981, 5));
        assert_eq!(s.len(), 29);
        assert!(s.ends_with(".000000005"), "{s}");
        assert!(is_backup_suffix(&s));
    }

    #[test]
    fn backup_suffix_recognition() {
        assert!(is_backup_suffix("2026.11.27.00.06.20.656665599"));
        assert!(is_backup_suffix("2026.11.27.00.06.20"));
        assert!(is_backup_suffix("2026.11.27.00.06.20.5"));
        assert!(!is_backup_suffix("2026.13.27.00.06.20.656665599"));
        assert!(!is_backup_suffix("2026.11.27.00.06.20.6566655991"));
        assert!(!is_backup_suffix("2026.11.27.00.06.20."));
        assert!(!is_backup_suffix("old"));
        assert!(!is_backup_suffix("2026-11-27.00.06.20"));
    }
}
