//! Test harness: a real nats-server on a random loopback port, killed on drop.
//!
//! The binary is `/usr/sbin/nats-server` (2.9.10 on the project's machines) unless
//! `NATS_BENCH_SERVER` names another. When it is missing, the build script (`build.rs`) marks
//! the tests that need it as ignored (outside CI); a test that runs without it fails.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

pub const DEFAULT_SERVER: &str = "/usr/sbin/nats-server";

pub struct Server {
    child: Child,
    pub addr: String,
    pub pid: u32,
    config: Option<std::path::PathBuf>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(c) = &self.config {
            let _ = std::fs::remove_file(c);
        }
    }
}

impl Server {
    /// Kills the server now (for tests of a server that goes away).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn binary() -> String {
    std::env::var("NATS_BENCH_SERVER").unwrap_or_else(|_| DEFAULT_SERVER.to_string())
}

/// Starts the server with `-p -1` and reads the port it chose from its log. Panics when the
/// binary is not installed: the tests that call this are ignored then (`build.rs`), unless
/// they run under CI or with `--include-ignored`.
pub fn server(test: &str) -> Server {
    start(test, None)
}

/// Like [`server`], with `config` written to a file of its own and passed with `-c`.
pub fn server_with_config(test: &str, config: &str) -> Server {
    let path = std::env::temp_dir().join(format!(
        "nats-bench-{test}-{}-{:?}.conf",
        std::process::id(),
        std::thread::current().id()
    ));
    std::fs::write(&path, config).expect("config file written");
    start(test, Some(path))
}

fn start(test: &str, config: Option<std::path::PathBuf>) -> Server {
    let bin = binary();
    assert!(
        std::path::Path::new(&bin).exists(),
        "{test} needs a real nats-server: {bin} is not installed (CI installs it; set \
         NATS_BENCH_SERVER to use another)"
    );
    let mut cmd = Command::new(&bin);
    if let Some(c) = &config {
        cmd.arg("-c").arg(c);
    }
    let mut child = cmd
        .args(["-a", "127.0.0.1", "-p", "-1"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {bin}: {e}"));
    let pid = child.id();
    let stderr = child.stderr.take().expect("piped");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut tx = Some(tx);
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            const MARK: &str = "Listening for client connections on ";
            if let Some(i) = line.find(MARK) {
                if let Some(tx) = tx.take() {
                    let _ = tx.send(line[i + MARK.len()..].trim().to_string());
                }
            }
        }
    });
    let addr = match rx.recv_timeout(Duration::from_secs(10)) {
        Ok(addr) => addr,
        Err(_) => {
            let _ = child.kill();
            panic!("{bin} did not report its port within 10 s");
        }
    };
    Server {
        child,
        addr,
        pid,
        config,
    }
}

/// Options for a short run against `addr`.
pub fn opts(addr: &str) -> nats_bench::Options {
    let mut o = nats_bench::Options::new(addr);
    o.timeout = Duration::from_secs(20);
    o.batch_bytes = 64 * 1024;
    o
}
