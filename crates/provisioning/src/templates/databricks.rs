//! The `dataBricks` synchronization template: the "Azure Databricks SCIM Provisioning Connector" of Entra's gallery,
//! which provisions users and groups into a Databricks account's SCIM API.
//!
//! Documented (Microsoft's Azure Databricks provisioning tutorial; its 2020 version lists the attributes): users
//! and groups only, no service principals (only `User` and `Group` object mappings); no nested groups (a target
//! group's `members` reference users only); group renames are not synced (the group `displayName` mapping applies
//! on creation only); user attributes `userName`, `displayName`, `active`; group attributes `displayName`,
//! `members`; `userName` from `userPrincipalName` and the work email from `mail` (the tutorial's advice to change
//! "the default SCIM mapping to use `userPrincipalName` rather than `mail`" when they differ).
//!
//! Inferred: `externalId` from `objectId` for users and groups (what Databricks shows as a provisioned
//! principal's external id), the matching attributes (`userName`, group `displayName`, as for every SCIM app),
//! the work email applied on creation only (the tutorial: "You cannot update the email address of an Azure
//! Databricks user"), `name.givenName`/`name.familyName` offered as target attributes but not mapped, the target
//! directory's name (`customappsso`, as Entra names SCIM targets), and the rule's name and id.

use crate::schema::{
    AttributeDefinition, AttributeMapping, AttributeType, DirectoryDefinition, Mutability, ObjectDefinition,
};
use crate::schema::{SynchronizationRule, SynchronizationSchema};
use crate::templates::{
    SCIM_TARGET_DIRECTORY, active_mapping, groups_mapping, rule, scim_app_schema, text, users_mapping,
};

/// The id of the `dataBricks` template's rule (ours: Entra's own is not published).
pub const DATABRICKS_RULE_ID: &str = "b6413f02-2a17-49a5-9683-3c202462fad0";

pub(super) fn schema() -> SynchronizationSchema {
    scim_app_schema(target_directory(), databricks_rule())
}

fn databricks_rule() -> SynchronizationRule {
    let users = vec![
        AttributeMapping::direct("userName", "userPrincipalName").matching(1),
        AttributeMapping::direct("displayName", "displayName"),
        active_mapping(),
        AttributeMapping::direct("emails[type eq \"work\"].value", "mail").on_creation_only(),
        AttributeMapping::direct("externalId", "objectId"),
    ];
    let groups = vec![
        AttributeMapping::direct("displayName", "displayName").matching(1).on_creation_only(),
        AttributeMapping::direct("externalId", "objectId"),
        AttributeMapping::direct("members", "members"),
    ];
    rule(DATABRICKS_RULE_ID, vec![users_mapping(users), groups_mapping(groups)])
}

fn target_directory() -> DirectoryDefinition {
    let user = vec![
        text("id").anchor().mutability(Mutability::ReadOnly),
        text("userName").required(),
        text("displayName"),
        AttributeDefinition::new("active", AttributeType::Boolean),
        text("emails[type eq \"work\"].value"),
        text("externalId"),
        text("name.givenName"),
        text("name.familyName"),
    ];
    let group = vec![
        text("id").anchor().mutability(Mutability::ReadOnly),
        text("displayName").required(),
        text("externalId"),
        AttributeDefinition::new("members", AttributeType::Reference).multivalued().references(&["User"]),
    ];
    DirectoryDefinition {
        name: SCIM_TARGET_DIRECTORY.to_owned(),
        objects: vec![
            ObjectDefinition { name: "User".to_owned(), attributes: user, ..ObjectDefinition::default() },
            ObjectDefinition { name: "Group".to_owned(), attributes: group, ..ObjectDefinition::default() },
        ],
        ..DirectoryDefinition::default()
    }
}
