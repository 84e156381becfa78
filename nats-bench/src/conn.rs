//! A minimal NATS client connection over a tokio `TcpStream`.
//!
//! **What it owns.** The handshake (read `INFO`, send `CONNECT`, any setup frames such as `SUB`,
//! then `PING`, and wait for `PONG`, so that when [`Conn::connect`] returns the server has
//! processed the setup), answering the server's `PING`s, turning `-ERR` and EOF into errors,
//! and the `PING`/`PONG` flush that makes counts exact: the server handles a connection's
//! frames in order, so once our `PONG` arrives everything written before the `PING` has been
//! processed, and everything the server queued for us before it has been read.
//!
//! A [`Conn`] is used by one task that reads and writes in turn. A publisher, which must write
//! while it reads, splits it into a [`Reader`] and a [`Writer`] and answers `PING`s itself.
//!
//! **What it must never do.** Buffer outgoing data behind the caller's back (every write goes
//! straight to the socket, so the caller decides the batching), copy incoming messages (see
//! [`Parser`]), reconnect, or wait without a bound: every wait here has a timeout.

mod parse;

pub use parse::{Event, Msg, ParseError, Parser, MAX_LINE};

use crate::error::{Error, Result};
use serde::Deserialize;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;

/// The fields of the server's `INFO` the tool uses.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ServerInfo {
    /// `server_id`.
    #[serde(default)]
    pub server_id: String,
    /// `version`.
    #[serde(default)]
    pub version: String,
    /// `max_payload`.
    #[serde(default)]
    pub max_payload: u64,
    /// `headers`.
    #[serde(default)]
    pub headers: bool,
}

/// How to open a connection.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// `name` in CONNECT.
    pub name: String,
    /// `echo` in CONNECT.
    pub echo: bool,
    /// Whether [`Msg::data`] carries payloads (responders) or not (counting subscribers).
    pub keep_payload: bool,
    /// Size of the read buffer: large for subscribers, small for many idle connections.
    pub read_buf: usize,
    /// Frames sent after CONNECT and before the handshake PING (e.g. `SUB` lines).
    pub setup: Vec<u8>,
    /// Bound on connecting and on every wait for the server.
    pub timeout: Duration,
    /// `user` in CONNECT (left out when `None`).
    pub user: Option<String>,
    /// `pass` in CONNECT (left out when `None`).
    pub pass: Option<String>,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        ConnectOptions {
            name: "nats-bench".into(),
            echo: false,
            keep_payload: false,
            read_buf: 256 * 1024,
            setup: Vec::new(),
            timeout: Duration::from_secs(10),
            user: None,
            pass: None,
        }
    }
}

/// The reading side: socket, parser and a reusable read buffer.
#[derive(Debug)]
pub struct Reader {
    rd: OwnedReadHalf,
    parser: Parser,
    buf: Vec<u8>,
}

impl Reader {
    /// Reads once and feeds every complete frame to `on` (all events, including `PING` and
    /// `-ERR`: the caller decides). Returns the bytes read; EOF is [`Error::Closed`].
    ///
    /// Cancel-safe: if the future is dropped before the read completes no byte is lost.
    pub async fn read_events<F>(&mut self, mut on: F) -> Result<usize>
    where
        F: FnMut(Event<'_>),
    {
        let n = self
            .rd
            .read(&mut self.buf)
            .await
            .map_err(|e| Error::io("reading from server", e))?;
        if n == 0 {
            return Err(Error::Closed("EOF while reading".into()));
        }
        self.parser.feed(&self.buf[..n], &mut on)?;
        Ok(n)
    }
}

/// The writing side; counts the bytes it has written.
#[derive(Debug)]
pub struct Writer {
    wr: OwnedWriteHalf,
    written: u64,
    timeout: Duration,
}

impl Writer {
    /// Writes all of `buf` to the socket; a server that stops reading for longer than the
    /// connection's timeout fails the write.
    pub async fn write_all(&mut self, buf: &[u8]) -> Result<()> {
        tokio::time::timeout(self.timeout, self.wr.write_all(buf))
            .await
            .map_err(|_| Error::Timeout("writing to server (it stopped reading)".into()))?
            .map_err(|e| Error::io("writing to server", e))?;
        self.written += buf.len() as u64;
        Ok(())
    }

    /// Bytes written so far, the handshake included.
    pub fn written(&self) -> u64 {
        self.written
    }
}

/// A connected, handshaken client connection.
#[derive(Debug)]
pub struct Conn {
    /// The server's INFO.
    pub info: ServerInfo,
    /// Reading side.
    pub reader: Reader,
    /// Writing side.
    pub writer: Writer,
    timeout: Duration,
    owed_pongs: u32,
}

impl Conn {
    /// Connects to `addr` (`host:port`, `nats://host:port` also accepted), reads INFO, sends
    /// CONNECT, `opts.setup` and PING, and returns once the PONG arrived.
    pub async fn connect(addr: &str, opts: &ConnectOptions) -> Result<Conn> {
        let addr = addr.strip_prefix("nats://").unwrap_or(addr);
        let stream = tokio::time::timeout(opts.timeout, TcpStream::connect(addr))
            .await
            .map_err(|_| Error::Timeout(format!("connecting to {addr}")))?
            .map_err(|e| Error::io(format!("connecting to {addr}"), e))?;
        stream
            .set_nodelay(true)
            .map_err(|e| Error::io("setting TCP_NODELAY", e))?;
        let (rd, wr) = stream.into_split();
        let mut conn = Conn {
            info: ServerInfo::default(),
            reader: Reader {
                rd,
                parser: Parser::new(opts.keep_payload),
                buf: vec![0; opts.read_buf.max(64)],
            },
            writer: Writer {
                wr,
                written: 0,
                timeout: opts.timeout,
            },
            timeout: opts.timeout,
            owed_pongs: 0,
        };
        conn.read_info().await?;
        let mut hello = connect_line(opts);
        hello.extend_from_slice(&opts.setup);
        conn.writer.write_all(&hello).await?;
        conn.flush(|_| {}).await?;
        Ok(conn)
    }

