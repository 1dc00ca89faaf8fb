//! Microsoft Graph's tree form of an expression, `attributeMappingSource`, and the conversions both ways.
//!
//! ```json
//! {"expression":"Mid([userPrincipalName], \"1\", \"8\")","name":"Mid","type":"Function","parameters":[
//!   {"key":"source","value":{"expression":"[userPrincipalName]","name":"userPrincipalName","parameters":[],"type":"Attribute"}},
//!   {"key":"start","value":{"expression":"\"1\"","name":"1","parameters":[],"type":"Constant"}},
//!   {"key":"length","value":{"expression":"\"8\"","name":"8","parameters":[],"type":"Constant"}}]}
//! ```
//! An attribute's `name` is the attribute, a constant's the value itself, a function's the function; `expression` is
//! the node printed ([`Expr`]'s `Display`); a function's `parameters` are its present arguments keyed by parameter
//! name, empty slots left out. The tree is canonical: reading one lays the arguments out as Microsoft prints them
//! (all the slots of a function when an earlier one is missing, `Replace([x], "-", , , "_", , )`; up to the last
//! given otherwise), and writing an expression writes that layout.
//!
//! Comparisons, which Microsoft does not document in tree form, are written as a `Function` node named by the
//! operator (`=`, `<>`, `>`, `>=`, `<`, `<=`) with parameters `left` and `right`.
//!
//! Clients send either form: a node whose `expression` is set while its `parameters` are empty is read by parsing
//! `expression` (and must agree with the node's `type` and `name` when those are given); otherwise the structure is
//! read and `expression` ignored.

use serde::{Deserialize, Deserializer, Serialize};

use crate::MAX_DEPTH;
use crate::MAX_NODES;
use crate::ast::{CompareOp, Expr};
use crate::error::ExprError;
use crate::eval::known;
use crate::parser::is_attribute_name;

/// What an `attributeMappingSource` node is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum SourceType {
    Attribute,
    Constant,
    Function,
}

impl<'de> Deserialize<'de> for SourceType {
    /// Reads `Attribute`, `Constant` and `Function` in any case.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<SourceType, D::Error> {
        let name = String::deserialize(deserializer)?;
        match name.to_ascii_lowercase().as_str() {
            "attribute" => Ok(SourceType::Attribute),
            "constant" => Ok(SourceType::Constant),
            "function" => Ok(SourceType::Function),
            _ => Err(serde::de::Error::custom(format!("`{name}` is not Attribute, Constant or Function"))),
        }
    }
}

/// Graph's `attributeMappingSource`: an expression as a tree.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct AttributeMappingSource {
    #[serde(default)]
    pub expression: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub parameters: Vec<MappingParameter>,
    #[serde(rename = "type", default)]
    pub kind: Option<SourceType>,
}

/// Graph's `stringKeyAttributeMappingSourceValuePair`: one argument of a function, keyed by parameter name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MappingParameter {
    pub key: String,
    pub value: AttributeMappingSource,
}

fn null_as_empty<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<MappingParameter>, D::Error> {
    Ok(Option::<Vec<MappingParameter>>::deserialize(deserializer)?.unwrap_or_default())
}

impl AttributeMappingSource {
    /// A node with nothing in it (`{}`, Graph's mapping without a source): no expression to read.
    pub fn is_empty(&self) -> bool {
        self.name.is_none()
            && self.parameters.is_empty()
            && self.expression.as_deref().is_none_or(|e| e.trim().is_empty())
    }

    /// The expression this tree describes, checked against the catalogue (names, arguments) and the limits.
    pub fn to_expr(&self) -> Result<Expr, ExprError> {
        let mut nodes = 0;
        read(self, "", 1, &mut nodes)
    }
}

impl Expr {
    /// The canonical tree of this expression (see the module docs). Fails when a function is unknown or its
    /// arguments do not fit, or when an attribute name cannot be written in brackets.
    pub fn to_source(&self) -> Result<AttributeMappingSource, ExprError> {
        Ok(write(&self.canonical()?))
    }

    /// The expression with every call's arguments in the canonical layout: `Expr::from_source(e.to_source())`.
    pub fn canonical(&self) -> Result<Expr, ExprError> {
        self.to_tree_parts()?.to_expr()
    }

    /// The tree read back: [`AttributeMappingSource::to_expr`].
    pub fn from_source(source: &AttributeMappingSource) -> Result<Expr, ExprError> {
        source.to_expr()
    }

