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
//! string (or as a number, `true`, `false` or `null` when it is one); `attr[filter].sub op value` (Entra's
//! `emails[type eq "work"].value eq "x"`) is read as `attr[filter and sub op value]`; any run of ASCII whitespace
//! stands for `SP`, and none is needed next to parentheses, brackets and quotes. Keywords and operators are
//! case-insensitive. An attribute name may start with `$` so that `members[$ref eq "..."]` parses. In an `attrPath`
//! the URN is everything before the last `:`.
//!
//! Printing (`Display`) is canonical: lower-case keywords, single spaces, JSON strings, and only the parentheses
//! precedence needs, so `Filter::parse(&f.to_string()) == Ok(f)` for every filter the parser returns whose printed
//! form still fits in [`MAX_FILTER_LEN`] (printing can lengthen a filter: unquoted values gain quotes, the Entra
//! form gains an `and`).
//!
//! Evaluation ([`Filter::matches`]) follows RFC 7644 with these choices, which servers must know:
//! - An attribute path the resource type does not define makes its comparison false (never an error); call
//!   [`Filter::validate`] first to answer 400 `invalidFilter` instead.
//! - Over a multi-valued attribute a comparison holds when any value satisfies it.
//! - `ne` is the negation of `eq`: true when the attribute is missing, and over a multi-valued attribute true only
//!   when no value equals the operand.
//! - `eq null` is "not present" and `ne null` is `pr`; `pr` is false for null, `""`, `[]` and `{}`.
//! - A complex attribute compared as a whole (`emails eq "x"`, `manager eq "id"`) compares its `value`
//!   sub-attribute; one without `value` (`name eq "x"`) never matches.
//! - Strings honour `caseExact` (otherwise Unicode lower-case comparison); `gt`/`ge`/`lt`/`le` order strings
//!   lexicographically, dateTimes chronologically and numbers numerically; booleans support only `eq`/`ne`;
//!   `co`/`sw`/`ew` apply to strings and references only. An operand of the wrong type (`active eq "maybe"`) makes
//!   `eq` false and so `ne` true. A number or boolean compared with a string attribute compares as its JSON text,
//!   so the unquoted `id eq 12345` works.
//! - `not` of an unknown attribute is true: the comparison underneath is false.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::fmt::{self, Write as _};
use std::str::FromStr;

use serde_json::Value;
use time::{OffsetDateTime, PrimitiveDateTime, format_description::well_known::Rfc3339};

use crate::error::ScimError;
use crate::schema::{Attribute, AttributeType, ResourceType, Schema};

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
        let mut parser = Parser::new(input, Language::Filter)?;
        let filter = parser.filter()?;
        parser.close(Closer::End)?;
        Ok(filter)
    }

    /// Does `resource` (a JSON object keyed by the schema's attribute names, extension attributes under their
    /// schema URN) satisfy this filter? See the module documentation for the semantics.
    pub fn matches(&self, resource: &Value, resource_type: &ResourceType) -> bool {
        self.eval(Scope::Resource(resource, resource_type))
    }

    /// Does one element of the complex attribute `attribute` (an item of `emails`, or the `manager` object) satisfy
    /// this value filter? This is the `[...]` of a value path or of a PATCH path, whose attribute paths name
    /// sub-attributes of `attribute`.
    pub fn matches_element(&self, element: &Value, attribute: &Attribute) -> bool {
        self.eval(Scope::Element(element, attribute))
    }

    /// Checks every attribute path against `resource_type`: 400 `invalidFilter` when one is not defined, when a
    /// value filter is applied to a non-complex attribute, when a complex attribute without `value` is compared
    /// as a whole, when `gt`/`ge`/`lt`/`le` is applied to a boolean or binary attribute (RFC 7644 §3.4.2.2), or when
    /// an operand cannot be of the attribute's type (`active eq "maybe"`, a dateTime that is not RFC 3339).
    pub fn validate(&self, resource_type: &ResourceType) -> Result<(), ScimError> {
        self.check(Context::Type(resource_type)).map_err(|detail| Language::Filter.error(detail))
    }

    /// Like [`Filter::validate`], for a value filter on one element of `attribute` (as in a PATCH path).
    pub fn validate_element(&self, attribute: &Attribute) -> Result<(), ScimError> {
        self.check_element(attribute).map_err(|detail| Language::Filter.error(detail))
    }

    /// The detail of [`Filter::validate_element`]'s error, for callers that report it under another `scimType`.
    pub(crate) fn check_element(&self, attribute: &Attribute) -> Result<(), String> {
        self.check(Context::Element(attribute))
    }

    /// The attribute paths this filter tests, in order. A value path contributes its attribute (`emails` for
    /// `emails[type eq "work"]`); the paths inside its brackets are relative to it and are not listed.
    pub fn attr_paths(&self) -> Vec<&AttrPath> {
        let mut paths = Vec::new();
        self.collect_paths(&mut paths);
        paths
    }

    /// How many nodes (comparisons, `pr`, `and`, `or`, `not`, value paths) the filter has.
    pub fn node_count(&self) -> usize {
        match self {
            Filter::Present(_) | Filter::Compare(..) => 1,
            Filter::And(l, r) | Filter::Or(l, r) => 1 + l.node_count() + r.node_count(),
            Filter::Not(f) | Filter::ValuePath(_, f) => 1 + f.node_count(),
        }
    }

    fn collect_paths<'a>(&'a self, out: &mut Vec<&'a AttrPath>) {
        match self {
            Filter::Present(p) | Filter::Compare(p, ..) | Filter::ValuePath(p, _) => out.push(p),
            Filter::And(l, r) | Filter::Or(l, r) => {
                l.collect_paths(out);
                r.collect_paths(out);
            }
            Filter::Not(f) => f.collect_paths(out),
        }
    }
}

impl FromStr for Filter {
    type Err = ScimError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Filter::parse(s)
    }
}

impl AttrPath {
    /// An unqualified path without sub-attribute.
    pub fn new(name: impl Into<String>) -> Self {
        AttrPath { urn: None, name: name.into(), sub: None }
    }

    /// Parses an attribute path alone, as `sortBy`, `attributes` and `excludedAttributes` carry them. Errors are
    /// 400 `invalidPath` with the position.
    pub fn parse(input: &str) -> Result<AttrPath, ScimError> {
        let mut parser = Parser::new(input, Language::Path)?;
        parser.skip_ws();
        let path = parser.attr_path()?;
        parser.finish("end of path")?;
        Ok(path)
    }
}

impl FromStr for AttrPath {
    type Err = ScimError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        AttrPath::parse(s)
    }
}

