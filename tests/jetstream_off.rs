//! JetStream stays off: `--store_dir`/`-sd` without `-js` (the async-nats
//! test helper starts every server so) and a `jetstream` setting that
//! disables JetStream let the binary start and serve clients, with INFO
//! and `/varz` as nats-server 2.15.1 shows them; what would enable
//! JetStream is refused with the same message and exit status as before.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::{Raw, RealServer};

const BIN: &str = env!("CARGO_BIN_EXE_nats-server");

/// A fresh path under the temp dir that does not exist yet.
fn scratch(name: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!("nats-js-off-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&p);
    p
}

/// Connects, checks INFO says nothing of JetStream, and round-trips a
/// message through SUB/PUB.
async fn serves_without_jetstream(server: &RealServer, what: &str) {
    let mut c = Raw::connect(server.addr).await;
    let info = c.info_json();
    assert!(info.get("jetstream").is_none(), "{what}: INFO {info}");
    c.send(b"CONNECT {\"verbose\":false}\r\nSUB foo 1\r\nPUB foo 2\r\nhi\r\nPING\r\n")
        .await;
    c.expect(b"MSG foo 1 2\r\nhi\r\n").await;
    c.expect(b"PONG\r\n").await;
}

#[tokio::test]
async fn store_dir_flag_starts_and_serves() {
    let dir = scratch("flag");
    let d = dir.to_str().unwrap();
    let eq = format!("-sd={d}");
    for args in [&["--store_dir", d][..], &["-sd", d], &[eq.as_str()]] {
        let server = RealServer::start_with(Path::new(BIN), None, args).await;
        serves_without_jetstream(&server, &format!("{args:?}")).await;
    }
    assert!(!dir.exists(), "nats-server does not create the store dir");
}

#[tokio::test]
async fn disabled_jetstream_in_the_file_starts_and_serves() {
    let dir = scratch("file");
    let d = dir.to_str().unwrap();
    for conf in [
        format!("store_dir: \"{d}\""),
        format!("storedir: \"{d}\""),
        "jetstream: disabled".to_string(),
        "jetstream: Disable".to_string(),
        "jetstream: false".to_string(),
        "jetstream: off".to_string(),
        "jetstream { enabled: false }".to_string(),
        format!(
            "jetstream {{\n  enable: false\n  store_dir: \"{d}\"\n  max_mem: 1G\n  domain: hub\n}}"
        ),
        format!("store_dir: \"{d}\"\njetstream: disabled"),
    ] {
        let server = RealServer::start_with(Path::new(BIN), Some(&conf), &[]).await;
        serves_without_jetstream(&server, &conf).await;
    }
    assert!(!dir.exists(), "nats-server does not create the store dir");
}

/// INFO and the `/varz` `jetstream` object are nats-server 2.15.1's with
/// `--store_dir` and JetStream off.
#[tokio::test]
#[cfg_attr(
    missing_nats_server_2_15,
    ignore = "needs nats-server 2.15.x in /opt/natsvenv/bin or .ci/venv/bin"
)]
async fn info_and_varz_match_nats_server_2_15() {
    let real = support::real_2_15("info_and_varz_match_nats_server_2_15");
    let dir = scratch("varz");
    let d = dir.to_str().unwrap();
    let mut seen = Vec::new();
    for bin in [Path::new(BIN), real.as_path()] {
        let port = support::free_port();
        let args = ["--store_dir", d, "-m", &port.to_string()];
        let server = RealServer::start_with(bin, None, &args).await;
        serves_without_jetstream(&server, &bin.display().to_string()).await;
        let varz = support::http::get_json(([127, 0, 0, 1], port).into(), "/varz").await;
        seen.push(varz["jetstream"].clone());
    }
    assert_eq!(seen[0], seen[1], "/varz jetstream: ours, then 2.15.1's");
    assert_eq!(seen[0], serde_json::json!({}));
}

/// Exit status and stderr of the binary run with `args` (and `conf` as
/// `-c`, whose path is returned third); it must exit by itself within
/// ten seconds.
fn refused(args: &[&str], conf: Option<&str>) -> (i32, String, String) {
    let mut cmd = Command::new(BIN);
    let path = conf.map(|text| {
        let p = scratch(&format!("refused-{}.conf", support::free_port()));
        std::fs::write(&p, text).unwrap();
        p
    });
    if let Some(p) = &path {
        cmd.arg("-c").arg(p);
    }
    let mut child = cmd
        .args(args)
        .args(["-a", "127.0.0.1", "-p", "-1"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + support::SETTLE;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{args:?} {conf:?}: the server started instead of refusing");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    let name = path.map(|p| {
        let _ = std::fs::remove_file(&p);
        p.display().to_string()
    });
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        name.unwrap_or_default(),
    )
}

#[test]
fn enabling_forms_are_still_refused() {
    let msg = "nats-server: JetStream is not supported by this server (core NATS only)\n";
    for args in [
        &["-js"][..],
        &["--jetstream"],
        &["-js", "--store_dir", "/tmp/x"],
        &["-sd", "/tmp/x", "--jetstream=true"],
    ] {
        let (code, err, _) = refused(args, None);
        assert_eq!((code, err.as_str()), (1, msg), "{args:?}");
    }
    // A flag enabling it wins over a file disabling it, as in nats-server.
    let (code, err, _) = refused(&["-js"], Some("jetstream: disabled\n"));
    assert_eq!((code, err.as_str()), (1, msg));

    for conf in [
        "jetstream: enabled",
        "jetstream: ENABLE",
        "jetstream: true",
        "jetstream {}",
        "jetstream { store_dir: \"/tmp/x\" }",
        "jetstream { enabled: true }",
    ] {
        let (code, err, file) = refused(&[], Some(conf));
        assert_eq!(code, 1, "{conf}");
        assert_eq!(
            err,
            format!(
                "nats-server: {file}:1:0: field \"jetstream\" is not supported by this server (core NATS only)\n\n"
            ),
            "{conf}"
        );
    }
}
