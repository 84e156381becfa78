//! TLS handshake first (`tls { handshake_first: … }`), as nats-server
//! 2.15.1 serves it:
//! * with a fallback window (a duration, or `auto` = 50 ms), a client that
//!   starts the handshake at once is served TLS-first (INFO over TLS), and
//!   a client that waits gets the plaintext INFO after the window and then
//!   upgrades to TLS as usual (or stays plaintext with `allow_non_tls`);
//! * `true` has no fallback: a client waiting for INFO gets nothing and is
//!   closed at the TLS timeout; `false` is the classic order.
//!
//! Real TLS (rustls, a throwaway CA), async-nats on both sides
//! (`tls_first()` and the classic upgrade), raw sockets where the bytes
//! matter, and the same probes against nats-server 2.15.1 when installed.

mod support;

use support::SETTLE;

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use futures::StreamExt;
use nats_server::config::{self, Options};
use nats_server::process::Running;
use serde_json::Value;
use support::pki::{pki, Pki};
use support::RealServer;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{timeout, Instant};

/// The `tls {}` block with `extra` inside and `top` beside it (TLS
/// timeout 0.5 s, so that refused clients are closed quickly).
fn conf(p: &Pki, extra: &str, top: &str) -> String {
    format!(
        "tls {{\n  cert_file: \"{}\"\n  key_file: \"{}\"\n  timeout: 0.5\n  {extra}\n}}\n{top}\n",
        p.server_cert.display(),
        p.server_key.display()
    )
}

/// Our server in-process, configured from `text` as a file would be.
async fn server(text: &str) -> Running {
    let root = config::parse_str(text, "t.conf", config::Includes::Refuse).unwrap();
    let mut o = Options::default();
    o.apply_map(&root, "t.conf").unwrap();
    support::start(o).await
}

/// The fallback window the running server parsed from its `tls {}` block.
fn fallback(s: &Running) -> Option<Duration> {
    s.server.options().tls.as_ref()?.handshake_first_fallback
}

