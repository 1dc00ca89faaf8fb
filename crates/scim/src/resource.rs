//! Resources as stored documents: turning a client's POST/PUT body into the canonical stored form ([`normalize`]) and
//! the PUT rule for immutable attributes ([`check_immutable`]).
//!
//! The stored document is a JSON object whose keys are the schema's canonical attribute names; extension attributes
//! live in an object under their schema URN. `schemas`, `id`, `meta` and every readOnly attribute are not stored: the
//! server adds them when it renders a resource. Unassigned attributes (null, empty arrays, empty complex values) are
//! absent, so "has a value" is simply "has the key".
//!
//! This module also owns the attribute-level helpers the PATCH, projection and sorting code share: resolving a
//! (possibly URN-qualified or dotted) attribute name, validating one value against its attribute, and typed
//! equality/ordering that honours `caseExact`.

use std::cmp::Ordering;

use base64::Engine as _;
use serde_json::{Map, Value};

use crate::error::{Result, ScimError};
use crate::schema::{Attribute, AttributeType, COMMON, Mutability, ResourceType, Schema};

/// Converts a client's POST or PUT body into the stored document of a resource of type `rt`.
///
/// Attribute names are matched case-insensitively and stored in canonical case; extension attributes are gathered under
/// their canonical URN whether the client nested them (`"urn:…:User": {"department": "x"}`) or qualified them at the top
/// level (`"urn:…:User:department": "x"`). `schemas`, `id`, `meta` and readOnly attributes are ignored (RFC 7643 §7),
/// nulls are dropped, values are type-checked and the client dialects are absorbed (string booleans, single values for
/// multi-valued attributes, a bare string for a complex attribute with a `value`, Terraform's `"entitlements":[{}]`).
/// writeOnly attributes (`password`) are kept: the caller decides what to do with them.
///
/// Attributes no schema of `rt` declares, and extensions it does not have, are dropped: the body is taken as if they
/// were absent ([`known_only`]). A known attribute with a value of the wrong type is still a 400.
pub fn normalize(rt: &ResourceType, body: &Value) -> Result<Value> {
    let Value::Object(input) = body else {
        return Err(ScimError::invalid_syntax("the request body must be a JSON object"));
    };
    let input = known_only(rt, input);
    let mut out = Map::new();
    for (key, value) in &input {
        if key.eq_ignore_ascii_case("schemas") {
            continue;
        }
        match resolve_key(rt, key)? {
            KeyTarget::Schema(schema) => {
                let Some(inner) = as_object_or_null(value, schema.id)? else { continue };
                if schema.attributes.is_empty() && !is_core(rt, schema) {
                    // An extension without attributes can only say that it applies: its presence is its value.
                    out.insert(schema.id.to_string(), Value::Object(Map::new()));
                    continue;
                }
                for (inner_key, inner_value) in inner {
                    if inner_key.eq_ignore_ascii_case("schemas") {
                        continue;
                    }
                    let target = resolve_in_schema(rt, schema, inner_key)?;
                    insert_target(rt, &mut out, target, inner_value)?;
                }
            }
            KeyTarget::Attr(target) => insert_target(rt, &mut out, target, value)?,
        }
    }
    check_required(rt, &out)?;
    Ok(Value::Object(out))
}

/// A POST or PUT body without the attributes and extensions `rt` does not declare (at the top level, inside extension
/// objects, and the unknown sub-attributes of complex values).
///
/// RFC 7644 §3.3 suggests 400 invalidSyntax for them; idplane ignores them instead, as Microsoft's reference SCIM client
/// collection expects: Entra ID sends the attributes of custom mappings and of extensions the target may not know, and
/// a 400 would put every such user in escrow. PATCH is not lenient: a path that names no attribute stays a 400
/// invalidPath, since a PATCH says exactly what to change.
fn known_only(rt: &ResourceType, input: &Map<String, Value>) -> Map<String, Value> {
    let mut out = Map::new();
    for (key, value) in input {
        if key.eq_ignore_ascii_case("schemas") {
            out.insert(key.clone(), value.clone());
            continue;
        }
        match resolve_key(rt, key) {
            Err(_) => {}
            Ok(KeyTarget::Attr(target)) => {
                out.insert(key.clone(), known_sub_attributes(target, value));
            }
            Ok(KeyTarget::Schema(schema)) => match value {
                Value::Object(inner) if !schema.attributes.is_empty() || is_core(rt, schema) => {
                    let mut kept = Map::new();
                    for (inner_key, inner_value) in inner {
                        if inner_key.eq_ignore_ascii_case("schemas") {
                            kept.insert(inner_key.clone(), inner_value.clone());
                        } else if let Ok(target) = resolve_in_schema(rt, schema, inner_key) {
                            kept.insert(inner_key.clone(), known_sub_attributes(target, inner_value));
                        }
                    }
                    out.insert(key.clone(), Value::Object(kept));
                }
                other => {
                    out.insert(key.clone(), other.clone());
                }
            },
        }
    }
    out
}

/// The value of a complex attribute without the sub-attributes it does not have (in each item, when multi-valued).
fn known_sub_attributes(target: AttrTarget, value: &Value) -> Value {
    if target.sub.is_some() || target.attr.kind != AttributeType::Complex {
        return value.clone();
    }
    let known = |item: &Value| match item {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| target.attr.sub_attribute(k).is_some())
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ),
        other => other.clone(),
    };
    match value {
        Value::Array(items) => Value::Array(items.iter().map(known).collect()),
        other => known(other),
    }
}

