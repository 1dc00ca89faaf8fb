//! Which attributes a response carries (RFC 7644 §3.4.2.5 `attributes` / `excludedAttributes`, RFC 7643 §7
//! `returned`), and the order `sortBy` defines (RFC 7644 §3.4.2.3).
//!
//! Projection works on a rendered resource (the stored document plus `id`, `meta`, `schemas` and computed attributes
//! such as `groups`). The server can also ask a projection whether an attribute is wanted at all
//! ([`Projection::includes`]) before loading something expensive, such as a group's members.

use std::cmp::Ordering;

use serde_json::{Map, Value};

use crate::error::Result;
use crate::filter::AttrPath;
use crate::resource::{compare_simple, is_core, lookup};
use crate::schema::{Attribute, AttributeType, ResourceType, Returned};

/// The `attributes` and `excludedAttributes` of a request, resolved against a resource type.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Projection {
    /// `None` when the request had no (or an empty) `attributes`.
    attributes: Option<Vec<Selector>>,
    excluded: Vec<Selector>,
}

/// One entry of an attribute list: a whole schema (`urn:…:enterprise:2.0:User`), an attribute, or a sub-attribute.
/// Names are canonical; common attributes belong to the core schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Selector {
    schema: &'static str,
    attr: Option<&'static str>,
    sub: Option<&'static str>,
}

/// What a projection keeps of one attribute.
enum Want {
    Drop,
    /// Keep it; with `Some`, only these sub-attributes (plus those returned `always`).
    Keep(Option<Vec<&'static str>>),
}

impl Projection {
    /// Resolves comma-separated attribute lists. Names may be URN-qualified or not, carry a sub-attribute
    /// (`name.givenName`, `emails.value`) or be a whole schema URN; matching is case-insensitive, whitespace around
    /// names is ignored, and names the resource type does not define are ignored (RFC 7644 does not make them an
    /// error, and clients such as Terraform ask every resource type for the same list).
    pub fn parse(rt: &ResourceType, attributes: Option<&str>, excluded: Option<&str>) -> Result<Projection> {
        let attributes = attributes.filter(|s| !s.trim().is_empty()).map(|s| selectors(rt, s));
        let excluded = excluded.map(|s| selectors(rt, s)).unwrap_or_default();
        Ok(Projection { attributes, excluded })
    }

    /// Removes from a rendered resource what the request does not want: `never` attributes always, `request` ones
    /// unless named in `attributes`, `default` ones when excluded or when `attributes` is given without them. `always`
    /// attributes (`id`) and `schemas` stay.
    pub fn apply(&self, rt: &ResourceType, resource: &mut Value) {
        let Value::Object(resource) = resource else { return };
        resource.retain(|key, value| {
            if key.eq_ignore_ascii_case("schemas") {
                return true;
            }
            if let Some(schema) = rt.schema_by_urn(key).filter(|s| !is_core(rt, s)) {
                if let Value::Object(ext) = value {
                    ext.retain(|name, v| match schema.attribute(name) {
                        Some(attr) => self.project(schema.id, attr, v),
                        None => self.attributes.is_none(),
                    });
                    // An extension without attributes is a presence marker: kept whenever the extension is wanted.
                    return !ext.is_empty() || (schema.attributes.is_empty() && self.wants_schema(schema.id));
                }
                return self.attributes.is_none();
            }
            match rt.resolve(None, key) {
                Some(r) => self.project(r.schema.id, r.attribute, value),
                // Something the server added that no schema describes: only a default response carries it.
                None => self.attributes.is_none(),
            }
        });
    }

    /// Would a response carry (some of) attribute `name` (possibly URN-qualified)? Lets the server skip loading
    /// values nobody asked for, such as a group's members under Entra's `excludedAttributes=members`.
    pub fn includes(&self, rt: &ResourceType, name: &str) -> bool {
        let (urn, rest) = rt.split_urn(name);
        match lookup(rt, urn, rest, None) {
            Some(t) => !matches!(self.want(t.schema.id, t.attr), Want::Drop),
            None => false,
        }
    }

