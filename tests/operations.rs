//! Operating the real binary: pid and ports files, SIGHUP reload (credentials
//! and log level change while a client stays connected; a non-reloadable
//! change is refused and the server keeps running), flags overriding the file
//! also after a reload, a route removed by a reload stays closed, `--signal`,
//! log file reopen on SIGUSR1, remote syslog to a UDP socket the test owns,
//! and a clean exit on SIGTERM.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};
use support::free_port;

const BIN: &str = env!("CARGO_BIN_EXE_nats-server");

/// The binary as a child process, its stderr collected line by line.
struct Proc {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Proc {
    fn spawn(args: &[&str]) -> Proc {
        let mut child = Command::new(BIN)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (out, l) = (child.stderr.take().unwrap(), lines.clone());
        thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                l.lock().unwrap().push(line);
            }
        });
        Proc { child, lines }
    }

    fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Waits for a stderr line containing `needle`; returns it.
    fn wait_line(&self, needle: &str) -> String {
        let deadline = Instant::now() + support::SETTLE;
        loop {
            if let Some(l) = self
                .lines
                .lock()
                .unwrap()
                .iter()
                .find(|l| l.contains(needle))
            {
                return l.clone();
            }
            assert!(
                Instant::now() < deadline,
                "no line containing {needle:?}; got:\n{}",
                self.lines.lock().unwrap().join("\n")
            );
            thread::sleep(Duration::from_millis(20));
        }
    }

    fn has_line(&self, needle: &str) -> bool {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.contains(needle))
    }

    fn signal(&self, sig: rustix::process::Signal) {
        rustix::process::kill_process(rustix::process::Pid::from_raw(self.pid()).unwrap(), sig)
            .unwrap();
    }

    fn wait_exit(&mut self) -> i32 {
        let deadline = Instant::now() + support::SETTLE;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code().unwrap_or(-1);
            }
            assert!(Instant::now() < deadline, "server did not exit");
            thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A raw client: INFO, then CONNECT; returns the stream.
fn raw_client(port: u16, connect: &str) -> TcpStream {
    let deadline = Instant::now() + support::SETTLE;
    let mut s = loop {
        match TcpStream::connect(("127.0.0.1", port)) {
            Ok(s) => break s,
            Err(_) if Instant::now() < deadline => thread::sleep(Duration::from_millis(20)),
            Err(e) => panic!("connect: {e}"),
        }
    };
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut info = [0u8; 4096];
    let n = s.read(&mut info).unwrap();
    assert!(info[..n].starts_with(b"INFO "));
    s.write_all(format!("CONNECT {connect}\r\nPING\r\n").as_bytes())
        .unwrap();
    s
}

/// Reads until `want` arrives or the connection closes; returns what came.
fn read_until(s: &mut TcpStream, want: &str) -> String {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&got).contains(want) {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&got).into_owned()
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
}

#[test]
fn pid_file_and_ports_file() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("n.pid");
    let port = free_port();
    let p = Proc::spawn(&[
        "-a",
        "127.0.0.1",
        "-p",
        &port.to_string(),
        "-P",
        pid_file.to_str().unwrap(),
        "--ports_file_dir",
        dir.path().to_str().unwrap(),
    ]);
    p.wait_line("Server is ready");
    assert_eq!(
        std::fs::read_to_string(&pid_file).unwrap(),
        p.pid().to_string(),
        "decimal pid, no newline"
    );
    let ports = dir.path().join(format!("nats-server_{}.ports", p.pid()));
    // Written once the listeners are up, around "Server is ready" (nats-server
    // writes it from a goroutine of its own): tools poll for it.
    support::wait::until_blocking("the ports file", || ports.exists());
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&ports).unwrap()).unwrap();
    assert_eq!(json["nats"][0], format!("nats://127.0.0.1:{port}"));
}

