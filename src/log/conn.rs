//! Connection prefixes and protocol trace lines.
//!
//! Owns the text nats-server puts in front of every connection-scoped line
//! and the shape of `[TRC]` lines, matching nats-server 2.15 (checked against
//! 2.9.10 and 2.15.1 output):
//!
//! * prefix `127.0.0.1:54321 - cid:5` (clients) or `… - rid:5` (routes);
//!   after CONNECT a client prefix gains the Go-quoted descriptor built from
//!   `version`, `lang`, `name` (`"v1.2.3:go:svc-a"`, `"python:svc-a"`,
//!   `"svc-a"`), and in 2.12+ the auth identity (`"$G/user:alice"`), each
//!   cut to [`super::CLIENT_TEXT_MAX`] bytes (nats-server keeps them whole);
//! * op traces `<prefix> - <<- [PUB foo r 5]`, `->>` outbound, `<->`
//!   internal;
//! * payload traces `<prefix> - <<- MSG_PAYLOAD: ["hello"]`, Go-quoted, cut
//!   to `max_traced_msg_len` raw bytes and marked `["hell..."]`; empty
//!   payloads produce no line (2.15; 2.9.10 printed `[""]` and cut the quoted
//!   text mid-escape);
//! * CONNECT secrets redacted with nats-server 2.15's two patterns: values of
//!   any key starting `pass` or `auth_token`, and of `sig`, `proxy_sig`,
//!   `nkey`. The patterns are deliberately the same regular expressions, so
//!   they over-redact the same way (a `"name":"passenger"` hides the next
//!   value), which errs on the side of not leaking.
//!
//! The free functions check [`super::trace_enabled`] first and return before
//! touching the arguments, so a disabled trace costs one relaxed load and no
//! allocation. Non-UTF-8 bytes in an op line are shown as U+FFFD (Go would
//! write them raw); payloads are quoted, so they never lose bytes.

use std::borrow::Cow;
use std::fmt::{self, Write as _};
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use regex::bytes::Regex;

use super::clip::clip_quoted;
use super::quote::go_quote_inner;

/// What kind of connection a prefix names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnKind {
    /// `cid:N`
    Client,
    /// `rid:N`
    Route,
}

/// The pre-rendered `"<ip>:<port> - cid:<n>[ - \"<descriptor>\"]"` text a
/// connection puts in front of its log lines (nats-server's `client.String()`).
///
/// Rendered once when the connection is created and again after CONNECT, so
/// logging a line does not format an address each time.
/// Display prints it without the trailing ` - `:
/// `log::debug!("{prefix} - Client connection created")`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnPrefix {
    base_len: usize,
    /// Shared with the connection's /connz metadata ([`ConnPrefix::shared`]).
    text: Arc<str>,
}

impl ConnPrefix {
    /// `127.0.0.1:54321 - cid:5` / `127.0.0.1:6222 - rid:2`. IPv6 peers print
    /// as `[::1]:54321`, like Go's `net.JoinHostPort`.
    pub fn new(addr: SocketAddr, kind: ConnKind, id: u64) -> ConnPrefix {
        let tag = match kind {
            ConnKind::Client => "cid",
            ConnKind::Route => "rid",
        };
        let text = format!("{addr} - {tag}:{id}");
        ConnPrefix {
            base_len: text.len(),
            text: text.into(),
        }
    }

    /// A client prefix (`cid:N`).
    pub fn client(addr: SocketAddr, cid: u64) -> ConnPrefix {
        ConnPrefix::new(addr, ConnKind::Client, cid)
    }

    /// A route prefix (`rid:N`).
    pub fn route(addr: SocketAddr, rid: u64) -> ConnPrefix {
        ConnPrefix::new(addr, ConnKind::Route, rid)
    }

