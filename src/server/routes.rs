//! The routing core's view of the cluster: the registered routes
//! ([`RouteEntry`], with the peer's INFO, [`PeerInfo`]) that delivery sends
//! RMSGs to, and the cluster-wide settings ([`ClusterState`]: name, route
//! listener, dials in progress).
//!
//! Only data: the cluster protocol that fills these (accepting, soliciting,
//! gossip, interest) lives in `route/`. Must never import `crate::route`
//! nor do I/O.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};
use serde::Deserialize;

use crate::config::Options;
use crate::server::ConnShared;

/// Cluster-wide settings and state shared by all routes.
pub struct ClusterState {
    enabled: bool,
    name: RwLock<String>,
    dynamic: AtomicBool,
    /// Our route listener's bound address.
    pub(crate) listen: Mutex<Option<SocketAddr>>,
    /// Peers (by server id) we are dialling through gossip right now.
    pub(crate) dialing: Mutex<HashSet<String>>,
    /// Explicit routes being solicited, by URL as written; cancelled when a
    /// reload removes the URL.
    pub(crate) solicits: Mutex<HashMap<String, tokio_util::sync::CancellationToken>>,
}

impl ClusterState {
    pub fn new(opts: &Options) -> Self {
        let dynamic = opts.cluster.name.is_empty();
        let name = if dynamic {
            nkeys::KeyPair::new_server().public_key()[1..23].to_string()
        } else {
            opts.cluster.name.clone()
        };
        Self {
            enabled: opts.cluster.enabled(),
            name: RwLock::new(name),
            dynamic: AtomicBool::new(dynamic),
            listen: Mutex::new(None),
            dialing: Mutex::new(HashSet::new()),
            solicits: Mutex::new(HashMap::new()),
        }
    }

    pub fn enabled(&self) -> bool {
        self.enabled
    }

    pub fn name(&self) -> String {
        self.name.read().clone()
    }

    pub fn is_dynamic(&self) -> bool {
        self.dynamic.load(Relaxed)
    }

    /// The cluster name for client INFO (only when clustering is on).
    pub fn name_if_enabled(&self) -> Option<String> {
        self.enabled.then(|| self.name())
    }

    /// The bound route listener address, once listening.
    pub fn listen_addr(&self) -> Option<SocketAddr> {
        *self.listen.lock()
    }

    /// A dynamic name gives way to a peer's static name (or to a larger
    /// dynamic one), so that a cluster converges on one name.
    pub(crate) fn adopt(&self, peer: &str, peer_dynamic: bool) -> bool {
        if !self.is_dynamic() || peer.is_empty() {
            return false;
        }
        let mut name = self.name.write();
        if *name == peer || (peer_dynamic && peer < name.as_str()) {
            return false;
        }
        *name = peer.to_string();
        if !peer_dynamic {
            self.dynamic.store(false, Relaxed);
        }
        true
    }
}

/// A registered route.
pub struct RouteEntry {
    pub shared: Arc<ConnShared>,
    /// The explicit route URL (as written) this connection was dialled for.
    pub url: Option<String>,
    pub peer: PeerInfo,
    /// The peer's INFO as received, for gossip (with `ip` filled in).
    pub raw: serde_json::Value,
    pub solicited: bool,
}

/// The fields of a peer's route INFO that we use. Unknown fields are kept in
/// [`RouteEntry::raw`] and ignored.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct PeerInfo {
    pub server_id: String,
    pub server_name: String,
    pub version: String,
    pub proto: u32,
    pub host: String,
    pub port: u16,
    pub ip: Option<String>,
    pub cluster: Option<String>,
    pub cluster_dynamic: bool,
    pub connect_urls: Vec<String>,
    pub auth_required: bool,
    pub tls_required: bool,
    pub headers: bool,
    pub max_payload: u64,
    pub ldm: bool,
}
