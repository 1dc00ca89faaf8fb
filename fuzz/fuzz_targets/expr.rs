//! Any input: parsing an attribute-mapping expression never panics; what parses prints to an expression that parses
//! back to the same tree (when the printing fits the length limit), converts to an `attributeMappingSource` tree
//! that reads back to the same tree, and validates and evaluates over a small fixed source object without panicking.

#![no_main]

use std::collections::HashMap;

use idplane_expr::{Environment, Expr, MAX_EXPRESSION_LEN, Value};
use libfuzzer_sys::fuzz_target;
use serde_json::json;
use time::macros::datetime;

fn source() -> HashMap<String, Value> {
    let object = json!({
        "givenName": "Zoë",
        "surname": "O'Neil-Smith",
        "userPrincipalName": "zoe@contoso.com",
        "mail": "",
        "IsSoftDeleted": false,
        "employeeId": 42,
        "StatusHireDate": "2020-03-16-07:00",
        "proxyAddresses": ["SMTP:zoe@contoso.com", "smtp:z@contoso.com", "smtp:z@contoso.com"],
        "appRoleAssignments": [{"value": "Admin", "displayName": "Admin"}, "User"]
    });
    let serde_json::Value::Object(object) = object else { return HashMap::new() };
    object.into_iter().map(|(name, value)| (name, Value::from_json(value))).collect()
}

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else { return };
    let Ok(expr) = Expr::parse(input) else { return };
    let printed = expr.to_string();
    if printed.chars().count() <= MAX_EXPRESSION_LEN {
        assert_eq!(Expr::parse(&printed).as_ref(), Ok(&expr), "{input:?} printed as {printed:?}");
    }
    if let Ok(tree) = expr.to_source() {
        let read = tree.to_expr();
        assert_eq!(read.as_ref().ok(), expr.canonical().as_ref().ok(), "{input:?}: tree {tree:?}");
        if let Ok(read) = read {
            assert_eq!(read.to_source().as_ref(), Ok(&tree), "{input:?}: tree read back differs");
        }
    }
    let _ = expr.validate(&|name: &str| name != "missing");
    let mut state = 0x9E37_79B9_7F4A_7C15_u64;
    let mut random = || {
        state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        state
    };
    let mut env = Environment {
        now: datetime!(2021-07-02 15:33:38 UTC),
        default_domain: Some("contoso.com"),
        random: &mut random,
    };
    let _ = expr.evaluate(&source(), &mut env);
});
