//! Builders for expected syntax trees, and sample resources.

use idplane_scim::filter::{AttrPath, CompValue, CompareOp, Filter};
use idplane_scim::schema::{URN_ENTERPRISE_USER, URN_USER};
use serde_json::{Value, json};

pub fn attr(name: &str) -> AttrPath {
    AttrPath::new(name)
}

pub fn sub(name: &str, sub: &str) -> AttrPath {
    AttrPath { urn: None, name: name.into(), sub: Some(sub.into()) }
}

pub fn qualified(urn: &str, name: &str, sub: Option<&str>) -> AttrPath {
    AttrPath { urn: Some(urn.into()), name: name.into(), sub: sub.map(Into::into) }
}

pub fn s(value: &str) -> CompValue {
    CompValue::String(value.into())
}

pub fn cmp(path: AttrPath, op: CompareOp, value: CompValue) -> Filter {
    Filter::Compare(path, op, value)
}

pub fn eq(path: AttrPath, value: &str) -> Filter {
    cmp(path, CompareOp::Eq, s(value))
}

pub fn pr(path: AttrPath) -> Filter {
    Filter::Present(path)
}

pub fn and(l: Filter, r: Filter) -> Filter {
    Filter::And(Box::new(l), Box::new(r))
}

pub fn or(l: Filter, r: Filter) -> Filter {
    Filter::Or(Box::new(l), Box::new(r))
}

pub fn not(f: Filter) -> Filter {
    Filter::Not(Box::new(f))
}

pub fn value_path(path: AttrPath, f: Filter) -> Filter {
    Filter::ValuePath(path, Box::new(f))
}

/// RFC 7643 §8.2/§8.3's Babs Jensen, with the enterprise extension.
pub fn bjensen() -> Value {
    json!({
        "schemas": [URN_USER, URN_ENTERPRISE_USER],
        "id": "2819c223-7f76-453a-919d-413861904646",
        "externalId": "701984",
        "userName": "bjensen",
        "name": {"formatted": "Ms. Barbara J Jensen, III", "familyName": "Jensen", "givenName": "Barbara"},
        "displayName": "Babs Jensen",
        "title": "Tour Guide",
        "userType": "Employee",
        "active": true,
        "emails": [
            {"value": "bjensen@example.com", "type": "work", "primary": true},
            {"value": "babs@jensen.org", "type": "home"}
        ],
        "ims": [{"value": "someaimhandle", "type": "aim"}],
        "addresses": [{"type": "work", "formatted": "100 Universal City Plaza\nHollywood, CA 91608 USA"}],
        "meta": {
            "resourceType": "User",
            "created": "2010-01-23T04:56:22Z",
            "lastModified": "2011-05-13T04:42:34Z",
            "version": "W/\"3694e05e9dff591\""
        },
        URN_ENTERPRISE_USER: {
            "employeeNumber": "701984",
            "department": "Tour Operations",
            "manager": {"value": "26118915-6090-4610-87e4-49d8ca9f808d", "displayName": "John Smith"}
        }
    })
}

pub fn jsmith() -> Value {
    json!({
        "schemas": [URN_USER],
        "id": "26118915-6090-4610-87e4-49d8ca9f808d",
        "externalId": "AbC-1",
        "userName": "Jsmith",
        "name": {"familyName": "Smith", "givenName": "John"},
        "userType": "Intern",
        "active": false,
        "emails": [{"value": "jsmith@example.org", "type": "work"}],
        "ims": [{"value": "jsmith@foo.com", "type": "xmpp"}],
        "meta": {"resourceType": "User", "lastModified": "2011-05-13T04:42:35Z"}
    })
}

pub fn omalley() -> Value {
    json!({
        "schemas": [URN_USER],
        "id": "3",
        "userName": "jomalley",
        "name": {"familyName": "O'Malley"},
        "displayName": "Ærøskøbing Ølstue",
        "title": "",
        "userType": "Contractor",
        "active": true,
        "emails": [{"value": "jo@omalley.ie", "type": "home"}],
        "meta": {"resourceType": "User", "lastModified": "2010-01-23T04:56:22Z"}
    })
}

/// The users above, by the name the tables use.
pub fn users() -> Vec<(&'static str, Value)> {
    vec![("bjensen", bjensen()), ("jsmith", jsmith()), ("omalley", omalley())]
}
