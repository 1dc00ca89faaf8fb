//! HTTPS to a real idplane with generated certificates: an unknown issuer by default, trusted through a CA bundle,
//! a name mismatch, an expired certificate, and TLS spoken to a plain-HTTP port.

use anyhow::Result;
use idplane_scim_client::{CaBundle, ConnectionTestCode, DirectConfig, Error, TlsFailure};
use idplane_testkit::{App, TOKEN};

use crate::support::{Cert, GUID, Served, client, client_with, self_signed, serve};

/// A real idplane over HTTPS with a self-signed certificate for `names` (valid between the years `validity`), and
/// its workspace-level SCIM base at `localhost`. The app is returned to keep its store alive.
async fn https_target(names: &[&str], validity: Option<(i32, i32)>) -> Result<(App, Cert, Served, String)> {
    let app = App::new().await?;
    let cert = self_signed(names, validity)?;
    let served = serve(&app, Some(cert.server.clone())).await?;
    let base = format!("https://localhost:{}/api/2.0/preview/scim", served.addr.port());
    Ok((app, cert, served, base))
}

fn trusting(pem: &str) -> DirectConfig {
    DirectConfig { ca_bundles: vec![CaBundle::Pem(pem.to_string())], ..DirectConfig::default() }
}

fn tls_failure(error: &Error) -> &TlsFailure {
    match error {
        Error::Tls { failure, .. } => failure,
        other => panic!("expected a TLS failure, got {other:?}"),
    }
}

#[tokio::test]
async fn a_self_signed_certificate_is_an_unknown_issuer_until_trusted() -> Result<()> {
    let (app, cert, served, _) = https_target(&["localhost"], None).await?;
    let base = format!("https://localhost:{}/api/2.1/accounts/{}/scim/v2", served.addr.port(), app.account);

    let failure = client(&base, TOKEN)?.test_connection("userName", GUID).await.unwrap_err();
    assert_eq!(failure.code, ConnectionTestCode::CredentialValidationUnavailable);
    assert_eq!(tls_failure(&failure.error), &TlsFailure::UnknownIssuer);
    let message = failure.to_string();
    assert!(message.contains(&format!("the TLS handshake with localhost:{} failed", served.addr.port())), "{message}");
    assert!(message.contains("unknown issuer"), "{message}");

    // The certificate as the CA bundle: trusted, with or without the system's roots.
    client_with(&base, TOKEN, &trusting(&cert.pem))?.test_connection("userName", GUID).await?;
    let only_bundle = DirectConfig { system_roots: false, ..trusting(&cert.pem) };
    client_with(&base, TOKEN, &only_bundle)?.test_connection("userName", GUID).await?;
    Ok(())
}

#[tokio::test]
async fn a_ca_bundle_file_is_read() -> Result<()> {
    let (_app, cert, _served, base) = https_target(&["localhost"], None).await?;
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("target-ca.pem");
    std::fs::write(&path, &cert.pem)?;
    let config = DirectConfig { ca_bundles: vec![CaBundle::File(path)], ..DirectConfig::default() };
    client_with(&base, TOKEN, &config)?.test_connection("userName", GUID).await?;
    Ok(())
}

#[tokio::test]
async fn a_certificate_for_another_name_is_a_name_mismatch() -> Result<()> {
    let (_app, cert, _served, base) = https_target(&["idp.example"], None).await?;
    let failure = client_with(&base, TOKEN, &trusting(&cert.pem))?.test_connection("userName", GUID).await.unwrap_err();
    match tls_failure(&failure.error) {
        TlsFailure::NameMismatch { expected, presented } => {
            assert_eq!(expected, "localhost");
            assert!(presented.iter().any(|p| p.contains("idp.example")), "{presented:?}");
        }
        other => panic!("expected a name mismatch, got {other:?}"),
    }
    assert!(failure.to_string().contains("not valid for localhost (name mismatch"), "{failure}");
    Ok(())
}

#[tokio::test]
async fn an_expired_certificate_is_reported_as_expired() -> Result<()> {
    let (_app, cert, _served, base) = https_target(&["localhost"], Some((2019, 2020))).await?;
    let failure = client_with(&base, TOKEN, &trusting(&cert.pem))?.test_connection("userName", GUID).await.unwrap_err();
    assert_eq!(tls_failure(&failure.error), &TlsFailure::Expired);
    assert!(failure.to_string().contains("has expired"), "{failure}");
    Ok(())
}

#[tokio::test]
async fn tls_to_a_plain_http_port_says_so() -> Result<()> {
    let app = App::new().await?;
    let served = serve(&app, None).await?;
    let base = format!("https://127.0.0.1:{}/api/2.0/preview/scim", served.addr.port());
    let failure = client(&base, TOKEN)?.test_connection("userName", GUID).await.unwrap_err();
    assert_eq!(tls_failure(&failure.error), &TlsFailure::NotTls);
    assert!(failure.to_string().contains("plain HTTP"), "{failure}");
    Ok(())
}
