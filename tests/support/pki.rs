//! A throwaway PKI for TLS tests: a CA, a server certificate for
//! localhost/127.0.0.1, a client certificate from the CA and one from an
//! unknown CA, written to a temporary directory that lives as long as the
//! [`Pki`]; a `tls {}` block ([`TlsConfig`]) using them, and a client
//! connector that trusts the CA ([`Pki::connector`]).

use std::path::PathBuf;
use std::sync::Arc;

use nats_server::config::TlsConfig;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};

/// The PKI's files (removed when `_dir` drops).
pub struct Pki {
    pub _dir: tempfile::TempDir,
    pub ca: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
    pub rogue_cert: PathBuf,
    pub rogue_key: PathBuf,
}

impl Pki {
    /// A TLS client that trusts this PKI's CA (no client certificate).
    pub fn connector(&self) -> tokio_rustls::TlsConnector {
        use rustls_pki_types::pem::PemObject;
        let mut roots = rustls::RootCertStore::empty();
        for cert in rustls_pki_types::CertificateDer::pem_file_iter(&self.ca).unwrap() {
            roots.add(cert.unwrap()).unwrap();
        }
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
        tokio_rustls::TlsConnector::from(Arc::new(config))
    }
}

fn ca(name: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap()
}

pub fn pki() -> Pki {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: String| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    let issuer = ca("test ca");
    let rogue_ca = ca("rogue ca");
    let leaf = |names: Vec<String>, by: &CertifiedIssuer<'static, KeyPair>| {
        let key = KeyPair::generate().unwrap();
        let cert = CertificateParams::new(names)
            .unwrap()
            .signed_by(&key, by)
            .unwrap();
        (cert.pem(), key.serialize_pem())
    };
    let (sc, sk) = leaf(vec!["localhost".into(), "127.0.0.1".into()], &issuer);
    let (cc, ck) = leaf(vec!["client".into()], &issuer);
    let (rc, rk) = leaf(vec!["client".into()], &rogue_ca);
    Pki {
        ca: write("ca.pem", issuer.pem()),
        server_cert: write("server.pem", sc),
        server_key: write("server.key", sk),
        client_cert: write("client.pem", cc),
        client_key: write("client.key", ck),
        rogue_cert: write("rogue.pem", rc),
        rogue_key: write("rogue.key", rk),
        _dir: dir,
    }
}

pub fn tls_config(p: &Pki, verify: bool) -> TlsConfig {
    TlsConfig {
        cert_file: p.server_cert.display().to_string(),
        key_file: p.server_key.display().to_string(),
        ca_file: p.ca.display().to_string(),
        verify,
        ..TlsConfig::default()
    }
}
