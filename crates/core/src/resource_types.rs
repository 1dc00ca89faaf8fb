//! The resource types idplane serves, as Databricks shapes them: the RFC 7643 User with the enterprise extension and
//! the Databricks workspace extension; the Group with Databricks' entitlements, roles and parent groups; and the
//! ServicePrincipal, which Databricks places in the SCIM core namespace.

use idplane_scim::schema::{
    ACTIVE, Attribute, DISPLAY_NAME, ENTERPRISE_USER, GROUP_DISPLAY_NAME, GROUPS, Mutability, ROLES, ResourceType,
    Schema, SchemaExtension, Uniqueness, replaced, without,
};

use crate::principal::PrincipalKind;
use crate::tenancy::Scope;

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
        // As the client wrote it, else the member's display name (clients compare what they wrote with what they
        // read back; Databricks clients expect the name).
        Attribute::string("display", "The display name of the member, as written, else the member's name."),
        Attribute::string("type", "The kind of member.")
            .canonical(&["User", "Group", "ServicePrincipal"])
            .mutability(Mutability::Immutable),
    ],
    "The members of the group: users, service principals and groups.",
)
.multi();

/// The entitlements Databricks defines.
pub const ENTITLEMENT_VALUES: [&str; 5] = [
    "workspace-access",
    "databricks-sql-access",
    "allow-cluster-create",
    "allow-instance-pool-create",
    "workspace-consume",
];

/// Sub-attributes of values a principal holds in one workspace: only `value` is kept; the descriptive ones clients
/// send along are accepted and ignored.
const fn workspace_value_subs(values: &'static [&'static str]) -> [Attribute; 4] {
    [
        Attribute::string("value", "The value.").canonical(values),
        Attribute::string("display", "Accepted and ignored: only the value is kept.").mutability(Mutability::ReadOnly),
        Attribute::string("type", "Accepted and ignored: only the value is kept.").mutability(Mutability::ReadOnly),
        Attribute::boolean("primary", "Accepted and ignored: only the value is kept.").mutability(Mutability::ReadOnly),
    ]
}
const ENTITLEMENT_SUBS: [Attribute; 4] = workspace_value_subs(&ENTITLEMENT_VALUES);
const ROLE_SUBS: [Attribute; 4] = workspace_value_subs(&[]);

/// Entitlements of a principal in a workspace (workspace level only).
pub const WORKSPACE_ENTITLEMENTS: Attribute =
    Attribute::complex("entitlements", &ENTITLEMENT_SUBS, "What the principal may do in this workspace.").multi();
/// Roles of a principal in a workspace (on Azure: none that matter; on AWS, instance profiles).
pub const WORKSPACE_ROLES: Attribute = Attribute::complex("roles", &ROLE_SUBS, "Roles in this workspace.").multi();

// Index of `entitlements` and `roles` in the RFC User attribute list.
const USER_ENTITLEMENTS: usize = 18;
const USER_ROLES: usize = 19;

static WORKSPACE_USER_ATTRIBUTES: [Attribute; 20] = replaced(
    replaced(idplane_scim::schema::USER_ATTRIBUTE_LIST, USER_ENTITLEMENTS, WORKSPACE_ENTITLEMENTS),
    USER_ROLES,
    WORKSPACE_ROLES,
);
static ACCOUNT_USER_ATTRIBUTES: [Attribute; 19] = without(idplane_scim::schema::USER_ATTRIBUTE_LIST, USER_ENTITLEMENTS);

/// The User at workspace level: entitlements and roles are the workspace's.
pub static WORKSPACE_USER_SCHEMA: Schema = Schema {
    id: idplane_scim::schema::URN_USER,
    name: "User",
    description: "User Account",
    attributes: &WORKSPACE_USER_ATTRIBUTES,
};
/// The User at account level: no entitlements (a workspace concept); roles are account roles.
pub static ACCOUNT_USER_SCHEMA: Schema = Schema {
    id: idplane_scim::schema::URN_USER,
    name: "User",
    description: "User Account",
    attributes: &ACCOUNT_USER_ATTRIBUTES,
};

pub static GROUP: Schema = Schema {
    id: idplane_scim::schema::URN_GROUP,
    name: "Group",
    description: "Group",
    attributes: &[GROUP_DISPLAY_NAME, MEMBERS, GROUPS, WORKSPACE_ENTITLEMENTS, WORKSPACE_ROLES],
};

