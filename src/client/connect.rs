//! The client's `CONNECT` options (`docs/protocol.md#connect`).
//!
//! Owns the JSON shape and nats-server's defaults: `verbose`, `pedantic` and
//! `echo` are **true** when absent (so `CONNECT {}` earns a `+OK`), and the
//! same defaults apply to a client that sends ops before any CONNECT. Must
//! never decide anything about authentication; it only carries credentials to
//! `auth`.
//!
//! nats-server decodes each CONNECT with Go's `json.Unmarshal` into the
//! options already in force, and we copy what that means on the wire
//! ([`ConnectOptions::apply`]): a second CONNECT changes only the fields it
//! names, `null` changes nothing (`CONNECT null` is accepted), keys match
//! field names case-insensitively (the last one wins), and anything but an
//! object or `null` is malformed. The same decoding decides whether an `INFO`
//! from a client is acceptable ([`client_info_decodes`]).

use std::fmt;
use std::sync::Arc;

use serde::de::{Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Parsed `CONNECT` JSON. Unknown fields are ignored, as nats-server does.
/// Strings are `Arc<str>`: /connz and the closed-connection records share
/// them instead of copying (part of what an idle connection costs).
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct ConnectOptions {
    pub verbose: bool,
    pub pedantic: bool,
    pub tls_required: bool,
    pub auth_token: Option<Arc<str>>,
    pub user: Option<Arc<str>>,
    pub pass: Option<Arc<str>>,
    pub nkey: Option<Arc<str>>,
    pub sig: Option<Arc<str>>,
    pub jwt: Option<Arc<str>>,
    pub name: Option<Arc<str>>,
    pub lang: Option<Arc<str>>,
    pub version: Option<Arc<str>>,
    pub protocol: i64,
    pub echo: bool,
    pub headers: bool,
    pub no_responders: bool,
    pub account: Option<Arc<str>>,
    pub new_account: Option<bool>,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        Self {
            verbose: true,
            pedantic: true,
            tls_required: false,
            auth_token: None,
            user: None,
            pass: None,
            nkey: None,
            sig: None,
            jwt: None,
            name: None,
            lang: None,
            version: None,
            protocol: 0,
            echo: true,
            headers: false,
            no_responders: false,
            account: None,
            new_account: None,
        }
    }
}

/// Why a CONNECT was refused (before credentials are checked).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnectError {
    /// Not JSON: a silent close (Protocol Violation).
    Malformed,
    /// `protocol` other than 0 or 1.
    InvalidProtocol,
    /// `no_responders` without `headers`.
    NoRespondersRequiresHeaders,
}

impl ConnectError {
    /// The `-ERR` text, if nats-server sends one.
    pub fn err_text(self) -> Option<&'static str> {
        match self {
            ConnectError::Malformed => None,
            ConnectError::InvalidProtocol => Some("invalid client protocol"),
            ConnectError::NoRespondersRequiresHeaders => {
                Some("no responders requires headers support")
            }
        }
    }
}

impl ConnectOptions {
    /// Parses a first CONNECT argument (over the defaults). Only malformed
    /// JSON is an error here: the field checks ([`ConnectOptions::check`])
    /// come after authentication, as in nats-server, so bad credentials win
    /// over a bad `protocol`.
    pub fn parse(json: &[u8]) -> Result<ConnectOptions, ConnectError> {
        ConnectOptions::default().apply(json)
    }

    /// Decodes a CONNECT argument over these options, as Go's
    /// `json.Unmarshal` into the existing struct does (see the module docs).
    pub fn apply(&self, json: &[u8]) -> Result<ConnectOptions, ConnectError> {
        let Fields(fields) = serde_json::from_slice(json).map_err(|_| ConnectError::Malformed)?;
        let Some(fields) = fields else {
            return Ok(self.clone());
        };
        let Ok(Value::Object(mut merged)) = serde_json::to_value(self) else {
            unreachable!("ConnectOptions serialises to an object");
        };
        for (key, value) in fields {
            if !value.is_null() {
                merged.insert(key.to_ascii_lowercase(), value);
            }
        }
        serde_json::from_value(Value::Object(merged)).map_err(|_| ConnectError::Malformed)
    }

    /// Whether the client named an account (`account` non-empty or
    /// `new_account` true), which nats-server refuses as an Authorization
    /// Violation. Empty and false values are accepted.
    pub fn names_account(&self) -> bool {
        self.account.as_deref().is_some_and(|a| !a.is_empty()) || self.new_account == Some(true)
    }

    /// Checks `protocol` and `no_responders` once the client is
    /// authenticated. `headers` is the negotiated header support (the
    /// client asked for it and the server has it enabled).
    pub fn check(&self, headers: bool) -> Result<(), ConnectError> {
        if !(0..=1).contains(&self.protocol) {
            return Err(ConnectError::InvalidProtocol);
        }
        if self.no_responders && !headers {
            return Err(ConnectError::NoRespondersRequiresHeaders);
        }
        Ok(())
    }
}

