//! The synchronization schema of a provisioning job, as Microsoft Graph's `synchronizationSchema` models it: the
//! directories (what attributes the source and the target have) and the synchronization rules (which source objects
//! become which target objects, through which attribute mappings, for objects in which scope).
//!
//! This module owns the model and its JSON. The types serialize to exactly Graph's JSON: Graph's field names, enum
//! spellings (`"Add, Update, Delete"` flags, `ObjectAddOnly`, `String`), and every property present, `null` where
//! there is no value, as Graph returns a schema. Reading is tolerant where real clients are sloppy: a missing
//! property or a `null` reads as Graph's default, enums are read in any case (Microsoft's own update sample sends
//! `"type":"string"`), numbers are accepted for strings and numeric strings for integers, and an empty
//! `"source":{}` (as in Microsoft's minimal update sample) means no source. Unknown properties are ignored.
//!
//! [`validate`] checks a schema a client PUTs or PATCHes against the template it replaces, and says how omissions
//! are resolved. Attribute mapping sources (`attributeMappingSource`) are kept as Graph's JSON-shaped trees; what an
//! expression means belongs to the expression language, which validation reaches through
//! [`validate::ExpressionChecker`].

pub mod expressions;
pub mod validate;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use crate::scoping::Filter;
use crate::wire::{
    graph_enum, lenient_flags, lenient_i32, lenient_string, lenient_strings, null_default, true_unless_false, yes,
};

pub use validate::{
    ExpressionChecker, ExpressionNames, ExpressionSyntaxError, SchemaIssue, SchemaLocation, SchemaProblem,
};

/// `synchronizationSchema`: the directories and the rules of one job or template.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SynchronizationSchema {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default, deserialize_with = "null_default")]
    pub directories: Vec<DirectoryDefinition>,
    #[serde(default, deserialize_with = "null_default")]
    pub synchronization_rules: Vec<SynchronizationRule>,
    #[serde(default)]
    pub version: Option<String>,
}

impl SynchronizationSchema {
    /// The directory of that name (directory names compare case-insensitively, as Entra's do).
    pub fn directory(&self, name: &str) -> Option<&DirectoryDefinition> {
        self.directories.iter().find(|d| d.name.eq_ignore_ascii_case(name))
    }

    /// The definition of the source objects an object mapping of `rule` reads.
    pub fn source_object(&self, rule: &SynchronizationRule, mapping: &ObjectMapping) -> Option<&ObjectDefinition> {
        self.directory(&rule.source_directory_name)?.object(&mapping.source_object_name)
    }

    /// The definition of the target objects an object mapping of `rule` writes.
    pub fn target_object(&self, rule: &SynchronizationRule, mapping: &ObjectMapping) -> Option<&ObjectDefinition> {
        self.directory(&rule.target_directory_name)?.object(&mapping.target_object_name)
    }
}

/// `directoryDefinition`: the objects of one directory (the source, or the target application).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DirectoryDefinition {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub name: String,
    /// Graph's `directoryDefinitionDiscoverabilities` flags, kept as Graph spells them: nothing here depends on them.
    #[serde(default, deserialize_with = "lenient_flags")]
    pub discoverabilities: Option<String>,
    #[serde(default)]
    pub discovery_date_time: Option<String>,
    #[serde(default, deserialize_with = "null_default")]
    pub objects: Vec<ObjectDefinition>,
    #[serde(default, deserialize_with = "null_default")]
    pub read_only: bool,
    #[serde(default)]
    pub version: Option<String>,
}

impl DirectoryDefinition {
    /// The object of that name (object names compare case-insensitively).
    pub fn object(&self, name: &str) -> Option<&ObjectDefinition> {
        self.objects.iter().find(|o| o.name.eq_ignore_ascii_case(name))
    }
}

/// `objectDefinition`: one kind of object of a directory and its attributes.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectDefinition {
    #[serde(default, deserialize_with = "lenient_string")]
    pub name: String,
    #[serde(default, deserialize_with = "null_default")]
    pub attributes: Vec<AttributeDefinition>,
    #[serde(default, deserialize_with = "null_default")]
    pub metadata: Vec<MetadataEntry>,
    #[serde(default, deserialize_with = "lenient_strings")]
    pub supported_apis: Vec<String>,
}