impl CompareOp {
    pub fn as_str(self) -> &'static str {
        match self {
            CompareOp::Eq => "eq",
            CompareOp::Ne => "ne",
            CompareOp::Co => "co",
            CompareOp::Sw => "sw",
            CompareOp::Ew => "ew",
            CompareOp::Gt => "gt",
            CompareOp::Ge => "ge",
            CompareOp::Lt => "lt",
            CompareOp::Le => "le",
        }
    }

    /// The operator a keyword names, case-insensitively.
    pub fn from_keyword(word: &str) -> Option<CompareOp> {
        const ALL: [CompareOp; 9] = [
            CompareOp::Eq,
            CompareOp::Ne,
            CompareOp::Co,
            CompareOp::Sw,
            CompareOp::Ew,
            CompareOp::Gt,
            CompareOp::Ge,
            CompareOp::Lt,
            CompareOp::Le,
        ];
        if word.len() != 2 {
            return None;
        }
        ALL.into_iter().find(|op| op.as_str().eq_ignore_ascii_case(word))
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Parser, shared with the PATCH path grammar of `crate::path`.
// ---------------------------------------------------------------------------------------------------------------

/// Which language is being parsed: decides the error's `scimType` and wording.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Language {
    Filter,
    Path,
}

impl Language {
    fn noun(self) -> &'static str {
        match self {
            Language::Filter => "filter",
            Language::Path => "path",
        }
    }

    pub(crate) fn error(self, detail: String) -> ScimError {
        match self {
            Language::Filter => ScimError::invalid_filter(detail),
            Language::Path => ScimError::invalid_path(detail),
        }
    }
}

/// What ends the (sub-)filter being parsed, and so what may follow it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Closer {
    End,
    Paren,
    Bracket,
}

type Parsed<T> = Result<T, ScimError>;

/// A recursive-descent parser over the input's bytes. Every token boundary it stops at is an ASCII byte or the
/// end, so every slice it takes is on a character boundary. Recursion happens only on `(`, `not (` and `[`, each
/// of which passes the depth check first.
pub(crate) struct Parser<'a> {
    src: &'a str,
    bytes: &'a [u8],
    pos: usize,
    lang: Language,
    depth: usize,
    deepest: usize,
    nodes: usize,
    in_value_filter: bool,
}

/// Bytes of an attribute path, keyword or operator: maximal runs of these form one word.
fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'$' | b':' | b'.')
}

fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n' | b'\x0c')
}

/// Bytes that end an unquoted value.
fn ends_bare_value(b: u8) -> bool {
    is_ws(b) || matches!(b, b'(' | b')' | b'[' | b']' | b'"')
}

fn is_attr_name(name: &str) -> bool {
    match name.as_bytes() {
        [first, rest @ ..] => {
            (first.is_ascii_alphabetic() || *first == b'$')
                && rest.iter().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'$'))
        }
        [] => false,
    }
}

const EXPECTED_OPERATOR: &str = "a comparison operator (eq, ne, co, sw, ew, gt, ge, lt, le, pr)";
const EXPECTED_NAME: &str = "an attribute name (a letter, then letters, digits, \"-\", \"_\" or \"$\")";
const EXPECTED_VALUE: &str = "a value (a quoted string, a number, true, false or null)";

impl<'a> Parser<'a> {
    pub(crate) fn new(src: &'a str, lang: Language) -> Parsed<Self> {
        let parser =
            Parser { src, bytes: src.as_bytes(), pos: 0, lang, depth: 0, deepest: 0, nodes: 0, in_value_filter: false };
        if src.len() > MAX_FILTER_LEN {
            let mut at = MAX_FILTER_LEN;
            while !src.is_char_boundary(at) {
                at -= 1;
            }
            return Err(
                parser.error_at(at, format_args!("expected at most {MAX_FILTER_LEN} bytes, found {} bytes", src.len()))
            );
        }
        Ok(parser)
    }

