//! The one test-support module of the integration tests (each test file
//! declares `mod support;` and uses the subset it needs). One file per
//! concern:
//!
//! - `server`: our server in-process and any server binary as a child
//!   process (client, monitor and cluster ports, an optional config file);
//! - `raw`: raw protocol clients (frame by frame, and line by line);
//! - `http`: the HTTP getter for the monitoring endpoints; `monitor`: the
//!   monitoring tests' helpers; `shape`: JSON shape comparison for the
//!   differential monitoring tests;
//! - `ports`: free ports; `wait`: the timeout policy (`QUIET`, `WAIT`,
//!   `SETTLE`, `SLOW`) and the bounded pollers (`eventually`, `until`);
//! - `tools`: where the reference tools are and whether they are here;
//!   `skip`: what a test does when one is missing; `pki`: throwaway TLS;
//! - `tree`: the repository's source files, for the tests that read the code.
//!
//! It never leaves anything behind: child servers, files and directories
//! go with their handles, and every wait is bounded.
//!
//! # Skips are loud
//!
//! Some tests need a reference tool: nats-server 2.9.10, nats-server 2.15.x,
//! nats-py, the Docker engine, compose, or root with network namespaces
//! (`tools::Tool`). The root package's `build.rs` probes for each (the
//! same code, `tools.rs`, included by path) and, when one is missing,
//! emits `cfg(missing_<tool>)` (`missing_nats_server_2_9`,
//! `missing_nats_server_2_15`, `missing_nats_py`, `missing_docker`,
//! `missing_compose`, `missing_netns`) with a cargo warning. Each such test
//! carries `#[cfg_attr(missing_<tool>, ignore = "...")]`, so the test runner
//! lists it as *ignored*, never as passed. Under CI (`CI` set, as
//! `.ci/run` does) nothing is emitted: the test runs, and a missing tool
//! fails it (`skip`). A test that runs and finds its tool missing fails in
//! any case, with a message that says why.
//!
//! The probe reruns when `CI`, `NATS_TEST_HIDE` or `NATS_PY_PYTHON` change
//! and when a place a tool lives changes (the place, or its parent while
//! the place does not exist; after installing where neither existed,
//! `touch build.rs`). It never names a path that does not exist: cargo
//! would rerun it, and rebuild the package, on every build. `NATS_TEST_HIDE=nats-server-2.9,nats-server-2.15,nats-py,
//! docker,compose,netns` (any subset, or `all`) makes tools count as
//! missing, to see the skips; it is ignored under CI.
#![allow(dead_code, unused_imports)] // each test crate uses a different subset

pub mod http;
pub mod monitor;
pub mod pki;
pub mod ports;
pub mod raw;
pub mod server;
pub mod shape;
pub mod skip;
pub mod tools;
pub mod tree;
pub mod wait;

pub use ports::free_port;
pub use raw::{frame_len, info_json, Event, Lines, Raw};
pub use server::{clustered, options, rss_kib, start, until_routed, user, wait_closed, RealServer};
pub use skip::{
    compose_command, nats_py, need, real_2_15, real_2_9, real_binaries, tool_missing, under_ci,
    Tool, REAL_2_15, REAL_2_9,
};
pub use wait::{eventually, timeout, until, QUIET, SETTLE, SLOW, WAIT};
