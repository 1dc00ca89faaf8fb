//! The agent's TLS configurations (rustls with ring): one for the service, one for tenant URLs.
//!
//! Both trust the system's roots (`SSL_CERT_FILE` and `SSL_CERT_DIR` honoured) and the CA bundles configured. Tenant
//! URLs may also be trusted by an explicitly pinned certificate: the SHA-256 fingerprint of the exact certificate
//! the endpoint presents, the usual way to trust a self-signed `localhost` certificate on premises. A pinned
//! certificate is accepted whatever its name, issuer or dates (the operator vouched for that very certificate);
//! the handshake's signatures are still verified with it, so only its key's holder passes.

use std::path::Path;
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use sha2::{Digest, Sha256};

use crate::error::Error;

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The roots: the system's (when asked) and each PEM bundle's certificates.
fn roots(system: bool, bundles: &[&Path]) -> Result<RootCertStore, Error> {
    let mut roots = RootCertStore::empty();
    if system {
        let native = rustls_native_certs::load_native_certs();
        for e in &native.errors {
            tracing::warn!(error = %e, "reading the system's root certificates");
        }
        roots.add_parsable_certificates(native.certs);
    }
    for path in bundles {
        let pem = std::fs::read(path).map_err(|error| Error::File {
            what: "reading the CA bundle",
            path: path.to_path_buf(),
            error,
        })?;
        let certs = CertificateDer::pem_slice_iter(&pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| Error::Config(format!("the CA bundle {} is not valid PEM ({e})", path.display())))?;
        let (added, _) = roots.add_parsable_certificates(certs);
        if added == 0 {
            return Err(Error::Config(format!(
                "the CA bundle {} holds no usable certificate: it must hold PEM blocks that begin with \
                 -----BEGIN CERTIFICATE-----",
                path.display()
            )));
        }
    }
    Ok(roots)
}

fn finish(builder: rustls::ConfigBuilder<ClientConfig, rustls::client::WantsClientCert>) -> ClientConfig {
    let mut config = builder.with_no_client_auth();
    // HTTP/1.1 only: the WebSocket upgrade needs it, and SCIM targets gain nothing from HTTP/2 over one connection
    // per request in flight.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    config
}

fn builder() -> Result<rustls::ConfigBuilder<ClientConfig, rustls::WantsVerifier>, Error> {
    ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Config(format!("TLS versions: {e}")))
}

/// For the connection to the service: the system's roots and the configured CA bundle.
pub fn service(ca_bundle: Option<&Path>) -> Result<ClientConfig, Error> {
    let bundles: Vec<&Path> = ca_bundle.into_iter().collect();
    Ok(finish(builder()?.with_root_certificates(roots(true, &bundles)?)))
}

/// For tenant URLs: roots (system, when asked, and bundles) and pinned certificates.
pub fn targets(system_roots: bool, ca_bundles: &[&Path], pins: Vec<[u8; 32]>) -> Result<ClientConfig, Error> {
    let roots = roots(system_roots, ca_bundles)?;
    if pins.is_empty() {
        return Ok(finish(builder()?.with_root_certificates(roots)));
    }
    let provider = provider();
    let webpki = if roots.is_empty() {
        None
    } else {
        Some(
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                .build()
                .map_err(|e| Error::Config(format!("the target roots: {e}")))?,
        )
    };
    let verifier = Arc::new(PinnedOrRoots { pins, webpki, provider });
    Ok(finish(builder()?.dangerous().with_custom_certificate_verifier(verifier)))
}

/// The SHA-256 fingerprint of a DER certificate.
pub fn fingerprint(der: &[u8]) -> [u8; 32] {
    Sha256::digest(der).into()
}

/// Accepts a pinned end-entity certificate as it is, anything else by the roots.
#[derive(Debug)]
struct PinnedOrRoots {
    pins: Vec<[u8; 32]>,
    webpki: Option<Arc<WebPkiServerVerifier>>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for PinnedOrRoots {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let presented = fingerprint(end_entity.as_ref());
        if self.pins.contains(&presented) {
            return Ok(ServerCertVerified::assertion());
        }
        match &self.webpki {
            Some(webpki) => webpki.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now),
            None => Err(rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer)),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}
