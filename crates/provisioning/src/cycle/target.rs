//! Target attribute paths, as attribute mappings name them (`userName`, `name.givenName`,
//! `emails[type eq "work"].value`, `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department`), and
//! what they mean in a SCIM resource: where a value goes in a POST body, where it is read back from the target's
//! copy, and the path a PATCH operation names.

use serde_json::{Map, Value, json};

/// A mapped target attribute's place in a SCIM resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetPath {
    /// The extension schema's URN when the attribute is an extension's.
    pub urn: Option<String>,
    /// The top-level attribute (`emails`, `name`, `userName`).
    pub attribute: String,
    /// The `type` of the element of a multi-valued attribute (`work` in `emails[type eq "work"].value`).
    pub element_type: Option<String>,
    /// The sub-attribute (`givenName` in `name.givenName`, `value` in `emails[type eq "work"].value`).
    pub sub: Option<String>,
}

/// The schema URNs of a resource's core schemas.
pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const ENTERPRISE_USER: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

impl TargetPath {
    /// Reads a target attribute name; `None` for one this engine cannot place in a resource (it is reported, not
    /// guessed).
    pub fn parse(name: &str) -> Option<TargetPath> {
        let name = name.trim();
        let (urn, rest) = if name.len() > 4 && name[..4].eq_ignore_ascii_case("urn:") {
            let (urn, rest) = name.rsplit_once(':')?;
            (Some(urn.to_owned()), rest)
        } else {
            (None, name)
        };
        if let Some((attribute, tail)) = rest.split_once('[') {
            // attribute[type eq "x"].sub
            let (filter, sub) = tail.split_once(']')?;
            let mut words = filter.splitn(3, ' ');
            let (field, op, value) = (words.next()?, words.next()?, words.next()?);
            if !field.eq_ignore_ascii_case("type") || !op.eq_ignore_ascii_case("eq") {
                return None;
            }
            let value = value.trim().trim_matches('"');
            let sub = sub.strip_prefix('.').filter(|s| !s.is_empty())?;
            return Some(TargetPath {
                urn,
                attribute: attribute.to_owned(),
                element_type: Some(value.to_owned()),
                sub: Some(sub.to_owned()),
            });
        }
        let (attribute, sub) = match rest.split_once('.') {
            Some((a, s)) => (a, Some(s.to_owned())),
            None => (rest, None),
        };
        if attribute.is_empty() || attribute.contains([' ', '"', ']']) || sub.as_deref() == Some("") {
            return None;
        }
        Some(TargetPath { urn, attribute: attribute.to_owned(), element_type: None, sub })
    }

