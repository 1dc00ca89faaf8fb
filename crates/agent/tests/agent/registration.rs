//! `register`, `rotate`, `status` against the test hub.

use std::os::unix::fs::PermissionsExt;

use idplane_agent::Error;
use idplane_agent::commands::{Registration, register, rotate, status};
use idplane_agent::config::{AgentConfig, credential_path};

use crate::support::{Hub, welcome};

/// A hub, a directory, and a registration with a fresh token for a config file at `path` in that directory.
async fn fresh(path: &str) -> (Hub, tempfile::TempDir, Registration) {
    let hub = Hub::start(welcome(10), None).await;
    let dir = tempfile::tempdir().unwrap();
    let registration = Registration {
        service: hub.url.clone(),
        token: hub.token(),
        config_path: dir.path().join(path),
        ca_bundle: None,
    };
    (hub, dir, registration)
}

#[tokio::test]
async fn register_writes_the_config_and_a_private_credential_and_the_token_works_once() {
    let (hub, dir, registration) = fresh("etc/agent.toml").await;
    let config_path = registration.config_path.clone();
    let config = register(&registration).await.unwrap();
    assert_eq!(config.agent_id, "agent-1");
    assert_eq!(config.tenant_id, "tenant-1");
    assert_eq!(AgentConfig::load(&config_path).unwrap(), config);

    let credential_file = credential_path(&config_path);
    assert_eq!(credential_file, dir.path().join("etc").join("agent.credential"));
    let secret = std::fs::read_to_string(&credential_file).unwrap();
    assert!(secret.starts_with("credential-1-"), "{secret}");
    assert_eq!(std::fs::metadata(&credential_file).unwrap().permissions().mode() & 0o777, 0o600);
    let config_text = std::fs::read_to_string(&config_path).unwrap();
    assert!(!config_text.contains(secret.trim()), "the config file never holds the credential");

    // The same token again: refused, and the files are left as they were.
    let again = register(&registration).await.unwrap_err();
    assert!(matches!(&again, Error::InvalidRegistrationToken(detail) if detail.contains("InvalidRegistrationToken")));
    assert!(again.to_string().contains("already used"), "{again}");
    assert_eq!(std::fs::read_to_string(&credential_file).unwrap(), secret);

    let shown = status(&config_path).unwrap();
    assert!(shown.contains("agent-1") && shown.contains("present, mode 600") && shown.contains(hub.url.as_str()));
    assert!(!shown.contains(secret.trim()), "status never shows the secret: {shown}");
}

#[tokio::test]
async fn a_re_registration_keeps_the_operators_options() {
    let (hub, _dir, registration) = fresh("agent.toml").await;
    let config_path = registration.config_path.clone();
    let mut config = register(&registration).await.unwrap();
    config.allow_list = vec!["https://localhost:8585/scim".into()];
    config.max_in_flight = 3;
    config.save(&config_path).unwrap();
    let again = register(&Registration { token: hub.token(), ..registration }).await.unwrap();
    assert_ne!(again.agent_id, config.agent_id);
    assert_eq!(again.allow_list, config.allow_list);
    assert_eq!(again.max_in_flight, 3);
}

#[tokio::test]
async fn rotate_replaces_the_credential_and_the_old_one_stops_working() {
    let (_hub, _dir, registration) = fresh("agent.toml").await;
    let config_path = registration.config_path.clone();
    register(&registration).await.unwrap();
    let before = std::fs::read_to_string(credential_path(&config_path)).unwrap();
    assert_eq!(rotate(&config_path).await.unwrap(), "agent-1");
    let after = std::fs::read_to_string(credential_path(&config_path)).unwrap();
    assert_ne!(before, after);
    assert!(after.starts_with("rotated-"));
    assert_eq!(std::fs::metadata(credential_path(&config_path)).unwrap().permissions().mode() & 0o777, 0o600);
    // The hub forgot the old credential: rotating with it is refused.
    std::fs::write(credential_path(&config_path), &before).unwrap();
    let e = rotate(&config_path).await.unwrap_err();
    assert!(e.to_string().starts_with("credential revoked or unknown: re-register"), "{e}");
}

#[tokio::test]
async fn a_plain_http_service_off_this_machine_is_refused_before_anything_is_sent() {
    let dir = tempfile::tempdir().unwrap();
    let registration = Registration {
        service: "http://idplane.example.com".parse().unwrap(),
        token: "t".into(),
        config_path: dir.path().join("agent.toml"),
        ca_bundle: None,
    };
    let e = register(&registration).await.unwrap_err();
    assert!(matches!(e, Error::Config(_)) && e.to_string().contains("clear text"), "{e}");
}
