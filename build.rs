//! Probes for the reference tools that some integration tests need
//! (tests/support/tools.rs) and emits `cfg(missing_<tool>)` for each one
//! that is missing, so that those tests carry
//! `#[cfg_attr(missing_<tool>, ignore = "...")]` and the test runner
//! reports them as ignored. Under CI (`CI` set) nothing is ever emitted: a
//! missing tool makes its tests fail. Touches nothing but cargo's output.

#[path = "tests/support/tools.rs"]
mod tools;

use std::path::Path;
use tools::Tool;

fn main() {
    let root = std::env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR");
    let root = Path::new(&root);
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-changed=tests/support/tools.rs");
    for var in ["CI", "NATS_TEST_HIDE", "NATS_PY_PYTHON"] {
        println!("cargo::rerun-if-env-changed={var}");
    }
    let ci = tools::under_ci();
    for tool in Tool::ALL {
        println!("cargo::rustc-check-cfg=cfg({})", tool.cfg());
        for p in tool.watched(root) {
            println!("cargo::rerun-if-changed={}", p.display());
        }
        if ci {
            continue;
        }
        if let Err(why) = tool.probe(root) {
            println!("cargo::rustc-cfg={}", tool.cfg());
            println!(
                "cargo::warning=tests needing {} are ignored: {why}",
                tool.what()
            );
        }
    }
}