    /// The prefix after CONNECT: the base followed by the quoted descriptor
    /// (see [`client_descriptor`]) and, when given, the quoted auth identity
    /// such as `$G/user:alice` (2.12+). Empty parts are left out; calling it
    /// again replaces what an earlier call added.
    pub fn described(
        &self,
        version: &str,
        lang: &str,
        name: &str,
        identity: Option<&str>,
    ) -> ConnPrefix {
        let mut text = self.text[..self.base_len].to_string();
        let descriptor = client_descriptor(version, lang, name);
        for part in [descriptor.as_deref(), identity.filter(|s| !s.is_empty())]
            .into_iter()
            .flatten()
        {
            text.push_str(" - ");
            // The peer chose these: bounded, as every peer value in a line.
            write!(text, "{}", clip_quoted(part)).expect("writing to a String");
        }
        ConnPrefix {
            base_len: self.base_len,
            text: text.into(),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The text, shared rather than copied.
    pub fn shared(&self) -> Arc<str> {
        self.text.clone()
    }
}

impl fmt::Display for ConnPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// nats-server's client descriptor: `v<version>`, `lang`, `name` joined by
/// `:` (each only when non-empty). `None` when all three are empty.
pub fn client_descriptor(version: &str, lang: &str, name: &str) -> Option<String> {
    let mut d = String::new();
    if !version.is_empty() {
        d.push('v');
        d.push_str(version);
    }
    for part in [lang, name] {
        if !part.is_empty() {
            if !d.is_empty() {
                d.push(':');
            }
            d.push_str(part);
        }
    }
    (!d.is_empty()).then_some(d)
}

/// Direction marker of a trace line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TraceDir {
    /// `<<-` received from the peer.
    In,
    /// `->>` sent to the peer.
    Out,
    /// `<->` internal to the server (e.g. `DELSUB` on close).
    Internal,
}

impl TraceDir {
    pub fn marker(self) -> &'static str {
        match self {
            TraceDir::In => "<<-",
            TraceDir::Out => "->>",
            TraceDir::Internal => "<->",
        }
    }
}

/// The message of an op trace line: `<prefix> - <<- [PUB foo r 5]`.
/// `CONNECT` lines (any case, either direction) are redacted with
/// [`redact_secrets`]; nats-server only traces inbound ones, but a route's
/// outbound CONNECT carries its credentials too.
pub fn format_op_trace(prefix: &ConnPrefix, dir: TraceDir, op_line: &[u8]) -> String {
    let op_line: Cow<'_, [u8]> = if is_connect(op_line) {
        redact_secrets(op_line)
    } else {
        Cow::Borrowed(op_line)
    };
    let op = String::from_utf8_lossy(&op_line);
    let mut s = String::with_capacity(prefix.as_str().len() + op.len() + 10);
    s.push_str(prefix.as_str());
    s.push_str(" - ");
    s.push_str(dir.marker());
    s.push_str(" [");
    s.push_str(&op);
    s.push(']');
    s
}

/// The message of a payload trace line:
/// `<prefix> - <<- MSG_PAYLOAD: ["hello"]`, truncated to `max_len` raw bytes
/// (0 = no limit) as `["hell..."]`. `payload` excludes the trailing CRLF.
/// `None` for an empty payload.
pub fn format_payload_trace(
    prefix: &ConnPrefix,
    dir: TraceDir,
    payload: &[u8],
    max_len: usize,
) -> Option<String> {
    if payload.is_empty() {
        return None;
    }
    let mut s = String::with_capacity(prefix.as_str().len() + payload.len() + 30);
    s.push_str(prefix.as_str());
    s.push_str(" - ");
    s.push_str(dir.marker());
    s.push_str(" MSG_PAYLOAD: [\"");
    if max_len > 0 && payload.len() > max_len {
        go_quote_inner(&mut s, &payload[..max_len]);
        s.push_str("...");
    } else {
        go_quote_inner(&mut s, payload);
    }
    s.push_str("\"]");
    Some(s)
}

fn is_connect(op_line: &[u8]) -> bool {
    op_line.len() >= 7 && op_line[..7].eq_ignore_ascii_case(b"CONNECT")
}

fn patterns() -> &'static [Regex; 2] {
    static PATTERNS: OnceLock<[Regex; 2]> = OnceLock::new();
    PATTERNS.get_or_init(|| {
        // nats-server 2.15 `prefixAuthPat` and `exactAuthPat`; `(?-u)` gives
        // Go's ASCII-only `\s`/`\S` and byte-wise classes.
        [
            Regex::new(r#"(?-u)"?\s*(?:auth_token\S*?|pass\S*?)"?\s*[:=]\s*"?([^",\r\n}]*)"#)
                .expect("static pattern"),
            Regex::new(
                r#"(?-u)(?:^|[^A-Za-z0-9_])"?\s*(?:proxy_sig|nkey|sig)"?\s*[:=]\s*"?([^",\r\n}]*)"#,
            )
            .expect("static pattern"),
        ]
    })
}

