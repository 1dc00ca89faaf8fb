//! What the mapping pages compute without the API: a mapping's type and how it reads in the table, the Edit
//! Attribute form and the mapping it makes, the parsed expression as an indented tree, where a parse error points,
//! and the scoping filters' operator names as the portal writes them.

use idplane_provisioning::schema::{
    AttributeFlowType, AttributeMapping, AttributeMappingSource, AttributeMappingSourceType, ObjectMapping,
    SynchronizationSchema,
};
use serde::Deserialize;
use serde_json::Value;

/// The Edit Attribute dialog's "Mapping type".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MappingType {
    Direct,
    Constant,
    Expression,
    None,
}

impl MappingType {
    pub const ALL: [MappingType; 4] =
        [MappingType::Direct, MappingType::Constant, MappingType::Expression, MappingType::None];

    pub fn of(mapping: &AttributeMapping) -> MappingType {
        match mapping.source.as_ref().map(|s| s.source_type) {
            None => MappingType::None,
            Some(AttributeMappingSourceType::Attribute) => MappingType::Direct,
            Some(AttributeMappingSourceType::Constant) => MappingType::Constant,
            Some(AttributeMappingSourceType::Function) => MappingType::Expression,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            MappingType::Direct => "Direct",
            MappingType::Constant => "Constant",
            MappingType::Expression => "Expression",
            MappingType::None => "None",
        }
    }

    pub fn parse(text: &str) -> Option<MappingType> {
        MappingType::ALL.into_iter().find(|t| t.label().eq_ignore_ascii_case(text.trim()))
    }
}

/// How a source reads in the table and in the Expression field: its expression text, else what it names.
pub fn source_text(source: &AttributeMappingSource) -> String {
    if let Some(e) = source.expression.as_deref().filter(|e| !e.trim().is_empty()) {
        return e.to_string();
    }
    let name = source.name.clone().unwrap_or_default();
    match source.source_type {
        AttributeMappingSourceType::Attribute => format!("[{name}]"),
        AttributeMappingSourceType::Constant => format!("\"{}\"", name.replace('"', "\\\"")),
        AttributeMappingSourceType::Function => format!("{name}(…)"),
    }
}

/// "Apply this mapping" as the portal words it.
pub fn apply_label(flow: AttributeFlowType) -> &'static str {
    match flow {
        AttributeFlowType::Always => "Always",
        AttributeFlowType::ObjectAddOnly => "Only during object creation",
        AttributeFlowType::MultiValueAddOnly => "Only when adding values",
        AttributeFlowType::ValueAddOnly => "Only when the target has no value",
        AttributeFlowType::AttributeAddOnly => "Only when the target attribute is added",
    }
}

/// One row of the Attribute Mapping page's table.
#[derive(Debug, Clone)]
pub struct Row {
    pub index: usize,
    pub target: String,
    /// The target, percent-encoded for a query.
    pub target_query: String,
    pub mapping_type: &'static str,
    /// The source attribute, constant or expression (empty for None).
    pub source: String,
    pub default_value: String,
    /// The matching precedence, when the mapping matches objects.
    pub precedence: Option<i32>,
    pub apply: &'static str,
}

impl Row {
    pub fn of(index: usize, m: &AttributeMapping) -> Row {
        Row {
            index,
            target: m.target_attribute_name.clone(),
            target_query: crate::session::urlencode(&m.target_attribute_name),
            mapping_type: MappingType::of(m).label(),
            source: m.source.as_ref().map(source_text).unwrap_or_default(),
            default_value: m.default_value.clone().unwrap_or_default(),
            precedence: (m.matching_priority > 0).then_some(m.matching_priority),
            apply: apply_label(m.flow_type),
        }
    }
}

/// The Edit Attribute form, as posted and as shown again (with the user's input) after an error.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct MappingForm {
    pub mapping_type: String,
    pub source_attribute: String,
    pub constant: String,
    pub expression: String,
    pub default_value: String,
    pub target: String,
    /// "Match objects using this attribute": `Yes` or `No`.
    pub matching: String,
    pub precedence: String,
    /// "Apply this mapping": an `attributeFlowType`.
    pub apply: String,
    /// The target attribute of the mapping being edited; empty for a new one.
    pub original: String,
    /// The schema's version the form was made from.
    pub version: String,
    /// The sample user (user principal name or id) expressions are tried on; empty: the first one.
    pub sample: String,
}

/// A problem with one field of a form: the field's name and what to fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: &'static str,
    pub message: String,
}

