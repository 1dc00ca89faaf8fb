//! The data of the application gallery and of the synchronization templates.
//!
//! - Application templates (Graph's `applicationTemplate`, what `GET /applicationTemplates` lists and
//!   `POST /applicationTemplates/{id}/instantiate` instantiates), each naming the synchronization template a
//!   provisioning job of its applications starts from ([`GalleryApplication`]).
//! - Synchronization templates (Graph's `synchronizationTemplate`): `dataBricks` ([`databricks`]) and `scim`
//!   ([`scim`]), each with its complete default schema: the source directory `Azure Active Directory`
//!   ([`entra`]), the target directory, and one rule with its users and groups object mappings. No template has a
//!   scoping filter: Entra's connectors have none by default.
//! - The reading of a Graph user or group as a source object ([`source_object_from_graph`]).
//!
//! Template ids. `9c9818d2-2900-49e8-8ba4-22688be7c675` is the gallery id of the "Azure Databricks SCIM
//! Provisioning Connector" (Microsoft's `Azure/data-landing-zone` sample instantiates it, with `dataBricks` as
//! its synchronization template); `8adf8e6e-67b2-4cf2-a259-e3dc5476c621` is Graph's documented non-gallery
//! template. The "On-premises SCIM app" id is not published: `5790cc74-a33a-4c3b-a247-d3eeda370205` is ours, fixed.
//!
//! The display names of the Databricks and on-premises entries are the gallery's; the non-gallery entry's, and
//! every entry's description, publisher, categories, home page and sign-on modes, are ours, in Graph's vocabulary
//! (`notSupported`, `saml`, `sync`). A synchronization template's `factoryTag` is its id, as in Graph's documented
//! sample (`{"id":"aws","factoryTag":"aws"}`). Where each template's defaults come from, and which of them are
//! inferred, is in [`scim`] and [`databricks`].

pub mod databricks;
pub mod entra;
pub mod scim;

use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::schema::{
    AttributeDefinition, AttributeMapping, AttributeType, DirectoryDefinition, MetadataEntry, ObjectFlowTypes,
    ObjectMapping, SynchronizationRule, SynchronizationSchema,
};

pub use entra::{
    AppRoleAssignmentFact, DirectoryFacts, DirectoryObjectType, SOURCE_DIRECTORY, source_directory,
    source_object_from_graph,
};

/// The gallery id of the "Azure Databricks SCIM Provisioning Connector".
pub const DATABRICKS_APPLICATION_TEMPLATE_ID: &str = "9c9818d2-2900-49e8-8ba4-22688be7c675";
/// Graph's template for a non-gallery ("bring your own") application.
pub const NON_GALLERY_APPLICATION_TEMPLATE_ID: &str = "8adf8e6e-67b2-4cf2-a259-e3dc5476c621";
/// The "On-premises SCIM app" (our id; see the module docs).
pub const ON_PREMISES_SCIM_APPLICATION_TEMPLATE_ID: &str = "5790cc74-a33a-4c3b-a247-d3eeda370205";

/// The synchronization template of the Databricks connector.
pub const DATABRICKS_TEMPLATE_ID: &str = "dataBricks";
/// The synchronization template of non-gallery and on-premises SCIM applications.
pub const SCIM_TEMPLATE_ID: &str = "scim";

/// The target directory of SCIM applications, as Entra names it in schemas and logs.
pub const SCIM_TARGET_DIRECTORY: &str = "customappsso";

/// Template metadata key: the application reaches its target through a provisioning agent.
pub const IS_SYNCHRONIZATION_AGENT_REQUIRED: &str = "IsSynchronizationAgentRequired";

/// Graph's `applicationTemplate`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationTemplate {
    pub id: String,
    pub display_name: String,
    pub description: Option<String>,
    pub publisher: String,
    pub categories: Vec<String>,
    pub home_page_url: Option<String>,
    pub logo_url: Option<String>,
    pub supported_single_sign_on_modes: Vec<String>,
    pub supported_provisioning_types: Vec<String>,
}

/// Graph's `synchronizationTemplate`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SynchronizationTemplate {
    pub id: String,
    /// The `appId` of the application the template belongs to; set when it is listed for one.
    pub application_id: Option<String>,
    pub default: bool,
    pub description: Option<String>,
    pub discoverable: bool,
    pub factory_tag: String,
    pub metadata: Vec<MetadataEntry>,
    pub schema: SynchronizationSchema,
}

impl SynchronizationTemplate {
    /// The value of a metadata entry.
    pub fn metadata_value(&self, key: &str) -> Option<&str> {
        self.metadata.iter().find(|m| m.key.eq_ignore_ascii_case(key)).map(|m| m.value.as_str())
    }

