//! Enterprise applications: an application object and its service principal (what Entra's portal calls the
//! enterprise application), created from an application template (`instantiate`), and the app role assignments that
//! say which users and groups it is for ("Users and groups").
//!
//! Assignment rules, as Entra ID has them: a principal is a user or a group of the tenant; a group must be
//! security-enabled to be assigned; the role is the default access role ([`DEFAULT_ACCESS_ROLE`]) unless the
//! service principal declares roles; a principal holds a role on a resource once.

use serde_json::{Map, Value, json};
use time::OffsetDateTime;

use crate::directory::{DirectoryObject, ObjectKind, rfc3339};
use crate::error::{ProvisioningError, Result};
use crate::ids;
use crate::store::{ApplicationStore, ProvisioningStore};

/// The app role id of "Default Access": what an assignment names when the application declares no roles.
pub const DEFAULT_ACCESS_ROLE: &str = "00000000-0000-0000-0000-000000000000";

/// An application object.
#[derive(Debug, Clone, PartialEq)]
pub struct Application {
    pub id: String,
    pub tenant_id: String,
    /// The application (client) id, a GUID shared with its service principal.
    pub app_id: String,
    pub display_name: String,
    /// The application template it was made from.
    pub template_id: Option<String>,
    /// Further Graph properties clients set (`notes`, `tags`, `description`, ...).
    pub doc: Map<String, Value>,
    pub version: i64,
    pub created: OffsetDateTime,
}

/// A service principal: the application's instance in the tenant, which assignments and provisioning attach to.
#[derive(Debug, Clone, PartialEq)]
pub struct ServicePrincipal {
    pub id: String,
    pub tenant_id: String,
    pub app_id: String,
    /// The object id of its application.
    pub application_id: String,
    pub display_name: String,
    pub template_id: Option<String>,
    /// "Assignment required?": when false, users need no assignment to sign in (and, for provisioning, Entra's
    /// scope setting decides). Entra sets it for apps made from templates.
    pub app_role_assignment_required: bool,
    /// Further Graph properties (`notes`, `notificationEmailAddresses`, `tags`, `accountEnabled`, ...).
    pub doc: Map<String, Value>,
    pub version: i64,
    pub created: OffsetDateTime,
}

/// An app role assignment: `principal_id` (a user or group) has `app_role_id` on the service principal
/// `resource_id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppRoleAssignment {
    pub id: String,
    pub tenant_id: String,
    pub resource_id: String,
    pub principal_id: String,
    pub principal_type: ObjectKind,
    pub app_role_id: String,
    pub created: OffsetDateTime,
}

/// An assignment with the names Graph shows beside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssignmentView {
    pub assignment: AppRoleAssignment,
    pub principal_display_name: String,
    pub resource_display_name: String,
}

impl AssignmentView {
    pub fn render(&self) -> Map<String, Value> {
        let a = &self.assignment;
        let v = json!({
            "id": a.id,
            "deletedDateTime": null,
            "appRoleId": a.app_role_id,
            "createdDateTime": rfc3339(a.created),
            "principalDisplayName": self.principal_display_name,
            "principalId": a.principal_id,
            "principalType": a.principal_type.title(),
            "resourceDisplayName": self.resource_display_name,
            "resourceId": a.resource_id,
        });
        v.as_object().cloned().unwrap_or_default()
    }
}

/// The properties of a service principal a client may change (PATCH), and their JSON types.
const SERVICE_PRINCIPAL_WRITABLE: &[(&str, Kind)] = &[
    ("displayName", Kind::Text),
    ("appRoleAssignmentRequired", Kind::Flag),
    ("accountEnabled", Kind::Flag),
    ("notes", Kind::Text),
    ("description", Kind::Text),
    ("homepage", Kind::Text),
    ("loginUrl", Kind::Text),
    ("logoutUrl", Kind::Text),
    ("preferredSingleSignOnMode", Kind::Text),
    ("notificationEmailAddresses", Kind::Texts),
    ("replyUrls", Kind::Texts),
    ("tags", Kind::Texts),
];

