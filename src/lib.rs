//! A drop-in replacement for `nats-server` (core NATS) built on tokio.
//!
//! The crate is layered so that data flows one way: socket → [`parser`] →
//! server core and the [`sublist`] subject trie → per-connection outbound
//! buffers → socket. Nothing in the core refers back to the protocol layer.
#![forbid(unsafe_code)]

pub mod cli;
pub mod config;
pub mod log;
pub mod monitor;
pub mod parser;

pub mod auth;
pub mod client;
mod client_tls;
pub mod close;
pub mod conn;
pub mod connect;
pub mod info;
pub mod lameduck;
pub mod launch;
pub mod listen;
pub mod outbound;
pub mod permissions;
pub mod reload;
pub mod route;
pub mod server;
pub mod spin;
pub mod subscription;
#[cfg(test)]
mod testing;
pub mod tls;
