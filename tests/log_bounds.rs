//! Log lines that carry what a client sent stay bounded: a flood of bad
//! connections (megabyte CONNECT bodies, deep JSON, 100 KB subjects, queues,
//! sids, user and client names) grows the log file by a bounded amount per
//! connection, and each bounded line is still nats-server's line with the
//! long value cut and marked `...`.
//!
//! Our binary and nats-server run as child processes with the same config
//! and `log_file`, so what is measured is what an operator's disk receives.

mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use regex::Regex;
use support::{Event, Raw, RealServer};
use tokio::time::Instant;

const OURS: &str = env!("CARGO_BIN_EXE_nats-server");

/// Bad connections of each kind in the flood.
const PER_CASE: usize = 20;
/// What one bad connection may add to the log, every line of it included
/// (with `-D`: created, the error, closed).
const PER_CONNECTION: u64 = 1024;

const LOGIN: &[u8] = b"CONNECT {\"user\":\"alice\",\"pass\":\"pw\",\"verbose\":false}\r\n";

struct Case {
    name: &'static str,
    bytes: Vec<u8>,
    /// Text of the `[ERR]` line this input causes.
    anchor: &'static str,
    /// Whether nats-server 2.9.10 writes the same line (our text for a
    /// CONNECT that is not JSON is our own; see `client.rs`).
    comparable: bool,
}

fn case(name: &'static str, bytes: Vec<u8>, anchor: &'static str, comparable: bool) -> Case {
    Case {
        name,
        bytes,
        anchor,
        comparable,
    }
}

fn login_then(rest: &[u8]) -> Vec<u8> {
    [LOGIN, rest].concat()
}

fn cases() -> Vec<Case> {
    let mb = 1 << 20;
    let big = "x".repeat(100_000);
    let depth = 20_000;
    let nested = format!(
        "CONNECT {}1{}\r\n",
        "{\"a\":".repeat(depth),
        "}".repeat(depth)
    );
    vec![
        case(
            "CONNECT with 1 MB of JSON that does not parse",
            format!(
                "CONNECT {{\"user\":\"alice\",\"pass\":\"pw\",\"name\":\"{}\",bad}}\r\n",
                "n".repeat(mb)
            )
            .into_bytes(),
            "processConnect Parse Error: ",
            false,
        ),
        case(
            "CONNECT with 1 MB string of the wrong type",
            format!("CONNECT {{\"verbose\":\"{}\"}}\r\n", "v".repeat(mb)).into_bytes(),
            "processConnect Parse Error: ",
            false,
        ),
        case(
            "CONNECT with deeply nested JSON",
            nested.into_bytes(),
            "processConnect Parse Error: ",
            false,
        ),
        case(
            "unknown user with a 100 KB name",
            format!("CONNECT {{\"user\":\"{}\",\"pass\":\"x\"}}\r\n", "u".repeat(100_000))
                .into_bytes(),
            "authentication error - User ",
            true,
        ),
        case(
            "denied PUB to a 100 KB subject",
            login_then(format!("PUB deny.{big} 2\r\nhi\r\n").as_bytes()),
            "Publish Violation - ",
            true,
        ),
        case(
            "PUB with a 100 KB reserved reply",
            login_then(format!("PUB foo _R_.{big} 2\r\nhi\r\n").as_bytes()),
            "Publish Violation - ",
            true,
        ),
        case(
            "denied SUB to a 100 KB subject",
            login_then(format!("SUB deny.{big} 1\r\n").as_bytes()),
            "Subscription Violation - ",
            true,
        ),
        case(
            "denied SUB with a 100 KB queue",
            login_then(format!("SUB deny.x {} 1\r\n", "q".repeat(100_000)).as_bytes()),
            "Subscription Violation - ",
            true,
        ),
        case(
            "denied SUB with a 100 KB sid",
            login_then(format!("SUB deny.x {}\r\n", "s".repeat(100_000)).as_bytes()),
            "Subscription Violation - ",
            true,
        ),
        case(
            "-ERR with 100 KB of text",
            login_then(format!("-ERR {big}\r\n").as_bytes()),
            "Client Error ",
            true,
        ),
        case(
            "a 100 KB client name in every line's prefix",
            format!(
                "CONNECT {{\"user\":\"alice\",\"pass\":\"pw\",\"verbose\":false,\"name\":\"{}\"}}\r\nPUB deny.x 1\r\na\r\n",
                "K".repeat(100_000)
            )
            .into_bytes(),
            "Publish Violation - ",
            true,
        ),
        case(
            "bad PUB arguments",
            login_then(format!("PUB a b c d {big}\r\n").as_bytes()),
            "processPub Parse Error: ",
            false,
        ),
    ]
}

/// A server (ours or nats-server) with a log file, `-D`, the line limit
/// raised so that 1 MB ops reach the code that logs them, and one user
/// whose permissions deny `deny.>`.
struct Logged {
    server: RealServer,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

async fn start(binary: &Path) -> Logged {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("nats.log");
    let config = format!(
        r#"
log_file: "{}"
debug: true
max_control_line: 4MB
max_payload: 8MB
authorization {{
  users = [
    {{user: alice, password: pw, permissions: {{publish: {{deny: ["deny.>"]}}, subscribe: {{deny: ["deny.>"]}}}}}}
  ]
}}
"#,
        log.display()
    );
    let server = RealServer::start(binary, Some(&config)).await;
    Logged {
        server,
        log,
        _dir: dir,
    }
}

impl Logged {
    fn size(&self) -> u64 {
        std::fs::metadata(&self.log).map_or(0, |m| m.len())
    }