/// The properties of an application a client may change.
const APPLICATION_WRITABLE: &[(&str, Kind)] = &[
    ("displayName", Kind::Text),
    ("description", Kind::Text),
    ("notes", Kind::Text),
    ("tags", Kind::Texts),
    ("signInAudience", Kind::Text),
];

#[derive(Debug, Clone, Copy)]
enum Kind {
    Text,
    Flag,
    Texts,
}

/// Checks a PATCH body against a writable-property table; the changes, canonical names.
fn changes(table: &[(&str, Kind)], resource: &str, body: &Value) -> Result<Map<String, Value>> {
    let Some(fields) = body.as_object() else {
        return Err(ProvisioningError::invalid("The request body must be a JSON object."));
    };
    let mut out = Map::new();
    for (name, value) in fields {
        if name.starts_with('@') || name.contains("@odata.") {
            continue;
        }
        let Some((canonical, kind)) = table.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)) else {
            return Err(ProvisioningError::invalid_property(
                name,
                format!("Property '{name}' cannot be set on a {resource} by idplane (it is unknown or read-only)."),
            ));
        };
        let ok = match (kind, value) {
            (_, Value::Null) => !matches!(kind, Kind::Flag) && *canonical != "displayName",
            (Kind::Text, Value::String(s)) => s.chars().count() <= 1024,
            (Kind::Flag, Value::Bool(_)) => true,
            (Kind::Texts, Value::Array(items)) => items.len() <= 100 && items.iter().all(Value::is_string),
            _ => false,
        };
        if !ok {
            let want = match kind {
                Kind::Text => "a string of at most 1024 characters",
                Kind::Flag => "true or false",
                Kind::Texts => "an array of at most 100 strings",
            };
            return Err(ProvisioningError::invalid_property(
                canonical,
                format!(
                    "Invalid value specified for property '{canonical}' of resource '{resource}': expected {want}."
                ),
            ));
        }
        out.insert((*canonical).to_string(), value.clone());
    }
    Ok(out)
}

fn apply(doc: &mut Map<String, Value>, changes: Map<String, Value>) {
    for (k, v) in changes {
        if v.is_null() {
            doc.remove(&k);
        } else {
            doc.insert(k, v);
        }
    }
}

/// Creates an application and its service principal from an application template (`template_id`: `None` for
/// an application made without one). As Entra does for template apps, assignment is required by default.
pub async fn instantiate(
    store: &dyn ApplicationStore,
    tenant_id: &str,
    template_id: Option<&str>,
    display_name: &str,
    now: OffsetDateTime,
) -> Result<(Application, ServicePrincipal)> {
    let display_name = display_name.trim();
    if display_name.is_empty() || display_name.chars().count() > 256 {
        return Err(ProvisioningError::invalid_property("displayName", "displayName is required: 1 to 256 characters"));
    }
    let app_id = ids::random_guid()?;
    let app = Application {
        id: ids::new_guid(now)?,
        tenant_id: tenant_id.to_string(),
        app_id: app_id.clone(),
        display_name: display_name.to_string(),
        template_id: template_id.map(str::to_string),
        doc: Map::new(),
        version: 1,
        created: now,
    };
    let mut doc = Map::new();
    doc.insert("accountEnabled".into(), Value::Bool(true));
    doc.insert("tags".into(), json!(["WindowsAzureActiveDirectoryIntegratedApp"]));
    let sp = ServicePrincipal {
        id: ids::new_guid(now)?,
        tenant_id: tenant_id.to_string(),
        app_id,
        application_id: app.id.clone(),
        display_name: display_name.to_string(),
        template_id: template_id.map(str::to_string),
        app_role_assignment_required: true,
        doc,
        version: 1,
        created: now,
    };
    store.insert_application(&app, &sp).await?;
    Ok((app, sp))
}

