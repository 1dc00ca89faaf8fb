//! The agent's two files: the config file (TOML: the service, the agent's id, the operator's options) and, next to
//! it, the credential file (the secret alone, mode 0600). No database, nothing else on disk.

use std::fmt;
use std::io::Write;
use std::net::IpAddr;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use url::Url;

use crate::error::Error;

/// Where `register`, `run`, `rotate` and `status` look without `--config`.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/idplane/agent.toml";

/// Requests the agent performs at once unless configured.
pub const DEFAULT_MAX_IN_FLIGHT: u32 = 32;

/// The largest response body the agent relays unless configured (16 MiB; the service may set less).
pub const DEFAULT_MAX_BODY_BYTES: u64 = 16 << 20;

/// The config file's contents. Written by `register`, edited by the operator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentConfig {
    /// The provisioning service's base URL (`https://idplane.example.com`). `http://` only for loopback addresses.
    pub service: Url,
    /// Given by the service at registration.
    pub agent_id: String,
    pub tenant_id: String,
    /// A PEM file of CA certificates that sign the service's certificate, trusted besides the system's roots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_ca_bundle: Option<PathBuf>,
    /// An HTTP proxy for the connection to the service (`http://proxy.corp:3128`), tunnelled with CONNECT. Without
    /// it, `HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY` and `NO_PROXY` from the environment apply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy: Option<String>,
    /// Tenant-URL prefixes this agent relays to, whatever the service asks (empty: the service's targets).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow_list: Vec<String>,
    /// The most requests performed at once (the service may set fewer).
    #[serde(default = "default_max_in_flight")]
    pub max_in_flight: u32,
    /// The largest response body relayed (the service may set less).
    #[serde(default = "default_max_body_bytes")]
    pub max_body_bytes: u64,
    /// PEM files of CA certificates trusted for tenant URLs, besides the system's roots.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub target_ca_bundles: Vec<PathBuf>,
    /// SHA-256 fingerprints (hex, colons allowed) of target certificates trusted as they are: a self-signed
    /// `localhost` certificate, whatever its name or issuer.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub target_pinned_certificates: Vec<String>,
    /// Trust the system's root certificates for tenant URLs. Default true.
    #[serde(default = "yes")]
    pub target_system_roots: bool,
}

fn default_max_in_flight() -> u32 {
    DEFAULT_MAX_IN_FLIGHT
}

fn default_max_body_bytes() -> u64 {
    DEFAULT_MAX_BODY_BYTES
}

fn yes() -> bool {
    true
}

impl AgentConfig {
    /// A config with the defaults, as `register` writes it.
    pub fn new(service: Url, agent_id: String, tenant_id: String) -> AgentConfig {
        AgentConfig {
            service,
            agent_id,
            tenant_id,
            service_ca_bundle: None,
            proxy: None,
            allow_list: Vec::new(),
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            target_ca_bundles: Vec::new(),
            target_pinned_certificates: Vec::new(),
            target_system_roots: true,
        }
    }

    /// Reads and checks a config file.
    pub fn load(path: &Path) -> Result<AgentConfig, Error> {
        let text = std::fs::read_to_string(path).map_err(|error| Error::File {
            what: "reading the config file",
            path: path.to_path_buf(),
            error,
        })?;
        let config: AgentConfig = toml::from_str(&text)
            .map_err(|e| Error::Config(format!("the config file {} is not valid: {e}", path.display())))?;
        config.check().map_err(|e| Error::Config(format!("the config file {}: {e}", path.display())))?;
        Ok(config)
    }

    /// Writes the config file (mode 0644: it holds no secret), replacing it whole.
    pub fn save(&self, path: &Path) -> Result<(), Error> {
        let text =
            toml::to_string_pretty(self).map_err(|e| Error::Config(format!("the config cannot be written: {e}")))?;
        let text = format!(
            "# idplane agent: written by `idplane agent register`; options in docs/agent.md.\n\
             # The credential is in {}, never here.\n{text}",
            credential_path(path).display()
        );
        write_atomically(path, text.as_bytes(), 0o644, "writing the config file")
    }

    /// What makes the config unusable, before anything is attempted.
    pub fn check(&self) -> Result<(), String> {
        check_service_url(&self.service)?;
        if self.agent_id.is_empty() {
            return Err("agent_id is empty: register the agent again".into());
        }
        if self.max_in_flight == 0 {
            return Err("max_in_flight must be at least 1".into());
        }
        for prefix in &self.allow_list {
            crate::targets::Target::parse(prefix).map_err(|e| format!("allow_list: {e}"))?;
        }
        for pin in &self.target_pinned_certificates {
            parse_fingerprint(pin)?;
        }
        if let Some(proxy) = &self.proxy {
            Url::parse(proxy).map_err(|e| format!("proxy \"{proxy}\" is not a URL ({e})"))?;
        }
        Ok(())
    }
}

