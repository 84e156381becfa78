//! Exact line layout of the logger on the console destination: every level
//! with and without timestamps, UTC vs local time, runtime reconfiguration,
//! connection prefixes and the opt-in JSON format.

use std::io::Write;
use std::net::SocketAddr;
use std::process::Command;
use std::sync::{Arc, Mutex};

use nats_server::log::{ConnPrefix, Level, LogConfig, LogFormat, Logger};
use regex::Regex;

/// A `Write` that keeps everything in memory, shared with the test.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Capture {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

fn logger(config: LogConfig) -> (Logger, Capture) {
    let cap = Capture::default();
    let l = Logger::builder(config).writer(cap.clone()).build().unwrap();
    (l, cap)
}

fn all_levels(l: &Logger) {
    l.log(Level::Info, format_args!("Server is ready"));
    l.log(
        Level::Warn,
        format_args!("Plaintext passwords detected, use nkeys or bcrypt"),
    );
    l.log(
        Level::Error,
        format_args!("maximum payload exceeded: {} vs {}", 2000000, 1048576),
    );
    l.log(
        Level::Fatal,
        format_args!("Error listening on port: 0.0.0.0:4222, \"x\""),
    );
    l.log(Level::Debug, format_args!("  Go build: {}", "rust"));
    l.log(Level::Trace, format_args!("<<- [PING]"));
    l.flush().unwrap();
}

const BODIES: [&str; 6] = [
    "[INF] Server is ready",
    "[WRN] Plaintext passwords detected, use nkeys or bcrypt",
    "[ERR] maximum payload exceeded: 2000000 vs 1048576",
    "[FTL] Error listening on port: 0.0.0.0:4222, \"x\"",
    "[DBG]   Go build: rust",
    "[TRC] <<- [PING]",
];

#[test]
fn every_level_with_timestamps() {
    let (l, cap) = logger(LogConfig {
        debug: true,
        trace: true,
        ..LogConfig::default()
    });
    all_levels(&l);
    let pid = std::process::id();
    let ts = Regex::new(r"^\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2}\.\d{6} $").unwrap();
    let text = cap.text();
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    assert_eq!(lines.len(), 6, "{text}");
    let head = format!("[{pid}] ");
    for (line, body) in lines.iter().zip(BODIES) {
        let rest = line.strip_prefix(&head).expect(line);
        assert!(ts.is_match(&rest[..27]), "bad timestamp in {line:?}");
        assert_eq!(&rest[27..], format!("{body}\n"));
    }
}

#[test]
fn every_level_without_timestamps() {
    let (l, cap) = logger(LogConfig {
        debug: true,
        trace: true,
        logtime: false,
        ..LogConfig::default()
    });
    all_levels(&l);
    let pid = std::process::id();
    let want: String = BODIES.iter().map(|b| format!("[{pid}] {b}\n")).collect();
    assert_eq!(cap.text(), want);
}

#[test]
fn debug_and_trace_are_off_by_default_and_reconfigurable() {
    let (l, cap) = logger(LogConfig {
        logtime: false,
        ..LogConfig::default()
    });
    assert!(!l.debug_enabled() && !l.trace_enabled());
    all_levels(&l);
    let pid = std::process::id();
    let want: String = BODIES[..4]
        .iter()
        .map(|b| format!("[{pid}] {b}\n"))
        .collect();
    assert_eq!(cap.text(), want);

    // Reload: debug on, timestamps on.
    l.reconfigure(LogConfig {
        debug: true,
        ..LogConfig::default()
    })
    .unwrap();
    assert!(l.debug_enabled() && !l.trace_enabled());
    l.log(Level::Debug, format_args!("now visible"));
    l.log(Level::Trace, format_args!("still hidden"));
    l.flush().unwrap();
    let text = cap.text();
    let last = text.lines().last().unwrap();
    let re = Regex::new(&format!(
        r"^\[{pid}\] \d{{4}}/\d\d/\d\d \d\d:\d\d:\d\d\.\d{{6}} \[DBG\] now visible$"
    ))
    .unwrap();
    assert!(re.is_match(last), "{last:?}");
    assert!(!text.contains("still hidden"));
}