#[test]
fn sighup_reload_changes_credentials_and_log_level_keeping_clients() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("n.conf");
    let port = free_port();
    let users = |bob: &str, debug: bool| {
        format!(
            "port: {port}\ndebug: {debug}\nauthorization {{\n  users = [\n    {{user: alice, password: a1}}\n    {{user: bob, password: {bob}}}\n  ]\n}}\n"
        )
    };
    write(&conf, &users("b1", false));
    let p = Proc::spawn(&["-c", conf.to_str().unwrap(), "-a", "127.0.0.1"]);
    p.wait_line("Server is ready");
    let mut alice = raw_client(port, r#"{"user":"alice","pass":"a1","verbose":false}"#);
    assert!(read_until(&mut alice, "PONG").contains("PONG"));
    let mut bob = raw_client(port, r#"{"user":"bob","pass":"b1","verbose":false}"#);
    assert!(read_until(&mut bob, "PONG").contains("PONG"));
    assert!(!p.has_line("[DBG]"));

    write(&conf, &users("b2", true));
    p.signal(rustix::process::Signal::HUP);
    p.wait_line("Trapped \"hangup\" signal");
    p.wait_line("Reloaded: debug = true");
    p.wait_line("Reloaded server configuration");

    // bob's old password no longer passes: cut with the violation.
    assert!(
        read_until(&mut bob, "Authorization Violation").contains("-ERR 'Authorization Violation'")
    );
    // alice stays connected and served.
    alice.write_all(b"PING\r\n").unwrap();
    assert!(read_until(&mut alice, "PONG").contains("PONG"));
    // bob's new password works; the new log level is on.
    let mut bob2 = raw_client(port, r#"{"user":"bob","pass":"b2","verbose":false}"#);
    assert!(read_until(&mut bob2, "PONG").contains("PONG"));
    p.wait_line("[DBG]");
}

#[test]
fn non_reloadable_change_is_refused_and_flags_still_win() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("n.conf");
    let (port, file_port) = (free_port(), free_port());
    write(&conf, &format!("port: {file_port}\nmax_payload: 1000\n"));
    // -p on the command line beats the file's port.
    let p = Proc::spawn(&[
        "-c",
        conf.to_str().unwrap(),
        "-a",
        "127.0.0.1",
        "-p",
        &port.to_string(),
    ]);
    p.wait_line(&format!(
        "Listening for client connections on 127.0.0.1:{port}"
    ));

    // The file's port changes: the flag still wins, so no Port change; the
    // max_payload change is applied.
    write(
        &conf,
        &format!("port: {}\nmax_payload: 2000\n", free_port()),
    );
    p.signal(rustix::process::Signal::HUP);
    p.wait_line("Reloaded: max_payload = 2000");
    assert!(!p.has_line("config reload not supported for Port"));

    // A change that cannot be made live is refused as a whole.
    write(
        &conf,
        &format!("port: {file_port}\nmax_payload: 3000\nmax_pending: 1000000\n"),
    );
    p.signal(rustix::process::Signal::HUP);
    let err = p.wait_line("Failed to reload server configuration");
    assert!(err.contains("[ERR]"), "{err}");
    assert!(
        err.contains("config reload not supported for MaxPending"),
        "{err}"
    );
    let mut c = raw_client(port, "{}");
    assert!(read_until(&mut c, "PONG").contains("PONG"), "still serving");
}

#[test]
fn signal_flag_and_sigterm_exit_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("n.pid");
    let conf = dir.path().join("n.conf");
    let port = free_port();
    write(&conf, &format!("port: {port}\n"));
    let mut p = Proc::spawn(&[
        "-c",
        conf.to_str().unwrap(),
        "-a",
        "127.0.0.1",
        "-P",
        pid_file.to_str().unwrap(),
    ]);
    p.wait_line("Server is ready");
    let status = Command::new(BIN)
        .args(["--signal", &format!("reload={}", pid_file.display())])
        .status()
        .unwrap();
    assert!(status.success());
    p.wait_line("Trapped \"hangup\" signal");
    p.wait_line("Reloaded server configuration");

    p.signal(rustix::process::Signal::TERM);
    p.wait_line("Trapped \"terminated\" signal");
    assert_eq!(p.wait_exit(), 0);
    p.wait_line("Server Exiting..");
}

