//! Evaluation helpers: a fixed clock, a seeded source of randomness, source objects from pairs.

use std::collections::HashMap;

use idplane_expr::{Environment, Evaluation, Expr, ExprError, Value};
use time::OffsetDateTime;
use time::macros::datetime;

/// The time tests evaluate at (`Now()`): the doc's sample value of `Now()`, 7/2/2021 3:33:38 PM.
pub const NOW: OffsetDateTime = datetime!(2021-07-02 15:33:38 UTC);

/// SplitMix64: deterministic, seeded randomness for tests (servers pass a cryptographic source).
pub struct SplitMix64(pub u64);

impl SplitMix64 {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// A source object from `(name, value)` pairs.
pub fn object(pairs: &[(&str, Value)]) -> HashMap<String, Value> {
    pairs.iter().map(|(name, value)| (name.to_string(), value.clone())).collect()
}

/// Parses and evaluates `expression` over `pairs` at [`NOW`] with seed 7 and the default domain `contoso.com`.
pub fn evaluate(expression: &str, pairs: &[(&str, Value)]) -> Result<Evaluation, ExprError> {
    let expr = Expr::parse(expression).unwrap_or_else(|e| panic!("{expression}: {e}"));
    let mut rng = SplitMix64(7);
    let mut random = || rng.next();
    let mut env = Environment { now: NOW, default_domain: Some("contoso.com"), random: &mut random };
    expr.evaluate(&object(pairs), &mut env)
}

/// The value of `expression` over `pairs`; panics on an error.
pub fn value(expression: &str, pairs: &[(&str, Value)]) -> Value {
    evaluate(expression, pairs).unwrap_or_else(|e| panic!("{expression}: {e}")).value
}

/// The error `expression` fails with over `pairs`; panics when it succeeds.
pub fn error(expression: &str, pairs: &[(&str, Value)]) -> ExprError {
    match evaluate(expression, pairs) {
        Ok(evaluation) => panic!("{expression} evaluated to {:?}", evaluation.value),
        Err(e) => e,
    }
}

pub fn s(text: &str) -> Value {
    Value::String(text.to_string())
}

pub fn multi(texts: &[&str]) -> Value {
    Value::Multi(texts.iter().map(|t| s(t)).collect())
}
