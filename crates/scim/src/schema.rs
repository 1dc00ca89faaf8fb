//! Schemas and attribute characteristics (RFC 7643 §2, §7). These tables drive validation, projection, filtering,
//! PATCH and sorting: code asks an attribute what it is instead of special-casing names.
//!
//! This module owns the model and the schemas RFC 7643 defines (User, the enterprise User extension, Group, and the
//! common attributes). Service-specific schemas are built from the same parts by the crates that need them.

use serde_json::{Map, Value, json};

pub const URN_USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const URN_GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const URN_ENTERPRISE_USER: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
pub const URN_LIST_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
pub const URN_PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
pub const URN_SEARCH_REQUEST: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";
pub const URN_BULK_REQUEST: &str = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";
pub const URN_BULK_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:BulkResponse";
pub const URN_ERROR: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
pub const URN_SERVICE_PROVIDER_CONFIG: &str = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig";
pub const URN_RESOURCE_TYPE: &str = "urn:ietf:params:scim:schemas:core:2.0:ResourceType";
pub const URN_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Schema";

/// RFC 7643 §2.3 data types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttributeType {
    String,
    Boolean,
    Decimal,
    Integer,
    DateTime,
    Binary,
    Reference,
    Complex,
}

impl AttributeType {
    pub fn as_str(self) -> &'static str {
        match self {
            AttributeType::String => "string",
            AttributeType::Boolean => "boolean",
            AttributeType::Decimal => "decimal",
            AttributeType::Integer => "integer",
            AttributeType::DateTime => "dateTime",
            AttributeType::Binary => "binary",
            AttributeType::Reference => "reference",
            AttributeType::Complex => "complex",
        }
    }
}

/// RFC 7643 §7 `mutability`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mutability {
    ReadOnly,
    ReadWrite,
    Immutable,
    WriteOnly,
}

impl Mutability {
    pub fn as_str(self) -> &'static str {
        match self {
            Mutability::ReadOnly => "readOnly",
            Mutability::ReadWrite => "readWrite",
            Mutability::Immutable => "immutable",
            Mutability::WriteOnly => "writeOnly",
        }
    }
}

/// RFC 7643 §7 `returned`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Returned {
    Always,
    Never,
    Default,
    Request,
}

impl Returned {
    pub fn as_str(self) -> &'static str {
        match self {
            Returned::Always => "always",
            Returned::Never => "never",
            Returned::Default => "default",
            Returned::Request => "request",
        }
    }
}

/// RFC 7643 §7 `uniqueness`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Uniqueness {
    None,
    Server,
    Global,
}

impl Uniqueness {
    pub fn as_str(self) -> &'static str {
        match self {
            Uniqueness::None => "none",
            Uniqueness::Server => "server",
            Uniqueness::Global => "global",
        }
    }
}

/// One attribute definition with every characteristic of RFC 7643 §7.
#[derive(Debug, Clone, Copy)]
pub struct Attribute {
    pub name: &'static str,
    pub kind: AttributeType,
    pub multi_valued: bool,
    pub description: &'static str,
    pub required: bool,
    pub canonical_values: &'static [&'static str],
    pub case_exact: bool,
    pub mutability: Mutability,
    pub returned: Returned,
    pub uniqueness: Uniqueness,
    pub reference_types: &'static [&'static str],
    pub sub_attributes: &'static [Attribute],
}

