//! Routes: the full-mesh cluster protocol between servers
//! (`docs/protocol.md#routes`, the profile that interoperates with 2.9 to
//! 2.15). Cluster membership (listener, solicits, registration, gossip,
//! interest) is `cluster.rs`; one route connection is `connection.rs`; the
//! wire types are `wire.rs`. The registry they fill (`RouteEntry`,
//! `ClusterState`) is the routing core's, `server/routes.rs`, and routing a
//! *local* publish to routes lives in `Server::deliver`.
//!
//! **Must never:** forward a message received from a route to another route
//! (one hop at most), re-announce interest learned from a route, or block
//! the accept loop on a handshake.

mod cluster;
mod connection;
mod wire;

use std::time::Duration;

use crate::config::Options;

/// First PING on a new route, then every `route_ping_interval`.
const FIRST_PING: Duration = Duration::from_secs(1);
/// Route PINGs are capped at this interval (nats-server 2.10+).
const MAX_PING_INTERVAL: Duration = Duration::from_secs(30);
/// Dial timeout and retry delay for solicited routes.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
const RETRY_DELAY: Duration = Duration::from_secs(1);
/// Routes buffer this many times the client `max_pending`, and wait this many
/// times the client `write_deadline`, before being cut.
const ROUTE_BUFFER_FACTOR: u64 = 4;

/// Routes' outbound limits: larger than clients' so that fan-out bursts
/// do not cut the cluster apart.
fn route_limits(opts: &Options) -> (usize, Duration) {
    let pending = opts.max_pending.saturating_mul(ROUTE_BUFFER_FACTOR) as usize;
    let deadline = opts
        .cluster
        .write_deadline
        .unwrap_or(opts.write_deadline * ROUTE_BUFFER_FACTOR as u32);
    (pending, deadline)
}

fn route_ping_interval(opts: &Options) -> Duration {
    opts.cluster
        .ping_interval
        .unwrap_or(opts.ping_interval)
        .min(MAX_PING_INTERVAL)
}
