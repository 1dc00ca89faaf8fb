//! The function catalogue: every function of the language with its parameters as Microsoft names them, which
//! parameter each argument slot of a call stands for, and the canonical slot layout trees are printed in. Serialised,
//! a [`Function`] is Graph's `attributeMappingFunctionSchema`
//! (`{"name":"Append","parameters":[{"allowMultipleOccurrences":false,"name":"source","required":true,"type":"String"}, ...]}`),
//! the data behind `GET .../synchronization/jobs/{id}/schema/functions`.
//!
//! Parameter names are Graph's where its `functions` listing shows them (`Replace`'s `Find`, `RegularExpression`,
//! ..., `Switch`'s `switchValue`, `Mid`'s `start`), otherwise the function reference's; the reference's other
//! spellings (`oldValue`, `regexPattern`, ...) are accepted as aliases when reading trees.

use serde::Serialize;

use crate::ast::Expr;
use crate::error::ExprError;

/// A parameter's type, as Graph's `attributeType` names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ParameterType {
    String,
    Integer,
    Reference,
    Binary,
    Boolean,
    DateTime,
}

/// One parameter of a function (Graph's `attributeMappingParameterSchema`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Parameter {
    /// The parameter may be given several times (`Join`'s sources); only a function's last parameter may.
    #[serde(rename = "allowMultipleOccurrences")]
    pub multiple: bool,
    pub name: &'static str,
    pub required: bool,
    #[serde(rename = "type")]
    pub kind: ParameterType,
    /// Other names of the parameter, accepted as keys of an `attributeMappingSource` tree.
    #[serde(skip)]
    pub aliases: &'static [&'static str],
}

/// Whether idplane evaluates a function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Support {
    Supported,
    /// Parsed and listed, but validation and evaluation refuse it, for this reason.
    NotForScim(&'static str),
}

/// A function of the language (Graph's `attributeMappingFunctionSchema`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Function {
    pub name: &'static str,
    pub parameters: &'static [Parameter],
    #[serde(skip)]
    pub support: Support,
    /// The fewest occurrences of the last parameter when it is repeated.
    #[serde(skip)]
    pub min_occurrences: usize,
    /// Occurrences of the repeated parameter come in groups of this size (`Switch`'s key/value pairs).
    #[serde(skip)]
    pub group: usize,
    /// Another layout this function accepts: a call with this many slots whose slots stand for these parameters
    /// (indexes into `parameters`). `FormatDateTime(source, inputFormat, outputFormat)`, Microsoft's earlier
    /// signature, is the one case.
    #[serde(skip)]
    pub alternate: Option<(usize, &'static [usize])>,
}

const fn param(name: &'static str, kind: ParameterType, required: bool, multiple: bool) -> Parameter {
    Parameter { multiple, name, required, kind, aliases: &[] }
}

const fn req(name: &'static str, kind: ParameterType) -> Parameter {
    param(name, kind, true, false)
}

const fn opt(name: &'static str, kind: ParameterType) -> Parameter {
    param(name, kind, false, false)
}

const fn many(name: &'static str) -> Parameter {
    param(name, ParameterType::String, true, true)
}

const fn func(name: &'static str, parameters: &'static [Parameter]) -> Function {
    Function { name, parameters, support: Support::Supported, min_occurrences: 1, group: 1, alternate: None }
}

use ParameterType::{Boolean, DateTime, Integer, String as Str};

const SOURCE: &[Parameter] = &[req("source", Str)];
const EXPRESSION: &[Parameter] = &[req("Expression", Str)];
const ATTRIBUTE: &[Parameter] = &[req("attribute", Str)];
const CASE: &[Parameter] = &[req("source", Str), opt("culture", Str)];

