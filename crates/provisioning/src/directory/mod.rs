//! The directory: users and groups of a tenant, as Microsoft Graph v1.0 shows them, with group membership (groups
//! may hold groups: nesting), a user's manager, soft deletion and restore, and an ordered change feed.
//!
//! An object is stored as its Graph properties (a JSON document of the writable properties it has; see
//! [`properties`]) plus the columns the store indexes ([`IndexKeys`]). Rules, as Entra ID has them:
//! - `userPrincipalName` is unique among a tenant's live users, case-insensitively. A deleted user's name may be
//!   reused; restoring the deleted user then fails until one of the two is renamed.
//! - Deleting a user moves it to the deleted items, where it can be restored or deleted permanently; Microsoft 365
//!   groups (`groupTypes` containing `Unified`) likewise; security groups are deleted at once, as Entra deletes them.
//!   A soft-deleted object keeps its memberships and assignments (restoring it brings them back) but is absent from
//!   every listing other than the deleted items.
//! - A group's members are users and groups; a group cannot contain itself, directly or through other groups.
//!
//! Every change to an object, its memberships, its manager or its app role assignments appends to the tenant's
//! change feed ([`Change`]) in the same transaction, numbered in commit order per tenant: what an incremental
//! provisioning cycle reads.

pub mod properties;
pub mod query;
pub mod service;

use serde_json::{Map, Value};
use time::OffsetDateTime;

use crate::error::{ProvisioningError, Result};
use properties::{PropType, Property};

/// The kinds of directory objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ObjectKind {
    User,
    Group,
}

impl ObjectKind {
    /// The stored code, and the name Graph uses in paths (`users`, `groups`) without the plural.
    pub fn code(self) -> &'static str {
        match self {
            ObjectKind::User => "user",
            ObjectKind::Group => "group",
        }
    }

    pub fn from_code(code: &str) -> Option<Self> {
        match code {
            "user" => Some(ObjectKind::User),
            "group" => Some(ObjectKind::Group),
            _ => None,
        }
    }

    /// Graph's type name (`@odata.type` is `#` and this).
    pub fn graph_type(self) -> &'static str {
        match self {
            ObjectKind::User => "microsoft.graph.user",
            ObjectKind::Group => "microsoft.graph.group",
        }
    }

    /// The name of the kind in messages and in Graph's errors (`User`, `Group`).
    pub fn title(self) -> &'static str {
        match self {
            ObjectKind::User => "User",
            ObjectKind::Group => "Group",
        }
    }

    pub fn properties(self) -> &'static [Property] {
        match self {
            ObjectKind::User => properties::USER,
            ObjectKind::Group => properties::GROUP,
        }
    }
}

/// A user or a group.
#[derive(Debug, Clone, PartialEq)]
pub struct DirectoryObject {
    pub id: String,
    pub tenant_id: String,
    pub kind: ObjectKind,
    /// The writable Graph properties it has (no nulls).
    pub doc: Map<String, Value>,
    /// A user's manager (a user of the same tenant).
    pub manager_id: Option<String>,
    /// When it was soft-deleted, if it is in the deleted items.
    pub deleted: Option<OffsetDateTime>,
    /// Incremented by every change (optimistic concurrency).
    pub version: i64,
    pub created: OffsetDateTime,
    pub last_modified: OffsetDateTime,
}

/// The columns the store indexes, computed from the document: lowercase keys for the case-insensitive lookups and
/// filters Graph answers (`userPrincipalName`, `displayName`, `mail`, `mailNickname`, `employeeId`), and flags.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IndexKeys {
    /// A user's lowercase `userPrincipalName`: unique in the tenant.
    pub unique_key: Option<String>,
    pub display_key: Option<String>,
    pub mail_key: Option<String>,
    pub nickname_key: Option<String>,
    pub employee_key: Option<String>,
    pub account_enabled: Option<bool>,
    pub security_enabled: Option<bool>,
    pub mail_enabled: Option<bool>,
}

/// The lowercase form in which keys are stored and compared.
pub fn fold(s: &str) -> String {
    s.to_lowercase()
}

impl DirectoryObject {
    pub fn text(&self, property: &str) -> Option<&str> {
        self.doc.get(property).and_then(Value::as_str)
    }

    pub fn flag(&self, property: &str) -> Option<bool> {
        self.doc.get(property).and_then(Value::as_bool)
    }