impl Attribute {
    /// A single-valued, optional, case-insensitive, readWrite attribute returned by default.
    pub const fn new(name: &'static str, kind: AttributeType, description: &'static str) -> Self {
        Attribute {
            name,
            kind,
            multi_valued: false,
            description,
            required: false,
            canonical_values: &[],
            case_exact: false,
            mutability: Mutability::ReadWrite,
            returned: Returned::Default,
            uniqueness: Uniqueness::None,
            reference_types: &[],
            sub_attributes: &[],
        }
    }
    pub const fn string(name: &'static str, description: &'static str) -> Self {
        Self::new(name, AttributeType::String, description)
    }
    pub const fn boolean(name: &'static str, description: &'static str) -> Self {
        Self::new(name, AttributeType::Boolean, description)
    }
    pub const fn date_time(name: &'static str, description: &'static str) -> Self {
        Self::new(name, AttributeType::DateTime, description)
    }
    pub const fn reference(name: &'static str, types: &'static [&'static str], description: &'static str) -> Self {
        let mut a = Self::new(name, AttributeType::Reference, description);
        a.reference_types = types;
        a.case_exact = true;
        a
    }
    pub const fn complex(name: &'static str, subs: &'static [Attribute], description: &'static str) -> Self {
        let mut a = Self::new(name, AttributeType::Complex, description);
        a.sub_attributes = subs;
        a
    }
    pub const fn multi(mut self) -> Self {
        self.multi_valued = true;
        self
    }
    pub const fn required(mut self) -> Self {
        self.required = true;
        self
    }
    pub const fn case_exact(mut self) -> Self {
        self.case_exact = true;
        self
    }
    pub const fn mutability(mut self, m: Mutability) -> Self {
        self.mutability = m;
        self
    }
    pub const fn returned(mut self, r: Returned) -> Self {
        self.returned = r;
        self
    }
    pub const fn unique(mut self, u: Uniqueness) -> Self {
        self.uniqueness = u;
        self
    }
    pub const fn canonical(mut self, values: &'static [&'static str]) -> Self {
        self.canonical_values = values;
        self
    }

    /// The sub-attribute called `name` (case-insensitive, RFC 7643 §2.1).
    pub fn sub_attribute(&self, name: &str) -> Option<&'static Attribute> {
        self.sub_attributes.iter().find(|a| a.name.eq_ignore_ascii_case(name))
    }

    /// The attribute definition as `/Schemas` renders it (RFC 7643 §7).
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("name".into(), json!(self.name));
        m.insert("type".into(), json!(self.kind.as_str()));
        m.insert("multiValued".into(), json!(self.multi_valued));
        m.insert("description".into(), json!(self.description));
        m.insert("required".into(), json!(self.required));
        if !self.canonical_values.is_empty() {
            m.insert("canonicalValues".into(), json!(self.canonical_values));
        }
        if matches!(self.kind, AttributeType::String | AttributeType::Reference | AttributeType::Binary) {
            m.insert("caseExact".into(), json!(self.case_exact));
        }
        m.insert("mutability".into(), json!(self.mutability.as_str()));
        m.insert("returned".into(), json!(self.returned.as_str()));
        if self.kind != AttributeType::Complex {
            m.insert("uniqueness".into(), json!(self.uniqueness.as_str()));
        }
        if self.kind == AttributeType::Reference {
            m.insert("referenceTypes".into(), json!(self.reference_types));
        }
        if self.kind == AttributeType::Complex {
            let subs: Vec<Value> = self.sub_attributes.iter().map(Attribute::to_json).collect();
            m.insert("subAttributes".into(), Value::Array(subs));
        }
        Value::Object(m)
    }
}

/// A schema (RFC 7643 §7): a URN and its attributes.
#[derive(Debug)]
pub struct Schema {
    pub id: &'static str,
    pub name: &'static str,
    pub description: &'static str,
    pub attributes: &'static [Attribute],
}

impl Schema {
    /// The attribute called `name` (case-insensitive).
    pub fn attribute(&self, name: &str) -> Option<&'static Attribute> {
        self.attributes.iter().find(|a| a.name.eq_ignore_ascii_case(name))
    }

    /// The schema as `/Schemas/{id}` renders it; `location` is the absolute or base-relative URL of that resource.
    pub fn to_json(&self, location: &str) -> Value {
        json!({
            "schemas": [URN_SCHEMA],
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "attributes": self.attributes.iter().map(Attribute::to_json).collect::<Vec<_>>(),
            "meta": {"resourceType": "Schema", "location": location},
        })
    }
}

