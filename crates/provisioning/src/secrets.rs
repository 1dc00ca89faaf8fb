//! The secrets of a service principal's provisioning (Graph's `synchronization/secrets`): a bag of key and value
//! pairs, the tenant URL (`BaseAddress`), the secret token (`SecretToken`) and the settings Entra keeps beside them
//! (`SyncAll`, `SyncNotificationSettings`, `SkipOutOfScopeDeletions`, ...).
//!
//! Every value is sealed before it reaches the store ([`Cipher`]: ChaCha20-Poly1305 with a 256-bit key that the
//! operator keeps outside the database, a random nonce per value, and the tenant, service principal and key bound
//! as associated data, so that a sealed value copied to another row does not open). Values come back out only to
//! be sent to a target; a read through the API masks the secret ones ([`MASKED_KEYS`]) as `*`. [`Credentials`] does
//! not print secret values.

use std::collections::BTreeMap;

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use idplane_core::error::StoreError;
use serde_json::Value;

use crate::error::{ProvisioningError, Result};
use crate::store::JobStore;

/// Graph's `synchronizationSecret` keys, in the SDK's order.
pub const KEYS: &[&str] = &[
    "None",
    "UserName",
    "Password",
    "SecretToken",
    "AppKey",
    "BaseAddress",
    "ClientIdentifier",
    "ClientSecret",
    "SingleSignOnType",
    "Sandbox",
    "Url",
    "Domain",
    "ConsumerKey",
    "ConsumerSecret",
    "TokenKey",
    "TokenExpiration",
    "SyncAll",
    "InstanceName",
    "CompanyId",
    "UpdateKeyOnSoftDelete",
    "SynchronizationSchedule",
    "SystemOfRecord",
    "SandboxName",
    "EnforceDomain",
    "SyncNotificationSettings",
    "SkipOutOfScopeDeletions",
    "ApplicationTemplateIdentifier",
    "AuthenticationType",
    "Server",
    "PerformInboundEntitlementGrants",
    "HardDeletesEnabled",
    "SyncAgentCompatibilityKey",
    "SyncAgentADContainer",
    "ValidateDomain",
    "TestReferences",
    "ConnectionString",
];

/// The keys whose values a read masks: credentials.
pub const MASKED_KEYS: &[&str] = &["Password", "SecretToken", "ClientSecret", "AppKey", "ConsumerSecret", "TokenKey"];

/// How a read shows a masked value.
pub const MASK: &str = "*";

/// The canonical spelling of a secret key (keys are matched case-insensitively).
pub fn canonical_key(key: &str) -> Option<&'static str> {
    KEYS.iter().copied().find(|k| k.eq_ignore_ascii_case(key))
}

/// The longest secret value.
pub const MAX_VALUE: usize = 8192;

/// The secrets in clear, by canonical key. `Debug` masks the secret ones.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Credentials(pub BTreeMap<String, String>);

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.masked()).finish()
    }
}

impl Credentials {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str).filter(|v| !v.is_empty())
    }

    /// The pairs as a read shows them: secret values as [`MASK`].
    pub fn masked(&self) -> Vec<(String, String)> {
        self.0
            .iter()
            .map(|(k, v)| (k.clone(), if MASKED_KEYS.contains(&k.as_str()) { MASK.to_string() } else { v.clone() }))
            .collect()
    }

    /// Reads Graph's list of pairs (`[{"key": "BaseAddress", "value": "..."}]`), each key known, each value a
    /// string (an empty one removes the key when merged), checked as its key requires.
    pub fn from_pairs(pairs: &Value, field: &str) -> Result<Credentials> {
        let Some(items) = pairs.as_array() else {
            return Err(ProvisioningError::invalid_property(
                field,
                format!("'{field}' must be an array of {{\"key\", \"value\"}}"),
            ));
        };
        let mut out = BTreeMap::new();
        for item in items {
            let key = item.get("key").and_then(Value::as_str).unwrap_or_default();
            let Some(canonical) = canonical_key(key) else {
                return Err(ProvisioningError::invalid_property(
                    field,
                    format!("'{key}' is not a synchronization secret key; the keys are {}", KEYS.join(", ")),
                ));
            };
            let value = match item.get("value") {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Null) | None => String::new(),
                // Scripts write flags as JSON booleans; Graph keeps every value as a string.
                Some(Value::Bool(b)) => b.to_string(),
                Some(Value::Number(n)) => n.to_string(),
                Some(_) => {
                    return Err(ProvisioningError::invalid_property(
                        field,
                        format!("the value of '{canonical}' must be a string"),
                    ));
                }
            };
            if value.len() > MAX_VALUE {
                return Err(ProvisioningError::invalid_property(
                    field,
                    format!("the value of '{canonical}' is longer than {MAX_VALUE} bytes"),
                ));
            }
            check(canonical, &value)?;
            out.insert(canonical.to_string(), value);
        }
        Ok(Credentials(out))
    }
}

