//! Probes for the real nats-server that the integration tests drive
//! (`NATS_BENCH_SERVER`, else nats-server 2.9.10 where the workspace's tests
//! look for it: `tests/support/tools.rs`) and emits
//! `cfg(missing_nats_server)` when it is missing, so that those tests carry
//! `#[cfg_attr(missing_nats_server, ignore = "...")]` and the runner reports
//! them as ignored. Under CI (`CI` set) nothing is emitted: a missing server
//! makes them fail. Touches nothing but cargo's output.

#[path = "../tests/support/tools.rs"]
mod tools;

use std::path::Path;

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-changed=../tests/support/tools.rs");
    for var in ["CI", "NATS_TEST_HIDE", "NATS_BENCH_SERVER"] {
        println!("cargo::rerun-if-env-changed={var}");
    }
    println!("cargo::rustc-check-cfg=cfg(missing_nats_server)");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let tool = tools::Tool::NatsServer29;
    for p in tool.watched(&root) {
        println!("cargo::rerun-if-changed={}", p.display());
    }
    if tools::under_ci() {
        return;
    }
    let found = match std::env::var("NATS_BENCH_SERVER") {
        Ok(bin) if Path::new(&bin).exists() => Ok(()),
        Ok(bin) => Err(format!("NATS_BENCH_SERVER={bin} does not exist")),
        Err(_) => tool.probe(&root),
    };
    if let Err(why) = found {
        println!("cargo::rustc-cfg=missing_nats_server");
        println!("cargo::warning=nats-bench tests needing a real nats-server are ignored: {why}");
    }
}
