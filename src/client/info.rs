//! The `INFO` the server sends on accept and asynchronously
//! (`docs/protocol.md#info`).
//!
//! Owns the JSON shape (field names and which ones are omitted when unset)
//! and what a client is told ([`Server::client_info`], filled from the
//! server's options and state; the routing core itself never builds one).

use std::net::SocketAddr;

use serde::Serialize;

use crate::config::VERSION;
use crate::server::Server;

/// The `INFO` JSON. Field order follows nats-server's output.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Info {
    pub server_id: String,
    pub server_name: String,
    pub version: String,
    pub proto: u32,
    pub go: String,
    pub host: String,
    pub port: u16,
    pub headers: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub auth_required: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub tls_required: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub tls_verify: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub tls_available: bool,
    pub max_payload: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_ip: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub connect_urls: Vec<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub ldm: bool,
}

impl Info {
    /// The wire form: `INFO <json> \r\n` (nats-server writes a space before
    /// CRLF).
    pub fn to_line(&self) -> Vec<u8> {
        let mut line = b"INFO ".to_vec();
        serde_json::to_writer(&mut line, self).expect("INFO serialises");
        line.extend_from_slice(b" \r\n");
        line
    }
}

/// The toolchain string for the `go` field, which nats-server always sends.
/// We are not built with Go; clients only display it.
pub const TOOLCHAIN: &str = concat!("rust-", env!("CARGO_PKG_VERSION"));

impl Server {
    /// The INFO a client gets.
    pub fn client_info(&self, cid: u64, addr: SocketAddr) -> Info {
        self.client_info_with(cid, addr, self.connect_urls())
    }

    /// [`Server::client_info`] advertising `connect_urls`.
    pub(crate) fn client_info_with(
        &self,
        cid: u64,
        addr: SocketAddr,
        connect_urls: Vec<String>,
    ) -> Info {
        let opts = self.options();
        Info {
            server_id: self.id.clone(),
            server_name: self.name.clone(),
            version: VERSION.to_string(),
            proto: 1,
            go: TOOLCHAIN.to_string(),
            host: opts.host.clone(),
            port: self.client_addr.port(),
            headers: !opts.no_header_support,
            auth_required: self.auth().required(),
            tls_required: opts.tls.is_some() && !opts.allow_non_tls,
            tls_verify: opts.tls.as_ref().is_some_and(|t| t.verify),
            tls_available: opts.tls.is_some() && opts.allow_non_tls,
            max_payload: opts.max_payload,
            client_id: Some(cid),
            client_ip: Some(addr.ip().to_string()),
            cluster: self.cluster.name_if_enabled(),
            connect_urls,
            ..Info::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_layout_and_omitted_fields() {
        let info = Info {
            server_id: "NX".into(),
            server_name: "NX".into(),
            version: "2.10.0".into(),
            proto: 1,
            go: TOOLCHAIN.into(),
            host: "0.0.0.0".into(),
            port: 4222,
            headers: true,
            max_payload: 1048576,
            client_id: Some(4),
            client_ip: Some("127.0.0.1".into()),
            ..Info::default()
        };
        let line = String::from_utf8(info.to_line()).unwrap();
        assert!(line.starts_with("INFO {\"server_id\":\"NX\""));
        assert!(line.ends_with("} \r\n"));
        assert!(!line.contains("auth_required"));
        assert!(!line.contains("connect_urls"));
        assert!(line.contains("\"client_id\":4"));
    }
}
