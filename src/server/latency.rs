//! Service latency tracking (`latency {}` on a service export): a sampled
//! request through a service import remembers when it started and who asked;
//! the first response publishes a `io.nats.server.metric.v1.service_latency`
//! result in the exporting account. Also the client-info JSON that results
//! and `share: true` imports carry, and the server hash in tracked replies.
//!
//! **Must never:** hold the response table's lock while publishing.

use std::sync::atomic::Ordering::Relaxed;
use std::time::{Instant, SystemTime};

use sha2::{Digest, Sha256};

use crate::server::events::{self, rfc3339};
use crate::server::imports::base62;
use crate::server::ConnShared;

/// What a sampled request remembers until its first response.
pub(crate) struct Tracking {
    /// Where the result is published, in the exporting account.
    pub subject: Box<str>,
    /// The requestor's client info (JSON object).
    pub requestor: String,
    pub requestor_rtt: u64,
    /// When the request arrived, and how long the server took to pass it on.
    pub start: SystemTime,
    pub forwarded: Instant,
    pub system: u64,
}

/// Whether this request is sampled (`sampling` percent, 1–100).
pub(crate) fn sampled(sampling: u8) -> bool {
    sampling >= 100 || fastrand::u8(..100) < sampling
}

/// nats-server's 8-character hash of a server name (base62 digits of its
/// SHA-256), which tracked reply subjects end with (before `.T`).
pub fn server_hash(name: &str) -> String {
    const DIGITS: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    Sha256::digest(name.as_bytes())[..8]
        .iter()
        .map(|b| DIGITS[usize::from(*b) % DIGITS.len()] as char)
        .collect()
}

/// A client's info as latency results and shared request info show it
/// (with our server's name, without the name tag).
pub(crate) fn client_info(c: &ConnShared, server: &str) -> String {
    serde_json::to_string(&events::client_info(c, None, Some(server), false)).unwrap_or_default()
}

/// The latency result for a request answered now by `responder`.
pub(crate) fn result(t: &Tracking, responder: Option<&ConnShared>, server: &str) -> String {
    let service = u64::try_from(t.forwarded.elapsed().as_nanos()).unwrap_or(u64::MAX);
    let (responder_json, responder_rtt) = match responder {
        Some(c) => (client_info(c, server), c.rtt_nanos.load(Relaxed)),
        None => ("{}".to_string(), 0),
    };
    let total = service + t.system + t.requestor_rtt + responder_rtt;
    format!(
        "{{\"type\":\"io.nats.server.metric.v1.service_latency\",\"id\":\"{}\",\"timestamp\":\"{}\",\"status\":200,\"requestor\":{},\"responder\":{responder_json},\"start\":\"{}\",\"service\":{service},\"system\":{},\"total\":{total}}}",
        base62(22),
        rfc3339(SystemTime::now()),
        t.requestor,
        rfc3339(t.start),
        t.system,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_hash_is_nats_servers() {
        // Observed on nats-server 2.15.1: a tracked reply of the server with
        // this name ended `.AaoRrI51.T`.
        assert_eq!(
            server_hash("NARRAWUDLTO6MHPJYMUB2R4DL5CBJQ2XAUEQMFKMOXHRWSZZC4K5C6UU"),
            "AaoRrI51"
        );
    }

    #[test]
    fn sampling_bounds() {
        assert!((0..100).all(|_| sampled(100)));
        assert!((0..100).all(|_| !sampled(0)));
    }
}
