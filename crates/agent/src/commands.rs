//! `register`, `rotate` and `status`: the agent's one-shot commands, each on the config file and its credential file.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use reqwest::StatusCode;
use serde_json::json;
use url::Url;

use crate::config::{AgentConfig, Credential, credential_path};
use crate::error::Error;
use crate::service::{ServiceClient, error_message};

/// What `register` needs.
#[derive(Debug, Clone)]
pub struct Registration {
    pub service: Url,
    /// The one-time registration token an admin created.
    pub token: String,
    pub config_path: PathBuf,
    /// A PEM bundle of CAs for the service's certificate, kept in the config.
    pub ca_bundle: Option<PathBuf>,
}

/// Exchanges the registration token for the agent's id and credential (`POST /agent/v1/register`), then writes the
/// config file and the credential file (mode 0600). An existing config file keeps its options; its service, agent
/// id and tenant are replaced.
pub async fn register(registration: &Registration) -> Result<AgentConfig, Error> {
    const CALL: &str = "register";
    let Registration { service, token, config_path, ca_bundle } = registration;
    let previous = config_path.exists().then(|| AgentConfig::load(config_path)).transpose();
    // An unreadable previous config is replaced rather than blocking a fresh registration.
    let previous = previous.unwrap_or_else(|e| {
        tracing::warn!(error = %e, "the existing config file is replaced");
        None
    });
    let proxy = previous.as_ref().and_then(|p| p.proxy.clone());
    let client = ServiceClient::new(service, ca_bundle.as_deref(), proxy.as_deref())?;
    let body = json!({"token": token, "hostName": crate::run::host_name(), "version": env!("CARGO_PKG_VERSION")});
    let (status, answer) = client.post(CALL, "agent/v1/register", None, &body).await?;
    match status {
        StatusCode::CREATED | StatusCode::OK => {}
        StatusCode::UNAUTHORIZED => return Err(Error::InvalidRegistrationToken(error_message(&answer))),
        other => return Err(Error::Service { call: CALL, status: other.as_u16(), message: error_message(&answer) }),
    }
    let field = |name: &str| {
        answer[name].as_str().filter(|s| !s.is_empty()).map(str::to_string).ok_or_else(|| Error::Service {
            call: CALL,
            status: status.as_u16(),
            message: format!("the answer has no \"{name}\""),
        })
    };
    let (agent_id, tenant_id, credential) = (field("agentId")?, field("tenantId")?, field("credential")?);
    let mut config = match previous {
        Some(previous) => AgentConfig { service: service.clone(), agent_id, tenant_id, ..previous },
        None => AgentConfig::new(service.clone(), agent_id, tenant_id),
    };
    if ca_bundle.is_some() {
        config.service_ca_bundle.clone_from(ca_bundle);
    }
    // The credential first: a config without its credential says "register again", the reverse would be silent.
    Credential::new(credential).save(&credential_path(config_path))?;
    config.save(config_path)?;
    Ok(config)
}

/// Replaces the agent's credential (`POST /agent/v1/rotate`); the old one stops working at once. Returns the agent
/// id.
pub async fn rotate(config_path: &Path) -> Result<String, Error> {
    const CALL: &str = "rotate";
    let config = AgentConfig::load(config_path)?;
    let path = credential_path(config_path);
    let current = Credential::load(&path)?;
    let client = ServiceClient::for_config(&config)?;
    let (status, answer) = client.post(CALL, "agent/v1/rotate", Some(&current), &json!({})).await?;
    match status {
        StatusCode::OK | StatusCode::CREATED => {}
        StatusCode::UNAUTHORIZED => return Err(Error::Unauthorized(error_message(&answer))),
        other => return Err(Error::Service { call: CALL, status: other.as_u16(), message: error_message(&answer) }),
    }
    let Some(credential) = answer["credential"].as_str().filter(|s| !s.is_empty()) else {
        return Err(Error::Service {
            call: CALL,
            status: status.as_u16(),
            message: "the answer has no \"credential\"".into(),
        });
    };
    Credential::new(credential.to_string()).save(&path).map_err(|e| {
        Error::Config(format!(
            "the service rotated the credential but it could not be saved ({e}): the old one no longer works; \
             register the agent again"
        ))
    })?;
    Ok(answer["agentId"].as_str().unwrap_or(&config.agent_id).to_string())
}

/// What `status` prints: the config, the agent id, the service, and whether the credential file exists (never the
/// secret).
pub fn status(config_path: &Path) -> Result<String, Error> {
    let config = AgentConfig::load(config_path)?;
    let path = credential_path(config_path);
    let credential = match std::fs::metadata(&path) {
        Ok(meta) => {
            let mode = meta.permissions().mode() & 0o777;
            let warning = if mode & 0o077 != 0 { " (readable by others: chmod 600 it)" } else { "" };
            format!("present, mode {mode:o}{warning}")
        }
        Err(_) => "missing: register the agent".into(),
    };
    let list = |items: &[String]| if items.is_empty() { "none".to_string() } else { items.join(", ") };
    let paths = |items: &[PathBuf]| list(&items.iter().map(|p| p.display().to_string()).collect::<Vec<_>>());
    Ok(format!(
        "config:               {}\n\
         service:              {}\n\
         agent id:             {}\n\
         tenant id:            {}\n\
         credential file:      {} ({credential})\n\
         service CA bundle:    {}\n\
         proxy:                {}\n\
         allow list:           {}\n\
         max in flight:        {}\n\
         max body bytes:       {}\n\
         target CA bundles:    {}\n\
         pinned certificates:  {}\n\
         target system roots:  {}",
        config_path.display(),
        config.service,
        config.agent_id,
        config.tenant_id,
        path.display(),
        config.service_ca_bundle.as_ref().map(|p| p.display().to_string()).unwrap_or_else(|| "none".into()),
        config
            .proxy
            .as_deref()
            .map(without_password)
            .unwrap_or_else(|| "from the environment (HTTPS_PROXY, NO_PROXY), if set".into()),
        list(&config.allow_list),
        config.max_in_flight,
        config.max_body_bytes,
        paths(&config.target_ca_bundles),
        list(&config.target_pinned_certificates),
        config.target_system_roots,
    ))
}

/// A proxy URL as `status` shows it: a password in it is masked.
fn without_password(proxy: &str) -> String {
    match Url::parse(proxy) {
        Ok(mut url) if url.password().is_some() => {
            let _ = url.set_password(Some("***"));
            url.to_string()
        }
        _ => proxy.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn status_masks_a_proxy_password() {
        assert_eq!(super::without_password("http://u:pw@proxy:3128"), "http://u:***@proxy:3128/");
        assert_eq!(super::without_password("http://proxy:3128"), "http://proxy:3128");
    }
}