/// A schema extension of a resource type (RFC 7643 §6 `schemaExtensions`).
#[derive(Debug)]
pub struct SchemaExtension {
    pub schema: &'static Schema,
    pub required: bool,
}

/// A resource type (RFC 7643 §6): its endpoint, core schema and extensions.
#[derive(Debug)]
pub struct ResourceType {
    pub id: &'static str,
    pub name: &'static str,
    pub endpoint: &'static str,
    pub description: &'static str,
    pub schema: &'static Schema,
    pub extensions: &'static [SchemaExtension],
}

/// Where an attribute path lands: the schema that defines it and the attribute itself.
#[derive(Debug, Clone, Copy)]
pub struct Resolved {
    pub schema: &'static Schema,
    pub attribute: &'static Attribute,
}

impl ResourceType {
    /// Every schema of this resource type: core first, then extensions.
    pub fn schemas(&self) -> impl Iterator<Item = &'static Schema> + '_ {
        std::iter::once(self.schema).chain(self.extensions.iter().map(|e| e.schema))
    }

    /// The schema (core or extension) whose URN is `urn`, compared case-insensitively.
    pub fn schema_by_urn(&self, urn: &str) -> Option<&'static Schema> {
        self.schemas().find(|s| s.id.eq_ignore_ascii_case(urn))
    }

    /// Is `urn` one of the extension URNs of this resource type?
    pub fn is_extension(&self, urn: &str) -> bool {
        self.extensions.iter().any(|e| e.schema.id.eq_ignore_ascii_case(urn))
    }

    /// Resolves a top-level attribute name, optionally qualified by a schema URN (`urn:...:User:userName`).
    /// Unqualified names are looked up in the common attributes, then in the core schema (RFC 7644 §3.10).
    pub fn resolve(&self, urn: Option<&str>, name: &str) -> Option<Resolved> {
        match urn {
            Some(urn) => {
                let schema = self.schema_by_urn(urn)?;
                let attribute = schema.attribute(name).or_else(|| {
                    // Common attributes may be qualified with the core schema URN.
                    if std::ptr::eq(schema, self.schema) { COMMON.attribute(name) } else { None }
                })?;
                Some(Resolved { schema, attribute })
            }
            None => {
                if let Some(attribute) = COMMON.attribute(name) {
                    return Some(Resolved { schema: self.schema, attribute });
                }
                self.schema.attribute(name).map(|attribute| Resolved { schema: self.schema, attribute })
            }
        }
    }

    /// Splits a possibly URN-qualified attribute path such as
    /// `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value` into the schema URN (when one of
    /// this type's schemas prefixes it) and the rest (`manager.value`).
    pub fn split_urn<'a>(&self, path: &'a str) -> (Option<&'a str>, &'a str) {
        for schema in self.schemas() {
            let id = schema.id;
            if path.len() > id.len()
                && path.is_char_boundary(id.len())
                && path[..id.len()].eq_ignore_ascii_case(id)
                && path.as_bytes()[id.len()] == b':'
            {
                return (Some(&path[..id.len()]), &path[id.len() + 1..]);
            }
        }
        (None, path)
    }

    /// The resource type as `/ResourceTypes/{id}` renders it.
    pub fn to_json(&self, location: &str) -> Value {
        json!({
            "schemas": [URN_RESOURCE_TYPE],
            "id": self.id,
            "name": self.name,
            "endpoint": self.endpoint,
            "description": self.description,
            "schema": self.schema.id,
            "schemaExtensions": self.extensions.iter()
                .map(|e| json!({"schema": e.schema.id, "required": e.required}))
                .collect::<Vec<_>>(),
            "meta": {"resourceType": "ResourceType", "location": location},
        })
    }
}

use Mutability::*;
use Returned as R;

