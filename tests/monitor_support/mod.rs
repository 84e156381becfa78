//! Shared by the monitoring tests: a minimal HTTP/1.1 client (so that the
//! bytes and headers are seen as sent), raw NATS clients over TCP, the real
//! nats-server as a child process, and JSON helpers. Every wait is bounded.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use nats_server::config::Options;
use nats_server::process::{start, Running};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::time::{sleep, timeout, Instant};

pub const WAIT: Duration = Duration::from_secs(10);
/// nats-server 2.9.10 (the crate using this module also declares
/// `mod common`, whose lookup fails the test under CI when it is missing).
pub const REAL_SERVER: &str = crate::common::REAL_2_9;

/// An HTTP response.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    /// Header names lower-cased, in order.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
}

/// `METHOD path` over a fresh connection (`Connection: close`), with chunked
/// bodies decoded.
pub async fn request(addr: SocketAddr, method: &str, path: &str, extra: &str) -> Reply {
    timeout(WAIT, async {
        let mut s = TcpStream::connect(addr).await.expect("connect to monitor");
        let req =
            format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{extra}\r\n");
        s.write_all(req.as_bytes()).await.unwrap();
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).await.unwrap();
        parse_response(&raw, method == "HEAD")
    })
    .await
    .unwrap_or_else(|_| panic!("{method} {path}: no answer within {WAIT:?}"))
}

pub async fn get(addr: SocketAddr, path: &str) -> Reply {
    request(addr, "GET", path, "").await
}

/// GET that must answer 200 with JSON.
pub async fn get_json(addr: SocketAddr, path: &str) -> Value {
    let r = get(addr, path).await;
    assert_eq!(r.status, 200, "GET {path}: {}", r.text());
    r.json()
}

fn parse_response(raw: &[u8], head: bool) -> Reply {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("complete header");
    let head_text = std::str::from_utf8(&raw[..split]).expect("ASCII headers");
    let mut lines = head_text.split("\r\n");
    let status_line = lines.next().unwrap();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status code");
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let rest = &raw[split + 4..];
    let chunked = headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
    let body = if head {
        Vec::new()
    } else if chunked {
        dechunk(rest)
    } else {
        rest.to_vec()
    };
    Reply {
        status,
        headers,
        body,
    }
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let eol = data
            .windows(2)
            .position(|w| w == b"\r\n")
            .expect("chunk size line");
        let size_text = std::str::from_utf8(&data[..eol]).unwrap();
        let size = usize::from_str_radix(size_text.split(';').next().unwrap().trim(), 16)
            .expect("hex chunk size");
        data = &data[eol + 2..];
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}

/// Our server on 127.0.0.1 with monitoring on a random port.
pub async fn ours(f: impl FnOnce(&mut Options)) -> (Running, SocketAddr) {
    let mut opts = Options {
        host: "127.0.0.1".into(),
        port: 0,
        http_port: -1,
        ..Options::default()
    };
    f(&mut opts);
    let healthz = match opts.http_base_path.trim_end_matches('/') {
        "" => "/healthz".to_string(),
        base => format!("{base}/healthz"),
    };
    let running = start(opts).await.expect("server starts");
    let mon = running.monitor_addr.expect("monitor listening");
    wait_healthy_at(mon, &healthz).await;
    (running, mon)
}

/// Polls `/healthz` until it says ok.
pub async fn wait_healthy(mon: SocketAddr) {
    wait_healthy_at(mon, "/healthz").await
}

/// Polls `path` until it answers 200.
pub async fn wait_healthy_at(mon: SocketAddr, path: &str) {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Ok(Ok(mut s)) = timeout(Duration::from_secs(1), TcpStream::connect(mon)).await {
            let req = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
            if s.write_all(req.as_bytes()).await.is_ok() {
                let mut raw = Vec::new();
                let _ = timeout(Duration::from_secs(1), s.read_to_end(&mut raw)).await;
                if raw.starts_with(b"HTTP/1.1 200") {
                    return;
                }
            }
        }
        assert!(
            Instant::now() < deadline,
            "monitor {mon} never became healthy"
        );
        sleep(Duration::from_millis(20)).await;
    }
}

/// A port free right now on 127.0.0.1.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The real nats-server, killed (by its own handle) on drop.
pub struct RealServer {
    child: Child,
    pub addr: SocketAddr,
    pub mon: SocketAddr,
}

impl RealServer {
    /// Starts `/usr/sbin/nats-server` on random ports, or says why not.
    pub async fn start(extra: &[&str]) -> Option<RealServer> {
        crate::common::real_binary(REAL_SERVER, "the monitoring differential test")?;
        for _ in 0..5 {
            let (port, mport) = (free_port(), free_port());
            let child = Command::new(REAL_SERVER)
                .args([
                    "-a",
                    "127.0.0.1",
                    "-p",
                    &port.to_string(),
                    "-m",
                    &mport.to_string(),
                ])
                .args(extra)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn nats-server");
            let mut real = RealServer {
                child,
                addr: SocketAddr::from(([127, 0, 0, 1], port)),
                mon: SocketAddr::from(([127, 0, 0, 1], mport)),
            };
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = real.child.try_wait() {
                    break; // lost a port race: try other ports
                }
                // Not the client port: a probe would count as a connection.
                // `/healthz` says ok once the client listener is up.
                if TcpStream::connect(real.mon).await.is_ok() {
                    wait_healthy(real.mon).await;
                    return Some(real);
                }
                sleep(Duration::from_millis(20)).await;
            }
            let _ = real.child.kill();
        }
        panic!("the real nats-server did not start");
    }
}