    fn slice(&self, from: usize, to: usize) -> &'a str {
        self.src.get(from..to).unwrap_or_default()
    }

    fn byte(&self, at: usize) -> Option<u8> {
        self.bytes.get(at).copied()
    }

    pub(crate) fn peek(&self) -> Option<u8> {
        self.byte(self.pos)
    }

    fn ws_end(&self, mut at: usize) -> usize {
        while self.byte(at).is_some_and(is_ws) {
            at += 1;
        }
        at
    }

    pub(crate) fn skip_ws(&mut self) {
        self.pos = self.ws_end(self.pos);
    }

    fn word_end(&self, mut at: usize) -> usize {
        while self.byte(at).is_some_and(is_word_byte) {
            at += 1;
        }
        at
    }

    pub(crate) fn error_at(&self, at: usize, what: fmt::Arguments<'_>) -> ScimError {
        let character = self.src.get(..at).map_or(0, |s| s.chars().count()) + 1;
        self.lang.error(format!("invalid {} at character {character}: {what}", self.lang.noun()))
    }

    /// The token at `at`, for "found ..." in error details.
    fn found(&self, at: usize) -> Found<'a> {
        let Some(first) = self.byte(at) else { return Found::End(self.lang) };
        let end = if first == b'"' {
            let mut i = at + 1;
            loop {
                match self.byte(i) {
                    None => break i,
                    Some(b'"') => break i + 1,
                    Some(b'\\') => i += 2,
                    Some(_) => i += 1,
                }
            }
        } else if is_word_byte(first) {
            self.word_end(at)
        } else {
            at + self.src.get(at..).and_then(|s| s.chars().next()).map_or(1, char::len_utf8)
        };
        let end = self.floor_boundary(end.min(self.src.len()));
        Found::Text(self.slice(at, end), first == b'"')
    }

    fn enter(&mut self, at: usize) -> Parsed<()> {
        if self.depth >= MAX_FILTER_DEPTH {
            return Err(self.too_deep(at));
        }
        self.depth += 1;
        self.deepest = self.deepest.max(self.depth);
        Ok(())
    }

    fn too_deep(&self, at: usize) -> ScimError {
        self.error_at(
            at,
            format_args!(
                "expected at most {MAX_FILTER_DEPTH} levels of nesting (parentheses, not and value filters), found \
                 more; flatten the {}",
                self.lang.noun()
            ),
        )
    }

    fn leave(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }

    fn count_node(&mut self, at: usize) -> Parsed<()> {
        self.nodes += 1;
        if self.nodes > MAX_FILTER_NODES {
            return Err(self.error_at(
                at,
                format_args!(
                    "expected at most {MAX_FILTER_NODES} expressions (comparisons, and, or, not, value filters), \
                     found more; split the {}",
                    self.lang.noun()
                ),
            ));
        }
        Ok(())
    }

    /// Consumes the keyword `kw` (case-insensitive, a whole word) if it comes next.
    fn eat_keyword(&mut self, kw: &str) -> bool {
        let end = self.word_end(self.pos);
        if self.slice(self.pos, end).eq_ignore_ascii_case(kw) {
            self.pos = end;
            true
        } else {
            false
        }
    }

    /// FILTER: `and`-chains joined by `or`, left-associative.
    pub(crate) fn filter(&mut self) -> Parsed<Filter> {
        let mut left = self.conjunction()?;
        loop {
            self.skip_ws();
            let at = self.pos;
            if !self.eat_keyword("or") {
                return Ok(left);
            }
            self.count_node(at)?;
            let right = self.conjunction()?;
            left = Filter::Or(Box::new(left), Box::new(right));
        }
    }

    fn conjunction(&mut self) -> Parsed<Filter> {
        let mut left = self.operand()?;
        loop {
            self.skip_ws();
            let at = self.pos;
            if !self.eat_keyword("and") {
                return Ok(left);
            }
            self.count_node(at)?;
            let right = self.operand()?;
            left = Filter::And(Box::new(left), Box::new(right));
        }
    }

    /// A parenthesised filter, `not (...)`, or an attribute expression.
    fn operand(&mut self) -> Parsed<Filter> {
        self.skip_ws();
        let at = self.pos;
        if self.peek() == Some(b'(') {
            self.enter(at)?;
            self.pos += 1;
            let inner = self.filter()?;
            self.close(Closer::Paren)?;
            self.leave();
            return Ok(inner);
        }
        let end = self.word_end(at);
        if self.slice(at, end).eq_ignore_ascii_case("not") {
            let open = self.ws_end(end);
            // Otherwise `not` is an attribute name; `comparison` explains the missing parenthesis if it is not.
            if self.byte(open) == Some(b'(') {
                self.count_node(at)?;
                self.enter(open)?;
                self.pos = open + 1;
                let inner = self.filter()?;
                self.close(Closer::Paren)?;
                self.leave();
                return Ok(Filter::Not(Box::new(inner)));
            }
        }
        self.attribute_expression()
    }

    /// After a (sub-)filter: consumes what must close it, or explains what was expected.
    pub(crate) fn close(&mut self, closer: Closer) -> Parsed<()> {
        self.skip_ws();
        let at = self.pos;
        match (closer, self.peek()) {
            (Closer::End, None) => return Ok(()),
            (Closer::Paren, Some(b')')) | (Closer::Bracket, Some(b']')) => {
                self.pos += 1;
                return Ok(());
            }
            _ => {}
        }
        let closing = match closer {
            Closer::End => match self.lang {
                Language::Filter => "end of filter",
                Language::Path => "end of path",
            },
            Closer::Paren => "\")\"",
            Closer::Bracket => "\"]\"",
        };
        Err(self.error_at(at, format_args!("expected \"and\", \"or\" or {closing}, found {}", self.found(at))))
    }

    /// Skips whitespace and requires the end of input; `expected` says what else could have come.
    pub(crate) fn finish(&mut self, expected: &str) -> Parsed<()> {
        self.skip_ws();
        let at = self.pos;
        if at >= self.src.len() {
            Ok(())
        } else {
            Err(self.error_at(at, format_args!("expected {expected}, found {}", self.found(at))))
        }
    }

    fn attribute_expression(&mut self) -> Parsed<Filter> {
        let start = self.pos;
        let path = self.attr_path()?;
        let open = self.ws_end(self.pos);
        if self.byte(open) == Some(b'[') {
            self.pos = open;
            return self.value_path(path, start);
        }
        self.comparison(path, start)
    }

    /// `attrPath`: `[urn ":"] name ["." sub]`, the URN being everything before the last `:`.
    pub(crate) fn attr_path(&mut self) -> Parsed<AttrPath> {
        let start = self.pos;
        let end = self.word_end(start);
        if end == start {
            return Err(self.error_at(
                start,
                format_args!(
                    "expected an attribute path (such as userName, name.givenName or \
                     urn:ietf:params:scim:schemas:core:2.0:User:userName), found {}",
                    self.found(start)
                ),
            ));
        }
        let word = self.slice(start, end);
        let (urn, rest_start) = match word.rfind(':') {
            Some(0) => {
                return Err(self.error_at(start, format_args!("expected a schema URN before \":\", found \":\"")));
            }
            Some(colon) => (Some(self.slice(start, start + colon)), start + colon + 1),
            None => (None, start),
        };
        let rest = self.slice(rest_start, end);
        let (name, sub) = match rest.find('.') {
            Some(dot) => (self.slice(rest_start, rest_start + dot), Some(rest_start + dot + 1)),
            None => (rest, None),
        };
        self.check_name(rest_start, name)?;
        let sub = match sub {
            Some(sub_start) => {
                let sub = self.slice(sub_start, end);
                if let Some(dot) = sub.find('.') {
                    return Err(self.error_at(
                        sub_start + dot,
                        format_args!(
                            "expected at most one sub-attribute (such as name.givenName), found \"{}\"",
                            Truncated(word)
                        ),
                    ));
                }
                self.check_name(sub_start, sub)?;
                Some(sub.to_owned())
            }
            None => None,
        };
        self.pos = end;
        Ok(AttrPath { urn: urn.map(str::to_owned), name: name.to_owned(), sub })
    }

    fn check_name(&self, at: usize, name: &str) -> Parsed<()> {
        if is_attr_name(name) {
            return Ok(());
        }
        if name.is_empty() {
            let after = match self.byte(at.wrapping_sub(1)) {
                Some(b':') => " after \":\"",
                Some(b'.') => " after \".\"",
                _ => "",
            };
            return Err(self.error_at(at, format_args!("expected {EXPECTED_NAME}{after}, found {}", self.found(at))));
        }
        Err(self.error_at(at, format_args!("expected {EXPECTED_NAME}, found \"{}\"", Truncated(name))))
    }

    /// After `attr[`: the value filter through its `]`. Returns the filter and the deepest nesting reached in it.
    pub(crate) fn value_filter(&mut self, path: &AttrPath, start: usize) -> Parsed<(Filter, usize)> {
        let open = self.pos;
        if path.sub.is_some() {
            return Err(self.error_at(
                open,
                format_args!(
                    "expected a comparison operator or end after the sub-attribute \"{}\", found \"[\"; a value \
                     filter follows the attribute (write {}[...].{})",
                    Truncated(self.slice(start, self.ws_back(open))),
                    AttrPath { urn: path.urn.clone(), name: path.name.clone(), sub: None },
                    path.sub.as_deref().unwrap_or_default(),
                ),
            ));
        }
        if self.in_value_filter {
            return Err(self.error_at(
                open,
                format_args!(
                    "expected a comparison operator after \"{}\", found \"[\"; value filters cannot be nested",
                    Truncated(self.slice(start, self.ws_back(open)))
                ),
            ));
        }
        self.enter(open)?;
        self.deepest = self.depth;
        self.pos += 1;
        self.in_value_filter = true;
        let inner = self.filter()?;
        self.close(Closer::Bracket)?;
        self.in_value_filter = false;
        self.leave();
        Ok((inner, self.deepest))
    }

    fn ws_back(&self, mut at: usize) -> usize {
        while at > 0 && self.byte(at - 1).is_some_and(is_ws) {
            at -= 1;
        }
        at
    }

    /// After `attr[filter]` and a `.`: the sub-attribute name.
    pub(crate) fn sub_attr_name(&mut self) -> Parsed<String> {
        let at = self.pos;
        let end = self.word_end(at);
        let name = self.slice(at, end);
        self.check_name(at, name)?;
        self.pos = end;
        Ok(name.to_owned())
    }

    pub(crate) fn position(&self) -> usize {
        self.pos
    }

    pub(crate) fn advance(&mut self) {
        self.pos += 1;
    }

    fn value_path(&mut self, path: AttrPath, start: usize) -> Parsed<Filter> {
        let (mut inner, deepest) = self.value_filter(&path, start)?;
        self.count_node(start)?;
        if self.peek() == Some(b'.') {
            // Entra's `emails[type eq "work"].value eq "x"` means `emails[type eq "work" and value eq "x"]`.
            let dot = self.pos;
            self.pos += 1;
            let sub = self.sub_attr_name()?;
            let test = self.comparison(AttrPath::new(sub), start)?;
            // Printed, an `or` under the implied `and` gains parentheses: keep that printing parseable.
            if matches!(inner, Filter::Or(..)) && deepest >= MAX_FILTER_DEPTH {
                return Err(self.too_deep(dot));
            }
            self.count_node(dot)?;
            inner = Filter::And(Box::new(inner), Box::new(test));
        }
        Ok(Filter::ValuePath(path, Box::new(inner)))
    }

    /// After an attribute path: `pr`, or an operator and a value.
    fn comparison(&mut self, path: AttrPath, start: usize) -> Parsed<Filter> {
        let path_end = self.pos;
        self.skip_ws();
        let at = self.pos;
        let end = self.word_end(at);
        let word = self.slice(at, end);
        if word.eq_ignore_ascii_case("pr") {
            self.pos = end;
            self.count_node(start)?;
            return Ok(Filter::Present(path));
        }
        let Some(op) = CompareOp::from_keyword(word) else {
            if path.urn.is_none() && path.sub.is_none() && path.name.eq_ignore_ascii_case("not") {
                return Err(self.error_at(
                    at,
                    format_args!(
                        "expected \"(\" after \"not\" (RFC 7644 puts the negated filter in parentheses), found {}",
                        self.found(at)
                    ),
                ));
            }
            return Err(self.error_at(
                at,
                format_args!(
                    "expected {EXPECTED_OPERATOR} after \"{}\", found {}",
                    Truncated(self.slice(start, path_end)),
                    self.found(at)
                ),
            ));
        };
        self.pos = end;
        let value = self.comp_value(op)?;
        self.count_node(start)?;
        Ok(Filter::Compare(path, op, value))
    }

    fn comp_value(&mut self, op: CompareOp) -> Parsed<CompValue> {
        self.skip_ws();
        let at = self.pos;
        match self.peek() {
            Some(b'"') => self.string().map(CompValue::String),
            Some(b) if !ends_bare_value(b) => {
                let mut end = at;
                while self.byte(end).is_some_and(|b| !ends_bare_value(b)) {
                    end += 1;
                }
                let word = self.slice(at, end);
                // A missing value before a logical operator is a mistake, not the string "and".
                if word.eq_ignore_ascii_case("and") || word.eq_ignore_ascii_case("or") {
                    return Err(self.error_at(
                        at,
                        format_args!("expected {EXPECTED_VALUE} after \"{op}\", found {}", self.found(at)),
                    ));
                }
                self.pos = end;
                Ok(bare_value(word))
            }
            _ => {
                Err(self
                    .error_at(at, format_args!("expected {EXPECTED_VALUE} after \"{op}\", found {}", self.found(at))))
            }
        }
    }

    /// A JSON string (RFC 8259 §7); the parser is at its opening quote.
    fn string(&mut self) -> Parsed<String> {
        let open = self.pos;
        let mut i = open + 1;
        let mut out = String::new();
        loop {
            let run = i;
            while self.byte(i).is_some_and(|b| b != b'"' && b != b'\\' && b >= 0x20) {
                i += 1;
            }
            out.push_str(self.slice(run, i));
            match self.byte(i) {
                None => {
                    return Err(self.error_at(
                        open,
                        format_args!(
                            "expected a closing '\"' for the string that starts here, found {}",
                            Found::End(self.lang)
                        ),
                    ));
                }
                Some(b'"') => {
                    self.pos = i + 1;
                    return Ok(out);
                }
                Some(b'\\') => i = self.escape(i, &mut out)?,
                Some(control) => {
                    return Err(self.error_at(
                        i,
                        format_args!(
                            "expected a character or an escape in the string, found the control character \
                             U+{control:04X} (write it as \\u{control:04x})"
                        ),
                    ));
                }
            }
        }
    }

    /// One escape sequence at `at` (the backslash); returns the index after it.
    fn escape(&self, at: usize, out: &mut String) -> Parsed<usize> {
        let simple = match self.byte(at + 1) {
            Some(b'"') => '"',
            Some(b'\\') => '\\',
            Some(b'/') => '/',
            Some(b'b') => '\u{8}',
            Some(b'f') => '\u{c}',
            Some(b'n') => '\n',
            Some(b'r') => '\r',
            Some(b't') => '\t',
            Some(b'u') => {
                let high = self.hex4(at)?;
                let (code, len) = if (0xD800..0xDC00).contains(&high) {
                    let low = if self.byte(at + 6) == Some(b'\\') && self.byte(at + 7) == Some(b'u') {
                        Some(self.hex4(at + 6)?)
                    } else {
                        None
                    };
                    match low {
                        Some(low) if (0xDC00..0xE000).contains(&low) => {
                            (0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00), 12)
                        }
                        _ => {
                            return Err(self.error_at(
                                at + 6,
                                format_args!(
                                    "expected a low surrogate (\\uDC00 to \\uDFFF) after the high surrogate \
                                     \\u{high:04X}, found {}",
                                    self.found(at + 6)
                                ),
                            ));
                        }
                    }
                } else {
                    (high, 6)
                };
                let Some(c) = char::from_u32(code) else {
                    return Err(self.error_at(
                        at,
                        format_args!("expected a high surrogate before the low surrogate \\u{code:04X}, found none"),
                    ));
                };
                out.push(c);
                return Ok(at + len);
            }
            _ => {
                let what = match self.src.get(at + 1..).and_then(|s| s.chars().next()) {
                    Some(c) => format!("\"\\{c}\""),
                    None => Found::End(self.lang).to_string(),
                };
                return Err(self.error_at(
                    at,
                    format_args!(
                        "expected an escape (\\\", \\\\, \\/, \\b, \\f, \\n, \\r, \\t or \\uXXXX), found {what}"
                    ),
                ));
            }
        };
        out.push(simple);
        Ok(at + 2)
    }

    /// The four hex digits of `\uXXXX` at `at` (the backslash).
    fn hex4(&self, at: usize) -> Parsed<u32> {
        let mut code = 0;
        for i in at + 2..at + 6 {
            let digit = self.byte(i).and_then(|b| (b as char).to_digit(16));
            let Some(digit) = digit else {
                return Err(self.error_at(
                    at,
                    format_args!(
                        "expected four hex digits after \"\\u\", found \"{}\"",
                        Truncated(self.slice(at, self.floor_boundary((at + 6).min(self.src.len()))))
                    ),
                ));
            };
            code = code * 16 + digit;
        }
        Ok(code)
    }

    fn floor_boundary(&self, mut at: usize) -> usize {
        while !self.src.is_char_boundary(at) {
            at -= 1;
        }
        at
    }
}

