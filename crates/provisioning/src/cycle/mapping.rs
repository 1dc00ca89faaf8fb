//! An object mapping made ready to run: each attribute mapping's expression parsed once, its target path read,
//! and the target attribute's type known; and the evaluation of a source object into the values the target object
//! should have.

use std::collections::BTreeMap;

use idplane_expr::{Environment, Expr};
use serde_json::{Value, json};

use crate::schema::{
    AttributeFlowType, AttributeMapping, AttributeType, ObjectFlowTypes, ObjectMapping, SynchronizationRule,
    SynchronizationSchema,
};
use crate::scoping::CompiledFilter;
use crate::source::SourceObject;

use super::target::TargetPath;

/// Why an object mapping cannot run. Validation refuses such schemas when they are saved; a template or a schema
/// saved by an older idplane may still hold one, so the cycle reports it instead of guessing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MappingError {
    #[error(
        "the mapping to '{target}' cannot be placed in a SCIM resource: use a path such as 'name.givenName' or 'emails[type eq \"work\"].value'"
    )]
    UnplaceableTarget { target: String },
    #[error("the mapping to '{target}' has an expression idplane cannot read: {message}")]
    Expression { target: String, message: String },
    #[error("the object mapping '{mapping}' has an invalid scoping filter: {message}")]
    Scope { mapping: String, message: String },
    #[error("evaluating the mapping to '{target}' failed: {message}")]
    Evaluation { target: String, message: String },
}

/// One attribute mapping, ready to evaluate.
#[derive(Debug, Clone)]
pub struct CompiledAttribute {
    pub target: String,
    pub path: TargetPath,
    /// `None`: the portal's "None" mapping (only a default value).
    pub expr: Option<Expr>,
    pub default_value: Option<String>,
    pub flow_type: AttributeFlowType,
    pub matching_priority: i32,
    /// The target attribute's type, to which values are converted (Entra's `"True"` becomes `true` for a Boolean).
    pub attribute_type: AttributeType,
    /// The target attribute references other target objects (`manager`, `members`): its source values are source
    /// object ids, resolved to target ids through the links.
    pub reference: bool,
}

/// An object mapping, ready to run.
#[derive(Debug, Clone)]
pub struct CompiledObjectMapping {
    pub name: String,
    pub enabled: bool,
    pub source_object: String,
    pub target_object: String,
    pub flow_types: ObjectFlowTypes,
    pub scope: Option<CompiledFilter>,
    pub attributes: Vec<CompiledAttribute>,
    /// The rule's id (provisionOnDemand names it).
    pub rule_id: String,
    /// The target directory's name (logs show it as the target system).
    pub target_directory: String,
}

impl CompiledObjectMapping {
    /// Prepares `mapping` of `rule`.
    pub fn compile(
        schema: &SynchronizationSchema,
        rule: &SynchronizationRule,
        mapping: &ObjectMapping,
    ) -> Result<Self, MappingError> {
        let target_definition = schema.target_object(rule, mapping);
        let mut attributes = Vec::new();
        for m in &mapping.attribute_mappings {
            let path = TargetPath::parse(&m.target_attribute_name)
                .ok_or_else(|| MappingError::UnplaceableTarget { target: m.target_attribute_name.clone() })?;
            let definition = target_definition.and_then(|d| d.attribute(&m.target_attribute_name));
            let attribute_type = definition.map(|d| d.attribute_type).unwrap_or_default();
            attributes.push(CompiledAttribute {
                target: m.target_attribute_name.clone(),
                path,
                expr: expression(m)?,
                default_value: m.default_value.clone().filter(|d| !d.is_empty()),
                flow_type: m.flow_type,
                matching_priority: m.matching_priority,
                attribute_type,
                reference: attribute_type == AttributeType::Reference,
            });
        }
        let scope = match &mapping.scope {
            Some(f) if !f.is_empty() => Some(
                CompiledFilter::compile(f)
                    .map_err(|e| MappingError::Scope { mapping: mapping.label(), message: e.to_string() })?,
            ),
            _ => None,
        };
        Ok(CompiledObjectMapping {
            name: mapping.label(),
            enabled: mapping.enabled,
            source_object: mapping.source_object_name.clone(),
            target_object: mapping.target_object_name.clone(),
            flow_types: mapping.flow_types.unwrap_or(ObjectFlowTypes::ALL),
            scope,
            attributes,
            rule_id: rule.id.clone().unwrap_or_default(),
            target_directory: rule.target_directory_name.clone(),
        })
    }

    /// The matching attributes in precedence order.
    pub fn matching(&self) -> Vec<&CompiledAttribute> {
        let mut m: Vec<&CompiledAttribute> = self.attributes.iter().filter(|a| a.matching_priority > 0).collect();
        m.sort_by_key(|a| a.matching_priority);
        m
    }