    /// Whether jobs of this template reach their target through a provisioning agent.
    pub fn requires_agent(&self) -> bool {
        self.metadata_value(IS_SYNCHRONIZATION_AGENT_REQUIRED).is_some_and(|v| v.eq_ignore_ascii_case("true"))
    }
}

/// An entry of the gallery: the application template, and the synchronization template its applications'
/// provisioning jobs start from, with the metadata that template carries for this application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GalleryApplication {
    pub template: ApplicationTemplate,
    pub synchronization_template_id: &'static str,
    pub synchronization_metadata: Vec<MetadataEntry>,
}

impl GalleryApplication {
    /// The synchronization template as listed for an application of this entry
    /// (`GET /servicePrincipals/{id}/synchronization/templates`).
    pub fn synchronization_template(&self) -> Result<SynchronizationTemplate, Error> {
        let mut template = synchronization_template(self.synchronization_template_id)?;
        for entry in &self.synchronization_metadata {
            template.metadata.retain(|m| !m.key.eq_ignore_ascii_case(&entry.key));
            template.metadata.push(entry.clone());
        }
        Ok(template)
    }
}

/// The gallery, in display-name order.
pub fn gallery() -> Vec<GalleryApplication> {
    let strings = |items: &[&str]| items.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    vec![
        GalleryApplication {
            template: ApplicationTemplate {
                id: DATABRICKS_APPLICATION_TEMPLATE_ID.to_owned(),
                display_name: "Azure Databricks SCIM Provisioning Connector".to_owned(),
                description: Some(
                    "Provision users and groups from your directory to a Databricks account through its SCIM API."
                        .to_owned(),
                ),
                publisher: "Databricks".to_owned(),
                categories: strings(&["dataServices", "developerServices"]),
                home_page_url: Some("https://www.databricks.com/".to_owned()),
                logo_url: None,
                supported_single_sign_on_modes: strings(&["notSupported"]),
                supported_provisioning_types: strings(&["sync"]),
            },
            synchronization_template_id: DATABRICKS_TEMPLATE_ID,
            synchronization_metadata: Vec::new(),
        },
        GalleryApplication {
            template: ApplicationTemplate {
                id: NON_GALLERY_APPLICATION_TEMPLATE_ID.to_owned(),
                display_name: "Non-gallery application".to_owned(),
                description: Some(
                    "An application that is not in the gallery: provision it through SCIM, and configure single \
                     sign-on yourself."
                        .to_owned(),
                ),
                publisher: "idplane".to_owned(),
                categories: Vec::new(),
                home_page_url: None,
                logo_url: None,
                supported_single_sign_on_modes: strings(&["password", "saml", "notSupported"]),
                supported_provisioning_types: strings(&["sync"]),
            },
            synchronization_template_id: SCIM_TEMPLATE_ID,
            synchronization_metadata: Vec::new(),
        },
        GalleryApplication {
            template: ApplicationTemplate {
                id: ON_PREMISES_SCIM_APPLICATION_TEMPLATE_ID.to_owned(),
                display_name: "On-premises SCIM app".to_owned(),
                description: Some(
                    "Provision users and groups to a SCIM endpoint on a private network, through a provisioning agent \
                     that connects out to this service."
                        .to_owned(),
                ),
                publisher: "Microsoft Corporation".to_owned(),
                categories: strings(&["itInfrastructure"]),
                home_page_url: None,
                logo_url: None,
                supported_single_sign_on_modes: strings(&["notSupported"]),
                supported_provisioning_types: strings(&["sync"]),
            },
            synchronization_template_id: SCIM_TEMPLATE_ID,
            synchronization_metadata: vec![MetadataEntry::new(IS_SYNCHRONIZATION_AGENT_REQUIRED, "true")],
        },
    ]
}

/// The application templates (the body of `GET /applicationTemplates`, its `value`).
pub fn application_templates() -> Vec<ApplicationTemplate> {
    gallery().into_iter().map(|entry| entry.template).collect()
}

/// The gallery entry of that application template id (ids compare case-insensitively, as GUIDs do).
pub fn gallery_application(id: &str) -> Result<GalleryApplication, Error> {
    gallery()
        .into_iter()
        .find(|entry| entry.template.id.eq_ignore_ascii_case(id.trim()))
        .ok_or_else(|| Error::UnknownApplicationTemplate { id: id.to_owned() })
}

/// Every synchronization template, without application-specific metadata.
pub fn synchronization_templates() -> Vec<SynchronizationTemplate> {
    vec![
        template(DATABRICKS_TEMPLATE_ID, "Azure Databricks SCIM Provisioning Connector", databricks::schema()),
        template(SCIM_TEMPLATE_ID, "SCIM 2.0 application (Entra's customappsso defaults)", scim::schema()),
    ]
}