/// An unquoted comparison value: a literal or number when it reads as one, a string otherwise.
fn bare_value(word: &str) -> CompValue {
    if word.eq_ignore_ascii_case("true") {
        return CompValue::Bool(true);
    }
    if word.eq_ignore_ascii_case("false") {
        return CompValue::Bool(false);
    }
    if word.eq_ignore_ascii_case("null") {
        return CompValue::Null;
    }
    match json_number(word) {
        Some(n) => CompValue::Number(n),
        None => CompValue::String(word.to_owned()),
    }
}

/// `word` as a JSON number (RFC 8259 §6), if it is one and is finite. Parsed with the standard library, which rounds
/// correctly (serde_json's default parser may not), so that printing a number and reading it back is exact.
fn json_number(word: &str) -> Option<serde_json::Number> {
    let b = word.as_bytes();
    let digits = |mut i: usize| {
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        (i > start).then_some(i)
    };
    let mut i = usize::from(b.first() == Some(&b'-'));
    let int_start = i;
    i = digits(i)?;
    if b.get(int_start) == Some(&b'0') && i > int_start + 1 {
        return None;
    }
    let integer = i == b.len();
    if b.get(i) == Some(&b'.') {
        i = digits(i + 1)?;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        i = digits(i)?;
    }
    if i != b.len() {
        return None;
    }
    if integer {
        if let Ok(n) = word.parse::<i64>() {
            return Some(n.into());
        }
        if let Ok(n) = word.parse::<u64>() {
            return Some(n.into());
        }
    }
    word.parse::<f64>().ok().and_then(serde_json::Number::from_f64)
}