    pub fn display_name(&self) -> &str {
        self.text("displayName").unwrap_or_default()
    }

    /// A user's `accountEnabled` (true unless set false); groups are always enabled.
    pub fn enabled(&self) -> bool {
        self.flag("accountEnabled").unwrap_or(true)
    }

    /// Does deleting this object move it to the deleted items (users and Microsoft 365 groups), rather than delete
    /// it at once (security groups)?
    pub fn soft_deletes(&self) -> bool {
        match self.kind {
            ObjectKind::User => true,
            ObjectKind::Group => self
                .doc
                .get("groupTypes")
                .and_then(Value::as_array)
                .is_some_and(|t| t.iter().any(|v| v.as_str().is_some_and(|s| s.eq_ignore_ascii_case("Unified")))),
        }
    }

    pub fn index_keys(&self) -> IndexKeys {
        let key = |p: &str| self.text(p).map(fold);
        IndexKeys {
            unique_key: match self.kind {
                ObjectKind::User => key("userPrincipalName"),
                ObjectKind::Group => None,
            },
            display_key: key("displayName"),
            mail_key: key("mail"),
            nickname_key: key("mailNickname"),
            employee_key: key("employeeId"),
            account_enabled: match self.kind {
                ObjectKind::User => Some(self.enabled()),
                ObjectKind::Group => None,
            },
            security_enabled: self.flag("securityEnabled"),
            mail_enabled: self.flag("mailEnabled"),
        }
    }

    /// The Graph representation with the properties `select`ed (every default property when `None`); unset
    /// properties are `null`, as Graph shows them.
    pub fn render(&self, select: Option<&[&'static Property]>) -> Map<String, Value> {
        let mut out = Map::new();
        let all = self.kind.properties();
        let chosen: Vec<&Property> = match select {
            Some(s) => s.to_vec(),
            None => all.iter().filter(|p| p.default).collect(),
        };
        // `id` always comes first, selected or not, as Graph returns it.
        out.insert("id".into(), Value::String(self.id.clone()));
        for p in chosen {
            let v = match p.name {
                "id" => continue,
                "createdDateTime" => Value::String(rfc3339(self.created)),
                "deletedDateTime" => self.deleted.map_or(Value::Null, |d| Value::String(rfc3339(d))),
                "accountEnabled" if self.kind == ObjectKind::User => Value::Bool(self.enabled()),
                name => self.doc.get(name).cloned().unwrap_or(match p.ty {
                    PropType::Strings => Value::Array(Vec::new()),
                    _ => Value::Null,
                }),
            };
            out.insert(p.name.to_string(), v);
        }
        out
    }
}

/// A time as Graph writes it: ISO 8601 in UTC with a `Z`, to the second.
pub fn rfc3339(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// The properties a `$select` names, for objects of `kind`: each known (case-insensitively), else a 400 naming it.
pub fn select(kind: ObjectKind, names: &[&str]) -> Result<Vec<&'static Property>> {
    names
        .iter()
        .map(|n| {
            properties::find(kind.properties(), n.trim()).ok_or_else(|| {
                ProvisioningError::invalid_property(
                    n,
                    format!("Could not find a property named '{}' on type '{}'.", n.trim(), kind.graph_type()),
                )
            })
        })
        .collect()
}

/// The id a reference names: a bare GUID, or an URL whose last segments are `directoryObjects/{id}`,
/// `users/{id}` or `groups/{id}` (what `@odata.id` and `members@odata.bind` carry, Graph's host or ours).
pub fn reference_id(reference: &str) -> Option<&str> {
    let r = reference.trim().trim_end_matches('/');
    if crate::ids::is_guid(r) {
        return Some(r);
    }
    let (rest, id) = r.rsplit_once('/')?;
    let collection = rest.rsplit('/').next()?;
    let known = ["directoryObjects", "users", "groups"].iter().any(|c| c.eq_ignore_ascii_case(collection));
    (known && !id.is_empty() && !id.contains(['?', '#'])).then_some(id)
}

/// What a write body changes, checked against the property table of its kind.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Changes {
    /// Properties to set (a `null` clears one).
    pub set: Map<String, Value>,
    /// Members to add (`members@odata.bind`), by id.
    pub members: Vec<String>,
}