pub static ACCOUNT_GROUP: Schema = Schema {
    id: idplane_scim::schema::URN_GROUP,
    name: "Group",
    description: "Group",
    attributes: &[GROUP_DISPLAY_NAME, MEMBERS, GROUPS, ROLES],
};

const APPLICATION_ID: Attribute =
    Attribute::string("applicationId", "The application (client) id of the service principal.")
        .case_exact()
        .mutability(Mutability::Immutable)
        .unique(Uniqueness::Server);

pub static SERVICE_PRINCIPAL: Schema = Schema {
    id: URN_SERVICE_PRINCIPAL,
    name: "ServicePrincipal",
    description: "Service Principal",
    attributes: &[APPLICATION_ID, DISPLAY_NAME, ACTIVE, GROUPS, WORKSPACE_ENTITLEMENTS, WORKSPACE_ROLES],
};

pub static ACCOUNT_SERVICE_PRINCIPAL: Schema = Schema {
    id: URN_SERVICE_PRINCIPAL,
    name: "ServicePrincipal",
    description: "Service Principal",
    attributes: &[APPLICATION_ID, DISPLAY_NAME, ACTIVE, GROUPS, ROLES],
};

const USERS_FIELDS: ResourceType = ResourceType {
    id: "User",
    name: "User",
    endpoint: "/Users",
    description: "User Account",
    schema: &WORKSPACE_USER_SCHEMA,
    extensions: &[
        SchemaExtension { schema: &ENTERPRISE_USER, required: false },
        SchemaExtension { schema: &WORKSPACE_USER, required: false },
    ],
};

const GROUPS_FIELDS: ResourceType = ResourceType {
    id: "Group",
    name: "Group",
    endpoint: "/Groups",
    description: "Group",
    schema: &GROUP,
    extensions: &[],
};

const SERVICE_PRINCIPALS_FIELDS: ResourceType = ResourceType {
    id: "ServicePrincipal",
    name: "ServicePrincipal",
    endpoint: "/ServicePrincipals",
    description: "Service Principal",
    schema: &SERVICE_PRINCIPAL,
    extensions: &[],
};

pub static USERS: ResourceType = USERS_FIELDS;
pub static GROUPS_TYPE: ResourceType = GROUPS_FIELDS;
pub static SERVICE_PRINCIPALS: ResourceType = SERVICE_PRINCIPALS_FIELDS;
pub static ACCOUNT_USERS: ResourceType = ResourceType { schema: &ACCOUNT_USER_SCHEMA, ..USERS_FIELDS };
pub static ACCOUNT_GROUPS: ResourceType = ResourceType { schema: &ACCOUNT_GROUP, ..GROUPS_FIELDS };
pub static ACCOUNT_SERVICE_PRINCIPALS: ResourceType =
    ResourceType { schema: &ACCOUNT_SERVICE_PRINCIPAL, ..SERVICE_PRINCIPALS_FIELDS };

/// Whether an API is an account's or a workspace's: their schemas differ in what belongs to a workspace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Account,
    Workspace,
}

impl Level {
    pub fn of(scope: &Scope) -> Level {
        match scope {
            Scope::Account { .. } => Level::Account,
            Scope::Workspace { .. } => Level::Workspace,
        }
    }
}

/// Every resource type of a level, in the order discovery lists them.
pub fn all(level: Level) -> [&'static ResourceType; 3] {
    match level {
        Level::Account => [&ACCOUNT_USERS, &ACCOUNT_GROUPS, &ACCOUNT_SERVICE_PRINCIPALS],
        Level::Workspace => [&USERS, &GROUPS_TYPE, &SERVICE_PRINCIPALS],
    }
}

/// Every schema of a level, in the order discovery lists them.
pub fn schemas(level: Level) -> impl Iterator<Item = &'static Schema> {
    let [users, groups, sps] = all(level);
    [users.schema, &ENTERPRISE_USER, &WORKSPACE_USER, groups.schema, sps.schema].into_iter()
}

/// The resource type of `kind` at the level of `scope`.
pub fn of_scope(kind: PrincipalKind, scope: &Scope) -> &'static ResourceType {
    let [users, groups, sps] = all(Level::of(scope));
    match kind {
        PrincipalKind::User => users,
        PrincipalKind::Group => groups,
        PrincipalKind::ServicePrincipal => sps,
    }
}

/// The resource type of `kind` at workspace level, the broader of the two (for checks that do not depend on level).
pub fn of(kind: PrincipalKind) -> &'static ResourceType {
    of_scope(kind, &Scope::Workspace { account_id: String::new(), workspace_id: 0, federated: false })
}
