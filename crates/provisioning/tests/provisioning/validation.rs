//! Validating and resolving a schema a client PUTs or PATCHes, against the template it replaces.

use idplane_provisioning::Error;
use idplane_provisioning::schema::validate::{prepare_update, resolve, validate};
use idplane_provisioning::schema::{
    AttributeMapping, AttributeMappingSource, AttributeMappingSourceType, MappingParameter, ObjectFlowTypes,
    ObjectMapping, SchemaIssue, SchemaProblem, SynchronizationSchema,
};
use idplane_provisioning::scoping::{Filter, FilterClause, FilterGroup, FilterList, ScopeProblem};
use idplane_provisioning::templates::synchronization_template;
use serde_json::json;

use crate::support::MiniChecker;

fn scim_template() -> SynchronizationSchema {
    synchronization_template("scim").unwrap().schema
}

/// The scim template's schema with the users object mapping changed by `change`.
fn with_users(change: impl FnOnce(&mut ObjectMapping)) -> SynchronizationSchema {
    let mut schema = scim_template();
    change(&mut schema.synchronization_rules[0].object_mappings[0]);
    schema
}

fn issues(schema: &SynchronizationSchema) -> Vec<SchemaIssue> {
    match validate(schema, &MiniChecker) {
        Ok(()) => Vec::new(),
        Err(issues) => issues,
    }
}

/// The one problem of the schema, which must be at that target attribute of the users mapping.
fn only_problem_at(schema: &SynchronizationSchema, target: Option<&str>) -> SchemaProblem {
    let issues = issues(schema);
    assert_eq!(issues.len(), 1, "{issues:#?}");
    let issue = issues.into_iter().next().unwrap();
    assert_eq!(issue.location.rule.as_deref(), Some("USER_TO_USER"));
    assert_eq!(issue.location.object_mapping.as_deref(), Some("Provision Microsoft Entra ID Users"));
    assert_eq!(issue.location.target_attribute.as_deref(), target);
    issue.problem
}

fn push(mapping: AttributeMapping) -> impl FnOnce(&mut ObjectMapping) {
    move |users: &mut ObjectMapping| users.attribute_mappings.push(mapping)
}

#[test]
fn the_templates_are_valid() {
    for template in idplane_provisioning::templates::synchronization_templates() {
        assert_eq!(validate(&template.schema, &MiniChecker), Ok(()), "{}", template.id);
    }
}

#[test]
fn a_mapping_to_id_is_refused() {
    let schema = with_users(push(AttributeMapping::direct("id", "objectId")));
    assert_eq!(only_problem_at(&schema, Some("id")), SchemaProblem::MapsToId);
}

#[test]
fn an_unknown_target_attribute_is_named() {
    let schema = with_users(push(AttributeMapping::direct("favouriteColour", "department")));
    let problem = only_problem_at(&schema, Some("favouriteColour"));
    assert_eq!(problem, SchemaProblem::UnknownTargetAttribute { name: "favouriteColour".into() });
    assert!(problem.to_string().contains("add it to the target directory"), "{problem}");
}

#[test]
fn target_attribute_names_are_case_insensitive() {
    let schema = with_users(push(AttributeMapping::direct("NICKNAME", "mailNickname")));
    assert_eq!(issues(&schema), []);
}

#[test]
fn an_unknown_source_attribute_in_a_direct_mapping_is_named_with_a_suggestion() {
    let schema = with_users(push(AttributeMapping::direct("nickName", "MailNickname")));
    assert_eq!(
        only_problem_at(&schema, Some("nickName")),
        SchemaProblem::UnknownSourceAttribute { name: "MailNickname".into(), suggestion: Some("mailNickname".into()) }
    );
}

#[test]
fn an_expression_that_does_not_parse_says_where() {
    let schema = with_users(push(AttributeMapping::expression("nickName", "Join", "Join(\" \", [givenName]")));
    match only_problem_at(&schema, Some("nickName")) {
        SchemaProblem::ExpressionSyntax { position, .. } => assert_eq!(position, 21),
        other => panic!("{other:?}"),
    }
}

#[test]
fn an_expression_naming_an_unknown_attribute_or_function_is_refused() {
    let schema = with_users(push(AttributeMapping::expression("nickName", "Join", "Join(\"-\", [givenName], [nick])")));
    assert_eq!(
        only_problem_at(&schema, Some("nickName")),
        SchemaProblem::UnknownSourceAttribute { name: "nick".into(), suggestion: None }
    );
    let schema = with_users(push(AttributeMapping::expression("nickName", "Shout", "Shout([givenName])")));
    assert_eq!(only_problem_at(&schema, Some("nickName")), SchemaProblem::UnknownFunction { name: "Shout".into() });
}

