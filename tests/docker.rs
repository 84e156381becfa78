//! The Docker image (`docs/operations.md#docker-image`), tested
//! against the local Docker engine: the image's layout and size; the seed's
//! two-container scenario (`--link`, route by host name, a message across);
//! Docker's DNS on a user network and a graceful `docker stop`; and the
//! three-node cluster of `docker/compose.yml` — one node cut off with
//! `docker network disconnect` and healed, then a rolling restart.
//!
//! Images come from `scripts/docker-image` (a binary compiled here, packed
//! into the Dockerfile's own final stage), never from a registry. The binary
//! is compiled once per test binary; each test packs its own uniquely tagged
//! image (about a second) so that it can remove it. Every container, network,
//! compose project and image a test creates is removed by a [`Janitor`] when
//! the test ends, also when it fails. Ignored when the engine does not
//! answer (or, for the compose tests, `docker compose` / `docker-compose`
//! is missing); failed instead under CI (`CI` set), where `.ci/run`
//! installs compose and the engine must answer (`tests/support/mod.rs`).
//!
//! Routes are checked through log lines, by passing messages, and through
//! `/routez` on the monitoring port the image's configuration opens (8222).

mod support;

use support::SLOW;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::{sleep, timeout, Instant};

/// The goal for the image size (README).
const MAX_IMAGE_BYTES: u64 = 10 * 1024 * 1024;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A name no other run (or test of this run) uses.
fn unique(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "{prefix}{}x{}x{:x}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed),
        nanos & 0xfffff
    )
}

/// Runs `docker args…` to completion: Ok(stdout) or Err(stdout + stderr).
fn docker(args: &[&str]) -> Result<String, String> {
    run("docker", args, &[])
}

