//! The schema with the real expression language: templates validate, expressions are checked with positions, and
//! sources come out in Graph's canonical tree form whichever way a client wrote them.

use idplane_provisioning::schema::expressions::{Language, canonicalize};
use idplane_provisioning::schema::validate::{ExpressionChecker, validate};
use idplane_provisioning::schema::{AttributeMappingSource, SynchronizationSchema};
use idplane_provisioning::templates;
use serde_json::json;

#[test]
fn every_template_validates_with_the_language() {
    for t in templates::synchronization_templates() {
        assert_eq!(validate(&t.schema, &Language), Ok(()), "{}", t.id);
    }
}

#[test]
fn the_checker_names_what_an_expression_uses_and_where_it_breaks() {
    let names = Language.check("Join(\" \", [givenName], ToUpper([surname]))");
    let names = names.map(|n| (n.attributes, n.functions)).unwrap_or_default();
    assert_eq!(
        names,
        (vec!["givenName".to_string(), "surname".to_string()], vec!["Join".to_string(), "ToUpper".to_string()])
    );
    let e = Language.check("Join(\" \", [givenName]").err().map(|e| (e.position, e.message)).unwrap_or_default();
    assert_eq!(e.0, 21, "the end, counted from 0: {}", e.1);
    assert!(Language.knows_function("Switch") && !Language.knows_function("switch"));
}

fn first_source(schema: &SynchronizationSchema, target: &str) -> Option<AttributeMappingSource> {
    schema.synchronization_rules[0].object_mappings[0]
        .attribute_mappings
        .iter()
        .find(|m| m.target_attribute_name == target)
        .and_then(|m| m.source.clone())
}

#[test]
fn sources_become_canonical_trees_from_text_or_from_a_tree() -> Result<(), serde_json::Error> {
    let mut schema =
        templates::synchronization_template(templates::SCIM_TEMPLATE_ID).map(|t| t.schema).unwrap_or_default();
    canonicalize(&mut schema);
    let active = serde_json::to_value(first_source(&schema, "active"))?;
    assert_eq!(active["name"], "Switch");
    assert_eq!(active["parameters"][0]["key"], "source");
    assert_eq!(active["parameters"][0]["value"]["expression"], "[IsSoftDeleted]");

    // A tree without text gets its text.
    let mut from_tree: SynchronizationSchema = serde_json::from_value(json!({
        "synchronizationRules": [{"name": "r", "sourceDirectoryName": "Azure Active Directory", "targetDirectoryName": "customappsso",
          "objectMappings": [{"name": "u", "sourceObjectName": "User", "targetObjectName": "User", "attributeMappings": [
            {"targetAttributeName": "displayName", "source": {"type": "Function", "name": "ToUpper", "parameters": [
              {"key": "source", "value": {"type": "Attribute", "name": "displayName"}}]}}]}]}]
    }))?;
    canonicalize(&mut from_tree);
    let source = serde_json::to_value(first_source(&from_tree, "displayName"))?;
    assert_eq!(source["expression"], "ToUpper([displayName])");
    Ok(())
}
