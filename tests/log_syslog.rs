//! Syslog framing, pinned to what nats-server 2.9.10 sends (captured with
//! `nats-server -r udp://127.0.0.1:PORT` and `-s` against sockets we
//! listened on):
//!
//! ```text
//! udp/tcp: <5>2026-11-26T23:46:34Z vm nats-server[8609]: Starting nats-server\n
//! unix:    <5>Nov 27 00:05:54 nats-server[11925]: Starting nats-server\n
//! -s:      <29>Nov 27 00:06:08 nats-server[12196]: Starting nats-server\n
//!          <31>… (debug)
//! ```

mod support;

use std::io::Read;
use std::net::{TcpListener, UdpSocket};
use std::os::unix::net::{UnixDatagram, UnixListener};
use std::time::Duration;

use nats_server::log::{default_hostname, default_tag, Level, LogConfig, Logger};
use regex::Regex;

const RFC3339: &str = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:Z|[+-]\d\d:\d\d)";
const STAMP: &str = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [ 1-3]\d \d\d:\d\d:\d\d";

fn all_levels(l: &Logger) {
    l.log(Level::Info, format_args!("Server is ready"));
    l.log(Level::Warn, format_args!("w"));
    l.log(Level::Error, format_args!("e"));
    l.log(
        Level::Fatal,
        format_args!("Error listening on port: 0.0.0.0:4222"),
    );
    l.log(Level::Debug, format_args!("d"));
    l.log(
        Level::Trace,
        format_args!("127.0.0.1:1 - cid:4 - <<- [PING]"),
    );
    l.flush().unwrap();
}

const MSGS: [&str; 6] = [
    "Server is ready",
    "w",
    "e",
    "Error listening on port: 0.0.0.0:4222",
    "d",
    "127.0.0.1:1 - cid:4 - <<- [PING]",
];

fn debug_trace(remote: Option<String>, syslog: bool) -> LogConfig {
    LogConfig {
        debug: true,
        trace: true,
        remote_syslog: remote,
        syslog,
        ..LogConfig::default()
    }
}

fn recv_all(sock: &UdpSocket, n: usize) -> Vec<String> {
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = [0u8; 2048];
    (0..n)
        .map(|_| {
            let len = sock.recv(&mut buf).unwrap();
            String::from_utf8(buf[..len].to_vec()).unwrap()
        })
        .collect()
}

#[test]
fn udp_packets_match_nats_server() {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = sock.local_addr().unwrap().port();
    let l = Logger::builder(debug_trace(Some(format!("udp://127.0.0.1:{port}")), false))
        .syslog_tag("nats-server")
        .hostname("vm")
        .build()
        .unwrap();
    all_levels(&l);
    let pid = std::process::id();
    // Facility 0 as nats-server's remote logger: notice 5, warning 4, err 3,
    // crit 2, debug 7; trace goes out as notice.
    let pris = [5, 4, 3, 2, 7, 5];
    for ((pkt, pri), msg) in recv_all(&sock, 6).iter().zip(pris).zip(MSGS) {
        let re = Regex::new(&format!(
            r"^<{pri}>{RFC3339} vm nats-server\[{pid}\]: {}\n$",
            regex::escape(msg)
        ))
        .unwrap();
        assert!(re.is_match(pkt), "{pkt:?}");
    }
}

#[test]
fn udp_uses_executable_name_and_kernel_hostname_by_default() {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = sock.local_addr().unwrap().port();
    let l = Logger::new(LogConfig {
        remote_syslog: Some(format!("udp://127.0.0.1:{port}")),
        ..LogConfig::default()
    })
    .unwrap();
    l.log(Level::Info, format_args!("hi"));
    l.flush().unwrap();
    let tag = std::env::current_exe().unwrap();
    let tag = tag.file_name().unwrap().to_str().unwrap();
    assert_eq!(default_tag(), tag);
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    assert_eq!(default_hostname(), host.trim());
    let pkt = &recv_all(&sock, 1)[0];
    let re = Regex::new(&format!(
        r"^<5>{RFC3339} {} {}\[{}\]: hi\n$",
        regex::escape(host.trim()),
        regex::escape(tag),
        std::process::id()
    ))
    .unwrap();
    assert!(re.is_match(pkt), "{pkt:?}");
}

#[test]
fn tcp_is_newline_framed() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let l = Logger::builder(debug_trace(Some(format!("tcp://127.0.0.1:{port}")), false))
        .syslog_tag("nats-server")
        .hostname("vm")
        .build()
        .unwrap();
    let (mut conn, _) = listener.accept().unwrap();
    all_levels(&l);
    drop(l); // closes the stream
    let mut data = String::new();
    conn.read_to_string(&mut data).unwrap();
    let pid = std::process::id();
    let lines: Vec<&str> = data.split_inclusive('\n').collect();
    assert_eq!(lines.len(), 6, "{data:?}");
    for ((line, pri), msg) in lines.iter().zip([5, 4, 3, 2, 7, 5]).zip(MSGS) {
        let re = Regex::new(&format!(
            r"^<{pri}>{RFC3339} vm nats-server\[{pid}\]: {}\n$",
            regex::escape(msg)
        ))
        .unwrap();
        assert!(re.is_match(line), "{line:?}");
    }
}