/// A route removed from the file by a reload is closed (logged with its
/// reason) and not dialled again.
#[test]
fn reload_removing_a_route_closes_it_for_good() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("b.conf");
    let (a_port, a_cluster) = (free_port(), free_port());
    let a = Proc::spawn(&[
        "-a",
        "127.0.0.1",
        "-p",
        &a_port.to_string(),
        "--cluster",
        &format!("nats://127.0.0.1:{a_cluster}"),
    ]);
    a.wait_line("Listening for route connections");
    let b_conf = |routes: &str| {
        format!(
            "port: {}\ncluster {{\n  listen: \"127.0.0.1:{}\"\n  routes = [{routes}]\n}}\n",
            free_port(),
            free_port()
        )
    };
    write(
        &conf,
        &b_conf(&format!("\"nats-route://127.0.0.1:{a_cluster}\"")),
    );
    let b = Proc::spawn(&["-c", conf.to_str().unwrap(), "-a", "127.0.0.1"]);
    b.wait_line("Route connection created");
    a.wait_line("Route connection created");

    // Only `routes` changes: keep B's ports.
    let text = std::fs::read_to_string(&conf).unwrap();
    let start = text.find("routes = [").unwrap();
    let end = start + text[start..].find(']').unwrap();
    write(
        &conf,
        &format!("{}routes = [{}", &text[..start], &text[end..]),
    );
    b.signal(rustix::process::Signal::HUP);
    b.wait_line("Reloaded server configuration");
    b.wait_line("Router connection closed: Route Removed");
    a.wait_line("Router connection closed");
    // Past the redial delay: no second route.
    thread::sleep(Duration::from_millis(2500));
    let created = |p: &Proc| {
        p.lines
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.contains("Route connection created"))
            .count()
    };
    assert_eq!(created(&b), 1, "B dialled the removed route again");
    assert_eq!(created(&a), 1);
}

#[test]
fn log_file_reopens_on_sigusr1() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("n.log");
    let port = free_port();
    let p = Proc::spawn(&[
        "-a",
        "127.0.0.1",
        "-p",
        &port.to_string(),
        "-l",
        log.to_str().unwrap(),
    ]);
    wait_file_contains(&log, "Server is ready");
    let rotated = dir.path().join("n.log.1");
    std::fs::rename(&log, &rotated).unwrap();
    p.signal(rustix::process::Signal::USR1);
    wait_file_contains(&log, "File log re-opened");
    assert!(std::fs::read_to_string(&rotated)
        .unwrap()
        .contains("Server is ready"));
}