#[test]
fn message_ending_in_newline_gets_no_second_one() {
    let (l, cap) = logger(LogConfig {
        logtime: false,
        ..LogConfig::default()
    });
    l.log(Level::Info, format_args!("one\n"));
    l.log(Level::Info, format_args!("two\nlines"));
    l.flush().unwrap();
    let pid = std::process::id();
    assert_eq!(
        cap.text(),
        format!("[{pid}] [INF] one\n[{pid}] [INF] two\nlines\n")
    );
}

#[test]
fn connection_prefixed_lines() {
    let (l, cap) = logger(LogConfig {
        logtime: false,
        debug: true,
        ..LogConfig::default()
    });
    let addr: SocketAddr = "127.0.0.1:48920".parse().unwrap();
    let p = ConnPrefix::client(addr, 4);
    l.log(
        Level::Debug,
        format_args!("{p} - Client connection created"),
    );
    let p = p.described("", "", "slowpoke", None);
    l.log(
        Level::Info,
        format_args!("{p} - Slow Consumer Detected: MaxPending of 65536 Exceeded"),
    );
    let r = ConnPrefix::route("[::1]:6222".parse().unwrap(), 5);
    l.log(Level::Info, format_args!("{r} - Route connection created"));
    l.flush().unwrap();
    let pid = std::process::id();
    assert_eq!(
        cap.text(),
        format!(
            "[{pid}] [DBG] 127.0.0.1:48920 - cid:4 - Client connection created\n\
             [{pid}] [INF] 127.0.0.1:48920 - cid:4 - \"slowpoke\" - Slow Consumer Detected: MaxPending of 65536 Exceeded\n\
             [{pid}] [INF] [::1]:6222 - rid:5 - Route connection created\n"
        )
    );
}

#[test]
fn custom_writer_is_never_coloured() {
    let (l, cap) = logger(LogConfig::default());
    l.log(Level::Error, format_args!("x"));
    l.flush().unwrap();
    assert!(!cap.text().contains('\x1b'));
}

#[test]
fn json_format_is_opt_in() {
    let (l, cap) = logger(LogConfig {
        format: LogFormat::Json,
        logtime_utc: true,
        ..LogConfig::default()
    });
    l.log(Level::Warn, format_args!("quote \" and \\ here"));
    l.flush().unwrap();
    let text = cap.text();
    let pid = std::process::id();
    let re = Regex::new(&format!(
        r#"^\{{"time":"\d{{4}}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{{6}}Z","level":"warn","pid":{pid},"msg":"quote \\" and \\\\ here"\}}\n$"#
    ))
    .unwrap();
    assert!(re.is_match(&text), "{text:?}");
    let v: serde_json::Value = serde_json::from_str(text.trim_end()).unwrap();
    assert_eq!(v["msg"], "quote \" and \\ here");
}

/// Runs in a child process with `TZ=JST-9`: prints the same moment in
/// local time and in UTC.
#[test]
fn tz_child() {
    if std::env::var_os("NATS_LOG_TZ_CHILD").is_none() {
        return;
    }
    for utc in [false, true] {
        let (l, cap) = logger(LogConfig {
            logtime_utc: utc,
            ..LogConfig::default()
        });
        l.log(Level::Info, format_args!("tz"));
        l.flush().unwrap();
        print!("LINE:{}", cap.text());
    }
}

#[test]
fn local_time_unless_logtime_utc() {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "tz_child", "--nocapture", "--test-threads=1"])
        .env("NATS_LOG_TZ_CHILD", "1")
        .env("TZ", "JST-9")
        .output()
        .unwrap();
    assert!(out.status.success());
    let stdout = String::from_utf8(out.stdout).unwrap();
    let re =
        Regex::new(r"LINE:\[\d+\] \d{4}/\d\d/\d\d (\d\d):(\d\d):\d\d\.\d{6} \[INF\] tz").unwrap();
    let hm: Vec<(u32, u32)> = re
        .captures_iter(&stdout)
        .map(|c| (c[1].parse().unwrap(), c[2].parse().unwrap()))
        .collect();
    assert_eq!(hm.len(), 2, "{stdout}");
    let (local, utc) = (hm[0].0 * 60 + hm[0].1, hm[1].0 * 60 + hm[1].1);
    // Nine hours apart (allow the minute to tick between the two lines).
    let diff = (local + 24 * 60 - utc) % (24 * 60);
    assert!((9 * 60 - 1..=9 * 60).contains(&diff), "{stdout}");
}
