//! The function catalogue: Graph's `schema/functions` shape, and the catalogue's own consistency.

use std::collections::HashSet;

use idplane_expr::catalogue::{function, nearest, supported};
use idplane_expr::{FUNCTIONS, Support};
use serde_json::{Value as Json, json};

fn p(name: &str, kind: &str, required: bool, multiple: bool) -> Json {
    json!({"allowMultipleOccurrences": multiple, "name": name, "required": required, "type": kind})
}

#[test]
fn functions_serialise_as_graph_lists_them() {
    // synchronization-synchronizationschema-functions.md (beta; its full response, in the page's comment). Split's
    // delimiter and Switch's switchValue are left out: Graph marks them optional where the function reference
    // requires them, and idplane follows the reference. FormatDateTime has gained dateTimeStyles since.
    let graph = [
        json!({"name": "Append", "parameters": [p("source", "String", true, false), p("suffix", "String", true, false)]}),
        json!({"name": "DefaultDomain", "parameters": []}),
        json!({"name": "Join", "parameters": [p("separator", "String", true, false), p("source", "String", true, true)]}),
        json!({"name": "Prepend", "parameters": [p("prefix", "String", true, false), p("source", "String", true, false)]}),
        json!({"name": "Mid", "parameters": [p("source", "String", true, false), p("start", "Integer", true, false), p("length", "Integer", true, false)]}),
        json!({"name": "Not", "parameters": [p("source", "Boolean", true, false)]}),
        json!({"name": "Replace", "parameters": [
            p("source", "String", true, false), p("Find", "String", false, false), p("RegularExpression", "String", false, false),
            p("RegularExpressionGroupName", "String", false, false), p("Replacement", "String", false, false),
            p("ReplacementPropertyName", "String", false, false), p("Template", "String", false, false)]}),
        json!({"name": "SingleAppRoleAssignment", "parameters": [p("source", "String", true, false)]}),
        json!({"name": "StripSpaces", "parameters": [p("source", "String", true, false)]}),
    ];
    for expected in graph {
        let name = expected["name"].as_str().unwrap();
        let f = function(name).unwrap_or_else(|| panic!("{name} missing"));
        assert_eq!(serde_json::to_value(f).unwrap(), expected, "{name}");
    }
    let switch = serde_json::to_value(function("Switch").unwrap()).unwrap();
    assert_eq!(switch["parameters"][2], p("switchValue", "String", true, true));
}

#[test]
fn the_catalogue_is_consistent() {
    let mut names = HashSet::new();
    for f in FUNCTIONS {
        assert!(names.insert(f.name), "{} twice", f.name);
        let mut parameters = HashSet::new();
        for (i, parameter) in f.parameters.iter().enumerate() {
            assert!(parameters.insert(parameter.name), "{}.{} twice", f.name, parameter.name);
            assert!(
                !parameter.multiple || i + 1 == f.parameters.len(),
                "{}: only the last parameter may repeat",
                f.name
            );
        }
        // Every function's smallest and largest calls fit its own layout.
        let repeated = f.parameters.last().is_some_and(|p| p.multiple);
        let fewest = if repeated {
            f.parameters.len() - 1 + f.min_occurrences
        } else {
            f.parameters.iter().filter(|p| p.required).count()
        };
        assert!(f.slot_parameters(fewest).is_ok(), "{} with {fewest}", f.signature());
        if fewest > 0 {
            assert!(f.slot_parameters(fewest - 1).is_err(), "{} with {}", f.signature(), fewest - 1);
        }
        assert_eq!(f.slot_parameters(f.parameters.len() + 8).is_ok(), repeated && f.group == 1, "{}", f.name);
    }
    assert_eq!(FUNCTIONS.len(), 46);
    let unsupported: Vec<&str> = FUNCTIONS.iter().filter(|f| f.support != Support::Supported).map(|f| f.name).collect();
    assert_eq!(unsupported, ["SelectUniqueValue"]);
    assert_eq!(supported().count(), FUNCTIONS.len() - 1);
    assert_eq!(function("InStr").unwrap().signature(), "InStr(value1, value2, start?, compareType?)");
    assert_eq!(function("Join").unwrap().signature(), "Join(separator, source, ...)");
    assert!(function("switch").is_none(), "names are case-sensitive");
}

#[test]
fn the_nearest_name_is_suggested() {
    assert_eq!(nearest("switch"), Some("Switch"));
    assert_eq!(nearest("IsNullorEmpty"), Some("IsNullOrEmpty"));
    assert_eq!(nearest("Joim"), Some("Join"));
    assert_eq!(nearest("Replase"), Some("Replace"));
    assert_eq!(nearest("AppRoleAssignments"), Some("AppRoleAssignmentsComplex"));
    assert_eq!(nearest("FormatDate"), Some("FormatDateTime"));
    assert_eq!(nearest("Concat"), None);
    assert_eq!(nearest(&"x".repeat(5_000)), None);
}