fn run(program: &str, args: &[&str], env: &[(&str, &str)]) -> Result<String, String> {
    let out = Command::new(program)
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{program}: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if out.status.success() {
        Ok(stdout)
    } else {
        Err(format!(
            "{program} {args:?} failed ({}):\n{stdout}{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// `docker …` that must succeed; blocking calls run off the async workers.
async fn must(args: &[&str]) -> String {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        docker(&args).unwrap_or_else(|e| panic!("{e}"))
    })
    .await
    .unwrap()
}

/// A container's log (the server logs to stderr; `docker logs` keeps both).
fn logs(container: &str) -> String {
    let out = Command::new("docker")
        .args(["logs", container])
        .stdin(Stdio::null())
        .output()
        .expect("docker logs");
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    text
}

/// Waits until the log of `container` has `count` lines containing `needle`.
async fn wait_log_count(container: &str, needle: &str, count: usize, bound: Duration) {
    let start = Instant::now();
    loop {
        let text = logs(container);
        if text.lines().filter(|l| l.contains(needle)).count() >= count {
            return;
        }
        assert!(
            start.elapsed() < bound,
            "{container}: no {count} line(s) containing {needle:?} within {bound:?}; log:\n{text}"
        );
        sleep(Duration::from_millis(200)).await;
    }
}

async fn wait_log(container: &str, needle: &str) {
    wait_log_count(container, needle, 1, SLOW).await;
}

/// Fails `test` unless the daemon answers.
fn docker_available(test: &str) {
    support::need(support::Tool::Docker, test);
}

/// Everything a test creates, removed on drop (success or panic):
/// containers, then compose projects, then networks, then images.
#[derive(Default)]
struct Janitor {
    containers: Vec<String>,
    projects: Vec<(Vec<String>, String)>,
    networks: Vec<String>,
    images: Vec<String>,
}

impl Drop for Janitor {
    fn drop(&mut self) {
        for c in &self.containers {
            let _ = docker(&["rm", "-f", "-v", c]);
        }
        for (cmd, project) in &self.projects {
            let file = repo().join("docker/compose.yml");
            let mut args: Vec<&str> = cmd[1..].iter().map(String::as_str).collect();
            args.extend([
                "-p",
                project,
                "-f",
                file.to_str().unwrap(),
                "down",
                "-v",
                "--remove-orphans",
                "-t",
                "1",
            ]);
            let _ = run(&cmd[0], &args, &compose_env(""));
            // Whatever `down` left (a failed down, a renamed network).
            let label = format!("label=com.docker.compose.project={project}");
            if let Ok(ids) = docker(&["ps", "-aq", "--filter", &label]) {
                for id in ids.split_whitespace() {
                    let _ = docker(&["rm", "-f", "-v", id]);
                }
            }
            if let Ok(ids) = docker(&["network", "ls", "-q", "--filter", &label]) {
                for id in ids.split_whitespace() {
                    let _ = docker(&["network", "rm", id]);
                }
            }
        }
        for n in &self.networks {
            let _ = docker(&["network", "rm", n]);
        }
        for i in &self.images {
            let _ = docker(&["rmi", "-f", i]);
        }
    }
}

impl Janitor {
    /// Packs the image with `scripts/docker-image` under a fresh tag. The
    /// first call compiles the binary (minutes, in the dist profile); the
    /// lock makes the others wait for it and then only repack (a second).
    async fn image(&mut self) -> String {
        static BUILD: Mutex<()> = Mutex::new(());
        let tag = format!("nats-server:{}", unique("test"));
        self.images.push(tag.clone());
        let script = repo().join("scripts/docker-image");
        let t = tag.clone();
        let built = tokio::task::spawn_blocking(move || {
            let _one_at_a_time = BUILD.lock().unwrap_or_else(|e| e.into_inner());
            run(script.to_str().unwrap(), &[&t], &[])
        })
        .await
        .unwrap();
        if let Err(e) = built {
            panic!("scripts/docker-image failed: {e}");
        }
        tag
    }

    /// `docker run -d --name NAME ARGS…`; the container is removed later.
    async fn run(&mut self, name: &str, args: &[&str]) {
        self.containers.push(name.to_string());
        let mut all = vec!["run", "-d", "--name", name];
        all.extend_from_slice(args);
        must(&all).await;
    }
}

/// The IP of `container` (on `network`, or its only network).
async fn ip(container: &str, network: Option<&str>) -> String {
    let format = match network {
        Some(n) => format!("{{{{(index .NetworkSettings.Networks \"{n}\").IPAddress}}}}"),
        None => "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}".to_string(),
    };
    let out = must(&["inspect", "-f", &format, container]).await;
    let ip = out.split_whitespace().next().unwrap_or("").to_string();
    assert!(!ip.is_empty(), "{container} has no IP ({out:?})");
    ip
}

/// A client of exactly this server: no failover to discovered ones.
/// `num_routes` from `/routez` on a container's monitoring port (8222),
/// waiting (bounded) until it equals `want`.
async fn routez_routes(ip: &str, want: u64) -> u64 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let deadline = Instant::now() + SLOW;
    loop {
        let got = async {
            let mut s = tokio::net::TcpStream::connect(format!("{ip}:8222"))
                .await
                .ok()?;
            s.write_all(b"GET /routez HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                .await
                .ok()?;
            let mut raw = Vec::new();
            s.read_to_end(&mut raw).await.ok()?;
            let text = String::from_utf8(raw).ok()?;
            let json: serde_json::Value =
                serde_json::from_str(text.split_once("\r\n\r\n")?.1).ok()?;
            json["num_routes"].as_u64()
        }
        .await;
        if got == Some(want) || Instant::now() > deadline {
            return got.unwrap_or(u64::MAX);
        }
        sleep(Duration::from_millis(200)).await;
    }
}

async fn pinned(ip: &str) -> async_nats::Client {
    let url = format!("nats://{ip}:4222");
    let start = Instant::now();
    loop {
        let connect = async_nats::ConnectOptions::new()
            .ignore_discovered_servers()
            .connection_timeout(Duration::from_secs(2))
            .connect(url.as_str());
        if let Ok(Ok(c)) = timeout(Duration::from_secs(3), connect).await {
            return c;
        }
        assert!(start.elapsed() < SLOW, "cannot connect to {url}");
        sleep(Duration::from_millis(200)).await;
    }
}

async fn subscribe(client: &async_nats::Client, subject: &str) -> async_nats::Subscriber {
    let sub = client.subscribe(subject.to_string()).await.unwrap();
    client.flush().await.unwrap();
    sub
}

// ------------------------------------------------------------------ image

/// The image's contract: ENTRYPOINT with `-c /nats-server.conf` and an
/// empty CMD (flags append), the three ports, under 10 MB, and nothing in
/// it but the server, the repository's default configuration and the CA
/// bundle.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(missing_docker, ignore = "needs a Docker engine that answers")]
async fn image_is_scratch_with_server_config_and_ca_certificates() {
    docker_available("image layout test");
    let mut j = Janitor::default();
    let image = j.image().await;

    let entrypoint = must(&["inspect", "-f", "{{json .Config.Entrypoint}}", &image]).await;
    assert_eq!(
        entrypoint.trim(),
        r#"["/nats-server","-c","/nats-server.conf"]"#
    );
    let cmd = must(&["inspect", "-f", "{{json .Config.Cmd}}", &image]).await;
    assert!(matches!(cmd.trim(), "null" | "[]"), "CMD is {cmd}");
    let ports = must(&["inspect", "-f", "{{json .Config.ExposedPorts}}", &image]).await;
    for p in ["4222/tcp", "8222/tcp", "6222/tcp"] {
        assert!(ports.contains(p), "{p} not exposed: {ports}");
    }
    let size: u64 = must(&["inspect", "-f", "{{.Size}}", &image])
        .await
        .trim()
        .parse()
        .unwrap();
    eprintln!("image size: {size} bytes ({} KiB)", size / 1024);
    assert!(size < MAX_IMAGE_BYTES, "image is {size} bytes");

    // The whole file system: the server, its configuration, the CA bundle
    // (and the files and mount points the engine adds to every container).
    let name = unique("nats-files-");
    j.containers.push(name.clone());
    must(&["create", "--name", &name, &image]).await;
    let listing = {
        let name = name.clone();
        tokio::task::spawn_blocking(move || {
            let mut export = Command::new("docker")
                .args(["export", &name])
                .stdout(Stdio::piped())
                .spawn()
                .unwrap();
            let out = Command::new("tar")
                .arg("-t")
                .stdin(export.stdout.take().unwrap())
                .output()
                .unwrap();
            export.wait().unwrap();
            String::from_utf8_lossy(&out.stdout).into_owned()
        })
        .await
        .unwrap()
    };
    let files: Vec<&str> = listing
        .lines()
        .filter(|l| !l.ends_with('/'))
        .filter(|l| {
            !matches!(
                *l,
                ".dockerenv" | "etc/hosts" | "etc/hostname" | "etc/resolv.conf" | "etc/mtab"
            )
        })
        .filter(|l| !l.starts_with("dev/") && !l.starts_with("proc/") && !l.starts_with("sys/"))
        .collect();
    let mut files = files;
    files.sort();
    assert_eq!(
        files,
        [
            "etc/ssl/certs/ca-certificates.crt",
            "nats-server",
            "nats-server.conf"
        ],
        "{listing}"
    );

    // The configuration is the repository's, and the ENTRYPOINT loads it
    // also when flags are added (`-t`: check it and exit).
    let dir = tempfile::tempdir().unwrap();
    let copied = dir.path().join("nats-server.conf");
    must(&[
        "cp",
        &format!("{name}:/nats-server.conf"),
        copied.to_str().unwrap(),
    ])
    .await;
    assert_eq!(
        std::fs::read_to_string(&copied).unwrap(),
        std::fs::read_to_string(repo().join("docker/nats-server.conf")).unwrap()
    );
    let out = Command::new("docker")
        .args(["run", "--rm", &image, "-t"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim(),
        "nats-server: configuration file /nats-server.conf is valid"
    );
}

// ------------------------------------------------------------------- seed

/// The seed's scenario, verbatim but for unique container names (the link
/// alias keeps the route URL exactly as written):
/// `docker run -d --name nats-main IMAGE`, then
/// `docker run -d --name=nats-2 --link nats-main IMAGE --routes=nats-route://ruser:T0pS3cr3t@nats-main:6222 -DV`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(missing_docker, ignore = "needs a Docker engine that answers")]
async fn seed_two_containers_linked_route_and_a_message_across() {
    docker_available("seed scenario test");
    let mut j = Janitor::default();
    let image = j.image().await;
    let (main, second) = (unique("nats-main-"), unique("nats-2-"));
    j.run(&main, &[&image]).await;
    let link = format!("{main}:nats-main");
    j.run(
        &second,
        &[
            "--link",
            &link,
            &image,
            "--routes=nats-route://ruser:T0pS3cr3t@nats-main:6222",
            "-DV",
        ],
    )
    .await;
    let main_ip = ip(&main, None).await;
    let second_ip = ip(&second, None).await;

    // The flags were appended: the configuration is still loaded.
    wait_log(&second, "Using configuration file: /nats-server.conf").await;
    wait_log(&second, "[DBG]").await;
    // nats-main resolved through the link's /etc/hosts entry.
    wait_log(
        &second,
        &format!("Trying to connect to route on nats-main:6222 ({main_ip}:6222)"),
    )
    .await;
    wait_log(&second, &format!("{main_ip}:6222 - rid:")).await;
    wait_log(&second, "- Route connection created").await;
    wait_log(&main, &format!("{second_ip}:")).await;
    wait_log(&main, "- Route connection created").await;
    // /routez on both lists the other.
    assert_eq!(routez_routes(&main_ip, 1).await, 1, "/routez on nats-main");
    assert_eq!(routez_routes(&second_ip, 1).await, 1, "/routez on nats-2");

    let (on_main, on_second) = (pinned(&main_ip).await, pinned(&second_ip).await);
    let mut sub = subscribe(&on_main, "seed.to-main").await;
    support::until_routed(&on_second, &mut sub, "seed.to-main", SLOW).await;
    let mut sub = subscribe(&on_second, "seed.to-second").await;
    support::until_routed(&on_main, &mut sub, "seed.to-second", SLOW).await;
    // The trace of nats-2 shows the message arriving over the route.
    wait_log(&second, "<<- [RMSG $G seed.to-second").await;
}

// ------------------------------------------ user network, graceful stop

/// Two containers on a user-defined network find each other through
/// Docker's DNS (no /etc/hosts entry); `docker stop` ends both with exit
/// code 0 well within the grace period, logging the shutdown lines.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(missing_docker, ignore = "needs a Docker engine that answers")]
async fn user_network_dns_route_and_graceful_docker_stop() {
    docker_available("user network / docker stop test");
    let mut j = Janitor::default();
    let image = j.image().await;
    let net = unique("nats-net-");
    j.networks.push(net.clone());
    must(&["network", "create", &net]).await;
    let (a, b) = (unique("nats-a-"), unique("nats-b-"));
    j.run(&a, &["--network", &net, &image]).await;
    let route = format!("--routes=nats-route://ruser:T0pS3cr3t@{a}:6222");
    j.run(&b, &["--network", &net, &image, &route, "-D"]).await;
    let a_ip = ip(&a, Some(&net)).await;
    wait_log(
        &b,
        &format!("Trying to connect to route on {a}:6222 ({a_ip}:6222)"),
    )
    .await;
    wait_log(&b, "- Route connection created").await;
    wait_log(&a, "- Route connection created").await;
    let b_ip = ip(&b, Some(&net)).await;
    let (on_a, on_b) = (pinned(&a_ip).await, pinned(&b_ip).await);
    let mut sub = subscribe(&on_a, "dns.a").await;
    support::until_routed(&on_b, &mut sub, "dns.a", SLOW).await;

    // Stop with the default 10 s grace period; a client is still connected.
    let start = std::time::Instant::now();
    must(&["stop", &b]).await;
    let took = start.elapsed();
    eprintln!("docker stop took {took:?}");
    assert!(took < Duration::from_secs(5), "docker stop took {took:?}");
    let state = must(&[
        "inspect",
        "-f",
        "{{.State.ExitCode}} {{.State.OOMKilled}}",
        &b,
    ])
    .await;
    assert_eq!(state.trim(), "0 false");
    let log = logs(&b);
    let trapped = log.find("[INF] Trapped \"terminated\" signal");
    let initiating = log.find("[INF] Initiating Shutdown...");
    let exiting = log.find("[INF] Server Exiting..");
    assert!(
        trapped.is_some() && trapped < initiating && initiating < exiting,
        "shutdown lines missing or out of order:\n{log}"
    );
    // The peer saw the route close.
    wait_log(&a, "Router connection closed").await;
    drop(on_b);
    must(&["stop", &a]).await;
    let state = must(&["inspect", "-f", "{{.State.ExitCode}}", &a]).await;
    assert_eq!(state.trim(), "0");
    assert!(logs(&a).contains("[INF] Server Exiting.."));
}

// ---------------------------------------------------------------- compose

/// The environment for docker/compose.yml: the image, random host ports.
fn compose_env(image: &str) -> Vec<(&'static str, &str)> {
    let mut env = vec![("NATS_IMAGE", image)];
    for var in [
        "NATS_N1_CLIENT",
        "NATS_N2_CLIENT",
        "NATS_N3_CLIENT",
        "NATS_N1_MONITOR",
        "NATS_N2_MONITOR",
        "NATS_N3_MONITOR",
    ] {
        env.push((var, ""));
    }
    env
}

/// A running docker/compose.yml project.
struct Cluster {
    cmd: Vec<String>,
    project: String,
    image: String,
}

impl Cluster {
    async fn up(j: &mut Janitor, cmd: Vec<String>) -> Cluster {
        let image = j.image().await;
        let project = unique("natst");
        j.projects.push((cmd.clone(), project.clone()));
        let cluster = Cluster {
            cmd,
            project,
            image,
        };
        cluster.compose(&["up", "-d"]).await;
        cluster
    }

    async fn compose(&self, args: &[&str]) -> String {
        let file = repo().join("docker/compose.yml");
        let mut all: Vec<String> = self.cmd[1..].to_vec();
        for a in ["-p", &self.project, "-f", file.to_str().unwrap()] {
            all.push(a.to_string());
        }
        all.extend(args.iter().map(|s| s.to_string()));
        let (program, image) = (self.cmd[0].clone(), self.image.clone());
        tokio::task::spawn_blocking(move || {
            let all: Vec<&str> = all.iter().map(String::as_str).collect();
            run(&program, &all, &compose_env(&image)).unwrap_or_else(|e| panic!("{e}"))
        })
        .await
        .unwrap()
    }

    /// The container id of service `n1`…`n3`.
    async fn container(&self, service: &str) -> String {
        let id = self.compose(&["ps", "-q", service]).await;
        let id = id.trim().to_string();
        assert!(!id.is_empty(), "no container for {service}");
        id
    }

    /// The project's network (compose names it `<project>_nats`).
    fn network(&self) -> String {
        format!("{}_nats", self.project)
    }

    async fn ip(&self, service: &str) -> String {
        ip(&self.container(service).await, Some(&self.network())).await
    }

    async fn pinned(&self, service: &str) -> async_nats::Client {
        pinned(&self.ip(service).await).await
    }

    /// Every node reaches every other: a subscriber on each receives a
    /// message published on each other node.
    async fn meshed(&self, bound: Duration) {
        let mut clients = Vec::new();
        for n in ["n1", "n2", "n3"] {
            clients.push(self.pinned(n).await);
        }
        for (i, c) in clients.iter().enumerate() {
            let subject = format!("mesh.{i}");
            let mut sub = subscribe(c, &subject).await;
            for (k, from) in clients.iter().enumerate() {
                if k != i {
                    support::until_routed(from, &mut sub, &subject, bound).await;
                }
            }
        }
    }
}

/// Cut one node off its network: the other two keep serving each other
/// (old and new interest); both notice the silent route (pings) and drop
/// it; reconnected, the node's routes and interest come back within a
/// bound.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    any(missing_docker, missing_compose),
    ignore = "needs a Docker engine that answers and `docker compose` or `docker-compose`"
)]
async fn compose_cluster_survives_a_partition() {
    docker_available("compose partition test");
    let cmd = support::compose_command("compose partition test");
    let mut j = Janitor::default();
    let cluster = Cluster::up(&mut j, cmd).await;
    cluster.meshed(SLOW).await;
    let (n1, n2, n3) = (
        cluster.container("n1").await,
        cluster.container("n2").await,
        cluster.container("n3").await,
    );
    let (c1, c2) = (cluster.pinned("n1").await, cluster.pinned("n2").await);
    let mut on1 = subscribe(&c1, "part.1").await;
    let mut on2 = subscribe(&c2, "part.2").await;
    support::until_routed(&c2, &mut on1, "part.1", SLOW).await;

    let net = cluster.network();
    must(&["network", "disconnect", &net, &n3]).await;
    let cut = Instant::now();
    // n1 and n2 keep serving each other, with old and new interest.
    support::until_routed(&c1, &mut on2, "part.2", Duration::from_secs(5)).await;
    let mut on1b = subscribe(&c1, "part.1b").await;
    support::until_routed(&c2, &mut on1b, "part.1b", Duration::from_secs(5)).await;
    // Both notice the silent route to n3 (2 s pings, 2 missed) and close it.
    for n in [&n1, &n2] {
        wait_log(n, "Router connection closed: Stale Connection").await;
    }
    eprintln!("partition noticed after {:?}", cut.elapsed());
    support::until_routed(&c2, &mut on1, "part.1", Duration::from_secs(5)).await;

    // Heal: back on the network under its service name.
    must(&["network", "connect", "--alias", "n3", &net, &n3]).await;
    let healed = Instant::now();
    let c3 = cluster.pinned("n3").await;
    let mut on3 = subscribe(&c3, "part.3").await;
    support::until_routed(&c1, &mut on3, "part.3", SLOW).await;
    support::until_routed(&c2, &mut on3, "part.3", SLOW).await;
    support::until_routed(&c3, &mut on1, "part.1", SLOW).await;
    support::until_routed(&c3, &mut on2, "part.2", SLOW).await;
    support::until_routed(&c3, &mut on1b, "part.1b", SLOW).await;
    let converged = healed.elapsed();
    eprintln!("partition healed; routes and interest converged in {converged:?}");
    assert!(converged < SLOW);
    for n in ["n1", "n2", "n3"] {
        assert_eq!(
            routez_routes(&cluster.ip(n).await, 2).await,
            2,
            "/routez on {n} after the heal"
        );
    }
}

/// Restart n1, n2, n3 one after the other (`docker restart`, graceful):
/// after each, subscribers of every node — on the restarted node through
/// their reconnect — still receive what any node publishes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    any(missing_docker, missing_compose),
    ignore = "needs a Docker engine that answers and `docker compose` or `docker-compose`"
)]
async fn compose_rolling_restart_loses_no_interest() {
    docker_available("compose rolling restart test");
    let cmd = support::compose_command("compose rolling restart test");
    let mut j = Janitor::default();
    let cluster = Cluster::up(&mut j, cmd).await;
    cluster.meshed(SLOW).await;
    let nodes = ["n1", "n2", "n3"];

    // One subscriber per node; each may fail over to the others (as
    // applications do) and resubscribes on reconnect.
    let mut urls = Vec::new();
    for n in nodes {
        urls.push(format!("nats://{}:4222", cluster.ip(n).await));
    }
    let mut subs = Vec::new();
    for (i, n) in nodes.iter().enumerate() {
        let mut order = urls.clone();
        order.rotate_left(i);
        let client = async_nats::ConnectOptions::new()
            .retain_servers_order()
            .reconnect_delay_callback(|_| Duration::from_millis(200))
            .connect(order)
            .await
            .unwrap();
        let subject = format!("roll.{n}");
        let sub = subscribe(&client, &subject).await;
        subs.push((client, subject, sub));
    }

    for n in nodes {
        let id = cluster.container(n).await;
        let start = std::time::Instant::now();
        must(&["restart", "-t", "10", &id]).await;
        eprintln!("{n} restarted in {:?}", start.elapsed());
        wait_log(&id, "Server Exiting..").await;
        let back = Instant::now();
        // Publish from every node, the restarted one first: every
        // subscription is known everywhere again.
        let mut publishers = vec![cluster.pinned(n).await];
        for other in nodes.iter().filter(|o| **o != n) {
            publishers.push(cluster.pinned(other).await);
        }
        for (_, subject, sub) in subs.iter_mut() {
            for p in &publishers {
                support::until_routed(p, sub, subject, SLOW).await;
            }
        }
        eprintln!("{n}: all interest back {:?} after restart", back.elapsed());
    }
    let status = cluster.compose(&["ps"]).await;
    assert_eq!(status.to_lowercase().matches("exit").count(), 0, "{status}");
}