    /// Whether a mapping reads `IsSoftDeleted`, so that deprovisioning is an update (`active` false) rather than a
    /// delete.
    pub fn has_soft_delete_mapping(&self) -> bool {
        self.attributes
            .iter()
            .any(|a| a.expr.as_ref().is_some_and(|e| e.attributes().contains(&crate::source::IS_SOFT_DELETED)))
    }
}

fn expression(m: &AttributeMapping) -> Result<Option<Expr>, MappingError> {
    let Some(source) = &m.source else { return Ok(None) };
    let fail = |message: String| MappingError::Expression { target: m.target_attribute_name.clone(), message };
    let json = serde_json::to_value(source).map_err(|e| fail(e.to_string()))?;
    let tree: idplane_expr::AttributeMappingSource = serde_json::from_value(json).map_err(|e| fail(e.to_string()))?;
    let expr = match tree.expression.as_deref().filter(|e| !e.trim().is_empty()) {
        Some(text) => Expr::parse(text),
        None => tree.to_expr(),
    };
    expr.map(Some).map_err(|e| fail(e.to_string()))
}

/// A value the target object should have.
#[derive(Debug, Clone, PartialEq)]
pub struct DesiredValue {
    pub value: Value,
    /// Logs show `[Redact]` instead of it.
    pub redact: bool,
}

/// What one source object should look like in the target.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Desired {
    /// By target attribute name, in mapping order's names; values already of the target attribute's type.
    pub values: BTreeMap<String, DesiredValue>,
    /// Reference attributes: the source ids each should point to (empty: none).
    pub references: BTreeMap<String, Vec<String>>,
}

/// Evaluates every mapping that applies (`creating`: the target object does not exist yet, so "only on creation"
/// mappings and default values apply too). A null result flows nothing: Entra does not export nulls.
pub fn evaluate(
    mapping: &CompiledObjectMapping,
    source: &SourceObject,
    env: &mut Environment<'_>,
    creating: bool,
) -> Result<Desired, MappingError> {
    let mut desired = Desired::default();
    let input = |name: &str| source.get(name).cloned().map(idplane_expr::Value::from_json);
    for a in &mapping.attributes {
        if !creating && a.flow_type == AttributeFlowType::ObjectAddOnly {
            continue;
        }
        let evaluated = match &a.expr {
            Some(e) => Some(
                e.evaluate(&input, env)
                    .map_err(|err| MappingError::Evaluation { target: a.target.clone(), message: err.to_string() })?,
            ),
            None => None,
        };
        if evaluated.as_ref().is_some_and(|e| e.ignore_flow) {
            continue;
        }
        let redact = evaluated.as_ref().is_some_and(|e| e.redact);
        let mut value = evaluated.map(|e| e.value.to_json()).unwrap_or(Value::Null);
        if a.reference {
            let ids: Vec<String> = match value {
                Value::String(s) if !s.is_empty() => vec![s],
                Value::Array(items) => items.into_iter().filter_map(|v| v.as_str().map(str::to_owned)).collect(),
                _ => Vec::new(),
            };
            desired.references.insert(a.target.clone(), ids);
            continue;
        }
        if is_empty(&value) {
            match (&a.default_value, creating) {
                (Some(d), true) => value = json!(d),
                _ => continue,
            }
        }
        let value = typed(value, a.attribute_type);
        if !is_empty(&value) {
            desired.values.insert(a.target.clone(), DesiredValue { value, redact });
        }
    }
    Ok(desired)
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

/// A value as the target attribute's type has it: `"True"`/`"False"` for a Boolean become JSON booleans, digits
/// for an Integer a number, anything for a String its text; a multi-valued result keeps its first value for a
/// single-valued target.
pub fn typed(value: Value, attribute_type: AttributeType) -> Value {
    let value = match value {
        Value::Array(mut items) if items.len() == 1 => items.remove(0),
        other => other,
    };
    match (attribute_type, value) {
        (AttributeType::Boolean, Value::String(s)) if s.trim().eq_ignore_ascii_case("true") => json!(true),
        (AttributeType::Boolean, Value::String(s)) if s.trim().eq_ignore_ascii_case("false") => json!(false),
        (AttributeType::Integer, Value::String(s)) => s.trim().parse::<i64>().map_or(Value::String(s), |n| json!(n)),
        (AttributeType::String, Value::Bool(b)) => json!(if b { "True" } else { "False" }),
        (AttributeType::String, Value::Number(n)) => json!(n.to_string()),
        (_, v) => v,
    }
}

/// Whether the target's value equals the desired one: strings exactly (a change of case is a change), booleans and
/// numbers by value whatever their spelling in the target (`"true"`, `"False"`, `1`).
pub fn same(desired: &Value, current: Option<&Value>) -> bool {
    let Some(current) = current else { return false };
    match (desired, current) {
        (Value::Bool(d), Value::String(c)) => c.trim().eq_ignore_ascii_case(if *d { "true" } else { "false" }),
        (Value::Number(d), Value::String(c)) => c.trim() == d.to_string(),
        (Value::String(d), Value::Number(c)) => d.trim() == c.to_string(),
        (d, c) => d == c,
    }
}
