//! Principals: users, groups and service principals, as the store keeps them.

use idplane_scim::filter::fold_case;
use serde_json::Value;
use time::OffsetDateTime;

/// The three kinds of principal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PrincipalKind {
    User,
    Group,
    ServicePrincipal,
}

impl PrincipalKind {
    /// The code the store uses.
    pub fn code(self) -> &'static str {
        match self {
            PrincipalKind::User => "user",
            PrincipalKind::Group => "group",
            PrincipalKind::ServicePrincipal => "sp",
        }
    }

    pub fn from_code(code: &str) -> Option<Self> {
        match code {
            "user" => Some(PrincipalKind::User),
            "group" => Some(PrincipalKind::Group),
            "sp" => Some(PrincipalKind::ServicePrincipal),
            _ => None,
        }
    }

    /// The SCIM endpoint name, also the prefix of relative `$ref`s (`Users/123`).
    pub fn endpoint(self) -> &'static str {
        match self {
            PrincipalKind::User => "Users",
            PrincipalKind::Group => "Groups",
            PrincipalKind::ServicePrincipal => "ServicePrincipals",
        }
    }

    /// The `type` of a group member of this kind.
    pub fn member_type(self) -> &'static str {
        match self {
            PrincipalKind::User => "User",
            PrincipalKind::Group => "Group",
            PrincipalKind::ServicePrincipal => "ServicePrincipal",
        }
    }

    /// The attribute that must be unique (case-insensitively) among principals of this kind in one home.
    pub fn unique_attribute(self) -> &'static str {
        match self {
            PrincipalKind::User => "userName",
            PrincipalKind::Group => "displayName",
            PrincipalKind::ServicePrincipal => "applicationId",
        }
    }
}

/// Where a principal lives: in the account, or locally in one workspace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Home {
    Account,
    Workspace(i64),
}

/// A principal as stored: its document (the client-settable attributes, canonicalised) plus what the service keeps.
#[derive(Debug, Clone, PartialEq)]
pub struct Principal {
    pub id: i64,
    pub kind: PrincipalKind,
    pub account_id: String,
    pub home: Home,
    pub doc: Value,
    /// Incremented on every change; `meta.version` and the ETag are `W/"<version>"`.
    pub version: i64,
    pub created: OffsetDateTime,
    pub last_modified: OffsetDateTime,
}

impl AsRef<Principal> for Principal {
    fn as_ref(&self) -> &Principal {
        self
    }
}

impl Principal {
    pub fn etag(&self) -> String {
        etag(self.version)
    }

    /// The name shown for this principal in `members[].display` and `groups[].display`.
    pub fn display(&self) -> String {
        display_of(self.kind, &self.doc)
    }
}

pub fn etag(version: i64) -> String {
    format!("W/\"{version}\"")
}

/// The display name of a principal document: `displayName`, else the unique attribute.
pub fn display_of(kind: PrincipalKind, doc: &Value) -> String {
    doc.get("displayName")
        .and_then(Value::as_str)
        .or_else(|| doc.get(kind.unique_attribute()).and_then(Value::as_str))
        .unwrap_or_default()
        .to_string()
}

/// A member of a group, as group rendering needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub id: i64,
    pub kind: PrincipalKind,
    /// The member's display name now.
    pub display: String,
    /// The `$ref` and `display` the client wrote for this membership, if any.
    pub given_reference: Option<String>,
    pub given_display: Option<String>,
}

/// A group a principal belongs to, directly or through nested groups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupRef {
    pub id: i64,
    pub display: String,
    pub direct: bool,
}

/// The values of the store's indexed columns for a principal document, derived in one place.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IndexedFields {
    /// The unique attribute (userName, displayName of a group, applicationId), as stored.
    pub unique: Option<String>,
    /// Its Unicode lowercase, for case-insensitive uniqueness and lookups.
    pub unique_key: Option<String>,
    pub external_id: Option<String>,
    pub display_name: Option<String>,
    pub active: Option<bool>,
    /// The case-folded `emails[].value`s of a user, each once: what `emails.value` filters look up.
    pub emails: Vec<String>,
}

impl IndexedFields {
    pub fn of(kind: PrincipalKind, doc: &Value) -> Self {
        let s = |k: &str| doc.get(k).and_then(Value::as_str).map(str::to_string);
        let unique = s(kind.unique_attribute());
        IndexedFields {
            unique_key: unique.as_deref().map(fold_case),
            unique,
            external_id: s("externalId"),
            display_name: s("displayName"),
            active: doc.get("active").and_then(Value::as_bool),
            emails: email_keys(doc),
        }
    }
}

/// The case-folded addresses of a document's `emails`, each once, in order.
fn email_keys(doc: &Value) -> Vec<String> {
    let mut keys: Vec<String> = Vec::new();
    let items = doc.get("emails").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    for key in items.iter().filter_map(|e| e.get("value").and_then(Value::as_str)).map(fold_case) {
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    keys
}
