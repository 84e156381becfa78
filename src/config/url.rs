//! Route URLs (`nats-route://user:pass@host:6222`) parsed with the
//! acceptance rules of Go's `net/url.Parse`, which is what decides whether
//! nats-server accepts a `routes` entry or a `--routes` flag.
//!
//! Owns parsing and printing of one URL; never resolves or connects.
//! Deliberate difference: a port above 65535 is rejected here (Go's parser
//! accepts it and the dial fails later).

use std::fmt;

/// A parsed URL as a route needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteUrl {
    /// The text as written (trimmed).
    pub raw: String,
    /// Lower-cased scheme (`nats-route`, `nats`, `tls`…); may be empty.
    pub scheme: String,
    pub username: Option<String>,
    pub password: Option<String>,
    /// Host name or IP (IPv6 without brackets).
    pub host: String,
    pub port: Option<u16>,
    /// Anything after the authority (path, query, opaque part).
    pub rest: String,
}

/// Why Go's `url.Parse` would refuse the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlError(pub String);

impl fmt::Display for UrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl RouteUrl {
    /// Parses `text` (surrounding whitespace trimmed, as nats-server does).
    pub fn parse(text: &str) -> Result<RouteUrl, UrlError> {
        let raw = text.trim().to_string();
        if raw.bytes().any(|b| b < 0x20 || b == 0x7f) {
            return Err(UrlError("net/url: invalid control character in URL".into()));
        }
        let no_frag = raw.split('#').next().unwrap_or("");
        let (scheme, rest) = split_scheme(no_frag)?;
        let mut url = RouteUrl {
            raw: raw.clone(),
            scheme: scheme.to_lowercase(),
            username: None,
            password: None,
            host: String::new(),
            port: None,
            rest: String::new(),
        };
        let (before_query, _query) = rest.split_once('?').unwrap_or((rest, ""));
        if !before_query.starts_with('/') {
            if !scheme.is_empty() {
                url.rest = rest.to_string();
                return Ok(url);
            }
            let first = before_query.split('/').next().unwrap_or("");
            if first.contains(':') {
                return Err(UrlError(
                    "first path segment in URL cannot contain colon".into(),
                ));
            }
        }
        let Some(after) = before_query.strip_prefix("//") else {
            check_escapes(before_query)?;
            url.rest = rest.to_string();
            return Ok(url);
        };
        let (authority, path) = match after.find('/') {
            Some(i) => (&after[..i], &after[i..]),
            None => (after, ""),
        };
        check_escapes(path)?;
        url.rest = path.to_string();
        let hostport = match authority.rfind('@') {
            Some(i) => {
                let userinfo = &authority[..i];
                if !valid_userinfo(userinfo) {
                    return Err(UrlError("net/url: invalid userinfo".into()));
                }
                match userinfo.split_once(':') {
                    Some((u, p)) => {
                        url.username = Some(unescape(u)?);
                        url.password = Some(unescape(p)?);
                    }
                    None => url.username = Some(unescape(userinfo)?),
                }
                &authority[i + 1..]
            }
            None => authority,
        };
        let (host, port) = split_host(hostport)?;
        url.host = unescape(host)?;
        url.port = match port {
            None | Some("") => None,
            Some(p) => Some(
                p.parse()
                    .map_err(|_| UrlError(format!("invalid port \":{p}\" after host")))?,
            ),
        };
        Ok(url)
    }

    /// The URL with the password replaced by `xxxxx` (Go's `Redacted`).
    pub fn redacted(&self) -> String {
        self.render(true)
    }

    fn render(&self, redact: bool) -> String {
        let mut s = String::new();
        if !self.scheme.is_empty() {
            s.push_str(&self.scheme);
            s.push(':');
        }
        if self.host.is_empty() && self.username.is_none() && !self.rest.starts_with('/') {
            s.push_str(&self.rest);
            return s;
        }
        s.push_str("//");
        if let Some(u) = &self.username {
            s.push_str(u);
            if let Some(p) = &self.password {
                s.push(':');
                s.push_str(if redact { "xxxxx" } else { p });
            }
            s.push('@');
        }
        if self.host.contains(':') {
            s.push_str(&format!("[{}]", self.host));
        } else {
            s.push_str(&self.host);
        }
        if let Some(p) = self.port {
            s.push_str(&format!(":{p}"));
        }
        s.push_str(&self.rest);
        s
    }
}