/// Replaces the values of password, token, signature and nkey fields in a
/// CONNECT line with `[REDACTED]`, exactly as nats-server 2.15 does.
/// Borrows the input when there is nothing to redact.
pub fn redact_secrets(arg: &[u8]) -> Cow<'_, [u8]> {
    let [prefix_pat, exact_pat] = patterns();
    let once = redact(prefix_pat, Cow::Borrowed(arg));
    redact(exact_pat, once)
}

fn redact<'a>(pat: &Regex, proto: Cow<'a, [u8]>) -> Cow<'a, [u8]> {
    let spans: Vec<(usize, usize)> = pat
        .captures_iter(&proto)
        .filter_map(|c| c.get(1).map(|m| (m.start(), m.end())))
        .collect();
    if spans.is_empty() {
        return proto;
    }
    let mut out = Vec::with_capacity(proto.len() + spans.len() * 10);
    let mut at = 0;
    for (start, end) in spans {
        out.extend_from_slice(&proto[at..start]);
        out.extend_from_slice(b"[REDACTED]");
        at = end;
    }
    out.extend_from_slice(&proto[at..]);
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(b: Cow<'_, [u8]>) -> String {
        String::from_utf8(b.into_owned()).unwrap()
    }

    #[test]
    fn redaction_leaves_clean_lines_borrowed() {
        let line = br#"CONNECT {"verbose":false,"name":"x"}"#;
        assert!(matches!(redact_secrets(line), Cow::Borrowed(_)));
    }

    #[test]
    fn redaction_matches_nats_server_2_15() {
        // Inputs sent to nats-server 2.15.1 with -V, outputs copied from its log.
        assert_eq!(
            s(redact_secrets(br#"CONNECT {"verbose":false,"pedantic":false,"user":"bob","pass":"s3cr3t","auth_token":"tok","name":"svc-a","lang":"python","version":"1.2.3","password":"pw2"}"#)),
            r#"CONNECT {"verbose":false,"pedantic":false,"user":"bob","pass":"[REDACTED]","auth_token":"[REDACTED]","name":"svc-a","lang":"python","version":"1.2.3","password":"[REDACTED]"}"#
        );
        assert_eq!(
            s(redact_secrets(br#"CONNECT {"name":"passenger","lang":"go","nkey":"UABC","sig":"xyz","jwt":"eyJ","proxy_sig":"p"}"#)),
            r#"CONNECT {"name":"passenger","lang":"[REDACTED]","nkey":"[REDACTED]","sig":"[REDACTED]","jwt":"eyJ","proxy_sig":"[REDACTED]"}"#
        );
        assert_eq!(
            s(redact_secrets(
                br#"CONNECT {"user":"a", "pass" : "b c", "auth_token":"t"}"#
            )),
            r#"CONNECT {"user":"a", "pass" : "[REDACTED]", "auth_token":"[REDACTED]"}"#
        );
        assert_eq!(
            s(redact_secrets(br#"CONNECT {"password":"p1","pass":"p2"}"#)),
            r#"CONNECT {"password":"[REDACTED]","pass":"[REDACTED]"}"#
        );
    }

    #[test]
    fn described_prefix_bounds_the_client_parts() {
        let base = ConnPrefix::client("127.0.0.1:4222".parse().unwrap(), 7);
        let name = "K".repeat(100_000);
        let user = "u".repeat(1_000);
        let p = base.described("1.2.3", "go", &name, Some(&user));
        let want = format!(
            "127.0.0.1:4222 - cid:7 - \"v1.2.3:go:{}...\" - \"{}...\"",
            "K".repeat(super::super::CLIENT_TEXT_MAX - 10),
            "u".repeat(super::super::CLIENT_TEXT_MAX)
        );
        assert_eq!(p.as_str(), want);
        let short = base.described("1.2.3", "go", "svc-a", None);
        assert_eq!(
            short.as_str(),
            r#"127.0.0.1:4222 - cid:7 - "v1.2.3:go:svc-a""#
        );
    }

    #[test]
    fn descriptor_combinations() {
        assert_eq!(
            client_descriptor("1.2.3", "go", "svc-a").as_deref(),
            Some("v1.2.3:go:svc-a")
        );
        assert_eq!(client_descriptor("", "", "svc-a").as_deref(), Some("svc-a"));
        assert_eq!(
            client_descriptor("", "python", "svc").as_deref(),
            Some("python:svc")
        );
        assert_eq!(
            client_descriptor("1.0", "", "svc").as_deref(),
            Some("v1.0:svc")
        );
        assert_eq!(client_descriptor("1.0", "", "").as_deref(), Some("v1.0"));
        assert_eq!(client_descriptor("", "", ""), None);
    }
}
