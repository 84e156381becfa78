//! `tls {}` blocks (client and cluster) into [`TlsConfig`] (nats-server
//! `parseTLS` and the file checks of `GenTLSConfig`).
//!
//! Owns the keys, their texts, the cipher and curve names nats-server
//! accepts, and a light check that the certificate, key and CA files exist
//! and contain PEM data. It never builds a TLS acceptor and never parses
//! X.509: a PEM file with a broken certificate passes here and fails when
//! the TLS layer loads it (deliberate difference: nats-server rejects it at
//! configuration time). Deliberate difference: `cert_store`, `certs`,
//! `ocsp_peer` and the `cert_match*` keys are refused as not supported.

use super::apply::{array_of, map_of, str_of, timeout_secs, R};
use super::error::{Diag, DiagKind};
use super::go;
use super::options::TlsConfig;
use super::value::{Kind, Value};

/// Cipher suite names nats-server (Go) accepts in `cipher_suites`.
pub const CIPHER_SUITES: &[&str] = &[
    "TLS_RSA_WITH_RC4_128_SHA",
    "TLS_RSA_WITH_3DES_EDE_CBC_SHA",
    "TLS_RSA_WITH_AES_128_CBC_SHA",
    "TLS_RSA_WITH_AES_128_CBC_SHA256",
    "TLS_RSA_WITH_AES_256_CBC_SHA",
    "TLS_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_ECDSA_WITH_RC4_128_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_RC4_128_SHA",
    "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305",
    "TLS_AES_128_GCM_SHA256",
    "TLS_AES_256_GCM_SHA384",
    "TLS_CHACHA20_POLY1305_SHA256",
];

/// Curve names accepted in `curve_preferences`.
pub const CURVES: &[&str] = &["X25519", "CurveP256", "CurveP384", "CurveP521"];

const UNSUPPORTED: &[&str] = &[
    "cert_store",
    "cert_match_by",
    "cert_match",
    "ca_certs_match",
    "cert_match_skip_invalid",
    "ocsp_peer",
    "certs",
    "certificates",
];

fn expect<T>(v: Option<T>, pos: &Value, what: &str) -> R<T> {
    v.ok_or_else(|| {
        Diag::invalid(
            &pos.pos,
            format!("error parsing tls config, expected '{what}"),
        )
    })
}

/// Parses a `tls` map. `client` is true for the client listener (where
/// `verify_cert_and_check_known_urls` is not allowed).
pub(super) fn parse_tls(v: &Value, client: bool) -> R<TlsConfig> {
    let m = map_of(v)?;
    let mut tc = TlsConfig::default();
    for e in m.iter() {
        let mv = &e.value;
        match e.lower.as_str() {
            "cert_file" => {
                tc.cert_file = expect(mv.as_str(), mv, "cert_file' to be filename")?.into()
            }
            "key_file" => tc.key_file = expect(mv.as_str(), mv, "key_file' to be filename")?.into(),
            "ca_file" => tc.ca_file = expect(mv.as_str(), mv, "ca_file' to be filename")?.into(),
            "insecure" => tc.insecure = expect(mv.as_bool(), mv, "insecure' to be a boolean")?,
            "verify" => tc.verify = expect(mv.as_bool(), mv, "verify' to be a boolean")?,
            "verify_and_map" => {
                let b = expect(mv.as_bool(), mv, "verify_and_map' to be a boolean")?;
                tc.verify |= b;
                tc.map = b;
            }
            "verify_cert_and_check_known_urls" => {
                let b = expect(
                    mv.as_bool(),
                    mv,
                    "verify_cert_and_check_known_urls' to be a boolean",
                )?;
                if b && client {
                    return Err(Diag::invalid(
                        &mv.pos,
                        "verify_cert_and_check_known_urls not supported in this context",
                    ));
                }
                tc.verify |= b;
                tc.verify_cert_and_check_known_urls = b;
            }
            "allow_insecure_cipher_suites" => {
                tc.allow_insecure_cipher_suites = expect(
                    mv.as_bool(),
                    mv,
                    "allow_insecure_cipher_suites' to be a boolean",
                )?
            }
            "cipher_suites" => {
                tc.cipher_suites = names(mv, "cipher_suites", CIPHER_SUITES, "unrecognized cipher")?
            }
            "curve_preferences" => {
                tc.curve_preferences = names(
                    mv,
                    "curve_preferences",
                    CURVES,
                    "unrecognized curve preference",
                )?
            }
            "timeout" => {
                // 0 means "the default", as in nats-server.
                let t = timeout_secs("tls", mv)?;
                tc.timeout = if t.is_zero() {
                    super::options::TLS_TIMEOUT
                } else {
                    t
                };
            }
            "connection_rate_limit" => {
                tc.connection_rate_limit = mv.as_i64().ok_or_else(|| {
                    Diag::invalid(
                        &mv.pos,
                        "error parsing tls config, 'connection_rate_limit' wrong type",
                    )
                })?
            }
            "pinned_certs" => tc.pinned_certs = pinned(mv)?,
            "handshake_first" | "first" | "immediate" => handshake_first(&mut tc, &e.key, mv)?,
            "min_version" => {
                let s = str_of(mv)?;
                if !matches!(s, "1.2" | "1.3") {
                    return Err(Diag::invalid(
                        &mv.pos,
                        format!("error parsing tls config: unknown version: {s}"),
                    ));
                }
                tc.min_version = s.to_string();
            }
            k if UNSUPPORTED.contains(&k) => {
                return Err(Diag {
                    pos: Some(mv.pos.clone()),
                    kind: DiagKind::Unsupported(e.key.clone()),
                })
            }
            _ => {
                return Err(Diag::invalid(
                    &mv.pos,
                    format!("error parsing tls config, unknown field {:?}", e.key),
                ))
            }
        }
    }
    check_files(&tc).map_err(|e| Diag::invalid(&v.pos, e))?;
    Ok(tc)
}

