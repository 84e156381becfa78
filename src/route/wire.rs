//! The route protocol's wire types: our INFO ([`RouteInfo`]), the
//! CONNECT a solicitor sends ([`RouteConnect`]), the account and protocol
//! level we speak, and the key of a route's remote interest
//! ([`interest_key`]). The peer's INFO as we read it is
//! `server::routes::PeerInfo`, kept beside the registry that stores it.
//!
//! Only shapes and encodings: must never act on what they carry.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

/// Route protocol level we speak: accounts (every RS+/RS-/RMSG names one).
pub(super) const ROUTE_PROTO: u32 = 2;

/// Our route INFO.
#[derive(Serialize)]
pub(super) struct RouteInfo<'a> {
    pub(super) server_id: &'a str,
    pub(super) server_name: &'a str,
    pub(super) version: &'a str,
    pub(super) proto: u32,
    pub(super) go: &'a str,
    pub(super) host: &'a str,
    pub(super) port: u16,
    pub(super) headers: bool,
    pub(super) max_payload: u32,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub(super) auth_required: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub(super) tls_required: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub(super) tls_verify: bool,
    pub(super) cluster: &'a str,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub(super) cluster_dynamic: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(super) connect_urls: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) ip: Option<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub(super) ldm: bool,
}

/// The CONNECT a solicitor sends.
#[derive(Serialize, Deserialize, Default)]
#[serde(default)]
pub(super) struct RouteConnect {
    pub(super) echo: bool,
    pub(super) verbose: bool,
    pub(super) pedantic: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) user: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) pass: Option<String>,
    pub(super) tls_required: bool,
    pub(super) headers: bool,
    pub(super) name: String,
    pub(super) cluster: String,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub(super) cluster_dynamic: bool,
    /// Only clients send `lang`: its presence means a client dialled the
    /// route port.
    #[serde(skip_serializing)]
    pub(super) lang: Option<String>,
}

/// The key of a route's remote interest in its `subs` map: the account,
/// the subject and the queue, as the peer's `RS+` named them.
pub(super) fn interest_key(account: &str, subject: &str, queue: Option<&str>) -> Bytes {
    match queue {
        None => Bytes::from(format!("{account} {subject}")),
        Some(q) => Bytes::from(format!("{account} {subject} {q}")),
    }
}