#[test]
fn a_tree_without_expression_text_is_checked_node_by_node() {
    let tree = AttributeMappingSource {
        source_type: AttributeMappingSourceType::Function,
        name: Some("ToLower".into()),
        expression: None,
        parameters: vec![MappingParameter {
            key: "source".into(),
            value: Some(AttributeMappingSource::attribute("alias")),
        }],
    };
    let mapping =
        AttributeMapping { target_attribute_name: "nickName".into(), source: Some(tree), ..Default::default() };
    let schema = with_users(push(mapping));
    assert_eq!(
        only_problem_at(&schema, Some("nickName")),
        SchemaProblem::UnknownSourceAttribute { name: "alias".into(), suggestion: None }
    );
}

#[test]
fn an_overlong_expression_is_refused() {
    let long = format!("Join(\"{}\", [givenName])", "x".repeat(10_000));
    let schema = with_users(push(AttributeMapping::expression("nickName", "Join", &long)));
    assert!(matches!(only_problem_at(&schema, Some("nickName")), SchemaProblem::ExpressionTooLong { .. }));
}

#[test]
fn the_users_mapping_cannot_be_disabled_but_the_groups_mapping_can() {
    let schema = with_users(|users| users.enabled = false);
    assert_eq!(only_problem_at(&schema, None), SchemaProblem::UsersMappingDisabled);
    let mut schema = scim_template();
    schema.synchronization_rules[0].object_mappings[1].enabled = false;
    assert_eq!(issues(&schema), []);
}

#[test]
fn a_target_attribute_mapped_twice_is_refused() {
    let schema = with_users(push(AttributeMapping::direct("DisplayName", "givenName")));
    assert_eq!(
        only_problem_at(&schema, Some("DisplayName")),
        SchemaProblem::DuplicateTargetAttribute { name: "DisplayName".into() }
    );
}

#[test]
fn matching_priorities_only_on_mappings_that_can_match() {
    let cases = [
        (
            AttributeMapping::direct("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager", "manager"),
            "a reference",
        ),
        (
            AttributeMapping {
                target_attribute_name: "nickName".into(),
                default_value: Some("x".into()),
                ..Default::default()
            },
            "no source",
        ),
        (
            AttributeMapping {
                target_attribute_name: "nickName".into(),
                source: Some(AttributeMappingSource {
                    source_type: AttributeMappingSourceType::Constant,
                    name: Some("x".into()),
                    expression: Some("\"x\"".into()),
                    parameters: Vec::new(),
                }),
                ..Default::default()
            },
            "a constant",
        ),
    ];
    for (mapping, reason) in cases {
        let target = mapping.target_attribute_name.clone();
        let schema = with_users(|users| {
            // Replace an existing mapping of that target, if any, so that only the priority is at fault.
            users.attribute_mappings.retain(|m| m.target_attribute_name != target);
            users.attribute_mappings.push(mapping.matching(2));
        });
        match only_problem_at(&schema, Some(&target)) {
            SchemaProblem::CannotMatch { reason: why } => assert!(why.contains(reason), "{why} / {reason}"),
            other => panic!("{target}: {other:?}"),
        }
    }
    let mut schema = scim_template();
    let groups = &mut schema.synchronization_rules[0].object_mappings[1];
    groups.attribute_mappings.iter_mut().find(|m| m.target_attribute_name == "members").unwrap().matching_priority = 2;
    let issues = issues(&schema);
    assert!(
        matches!(&issues[..], [SchemaIssue { problem: SchemaProblem::CannotMatch { reason }, .. }] if reason.contains("reference")),
        "{issues:?}"
    );
}

#[test]
fn matching_priorities_are_distinct_and_not_negative() {
    let schema = with_users(|users| users.attribute_mappings[2].matching_priority = 1);
    assert_eq!(
        only_problem_at(&schema, Some("displayName")),
        SchemaProblem::DuplicateMatchingPriority { priority: 1, other: "userName".into() }
    );
    let schema = with_users(|users| users.attribute_mappings[2].matching_priority = -1);
    assert_eq!(only_problem_at(&schema, Some("displayName")), SchemaProblem::NegativeMatchingPriority { priority: -1 });
}

#[test]
fn an_object_mapping_needs_a_matching_attribute() {
    let schema = with_users(|users| users.attribute_mappings[0].matching_priority = 0);
    assert_eq!(only_problem_at(&schema, None), SchemaProblem::NoMatchingAttribute);
}

#[test]
fn scoping_clauses_are_checked_against_the_source_object() {
    let scope = Filter {
        groups: vec![FilterGroup {
            name: "Sales".into(),
            clauses: vec![
                FilterClause::new("EQUALS", "department", &["Sales"]),
                FilterClause::new("LIKE", "department", &["S%"]),
                FilterClause::new("EQUALS", "costCentre", &["1"]),
                FilterClause::new("REGEX MATCH", "mail", &["(unclosed"]),
            ],
        }],
        ..Filter::default()
    };
    let schema = with_users(|users| users.scope = Some(scope));
    let issues = issues(&schema);
    let found: Vec<(usize, &SchemaProblem)> =
        issues.iter().map(|i| (i.location.clause.as_ref().unwrap().clause, &i.problem)).collect();
    assert!(matches!(found[0], (2, SchemaProblem::Scope(ScopeProblem::UnknownOperator { .. }))), "{found:?}");
    assert!(matches!(found[1], (3, SchemaProblem::Scope(ScopeProblem::UnknownSourceAttribute { .. }))), "{found:?}");
    assert!(matches!(found[2], (4, SchemaProblem::Scope(ScopeProblem::InvalidRegex { .. }))), "{found:?}");
    assert_eq!(found.len(), 3);
    let clause = issues[0].location.clause.as_ref().unwrap();
    assert_eq!((clause.list, clause.group.as_str()), (FilterList::Groups, "Sales"));
    assert_eq!(
        issues[1].to_string(),
        "rule 'USER_TO_USER', object mapping 'Provision Microsoft Entra ID Users', scoping filter 'Sales' (groups), \
         clause 3: the source object has no attribute 'costCentre': name one of its attributes"
    );
}

