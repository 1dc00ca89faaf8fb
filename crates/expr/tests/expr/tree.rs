//! Graph's `attributeMappingSource` trees: Microsoft's samples both ways, expression-only nodes, canonical layout,
//! and the errors of trees that are not expressions.

use idplane_expr::{AttributeMappingSource, Expr, ExprError};
use serde_json::{Value as Json, json};

fn tree(json: Json) -> AttributeMappingSource {
    serde_json::from_value(json).unwrap()
}

fn to_json(expr: &Expr) -> Json {
    serde_json::to_value(expr.to_source().unwrap()).unwrap()
}

#[test]
fn graph_parse_expression_sample_is_reproduced_exactly() {
    // synchronization-synchronizationschema-parseexpression.md: the response's parsedExpression.
    let parsed = json!({
        "expression": "Replace([preferredLanguage], \"-\", , , \"_\", , )",
        "name": "Replace",
        "parameters": [
            {"key": "source", "value": {"expression": "[preferredLanguage]", "name": "preferredLanguage", "parameters": [], "type": "Attribute"}},
            {"key": "Find", "value": {"expression": "\"-\"", "name": "-", "parameters": [], "type": "Constant"}},
            {"key": "Replacement", "value": {"expression": "\"_\"", "name": "_", "parameters": [], "type": "Constant"}}
        ],
        "type": "Function"
    });
    let expr = Expr::parse("Replace([preferredLanguage], \"-\", , , \"_\", ,  )").unwrap();
    assert_eq!(to_json(&expr), parsed);
    assert_eq!(tree(parsed).to_expr().unwrap(), expr);
}

#[test]
fn graph_object_mapping_samples_read_and_write() {
    // The Salesforce object mapping of Graph's objectMapping resource: Not([IsSoftDeleted]) and Mid(...).
    let not = json!({"expression": "Not([IsSoftDeleted])", "name": "Not", "parameters": [
        {"key": "source", "value": {"expression": "[IsSoftDeleted]", "name": "IsSoftDeleted", "parameters": [], "type": "Attribute"}}],
        "type": "Function"});
    assert_eq!(to_json(&Expr::parse("Not([IsSoftDeleted])").unwrap()), not);

    let mid = json!({"expression": "Mid([userPrincipalName], 1, 8)", "name": "Mid", "parameters": [
        {"key": "source", "value": {"expression": "[userPrincipalName]", "name": "userPrincipalName", "parameters": [], "type": "Attribute"}},
        {"key": "start", "value": {"expression": "\"1\"", "name": "1", "parameters": [], "type": "Constant"}},
        {"key": "length", "value": {"expression": "\"8\"", "name": "8", "parameters": [], "type": "Constant"}}],
        "type": "Function"});
    let expr = tree(mid.clone()).to_expr().unwrap();
    assert_eq!(expr, Expr::parse("Mid([userPrincipalName], 1, 8)").unwrap());
    // idplane prints the constants quoted in the call's expression too; everything else is Microsoft's.
    let mut written = to_json(&expr);
    assert_eq!(written["expression"], json!("Mid([userPrincipalName], \"1\", \"8\")"));
    written["expression"] = mid["expression"].clone();
    assert_eq!(written, mid);

    let attribute = json!({"expression": "[mail]", "name": "mail", "type": "Attribute"});
    assert_eq!(tree(attribute).to_expr().unwrap(), Expr::attribute("mail"));
}