/// The PUT rule of RFC 7644 §3.5.1: an immutable attribute (or immutable sub-attribute of a single-valued complex
/// attribute) that already has a value may be re-sent unchanged but not changed. Leaving it out of the PUT body is not a
/// change here; the caller decides whether an omitted immutable value is kept. Immutable sub-attributes of multi-valued
/// attributes are not checked: their values have no identity to compare across the old and new lists.
pub fn check_immutable(rt: &ResourceType, old: &Value, new: &Value) -> Result<()> {
    immutable_check(rt, old, new, false)
}

/// Shared by PUT (`omission_changes = false`) and PATCH (`true`: a PATCH that removes an immutable value changes it).
pub(crate) fn immutable_check(rt: &ResourceType, old: &Value, new: &Value, omission_changes: bool) -> Result<()> {
    for schema in rt.schemas().chain(std::iter::once(&COMMON)) {
        let core = is_core(rt, schema);
        let (old_c, new_c) = if core {
            (old.as_object(), new.as_object())
        } else {
            (old.get(schema.id).and_then(Value::as_object), new.get(schema.id).and_then(Value::as_object))
        };
        let Some(old_c) = old_c else { continue };
        for attr in schema.attributes {
            let Some(old_v) = old_c.get(attr.name) else { continue };
            let new_v = new_c.and_then(|c| c.get(attr.name));
            let name = qualified(rt, schema, attr.name);
            if attr.mutability == Mutability::Immutable {
                changed(old_v, new_v, omission_changes, &name)?;
            } else if attr.kind == AttributeType::Complex && !attr.multi_valued {
                for sub in attr.sub_attributes.iter().filter(|s| s.mutability == Mutability::Immutable) {
                    let Some(old_s) = old_v.get(sub.name) else { continue };
                    let new_s = new_v.and_then(|v| v.get(sub.name));
                    changed(old_s, new_s, omission_changes, &format!("{name}.{}", sub.name))?;
                }
            }
        }
    }
    Ok(())
}

fn changed(old: &Value, new: Option<&Value>, omission_changes: bool, name: &str) -> Result<()> {
    let differs = match new {
        Some(new) => new != old,
        None => omission_changes,
    };
    if differs {
        return Err(ScimError::mutability(format!("attribute '{name}' is immutable and already has a value")));
    }
    Ok(())
}

// ---- Attribute resolution shared with PATCH and projection ----

/// What a top-level key of a resource body (or a PATCH path-less value) designates.
#[derive(Debug, Clone, Copy)]
pub(crate) enum KeyTarget {
    /// A whole schema, named by its URN: an extension object (or, rarely, the core attributes nested under the core URN).
    Schema(&'static Schema),
    Attr(AttrTarget),
}

/// An attribute and, for `name.givenName` style keys, one of its sub-attributes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AttrTarget {
    pub schema: &'static Schema,
    pub attr: &'static Attribute,
    pub sub: Option<&'static Attribute>,
}

/// Resolves a top-level key: a schema URN, a URN-qualified attribute (`urn:…:User:manager.value`), a dotted
/// sub-attribute (`name.givenName`, Entra's path-less PATCH values) or a plain name. Unknown names are 400
/// invalidSyntax naming the key.
pub(crate) fn resolve_key(rt: &ResourceType, key: &str) -> Result<KeyTarget> {
    if let Some(schema) = rt.schema_by_urn(key) {
        return Ok(KeyTarget::Schema(schema));
    }
    let (urn, rest) = rt.split_urn(key);
    if urn.is_none() && starts_with_ci(key, "urn:") {
        return Err(ScimError::invalid_syntax(format!("unknown schema extension '{key}'")));
    }
    let (name, sub) = match rest.split_once('.') {
        Some((name, sub)) => (name, Some(sub)),
        None => (rest, None),
    };
    lookup(rt, urn, name, sub)
        .map(KeyTarget::Attr)
        .ok_or_else(|| ScimError::invalid_syntax(format!("unknown attribute '{key}'")))
}

/// Resolves a key found inside the object of schema `schema` (`{"urn:…:User": {"manager.value": …}}`).
pub(crate) fn resolve_in_schema(rt: &ResourceType, schema: &'static Schema, key: &str) -> Result<AttrTarget> {
    let (name, sub) = match key.split_once('.') {
        Some((name, sub)) => (name, Some(sub)),
        None => (key, None),
    };
    lookup(rt, Some(schema.id), name, sub)
        .ok_or_else(|| ScimError::invalid_syntax(format!("unknown attribute '{}'", qualified(rt, schema, key))))
}

/// Finds attribute `name` (and sub-attribute `sub`) of `rt`. Without a URN, a name that is neither common nor core is
/// looked for in the extensions when exactly one defines it: older Entra samples send `"path":"manager"` unqualified.
pub(crate) fn lookup(rt: &ResourceType, urn: Option<&str>, name: &str, sub: Option<&str>) -> Option<AttrTarget> {
    let (schema, attr) = match rt.resolve(urn, name) {
        Some(r) => (r.schema, r.attribute),
        None if urn.is_none() => {
            let mut found = rt.extensions.iter().filter_map(|e| e.schema.attribute(name).map(|a| (e.schema, a)));
            let first = found.next()?;
            if found.next().is_some() {
                return None;
            }
            first
        }
        None => return None,
    };
    let sub = match sub {
        None => None,
        Some(s) => Some(attr.sub_attribute(s)?),
    };
    Some(AttrTarget { schema, attr, sub })
}

