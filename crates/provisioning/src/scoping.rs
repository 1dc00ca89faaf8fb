//! Scoping filters: which source objects an object mapping provisions, on top of assignment.
//!
//! This module owns Graph's `filter` JSON (`{groups, inputFilterGroups, categoryFilterGroups}`, each a list of
//! `filterGroup {name, clauses}` with `filterClause {operatorName, sourceOperandName, targetOperand {values}}`),
//! the operator catalogue behind `GET .../schema/filterOperators`, and the evaluation of a filter against a
//! [`SourceObject`], with an explanation of the outcome (the on-demand log's `ScopeEvaluationResult`).
//!
//! Semantics, as Microsoft documents them (define-conditional-rules-for-provisioning-user-accounts.md):
//! - the clauses of a group are AND-ed, the groups of a list are OR-ed, and an empty list admits every object;
//! - `groups` decide scope (leaving it deprovisions); `inputFilterGroups` (drop an object early, without
//!   deprovisioning) and `categoryFilterGroups` are evaluated the same way and reported apart, so that the engine
//!   can tell the cases apart; an object is in scope when every list admits it;
//! - a clause on an attribute that is null or empty is false, whatever the operator, except `IS NULL` (true);
//! - `EQUALS`, `NOT EQUALS`, `Includes`, `ENDS_WITH`, `&`, `!&` and the regex operators compare case-sensitively;
//!   `&` is true when the attribute's value occurs in the clause's value ("the evaluated attribute exists in the
//!   input string value"), `Includes` when the clause's value occurs in the attribute's value;
//! - `Greater_Than` and `Greater_Than_OR_EQUALS` compare integers: the clause's value must be one (a validation
//!   error otherwise), and an attribute value that is not an integer fails the clause;
//! - `IS TRUE` and `IS FALSE` read a boolean, or the strings `true`/`false` in any case.
//!
//! Where the documentation is silent, this module decides, and says so here:
//! - a clause with several values: a positive operator holds when any value satisfies it; a negated operator
//!   (`NOT EQUALS`, `!&`, `NOT REGEX MATCH`) when no value satisfies its positive form;
//! - a multi-valued attribute (Microsoft: "filtering is not supported for multi-valued attributes"): every value
//!   must satisfy the clause (`multivaluedComparisonType: All`, the documented default and what Microsoft's
//!   `filterOperators` sample shows for `EQUALS`);
//! - regexes use .NET's `Regex.IsMatch` semantics, the engine Entra runs on: a match anywhere in the value (write
//!   `^...$` for a whole-value match). They are compiled once per filter by the `regex` crate (linear time, no
//!   look-around or back-references: a pattern using them is a validation error), with bounded size.
//!
//! Operator names are read case- and separator-insensitively (`IS NULL`, `IS_NULL`, `IsNull`); the catalogue
//! spells them in upper snake case (`IS_NULL`, `GREATER_THAN_OR_EQUALS`, and `&`, `!&`), as Graph's only sample
//! (`EQUALS`) suggests.

use std::fmt;

use regex::{Regex, RegexBuilder};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::Error;
use crate::schema::{AttributeType, ObjectDefinition};
use crate::source::SourceObject;
use crate::wire::{graph_enum, lenient_string, lenient_strings, null_default};

/// The longest regex pattern a clause may carry, in bytes.
pub const MAX_PATTERN_LENGTH: usize = 1_000;

/// What a compiled regex may occupy (the `regex` crate's size limits), so that no filter can claim much memory.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// Graph's `filter`: the scoping filter of an object mapping.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Filter {
    #[serde(default, deserialize_with = "null_default")]
    pub groups: Vec<FilterGroup>,
    #[serde(default, deserialize_with = "null_default")]
    pub input_filter_groups: Vec<FilterGroup>,
    #[serde(default, deserialize_with = "null_default")]
    pub category_filter_groups: Vec<FilterGroup>,
}

impl Filter {
    /// Whether the filter has no group at all (and so admits every object).
    pub fn is_empty(&self) -> bool {
        self.groups.is_empty() && self.input_filter_groups.is_empty() && self.category_filter_groups.is_empty()
    }

    fn lists(&self) -> [(FilterList, &[FilterGroup]); 3] {
        [
            (FilterList::Groups, &self.groups),
            (FilterList::InputFilterGroups, &self.input_filter_groups),
            (FilterList::CategoryFilterGroups, &self.category_filter_groups),
        ]
    }
}

