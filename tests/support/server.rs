//! Servers for the tests: ours in-process ([`start`], with [`options`],
//! [`clustered`], [`user`]), and a server binary as a child process
//! ([`RealServer`]: the real nats-server, or ours) with its client port, an
//! optional monitor port and an optional config file. Every start and wait
//! is bounded; a child is killed when its handle drops (also while a failing
//! test unwinds). Never looks for the binaries: `skip` does.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use nats_server::config::Options;
use nats_server::process::{self, Running};
use tokio::net::TcpStream;
use tokio::time::Instant;

use super::http::wait_healthy;
use super::ports::free_port;
use super::wait::WAIT;

/// Options for an in-process test server: 127.0.0.1 on a random port.
pub fn options() -> Options {
    Options {
        host: "127.0.0.1".to_string(),
        port: 0,
        ..Options::default()
    }
}

/// `opts` as a node of cluster `name` on a random loopback route port,
/// routing to `routes`.
pub fn clustered(mut opts: Options, name: &str, routes: &[SocketAddr]) -> Options {
    opts.cluster.name = name.into();
    opts.cluster.host = "127.0.0.1".into();
    opts.cluster.port = -1;
    opts.cluster.routes = routes
        .iter()
        .map(|a| nats_server::config::RouteUrl::parse(&format!("nats-route://{a}")).unwrap())
        .collect();
    opts
}

/// The password of every [`user`], which [`Raw::login`](super::Raw::login) sends.
pub const PASSWORD: &str = "pw";

/// A user with `permissions` for [`Raw::login`](super::Raw::login).
pub fn user(
    name: &str,
    permissions: Option<nats_server::config::Permissions>,
) -> nats_server::config::User {
    nats_server::config::User {
        username: name.into(),
        password: PASSWORD.into(),
        permissions,
        ..Default::default()
    }
}

/// Starts our server in-process with `opts` (forced onto 127.0.0.1:0).
pub async fn start(mut opts: Options) -> Running {
    opts.host = "127.0.0.1".to_string();
    opts.port = 0;
    process::start(opts).await.expect("start in-process server")
}

/// A server binary as a child process (the real nats-server, or ours as
/// `env!("CARGO_BIN_EXE_nats-server")`), killed on drop.
pub struct RealServer {
    child: Child,
    pub addr: SocketAddr,
    /// The HTTP monitor, when started with [`RealServer::start_monitored`].
    pub monitor: Option<SocketAddr>,
    conf: Option<PathBuf>,
}

static CONF_SEQ: AtomicU32 = AtomicU32::new(0);

impl RealServer {
    /// Starts `binary -a 127.0.0.1 -p <free port>`, with `config` written to a
    /// temporary file and passed as `-c` when given, and waits until the port
    /// accepts connections.
    pub async fn start(binary: &Path, config: Option<&str>) -> RealServer {
        RealServer::launch(binary, config, &[], false).await
    }

    /// [`RealServer::start`] with extra command-line `args` (after `-c`,
    /// before `-a`/`-p`).
    pub async fn start_with(binary: &Path, config: Option<&str>, args: &[&str]) -> RealServer {
        RealServer::launch(binary, config, args, false).await
    }

    /// Like [`RealServer::start`], with the HTTP monitor on another free
    /// port (`-m`), in [`RealServer::monitor`].
    pub async fn start_monitored(binary: &Path, config: Option<&str>) -> RealServer {
        RealServer::launch(binary, config, &[], true).await
    }

    /// [`RealServer::start_monitored`] with extra command-line `args`.
    pub async fn start_monitored_with(
        binary: &Path,
        config: Option<&str>,
        args: &[&str],
    ) -> RealServer {
        RealServer::launch(binary, config, args, true).await
    }

    /// The HTTP monitor's address (started with a `start_monitored*`).
    pub fn mon(&self) -> SocketAddr {
        self.monitor.expect("started with a monitor")
    }

    /// The child's process id (for `/proc/<pid>/status`).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Replaces the configuration file with `config` and sends SIGHUP (the
    /// server was started with a configuration).
    pub fn reload(&self, config: &str) {
        let conf = self.conf.as_ref().expect("started with a configuration");
        std::fs::write(conf, config).expect("rewrite the configuration");
        let pid = rustix::process::Pid::from_raw(self.child.id() as i32).expect("a pid");
        rustix::process::kill_process(pid, rustix::process::Signal::HUP).expect("SIGHUP");
    }

