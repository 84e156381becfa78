//! TLS with rustls: turning a `tls {}` block into server and client
//! configurations.
//!
//! A utility beside the layers, not one of them: it maps configuration to
//! rustls and knows no socket or connection, so the routing core (which
//! holds the client acceptor and rebuilds it on reload), the connection
//! layers and monitoring all use it.
//!
//! Owns certificate and key loading (PEM), client-certificate verification
//! (`verify: true` requires a certificate signed by `ca_file`), the minimum
//! version, and the client side used by solicited routes (trusting `ca_file`,
//! presenting our certificate). The connection code decides *when* to
//! handshake: for clients `client/tls_first.rs` (after the plaintext INFO, or
//! before it with `handshake_first`), for routes before anything else.
//!
//! **Must never:** log key material, or silently fall back to plaintext.

use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};

use crate::config::TlsConfig;

/// A TLS configuration problem, with a message in nats-server's style.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct TlsError(pub String);

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

static TLS13_ONLY: &[&rustls::SupportedProtocolVersion] = &[&rustls::version::TLS13];

fn versions(tls: &TlsConfig) -> &'static [&'static rustls::SupportedProtocolVersion] {
    if tls.min_version == "1.3" {
        TLS13_ONLY
    } else {
        rustls::ALL_VERSIONS
    }
}

fn certs(path: &str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs: Result<Vec<_>, _> = CertificateDer::pem_file_iter(path)
        .map_err(|e| TlsError(format!("error parsing X509 certificate/key pair: {e}")))?
        .collect();
    let certs =
        certs.map_err(|e| TlsError(format!("error parsing X509 certificate/key pair: {e}")))?;
    if certs.is_empty() {
        return Err(TlsError(format!(
            "error parsing certificate file {path}: no certificates"
        )));
    }
    Ok(certs)
}

fn key(path: &str) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_file(path)
        .map_err(|e| TlsError(format!("error parsing X509 certificate/key pair: {e}")))
}

fn roots(ca_file: &str) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    for cert in certs(ca_file)? {
        roots
            .add(cert)
            .map_err(|e| TlsError(format!("failed to parse root ca certificate: {e}")))?;
    }
    Ok(roots)
}

/// The server side of a `tls {}` block.
pub fn server_config(tls: &TlsConfig) -> Result<Arc<ServerConfig>, TlsError> {
    if tls.cert_file.is_empty() || tls.key_file.is_empty() {
        return Err(TlsError(
            "missing 'cert_file' or 'key_file' in TLS configuration".into(),
        ));
    }
    let builder = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(versions(tls))
        .map_err(|e| TlsError(e.to_string()))?;
    let builder = if tls.verify || tls.map {
        if tls.ca_file.is_empty() {
            return Err(TlsError(
                "verify requires a 'ca_file' in TLS configuration".into(),
            ));
        }
        let verifier =
            WebPkiClientVerifier::builder_with_provider(Arc::new(roots(&tls.ca_file)?), provider())
                .build()
                .map_err(|e| TlsError(e.to_string()))?;
        builder.with_client_cert_verifier(verifier)
    } else {
        builder.with_no_client_auth()
    };
    let config = builder
        .with_single_cert(certs(&tls.cert_file)?, key(&tls.key_file)?)
        .map_err(|e| TlsError(format!("error parsing X509 certificate/key pair: {e}")))?;
    Ok(Arc::new(config))
}

/// The client side (solicited routes): trust `ca_file`, present our
/// certificate when one is configured.
pub fn client_config(tls: &TlsConfig) -> Result<Arc<ClientConfig>, TlsError> {
    let builder = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(versions(tls))
        .map_err(|e| TlsError(e.to_string()))?;
    let roots = if tls.ca_file.is_empty() {
        RootCertStore::empty()
    } else {
        roots(&tls.ca_file)?
    };
    let builder = if tls.insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(insecure::NoVerify(provider())))
    } else {
        builder.with_root_certificates(roots)
    };
    let config = if tls.cert_file.is_empty() {
        builder.with_no_client_auth()
    } else {
        builder
            .with_client_auth_cert(certs(&tls.cert_file)?, key(&tls.key_file)?)
            .map_err(|e| TlsError(format!("error parsing X509 certificate/key pair: {e}")))?
    };
    Ok(Arc::new(config))
}

/// The name a solicited route checks the peer's certificate against.
pub fn server_name(host: &str) -> Result<ServerName<'static>, TlsError> {
    ServerName::try_from(host.to_string())
        .map_err(|e| TlsError(format!("invalid TLS server name {host:?}: {e}")))
}

/// `insecure: true` (routes only, as in nats-server): skip verifying the
/// peer's certificate. Off unless configured.
mod insecure {
    use std::sync::Arc;

    use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
    use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
    use rustls::{DigitallySignedStruct, SignatureScheme};

    #[derive(Debug)]
    pub(super) struct NoVerify(pub(super) Arc<rustls::crypto::CryptoProvider>);

    impl ServerCertVerifier for NoVerify {
        fn verify_server_cert(
            &self,
            _: &CertificateDer<'_>,
            _: &[CertificateDer<'_>],
            _: &ServerName<'_>,
            _: &[u8],
            _: UnixTime,
        ) -> Result<ServerCertVerified, rustls::Error> {
            Ok(ServerCertVerified::assertion())
        }

        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls12_signature(
                message,
                cert,
                dss,
                &self.0.signature_verification_algorithms,
            )
        }

        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls13_signature(
                message,
                cert,
                dss,
                &self.0.signature_verification_algorithms,
            )
        }

        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            self.0.signature_verification_algorithms.supported_schemes()
        }
    }
}