/// Reads until CRLF (or `until` appears), the close, or `SETTLE`.
async fn read_until<S: AsyncRead + Unpin>(s: &mut S, until: &str) -> String {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + SETTLE;
    while !String::from_utf8_lossy(&got).contains(until) {
        let left = deadline.saturating_duration_since(Instant::now());
        match timeout(left, s.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => got.extend_from_slice(&buf[..n]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&got).into_owned()
}

/// `tls_required`/`tls_available` of an INFO line (absent = false).
fn tls_flags(info: &str) -> (bool, bool) {
    assert!(info.starts_with("INFO "), "not an INFO: {info:?}");
    let v: Value = serde_json::from_str(info[5..].trim()).unwrap();
    let flag = |k: &str| v.get(k).and_then(Value::as_bool).unwrap_or(false);
    (flag("tls_required"), flag("tls_available"))
}

/// CONNECT, SUB, PUB to itself, PING: the message and the PONG come back.
async fn pub_sub<S: AsyncRead + AsyncWrite + Unpin>(s: &mut S) {
    s.write_all(b"CONNECT {\"verbose\":false}\r\nSUB foo 1\r\nPUB foo 2\r\nhi\r\nPING\r\n")
        .await
        .unwrap();
    let got = read_until(s, "PONG\r\n").await;
    assert_eq!(got, "MSG foo 1 2\r\nhi\r\nPONG\r\n");
}

/// What a client that starts the handshake at once sees: the INFO flags
/// over TLS, or `None` if the handshake fails.
async fn probe_first(addr: SocketAddr, p: &Pki) -> Option<(bool, bool)> {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
    let mut tls = timeout(SETTLE, p.connector().connect(name, tcp))
        .await
        .expect("handshake bounded")
        .ok()?;
    let info = read_until(&mut tls, "\r\n").await;
    let flags = tls_flags(&info);
    pub_sub(&mut tls).await;
    Some(flags)
}

/// What a client that waits for INFO sees: the INFO flags and how long
/// the INFO took, then (as the INFO asks) a TLS upgrade or plaintext, and
/// PUB/SUB; `None` if the server closes without INFO.
async fn probe_waiting(addr: SocketAddr, p: &Pki) -> Option<((bool, bool), Duration)> {
    let start = Instant::now();
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    let info = read_until(&mut tcp, "\r\n").await;
    let waited = start.elapsed();
    if info.is_empty() {
        return None;
    }
    let flags = tls_flags(&info);
    if flags.0 {
        let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
        let mut tls = timeout(SETTLE, p.connector().connect(name, tcp))
            .await
            .expect("handshake bounded")
            .expect("TLS upgrade after INFO");
        pub_sub(&mut tls).await;
    } else {
        pub_sub(&mut tcp).await;
    }
    Some((flags, waited))
}

/// async-nats, TLS-first or classic, publishing to itself.
async fn async_nats_round_trip(p: &Pki, addr: SocketAddr, tls_first: bool) {
    let mut opts = async_nats::ConnectOptions::new()
        .add_root_certificates(p.ca.clone())
        .require_tls(true)
        .connection_timeout(SETTLE);
    if tls_first {
        opts = opts.tls_first();
    }
    let nc = opts
        .connect(format!("tls://localhost:{}", addr.port()))
        .await
        .unwrap_or_else(|e| panic!("tls_first={tls_first}: {e}"));
    let subject = format!("first.{tls_first}");
    let mut sub = nc.subscribe(subject.clone()).await.unwrap();
    nc.publish(subject, "hello".into()).await.unwrap();
    nc.flush().await.unwrap();
    let msg = timeout(SETTLE, sub.next()).await.unwrap().unwrap();
    assert_eq!(msg.payload, "hello");
}

#[tokio::test]
async fn duration_fallback_serves_both_kinds_of_client() {
    let p = pki();
    let s = server(&conf(&p, "handshake_first: 300ms", "")).await;
    assert_eq!(fallback(&s), Some(Duration::from_millis(300)));
    async_nats_round_trip(&p, s.addr, true).await;
    async_nats_round_trip(&p, s.addr, false).await;
    assert_eq!(probe_first(s.addr, &p).await, Some((true, false)));
    let (flags, waited) = probe_waiting(s.addr, &p)
        .await
        .expect("INFO after the window");
    assert_eq!(flags, (true, false));
    // The server cannot send INFO before its window has passed.
    assert!(
        waited >= Duration::from_millis(300),
        "INFO after {waited:?}"
    );
    s.stop().await;
}

#[tokio::test]
async fn auto_fallback_serves_both_kinds_of_client() {
    let p = pki();
    let s = server(&conf(&p, "first: auto", "")).await;
    assert_eq!(
        fallback(&s),
        Some(Duration::from_millis(50)),
        "nats-server's DEFAULT_TLS_HANDSHAKE_FIRST_FALLBACK_DELAY"
    );
    async_nats_round_trip(&p, s.addr, true).await;
    async_nats_round_trip(&p, s.addr, false).await;
    s.stop().await;
}

#[tokio::test]
async fn fallback_with_allow_non_tls_lets_plaintext_in() {
    let p = pki();
    let s = server(&conf(&p, "handshake_first: 200ms", "allow_non_tls: true")).await;
    // TLS-first: INFO says TLS is required (it is, on this connection).
    assert_eq!(probe_first(s.addr, &p).await, Some((true, true)));
    // Waiting: the classic INFO (TLS available), then plaintext works.
    let (flags, _) = probe_waiting(s.addr, &p).await.expect("INFO");
    assert_eq!(flags, (false, true));
    async_nats_round_trip(&p, s.addr, false).await;
    s.stop().await;
}

#[tokio::test]
async fn handshake_first_true_has_no_fallback() {
    let p = pki();
    let s = server(&conf(&p, "handshake_first: true", "")).await;
    assert_eq!(fallback(&s), None);
    async_nats_round_trip(&p, s.addr, true).await;
    assert_eq!(probe_first(s.addr, &p).await, Some((true, false)));
    // A client waiting for INFO gets nothing; the TLS timeout closes it.
    assert_eq!(probe_waiting(s.addr, &p).await, None);
    s.stop().await;
}

#[tokio::test]
async fn handshake_first_false_is_the_classic_order() {
    let p = pki();
    let s = server(&conf(&p, "handshake_first: false", "")).await;
    async_nats_round_trip(&p, s.addr, false).await;
    let (flags, _) = probe_waiting(s.addr, &p).await.expect("INFO at once");
    assert_eq!(flags, (true, false));
    // A TLS-first client reads the plaintext INFO as a TLS record: fails.
    assert_eq!(probe_first(s.addr, &p).await, None);
    s.stop().await;
}

/// Both kinds of client see the same INFO flags (or the same refusal) from
/// ours as from nats-server 2.15.1, in every mode.
#[tokio::test]
#[cfg_attr(
    missing_nats_server_2_15,
    ignore = "needs nats-server 2.15.x in /opt/natsvenv/bin or .ci/venv/bin"
)]
async fn same_outcomes_as_nats_server_2_15() {
    let real = support::real_2_15("same_outcomes_as_nats_server_2_15");
    let p = pki();
    for (extra, top) in [
        ("handshake_first: 100ms", ""),
        ("handshake_first: auto", "allow_non_tls: true"),
        ("handshake_first: true", ""),
        ("handshake_first: true", "allow_non_tls: true"),
        ("handshake_first: false", ""),
    ] {
        let text = conf(&p, extra, top);
        let ours = server(&text).await;
        let theirs = RealServer::start(Path::new(&real), Some(&text)).await;
        let mut seen = Vec::new();
        for addr in [ours.addr, theirs.addr] {
            let first = probe_first(addr, &p).await;
            let waiting = probe_waiting(addr, &p).await.map(|(flags, _)| flags);
            seen.push((first, waiting));
        }
        assert_eq!(seen[0], seen[1], "{extra} {top}: ours, then 2.15.1's");
        ours.stop().await;
    }
}

