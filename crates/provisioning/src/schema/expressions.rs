//! The expression language (`idplane-expr`) as the schema needs it: the [`ExpressionChecker`] validation calls, and
//! the canonical form of every `attributeMappingSource` in a schema (each node with its printed `expression`, each
//! function's arguments keyed by parameter name), which is what Graph returns and what a client may send either
//! way: as text only, as a tree only, or both.

use idplane_expr::Expr;

use super::validate::{ExpressionChecker, ExpressionNames, ExpressionSyntaxError};
use super::{AttributeMappingSource, SynchronizationSchema};

/// The expression language.
#[derive(Debug, Clone, Copy, Default)]
pub struct Language;

fn functions(e: &Expr, out: &mut Vec<String>) {
    match e {
        Expr::Attribute { .. } | Expr::Constant { .. } => {}
        Expr::Call { function, args, .. } => {
            if !out.contains(function) {
                out.push(function.clone());
            }
            for a in args.iter().flatten() {
                functions(a, out);
            }
        }
        Expr::Compare { left, right, .. } => {
            functions(left, out);
            functions(right, out);
        }
    }
}

impl ExpressionChecker for Language {
    fn check(&self, expression: &str) -> Result<ExpressionNames, ExpressionSyntaxError> {
        let e = Expr::parse(expression).map_err(|err| ExpressionSyntaxError {
            // The language counts characters from 1; schema issues from 0.
            position: err.position().unwrap_or(1).saturating_sub(1),
            message: err.to_string(),
        })?;
        let mut names = ExpressionNames::default();
        for a in e.attributes() {
            if !names.attributes.iter().any(|n| n == a) {
                names.attributes.push(a.to_string());
            }
        }
        functions(&e, &mut names.functions);
        Ok(names)
    }

    fn knows_function(&self, name: &str) -> bool {
        idplane_expr::catalogue::function(name).is_some()
    }
}

/// The canonical tree of a source, or `None` when the source is not an expression the language reads (validation
/// reports why).
fn canonical(source: &AttributeMappingSource) -> Option<AttributeMappingSource> {
    let json = serde_json::to_value(source).ok()?;
    let tree: idplane_expr::AttributeMappingSource = serde_json::from_value(json).ok()?;
    let expr = match tree.expression.as_deref().filter(|e| !e.trim().is_empty()) {
        // The text is what Graph re-parses; a tree sent with it is derived from it.
        Some(text) => Expr::parse(text).ok()?,
        None => tree.to_expr().ok()?,
    };
    let out = serde_json::to_value(expr.to_source().ok()?).ok()?;
    serde_json::from_value(out).ok()
}

/// Rewrites every attribute mapping's source in its canonical form, leaving those the language cannot read as they
/// are.
pub fn canonicalize(schema: &mut SynchronizationSchema) {
    for rule in &mut schema.synchronization_rules {
        for object in &mut rule.object_mappings {
            for mapping in &mut object.attribute_mappings {
                if let Some(source) = &mapping.source
                    && let Some(c) = canonical(source)
                {
                    mapping.source = Some(c);
                }
            }
        }
    }
}
