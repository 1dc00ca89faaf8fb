//! The source directory, `Azure Active Directory`: its User and Group objects under the sync-schema names that
//! expressions and scoping filters use (the older Azure AD Graph names: `objectId`, `telephoneNumber`,
//! `physicalDeliveryOfficeName`, ...), and the reading of a Microsoft Graph v1.0 user or group into a
//! [`SourceObject`] with those names.
//!
//! Graph v1.0 to sync-schema names (users): `id` → `objectId`, `businessPhones[0]` → `telephoneNumber`,
//! `mobilePhone` → `mobile`, `faxNumber` → `facsimileTelephoneNumber`, `officeLocation` →
//! `physicalDeliveryOfficeName`, `onPremisesExtensionAttributes.extensionAttributeN` → `extensionAttributeN`; the
//! other properties keep their names. What Graph does not hold comes from the engine ([`DirectoryFacts`]): the
//! manager's id (`manager`), the group's members (`members`), the app role assignments
//! (`appRoleAssignments`), and whether the object is soft-deleted or assigned, from which `IsSoftDeleted` is
//! computed. A guest's `userPrincipalName` (`alias_theirdomain#EXT#@tenant`) reads as `alias@theirdomain`, as
//! Entra's provisioning service presents it; `originalUserPrincipalName` keeps the raw value.

use serde_json::{Map, Value, json};

use crate::error::Error;
use crate::schema::{AttributeDefinition, AttributeType, DirectoryDefinition, ObjectDefinition};
use crate::source::{IS_SOFT_DELETED, SourceObject};

/// The source directory's name, as Entra names it in schemas and logs.
pub const SOURCE_DIRECTORY: &str = "Azure Active Directory";

/// Graph v1.0 user properties copied under the same name, with their sync-schema type.
const USER_SAME_NAME: &[(&str, AttributeType)] = &[
    ("mail", AttributeType::String),
    ("mailNickname", AttributeType::String),
    ("givenName", AttributeType::String),
    ("surname", AttributeType::String),
    ("displayName", AttributeType::String),
    ("jobTitle", AttributeType::String),
    ("department", AttributeType::String),
    ("companyName", AttributeType::String),
    ("employeeId", AttributeType::String),
    ("employeeType", AttributeType::String),
    ("employeeHireDate", AttributeType::DateTime),
    ("streetAddress", AttributeType::String),
    ("city", AttributeType::String),
    ("state", AttributeType::String),
    ("postalCode", AttributeType::String),
    ("country", AttributeType::String),
    ("preferredLanguage", AttributeType::String),
    ("usageLocation", AttributeType::String),
    ("userType", AttributeType::String),
    ("accountEnabled", AttributeType::Boolean),
];

/// Graph v1.0 user properties read under another name: (Graph, sync schema).
const USER_RENAMED: &[(&str, &str)] = &[
    ("mobilePhone", "mobile"),
    ("faxNumber", "facsimileTelephoneNumber"),
    ("officeLocation", "physicalDeliveryOfficeName"),
];

/// Multi-valued Graph v1.0 user properties (strings) copied under the same name.
const USER_MULTIVALUED: &[&str] = &["proxyAddresses", "otherMails"];

/// Graph v1.0 group properties copied under the same name, with their sync-schema type.
const GROUP_SAME_NAME: &[(&str, AttributeType)] = &[
    ("displayName", AttributeType::String),
    ("description", AttributeType::String),
    ("mailNickname", AttributeType::String),
    ("mail", AttributeType::String),
    ("mailEnabled", AttributeType::Boolean),
    ("securityEnabled", AttributeType::Boolean),
];

const EXTENSION_ATTRIBUTES: usize = 15;

/// The `Azure Active Directory` directory definition.
pub fn source_directory() -> DirectoryDefinition {
    DirectoryDefinition {
        name: SOURCE_DIRECTORY.to_owned(),
        objects: vec![user_object(), group_object()],
        ..DirectoryDefinition::default()
    }
}