    /// The tree's structure without `expression`s, for [`Expr::canonical`] to read.
    fn to_tree_parts(&self) -> Result<AttributeMappingSource, ExprError> {
        let node = |kind, name: &str, parameters| AttributeMappingSource {
            expression: None,
            name: Some(name.to_string()),
            parameters,
            kind: Some(kind),
        };
        Ok(match self {
            Expr::Attribute { name, at } => {
                if !is_attribute_name(name) {
                    let at = at.0.map(|p| format!(" (character {p})")).unwrap_or_default();
                    return Err(tree_error("", format!("{}{at}", unwritable(name))));
                }
                node(SourceType::Attribute, name, Vec::new())
            }
            Expr::Constant { value, .. } => node(SourceType::Constant, value, Vec::new()),
            Expr::Compare { op, left, right, .. } => node(
                SourceType::Function,
                op.symbol(),
                vec![
                    MappingParameter { key: "left".to_string(), value: left.to_tree_parts()? },
                    MappingParameter { key: "right".to_string(), value: right.to_tree_parts()? },
                ],
            ),
            Expr::Call { function, args, at } => {
                let f = known(function, at.0)?;
                let parameters = f.check_args(args, at.0)?;
                let mut pairs = Vec::new();
                for (arg, parameter) in args.iter().zip(parameters) {
                    if let Some(arg) = arg {
                        pairs.push(MappingParameter { key: parameter.name.to_string(), value: arg.to_tree_parts()? });
                    }
                }
                node(SourceType::Function, f.name, pairs)
            }
        })
    }
}

/// The tree of a canonical expression, every node with its printed `expression`.
fn write(expr: &Expr) -> AttributeMappingSource {
    let (kind, name, parameters) = match expr {
        Expr::Attribute { name, .. } => (SourceType::Attribute, name.clone(), Vec::new()),
        Expr::Constant { value, .. } => (SourceType::Constant, value.clone(), Vec::new()),
        Expr::Compare { op, left, right, .. } => (
            SourceType::Function,
            op.symbol().to_string(),
            vec![
                MappingParameter { key: "left".to_string(), value: write(left) },
                MappingParameter { key: "right".to_string(), value: write(right) },
            ],
        ),
        Expr::Call { function, args, .. } => {
            // A canonical call's function is known and its arguments fit; a name the catalogue lacks keeps no
            // parameter names, which cannot happen here.
            let parameters = crate::catalogue::function(function)
                .and_then(|f| f.slot_parameters(args.len()).ok())
                .unwrap_or_default();
            let pairs = args
                .iter()
                .zip(parameters)
                .filter_map(|(arg, p)| {
                    arg.as_ref().map(|arg| MappingParameter { key: p.name.to_string(), value: write(arg) })
                })
                .collect();
            (SourceType::Function, function.clone(), pairs)
        }
    };
    AttributeMappingSource { expression: Some(expr.to_string()), name: Some(name), parameters, kind: Some(kind) }
}

fn unwritable(name: &str) -> String {
    format!("`{name}` cannot be an attribute name: it must be non-empty, without `[`, `]` or control characters")
}

fn tree_error(path: &str, detail: impl Into<String>) -> ExprError {
    ExprError::Tree { path: path.to_string(), detail: detail.into() }
}

fn child_path(path: &str, index: usize) -> String {
    if path.is_empty() { format!("parameters[{index}].value") } else { format!("{path}.parameters[{index}].value") }
}

fn read(source: &AttributeMappingSource, path: &str, depth: usize, nodes: &mut usize) -> Result<Expr, ExprError> {
    if depth > MAX_DEPTH {
        return Err(ExprError::TooDeep { position: None, max: MAX_DEPTH });
    }
    if source.parameters.is_empty()
        && let Some(text) = source.expression.as_deref().filter(|e| !e.trim().is_empty())
    {
        let expr = Expr::parse(text).map_err(|e| tree_error(path, format!("`expression`: {e}")))?;
        *nodes += expr.node_count();
        if *nodes > MAX_NODES {
            return Err(ExprError::TooManyNodes { max: MAX_NODES });
        }
        if depth - 1 + expr.depth() > MAX_DEPTH {
            return Err(ExprError::TooDeep { position: None, max: MAX_DEPTH });
        }
        agree(source, &expr, path)?;
        // Rebuilt through the structure: arguments checked and laid out as a structured node's would be, and no
        // positions, which would point into this node's text rather than any whole expression.
        return expr.canonical().map_err(|e| tree_error(path, format!("`expression`: {e}")));
    }
    *nodes += 1;
    if *nodes > MAX_NODES {
        return Err(ExprError::TooManyNodes { max: MAX_NODES });
    }
    let Some(name) = source.name.as_deref() else {
        return Err(tree_error(path, "a node needs `name` (with `type`) or `expression`"));
    };
    let kind = source.kind.unwrap_or(SourceType::Attribute);
    if kind != SourceType::Function && !source.parameters.is_empty() {
        return Err(tree_error(path, format!("an {kind:?} node has no `parameters`")));
    }
    match kind {
        SourceType::Attribute => {
            if !is_attribute_name(name) {
                return Err(tree_error(path, unwritable(name)));
            }
            Ok(Expr::attribute(name))
        }
        SourceType::Constant => Ok(Expr::constant(name)),
        SourceType::Function => match CompareOp::from_symbol(name) {
            Some(op) => read_comparison(source, op, path, depth, nodes),
            None => read_call(source, name, path, depth, nodes),
        },
    }
}

