//! The resource types idplane serves, as Databricks shapes them: the RFC 7643 User with the enterprise extension and
//! the Databricks workspace extension; the Group with Databricks' entitlements, roles and parent groups; and the
//! ServicePrincipal, which Databricks places in the SCIM core namespace.

use idplane_scim::schema::{
    ACTIVE, Attribute, DISPLAY_NAME, ENTERPRISE_USER, ENTITLEMENTS, GROUP_DISPLAY_NAME, GROUPS, Mutability, ROLES,
    ResourceType, Returned, Schema, SchemaExtension, USER, Uniqueness,
};

use crate::principal::PrincipalKind;

pub const URN_SERVICE_PRINCIPAL: &str = "urn:ietf:params:scim:schemas:core:2.0:ServicePrincipal";
pub const URN_WORKSPACE_USER: &str = "urn:ietf:params:scim:schemas:extension:workspace:2.0:User";

/// Databricks' workspace User extension. Databricks lists its URN in the `schemas` of workspace users and defines no
/// attribute in it that a client can set.
pub static WORKSPACE_USER: Schema = Schema {
    id: URN_WORKSPACE_USER,
    name: "WorkspaceUser",
    description: "Databricks workspace user extension",
    attributes: &[],
};

/// Group members may be users, service principals or groups (nested groups).
pub const MEMBERS: Attribute = Attribute::complex(
    "members",
    &[
        Attribute::string("value", "Identifier of the member.").case_exact().mutability(Mutability::Immutable),
        Attribute::reference("$ref", &["User", "Group", "ServicePrincipal"], "The URI of the member.")
            .mutability(Mutability::Immutable),
        // Computed from the member, so returned only when asked for (`attributes=members.display`): clients that
        // compare the members they wrote with the members they read back (scim2-tester) must find no extra value.
        Attribute::string("display", "The display name of the member; returned when requested.")
            .mutability(Mutability::ReadOnly)
            .returned(Returned::Request),
        Attribute::string("type", "The kind of member.")
            .canonical(&["User", "Group", "ServicePrincipal"])
            .mutability(Mutability::Immutable),
    ],
    "The members of the group: users, service principals and groups.",
)
.multi();

pub static GROUP: Schema = Schema {
    id: idplane_scim::schema::URN_GROUP,
    name: "Group",
    description: "Group",
    attributes: &[GROUP_DISPLAY_NAME, MEMBERS, GROUPS, ENTITLEMENTS, ROLES],
};

pub static SERVICE_PRINCIPAL: Schema = Schema {
    id: URN_SERVICE_PRINCIPAL,
    name: "ServicePrincipal",
    description: "Service Principal",
    attributes: &[
        Attribute::string("applicationId", "The application (client) id of the service principal.")
            .case_exact()
            .mutability(Mutability::Immutable)
            .unique(Uniqueness::Server),
        DISPLAY_NAME,
        ACTIVE,
        GROUPS,
        ENTITLEMENTS,
        ROLES,
    ],
};

pub static USERS: ResourceType = ResourceType {
    id: "User",
    name: "User",
    endpoint: "/Users",
    description: "User Account",
    schema: &USER,
    extensions: &[
        SchemaExtension { schema: &ENTERPRISE_USER, required: false },
        SchemaExtension { schema: &WORKSPACE_USER, required: false },
    ],
};

pub static GROUPS_TYPE: ResourceType = ResourceType {
    id: "Group",
    name: "Group",
    endpoint: "/Groups",
    description: "Group",
    schema: &GROUP,
    extensions: &[],
};

pub static SERVICE_PRINCIPALS: ResourceType = ResourceType {
    id: "ServicePrincipal",
    name: "ServicePrincipal",
    endpoint: "/ServicePrincipals",
    description: "Service Principal",
    schema: &SERVICE_PRINCIPAL,
    extensions: &[],
};

/// Every resource type, in the order discovery lists them.
pub static ALL: [&ResourceType; 3] = [&USERS, &GROUPS_TYPE, &SERVICE_PRINCIPALS];

/// Every schema, in the order discovery lists them.
pub fn schemas() -> impl Iterator<Item = &'static Schema> {
    [&USER, &ENTERPRISE_USER, &WORKSPACE_USER, &GROUP, &SERVICE_PRINCIPAL].into_iter()
}

pub fn of(kind: PrincipalKind) -> &'static ResourceType {
    match kind {
        PrincipalKind::User => &USERS,
        PrincipalKind::Group => &GROUPS_TYPE,
        PrincipalKind::ServicePrincipal => &SERVICE_PRINCIPALS,
    }
}