impl ObjectDefinition {
    /// The attribute of exactly that name: source attribute names are case-sensitive, as in expressions.
    pub fn attribute_exact(&self, name: &str) -> Option<&AttributeDefinition> {
        self.attributes.iter().find(|a| a.name == name)
    }

    /// The attribute of that name in any case: target (SCIM) attribute names are case-insensitive.
    pub fn attribute(&self, name: &str) -> Option<&AttributeDefinition> {
        self.attribute_exact(name).or_else(|| self.attributes.iter().find(|a| a.name.eq_ignore_ascii_case(name)))
    }
}

graph_enum! {
    /// `attributeType`.
    pub enum AttributeType {
        String = "String",
        Integer = "Integer",
        Reference = "Reference",
        Binary = "Binary",
        Boolean = "Boolean",
        DateTime = "DateTime",
    }
    default String;
}

graph_enum! {
    /// `mutability` of an attribute definition.
    pub enum Mutability {
        ReadWrite = "ReadWrite",
        ReadOnly = "ReadOnly",
        Immutable = "Immutable",
        WriteOnly = "WriteOnly",
    }
    default ReadWrite;
}

/// `attributeDefinition`: one attribute of a directory object (the portal's "Edit attribute list" row).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AttributeDefinition {
    #[serde(default, deserialize_with = "lenient_string")]
    pub name: String,
    #[serde(rename = "type", default)]
    pub attribute_type: AttributeType,
    /// The portal's "Primary Key?".
    #[serde(default, deserialize_with = "null_default")]
    pub anchor: bool,
    #[serde(default, deserialize_with = "null_default")]
    pub api_expressions: Vec<StringKeyStringValuePair>,
    #[serde(default, deserialize_with = "null_default")]
    pub case_exact: bool,
    #[serde(default)]
    pub default_value: Option<String>,
    #[serde(default, deserialize_with = "null_default")]
    pub flow_null_values: bool,
    #[serde(default, deserialize_with = "null_default")]
    pub metadata: Vec<MetadataEntry>,
    #[serde(default, deserialize_with = "null_default")]
    pub multivalued: bool,
    #[serde(default)]
    pub mutability: Mutability,
    #[serde(default, deserialize_with = "null_default")]
    pub referenced_objects: Vec<ReferencedObject>,
    #[serde(default, deserialize_with = "null_default")]
    pub required: bool,
}

impl AttributeDefinition {
    /// A single-valued, optional, read-write attribute of that type, as most attributes are.
    pub fn new(name: &str, attribute_type: AttributeType) -> Self {
        AttributeDefinition { name: name.to_owned(), attribute_type, ..AttributeDefinition::default() }
    }

    /// The same attribute, as the object's primary key ("Primary Key?"), which Graph calls its anchor.
    pub fn anchor(mut self) -> Self {
        self.anchor = true;
        self
    }

    /// The same attribute, required in the target ("Required?").
    pub fn required(mut self) -> Self {
        self.required = true;
        self
    }

    /// The same attribute, multi-valued ("Multi-value?").
    pub fn multivalued(mut self) -> Self {
        self.multivalued = true;
        self
    }

    /// The same attribute, with that mutability.
    pub fn mutability(mut self, mutability: Mutability) -> Self {
        self.mutability = mutability;
        self
    }

    /// The same attribute, referencing objects of those names ("Referenced Object Attribute").
    pub fn references(mut self, objects: &[&str]) -> Self {
        self.referenced_objects = objects
            .iter()
            .map(|name| ReferencedObject { referenced_object_name: (*name).to_owned(), referenced_property: None })
            .collect();
        self
    }
}

/// `referencedObject`: what a Reference attribute points at.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReferencedObject {
    #[serde(default, deserialize_with = "lenient_string")]
    pub referenced_object_name: String,
    #[serde(default)]
    pub referenced_property: Option<String>,
}