/// Whether an `INFO` sent by a client decodes as nats-server's `Info`:
/// nats-server ignores a client's INFO but closes the connection (silently)
/// when `json.Unmarshal` fails — not an object or `null`, trailing bytes, or
/// a wrongly typed field. The commonly sent fields are type-checked, with
/// Go's case-insensitive key matching.
pub fn client_info_decodes(json: &[u8]) -> bool {
    /// nats-server's `Info` fields a client could plausibly send, with
    /// their Go types.
    #[derive(Deserialize)]
    #[allow(dead_code)] // only decoded, to check the types
    struct GoInfo {
        server_id: Option<String>,
        server_name: Option<String>,
        version: Option<String>,
        proto: Option<i64>,
        git_commit: Option<String>,
        go: Option<String>,
        host: Option<String>,
        port: Option<i64>,
        headers: Option<bool>,
        auth_required: Option<bool>,
        tls_required: Option<bool>,
        tls_verify: Option<bool>,
        tls_available: Option<bool>,
        max_payload: Option<i32>,
        jetstream: Option<bool>,
        client_id: Option<u64>,
        client_ip: Option<String>,
        nonce: Option<String>,
        cluster: Option<String>,
        connect_urls: Option<Vec<String>>,
        ldm: Option<bool>,
    }
    let Ok(Fields(fields)) = serde_json::from_slice(json) else {
        return false;
    };
    let map: serde_json::Map<String, Value> = fields
        .unwrap_or_default()
        .into_iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, v)| (k.to_ascii_lowercase(), v))
        .collect();
    serde_json::from_value::<GoInfo>(Value::Object(map)).is_ok()
}

/// A JSON object's members in document order, or `None` for `null`.
struct Fields(Option<Vec<(String, Value)>>);

impl<'de> Deserialize<'de> for Fields {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Fields;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object or null")
            }
            fn visit_unit<E>(self) -> Result<Fields, E> {
                Ok(Fields(None))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Fields, A::Error> {
                let mut fields = Vec::new();
                while let Some(entry) = map.next_entry::<String, Value>()? {
                    fields.push(entry);
                }
                Ok(Fields(Some(fields)))
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_nats_server() {
        let o = ConnectOptions::parse(b"{}").unwrap();
        assert!(o.verbose && o.pedantic && o.echo);
        assert!(!o.headers && !o.no_responders);
        assert_eq!(o.protocol, 0);
    }

    #[test]
    fn fields_and_errors() {
        let o = ConnectOptions::parse(br#"{"verbose":false,"pedantic":false,"echo":false,"headers":true,"no_responders":true,"protocol":1,"name":"svc","lang":"go","version":"1.2.3","user":"a","pass":"b","extra":5}"#).unwrap();
        assert!(!o.verbose && !o.pedantic && !o.echo && o.headers && o.no_responders);
        assert_eq!(o.name.as_deref(), Some("svc"));
        assert_eq!(
            ConnectOptions::parse(b"{nope"),
            Err(ConnectError::Malformed)
        );
        for bad in [
            &b"[]"[..],
            b"1",
            b"\"x\"",
            b"{} x",
            b"{\"verbose\":\"yes\"}",
        ] {
            assert_eq!(ConnectOptions::parse(bad), Err(ConnectError::Malformed));
        }
        let check = |json: &[u8], headers| ConnectOptions::parse(json).unwrap().check(headers);
        assert_eq!(
            check(br#"{"protocol":2}"#, false),
            Err(ConnectError::InvalidProtocol)
        );
        assert_eq!(
            check(br#"{"no_responders":true}"#, false),
            Err(ConnectError::NoRespondersRequiresHeaders)
        );
        // The server's header support counts, not only the client's request.
        let both = br#"{"headers":true,"no_responders":true}"#;
        assert_eq!(check(both, true), Ok(()));
        assert_eq!(
            check(both, false),
            Err(ConnectError::NoRespondersRequiresHeaders)
        );
    }

    #[test]
    fn decodes_like_go_unmarshal_into_the_options_in_force() {
        let first = ConnectOptions::parse(br#"{"verbose":false,"echo":false}"#).unwrap();
        // Absent fields keep their values; null changes nothing.
        let second = first.apply(br#"{"pedantic":false,"echo":null}"#).unwrap();
        assert!(!second.verbose && !second.echo && !second.pedantic);
        assert_eq!(first.apply(b"null").unwrap(), first);
        assert_eq!(
            ConnectOptions::parse(b"null").unwrap(),
            ConnectOptions::default()
        );
        // Keys match case-insensitively; the last one wins.
        let o = ConnectOptions::parse(br#"{"verbose":false,"VERBOSE":true,"Echo":false}"#).unwrap();
        assert!(o.verbose && !o.echo);
        let o = ConnectOptions::parse(br#"{"Verbose":true,"verbose":false}"#).unwrap();
        assert!(!o.verbose);
    }

    #[test]
    fn client_info_must_decode_as_go_would() {
        for ok in [
            &b"{}"[..],
            b"null",
            b"{\"port\":4222,\"foo\":[1]}",
            b"{\"Port\":null}",
        ] {
            assert!(client_info_decodes(ok), "{}", String::from_utf8_lossy(ok));
        }
        for bad in [
            &b""[..],
            b"x",
            b"[]",
            b"{} x",
            b"{\"port\":\"x\"}",
            b"{\"PORT\":\"x\"}",
        ] {
            assert!(
                !client_info_decodes(bad),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn only_a_named_account_counts() {
        let named = |json: &[u8]| ConnectOptions::parse(json).unwrap().names_account();
        assert!(named(br#"{"account":"A"}"#));
        assert!(named(br#"{"new_account":true}"#));
        assert!(!named(br#"{"account":""}"#));
        assert!(!named(br#"{"new_account":false}"#));
        assert!(!named(b"{}"));
    }
}
