//! The client's `CONNECT` options (`client-protocol.md` §4).
//!
//! Owns the JSON shape and nats-server's defaults: `verbose`, `pedantic` and
//! `echo` are **true** when absent (so `CONNECT {}` earns a `+OK`), and the
//! same defaults apply to a client that sends ops before any CONNECT. Must
//! never decide anything about authentication; it only carries credentials to
//! `auth`.

use serde::Deserialize;

/// Parsed `CONNECT` JSON. Unknown fields are ignored, as nats-server does.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default)]
pub struct ConnectOptions {
    pub verbose: bool,
    pub pedantic: bool,
    pub tls_required: bool,
    pub auth_token: Option<String>,
    pub user: Option<String>,
    pub pass: Option<String>,
    pub nkey: Option<String>,
    pub sig: Option<String>,
    pub jwt: Option<String>,
    pub name: Option<String>,
    pub lang: Option<String>,
    pub version: Option<String>,
    pub protocol: i64,
    pub echo: bool,
    pub headers: bool,
    pub no_responders: bool,
    pub account: Option<String>,
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
    /// Parses a CONNECT argument. Only malformed JSON is an error here: the
    /// field checks ([`ConnectOptions::check`]) come after authentication,
    /// as in nats-server, so bad credentials win over a bad `protocol`.
    pub fn parse(json: &[u8]) -> Result<ConnectOptions, ConnectError> {
        serde_json::from_slice(json).map_err(|_| ConnectError::Malformed)
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
}
