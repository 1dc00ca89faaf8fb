//! The attribute-mapping expression language of Entra-style provisioning (`Join(" ", [givenName], [surname])`,
//! `Switch([IsSoftDeleted], , "False", "True", "True", "False")`): the syntax tree ([`Expr`]), its parser and
//! canonical printer, Microsoft Graph's tree form ([`AttributeMappingSource`]), the function catalogue
//! ([`catalogue`], the data of Graph's `schema/functions`), validation ([`Expr::validate`]) and evaluation
//! ([`Expr::evaluate`]). Pure: no I/O; the time, randomness and the tenant's default domain come from the caller's
//! [`Environment`].
//!
//! # Grammar
//!
//! ```text
//! expression = operand [ws compareOp ws operand]          ; comparisons do not chain
//! operand    = attribute / string / call / bare
//! attribute  = "[" 1*(any character but "[", "]" and control characters) "]"
//! string     = DQUOTE *(char / "\" char) DQUOTE           ; "\" escapes "\" and DQUOTE; before any other
//!                                                          ; character it stands for itself
//! call       = name ws "(" ws [slot *(ws "," ws slot)] ws ")"
//! slot       = [expression]                                ; an empty slot: Replace([x], "-", , , "_", , )
//! name       = (ALPHA / "_") *(ALPHA / DIGIT / "_")
//! bare       = 1*(any character but white space and , ( ) [ ] " = < >)
//!                                                          ; 8, -10, &HF7, vbTextCompare: a constant
//! compareOp  = "=" / "<>" / ">=" / "<=" / ">" / "<"
//! ws         = *(white space)
//! ```
//! A bare word followed by `(` is a call; otherwise a constant. `F()` has no slots, so a call never has a single
//! empty slot. Function and attribute names are case-sensitive, as Microsoft documents: `switch(...)` is an unknown
//! function (validation suggests `Switch`), and an attribute is whatever the caller's [`AttributeSet`] and [`Input`]
//! make of its exact name. Limits: [`MAX_EXPRESSION_LEN`] characters (Microsoft's), [`MAX_DEPTH`] levels,
//! [`MAX_NODES`] nodes; while evaluating, no function produces more than [`MAX_VALUE_LEN`] bytes or [`MAX_VALUES`]
//! values.
//!
//! # Functions
//!
//! Implemented, with Microsoft's documented semantics (the table-driven tests carry each documented example):
//! `Append`, `AppRoleAssignmentsComplex`, `AssertiveAppRoleAssignmentsComplex`, `BitAnd`, `CBool`, `CDate`,
//! `Coalesce`, `ConvertToBase64`, `ConvertToUTF8Hex`, `Count`, `CStr`, `DateAdd`, `DateDiff`, `DateFromNum`,
//! `DefaultDomain`, `FormatDateTime`, `Guid`, `IgnoreFlowIfNullOrEmpty`, `IIF`, `InStr`, `IsNull`, `IsNullOrEmpty`,
//! `IsPresent`, `IsString`, `Item`, `Join`, `Left`, `Mid`, `NormalizeDiacritics`, `Not`, `Now`, `NumFromDate`,
//! `PCase`, `Prepend` (in Graph's function list), `RandomString`, `Redact`, `RemoveDuplicates`, `Replace`,
//! `SingleAppRoleAssignment`, `Split`, `StripSpaces`, `Switch`, `ToLower`, `ToUpper`, `Word`.
//!
//! Not implemented:
//! - `SelectUniqueValue` parses, prints and converts, but validation and evaluation refuse it: it asks the target
//!   directory whether each candidate is taken, which Microsoft supports only for Active Directory targets, and a
//!   SCIM target has no such query.
//! - `AppRoleAssignments` and `IsNothing`, which Graph's function list shows without documenting them, are unknown
//!   functions (for the first, validation suggests `AppRoleAssignmentsComplex`): idplane does not guess semantics.
//!
//! Semantics worth knowing (Microsoft's, where documented):
//! - Null propagates: a function of a null source returns null (nothing flows), except where Microsoft documents
//!   otherwise: `Left` and `Word` of null are `""`; `Switch` compares a null source as `""`; `Join` skips null and
//!   empty values (its documented example drops `""`) and is null only when every source is; `Coalesce` returns
//!   the first non-null value (`""` counts); `Count` of null is 0; `IsNull`/`IsNullOrEmpty`/`IsPresent` test it.
//! - `IIF` is null when an attribute its condition reads is null or empty: Microsoft documents that the condition
//!   check fails then (`IIF(IsPresent([country]), [country], "Other")` is documented as unsupported; use
//!   `Switch([country], [country], "", "Other")`). A comparison with a null side is null.
//! - `Switch` keys and comparisons are case-sensitive; comparisons order numbers as numbers, dates as dates and
//!   booleans as booleans when both sides are such, strings by code point otherwise.
//! - Indexes are 1-based (`Mid`, `InStr`, `Item`, `Word`); `Item` outside the values and `Mid` before 1 are errors.
//! - Functions that take one value accept a multi-valued value with one value (or none: null) and refuse more;
//!   `Join`, `Count`, `Item`, `RemoveDuplicates`, `Coalesce`, `IsNull*` and the role functions take them whole.
//! - `Replace` chooses its mode by which arguments are present (plain, template, regex with `${group}`, regex group,
//!   regex group from a replacement attribute); see [`catalogue`] for Graph's parameter names.
//! - Dates are UTC and print as `M/d/yyyy h:mm:ss tt`; `FormatDateTime` takes .NET custom and (en-US) standard
//!   format strings and `DateTimeStyles` names; `DateAdd`/`DateDiff` take VBA's intervals.
//! - `Not` is `False` only for true (`True` in any case), `True` for any other value, as documented; `CBool` reads
//!   `True`/`False` and numbers (non-zero is true); `IsString` is true for string values only, not for booleans,
//!   numbers or dates.
//! - The role functions read `[appRoleAssignments]` values that are strings (the role's value and display name) or
//!   objects with `value` and `displayName` (or `display`), and give SCIM roles
//!   (`{"primary":false,"type":"WindowsAzureActiveDirectoryRole","display":...,"value":...}`).
//! - The environment has no culture: Microsoft's `ToLower`/`ToUpper` default to the invariant culture and take
//!   one as an argument, and dates follow en-US, the culture of Microsoft's documented outputs.
//! - `IgnoreFlowIfNullOrEmpty`, `Redact` and `AssertiveAppRoleAssignmentsComplex` set the flags of [`Evaluation`].
//!
//! # Where idplane departs from Microsoft, and why
//!
//! - Constants print quoted everywhere. Graph's `Mid` sample shows `Mid([userPrincipalName], 1, 8)` as the call's
//!   `expression` while its constant nodes say `"1"` and `"8"`; idplane prints `Mid([userPrincipalName], "1", "8")`,
//!   which parses to the same tree, so that one printer serves every node.
//! - Comparisons in trees are `Function` nodes named `=`, `<>`, ... with `left`/`right` parameters: Microsoft does
//!   not document their tree form.
//! - A backslash before a character other than `\` and `"` is kept (`"\d"` is `\d`), so patterns written with
//!   single backslashes keep working; Microsoft documents only the two escapes.
//! - `FormatDateTime` with three arguments is read as Microsoft's earlier signature
//!   `(source, inputFormat, outputFormat)`; a source that already is a date (from `CDate`) is formatted directly.
//! - Regular expressions run on the `regex` crate: linear time, but no look-around or backreferences (.NET has
//!   them); such a pattern is refused with the reason.
//! - Character positions count Unicode scalar values, not UTF-16 code units, and case mapping is one character to
//!   one character with the invariant culture or the Turkic one (`tr`, `az`); other cultures behave invariantly.
//! - `Split` trims its pieces and drops empty ones, which is what Microsoft's documented example shows
//!   (`"PermissionSetOne, PermissionSetTwo"` gives `["PermissionSetOne", "PermissionSetTwo"]`).
//! - `SingleAppRoleAssignment` returns the role as an object (`value`, `display`, `type`, `primary: true`), whose
//!   string form is its `value`, so that mappings to `roles[primary eq "True"].display` and `.type` can pick their
//!   part.