/// Is `schema` the core schema (or the common attributes, which are stored beside the core ones)?
pub(crate) fn is_core(rt: &ResourceType, schema: &Schema) -> bool {
    std::ptr::eq(schema, rt.schema) || std::ptr::eq(schema, &COMMON)
}

/// The name an error message uses for an attribute: URN-qualified for extension attributes.
pub(crate) fn qualified(rt: &ResourceType, schema: &Schema, name: &str) -> String {
    if is_core(rt, schema) { name.to_string() } else { format!("{}:{name}", schema.id) }
}

impl AttrTarget {
    /// The target as a client would write it, for error messages.
    pub(crate) fn display(&self, rt: &ResourceType) -> String {
        let name = qualified(rt, self.schema, self.attr.name);
        match self.sub {
            Some(sub) => format!("{name}.{}", sub.name),
            None => name,
        }
    }
}

/// Runs `f` on the object holding the attributes of `schema` in a stored document: the document itself for core and
/// common attributes, the object under the URN for an extension (created on demand, dropped again when left empty so
/// that an extension without values is unassigned). The extension keeps its position among the document's keys.
pub(crate) fn with_container<R>(
    rt: &ResourceType,
    doc: &mut Map<String, Value>,
    schema: &Schema,
    f: impl FnOnce(&mut Map<String, Value>) -> R,
) -> R {
    if is_core(rt, schema) {
        return f(doc);
    }
    let mut ext = match doc.get_mut(schema.id).map(std::mem::take) {
        Some(Value::Object(m)) => m,
        _ => Map::new(),
    };
    let result = f(&mut ext);
    if ext.is_empty() {
        doc.shift_remove(schema.id);
    } else {
        doc.insert(schema.id.to_string(), Value::Object(ext));
    }
    result
}

fn insert_target(rt: &ResourceType, out: &mut Map<String, Value>, target: AttrTarget, value: &Value) -> Result<()> {
    // RFC 7643 §7: readOnly values in a request are ignored, which is also how `id` and `meta` are dropped.
    if target.attr.mutability == Mutability::ReadOnly
        || target.sub.is_some_and(|s| s.mutability == Mutability::ReadOnly)
    {
        return Ok(());
    }
    let path = target.display(rt);
    with_container(rt, out, target.schema, |container| insert_into(container, target, &path, value))
}

fn insert_into(container: &mut Map<String, Value>, target: AttrTarget, path: &str, value: &Value) -> Result<()> {
    match target.sub {
        None => {
            let Some(v) = normalize_value(target.attr, path, value)? else { return Ok(()) };
            match (container.get_mut(target.attr.name), v) {
                // `"name": {…}` and `"name.givenName": …` in one body: merge, later keys win.
                (Some(Value::Object(existing)), Value::Object(new)) if !target.attr.multi_valued => {
                    existing.extend(new);
                }
                (_, v) => {
                    container.insert(target.attr.name.to_string(), v);
                }
            }
        }
        Some(sub) => {
            if target.attr.multi_valued {
                return Err(ScimError::invalid_syntax(format!(
                    "'{path}' names a sub-attribute of the multi-valued attribute '{}'; send the whole value",
                    target.attr.name
                )));
            }
            let Some(v) = normalize_value(sub, path, value)? else { return Ok(()) };
            let slot = container.entry(target.attr.name).or_insert_with(|| Value::Object(Map::new()));
            if !slot.is_object() {
                *slot = Value::Object(Map::new());
            }
            if let Value::Object(m) = slot {
                m.insert(sub.name.to_string(), v);
            }
        }
    }
    Ok(())
}

fn check_required(rt: &ResourceType, doc: &Map<String, Value>) -> Result<()> {
    for schema in rt.schemas() {
        let container = if is_core(rt, schema) {
            Some(doc)
        } else {
            let present = doc.get(schema.id).and_then(Value::as_object);
            let required = rt.extensions.iter().any(|e| std::ptr::eq(e.schema, schema) && e.required);
            if present.is_none() && required {
                return Err(ScimError::invalid_value(format!("schema extension '{}' is required", schema.id)));
            }
            present
        };
        let Some(container) = container else { continue };
        for attr in schema.attributes {
            let name = qualified(rt, schema, attr.name);
            match container.get(attr.name) {
                None if attr.required && attr.mutability != Mutability::ReadOnly => {
                    return Err(ScimError::invalid_value(format!("attribute '{name}' is required")));
                }
                Some(v) if attr.kind == AttributeType::Complex => {
                    let items: Vec<&Value> = match v {
                        Value::Array(a) => a.iter().collect(),
                        other => vec![other],
                    };
                    for sub in attr.sub_attributes.iter().filter(|s| s.required && s.mutability != Mutability::ReadOnly)
                    {
                        if items.iter().any(|i| i.get(sub.name).is_none()) {
                            return Err(ScimError::invalid_value(format!(
                                "attribute '{name}.{}' is required",
                                sub.name
                            )));
                        }
                    }
                }
                _ => {}
            }
        }
    }
    Ok(())
}

fn as_object_or_null<'a>(value: &'a Value, name: &str) -> Result<Option<&'a Map<String, Value>>> {
    match value {
        Value::Null => Ok(None),
        Value::Object(m) => Ok(Some(m)),
        _ => Err(ScimError::invalid_value(format!("'{name}' must be a JSON object of extension attributes"))),
    }
}