    /// The container the attribute lives in: the resource, or its extension's object.
    fn container<'a>(&self, resource: &'a Value) -> Option<&'a Map<String, Value>> {
        let top = resource.as_object()?;
        match &self.urn {
            Some(urn) => get_ci(top, urn)?.as_object(),
            None => Some(top),
        }
    }

    /// The value the resource has at this path, `None` when it has none (null or empty strings count as none).
    pub fn read(&self, resource: &Value) -> Option<Value> {
        let container = self.container(resource)?;
        let value = get_ci(container, &self.attribute)?;
        let found = match (&self.element_type, &self.sub) {
            (Some(kind), Some(sub)) => {
                let element = value.as_array()?.iter().find(|e| {
                    e.as_object()
                        .and_then(|o| get_ci(o, "type"))
                        .and_then(Value::as_str)
                        .is_some_and(|t| t.eq_ignore_ascii_case(kind))
                })?;
                get_ci(element.as_object()?, sub)?.clone()
            }
            (None, Some(sub)) => get_ci(value.as_object()?, sub)?.clone(),
            _ => value.clone(),
        };
        match found {
            Value::Null => None,
            Value::String(s) if s.is_empty() => None,
            Value::Array(a) if a.is_empty() => None,
            v => Some(v),
        }
    }

    /// Writes the value at this path into a resource body being built.
    pub fn write(&self, resource: &mut Map<String, Value>, value: Value) {
        let container = match &self.urn {
            Some(urn) => match object_entry(resource, urn) {
                Some(c) => c,
                None => return,
            },
            None => resource,
        };
        match (&self.element_type, &self.sub) {
            (Some(kind), Some(sub)) => {
                let list = container.entry(self.attribute.clone()).or_insert_with(|| Value::Array(Vec::new()));
                if !list.is_array() {
                    *list = Value::Array(Vec::new());
                }
                let Value::Array(items) = list else { return };
                let at = items.iter().position(|e| e.get("type").and_then(Value::as_str) == Some(kind.as_str()));
                let index = match at {
                    Some(i) => i,
                    None => {
                        let mut element = Map::new();
                        element.insert("type".into(), json!(kind));
                        // Entra marks the work email primary, and other elements not.
                        let primary =
                            self.attribute.eq_ignore_ascii_case("emails") && kind.eq_ignore_ascii_case("work");
                        if self.attribute.eq_ignore_ascii_case("emails")
                            || self.attribute.eq_ignore_ascii_case("addresses")
                        {
                            element.insert("primary".into(), json!(primary));
                        }
                        items.push(Value::Object(element));
                        items.len() - 1
                    }
                };
                if let Some(Value::Object(element)) = items.get_mut(index) {
                    element.insert(sub.clone(), value);
                }
            }
            (None, Some(sub)) => {
                if let Some(object) = object_entry(container, &self.attribute) {
                    object.insert(sub.clone(), value);
                }
            }
            _ => {
                container.insert(self.attribute.clone(), value);
            }
        }
    }

    /// The path a PATCH operation names, as Entra writes it.
    pub fn patch_path(&self) -> String {
        let mut path = String::new();
        if let Some(urn) = &self.urn {
            path.push_str(urn);
            path.push(':');
        }
        path.push_str(&self.attribute);
        if let Some(kind) = &self.element_type {
            path.push_str(&format!("[type eq \"{kind}\"]"));
        }
        if let Some(sub) = &self.sub {
            path.push('.');
            path.push_str(sub);
        }
        path
    }

    /// Whether the path filters a multi-valued attribute (such paths are never folded into a path-less replace).
    pub fn is_filtered(&self) -> bool {
        self.element_type.is_some()
    }
}

/// The object under `key`, made one if it was missing or not an object.
fn object_entry<'a>(map: &'a mut Map<String, Value>, key: &str) -> Option<&'a mut Map<String, Value>> {
    let slot = map.entry(key.to_owned()).or_insert_with(|| Value::Object(Map::new()));
    if !slot.is_object() {
        *slot = Value::Object(Map::new());
    }
    slot.as_object_mut()
}

/// A member of an object by name, exact first, then ignoring ASCII case (SCIM attribute names are case-insensitive).
pub fn get_ci<'a>(map: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    map.get(key).or_else(|| map.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_read_and_placed_as_scim_resources_have_them() {
        let p = |s: &str| TargetPath::parse(s).unwrap_or_else(|| panic!("{s}"));
        let work = p("emails[type eq \"work\"].value");
        assert_eq!(work.element_type.as_deref(), Some("work"));
        assert_eq!(work.patch_path(), "emails[type eq \"work\"].value");
        let dept = p("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department");
        assert_eq!(dept.urn.as_deref(), Some(ENTERPRISE_USER));
        assert_eq!(dept.attribute, "department");
        let mut body = Map::new();
        work.write(&mut body, json!("a@x"));
        p("emails[type eq \"other\"].value").write(&mut body, json!("b@x"));
        p("name.givenName").write(&mut body, json!("Ann"));
        p("name.familyName").write(&mut body, json!("Lee"));
        dept.write(&mut body, json!("R&D"));
        p("userName").write(&mut body, json!("ann"));
        let v = Value::Object(body);
        assert_eq!(
            v["emails"],
            json!([{"type": "work", "primary": true, "value": "a@x"},
                                       {"type": "other", "primary": false, "value": "b@x"}])
        );
        assert_eq!(v["name"], json!({"givenName": "Ann", "familyName": "Lee"}));
        assert_eq!(v[ENTERPRISE_USER]["department"], "R&D");
        assert_eq!(work.read(&v), Some(json!("a@x")));
        assert_eq!(p("Name.GivenName").read(&v), Some(json!("Ann")), "names are case-insensitive");
        assert_eq!(dept.read(&v), Some(json!("R&D")));
        assert_eq!(p("emails[type eq \"home\"].value").read(&v), None);
        assert_eq!(p("title").read(&json!({"title": ""})), None, "an empty string is no value");
        assert!(TargetPath::parse("emails[value co \"x\"].value").is_none());
        assert!(TargetPath::parse("name.").is_none());
    }
}