/// Applies a PATCH to a service principal (`displayName`, `appRoleAssignmentRequired`, `notes`,
/// `notificationEmailAddresses`, ...), retrying if another writer changed it meanwhile.
pub async fn update_service_principal(
    store: &dyn ApplicationStore,
    tenant_id: &str,
    id: &str,
    body: &Value,
) -> Result<ServicePrincipal> {
    let set = changes(SERVICE_PRINCIPAL_WRITABLE, "ServicePrincipal", body)?;
    for _ in 0..5 {
        let mut sp = service_principal(store, tenant_id, id).await?;
        let expected = sp.version;
        let mut doc = sp.doc.clone();
        apply(&mut doc, set.clone());
        if let Some(name) = doc.remove("displayName").and_then(|v| v.as_str().map(str::to_string)) {
            sp.display_name = name;
        }
        if let Some(required) = doc.remove("appRoleAssignmentRequired").and_then(|v| v.as_bool()) {
            sp.app_role_assignment_required = required;
        }
        sp.doc = doc;
        match store.update_service_principal(&sp, expected).await {
            Ok(version) => return Ok(ServicePrincipal { version, ..sp }),
            Err(idplane_core::error::StoreError::VersionMismatch) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(ProvisioningError::Busy(format!("servicePrincipal {id} kept changing; try again")))
}

/// Applies a PATCH to an application (`displayName`, `description`, `notes`, `tags`).
pub async fn update_application(
    store: &dyn ApplicationStore,
    tenant_id: &str,
    id: &str,
    body: &Value,
) -> Result<Application> {
    let set = changes(APPLICATION_WRITABLE, "Application", body)?;
    for _ in 0..5 {
        let mut app =
            store.application(tenant_id, id).await?.ok_or_else(|| ProvisioningError::not_found("application", id))?;
        let expected = app.version;
        let mut doc = app.doc.clone();
        apply(&mut doc, set.clone());
        if let Some(name) = doc.remove("displayName").and_then(|v| v.as_str().map(str::to_string)) {
            app.display_name = name;
        }
        app.doc = doc;
        match store.update_application(&app, expected).await {
            Ok(version) => return Ok(Application { version, ..app }),
            Err(idplane_core::error::StoreError::VersionMismatch) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(ProvisioningError::Busy(format!("application {id} kept changing; try again")))
}

/// The service principal `id` of the tenant, or a 404.
pub async fn service_principal(store: &dyn ApplicationStore, tenant_id: &str, id: &str) -> Result<ServicePrincipal> {
    store.service_principal(tenant_id, id).await?.ok_or_else(|| ProvisioningError::not_found("servicePrincipal", id))
}

/// What an assignment request names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAssignment {
    pub principal_id: String,
    pub resource_id: String,
    pub app_role_id: String,
}

impl NewAssignment {
    /// Reads Graph's body `{"principalId","resourceId","appRoleId"}`; `appRoleId` defaults to default access.
    pub fn from_body(body: &Value) -> Result<NewAssignment> {
        let text = |name: &str| body.get(name).and_then(Value::as_str).map(str::trim).map(str::to_string);
        let principal_id = text("principalId").filter(|s| ids::is_guid(s)).ok_or_else(|| {
            ProvisioningError::invalid_property("principalId", "principalId must be the id of a user or group")
        })?;
        let resource_id = text("resourceId").filter(|s| ids::is_guid(s)).ok_or_else(|| {
            ProvisioningError::invalid_property("resourceId", "resourceId must be the id of a service principal")
        })?;
        let app_role_id = match text("appRoleId") {
            None => DEFAULT_ACCESS_ROLE.to_string(),
            Some(r) if ids::is_guid(&r) => r.to_ascii_lowercase(),
            Some(r) => {
                return Err(ProvisioningError::invalid_property("appRoleId", format!("appRoleId '{r}' is not a GUID")));
            }
        };
        Ok(NewAssignment { principal_id, resource_id, app_role_id })
    }
}

/// The app roles a service principal declares (`appRoles[].id`), besides default access.
fn declared_roles(sp: &ServicePrincipal) -> Vec<String> {
    sp.doc
        .get("appRoles")
        .and_then(Value::as_array)
        .map(|roles| {
            roles.iter().filter_map(|r| r.get("id").and_then(Value::as_str)).map(str::to_ascii_lowercase).collect()
        })
        .unwrap_or_default()
}

/// Assigns a user or a security-enabled group to a service principal.
pub async fn assign(
    store: &dyn ProvisioningStore,
    tenant_id: &str,
    new: &NewAssignment,
    now: OffsetDateTime,
) -> Result<AssignmentView> {
    let sp = service_principal(store, tenant_id, &new.resource_id).await?;
    let principal: DirectoryObject = store
        .object(tenant_id, None, &new.principal_id, false)
        .await?
        .ok_or_else(|| ProvisioningError::not_found("directoryObject", new.principal_id.clone()))?;
    if principal.kind == ObjectKind::Group && principal.flag("securityEnabled") != Some(true) {
        return Err(ProvisioningError::invalid_property(
            "principalId",
            format!(
                "group '{}' is not security-enabled: only security groups can be assigned to an application",
                principal.display_name()
            ),
        ));
    }
    let roles = declared_roles(&sp);
    if new.app_role_id != DEFAULT_ACCESS_ROLE && !roles.contains(&new.app_role_id) {
        return Err(ProvisioningError::invalid_property(
            "appRoleId",
            format!(
                "Permission being assigned was not found on application '{}': appRoleId {}",
                sp.display_name, new.app_role_id
            ),
        ));
    }
    let assignment = AppRoleAssignment {
        id: ids::new_assignment_id()?,
        tenant_id: tenant_id.to_string(),
        resource_id: sp.id.clone(),
        principal_id: principal.id.clone(),
        principal_type: principal.kind,
        app_role_id: new.app_role_id.clone(),
        created: now,
    };
    match store.insert_assignment(&assignment).await {
        Ok(()) => {}
        Err(idplane_core::error::StoreError::Conflict(_)) => {
            return Err(ProvisioningError::Conflict("Permission being assigned already exists on the object".into()));
        }
        Err(e) => return Err(e.into()),
    }
    Ok(AssignmentView {
        assignment,
        principal_display_name: principal.display_name().to_string(),
        resource_display_name: sp.display_name.clone(),
    })
}

impl Application {
    pub fn render(&self) -> Map<String, Value> {
        let mut out = Map::new();
        out.insert("id".into(), json!(self.id));
        out.insert("appId".into(), json!(self.app_id));
        out.insert("applicationTemplateId".into(), json!(self.template_id));
        out.insert("createdDateTime".into(), json!(rfc3339(self.created)));
        out.insert("deletedDateTime".into(), Value::Null);
        out.insert("displayName".into(), json!(self.display_name));
        out.insert("signInAudience".into(), self.doc.get("signInAudience").cloned().unwrap_or(json!("AzureADMyOrg")));
        for (k, v) in &self.doc {
            out.entry(k.clone()).or_insert_with(|| v.clone());
        }
        out.entry("tags").or_insert_with(|| json!([]));
        out
    }
}

impl ServicePrincipal {
    pub fn render(&self, app: Option<&Application>) -> Map<String, Value> {
        let mut out = Map::new();
        out.insert("id".into(), json!(self.id));
        out.insert("deletedDateTime".into(), Value::Null);
        out.insert("accountEnabled".into(), self.doc.get("accountEnabled").cloned().unwrap_or(json!(true)));
        out.insert("appDisplayName".into(), json!(app.map_or(self.display_name.as_str(), |a| a.display_name.as_str())));
        out.insert("appId".into(), json!(self.app_id));
        out.insert("applicationTemplateId".into(), json!(self.template_id));
        out.insert("appRoleAssignmentRequired".into(), json!(self.app_role_assignment_required));
        out.insert("appRoles".into(), self.doc.get("appRoles").cloned().unwrap_or(json!([])));
        out.insert("displayName".into(), json!(self.display_name));
        out.insert("servicePrincipalNames".into(), json!([self.app_id]));
        out.insert("servicePrincipalType".into(), json!("Application"));
        // idplane's own (Entra's list shows "Created on"): when the enterprise application was added.
        out.insert("createdDateTime".into(), json!(rfc3339(self.created)));
        for (k, v) in &self.doc {
            out.entry(k.clone()).or_insert_with(|| v.clone());
        }
        for list in ["notificationEmailAddresses", "replyUrls", "tags"] {
            out.entry(list).or_insert_with(|| json!([]));
        }
        for text in ["notes", "description", "homepage", "loginUrl", "logoutUrl", "preferredSingleSignOnMode"] {
            out.entry(text).or_insert(Value::Null);
        }
        out
    }
}