/// Every function, in alphabetical order.
pub const FUNCTIONS: &[Function] = &[
    func("Append", &[req("source", Str), req("suffix", Str)]),
    func("AppRoleAssignmentsComplex", SOURCE),
    func("AssertiveAppRoleAssignmentsComplex", SOURCE),
    func("BitAnd", &[req("value1", Integer), req("value2", Integer)]),
    func("CBool", EXPRESSION),
    func("CDate", EXPRESSION),
    func("Coalesce", &[many("source")]),
    func("ConvertToBase64", SOURCE),
    func("ConvertToUTF8Hex", SOURCE),
    func("Count", ATTRIBUTE),
    func("CStr", &[req("value", Str)]),
    func("DateAdd", &[req("interval", Str), req("value", Integer), req("dateTime", DateTime)]),
    func("DateDiff", &[req("interval", Str), req("date1", DateTime), req("date2", DateTime)]),
    func("DateFromNum", &[req("value", Integer)]),
    func("DefaultDomain", &[]),
    Function {
        alternate: Some((3, &[0, 2, 3])),
        ..func(
            "FormatDateTime",
            &[req("source", Str), opt("dateTimeStyles", Str), req("inputFormat", Str), req("outputFormat", Str)],
        )
    },
    func("Guid", &[]),
    func("IgnoreFlowIfNullOrEmpty", EXPRESSION),
    func("IIF", &[req("condition", Boolean), req("valueIfTrue", Str), req("valueIfFalse", Str)]),
    func("InStr", &[req("value1", Str), req("value2", Str), opt("start", Integer), opt("compareType", Str)]),
    func("IsNull", EXPRESSION),
    func("IsNullOrEmpty", EXPRESSION),
    func("IsPresent", EXPRESSION),
    func("IsString", EXPRESSION),
    func("Item", &[req("attribute", Str), req("index", Integer)]),
    func("Join", &[req("separator", Str), many("source")]),
    func("Left", &[req("String", Str), req("NumChars", Integer)]),
    func("Mid", &[req("source", Str), req("start", Integer), req("length", Integer)]),
    func("NormalizeDiacritics", SOURCE),
    func("Not", &[req("source", Boolean)]),
    func("Now", &[]),
    func("NumFromDate", &[req("value", Str)]),
    func("PCase", &[req("source", Str), opt("wordSeparators", Str)]),
    func("Prepend", &[req("prefix", Str), req("source", Str)]),
    func(
        "RandomString",
        &[
            req("Length", Integer),
            req("MinimumNumbers", Integer),
            req("MinimumSpecialCharacters", Integer),
            req("MinimumCapital", Integer),
            req("MinimumLowerCase", Integer),
            opt("CharactersToAvoid", Str),
        ],
    ),
    func("Redact", SOURCE),
    func("RemoveDuplicates", ATTRIBUTE),
    func(
        "Replace",
        &[
            req("source", Str),
            Parameter { aliases: &["oldValue"], ..opt("Find", Str) },
            Parameter { aliases: &["regexPattern"], ..opt("RegularExpression", Str) },
            Parameter { aliases: &["regexGroupName"], ..opt("RegularExpressionGroupName", Str) },
            Parameter { aliases: &["replacementValue"], ..opt("Replacement", Str) },
            Parameter { aliases: &["replacementAttributeName"], ..opt("ReplacementPropertyName", Str) },
            Parameter { aliases: &["template"], ..opt("Template", Str) },
        ],
    ),
    Function {
        support: Support::NotForScim(
            "it checks each candidate for uniqueness in the target directory, which only Microsoft's Active Directory \
             connectors can query; compute one value instead (for example with Join and NormalizeDiacritics)",
        ),
        min_occurrences: 2,
        ..func("SelectUniqueValue", &[many("uniqueValueRule")])
    },
    func("SingleAppRoleAssignment", SOURCE),
    func("Split", &[req("source", Str), req("delimiter", Str)]),
    func("StripSpaces", SOURCE),
    Function {
        min_occurrences: 2,
        group: 2,
        ..func(
            "Switch",
            &[
                req("source", Str),
                opt("defaultValue", Str),
                Parameter { aliases: &["key", "value"], ..many("switchValue") },
            ],
        )
    },
    func("ToLower", CASE),
    func("ToUpper", CASE),
    func("Word", &[req("String", Str), req("WordNumber", Integer), req("delimiters", Str)]),
];

/// The function named `name` (case-sensitive), if the catalogue has it.
pub fn function(name: &str) -> Option<&'static Function> {
    FUNCTIONS.iter().find(|f| f.name == name)
}