/// The most references one `members@odata.bind` may carry, as Graph limits it.
pub const MAX_BIND: usize = 20;

/// Checks a POST or PATCH body for an object of `kind`: every property known and writable, of its type, within
/// bounds. Annotations (`@odata.type` and the like) are ignored, as are a user's `passwordProfile` (idplane has no
/// sign-in; the password is neither kept nor returned) and a group's `owners@odata.bind` (owners are not kept).
pub fn parse_changes(kind: ObjectKind, body: &Value) -> Result<Changes> {
    let Some(fields) = body.as_object() else {
        return Err(ProvisioningError::invalid("The request body must be a JSON object."));
    };
    let mut changes = Changes::default();
    for (name, value) in fields {
        if name.starts_with('@') || name.contains("@odata.") && !name.ends_with("@odata.bind") {
            continue;
        }
        match (kind, name.as_str()) {
            (ObjectKind::User, "passwordProfile") | (ObjectKind::User, "passwordPolicies") => {
                if !value.is_object() && !value.is_null() && !value.is_string() {
                    return Err(ProvisioningError::invalid_property(name, format!("'{name}' must be an object")));
                }
                continue;
            }
            (ObjectKind::Group, "owners@odata.bind") => continue,
            (ObjectKind::Group, "members@odata.bind") => {
                changes.members = bind_list(name, value)?;
                continue;
            }
            _ => {}
        }
        let Some(p) = properties::find(kind.properties(), name) else {
            return Err(ProvisioningError::invalid_property(
                name,
                format!("Property '{name}' does not exist as a declared property or extension property."),
            ));
        };
        if !p.writable {
            return Err(ProvisioningError::invalid_property(
                p.name,
                format!("Property '{}' is read-only and cannot be set.", p.name),
            ));
        }
        changes.set.insert(p.name.to_string(), check_value(kind, p, value)?);
    }
    Ok(changes)
}

fn bind_list(name: &str, value: &Value) -> Result<Vec<String>> {
    let Some(refs) = value.as_array() else {
        return Err(ProvisioningError::invalid_property(name, format!("'{name}' must be an array of object URLs")));
    };
    if refs.len() > MAX_BIND {
        return Err(ProvisioningError::invalid_property(
            name,
            format!("'{name}' may add at most {MAX_BIND} members in one request, not {}", refs.len()),
        ));
    }
    refs.iter()
        .map(|r| {
            r.as_str().and_then(reference_id).map(str::to_string).ok_or_else(|| {
                ProvisioningError::invalid_property(
                    name,
                    format!("'{r}' in '{name}' is not a reference such as \"https://graph.microsoft.com/v1.0/directoryObjects/{{id}}\""),
                )
            })
        })
        .collect()
}

fn check_value(kind: ObjectKind, p: &Property, value: &Value) -> Result<Value> {
    let invalid = |why: &str| {
        ProvisioningError::invalid_property(
            p.name,
            format!("Invalid value specified for property '{}' of resource '{}': {why}.", p.name, kind.title()),
        )
    };
    let check_str = |s: &str| {
        if s.chars().count() > properties::MAX_STRING {
            Err(invalid(&format!("longer than {} characters", properties::MAX_STRING)))
        } else {
            Ok(())
        }
    };
    match (p.ty, value) {
        (_, Value::Null) => Ok(Value::Null),
        (PropType::String, Value::String(s)) => check_str(s).map(|()| value.clone()),
        (PropType::Boolean, Value::Bool(_)) => Ok(value.clone()),
        (PropType::Strings, Value::Array(items)) => {
            if items.len() > properties::MAX_VALUES {
                return Err(invalid(&format!("more than {} values", properties::MAX_VALUES)));
            }
            for item in items {
                match item {
                    Value::String(s) => check_str(s)?,
                    _ => return Err(invalid("expected an array of strings")),
                }
            }
            Ok(value.clone())
        }
        (PropType::String, _) => Err(invalid("expected a string")),
        (PropType::Boolean, _) => Err(invalid("expected true or false")),
        (PropType::Strings, _) => Err(invalid("expected an array of strings")),
        (PropType::DateTime, _) => Err(invalid("it is read-only")),
    }
}

