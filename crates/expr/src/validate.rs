//! Validation of an expression against the function catalogue and the source attributes the caller knows: unknown
//! functions (with the nearest name), unsupported functions, arguments that do not fit, unknown attributes, and
//! constant arguments a function cannot use (a number that is not one, a bad regular expression, interval, date
//! format, culture or compare type), each error naming the offending thing and its position.

use std::collections::{BTreeSet, HashSet};
use std::hash::BuildHasher;

use crate::ast::Expr;
use crate::catalogue::{Function, Parameter, ParameterType, Support};
use crate::dates::{Format, Interval, Styles};
use crate::error::ExprError;
use crate::eval::known;
use crate::replace;
use crate::text::{self, Culture};
use crate::value::parse_integer;
use crate::{MAX_DEPTH, MAX_NODES};

/// The source attributes an expression may read. Names are compared as the implementation compares them (the
/// provided implementations: exactly, case-sensitively).
pub trait AttributeSet {
    fn contains(&self, name: &str) -> bool;
}

impl<F: Fn(&str) -> bool> AttributeSet for F {
    fn contains(&self, name: &str) -> bool {
        self(name)
    }
}

impl<S: BuildHasher> AttributeSet for HashSet<String, S> {
    fn contains(&self, name: &str) -> bool {
        HashSet::contains(self, name)
    }
}

impl AttributeSet for BTreeSet<String> {
    fn contains(&self, name: &str) -> bool {
        BTreeSet::contains(self, name)
    }
}

impl AttributeSet for [&str] {
    fn contains(&self, name: &str) -> bool {
        <[&str]>::contains(self, &name)
    }
}

impl Expr {
    /// Every problem of the expression, in the order they appear (empty when it is valid): unknown or unsupported
    /// functions, arguments that do not fit, unknown attributes, unusable constant arguments.
    pub fn validate<A: AttributeSet + ?Sized>(&self, attributes: &A) -> Vec<ExprError> {
        let mut errors = Vec::new();
        if self.node_count() > MAX_NODES {
            errors.push(ExprError::TooManyNodes { max: MAX_NODES });
        } else if self.depth() > MAX_DEPTH {
            errors.push(ExprError::TooDeep { position: self.position(), max: MAX_DEPTH });
        } else {
            self.check(attributes, &mut errors);
        }
        errors
    }

    fn check<A: AttributeSet + ?Sized>(&self, attributes: &A, errors: &mut Vec<ExprError>) {
        match self {
            Expr::Attribute { name, at } => {
                if !attributes.contains(name) {
                    errors.push(ExprError::UnknownAttribute { name: name.clone(), position: at.0 });
                }
            }
            Expr::Constant { .. } => {}
            Expr::Compare { left, right, .. } => {
                left.check(attributes, errors);
                right.check(attributes, errors);
            }
            Expr::Call { function, args, at } => {
                match known(function, at.0) {
                    Err(error) => errors.push(error),
                    Ok(f) => {
                        if let Support::NotForScim(reason) = f.support {
                            errors.push(ExprError::Unsupported {
                                function: f.name.to_string(),
                                position: at.0,
                                reason,
                            });
                        }
                        match f.check_args(args, at.0) {
                            Err(error) => errors.push(error),
                            Ok(parameters) => {
                                for (arg, parameter) in args.iter().zip(parameters) {
                                    if let Some(Expr::Constant { value, at }) = arg
                                        && let Err(detail) = check_constant(f, parameter, value)
                                    {
                                        errors.push(ExprError::InvalidArgument {
                                            function: f.name.to_string(),
                                            parameter: parameter.name.to_string(),
                                            position: at.0,
                                            detail,
                                        });
                                    }
                                }
                            }
                        }
                    }
                }
                for arg in args.iter().flatten() {
                    arg.check(attributes, errors);
                }
            }
        }
    }
}

/// Whether `function` can use the constant `value` for `parameter`, checked as evaluation would.
fn check_constant(function: &Function, parameter: &Parameter, value: &str) -> Result<(), String> {
    if parameter.kind == ParameterType::Integer {
        return parse_integer(value).map(drop).ok_or_else(|| format!("`{value}` is not a whole number"));
    }
    match (function.name, parameter.name) {
        ("Replace", "RegularExpression") => replace::compile(value).map(drop),
        ("DateAdd" | "DateDiff", "interval") => Interval::parse(value).map(drop),
        ("FormatDateTime", "inputFormat" | "outputFormat") => Format::parse(value).map(drop),
        ("FormatDateTime", "dateTimeStyles") => Styles::parse(value).map(drop),
        ("ToLower" | "ToUpper", "culture") => Culture::parse(value).map(drop),
        ("InStr", "compareType") => text::ignores_case(value).map(drop),
        _ => Ok(()),
    }
}
