//! The filter language of RFC 7644 §3.4.2.2: abstract syntax, parser, printer and evaluator.
//!
//! Grammar (ABNF of RFC 7644 with the tolerances real clients need):
//! ```text
//! FILTER    = attrExp / logExp / valuePath / *1"not" "(" FILTER ")"
//! valuePath = attrPath "[" valFilter "]" ; valFilter = attrExp / logExp / *1"not" "(" valFilter ")"
//! attrExp   = (attrPath SP "pr") / (attrPath SP compareOp SP compValue)
//! logExp    = FILTER SP ("and" / "or") SP FILTER      ; "and" binds tighter than "or"
//! compareOp = "eq" / "ne" / "co" / "sw" / "ew" / "gt" / "lt" / "ge" / "le"   ; case-insensitive
//! compValue = "false" / "true" / "null" / number / string   ; string = JSON string
//! attrPath  = [URI ":"] ATTRNAME *1subAttr ; ATTRNAME = ALPHA *(nameChar) ; nameChar = "-" / "_" / DIGIT / ALPHA / "$"
//! ```
//! Tolerated beyond the RFC: an unquoted compValue (`userName eq a@b.c`, seen in Databricks documentation) is read as a
//! string; `attr[filter].sub op value` (Entra's `emails[type eq "work"].value eq "x"`) is read as
//! `attr[filter and sub op value]`.

use crate::error::ScimError;

/// An attribute path: an optional schema URN, an attribute name and an optional sub-attribute (RFC 7644 `attrPath`).
/// Names keep the case the client wrote; resolution against a schema is case-insensitive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttrPath {
    pub urn: Option<String>,
    pub name: String,
    pub sub: Option<String>,
}

/// A comparison operator (RFC 7644 Table 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    Eq,
    Ne,
    Co,
    Sw,
    Ew,
    Gt,
    Ge,
    Lt,
    Le,
}

/// A comparison value: JSON `null`, boolean, number or string.
#[derive(Debug, Clone, PartialEq)]
pub enum CompValue {
    Null,
    Bool(bool),
    Number(serde_json::Number),
    String(String),
}

/// A parsed filter.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// `attr pr`
    Present(AttrPath),
    /// `attr op value`
    Compare(AttrPath, CompareOp, CompValue),
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
    /// `attr[filter]`: some element of the multi-valued (or complex) `attr` matches `filter`, whose attribute paths
    /// name sub-attributes of `attr`. The path has no `sub`.
    ValuePath(AttrPath, Box<Filter>),
}

/// Longest filter accepted, in bytes.
pub const MAX_FILTER_LEN: usize = 8192;
/// Deepest nesting of parentheses, `not` and value paths accepted.
pub const MAX_FILTER_DEPTH: usize = 32;
/// Most nodes (comparisons and logical operators) in one filter; Databricks documents 200.
pub const MAX_FILTER_NODES: usize = 200;

impl Filter {
    /// Parses a filter. Errors are 400 `invalidFilter` with a detail that names the position (1-based character
    /// offset) and what was expected there.
    pub fn parse(input: &str) -> Result<Filter, ScimError> {
        let _ = input;
        Err(ScimError::invalid_filter("filters are not implemented yet"))
    }
}