fn field_error(field: &'static str, message: impl Into<String>) -> FieldError {
    FieldError { field, message: message.into() }
}

impl MappingForm {
    /// The form of an existing mapping.
    pub fn of(m: &AttributeMapping, version: &str) -> MappingForm {
        let kind = MappingType::of(m);
        let source = m.source.as_ref();
        MappingForm {
            mapping_type: kind.label().to_string(),
            source_attribute: match kind {
                MappingType::Direct => source.and_then(|s| s.name.clone()).unwrap_or_default(),
                _ => String::new(),
            },
            constant: match kind {
                MappingType::Constant => source.and_then(|s| s.name.clone()).unwrap_or_default(),
                _ => String::new(),
            },
            expression: match kind {
                MappingType::Expression => source.map(source_text).unwrap_or_default(),
                _ => String::new(),
            },
            default_value: m.default_value.clone().unwrap_or_default(),
            target: m.target_attribute_name.clone(),
            matching: if m.matching_priority > 0 { "Yes" } else { "No" }.to_string(),
            precedence: if m.matching_priority > 0 { m.matching_priority.to_string() } else { String::new() },
            apply: m.flow_type.as_str().to_string(),
            original: m.target_attribute_name.clone(),
            version: version.to_string(),
            sample: String::new(),
        }
    }

    /// The form of a new mapping.
    pub fn blank(version: &str) -> MappingForm {
        MappingForm {
            mapping_type: MappingType::Direct.label().to_string(),
            matching: "No".to_string(),
            apply: AttributeFlowType::Always.as_str().to_string(),
            version: version.to_string(),
            ..MappingForm::default()
        }
    }

    pub fn kind(&self) -> MappingType {
        MappingType::parse(&self.mapping_type).unwrap_or(MappingType::Direct)
    }

    /// The mapping the form describes, over `base` (the mapping edited: what the form does not show is kept), or
    /// every field that needs fixing.
    pub fn to_mapping(&self, base: Option<&AttributeMapping>) -> Result<AttributeMapping, Vec<FieldError>> {
        let mut errors = Vec::new();
        let mut m = base.cloned().unwrap_or_default();
        let target = self.target.trim();
        if target.is_empty() {
            errors.push(field_error("target", "Choose the target attribute this mapping sets."));
        }
        m.target_attribute_name = target.to_string();
        let default_value = self.default_value.trim();
        m.default_value = (!default_value.is_empty()).then(|| default_value.to_string());
        let kind = match MappingType::parse(&self.mapping_type) {
            Some(k) => k,
            None => {
                errors.push(field_error("mapping_type", "Choose Direct, Constant, Expression or None."));
                MappingType::Direct
            }
        };
        m.source = match kind {
            MappingType::Direct => {
                let name = self.source_attribute.trim();
                if name.is_empty() {
                    errors.push(field_error("source_attribute", "Choose the source attribute to copy."));
                }
                Some(AttributeMappingSource {
                    source_type: AttributeMappingSourceType::Attribute,
                    name: Some(name.to_string()),
                    expression: None,
                    parameters: Vec::new(),
                })
            }
            MappingType::Constant => {
                if self.constant.is_empty() {
                    errors.push(field_error("constant", "Type the constant value the target attribute gets."));
                }
                Some(AttributeMappingSource {
                    source_type: AttributeMappingSourceType::Constant,
                    name: Some(self.constant.clone()),
                    expression: None,
                    parameters: Vec::new(),
                })
            }
            MappingType::Expression => {
                let text = self.expression.trim();
                if text.is_empty() {
                    errors.push(field_error(
                        "expression",
                        "Write the expression, e.g. Join(\" \", [givenName], [surname]).",
                    ));
                }
                Some(AttributeMappingSource {
                    source_type: AttributeMappingSourceType::Function,
                    name: None,
                    expression: Some(text.to_string()),
                    parameters: Vec::new(),
                })
            }
            MappingType::None => {
                if m.default_value.is_none() {
                    errors.push(field_error(
                        "default_value",
                        "A mapping of type None sets the default value: type one, or choose another mapping type.",
                    ));
                }
                None
            }
        };
        m.matching_priority = if self.matching.eq_ignore_ascii_case("yes") {
            match self.precedence.trim().parse::<i32>() {
                Ok(n) if n >= 1 => n,
                _ => {
                    errors.push(field_error(
                        "precedence",
                        "Matching precedence is a whole number from 1 (the first attribute objects are matched on).",
                    ));
                    0
                }
            }
        } else {
            0
        };
        match AttributeFlowType::parse(self.apply.trim()) {
            Some(flow) => m.flow_type = flow,
            None => errors.push(field_error(
                "apply",
                "Choose when to apply this mapping: Always or Only during object creation.",
            )),
        }
        if errors.is_empty() { Ok(m) } else { Err(errors) }
    }
}