#[test]
fn unknown_directories_and_objects_are_named() {
    let mut schema = scim_template();
    schema.synchronization_rules[0].target_directory_name = "Salesforce".into();
    schema.synchronization_rules[0].object_mappings[1].source_object_name = "Device".into();
    let problems: Vec<SchemaProblem> = issues(&schema).into_iter().map(|i| i.problem).collect();
    assert_eq!(
        problems,
        [
            SchemaProblem::UnknownDirectory { name: "Salesforce".into() },
            SchemaProblem::UnknownObject { directory: "Azure Active Directory".into(), object: "Device".into() },
        ]
    );
}

#[test]
fn every_problem_is_reported_at_once_in_the_error() {
    let schema = with_users(|users| {
        users.enabled = false;
        users.attribute_mappings.push(AttributeMapping::direct("id", "objectId"));
        users.attribute_mappings.push(AttributeMapping::direct("shoeSize", "objectId"));
    });
    let error = prepare_update(schema, &scim_template(), &MiniChecker).unwrap_err();
    let Error::InvalidSchema { issues } = &error else { panic!("{error:?}") };
    assert_eq!(issues.len(), 3);
    let text = error.to_string();
    assert!(text.contains("cannot be disabled") && text.contains("'id'") && text.contains("'shoeSize'"), "{text}");
}

#[test]
fn omitted_flow_types_keep_the_templates_and_omitted_directories_are_the_templates() {
    // What msgraph-sdk sends back after reading a job's schema: no flowTypes, and here no directories either.
    let mut sent: serde_json::Value = serde_json::to_value(scim_template()).unwrap();
    sent["directories"] = json!([]);
    for rule in sent["synchronizationRules"].as_array_mut().unwrap() {
        rule.as_object_mut().unwrap().remove("id");
        for mapping in rule["objectMappings"].as_array_mut().unwrap() {
            mapping.as_object_mut().unwrap().remove("flowTypes");
        }
    }
    let mut template = scim_template();
    template.synchronization_rules[0].object_mappings[1].flow_types =
        Some(ObjectFlowTypes { add: true, update: true, delete: false });
    let sent: SynchronizationSchema = serde_json::from_value(sent).unwrap();
    let stored = prepare_update(sent, &template, &MiniChecker).unwrap();
    assert_eq!(stored, template);
}

#[test]
fn a_new_object_mapping_without_flow_types_gets_every_action() {
    let mut schema = scim_template();
    let rule = &mut schema.synchronization_rules[0];
    let mut second = rule.object_mappings[1].clone();
    second.name = "Provision groups again".into();
    second.target_object_name = "User".into();
    second.attribute_mappings.truncate(2);
    second.flow_types = None;
    rule.object_mappings.push(second);
    let resolved = resolve(schema, &scim_template());
    assert_eq!(resolved.synchronization_rules[0].object_mappings[2].flow_types, Some(ObjectFlowTypes::ALL));
}

#[test]
fn a_directory_sent_without_objects_is_the_templates_one_sent_with_objects_is_the_clients() {
    let mut sent = scim_template();
    sent.directories[1].objects.clear();
    sent.directories[0].objects.truncate(1);
    let resolved = resolve(sent, &scim_template());
    assert_eq!(resolved.directories[1], scim_template().directories[1]);
    assert_eq!(resolved.directories[0].objects.len(), 1);
    // With only the User object, the groups mapping now names an object the source directory lacks.
    let problems: Vec<SchemaProblem> = issues(&resolved).into_iter().map(|i| i.problem).collect();
    assert_eq!(
        problems,
        [SchemaProblem::UnknownObject { directory: "Azure Active Directory".into(), object: "Group".into() }]
    );
}

#[test]
fn an_empty_schema_restores_the_templates_defaults() {
    let sent: SynchronizationSchema =
        serde_json::from_value(json!({"directories": [], "synchronizationRules": [], "version": "1"})).unwrap();
    let stored = prepare_update(sent, &scim_template(), &MiniChecker).unwrap();
    assert_eq!(stored.synchronization_rules, scim_template().synchronization_rules);
    assert_eq!(stored.directories, scim_template().directories);
    assert_eq!(stored.version.as_deref(), Some("1"));
}