/// `filterGroup`: clauses that must all hold.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct FilterGroup {
    #[serde(default, deserialize_with = "lenient_string")]
    pub name: String,
    #[serde(default, deserialize_with = "null_default")]
    pub clauses: Vec<FilterClause>,
}

/// `filterClause`: one condition on one source attribute.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FilterClause {
    #[serde(default, deserialize_with = "lenient_string")]
    pub operator_name: String,
    #[serde(default, deserialize_with = "lenient_string")]
    pub source_operand_name: String,
    #[serde(default, deserialize_with = "null_default")]
    pub target_operand: FilterOperand,
}

impl FilterClause {
    pub fn new(operator_name: &str, source_operand_name: &str, values: &[&str]) -> Self {
        FilterClause {
            operator_name: operator_name.to_owned(),
            source_operand_name: source_operand_name.to_owned(),
            target_operand: FilterOperand { values: values.iter().map(|v| (*v).to_owned()).collect() },
        }
    }
}

/// `filterOperand`: the values a clause compares with.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct FilterOperand {
    #[serde(default, deserialize_with = "lenient_strings")]
    pub values: Vec<String>,
}

graph_enum! {
    /// `scopeOperatorType`.
    pub enum Arity {
        Binary = "Binary",
        Unary = "Unary",
    }
    default Binary;
}

graph_enum! {
    /// `scopeOperatorMultiValuedComparisonType`.
    pub enum MultivaluedComparisonType {
        All = "All",
        Any = "Any",
    }
    default All;
}

/// `filterOperatorSchema`: one entry of `GET .../schema/filterOperators`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FilterOperatorSchema {
    pub name: String,
    pub arity: Arity,
    pub multivalued_comparison_type: MultivaluedComparisonType,
    pub supported_attribute_types: Vec<AttributeType>,
}

/// The operators of Entra's scoping filters (the portal's list, in its order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operator {
    /// `&`: the attribute's value occurs in the clause's value.
    ContainedIn,
    /// `!&`: the attribute's value does not occur in the clause's value.
    NotContainedIn,
    EndsWith,
    Equals,
    GreaterThan,
    GreaterThanOrEquals,
    /// The clause's value occurs in the attribute's value (`String.Contains`).
    Includes,
    IsFalse,
    IsNotNull,
    IsNull,
    IsTrue,
    NotEquals,
    NotRegexMatch,
    RegexMatch,
}

const STRINGS: &[AttributeType] = &[AttributeType::String];
const TEXT: &[AttributeType] = &[AttributeType::String, AttributeType::Integer];
const BOOLEANS: &[AttributeType] = &[AttributeType::Boolean, AttributeType::String];
const ANY_TYPE: &[AttributeType] = &[
    AttributeType::String,
    AttributeType::Integer,
    AttributeType::Boolean,
    AttributeType::DateTime,
    AttributeType::Reference,
    AttributeType::Binary,
];

impl Operator {
    pub const ALL: [Operator; 14] = [
        Operator::ContainedIn,
        Operator::NotContainedIn,
        Operator::EndsWith,
        Operator::Equals,
        Operator::GreaterThan,
        Operator::GreaterThanOrEquals,
        Operator::Includes,
        Operator::IsFalse,
        Operator::IsNotNull,
        Operator::IsNull,
        Operator::IsTrue,
        Operator::NotEquals,
        Operator::NotRegexMatch,
        Operator::RegexMatch,
    ];