/// The object mappings of a schema in order (rule by rule): the pages' `{objectMappingId}` is the index here.
pub fn object_mappings(schema: &SynchronizationSchema) -> Vec<&ObjectMapping> {
    schema.synchronization_rules.iter().flat_map(|r| r.object_mappings.iter()).collect()
}

pub fn object_mapping_mut(schema: &mut SynchronizationSchema, index: usize) -> Option<&mut ObjectMapping> {
    schema.synchronization_rules.iter_mut().flat_map(|r| r.object_mappings.iter_mut()).nth(index)
}

/// The attribute names of one object of one directory of the schema (source or target of an object mapping).
pub fn attribute_names(schema: &SynchronizationSchema, index: usize, source: bool) -> Vec<String> {
    let Some((rule, mapping)) =
        schema.synchronization_rules.iter().flat_map(|r| r.object_mappings.iter().map(move |m| (r, m))).nth(index)
    else {
        return Vec::new();
    };
    let (directory, object) = if source {
        (&rule.source_directory_name, &mapping.source_object_name)
    } else {
        (&rule.target_directory_name, &mapping.target_object_name)
    };
    schema
        .directories
        .iter()
        .filter(|d| d.name.eq_ignore_ascii_case(directory))
        .flat_map(|d| &d.objects)
        .filter(|o| o.name.eq_ignore_ascii_case(object))
        .flat_map(|o| &o.attributes)
        .map(|a| a.name.clone())
        .collect()
}

/// A parsed expression (`parseExpression`'s `parsedExpression`) as an indented tree, one node a line: a function
/// with its arguments below it, keyed by parameter name.
pub fn tree_text(node: &Value) -> String {
    let mut out = String::new();
    tree_node(node, None, 0, &mut out);
    out.truncate(out.trim_end().len());
    out
}

fn tree_node(node: &Value, key: Option<&str>, depth: usize, out: &mut String) {
    let indent = "  ".repeat(depth);
    let key = key.map(|k| format!("{k}: ")).unwrap_or_default();
    let name = node["name"].as_str().unwrap_or("");
    let line = match node["type"].as_str().unwrap_or("") {
        "Attribute" => format!("[{name}] (attribute)"),
        "Constant" => format!("\"{name}\" (constant)"),
        "Function" => format!("{name}(…) (function)"),
        other => format!("{} ({other})", node["expression"].as_str().unwrap_or(name)),
    };
    out.push_str(&format!("{indent}{key}{line}\n"));
    for p in node["parameters"].as_array().into_iter().flatten() {
        tree_node(&p["value"], p["key"].as_str(), depth + 1, out);
    }
}

/// The character (from 1) a parse error points at, when its message says ("at character 12: ...").
pub fn error_position(message: &str) -> Option<usize> {
    let rest = &message[message.find("at character ")? + "at character ".len()..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok().filter(|n| *n >= 1)
}

/// A line with a caret under the `position`th character (from 1) of the expression.
pub fn caret(expression: &str, position: usize) -> String {
    let before = expression.chars().take(position.saturating_sub(1)).count();
    format!("{}^", " ".repeat(before))
}

/// A function of `GET .../schema/functions` as a signature: `Join(separator, source…)`, optional parameters in
/// brackets, those that may repeat with an ellipsis.
pub fn signature(function: &Value) -> String {
    let parameters: Vec<String> = function["parameters"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            let name = p["name"].as_str().unwrap_or("?");
            let name = if p["allowMultipleOccurrences"].as_bool() == Some(true) {
                format!("{name}…")
            } else {
                name.to_string()
            };
            if p["required"].as_bool() == Some(false) { format!("[{name}]") } else { name }
        })
        .collect();
    format!("{}({})", function["name"].as_str().unwrap_or("?"), parameters.join(", "))
}

