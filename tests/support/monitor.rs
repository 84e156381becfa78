//! Monitoring-test helpers: our server with its HTTP monitor ([`ours`]),
//! the time and duration formats of the JSON ([`nanos`], [`go_duration`]),
//! and a slow consumer made to order. Re-exports what the monitoring tests
//! use from the other support modules, so they `use support::monitor::*`.

use std::net::SocketAddr;

use nats_server::config::Options;
use nats_server::process::{start, Running};
use serde_json::Value;
use tokio::time::timeout;

pub use super::http::{get, get_json, request, wait_healthy, wait_healthy_at, Reply};
pub use super::ports::free_port;
pub use super::raw::Lines;
pub use super::server::RealServer;
pub use super::skip::real_2_9;
pub use super::wait::{eventually, SETTLE};

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
    let stream = timeout(SETTLE, socket.connect(addr))
        .await
        .unwrap()
        .unwrap();
    let mut slow = Lines::from_stream(stream);
    assert!(slow.line().await.starts_with("INFO "));
    slow.send(&format!(
        "CONNECT {{\"verbose\":false,\"name\":\"{name}\"}}\r\nSUB {subject} 1\r\n"
    ))
    .await;
    slow.sync().await;
    let before = get_json(mon, "/varz").await["slow_consumers"]
        .as_u64()
        .unwrap();
    let mut publisher = Lines::connect(addr, r#"{"verbose":false,"name":"flooder"}"#).await;
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