#[test]
fn unix_stream_uses_the_local_header() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("syslog.sock");
    let listener = UnixListener::bind(&path).unwrap();
    let l = Logger::builder(LogConfig {
        remote_syslog: Some(format!("unix://{}", path.display())),
        ..LogConfig::default()
    })
    .syslog_tag("nats-server")
    .build()
    .unwrap();
    let (mut conn, _) = listener.accept().unwrap();
    l.log(Level::Info, format_args!("Starting nats-server"));
    l.log(Level::Error, format_args!("e"));
    drop(l);
    let mut data = String::new();
    conn.read_to_string(&mut data).unwrap();
    let pid = std::process::id();
    let re = Regex::new(&format!(
        r"^<5>{STAMP} nats-server\[{pid}\]: Starting nats-server\n<3>{STAMP} nats-server\[{pid}\]: e\n$"
    ))
    .unwrap();
    assert!(re.is_match(&data), "{data:?}");
}

#[test]
fn local_syslog_uses_facility_daemon() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log");
    let sock = UnixDatagram::bind(&path).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let l = Logger::builder(debug_trace(None, true))
        .syslog_tag("nats-server")
        .local_syslog_paths(vec![dir.path().join("absent"), path.clone()])
        .build()
        .unwrap();
    all_levels(&l);
    let pid = std::process::id();
    let mut buf = [0u8; 2048];
    // daemon (3 << 3) | severity.
    for (pri, msg) in [29, 28, 27, 26, 31, 29].into_iter().zip(MSGS) {
        let n = sock.recv(&mut buf).unwrap();
        let pkt = std::str::from_utf8(&buf[..n]).unwrap();
        let re = Regex::new(&format!(
            r"^<{pri}>{STAMP} nats-server\[{pid}\]: {}\n$",
            regex::escape(msg)
        ))
        .unwrap();
        assert!(re.is_match(pkt), "{pkt:?}");
    }
}

#[test]
fn remote_syslog_wins_over_local() {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = sock.local_addr().unwrap().port();
    let l = Logger::builder(debug_trace(Some(format!("udp://127.0.0.1:{port}")), true))
        .local_syslog_paths(vec!["/nonexistent/log".into()])
        .build()
        .unwrap();
    l.log(Level::Info, format_args!("remote"));
    l.flush().unwrap();
    assert!(recv_all(&sock, 1)[0].ends_with("]: remote\n"));
}

#[test]
fn configuration_errors_read_like_nats_server() {
    let e = Logger::builder(LogConfig {
        syslog: true,
        ..LogConfig::default()
    })
    .local_syslog_paths(vec!["/nonexistent/log".into()])
    .build()
    .err()
    .unwrap();
    assert_eq!(
        e.to_string(),
        "error connecting to syslog: \"Unix syslog delivery error\""
    );
    let e = Logger::new(LogConfig {
        remote_syslog: Some("http://127.0.0.1:514".into()),
        ..LogConfig::default()
    })
    .err()
    .unwrap();
    assert_eq!(e.to_string(), "error invalid network type: \"http\"");
    let e = Logger::new(LogConfig {
        remote_syslog: Some("unix:///nonexistent/sock".into()),
        ..LogConfig::default()
    })
    .err()
    .unwrap();
    assert!(
        e.to_string()
            .starts_with("error connecting to syslog: \"dial unix /nonexistent/sock: "),
        "{e}"
    );
}

/// Replaces the parts that legitimately differ between two processes.
fn normalise(pkt: &str) -> String {
    let re = Regex::new(&format!(r"^(<\d+>){RFC3339} (\S+) (\S+)\[\d+\]: ")).unwrap();
    re.replace(pkt, "${1}TIME ${2} ${3}[PID]: ").into_owned()
}

#[test]
#[cfg_attr(
    missing_nats_server_2_9,
    ignore = "needs nats-server 2.9.10 at /usr/sbin/nats-server"
)]
fn same_udp_bytes_as_the_real_nats_server() {
    let bin = support::real_2_9("same_udp_bytes_as_the_real_nats_server");
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = sock.local_addr().unwrap().port();
    let url = format!("udp://127.0.0.1:{port}");
    let mut child = std::process::Command::new(&bin)
        .args(["-p", "-1", "-r", &url])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let theirs = recv_all(&sock, 1).remove(0);
    child.kill().unwrap();
    child.wait().unwrap();

    // A fresh socket: the server's later lines are still queued on the first.
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let url = format!("udp://{}", sock.local_addr().unwrap());
    let tag = bin.file_name().unwrap().to_str().unwrap();
    let l = Logger::builder(LogConfig {
        remote_syslog: Some(url),
        ..LogConfig::default()
    })
    .syslog_tag(tag)
    .build()
    .unwrap();
    l.log(Level::Info, format_args!("Starting nats-server"));
    l.flush().unwrap();
    let ours = recv_all(&sock, 1).remove(0);
    assert_eq!(normalise(&ours), normalise(&theirs));
    assert_eq!(
        normalise(&theirs),
        format!(
            "<5>TIME {} {tag}[PID]: Starting nats-server\n",
            default_hostname()
        )
    );
}
