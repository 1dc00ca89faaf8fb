//! What to send to the target, as Entra sends it: the body of a POST (the full mapped object), the PATCH operations
//! of an update (only what differs, in the tenant URL's dialect), and the member and manager operations of the
//! reference pass.

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

use super::mapping::{CompiledObjectMapping, Desired, same};
use super::target::{ENTERPRISE_USER, GROUP_SCHEMA, TargetPath, USER_SCHEMA};

pub use idplane_scim::PatchDialect;

/// The most members one PATCH adds or removes.
pub const MEMBERS_PER_PATCH: usize = 100;

/// One attribute whose target value changes.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub target: String,
    pub old: Option<Value>,
    pub new: Value,
    pub redact: bool,
}

/// The body of the POST that creates the object: every mapped value and the resolved single-valued references
/// (`manager`); group members are added afterwards by PATCH, as Entra does.
pub fn create_body(mapping: &CompiledObjectMapping, desired: &Desired, manager_like: &[(String, String)]) -> Value {
    let user = !mapping.target_object.eq_ignore_ascii_case("Group");
    let mut body = Map::new();
    let schemas = if user { json!([USER_SCHEMA, ENTERPRISE_USER]) } else { json!([GROUP_SCHEMA]) };
    body.insert("schemas".into(), schemas);
    for a in &mapping.attributes {
        if let Some(v) = desired.values.get(&a.target) {
            a.path.write(&mut body, v.value.clone());
        }
    }
    for (target, id) in manager_like {
        if let Some(path) = TargetPath::parse(target) {
            path.write(&mut body, json!({"value": id}));
        }
    }
    if !user && !body.contains_key("members") {
        body.insert("members".into(), json!([]));
    }
    Value::Object(body)
}

/// The attributes whose target value differs from the desired one.
pub fn changes(mapping: &CompiledObjectMapping, desired: &Desired, current: &Value) -> Vec<Change> {
    let mut out = Vec::new();
    for a in &mapping.attributes {
        let Some(want) = desired.values.get(&a.target) else { continue };
        let have = a.path.read(current);
        if !same(&want.value, have.as_ref()) {
            out.push(Change { target: a.target.clone(), old: have, new: want.value.clone(), redact: want.redact });
        }
    }
    out
}

fn op(dialect: PatchDialect, name: &str) -> String {
    match dialect {
        PatchDialect::EntraDefault => {
            let mut c = name.chars();
            c.next().map(|f| f.to_ascii_uppercase().to_string() + c.as_str()).unwrap_or_default()
        }
        PatchDialect::Rfc7644 => name.to_owned(),
    }
}

fn wire_value(dialect: PatchDialect, v: &Value) -> Value {
    match (dialect, v) {
        (PatchDialect::EntraDefault, Value::Bool(b)) => json!(if *b { "True" } else { "False" }),
        _ => v.clone(),
    }
}

/// The PATCH operations of an update: `Add` for an attribute the target lacks, `Replace` for one it has. With
/// [`PatchDialect::Rfc7644`] the plain attributes that change go in one path-less `replace` whose value has
/// dotted keys, as Entra sends it with `aadOptscim062020`.
pub fn patch_operations(changes: &[Change], dialect: PatchDialect) -> Vec<Value> {
    let mut ops = Vec::new();
    let mut folded = Map::new();
    for c in changes {
        let Some(path) = TargetPath::parse(&c.target) else { continue };
        let name = if c.old.is_some() { "replace" } else { "add" };
        if dialect == PatchDialect::Rfc7644 && name == "replace" && !path.is_filtered() {
            folded.insert(path.patch_path(), c.new.clone());
            continue;
        }
        ops.push(json!({"op": op(dialect, name), "path": path.patch_path(), "value": wire_value(dialect, &c.new)}));
    }
    match folded.len() {
        0 => {}
        1 => {
            if let Some((path, value)) = folded.into_iter().next() {
                ops.insert(0, json!({"op": "replace", "path": path, "value": value}));
            }
        }
        _ => ops.insert(0, json!({"op": "replace", "value": folded})),
    }
    ops
}

/// The operation that points a single-valued reference (`manager`) at `id`, or removes it (`None`).
pub fn reference_operation(target: &str, id: Option<&str>, had: bool, dialect: PatchDialect) -> Option<Value> {
    let path = TargetPath::parse(target)?.patch_path();
    Some(match id {
        Some(id) => {
            let value = match dialect {
                PatchDialect::EntraDefault => json!(id),
                PatchDialect::Rfc7644 => json!({"value": id}),
            };
            json!({"op": op(dialect, if had { "replace" } else { "add" }), "path": path, "value": value})
        }
        None => json!({"op": op(dialect, "remove"), "path": path}),
    })
}

/// The target ids a reference attribute of the target's copy holds (`{"value": id}` elements, a bare id, or an
/// object with a `value`).
pub fn referenced_ids(target: &str, current: &Value) -> Vec<String> {
    let Some(path) = TargetPath::parse(target) else { return Vec::new() };
    match path.read(current) {
        Some(Value::Array(items)) => items.iter().filter_map(reference_id).collect(),
        Some(v) => reference_id(&v).into_iter().collect(),
        None => Vec::new(),
    }
}

