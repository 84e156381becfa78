//! The global logger as the server uses it: the macros, `init`,
//! `reconfigure`, `reopen`, the free trace helpers, and `fatal!` exiting
//! with status 1 (checked in a child process).
//!
//! The global logger is per process, so everything that touches it in this
//! process lives in one test; the `*_child` tests only act when the parent
//! test re-runs this binary with their environment variable set.

use std::fs;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use nats_server::log::{self, ConnPrefix, LogConfig, LogError, TraceDir};
use regex::Regex;

static EVALUATED: AtomicUsize = AtomicUsize::new(0);

fn side_effect() -> &'static str {
    EVALUATED.fetch_add(1, Ordering::SeqCst);
    "evaluated"
}

#[test]
fn global_logger_lifecycle() {
    // Before init: every macro is a no-op that does not evaluate its args.
    assert!(!log::debug_enabled() && !log::trace_enabled());
    log::notice!("{}", side_effect());
    log::error!("{}", side_effect());
    log::trace!("{}", side_effect());
    assert_eq!(EVALUATED.load(Ordering::SeqCst), 0);
    assert_eq!(
        log::reconfigure(LogConfig::default()),
        Err(LogError::NotInitialized)
    );
    assert_eq!(log::reopen(), Err(LogError::NotInitialized));
    log::flush();

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nats.log");
    let base = LogConfig {
        log_file: Some(path.clone()),
        logtime: false,
        max_traced_msg_len: 4,
        ..LogConfig::default()
    };
    log::init(base.clone()).unwrap();
    log::notice!("Server is ready");
    log::warn!("Plaintext passwords detected, use nkeys or bcrypt");
    log::error!("maximum payload exceeded: {} vs {}", 2000000, 1048576);
    log::debug!("{}", side_effect());
    log::trace!("{}", side_effect());
    let p = ConnPrefix::client("127.0.0.1:56426".parse().unwrap(), 9);
    log::trace_in(&p, "PING");
    assert_eq!(
        EVALUATED.load(Ordering::SeqCst),
        0,
        "disabled args evaluated"
    );

    // Config reload turns on -DV.
    log::reconfigure(LogConfig {
        debug: true,
        trace: true,
        ..base.clone()
    })
    .unwrap();
    assert!(log::debug_enabled() && log::trace_enabled());
    assert_eq!(log::max_traced_msg_len(), 4);
    log::debug!("{p} - Client connection created");
    log::trace_in(&p, r#"CONNECT {"verbose":false,"pass":"secret"}"#);
    let p = p.described("0.1", "python", "subber", None);
    log::trace_in(&p, b"SUB foo 1");
    log::trace_in(&p, "PUB foo r 5");
    log::trace_payload(&p, TraceDir::In, b"hello");
    log::trace_out(&p, "MSG foo 1 r 5");
    log::trace_internal(&p, "DELSUB 1");
    log::trace!("{}", side_effect());
    assert_eq!(EVALUATED.load(Ordering::SeqCst), 1);

    // logrotate moves the file, then SIGUSR1.
    log::flush();
    let moved = dir.path().join("nats.log.1");
    fs::rename(&path, &moved).unwrap();
    log::reopen().unwrap();
    log::notice!("after reopen");
    // A second init reconfigures: debug off again.
    log::init(base.clone()).unwrap();
    assert!(!log::debug_enabled());
    log::debug!("hidden");
    log::flush();
    assert_eq!(log::dropped_lines(), 0);

    let pid = std::process::id();
    let q = r#"127.0.0.1:56426 - cid:9 - "v0.1:python:subber" - "#;
    assert_eq!(
        fs::read_to_string(&moved).unwrap(),
        format!(
            "[{pid}] [INF] Server is ready\n\
             [{pid}] [WRN] Plaintext passwords detected, use nkeys or bcrypt\n\
             [{pid}] [ERR] maximum payload exceeded: 2000000 vs 1048576\n\
             [{pid}] [DBG] 127.0.0.1:56426 - cid:9 - Client connection created\n\
             [{pid}] [TRC] 127.0.0.1:56426 - cid:9 - <<- [CONNECT {{\"verbose\":false,\"pass\":\"[REDACTED]\"}}]\n\
             [{pid}] [TRC] {q}<<- [SUB foo 1]\n\
             [{pid}] [TRC] {q}<<- [PUB foo r 5]\n\
             [{pid}] [TRC] {q}<<- MSG_PAYLOAD: [\"hell...\"]\n\
             [{pid}] [TRC] {q}->> [MSG foo 1 r 5]\n\
             [{pid}] [TRC] {q}<-> [DELSUB 1]\n\
             [{pid}] [TRC] evaluated\n"
        )
    );
    assert_eq!(
        fs::read_to_string(&path).unwrap(),
        format!("[{pid}] [INF] File log re-opened\n[{pid}] [INF] after reopen\n")
    );
}

#[test]
fn fatal_child() {
    let Some(path) = std::env::var_os("NATS_LOG_FATAL_CHILD") else {
        return;
    };
    log::init(LogConfig {
        log_file: Some(path.into()),
        ..LogConfig::default()
    })
    .unwrap();
    log::notice!("before");
    log::fatal!("Error listening on port: {}:{}", "0.0.0.0", 4222);
}

#[test]
fn fatal_logs_flushes_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fatal.log");
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "fatal_child", "--nocapture", "--test-threads=1"])
        .env("NATS_LOG_FATAL_CHILD", &path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let text = fs::read_to_string(&path).unwrap();
    let re = Regex::new(
        r"^\[(\d+)\] \d{4}/\d\d/\d\d \d\d:\d\d:\d\d\.\d{6} \[INF\] before\n\[(\d+)\] \d{4}/\d\d/\d\d \d\d:\d\d:\d\d\.\d{6} \[FTL\] Error listening on port: 0\.0\.0\.0:4222\n$",
    )
    .unwrap();
    let caps = re.captures(&text).unwrap_or_else(|| panic!("{text:?}"));
    assert_eq!(&caps[1], &caps[2]);
    assert_ne!(caps[1].parse::<u32>().unwrap(), std::process::id());
}

#[test]
fn fatal_before_init_child() {
    if std::env::var_os("NATS_LOG_FATAL_NOINIT_CHILD").is_none() {
        return;
    }
    log::fatal!("could not {}", "start");
}

#[test]
fn fatal_before_init_still_reaches_stderr() {
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "fatal_before_init_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("NATS_LOG_FATAL_NOINIT_CHILD", "1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8(out.stderr).unwrap();
    let re = Regex::new(r"(?m)^\[\d+\] \[FTL\] could not start$").unwrap();
    assert!(re.is_match(&stderr), "{stderr:?}");
}
