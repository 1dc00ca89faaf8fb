//! A schema a client PUTs or PATCHes to a job (a full replacement): what its omissions mean, given the template
//! it replaces ([`resolve`]), and whether it is valid ([`validate`]); [`prepare_update`] does both.
//!
//! Omissions. A property the client leaves out, or sends as `null`, takes Graph's default: `false` for flags
//! except an object mapping's `enabled` (`true`), an empty list, no value for optional properties, `Always`,
//! `FlowWhenChanged`, `String` and `ReadWrite` for the enums, 0 (not matching) for `matchingPriority`. The
//! exceptions, all resolved against the template (the schema of the job's synchronization template):
//! - an object mapping without `flowTypes` keeps its template counterpart's value (msgraph-sdk drops the flags
//!   when it writes back a schema it read), or `Add, Update, Delete` when the template has no counterpart;
//! - a rule without `id` keeps its template counterpart's id (`provisionOnDemand` names rules by id);
//! - a directory the rules need that the client did not send, or sent without objects (Microsoft's minimal
//!   update sample sends `{"name":"Salesforce"}`), is the template's;
//! - a schema without rules takes the template's rules (sending `{"directories":[],"synchronizationRules":[]}`
//!   restores the defaults).
//!
//! Counterparts: a rule matches the template's rule with the same id, else with the same source and target
//! directories, else with the same name; an object mapping matches the one with the same source and target
//! objects, else with the same name (names compare case-insensitively).
//!
//! Validation reports every problem at once, each naming where it is (rule, object mapping, target attribute,
//! scoping clause) and what to fix. Source attribute names are case-sensitive, as in expressions; target
//! attribute, object and directory names are not. Expressions are checked through [`ExpressionChecker`], which
//! the expression language implements.

use std::collections::HashMap;
use std::fmt;

use super::{
    AttributeDefinition, AttributeMapping, AttributeMappingSource, AttributeMappingSourceType, AttributeType,
    DirectoryDefinition, ObjectDefinition, ObjectFlowTypes, ObjectMapping, SynchronizationRule, SynchronizationSchema,
};
use crate::error::Error;
use crate::scoping::{ClauseLocation, ScopeProblem, validate_filter};

/// The longest expression Entra accepts, in characters.
pub const MAX_EXPRESSION_LENGTH: usize = 10_000;

/// What schema validation needs of the expression language.
pub trait ExpressionChecker {
    /// Parses an expression: the attributes and functions it names, or where and why it does not parse.
    fn check(&self, expression: &str) -> Result<ExpressionNames, ExpressionSyntaxError>;

    /// Whether the language has a function of exactly that name (function names are case-sensitive).
    fn knows_function(&self, name: &str) -> bool;
}

/// The names an expression uses.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExpressionNames {
    pub attributes: Vec<String>,
    pub functions: Vec<String>,
}

/// Why an expression does not parse: the position (in characters, from 0) and what is wrong there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpressionSyntaxError {
    pub position: usize,
    pub message: String,
}

/// Where in a schema a problem is. Absent parts do not apply.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SchemaLocation {
    pub rule: Option<String>,
    pub object_mapping: Option<String>,
    pub target_attribute: Option<String>,
    pub clause: Option<ClauseLocation>,
}

impl fmt::Display for SchemaLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if let Some(rule) = &self.rule {
            parts.push(format!("rule '{rule}'"));
        }
        if let Some(mapping) = &self.object_mapping {
            parts.push(format!("object mapping '{mapping}'"));
        }
        if let Some(target) = &self.target_attribute {
            parts.push(format!("target attribute '{target}'"));
        }
        if let Some(clause) = &self.clause {
            parts.push(clause.to_string());
        }
        if parts.is_empty() { f.write_str("schema") } else { f.write_str(&parts.join(", ")) }
    }
}

