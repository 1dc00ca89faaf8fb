//! PATCH (RFC 7644 §3.5.2): parsing the PatchOp message and applying its operations to a stored document.
//!
//! Besides the RFC, this accepts what real clients send (see `reference/` in the project docs):
//! - Entra: capitalised `op`, string booleans (`"False"`), path-less values with dotted (`"name.givenName"`) and
//!   URN-qualified keys, `add`/`replace` through a filter that matches nothing (`emails[type eq "work"].value`) creating
//!   the element from the filter's `eq` comparisons, member removal as `remove` + `path:"members"` + a value list,
//!   `manager` as a bare id, `manager[value eq "…"]` filters on a single-valued complex attribute, `remove` with a
//!   value on a single-valued path (clears it only if it holds that value).
//! - Databricks SDKs and Terraform: `schemas` omitted, list-wrapped values for simple attributes
//!   (`"value":[{"value":"false"}]`), `remove` with a value list on entitlements/roles (removes those items only),
//!   removal of absent items is not an error, and the Python SDK's `{"op":"replace","path":"active"}` without a value
//!   (it drops falsy values): a `replace` without a value sets a boolean to `false` and removes anything else.
//!
//! Attributes held outside the document (a group's members, which can be 100,000 rows) are never materialised here:
//! operations on them come back as [`ExternalChange`]s for the caller to apply to its own storage.

/// How a client words PATCH requests: Entra ID's two dialects (its §1.8 and §1.10), which the provisioning engine
/// writes and a tenant URL's `aadOptscim062020` flag chooses between.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchDialect {
    /// Entra's default: capitalised `op` (`Replace`, `Add`), booleans as `"True"`/`"False"`, a member removed with
    /// `Remove` of `members` and a value list.
    EntraDefault,
    /// With `aadOptscim062020`: lower-case `op`, JSON booleans, one path-less `replace` for several plain
    /// attributes, a member removed with `remove` of `members[value eq "<id>"]`.
    Rfc7644,
}

use serde_json::{Map, Value};

use crate::error::{Result, ScimError};
use crate::filter::{CompValue, CompareOp, Filter};
use crate::path::PatchPath;
use crate::resource::{
    AttrTarget, KeyTarget, immutable_check, item_contains, item_equal, lookup, normalize, normalize_value, qualified,
    resolve_in_schema, resolve_key, with_container,
};
use crate::schema::{Attribute, AttributeType, Mutability, ResourceType, Schema, URN_PATCH_OP};

/// `op` of a PATCH operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchOpKind {
    Add,
    Replace,
    Remove,
}

/// One operation of a PatchOp message. `value` is `Some(Value::Null)` when the client sent `"value": null`, `None` when
/// it sent no `value` at all; the two differ for the Python SDK's valueless `replace`.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchOperation {
    pub op: PatchOpKind,
    pub path: Option<PatchPath>,
    pub value: Option<Value>,
}

/// An operation on a multi-valued attribute the document does not hold (see [`apply`]'s `external`).
#[derive(Debug, Clone, PartialEq)]
pub struct ExternalChange {
    /// The attribute's canonical name, e.g. `members`.
    pub attr: &'static str,
    pub change: MemberChange,
}

/// What to do to the values of an external attribute. Items are normalised: objects with canonical sub-attribute
/// names, readOnly sub-attributes (`display`) and nulls dropped, bare strings read as `{"value": s}`; every item has a
/// `value`.
#[derive(Debug, Clone, PartialEq)]
pub enum MemberChange {
    /// Add these values; values already present are not an error.
    Add(Vec<Value>),
    /// Replace all values with these (an empty list clears).
    Replace(Vec<Value>),
    /// Remove every value.
    RemoveAll,
    /// Remove the values matching this filter (the value filter of `members[...]`, whose attribute paths name
    /// sub-attributes: `value eq "id"`).
    Remove(Filter),
    /// Remove exactly these values (Entra's `remove` + `path:"members"` + value list); absent values are not an error.
    RemoveValues(Vec<Value>),
}

/// Parses a PatchOp message (RFC 7644 §3.5.2). `Operations` and the keys of each operation are matched
/// case-insensitively and `op` names too (Entra sends `"Replace"`). `schemas` may be absent (Databricks SDKs), but when
/// present it must name the PatchOp URN.
pub fn parse_request(body: &Value) -> Result<Vec<PatchOperation>> {
    let Value::Object(message) = body else {
        return Err(ScimError::invalid_syntax("the PATCH body must be a JSON object (a PatchOp message)"));
    };
    if let Some(schemas) = get_ci(message, "schemas") {
        let names_patch_op = |v: &Value| v.as_str().is_some_and(|s| s.eq_ignore_ascii_case(URN_PATCH_OP));
        let ok = match schemas {
            Value::Null => true,
            Value::Array(a) => a.iter().any(names_patch_op),
            other => names_patch_op(other),
        };
        if !ok {
            return Err(ScimError::invalid_syntax(format!("'schemas' must contain \"{URN_PATCH_OP}\"")));
        }
    }
    let operations = match get_ci(message, "Operations") {
        Some(Value::Array(ops)) => ops.as_slice(),
        // A lone operation object: nothing else it could mean.
        Some(op @ Value::Object(_)) => std::slice::from_ref(op),
        Some(_) => return Err(ScimError::invalid_syntax("'Operations' must be an array of operations")),
        None => return Err(ScimError::invalid_syntax("the PatchOp message has no 'Operations'")),
    };
    if operations.is_empty() {
        return Err(ScimError::invalid_value("'Operations' must contain at least one operation"));
    }
    operations.iter().enumerate().map(|(i, op)| parse_operation(i + 1, op)).collect()
}

fn parse_operation(n: usize, op: &Value) -> Result<PatchOperation> {
    let Value::Object(op) = op else {
        return Err(ScimError::invalid_syntax(format!("operation {n} must be a JSON object")));
    };
    let kind = match get_ci(op, "op") {
        Some(Value::String(s)) if s.eq_ignore_ascii_case("add") => PatchOpKind::Add,
        Some(Value::String(s)) if s.eq_ignore_ascii_case("replace") => PatchOpKind::Replace,
        Some(Value::String(s)) if s.eq_ignore_ascii_case("remove") => PatchOpKind::Remove,
        Some(other) => {
            return Err(ScimError::invalid_syntax(format!(
                "operation {n}: unknown op {other}; expected \"add\", \"replace\" or \"remove\""
            )));
        }
        None => return Err(ScimError::invalid_syntax(format!("operation {n} has no 'op'"))),
    };
    let path = match get_ci(op, "path") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.trim().is_empty() => None,
        Some(Value::String(s)) => Some(PatchPath::parse(s.trim())?),
        Some(_) => return Err(ScimError::invalid_path(format!("operation {n}: 'path' must be a string"))),
    };
    let value = get_ci(op, "value").cloned();
    if kind == PatchOpKind::Add && value.as_ref().is_none_or(Value::is_null) {
        return Err(ScimError::invalid_value(format!("operation {n}: add needs a 'value'")));
    }
    if kind == PatchOpKind::Remove && path.is_none() {
        return Err(ScimError::no_target(format!("operation {n}: remove needs a 'path'")));
    }
    Ok(PatchOperation { op: kind, path, value })
}

/// Applies `ops` in order to the stored document `doc` of a resource of type `rt`, all or nothing: on error `doc` is
/// untouched. On success `doc` holds the result already passed through [`normalize`] (canonical names, types checked,
/// required attributes present) and immutable values are unchanged.
///
/// `external` names multi-valued core attributes that are not held in the document (a group's `members`): every
/// operation on them is returned, in order, for the caller to apply to its own storage after saving `doc`.
pub fn apply(
    rt: &ResourceType,
    doc: &mut Value,
    ops: &[PatchOperation],
    external: &[&str],
) -> Result<Vec<ExternalChange>> {
    let mut work = match doc {
        Value::Object(m) => m.clone(),
        _ => Map::new(),
    };
    let mut patcher = Patcher { rt, external, changes: Vec::new() };
    for op in ops {
        patcher.operation(&mut work, op)?;
    }
    let result = Value::Object(work);
    immutable_check(rt, doc, &result, true)?;
    *doc = normalize(rt, &result)?;
    Ok(patcher.changes)
}

struct Patcher<'a> {
    rt: &'a ResourceType,
    external: &'a [&'a str],
    changes: Vec<ExternalChange>,
}

/// The Python SDK drops `"value": false`; see the module docs.
static FALSE: Value = Value::Bool(false);

