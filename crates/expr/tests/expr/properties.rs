//! Properties over generated expressions: printing and tree conversion round-trip, and no input makes parsing,
//! validation or evaluation panic.

use idplane_expr::{
    AttributeMappingSource, CompareOp, Environment, Expr, FUNCTIONS, Function, MAX_EXPRESSION_LEN, Value,
};
use proptest::prelude::*;
use proptest::sample::select;

use crate::support::{NOW, SplitMix64, multi, object, s};

fn attribute_name() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z][a-zA-Z0-9_.:-]{0,12}",
        "[^\\[\\]\\p{Cc}]{1,6}",
        select(
            &["givenName", "IsSoftDeleted", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager"][..]
        )
        .prop_map(String::from),
    ]
}

fn constant() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[a-z0-9 \"\\\\,()\\[\\]=<>-]{0,10}",
        select(&["", "1", "-10", "&HF7", "vbTextCompare", "True", "yyyy-MM-dd", "d"][..]).prop_map(String::from),
    ]
}

fn compare_op() -> impl Strategy<Value = CompareOp> {
    select(&CompareOp::ALL[..])
}

fn leaf() -> impl Strategy<Value = Expr> {
    prop_oneof![attribute_name().prop_map(Expr::attribute), constant().prop_map(Expr::constant)]
}

/// Any tree the parser can produce: no call with a single empty slot, no comparison inside a comparison.
fn expr() -> impl Strategy<Value = Expr> {
    leaf().prop_recursive(6, 48, 5, |inner| {
        let operand = inner.clone().prop_filter("comparisons do not chain", |e| !matches!(e, Expr::Compare { .. }));
        prop_oneof![
            3 => ("[A-Za-z_][A-Za-z0-9_]{0,8}", prop::collection::vec(prop::option::weighted(0.8, inner), 0..5))
                .prop_filter("one empty slot prints as none", |(_, args)| !(args.len() == 1 && args[0].is_none()))
                .prop_map(|(name, args)| Expr::call(name, args)),
            1 => (compare_op(), operand.clone(), operand).prop_map(|(op, l, r)| Expr::compare(op, l, r)),
        ]
    })
}

/// A call of `f` whose arguments fit its parameters, in any layout the parser accepts.
fn call_of(f: &'static Function, inner: BoxedStrategy<Expr>) -> BoxedStrategy<Expr> {
    let repeated = f.parameters.last().is_some_and(|p| p.multiple);
    let fixed = if repeated { &f.parameters[..f.parameters.len() - 1] } else { f.parameters };
    let slots: Vec<BoxedStrategy<Option<Expr>>> = fixed
        .iter()
        .map(
            |p| if p.required { inner.clone().prop_map(Some).boxed() } else { prop::option::of(inner.clone()).boxed() },
        )
        .collect();
    let occurrences = if repeated { f.min_occurrences..f.min_occurrences + 4 } else { 0..1 };
    (slots, prop::collection::vec(inner, occurrences), 0..=fixed.len())
        .prop_map(move |(mut args, extra, keep)| {
            if repeated {
                let whole = extra.len() - extra.len() % f.group;
                args.extend(extra.into_iter().take(whole.max(f.min_occurrences)).map(Some));
            } else {
                // Drop trailing optional slots, as a writer may.
                let required = f.parameters.iter().rposition(|p| p.required).map_or(0, |i| i + 1);
                args.truncate(keep.max(required));
            }
            Expr::call(f.name, args)
        })
        // Replace also needs a combination of arguments that chooses a mode.
        .prop_filter("arguments fit", |call| call.to_source().is_ok())
        .boxed()
}

/// Trees of catalogue functions whose arguments fit.
fn catalogue_expr() -> impl Strategy<Value = Expr> {
    let leaf = prop_oneof![
        select(&["a", "b", "n", "list", "date", "missing"][..]).prop_map(Expr::attribute),
        select(&["", "1", "3", "-2", "x", ",", "2021-06-30+08:00", "d", "yyyy-MM-dd", "True", "(?<g>a)", "g"][..])
            .prop_map(Expr::constant),
    ];
    leaf.prop_recursive(4, 24, 4, |inner| {
        let calls: Vec<BoxedStrategy<Expr>> = FUNCTIONS.iter().map(|f| call_of(f, inner.clone().boxed())).collect();
        let operand = inner.prop_filter("comparisons do not chain", |e| !matches!(e, Expr::Compare { .. }));
        prop_oneof![
            8 => proptest::strategy::Union::new(calls),
            1 => (compare_op(), operand.clone(), operand).prop_map(|(op, l, r)| Expr::compare(op, l, r)),
        ]
    })
}

/// Fragments of expression syntax, so that random input reaches deep into the parser.
fn soup() -> impl Strategy<Value = String> {
    let token = select(
        &[
            "Join", "Replace", "Switch", "IIF", "(", ")", ",", " ", "[", "]", "[mail]", "\"", "\"x\"", "\\", "=", "<>",
            ">=", "<", "&HF", "1", "-", "é", "\n", "Guid()", "Mid",
        ][..],
    );
    prop::collection::vec(token, 0..40).prop_map(|tokens| tokens.concat())
}

fn input() -> std::collections::HashMap<String, Value> {
    object(&[
        ("a", s("Ab-c d")),
        ("b", s("")),
        ("n", Value::Integer(12)),
        ("list", multi(&["x", "y", "x"])),
        ("date", s("2021-08-24")),
    ])
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn printing_round_trips(e in expr()) {
        let printed = e.to_string();
        if printed.chars().count() <= MAX_EXPRESSION_LEN {
            prop_assert_eq!(Expr::parse(&printed), Ok(e), "{}", printed);
        }
    }

    #[test]
    fn tree_conversion_round_trips(e in catalogue_expr()) {
        let tree = e.to_source().unwrap();
        let json = serde_json::to_value(&tree).unwrap();
        let back: AttributeMappingSource = serde_json::from_value(json).unwrap();
        prop_assert_eq!(&back, &tree);
        let read = tree.to_expr().unwrap();
        prop_assert_eq!(&read, &e.canonical().unwrap());
        prop_assert_eq!(read.to_source().unwrap(), tree.clone());
        prop_assert_eq!(Expr::parse(tree.expression.as_deref().unwrap()).unwrap(), read.clone());
        // Read from its expression alone, the tree is the same.
        let text_only = AttributeMappingSource { expression: tree.expression.clone(), ..Default::default() };
        prop_assert_eq!(text_only.to_expr().unwrap(), read);
    }

    #[test]
    fn evaluation_never_panics(e in catalogue_expr(), seed in any::<u64>()) {
        let mut rng = SplitMix64(seed);
        let mut random = || rng.next();
        let mut env = Environment { now: NOW, default_domain: Some("contoso.com"), random: &mut random };
        let _ = e.evaluate(&input(), &mut env);
        let _ = e.validate(&|name: &str| name != "missing");
    }

    #[test]
    fn parsing_never_panics(text in prop_oneof![soup(), any::<String>()]) {
        if let Err(e) = Expr::parse(&text)
            && let Some(position) = e.position()
        {
            prop_assert!(position >= 1 && position <= text.chars().count() + 1, "{} for {:?}", e, text);
        }
    }
}