    /// Is a whole schema extension wanted: not excluded, and named by `attributes` if that is given?
    fn wants_schema(&self, schema: &str) -> bool {
        if self.excluded.iter().any(|s| s.schema == schema && s.attr.is_none()) {
            return false;
        }
        match &self.attributes {
            None => true,
            Some(list) => list.iter().any(|s| s.schema == schema && s.attr.is_none()),
        }
    }

    fn want(&self, schema: &str, attr: &Attribute) -> Want {
        match attr.returned {
            Returned::Always => return Want::Keep(None),
            Returned::Never => return Want::Drop,
            Returned::Default | Returned::Request => {}
        }
        let excluded_whole = self
            .excluded
            .iter()
            .any(|s| s.schema == schema && (s.attr.is_none() || (s.attr == Some(attr.name) && s.sub.is_none())));
        if excluded_whole {
            return Want::Drop;
        }
        match &self.attributes {
            None if attr.returned == Returned::Request => Want::Drop,
            None => Want::Keep(None),
            Some(list) => {
                let mine =
                    list.iter().filter(|s| s.schema == schema && (s.attr.is_none() || s.attr == Some(attr.name)));
                let mut subs = Vec::new();
                for s in mine {
                    match s.sub {
                        None => return Want::Keep(None),
                        Some(sub) => subs.push(sub),
                    }
                }
                if subs.is_empty() { Want::Drop } else { Want::Keep(Some(subs)) }
            }
        }
    }

    /// Projects one attribute's value in place; false when nothing of it is left.
    fn project(&self, schema: &str, attr: &Attribute, value: &mut Value) -> bool {
        let only = match self.want(schema, attr) {
            Want::Drop => return false,
            Want::Keep(only) => only,
        };
        if attr.kind != AttributeType::Complex {
            return true;
        }
        let excluded: Vec<&str> = self
            .excluded
            .iter()
            .filter(|s| s.schema == schema && s.attr == Some(attr.name))
            .filter_map(|s| s.sub)
            .collect();
        let keep = |obj: &mut Map<String, Value>| {
            obj.retain(|k, _| match attr.sub_attribute(k) {
                Some(sub) => match sub.returned {
                    Returned::Always => true,
                    Returned::Never => false,
                    Returned::Request => only.as_ref().is_some_and(|o| o.contains(&sub.name)),
                    Returned::Default => {
                        only.as_ref().is_none_or(|o| o.contains(&sub.name)) && !excluded.contains(&sub.name)
                    }
                },
                None => only.is_none(),
            });
            !obj.is_empty()
        };
        match value {
            Value::Object(obj) => keep(obj),
            Value::Array(items) => {
                items.retain_mut(|item| match item {
                    Value::Object(obj) => keep(obj),
                    _ => true,
                });
                !items.is_empty()
            }
            _ => true,
        }
    }
}

fn selectors(rt: &ResourceType, list: &str) -> Vec<Selector> {
    list.split(',').map(str::trim).filter(|s| !s.is_empty()).filter_map(|name| selector(rt, name)).collect()
}

fn selector(rt: &ResourceType, name: &str) -> Option<Selector> {
    if let Some(schema) = rt.schema_by_urn(name) {
        return Some(Selector { schema: schema.id, attr: None, sub: None });
    }
    let (urn, rest) = rt.split_urn(name);
    let (attr, sub) = match rest.split_once('.') {
        Some((a, s)) => (a, Some(s)),
        None => (rest, None),
    };
    let t = lookup(rt, urn, attr, sub)?;
    Some(Selector { schema: t.schema.id, attr: Some(t.attr.name), sub: t.sub.map(|s| s.name) })
}

/// Orders two rendered resources by `sort_by` ascending (RFC 7644 §3.4.2.3); for `sortOrder=descending` reverse the
/// result. Values compare by the attribute's type (strings honour `caseExact`, dateTimes chronologically); a
/// multi-valued attribute sorts by its primary value, else its first; a complex one by the named sub-attribute, else
/// `value`. Resources without a value sort after those with one (so first when descending, as the RFC says). An
/// attribute the type does not define leaves the order unchanged.
pub fn compare(rt: &ResourceType, a: &Value, b: &Value, sort_by: &AttrPath) -> Ordering {
    let Some(target) = lookup(rt, sort_by.urn.as_deref(), &sort_by.name, sort_by.sub.as_deref()) else {
        return Ordering::Equal;
    };
    let key = |resource: &'_ Value| -> Option<(&'static Attribute, Value)> {
        let container = if is_core(rt, target.schema) { resource } else { resource.get(target.schema.id)? };
        let mut v = container.get(target.attr.name)?;
        if target.attr.multi_valued {
            let items = v.as_array()?;
            v = items.iter().find(|i| i.get("primary") == Some(&Value::Bool(true))).or_else(|| items.first())?;
        }
        let (attr, v) = if target.attr.kind == AttributeType::Complex {
            let sub = target.sub.or_else(|| target.attr.sub_attribute("value"))?;
            (sub, v.get(sub.name)?)
        } else {
            (target.attr, v)
        };
        (!v.is_null()).then(|| (attr, v.clone()))
    };
    match (key(a), key(b)) {
        (Some((attr, x)), Some((_, y))) => compare_simple(attr, &x, &y).unwrap_or(Ordering::Equal),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    }
}