/// What an error found where it expected something else.
pub(crate) enum Found<'a> {
    End(Language),
    /// The token's text; `true` when it is a string literal, which carries its own quotes.
    Text(&'a str, bool),
}

impl fmt::Display for Found<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Found::End(lang) => write!(f, "end of {}", lang.noun()),
            Found::Text(text, true) => write!(f, "{}", Truncated(text)),
            Found::Text(text, false) => write!(f, "\"{}\"", Truncated(text)),
        }
    }
}

/// Text cut to a length that keeps error details readable.
struct Truncated<'a>(&'a str);

impl fmt::Display for Truncated<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const KEEP: usize = 40;
        match self.0.char_indices().nth(KEEP) {
            Some((cut, _)) => write!(f, "{}…", self.0.get(..cut).unwrap_or_default()),
            None => f.write_str(self.0),
        }
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Printer.
// ---------------------------------------------------------------------------------------------------------------

impl fmt::Display for AttrPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(urn) = &self.urn {
            f.write_str(urn)?;
            f.write_char(':')?;
        }
        f.write_str(&self.name)?;
        if let Some(sub) = &self.sub {
            f.write_char('.')?;
            f.write_str(sub)?;
        }
        Ok(())
    }
}

impl fmt::Display for CompareOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for CompValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CompValue::Null => f.write_str("null"),
            CompValue::Bool(true) => f.write_str("true"),
            CompValue::Bool(false) => f.write_str("false"),
            CompValue::Number(n) => write!(f, "{n}"),
            CompValue::String(s) => write_json_string(f, s),
        }
    }
}

/// Writes `s` as a JSON string, escaping only what JSON requires.
fn write_json_string(f: &mut fmt::Formatter<'_>, s: &str) -> fmt::Result {
    f.write_char('"')?;
    let mut run = 0;
    for (i, c) in s.char_indices() {
        let escape = match c {
            '"' => "\\\"",
            '\\' => "\\\\",
            '\n' => "\\n",
            '\r' => "\\r",
            '\t' => "\\t",
            '\u{8}' => "\\b",
            '\u{c}' => "\\f",
            c if c < ' ' => "",
            _ => continue,
        };
        f.write_str(s.get(run..i).unwrap_or_default())?;
        if escape.is_empty() {
            write!(f, "\\u{:04x}", c as u32)?;
        } else {
            f.write_str(escape)?;
        }
        run = i + c.len_utf8();
    }
    f.write_str(s.get(run..).unwrap_or_default())?;
    f.write_char('"')
}

impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn operand(f: &mut fmt::Formatter<'_>, filter: &Filter, parenthesise: bool) -> fmt::Result {
            if parenthesise { write!(f, "({filter})") } else { filter.fmt(f) }
        }
        match self {
            Filter::Present(path) => write!(f, "{path} pr"),
            Filter::Compare(path, op, value) => write!(f, "{path} {op} {value}"),
            // The parser builds left-leaning chains, so only a right operand of the same operator needs parentheses.
            Filter::And(l, r) => {
                operand(f, l, matches!(**l, Filter::Or(..)))?;
                f.write_str(" and ")?;
                operand(f, r, matches!(**r, Filter::And(..) | Filter::Or(..)))
            }
            Filter::Or(l, r) => {
                l.fmt(f)?;
                f.write_str(" or ")?;
                operand(f, r, matches!(**r, Filter::Or(..)))
            }
            Filter::Not(inner) => write!(f, "not ({inner})"),
            Filter::ValuePath(path, inner) => write!(f, "{path}[{inner}]"),
        }
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Evaluator.
// ---------------------------------------------------------------------------------------------------------------

/// `schemas` is on every resource but in no schema; RFC 7644's own examples filter on it.
const SCHEMAS: Attribute = Attribute::string("schemas", "The schema URIs of the resource.")
    .multi()
    .mutability(crate::schema::Mutability::ReadOnly);