/// A filter operator as the portal writes it: `IS_NOT_NULL` is "IS NOT NULL".
pub fn operator_label(name: &str) -> String {
    name.replace('_', " ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_mapping_reads_as_its_type_and_source() {
        let direct = AttributeMapping::direct("userName", "userPrincipalName").matching(1);
        let row = Row::of(0, &direct);
        assert_eq!((row.mapping_type, row.source.as_str(), row.precedence), ("Direct", "[userPrincipalName]", Some(1)));
        let expr = AttributeMapping::expression("displayName", "Join", "Join(\" \", [givenName], [surname])");
        assert_eq!(Row::of(1, &expr).mapping_type, "Expression");
        assert_eq!(Row::of(1, &expr).source, "Join(\" \", [givenName], [surname])");
        let none = AttributeMapping {
            target_attribute_name: "x".into(),
            default_value: Some("d".into()),
            ..Default::default()
        };
        assert_eq!((Row::of(2, &none).mapping_type, Row::of(2, &none).source.as_str()), ("None", ""));
        assert_eq!(Row::of(0, &direct.on_creation_only()).apply, "Only during object creation");
    }

    #[test]
    fn the_form_of_a_mapping_makes_the_same_mapping_again() {
        let m = AttributeMapping::direct("userName", "userPrincipalName").matching(2).on_creation_only();
        let form = MappingForm::of(&m, "3");
        assert_eq!(form.matching, "Yes");
        assert_eq!(form.precedence, "2");
        assert_eq!(form.apply, "ObjectAddOnly");
        let again = form.to_mapping(Some(&m)).unwrap();
        assert_eq!(again.source.as_ref().unwrap().name.as_deref(), Some("userPrincipalName"));
        assert_eq!(again.matching_priority, 2);
        assert_eq!(again.flow_type, AttributeFlowType::ObjectAddOnly);
    }

    #[test]
    fn an_expression_form_sends_the_text_and_a_constant_its_value() {
        let form = MappingForm {
            mapping_type: "Expression".into(),
            expression: " Append([mail], \"x\") ".into(),
            target: "displayName".into(),
            ..MappingForm::blank("1")
        };
        let m = form.to_mapping(None).unwrap();
        let source = m.source.unwrap();
        assert_eq!(source.source_type, AttributeMappingSourceType::Function);
        assert_eq!(source.expression.as_deref(), Some("Append([mail], \"x\")"));
        let form = MappingForm {
            mapping_type: "Constant".into(),
            constant: "a \"b\"".into(),
            target: "t".into(),
            ..MappingForm::blank("1")
        };
        let source = form.to_mapping(None).unwrap().source.unwrap();
        assert_eq!(
            (source.source_type, source.name.as_deref()),
            (AttributeMappingSourceType::Constant, Some("a \"b\""))
        );
    }

    #[test]
    fn a_form_says_every_field_to_fix() {
        let form = MappingForm {
            mapping_type: "None".into(),
            matching: "Yes".into(),
            precedence: "0".into(),
            apply: "Sometimes".into(),
            ..MappingForm::default()
        };
        let fields: Vec<&str> = form.to_mapping(None).unwrap_err().iter().map(|e| e.field).collect();
        assert_eq!(fields, ["target", "default_value", "precedence", "apply"]);
        let form = MappingForm { mapping_type: "Direct".into(), target: "t".into(), ..MappingForm::blank("1") };
        assert_eq!(form.to_mapping(None).unwrap_err()[0].field, "source_attribute");
    }

    #[test]
    fn a_parsed_expression_reads_as_a_tree() {
        let tree = json!({"expression": "Replace([preferredLanguage], \"-\", , , \"_\", , )", "name": "Replace",
            "type": "Function", "parameters": [
                {"key": "source", "value": {"name": "preferredLanguage", "type": "Attribute", "parameters": []}},
                {"key": "Find", "value": {"name": "-", "type": "Constant", "parameters": []}}]});
        assert_eq!(
            tree_text(&tree),
            "Replace(…) (function)\n  source: [preferredLanguage] (attribute)\n  Find: \"-\" (constant)"
        );
    }

    #[test]
    fn a_parse_error_points_at_its_character() {
        assert_eq!(error_position("at character 7: expected ')', found end"), Some(7));
        assert_eq!(error_position("unknown function `Foo`"), None);
        assert_eq!(caret("Join(\"é\", [a]", 4), "   ^");
        assert_eq!(operator_label("IS_NOT_NULL"), "IS NOT NULL");
    }

    #[test]
    fn a_function_reads_as_its_signature() {
        let join = json!({"name": "Join", "parameters": [
            {"name": "separator", "required": true, "allowMultipleOccurrences": false, "type": "String"},
            {"name": "source", "required": true, "allowMultipleOccurrences": true, "type": "String"},
            {"name": "suffix", "required": false, "allowMultipleOccurrences": false, "type": "String"}]});
        assert_eq!(signature(&join), "Join(separator, source…, [suffix])");
        assert_eq!(signature(&json!({"name": "DefaultDomain", "parameters": []})), "DefaultDomain()");
    }
}
