//! The logger object: the caller-side handle and the writer thread behind it.
//!
//! Owns the hand-off between threads that log and the one thread that does
//! I/O. A caller (a connection task, the accept loop) formats its message
//! into a fresh `String`, stamps it with `SystemTime::now()` and `try_send`s
//! it on a bounded channel. The writer thread renders the line for its
//! destination (pid, timestamp, label, syslog framing), writes it, and
//! flushes whenever the queue runs dry, so a burst costs one write syscall
//! per buffer, not per line.
//!
//! Why a thread: a write to a slow disk, a full pipe or a stalled TCP syslog
//! peer must never stall a connection, and the tokio runtime's workers must
//! never sit in blocking I/O. What it must never do: block a caller. When
//! the channel is full the line is dropped and counted; the writer reports
//! `Log writer fell behind, dropped N lines` once it catches up. Only the
//! control requests (flush, reopen, reconfigure) and the last FTL line wait,
//! and they are off the hot path.

use std::fmt;
use std::io::{self, IsTerminal, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use super::conn::{format_op_trace, format_payload_trace, ConnPrefix, TraceDir};
use super::file::FileSink;
use super::format::{Ending, LineStyle};
use super::syslog::{default_hostname, default_tag, SyslogSink, SyslogTarget, DEFAULT_LOCAL_PATHS};
use super::{level_bits, Destination, Level, LogConfig, LogError, LogFormat};

/// Lines the channel holds before callers start dropping.
pub const DEFAULT_CAPACITY: usize = 8192;

/// Flush the console buffer once it holds this much, even mid-burst.
const CONSOLE_FLUSH_AT: usize = 64 * 1024;

struct Record {
    level: Level,
    time: SystemTime,
    msg: String,
}

enum Control {
    Flush,
    Reopen,
    Reconfigure(Box<LogConfig>),
    Shutdown,
}

enum Msg {
    Line(Record),
    Control(Control, SyncSender<Result<(), LogError>>),
}

/// State shared by the handle and the writer thread.
struct Shared {
    levels: AtomicU8,
    dropped: AtomicU64,
    max_traced: AtomicUsize,
}

/// A logger with its own writer thread. The server uses the global one
/// through [`super::init`] and the macros; tests and embedders can own one.
///
/// Dropping it flushes and stops the writer thread.
pub struct Logger {
    tx: SyncSender<Msg>,
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

/// Options for a [`Logger`] beyond the [`LogConfig`] keys.
pub struct LoggerBuilder {
    config: LogConfig,
    capacity: usize,
    writer: Option<Box<dyn Write + Send>>,
    tag: Option<String>,
    hostname: Option<String>,
    local_paths: Option<Vec<PathBuf>>,
}

impl LoggerBuilder {
    pub fn new(config: LogConfig) -> Self {
        LoggerBuilder {
            config,
            capacity: DEFAULT_CAPACITY,
            writer: None,
            tag: None,
            hostname: None,
            local_paths: None,
        }
    }

    /// The configuration this builder will start with.
    pub fn config(&self) -> &LogConfig {
        &self.config
    }

    /// Channel capacity in lines (at least 1).
    pub fn capacity(mut self, lines: usize) -> Self {
        self.capacity = lines.max(1);
        self
    }

    /// Use `w` instead of stderr for the console destination (never
    /// coloured). File and syslog settings still take precedence.
    pub fn writer(mut self, w: impl Write + Send + 'static) -> Self {
        self.writer = Some(Box::new(w));
        self
    }

    /// Syslog tag; defaults to the executable's file name.
    pub fn syslog_tag(mut self, tag: impl Into<String>) -> Self {
        self.tag = Some(tag.into());
        self
    }

    /// Host name in network syslog headers; defaults to the kernel's.
    pub fn hostname(mut self, host: impl Into<String>) -> Self {
        self.hostname = Some(host.into());
        self
    }

    /// Sockets tried for local syslog; defaults to `/dev/log`,
    /// `/var/run/syslog`, `/var/run/log`.
    pub fn local_syslog_paths(mut self, paths: Vec<PathBuf>) -> Self {
        self.local_paths = Some(paths);
        self
    }

    /// Opens the destination (so configuration errors are returned here)
    /// and starts the writer thread.
    pub fn build(self) -> Result<Logger, LogError> {
        let console = match self.writer {
            Some(w) => Console::Custom(w),
            None => Console::Stderr(io::stderr().is_terminal()),
        };
        let env = Env {
            pid: std::process::id(),
            tag: self.tag.unwrap_or_else(default_tag),
            hostname: self.hostname.unwrap_or_else(default_hostname),
            local_paths: self
                .local_paths
                .unwrap_or_else(|| DEFAULT_LOCAL_PATHS.iter().map(PathBuf::from).collect()),
        };
        let sink = open_sink(&self.config, &env)?;
        let shared = Arc::new(Shared {
            levels: AtomicU8::new(level_bits(&self.config)),
            dropped: AtomicU64::new(0),
            max_traced: AtomicUsize::new(self.config.max_traced_msg_len),
        });
        let (tx, rx) = mpsc::sync_channel(self.capacity);
        let mut writer = Writer {
            rx,
            shared: Arc::clone(&shared),
            style: style_for(&self.config, &sink, &console, env.pid),
            env,
            config: self.config,
            console,
            sink,
            buf: Vec::with_capacity(4096),
            reported_drops: 0,
        };
        let thread = std::thread::Builder::new()
            .name("nats-log".into())
            .spawn(move || writer.run())
            .map_err(|e| LogError::Io(e.to_string()))?;
        Ok(Logger {
            tx,
            shared,
            thread: Mutex::new(Some(thread)),
        })
    }
}

impl Logger {
    /// A logger for `config` with default options.
    pub fn new(config: LogConfig) -> Result<Logger, LogError> {
        LoggerBuilder::new(config).build()
    }

    pub fn builder(config: LogConfig) -> LoggerBuilder {
        LoggerBuilder::new(config)
    }

    /// Whether lines of `level` are written (a relaxed load).
    #[inline]
    pub fn enabled(&self, level: Level) -> bool {
        self.shared.levels.load(Ordering::Relaxed) & level.bit() != 0
    }

    pub fn debug_enabled(&self) -> bool {
        self.enabled(Level::Debug)
    }

    pub fn trace_enabled(&self) -> bool {
        self.enabled(Level::Trace)
    }

    /// `max_traced_msg_len` in force (0 = no limit).
    pub fn max_traced_msg_len(&self) -> usize {
        self.shared.max_traced.load(Ordering::Relaxed)
    }

    /// Lines dropped so far because the channel was full.
    pub fn dropped_lines(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }

    /// Formats and queues one line; never blocks. Does nothing when `level`
    /// is disabled. A [`Level::Fatal`] line is only logged: exiting is the
    /// caller's business (see [`super::fatal`]).
    pub fn log(&self, level: Level, args: fmt::Arguments<'_>) {
        if !self.enabled(level) {
            return;
        }
        let msg = match args.as_str() {
            Some(s) => s.to_owned(),
            None => {
                let mut s = String::with_capacity(128);
                let _ = fmt::write(&mut s, args);
                s
            }
        };
        self.submit(level, msg);
    }

    /// Queues an already formatted message; never blocks.
    pub fn log_string(&self, level: Level, msg: String) {
        if self.enabled(level) {
            self.submit(level, msg);
        }
    }

    fn submit(&self, level: Level, msg: String) {
        let rec = Record {
            level,
            time: SystemTime::now(),
            msg,
        };
        match self.tx.try_send(Msg::Line(rec)) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                self.shared.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Queues a line, waiting up to `timeout` for room: only for the last
    /// words before exit.
    pub(crate) fn log_waiting(&self, level: Level, args: fmt::Arguments<'_>, timeout: Duration) {
        let line = Msg::Line(Record {
            level,
            time: SystemTime::now(),
            msg: args.to_string(),
        });
        if !self.send_until(line, Instant::now() + timeout) {
            self.shared.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Sends, waiting for room until `deadline`. False if it could not.
    fn send_until(&self, mut msg: Msg, deadline: Instant) -> bool {
        loop {
            match self.tx.try_send(msg) {
                Ok(()) => return true,
                Err(TrySendError::Full(back)) if Instant::now() < deadline => {
                    msg = back;
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err(_) => return false,
            }
        }
    }

    /// Traces a protocol op: `<prefix> - <<- [PUB foo r 5]`. Inbound
    /// CONNECT lines are redacted.
    pub fn trace_op(&self, prefix: &ConnPrefix, dir: TraceDir, op_line: &[u8]) {
        if self.trace_enabled() {
            self.submit(Level::Trace, format_op_trace(prefix, dir, op_line));
        }
    }

    /// Traces a payload: `<prefix> - <<- MSG_PAYLOAD: ["hello"]`, cut to
    /// `max_traced_msg_len`. Nothing for an empty payload.
    pub fn trace_payload(&self, prefix: &ConnPrefix, dir: TraceDir, payload: &[u8]) {
        if self.trace_enabled() {
            if let Some(line) =
                format_payload_trace(prefix, dir, payload, self.max_traced_msg_len())
            {
                self.submit(Level::Trace, line);
            }
        }
    }

    fn request(&self, ctrl: Control, timeout: Option<Duration>) -> Result<(), LogError> {
        let (ack_tx, ack_rx) = mpsc::sync_channel(1);
        let msg = Msg::Control(ctrl, ack_tx);
        match timeout {
            None => self.tx.send(msg).map_err(|_| LogError::WriterGone)?,
            Some(t) => {
                if !self.send_until(msg, Instant::now() + t) {
                    return Err(LogError::Timeout);
                }
            }
        }
        match timeout {
            None => ack_rx.recv().map_err(|_| LogError::WriterGone)?,
            Some(t) => match ack_rx.recv_timeout(t) {
                Ok(r) => r,
                Err(RecvTimeoutError::Timeout) => Err(LogError::Timeout),
                Err(RecvTimeoutError::Disconnected) => Err(LogError::WriterGone),
            },
        }
    }

    /// Waits until every line queued before this call is written and the
    /// destination flushed.
    pub fn flush(&self) -> Result<(), LogError> {
        self.request(Control::Flush, None)
    }

    /// Like [`Logger::flush`] but gives up after `timeout`.
    pub fn flush_timeout(&self, timeout: Duration) -> Result<(), LogError> {
        self.request(Control::Flush, Some(timeout))
    }

    /// SIGUSR1: closes and re-opens the log file (after logrotate moved it)
    /// and logs `File log re-opened` in the new file. With another
    /// destination it logs `File log re-open ignored, not a file logger`.
    pub fn reopen(&self) -> Result<(), LogError> {
        self.request(Control::Reopen, None)
    }

    /// Applies a new configuration (config reload). The destination is
    /// re-opened only when its settings changed; if that fails the old one
    /// stays and nothing changes.
    pub fn reconfigure(&self, config: LogConfig) -> Result<(), LogError> {
        let bits = level_bits(&config);
        let max = config.max_traced_msg_len;
        self.request(Control::Reconfigure(Box::new(config)), None)?;
        self.shared.levels.store(bits, Ordering::Relaxed);
        self.shared.max_traced.store(max, Ordering::Relaxed);
        Ok(())
    }
}

impl Drop for Logger {
    fn drop(&mut self) {
        let _ = self.request(Control::Shutdown, None);
        let handle = match self.thread.get_mut() {
            Ok(h) => h.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        };
        if let Some(h) = handle {
            let _ = h.join();
        }
    }
}

/// Process facts the writer needs to (re)open destinations.
struct Env {
    pid: u32,
    tag: String,
    hostname: String,
    local_paths: Vec<PathBuf>,
}

enum Console {
    /// Real stderr; the flag says whether it is a terminal (colours).
    Stderr(bool),
    Custom(Box<dyn Write + Send>),
}

impl Console {
    fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        match self {
            Console::Stderr(_) => {
                let mut e = io::stderr().lock();
                e.write_all(bytes)?;
                e.flush()
            }
            Console::Custom(w) => {
                w.write_all(bytes)?;
                w.flush()
            }
        }
    }
}

enum Sink {
    Console,
    File(FileSink),
    Syslog(SyslogSink),
}

fn open_sink(config: &LogConfig, env: &Env) -> Result<Sink, LogError> {
    Ok(match config.destination() {
        Destination::File(path) => Sink::File(FileSink::open(
            &path,
            config.log_size_limit,
            config.log_max_num,
        )?),
        Destination::RemoteSyslog(url) => Sink::Syslog(SyslogSink::open(
            SyslogTarget::parse_remote(&url)?,
            env.tag.clone(),
            env.hostname.clone(),
            env.pid,
        )?),
        Destination::Syslog => Sink::Syslog(SyslogSink::open(
            SyslogTarget::Local(env.local_paths.clone()),
            env.tag.clone(),
            env.hostname.clone(),
            env.pid,
        )?),
        Destination::Stderr => Sink::Console,
    })
}

fn style_for(config: &LogConfig, sink: &Sink, console: &Console, pid: u32) -> LineStyle {
    let color = matches!((sink, console), (Sink::Console, Console::Stderr(true)))
        && config.format == LogFormat::Text;
    LineStyle::new(
        pid,
        config.logtime,
        config.logtime_utc,
        color,
        config.format,
    )
}

struct Writer {
    rx: Receiver<Msg>,
    shared: Arc<Shared>,
    env: Env,
    config: LogConfig,
    console: Console,
    sink: Sink,
    style: LineStyle,
    /// Console bytes waiting for the queue to run dry; scratch for files.
    buf: Vec<u8>,
    reported_drops: u64,
}

impl Writer {
    fn run(&mut self) {
        self.after_open();
        while let Ok(msg) = self.rx.recv() {
            if !self.handle(msg) {
                return;
            }
            while let Ok(msg) = self.rx.try_recv() {
                if !self.handle(msg) {
                    return;
                }
            }
            self.report_drops();
            let _ = self.flush_sink();
        }
        let _ = self.flush_sink();
    }

    /// Returns false when the thread should stop.
    fn handle(&mut self, msg: Msg) -> bool {
        match msg {
            Msg::Line(rec) => {
                self.write(rec.level, rec.time, &rec.msg);
                true
            }
            Msg::Control(ctrl, ack) => {
                let (result, keep_going) = match ctrl {
                    Control::Flush => {
                        self.report_drops();
                        (self.flush_sink(), true)
                    }
                    Control::Reopen => (self.reopen(), true),
                    Control::Reconfigure(cfg) => (self.reconfigure(*cfg), true),
                    Control::Shutdown => {
                        self.report_drops();
                        (self.flush_sink(), false)
                    }
                };
                let _ = ack.send(result);
                keep_going
            }
        }
    }

    fn write(&mut self, level: Level, time: SystemTime, msg: &str) {
        match &mut self.sink {
            Sink::Console => {
                self.style
                    .render(&mut self.buf, level, time, msg, Ending::Newline);
                if self.buf.len() >= CONSOLE_FLUSH_AT {
                    let _ = self.flush_sink();
                }
            }
            Sink::File(f) => {
                self.buf.clear();
                self.style
                    .render(&mut self.buf, level, time, msg, Ending::Newline);
                let _ = f.write_line(&self.buf, &self.style);
                // Leave nothing behind for a later console sink to print.
                self.buf.clear();
            }
            Sink::Syslog(s) => {
                s.write(level, time, msg);
            }
        }
    }

    fn flush_sink(&mut self) -> Result<(), LogError> {
        let res = match &mut self.sink {
            Sink::Console => {
                let r = if self.buf.is_empty() {
                    Ok(())
                } else {
                    self.console.write_all(&self.buf)
                };
                self.buf.clear();
                r
            }
            Sink::File(f) => f.flush(),
            Sink::Syslog(_) => Ok(()),
        };
        res.map_err(|e| LogError::Io(e.to_string()))
    }

    fn report_drops(&mut self) {
        let dropped = self.shared.dropped.load(Ordering::Relaxed);
        if dropped > self.reported_drops {
            let n = dropped - self.reported_drops;
            self.reported_drops = dropped;
            let msg = format!("Log writer fell behind, dropped {n} lines");
            self.write(Level::Warn, SystemTime::now(), &msg);
        }
    }

    /// Work nats-server does right after opening a destination.
    fn after_open(&mut self) {
        if matches!(&self.sink, Sink::File(f) if f.over_limit()) {
            self.write(Level::Info, SystemTime::now(), "Rotating logfile...");
        }
    }

    fn reopen(&mut self) -> Result<(), LogError> {
        let Sink::File(old) = &mut self.sink else {
            self.write(
                Level::Info,
                SystemTime::now(),
                "File log re-open ignored, not a file logger",
            );
            return Ok(());
        };
        let _ = old.flush();
        match FileSink::open(
            old.path(),
            self.config.log_size_limit,
            self.config.log_max_num,
        ) {
            Ok(new) => {
                self.sink = Sink::File(new);
                self.after_open();
                self.write(Level::Info, SystemTime::now(), "File log re-opened");
                Ok(())
            }
            Err(e) => {
                self.write(Level::Error, SystemTime::now(), &format!("{e}"));
                Err(e)
            }
        }
    }

    fn reconfigure(&mut self, config: LogConfig) -> Result<(), LogError> {
        let old_dest = self.config.destination();
        let new_dest = config.destination();
        if old_dest != new_dest {
            let sink = open_sink(&config, &self.env)?;
            let _ = self.flush_sink();
            self.sink = sink;
            self.config = config;
            self.style = style_for(&self.config, &self.sink, &self.console, self.env.pid);
            self.after_open();
        } else {
            if let Sink::File(f) = &mut self.sink {
                f.set_limits(config.log_size_limit, config.log_max_num);
            }
            self.config = config;
            let _ = self.flush_sink();
            self.style = style_for(&self.config, &self.sink, &self.console, self.env.pid);
            self.after_open();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn colored(config: &LogConfig, sink: &Sink, console: &Console) -> bool {
        style_for(config, sink, console, 1).color
    }

    #[test]
    fn colour_only_for_text_on_a_terminal_stderr() {
        let text = LogConfig::default();
        let json = LogConfig {
            format: LogFormat::Json,
            ..LogConfig::default()
        };
        let tty = Console::Stderr(true);
        let pipe = Console::Stderr(false);
        let custom = Console::Custom(Box::new(Vec::<u8>::new()));
        assert!(colored(&text, &Sink::Console, &tty));
        assert!(!colored(&text, &Sink::Console, &pipe));
        assert!(!colored(&text, &Sink::Console, &custom));
        assert!(!colored(&json, &Sink::Console, &tty));
        let dir = std::env::temp_dir().join(format!("nats-log-colour-{}", std::process::id()));
        let file = FileSink::open(&dir, 0, 0).unwrap();
        assert!(!colored(&text, &Sink::File(file), &tty));
        let _ = std::fs::remove_file(&dir);
    }
}