/// Checks that a parsed `expression` is what the node's `type` and `name` say, when they say anything.
fn agree(source: &AttributeMappingSource, expr: &Expr, path: &str) -> Result<(), ExprError> {
    let (kind, name) = match expr {
        Expr::Attribute { name, .. } => (SourceType::Attribute, name.as_str()),
        Expr::Constant { value, .. } => (SourceType::Constant, value.as_str()),
        Expr::Call { function, .. } => (SourceType::Function, function.as_str()),
        Expr::Compare { op, .. } => (SourceType::Function, op.symbol()),
    };
    let kind_differs = source.kind.is_some_and(|k| k != kind);
    let name_differs = source.name.as_deref().is_some_and(|n| n != name);
    if kind_differs || name_differs {
        return Err(tree_error(
            path,
            format!(
                "`expression` is {kind:?} `{name}` but the node says {} `{}`",
                source.kind.map_or("-".to_string(), |k| format!("{k:?}")),
                source.name.as_deref().unwrap_or("-")
            ),
        ));
    }
    Ok(())
}

fn read_comparison(
    source: &AttributeMappingSource,
    op: CompareOp,
    path: &str,
    depth: usize,
    nodes: &mut usize,
) -> Result<Expr, ExprError> {
    let [left, right] = &source.parameters[..] else {
        return Err(tree_error(
            path,
            format!("the comparison `{}` needs exactly the parameters `left` and `right`", op.symbol()),
        ));
    };
    if left.key != "left" || right.key != "right" {
        return Err(tree_error(
            path,
            format!("the comparison `{}` needs the parameters `left` then `right`", op.symbol()),
        ));
    }
    let left = read(&left.value, &child_path(path, 0), depth + 1, nodes)?;
    let right = read(&right.value, &child_path(path, 1), depth + 1, nodes)?;
    if matches!(left, Expr::Compare { .. }) || matches!(right, Expr::Compare { .. }) {
        return Err(tree_error(path, "comparisons do not chain: nest IIF calls instead"));
    }
    Ok(Expr::compare(op, left, right))
}

fn read_call(
    source: &AttributeMappingSource,
    name: &str,
    path: &str,
    depth: usize,
    nodes: &mut usize,
) -> Result<Expr, ExprError> {
    let f = known(name, None).map_err(|e| tree_error(path, e.to_string()))?;
    let repeated = f.parameters.last().filter(|p| p.multiple).map(|_| f.parameters.len() - 1);
    let mut fixed: Vec<Option<Expr>> = vec![None; f.parameters.len()];
    let mut occurrences = Vec::new();
    for (index, pair) in source.parameters.iter().enumerate() {
        let Some(slot) = f.parameter_index(&pair.key) else {
            let names: Vec<&str> = f.parameters.iter().map(|p| p.name).collect();
            return Err(tree_error(
                path,
                format!("{} has no parameter `{}` (its parameters: {})", f.name, pair.key, names.join(", ")),
            ));
        };
        let value = read(&pair.value, &child_path(path, index), depth + 1, nodes)?;
        if Some(slot) == repeated {
            occurrences.push(value);
        } else if fixed[slot].replace(value).is_some() {
            return Err(tree_error(path, format!("{} has `{}` twice", f.name, f.parameters[slot].name)));
        }
    }
    let args = f.layout(fixed, occurrences);
    f.check_args(&args, None).map_err(|e| tree_error(path, e.to_string()))?;
    Ok(Expr::call(f.name, args))
}