// ---- Values ----

/// Validates and canonicalises the value of `attr`; `path` names it in errors. `Ok(None)` means unassigned (null, an
/// empty array, a complex value with nothing left in it).
pub(crate) fn normalize_value(attr: &Attribute, path: &str, value: &Value) -> Result<Option<Value>> {
    if attr.multi_valued {
        let items: &[Value] = match value {
            Value::Null => return Ok(None),
            Value::Array(a) => a,
            // A single value for a multi-valued attribute: clients send `"emails": {…}` and PATCH values unwrapped.
            other => std::slice::from_ref(other),
        };
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            if let Some(v) = normalize_single(attr, path, item)? {
                out.push(v);
            }
        }
        if out.iter().filter(|v| is_primary(v)).count() > 1 {
            return Err(ScimError::invalid_value(format!("at most one value of '{path}' may be primary")));
        }
        if out.is_empty() {
            // RFC 7643 §2.4: an empty array and an unassigned attribute are the same state.
            return Ok(None);
        }
        return Ok(Some(Value::Array(out)));
    }
    match value {
        Value::Array(a) if a.is_empty() => Ok(None),
        // PATCH clients wrap single values in a one-element array (RFC 7644 examples do this for `manager`).
        Value::Array(a) if a.len() == 1 => normalize_single(attr, path, &a[0]),
        Value::Array(_) => Err(ScimError::invalid_value(format!("attribute '{path}' is single-valued"))),
        other => normalize_single(attr, path, other),
    }
}

/// One value of `attr` (an item, for multi-valued attributes).
pub(crate) fn normalize_single(attr: &Attribute, path: &str, value: &Value) -> Result<Option<Value>> {
    if value.is_null() {
        return Ok(None);
    }
    if attr.kind != AttributeType::Complex {
        return check_simple(attr.kind, path, value).map(Some);
    }
    match value {
        Value::Object(m) => {
            let mut out = Map::new();
            for (k, v) in m {
                let Some(sub) = attr.sub_attribute(k) else {
                    return Err(ScimError::invalid_syntax(format!("unknown attribute '{path}.{k}'")));
                };
                if sub.mutability == Mutability::ReadOnly {
                    continue;
                }
                if let Some(v) = normalize_value(sub, &format!("{path}.{}", sub.name), v)? {
                    out.insert(sub.name.to_string(), v);
                }
            }
            // Empty items carry nothing; Terraform sends `"entitlements":[{}]` when no flag is set.
            Ok(if out.is_empty() { None } else { Some(Value::Object(out)) })
        }
        // Entra sends the enterprise `manager` (and sometimes member items) as the bare id.
        Value::String(s) if attr.sub_attribute("value").is_some() => {
            if s.is_empty() {
                return Ok(None);
            }
            let mut out = Map::new();
            out.insert("value".to_string(), Value::String(s.clone()));
            Ok(Some(Value::Object(out)))
        }
        _ => Err(ScimError::invalid_value(format!("attribute '{path}' must be a complex value (a JSON object)"))),
    }
}

fn check_simple(kind: AttributeType, path: &str, value: &Value) -> Result<Value> {
    let ok = match (kind, value) {
        (AttributeType::String | AttributeType::Reference, Value::String(_)) => true,
        (AttributeType::Boolean, Value::Bool(_)) => true,
        (AttributeType::Boolean, Value::String(s)) => {
            // Entra sends `"active": "False"`; any case is seen in the field.
            if let Some(b) = parse_bool(s) {
                return Ok(Value::Bool(b));
            }
            false
        }
        (AttributeType::Integer, Value::Number(n)) => n.is_i64() || n.is_u64(),
        (AttributeType::Decimal, Value::Number(_)) => true,
        (AttributeType::DateTime, Value::String(s)) => parse_date_time(s).is_some(),
        (AttributeType::Binary, Value::String(s)) => BASE64.decode(s).is_ok(),
        _ => false,
    };
    if ok {
        return Ok(value.clone());
    }
    let expected = match kind {
        AttributeType::DateTime => "a dateTime (RFC 3339 string)",
        AttributeType::Binary => "binary (a base64 string)",
        AttributeType::Integer => "an integer",
        AttributeType::Decimal => "a number",
        AttributeType::Boolean => "a boolean",
        AttributeType::Reference => "a reference (a string)",
        AttributeType::String | AttributeType::Complex => "a string",
    };
    Err(ScimError::invalid_value(format!("attribute '{path}' must be {expected}")))
}

/// Base64 as RFC 7643 §2.3.6 says (RFC 4648 §4), tolerating missing padding.
const BASE64: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    base64::engine::GeneralPurposeConfig::new()
        .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
);

pub(crate) use crate::filter::{parse_bool, parse_date_time};

fn is_primary(v: &Value) -> bool {
    v.get("primary") == Some(&Value::Bool(true))
}

pub(crate) fn starts_with_ci(s: &str, prefix: &str) -> bool {
    s.len() >= prefix.len() && s.is_char_boundary(prefix.len()) && s[..prefix.len()].eq_ignore_ascii_case(prefix)
}

// ---- Typed comparison ----