/// Checks a value as its key requires (an empty value, a removal, is always fine).
fn check(key: &str, value: &str) -> Result<()> {
    if value.is_empty() {
        return Ok(());
    }
    let flag = |v: &str| v.eq_ignore_ascii_case("true") || v.eq_ignore_ascii_case("false");
    match key {
        "BaseAddress" => {
            let lower = value.trim().to_ascii_lowercase();
            if !(lower.starts_with("https://") || lower.starts_with("http://")) || value.trim().len() < 9 {
                return Err(ProvisioningError::invalid_property(
                    "BaseAddress",
                    format!("the tenant URL (BaseAddress) must be an http:// or https:// URL, not '{value}'"),
                ));
            }
        }
        "SyncAll" | "SkipOutOfScopeDeletions" | "HardDeletesEnabled" if !flag(value) => {
            return Err(ProvisioningError::invalid_property(
                key,
                format!("'{key}' must be \"true\" or \"false\", not '{value}'"),
            ));
        }
        "SyncNotificationSettings" => {
            NotificationSettings::parse(value)?;
        }
        _ => {}
    }
    Ok(())
}

/// The notification and accidental-deletion settings, kept as the JSON string of the `SyncNotificationSettings`
/// secret: `{"Enabled":true,"Recipients":"a@x.com;b@y.com","DeleteThresholdEnabled":true,"DeleteThresholdValue":500}`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NotificationSettings {
    /// "Send an email notification when a failure occurs".
    pub enabled: bool,
    /// Where to send them.
    pub recipients: Vec<String>,
    /// "Prevent accidental deletion".
    pub delete_threshold_enabled: bool,
    /// "Accidental deletion threshold".
    pub delete_threshold: Option<u32>,
}

impl NotificationSettings {
    pub fn parse(text: &str) -> Result<NotificationSettings> {
        let bad = |why: String| ProvisioningError::invalid_property("SyncNotificationSettings", why);
        let v: Value = serde_json::from_str(text)
            .map_err(|e| bad(format!("SyncNotificationSettings must be a JSON object in a string: {e}")))?;
        let Some(o) = v.as_object() else {
            return Err(bad("SyncNotificationSettings must be a JSON object in a string".into()));
        };
        let mut s = NotificationSettings::default();
        for (k, v) in o {
            match (k.to_ascii_lowercase().as_str(), v) {
                ("enabled", Value::Bool(b)) => s.enabled = *b,
                ("deletethresholdenabled", Value::Bool(b)) => s.delete_threshold_enabled = *b,
                ("recipients", Value::String(r)) => {
                    s.recipients =
                        r.split([';', ',']).map(str::trim).filter(|a| !a.is_empty()).map(str::to_string).collect();
                    if let Some(a) = s.recipients.iter().find(|a| !is_address(a)) {
                        return Err(bad(format!("'{a}' in Recipients is not an email address")));
                    }
                }
                ("recipients", Value::Null) => {}
                ("deletethresholdvalue", Value::Number(n)) => {
                    let n = n
                        .as_u64()
                        .filter(|n| *n <= u64::from(u32::MAX))
                        .ok_or_else(|| bad("DeleteThresholdValue must be a whole number of deletions".into()))?;
                    s.delete_threshold = Some(n as u32);
                }
                ("deletethresholdvalue", Value::Null) => {}
                _ => {
                    return Err(bad(format!(
                        "'{k}': SyncNotificationSettings holds Enabled (boolean), Recipients (addresses separated by ';'), DeleteThresholdEnabled (boolean) and DeleteThresholdValue (number)"
                    )));
                }
            }
        }
        Ok(s)
    }
}

/// A plausible email address: `local@domain`, without spaces.
fn is_address(a: &str) -> bool {
    a.split_once('@').is_some_and(|(l, d)| !l.is_empty() && d.contains('.') && !a.chars().any(char::is_whitespace))
}

/// Seals and opens secret values. Build it from the operator's 32-byte key.
#[derive(Clone)]
pub struct Cipher {
    aead: ChaCha20Poly1305,
}

impl std::fmt::Debug for Cipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Cipher(***)")
    }
}

/// The version byte of the sealed format: `1 || nonce (12) || ciphertext with tag`.
const SEALED_V1: u8 = 1;

impl Cipher {
    pub fn new(key: &[u8; 32]) -> Cipher {
        Cipher { aead: ChaCha20Poly1305::new(Key::from_slice(key)) }
    }

    fn associated(tenant_id: &str, service_principal_id: &str, key: &str) -> Vec<u8> {
        format!("idplane secret v1\0{tenant_id}\0{service_principal_id}\0{key}").into_bytes()
    }