/// The values nats-server accepts for `handshake_first` (and `first`,
/// `immediate`), with its texts for the others.
#[test]
fn handshake_first_values_as_nats_server() {
    let p = pki();
    let parse = |v: &str| {
        let text = conf(&p, &format!("handshake_first: {v}"), "");
        let root = config::parse_str(&text, "t.conf", config::Includes::Refuse).unwrap();
        let mut o = Options::default();
        o.apply_map(&root, "t.conf").map(|_| {
            let t = o.tls.unwrap();
            (t.handshake_first, t.handshake_first_fallback)
        })
    };
    let ms = |n| Some(Duration::from_millis(n));
    for (v, want) in [
        ("true", (true, None)),
        ("\"on\"", (true, None)),
        ("false", (false, None)),
        ("\"OFF\"", (false, None)),
        ("auto", (true, ms(50))),
        ("auto_fallback", (true, ms(50))),
        ("300ms", (true, ms(300))),
        ("\"1s\"", (true, ms(1000))),
        // Go parses these as durations too; they mean no fallback.
        ("\"0s\"", (true, None)),
        ("\"-1s\"", (true, None)),
    ] {
        assert_eq!(parse(v).unwrap_or_else(|e| panic!("{v}: {e}")), want, "{v}");
    }
    for (v, want) in [
        (
            "bogus",
            "t.conf:5:3: field \"handshake_first\"'s value \"bogus\" is invalid\n",
        ),
        (
            "5",
            "t.conf:5:3: field \"handshake_first\" should be a boolean or a string, got int64\n",
        ),
    ] {
        assert_eq!(parse(v).unwrap_err().to_string(), want, "{v}");
    }
}