/// Equality of two values of `attr` (one item, for multi-valued attributes) as SCIM defines it: strings compare
/// case-insensitively unless `caseExact`, dateTimes as instants, complex values sub-attribute by sub-attribute.
pub(crate) fn item_equal(attr: &Attribute, a: &Value, b: &Value) -> bool {
    match (attr.kind, a, b) {
        (AttributeType::Complex, Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter().all(|(k, xv)| {
                    y.get(k).is_some_and(|yv| match attr.sub_attribute(k) {
                        Some(sub) => item_equal(sub, xv, yv),
                        None => xv == yv,
                    })
                })
        }
        _ => compare_simple(attr, a, b) == Some(Ordering::Equal),
    }
}

/// Does the stored item `stored` hold every sub-attribute value of `given`? This is how a PATCH `remove` with a value
/// list picks items (`[{"value":"workspace-access"}]` matches the stored item however many other sub-attributes it
/// has), and how `add` recognises an item that is already there. An empty `given` matches nothing, so a malformed
/// removal can never wipe a list.
pub(crate) fn item_contains(attr: &Attribute, stored: &Value, given: &Value) -> bool {
    match (attr.kind, stored, given) {
        (AttributeType::Complex, Value::Object(s), Value::Object(g)) => {
            !g.is_empty()
                && g.iter().all(|(k, gv)| {
                    s.get(k).is_some_and(|sv| match attr.sub_attribute(k) {
                        Some(sub) => item_equal(sub, sv, gv),
                        None => sv == gv,
                    })
                })
        }
        _ => item_equal(attr, stored, given),
    }
}

/// Orders two simple values of `attr`'s type; `None` when they are not comparable (different JSON types).
pub(crate) fn compare_simple(attr: &Attribute, a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::String(x), Value::String(y)) => Some(compare_strings(attr, x, y)),
        (Value::Bool(x), Value::Bool(y)) => Some(x.cmp(y)),
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(x), Some(y)) => Some(x.cmp(&y)),
            _ => x.as_f64()?.partial_cmp(&y.as_f64()?),
        },
        (Value::Null, Value::Null) => Some(Ordering::Equal),
        _ => None,
    }
}

fn compare_strings(attr: &Attribute, x: &str, y: &str) -> Ordering {
    match attr.kind {
        AttributeType::DateTime => {
            if let (Some(a), Some(b)) = (parse_date_time(x), parse_date_time(y)) {
                return a.cmp(&b);
            }
            x.cmp(y)
        }
        AttributeType::Binary | AttributeType::Reference => x.cmp(y),
        _ if attr.case_exact => x.cmp(y),
        _ => cmp_ci(x, y),
    }
}

/// Case-insensitive ordering; ASCII fast path, full Unicode lower-casing otherwise.
pub(crate) fn cmp_ci(x: &str, y: &str) -> Ordering {
    if x.is_ascii() && y.is_ascii() {
        let a = x.bytes().map(|c| c.to_ascii_lowercase());
        let b = y.bytes().map(|c| c.to_ascii_lowercase());
        return a.cmp(b);
    }
    x.to_lowercase().cmp(&y.to_lowercase())
}

#[cfg(test)]
#[allow(clippy::panic)] // A failing test panics; these helpers say why.
mod tests {
    use serde_json::json;

    use super::*;
    use crate::error::ScimType;
    use crate::schema::{GROUP_TYPE, URN_ENTERPRISE_USER, USER_TYPE};

    fn norm(body: Value) -> Value {
        match normalize(&USER_TYPE, &body) {
            Ok(v) => v,
            Err(e) => panic!("normalize failed: {e}"),
        }
    }

    fn err(body: Value) -> ScimError {
        match normalize(&USER_TYPE, &body) {
            Ok(v) => panic!("expected an error, got {v}"),
            Err(e) => e,
        }
    }