/// Where attribute paths are resolved: a whole resource, or one element of a complex attribute.
#[derive(Clone, Copy)]
enum Scope<'a> {
    Resource(&'a Value, &'a ResourceType),
    Element(&'a Value, &'a Attribute),
}

/// The same, without values: for validation.
#[derive(Clone, Copy)]
enum Context<'a> {
    Type(&'a ResourceType),
    Element(&'a Attribute),
}

/// What an attribute path names in a schema.
#[derive(Clone, Copy)]
struct Definition<'a> {
    /// The schema holding the attribute when it is not at the top level of the resource (an extension).
    extension: Option<&'static Schema>,
    attribute: &'a Attribute,
    sub: Option<&'a Attribute>,
}

impl<'a> Context<'a> {
    fn definition(self, path: &AttrPath) -> Option<Definition<'a>> {
        match self {
            Context::Type(rt) => {
                let (extension, attribute) = match rt.resolve(path.urn.as_deref(), &path.name) {
                    Some(r) => (if std::ptr::eq(r.schema, rt.schema) { None } else { Some(r.schema) }, r.attribute),
                    None => {
                        let core = path.urn.as_deref().is_none_or(|u| u.eq_ignore_ascii_case(rt.schema.id));
                        if !(core && path.name.eq_ignore_ascii_case(SCHEMAS.name)) {
                            return None;
                        }
                        (None, &SCHEMAS)
                    }
                };
                let sub = match &path.sub {
                    Some(sub) => Some(attribute.sub_attribute(sub)?),
                    None => None,
                };
                Some(Definition { extension, attribute, sub })
            }
            Context::Element(parent) => {
                if path.urn.is_some() || path.sub.is_some() {
                    return None;
                }
                Some(Definition { extension: None, attribute: parent.sub_attribute(&path.name)?, sub: None })
            }
        }
    }

    /// Why `path` does not resolve, for a 400 detail.
    fn explain_unknown(self, path: &AttrPath) -> String {
        match self {
            Context::Type(rt) => {
                if let Some(r) = rt.resolve(path.urn.as_deref(), &path.name) {
                    let sub = path.sub.as_deref().unwrap_or_default();
                    if r.attribute.kind == AttributeType::Complex {
                        return format!(
                            "unknown attribute \"{path}\": \"{}\" has no sub-attribute \"{sub}\"",
                            r.attribute.name
                        );
                    }
                    return format!(
                        "unknown attribute \"{path}\": \"{}\" is not complex and has no sub-attributes",
                        r.attribute.name
                    );
                }
                if path.urn.is_none() {
                    for ext in rt.extensions {
                        if let Some(a) = ext.schema.attribute(&path.name) {
                            return format!(
                                "unknown attribute \"{path}\": {} has no such attribute; the extension attribute is \
                                 \"{}:{}\"",
                                rt.name, ext.schema.id, a.name
                            );
                        }
                    }
                }
                if let Some(urn) = path.urn.as_deref().filter(|u| rt.schema_by_urn(u).is_none()) {
                    return format!("unknown attribute \"{path}\": {} has no schema \"{urn}\"", rt.name);
                }
                format!("unknown attribute \"{path}\": {} has no such attribute", rt.name)
            }
            Context::Element(parent) => {
                if path.urn.is_some() || path.sub.is_some() {
                    format!(
                        "unknown attribute \"{path}\" inside \"{}[...]\": write a sub-attribute name alone, such as \
                         \"{}\"",
                        parent.name,
                        parent.sub_attributes.first().map_or("value", |a| a.name)
                    )
                } else {
                    format!("unknown attribute \"{path}\": \"{}\" has no sub-attribute \"{}\"", parent.name, path.name)
                }
            }
        }
    }
}

impl<'a> Scope<'a> {
    fn context(self) -> Context<'a> {
        match self {
            Scope::Resource(_, rt) => Context::Type(rt),
            Scope::Element(_, parent) => Context::Element(parent),
        }
    }

    fn target(self, path: &AttrPath) -> Option<Target<'a>> {
        let def = self.context().definition(path)?;
        let container = match (self, def.extension) {
            (Scope::Resource(resource, _), Some(schema)) => get_ci(resource, schema.id),
            (Scope::Resource(resource, _), None) | (Scope::Element(resource, _), _) => Some(resource),
        };
        let value = container.and_then(|c| get_ci(c, def.attribute.name));
        Some(Target { def, value })
    }
}

/// The member `key` of a JSON object: exact match first, then ASCII case-insensitive (RFC 7643 §2.1).
fn get_ci<'v>(value: &'v Value, key: &str) -> Option<&'v Value> {
    let object = value.as_object()?;
    object.get(key).or_else(|| object.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v))
}

/// An attribute path resolved against a resource: its definition and the attribute's value, if any.
struct Target<'a> {
    def: Definition<'a>,
    value: Option<&'a Value>,
}

/// Which values a comparison looks at.
#[derive(Clone, Copy)]
enum Leaf<'a> {
    /// The attribute's own values.
    Itself(&'a Attribute),
    /// The sub-attribute of each element; `implied` when the path did not name it (`emails eq "x"`).
    Sub(&'a Attribute, bool),
}

impl<'a> Leaf<'a> {
    fn attribute(self) -> &'a Attribute {
        match self {
            Leaf::Itself(a) | Leaf::Sub(a, _) => a,
        }
    }
}

impl<'a> Target<'a> {
    /// None for a complex attribute without `value`: it cannot be compared as a whole.
    fn leaf(&self) -> Option<Leaf<'a>> {
        match self.def.sub {
            Some(sub) => Some(Leaf::Sub(sub, false)),
            None if self.def.attribute.kind == AttributeType::Complex => {
                self.def.attribute.sub_attribute("value").map(|v| Leaf::Sub(v, true))
            }
            None => Some(Leaf::Itself(self.def.attribute)),
        }
    }

    fn any_leaf(&self, leaf: Leaf<'_>, mut test: impl FnMut(&'a Value) -> bool) -> bool {
        let Some(value) = self.value else { return false };
        let items = match value {
            Value::Array(items) => items.as_slice(),
            single => std::slice::from_ref(single),
        };
        items.iter().any(|item| match (leaf, item) {
            (Leaf::Itself(_), Value::Array(_) | Value::Object(_)) => false,
            (Leaf::Itself(_), _) => test(item),
            (Leaf::Sub(sub, _), Value::Object(_)) => match get_ci(item, sub.name) {
                Some(Value::Array(values)) => values.iter().any(&mut test),
                Some(v) => test(v),
                None => false,
            },
            // Entra sends `manager` as a bare id at times: that is its `value`.
            (Leaf::Sub(_, implied), _) => implied && test(item),
        })
    }

    fn present(&self) -> bool {
        match self.def.sub {
            Some(sub) => self.any_leaf(Leaf::Sub(sub, false), is_present),
            None => self.value.is_some_and(is_present),
        }
    }

    fn compare(&self, op: CompareOp, operand: &CompValue) -> bool {
        if *operand == CompValue::Null {
            return match op {
                CompareOp::Eq => !self.present(),
                CompareOp::Ne => self.present(),
                _ => false,
            };
        }
        let Some(leaf) = self.leaf() else { return false };
        let negate = op == CompareOp::Ne;
        let Some(expected) = Expected::new(leaf.attribute(), operand) else { return negate };
        let op = if negate { CompareOp::Eq } else { op };
        self.any_leaf(leaf, |actual| expected.test(op, actual)) != negate
    }
}