    async fn read_info(&mut self) -> Result<()> {
        let mut info: Option<Result<ServerInfo>> = None;
        let deadline = tokio::time::Instant::now() + self.timeout;
        while info.is_none() {
            let read = self.reader.read_events(|ev| {
                if let (Event::Info(json), None) = (ev, &info) {
                    info = Some(
                        serde_json::from_slice(json)
                            .map_err(|e| Error::Unexpected(format!("bad INFO JSON: {e}"))),
                    );
                }
            });
            tokio::time::timeout_at(deadline, read)
                .await
                .map_err(|_| Error::Timeout("waiting for INFO".into()))??;
        }
        self.info = info.expect("loop ends with INFO")?;
        Ok(())
    }

    /// Reads once; answers `PING`, turns `-ERR` into [`Error::Server`], and passes every other
    /// event to `on`. Not bounded in time: callers wrap it in a timeout or a `select!`.
    ///
    /// Cancel-safe: a PONG owed when the future is dropped is sent by the next call.
    pub async fn read_events<F>(&mut self, mut on: F) -> Result<usize>
    where
        F: FnMut(Event<'_>),
    {
        self.pay_pongs().await?;
        let mut pings = 0u32;
        let mut err: Option<String> = None;
        let n = self
            .reader
            .read_events(|ev| match ev {
                Event::Ping => pings += 1,
                Event::Err(text) => {
                    err.get_or_insert_with(|| String::from_utf8_lossy(text).into_owned());
                }
                other => on(other),
            })
            .await;
        self.owed_pongs += pings;
        if let Some(text) = err {
            return Err(Error::Server(text));
        }
        let n = n?;
        self.pay_pongs().await?;
        Ok(n)
    }

    async fn pay_pongs(&mut self) -> Result<()> {
        while self.owed_pongs > 0 {
            self.writer.write_all(b"PONG\r\n").await?;
            self.owed_pongs -= 1;
        }
        Ok(())
    }

    /// Sends PING and reads until the PONG, passing every message read meanwhile to `on_msg`.
    /// Bounded by the connection's timeout.
    pub async fn flush<F>(&mut self, mut on_msg: F) -> Result<()>
    where
        F: FnMut(&Msg<'_>),
    {
        self.writer.write_all(b"PING\r\n").await?;
        let deadline = tokio::time::Instant::now() + self.timeout;
        let mut pong = false;
        while !pong {
            let read = self.read_events(|ev| match ev {
                Event::Pong => pong = true,
                Event::Msg(m) => on_msg(&m),
                _ => {}
            });
            tokio::time::timeout_at(deadline, read)
                .await
                .map_err(|_| Error::Timeout("waiting for PONG".into()))??;
        }
        Ok(())
    }

    /// Writes all of `buf`.
    pub async fn write_all(&mut self, buf: &[u8]) -> Result<()> {
        self.pay_pongs().await?;
        self.writer.write_all(buf).await
    }

    /// The connection's timeout.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Splits into reading and writing sides (for a task that writes while it reads).
    pub fn into_split(self) -> (Reader, Writer) {
        (self.reader, self.writer)
    }
}

fn connect_line(opts: &ConnectOptions) -> Vec<u8> {
    let mut json = serde_json::json!({
        "verbose": false,
        "pedantic": false,
        "tls_required": false,
        "name": opts.name,
        "lang": "rust",
        "version": env!("CARGO_PKG_VERSION"),
        "protocol": 1,
        "echo": opts.echo,
        "headers": true,
        "no_responders": false,
    });
    for (key, value) in [("user", &opts.user), ("pass", &opts.pass)] {
        if let Some(v) = value {
            json[key] = serde_json::Value::String(v.clone());
        }
    }
    format!("CONNECT {json}\r\n").into_bytes()
}

/// Appends `PUB <subject> [reply] <len>\r\n<payload>\r\n` to `out`.
pub fn encode_pub(out: &mut Vec<u8>, subject: &[u8], reply: Option<&[u8]>, payload: &[u8]) {
    out.extend_from_slice(b"PUB ");
    out.extend_from_slice(subject);
    out.push(b' ');
    if let Some(r) = reply {
        out.extend_from_slice(r);
        out.push(b' ');
    }
    push_num(out, payload.len() as u64);
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(payload);
    out.extend_from_slice(b"\r\n");
}

/// Appends the decimal digits of `n` to `out` without allocating.
pub fn push_num(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn connect_json(opts: &ConnectOptions) -> serde_json::Value {
        let line = connect_line(opts);
        let text = std::str::from_utf8(&line).unwrap();
        let json = text.strip_prefix("CONNECT ").unwrap().trim_end();
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn credentials_only_when_given() {
        let plain = connect_json(&ConnectOptions::default());
        assert!(plain.get("user").is_none() && plain.get("pass").is_none());
        let with = connect_json(&ConnectOptions {
            user: Some("acc7".into()),
            pass: Some("s3cret".into()),
            ..ConnectOptions::default()
        });
        assert_eq!(with["user"], "acc7");
        assert_eq!(with["pass"], "s3cret");
    }
}