#[cfg(test)]
#[allow(clippy::panic)] // A failing test panics; these helpers say why.
mod tests {
    use serde_json::json;

    use super::*;
    use crate::schema::{GROUP_TYPE, Mutability, Schema, SchemaExtension, URN_ENTERPRISE_USER, URN_USER, USER_TYPE};

    const ENT: &str = URN_ENTERPRISE_USER;

    fn rendered() -> Value {
        json!({
            "schemas": [URN_USER, ENT],
            "id": "u1",
            "externalId": "x1",
            "userName": "jane@contoso.com",
            "name": {"givenName": "Jane", "familyName": "Doe"},
            "active": true,
            "password": "never-shown",
            "emails": [{"value": "j@w", "type": "work", "primary": true}, {"value": "j@h", "type": "home"}],
            "groups": [{"value": "g1", "display": "G", "type": "direct"}],
            "roles": [{"value": "r"}],
            ENT: {"department": "R&D", "manager": {"value": "m1", "$ref": "Users/m1"}},
            "meta": {"resourceType": "User", "location": "/Users/u1"}
        })
    }

    fn project(attributes: Option<&str>, excluded: Option<&str>) -> Value {
        let p = match Projection::parse(&USER_TYPE, attributes, excluded) {
            Ok(p) => p,
            Err(e) => panic!("{e}"),
        };
        let mut r = rendered();
        p.apply(&USER_TYPE, &mut r);
        r
    }

    fn keys(v: &Value) -> Vec<&str> {
        v.as_object().map(|m| m.keys().map(String::as_str).collect()).unwrap_or_default()
    }

    #[test]
    fn default_response_drops_only_never_returned_attributes() {
        let r = project(None, None);
        let mut expected = rendered();
        if let Some(m) = expected.as_object_mut() {
            m.shift_remove("password");
        }
        assert_eq!(r, expected);
        assert!(r.get("meta").is_some());
    }

    #[test]
    fn attributes_keeps_the_named_and_the_always_returned() {
        let r = project(Some("userName"), None);
        assert_eq!(r, json!({"schemas": [URN_USER, ENT], "id": "u1", "userName": "jane@contoso.com"}));
        // Terraform's lists, whitespace and case variants, unknown names ignored.
        let r = project(Some(" USERNAME , displayName,active ,externalId,entitlements, nonsense,urn:x:y "), None);
        assert_eq!(keys(&r), ["schemas", "id", "externalId", "userName", "active"]);
        // id cannot be excluded; password cannot be requested.
        let r = project(Some("password,id"), Some("id"));
        assert_eq!(keys(&r), ["schemas", "id"]);
        // An empty list is no list.
        assert_eq!(project(Some(" "), None), project(None, None));
    }