fn reference_id(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Object(o) => o.get("value").and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_owned),
        _ => None,
    }
}

/// The PATCH requests (each a list of operations) that make a group's members `desired`, given the members the
/// target has. Only members the engine manages (`managed`) are removed: a member added in the target by someone
/// else stays, as Entra leaves it. Batched by [`MEMBERS_PER_PATCH`].
pub fn member_patches(
    current: &[String],
    desired: &[String],
    managed: &dyn Fn(&str) -> bool,
    dialect: PatchDialect,
) -> (Vec<String>, Vec<String>, Vec<Vec<Value>>) {
    let have: BTreeSet<&str> = current.iter().map(String::as_str).collect();
    let want: BTreeSet<&str> = desired.iter().map(String::as_str).collect();
    let added: Vec<String> = want.difference(&have).map(|s| (*s).to_owned()).collect();
    let removed: Vec<String> = have.difference(&want).filter(|id| managed(id)).map(|s| (*s).to_owned()).collect();
    let mut patches = Vec::new();
    for chunk in added.chunks(MEMBERS_PER_PATCH) {
        let value: Vec<Value> = chunk.iter().map(|id| json!({"value": id})).collect();
        patches.push(vec![json!({"op": op(dialect, "add"), "path": "members", "value": value})]);
    }
    for chunk in removed.chunks(MEMBERS_PER_PATCH) {
        patches.push(match dialect {
            PatchDialect::EntraDefault => {
                let value: Vec<Value> = chunk.iter().map(|id| json!({"value": id})).collect();
                vec![json!({"op": "Remove", "path": "members", "value": value})]
            }
            PatchDialect::Rfc7644 => {
                chunk.iter().map(|id| json!({"op": "remove", "path": format!("members[value eq \"{id}\"]")})).collect()
            }
        });
    }
    (added, removed, patches)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(target: &str, old: Option<Value>, new: Value) -> Change {
        Change { target: target.into(), old, new, redact: false }
    }

    #[test]
    fn updates_are_worded_in_the_dialect_of_the_tenant_url() {
        let changes = [
            change("displayName", Some(json!("A")), json!("B")),
            change("name.givenName", Some(json!("x")), json!("y")),
            change("active", Some(json!(true)), json!(false)),
            change("emails[type eq \"work\"].value", Some(json!("a@x")), json!("b@x")),
            change("title", None, json!("Boss")),
        ];
        let default = patch_operations(&changes, PatchDialect::EntraDefault);
        assert_eq!(
            default,
            vec![
                json!({"op": "Replace", "path": "displayName", "value": "B"}),
                json!({"op": "Replace", "path": "name.givenName", "value": "y"}),
                json!({"op": "Replace", "path": "active", "value": "False"}),
                json!({"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "b@x"}),
                json!({"op": "Add", "path": "title", "value": "Boss"}),
            ]
        );
        let rfc = patch_operations(&changes, PatchDialect::Rfc7644);
        assert_eq!(
            rfc,
            vec![
                json!({"op": "replace", "value": {"displayName": "B", "name.givenName": "y", "active": false}}),
                json!({"op": "replace", "path": "emails[type eq \"work\"].value", "value": "b@x"}),
                json!({"op": "add", "path": "title", "value": "Boss"}),
            ]
        );
        let one = patch_operations(&changes[2..3], PatchDialect::Rfc7644);
        assert_eq!(one, vec![json!({"op": "replace", "path": "active", "value": false})]);
    }

    #[test]
    fn members_change_in_batches_and_unmanaged_members_stay() {
        let current = vec!["a".to_string(), "b".to_string(), "outsider".to_string()];
        let desired: Vec<String> = (0..150).map(|i| format!("n{i}")).chain(["a".to_string()]).collect();
        let managed = |id: &str| id != "outsider";
        let (added, removed, patches) = member_patches(&current, &desired, &managed, PatchDialect::EntraDefault);
        assert_eq!(added.len(), 150);
        assert_eq!(removed, vec!["b".to_string()]);
        assert_eq!(patches.len(), 3, "100 + 50 additions, one removal");
        assert_eq!(patches[2], vec![json!({"op": "Remove", "path": "members", "value": [{"value": "b"}]})]);
        let (_, _, rfc) = member_patches(&current, &[], &managed, PatchDialect::Rfc7644);
        assert_eq!(
            rfc,
            vec![vec![
                json!({"op": "remove", "path": "members[value eq \"a\"]"}),
                json!({"op": "remove", "path": "members[value eq \"b\"]"}),
            ]]
        );
    }

    #[test]
    fn references_are_read_in_every_shape_targets_return() {
        let m = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager";
        let doc = json!({ENTERPRISE_USER: {"manager": {"value": "m1", "displayName": "M"}}});
        assert_eq!(referenced_ids(m, &doc), vec!["m1".to_string()]);
        assert_eq!(referenced_ids(m, &json!({ENTERPRISE_USER: {"manager": "m2"}})), vec!["m2".to_string()]);
        assert_eq!(referenced_ids("members", &json!({"members": [{"value": "u1"}, {"value": "u2"}]})).len(), 2);
        assert_eq!(
            reference_operation(m, None, true, PatchDialect::EntraDefault),
            Some(json!({"op": "Remove", "path": m}))
        );
    }
}