/// The functions idplane evaluates (all but those [`Support::NotForScim`]).
pub fn supported() -> impl Iterator<Item = &'static Function> {
    FUNCTIONS.iter().filter(|f| f.support == Support::Supported)
}

/// The catalogue's name closest to `name`: the same name in another case, a name it begins (`AppRoleAssignments`
/// for `AppRoleAssignmentsComplex`), or one within a small edit distance.
pub fn nearest(name: &str) -> Option<&'static str> {
    let lower = name.to_ascii_lowercase();
    if let Some(f) = FUNCTIONS.iter().find(|f| f.name.eq_ignore_ascii_case(name)) {
        return Some(f.name);
    }
    if lower.len() >= 4
        && let Some(f) = FUNCTIONS.iter().find(|f| f.name.to_ascii_lowercase().starts_with(&lower))
    {
        return Some(f.name);
    }
    // Longer names cannot be within the distance of any function's name; skip the quadratic work.
    if name.chars().count() > 48 {
        return None;
    }
    let threshold = (name.chars().count() / 3).clamp(1, 3);
    FUNCTIONS
        .iter()
        .map(|f| (edit_distance(&lower, &f.name.to_ascii_lowercase()), f.name))
        .filter(|(distance, _)| *distance <= threshold)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, name)| name)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = diagonal + usize::from(ca != *cb);
            diagonal = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(diagonal + 1);
        }
    }
    row[b.len()]
}

impl Function {
    /// The repeated parameter's index, when the function has one (always its last).
    fn repeated(&self) -> Option<usize> {
        self.parameters.last().filter(|p| p.multiple).map(|_| self.parameters.len() - 1)
    }

    /// How the function is written: `Mid(source, start, length)`, `InStr(value1, value2, start?, compareType?)`,
    /// `Join(separator, source, ...)`.
    pub fn signature(&self) -> String {
        let parameters: Vec<String> = self
            .parameters
            .iter()
            .map(|p| match (p.multiple, p.required) {
                (true, _) => format!("{}, ...", p.name),
                (false, true) => p.name.to_string(),
                (false, false) => format!("{}?", p.name),
            })
            .collect();
        format!("{}({})", self.name, parameters.join(", "))
    }