// ---- Common attributes (RFC 7643 §3.1). They belong to every resource and are not listed in /Schemas. ----

pub const ID: Attribute =
    Attribute::string("id", "Unique identifier for the resource, assigned by the service provider.")
        .case_exact()
        .mutability(ReadOnly)
        .returned(R::Always)
        .unique(Uniqueness::Server);
pub const EXTERNAL_ID: Attribute =
    Attribute::string("externalId", "Identifier for the resource as defined by the provisioning client.").case_exact();
pub const META: Attribute = Attribute::complex(
    "meta",
    &[
        Attribute::string("resourceType", "Name of the resource type of the resource.")
            .case_exact()
            .mutability(ReadOnly),
        Attribute::date_time("created", "When the resource was added to the service provider.").mutability(ReadOnly),
        Attribute::date_time("lastModified", "When the resource was last updated.").mutability(ReadOnly),
        Attribute::reference("location", &["uri"], "URI of the resource.").mutability(ReadOnly),
        Attribute::string("version", "Version (ETag) of the resource.").case_exact().mutability(ReadOnly),
    ],
    "Resource metadata maintained by the service provider.",
)
.mutability(ReadOnly);

/// The pseudo-schema holding the common attributes, used for path resolution only.
pub static COMMON: Schema = Schema {
    id: "",
    name: "Common",
    description: "Attributes common to all resources.",
    attributes: &[ID, EXTERNAL_ID, META],
};

// ---- Reusable pieces ----

const DISPLAY: Attribute = Attribute::string("display", "A human-readable name, primarily used for display purposes.");
const PRIMARY: Attribute = Attribute::boolean("primary", "Whether this value is the preferred one of the attribute.");

const VALUE_LIST_SUBS: [Attribute; 4] = [
    Attribute::string("value", "The value of the item."),
    DISPLAY,
    Attribute::string("type", "A label indicating the item's function."),
    PRIMARY,
];

/// `entitlements`, `roles` and similar multi-valued attributes: value, display, type, primary.
pub const fn value_list(name: &'static str, description: &'static str) -> Attribute {
    Attribute::complex(name, &VALUE_LIST_SUBS, description).multi()
}

// ---- User (RFC 7643 §4.1, §8.7.1) ----

pub const USER_NAME: Attribute =
    Attribute::string("userName", "Unique identifier for the User, used to authenticate; usually an email address.")
        .required()
        .unique(Uniqueness::Server);
pub const DISPLAY_NAME: Attribute = Attribute::string("displayName", "The name of the resource, suitable for display.");
pub const ACTIVE: Attribute = Attribute::boolean("active", "The administrative status of the resource.");

/// Read-only group memberships of a user or service principal, direct and indirect (RFC 7643 §4.1.2).
pub const GROUPS: Attribute = Attribute::complex(
    "groups",
    &[
        Attribute::string("value", "The identifier of the group.").mutability(ReadOnly),
        Attribute::reference("$ref", &["Group"], "The URI of the group.").mutability(ReadOnly),
        Attribute::string("display", "The display name of the group.").mutability(ReadOnly),
        Attribute::string("type", "Whether the membership is direct or through a nested group.")
            .canonical(&["direct", "indirect"])
            .mutability(ReadOnly),
    ],
    "The groups the resource belongs to, directly or through nested groups.",
)
.multi()
.mutability(ReadOnly);

pub const ENTITLEMENTS: Attribute = value_list("entitlements", "Entitlements of the resource.");
pub const ROLES: Attribute = value_list("roles", "Roles of the resource.");