    /// The name the catalogue gives it.
    pub fn name(self) -> &'static str {
        match self {
            Operator::ContainedIn => "&",
            Operator::NotContainedIn => "!&",
            Operator::EndsWith => "ENDS_WITH",
            Operator::Equals => "EQUALS",
            Operator::GreaterThan => "GREATER_THAN",
            Operator::GreaterThanOrEquals => "GREATER_THAN_OR_EQUALS",
            Operator::Includes => "INCLUDES",
            Operator::IsFalse => "IS_FALSE",
            Operator::IsNotNull => "IS_NOT_NULL",
            Operator::IsNull => "IS_NULL",
            Operator::IsTrue => "IS_TRUE",
            Operator::NotEquals => "NOT_EQUALS",
            Operator::NotRegexMatch => "NOT_REGEX_MATCH",
            Operator::RegexMatch => "REGEX_MATCH",
        }
    }

    /// Reads an operator name in any case, with or without spaces, underscores or hyphens between its words.
    pub fn parse(name: &str) -> Option<Operator> {
        let key = normalize(name);
        Operator::ALL.into_iter().find(|op| normalize(op.name()) == key)
    }

    pub fn arity(self) -> Arity {
        match self {
            Operator::IsFalse | Operator::IsTrue | Operator::IsNull | Operator::IsNotNull => Arity::Unary,
            _ => Arity::Binary,
        }
    }

    /// The attribute types a clause with this operator may test.
    pub fn supported_attribute_types(self) -> &'static [AttributeType] {
        match self {
            Operator::ContainedIn | Operator::NotContainedIn | Operator::EndsWith | Operator::Includes => STRINGS,
            Operator::Equals
            | Operator::NotEquals
            | Operator::RegexMatch
            | Operator::NotRegexMatch
            | Operator::GreaterThan
            | Operator::GreaterThanOrEquals => TEXT,
            Operator::IsTrue | Operator::IsFalse => BOOLEANS,
            Operator::IsNull | Operator::IsNotNull => ANY_TYPE,
        }
    }

    /// Its entry in the catalogue.
    pub fn schema(self) -> FilterOperatorSchema {
        FilterOperatorSchema {
            name: self.name().to_owned(),
            arity: self.arity(),
            multivalued_comparison_type: MultivaluedComparisonType::All,
            supported_attribute_types: self.supported_attribute_types().to_vec(),
        }
    }

    fn negated(self) -> bool {
        matches!(self, Operator::NotContainedIn | Operator::NotEquals | Operator::NotRegexMatch)
    }
}

impl fmt::Display for Operator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

fn normalize(name: &str) -> String {
    name.chars().filter(|c| !matches!(c, ' ' | '_' | '-')).flat_map(char::to_uppercase).collect()
}

/// The body of `GET .../schema/filterOperators` (its `value`).
pub fn filter_operators() -> Vec<FilterOperatorSchema> {
    Operator::ALL.into_iter().map(Operator::schema).collect()
}

/// Which list of a filter a group belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FilterList {
    Groups,
    InputFilterGroups,
    CategoryFilterGroups,
}

impl FilterList {
    pub fn as_str(self) -> &'static str {
        match self {
            FilterList::Groups => "groups",
            FilterList::InputFilterGroups => "inputFilterGroups",
            FilterList::CategoryFilterGroups => "categoryFilterGroups",
        }
    }
}

/// Where in a filter a problem is: the list, the group (its name, or its position when it has none), the clause
/// (counted from 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClauseLocation {
    pub list: FilterList,
    pub group: String,
    pub clause: usize,
}

impl fmt::Display for ClauseLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "scoping filter '{}' ({}), clause {}", self.group, self.list.as_str(), self.clause)
    }
}

/// What is wrong with a clause.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScopeProblem {
    UnknownOperator { name: String },
    MissingSourceAttribute,
    UnknownSourceAttribute { name: String, suggestion: Option<String> },
    UnsupportedAttributeType { operator: Operator, attribute: String, attribute_type: AttributeType },
    MissingValue { operator: Operator },
    NotAnInteger { operator: Operator, value: String },
    InvalidRegex { pattern: String, message: String },
}

impl fmt::Display for ScopeProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScopeProblem::UnknownOperator { name } => {
                let known: Vec<&str> = Operator::ALL.iter().map(|op| op.name()).collect();
                write!(f, "unknown operator '{name}': use one of {}", known.join(", "))
            }
            ScopeProblem::MissingSourceAttribute => f.write_str("sourceOperandName is empty: name a source attribute"),
            ScopeProblem::UnknownSourceAttribute { name, suggestion: Some(s) } => {
                write!(f, "the source object has no attribute '{name}' (names are case-sensitive): did you mean '{s}'?")
            }
            ScopeProblem::UnknownSourceAttribute { name, suggestion: None } => {
                write!(f, "the source object has no attribute '{name}': name one of its attributes")
            }
            ScopeProblem::UnsupportedAttributeType { operator, attribute, attribute_type } => {
                let types: Vec<&str> = operator.supported_attribute_types().iter().map(|t| t.as_str()).collect();
                write!(
                    f,
                    "{operator} cannot test '{attribute}', a {attribute_type} attribute: it tests {} attributes",
                    types.join(" or ")
                )
            }
            ScopeProblem::MissingValue { operator } => {
                write!(f, "{operator} compares with a value: give targetOperand.values at least one")
            }
            ScopeProblem::NotAnInteger { operator, value } => {
                write!(f, "{operator} compares integers: '{value}' is not one")
            }
            ScopeProblem::InvalidRegex { pattern, message } => {
                write!(f, "'{pattern}' is not a valid regular expression: {message}")
            }
        }
    }
}