    /// The parameter each of a call's `slots` argument slots stands for, or why that many slots do not fit.
    pub fn slot_parameters(&self, slots: usize) -> Result<Vec<&'static Parameter>, String> {
        let parameters = self.parameters;
        if let Some((count, indexes)) = self.alternate
            && count == slots
        {
            return Ok(indexes.iter().map(|&i| &parameters[i]).collect());
        }
        let fits = match self.repeated() {
            Some(r) => slots >= r + self.min_occurrences && (slots - r).is_multiple_of(self.group),
            None => {
                let required = parameters.iter().rposition(|p| p.required).map_or(0, |i| i + 1);
                (required..=parameters.len()).contains(&slots)
            }
        };
        if !fits {
            return Err(self.count_error(slots));
        }
        Ok((0..slots).map(|slot| &parameters[slot.min(parameters.len() - 1)]).collect())
    }

    fn count_error(&self, slots: usize) -> String {
        let expected = match self.repeated() {
            Some(r) if self.group == 2 => format!(
                "{r} argument{} then pairs of {} (at least {})",
                if r == 1 { "" } else { "s" },
                self.parameters[r].name,
                self.min_occurrences / 2
            ),
            Some(r) => format!("at least {} arguments", r + self.min_occurrences),
            None => {
                let required = self.parameters.iter().filter(|p| p.required).count();
                match (required, self.parameters.len()) {
                    (0, 0) => "no arguments".to_string(),
                    (r, n) if r == n => format!("{n} argument{}", if n == 1 { "" } else { "s" }),
                    (r, n) => format!("{r} to {n} arguments"),
                }
            }
        };
        format!("{} takes {expected}; found {slots}", self.signature())
    }

    /// Checks a call's argument slots against the parameters: their number, that every required parameter has an
    /// argument, and that no repeated parameter's slot is empty (trees cannot carry those). Returns the parameter
    /// each slot stands for.
    pub fn check_args(
        &self,
        args: &[Option<Expr>],
        position: Option<usize>,
    ) -> Result<Vec<&'static Parameter>, ExprError> {
        let error = |detail: String| ExprError::Arguments { function: self.name.to_string(), position, detail };
        let parameters = self.slot_parameters(args.len()).map_err(error)?;
        for (slot, (arg, parameter)) in args.iter().zip(&parameters).enumerate() {
            if arg.is_none() && (parameter.required || parameter.multiple) {
                let hint = if parameter.multiple { " (write \"\" for an empty string)" } else { "" };
                return Err(error(format!(
                    "argument {} (`{}`) is empty; it is required{hint}",
                    slot + 1,
                    parameter.name
                )));
            }
        }
        if self.name == "Replace" {
            let present: Vec<&str> =
                args.iter().zip(&parameters).filter(|(arg, _)| arg.is_some()).map(|(_, p)| p.name).collect();
            replace_mode(&present).map_err(error)?;
        }
        Ok(parameters)
    }

    /// Lays out arguments keyed by parameter as the canonical call's slots: the fixed parameters up to the last one
    /// given, or all of them when one before it is missing (as Microsoft prints `Replace([x], "-", , , "_", , )`),
    /// then the repeated parameter's occurrences. `fixed[i]` is the argument of `parameters[i]`.
    pub(crate) fn layout(&self, mut fixed: Vec<Option<Expr>>, repeated: Vec<Expr>) -> Vec<Option<Expr>> {
        let fixed_count = self.repeated().unwrap_or(self.parameters.len());
        fixed.resize(fixed_count, None);
        if self.repeated().is_none() {
            let last = fixed.iter().rposition(Option::is_some).map_or(0, |i| i + 1);
            if fixed[..last].iter().all(Option::is_some) {
                fixed.truncate(last);
            }
        }
        fixed.extend(repeated.into_iter().map(Some));
        fixed
    }

    /// The index of the parameter named `key` (or one of its aliases; case-insensitively when nothing matches
    /// exactly).
    pub(crate) fn parameter_index(&self, key: &str) -> Option<usize> {
        let names = |p: &'static Parameter| std::iter::once(p.name).chain(p.aliases.iter().copied());
        self.parameters
            .iter()
            .position(|p| names(p).any(|name| name == key))
            .or_else(|| self.parameters.iter().position(|p| names(p).any(|name| name.eq_ignore_ascii_case(key))))
    }
}

/// How `Replace` works, chosen by which of its optional arguments are present.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReplaceMode {
    /// `Find` and `Template`: the template with every `Find` replaced by the source.
    Template,
    /// `Find` and `Replacement`: the source with every `Find` replaced.
    Plain,
    /// `RegularExpression`, `RegularExpressionGroupName` and `ReplacementPropertyName`: the source if it has a
    /// value, else the group's match in the replacement attribute.
    GroupFromAttribute,
    /// `RegularExpression`, `RegularExpressionGroupName` and `Replacement`: every match of the group replaced.
    Group,
    /// `RegularExpression` and `Replacement`: every match replaced, `${group}` substituted.
    Regex,
}

/// The mode of a `Replace` call given the names of its present parameters, or what it lacks.
pub(crate) fn replace_mode(present: &[&str]) -> Result<ReplaceMode, String> {
    let has = |name: &str| present.contains(&name);
    if has("Find") {
        if has("Template") {
            Ok(ReplaceMode::Template)
        } else if has("Replacement") {
            Ok(ReplaceMode::Plain)
        } else {
            Err("with `Find` (oldValue), give `Replacement` (replacementValue) or `Template`".to_string())
        }
    } else if has("RegularExpression") {
        match (has("RegularExpressionGroupName"), has("ReplacementPropertyName"), has("Replacement")) {
            (true, true, _) => Ok(ReplaceMode::GroupFromAttribute),
            (true, false, true) => Ok(ReplaceMode::Group),
            (false, _, true) => Ok(ReplaceMode::Regex),
            _ => Err("with `RegularExpression` (regexPattern), give `Replacement` (replacementValue), or \
                      `RegularExpressionGroupName` with `Replacement` or `ReplacementPropertyName`"
                .to_string()),
        }
    } else {
        Err("give `Find` (oldValue) or `RegularExpression` (regexPattern)".to_string())
    }
}
