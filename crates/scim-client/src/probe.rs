//! Test Connection, as Entra does it: look up a user that cannot exist, `GET <tenant>/Users?filter=userName eq
//! "<random GUID>"`, and expect `200` with a ListResponse of no resources. The same probe starts every provisioning
//! cycle. A failure is one value ([`ConnectionTestFailure`]) whose `Display` is the message an admin sees: an
//! Entra-like error code, what happened, what to check, and the request that was made.

use std::fmt;

use crate::client::{Endpoint, ScimClient, eq_filter, list_page, success, unexpected};
use crate::error::Error;
use crate::transport::Method;

/// The matching attribute Entra probes with unless the mappings say otherwise.
pub const DEFAULT_MATCHING_ATTRIBUTE: &str = "userName";

/// The error codes Entra shows for a failed Test Connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionTestCode {
    /// The target could not be reached or did not answer as expected.
    CredentialValidationUnavailable,
    /// The target refused the credentials (401, 403).
    CredentialValidationFailure,
    /// The target answered, but not as a SCIM service does (a body that is not a ListResponse, a filter ignored).
    ServiceIncompatible,
    /// The request goes through on-premises agents, and none could carry it: Entra's code for why
    /// (`HybridIdentityServiceNoActiveAgents`, `HybridIdentityServiceAgentSignalingError`, `TimeOut`, ...).
    Relay(&'static str),
}

impl ConnectionTestCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectionTestCode::CredentialValidationUnavailable => {
                "SystemForCrossDomainIdentityManagementCredentialValidationUnavailable"
            }
            ConnectionTestCode::CredentialValidationFailure => {
                "SystemForCrossDomainIdentityManagementCredentialValidationFailure"
            }
            ConnectionTestCode::ServiceIncompatible => "SystemForCrossDomainIdentityManagementServiceIncompatible",
            ConnectionTestCode::Relay(code) => code,
        }
    }
}

impl fmt::Display for ConnectionTestCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why Test Connection failed: the code, and the error (which names the request that was made).
#[derive(Debug)]
pub struct ConnectionTestFailure {
    pub code: ConnectionTestCode,
    pub error: Error,
}

impl ConnectionTestFailure {
    fn new(error: Error) -> ConnectionTestFailure {
        let code = match &error {
            Error::Status { response, .. } if matches!(response.status, 401 | 403) => {
                ConnectionTestCode::CredentialValidationFailure
            }
            Error::UnexpectedBody { .. } => ConnectionTestCode::ServiceIncompatible,
            Error::Relay { code, .. } if code.starts_with("HybridIdentityService") || *code == "TimeOut" => {
                ConnectionTestCode::Relay(code)
            }
            _ => ConnectionTestCode::CredentialValidationUnavailable,
        };
        ConnectionTestFailure { code, error }
    }

    /// What to check, for the failures where the error alone does not say it.
    fn advice(&self) -> Option<&'static str> {
        match self.error.status()? {
            401 => Some(
                "the target did not accept the secret token: check that it is the target's SCIM token for this \
                 tenant URL and that it has not expired or been revoked",
            ),
            403 => Some("the target accepted the secret token but does not allow it to manage users"),
            404 | 405 => Some(
                "the tenant URL's path seems wrong: it must be the SCIM base, to which /Users is appended (for \
                 Databricks, the account's SCIM URL ending in /scim/v2, or a workspace's ending in \
                 /api/2.0/preview/scim)",
            ),
            429 => Some("the target limits the rate of requests: try again later"),
            500..=599 => Some("the target failed to answer: try again later, and check its logs"),
            _ => None,
        }
    }
}

impl fmt::Display for ConnectionTestFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Test Connection failed with {}: ", self.code)?;
        if let Some(advice) = self.advice() {
            write!(f, "{advice}; ")?;
        }
        write!(f, "{}", self.error)
    }
}

impl std::error::Error for ConnectionTestFailure {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

impl ScimClient {
    /// Test Connection (Entra's probe): `GET <tenant>/Users?filter=<attribute> eq "<guid>"`. Succeeds when the
    /// target answers `200` with a ListResponse of no resources. `guid` comes from the caller (a random GUID in
    /// production, a fixed one in tests); `attribute` is the matching attribute ([`DEFAULT_MATCHING_ATTRIBUTE`]
    /// unless the mappings say otherwise).
    pub async fn test_connection(&self, attribute: &str, guid: &str) -> Result<(), ConnectionTestFailure> {
        let fail = |e: Error| ConnectionTestFailure::new(e);
        if attribute.trim().is_empty() || attribute.chars().any(char::is_control) {
            return Err(fail(Error::Request(format!(
                "the matching attribute \"{}\" is not an attribute name (such as {DEFAULT_MATCHING_ATTRIBUTE})",
                attribute.escape_debug()
            ))));
        }
        let filter = eq_filter(attribute, guid);
        let request = self.request(Method::Get, &[Endpoint::USERS.as_str()], &[("filter", filter)], None);
        let (line, response) = self.exchange(request).await.map_err(fail)?;
        let (line, response) = success(line, response).map_err(fail)?;
        if response.status != 200 {
            let problem = format!("Test Connection expects 200 with a ListResponse, not {}", response.status);
            return Err(fail(unexpected(&line, &response, "a ListResponse with status 200", problem)));
        }
        let page = list_page(&line, &response).map_err(fail)?;
        if page.total_results > 0 || !page.resources.is_empty() {
            let problem = format!(
                "it lists {} resources (totalResults {}) for a {attribute} that no user has: the target does not \
                 honour the filter, which matching users needs",
                page.resources.len(),
                page.total_results
            );
            return Err(fail(unexpected(&line, &response, "an empty ListResponse", problem)));
        }
        Ok(())
    }
}