impl Drop for RealServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A raw NATS client: writes protocol text, reads lines.
pub struct Raw {
    rd: BufReader<tokio::net::tcp::OwnedReadHalf>,
    wr: tokio::net::tcp::OwnedWriteHalf,
}

impl Raw {
    /// Connects, reads INFO, sends `CONNECT <json>`.
    pub async fn connect(addr: SocketAddr, connect: &str) -> Raw {
        let s = timeout(WAIT, TcpStream::connect(addr))
            .await
            .expect("connect in time")
            .expect("connect");
        let (rd, wr) = s.into_split();
        let mut raw = Raw {
            rd: BufReader::new(rd),
            wr,
        };
        let info = raw.line().await;
        assert!(info.starts_with("INFO "), "{info}");
        raw.send(&format!("CONNECT {connect}\r\n")).await;
        raw
    }

    pub async fn send(&mut self, text: &str) {
        self.wr.write_all(text.as_bytes()).await.expect("write");
    }

    pub async fn line(&mut self) -> String {
        let mut line = String::new();
        timeout(WAIT, self.rd.read_line(&mut line))
            .await
            .expect("a line in time")
            .expect("read");
        line
    }

    /// Sends PING and reads until PONG (answering server PINGs), returning
    /// the lines seen before it.
    pub async fn sync(&mut self) -> Vec<String> {
        self.send("PING\r\n").await;
        let mut seen = Vec::new();
        loop {
            let line = self.line().await;
            assert!(
                !line.is_empty(),
                "connection closed while syncing: {seen:?}"
            );
            match line.as_str() {
                "PONG\r\n" => return seen,
                "PING\r\n" => self.send("PONG\r\n").await,
                _ => seen.push(line),
            }
        }
    }

    /// Reads until the server closes the connection (bounded).
    pub async fn wait_closed(&mut self) {
        let mut buf = vec![0u8; 64 * 1024];
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match timeout(left, self.rd.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => return,
                Ok(Ok(_)) => {}
                Err(_) => panic!("the server did not close the connection"),
            }
        }
    }
}

/// Polls `f` until it returns `Some`, for at most [`WAIT`].
pub async fn eventually<T, F, Fut>(what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        sleep(Duration::from_millis(20)).await;
    }
}

/// Unix nanoseconds of an RFC 3339 time from the JSON.
pub fn nanos(v: &Value) -> i64 {
    let s = v.as_str().unwrap_or_else(|| panic!("not a time: {v}"));
    chrono::DateTime::parse_from_rfc3339(s)
        .unwrap_or_else(|e| panic!("bad time {s}: {e}"))
        .timestamp_nanos_opt()
        .unwrap()
}

/// Nanoseconds of a Go duration string (`585µs`, `1.5ms`, `2m3s`, `0s`).
pub fn go_duration(s: &str) -> f64 {
    let mut total = 0.0;
    let mut num = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() || c == '.' {
            num.push(c);
            continue;
        }
        let mut unit = c.to_string();
        while let Some(&n) = chars.peek() {
            if n.is_ascii_digit() {
                break;
            }
            unit.push(n);
            chars.next();
        }
        let scale = match unit.as_str() {
            "ns" => 1.0,
            "µs" | "us" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => panic!("unit {unit} in {s}"),
        };
        total += num.parse::<f64>().unwrap() * scale;
        num.clear();
    }
    total
}

/// A subscriber on `subject` that never reads, with a tiny socket buffer,
/// flooded by another connection until the server cuts it as a slow
/// consumer (seen in `/varz`).
pub async fn make_slow_consumer(addr: SocketAddr, mon: SocketAddr, name: &str, subject: &str) {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let stream = timeout(WAIT, socket.connect(addr)).await.unwrap().unwrap();
    let (rd, wr) = stream.into_split();
    let mut slow = Raw {
        rd: BufReader::new(rd),
        wr,
    };
    assert!(slow.line().await.starts_with("INFO "));
    slow.send(&format!(
        "CONNECT {{\"verbose\":false,\"name\":\"{name}\"}}\r\nSUB {subject} 1\r\n"
    ))
    .await;
    slow.sync().await;
    let before = get_json(mon, "/varz").await["slow_consumers"]
        .as_u64()
        .unwrap();
    let mut publisher = Raw::connect(addr, r#"{"verbose":false,"name":"flooder"}"#).await;
    let payload = "x".repeat(2000);
    let batch: String = (0..100)
        .map(|_| format!("PUB {subject} 2000\r\n{payload}\r\n"))
        .collect();
    // At most ~100 MB before giving up; a 4 KiB receive buffer and any
    // sane max_pending cut it long before.
    for _ in 0..500 {
        publisher.send(&batch).await;
        publisher.sync().await;
        let now = get_json(mon, "/varz").await["slow_consumers"]
            .as_u64()
            .unwrap();
        if now > before {
            // Keep the socket open until the server has closed it.
            drop(slow);
            return;
        }
    }
    panic!("{name} was never cut as a slow consumer");
}