fn user_object() -> ObjectDefinition {
    let mut attributes = vec![
        AttributeDefinition::new("objectId", AttributeType::String).anchor(),
        AttributeDefinition::new("userPrincipalName", AttributeType::String),
        AttributeDefinition::new("originalUserPrincipalName", AttributeType::String),
    ];
    attributes.extend(USER_SAME_NAME.iter().map(|(name, t)| AttributeDefinition::new(name, *t)));
    attributes.push(AttributeDefinition::new("telephoneNumber", AttributeType::String));
    attributes.extend(USER_RENAMED.iter().map(|(_, name)| AttributeDefinition::new(name, AttributeType::String)));
    attributes.extend(
        USER_MULTIVALUED.iter().map(|name| AttributeDefinition::new(name, AttributeType::String).multivalued()),
    );
    attributes.extend(
        (1..=EXTENSION_ATTRIBUTES)
            .map(|n| AttributeDefinition::new(&format!("extensionAttribute{n}"), AttributeType::String)),
    );
    attributes.extend(engine_attributes());
    attributes.push(AttributeDefinition::new("manager", AttributeType::Reference).references(&["User"]));
    ObjectDefinition { name: "User".to_owned(), attributes, ..ObjectDefinition::default() }
}

fn group_object() -> ObjectDefinition {
    let mut attributes = vec![AttributeDefinition::new("objectId", AttributeType::String).anchor()];
    attributes.extend(GROUP_SAME_NAME.iter().map(|(name, t)| AttributeDefinition::new(name, *t)));
    attributes.extend(engine_attributes());
    attributes.push(
        AttributeDefinition::new("members", AttributeType::Reference).multivalued().references(&["User", "Group"]),
    );
    ObjectDefinition { name: "Group".to_owned(), attributes, ..ObjectDefinition::default() }
}

/// The attributes the engine computes rather than reads from Graph.
fn engine_attributes() -> [AttributeDefinition; 2] {
    [
        AttributeDefinition::new(IS_SOFT_DELETED, AttributeType::Boolean),
        AttributeDefinition::new("appRoleAssignments", AttributeType::String).multivalued(),
    ]
}

/// The kind of directory object to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DirectoryObjectType {
    User,
    Group,
}

impl DirectoryObjectType {
    /// The object's name in the source directory.
    pub fn as_str(self) -> &'static str {
        match self {
            DirectoryObjectType::User => "User",
            DirectoryObjectType::Group => "Group",
        }
    }
}

/// What the engine knows of a directory object besides its Graph properties.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DirectoryFacts {
    /// Deleted in the directory, not yet purged.
    pub soft_deleted: bool,
    /// In the job's assignment scope: assigned to the application directly or through a group, or any object
    /// when the job syncs all users and groups.
    pub assigned: bool,
    /// A user's manager's id.
    pub manager_id: Option<String>,
    /// A group's direct members' ids.
    pub members: Vec<String>,
    pub app_role_assignments: Vec<AppRoleAssignmentFact>,
}

/// One app role assignment of the object to the application. It reads as `{"id", "value", "displayName"}`: the
/// app role's id, value and display name, which the role functions of expressions need.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AppRoleAssignmentFact {
    pub app_role_id: String,
    pub value: Option<String>,
    pub display_name: Option<String>,
}