pub mod ast;
pub mod catalogue;
mod dates;
pub mod error;
pub mod eval;
mod parser;
pub mod random;
mod replace;
mod text;
pub mod tree;
pub mod validate;
pub mod value;

pub use ast::{CompareOp, Expr, Position};
pub use catalogue::{FUNCTIONS, Function, Parameter, ParameterType, Support};
pub use error::ExprError;
pub use eval::{Environment, Evaluation, Input, ROLE_TYPE};
pub use random::RandomSource;
pub use text::diacritics_table;
pub use tree::{AttributeMappingSource, MappingParameter, SourceType};
pub use validate::AttributeSet;
pub use value::Value;

/// The longest expression accepted, in characters: Microsoft's limit.
pub const MAX_EXPRESSION_LEN: usize = 10_000;
/// The deepest nesting accepted: an attribute or a constant is 1 deep, a call one deeper than its deepest argument.
pub const MAX_DEPTH: usize = 32;
/// The most nodes (attributes, constants, calls, comparisons) in one expression.
pub const MAX_NODES: usize = 1_000;
/// The largest string (in bytes of UTF-8, summed over a multi-valued value) a function may produce.
pub const MAX_VALUE_LEN: usize = 1 << 20;
/// The most values a function may produce as one multi-valued value.
pub const MAX_VALUES: usize = 10_000;