    /// The log from byte `from` on.
    fn since(&self, from: u64) -> String {
        let all = std::fs::read(&self.log).unwrap_or_default();
        String::from_utf8_lossy(&all[(from as usize).min(all.len())..]).into_owned()
    }

    /// Opens `count` connections that each send `bytes` then PING, reads
    /// until PONG or the close, and hangs up; then waits (bounded) until
    /// the log holds a closed line for each of them.
    async fn flood(&self, bytes: &[u8], count: usize) -> String {
        let from = self.size();
        let mut closed = Vec::with_capacity(count);
        for _ in 0..count {
            let mut c = Raw::connect(self.server.addr).await;
            closed.push(format!("cid:{} - ", c.cid()));
            c.send(bytes).await;
            c.send(b"PING\r\n").await;
            let events = c.until_pong().await;
            assert!(
                !events.contains(&Event::Timeout),
                "no PONG and no close: {events:?}"
            );
        }
        // Wait for these connections' own close lines: a connection of an
        // earlier flood that the client left open closes only now, and its
        // line must not end this wait before this flood's lines are written.
        let deadline = Instant::now() + support::SETTLE;
        loop {
            let text = self.since(from);
            // The prefix may carry the client's name and version after the
            // cid (`cid:7 - "v1.2:rust" - Client connection closed`).
            let is_closed = |cid: &String| {
                text.lines()
                    .any(|l| l.contains(cid.as_str()) && l.contains("Client connection closed"))
            };
            if closed.iter().all(is_closed) {
                return text;
            }
            assert!(
                Instant::now() < deadline,
                "{count} closed lines never appeared in:\n{}",
                cut(&text)
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// The message of an `[ERR]` line (what follows `cid:N - `).
fn err_messages(text: &str) -> Vec<String> {
    let re = Regex::new(r"^\[\d+\] \S+ \S+ \[ERR\] 127\.0\.0\.1:\d+ - cid:\d+ - (.*)$").unwrap();
    text.lines()
        .filter_map(|l| re.captures(l).map(|c| c[1].to_string()))
        .collect()
}

/// At most the first 2000 bytes of `s`, for failure messages.
fn cut(s: &str) -> &str {
    let mut end = s.len().min(2000);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_connections_grow_the_log_by_a_bounded_amount() {
    let ours = start(Path::new(OURS)).await;
    for case in cases() {
        let text = ours.flood(&case.bytes, PER_CASE).await;
        let grown = text.len() as u64;
        assert!(
            grown <= PER_CASE as u64 * PER_CONNECTION,
            "{}: {PER_CASE} connections grew the log by {grown} bytes:\n{}",
            case.name,
            cut(&text)
        );
        let longest = text.lines().map(str::len).max().unwrap_or(0);
        assert!(
            longest < PER_CONNECTION as usize,
            "{}: a {longest}-byte line",
            case.name
        );
        let errors = err_messages(&text);
        assert_eq!(
            errors
                .iter()
                .filter(|m| m.contains(case.anchor) && m.contains("..."))
                .count(),
            PER_CASE,
            "{}: expected one cut {:?} line per connection in:\n{}",
            case.name,
            case.anchor,
            cut(&text)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_secrets_never_reach_the_error_line() {
    let ours = start(Path::new(OURS)).await;
    let text = ours
        .flood(b"CONNECT {\"user\":\"bob\",\"pass\":\"hunter2\",}\r\n", 1)
        .await;
    let errors = err_messages(&text);
    assert_eq!(
        errors,
        [r#"processConnect Parse Error: "{\"user\":\"bob\",\"pass\":\"[REDACTED]\",}""#],
        "{text}"
    );
}

/// Our line is nats-server's line with the long value cut: everything
/// before our `...` starts nats-server's line and everything after it ends
/// nats-server's line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    missing_nats_server_2_9,
    ignore = "needs nats-server 2.9.10 at /usr/sbin/nats-server"
)]
async fn cut_lines_are_nats_server_lines_with_the_value_cut() {
    let real = support::real_2_9("cut_lines_are_nats_server_lines");
    let (ours, theirs) = (start(Path::new(OURS)).await, start(&real).await);
    for case in cases().into_iter().filter(|c| c.comparable) {
        let mine = err_messages(&ours.flood(&case.bytes, 1).await);
        let go = err_messages(&theirs.flood(&case.bytes, 1).await);
        assert_eq!(mine.len(), 1, "{}: {mine:?}", case.name);
        assert_eq!(go.len(), 1, "{}: {} ERR lines", case.name, go.len());
        let (mine, go) = (&mine[0], &go[0]);
        assert!(mine.contains(case.anchor), "{}: {mine}", case.name);
        let at = mine
            .find("...")
            .unwrap_or_else(|| panic!("{}: not cut: {mine}", case.name));
        let (head, tail) = (&mine[..at], &mine[at + 3..]);
        assert!(
            go.starts_with(head) && go.ends_with(tail) && go.len() > mine.len(),
            "{}: ours {mine:?} is not a cut of nats-server's {:?}",
            case.name,
            cut(go)
        );
    }
}