/// The attributes of the RFC 7643 User, as a constant so that service-specific variants can be built from it.
pub const USER_ATTRIBUTE_LIST: [Attribute; 20] = [
    USER_NAME,
    Attribute::complex(
        "name",
        &[
            Attribute::string("formatted", "The full name, formatted for display."),
            Attribute::string("familyName", "The family name, or last name."),
            Attribute::string("givenName", "The given name, or first name."),
            Attribute::string("middleName", "The middle name(s)."),
            Attribute::string("honorificPrefix", "The honorific prefix(es), or title."),
            Attribute::string("honorificSuffix", "The honorific suffix(es)."),
        ],
        "The components of the user's real name.",
    ),
    DISPLAY_NAME,
    Attribute::string("nickName", "The casual way to address the user."),
    Attribute::reference("profileUrl", &["external"], "A URI of the user's online profile."),
    Attribute::string("title", "The user's title, such as \"Vice President\"."),
    Attribute::string("userType", "The relationship between the organization and the user."),
    Attribute::string("preferredLanguage", "The user's preferred written or spoken language."),
    Attribute::string("locale", "The user's default location for localisation."),
    Attribute::string("timezone", "The user's time zone in IANA format."),
    ACTIVE,
    Attribute::string("password", "The user's cleartext password; never returned.")
        .mutability(WriteOnly)
        .returned(R::Never),
    Attribute::complex(
        "emails",
        &[
            Attribute::string("value", "Email address."),
            DISPLAY,
            Attribute::string("type", "A label indicating the email's function.").canonical(&["work", "home", "other"]),
            PRIMARY,
        ],
        "Email addresses of the user.",
    )
    .multi(),
    Attribute::complex(
        "phoneNumbers",
        &[
            Attribute::string("value", "Phone number."),
            DISPLAY,
            Attribute::string("type", "A label indicating the number's function.")
                .canonical(&["work", "home", "mobile", "fax", "pager", "other"]),
            PRIMARY,
        ],
        "Phone numbers of the user.",
    )
    .multi(),
    Attribute::complex(
        "ims",
        &[
            Attribute::string("value", "Instant messaging address."),
            DISPLAY,
            Attribute::string("type", "A label indicating the IM service.")
                .canonical(&["aim", "gtalk", "icq", "xmpp", "msn", "skype", "qq", "yahoo"]),
            PRIMARY,
        ],
        "Instant messaging addresses of the user.",
    )
    .multi(),
    Attribute::complex(
        "photos",
        &[
            Attribute::reference("value", &["external"], "URL of a photo of the user."),
            DISPLAY,
            Attribute::string("type", "A label indicating the photo's function.").canonical(&["photo", "thumbnail"]),
            PRIMARY,
        ],
        "URLs of photos of the user.",
    )
    .multi(),
    Attribute::complex(
        "addresses",
        &[
            Attribute::string("formatted", "The full mailing address, formatted for display."),
            Attribute::string("streetAddress", "The full street address."),
            Attribute::string("locality", "The city or locality."),
            Attribute::string("region", "The state or region."),
            Attribute::string("postalCode", "The zip code or postal code."),
            Attribute::string("country", "The country name (ISO 3166-1 alpha-2)."),
            Attribute::string("type", "A label indicating the address's function.")
                .canonical(&["work", "home", "other"]),
            PRIMARY,
        ],
        "Physical mailing addresses of the user.",
    )
    .multi(),
    GROUPS,
    ENTITLEMENTS,
    ROLES,
];

pub static USER_ATTRIBUTES: [Attribute; 20] = USER_ATTRIBUTE_LIST;

/// `list` without its attribute at `index`, for building schema variants in constants.
pub const fn without<const N: usize, const M: usize>(list: [Attribute; N], index: usize) -> [Attribute; M] {
    let mut out = [list[0]; M];
    let (mut i, mut j) = (0, 0);
    while i < N {
        if i != index && j < M {
            out[j] = list[i];
            j += 1;
        }
        i += 1;
    }
    out
}

/// `list` with its attribute at `index` replaced by `attribute`.
pub const fn replaced<const N: usize>(mut list: [Attribute; N], index: usize, attribute: Attribute) -> [Attribute; N] {
    list[index] = attribute;
    list
}