impl Patcher<'_> {
    fn operation(&mut self, doc: &mut Map<String, Value>, op: &PatchOperation) -> Result<()> {
        match &op.path {
            Some(path) => self.with_path(doc, op.op, path, op.value.as_ref()),
            None => {
                if op.op == PatchOpKind::Remove {
                    return Err(ScimError::no_target("remove needs a 'path'"));
                }
                match &op.value {
                    Some(Value::Object(value)) => self.with_object(doc, op.op, None, value),
                    _ => Err(ScimError::invalid_value(
                        "an add or replace without 'path' needs a 'value' that is a JSON object of attributes",
                    )),
                }
            }
        }
    }

    /// A path-less value object (or the value of a path naming a whole extension): each key is an implicit path.
    /// readOnly attributes in it are ignored rather than refused, since clients echo whole resources back.
    fn with_object(
        &mut self,
        doc: &mut Map<String, Value>,
        kind: PatchOpKind,
        scope: Option<&'static Schema>,
        value: &Map<String, Value>,
    ) -> Result<()> {
        for (key, v) in value {
            let target = match scope {
                // A whole-extension value may carry its own `schemas` (scim2-tester sends one).
                Some(_) if key.eq_ignore_ascii_case("schemas") => continue,
                Some(schema) => resolve_in_schema(self.rt, schema, key).map_err(as_invalid_path)?,
                None if key.eq_ignore_ascii_case("schemas") => continue,
                None => match resolve_key(self.rt, key).map_err(as_invalid_path)? {
                    KeyTarget::Schema(schema) => {
                        self.with_schema(doc, kind, schema, Some(v))?;
                        continue;
                    }
                    KeyTarget::Attr(target) => target,
                },
            };
            if is_read_only(&target) {
                continue;
            }
            if self.is_external(&target) {
                self.external(kind, target, None, Some(v))?;
            } else {
                self.with_target(doc, kind, target, None, Some(v))?;
            }
        }
        Ok(())
    }

    /// A path naming a whole schema extension (`urn:…:enterprise:2.0:User`).
    fn with_schema(
        &mut self,
        doc: &mut Map<String, Value>,
        kind: PatchOpKind,
        schema: &'static Schema,
        value: Option<&Value>,
    ) -> Result<()> {
        match (kind, value) {
            (PatchOpKind::Remove, _) | (PatchOpKind::Replace, None | Some(Value::Null)) => {
                with_container(self.rt, doc, schema, Map::clear);
                Ok(())
            }
            (PatchOpKind::Add, None | Some(Value::Null)) => Ok(()),
            (_, Some(Value::Object(_))) if schema.attributes.is_empty() => {
                // An extension without attributes is a presence marker (see `normalize`).
                doc.insert(schema.id.to_string(), Value::Object(Map::new()));
                Ok(())
            }
            (_, Some(Value::Object(value))) => self.with_object(doc, kind, Some(schema), value),
            (_, Some(_)) => Err(ScimError::invalid_value(format!(
                "the value of '{}' must be a JSON object of its attributes",
                schema.id
            ))),
        }
    }

    fn with_path(
        &mut self,
        doc: &mut Map<String, Value>,
        kind: PatchOpKind,
        path: &PatchPath,
        value: Option<&Value>,
    ) -> Result<()> {
        let urn = path.attr.urn.as_deref();
        let sub =
            if path.filter.is_some() { path.sub.as_deref() } else { path.attr.sub.as_deref().or(path.sub.as_deref()) };
        let Some(found) = lookup(self.rt, urn, &path.attr.name, None) else {
            if path.filter.is_none() && sub.is_none() {
                // A bare extension URN parses as URN prefix + last segment ("…:2.0" + "User").
                let whole = match urn {
                    Some(urn) => format!("{urn}:{}", path.attr.name),
                    None => path.attr.name.clone(),
                };
                if let Some(schema) = self.rt.schema_by_urn(&whole) {
                    return self.with_schema(doc, kind, schema, value);
                }
            }
            return Err(ScimError::invalid_path(format!("unknown attribute '{path}'")));
        };
        let name = qualified(self.rt, found.schema, found.attr.name);
        if found.attr.kind != AttributeType::Complex && (sub.is_some() || path.filter.is_some()) {
            return Err(ScimError::invalid_path(format!("attribute '{name}' has no sub-attributes to select")));
        }
        let sub = match sub {
            None => None,
            Some(s) => Some(
                found
                    .attr
                    .sub_attribute(s)
                    .ok_or_else(|| ScimError::invalid_path(format!("unknown attribute '{name}.{s}'")))?,
            ),
        };
        let target = AttrTarget { sub, ..found };
        if is_read_only(&target) {
            return Err(ScimError::mutability(format!("attribute '{}' is readOnly", target.display(self.rt))));
        }
        if let Some(filter) = &path.filter {
            check_filter(found.attr, filter)?;
        }
        if self.is_external(&target) {
            self.external(kind, target, path.filter.as_ref(), value)
        } else {
            self.with_target(doc, kind, target, path.filter.as_ref(), value)
        }
    }

    fn is_external(&self, target: &AttrTarget) -> bool {
        std::ptr::eq(target.schema, self.rt.schema)
            && self.external.iter().any(|e| e.eq_ignore_ascii_case(target.attr.name))
    }

    fn external(
        &mut self,
        kind: PatchOpKind,
        target: AttrTarget,
        filter: Option<&Filter>,
        value: Option<&Value>,
    ) -> Result<()> {
        let name = target.attr.name;
        if target.sub.is_some() {
            return Err(ScimError::invalid_path(format!(
                "'{}' cannot be patched; add or remove whole values of '{name}'",
                target.display(self.rt)
            )));
        }
        let value = value.filter(|v| !v.is_null());
        let change = match (kind, filter, value) {
            (PatchOpKind::Remove, Some(filter), _) => MemberChange::Remove(filter.clone()),
            (PatchOpKind::Add | PatchOpKind::Replace, Some(_), _) => {
                return Err(ScimError::invalid_path(format!(
                    "a filter on '{name}' is only supported by remove; add or remove whole values"
                )));
            }
            (PatchOpKind::Add, None, None) => return Ok(()),
            (PatchOpKind::Add, None, Some(v)) => {
                let items = external_items(target.attr, v)?;
                if items.is_empty() {
                    return Ok(());
                }
                MemberChange::Add(items)
            }
            (PatchOpKind::Replace, None, Some(v)) => MemberChange::Replace(external_items(target.attr, v)?),
            (PatchOpKind::Replace | PatchOpKind::Remove, None, None) => MemberChange::RemoveAll,
            (PatchOpKind::Remove, None, Some(v)) => {
                // Entra's member removal: never let a value list that normalises to nothing clear the group.
                let items = external_items(target.attr, v)?;
                if items.is_empty() {
                    return Ok(());
                }
                MemberChange::RemoveValues(items)
            }
        };
        self.changes.push(ExternalChange { attr: name, change });
        Ok(())
    }

    fn with_target(
        &mut self,
        doc: &mut Map<String, Value>,
        kind: PatchOpKind,
        target: AttrTarget,
        filter: Option<&Filter>,
        value: Option<&Value>,
    ) -> Result<()> {
        let leaf = target.sub.unwrap_or(target.attr);
        let value = match (kind, value) {
            (PatchOpKind::Replace, None) if leaf.kind == AttributeType::Boolean && !leaf.multi_valued => Some(&FALSE),
            (_, v) => v,
        };
        // RFC 7644 §3.5.2.3 leaves a null replace open; RFC 7643 §2.5 makes null "unassigned", i.e. a removal.
        let (kind, value) = match (kind, value) {
            (PatchOpKind::Replace, None | Some(Value::Null)) => (PatchOpKind::Remove, None),
            (PatchOpKind::Add, None | Some(Value::Null)) => return Ok(()),
            other => other,
        };
        let path = target.display(self.rt);
        let edit = Edit { kind, attr: target.attr, sub: target.sub, value, path: &path };
        with_container(self.rt, doc, target.schema, |container| match filter {
            None => edit.unfiltered(container),
            Some(filter) => edit.filtered(container, filter),
        })
    }
}

/// One operation on one attribute of a container (the document, or an extension object).
struct Edit<'a> {
    kind: PatchOpKind,
    attr: &'static Attribute,
    sub: Option<&'static Attribute>,
    /// Never `Value::Null` for add and replace (handled before); `None` only for remove.
    value: Option<&'a Value>,
    path: &'a str,
}