impl fmt::Display for RouteUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render(false))
    }
}

fn split_scheme(s: &str) -> Result<(&str, &str), UrlError> {
    for (i, c) in s.char_indices() {
        match c {
            'a'..='z' | 'A'..='Z' => {}
            '0'..='9' | '+' | '-' | '.' if i > 0 => {}
            ':' if i == 0 => return Err(UrlError("missing protocol scheme".into())),
            ':' => return Ok((&s[..i], &s[i + 1..])),
            _ => return Ok(("", s)),
        }
    }
    Ok(("", s))
}

fn valid_userinfo(s: &str) -> bool {
    s.chars().all(|c| {
        c.is_ascii_alphanumeric()
            || matches!(
                c,
                '-' | '.'
                    | '_'
                    | ':'
                    | '~'
                    | '!'
                    | '$'
                    | '&'
                    | '\''
                    | '('
                    | ')'
                    | '*'
                    | '+'
                    | ','
                    | ';'
                    | '='
                    | '%'
                    | '@'
            )
    })
}

fn split_host(hostport: &str) -> Result<(&str, Option<&str>), UrlError> {
    if let Some(rest) = hostport.strip_prefix('[') {
        let Some(end) = rest.find(']') else {
            return Err(UrlError("missing ']' in host".into()));
        };
        let after = &rest[end + 1..];
        let port = match after.strip_prefix(':') {
            Some(p) => Some(p),
            None if after.is_empty() => None,
            None => return Err(UrlError(format!("invalid port {after:?} after host"))),
        };
        if let Some(p) = port {
            if !p.bytes().all(|b| b.is_ascii_digit()) {
                return Err(UrlError(format!("invalid port \":{p}\" after host")));
            }
        }
        return Ok((&rest[..end], port));
    }
    match hostport.rfind(':') {
        Some(i) => {
            let p = &hostport[i + 1..];
            if !p.bytes().all(|b| b.is_ascii_digit()) {
                return Err(UrlError(format!("invalid port \":{p}\" after host")));
            }
            Ok((&hostport[..i], Some(p)))
        }
        None => Ok((hostport, None)),
    }
}

fn check_escapes(s: &str) -> Result<(), UrlError> {
    unescape(s).map(|_| ())
}

fn unescape(s: &str) -> Result<String, UrlError> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = b
                .get(i + 1..i + 3)
                .filter(|h| h.iter().all(u8::is_ascii_hexdigit));
            let Some(hex) = hex else {
                let end = (i + 3).min(b.len());
                return Err(UrlError(format!(
                    "invalid URL escape {:?}",
                    String::from_utf8_lossy(&b[i..end])
                )));
            };
            let v = u8::from_str_radix(std::str::from_utf8(hex).unwrap_or("00"), 16).unwrap_or(0);
            out.push(v);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_urls() {
        let u = RouteUrl::parse("nats-route://ruser:T0pS3cr3t@host:6222").unwrap();
        assert_eq!(u.scheme, "nats-route");
        assert_eq!(u.username.as_deref(), Some("ruser"));
        assert_eq!(u.password.as_deref(), Some("T0pS3cr3t"));
        assert_eq!(u.host, "host");
        assert_eq!(u.port, Some(6222));
        assert_eq!(u.to_string(), "nats-route://ruser:T0pS3cr3t@host:6222");
        assert_eq!(u.redacted(), "nats-route://ruser:xxxxx@host:6222");
        let v6 = RouteUrl::parse("nats://[::1]:6222").unwrap();
        assert_eq!((v6.host.as_str(), v6.port), ("::1", Some(6222)));
    }

    #[test]
    fn go_rejections() {
        assert!(RouteUrl::parse("127.0.0.1:6222").is_err());
        assert!(RouteUrl::parse("nats://host:abc").is_err());
        assert!(RouteUrl::parse("nats://ho%zzst:1").is_err());
        assert!(RouteUrl::parse(":6222").is_err());
        // Go accepts these (scheme "localhost", opaque "6222").
        assert!(RouteUrl::parse("localhost:6222").is_ok());
        assert!(RouteUrl::parse("nats://host").is_ok());
    }
}