/// A problem of a scoping filter, and where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeIssue {
    pub location: ClauseLocation,
    pub problem: ScopeProblem,
}

impl fmt::Display for ScopeIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.location, self.problem)
    }
}

/// Checks a filter against the source object it scopes (its attributes and their types, when known): every
/// problem, with where it is. An empty list means the filter compiles and names only known attributes.
pub fn validate_filter(filter: &Filter, source: Option<&ObjectDefinition>) -> Vec<ScopeIssue> {
    compile_filter(filter, source).1
}

/// Compiles every clause it can, and lists the problems of the others.
fn compile_filter(filter: &Filter, source: Option<&ObjectDefinition>) -> (CompiledFilter, Vec<ScopeIssue>) {
    let mut issues = Vec::new();
    let [groups, input, category] =
        filter.lists().map(|(list, groups)| compile_list(list, groups, source, &mut issues));
    (CompiledFilter { groups, input_filter_groups: input, category_filter_groups: category }, issues)
}

fn compile_list(
    list: FilterList,
    groups: &[FilterGroup],
    source: Option<&ObjectDefinition>,
    issues: &mut Vec<ScopeIssue>,
) -> Vec<CompiledGroup> {
    let mut compiled = Vec::with_capacity(groups.len());
    for (g, group) in groups.iter().enumerate() {
        let name = group_label(group, g);
        let mut clauses = Vec::with_capacity(group.clauses.len());
        for (c, clause) in group.clauses.iter().enumerate() {
            let problems = match CompiledClause::compile(clause) {
                Ok(clause) => {
                    let problems = source.map(|s| clause.check_attribute(s)).unwrap_or_default();
                    clauses.push(clause);
                    problems
                }
                Err(problems) => problems,
            };
            let location = ClauseLocation { list, group: name.clone(), clause: c + 1 };
            issues.extend(problems.into_iter().map(|problem| ScopeIssue { location: location.clone(), problem }));
        }
        compiled.push(CompiledGroup { name, clauses });
    }
    compiled
}

fn group_label(group: &FilterGroup, index: usize) -> String {
    if group.name.is_empty() { format!("#{}", index + 1) } else { group.name.clone() }
}

/// A filter ready to evaluate: operators resolved, integers parsed and regexes compiled, once.
#[derive(Debug, Clone)]
pub struct CompiledFilter {
    groups: Vec<CompiledGroup>,
    input_filter_groups: Vec<CompiledGroup>,
    category_filter_groups: Vec<CompiledGroup>,
}

#[derive(Debug, Clone)]
struct CompiledGroup {
    name: String,
    clauses: Vec<CompiledClause>,
}

#[derive(Debug, Clone)]
struct CompiledClause {
    operator: Operator,
    attribute: String,
    values: Vec<String>,
    test: Test,
}

/// The clause's values in the form its operator compares.
#[derive(Debug, Clone)]
enum Test {
    None,
    Text,
    Integers(Vec<i64>),
    Regexes(Vec<Regex>),
}

impl CompiledFilter {
    /// Compiles a filter; a filter with problems is [`Error::InvalidFilter`], with every problem and where it is.
    pub fn compile(filter: &Filter) -> Result<CompiledFilter, Error> {
        let (compiled, issues) = compile_filter(filter, None);
        if issues.is_empty() { Ok(compiled) } else { Err(Error::InvalidFilter { issues }) }
    }

    /// Evaluates the filter for one object, with the reasons.
    pub fn evaluate(&self, object: &SourceObject) -> ScopeEvaluation {
        let groups = evaluate_list(&self.groups, object);
        let input_filter_groups = evaluate_list(&self.input_filter_groups, object);
        let category_filter_groups = evaluate_list(&self.category_filter_groups, object);
        ScopeEvaluation {
            in_scope: groups.admits && input_filter_groups.admits && category_filter_groups.admits,
            groups,
            input_filter_groups,
            category_filter_groups,
        }
    }
}