impl Edit<'_> {
    fn unfiltered(&self, c: &mut Map<String, Value>) -> Result<()> {
        let name = self.attr.name;
        match (self.sub, self.kind) {
            (None, PatchOpKind::Add) => {
                let Some(v) = self.prepared(self.attr)? else { return Ok(()) };
                add_value(c, self.attr, v);
            }
            (None, PatchOpKind::Replace) => match self.prepared(self.attr)? {
                // Entra clears the manager with a replace to "".
                None => {
                    c.shift_remove(name);
                }
                Some(v) => replace_value(c, self.attr, v),
            },
            (None, PatchOpKind::Remove) => match self.value {
                None | Some(Value::Null) => {
                    c.shift_remove(name);
                }
                Some(_) => {
                    let Some(given) = self.prepared(self.attr)? else { return Ok(()) };
                    remove_values(c, self.attr, &given);
                }
            },
            (Some(sub), _) if !self.attr.multi_valued => {
                let mut items: Vec<Value> = take(c, name).into_iter().collect();
                let all: Vec<usize> = (0..items.len()).collect();
                self.edit_sub(&mut items, sub, &all, None)?;
                put_single(c, name, items);
            }
            (Some(sub), _) => {
                // A sub-attribute of every value: RFC 7644 §3.5.2 gives no other meaning to `emails.value`.
                let mut items = take_items(c, name);
                let all: Vec<usize> = (0..items.len()).collect();
                self.edit_sub(&mut items, sub, &all, None)?;
                put_items(c, name, items);
            }
        }
        Ok(())
    }

    fn filtered(&self, c: &mut Map<String, Value>, filter: &Filter) -> Result<()> {
        let name = self.attr.name;
        let mut items = if self.attr.multi_valued { take_items(c, name) } else { take(c, name).into_iter().collect() };
        let matched: Vec<usize> = items
            .iter()
            .enumerate()
            .filter(|(_, item)| filter.matches_element(item, self.attr))
            .map(|(i, _)| i)
            .collect();
        let result = match self.sub {
            Some(sub) => self.edit_sub(&mut items, sub, &matched, Some(filter)),
            None => self.edit_items(&mut items, filter, &matched),
        };
        if self.attr.multi_valued {
            put_items(c, name, items);
        } else {
            put_single(c, name, items);
        }
        result
    }

    /// `attr[filter]` without a sub-attribute: remove the matching values, or merge the value into them.
    fn edit_items(&self, items: &mut Vec<Value>, filter: &Filter, matched: &[usize]) -> Result<()> {
        if self.kind == PatchOpKind::Remove {
            let mut i = 0;
            items.retain(|_| {
                i += 1;
                !matched.contains(&(i - 1))
            });
            return Ok(());
        }
        let mut single = *self.attr;
        single.multi_valued = false;
        let Some(Value::Object(v)) = self.prepared(&single)? else { return Ok(()) };
        let matched = self.targets(items, filter, matched)?;
        for &i in &matched {
            if let Some(Value::Object(item)) = items.get_mut(i) {
                item.extend(v.clone());
            }
        }
        fix_primary(items, &matched);
        Ok(())
    }

    /// `attr.sub` (every value, `filter` None) or `attr[filter].sub` on the values at `matched`. When add or replace
    /// finds no value, an unfiltered path creates one and a filtered one goes through [`Edit::targets`].
    fn edit_sub(
        &self,
        items: &mut Vec<Value>,
        sub: &'static Attribute,
        matched: &[usize],
        filter: Option<&Filter>,
    ) -> Result<()> {
        if self.kind == PatchOpKind::Remove {
            let given = match self.value {
                Some(_) => self.prepared(sub)?,
                None => None,
            };
            for &i in matched {
                let Some(Value::Object(item)) = items.get_mut(i) else { continue };
                // Entra's `Remove` of `emails[type eq "work"].value` with the old value: clear only if it still holds it.
                if let Some(given) = &given
                    && !item.get(sub.name).is_some_and(|held| item_equal(sub, held, given))
                {
                    continue;
                }
                item.shift_remove(sub.name);
            }
            items.retain(|item| !matches!(item, Value::Object(m) if m.is_empty()));
            return Ok(());
        }
        let Some(v) = self.prepared(sub)? else { return Ok(()) };
        let matched = match filter {
            Some(filter) => self.targets(items, filter, matched)?,
            None if matched.is_empty() => {
                items.push(Value::Object(Map::new()));
                vec![items.len() - 1]
            }
            None => matched.to_vec(),
        };
        for &i in &matched {
            if let Some(Value::Object(item)) = items.get_mut(i) {
                item.insert(sub.name.to_string(), v.clone());
            }
        }
        fix_primary(items, &matched);
        Ok(())
    }

    /// The values an add or replace through `attr[filter]` acts on: the matching ones, or else (Entra) a new value
    /// built from the filter's `eq` comparisons. RFC 7644 §3.5.2.3 says noTarget here; Entra expects the value to be
    /// created, and a filter made only of `eq` joined by `and` says exactly what to create.
    fn targets(&self, items: &mut Vec<Value>, filter: &Filter, matched: &[usize]) -> Result<Vec<usize>> {
        if !matched.is_empty() {
            return Ok(matched.to_vec());
        }
        if !self.attr.multi_valued && !items.is_empty() {
            return Err(ScimError::no_target(format!("the value of '{}' does not match the filter", self.path_attr())));
        }
        let mut template = Map::new();
        if !eq_template(self.attr, filter, &mut template) {
            return Err(ScimError::no_target(format!(
                "no value of '{}' matches the filter, and a value can only be created from a filter of \
                 'eq' comparisons joined by 'and'",
                self.path_attr()
            )));
        }
        items.push(Value::Object(template));
        Ok(vec![items.len() - 1])
    }

    fn path_attr(&self) -> &str {
        match self.sub {
            Some(_) => self.path.rsplit_once('.').map_or(self.path, |(a, _)| a),
            None => self.path,
        }
    }

    /// The operation's value as a value of `attr`, with the PATCH-only leniency for simple attributes: Terraform sends
    /// `"value":[{"value":"false"}]` for `active`.
    fn prepared(&self, attr: &Attribute) -> Result<Option<Value>> {
        let Some(mut v) = self.value else { return Ok(None) };
        if attr.kind != AttributeType::Complex && !attr.multi_valued {
            if let Value::Array(a) = v
                && a.len() == 1
            {
                v = &a[0];
            }
            if let Value::Object(m) = v
                && let (1, Some(inner)) = (m.len(), get_ci(m, "value"))
            {
                v = inner;
            }
        }
        normalize_value(attr, self.path, v)
    }
}

/// `add` of a value: appends to a multi-valued attribute (values already present are not added twice), merges into a
/// complex one (RFC 7644 §3.5.2.1), sets a simple one.
fn add_value(c: &mut Map<String, Value>, attr: &Attribute, v: Value) {
    let name = attr.name;
    if attr.multi_valued {
        let mut items = take_items(c, name);
        let mut added = Vec::new();
        for item in as_items(v) {
            if !items.iter().any(|held| item_contains(attr, held, &item)) {
                items.push(item);
                added.push(items.len() - 1);
            }
        }
        fix_primary(&mut items, &added);
        put_items(c, name, items);
        return;
    }
    match (c.get_mut(name), v) {
        (Some(Value::Object(held)), Value::Object(new)) => held.extend(new),
        (_, v) => {
            c.insert(name.to_string(), v);
        }
    }
}

/// `replace` of a value. RFC 7644 §3.5.2.3 merges the sub-attributes of a complex attribute; but a complex attribute
/// with a `value` (manager) is a reference whose other sub-attributes describe that value, so a new value replaces it
/// whole rather than keeping the previous manager's `$ref`.
fn replace_value(c: &mut Map<String, Value>, attr: &Attribute, v: Value) {
    if attr.kind == AttributeType::Complex && !attr.multi_valued && attr.sub_attribute("value").is_none() {
        add_value(c, attr, v);
        return;
    }
    c.insert(attr.name.to_string(), v);
}

/// `remove` with a value: for a multi-valued attribute the listed values (Databricks and Entra), for a single-valued one
/// the value if it is the one held. Values that are not there are not an error.
fn remove_values(c: &mut Map<String, Value>, attr: &Attribute, given: &Value) {
    let name = attr.name;
    if attr.multi_valued {
        let given = match given {
            Value::Array(a) => a.as_slice(),
            other => std::slice::from_ref(other),
        };
        let mut items = take_items(c, name);
        items.retain(|held| !given.iter().any(|g| item_contains(attr, held, g)));
        put_items(c, name, items);
    } else if c.get(name).is_some_and(|held| item_contains(attr, held, given)) {
        c.shift_remove(name);
    }
}

/// Takes the values of multi-valued `name` out of `c`, leaving a placeholder that keeps the key's position.
fn take_items(c: &mut Map<String, Value>, name: &str) -> Vec<Value> {
    take(c, name).map(as_items).unwrap_or_default()
}

fn take(c: &mut Map<String, Value>, name: &str) -> Option<Value> {
    c.get_mut(name).map(std::mem::take).filter(|v| !v.is_null())
}

fn as_items(v: Value) -> Vec<Value> {
    match v {
        Value::Array(a) => a,
        Value::Null => Vec::new(),
        other => vec![other],
    }
}

fn put_items(c: &mut Map<String, Value>, name: &str, items: Vec<Value>) {
    if items.is_empty() {
        c.shift_remove(name);
    } else {
        c.insert(name.to_string(), Value::Array(items));
    }
}

fn put_single(c: &mut Map<String, Value>, name: &str, items: Vec<Value>) {
    match items.into_iter().find(|v| !matches!(v, Value::Object(m) if m.is_empty())) {
        Some(v) => {
            c.insert(name.to_string(), v);
        }
        None => {
            c.shift_remove(name);
        }
    }
}

/// RFC 7644 §3.5.2: when a value is made primary, the others stop being primary.
fn fix_primary(items: &mut [Value], chosen: &[usize]) {
    let chosen_primary =
        chosen.iter().any(|&i| items.get(i).is_some_and(|v| v.get("primary") == Some(&Value::Bool(true))));
    if !chosen_primary {
        return;
    }
    for (i, item) in items.iter_mut().enumerate() {
        if chosen.contains(&i) {
            continue;
        }
        if let Value::Object(m) = item
            && m.get("primary") == Some(&Value::Bool(true))
        {
            m.insert("primary".to_string(), Value::Bool(false));
        }
    }
}

/// The items of an external attribute's value, each with a `value`.
fn external_items(attr: &Attribute, v: &Value) -> Result<Vec<Value>> {
    let items = match normalize_value(attr, attr.name, v)? {
        Some(Value::Array(items)) => items,
        Some(other) => vec![other],
        None => Vec::new(),
    };
    if attr.sub_attribute("value").is_some() && items.iter().any(|i| i.get("value").is_none()) {
        return Err(ScimError::invalid_value(format!("every value of '{}' needs a 'value'", attr.name)));
    }
    Ok(items)
}

fn is_read_only(target: &AttrTarget) -> bool {
    target.attr.mutability == Mutability::ReadOnly || target.sub.is_some_and(|s| s.mutability == Mutability::ReadOnly)
}

fn as_invalid_path(e: ScimError) -> ScimError {
    ScimError::invalid_path(e.detail)
}

fn get_ci<'a>(m: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    m.get(key).or_else(|| m.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v))
}

// ---- Value filters evaluated against one value of a complex attribute ----

