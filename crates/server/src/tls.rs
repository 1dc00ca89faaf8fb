//! HTTPS, for single-binary installs: Entra ID provisions only to TLS endpoints. rustls with the ring provider,
//! TLS 1.3 and 1.2 only, with rustls' modern cipher suites (ECDHE with AES-GCM or ChaCha20-Poly1305). The certificate
//! is served through a resolver whose certificate is swapped when the PEM files change (checked every two seconds)
//! or on SIGHUP, so renewals need no restart; a renewal that does not load is logged and the old certificate kept.
//! Connections are accepted and served by [`crate::serve`], the same for HTTP and HTTPS.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use sha2::{Digest, Sha256};

/// A certificate or key that cannot be used; the text says which file and why.
#[derive(Debug)]
pub enum TlsError {
    Load(String),
}

impl std::fmt::Display for TlsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let TlsError::Load(detail) = self;
        f.write_str(detail)
    }
}

impl std::error::Error for TlsError {}

/// Where the certificate chain and its private key are, as PEM files.
#[derive(Debug, Clone)]
pub struct CertFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// Serves the current certificate; [`ReloadingCert::reload`] swaps it.
#[derive(Debug)]
pub struct ReloadingCert {
    current: RwLock<Arc<CertifiedKey>>,
    files: Option<CertFiles>,
}

impl ResolvesServerCert for ReloadingCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.read().unwrap_or_else(|p| p.into_inner()).clone())
    }
}

impl ReloadingCert {
    /// The certificate in `files`.
    pub fn from_files(files: CertFiles) -> Result<Arc<Self>, TlsError> {
        let key = load(&files)?;
        Ok(Arc::new(ReloadingCert { current: RwLock::new(Arc::new(key)), files: Some(files) }))
    }

    /// A self-signed certificate for `names` (host names or IP addresses), for local trials; also returns its
    /// SHA-256 fingerprint, for clients to pin.
    pub fn self_signed(names: Vec<String>) -> Result<(Arc<Self>, String), TlsError> {
        let generated = rcgen::generate_simple_self_signed(names).map_err(|e| TlsError::Load(e.to_string()))?;
        let der = CertificateDer::from(generated.cert.der().to_vec());
        let fingerprint = fingerprint(&der);
        let key = PrivateKeyDer::from_pem_slice(generated.key_pair.serialize_pem().as_bytes())
            .map_err(|e| TlsError::Load(format!("generated key: {e}")))?;
        let signing = rustls::crypto::ring::sign::any_supported_type(&key)
            .map_err(|e| TlsError::Load(format!("generated key: {e}")))?;
        let current = RwLock::new(Arc::new(CertifiedKey::new(vec![der], signing)));
        Ok((Arc::new(ReloadingCert { current, files: None }), fingerprint))
    }

    /// Loads the files again; on failure the current certificate stays.
    pub fn reload(&self) -> Result<(), TlsError> {
        let Some(files) = &self.files else { return Ok(()) };
        let key = load(files)?;
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(key);
        Ok(())
    }

    /// Reloads when the files change or the process gets SIGHUP, until the process ends.
    pub fn watch(self: &Arc<Self>) {
        let Some(files) = self.files.clone() else { return };
        let this = self.clone();
        tokio::spawn(async move {
            let stamp = |f: &CertFiles| (modified(&f.cert), modified(&f.key));
            let mut seen = stamp(&files);
            #[cfg(unix)]
            let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
            loop {
                #[cfg(unix)]
                let hangup = async {
                    match hup.as_mut() {
                        Some(s) => {
                            s.recv().await;
                        }
                        None => std::future::pending::<()>().await,
                    }
                };
                #[cfg(not(unix))]
                let hangup = std::future::pending::<()>();
                let by_signal = tokio::select! {
                    () = hangup => true,
                    () = tokio::time::sleep(Duration::from_secs(2)) => false,
                };
                let now = stamp(&files);
                if by_signal || now != seen {
                    seen = now;
                    match this.reload() {
                        Ok(()) => tracing::info!(cert = %files.cert.display(), "TLS certificate reloaded"),
                        Err(e) => tracing::error!(error = %e, "TLS certificate not reloaded; keeping the previous one"),
                    }
                }
            }
        });
    }
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

fn load(files: &CertFiles) -> Result<CertifiedKey, TlsError> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&files.cert)
        .and_then(|certs| certs.collect::<Result<_, _>>())
        .map_err(|e| TlsError::Load(format!("certificate {}: {e}", files.cert.display())))?;
    if certs.is_empty() {
        return Err(TlsError::Load(format!("no certificate in {}", files.cert.display())));
    }
    let key = PrivateKeyDer::from_pem_file(&files.key)
        .map_err(|e| TlsError::Load(format!("private key {}: {e}", files.key.display())))?;
    let signing = rustls::crypto::ring::sign::any_supported_type(&key)
        .map_err(|e| TlsError::Load(format!("private key {}: {e}", files.key.display())))?;
    Ok(CertifiedKey::new(certs, signing))
}

/// SHA-256 of a certificate, as `AB:CD:...`.
pub fn fingerprint(cert: &CertificateDer<'_>) -> String {
    Sha256::digest(cert.as_ref()).iter().map(|b| format!("{b:02X}")).collect::<Vec<_>>().join(":")
}

/// The TLS configuration: TLS 1.3 and 1.2, HTTP/1.1, the certificate of `resolver`.
pub fn server_config(resolver: Arc<ReloadingCert>) -> Result<Arc<ServerConfig>, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| TlsError::Load(e.to_string()))?
        .with_no_client_auth()
        .with_cert_resolver(resolver);
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}