fn evaluate_list(groups: &[CompiledGroup], object: &SourceObject) -> ListEvaluation {
    let evaluated: Vec<GroupEvaluation> = groups.iter().map(|g| g.evaluate(object)).collect();
    let matched_group = evaluated.iter().find(|g| g.passed).map(|g| g.name.clone());
    ListEvaluation { admits: groups.is_empty() || matched_group.is_some(), matched_group, groups: evaluated }
}

impl CompiledGroup {
    fn evaluate(&self, object: &SourceObject) -> GroupEvaluation {
        // Every clause is evaluated, not only up to the first that fails, so that the explanation is complete.
        let clauses: Vec<ClauseEvaluation> = self.clauses.iter().map(|c| c.evaluate(object)).collect();
        GroupEvaluation { name: self.name.clone(), passed: clauses.iter().all(|c| c.passed), clauses }
    }
}

impl CompiledClause {
    fn compile(clause: &FilterClause) -> Result<CompiledClause, Vec<ScopeProblem>> {
        let Some(operator) = Operator::parse(&clause.operator_name) else {
            return Err(vec![ScopeProblem::UnknownOperator { name: clause.operator_name.clone() }]);
        };
        let mut problems = Vec::new();
        if clause.source_operand_name.trim().is_empty() {
            problems.push(ScopeProblem::MissingSourceAttribute);
        }
        let values = clause.target_operand.values.clone();
        if operator.arity() == Arity::Binary && values.is_empty() {
            problems.push(ScopeProblem::MissingValue { operator });
        }
        let test = match operator {
            Operator::IsTrue | Operator::IsFalse | Operator::IsNull | Operator::IsNotNull => Test::None,
            Operator::GreaterThan | Operator::GreaterThanOrEquals => {
                let mut integers = Vec::new();
                for value in &values {
                    match parse_integer(value) {
                        Some(n) => integers.push(n),
                        None => problems.push(ScopeProblem::NotAnInteger { operator, value: value.clone() }),
                    }
                }
                Test::Integers(integers)
            }
            Operator::RegexMatch | Operator::NotRegexMatch => {
                let mut regexes = Vec::new();
                for pattern in &values {
                    match compile_regex(pattern) {
                        Ok(regex) => regexes.push(regex),
                        Err(message) => problems.push(ScopeProblem::InvalidRegex { pattern: pattern.clone(), message }),
                    }
                }
                Test::Regexes(regexes)
            }
            _ => Test::Text,
        };
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(CompiledClause { operator, attribute: clause.source_operand_name.trim().to_owned(), values, test })
    }

    fn check_attribute(&self, source: &ObjectDefinition) -> Vec<ScopeProblem> {
        match source.attribute_exact(&self.attribute) {
            Some(definition) if !self.operator.supported_attribute_types().contains(&definition.attribute_type) => {
                vec![ScopeProblem::UnsupportedAttributeType {
                    operator: self.operator,
                    attribute: self.attribute.clone(),
                    attribute_type: definition.attribute_type,
                }]
            }
            Some(_) => Vec::new(),
            None => vec![ScopeProblem::UnknownSourceAttribute {
                name: self.attribute.clone(),
                suggestion: source.attribute(&self.attribute).map(|a| a.name.clone()),
            }],
        }
    }

    fn evaluate(&self, object: &SourceObject) -> ClauseEvaluation {
        let actual = object.get(&self.attribute).cloned().unwrap_or(Value::Null);
        let texts = value_texts(&actual);
        let (passed, reason) = if texts.is_empty() {
            let passed = self.operator == Operator::IsNull;
            (passed, format!("'{}' is null or empty", self.attribute))
        } else {
            // Every value of a multi-valued attribute must satisfy the clause (multivaluedComparisonType All).
            match texts.iter().find_map(|text| self.fails(text)) {
                Some(reason) => (false, reason),
                None => (true, format!("{} satisfies {}", describe(&texts), self.describe())),
            }
        };
        ClauseEvaluation {
            operator: self.operator.name().to_owned(),
            source_attribute: self.attribute.clone(),
            values: self.values.clone(),
            actual,
            passed,
            reason,
        }
    }