/// A `{key, value}` metadata entry (object, attribute, rule, object mapping and template metadata all have this
/// shape; some values are themselves JSON-encoded strings, such as `"\"Normal\""`, and are kept as sent).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct MetadataEntry {
    #[serde(default, deserialize_with = "lenient_string")]
    pub key: String,
    #[serde(default, deserialize_with = "lenient_string")]
    pub value: String,
}

impl MetadataEntry {
    pub fn new(key: &str, value: &str) -> Self {
        MetadataEntry { key: key.to_owned(), value: value.to_owned() }
    }
}

/// `stringKeyStringValuePair` (an attribute definition's `apiExpressions`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct StringKeyStringValuePair {
    #[serde(default, deserialize_with = "lenient_string")]
    pub key: String,
    #[serde(default, deserialize_with = "lenient_string")]
    pub value: String,
}

/// `synchronizationRule`: from one source directory to one target directory, through object mappings.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SynchronizationRule {
    /// What `provisionOnDemand` names as `ruleId`.
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub name: String,
    #[serde(default, deserialize_with = "null_default")]
    pub editable: bool,
    #[serde(default, deserialize_with = "lenient_i32")]
    pub priority: i32,
    #[serde(default, deserialize_with = "lenient_string")]
    pub source_directory_name: String,
    #[serde(default, deserialize_with = "lenient_string")]
    pub target_directory_name: String,
    #[serde(default)]
    pub container_filter: Option<ContainerFilter>,
    #[serde(default)]
    pub group_filter: Option<GroupFilter>,
    #[serde(default, deserialize_with = "null_default")]
    pub metadata: Vec<MetadataEntry>,
    #[serde(default, deserialize_with = "null_default")]
    pub object_mappings: Vec<ObjectMapping>,
}

impl SynchronizationRule {
    /// How errors name the rule: its name, else its id, else its directories.
    pub fn label(&self) -> String {
        if !self.name.is_empty() {
            self.name.clone()
        } else if let Some(id) = self.id.as_deref().filter(|id| !id.is_empty()) {
            id.to_owned()
        } else {
            format!("{} to {}", self.source_directory_name, self.target_directory_name)
        }
    }
}

/// `containerFilter` (on-premises Active Directory sources only; kept as sent).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerFilter {
    #[serde(default, deserialize_with = "lenient_strings")]
    pub included_containers: Vec<String>,
}

/// `groupFilter` (on-premises Active Directory sources only; kept as sent).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupFilter {
    #[serde(default, deserialize_with = "lenient_strings")]
    pub included_groups: Vec<String>,
}

/// `objectMapping`: which source objects become which target objects, and how their attributes flow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectMapping {
    #[serde(default, deserialize_with = "lenient_string")]
    pub name: String,
    #[serde(default = "yes", deserialize_with = "true_unless_false")]
    pub enabled: bool,
    /// The portal's "Target Object Actions". `None` only between reading a client's schema and resolving it against
    /// its template ([`validate::resolve`]): msgraph-sdk drops this property when it writes a schema back.
    #[serde(default)]
    pub flow_types: Option<ObjectFlowTypes>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub source_object_name: String,
    #[serde(default, deserialize_with = "lenient_string")]
    pub target_object_name: String,
    /// The scoping filter; `None` admits every object.
    #[serde(default)]
    pub scope: Option<Filter>,
    #[serde(default, deserialize_with = "null_default")]
    pub metadata: Vec<MetadataEntry>,
    #[serde(default, deserialize_with = "null_default")]
    pub attribute_mappings: Vec<AttributeMapping>,
}

impl ObjectMapping {
    /// How errors name the object mapping: its name, else its objects.
    pub fn label(&self) -> String {
        if self.name.is_empty() {
            format!("{} to {}", self.source_object_name, self.target_object_name)
        } else {
            self.name.clone()
        }
    }

    /// The mappings used to match objects, in precedence order (lowest positive `matchingPriority` first).
    pub fn matching_mappings(&self) -> Vec<&AttributeMapping> {
        let mut matching: Vec<&AttributeMapping> =
            self.attribute_mappings.iter().filter(|m| m.matching_priority > 0).collect();
        matching.sort_by_key(|m| m.matching_priority);
        matching
    }
}

