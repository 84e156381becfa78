//! The server's logger: levels, destinations, connection prefixes and
//! protocol traces, byte-compatible with nats-server 2.x.
//!
//! Owns everything that ends up in the log: the line layout
//! (`[<pid>] <YYYY/MM/DD HH:MM:SS.micros> [<LVL>] <message>`), the INF, WRN,
//! ERR, FTL, DBG and TRC levels, the destinations (stderr, a rotating file,
//! local or remote syslog, chosen in that order of precedence: file > remote
//! syslog > syslog > stderr), SIGUSR1 reopen, runtime reconfiguration, and
//! the helpers that build connection prefixes and `[TRC]` lines.
//!
//! How it is used:
//!
//! ```no_run
//! use nats_server::log::{self, ConnPrefix, LogConfig};
//!
//! log::init(LogConfig { debug: true, ..LogConfig::default() }).unwrap();
//! log::notice!("Server is ready");
//! let prefix = ConnPrefix::client("127.0.0.1:54321".parse().unwrap(), 5);
//! log::debug!("{prefix} - Client connection created");
//! log::trace_in(&prefix, "PUB foo r 5");
//! log::flush();
//! ```
//!
//! Design, and what it must never do:
//!
//! * **Never block a caller.** Messages are formatted on the calling thread
//!   and handed to one writer thread over a bounded channel; when it is full
//!   the line is dropped and counted ([`dropped_lines`]), and the writer
//!   says how many it lost once it catches up. Only [`flush`], [`reopen`],
//!   [`reconfigure`] and [`fatal`] wait (`logger.rs` has the details).
//! * **Cost nothing when disabled.** `debug!`/`trace!` and the trace helpers
//!   test one relaxed atomic load before evaluating their arguments: a
//!   disabled trace line neither formats nor allocates.
//! * **No unsafe, no hand-rolled time zones**: local time comes from
//!   `chrono`.
//!
//! Before [`init`] every macro is a no-op, except [`fatal`], which still
//! writes its line to stderr before exiting. Call [`flush`] before the
//! process exits, or queued lines are lost.
//!
//! Deliberate differences from nats-server: under overload lines are dropped
//! (and counted) rather than stalling the server; FTL exits with status 1
//! on every destination (nats-server's syslog logger does not exit); a
//! failed reopen or rotation is logged and retried instead of exiting or
//! panicking; `logfile_max_num` survives a reopen (nats-server forgets it);
//! invalid UTF-8 in a traced op line prints as U+FFFD; trace payload and
//! redaction rules follow 2.15 (see `conn.rs`); a value a peer controls
//! (subject, queue, sid, user or client name) is written with at most
//! [`CLIENT_TEXT_MAX`] bytes and marked `...`, where nats-server writes it
//! whole, and a CONNECT that is not JSON shows its first
//! [`BODY_SNIPPET_MAX`] bytes, redacted, where nats-server shows Go's JSON
//! error (`clip.rs`). The optional JSON format
//! ([`LogFormat::Json`]) is ours and off by default.

mod clip;
mod conn;
mod file;
mod format;
mod logger;
mod quote;
mod syslog;

use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

pub use clip::{clip, clip_body, clip_quoted, Clip, BODY_SNIPPET_MAX, CLIENT_TEXT_MAX, CUT_MARKER};
pub use conn::{
    client_descriptor, format_op_trace, format_payload_trace, redact_secrets, ConnKind, ConnPrefix,
    TraceDir,
};
pub use logger::{Logger, LoggerBuilder, DEFAULT_CAPACITY};
pub use quote::{go_quote, go_quote_into};
pub use syslog::{default_hostname, default_tag, SyslogTarget};

/// A log level, with nats-server's three-letter label.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Level {
    /// `FTL`: logged, then the process exits with status 1 ([`fatal`]).
    Fatal,
    /// `ERR`
    Error,
    /// `WRN`
    Warn,
    /// `INF` (nats-server's "notice")
    Info,
    /// `DBG`, only with `debug` / `-D`.
    Debug,
    /// `TRC`, only with `trace` / `-V`.
    Trace,
}

const BIT_ON: u8 = 1;
const BIT_DEBUG: u8 = 2;
const BIT_TRACE: u8 = 4;