    /// Why one (non-empty) value fails the clause, or `None` when it satisfies it.
    fn fails(&self, text: &str) -> Option<String> {
        let holds = match &self.test {
            Test::None => match self.operator {
                Operator::IsNull => false,
                Operator::IsNotNull => true,
                Operator::IsTrue | Operator::IsFalse => match parse_boolean(text) {
                    Some(b) => b == (self.operator == Operator::IsTrue),
                    None => return Some(format!("'{text}' is not a boolean")),
                },
                _ => false,
            },
            Test::Integers(bounds) => match parse_integer(text) {
                Some(n) => bounds.iter().any(|&b| if self.operator == Operator::GreaterThan { n > b } else { n >= b }),
                None => return Some(format!("'{text}' is not an integer")),
            },
            Test::Regexes(regexes) => regexes.iter().any(|r| r.is_match(text)) != self.operator.negated(),
            Test::Text => {
                let positive = self.values.iter().any(|v| match self.operator {
                    Operator::ContainedIn | Operator::NotContainedIn => v.contains(text),
                    Operator::EndsWith => text.ends_with(v.as_str()),
                    Operator::Includes => text.contains(v.as_str()),
                    _ => text == v,
                });
                positive != self.operator.negated()
            }
        };
        (!holds).then(|| format!("'{text}' does not satisfy {}", self.describe()))
    }

    fn describe(&self) -> String {
        if self.operator.arity() == Arity::Unary {
            self.operator.name().to_owned()
        } else {
            format!("{} {}", self.operator.name(), describe(&self.values))
        }
    }
}

fn describe(values: &[String]) -> String {
    match values {
        [one] => format!("'{one}'"),
        many => format!("[{}]", many.iter().map(|v| format!("'{v}'")).collect::<Vec<_>>().join(", ")),
    }
}

/// The non-empty values of an attribute as text: one for a single value, each element of a multi-valued one.
fn value_texts(value: &Value) -> Vec<String> {
    let text = |v: &Value| match v {
        Value::Null => None,
        Value::String(s) if s.is_empty() => None,
        Value::String(s) => Some(s.clone()),
        Value::Bool(true) => Some("True".to_owned()),
        Value::Bool(false) => Some("False".to_owned()),
        other => Some(other.to_string()),
    };
    match value {
        Value::Array(items) => items.iter().filter_map(text).collect(),
        single => text(single).into_iter().collect(),
    }
}

fn parse_integer(text: &str) -> Option<i64> {
    text.trim().parse().ok()
}

fn parse_boolean(text: &str) -> Option<bool> {
    let text = text.trim();
    if text.eq_ignore_ascii_case("true") {
        Some(true)
    } else if text.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

fn compile_regex(pattern: &str) -> Result<Regex, String> {
    if pattern.len() > MAX_PATTERN_LENGTH {
        return Err(format!("it is {} bytes long; the limit is {MAX_PATTERN_LENGTH}", pattern.len()));
    }
    RegexBuilder::new(pattern)
        .size_limit(REGEX_SIZE_LIMIT)
        .dfa_size_limit(REGEX_SIZE_LIMIT)
        .build()
        .map_err(|e| e.to_string())
}

/// The outcome of a filter for one object, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ScopeEvaluation {
    /// Every list admits the object.
    pub in_scope: bool,
    pub groups: ListEvaluation,
    pub input_filter_groups: ListEvaluation,
    pub category_filter_groups: ListEvaluation,
}

impl ScopeEvaluation {
    /// The on-demand log's `ScopeEvaluationResult` detail: `{}` when no filter was set, as Entra shows it, else
    /// this evaluation as JSON.
    pub fn scope_evaluation_result(&self) -> String {
        let none = [&self.groups, &self.input_filter_groups, &self.category_filter_groups]
            .iter()
            .all(|list| list.groups.is_empty());
        if none { "{}".to_owned() } else { serde_json::to_string(self).unwrap_or_else(|_| "{}".to_owned()) }
    }
}

/// One list of groups: whether it admits the object, which group did, and each group's outcome.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ListEvaluation {
    pub admits: bool,
    pub matched_group: Option<String>,
    pub groups: Vec<GroupEvaluation>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupEvaluation {
    pub name: String,
    pub passed: bool,
    pub clauses: Vec<ClauseEvaluation>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClauseEvaluation {
    pub operator: String,
    pub source_attribute: String,
    pub values: Vec<String>,
    /// The attribute's value (`null` when it has none).
    pub actual: Value,
    pub passed: bool,
    pub reason: String,
}