/// Reads a Graph v1.0 user or group (its JSON) as the source object the expressions and scoping filters read.
pub fn source_object_from_graph(
    object_type: DirectoryObjectType,
    graph: &Value,
    facts: &DirectoryFacts,
) -> Result<SourceObject, Error> {
    let kind = match object_type {
        DirectoryObjectType::User => "user",
        DirectoryObjectType::Group => "group",
    };
    let invalid = |detail: &str| Error::InvalidDirectoryObject { kind, detail: detail.to_owned() };
    let properties = graph.as_object().ok_or_else(|| invalid("expected a JSON object"))?;
    let id = properties
        .get("id")
        .and_then(Value::as_str)
        .filter(|id| !id.is_empty())
        .ok_or_else(|| invalid("it has no id"))?;
    let mut object = SourceObject::new(object_type.as_str(), id);
    object.set("objectId", json!(id));
    let mut soft_deleted = facts.soft_deleted || !facts.assigned;
    match object_type {
        DirectoryObjectType::User => {
            read_user(properties, facts, &mut object);
            // A user whose sign-in is blocked is deprovisioned like an unassigned one.
            soft_deleted |= properties.get("accountEnabled").and_then(Value::as_bool) == Some(false);
        }
        DirectoryObjectType::Group => {
            copy_same_name(properties, GROUP_SAME_NAME, &mut object);
            object.set("members", non_empty_array(facts.members.iter().map(|m| json!(m)).collect()));
        }
    }
    object.set(IS_SOFT_DELETED, Value::Bool(soft_deleted));
    let roles: Vec<Value> = facts
        .app_role_assignments
        .iter()
        .map(|r| json!({"id": r.app_role_id, "value": r.value, "displayName": r.display_name}))
        .collect();
    object.set("appRoleAssignments", non_empty_array(roles));
    Ok(object)
}

fn read_user(properties: &Map<String, Value>, facts: &DirectoryFacts, object: &mut SourceObject) {
    copy_same_name(properties, USER_SAME_NAME, object);
    for (graph, sync) in USER_RENAMED {
        object.set(sync, properties.get(*graph).cloned().unwrap_or(Value::Null));
    }
    for name in USER_MULTIVALUED {
        object.set(name, properties.get(*name).cloned().unwrap_or(Value::Null));
    }
    if let Some(upn) = properties.get("userPrincipalName").and_then(Value::as_str) {
        object.set("originalUserPrincipalName", json!(upn));
        object.set("userPrincipalName", json!(guest_home_upn(upn).unwrap_or_else(|| upn.to_owned())));
    }
    let first_phone = properties.get("businessPhones").and_then(Value::as_array).and_then(|p| p.first());
    object.set("telephoneNumber", first_phone.cloned().unwrap_or(Value::Null));
    if let Some(extensions) = properties.get("onPremisesExtensionAttributes").and_then(Value::as_object) {
        for n in 1..=EXTENSION_ATTRIBUTES {
            let name = format!("extensionAttribute{n}");
            object.set(&name, extensions.get(&name).cloned().unwrap_or(Value::Null));
        }
    }
    object.set("manager", facts.manager_id.as_deref().map(|m| json!(m)).unwrap_or(Value::Null));
}

fn copy_same_name(properties: &Map<String, Value>, names: &[(&str, AttributeType)], object: &mut SourceObject) {
    for (name, _) in names {
        object.set(name, properties.get(*name).cloned().unwrap_or(Value::Null));
    }
}

fn non_empty_array(items: Vec<Value>) -> Value {
    if items.is_empty() { Value::Null } else { Value::Array(items) }
}

/// A B2B guest's home identity: `jane_contoso.com#EXT#@fabrikam.onmicrosoft.com` is `jane@contoso.com`.
fn guest_home_upn(upn: &str) -> Option<String> {
    let (local, _) = upn.split_once("#EXT#")?;
    let (alias, domain) = local.rsplit_once('_')?;
    (!alias.is_empty() && !domain.is_empty()).then(|| format!("{alias}@{domain}"))
}

#[cfg(test)]
mod tests {
    use super::guest_home_upn;

    #[test]
    fn a_guest_reads_as_its_home_identity() {
        assert_eq!(
            guest_home_upn("jane_contoso.com#EXT#@fabrikam.onmicrosoft.com").as_deref(),
            Some("jane@contoso.com")
        );
        assert_eq!(
            guest_home_upn("j_doe_contoso.com#EXT#@fabrikam.onmicrosoft.com").as_deref(),
            Some("j_doe@contoso.com")
        );
        assert_eq!(guest_home_upn("jane@fabrikam.com"), None);
        assert_eq!(guest_home_upn("_#EXT#@fabrikam.com"), None);
    }
}