/// `https://`, or `http://` to a loopback address (tests, or a TLS-terminating proxy on the same machine).
pub fn check_service_url(url: &Url) -> Result<(), String> {
    match url.scheme() {
        "https" => {}
        "http" if is_loopback(url) => {}
        "http" => {
            return Err(format!(
                "the service URL {url} is plain http: the agent's credential and the targets' tokens would cross the \
                 network in clear text; use https:// (http:// is for loopback addresses only)"
            ));
        }
        other => return Err(format!("the service URL {url} has the scheme \"{other}\"; use https://")),
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("the service URL {url} has no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("the service URL must not hold credentials".into());
    }
    Ok(())
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

/// A SHA-256 fingerprint as an operator copies it (`AB:CD:...`, `abcd...`, with `sha256:` or `SHA256=` before it).
pub fn parse_fingerprint(text: &str) -> Result<[u8; 32], String> {
    let trimmed = text.trim();
    let lower = trimmed.to_ascii_lowercase();
    let body = lower.strip_prefix("sha256:").or_else(|| lower.strip_prefix("sha256=")).unwrap_or(&lower);
    let digits: String = body.chars().filter(|c| *c != ':' && !c.is_whitespace()).collect();
    let mut out = [0u8; 32];
    hex::decode_to_slice(&digits, &mut out).map_err(|_| {
        format!(
            "\"{trimmed}\" is not a SHA-256 fingerprint: 64 hexadecimal digits (colons allowed), as \
             `openssl x509 -noout -fingerprint -sha256 -in cert.pem` prints it"
        )
    })?;
    Ok(out)
}

/// The credential file of a config file: beside it, same name, extension `.credential`.
pub fn credential_path(config: &Path) -> PathBuf {
    config.with_extension("credential")
}

/// The agent's credential. Its `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Credential(String);

impl Credential {
    pub fn new(secret: String) -> Credential {
        Credential(secret)
    }

    /// The secret, for the `Authorization` header only.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Reads the credential file.
    pub fn load(path: &Path) -> Result<Credential, Error> {
        let text = std::fs::read_to_string(path).map_err(|error| Error::File {
            what: "reading the credential file",
            path: path.to_path_buf(),
            error,
        })?;
        let secret = text.trim();
        if secret.is_empty() {
            return Err(Error::Config(format!(
                "the credential file {} is empty: register the agent again",
                path.display()
            )));
        }
        Ok(Credential(secret.to_string()))
    }

    /// Writes the credential file, mode 0600 from its creation on (never readable by others, not even briefly).
    pub fn save(&self, path: &Path) -> Result<(), Error> {
        write_atomically(path, format!("{}\n", self.0).as_bytes(), 0o600, "writing the credential file")
    }
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Credential(<redacted>)")
    }
}

/// Writes `bytes` to a new file beside `path` with `mode`, then renames it over `path`: a reader sees the old file or
/// the new one, never half of one.
fn write_atomically(path: &Path, bytes: &[u8], mode: u32, what: &'static str) -> Result<(), Error> {
    let fail = |error| Error::File { what, path: path.to_path_buf(), error };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(fail)?;
    }
    let mut name = path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".new");
    let staging = path.with_file_name(name);
    let _ = std::fs::remove_file(&staging);
    let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(mode).open(&staging).map_err(fail)?;
    // The umask may have narrowed the mode given at creation; the intended one is set explicitly.
    file.set_permissions(std::fs::Permissions::from_mode(mode)).map_err(fail)?;
    file.write_all(bytes).map_err(fail)?;
    file.sync_all().map_err(fail)?;
    std::fs::rename(&staging, path).map_err(fail)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_as_tools_print_them() {
        let colons = "AB:".repeat(31) + "AB";
        assert_eq!(parse_fingerprint(&colons).unwrap(), [0xab; 32]);
        assert_eq!(parse_fingerprint(&format!("sha256:{}", "0f".repeat(32))).unwrap(), [0x0f; 32]);
        assert_eq!(parse_fingerprint(&format!("SHA256={colons}")).unwrap(), [0xab; 32]);
        assert!(parse_fingerprint("abcd").unwrap_err().contains("64 hexadecimal digits"));
    }

    #[test]
    fn plain_http_only_to_loopback() {
        for ok in ["https://idp.example", "http://127.0.0.1:8080", "http://localhost", "http://[::1]:9"] {
            assert!(check_service_url(&Url::parse(ok).unwrap()).is_ok(), "{ok}");
        }
        let e = check_service_url(&Url::parse("http://idp.example").unwrap()).unwrap_err();
        assert!(e.contains("clear text"), "{e}");
        assert!(check_service_url(&Url::parse("https://u:p@idp.example").unwrap()).is_err());
    }

    #[test]
    fn files_round_trip_and_the_credential_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("agent.toml");
        let mut config = AgentConfig::new(Url::parse("https://idp.example").unwrap(), "a1".into(), "t1".into());
        config.allow_list = vec!["https://localhost:8585/scim".into()];
        config.save(&path).unwrap();
        assert_eq!(AgentConfig::load(&path).unwrap(), config);
        let credential = Credential::new("s3cret".into());
        credential.save(&credential_path(&path)).unwrap();
        let mode = std::fs::metadata(dir.path().join("agent.credential")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(Credential::load(&credential_path(&path)).unwrap(), credential);
        assert_eq!(format!("{credential:?}"), "Credential(<redacted>)");
        std::fs::write(
            &path,
            "service = \"https://idp.example\"\nagent_id = \"a\"\ntenant_id = \"t\"\nmax_inflight = 3\n",
        )
        .unwrap();
        let e = AgentConfig::load(&path).unwrap_err().to_string();
        assert!(e.contains("max_inflight"), "{e}");
    }
}