impl Level {
    /// `INF`, `WRN`, `ERR`, `FTL`, `DBG`, `TRC`.
    pub fn label(self) -> &'static str {
        match self {
            Level::Fatal => "FTL",
            Level::Error => "ERR",
            Level::Warn => "WRN",
            Level::Info => "INF",
            Level::Debug => "DBG",
            Level::Trace => "TRC",
        }
    }

    /// The label with nats-server's ANSI colours, for a terminal.
    pub fn colored_label(self) -> &'static str {
        match self {
            Level::Fatal => "\x1b[31mFTL\x1b[0m",
            Level::Error => "\x1b[31mERR\x1b[0m",
            Level::Warn => "\x1b[0;93mWRN\x1b[0m",
            Level::Info => "\x1b[32mINF\x1b[0m",
            Level::Debug => "\x1b[36mDBG\x1b[0m",
            Level::Trace => "\x1b[33mTRC\x1b[0m",
        }
    }

    /// Lower-case name used by the JSON format.
    pub fn name(self) -> &'static str {
        match self {
            Level::Fatal => "fatal",
            Level::Error => "error",
            Level::Warn => "warn",
            Level::Info => "info",
            Level::Debug => "debug",
            Level::Trace => "trace",
        }
    }

    /// Syslog severity nats-server uses (trace goes out as notice).
    pub fn syslog_severity(self) -> u8 {
        match self {
            Level::Fatal => 2,
            Level::Error => 3,
            Level::Warn => 4,
            Level::Info | Level::Trace => 5,
            Level::Debug => 7,
        }
    }

    fn bit(self) -> u8 {
        match self {
            Level::Debug => BIT_DEBUG,
            Level::Trace => BIT_TRACE,
            _ => BIT_ON,
        }
    }
}

/// Line format. Only `Text` exists in nats-server; `Json` is an opt-in
/// extra for log pipelines (`{"time":…,"level":"info","pid":…,"msg":…}`),
/// applied to stderr and file output, never to syslog. There is no
/// nats-server config key for it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// The logging options, named after the config keys. Plain data: the
/// config parser and the command line fill it in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogConfig {
    /// `debug`, `-D`
    pub debug: bool,
    /// `trace`, `-V`
    pub trace: bool,
    /// `logtime`, `-T` (default true)
    pub logtime: bool,
    /// `logtime_utc`
    pub logtime_utc: bool,
    /// `log_file` / `logfile`, `-l` (None or empty = no file)
    pub log_file: Option<PathBuf>,
    /// `log_size_limit`: rotate after this many bytes (0 = never)
    pub log_size_limit: u64,
    /// `logfile_max_num` / `log_max_num`: files kept in all, live one
    /// included (0 = keep every backup)
    pub log_max_num: u64,
    /// `syslog`, `-s`
    pub syslog: bool,
    /// `remote_syslog`, `-r`: `udp://host:port`, `tcp://…`, `unix:///path`
    pub remote_syslog: Option<String>,
    /// `max_traced_msg_len`: payload bytes shown in traces (0 = all)
    pub max_traced_msg_len: usize,
    /// Not a nats-server key; see [`LogFormat`].
    pub format: LogFormat,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            debug: false,
            trace: false,
            logtime: true,
            logtime_utc: false,
            log_file: None,
            log_size_limit: 0,
            log_max_num: 0,
            syslog: false,
            remote_syslog: None,
            max_traced_msg_len: 0,
            format: LogFormat::Text,
        }
    }
}

/// Where a configuration sends its lines.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Destination {
    File(PathBuf),
    RemoteSyslog(String),
    Syslog,
    Stderr,
}

impl LogConfig {
    /// The destination, by nats-server's precedence:
    /// file > remote syslog > syslog > stderr.
    pub fn destination(&self) -> Destination {
        if let Some(path) = self.log_file.as_ref().filter(|p| !p.as_os_str().is_empty()) {
            Destination::File(path.clone())
        } else if let Some(url) = self.remote_syslog.as_ref().filter(|u| !u.is_empty()) {
            Destination::RemoteSyslog(url.clone())
        } else if self.syslog {
            Destination::Syslog
        } else {
            Destination::Stderr
        }
    }
}

fn level_bits(config: &LogConfig) -> u8 {
    let mut bits = BIT_ON;
    if config.debug {
        bits |= BIT_DEBUG;
    }
    if config.trace {
        bits |= BIT_TRACE;
    }
    bits
}

