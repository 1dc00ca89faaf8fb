//! The syntax tree ([`Expr`]) and its canonical printer (`Display`).
//!
//! The printer writes what Microsoft's `attributeMappingSource.expression` shows: attributes in brackets, every
//! constant as a double-quoted string (`\` and `"` escaped with `\`), calls as `Name(arg, arg)` with `", "` between
//! argument slots and nothing in an empty slot (`Replace([preferredLanguage], "-", , , "_", , )`), comparisons as
//! `left op right` with single spaces. `Expr::parse(&e.to_string()) == Ok(e)` for every tree the parser returns whose
//! printed form fits in [`crate::MAX_EXPRESSION_LEN`] (printing can lengthen: bare constants gain quotes).

use std::fmt::{self, Write as _};

/// Where a node starts in the text it was parsed from: a 1-based character offset, or `None` for a node built in
/// code or read from an `attributeMappingSource` tree. Only error messages use it, so it takes no part in a tree's
/// identity: two trees that differ only in positions are equal.
#[derive(Debug, Clone, Copy, Default)]
pub struct Position(pub Option<usize>);

impl PartialEq for Position {
    fn eq(&self, _: &Position) -> bool {
        true
    }
}

impl Eq for Position {}

/// A comparison operator of an `IIF` condition (`[country]="USA"`, `DateDiff(...) > 5`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CompareOp {
    /// `=`
    Eq,
    /// `<>`
    Ne,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `<`
    Lt,
    /// `<=`
    Le,
}

impl CompareOp {
    pub const ALL: [CompareOp; 6] =
        [CompareOp::Eq, CompareOp::Ne, CompareOp::Gt, CompareOp::Ge, CompareOp::Lt, CompareOp::Le];

    /// The operator as written: `=`, `<>`, `>`, `>=`, `<`, `<=`.
    pub fn symbol(self) -> &'static str {
        match self {
            CompareOp::Eq => "=",
            CompareOp::Ne => "<>",
            CompareOp::Gt => ">",
            CompareOp::Ge => ">=",
            CompareOp::Lt => "<",
            CompareOp::Le => "<=",
        }
    }

    /// The operator written `symbol`, if it is one.
    pub fn from_symbol(symbol: &str) -> Option<CompareOp> {
        CompareOp::ALL.into_iter().find(|op| op.symbol() == symbol)
    }
}

/// An attribute-mapping expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expr {
    /// `[name]`: the source object's attribute `name` (null when the object does not have it).
    Attribute { name: String, at: Position },
    /// A constant: a quoted string (`"United States"`) or a bare literal (`8` in `Mid([x], 1, 8)`, `&HF` in
    /// `BitAnd`, `vbTextCompare` in `InStr`); both are the string they spell.
    Constant { value: String, at: Position },
    /// `Function(slot, slot, ...)`: each slot holds an argument or is empty (`None`). A call printed with one empty
    /// slot reads back with none (`F()`), so the parser never returns that shape.
    Call { function: String, args: Vec<Option<Expr>>, at: Position },
    /// `left op right`, the comparison `IIF` and `CBool` take. Comparisons do not chain: neither side is one.
    Compare { op: CompareOp, left: Box<Expr>, right: Box<Expr>, at: Position },
}

impl Expr {
    /// `[name]`
    pub fn attribute(name: impl Into<String>) -> Expr {
        Expr::Attribute { name: name.into(), at: Position::default() }
    }

    /// `"value"`
    pub fn constant(value: impl Into<String>) -> Expr {
        Expr::Constant { value: value.into(), at: Position::default() }
    }

    /// `function(args...)`; `None` is an empty slot.
    pub fn call(function: impl Into<String>, args: Vec<Option<Expr>>) -> Expr {
        Expr::Call { function: function.into(), args, at: Position::default() }
    }

    /// `left op right`
    pub fn compare(op: CompareOp, left: Expr, right: Expr) -> Expr {
        Expr::Compare { op, left: Box::new(left), right: Box::new(right), at: Position::default() }
    }

    /// Where this node starts in the parsed text (1-based characters), if it was parsed.
    pub fn position(&self) -> Option<usize> {
        match self {
            Expr::Attribute { at, .. }
            | Expr::Constant { at, .. }
            | Expr::Call { at, .. }
            | Expr::Compare { at, .. } => at.0,
        }
    }

    /// The names of the attributes this expression reads, in order of appearance (repeats included).
    pub fn attributes(&self) -> Vec<&str> {
        let mut names = Vec::new();
        self.collect_attributes(&mut names);
        names
    }

    fn collect_attributes<'a>(&'a self, names: &mut Vec<&'a str>) {
        match self {
            Expr::Attribute { name, .. } => names.push(name),
            Expr::Constant { .. } => {}
            Expr::Call { args, .. } => args.iter().flatten().for_each(|arg| arg.collect_attributes(names)),
            Expr::Compare { left, right, .. } => {
                left.collect_attributes(names);
                right.collect_attributes(names);
            }
        }
    }

    /// How many nodes (attributes, constants, calls, comparisons) the tree has.
    pub fn node_count(&self) -> usize {
        match self {
            Expr::Attribute { .. } | Expr::Constant { .. } => 1,
            Expr::Call { args, .. } => 1 + args.iter().flatten().map(Expr::node_count).sum::<usize>(),
            Expr::Compare { left, right, .. } => 1 + left.node_count() + right.node_count(),
        }
    }

    /// How deeply the tree nests: 1 for an attribute or a constant, one more than its deepest argument for a call
    /// or a comparison.
    pub fn depth(&self) -> usize {
        match self {
            Expr::Attribute { .. } | Expr::Constant { .. } => 1,
            Expr::Call { args, .. } => 1 + args.iter().flatten().map(Expr::depth).max().unwrap_or(0),
            Expr::Compare { left, right, .. } => 1 + left.depth().max(right.depth()),
        }
    }
}

/// Writes `value` as a constant: double-quoted, `\` and `"` escaped with `\`.
pub(crate) fn write_quoted(out: &mut impl fmt::Write, value: &str) -> fmt::Result {
    out.write_char('"')?;
    for c in value.chars() {
        if c == '"' || c == '\\' {
            out.write_char('\\')?;
        }
        out.write_char(c)?;
    }
    out.write_char('"')
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Attribute { name, .. } => write!(f, "[{name}]"),
            Expr::Constant { value, .. } => write_quoted(f, value),
            Expr::Call { function, args, .. } => {
                write!(f, "{function}(")?;
                for (i, arg) in args.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    if let Some(arg) = arg {
                        write!(f, "{arg}")?;
                    }
                }
                f.write_char(')')
            }
            Expr::Compare { op, left, right, .. } => write!(f, "{left} {} {right}", op.symbol()),
        }
    }
}