    async fn launch(
        binary: &Path,
        config: Option<&str>,
        args: &[&str],
        monitored: bool,
    ) -> RealServer {
        let conf = config.map(|text| {
            let path = std::env::temp_dir().join(format!(
                "nats-ptests-{}-{}.conf",
                std::process::id(),
                CONF_SEQ.fetch_add(1, Ordering::Relaxed)
            ));
            std::fs::write(&path, text).expect("write nats-server config");
            path
        });
        // A free port can be taken by someone else before the child binds it:
        // retry with a fresh one if the child exits.
        for _ in 0..5 {
            let port = free_port();
            let mut cmd = Command::new(binary);
            if let Some(conf) = &conf {
                cmd.arg("-c").arg(conf);
            }
            cmd.args(args);
            cmd.args(["-a", "127.0.0.1", "-p", &port.to_string()]);
            let monitor = monitored.then(|| SocketAddr::from(([127, 0, 0, 1], free_port())));
            if let Some(m) = monitor {
                cmd.args(["-m", &m.port().to_string()]);
            }
            cmd.stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            let child = cmd.spawn().expect("spawn nats-server");
            let addr: SocketAddr = ([127, 0, 0, 1], port).into();
            let mut server = RealServer {
                child,
                addr,
                monitor,
                conf: None,
            };
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = server.child.try_wait() {
                    break;
                }
                // With a monitor, not the client port: a probe would count
                // as a connection; `/healthz` says ok once the client
                // listener is up.
                let probe = monitor.unwrap_or(addr);
                if TcpStream::connect(probe).await.is_ok() {
                    if monitor.is_some() {
                        wait_healthy(probe).await;
                    }
                    server.conf = conf;
                    return server;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            // `server` drops here: killed and reaped.
        }
        if let Some(conf) = conf {
            let _ = std::fs::remove_file(conf);
        }
        panic!("{} did not start", binary.display());
    }
}

impl Drop for RealServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(conf) = self.conf.take() {
            let _ = std::fs::remove_file(conf);
        }
    }
}

/// The resident set size of process `pid` in KiB (`VmRSS`).
pub fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read /proc status");
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .expect("a VmRSS line");
    line.split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .expect("VmRSS in kB")
}

/// Waits (bounded) until connection `cid` is recorded as closed and returns
/// its record.
pub async fn wait_closed(
    server: &nats_server::server::Server,
    cid: u64,
) -> std::sync::Arc<nats_server::server::ClosedClient> {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(c) = server.closed_clients().into_iter().find(|c| c.cid == cid) {
            return c;
        }
        assert!(
            Instant::now() < deadline,
            "cid {cid} not recorded as closed"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

// ---------------------------------------------------------------- clusters

/// Publishes a probe on `subject` from `from`, again every 300 ms, until
/// `sub` (on another server of the cluster) receives it, and returns how
/// long it took; fails the test after `bound`. The probe is unique to this
/// call: a copy of an earlier message still in flight (say, from before a
/// partition healed) must not pass for a working route, while a copy of
/// this call's own slower first try does.
pub async fn until_routed(
    from: &async_nats::Client,
    sub: &mut async_nats::Subscriber,
    subject: &str,
    bound: Duration,
) -> Duration {
    use futures::StreamExt;
    static PROBES: AtomicU32 = AtomicU32::new(0);
    let probe = format!(
        "probe-{}-{}",
        std::process::id(),
        PROBES.fetch_add(1, Ordering::Relaxed)
    );
    let start = Instant::now();
    loop {
        let _ = from
            .publish(subject.to_string(), probe.clone().into())
            .await;
        let _ = from.flush().await;
        let until = Instant::now() + Duration::from_millis(300);
        while let Ok(Some(msg)) = tokio::time::timeout_at(until, sub.next()).await {
            if msg.payload == probe.as_bytes() {
                return start.elapsed();
            }
        }
        assert!(
            start.elapsed() < bound,
            "{subject}: no message routed within {bound:?}"
        );
    }
}