/// What is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SchemaProblem {
    UnknownDirectory { name: String },
    UnknownObject { directory: String, object: String },
    UsersMappingDisabled,
    NoMatchingAttribute,
    MissingTargetAttribute,
    MapsToId,
    UnknownTargetAttribute { name: String },
    DuplicateTargetAttribute { name: String },
    MissingSourceAttribute,
    UnknownSourceAttribute { name: String, suggestion: Option<String> },
    UnknownFunction { name: String },
    ExpressionTooLong { length: usize },
    ExpressionSyntax { expression: String, position: usize, message: String },
    NegativeMatchingPriority { priority: i32 },
    CannotMatch { reason: &'static str },
    DuplicateMatchingPriority { priority: i32, other: String },
    Scope(ScopeProblem),
}

impl fmt::Display for SchemaProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SchemaProblem::UnknownDirectory { name } => {
                write!(f, "no directory '{name}' in the schema: add its definition to directories or name one there")
            }
            SchemaProblem::UnknownObject { directory, object } => {
                write!(f, "directory '{directory}' defines no object '{object}'")
            }
            SchemaProblem::UsersMappingDisabled => {
                f.write_str("the users mapping cannot be disabled (Entra does not allow it): set enabled to true")
            }
            SchemaProblem::NoMatchingAttribute => f.write_str(
                "no attribute mapping is used for matching: give at least one a matchingPriority of 1 or more",
            ),
            SchemaProblem::MissingTargetAttribute => {
                f.write_str("targetAttributeName is empty: name a target attribute")
            }
            SchemaProblem::MapsToId => f.write_str(
                "'id' is the target's own identifier and cannot be mapped: map another attribute (externalId, for one)",
            ),
            SchemaProblem::UnknownTargetAttribute { name } => {
                write!(f, "the target object has no attribute '{name}': add it to the target directory or fix the name")
            }
            SchemaProblem::DuplicateTargetAttribute { name } => {
                write!(f, "'{name}' is mapped more than once in this object mapping: keep one mapping")
            }
            SchemaProblem::MissingSourceAttribute => {
                f.write_str("the source is an attribute without a name: name a source attribute")
            }
            SchemaProblem::UnknownSourceAttribute { name, suggestion: Some(s) } => {
                write!(f, "the source object has no attribute '{name}' (names are case-sensitive): did you mean '{s}'?")
            }
            SchemaProblem::UnknownSourceAttribute { name, suggestion: None } => {
                write!(f, "the source object has no attribute '{name}'")
            }
            SchemaProblem::UnknownFunction { name } if name.is_empty() => {
                f.write_str("a function call has no name: name the function")
            }
            SchemaProblem::UnknownFunction { name } => {
                write!(f, "no function '{name}' in the expression language (function names are case-sensitive)")
            }
            SchemaProblem::ExpressionTooLong { length } => {
                write!(f, "the expression has {length} characters; the limit is {MAX_EXPRESSION_LENGTH}")
            }
            SchemaProblem::ExpressionSyntax { expression, position, message } => {
                write!(f, "the expression '{expression}' does not parse at character {position}: {message}")
            }
            SchemaProblem::NegativeMatchingPriority { priority } => {
                write!(f, "matchingPriority {priority} is negative: use 0 (not matching) or 1 and up")
            }
            SchemaProblem::CannotMatch { reason } => {
                write!(f, "this mapping cannot be used for matching ({reason}): set its matchingPriority to 0")
            }
            SchemaProblem::DuplicateMatchingPriority { priority, other } => {
                write!(f, "matchingPriority {priority} is also that of '{other}': give each matching mapping its own")
            }
            SchemaProblem::Scope(problem) => problem.fmt(f),
        }
    }
}

/// One problem of a schema, and where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaIssue {
    pub location: SchemaLocation,
    pub problem: SchemaProblem,
}

impl fmt::Display for SchemaIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.location, self.problem)
    }
}

/// Resolves a client's schema against the template it replaces, then validates it: the schema to store, or
/// [`Error::InvalidSchema`] with every problem.
pub fn prepare_update(
    submitted: SynchronizationSchema,
    template: &SynchronizationSchema,
    expressions: &dyn ExpressionChecker,
) -> Result<SynchronizationSchema, Error> {
    let schema = resolve(submitted, template);
    validate(&schema, expressions).map_err(|issues| Error::InvalidSchema { issues })?;
    Ok(schema)
}

