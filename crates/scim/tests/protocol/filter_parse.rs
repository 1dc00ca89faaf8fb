//! Parsing and printing filters: RFC 7644 §3.4.2.2's examples, client quirks, and errors with their positions.

use idplane_scim::filter::{
    AttrPath, CompValue, CompareOp, Filter, MAX_FILTER_DEPTH, MAX_FILTER_LEN, MAX_FILTER_NODES,
};
use idplane_scim::schema::{URN_ENTERPRISE_USER, URN_USER};
use idplane_scim::{ScimError, ScimType};

use crate::support::*;

use CompareOp::*;

const LAST_MODIFIED: &str = "2011-05-13T04:42:34Z";

fn last_modified(op: CompareOp) -> Filter {
    cmp(sub("meta", "lastModified"), op, s(LAST_MODIFIED))
}

fn email_or_clause() -> Filter {
    or(cmp(attr("emails"), Co, s("example.com")), cmp(sub("emails", "value"), Co, s("example.org")))
}

/// Every example filter of RFC 7644 §3.4.2.2, in order.
pub fn rfc_examples() -> Vec<(&'static str, Filter)> {
    vec![
        (r#"userName eq "bjensen""#, eq(attr("userName"), "bjensen")),
        (r#"name.familyName co "O'Malley""#, cmp(sub("name", "familyName"), Co, s("O'Malley"))),
        (r#"userName sw "J""#, cmp(attr("userName"), Sw, s("J"))),
        (
            r#"urn:ietf:params:scim:schemas:core:2.0:User:userName sw "J""#,
            cmp(qualified(URN_USER, "userName", None), Sw, s("J")),
        ),
        ("title pr", pr(attr("title"))),
        (r#"meta.lastModified gt "2011-05-13T04:42:34Z""#, last_modified(Gt)),
        (r#"meta.lastModified ge "2011-05-13T04:42:34Z""#, last_modified(Ge)),
        (r#"meta.lastModified lt "2011-05-13T04:42:34Z""#, last_modified(Lt)),
        (r#"meta.lastModified le "2011-05-13T04:42:34Z""#, last_modified(Le)),
        (r#"title pr and userType eq "Employee""#, and(pr(attr("title")), eq(attr("userType"), "Employee"))),
        (r#"title pr or userType eq "Intern""#, or(pr(attr("title")), eq(attr("userType"), "Intern"))),
        (
            r#"schemas eq "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User""#,
            eq(attr("schemas"), URN_ENTERPRISE_USER),
        ),
        (
            r#"userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")"#,
            and(eq(attr("userType"), "Employee"), email_or_clause()),
        ),
        (
            r#"userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")"#,
            and(cmp(attr("userType"), Ne, s("Employee")), not(email_or_clause())),
        ),
        (
            r#"userType eq "Employee" and (emails.type eq "work")"#,
            and(eq(attr("userType"), "Employee"), eq(sub("emails", "type"), "work")),
        ),
        (
            r#"userType eq "Employee" and emails[type eq "work" and value co "@example.com"]"#,
            and(
                eq(attr("userType"), "Employee"),
                value_path(attr("emails"), and(eq(attr("type"), "work"), cmp(attr("value"), Co, s("@example.com")))),
            ),
        ),
        (
            r#"emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]"#,
            or(
                value_path(attr("emails"), and(eq(attr("type"), "work"), cmp(attr("value"), Co, s("@example.com")))),
                value_path(attr("ims"), and(eq(attr("type"), "xmpp"), cmp(attr("value"), Co, s("@foo.com")))),
            ),
        ),
    ]
}

/// What Entra ID and Databricks clients send (shared/reference), and RFC-adjacent forms.
fn client_quirks() -> Vec<(&'static str, Filter)> {
    let lm = || sub("meta", "lastModified");
    vec![
        // Entra: test connection probe, matching attributes, group lookup.
        (
            r#"userName eq "7d420df3-9995-4831-a406-ecf8166f5f6a""#,
            eq(attr("userName"), "7d420df3-9995-4831-a406-ecf8166f5f6a"),
        ),
        (r#"externalId eq "x""#, eq(attr("externalId"), "x")),
        (
            r#"emails[type eq "work"].value eq "x@y""#,
            value_path(attr("emails"), and(eq(attr("type"), "work"), eq(attr("value"), "x@y"))),
        ),
        (r#"displayName eq "Sales""#, eq(attr("displayName"), "Sales")),
        (r#"id eq "2819c223""#, eq(attr("id"), "2819c223")),
        // Entra inbound provisioning: seven fraction digits, nested parentheses.
        (
            r#"active eq true and (meta.lastModified ge "0001-01-03T00:00:00.0000000Z" and meta.lastModified le "2024-05-01T10:11:12.1234567Z")"#,
            and(
                cmp(attr("active"), Eq, CompValue::Bool(true)),
                and(cmp(lm(), Ge, s("0001-01-03T00:00:00.0000000Z")), cmp(lm(), Le, s("2024-05-01T10:11:12.1234567Z"))),
            ),
        ),
        // Databricks SDKs, Terraform and documentation.
        (
            r#"applicationId eq "9a8b7c6d-1111-2222-3333-444455556666""#,
            eq(attr("applicationId"), "9a8b7c6d-1111-2222-3333-444455556666"),
        ),
        (r#"displayName co "x""#, cmp(attr("displayName"), Co, s("x"))),
        ("displayName sw my-", cmp(attr("displayName"), Sw, s("my-"))),
        ("userName eq example@databricks.com", eq(attr("userName"), "example@databricks.com")),
        (
            r#"userName eq "a+b@x.com" and active eq true"#,
            and(eq(attr("userName"), "a+b@x.com"), cmp(attr("active"), Eq, CompValue::Bool(true))),
        ),
        (r#"USERNAME EQ "x""#, eq(attr("USERNAME"), "x")),
        (r#"meta.lastModified gt "2011-05-13T04:42:34Z""#, last_modified(Gt)),
        (r#"userName sw "u1""#, cmp(attr("userName"), Sw, s("u1"))),
        // Legacy Entra reference check with unquoted ids.
        (
            "id eq 42 and manager eq 43",
            and(
                cmp(attr("id"), Eq, CompValue::Number(42.into())),
                cmp(attr("manager"), Eq, CompValue::Number(43.into())),
            ),
        ),
        // Extension attributes and `$ref`.
        (
            r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq "701984""#,
            eq(qualified(URN_ENTERPRISE_USER, "employeeNumber", None), "701984"),
        ),
        (
            r#"urn:ietf:params:scim:schemas:core:2.0:User:name.givenName eq "Barbara""#,
            eq(qualified(URN_USER, "name", Some("givenName")), "Barbara"),
        ),
        (
            r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "26""#,
            eq(qualified(URN_ENTERPRISE_USER, "manager", Some("value")), "26"),
        ),
        (r#"members[$ref eq "https://x/Users/1"]"#, value_path(attr("members"), eq(attr("$ref"), "https://x/Users/1"))),
        (r#"members.$ref pr"#, pr(sub("members", "$ref"))),
    ]
}

#[test]
fn rfc_examples_parse_to_their_syntax_trees_and_print_back() {
    for (input, expected) in rfc_examples() {
        let parsed = Filter::parse(input);
        assert_eq!(parsed.as_ref(), Ok(&expected), "{input}");
        // The RFC's own spelling is the canonical one, but for parentheses around a single comparison.
        let canonical = input.replace("(emails.type eq \"work\")", "emails.type eq \"work\"");
        assert_eq!(expected.to_string(), canonical);
    }
}

#[test]
fn client_filters_parse() {
    for (input, expected) in client_quirks() {
        assert_eq!(Filter::parse(input), Ok(expected.clone()), "{input}");
        assert_eq!(Filter::parse(&expected.to_string()), Ok(expected), "{input} printed");
    }
}

#[test]
fn keywords_and_operators_are_case_insensitive_and_whitespace_is_free() {
    let expected = Filter::parse(r#"userName eq "x" and not (title pr or active eq true)"#).unwrap();
    for input in [
        r#"userName EQ "x" AND NOT (title PR OR active eq TRUE)"#,
        "  userName\teq \"x\"\n\nand   not(title pr or active eq True)  ",
        r#"(userName eq"x")and not(title pr or(active eq true))"#,
        r#"((userName eq "x") and (not ((title pr) or active eq true)))"#,
    ] {
        assert_eq!(Filter::parse(input).as_ref(), Ok(&expected), "{input}");
    }
}

#[test]
fn and_binds_tighter_than_or_and_chains_lean_left() {
    let (a, b, c) = (pr(attr("a")), pr(attr("b")), pr(attr("c")));
    assert_eq!(Filter::parse("a pr or b pr and c pr"), Ok(or(a.clone(), and(b.clone(), c.clone()))));
    assert_eq!(Filter::parse("a pr and b pr or c pr"), Ok(or(and(a.clone(), b.clone()), c.clone())));
    assert_eq!(Filter::parse("a pr and b pr and c pr"), Ok(and(and(a.clone(), b.clone()), c.clone())));
    assert_eq!(Filter::parse("a pr or b pr or c pr"), Ok(or(or(a.clone(), b.clone()), c.clone())));
    // Printing keeps the parentheses that change the meaning, and only those.
    for (tree, printed) in [
        (and(or(a.clone(), b.clone()), c.clone()), "(a pr or b pr) and c pr"),
        (and(a.clone(), and(b.clone(), c.clone())), "a pr and (b pr and c pr)"),
        (or(a.clone(), or(b.clone(), c.clone())), "a pr or (b pr or c pr)"),
        (or(a.clone(), and(b.clone(), c.clone())), "a pr or b pr and c pr"),
        (not(and(a.clone(), b)), "not (a pr and b pr)"),
        (value_path(attr("emails"), or(a, c)), "emails[a pr or c pr]"),
    ] {
        assert_eq!(tree.to_string(), printed);
        assert_eq!(Filter::parse(printed), Ok(tree));
    }
}

#[test]
fn values_are_json_literals() {
    let value = |input: &str| match Filter::parse(&format!("x eq {input}")) {
        Ok(Filter::Compare(_, _, v)) => v,
        other => panic!("{input}: {other:?}"),
    };
    assert_eq!(value("true"), CompValue::Bool(true));
    assert_eq!(value("FALSE"), CompValue::Bool(false));
    assert_eq!(value("Null"), CompValue::Null);
    assert_eq!(value("42"), CompValue::Number(42.into()));
    assert_eq!(value("-7"), CompValue::Number((-7).into()));
    assert_eq!(value("18446744073709551615"), CompValue::Number(u64::MAX.into()));
    assert_eq!(value("2.5"), CompValue::Number(serde_json::Number::from_f64(2.5).unwrap()));
    assert_eq!(value("-1.5e3"), CompValue::Number(serde_json::Number::from_f64(-1500.0).unwrap()));
    assert_eq!(value("1E-2"), CompValue::Number(serde_json::Number::from_f64(0.01).unwrap()));
    // Not JSON numbers: read as unquoted strings.
    assert_eq!(value("01"), s("01"));
    assert_eq!(value("1.2.3"), s("1.2.3"));
    assert_eq!(value("-"), s("-"));
    assert_eq!(value("1e999"), s("1e999"));
    assert_eq!(value("\"true\""), s("true"));
    assert_eq!(value(r#""say \"hi\" \\ \/ \b\f\n\r\t""#), s("say \"hi\" \\ / \u{8}\u{c}\n\r\t"));
    assert_eq!(value(r#""\u00e9\u00E9é""#), s("ééé"));
    assert_eq!(value(r#""\ud83d\ude00""#), s("😀"));
    assert_eq!(value(r#""""#), s(""));
    // Printing escapes what JSON requires and nothing else.
    let f = eq(attr("x"), "a\"b\\c\u{1}\n é😀/");
    assert_eq!(f.to_string(), r#"x eq "a\"b\\c\u0001\n é😀/""#);
    assert_eq!(Filter::parse(&f.to_string()), Ok(f));
}

#[test]
fn attribute_paths_split_at_the_last_colon_and_first_dot() {
    let path = |input: &str| AttrPath::parse(input);
    assert_eq!(path("name.givenName"), Ok(sub("name", "givenName")));
    assert_eq!(
        path("urn:ietf:params:scim:schemas:core:2.0:User:name.givenName"),
        Ok(qualified(URN_USER, "name", Some("givenName")))
    );
    assert_eq!(path("urn:a:b:c-d_e$f"), Ok(qualified("urn:a:b", "c-d_e$f", None)));
    assert_eq!(path(" userName "), Ok(attr("userName")));
    for (input, expected) in [
        ("userName", "userName"),
        (
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value",
        ),
    ] {
        assert_eq!(path(input).map(|p| p.to_string()), Ok(expected.to_string()));
    }
    let err = path("a.b.c").unwrap_err();
    assert_eq!(err.scim_type, Some(ScimType::InvalidPath));
    assert_eq!(
        err.detail,
        "invalid path at character 4: expected at most one sub-attribute (such as name.givenName), found \"a.b.c\""
    );
}

/// Parses `input`, expecting an error whose detail is exactly `detail`.
fn assert_error(input: &str, detail: &str) {
    match Filter::parse(input) {
        Err(ScimError { status: 400, scim_type: Some(ScimType::InvalidFilter), detail: got }) => {
            assert_eq!(got, detail, "for {input:?}")
        }
        other => panic!("{input:?}: expected an invalidFilter error, got {other:?}"),
    }
}

#[test]
fn errors_say_where_and_what_was_expected() {
    let op = "a comparison operator (eq, ne, co, sw, ew, gt, ge, lt, le, pr)";
    let value = "a value (a quoted string, a number, true, false or null)";
    let path =
        "an attribute path (such as userName, name.givenName or urn:ietf:params:scim:schemas:core:2.0:User:userName)";
    let name = "an attribute name (a letter, then letters, digits, \"-\", \"_\" or \"$\")";
    for (input, detail) in [
        (r#"userName eqq "x""#, format!("at character 10: expected {op} after \"userName\", found \"eqq\"")),
        (r#"name.familyName eqq "x""#, format!("at character 17: expected {op} after \"name.familyName\", found \"eqq\"")),
        (r#"title pr and userName"#, format!("at character 22: expected {op} after \"userName\", found end of filter")),
        (r#"userName = "x""#, format!("at character 10: expected {op} after \"userName\", found \"=\"")),
        ("", format!("at character 1: expected {path}, found end of filter")),
        ("   ", format!("at character 4: expected {path}, found end of filter")),
        ("()", format!("at character 2: expected {path}, found \")\"")),
        (r#""userName" eq "x""#, format!("at character 1: expected {path}, found \"userName\"")),
        (r#"userName eq "x" and"#, format!("at character 20: expected {path}, found end of filter")),
        ("userName eq", format!("at character 12: expected {value} after \"eq\", found end of filter")),
        ("userName eq )", format!("at character 13: expected {value} after \"eq\", found \")\"")),
        ("userName eq and title pr", format!("at character 13: expected {value} after \"eq\", found \"and\"")),
        (r#"userName eq "x"#, "at character 13: expected a closing '\"' for the string that starts here, found end of filter".into()),
        (r#"userName pr "x""#, "at character 13: expected \"and\", \"or\" or end of filter, found \"x\"".into()),
        (r#"userName eq "x")"#, "at character 16: expected \"and\", \"or\" or end of filter, found \")\"".into()),
        (r#"userName eq "x" andd title pr"#, "at character 17: expected \"and\", \"or\" or end of filter, found \"andd\"".into()),
        (r#"(userName eq "x""#, "at character 17: expected \"and\", \"or\" or \")\", found end of filter".into()),
        (r#"emails[type eq "work""#, "at character 22: expected \"and\", \"or\" or \"]\", found end of filter".into()),
        (r#"emails[type eq "work")"#, "at character 22: expected \"and\", \"or\" or \"]\", found \")\"".into()),
        (r#"not userName eq "x""#, "at character 5: expected \"(\" after \"not\" (RFC 7644 puts the negated filter in parentheses), found \"userName\"".into()),
        (r#"emails[value[type eq "x"] pr]"#, "at character 13: expected a comparison operator after \"value\", found \"[\"; value filters cannot be nested".into()),
        (r#"emails.value[type eq "x"]"#, "at character 13: expected a comparison operator or end after the sub-attribute \"emails.value\", found \"[\"; a value filter follows the attribute (write emails[...].value)".into()),
        (r#"1userName eq "x""#, format!("at character 1: expected {name}, found \"1userName\"")),
        (r#"urn:x: eq "x""#, format!("at character 7: expected {name} after \":\", found \" \"")),
        (r#":userName eq "x""#, "at character 1: expected a schema URN before \":\", found \":\"".into()),
        (r#"name.given.x eq "x""#, "at character 11: expected at most one sub-attribute (such as name.givenName), found \"name.given.x\"".into()),
        (r#"emails[type eq "work"].1x eq "y""#, format!("at character 24: expected {name}, found \"1x\"")),
        (r#"x eq "\q""#, "at character 7: expected an escape (\\\", \\\\, \\/, \\b, \\f, \\n, \\r, \\t or \\uXXXX), found \"\\q\"".into()),
        (r#"x eq "\u12g4""#, "at character 7: expected four hex digits after \"\\u\", found \"\\u12g4\"".into()),
        (r#"x eq "\ud800x""#, "at character 13: expected a low surrogate (\\uDC00 to \\uDFFF) after the high surrogate \\uD800, found \"x\"".into()),
        (r#"x eq "\udc00""#, "at character 7: expected a high surrogate before the low surrogate \\uDC00, found none".into()),
        ("x eq \"a\tb\"", "at character 8: expected a character or an escape in the string, found the control character U+0009 (write it as \\u0009)".into()),
        // Positions count characters, not bytes.
        (r#"displayName eq "Ærø" annd x pr"#, "at character 22: expected \"and\", \"or\" or end of filter, found \"annd\"".into()),
    ] {
        assert_error(input, &format!("invalid filter {detail}"));
    }
}

#[test]
fn limits_are_enforced_with_clear_details() {
    // Length.
    let long = format!("userName eq \"{}\"", "x".repeat(MAX_FILTER_LEN));
    assert_error(
        &long,
        &format!("invalid filter at character 8193: expected at most 8192 bytes, found {} bytes", long.len()),
    );
    let fits = format!("userName eq \"{}\"", "x".repeat(MAX_FILTER_LEN - 14));
    assert_eq!(fits.len(), MAX_FILTER_LEN);
    assert!(Filter::parse(&fits).is_ok());

    // Depth: parentheses, `not` and value filters all count.
    let nested = |depth: usize| format!("{}a pr{}", "(".repeat(depth), ")".repeat(depth));
    assert_eq!(Filter::parse(&nested(MAX_FILTER_DEPTH)), Ok(pr(attr("a"))));
    assert_error(
        &nested(MAX_FILTER_DEPTH + 1),
        "invalid filter at character 33: expected at most 32 levels of nesting (parentheses, not and value filters), found more; flatten the filter",
    );
    let nots = |depth: usize| format!("{}a pr{}", "not (".repeat(depth), ")".repeat(depth));
    assert!(Filter::parse(&nots(MAX_FILTER_DEPTH)).is_ok());
    assert!(Filter::parse(&nots(MAX_FILTER_DEPTH + 1)).is_err());
    let in_value_filter =
        format!("emails[{}type pr{}]", "(".repeat(MAX_FILTER_DEPTH - 1), ")".repeat(MAX_FILTER_DEPTH - 1));
    assert!(Filter::parse(&in_value_filter).is_ok());
    let too_deep = format!("emails[{}type pr{}]", "(".repeat(MAX_FILTER_DEPTH), ")".repeat(MAX_FILTER_DEPTH));
    assert!(Filter::parse(&too_deep).is_err());
    // Entra's `[...].sub` form would print one level deeper: refused at the limit so that printing round-trips.
    let inner = format!("{}a pr{}", "(".repeat(MAX_FILTER_DEPTH - 1), ")".repeat(MAX_FILTER_DEPTH - 1));
    let entra = format!("emails[{inner} or b pr].value eq \"x\"");
    assert!(Filter::parse(&entra).is_err());
    let entra = format!("emails[{inner} and b pr].value eq \"x\"");
    let parsed = Filter::parse(&entra).unwrap();
    assert_eq!(Filter::parse(&parsed.to_string()), Ok(parsed));
    // Input far deeper than the limit fails fast instead of overflowing the stack.
    for deep in [
        "(".repeat(100_000),
        "not (".repeat(10_000),
        "emails[".repeat(10_000),
        "(".repeat(4000) + "a pr" + &")".repeat(4000),
    ] {
        assert!(Filter::parse(&deep).is_err());
    }

    // Nodes: 100 comparisons and 99 `or`s fit, one more comparison does not.
    let ors = |n: usize| vec!["a pr"; n].join(" or ");
    let fits = Filter::parse(&ors(100)).unwrap();
    assert_eq!(fits.node_count(), 199);
    const { assert!(MAX_FILTER_NODES >= 199) };
    assert_error(
        &ors(101),
        "invalid filter at character 801: expected at most 200 expressions (comparisons, and, or, not, value filters), found more; split the filter",
    );
}

#[test]
fn entra_sub_attribute_after_value_filter_is_desugared() {
    let f = Filter::parse(r#"emails[type eq "work" or type eq "home"].value pr"#).unwrap();
    assert_eq!(
        f,
        value_path(attr("emails"), and(or(eq(attr("type"), "work"), eq(attr("type"), "home")), pr(attr("value"))))
    );
    assert_eq!(f.to_string(), r#"emails[(type eq "work" or type eq "home") and value pr]"#);
    assert_eq!(f.attr_paths(), vec![&attr("emails")]);
}

#[test]
fn attr_paths_lists_top_level_paths() {
    let f = Filter::parse(
        r#"userName eq "x" and not (emails[type eq "work"] or meta.lastModified gt "2020-01-01T00:00:00Z")"#,
    )
    .unwrap();
    let paths: Vec<String> = f.attr_paths().iter().map(|p| p.to_string()).collect();
    assert_eq!(paths, ["userName", "emails", "meta.lastModified"]);
    assert_eq!(f.node_count(), 7);
    assert_eq!("title pr".parse::<Filter>(), Ok(pr(attr("title"))));
}