/// `objectFlowTypes`, a flags enum that Graph writes as `"Add, Update, Delete"` (or `"None"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ObjectFlowTypes {
    pub add: bool,
    pub update: bool,
    pub delete: bool,
}

impl ObjectFlowTypes {
    pub const ALL: ObjectFlowTypes = ObjectFlowTypes { add: true, update: true, delete: true };
    pub const NONE: ObjectFlowTypes = ObjectFlowTypes { add: false, update: false, delete: false };

    /// Reads Graph's flags: names separated by commas (or spaces), in any case; `None` or nothing is no flag.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut flows = ObjectFlowTypes::NONE;
        for flag in text.split([',', ' ', '|']).map(str::trim).filter(|f| !f.is_empty()) {
            flows.set(flag)?;
        }
        Ok(flows)
    }

    fn set(&mut self, flag: &str) -> Result<(), String> {
        match flag.to_ascii_lowercase().as_str() {
            "add" => self.add = true,
            "update" => self.update = true,
            "delete" => self.delete = true,
            "none" => {}
            _ => return Err(format!("unknown flow type '{flag}': use Add, Update, Delete or None")),
        }
        Ok(())
    }
}

impl std::fmt::Display for ObjectFlowTypes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = [(self.add, "Add"), (self.update, "Update"), (self.delete, "Delete")]
            .into_iter()
            .filter_map(|(on, name)| on.then_some(name))
            .collect();
        if names.is_empty() { f.write_str("None") } else { f.write_str(&names.join(", ")) }
    }
}

impl Serialize for ObjectFlowTypes {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ObjectFlowTypes {
    /// Graph's string, or a list of flag names (how msgraph-sdk models the flags once it has read them).
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = match Value::deserialize(deserializer)? {
            Value::String(text) => text,
            Value::Array(items) => items
                .iter()
                .map(|item| item.as_str().map(str::to_owned).ok_or_else(|| format!("{item} is not a flow type name")))
                .collect::<Result<Vec<_>, _>>()
                .map_err(serde::de::Error::custom)?
                .join(","),
            other => {
                return Err(serde::de::Error::custom(format!(
                    "expected flow types such as \"Add, Update\", found {other}"
                )));
            }
        };
        ObjectFlowTypes::parse(&text).map_err(serde::de::Error::custom)
    }
}

graph_enum! {
    /// `attributeFlowType`: when a mapping applies (the portal's "Apply this mapping").
    pub enum AttributeFlowType {
        Always = "Always",
        /// "Only during object creation".
        ObjectAddOnly = "ObjectAddOnly",
        MultiValueAddOnly = "MultiValueAddOnly",
        ValueAddOnly = "ValueAddOnly",
        AttributeAddOnly = "AttributeAddOnly",
    }
    default Always;
}

graph_enum! {
    /// `attributeFlowBehavior`.
    pub enum AttributeFlowBehavior {
        FlowWhenChanged = "FlowWhenChanged",
        FlowAlways = "FlowAlways",
    }
    default FlowWhenChanged;
}

/// `attributeMapping`: how one target attribute gets its value.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AttributeMapping {
    #[serde(default, deserialize_with = "lenient_string")]
    pub target_attribute_name: String,
    /// `None` with a `defaultValue` is the portal's "None" mapping: the default fills an empty target.
    #[serde(default, deserialize_with = "optional_source")]
    pub source: Option<AttributeMappingSource>,
    /// Used when the source is null, on creation only.
    #[serde(default)]
    pub default_value: Option<String>,
    #[serde(default, deserialize_with = "null_default")]
    pub export_missing_references: bool,
    #[serde(default)]
    pub flow_behavior: AttributeFlowBehavior,
    #[serde(default)]
    pub flow_type: AttributeFlowType,
    /// 0: not used for matching; otherwise the matching precedence, lowest first.
    #[serde(default, deserialize_with = "lenient_i32")]
    pub matching_priority: i32,
}

impl AttributeMapping {
    /// A direct mapping from a source attribute.
    pub fn direct(target: &str, source_attribute: &str) -> Self {
        AttributeMapping {
            target_attribute_name: target.to_owned(),
            source: Some(AttributeMappingSource::attribute(source_attribute)),
            ..AttributeMapping::default()
        }
    }

