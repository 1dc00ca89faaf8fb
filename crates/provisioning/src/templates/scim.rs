//! The `scim` synchronization template: Entra's defaults for a non-gallery SCIM application (the
//! `customappsso` attribute list and mappings), also used by the on-premises SCIM app.
//!
//! Sources: the default mappings are Entra's "customappsso Attribute" defaults as the portal shows them for a new
//! non-gallery application and as entra-provisioning §2.5 lists them (use-scim-to-provision-users-and-groups.md
//! lists most rows; vendor setup guides reproduce the rest). Inferred rather than documented: the `addresses`
//! rows for `city`, `state` and `country` (the doc's table stops at `streetAddress` and `postalCode`), the
//! office mapped to `addresses[type eq "work"].formatted` (the doc's table says `addresses[type eq
//! "other"].Formatted`; Entra's traffic shows the work address), the rule's name and id, and the target
//! attribute list beyond the mapped attributes (the SCIM core and enterprise attributes Entra offers for a SCIM
//! app). `proxyAddresses` to `emails[type eq "other"].value` appears in Microsoft's example table but is not a
//! default; the target attribute exists for it.

use crate::schema::{
    AttributeDefinition, AttributeMapping, AttributeType, DirectoryDefinition, Mutability, ObjectDefinition,
    SynchronizationRule, SynchronizationSchema,
};
use crate::templates::{
    SCIM_TARGET_DIRECTORY, active_mapping, groups_mapping, rule, scim_app_schema, text, users_mapping,
};

/// The id of the `scim` template's rule (ours: Entra's own is not published).
pub const SCIM_RULE_ID: &str = "fd7959cc-0feb-4738-8d8f-2089b9761955";

const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

pub(super) fn schema() -> SynchronizationSchema {
    scim_app_schema(target_directory(), scim_rule())
}

fn scim_rule() -> SynchronizationRule {
    let users = vec![
        AttributeMapping::direct("userName", "userPrincipalName").matching(1),
        active_mapping(),
        AttributeMapping::direct("displayName", "displayName"),
        AttributeMapping::direct("title", "jobTitle"),
        AttributeMapping::direct("emails[type eq \"work\"].value", "mail"),
        AttributeMapping::direct("preferredLanguage", "preferredLanguage"),
        AttributeMapping::direct("name.givenName", "givenName"),
        AttributeMapping::direct("name.familyName", "surname"),
        AttributeMapping::expression("name.formatted", "Join", "Join(\" \", [givenName], [surname])"),
        AttributeMapping::direct("addresses[type eq \"work\"].formatted", "physicalDeliveryOfficeName"),
        AttributeMapping::direct("addresses[type eq \"work\"].streetAddress", "streetAddress"),
        AttributeMapping::direct("addresses[type eq \"work\"].locality", "city"),
        AttributeMapping::direct("addresses[type eq \"work\"].region", "state"),
        AttributeMapping::direct("addresses[type eq \"work\"].postalCode", "postalCode"),
        AttributeMapping::direct("addresses[type eq \"work\"].country", "country"),
        AttributeMapping::direct("phoneNumbers[type eq \"work\"].value", "telephoneNumber"),
        AttributeMapping::direct("phoneNumbers[type eq \"mobile\"].value", "mobile"),
        AttributeMapping::direct("phoneNumbers[type eq \"fax\"].value", "facsimileTelephoneNumber"),
        AttributeMapping::direct("externalId", "mailNickname"),
        AttributeMapping::direct(&format!("{ENTERPRISE}:employeeNumber"), "employeeId"),
        AttributeMapping::direct(&format!("{ENTERPRISE}:department"), "department"),
        AttributeMapping::direct(&format!("{ENTERPRISE}:manager"), "manager"),
    ];
    let groups = vec![
        AttributeMapping::direct("displayName", "displayName").matching(1),
        AttributeMapping::direct("externalId", "objectId"),
        AttributeMapping::direct("members", "members"),
    ];
    rule(SCIM_RULE_ID, vec![users_mapping(users), groups_mapping(groups)])
}

fn target_directory() -> DirectoryDefinition {
    DirectoryDefinition {
        name: SCIM_TARGET_DIRECTORY.to_owned(),
        objects: vec![target_user(), target_group()],
        ..DirectoryDefinition::default()
    }
}

fn target_user() -> ObjectDefinition {
    let mut attributes = vec![
        text("id").anchor().mutability(Mutability::ReadOnly),
        text("userName").required(),
        AttributeDefinition::new("active", AttributeType::Boolean),
        text("externalId"),
    ];
    let simple = [
        "displayName",
        "nickName",
        "profileUrl",
        "title",
        "userType",
        "preferredLanguage",
        "locale",
        "timezone",
        "name.givenName",
        "name.familyName",
        "name.formatted",
        "name.middleName",
        "name.honorificPrefix",
        "name.honorificSuffix",
    ];
    attributes.extend(simple.into_iter().map(text));
    for kind in ["work", "home", "other"] {
        attributes.push(text(&format!("emails[type eq \"{kind}\"].value")));
    }
    for kind in ["work", "mobile", "fax", "home", "other", "pager"] {
        attributes.push(text(&format!("phoneNumbers[type eq \"{kind}\"].value")));
    }
    for part in ["formatted", "streetAddress", "locality", "region", "postalCode", "country"] {
        attributes.push(text(&format!("addresses[type eq \"work\"].{part}")));
    }
    attributes.push(text("addresses[type eq \"other\"].formatted"));
    for name in ["employeeNumber", "costCenter", "organization", "division", "department"] {
        attributes.push(text(&format!("{ENTERPRISE}:{name}")));
    }
    attributes.push(
        AttributeDefinition::new(&format!("{ENTERPRISE}:manager"), AttributeType::Reference).references(&["User"]),
    );
    ObjectDefinition { name: "User".to_owned(), attributes, ..ObjectDefinition::default() }
}

fn target_group() -> ObjectDefinition {
    let attributes = vec![
        text("id").anchor().mutability(Mutability::ReadOnly),
        text("displayName").required(),
        text("externalId"),
        AttributeDefinition::new("members", AttributeType::Reference).multivalued().references(&["User", "Group"]),
    ];
    ObjectDefinition { name: "Group".to_owned(), attributes, ..ObjectDefinition::default() }
}
