//! A drop-in replacement for `nats-server` (core NATS) built on tokio.
//!
//! The crate is layered so that data flows one way: socket → [`parser`] →
//! server core and the [`sublist`] subject trie → per-connection outbound
//! buffers → socket. Nothing in the core refers back to the protocol layer.
#![forbid(unsafe_code)]

pub mod config;
pub mod log;
pub mod monitor;
pub mod parser;

pub mod auth;
pub mod client;
pub mod conn;
pub mod listen;
pub mod outbound;
pub mod process;
pub mod route;
pub mod server;
#[cfg(test)]
mod testing;
pub mod tls;
pub mod transform;

pub use process::{cli, launch};
