//! Properties over generated input: printing round-trips, and no input makes the parsers panic or recurse deeply.

use idplane_scim::filter::{AttrPath, CompValue, CompareOp, Filter, MAX_FILTER_LEN, MAX_FILTER_NODES};
use idplane_scim::path::PatchPath;
use idplane_scim::schema::{GROUP_TYPE, USER_TYPE};
use proptest::prelude::*;
use proptest::sample::select;

use crate::support::bjensen;

fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z$][a-zA-Z0-9_$-]{0,7}",
        select(&["userName", "emails", "value", "type", "not", "and", "or", "pr", "eq", "true", "null", "$ref"][..])
            .prop_map(String::from),
    ]
}

fn urn() -> impl Strategy<Value = String> {
    prop_oneof![
        "urn:[a-z]{1,6}(:[a-zA-Z0-9.-]{1,6}){0,4}",
        Just("urn:ietf:params:scim:schemas:core:2.0:User".to_string()),
    ]
}

fn attr_path() -> impl Strategy<Value = AttrPath> {
    (proptest::option::of(urn()), name(), proptest::option::of(name())).prop_map(|(urn, name, sub)| AttrPath {
        urn,
        name,
        sub,
    })
}

fn comp_value() -> impl Strategy<Value = CompValue> {
    prop_oneof![
        Just(CompValue::Null),
        any::<bool>().prop_map(CompValue::Bool),
        any::<i64>().prop_map(|n| CompValue::Number(n.into())),
        any::<u64>().prop_map(|n| CompValue::Number(n.into())),
        any::<f64>().prop_filter_map("finite", |f| serde_json::Number::from_f64(f).map(CompValue::Number)),
        any::<String>().prop_map(CompValue::String),
        "[a-z@.+ \"\\\\-]{0,12}".prop_map(CompValue::String),
    ]
}

fn compare_op() -> impl Strategy<Value = CompareOp> {
    use CompareOp::*;
    select(&[Eq, Ne, Co, Sw, Ew, Gt, Ge, Lt, Le][..])
}

fn attr_expression() -> impl Strategy<Value = Filter> {
    prop_oneof![
        attr_path().prop_map(Filter::Present),
        (attr_path(), compare_op(), comp_value()).prop_map(|(p, op, v)| Filter::Compare(p, op, v)),
    ]
}

fn logic(leaf: BoxedStrategy<Filter>, depth: u32, size: u32) -> BoxedStrategy<Filter> {
    leaf.prop_recursive(depth, size, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(l, r)| Filter::And(Box::new(l), Box::new(r))),
            (inner.clone(), inner.clone()).prop_map(|(l, r)| Filter::Or(Box::new(l), Box::new(r))),
            inner.prop_map(|f| Filter::Not(Box::new(f))),
        ]
    })
    .boxed()
}

/// Any tree the parser can produce: value paths hold no value paths and have no sub-attribute.
fn filter() -> impl Strategy<Value = Filter> {
    let value_filter = logic(attr_expression().boxed(), 3, 12);
    let value_path = ((proptest::option::of(urn()), name()), value_filter)
        .prop_map(|((urn, name), f)| Filter::ValuePath(AttrPath { urn, name, sub: None }, Box::new(f)));
    logic(prop_oneof![3 => attr_expression(), 1 => value_path].boxed(), 5, 40)
}

/// Fragments of filter syntax, so that random input reaches deep into the parser.
fn filter_soup() -> impl Strategy<Value = String> {
    let token = select(
        &[
            "userName",
            "emails",
            "name.givenName",
            "urn:ietf:params:scim:schemas:core:2.0:User:",
            "value",
            "$ref",
            "(",
            ")",
            "[",
            "]",
            "].",
            ".",
            ":",
            " ",
            "  ",
            "and",
            "or",
            "not",
            "not (",
            "eq",
            "NE",
            "co",
            "pr",
            "gt",
            "\"x\"",
            "\"",
            "\\",
            "\\u",
            "d83d",
            "\\ude00",
            "\"\\ud83d\\ude00\"",
            "1.5e3",
            "-",
            "0",
            "true",
            "null",
            "é",
            "\t",
            "\u{0}",
        ][..],
    );
    proptest::collection::vec(token, 0..40).prop_map(|tokens| tokens.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn printing_round_trips(f in filter()) {
        let printed = f.to_string();
        prop_assume!(printed.len() <= MAX_FILTER_LEN && f.node_count() <= MAX_FILTER_NODES);
        prop_assert_eq!(Filter::parse(&printed), Ok(f));
    }

    #[test]
    fn patch_paths_round_trip(
        attr in attr_path(),
        filter in proptest::option::of(logic(attr_expression().boxed(), 3, 12)),
        sub in proptest::option::of(name()),
    ) {
        let path = match filter {
            Some(f) => PatchPath { attr: AttrPath { sub: None, ..attr }, filter: Some(f), sub },
            None => PatchPath { attr, filter: None, sub: None },
        };
        let printed = path.to_string();
        prop_assume!(printed.len() <= MAX_FILTER_LEN);
        prop_assert_eq!(PatchPath::parse(&printed), Ok(path));
    }

    #[test]
    fn arbitrary_text_never_panics(input in any::<String>()) {
        check_any_input(&input)?;
    }

    #[test]
    fn filter_like_text_never_panics_and_what_parses_round_trips(input in filter_soup()) {
        check_any_input(&input)?;
    }
}

fn check_any_input(input: &str) -> Result<(), TestCaseError> {
    if let Ok(f) = Filter::parse(input) {
        let printed = f.to_string();
        if printed.len() <= MAX_FILTER_LEN {
            prop_assert_eq!(Filter::parse(&printed), Ok(f.clone()), "printed {}", printed);
        }
        let _ = f.matches(&bjensen(), &USER_TYPE);
        let _ = f.validate(&USER_TYPE);
        let _ = f.validate(&GROUP_TYPE);
    }
    if let Ok(p) = PatchPath::parse(input) {
        prop_assert_eq!(PatchPath::parse(&p.to_string()), Ok(p.clone()));
        let _ = p.validate(&USER_TYPE);
    }
    Ok(())
}