/// Checks that a value filter (`emails[type eq "work"]`) names sub-attributes of `attr`; a bad PATCH path is 400
/// invalidPath rather than the filter's invalidFilter.
fn check_filter(attr: &Attribute, filter: &Filter) -> Result<()> {
    filter.validate_element(attr).map_err(as_invalid_path)
}

/// Collects the `eq` comparisons of a filter made only of `eq` joined by `and` into the value they describe.
fn eq_template(attr: &Attribute, filter: &Filter, out: &mut Map<String, Value>) -> bool {
    match filter {
        Filter::Compare(p, CompareOp::Eq, cv) if p.sub.is_none() => {
            let Some(sub) = attr.sub_attribute(&p.name) else { return false };
            let v = match cv {
                CompValue::String(s) => Value::String(s.clone()),
                CompValue::Bool(b) => Value::Bool(*b),
                CompValue::Number(n) => Value::Number(n.clone()),
                CompValue::Null => return false,
            };
            out.insert(sub.name.to_string(), v);
            true
        }
        Filter::And(a, b) => eq_template(attr, a, out) && eq_template(attr, b, out),
        _ => false,
    }
}

#[cfg(test)]
#[allow(clippy::panic)] // A failing test panics; these helpers say why.
mod tests {
    use serde_json::json;

    use super::*;
    use crate::error::ScimType;
    use crate::schema::{GROUP_TYPE, URN_ENTERPRISE_USER, USER_TYPE};

    const ENT: &str = URN_ENTERPRISE_USER;

    fn parse(body: Value) -> Vec<PatchOperation> {
        match parse_request(&body) {
            Ok(ops) => ops,
            Err(e) => panic!("parse_request failed: {e}"),
        }
    }

    /// Applies `operations` (the `Operations` array) to `doc` as a user.
    fn run(
        rt: &ResourceType,
        doc: &Value,
        operations: Value,
        external: &[&str],
    ) -> Result<(Value, Vec<ExternalChange>)> {
        let ops = parse_request(&json!({"schemas": [URN_PATCH_OP], "Operations": operations}))?;
        let mut doc = doc.clone();
        let changes = apply(rt, &mut doc, &ops, external)?;
        Ok((doc, changes))
    }

    fn user_ok(doc: &Value, operations: Value) -> Value {
        match run(&USER_TYPE, doc, operations, &[]) {
            Ok((doc, changes)) => {
                assert!(changes.is_empty());
                doc
            }
            Err(e) => panic!("patch failed: {e}"),
        }
    }

    fn user_err(doc: &Value, operations: Value) -> ScimError {
        match run(&USER_TYPE, doc, operations, &[]) {
            Ok((doc, _)) => panic!("expected an error, got {doc}"),
            Err(e) => e,
        }
    }

    fn group_changes(operations: Value) -> Vec<ExternalChange> {
        let doc = json!({"displayName": "g"});
        match run(&GROUP_TYPE, &doc, operations, &["members"]) {
            Ok((after, changes)) => {
                assert_eq!(after, doc, "members must not enter the document");
                changes
            }
            Err(e) => panic!("patch failed: {e}"),
        }
    }

    fn members(change: MemberChange) -> Vec<ExternalChange> {
        vec![ExternalChange { attr: "members", change }]
    }

    fn jane() -> Value {
        json!({
            "userName": "jane@contoso.com",
            "name": {"givenName": "Jane", "familyName": "Doe"},
            "displayName": "Jane Doe",
            "active": true,
            "emails": [{"value": "jane@contoso.com", "type": "work", "primary": true}],
            "entitlements": [{"value": "workspace-access"}, {"value": "allow-cluster-create"}],
            ENT: {"department": "R&D", "manager": {"value": "m1", "$ref": "Users/m1"}}
        })
    }

    fn filter(s: &str) -> Filter {
        match Filter::parse(s) {
            Ok(f) => f,
            Err(e) => panic!("{e}"),
        }
    }

    // ---- parse_request ----

    #[test]
    fn envelope_variants_are_accepted() {
        let op = json!({"op": "add", "path": "nickName", "value": "Babs"});
        for body in [
            json!({"schemas": [URN_PATCH_OP], "Operations": [op]}),
            json!({"Operations": [op]}),
            json!({"operations": [op]}),
            json!({"SCHEMAS": ["urn:ietf:params:scim:api:messages:2.0:patchop"], "OPERATIONS": [op]}),
            json!({"Operations": [{"OP": "Add", "Path": "nickName", "Value": "Babs"}]}),
        ] {
            let ops = parse(body);
            assert_eq!(ops.len(), 1);
            assert_eq!(ops[0].op, PatchOpKind::Add);
            assert_eq!(ops[0].value, Some(json!("Babs")));
            assert_eq!(ops[0].path.as_ref().map(|p| p.attr.name.as_str()), Some("nickName"));
        }
        for (name, kind) in
            [("Replace", PatchOpKind::Replace), ("REMOVE", PatchOpKind::Remove), ("add", PatchOpKind::Add)]
        {
            let ops = parse(json!({"Operations": [{"op": name, "path": "title", "value": "x"}]}));
            assert_eq!(ops[0].op, kind);
        }
    }

    #[test]
    fn malformed_messages_are_refused() {
        let cases = [
            (json!([]), ScimType::InvalidSyntax),
            (
                json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"], "Operations": [{"op": "add", "path": "title", "value": "x"}]}),
                ScimType::InvalidSyntax,
            ),
            (json!({"schemas": []}), ScimType::InvalidSyntax),
            (json!({"Operations": "add"}), ScimType::InvalidSyntax),
            (json!({"Operations": []}), ScimType::InvalidValue),
            (json!({"Operations": [{"op": "merge", "path": "title", "value": "x"}]}), ScimType::InvalidSyntax),
            (json!({"Operations": [{"path": "title", "value": "x"}]}), ScimType::InvalidSyntax),
            (json!({"Operations": ["add"]}), ScimType::InvalidSyntax),
            (json!({"Operations": [{"op": "add", "path": "title"}]}), ScimType::InvalidValue),
            (json!({"Operations": [{"op": "add", "path": "title", "value": null}]}), ScimType::InvalidValue),
            (json!({"Operations": [{"op": "remove"}]}), ScimType::NoTarget),
            (json!({"Operations": [{"op": "remove", "path": ""}]}), ScimType::NoTarget),
            (json!({"Operations": [{"op": "add", "path": "emails[type eq", "value": "x"}]}), ScimType::InvalidPath),
            (json!({"Operations": [{"op": "add", "path": 5, "value": "x"}]}), ScimType::InvalidPath),
        ];
        for (body, t) in cases {
            let r = parse_request(&body);
            assert_eq!(r.as_ref().map_err(|e| e.scim_type), Err(Some(t)), "{body} gave {r:?}");
        }
        // Replace without value is the Python SDK's `active=False`; it parses.
        let ops = parse(json!({"Operations": [{"op": "replace", "path": "active"}]}));
        assert_eq!(ops[0].value, None);
    }

    // ---- RFC 7644 semantics ----

    #[test]
    fn add_replace_remove_with_a_path() {
        let doc = user_ok(&jane(), json!([{"op": "add", "path": "nickName", "value": "Babs"}]));
        assert_eq!(doc["nickName"], "Babs");
        let doc = user_ok(&doc, json!([{"op": "replace", "path": "nickName", "value": "Bee"}]));
        assert_eq!(doc["nickName"], "Bee");
        let doc = user_ok(&doc, json!([{"op": "remove", "path": "nickName"}]));
        assert!(doc.get("nickName").is_none());
        assert_eq!(doc, jane());
        // add on a single-valued attribute replaces it (RFC 7644 §3.5.2.1).
        let doc = user_ok(&jane(), json!([{"op": "add", "path": "displayName", "value": "J"}]));
        assert_eq!(doc["displayName"], "J");
        // Removing what is not there is fine.
        assert_eq!(user_ok(&jane(), json!([{"op": "remove", "path": "title"}])), jane());
    }

    #[test]
    fn add_and_replace_without_a_path() {
        let doc = user_ok(
            &jane(),
            json!([{"op": "add", "value": {"nickName": "Babs", "emails": [{"value": "j@home", "type": "home"}],
                                           "name": {"middleName": "M"}}}]),
        );
        assert_eq!(doc["nickName"], "Babs");
        assert_eq!(doc["emails"].as_array().map(Vec::len), Some(2));
        assert_eq!(doc["name"], json!({"givenName": "Jane", "familyName": "Doe", "middleName": "M"}));
        let doc = user_ok(
            &jane(),
            json!([{"op": "replace", "value": {"emails": [{"value": "new@x"}], "name": {"givenName": "J"}, "title": null}}]),
        );
        assert_eq!(doc["emails"], json!([{"value": "new@x"}]));
        // Replace of a complex attribute merges its sub-attributes (RFC 7644 §3.5.2.3).
        assert_eq!(doc["name"], json!({"givenName": "J", "familyName": "Doe"}));
        // Path-less values may echo a whole resource: schemas, id, meta and readOnly attributes are ignored.
        let doc = user_ok(
            &jane(),
            json!([{"op": "replace", "value": {"schemas": ["x"], "id": "1", "meta": {"version": "W/1"},
                                               "groups": [{"value": "g"}], "title": "T"}}]),
        );
        assert_eq!(doc["title"], "T");
        assert!(doc.get("id").is_none() && doc.get("groups").is_none());
        let e = user_err(&jane(), json!([{"op": "replace", "value": "x"}]));
        assert_eq!(e.scim_type, Some(ScimType::InvalidValue));
    }