/// Why the logger could not do what it was asked. The `Display` texts of
/// the configuration errors are nats-server's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LogError {
    /// `error opening file: open <path>: <reason>`
    #[error("error opening file: {0}")]
    OpenFile(String),
    /// `error connecting to syslog: "<reason>"`
    #[error("error connecting to syslog: {}", go_quote(.0.as_bytes()))]
    Syslog(String),
    /// `error invalid network type: "<scheme>"`
    #[error("error invalid network type: {}", go_quote(.0.as_bytes()))]
    InvalidNetwork(String),
    #[error("logger is not initialized")]
    NotInitialized,
    #[error("log writer thread has stopped")]
    WriterGone,
    #[error("timed out waiting for the log writer")]
    Timeout,
    #[error("log I/O error: {0}")]
    Io(String),
}

static GLOBAL: OnceLock<Logger> = OnceLock::new();
static GLOBAL_LEVELS: AtomicU8 = AtomicU8::new(0);
static INIT_LOCK: Mutex<()> = Mutex::new(());

fn init_lock() -> std::sync::MutexGuard<'static, ()> {
    INIT_LOCK.lock().unwrap_or_else(|p| p.into_inner())
}

/// Starts the global logger. Called again, it reconfigures instead.
pub fn init(config: LogConfig) -> Result<(), LogError> {
    init_with(LoggerBuilder::new(config))
}

/// Starts the global logger with builder options (custom writer, channel
/// capacity, syslog tag…). If it is already running only the builder's
/// [`LogConfig`] is applied.
pub fn init_with(builder: LoggerBuilder) -> Result<(), LogError> {
    let _guard = init_lock();
    if let Some(logger) = GLOBAL.get() {
        let config = builder.config().clone();
        let bits = level_bits(&config);
        logger.reconfigure(config)?;
        GLOBAL_LEVELS.store(bits, Ordering::Relaxed);
        return Ok(());
    }
    let bits = level_bits(builder.config());
    let logger = builder.build()?;
    if GLOBAL.set(logger).is_ok() {
        GLOBAL_LEVELS.store(bits, Ordering::Relaxed);
    }
    Ok(())
}

/// Applies a reloaded configuration to the global logger: levels, logtime,
/// destination. On error (the new file cannot be opened…) nothing changes.
pub fn reconfigure(config: LogConfig) -> Result<(), LogError> {
    let _guard = init_lock();
    let logger = GLOBAL.get().ok_or(LogError::NotInitialized)?;
    let bits = level_bits(&config);
    logger.reconfigure(config)?;
    GLOBAL_LEVELS.store(bits, Ordering::Relaxed);
    Ok(())
}

/// SIGUSR1: re-opens the log file (see [`Logger::reopen`]).
pub fn reopen() -> Result<(), LogError> {
    GLOBAL.get().ok_or(LogError::NotInitialized)?.reopen()
}

/// Waits until every line logged so far has been written. A no-op before
/// [`init`].
pub fn flush() {
    if let Some(l) = GLOBAL.get() {
        let _ = l.flush();
    }
}

/// Lines the global logger dropped because its writer fell behind.
pub fn dropped_lines() -> u64 {
    GLOBAL.get().map_or(0, Logger::dropped_lines)
}

/// `max_traced_msg_len` of the global logger.
pub fn max_traced_msg_len() -> usize {
    GLOBAL.get().map_or(0, Logger::max_traced_msg_len)
}

/// Whether `level` is enabled on the global logger (one relaxed load).
#[inline]
pub fn enabled(level: Level) -> bool {
    GLOBAL_LEVELS.load(Ordering::Relaxed) & level.bit() != 0
}

/// Whether DBG lines are written (one relaxed load).
#[inline]
pub fn debug_enabled() -> bool {
    GLOBAL_LEVELS.load(Ordering::Relaxed) & BIT_DEBUG != 0
}

/// Whether TRC lines are written (one relaxed load).
#[inline]
pub fn trace_enabled() -> bool {
    GLOBAL_LEVELS.load(Ordering::Relaxed) & BIT_TRACE != 0
}

