//! A minimal HTTP/1.1 client for the monitoring endpoints, so that the
//! bytes and headers are seen as sent: one request per connection
//! (`Connection: close`), chunked bodies decoded. Every request is bounded
//! by [`SETTLE`].

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{sleep, timeout, Instant};

use super::wait::SETTLE;

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
    timeout(SETTLE, async {
        let mut s = TcpStream::connect(addr).await.expect("connect to monitor");
        let req =
            format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{extra}\r\n");
        s.write_all(req.as_bytes()).await.unwrap();
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).await.unwrap();
        parse_response(&raw, method == "HEAD")
    })
    .await
    .unwrap_or_else(|_| panic!("{method} {path}: no answer within {SETTLE:?}"))
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

/// Polls `/healthz` until it says ok.
pub async fn wait_healthy(mon: SocketAddr) {
    wait_healthy_at(mon, "/healthz").await
}

/// Polls `path` until it answers 200.
pub async fn wait_healthy_at(mon: SocketAddr, path: &str) {
    let deadline = Instant::now() + SETTLE;
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
