//! The `INFO` the server sends on accept and asynchronously
//! (`docs/protocol.md#info`), and the server identity.
//!
//! Owns the JSON shape (field names and which ones are omitted when unset),
//! not the decision of what to advertise: the server fills it.

use serde::Serialize;

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

/// A fresh server identity in nats-server's format: an nkey server public key
/// (56 characters starting with `N`).
pub fn new_server_id() -> String {
    nkeys::KeyPair::new_server().public_key()
}

/// The toolchain string for the `go` field, which nats-server always sends.
/// We are not built with Go; clients only display it.
pub const TOOLCHAIN: &str = concat!("rust-", env!("CARGO_PKG_VERSION"));

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_id_format() {
        let id = new_server_id();
        assert_eq!(id.len(), 56);
        assert!(id.starts_with('N'));
        assert_ne!(id, new_server_id());
    }

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