    pub fn seal(
        &self,
        tenant_id: &str,
        service_principal_id: &str,
        key: &str,
        value: &str,
    ) -> Result<Vec<u8>, StoreError> {
        let mut nonce = [0u8; 12];
        getrandom::fill(&mut nonce).map_err(|e| StoreError::Backend(format!("no randomness: {e}")))?;
        let aad = Cipher::associated(tenant_id, service_principal_id, key);
        let sealed = self
            .aead
            .encrypt(Nonce::from_slice(&nonce), Payload { msg: value.as_bytes(), aad: &aad })
            .map_err(|_| StoreError::Backend("a secret could not be sealed".into()))?;
        let mut out = Vec::with_capacity(1 + nonce.len() + sealed.len());
        out.push(SEALED_V1);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// Opens a sealed value; a failure means another key sealed it (or the row was tampered with).
    pub fn open(
        &self,
        tenant_id: &str,
        service_principal_id: &str,
        key: &str,
        sealed: &[u8],
    ) -> Result<String, StoreError> {
        let failed = || {
            StoreError::Backend(format!(
                "the secret {key} of service principal {service_principal_id} cannot be opened: it was sealed with another secrets key"
            ))
        };
        if sealed.len() < 13 || sealed[0] != SEALED_V1 {
            return Err(failed());
        }
        let aad = Cipher::associated(tenant_id, service_principal_id, key);
        let clear = self
            .aead
            .decrypt(Nonce::from_slice(&sealed[1..13]), Payload { msg: &sealed[13..], aad: &aad })
            .map_err(|_| failed())?;
        String::from_utf8(clear).map_err(|_| failed())
    }
}

/// The saved secrets of a service principal, in clear.
pub async fn saved(
    store: &dyn JobStore,
    cipher: &Cipher,
    tenant_id: &str,
    service_principal_id: &str,
) -> Result<Credentials> {
    let mut out = BTreeMap::new();
    for s in store.secrets(tenant_id, service_principal_id).await? {
        out.insert(s.key.clone(), cipher.open(tenant_id, service_principal_id, &s.key, &s.sealed)?);
    }
    Ok(Credentials(out))
}

/// Merges `changes` into the saved secrets: each key given is set, or removed when its value is empty.
pub async fn put(
    store: &dyn JobStore,
    cipher: &Cipher,
    tenant_id: &str,
    service_principal_id: &str,
    changes: &Credentials,
) -> Result<()> {
    let mut sealed = Vec::with_capacity(changes.0.len());
    for (k, v) in &changes.0 {
        let value = if v.is_empty() { None } else { Some(cipher.seal(tenant_id, service_principal_id, k, v)?) };
        sealed.push((k.clone(), value));
    }
    Ok(store.put_secrets(tenant_id, service_principal_id, &sealed).await?)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn sealed_values_open_only_where_they_were_sealed() -> Result<(), StoreError> {
        let c = Cipher::new(&[7; 32]);
        let s = c.seal("t", "sp", "SecretToken", "dapi123")?;
        assert!(!String::from_utf8_lossy(&s).contains("dapi123"));
        assert_eq!(c.open("t", "sp", "SecretToken", &s)?, "dapi123");
        assert!(c.open("t", "sp2", "SecretToken", &s).is_err(), "bound to its service principal");
        assert!(c.open("t", "sp", "Password", &s).is_err(), "bound to its key");
        assert!(Cipher::new(&[8; 32]).open("t", "sp", "SecretToken", &s).is_err(), "another key");
        assert_ne!(c.seal("t", "sp", "SecretToken", "dapi123")?, s, "a fresh nonce each time");
        Ok(())
    }

    #[test]
    fn pairs_are_checked_and_secret_values_masked() -> Result<()> {
        let pairs = json!([
            {"key": "baseaddress", "value": "https://h/api/2.1/accounts/a/scim/v2"},
            {"key": "SecretToken", "value": "dapi-secret"},
            {"key": "SyncAll", "value": false},
            {"key": "SyncNotificationSettings", "value": "{\"Enabled\":true,\"Recipients\":\"a@x.com;b@y.org\",\"DeleteThresholdEnabled\":true,\"DeleteThresholdValue\":500}"},
        ]);
        let c = Credentials::from_pairs(&pairs, "value")?;
        assert_eq!(c.get("BaseAddress"), Some("https://h/api/2.1/accounts/a/scim/v2"));
        assert_eq!(c.get("SyncAll"), Some("false"));
        let shown = format!("{c:?}");
        assert!(!shown.contains("dapi-secret") && shown.contains("\"SecretToken\": \"*\""), "{shown}");
        let n = NotificationSettings::parse(c.get("SyncNotificationSettings").unwrap_or_default())?;
        assert_eq!(n.recipients, ["a@x.com", "b@y.org"]);
        assert_eq!(n.delete_threshold, Some(500));
        for bad in [
            json!([{"key": "Nope", "value": "x"}]),
            json!([{"key": "BaseAddress", "value": "ftp://x"}]),
            json!([{"key": "SyncAll", "value": "maybe"}]),
            json!([{"key": "SyncNotificationSettings", "value": "{\"Recipients\":\"not an address\"}"}]),
            json!([{"key": "SyncNotificationSettings", "value": "nope"}]),
            json!({"key": "SyncAll"}),
        ] {
            assert!(Credentials::from_pairs(&bad, "value").is_err(), "{bad}");
        }
        Ok(())
    }
}
