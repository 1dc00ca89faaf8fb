//! The properties of directory objects, as Microsoft Graph v1.0 names them: their types, which a client may write,
//! which a read returns when the client does not `$select`, and how the store indexes them.

/// The JSON type of a property.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PropType {
    String,
    Boolean,
    /// A collection of strings (`businessPhones`, `proxyAddresses`, `groupTypes`).
    Strings,
    /// A date-time, rendered as an ISO 8601 UTC string (`createdDateTime`): computed, never written.
    DateTime,
}

/// One property of a user or a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Property {
    pub name: &'static str,
    pub ty: PropType,
    /// A client may set it (POST, PATCH); the others are computed by the directory.
    pub writable: bool,
    /// A read without `$select` returns it (with `null` when unset), as Graph does.
    pub default: bool,
}

const fn p(name: &'static str, ty: PropType, writable: bool, default: bool) -> Property {
    Property { name, ty, writable, default }
}

use PropType::{Boolean, DateTime, String as Str, Strings};

/// The user properties idplane keeps: those Entra ID's default provisioning mappings read, and a few more that
/// scripts set. `id`, `createdDateTime` and `deletedDateTime` are computed.
pub const USER: &[Property] = &[
    p("id", Str, false, true),
    p("businessPhones", Strings, true, true),
    p("displayName", Str, true, true),
    p("givenName", Str, true, true),
    p("jobTitle", Str, true, true),
    p("mail", Str, true, true),
    p("mobilePhone", Str, true, true),
    p("officeLocation", Str, true, true),
    p("preferredLanguage", Str, true, true),
    p("surname", Str, true, true),
    p("userPrincipalName", Str, true, true),
    p("accountEnabled", Boolean, true, false),
    p("mailNickname", Str, true, false),
    p("department", Str, true, false),
    p("employeeId", Str, true, false),
    p("employeeType", Str, true, false),
    p("companyName", Str, true, false),
    p("streetAddress", Str, true, false),
    p("city", Str, true, false),
    p("state", Str, true, false),
    p("postalCode", Str, true, false),
    p("country", Str, true, false),
    p("usageLocation", Str, true, false),
    p("faxNumber", Str, true, false),
    p("otherMails", Strings, true, false),
    p("proxyAddresses", Strings, true, false),
    p("userType", Str, true, false),
    p("onPremisesImmutableId", Str, true, false),
    p("createdDateTime", DateTime, false, false),
    p("deletedDateTime", DateTime, false, false),
];

/// The group properties idplane keeps. Graph returns a group's properties without `$select`.
pub const GROUP: &[Property] = &[
    p("id", Str, false, true),
    p("displayName", Str, true, true),
    p("description", Str, true, true),
    p("mailNickname", Str, true, true),
    p("mailEnabled", Boolean, true, true),
    p("securityEnabled", Boolean, true, true),
    p("groupTypes", Strings, true, true),
    p("visibility", Str, true, true),
    p("mail", Str, false, true),
    p("createdDateTime", DateTime, false, true),
    p("deletedDateTime", DateTime, false, true),
];

/// The longest string value a property may have (Graph's limits are smaller for most properties; this bound keeps
/// a document small whatever a client sends).
pub const MAX_STRING: usize = 1024;
/// The most values a collection property may have.
pub const MAX_VALUES: usize = 100;

/// The property `name` of a table, matched case-insensitively as Graph does; the canonical one.
pub fn find(table: &'static [Property], name: &str) -> Option<&'static Property> {
    table.iter().find(|p| p.name.eq_ignore_ascii_case(name))
}