fn wait_file_contains(path: &PathBuf, needle: &str) {
    let deadline = Instant::now() + support::SETTLE;
    while !std::fs::read_to_string(path)
        .unwrap_or_default()
        .contains(needle)
    {
        assert!(
            Instant::now() < deadline,
            "{} never contained {needle:?}",
            path.display()
        );
        thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn remote_syslog_to_a_udp_socket() {
    let sink = UdpSocket::bind("127.0.0.1:0").unwrap();
    sink.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let url = format!("udp://{}", sink.local_addr().unwrap());
    let port = free_port();
    let p = Proc::spawn(&["-a", "127.0.0.1", "-p", &port.to_string(), "-r", &url]);
    let mut seen = Vec::new();
    let mut buf = [0u8; 2048];
    while let Ok(n) = sink.recv(&mut buf) {
        let packet = String::from_utf8_lossy(&buf[..n]).into_owned();
        let ready = packet.contains("Server is ready");
        seen.push(packet);
        if ready {
            break;
        }
    }
    let ready = seen
        .iter()
        .find(|p| p.contains("Server is ready"))
        .expect("ready line over syslog");
    // nats-server's framing: priority <5> for notices, RFC 3339 time, host,
    // `tag[pid]:`, then the bare message (no level label, no timestamp).
    assert!(ready.starts_with("<5>"), "{ready}");
    assert!(
        ready
            .trim_end()
            .ends_with(&format!("nats-server[{}]: Server is ready", p.pid())),
        "{ready}"
    );
}

#[test]
fn reload_applies_new_limits_to_existing_connections() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("n.conf");
    let port = free_port();
    write(&conf, &format!("port: {port}\nmax_payload: 2000\n"));
    let p = Proc::spawn(&["-c", conf.to_str().unwrap(), "-a", "127.0.0.1"]);
    p.wait_line("Server is ready");
    let mut c = raw_client(port, r#"{"verbose":false}"#);
    assert!(read_until(&mut c, "PONG").contains("PONG"));
    c.write_all(format!("PUB a 1500\r\n{}\r\nPING\r\n", "x".repeat(1500)).as_bytes())
        .unwrap();
    assert!(
        read_until(&mut c, "PONG").contains("PONG"),
        "1500 bytes fit under 2000"
    );

    write(&conf, &format!("port: {port}\nmax_payload: 1000\n"));
    p.signal(rustix::process::Signal::HUP);
    p.wait_line("Reloaded: max_payload = 1000");
    c.write_all(format!("PUB a 1500\r\n{}\r\n", "x".repeat(1500)).as_bytes())
        .unwrap();
    assert!(read_until(&mut c, "Maximum Payload").contains("-ERR 'Maximum Payload Violation'"));
}

#[test]
fn reload_applies_new_permissions_to_existing_connections() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("n.conf");
    let port = free_port();
    let users = |sub: &str, publish: &str| {
        format!(
            "port: {port}\nauthorization {{\n  users = [\n    {{user: alice, password: a1, permissions: {{subscribe: [\"{sub}\"], publish: [\"{publish}\"]}}}}\n    {{user: root, password: r1}}\n  ]\n}}\n"
        )
    };
    write(&conf, &users("a.>", "out.>"));
    let p = Proc::spawn(&["-c", conf.to_str().unwrap(), "-a", "127.0.0.1"]);
    p.wait_line("Server is ready");
    let mut alice = raw_client(port, r#"{"user":"alice","pass":"a1","verbose":false}"#);
    alice
        .write_all(b"SUB a.x 1\r\nPUB out.1 2\r\nok\r\nPING\r\n")
        .unwrap();
    let got = read_until(&mut alice, "PONG\r\nPONG");
    assert!(!got.contains("Violation"), "{got}");

    // The new permissions drop the subscription and forbid the old subject.
    write(&conf, &users("b.>", "other.>"));
    p.signal(rustix::process::Signal::HUP);
    p.wait_line("Reloaded server configuration");
    let got = read_until(&mut alice, "Subscription to");
    assert!(
        got.contains("-ERR 'Permissions Violation for Subscription to \"a.x\"'"),
        "{got}"
    );
    alice.write_all(b"PUB out.1 2\r\nno\r\nPING\r\n").unwrap();
    let got = read_until(&mut alice, "PONG");
    assert!(
        got.contains("-ERR 'Permissions Violation for Publish to \"out.1\"'"),
        "{got}"
    );
    // Messages on a.x no longer reach alice; b.x does.
    let mut root = raw_client(port, r#"{"user":"root","pass":"r1","verbose":false}"#);
    read_until(&mut root, "PONG");
    alice.write_all(b"SUB b.x 2\r\nPING\r\n").unwrap();
    read_until(&mut alice, "PONG");
    root.write_all(b"PUB a.x 1\r\n1\r\nPUB b.x 1\r\n2\r\nPING\r\n")
        .unwrap();
    read_until(&mut root, "PONG");
    alice.write_all(b"PING\r\n").unwrap();
    let got = read_until(&mut alice, "PONG");
    assert!(
        got.contains("MSG b.x 2 1\r\n2\r\n") && !got.contains("MSG a.x"),
        "{got}"
    );
}
