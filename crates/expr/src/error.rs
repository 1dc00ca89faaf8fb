//! The crate's one error type. Parsing, limits, validation, tree conversion and evaluation all fail with an
//! [`ExprError`] whose message names the offending thing, says where it is (a 1-based character position in the
//! expression's text, when the expression was parsed from text) and what would be accepted instead.

use std::fmt::Write as _;

/// What went wrong with an expression, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExprError {
    /// The text is not an expression: `expected` says what the parser looked for at `position`.
    #[error("at character {position}: expected {expected}, found {found}")]
    Syntax { position: usize, expected: String, found: String },

    /// Longer than [`crate::MAX_EXPRESSION_LEN`] characters (Microsoft's limit).
    #[error("the expression is {length} characters long; the limit is {max}: shorten it")]
    TooLong { length: usize, max: usize },

    /// Nested deeper than [`crate::MAX_DEPTH`].
    #[error("{}the expression nests deeper than {max} levels: flatten it", at(.position))]
    TooDeep { position: Option<usize>, max: usize },

    /// More than [`crate::MAX_NODES`] attributes, constants, calls and comparisons.
    #[error("the expression has more than {max} parts (attributes, constants, calls, comparisons): simplify it")]
    TooManyNodes { max: usize },

    /// A function the catalogue does not know. Names are case-sensitive.
    #[error("{}unknown function `{name}`{}", at(.position), suggest(.suggestion))]
    UnknownFunction { name: String, position: Option<usize>, suggestion: Option<&'static str> },

    /// A call whose arguments do not fit the function's parameters (count, a missing required argument, an empty
    /// repeated argument, arguments that contradict each other).
    #[error("{}{function}: {detail}", at(.position))]
    Arguments { function: String, position: Option<usize>, detail: String },

    /// An attribute the caller's attribute set does not contain. Names are case-sensitive.
    #[error("{}unknown attribute `[{name}]`", at(.position))]
    UnknownAttribute { name: String, position: Option<usize> },

    /// A function idplane parses but does not run for a SCIM target.
    #[error("{}{function} is not supported for a SCIM target: {reason}", at(.position))]
    Unsupported { function: String, position: Option<usize>, reason: &'static str },

    /// An `attributeMappingSource` tree that is not an expression; `path` locates the node
    /// (`parameters[1].value`, empty for the root).
    #[error("attributeMappingSource{}{}: {detail}", if .path.is_empty() { "" } else { " at " }, .path)]
    Tree { path: String, detail: String },

    /// An argument whose value the function cannot use (a date that is not one, a bad regular expression, an index
    /// out of range, several values where one is needed).
    #[error("{}{function}, argument `{parameter}`: {detail}", at(.position))]
    InvalidArgument { function: String, parameter: String, position: Option<usize>, detail: String },

    /// A function would produce a value larger than [`crate::MAX_VALUE_LEN`] bytes or
    /// [`crate::MAX_VALUES`] values.
    #[error("{}{function} would produce a value larger than {max}: the expression multiplies its input", at(.position))]
    ValueTooLarge { function: String, position: Option<usize>, max: String },

    /// `DefaultDomain()` was evaluated with an environment that has no default domain.
    #[error("{}DefaultDomain(): the evaluation environment has no default domain: configure the tenant's", at(.position))]
    NoDefaultDomain { position: Option<usize> },
}

impl ExprError {
    /// The 1-based character position in the expression's text this error is about, when it has one.
    pub fn position(&self) -> Option<usize> {
        match self {
            ExprError::Syntax { position, .. } => Some(*position),
            ExprError::TooLong { .. } | ExprError::TooManyNodes { .. } | ExprError::Tree { .. } => None,
            ExprError::TooDeep { position, .. }
            | ExprError::UnknownFunction { position, .. }
            | ExprError::Arguments { position, .. }
            | ExprError::UnknownAttribute { position, .. }
            | ExprError::Unsupported { position, .. }
            | ExprError::InvalidArgument { position, .. }
            | ExprError::ValueTooLarge { position, .. }
            | ExprError::NoDefaultDomain { position } => *position,
        }
    }
}

fn at(position: &Option<usize>) -> String {
    let mut out = String::new();
    if let Some(position) = position {
        let _ = write!(out, "at character {position}: ");
    }
    out
}

fn suggest(suggestion: &Option<&'static str>) -> String {
    match suggestion {
        Some(name) => format!(" (did you mean `{name}`?)"),
        None => " (see the function catalogue)".to_string(),
    }
}