/// RFC 7644 `pr`: present and not empty; a complex or multi-valued value needs a non-empty member.
fn is_present(value: &Value) -> bool {
    fn non_empty(value: &Value) -> bool {
        match value {
            Value::Null => false,
            Value::String(s) => !s.is_empty(),
            Value::Array(a) => !a.is_empty(),
            Value::Object(o) => !o.is_empty(),
            Value::Bool(_) | Value::Number(_) => true,
        }
    }
    match value {
        Value::Array(items) => items.iter().any(|item| match item {
            Value::Object(o) => o.values().any(non_empty),
            other => non_empty(other),
        }),
        Value::Object(o) => o.values().any(non_empty),
        other => non_empty(other),
    }
}

impl Filter {
    fn eval(&self, scope: Scope<'_>) -> bool {
        match self {
            Filter::And(l, r) => l.eval(scope) && r.eval(scope),
            Filter::Or(l, r) => l.eval(scope) || r.eval(scope),
            Filter::Not(inner) => !inner.eval(scope),
            Filter::Present(path) => scope.target(path).is_some_and(|t| t.present()),
            Filter::Compare(path, op, value) => scope.target(path).is_some_and(|t| t.compare(*op, value)),
            Filter::ValuePath(path, inner) => {
                if matches!(scope, Scope::Element(..)) || path.sub.is_some() {
                    return false;
                }
                let Some(target) = scope.target(path) else { return false };
                let attribute = target.def.attribute;
                if attribute.kind != AttributeType::Complex {
                    return false;
                }
                match target.value {
                    Some(Value::Array(items)) => {
                        items.iter().any(|item| item.is_object() && inner.eval(Scope::Element(item, attribute)))
                    }
                    // A single-valued complex attribute: Entra removes `manager[value eq "id"]`.
                    Some(item @ Value::Object(_)) => inner.eval(Scope::Element(item, attribute)),
                    _ => false,
                }
            }
        }
    }
}

/// A comparison operand converted once to the attribute's type, so that each value compared costs no conversion.
enum Expected<'f> {
    Text { text: Cow<'f, str>, case_exact: bool },
    Bool(bool),
    Number(Num),
    DateTime(OffsetDateTime),
}

impl<'f> Expected<'f> {
    /// None when the operand cannot be of the attribute's type.
    fn new(attribute: &Attribute, operand: &'f CompValue) -> Option<Self> {
        match attribute.kind {
            AttributeType::String | AttributeType::Reference | AttributeType::Binary => {
                let text = match operand {
                    CompValue::String(s) => Cow::Borrowed(s.as_str()),
                    CompValue::Number(n) => Cow::Owned(n.to_string()),
                    CompValue::Bool(b) => Cow::Borrowed(if *b { "true" } else { "false" }),
                    CompValue::Null => return None,
                };
                Some(Expected::Text { text, case_exact: attribute.case_exact })
            }
            AttributeType::Boolean => match operand {
                CompValue::Bool(b) => Some(Expected::Bool(*b)),
                CompValue::String(s) => parse_bool(s).map(Expected::Bool),
                _ => None,
            },
            AttributeType::Integer | AttributeType::Decimal => match operand {
                CompValue::Number(n) => Num::from_json(n).map(Expected::Number),
                CompValue::String(s) => Num::parse(s).map(Expected::Number),
                _ => None,
            },
            AttributeType::DateTime => match operand {
                CompValue::String(s) => parse_date_time(s).map(Expected::DateTime),
                _ => None,
            },
            AttributeType::Complex => None,
        }
    }

    fn test(&self, op: CompareOp, actual: &Value) -> bool {
        match (self, actual) {
            (Expected::Text { text, case_exact }, Value::String(actual)) => compare_text(op, actual, text, *case_exact),
            (Expected::Bool(b), Value::Bool(actual)) => op == CompareOp::Eq && actual == b,
            // Entra writes booleans as "True"/"False" strings; tolerate them if they were stored so.
            (Expected::Bool(b), Value::String(actual)) => op == CompareOp::Eq && parse_bool(actual) == Some(*b),
            (Expected::Number(n), Value::Number(actual)) => {
                Num::from_json(actual).is_some_and(|a| ordered(op, a.partial_cmp(*n)))
            }
            (Expected::DateTime(t), Value::String(actual)) => {
                parse_date_time(actual).is_some_and(|a| ordered(op, Some(a.cmp(t))))
            }
            _ => false,
        }
    }
}