    #[test]
    fn sub_attribute_projection() {
        let r = project(Some("name.givenName,emails.value"), None);
        assert_eq!(r["name"], json!({"givenName": "Jane"}));
        assert_eq!(r["emails"], json!([{"value": "j@w"}, {"value": "j@h"}]));
        let r = project(Some("emails.value,emails.type"), None);
        assert_eq!(r["emails"], json!([{"value": "j@w", "type": "work"}, {"value": "j@h", "type": "home"}]));
        let r = project(None, Some("emails.primary,name.familyName"));
        assert_eq!(r["emails"], json!([{"value": "j@w", "type": "work"}, {"value": "j@h", "type": "home"}]));
        assert_eq!(r["name"], json!({"givenName": "Jane"}));
        // A sub-attribute that no value has leaves nothing, so the attribute goes.
        let r = project(Some("name.middleName"), None);
        assert!(r.get("name").is_none());
    }

    #[test]
    fn excluded_attributes() {
        // Terraform: excludedAttributes=roles,groups.
        let r = project(None, Some("roles,groups"));
        assert!(r.get("roles").is_none() && r.get("groups").is_none());
        assert!(r.get("userName").is_some() && r.get("meta").is_some());
        let r = project(None, Some("meta"));
        assert!(r.get("meta").is_none());
    }

    #[test]
    fn extension_attributes() {
        let r = project(Some(ENT), None);
        assert_eq!(r[ENT], rendered()[ENT]);
        assert_eq!(keys(&r), ["schemas", "id", ENT]);
        let r = project(Some(&format!("{ENT}:manager.value")), None);
        assert_eq!(r[ENT], json!({"manager": {"value": "m1"}}));
        let r = project(Some("department"), None);
        assert_eq!(r[ENT], json!({"department": "R&D"}));
        let r = project(None, Some(&format!("{ENT}:department")));
        assert_eq!(r[ENT], json!({"manager": {"value": "m1", "$ref": "Users/m1"}}));
        let r = project(None, Some(&ENT.to_lowercase()));
        assert!(r.get(ENT).is_none());
        // Core attributes may be qualified with the core URN, the core schema named whole.
        let r = project(Some(&format!("{URN_USER}:userName")), None);
        assert_eq!(keys(&r), ["schemas", "id", "userName"]);
        let r = project(Some(URN_USER), None);
        assert!(r.get("userName").is_some() && r.get(ENT).is_none() && r.get("password").is_none());
    }