    #[test]
    fn entra_create_body_is_stored_canonically() {
        let body = json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", URN_ENTERPRISE_USER],
            "externalId": "jdoe",
            "userName": "jdoe@contoso.com",
            "active": true,
            "displayName": "Jane Doe",
            "title": "Engineer",
            "preferredLanguage": "en-US",
            "emails": [{"primary": true, "type": "work", "value": "jdoe@contoso.com"}],
            "name": {"formatted": "Jane Doe", "familyName": "Doe", "givenName": "Jane"},
            "addresses": [{"type": "work", "formatted": "x", "streetAddress": "y", "locality": "z",
                           "region": "r", "postalCode": "p", "country": "US", "primary": false}],
            "phoneNumbers": [{"type": "work", "value": "1"}, {"type": "mobile", "value": "2"}, {"type": "fax", "value": "3"}],
            URN_ENTERPRISE_USER: {"employeeNumber": "701984", "department": "R&D"},
            "roles": [],
            "meta": {"resourceType": "User"}
        });
        let doc = norm(body.clone());
        let mut expected = body;
        if let Some(m) = expected.as_object_mut() {
            m.shift_remove("schemas");
            m.shift_remove("meta");
            m.shift_remove("roles");
        }
        assert_eq!(doc, expected);
    }

    #[test]
    fn names_are_rewritten_to_canonical_case_at_every_level() {
        let doc = norm(json!({
            "USERNAME": "a",
            "Name": {"GivenName": "A", "familyname": "B"},
            "EMAILS": [{"VALUE": "a@x", "Type": "work"}],
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:user": {"Manager": {"Value": "m1"}}
        }));
        assert_eq!(
            doc,
            json!({
                "userName": "a",
                "name": {"givenName": "A", "familyName": "B"},
                "emails": [{"value": "a@x", "type": "work"}],
                URN_ENTERPRISE_USER: {"manager": {"value": "m1"}}
            })
        );
    }

    #[test]
    fn urn_qualified_top_level_keys_fold_into_the_extension() {
        let doc = norm(json!({
            "userName": "a",
            URN_ENTERPRISE_USER: {"department": "R&D"},
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber": "42",
            "URN:IETF:params:scim:schemas:extension:enterprise:2.0:User:manager.value": "m1",
            "urn:ietf:params:scim:schemas:core:2.0:User:displayName": "D"
        }));
        assert_eq!(
            doc,
            json!({
                "userName": "a",
                URN_ENTERPRISE_USER: {"department": "R&D", "employeeNumber": "42", "manager": {"value": "m1"}},
                "displayName": "D"
            })
        );
    }

    #[test]
    fn read_only_and_server_attributes_are_ignored() {
        let doc = norm(json!({
            "schemas": ["x"], "id": "123", "meta": {"created": "2020-01-01T00:00:00Z"},
            "userName": "a",
            "groups": [{"value": "g1", "display": "G"}],
            URN_ENTERPRISE_USER: {"manager": {"value": "m", "displayName": "Boss"}}
        }));
        assert_eq!(doc, json!({"userName": "a", URN_ENTERPRISE_USER: {"manager": {"value": "m"}}}));
        // Terraform's PUT re-sends groups and members with their read-only display names.
        let group = normalize(
            &GROUP_TYPE,
            &json!({"displayName": "g", "members": [{"value": "1", "display": "Jane", "$ref": "Users/1"}]}),
        );
        assert_eq!(group, Ok(json!({"displayName": "g", "members": [{"value": "1", "$ref": "Users/1"}]})));
    }

    #[test]
    fn nulls_are_unassigned_at_every_level() {
        let doc = norm(json!({
            "userName": "a", "title": null, "addresses": null,
            "name": {"givenName": "A", "middleName": null},
            "emails": [null, {"value": "a@x", "type": null}],
            URN_ENTERPRISE_USER: {"manager": null}
        }));
        assert_eq!(doc, json!({"userName": "a", "name": {"givenName": "A"}, "emails": [{"value": "a@x"}]}));
        // Entra's group members carry `"$ref": null`.
        let group = normalize(&GROUP_TYPE, &json!({"displayName": "g", "members": [{"$ref": null, "value": "1"}]}));
        assert_eq!(group, Ok(json!({"displayName": "g", "members": [{"value": "1"}]})));
    }

    #[test]
    fn string_booleans_are_coerced() {
        for (s, b) in [("True", true), ("False", false), ("true", true), ("FALSE", false)] {
            assert_eq!(norm(json!({"userName": "a", "active": s}))["active"], json!(b));
        }
        assert_eq!(
            norm(json!({"userName": "a", "emails": [{"value": "x", "primary": "True"}]}))["emails"][0]["primary"],
            json!(true)
        );
        let e = err(json!({"userName": "a", "active": "yes"}));
        assert_eq!(e.scim_type, Some(ScimType::InvalidValue));
        assert!(e.detail.contains("'active'") && e.detail.contains("boolean"), "{}", e.detail);
    }

    #[test]
    fn type_errors_name_the_attribute_and_the_type() {
        let cases = [
            (json!({"userName": 5}), "'userName' must be a string"),
            (json!({"userName": "a", "name": "Jane"}), "'name' must be a complex value"),
            (json!({"userName": "a", "name": {"givenName": 1}}), "'name.givenName' must be a string"),
            (json!({"userName": "a", "emails": [{"value": true}]}), "'emails.value' must be a string"),
            (json!({"userName": "a", "profileUrl": 3}), "'profileUrl' must be a reference"),
            (
                json!({"userName": "a", URN_ENTERPRISE_USER: {"department": 7}}),
                "enterprise:2.0:User:department' must be a string",
            ),
            (json!({"userName": "a", "displayName": ["a", "b"]}), "'displayName' is single-valued"),
        ];
        for (body, text) in cases {
            let e = err(body);
            assert_eq!(e.scim_type, Some(ScimType::InvalidValue), "{e}");
            assert!(e.detail.contains(text), "{} does not contain {text}", e.detail);
        }
    }

    #[test]
    fn every_attribute_type_is_checked() {
        let simple = |kind| Attribute::new("x", kind, "");
        let ok = [
            (AttributeType::Integer, json!(5)),
            (AttributeType::Decimal, json!(5.5)),
            (AttributeType::Decimal, json!(5)),
            (AttributeType::DateTime, json!("2024-05-01T10:00:00Z")),
            (AttributeType::DateTime, json!("2024-05-01T10:00:00.123+02:00")),
            (AttributeType::Binary, json!("aGVsbG8=")),
            (AttributeType::Binary, json!("aGVsbG8")),
            (AttributeType::Reference, json!("https://x/Users/1")),
        ];
        for (kind, v) in ok {
            assert_eq!(normalize_value(&simple(kind), "x", &v), Ok(Some(v.clone())), "{kind:?} {v}");
        }
        let bad = [
            (AttributeType::Integer, json!(5.5)),
            (AttributeType::Integer, json!("5")),
            (AttributeType::Decimal, json!("5")),
            (AttributeType::DateTime, json!("2024-05-01")),
            (AttributeType::DateTime, json!("yesterday")),
            (AttributeType::Binary, json!("not base64!")),
            (AttributeType::Boolean, json!(1)),
        ];
        for (kind, v) in bad {
            let r = normalize_value(&simple(kind), "x", &v);
            assert!(matches!(&r, Err(e) if e.scim_type == Some(ScimType::InvalidValue)), "{kind:?} {v} gave {r:?}");
        }
    }

    #[test]
    fn single_values_for_multi_valued_attributes_are_wrapped() {
        let doc = norm(json!({"userName": "a", "emails": {"value": "a@x"}, "entitlements": "workspace-access"}));
        assert_eq!(doc["emails"], json!([{"value": "a@x"}]));
        assert_eq!(doc["entitlements"], json!([{"value": "workspace-access"}]));
    }

    #[test]
    fn manager_as_a_plain_id_is_read_as_its_value() {
        let doc = norm(json!({"userName": "a", URN_ENTERPRISE_USER: {"manager": "m1"}}));
        assert_eq!(doc[URN_ENTERPRISE_USER]["manager"], json!({"value": "m1"}));
        // An empty id means no manager, and the then-empty extension disappears.
        let doc = norm(json!({"userName": "a", URN_ENTERPRISE_USER: {"manager": ""}}));
        assert_eq!(doc, json!({"userName": "a"}));
    }

    /// Unknown attributes and extensions are dropped, as if absent (Entra's custom mappings; docs/entra.md).
    #[test]
    fn unknown_attributes_and_extensions_are_dropped() {
        for (body, stored) in [
            (json!({"userName": "a", "foo": 1}), json!({"userName": "a"})),
            (
                json!({"userName": "a", "name": {"nick": "x", "givenName": "G"}}),
                json!({"userName": "a", "name": {"givenName": "G"}}),
            ),
            (json!({"userName": "a", "name": {"nick": "x"}}), json!({"userName": "a"})),
            (
                json!({"userName": "a", "emails": [{"value": "x", "label": "y"}]}),
                json!({"userName": "a", "emails": [{"value": "x"}]}),
            ),
            (json!({"userName": "a", "urn:example:custom:2.0:User": {"x": 1}}), json!({"userName": "a"})),
            (json!({"userName": "a", "urn:example:custom:2.0:User:x": 1}), json!({"userName": "a"})),
            (
                json!({"userName": "a", URN_ENTERPRISE_USER: {"badge": "1", "department": "D"}}),
                json!({"userName": "a", URN_ENTERPRISE_USER: {"department": "D"}}),
            ),
            (json!({"userName": "a", URN_ENTERPRISE_USER: {"badge": "1"}}), json!({"userName": "a"})),
            (json!({"userName": "a", "name.nick": "x"}), json!({"userName": "a"})),
            (
                json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", "urn:example:custom:2.0:User"], "userName": "a"}),
                json!({"userName": "a"}),
            ),
        ] {
            assert_eq!(norm(body.clone()), stored, "{body}");
        }
        // What stays refused: a known attribute with a value of the wrong type, and a body without a required one.
        assert_eq!(err(json!({"userName": "a", "foo": 1, "active": [1]})).status, 400);
        assert_eq!(err(json!({"foo": 1})).scim_type, Some(ScimType::InvalidValue));
    }

    #[test]
    fn terraform_empty_entitlement_items_are_dropped() {
        let doc = norm(json!({"userName": "a", "entitlements": [{}]}));
        assert_eq!(doc, json!({"userName": "a"}));
        let doc = norm(json!({"userName": "a", "entitlements": [{}, {"value": "workspace-access"}]}));
        assert_eq!(doc["entitlements"], json!([{"value": "workspace-access"}]));
        let g = normalize(&GROUP_TYPE, &json!({"displayName": "g", "members": [{}]}));
        assert_eq!(g, Ok(json!({"displayName": "g"})));
    }

    #[test]
    fn required_attributes_must_be_present() {
        let e = err(json!({"displayName": "x"}));
        assert_eq!(e.scim_type, Some(ScimType::InvalidValue));
        assert_eq!(e.detail, "attribute 'userName' is required");
        let e = err(json!({"userName": null}));
        assert_eq!(e.detail, "attribute 'userName' is required");
        let g = normalize(&GROUP_TYPE, &json!({"members": []}));
        assert_eq!(g.map_err(|e| e.detail), Err("attribute 'displayName' is required".to_string()));
    }

    #[test]
    fn at_most_one_primary_value() {
        let e = err(
            json!({"userName": "a", "emails": [{"value": "a", "primary": true}, {"value": "b", "primary": "True"}]}),
        );
        assert_eq!(e.scim_type, Some(ScimType::InvalidValue));
        assert!(e.detail.contains("'emails'"));
        let doc = norm(
            json!({"userName": "a", "emails": [{"value": "a", "primary": true}, {"value": "b", "primary": false}]}),
        );
        assert_eq!(doc["emails"][1]["primary"], json!(false));
    }

    #[test]
    fn strings_are_stored_exactly_as_sent() {
        let doc = norm(json!({"userName": "  Jane.Doe@Contoso.COM ", "displayName": ""}));
        assert_eq!(doc, json!({"userName": "  Jane.Doe@Contoso.COM ", "displayName": ""}));
    }

    #[test]
    fn body_must_be_an_object() {
        for body in [json!([]), json!("x"), json!(null)] {
            assert_eq!(normalize(&USER_TYPE, &body).map_err(|e| e.scim_type), Err(Some(ScimType::InvalidSyntax)));
        }
        let e = err(json!({"userName": "a", URN_ENTERPRISE_USER: "x"}));
        assert_eq!(e.scim_type, Some(ScimType::InvalidValue));
    }

    #[test]
    fn write_only_password_passes_through() {
        assert_eq!(norm(json!({"userName": "a", "password": "s3cret"}))["password"], json!("s3cret"));
    }

    #[test]
    fn dotted_and_nested_keys_merge() {
        let doc = norm(json!({"userName": "a", "name": {"givenName": "A"}, "name.familyName": "B"}));
        assert_eq!(doc["name"], json!({"givenName": "A", "familyName": "B"}));
        let e = err(json!({"userName": "a", "emails.value": "x"}));
        assert_eq!(e.scim_type, Some(ScimType::InvalidSyntax));
    }

    #[test]
    fn unqualified_extension_attribute_is_found_when_unambiguous() {
        let doc = norm(json!({"userName": "a", "manager": "m1"}));
        assert_eq!(doc, json!({"userName": "a", URN_ENTERPRISE_USER: {"manager": {"value": "m1"}}}));
    }

    #[test]
    fn immutable_attributes_may_not_change_on_put() {
        use crate::schema::{Schema, SchemaExtension};
        static ATTRS: [Attribute; 3] = [
            Attribute::string("userName", "").required(),
            Attribute::string("applicationId", "").mutability(Mutability::Immutable),
            Attribute::complex("badge", &[Attribute::string("serial", "").mutability(Mutability::Immutable)], ""),
        ];
        static S: Schema = Schema { id: "urn:test:2.0:Thing", name: "Thing", description: "", attributes: &ATTRS };
        static RT: ResourceType = ResourceType {
            id: "Thing",
            name: "Thing",
            endpoint: "/Things",
            description: "",
            schema: &S,
            extensions: &[] as &[SchemaExtension],
        };
        let old = json!({"userName": "a", "applicationId": "app-1", "badge": {"serial": "s1"}});
        assert_eq!(check_immutable(&RT, &old, &json!({"userName": "b", "applicationId": "app-1"})), Ok(()));
        let e = check_immutable(&RT, &old, &json!({"userName": "a", "applicationId": "app-2"}));
        assert_eq!(e.map_err(|e| e.scim_type), Err(Some(ScimType::Mutability)));
        let e = check_immutable(&RT, &old, &json!({"userName": "a", "badge": {"serial": "s2"}}));
        assert!(matches!(e, Err(ref x) if x.detail.contains("'badge.serial'")), "{e:?}");
        // Unassigned immutable attributes may be set.
        assert_eq!(
            check_immutable(&RT, &json!({"userName": "a"}), &json!({"userName": "a", "applicationId": "x"})),
            Ok(())
        );
        // PATCH counts removal as a change.
        assert!(immutable_check(&RT, &old, &json!({"userName": "a", "badge": {"serial": "s1"}}), true).is_err());
    }

    #[test]
    fn typed_equality_and_containment() {
        let ent = crate::schema::ENTITLEMENTS;
        assert!(item_contains(
            &ent,
            &json!({"value": "Workspace-Access", "display": "W"}),
            &json!({"value": "workspace-access"})
        ));
        assert!(!item_contains(&ent, &json!({"value": "a"}), &json!({})));
        let members = crate::schema::MEMBERS;
        // members.value is caseExact.
        assert!(!item_contains(&members, &json!({"value": "ABC"}), &json!({"value": "abc"})));
        let dt = Attribute::date_time("t", "");
        assert!(item_equal(&dt, &json!("2024-01-01T00:00:00Z"), &json!("2024-01-01T01:00:00+01:00")));
    }

    mod properties {
        use proptest::prelude::*;
        use serde_json::{Value, json};

        use super::super::normalize;
        use crate::schema::{URN_ENTERPRISE_USER, USER_TYPE};

        fn key() -> impl Strategy<Value = String> {
            prop::sample::select(vec![
                "userName",
                "USERNAME",
                "displayName",
                "name",
                "Name.GivenName",
                "emails",
                "active",
                "entitlements",
                "title",
                "roles",
                "password",
                "id",
                "meta",
                "schemas",
                "groups",
                URN_ENTERPRISE_USER,
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
                "manager",
            ])
            .prop_map(str::to_string)
        }

        fn value() -> impl Strategy<Value = Value> {
            prop::sample::select(vec![
                json!("x"),
                json!("True"),
                json!(true),
                json!(null),
                json!(5),
                json!([]),
                json!([{}]),
                json!({}),
                json!([{"value": "a", "primary": true}]),
                json!([{"VALUE": "a"}, {"value": "b", "display": null}]),
                json!({"givenName": "g", "familyName": null}),
                json!({"department": "d", "Manager": "m"}),
                json!("false"),
                json!(["only"]),
                json!({"value": "v"}),
            ])
        }

        proptest! {
            /// What normalize stores, it stores unchanged; and it never stores nulls or empty values.
            #[test]
            fn normalize_is_idempotent(pairs in prop::collection::vec((key(), value()), 0..8)) {
                let mut body = serde_json::Map::new();
                body.insert("userName".into(), json!("u"));
                for (k, v) in pairs {
                    body.insert(k, v);
                }
                if let Ok(doc) = normalize(&USER_TYPE, &Value::Object(body)) {
                    prop_assert_eq!(normalize(&USER_TYPE, &doc), Ok(doc.clone()));
                    let text = doc.to_string();
                    prop_assert!(!text.contains("null") && !text.contains("[]") && !text.contains("{}"), "{}", text);
                }
            }
        }
    }
}