#[test]
fn empty_slots_are_left_out_and_come_back_in_microsofts_layout() {
    let switch = to_json(&Expr::parse(r#"Switch([IsSoftDeleted], , "False", "True", "True", "False")"#).unwrap());
    let keys: Vec<&str> = switch["parameters"].as_array().unwrap().iter().map(|p| p["key"].as_str().unwrap()).collect();
    assert_eq!(keys, ["source", "switchValue", "switchValue", "switchValue", "switchValue"]);
    assert_eq!(switch["expression"], json!(r#"Switch([IsSoftDeleted], , "False", "True", "True", "False")"#));

    // A call written without its trailing empty slots is laid out with all of them, as Microsoft prints Replace.
    let short = Expr::parse(r#"Replace([x], "a", , , "b")"#).unwrap();
    let written = short.to_source().unwrap();
    assert_eq!(written.expression.as_deref(), Some(r#"Replace([x], "a", , , "b", , )"#));
    assert_eq!(written.to_expr().unwrap(), short.canonical().unwrap());
    assert_ne!(short.canonical().unwrap(), short);
    // Without a gap, slots stop at the last argument given.
    let lower = Expr::parse("ToLower([x], )").unwrap();
    assert_eq!(lower.to_source().unwrap().expression.as_deref(), Some("ToLower([x])"));
    // Microsoft's earlier FormatDateTime signature comes back in the current one.
    let legacy = Expr::parse(r#"FormatDateTime([d], "yyyy", "yy")"#).unwrap();
    assert_eq!(legacy.to_source().unwrap().expression.as_deref(), Some(r#"FormatDateTime([d], , "yyyy", "yy")"#));
}

#[test]
fn comparisons_are_operator_nodes() {
    let expr = Expr::parse(r#"IIF([country] = "USA", "a", "b")"#).unwrap();
    let written = to_json(&expr);
    let condition = &written["parameters"][0]["value"];
    assert_eq!(condition["name"], json!("="));
    assert_eq!(condition["type"], json!("Function"));
    assert_eq!(condition["expression"], json!(r#"[country] = "USA""#));
    assert_eq!(condition["parameters"][0]["key"], json!("left"));
    assert_eq!(tree(written).to_expr().unwrap(), expr);
}

#[test]
fn clients_may_send_only_the_expression() {
    let only = tree(json!({"expression": "Join(\" \", [givenName], [surname])"}));
    assert_eq!(only.to_expr().unwrap(), Expr::parse(r#"Join(" ", [givenName], [surname])"#).unwrap());
    // Nested: a parameter given by its expression.
    let nested = tree(json!({"type": "Function", "name": "ToLower", "parameters": [
        {"key": "source", "value": {"expression": "Replace([x], \"a\", , , \"b\")"}}]}));
    assert_eq!(nested.to_expr().unwrap().to_string(), r#"ToLower(Replace([x], "a", , , "b", , ))"#);
    // A function without arguments and with its expression is read either way.
    let guid = tree(json!({"type": "Function", "name": "Guid", "expression": "Guid()", "parameters": []}));
    assert_eq!(guid.to_expr().unwrap(), Expr::call("Guid", vec![]));
    // Graph's defaults: type Attribute, parameters null.
    let bare = tree(json!({"name": "mail", "parameters": null}));
    assert_eq!(bare.to_expr().unwrap(), Expr::attribute("mail"));
    let lower_case = tree(json!({"name": "x", "type": "constant"}));
    assert_eq!(lower_case.to_expr().unwrap(), Expr::constant("x"));
    assert!(tree(json!({})).is_empty());
    assert!(tree(json!({"expression": "  "})).is_empty());
    assert!(!tree(json!({"name": "mail"})).is_empty());
}

#[test]
fn parameter_keys_may_be_the_references_names() {
    let documented = tree(json!({"type": "Function", "name": "Replace", "parameters": [
        {"key": "source", "value": {"type": "Attribute", "name": "x"}},
        {"key": "oldValue", "value": {"type": "Constant", "name": "a"}},
        {"key": "replacementValue", "value": {"type": "Constant", "name": "b"}}]}));
    assert_eq!(documented.to_expr().unwrap().to_string(), r#"Replace([x], "a", , , "b", , )"#);
    let switch = tree(json!({"type": "Function", "name": "Switch", "parameters": [
        {"key": "source", "value": {"name": "s"}},
        {"key": "key", "value": {"type": "Constant", "name": "1"}},
        {"key": "value", "value": {"type": "Constant", "name": "one"}}]}));
    assert_eq!(switch.to_expr().unwrap().to_string(), r#"Switch([s], , "1", "one")"#);
}

fn tree_error(json: Json) -> String {
    match tree(json).to_expr() {
        Ok(expr) => panic!("read as {expr}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn trees_that_are_not_expressions_are_refused_with_their_path() {
    let cases = [
        (json!({"type": "Function", "name": "Concat", "parameters": []}), "unknown function `Concat`"),
        (json!({"type": "Function", "name": "switch", "parameters": []}), "did you mean `Switch`?"),
        (
            json!({"type": "Function", "name": "Append", "parameters": [{"key": "source", "value": {"name": "a"}}, {"key": "tail", "value": {"name": "b"}}]}),
            "Append has no parameter `tail` (its parameters: source, suffix)",
        ),
        (
            json!({"type": "Function", "name": "Append", "parameters": [{"key": "source", "value": {"name": "a"}}, {"key": "source", "value": {"name": "b"}}]}),
            "Append has `source` twice",
        ),
        (
            json!({"type": "Function", "name": "Mid", "parameters": [{"key": "source", "value": {"name": "a"}}]}),
            "Mid(source, start, length) takes 3 arguments; found 1",
        ),
        (
            json!({"type": "Function", "name": "Mid", "parameters": [{"key": "start", "value": {"type": "Constant", "name": "1"}}, {"key": "length", "value": {"type": "Constant", "name": "1"}}]}),
            "argument 1 (`source`) is empty",
        ),
        (json!({"type": "Attribute", "name": "a]b"}), "cannot be an attribute name"),
        (json!({"type": "Attribute", "name": ""}), "cannot be an attribute name"),
        (
            json!({"type": "Attribute", "name": "a", "parameters": [{"key": "x", "value": {"name": "b"}}]}),
            "an Attribute node has no `parameters`",
        ),
        (json!({"type": "Function"}), "needs `name`"),
        (json!({"expression": "Join(\" \""}), "`expression`: at character 9"),
        (
            json!({"expression": "[mail]", "name": "email"}),
            "`expression` is Attribute `mail` but the node says - `email`",
        ),
        (
            json!({"expression": "Mid([x])"}),
            "`expression`: at character 1: Mid: Mid(source, start, length) takes 3 arguments",
        ),
        (
            json!({"type": "Function", "name": "=", "parameters": [{"key": "left", "value": {"name": "a"}}]}),
            "needs exactly the parameters `left` and `right`",
        ),
        (
            json!({"type": "Function", "name": "Not", "parameters": [{"key": "source", "value": {"type": "Function", "name": "Nope", "parameters": []}}]}),
            "attributeMappingSource at parameters[0].value: unknown function `Nope`",
        ),
    ];
    for (json, expected) in cases {
        let message = tree_error(json.clone());
        assert!(message.contains(expected), "{json}: {message}");
    }
}

#[test]
fn trees_are_bounded_like_text() {
    let mut deep = json!({"name": "x"});
    for _ in 0..idplane_expr::MAX_DEPTH {
        deep = json!({"type": "Function", "name": "Not", "parameters": [{"key": "source", "value": deep}]});
    }
    assert!(matches!(tree(deep).to_expr(), Err(ExprError::TooDeep { .. })));
    let wide: Vec<Json> =
        (0..idplane_expr::MAX_NODES).map(|_| json!({"key": "source", "value": {"name": "x"}})).collect();
    let wide = json!({"type": "Function", "name": "Coalesce", "parameters": wide});
    assert!(matches!(tree(wide).to_expr(), Err(ExprError::TooManyNodes { .. })));
}

#[test]
fn writing_a_tree_checks_the_calls() {
    assert!(matches!(Expr::parse("Nope([x])").unwrap().to_source(), Err(ExprError::UnknownFunction { .. })));
    assert!(matches!(Expr::parse("Mid([x])").unwrap().to_source(), Err(ExprError::Arguments { .. })));
    assert!(Expr::attribute("a]b").to_source().is_err());
    // SelectUniqueValue is not evaluated, but it is an expression and has a tree.
    let unique = Expr::parse("SelectUniqueValue([a], [b])").unwrap();
    assert_eq!(unique.to_source().unwrap().to_expr().unwrap(), unique);
}