/// The document after `set` (nulls remove properties), checked for what every object of `kind` must have.
pub fn apply(kind: ObjectKind, doc: &Map<String, Value>, set: &Map<String, Value>) -> Result<Map<String, Value>> {
    let mut out = doc.clone();
    for (k, v) in set {
        if v.is_null() {
            out.remove(k);
        } else {
            out.insert(k.clone(), v.clone());
        }
    }
    let required: &[&str] = match kind {
        ObjectKind::User => &["displayName", "userPrincipalName"],
        ObjectKind::Group => &["displayName"],
    };
    for r in required {
        if out.get(*r).and_then(Value::as_str).is_none_or(|s| s.trim().is_empty()) {
            return Err(ProvisioningError::invalid_property(
                r,
                format!("Invalid value specified for property '{r}' of resource '{}': it is required.", kind.title()),
            ));
        }
    }
    if kind == ObjectKind::User
        && let Some(upn) = out.get("userPrincipalName").and_then(Value::as_str)
    {
        check_user_principal_name(upn)?;
    }
    Ok(out)
}

/// A user principal name is `alias@domain`: one `@`, no spaces, an alias of at most 64 characters without leading
/// or trailing dots, and a domain name.
pub fn check_user_principal_name(upn: &str) -> Result<()> {
    let bad = |why: &str| {
        ProvisioningError::invalid_property(
            "userPrincipalName",
            format!("Invalid value specified for property 'userPrincipalName' of resource 'User': '{upn}' {why}."),
        )
    };
    let Some((alias, domain)) = upn.split_once('@') else { return Err(bad("has no '@domain'")) };
    if alias.is_empty() || alias.chars().count() > 64 || alias.starts_with('.') || alias.ends_with('.') {
        return Err(bad("must have an alias of 1 to 64 characters, not starting or ending with '.'"));
    }
    if upn
        .chars()
        .any(|c| c.is_whitespace() || matches!(c, '"' | '\\' | '<' | '>' | '(' | ')' | ',' | ';' | ':' | '[' | ']'))
    {
        return Err(bad("contains a character a user principal name cannot have"));
    }
    if crate::tenant::check_domain(domain).is_err() {
        return Err(bad("must end in a domain name"));
    }
    Ok(())
}

/// A change recorded in a tenant's change feed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    Created,
    Updated,
    SoftDeleted,
    Restored,
    /// Deleted permanently.
    Deleted,
    /// `related_id` became a member of the group.
    MemberAdded,
    /// `related_id` stopped being a member of the group.
    MemberRemoved,
    /// The object was assigned to the service principal `related_id`.
    Assigned,
    /// An assignment of the object to the service principal `related_id` was removed.
    Unassigned,
}

impl ChangeKind {
    pub fn code(self) -> &'static str {
        match self {
            ChangeKind::Created => "created",
            ChangeKind::Updated => "updated",
            ChangeKind::SoftDeleted => "softDeleted",
            ChangeKind::Restored => "restored",
            ChangeKind::Deleted => "deleted",
            ChangeKind::MemberAdded => "memberAdded",
            ChangeKind::MemberRemoved => "memberRemoved",
            ChangeKind::Assigned => "assigned",
            ChangeKind::Unassigned => "unassigned",
        }
    }

    pub fn from_code(code: &str) -> Option<Self> {
        [
            ChangeKind::Created,
            ChangeKind::Updated,
            ChangeKind::SoftDeleted,
            ChangeKind::Restored,
            ChangeKind::Deleted,
            ChangeKind::MemberAdded,
            ChangeKind::MemberRemoved,
            ChangeKind::Assigned,
            ChangeKind::Unassigned,
        ]
        .into_iter()
        .find(|k| k.code() == code)
    }
}