#[doc(hidden)]
pub fn __log(level: Level, args: fmt::Arguments<'_>) {
    if let Some(l) = GLOBAL.get() {
        l.log(level, args);
    }
}

/// Logs an FTL line, flushes (waiting at most 5 s for each) and exits with
/// status 1. Before [`init`] the line goes straight to stderr.
pub fn fatal(args: fmt::Arguments<'_>) -> ! {
    match GLOBAL.get() {
        Some(l) => {
            l.log_waiting(Level::Fatal, args, Duration::from_secs(5));
            let _ = l.flush_timeout(Duration::from_secs(5));
        }
        None => eprintln!("[{}] [FTL] {args}", std::process::id()),
    }
    std::process::exit(1)
}

/// `<prefix> - <<- [<op_line>]` at TRC; CONNECT lines are redacted.
pub fn trace_in(prefix: &ConnPrefix, op_line: impl AsRef<[u8]>) {
    trace_op(prefix, TraceDir::In, op_line.as_ref());
}

/// `<prefix> - ->> [<op_line>]` at TRC.
pub fn trace_out(prefix: &ConnPrefix, op_line: impl AsRef<[u8]>) {
    trace_op(prefix, TraceDir::Out, op_line.as_ref());
}

/// `<prefix> - <-> [<op_line>]` at TRC (server-internal, e.g. `DELSUB 1`).
pub fn trace_internal(prefix: &ConnPrefix, op_line: impl AsRef<[u8]>) {
    trace_op(prefix, TraceDir::Internal, op_line.as_ref());
}

#[inline]
fn trace_op(prefix: &ConnPrefix, dir: TraceDir, op_line: &[u8]) {
    if trace_enabled() {
        if let Some(l) = GLOBAL.get() {
            l.trace_op(prefix, dir, op_line);
        }
    }
}

/// `<prefix> - <<- MSG_PAYLOAD: ["hello"]` at TRC, cut to
/// `max_traced_msg_len`; `payload` without its CRLF. Nothing when empty.
#[inline]
pub fn trace_payload(prefix: &ConnPrefix, dir: TraceDir, payload: &[u8]) {
    if trace_enabled() {
        if let Some(l) = GLOBAL.get() {
            l.trace_payload(prefix, dir, payload);
        }
    }
}

#[doc(hidden)]
#[macro_export]
macro_rules! __nats_log_at {
    ($level:ident, $($arg:tt)+) => {
        if $crate::log::enabled($crate::log::Level::$level) {
            $crate::log::__log($crate::log::Level::$level, ::core::format_args!($($arg)+))
        }
    };
}

/// `[INF]` line: `log::notice!("Server is ready")`.
#[doc(hidden)]
#[macro_export]
macro_rules! __nats_log_notice {
    ($($arg:tt)+) => { $crate::__nats_log_at!(Info, $($arg)+) };
}

/// `[WRN]` line.
#[doc(hidden)]
#[macro_export]
macro_rules! __nats_log_warn {
    ($($arg:tt)+) => { $crate::__nats_log_at!(Warn, $($arg)+) };
}

/// `[ERR]` line.
#[doc(hidden)]
#[macro_export]
macro_rules! __nats_log_error {
    ($($arg:tt)+) => { $crate::__nats_log_at!(Error, $($arg)+) };
}

/// `[DBG]` line; arguments are not evaluated when debug is off.
#[doc(hidden)]
#[macro_export]
macro_rules! __nats_log_debug {
    ($($arg:tt)+) => { $crate::__nats_log_at!(Debug, $($arg)+) };
}

/// `[TRC]` line; arguments are not evaluated when trace is off.
#[doc(hidden)]
#[macro_export]
macro_rules! __nats_log_trace {
    ($($arg:tt)+) => { $crate::__nats_log_at!(Trace, $($arg)+) };
}

/// `[FTL]` line, flush, then exit with status 1.
#[doc(hidden)]
#[macro_export]
macro_rules! __nats_log_fatal {
    ($($arg:tt)+) => { $crate::log::fatal(::core::format_args!($($arg)+)) };
}

pub use crate::__nats_log_debug as debug;
pub use crate::__nats_log_error as error;
pub use crate::__nats_log_fatal as fatal;
pub use crate::__nats_log_notice as notice;
pub use crate::__nats_log_trace as trace;
pub use crate::__nats_log_warn as warn;