/// What a client's schema means once its omissions are resolved against the template (see the module docs).
pub fn resolve(mut schema: SynchronizationSchema, template: &SynchronizationSchema) -> SynchronizationSchema {
    if schema.synchronization_rules.is_empty() {
        schema.synchronization_rules = template.synchronization_rules.clone();
    }
    for rule in &mut schema.synchronization_rules {
        let counterpart = template_rule(template, rule);
        if rule.id.as_deref().is_none_or(str::is_empty) {
            rule.id = counterpart.and_then(|c| c.id.clone());
        }
        for mapping in &mut rule.object_mappings {
            if mapping.flow_types.is_none() {
                let flows = counterpart.and_then(|c| template_mapping(c, mapping)).and_then(|m| m.flow_types);
                mapping.flow_types = Some(flows.unwrap_or(ObjectFlowTypes::ALL));
            }
        }
    }
    for name in needed_directories(&schema) {
        let Some(fallback) = template.directory(&name) else { continue };
        match schema.directories.iter_mut().find(|d| d.name.eq_ignore_ascii_case(&name)) {
            Some(sent) if sent.objects.is_empty() => *sent = fallback.clone(),
            Some(_) => {}
            None => schema.directories.push(fallback.clone()),
        }
    }
    schema
}

fn needed_directories(schema: &SynchronizationSchema) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for rule in &schema.synchronization_rules {
        for name in [&rule.source_directory_name, &rule.target_directory_name] {
            if !names.iter().any(|n| n.eq_ignore_ascii_case(name)) {
                names.push(name.clone());
            }
        }
    }
    names
}

fn template_rule<'t>(
    template: &'t SynchronizationSchema,
    rule: &SynchronizationRule,
) -> Option<&'t SynchronizationRule> {
    let rules = &template.synchronization_rules;
    let same_id = |t: &&SynchronizationRule| rule.id.is_some() && t.id == rule.id;
    let same_directories = |t: &&SynchronizationRule| {
        t.source_directory_name.eq_ignore_ascii_case(&rule.source_directory_name)
            && t.target_directory_name.eq_ignore_ascii_case(&rule.target_directory_name)
    };
    let same_name = |t: &&SynchronizationRule| !rule.name.is_empty() && t.name.eq_ignore_ascii_case(&rule.name);
    rules.iter().find(same_id).or_else(|| rules.iter().find(same_directories)).or_else(|| rules.iter().find(same_name))
}

fn template_mapping<'t>(rule: &'t SynchronizationRule, mapping: &ObjectMapping) -> Option<&'t ObjectMapping> {
    let mappings = &rule.object_mappings;
    let same_objects = |t: &&ObjectMapping| {
        t.source_object_name.eq_ignore_ascii_case(&mapping.source_object_name)
            && t.target_object_name.eq_ignore_ascii_case(&mapping.target_object_name)
    };
    let same_name = |t: &&ObjectMapping| !mapping.name.is_empty() && t.name.eq_ignore_ascii_case(&mapping.name);
    mappings.iter().find(same_objects).or_else(|| mappings.iter().find(same_name))
}

/// Every problem of a (resolved) schema, or `Ok` when it has none.
pub fn validate(schema: &SynchronizationSchema, expressions: &dyn ExpressionChecker) -> Result<(), Vec<SchemaIssue>> {
    let mut validator = Validator { expressions, issues: Vec::new() };
    for rule in &schema.synchronization_rules {
        validator.rule(schema, rule);
    }
    if validator.issues.is_empty() { Ok(()) } else { Err(validator.issues) }
}

struct Validator<'a> {
    expressions: &'a dyn ExpressionChecker,
    issues: Vec<SchemaIssue>,
}

/// The objects one object mapping reads and writes, where the schema defines them.
struct Objects<'s> {
    source: Option<&'s ObjectDefinition>,
    target: Option<&'s ObjectDefinition>,
}