    /// A mapping whose source is an expression, kept as its text: the expression language builds the tree.
    pub fn expression(target: &str, function: &str, expression: &str) -> Self {
        AttributeMapping {
            target_attribute_name: target.to_owned(),
            source: Some(AttributeMappingSource {
                source_type: AttributeMappingSourceType::Function,
                name: Some(function.to_owned()),
                expression: Some(expression.to_owned()),
                parameters: Vec::new(),
            }),
            ..AttributeMapping::default()
        }
    }

    /// The same mapping used for matching, with that precedence.
    pub fn matching(mut self, priority: i32) -> Self {
        self.matching_priority = priority;
        self
    }

    /// The same mapping applied only when the target object is created.
    pub fn on_creation_only(mut self) -> Self {
        self.flow_type = AttributeFlowType::ObjectAddOnly;
        self
    }
}

graph_enum! {
    /// `attributeMappingSourceType`.
    pub enum AttributeMappingSourceType {
        Attribute = "Attribute",
        Constant = "Constant",
        Function = "Function",
    }
    default Attribute;
}

/// `attributeMappingSource`: a direct attribute, a constant or a function call, as Graph's tree. `expression` is
/// the text of the whole subtree; what it means is the expression language's business.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AttributeMappingSource {
    #[serde(rename = "type")]
    pub source_type: AttributeMappingSourceType,
    pub name: Option<String>,
    pub expression: Option<String>,
    pub parameters: Vec<MappingParameter>,
}

impl AttributeMappingSource {
    /// `[name]`.
    pub fn attribute(name: &str) -> Self {
        AttributeMappingSource {
            source_type: AttributeMappingSourceType::Attribute,
            name: Some(name.to_owned()),
            expression: Some(format!("[{name}]")),
            parameters: Vec::new(),
        }
    }
}

/// `stringKeyAttributeMappingSourceValuePair`: one argument of a function, keyed by the parameter's name.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct MappingParameter {
    pub key: String,
    pub value: Option<AttributeMappingSource>,
}

/// The JSON of a source as clients send it: everything optional.
#[derive(Deserialize)]
struct RawSource {
    #[serde(rename = "type", default)]
    source_type: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    expression: Option<String>,
    #[serde(default, deserialize_with = "null_default")]
    parameters: Vec<RawParameter>,
}

#[derive(Deserialize)]
struct RawParameter {
    #[serde(default, deserialize_with = "lenient_string")]
    key: String,
    #[serde(default, deserialize_with = "optional_source")]
    value: Option<AttributeMappingSource>,
}

impl<'de> Deserialize<'de> for AttributeMappingSource {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = RawSource::deserialize(deserializer)?;
        let parameters: Vec<MappingParameter> =
            raw.parameters.into_iter().map(|p| MappingParameter { key: p.key, value: p.value }).collect();
        let source_type = match raw.source_type.as_deref() {
            Some(text) => AttributeMappingSourceType::parse(text).ok_or_else(|| {
                serde::de::Error::custom(format!("unknown source type '{text}': use Attribute, Constant or Function"))
            })?,
            // Without a type, arguments can only belong to a function call.
            None if !parameters.is_empty() => AttributeMappingSourceType::Function,
            None => AttributeMappingSourceType::Attribute,
        };
        Ok(AttributeMappingSource { source_type, name: raw.name, expression: raw.expression, parameters })
    }
}

/// A source that is `null`, or an object with no type, name, expression or parameters (`"source":{}` in
/// Microsoft's minimal update sample), is no source.
fn optional_source<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<AttributeMappingSource>, D::Error> {
    let value = Value::deserialize(deserializer)?;
    let empty = match &value {
        Value::Null => true,
        Value::Object(fields) => fields.iter().all(|(key, v)| {
            key.starts_with('@')
                || v.is_null()
                || v.as_str().is_some_and(str::is_empty)
                || v.as_array().is_some_and(Vec::is_empty)
        }),
        _ => false,
    };
    if empty {
        return Ok(None);
    }
    AttributeMappingSource::deserialize(value).map(Some).map_err(serde::de::Error::custom)
}