    #[test]
    fn groups_without_members() {
        let p = match Projection::parse(&GROUP_TYPE, None, Some("members")) {
            Ok(p) => p,
            Err(e) => panic!("{e}"),
        };
        assert!(!p.includes(&GROUP_TYPE, "members"));
        assert!(p.includes(&GROUP_TYPE, "displayName"));
        let mut g = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "id": "g", "displayName": "Sales",
                           "members": [{"value": "u1"}], "meta": {"resourceType": "Group"}});
        p.apply(&GROUP_TYPE, &mut g);
        assert_eq!(keys(&g), ["schemas", "id", "displayName", "meta"]);
        let p = match Projection::parse(&GROUP_TYPE, Some("displayName"), None) {
            Ok(p) => p,
            Err(e) => panic!("{e}"),
        };
        assert!(!p.includes(&GROUP_TYPE, "members") && p.includes(&GROUP_TYPE, "id"));
        let p = match Projection::parse(&GROUP_TYPE, Some("members.value"), None) {
            Ok(p) => p,
            Err(e) => panic!("{e}"),
        };
        assert!(p.includes(&GROUP_TYPE, "members"));
    }

    static SECRET_SUBS: [Attribute; 2] = [
        Attribute::string("value", ""),
        Attribute::string("secret", "").returned(Returned::Never).mutability(Mutability::WriteOnly),
    ];
    static THING_ATTRS: [Attribute; 3] = [
        Attribute::string("name", ""),
        Attribute::string("details", "").returned(Returned::Request),
        Attribute::complex("keys", &SECRET_SUBS, "").multi(),
    ];
    static THING: Schema =
        Schema { id: "urn:test:2.0:Thing", name: "Thing", description: "", attributes: &THING_ATTRS };
    static THING_TYPE: ResourceType = ResourceType {
        id: "Thing",
        name: "Thing",
        endpoint: "/Things",
        description: "",
        schema: &THING,
        extensions: &[] as &[SchemaExtension],
    };

    #[test]
    fn request_and_never_returned() {
        let thing = json!({"id": "t", "name": "n", "details": "d", "keys": [{"value": "k", "secret": "s"}]});
        let run = |a: Option<&str>, e: Option<&str>| {
            let mut t = thing.clone();
            match Projection::parse(&THING_TYPE, a, e) {
                Ok(p) => p.apply(&THING_TYPE, &mut t),
                Err(e) => panic!("{e}"),
            }
            t
        };
        assert_eq!(run(None, None), json!({"id": "t", "name": "n", "keys": [{"value": "k"}]}));
        assert_eq!(run(Some("details"), None), json!({"id": "t", "details": "d"}));
        assert_eq!(run(Some("keys.secret"), None), json!({"id": "t"}));
        assert_eq!(run(Some("name,details"), Some("details")), json!({"id": "t", "name": "n"}));
    }

    fn by(path: &str) -> AttrPath {
        match AttrPath::parse(path) {
            Ok(p) => p,
            Err(e) => panic!("{e}"),
        }
    }

    fn sorted(resources: &[Value], path: &str, descending: bool) -> Vec<String> {
        let mut v = resources.to_vec();
        let p = by(path);
        v.sort_by(|a, b| {
            let o = compare(&USER_TYPE, a, b, &p);
            if descending { o.reverse() } else { o }
        });
        v.iter().map(|r| r["id"].as_str().unwrap_or("?").to_string()).collect()
    }

    #[test]
    fn sort_by_typed_values() {
        let users = [
            json!({"id": "b", "userName": "bob", "active": true, "meta": {"lastModified": "2024-01-02T00:00:00Z"},
                   "emails": [{"value": "z@x"}, {"value": "a@x", "primary": true}], ENT: {"employeeNumber": "2"}}),
            json!({"id": "A", "userName": "Alice", "active": false, "meta": {"lastModified": "2024-01-01T23:00:00-02:00"},
                   "emails": [{"value": "m@x"}]}),
            json!({"id": "c", "userName": "carol", "meta": {"lastModified": "2024-01-01T12:00:00Z"},
                   ENT: {"employeeNumber": "1"}}),
        ];
        // userName is case-insensitive; id is caseExact ("A" < "b").
        assert_eq!(sorted(&users, "userName", false), ["A", "b", "c"]);
        assert_eq!(sorted(&users, "userName", true), ["c", "b", "A"]);
        assert_eq!(sorted(&users, "id", false), ["A", "b", "c"]);
        // dateTimes chronologically: -02:00 makes A the latest.
        assert_eq!(sorted(&users, "meta.lastModified", false), ["c", "b", "A"]);
        // Missing values last ascending, first descending.
        assert_eq!(sorted(&users, "active", false), ["A", "b", "c"]);
        assert_eq!(sorted(&users, "active", true), ["c", "b", "A"]);
        // Multi-valued: the primary value, else the first.
        assert_eq!(sorted(&users, "emails", false), ["b", "A", "c"]);
        assert_eq!(sorted(&users, "emails.value", false), ["b", "A", "c"]);
        assert_eq!(sorted(&users, &format!("{ENT}:employeeNumber"), false), ["c", "b", "A"]);
        // An unknown attribute keeps the order (a stable sort).
        assert_eq!(sorted(&users, "nope", false), ["b", "A", "c"]);
    }
}