/// RFC 7643 §4.1 core User schema, with `x509Certificates` (binary values) left out: nothing in this service uses them.
pub static USER: Schema =
    Schema { id: URN_USER, name: "User", description: "User Account", attributes: &USER_ATTRIBUTES };

// ---- Enterprise User extension (RFC 7643 §4.3) ----

pub static ENTERPRISE_USER: Schema = Schema {
    id: URN_ENTERPRISE_USER,
    name: "EnterpriseUser",
    description: "Enterprise User",
    attributes: &[
        Attribute::string("employeeNumber", "Numeric or alphanumeric identifier assigned to a person."),
        Attribute::string("costCenter", "Identifies the name of a cost center."),
        Attribute::string("organization", "Identifies the name of an organization."),
        Attribute::string("division", "Identifies the name of a division."),
        Attribute::string("department", "Identifies the name of a department."),
        Attribute::complex(
            "manager",
            &[
                Attribute::string("value", "The id of the SCIM resource representing the user's manager."),
                Attribute::reference("$ref", &["User"], "The URI of the manager's resource."),
                Attribute::string("displayName", "The display name of the manager.").mutability(ReadOnly),
            ],
            "The user's manager.",
        ),
    ],
};

// ---- Group (RFC 7643 §4.2) ----

pub const GROUP_DISPLAY_NAME: Attribute =
    Attribute::string("displayName", "A human-readable name for the group.").required().unique(Uniqueness::Server);

pub const MEMBERS: Attribute = Attribute::complex(
    "members",
    &[
        Attribute::string("value", "Identifier of the member.").case_exact().mutability(Immutable),
        Attribute::reference("$ref", &["User", "Group"], "The URI of the member.").mutability(Immutable),
        Attribute::string("display", "The display name of the member.").mutability(ReadOnly),
        Attribute::string("type", "The kind of member.").canonical(&["User", "Group"]).mutability(Immutable),
    ],
    "The members of the group.",
)
.multi();

pub static GROUP: Schema =
    Schema { id: URN_GROUP, name: "Group", description: "Group", attributes: &[GROUP_DISPLAY_NAME, MEMBERS] };

pub static USER_TYPE: ResourceType = ResourceType {
    id: "User",
    name: "User",
    endpoint: "/Users",
    description: "User Account",
    schema: &USER,
    extensions: &[SchemaExtension { schema: &ENTERPRISE_USER, required: false }],
};

pub static GROUP_TYPE: ResourceType = ResourceType {
    id: "Group",
    name: "Group",
    endpoint: "/Groups",
    description: "Group",
    schema: &GROUP,
    extensions: &[],
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_urn_qualified_and_common_attributes() {
        let (urn, rest) =
            USER_TYPE.split_urn("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value");
        assert_eq!(urn, Some(URN_ENTERPRISE_USER));
        assert_eq!(rest, "manager.value");
        let r = USER_TYPE.resolve(urn, "MANAGER").map(|r| r.attribute.name);
        assert_eq!(r, Some("manager"));
        assert_eq!(USER_TYPE.resolve(None, "ExternalID").map(|r| r.attribute.name), Some("externalId"));
        assert_eq!(USER_TYPE.resolve(Some(URN_USER), "id").map(|r| r.attribute.name), Some("id"));
        assert!(USER_TYPE.resolve(None, "employeeNumber").is_none());
        assert_eq!(USER_TYPE.split_urn("userName"), (None, "userName"));
    }

    #[test]
    fn schema_json_lists_characteristics() {
        let v = USER.to_json("/Schemas/x");
        let user_name = &v["attributes"][0];
        assert_eq!(user_name["name"], "userName");
        assert_eq!(user_name["uniqueness"], "server");
        assert_eq!(user_name["required"], true);
        let emails = v["attributes"].as_array().and_then(|a| a.iter().find(|x| x["name"] == "emails"));
        assert_eq!(emails.map(|e| e["subAttributes"][2]["canonicalValues"][0].clone()), Some(json!("work")));
    }
}
