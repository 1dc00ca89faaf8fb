//! Validation against the catalogue and the caller's attributes: each problem named, with its position.

use std::collections::{BTreeSet, HashSet};

use idplane_expr::{AttributeSet, Expr, ExprError};

const ENTRA: &[&str] = &["givenName", "surname", "IsSoftDeleted", "userPrincipalName", "mail", "preferredLanguage"];

fn problems(text: &str) -> Vec<String> {
    Expr::parse(text).unwrap().validate(ENTRA).iter().map(ToString::to_string).collect()
}

#[test]
fn valid_expressions_have_no_problems() {
    for text in [
        r#"Join(" ", [givenName], [surname])"#,
        r#"Switch([IsSoftDeleted], , "False", "True", "True", "False")"#,
        r#"Replace([preferredLanguage], "-", , , "_", , )"#,
        r#"IIF([mail] = "", [userPrincipalName], [mail])"#,
        r#"FormatDateTime([mail], "AllowWhiteSpaces", "yyyy-MM-dd", "o")"#,
        r#"InStr([mail], "@", 1, vbTextCompare)"#,
        "BitAnd(&HF, 7)",
    ] {
        assert_eq!(problems(text), Vec::<String>::new(), "{text}");
    }
}

#[test]
fn every_problem_is_named_with_its_position() {
    let found = problems(
        r#"Join(" ", switch([givenName]), [surName], Mid([mail], "one", 2), Left([mail]), SelectUniqueValue([mail], [mail]))"#,
    );
    assert_eq!(
        found,
        [
            "at character 11: unknown function `switch` (did you mean `Switch`?)",
            "at character 32: unknown attribute `[surName]`",
            "at character 55: Mid, argument `start`: `one` is not a whole number",
            "at character 66: Left: Left(String, NumChars) takes 2 arguments; found 1",
            "at character 80: SelectUniqueValue is not supported for a SCIM target: it checks each candidate for uniqueness in the target directory, which only Microsoft's Active Directory connectors can query; compute one value instead (for example with Join and NormalizeDiacritics)",
        ]
    );
}

#[test]
fn constant_arguments_are_checked_as_evaluation_would() {
    let cases = [
        (r#"Replace([mail], , "(?<=@)x", , "", , )"#, "look-around"),
        (r#"Replace([mail], , "(x", , "", , )"#, "regular expression"),
        (r#"DateAdd("dd", 1, Now())"#, "not an interval"),
        (r#"InStr([mail], "@", 1, vbCaseCompare)"#, "neither vbBinaryCompare"),
        (r#"ToLower([mail], "english please")"#, "not a culture name"),
        (r#"FormatDateTime([mail], , "yyyy", "ffffffffff")"#, "more than 7 fraction digits"),
        (r#"FormatDateTime([mail], "Sometimes", "yyyy", "yyyy")"#, "not a DateTimeStyles name"),
        (r#"Item([mail], "first")"#, "not a whole number"),
        (r#"Replace([mail], "a")"#, "give `Replacement`"),
        (r#"Switch([mail], "d", "k")"#, "pairs of switchValue"),
        (r#"Join(",", [mail], , [mail])"#, "argument 3 (`source`) is empty"),
    ];
    for (text, expected) in cases {
        let found = problems(text);
        assert_eq!(found.len(), 1, "{text}: {found:?}");
        assert!(found[0].contains(expected), "{text}: {}", found[0]);
    }
}

#[test]
fn attribute_sets_come_in_several_shapes() {
    let expr = Expr::parse("Append([a], [B])").unwrap();
    let unknown =
        |set: &dyn AttributeSet| -> Vec<Option<usize>> { expr.validate(set).iter().map(ExprError::position).collect() };
    let hash: HashSet<String> = ["a".to_string()].into();
    let tree: BTreeSet<String> = ["a".to_string(), "B".to_string()].into();
    assert_eq!(unknown(&hash), [Some(13)]);
    assert_eq!(unknown(&tree), []);
    assert_eq!(unknown(&|name: &str| name.eq_ignore_ascii_case("b")), [Some(8)]);
    let slice: &[&str] = &["a", "b"];
    assert_eq!(expr.validate(slice).iter().map(ExprError::position).collect::<Vec<_>>(), [Some(13)]);
}

#[test]
fn programmatic_trees_are_bounded_too() {
    let mut deep = Expr::attribute("a");
    for _ in 0..idplane_expr::MAX_DEPTH {
        deep = Expr::call("Not", vec![Some(deep)]);
    }
    assert!(matches!(deep.validate(&|_: &str| true)[..], [ExprError::TooDeep { .. }]));
}