pub(crate) fn parse_bool(s: &str) -> Option<bool> {
    if s.eq_ignore_ascii_case("true") {
        Some(true)
    } else if s.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

/// RFC 3339, or an `xsd:dateTime` without offset (RFC 7643 §2.3.5 allows it), read as UTC. Any number of fraction
/// digits: Entra sends seven.
pub(crate) fn parse_date_time(s: &str) -> Option<OffsetDateTime> {
    const LOCAL: &[time::format_description::BorrowedFormatItem<'_>] =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second][optional [.[subsecond]]]");
    OffsetDateTime::parse(s, &Rfc3339)
        .ok()
        .or_else(|| PrimitiveDateTime::parse(s, LOCAL).ok().map(PrimitiveDateTime::assume_utc))
}

/// A number compared exactly when both sides are integers, as `f64` otherwise.
#[derive(Clone, Copy)]
enum Num {
    Int(i128),
    Float(f64),
}

impl Num {
    fn from_json(n: &serde_json::Number) -> Option<Num> {
        if let Some(i) = n.as_i64() {
            Some(Num::Int(i.into()))
        } else if let Some(u) = n.as_u64() {
            Some(Num::Int(u.into()))
        } else {
            n.as_f64().filter(|f| f.is_finite()).map(Num::Float)
        }
    }

    fn parse(s: &str) -> Option<Num> {
        let s = s.trim();
        s.parse::<i128>().ok().map(Num::Int).or_else(|| s.parse::<f64>().ok().filter(|f| f.is_finite()).map(Num::Float))
    }

    fn as_f64(self) -> f64 {
        match self {
            Num::Int(i) => i as f64,
            Num::Float(f) => f,
        }
    }

    fn partial_cmp(self, other: Num) -> Option<Ordering> {
        match (self, other) {
            (Num::Int(a), Num::Int(b)) => Some(a.cmp(&b)),
            (a, b) => a.as_f64().partial_cmp(&b.as_f64()),
        }
    }
}

/// Does `actual <op> expected` hold, given how they order? (`co`/`sw`/`ew` never do here.)
fn ordered(op: CompareOp, ordering: Option<Ordering>) -> bool {
    use Ordering::*;
    matches!(
        (op, ordering),
        (CompareOp::Eq, Some(Equal))
            | (CompareOp::Ne, Some(Less | Greater))
            | (CompareOp::Gt, Some(Greater))
            | (CompareOp::Ge, Some(Greater | Equal))
            | (CompareOp::Lt, Some(Less))
            | (CompareOp::Le, Some(Less | Equal))
    )
}

fn compare_text(op: CompareOp, actual: &str, expected: &str, case_exact: bool) -> bool {
    if case_exact {
        return match op {
            CompareOp::Eq => actual == expected,
            CompareOp::Ne => actual != expected,
            CompareOp::Co => actual.contains(expected),
            CompareOp::Sw => actual.starts_with(expected),
            CompareOp::Ew => actual.ends_with(expected),
            _ => ordered(op, Some(actual.cmp(expected))),
        };
    }
    match op {
        CompareOp::Eq => fold_eq(actual, expected),
        CompareOp::Ne => !fold_eq(actual, expected),
        CompareOp::Co => fold_contains(actual, expected),
        CompareOp::Sw => {
            let mut rest = lower(actual);
            lower(expected).all(|c| rest.next() == Some(c))
        }
        CompareOp::Ew => {
            let mut rest = actual.chars().rev().flat_map(|c| c.to_lowercase().rev());
            expected.chars().rev().flat_map(|c| c.to_lowercase().rev()).all(|c| rest.next() == Some(c))
        }
        _ => ordered(op, Some(fold_cmp(actual, expected))),
    }
}

/// Unicode lower case, character by character (no allocation; no locale-specific rules).
fn lower(s: &str) -> impl Iterator<Item = char> + '_ {
    s.chars().flat_map(char::to_lowercase)
}

/// The case-insensitive key of a string: how filters compare strings of attributes that are not `caseExact`.
/// Stores that index such attributes (uniqueness, lookups) must fold with this same function, or the index and the
/// filter could disagree (`str::to_lowercase` differs for a word-final capital sigma).
pub fn fold_case(s: &str) -> String {
    lower(s).collect()
}

fn fold_eq(a: &str, b: &str) -> bool {
    if a.is_ascii() && b.is_ascii() { a.eq_ignore_ascii_case(b) } else { lower(a).eq(lower(b)) }
}

fn fold_cmp(a: &str, b: &str) -> Ordering {
    if a.is_ascii() && b.is_ascii() {
        a.bytes().map(|c| c.to_ascii_lowercase()).cmp(b.bytes().map(|c| c.to_ascii_lowercase()))
    } else {
        lower(a).cmp(lower(b))
    }
}

fn fold_contains(haystack: &str, needle: &str) -> bool {
    if haystack.is_ascii() && needle.is_ascii() {
        let (h, n) = (haystack.as_bytes(), needle.as_bytes());
        return n.is_empty() || h.windows(n.len()).any(|w| w.eq_ignore_ascii_case(n));
    }
    let haystack: String = lower(haystack).collect();
    let needle: String = lower(needle).collect();
    haystack.contains(&needle)
}

// ---------------------------------------------------------------------------------------------------------------
// Validation.
// ---------------------------------------------------------------------------------------------------------------

impl Filter {
    fn check(&self, context: Context<'_>) -> Result<(), String> {
        match self {
            Filter::And(l, r) | Filter::Or(l, r) => {
                l.check(context)?;
                r.check(context)
            }
            Filter::Not(inner) => inner.check(context),
            Filter::Present(path) => context.definition(path).map(|_| ()).ok_or_else(|| context.explain_unknown(path)),
            Filter::Compare(path, op, value) => {
                let def = context.definition(path).ok_or_else(|| context.explain_unknown(path))?;
                check_comparison(path, def, *op, value)
            }
            Filter::ValuePath(path, inner) => {
                let Context::Type(_) = context else {
                    return Err(format!("value filters cannot be nested: \"{path}[...]\""));
                };
                let def = context.definition(path).ok_or_else(|| context.explain_unknown(path))?;
                check_value_path(path, def.attribute)?;
                inner.check(Context::Element(def.attribute))
            }
        }
    }
}

/// "a string", "an integer".
fn a_kind(kind: AttributeType) -> String {
    let name = kind.as_str();
    let article = if name.starts_with(['a', 'e', 'i', 'o', 'u']) { "an" } else { "a" };
    format!("{article} {name}")
}

pub(crate) fn check_value_path(path: &AttrPath, attribute: &Attribute) -> Result<(), String> {
    if path.sub.is_some() {
        return Err(format!("a value filter applies to an attribute, not to the sub-attribute \"{path}\""));
    }
    if attribute.kind != AttributeType::Complex {
        return Err(format!(
            "\"{path}\" is {}, not a complex attribute: a value filter [...] applies to attributes such as emails",
            a_kind(attribute.kind)
        ));
    }
    Ok(())
}

fn check_comparison(path: &AttrPath, def: Definition<'_>, op: CompareOp, value: &CompValue) -> Result<(), String> {
    let leaf = match def.sub {
        Some(sub) => sub,
        None if def.attribute.kind == AttributeType::Complex => match def.attribute.sub_attribute("value") {
            Some(v) => v,
            None => {
                let example = def.attribute.sub_attributes.first().map_or("value", |a| a.name);
                return Err(format!(
                    "\"{path}\" is a complex attribute: compare one of its sub-attributes, such as \"{path}.{example}\""
                ));
            }
        },
        None => def.attribute,
    };
    let ordering = matches!(op, CompareOp::Gt | CompareOp::Ge | CompareOp::Lt | CompareOp::Le);
    if ordering && matches!(leaf.kind, AttributeType::Boolean | AttributeType::Binary) {
        return Err(format!("\"{path}\" is {}: {op} does not apply to it (RFC 7644 §3.4.2.2)", a_kind(leaf.kind)));
    }
    if *value == CompValue::Null || Expected::new(leaf, value).is_some() {
        return Ok(());
    }
    let wanted = match leaf.kind {
        AttributeType::Boolean => "true or false",
        AttributeType::Integer | AttributeType::Decimal => "a number",
        AttributeType::DateTime => "an RFC 3339 date-time such as \"2011-05-13T04:42:34Z\"",
        _ => "a string",
    };
    Err(format!("\"{path}\" is {}: expected {wanted}, found {value}", a_kind(leaf.kind)))
}