fn names(v: &Value, key: &str, known: &[&str], err: &str) -> R<Vec<String>> {
    let list = array_of(v)?;
    if list.is_empty() {
        return Err(Diag::invalid(
            &v.pos,
            format!("error parsing tls config, '{key}' cannot be empty"),
        ));
    }
    let mut out = Vec::new();
    for it in list {
        let s = str_of(it)?;
        if !known.contains(&s) {
            return Err(Diag::invalid(&it.pos, format!("{err} {s}")));
        }
        out.push(s.to_string());
    }
    Ok(out)
}

fn pinned(v: &Value) -> R<Vec<String>> {
    let Some(list) = v.as_array() else {
        return Err(Diag::invalid(&v.pos, "error parsing tls config, expected 'pinned_certs' to be a list of hex-encoded sha256 of DER encoded SubjectPublicKeyInfo"));
    };
    let mut out = Vec::new();
    for it in list {
        let s = str_of(it)?.to_lowercase();
        if s.len() != 64 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(Diag::invalid(&it.pos, format!("error parsing tls config, 'pinned_certs' key {s} does not look like hex-encoded sha256 of DER encoded SubjectPublicKeyInfo")));
        }
        out.push(s);
    }
    Ok(out)
}

fn handshake_first(tc: &mut TlsConfig, key: &str, v: &Value) -> R<()> {
    match &v.kind {
        Kind::Bool(b) => tc.handshake_first = *b,
        Kind::String(s) => match s.to_lowercase().as_str() {
            "true" | "on" => tc.handshake_first = true,
            "false" | "off" => tc.handshake_first = false,
            "auto" | "auto_fallback" => {
                tc.handshake_first = true;
                tc.handshake_first_fallback = Some(std::time::Duration::from_millis(50));
            }
            // Go accepts any duration; zero or negative means no fallback.
            _ => match go::parse_duration_signed(s) {
                Ok((negative, d)) => {
                    tc.handshake_first = true;
                    tc.handshake_first_fallback = Some(d).filter(|d| !negative && !d.is_zero());
                }
                Err(_) => {
                    return Err(Diag::invalid(
                        &v.pos,
                        format!("field {key:?}'s value {s:?} is invalid"),
                    ))
                }
            },
        },
        _ => {
            return Err(Diag::invalid(
                &v.pos,
                format!(
                    "field {key:?} should be a boolean or a string, got {}",
                    v.go_type()
                ),
            ))
        }
    }
    Ok(())
}

/// The file checks of nats-server's `GenTLSConfig`.
fn check_files(tc: &TlsConfig) -> Result<(), String> {
    let pem = |path: &str, what: &str| -> Result<(), String> {
        let data = std::fs::read(path).map_err(|e| {
            format!(
                "error parsing X509 certificate/key pair: {}",
                go::os_error("open", path, &e)
            )
        })?;
        if !String::from_utf8_lossy(&data).contains("-----BEGIN") {
            return Err(format!(
                "error parsing X509 certificate/key pair: tls: failed to find any PEM data in {what} input"
            ));
        }
        Ok(())
    };
    match (tc.cert_file.is_empty(), tc.key_file.is_empty()) {
        (false, true) => return Err("missing 'key_file' in TLS configuration".into()),
        (true, false) => return Err("missing 'cert_file' in TLS configuration".into()),
        (false, false) => {
            pem(&tc.cert_file, "certificate")?;
            pem(&tc.key_file, "key")?;
        }
        (true, true) => {}
    }
    if !tc.ca_file.is_empty() {
        let data = std::fs::read(&tc.ca_file).map_err(|e| go::os_error("open", &tc.ca_file, &e))?;
        if !String::from_utf8_lossy(&data).contains("-----BEGIN CERTIFICATE-----") {
            return Err("failed to parse root ca certificate".into());
        }
    }
    Ok(())
}

impl TlsConfig {
    /// Checks that the certificate, key and CA files can be read and hold
    /// PEM data (the file checks nats-server makes when loading TLS).
    pub fn check_files(&self) -> Result<(), String> {
        check_files(self)
    }
}