    #[test]
    fn add_to_multi_valued_appends_without_duplicates() {
        let doc = user_ok(
            &jane(),
            json!([{"op": "add", "path": "entitlements",
                    "value": [{"value": "workspace-access"}, {"value": "databricks-sql-access"}]}]),
        );
        assert_eq!(
            doc["entitlements"],
            json!([{"value": "workspace-access"}, {"value": "allow-cluster-create"}, {"value": "databricks-sql-access"}])
        );
        // A single object for a multi-valued attribute is one value.
        let doc =
            user_ok(&jane(), json!([{"op": "add", "path": "emails", "value": {"value": "j@home", "type": "home"}}]));
        assert_eq!(doc["emails"][1], json!({"value": "j@home", "type": "home"}));
        // A new primary value demotes the old one (RFC 7644 §3.5.2).
        let doc = user_ok(
            &jane(),
            json!([{"op": "add", "path": "emails", "value": [{"value": "j@home", "type": "home", "primary": true}]}]),
        );
        assert_eq!(doc["emails"][0]["primary"], false);
        assert_eq!(doc["emails"][1]["primary"], true);
    }

    #[test]
    fn replace_of_multi_valued_replaces_the_whole_list() {
        let doc = user_ok(
            &jane(),
            json!([{"op": "replace", "path": "entitlements", "value": [{"value": "workspace-access"}]}]),
        );
        assert_eq!(doc["entitlements"], json!([{"value": "workspace-access"}]));
        let doc = user_ok(&jane(), json!([{"op": "replace", "path": "entitlements", "value": []}]));
        assert!(doc.get("entitlements").is_none());
    }

    #[test]
    fn value_filters_select_elements() {
        let doc = json!({"userName": "u", "emails": [
            {"value": "w@x", "type": "work"}, {"value": "h@x", "type": "home"}],
            "addresses": [{"type": "work", "formatted": "old"}, {"type": "home", "formatted": "home"}]});
        let after = user_ok(
            &doc,
            json!([
            {"op": "replace", "path": "emails[type eq \"work\"].value", "value": "w2@x"},
            {"op": "replace", "path": "addresses[type eq \"work\"].formatted", "value": "18/2111"}]),
        );
        assert_eq!(after["emails"], json!([{"value": "w2@x", "type": "work"}, {"value": "h@x", "type": "home"}]));
        assert_eq!(after["addresses"][0], json!({"type": "work", "formatted": "18/2111"}));
        assert_eq!(after["addresses"][1], json!({"type": "home", "formatted": "home"}));
        // Whole elements: replace merges into the matching element, remove drops it.
        let after =
            user_ok(&doc, json!([{"op": "replace", "path": "emails[type eq \"home\"]", "value": {"primary": true}}]));
        assert_eq!(after["emails"][1], json!({"value": "h@x", "type": "home", "primary": true}));
        let after = user_ok(&doc, json!([{"op": "remove", "path": "emails[type eq \"home\"]"}]));
        assert_eq!(after["emails"], json!([{"value": "w@x", "type": "work"}]));
        // Filters use the sub-attribute's case rules: `type` is case-insensitive.
        let after = user_ok(&doc, json!([{"op": "remove", "path": "emails[type eq \"WORK\" or value sw \"h@\"]"}]));
        assert!(after.get("emails").is_none());
        // Sub-attribute names in any case (Microsoft's own mapping table writes `.Value`, `.Formatted`).
        let after = user_ok(
            &doc,
            json!([
            {"op": "Replace", "path": "emails[type eq \"home\"].Value", "value": "h2@x"},
            {"op": "Replace", "path": "ADDRESSES[Type eq \"home\"].Formatted", "value": "f"}]),
        );
        assert_eq!(after["emails"][1]["value"], "h2@x");
        assert_eq!(after["addresses"][1]["formatted"], "f");
        // Marking one element primary demotes the others.
        let doc = json!({"userName": "u", "emails": [{"value": "w@x", "type": "work", "primary": true}, {"value": "h@x", "type": "home"}]});
        let after =
            user_ok(&doc, json!([{"op": "replace", "path": "emails[type eq \"home\"].primary", "value": "True"}]));
        assert_eq!(after["emails"][0]["primary"], false);
        assert_eq!(after["emails"][1]["primary"], true);
    }

    #[test]
    fn entra_creates_the_element_a_filter_describes() {
        let doc = json!({"userName": "u"});
        let after = user_ok(
            &doc,
            json!([
            {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "x@y"},
            {"op": "Add", "path": "phoneNumbers[type eq \"mobile\"].value", "value": "+1"},
            {"op": "Replace", "path": "addresses[type eq \"work\"].formatted", "value": "18/2111"},
            {"op": "Add", "path": "addresses[type eq \"work\"].locality", "value": "Paris"}]),
        );
        assert_eq!(after["emails"], json!([{"type": "work", "value": "x@y"}]));
        assert_eq!(after["phoneNumbers"], json!([{"type": "mobile", "value": "+1"}]));
        assert_eq!(after["addresses"], json!([{"type": "work", "formatted": "18/2111", "locality": "Paris"}]));
        // With `and`, every comparison contributes; without a sub-attribute the value is merged in.
        let after = user_ok(
            &doc,
            json!([{"op": "add", "path": "emails[type eq \"work\" and primary eq true]", "value": {"value": "p@y"}}]),
        );
        assert_eq!(after["emails"], json!([{"type": "work", "primary": true, "value": "p@y"}]));
        // An existing element of another type stays; the new one is appended.
        let doc = json!({"userName": "u", "emails": [{"type": "home", "value": "h@x"}]});
        let after = user_ok(&doc, json!([{"op": "replace", "path": "emails[type eq \"work\"].value", "value": "w@x"}]));
        assert_eq!(after["emails"], json!([{"type": "home", "value": "h@x"}, {"type": "work", "value": "w@x"}]));
    }

    #[test]
    fn a_filter_that_cannot_describe_an_element_is_no_target() {
        let doc = json!({"userName": "u", "emails": [{"type": "home", "value": "h@x"}]});
        for path in [
            "emails[type ne \"home\"].value",
            "emails[value co \"@work\"].value",
            "emails[type eq \"work\" or type eq \"other\"].value",
            "emails[not (type eq \"home\")]",
            "emails[type pr and value eq \"zz\"].value",
        ] {
            for op in ["replace", "add"] {
                let e = user_err(&doc, json!([{"op": op, "path": path, "value": "w@x"}]));
                assert_eq!(e.scim_type, Some(ScimType::NoTarget), "{op} {path}: {e}");
                assert!(e.detail.contains("'emails'"), "{}", e.detail);
            }
        }
        // Removal through a filter that matches nothing is not an error.
        assert_eq!(user_ok(&doc, json!([{"op": "remove", "path": "emails[type ne \"home\"]"}])), doc);
    }

    #[test]
    fn sub_attribute_paths() {
        let doc = user_ok(&jane(), json!([{"op": "replace", "path": "name.familyName", "value": "Smith"}]));
        assert_eq!(doc["name"], json!({"givenName": "Jane", "familyName": "Smith"}));
        let doc = user_ok(&doc, json!([{"op": "add", "path": "name.middleName", "value": "Q"}]));
        assert_eq!(doc["name"]["middleName"], "Q");
        let doc = user_ok(
            &doc,
            json!([{"op": "remove", "path": "name.givenName"}, {"op": "remove", "path": "name.familyName"},
                                       {"op": "remove", "path": "name.middleName"}]),
        );
        assert!(doc.get("name").is_none(), "an emptied complex attribute is unassigned");
        let doc = user_ok(&json!({"userName": "u"}), json!([{"op": "add", "path": "name.givenName", "value": "G"}]));
        assert_eq!(doc["name"], json!({"givenName": "G"}));
        // Without a filter, a sub-attribute of a multi-valued attribute is that of every value.
        let doc = json!({"userName": "u", "emails": [{"value": "a", "type": "work"}, {"value": "b", "type": "work"}]});
        let after = user_ok(&doc, json!([{"op": "replace", "path": "emails.type", "value": "other"}]));
        assert_eq!(after["emails"], json!([{"value": "a", "type": "other"}, {"value": "b", "type": "other"}]));
        let after = user_ok(&doc, json!([{"op": "remove", "path": "emails.type"}]));
        assert_eq!(after["emails"], json!([{"value": "a"}, {"value": "b"}]));
        let after = user_ok(&json!({"userName": "u"}), json!([{"op": "add", "path": "emails.value", "value": "a"}]));
        assert_eq!(after["emails"], json!([{"value": "a"}]));
    }