/// The synchronization template of that id (as `POST .../jobs {"templateId"}` names it; exact, as Graph's ids are).
pub fn synchronization_template(id: &str) -> Result<SynchronizationTemplate, Error> {
    let templates = synchronization_templates();
    let known = templates.iter().map(|t| t.id.as_str()).collect::<Vec<_>>().join(", ");
    templates
        .into_iter()
        .find(|t| t.id == id)
        .ok_or_else(|| Error::UnknownSynchronizationTemplate { id: id.to_owned(), known })
}

fn template(id: &str, description: &str, schema: SynchronizationSchema) -> SynchronizationTemplate {
    SynchronizationTemplate {
        id: id.to_owned(),
        application_id: None,
        default: true,
        description: Some(description.to_owned()),
        discoverable: true,
        factory_tag: id.to_owned(),
        metadata: Vec::new(),
        schema,
    }
}

/// A target attribute of type String.
fn text(name: &str) -> AttributeDefinition {
    AttributeDefinition::new(name, AttributeType::String)
}

/// `active` from `IsSoftDeleted`, as every Entra SCIM template maps it.
fn active_mapping() -> AttributeMapping {
    AttributeMapping::expression(
        "active",
        "Switch",
        "Switch([IsSoftDeleted], , \"False\", \"True\", \"True\", \"False\")",
    )
}

fn users_mapping(attribute_mappings: Vec<AttributeMapping>) -> ObjectMapping {
    object_mapping("Provision Microsoft Entra ID Users", "User", attribute_mappings)
}

fn groups_mapping(attribute_mappings: Vec<AttributeMapping>) -> ObjectMapping {
    object_mapping("Provision Microsoft Entra ID Groups", "Group", attribute_mappings)
}

fn object_mapping(name: &str, object: &str, attribute_mappings: Vec<AttributeMapping>) -> ObjectMapping {
    ObjectMapping {
        name: name.to_owned(),
        enabled: true,
        flow_types: Some(ObjectFlowTypes::ALL),
        source_object_name: object.to_owned(),
        target_object_name: object.to_owned(),
        scope: None,
        metadata: Vec::new(),
        attribute_mappings,
    }
}

/// The schema of a SCIM application's template: the source directory, the application's, one rule.
fn scim_app_schema(target: DirectoryDefinition, rule: SynchronizationRule) -> SynchronizationSchema {
    SynchronizationSchema {
        directories: vec![source_directory(), target],
        synchronization_rules: vec![rule],
        ..SynchronizationSchema::default()
    }
}

/// The one rule of a SCIM template, from the source directory to `customappsso`.
fn rule(id: &str, object_mappings: Vec<ObjectMapping>) -> SynchronizationRule {
    SynchronizationRule {
        id: Some(id.to_owned()),
        name: "USER_TO_USER".to_owned(),
        editable: true,
        priority: 1,
        source_directory_name: SOURCE_DIRECTORY.to_owned(),
        target_directory_name: SCIM_TARGET_DIRECTORY.to_owned(),
        object_mappings,
        ..SynchronizationRule::default()
    }
}

/// The synchronization template jobs of a service principal start from: its gallery entry's, with the schema's
/// expressions in canonical form.
pub fn of_service_principal(
    sp: &crate::application::ServicePrincipal,
) -> crate::Result<Option<SynchronizationTemplate>> {
    let Some(app_template) = &sp.template_id else { return Ok(None) };
    let entry = gallery_application(app_template)?;
    let mut template = entry.synchronization_template()?;
    template.application_id = Some(sp.app_id.clone());
    crate::schema::expressions::canonicalize(&mut template.schema);
    Ok(Some(template))
}

/// The template of a job: the service principal's, or (for an application made without a template) the one the
/// job names.
pub fn of_job(
    sp: &crate::application::ServicePrincipal,
    job: &crate::job::SyncJob,
) -> crate::Result<SynchronizationTemplate> {
    if let Some(t) = of_service_principal(sp)?.filter(|t| t.id == job.template_id) {
        return Ok(t);
    }
    let mut t = synchronization_template(&job.template_id)?;
    crate::schema::expressions::canonicalize(&mut t.schema);
    Ok(t)
}

/// A job's schema: its own, or its template's; with the job's id and a version, as Graph shows it.
pub fn job_schema(
    sp: &crate::application::ServicePrincipal,
    job: &crate::job::SyncJob,
) -> crate::Result<SynchronizationSchema> {
    let mut schema: SynchronizationSchema = match &job.schema {
        Some(v) => serde_json::from_value(v.clone()).map_err(|e| {
            crate::ProvisioningError::Store(idplane_core::error::StoreError::Backend(format!(
                "stored schema of job {}: {e}",
                job.id
            )))
        })?,
        None => of_job(sp, job)?.schema,
    };
    schema.id = Some(job.id.clone());
    schema.version.get_or_insert_with(|| "1".to_string());
    Ok(schema)
}
