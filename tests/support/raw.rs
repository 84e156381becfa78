//! Raw protocol clients over one TCP connection: [`Raw`] reads the server's
//! byte stream frame by frame ([`Event`]), [`Lines`] line by line (for the
//! monitoring tests, which only count and name connections). Every read is
//! bounded by the timeout policy (`wait`); a read that times out reports
//! [`Event::Timeout`] or fails the test, never hangs.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::time::{timeout, Instant};

use super::server::PASSWORD;
use super::wait::{QUIET, SETTLE, WAIT};

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

impl Raw {
    /// This connection's `client_id` from INFO.
    pub fn cid(&self) -> u64 {
        self.info_json()["client_id"].as_u64().expect("client_id")
    }
}

/// A line-oriented NATS client: writes protocol text, reads lines.
pub struct Lines {
    rd: BufReader<tokio::net::tcp::OwnedReadHalf>,
    wr: tokio::net::tcp::OwnedWriteHalf,
}

impl Lines {
    /// Connects, reads INFO, sends `CONNECT <json>`.
    pub async fn connect(addr: SocketAddr, connect: &str) -> Lines {
        let s = timeout(SETTLE, TcpStream::connect(addr))
            .await
            .expect("connect in time")
            .expect("connect");
        let mut c = Lines::from_stream(s);
        let info = c.line().await;
        assert!(info.starts_with("INFO "), "{info}");
        c.send(&format!("CONNECT {connect}\r\n")).await;
        c
    }

    /// Wraps a connected stream (nothing read yet).
    pub fn from_stream(s: TcpStream) -> Lines {
        let (rd, wr) = s.into_split();
        Lines {
            rd: BufReader::new(rd),
            wr,
        }
    }

    pub async fn send(&mut self, text: &str) {
        self.wr.write_all(text.as_bytes()).await.expect("write");
    }

    pub async fn line(&mut self) -> String {
        let mut line = String::new();
        timeout(SETTLE, self.rd.read_line(&mut line))
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
        let deadline = Instant::now() + SETTLE;
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
