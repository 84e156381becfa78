//! What a test does when a reference tool it needs is missing at run time:
//! it fails, loudly, always. A test is *skipped* only by the build-time
//! probe (`build.rs`), which marks it `#[ignore]` outside CI (see
//! `tests/support/mod.rs`). Never returns early as if the test passed.

use std::path::{Path, PathBuf};

pub use super::tools::{under_ci, Tool, REAL_2_15, REAL_2_9};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Fails `test`, which needs `tool`, missing for reason `why`.
pub fn tool_missing(tool: Tool, test: &str, why: &str) -> ! {
    if under_ci() {
        panic!(
            "{test} needs {}, which .ci/run installs: missing ({why})",
            tool.what()
        );
    }
    panic!(
        "{test} needs {}: missing ({why}). The test ran anyway (`--include-ignored`, or the \
         tool went after the build: `touch build.rs` to have it reported as ignored); install it",
        tool.what()
    );
}

/// Fails `test` unless `tool` is here.
pub fn need(tool: Tool, test: &str) {
    if let Err(why) = tool.probe(root()) {
        tool_missing(tool, test, &why);
    }
}

fn found<T>(tool: Tool, test: &str, r: Result<T, String>) -> T {
    if super::tools::hidden(tool) {
        tool_missing(tool, test, "hidden by NATS_TEST_HIDE");
    }
    r.unwrap_or_else(|why| tool_missing(tool, test, &why))
}

/// nats-server 2.9.10 ([`REAL_2_9`]).
pub fn real_2_9(test: &str) -> PathBuf {
    found(Tool::NatsServer29, test, super::tools::find_2_9())
}

/// nats-server 2.15.x ([`REAL_2_15`] or `.ci/venv/bin/nats-server`).
pub fn real_2_15(test: &str) -> PathBuf {
    found(Tool::NatsServer215, test, super::tools::find_2_15(root()))
}

/// Both real nats-servers, 2.9.10 first.
pub fn real_binaries(test: &str) -> Vec<PathBuf> {
    vec![real_2_9(test), real_2_15(test)]
}

/// A Python with nats-py and nkeys: `NATS_PY_PYTHON`, `.ci/venv` (made by
/// `.ci/run`) or /opt/natsvenv.
pub fn nats_py(test: &str) -> PathBuf {
    found(Tool::NatsPy, test, super::tools::find_nats_py(root()))
}

/// How to run `docker compose`.
pub fn compose_command(test: &str) -> Vec<String> {
    found(Tool::Compose, test, super::tools::compose_command())
}