    #[test]
    fn urn_qualified_paths() {
        let doc = user_ok(
            &jane(),
            json!([
            {"op": "Add", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department", "value": "Retail"},
            {"op": "Replace", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber", "value": "42"},
            {"op": "replace", "path": "urn:ietf:params:scim:schemas:core:2.0:User:userName", "value": "new@contoso.com"},
            {"op": "replace", "path": "URN:IETF:PARAMS:SCIM:SCHEMAS:CORE:2.0:USER:name.givenName", "value": "J"}]),
        );
        assert_eq!(doc[ENT]["department"], "Retail");
        assert_eq!(doc[ENT]["employeeNumber"], "42");
        assert_eq!(doc["userName"], "new@contoso.com");
        assert_eq!(doc["name"]["givenName"], "J");
        let doc = user_ok(&doc, json!([{"op": "replace", "path": format!("{ENT}:manager.value"), "value": "m2"}]));
        assert_eq!(doc[ENT]["manager"], json!({"value": "m2", "$ref": "Users/m1"}));
        // The extension as a whole.
        let doc = user_ok(&jane(), json!([{"op": "remove", "path": ENT}]));
        assert!(doc.get(ENT).is_none());
        let doc = user_ok(&doc, json!([{"op": "add", "path": ENT, "value": {"costCenter": "C1", "manager": "m9"}}]));
        assert_eq!(doc[ENT], json!({"costCenter": "C1", "manager": {"value": "m9"}}));
        // The last extension attribute removed takes the extension object with it.
        let doc = user_ok(
            &doc,
            json!([{"op": "remove", "path": format!("{ENT}:costCenter")},
                                       {"op": "remove", "path": format!("{ENT}:manager")}]),
        );
        assert!(doc.get(ENT).is_none());
    }

    #[test]
    fn entra_path_less_replace_with_dotted_and_urn_keys() {
        // The documented aadOptscim062020 multi-attribute replace.
        let doc = user_ok(
            &jane(),
            json!([{"op": "replace", "value": {
            "displayName": "Bjfe", "name.givenName": "Kkom", "name.familyName": "Unua",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber": "Aklq"}}]),
        );
        assert_eq!(doc["displayName"], "Bjfe");
        assert_eq!(doc["name"], json!({"givenName": "Kkom", "familyName": "Unua"}));
        assert_eq!(doc[ENT]["employeeNumber"], "Aklq");
        assert_eq!(doc[ENT]["department"], "R&D");
        // Path-less add with dotted keys, nested extension objects and URN-qualified sub-attributes.
        let doc = user_ok(
            &json!({"userName": "u"}),
            json!([{"op": "Add", "value": {
            "name.givenName": "G", "active": "False",
            ENT: {"department": "D", "manager.value": "m1"},
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.$ref": "Users/m1"}}]),
        );
        assert_eq!(
            doc,
            json!({"userName": "u", "name": {"givenName": "G"}, "active": false,
                               ENT: {"department": "D", "manager": {"value": "m1", "$ref": "Users/m1"}}})
        );
        let e = user_err(&jane(), json!([{"op": "add", "value": {"urn:example:custom:2.0:User:x": "1"}}]));
        assert_eq!(e.scim_type, Some(ScimType::InvalidPath));
        let e = user_err(&jane(), json!([{"op": "add", "value": {"name.nick": "1"}}]));
        assert_eq!(e.scim_type, Some(ScimType::InvalidPath));
        assert!(e.detail.contains("name.nick"), "{}", e.detail);
    }

    #[test]
    fn boolean_shapes_of_every_client() {
        for value in [
            json!(false),
            json!("False"),
            json!("false"),
            json!("FALSE"),
            json!([{"value": "false"}]),
            json!([false]),
            json!({"value": false}),
            json!([{"value": "False"}]),
        ] {
            let doc = user_ok(&jane(), json!([{"op": "replace", "path": "active", "value": value.clone()}]));
            assert_eq!(doc["active"], false, "{value}");
        }
        for value in [json!(true), json!("True"), json!("true"), json!([{"value": "true"}])] {
            let doc = user_ok(
                &json!({"userName": "u", "active": false}),
                json!([{"op": "Replace", "path": "active", "value": value}]),
            );
            assert_eq!(doc["active"], true);
        }
        // Python SDK: `value=False` is dropped from the JSON, leaving a valueless replace.
        let doc = user_ok(&jane(), json!([{"op": "replace", "path": "active"}]));
        assert_eq!(doc["active"], false);
        let e = user_err(&jane(), json!([{"op": "replace", "path": "active", "value": "no"}]));
        assert_eq!(e.scim_type, Some(ScimType::InvalidValue));
        assert!(e.detail.contains("'active'"), "{}", e.detail);
    }

    #[test]
    fn a_valueless_or_null_replace_removes_non_booleans() {
        let doc = user_ok(&jane(), json!([{"op": "replace", "path": "displayName"}]));
        assert!(doc.get("displayName").is_none());
        let doc = user_ok(&jane(), json!([{"op": "replace", "path": "entitlements", "value": null}]));
        assert!(doc.get("entitlements").is_none());
        let doc = user_ok(&jane(), json!([{"op": "replace", "path": "active", "value": null}]));
        assert!(doc.get("active").is_none());
    }

    #[test]
    fn remove_with_a_value_list_removes_only_those_items() {
        let doc = user_ok(
            &jane(),
            json!([{"op": "remove", "path": "entitlements", "value": [{"value": "workspace-access"}]}]),
        );
        assert_eq!(doc["entitlements"], json!([{"value": "allow-cluster-create"}]));
        // Absent items: no error, nothing removed.
        let doc = user_ok(
            &jane(),
            json!([{"op": "remove", "path": "entitlements", "value": [{"value": "databricks-sql-access"}]},
                                         {"op": "remove", "path": "roles", "value": [{"value": "x"}]},
                                         {"op": "remove", "path": "entitlements[value eq \"nope\"]"}]),
        );
        assert_eq!(doc, jane());
        // A value list that carries nothing never clears the attribute.
        let doc = user_ok(&jane(), json!([{"op": "remove", "path": "entitlements", "value": [{}]}]));
        assert_eq!(doc, jane());
        // Without a value the whole attribute goes.
        let doc = user_ok(&jane(), json!([{"op": "remove", "path": "entitlements"}]));
        assert!(doc.get("entitlements").is_none());
    }

    #[test]
    fn manager_shapes() {
        let base = json!({"userName": "u"});
        let mgr = format!("{ENT}:manager");
        // Entra sets the manager with the bare id.
        let doc = user_ok(&base, json!([{"op": "Add", "path": mgr, "value": "m1"}]));
        assert_eq!(doc[ENT]["manager"], json!({"value": "m1"}));
        // Replace with a new id replaces the reference whole (no stale $ref).
        let doc = user_ok(&jane(), json!([{"op": "Replace", "path": mgr, "value": "m2"}]));
        assert_eq!(doc[ENT]["manager"], json!({"value": "m2"}));
        // Older sample: unqualified path and a list-wrapped object.
        let doc = user_ok(
            &base,
            json!([{"op": "Add", "path": "manager", "value": [{"$ref": "http://x/Users/m1", "value": "m1"}]}]),
        );
        assert_eq!(doc[ENT]["manager"], json!({"$ref": "http://x/Users/m1", "value": "m1"}));
        // Removal: by filter, by replace with "" or null, by remove with the id.
        for ops in [
            json!([{"op": "remove", "path": format!("{ENT}:manager[value eq \"m1\"]")}]),
            json!([{"op": "remove", "path": "manager[value eq \"m1\"]"}]),
            json!([{"op": "Replace", "path": mgr, "value": ""}]),
            json!([{"op": "Replace", "path": mgr, "value": null}]),
            json!([{"op": "Remove", "path": mgr, "value": "m1"}]),
            json!([{"op": "Remove", "path": mgr}]),
            json!([{"op": "replace", "path": format!("{ENT}:manager.value"), "value": null},
                   {"op": "remove", "path": format!("{ENT}:manager.$ref")}]),
        ] {
            let doc = user_ok(&jane(), ops.clone());
            assert_eq!(doc[ENT], json!({"department": "R&D"}), "{ops}");
        }
        // A filter or value for another manager leaves it alone.
        assert_eq!(
            user_ok(&jane(), json!([{"op": "remove", "path": format!("{ENT}:manager[value eq \"m9\"]")}])),
            jane()
        );
        assert_eq!(user_ok(&jane(), json!([{"op": "Remove", "path": mgr, "value": "m9"}])), jane());
        // Replace through a filter on the single-valued manager needs a match.
        let e = user_err(
            &jane(),
            json!([{"op": "replace", "path": format!("{ENT}:manager[value eq \"m9\"].value"), "value": "m3"}]),
        );
        assert_eq!(e.scim_type, Some(ScimType::NoTarget));
        let doc = user_ok(
            &jane(),
            json!([{"op": "replace", "path": format!("{ENT}:manager[value eq \"m1\"].value"), "value": "m3"}]),
        );
        assert_eq!(doc[ENT]["manager"]["value"], "m3");
    }

    #[test]
    fn remove_with_a_value_on_a_single_valued_sub_path() {
        let doc =
            json!({"userName": "u", "emails": [{"type": "work", "value": "old@x"}, {"type": "home", "value": "h@x"}]});
        let after =
            user_ok(&doc, json!([{"op": "Remove", "path": "emails[type eq \"work\"].value", "value": "old@x"}]));
        // The emptied work element keeps its type; nothing is assigned.
        assert_eq!(after["emails"], json!([{"type": "work"}, {"type": "home", "value": "h@x"}]));
        let after =
            user_ok(&doc, json!([{"op": "Remove", "path": "emails[type eq \"work\"].value", "value": "other@x"}]));
        assert_eq!(after, doc);
        let after = user_ok(&doc, json!([{"op": "Remove", "path": "emails[type eq \"work\"].value"}]));
        assert_eq!(after["emails"][0], json!({"type": "work"}));
        let after = user_ok(&jane(), json!([{"op": "remove", "path": "displayName", "value": "Jane Doe"}]));
        assert!(after.get("displayName").is_none());
        let after = user_ok(&jane(), json!([{"op": "remove", "path": "displayName", "value": "Someone"}]));
        assert_eq!(after, jane());
    }

    #[test]
    fn scalar_object_and_array_values_for_simple_attributes() {
        for value in [json!("Babs"), json!(["Babs"]), json!({"value": "Babs"}), json!([{"value": "Babs"}])] {
            let doc = user_ok(&jane(), json!([{"op": "add", "path": "nickName", "value": value.clone()}]));
            assert_eq!(doc["nickName"], "Babs", "{value}");
        }
        let e = user_err(&jane(), json!([{"op": "add", "path": "nickName", "value": ["a", "b"]}]));
        assert_eq!(e.scim_type, Some(ScimType::InvalidValue));
    }

    #[test]
    fn read_only_attributes_are_refused_by_path() {
        for path in [
            "id",
            "meta",
            "meta.lastModified",
            "groups",
            "groups[value eq \"g\"]",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.displayName",
        ] {
            for op in [json!({"op": "replace", "path": path, "value": "x"}), json!({"op": "remove", "path": path})] {
                let e = user_err(&jane(), json!([op]));
                assert_eq!(e.scim_type, Some(ScimType::Mutability), "{path}: {e}");
                assert!(e.detail.contains("readOnly"), "{}", e.detail);
            }
        }
        let e = run(
            &GROUP_TYPE,
            &json!({"displayName": "g"}),
            json!([{"op": "replace", "path": "members[value eq \"1\"].display", "value": "x"}]),
            &["members"],
        );
        assert_eq!(e.map_err(|e| e.detail), Err("attribute 'members.display' is readOnly".to_string()));
    }

    #[test]
    fn immutable_attributes_can_be_set_once() {
        use crate::schema::{Schema, SchemaExtension};
        static ATTRS: [Attribute; 2] = [
            Attribute::string("displayName", "").required(),
            Attribute::string("applicationId", "").mutability(Mutability::Immutable),
        ];
        static S: Schema =
            Schema { id: "urn:test:2.0:ServicePrincipal", name: "SP", description: "", attributes: &ATTRS };
        static RT: ResourceType = ResourceType {
            id: "SP",
            name: "SP",
            endpoint: "/ServicePrincipals",
            description: "",
            schema: &S,
            extensions: &[] as &[SchemaExtension],
        };
        let doc = json!({"displayName": "sp"});
        let (doc, _) = match run(&RT, &doc, json!([{"op": "add", "path": "applicationId", "value": "app"}]), &[]) {
            Ok(x) => x,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(doc["applicationId"], "app");
        // Re-sending the same value is not a change.
        assert!(run(&RT, &doc, json!([{"op": "replace", "path": "applicationId", "value": "app"}]), &[]).is_ok());
        for op in [
            json!({"op": "replace", "path": "applicationId", "value": "other"}),
            json!({"op": "add", "path": "applicationId", "value": "other"}),
            json!({"op": "remove", "path": "applicationId"}),
            json!({"op": "replace", "value": {"applicationId": "other"}}),
        ] {
            let e = run(&RT, &doc, json!([op]), &[]).map_err(|e| e.scim_type);
            assert_eq!(e.map(|_| ()), Err(Some(ScimType::Mutability)));
        }
    }

    #[test]
    fn unknown_paths_are_invalid_path_naming_the_path() {
        for (path, name) in [
            ("foo", "'foo'"),
            ("name.nick", "'name.nick'"),
            ("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:badge", "User:badge'"),
            ("urn:example:custom:2.0:User:x", "'urn:example:custom:2.0:User:x'"),
            ("displayName.value", "'displayName'"),
            ("emails[label eq \"x\"].value", "label"),
            ("emails[type eq \"work\"].nope", "'emails.nope'"),
        ] {
            let e = user_err(&jane(), json!([{"op": "replace", "path": path, "value": "x"}]));
            assert_eq!(e.scim_type, Some(ScimType::InvalidPath), "{path}: {e}");
            assert!(e.detail.contains(name), "{} does not name {name}", e.detail);
        }
    }

    #[test]
    fn wrong_types_are_invalid_value() {
        for op in [
            json!({"op": "replace", "path": "userName", "value": 5}),
            json!({"op": "replace", "path": "name", "value": 5}),
            json!({"op": "add", "path": "emails", "value": [{"value": 5}]}),
            json!({"op": "replace", "path": "emails[type eq \"work\"].primary", "value": "maybe"}),
            json!({"op": "add", "value": {"active": 3}}),
        ] {
            let e = user_err(&jane(), json!([op.clone()]));
            assert_eq!(e.scim_type, Some(ScimType::InvalidValue), "{op}: {e}");
        }
    }

    #[test]
    fn all_or_nothing() {
        let mut doc = jane();
        let ops = parse(json!({"Operations": [
            {"op": "replace", "path": "displayName", "value": "Changed"},
            {"op": "replace", "path": "nope", "value": "x"}]}));
        assert!(apply(&USER_TYPE, &mut doc, &ops, &[]).is_err());
        assert_eq!(doc, jane());
        // Removing a required attribute fails in the final check, also leaving the document untouched.
        let ops = parse(json!({"Operations": [{"op": "remove", "path": "userName"}]}));
        let e = apply(&USER_TYPE, &mut doc, &ops, &[]).map(|_| ());
        assert_eq!(e.map_err(|e| e.detail), Err("attribute 'userName' is required".to_string()));
        assert_eq!(doc, jane());
    }

    #[test]
    fn the_result_is_normalised() {
        let doc = user_ok(
            &json!({"userName": "u"}),
            json!([
            {"op": "add", "path": "EMAILS", "value": [{"VALUE": "a@x", "Type": "work", "display": null}]},
            {"op": "add", "path": "NAME", "value": {"GIVENNAME": "g"}}]),
        );
        assert_eq!(
            doc,
            json!({"userName": "u", "emails": [{"value": "a@x", "type": "work"}], "name": {"givenName": "g"}})
        );
        assert_eq!(normalize(&USER_TYPE, &doc), Ok(doc.clone()));
    }

    // ---- Client dialects, shape by shape ----

    /// databricks-api.md §2.11, shapes 1–4, 9–15 on a user; 5–8 on a group below.
    #[test]
    fn databricks_patch_shapes_on_users() {
        let base = json!({"userName": "u", "active": true, "entitlements": [{"value": "workspace-access"}]});
        // 1
        let doc = user_ok(
            &base,
            json!([{"op": "add", "path": "entitlements", "value": [{"value": "allow-cluster-create"}]}]),
        );
        assert_eq!(doc["entitlements"], json!([{"value": "workspace-access"}, {"value": "allow-cluster-create"}]));
        // 2
        let doc =
            user_ok(&doc, json!([{"op": "replace", "path": "entitlements", "value": [{"value": "workspace-access"}]}]));
        assert_eq!(doc["entitlements"], json!([{"value": "workspace-access"}]));
        // 3
        let doc =
            user_ok(&doc, json!([{"op": "remove", "path": "entitlements", "value": [{"value": "workspace-access"}]}]));
        assert!(doc.get("entitlements").is_none());
        // 4
        let doc = user_ok(
            &base,
            json!([{"op": "add", "path": "entitlements", "value": [{"value": "allow-cluster-create"}]},
                                        {"op": "remove", "path": "entitlements[value eq \"allow-cluster-create\"]"}]),
        );
        assert_eq!(doc, base);
        // 9
        let arn = "arn:aws:iam::123:instance-profile/x";
        let doc = user_ok(&base, json!([{"op": "add", "path": "roles", "value": [{"value": arn}]}]));
        assert_eq!(doc["roles"], json!([{"value": arn}]));
        let doc = user_ok(&doc, json!([{"op": "remove", "path": format!("roles[value eq \"{arn}\"]")}]));
        assert_eq!(doc, base);
        // 10–13, 15
        for op in [
            json!({"op": "replace", "path": "active", "value": [{"value": "false"}]}),
            json!({"op": "replace", "path": "active", "value": "false"}),
            json!({"op": "replace", "path": "active", "value": false}),
            json!({"op": "replace", "path": "active"}),
            json!({"op": "Replace", "path": "active", "value": "False"}),
        ] {
            let doc = user_ok(&base, json!([op.clone()]));
            assert_eq!(doc["active"], false, "{op}");
        }
        // 14
        let doc = user_ok(&base, json!([{"op": "add", "value": {"roles": [{"value": "account_admin"}]}}]));
        assert_eq!(doc["roles"], json!([{"value": "account_admin"}]));
        // Python SDK: an empty list is dropped too, so a valueless replace of a list clears it.
        let doc = user_ok(&base, json!([{"op": "replace", "path": "entitlements"}]));
        assert!(doc.get("entitlements").is_none());
    }

    /// databricks-api.md §2.11, shapes 5–8, with members held outside the document.
    #[test]
    fn databricks_member_shapes() {
        let one = || vec![json!({"value": "123"})];
        // 5
        assert_eq!(
            group_changes(json!([{"op": "add", "path": "members", "value": [{"value": "123"}]}])),
            members(MemberChange::Add(one()))
        );
        // 6
        assert_eq!(
            group_changes(json!([{"op": "add", "value": {"members": [{"value": "123"}]}}])),
            members(MemberChange::Add(one()))
        );
        // 7
        assert_eq!(
            group_changes(json!([{"op": "remove", "path": "members[value eq \"123\"]"}])),
            members(MemberChange::Remove(filter("value eq \"123\"")))
        );
        // 8
        assert_eq!(
            group_changes(json!([{"op": "remove", "path": "members", "value": [{"value": "123"}]}])),
            members(MemberChange::RemoveValues(one()))
        );
    }

    /// entra-provisioning.md §1.8, default dialect and aadOptscim062020, applied in sequence.
    #[test]
    fn entra_user_patch_shapes() {
        let doc = json!({
            "externalId": "jdoe", "userName": "jdoe@contoso.com", "active": true, "displayName": "Jane Doe",
            "emails": [{"primary": true, "type": "work", "value": "jdoe@contoso.com"}],
            "name": {"formatted": "Jane Doe", "familyName": "Doe", "givenName": "Jane"},
            "addresses": [{"type": "work", "formatted": "old", "primary": false}],
            ENT: {"employeeNumber": "701984", "department": "R&D"}
        });
        let role = "{\"id\":\"06b0\",\"value\":\"25\",\"displayName\":\"Role1234\"}";
        let after = user_ok(
            &doc,
            json!([
                {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "new@contoso.com"},
                {"op": "Replace", "path": "name.familyName", "value": "Smith"},
                {"op": "Replace", "path": "userName", "value": "new-upn@contoso.com"},
                {"op": "Replace", "path": "displayName", "value": "Jane Smith"},
                {"op": "Replace", "path": "externalId", "value": "jdoe2"},
                {"op": "Replace", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber", "value": "42"},
                {"op": "Add", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department", "value": "Retail"},
                {"op": "Add", "path": "nickName", "value": "Babs"},
                {"op": "Replace", "path": "addresses[type eq \"work\"].formatted", "value": "18/2111"},
                {"op": "Replace", "path": "active", "value": "False"},
                {"op": "Add", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager", "value": "mgr-id"},
                {"op": "Add", "path": "roles", "value": [{"value": role}]}
            ]),
        );
        assert_eq!(
            after,
            json!({
                "externalId": "jdoe2", "userName": "new-upn@contoso.com", "active": false, "displayName": "Jane Smith",
                "emails": [{"primary": true, "type": "work", "value": "new@contoso.com"}],
                "name": {"formatted": "Jane Doe", "familyName": "Smith", "givenName": "Jane"},
                "addresses": [{"type": "work", "formatted": "18/2111", "primary": false}],
                ENT: {"employeeNumber": "42", "department": "Retail", "manager": {"value": "mgr-id"}},
                "nickName": "Babs",
                "roles": [{"value": role}]
            })
        );
        // aadOptscim062020.
        let after = user_ok(
            &after,
            json!([
                {"op": "replace", "path": "active", "value": true},
                {"op": "add", "path": "nickName", "value": "Bee"},
                {"op": "replace", "path": "emails[type eq \"work\"].value", "value": "x@y"},
                {"op": "replace", "value": {"displayName": "Bjfe", "name.givenName": "Kkom", "name.familyName": "Unua",
                    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber": "Aklq"}}
            ]),
        );
        assert_eq!(after["active"], true);
        assert_eq!(after["nickName"], "Bee");
        assert_eq!(after["emails"][0]["value"], "x@y");
        assert_eq!(after["name"], json!({"formatted": "Jane Doe", "familyName": "Unua", "givenName": "Kkom"}));
        assert_eq!(after[ENT]["employeeNumber"], "Aklq");
        // Assertive roles: replace with full objects.
        let roles =
            json!([{"primary": false, "type": "WindowsAzureActiveDirectoryRole", "display": "Admin", "value": "r1"}]);
        let after = user_ok(&after, json!([{"op": "replace", "path": "roles", "value": roles.clone()}]));
        assert_eq!(after["roles"], roles);
    }

    /// entra-provisioning.md §1.11.
    #[test]
    fn entra_group_patch_shapes() {
        let doc = json!({"displayName": "Sales"});
        let (after, changes) = match run(
            &GROUP_TYPE,
            &doc,
            json!([
                {"op": "Replace", "path": "displayName", "value": "Sales EU"},
                {"op": "Add", "path": "members", "value": [{"$ref": null, "value": "u1"}]},
                {"op": "Remove", "path": "members", "value": [{"$ref": null, "value": "u2"}]},
                {"op": "remove", "path": "members[value eq \"u3\"]"}
            ]),
            &["members"],
        ) {
            Ok(x) => x,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(after, json!({"displayName": "Sales EU"}));
        assert_eq!(
            changes,
            vec![
                ExternalChange { attr: "members", change: MemberChange::Add(vec![json!({"value": "u1"})]) },
                ExternalChange { attr: "members", change: MemberChange::RemoveValues(vec![json!({"value": "u2"})]) },
                ExternalChange { attr: "members", change: MemberChange::Remove(filter("value eq \"u3\"")) },
            ]
        );
    }

    #[test]
    fn external_member_changes() {
        // Bare strings, display names and case variants are normalised; order is kept.
        assert_eq!(
            group_changes(
                json!([{"op": "add", "path": "Members", "value": ["u1", {"VALUE": "u2", "display": "Bob", "$ref": "Users/u2"}]}])
            ),
            members(MemberChange::Add(vec![json!({"value": "u1"}), json!({"value": "u2", "$ref": "Users/u2"})]))
        );
        assert_eq!(
            group_changes(json!([{"op": "replace", "path": "members", "value": [{"value": "u1"}]}])),
            members(MemberChange::Replace(vec![json!({"value": "u1"})]))
        );
        assert_eq!(
            group_changes(json!([{"op": "replace", "path": "members", "value": []}])),
            members(MemberChange::Replace(vec![]))
        );
        assert_eq!(group_changes(json!([{"op": "replace", "path": "members"}])), members(MemberChange::RemoveAll));
        assert_eq!(group_changes(json!([{"op": "remove", "path": "members"}])), members(MemberChange::RemoveAll));
        assert_eq!(
            group_changes(json!([{"op": "replace", "value": {"displayName": "g", "members": [{"value": "u1"}]}}])),
            members(MemberChange::Replace(vec![json!({"value": "u1"})]))
        );
        // A removal whose value list carries nothing changes nothing (never clear a group by accident).
        assert_eq!(group_changes(json!([{"op": "remove", "path": "members", "value": [{}]}])), vec![]);
        assert_eq!(group_changes(json!([{"op": "add", "path": "members", "value": []}])), vec![]);
        let bad = [
            (json!({"op": "add", "path": "members", "value": [{"type": "User"}]}), ScimType::InvalidValue),
            (
                json!({"op": "replace", "path": "members[value eq \"u1\"]", "value": {"value": "u2"}}),
                ScimType::InvalidPath,
            ),
            (json!({"op": "remove", "path": "members.value"}), ScimType::InvalidPath),
            (json!({"op": "remove", "path": "members[nope eq \"u1\"]"}), ScimType::InvalidPath),
        ];
        for (op, t) in bad {
            let r = run(&GROUP_TYPE, &json!({"displayName": "g"}), json!([op.clone()]), &["members"]);
            assert_eq!(r.map(|_| ()).map_err(|e| e.scim_type), Err(Some(t)), "{op}");
        }
        // Without `external`, members are ordinary document values.
        let (doc, changes) = match run(
            &GROUP_TYPE,
            &json!({"displayName": "g", "members": [{"value": "u1"}, {"value": "u2"}]}),
            json!([{"op": "remove", "path": "members[value eq \"u1\"]"}, {"op": "add", "path": "members", "value": ["u3"]}]),
            &[],
        ) {
            Ok(x) => x,
            Err(e) => panic!("{e}"),
        };
        assert!(changes.is_empty());
        assert_eq!(doc["members"], json!([{"value": "u2"}, {"value": "u3"}]));
    }

    mod properties {
        use proptest::prelude::*;
        use serde_json::{Value, json};

        use super::super::{apply, parse_request};
        use super::jane;
        use crate::resource::normalize;
        use crate::schema::USER_TYPE;

        fn operation() -> impl Strategy<Value = Value> {
            prop::sample::select(vec![
                json!({"op": "add", "path": "emails", "value": [{"value": "n@x", "type": "home", "primary": true}]}),
                json!({"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "w@x"}),
                json!({"op": "replace", "path": "emails[type eq \"other\"].primary", "value": "True"}),
                json!({"op": "remove", "path": "emails[type eq \"work\"]"}),
                json!({"op": "remove", "path": "emails[type eq \"home\"].value", "value": "n@x"}),
                json!({"op": "replace", "path": "name.familyName", "value": "F"}),
                json!({"op": "remove", "path": "name.givenName"}),
                json!({"op": "replace", "path": "active"}),
                json!({"op": "replace", "path": "active", "value": [{"value": "true"}]}),
                json!({"op": "remove", "path": "entitlements", "value": [{"value": "workspace-access"}]}),
                json!({"op": "add", "path": "entitlements", "value": [{}]}),
                json!({"op": "replace", "path": "entitlements"}),
                json!({"op": "Add", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager", "value": "m"}),
                json!({"op": "Replace", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager", "value": ""}),
                json!({"op": "remove", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"}),
                json!({"op": "replace", "value": {"name.givenName": "G", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department": "D"}}),
                json!({"op": "replace", "path": "userName", "value": null}),
                json!({"op": "replace", "path": "nope", "value": 1}),
                json!({"op": "replace", "path": "emails[value co \"zz\"].value", "value": "z"}),
            ])
        }

        proptest! {
            /// Any sequence either fails and leaves the document as it was, or yields a normalised document.
            #[test]
            fn apply_is_all_or_nothing_and_normalised(ops in prop::collection::vec(operation(), 1..6)) {
                let ops = parse_request(&json!({"Operations": ops}));
                prop_assert!(ops.is_ok());
                let ops = ops.unwrap_or_default();
                let mut doc = jane();
                match apply(&USER_TYPE, &mut doc, &ops, &[]) {
                    Ok(_) => prop_assert_eq!(normalize(&USER_TYPE, &doc), Ok(doc.clone())),
                    Err(_) => prop_assert_eq!(doc, jane()),
                }
            }
        }
    }
}