impl Validator<'_> {
    fn report(&mut self, location: &SchemaLocation, problem: SchemaProblem) {
        self.issues.push(SchemaIssue { location: location.clone(), problem });
    }

    fn rule(&mut self, schema: &SynchronizationSchema, rule: &SynchronizationRule) {
        let at_rule = SchemaLocation { rule: Some(rule.label()), ..SchemaLocation::default() };
        let source_directory = self.directory(schema, &rule.source_directory_name, &at_rule);
        let target_directory = self.directory(schema, &rule.target_directory_name, &at_rule);
        for mapping in &rule.object_mappings {
            let at_mapping = SchemaLocation { object_mapping: Some(mapping.label()), ..at_rule.clone() };
            let objects = Objects {
                source: self.object(source_directory, &mapping.source_object_name, &at_mapping),
                target: self.object(target_directory, &mapping.target_object_name, &at_mapping),
            };
            self.object_mapping(mapping, &objects, &at_mapping);
        }
    }

    fn directory<'s>(
        &mut self,
        schema: &'s SynchronizationSchema,
        name: &str,
        at: &SchemaLocation,
    ) -> Option<&'s DirectoryDefinition> {
        let directory = schema.directory(name);
        if directory.is_none() {
            self.report(at, SchemaProblem::UnknownDirectory { name: name.to_owned() });
        }
        directory
    }

    fn object<'s>(
        &mut self,
        directory: Option<&'s DirectoryDefinition>,
        name: &str,
        at: &SchemaLocation,
    ) -> Option<&'s ObjectDefinition> {
        // An unknown directory was reported already; its objects are not reported again.
        let directory = directory?;
        let object = directory.object(name);
        if object.is_none() {
            let problem = SchemaProblem::UnknownObject { directory: directory.name.clone(), object: name.to_owned() };
            self.report(at, problem);
        }
        object
    }

    fn object_mapping(&mut self, mapping: &ObjectMapping, objects: &Objects<'_>, at: &SchemaLocation) {
        if !mapping.enabled && mapping.source_object_name.eq_ignore_ascii_case("User") {
            self.report(at, SchemaProblem::UsersMappingDisabled);
        }
        if mapping.enabled && mapping.attribute_mappings.iter().all(|m| m.matching_priority <= 0) {
            self.report(at, SchemaProblem::NoMatchingAttribute);
        }
        if let Some(scope) = &mapping.scope {
            for issue in validate_filter(scope, objects.source) {
                let location = SchemaLocation { clause: Some(issue.location), ..at.clone() };
                self.report(&location, SchemaProblem::Scope(issue.problem));
            }
        }
        let mut targets_seen: Vec<&str> = Vec::new();
        let mut priorities: HashMap<i32, &str> = HashMap::new();
        for attribute_mapping in &mapping.attribute_mappings {
            let target = attribute_mapping.target_attribute_name.as_str();
            let at_attribute = SchemaLocation { target_attribute: Some(target.to_owned()), ..at.clone() };
            if targets_seen.iter().any(|seen| seen.eq_ignore_ascii_case(target)) {
                self.report(&at_attribute, SchemaProblem::DuplicateTargetAttribute { name: target.to_owned() });
            }
            targets_seen.push(target);
            let priority = attribute_mapping.matching_priority;
            if priority > 0 {
                match priorities.get(&priority) {
                    Some(other) => {
                        let other = (*other).to_owned();
                        self.report(&at_attribute, SchemaProblem::DuplicateMatchingPriority { priority, other });
                    }
                    None => {
                        priorities.insert(priority, target);
                    }
                }
            }
            self.attribute_mapping(attribute_mapping, objects, &at_attribute);
        }
    }

    fn attribute_mapping(&mut self, mapping: &AttributeMapping, objects: &Objects<'_>, at: &SchemaLocation) {
        let target = self.target_attribute(&mapping.target_attribute_name, objects.target, at);
        if let Some(source) = &mapping.source {
            self.source(source, objects.source, at);
        }
        let priority = mapping.matching_priority;
        if priority < 0 {
            self.report(at, SchemaProblem::NegativeMatchingPriority { priority });
        } else if priority > 0
            && let Some(reason) = cannot_match(mapping, target)
        {
            self.report(at, SchemaProblem::CannotMatch { reason });
        }
    }

    fn target_attribute<'s>(
        &mut self,
        name: &str,
        target: Option<&'s ObjectDefinition>,
        at: &SchemaLocation,
    ) -> Option<&'s AttributeDefinition> {
        if name.trim().is_empty() {
            self.report(at, SchemaProblem::MissingTargetAttribute);
            return None;
        }
        if name.eq_ignore_ascii_case("id") {
            self.report(at, SchemaProblem::MapsToId);
            return None;
        }
        let definition = target?.attribute(name);
        if definition.is_none() {
            self.report(at, SchemaProblem::UnknownTargetAttribute { name: name.to_owned() });
        }
        definition
    }

    fn source(&mut self, source: &AttributeMappingSource, object: Option<&ObjectDefinition>, at: &SchemaLocation) {
        let name = source.name.as_deref().filter(|n| !n.trim().is_empty());
        let expression = source.expression.as_deref().filter(|e| !e.trim().is_empty());
        if let Some(expression) = expression
            && expression.chars().count() > MAX_EXPRESSION_LENGTH
        {
            self.report(at, SchemaProblem::ExpressionTooLong { length: expression.chars().count() });
            return;
        }
        match (source.source_type, name, expression) {
            (AttributeMappingSourceType::Constant, _, _) => {}
            (AttributeMappingSourceType::Attribute, Some(name), _) => self.source_attribute(name, object, at),
            // The expression text, where there is one, is what Graph itself re-parses; the tree is derived from it.
            (_, _, Some(expression)) => self.expression(expression, object, at),
            (AttributeMappingSourceType::Attribute, None, None) => {
                self.report(at, SchemaProblem::MissingSourceAttribute)
            }
            (AttributeMappingSourceType::Function, name, None) => {
                let name = name.unwrap_or_default();
                if !self.expressions.knows_function(name) {
                    self.report(at, SchemaProblem::UnknownFunction { name: name.to_owned() });
                }
                for argument in source.parameters.iter().filter_map(|p| p.value.as_ref()) {
                    self.source(argument, object, at);
                }
            }
        }
    }

    fn expression(&mut self, expression: &str, object: Option<&ObjectDefinition>, at: &SchemaLocation) {
        match self.expressions.check(expression) {
            Err(e) => {
                let problem = SchemaProblem::ExpressionSyntax {
                    expression: expression.to_owned(),
                    position: e.position,
                    message: e.message,
                };
                self.report(at, problem);
            }
            Ok(names) => {
                for function in &names.functions {
                    if !self.expressions.knows_function(function) {
                        self.report(at, SchemaProblem::UnknownFunction { name: function.clone() });
                    }
                }
                for attribute in &names.attributes {
                    self.source_attribute(attribute, object, at);
                }
            }
        }
    }

    fn source_attribute(&mut self, name: &str, object: Option<&ObjectDefinition>, at: &SchemaLocation) {
        // An unknown source object was reported already; its attributes cannot be checked.
        let Some(object) = object else { return };
        if object.attribute_exact(name).is_none() {
            let suggestion = object.attribute(name).map(|a| a.name.clone());
            self.report(at, SchemaProblem::UnknownSourceAttribute { name: name.to_owned(), suggestion });
        }
    }
}

/// Why a mapping cannot be used to find the target object, if it cannot.
fn cannot_match(mapping: &AttributeMapping, target: Option<&AttributeDefinition>) -> Option<&'static str> {
    match &mapping.source {
        None => return Some("it has no source to look the object up by"),
        Some(source) if source.source_type == AttributeMappingSourceType::Constant => {
            return Some("its source is a constant, the same for every object");
        }
        Some(_) => {}
    }
    let target = target?;
    if target.attribute_type == AttributeType::Reference {
        Some("its target attribute is a reference")
    } else if target.multivalued {
        Some("its target attribute is multi-valued")
    } else {
        None
    }
}