/// One entry of a tenant's change feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// Position in the tenant's feed: 1, 2, 3, ... in commit order.
    pub seq: i64,
    pub object_id: String,
    pub object_kind: ObjectKind,
    pub kind: ChangeKind,
    /// The member (membership changes) or the service principal (assignment changes).
    pub related_id: Option<String>,
    pub at: OffsetDateTime,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn bodies_are_checked_against_the_property_table() {
        let ok = parse_changes(
            ObjectKind::User,
            &json!({"@odata.type": "#microsoft.graph.user", "displayname": "A", "accountEnabled": true,
                    "businessPhones": ["1"], "passwordProfile": {"password": "x"}}),
        );
        let set = ok.map(|c| c.set).unwrap_or_default();
        assert_eq!(set.get("displayName"), Some(&json!("A")), "names are matched case-insensitively");
        assert!(!set.contains_key("passwordProfile"), "passwords are never kept");
        for (body, needle) in [
            (json!({"nope": 1}), "'nope' does not exist"),
            (json!({"id": "x"}), "read-only"),
            (json!({"accountEnabled": "yes"}), "true or false"),
            (json!({"businessPhones": [1]}), "array of strings"),
            (json!({"displayName": "x".repeat(2000)}), "longer than"),
            (json!([1]), "JSON object"),
        ] {
            let e = parse_changes(ObjectKind::User, &body).err().map(|e| e.to_string()).unwrap_or_default();
            assert!(e.contains(needle), "{body}: {e}");
        }
    }

    #[test]
    fn members_bind_takes_references_up_to_twenty() {
        let id = "2b6e7b1a-8a0c-4f57-9a5c-5f4a4b0e6d11";
        let c = parse_changes(
            ObjectKind::Group,
            &json!({"displayName": "g", "members@odata.bind": [
                format!("https://graph.microsoft.com/v1.0/directoryObjects/{id}"),
                format!("http://127.0.0.1:1/v1.0/users/{id}"), id]}),
        );
        assert_eq!(c.map(|c| c.members.len()).ok(), Some(3));
        let many: Vec<String> = (0..21).map(|_| id.to_string()).collect();
        assert!(parse_changes(ObjectKind::Group, &json!({"members@odata.bind": many})).is_err());
        assert!(
            parse_changes(ObjectKind::Group, &json!({"members@odata.bind": ["https://x/v1.0/applications/1"]}))
                .is_err()
        );
    }

    #[test]
    fn required_properties_and_user_principal_names_are_checked() {
        let doc = Map::new();
        let set = |v: Value| v.as_object().cloned().unwrap_or_default();
        assert!(
            apply(ObjectKind::User, &doc, &set(json!({"displayName": "A", "userPrincipalName": "a@x.com"}))).is_ok()
        );
        for upn in ["a", "@x.com", "a b@x.com", "a@", "a@x..com", ".a@x.com"] {
            let r = apply(ObjectKind::User, &doc, &set(json!({"displayName": "A", "userPrincipalName": upn})));
            assert!(r.is_err(), "{upn}");
        }
        let full = set(json!({"displayName": "A", "userPrincipalName": "a@x.com"}));
        let cleared = apply(ObjectKind::User, &full, &set(json!({"displayName": null})));
        assert!(cleared.err().map(|e| e.to_string()).unwrap_or_default().contains("required"));
    }

    #[test]
    fn rendering_follows_graph_defaults_and_select() {
        let mut doc = Map::new();
        doc.insert("displayName".into(), json!("A"));
        doc.insert("department".into(), json!("Sales"));
        let t = OffsetDateTime::UNIX_EPOCH;
        let o = DirectoryObject {
            id: "1".into(),
            tenant_id: "t".into(),
            kind: ObjectKind::User,
            doc,
            manager_id: None,
            deleted: None,
            version: 1,
            created: t,
            last_modified: t,
        };
        let r = o.render(None);
        assert_eq!(r.get("mail"), Some(&Value::Null));
        assert_eq!(r.get("businessPhones"), Some(&json!([])));
        assert!(!r.contains_key("department"), "not a default property");
        let s = select(ObjectKind::User, &["Department", "accountEnabled", "createdDateTime"]).unwrap_or_default();
        let r = o.render(Some(&s));
        assert_eq!(r.keys().collect::<Vec<_>>(), ["id", "department", "accountEnabled", "createdDateTime"]);
        assert_eq!(r["createdDateTime"], "1970-01-01T00:00:00Z");
        assert!(select(ObjectKind::User, &["nope"]).is_err());
    }

    #[test]
    fn references_name_directory_objects() {
        let id = "2b6e7b1a-8a0c-4f57-9a5c-5f4a4b0e6d11";
        assert_eq!(reference_id(&format!("https://graph.microsoft.com/v1.0/directoryObjects/{id}")), Some(id));
        assert_eq!(reference_id(&format!("http://h/v1.0/Users/{id}/")), Some(id));
        assert_eq!(reference_id("https://h/v1.0/applications/x"), None);
        assert_eq!(reference_id("nonsense"), None);
    }
}
