//! The gallery, the synchronization templates (their schemas are snapshots) and the reading of Graph objects.

use idplane_provisioning::Error;
use idplane_provisioning::schema::AttributeFlowType;
use idplane_provisioning::scoping::{CompiledFilter, Filter, FilterClause, FilterGroup};
use idplane_provisioning::templates::{
    AppRoleAssignmentFact, DATABRICKS_APPLICATION_TEMPLATE_ID, DirectoryFacts, DirectoryObjectType,
    NON_GALLERY_APPLICATION_TEMPLATE_ID, ON_PREMISES_SCIM_APPLICATION_TEMPLATE_ID, application_templates,
    gallery_application, source_directory, source_object_from_graph, synchronization_template,
};
use serde_json::{Value, json};

#[test]
fn the_scim_template_schema() {
    insta::assert_json_snapshot!("scim_schema", synchronization_template("scim").unwrap().schema);
}

#[test]
fn the_databricks_template_schema() {
    insta::assert_json_snapshot!("databricks_schema", synchronization_template("dataBricks").unwrap().schema);
}

#[test]
fn the_application_templates() {
    insta::assert_json_snapshot!("application_templates", application_templates());
}

#[test]
fn each_gallery_entry_names_its_synchronization_template() {
    let cases = [
        (DATABRICKS_APPLICATION_TEMPLATE_ID, "Azure Databricks SCIM Provisioning Connector", "dataBricks", false),
        (NON_GALLERY_APPLICATION_TEMPLATE_ID, "Non-gallery application", "scim", false),
        (ON_PREMISES_SCIM_APPLICATION_TEMPLATE_ID, "On-premises SCIM app", "scim", true),
    ];
    for (id, name, sync, agent) in cases {
        let entry = gallery_application(&id.to_uppercase()).unwrap();
        assert_eq!(entry.template.display_name, name);
        assert_eq!(entry.template.supported_provisioning_types, ["sync"]);
        let template = entry.synchronization_template().unwrap();
        assert_eq!((template.id.as_str(), template.factory_tag.as_str()), (sync, sync));
        assert_eq!(template.requires_agent(), agent, "{name}");
    }
    // The agent requirement belongs to the on-premises application, not to the scim template itself.
    assert!(!synchronization_template("scim").unwrap().requires_agent());
    let json = serde_json::to_value(
        gallery_application(ON_PREMISES_SCIM_APPLICATION_TEMPLATE_ID).unwrap().synchronization_template().unwrap(),
    )
    .unwrap();
    assert_eq!(json["metadata"], json!([{"key": "IsSynchronizationAgentRequired", "value": "true"}]));
}

#[test]
fn unknown_templates_are_errors_that_say_what_exists() {
    let error = synchronization_template("DATABRICKS").unwrap_err();
    assert_eq!(error.to_string(), "no synchronization template 'DATABRICKS': use one of dataBricks, scim");
    assert!(matches!(
        gallery_application("00000000-0000-0000-0000-000000000000"),
        Err(Error::UnknownApplicationTemplate { .. })
    ));
}

#[test]
fn the_databricks_connector_does_what_the_tutorial_says() {
    let schema = synchronization_template("dataBricks").unwrap().schema;
    let rule = &schema.synchronization_rules[0];
    let objects: Vec<&str> = rule.object_mappings.iter().map(|m| m.source_object_name.as_str()).collect();
    assert_eq!(objects, ["User", "Group"], "no service principals");
    let groups = &rule.object_mappings[1];
    let display_name = groups.attribute_mappings.iter().find(|m| m.target_attribute_name == "displayName").unwrap();
    assert_eq!(display_name.flow_type, AttributeFlowType::ObjectAddOnly, "group renames are not synced");
    let members = schema.directory("customappsso").unwrap().object("Group").unwrap().attribute("members").unwrap();
    let referenced: Vec<&str> = members.referenced_objects.iter().map(|r| r.referenced_object_name.as_str()).collect();
    assert_eq!(referenced, ["User"], "no nested groups");
    let scim = synchronization_template("scim").unwrap().schema;
    let scim_members = scim.directory("customappsso").unwrap().object("Group").unwrap().attribute("members").unwrap();
    assert_eq!(scim_members.referenced_objects.len(), 2);
    assert!(rule.object_mappings.iter().all(|m| m.scope.is_none()));
}

fn graph_user() -> Value {
    json!({
        "id": "9bb0f679-a883-4a6f-8260-35b491b8b8c8",
        "userPrincipalName": "jane_contoso.com#EXT#@fabrikam.onmicrosoft.com",
        "mail": "jane@contoso.com",
        "mailNickname": "jane",
        "givenName": "Jane",
        "surname": "Doe",
        "displayName": "Jane Doe",
        "jobTitle": null,
        "department": "R&D",
        "employeeId": "701984",
        "businessPhones": ["+1 555 0100", "+1 555 0101"],
        "mobilePhone": "+1 555 0199",
        "faxNumber": null,
        "officeLocation": "18/2111",
        "streetAddress": "1 Main St",
        "city": "Redmond",
        "state": "WA",
        "postalCode": "98052",
        "country": "US",
        "preferredLanguage": "en-US",
        "accountEnabled": true,
        "proxyAddresses": ["SMTP:jane@contoso.com", "smtp:jd@contoso.com"],
        "onPremisesExtensionAttributes": {"extensionAttribute1": "cost-42", "extensionAttribute2": null},
        "passwordProfile": {"password": "never read"}
    })
}

#[test]
fn a_graph_user_reads_under_sync_schema_names() {
    let facts = DirectoryFacts {
        assigned: true,
        manager_id: Some("m1".into()),
        app_role_assignments: vec![AppRoleAssignmentFact {
            app_role_id: "00000000-0000-0000-0000-000000000000".into(),
            value: None,
            display_name: Some("Default Access".into()),
        }],
        ..DirectoryFacts::default()
    };
    let user = source_object_from_graph(DirectoryObjectType::User, &graph_user(), &facts).unwrap();
    assert_eq!(user.object_type, "User");
    let expected = json!({
        "objectId": "9bb0f679-a883-4a6f-8260-35b491b8b8c8",
        "userPrincipalName": "jane@contoso.com",
        "originalUserPrincipalName": "jane_contoso.com#EXT#@fabrikam.onmicrosoft.com",
        "mail": "jane@contoso.com",
        "mailNickname": "jane",
        "givenName": "Jane",
        "surname": "Doe",
        "displayName": "Jane Doe",
        "department": "R&D",
        "employeeId": "701984",
        "telephoneNumber": "+1 555 0100",
        "mobile": "+1 555 0199",
        "physicalDeliveryOfficeName": "18/2111",
        "streetAddress": "1 Main St",
        "city": "Redmond",
        "state": "WA",
        "postalCode": "98052",
        "country": "US",
        "preferredLanguage": "en-US",
        "accountEnabled": true,
        "proxyAddresses": ["SMTP:jane@contoso.com", "smtp:jd@contoso.com"],
        "extensionAttribute1": "cost-42",
        "manager": "m1",
        "IsSoftDeleted": false,
        "appRoleAssignments": [{"id": "00000000-0000-0000-0000-000000000000", "value": null, "displayName": "Default Access"}]
    });
    assert_eq!(serde_json::to_value(&user.attributes).unwrap(), expected);
}

#[test]
fn is_soft_deleted_says_when_to_deprovision() {
    let user = |graph: Value, facts: DirectoryFacts| {
        source_object_from_graph(DirectoryObjectType::User, &graph, &facts).unwrap().is_soft_deleted()
    };
    let assigned = DirectoryFacts { assigned: true, ..DirectoryFacts::default() };
    assert!(!user(graph_user(), assigned.clone()));
    assert!(user(graph_user(), DirectoryFacts::default()), "unassigned");
    assert!(user(graph_user(), DirectoryFacts { soft_deleted: true, ..assigned.clone() }), "soft-deleted");
    let mut blocked = graph_user();
    blocked["accountEnabled"] = json!(false);
    assert!(user(blocked, assigned.clone()), "sign-in blocked");
    let mut object = source_object_from_graph(DirectoryObjectType::User, &graph_user(), &assigned).unwrap();
    object.mark_out_of_scope();
    assert!(object.is_soft_deleted(), "out of the scoping filter's scope");
}

#[test]
fn a_graph_group_reads_with_its_members() {
    let graph = json!({"id": "g1", "displayName": "Sales", "description": null, "securityEnabled": true,
                       "mailEnabled": false, "mailNickname": "sales", "groupTypes": []});
    let facts = DirectoryFacts { assigned: true, members: vec!["u1".into(), "u2".into()], ..DirectoryFacts::default() };
    let group = source_object_from_graph(DirectoryObjectType::Group, &graph, &facts).unwrap();
    assert_eq!(
        serde_json::to_value(&group.attributes).unwrap(),
        json!({"objectId": "g1", "displayName": "Sales", "mailNickname": "sales", "mailEnabled": false,
               "securityEnabled": true, "members": ["u1", "u2"], "IsSoftDeleted": false})
    );
}

#[test]
fn what_is_not_a_graph_object_is_an_error() {
    let facts = DirectoryFacts::default();
    for graph in [json!("u1"), json!({"displayName": "no id"}), json!({"id": ""})] {
        let error = source_object_from_graph(DirectoryObjectType::User, &graph, &facts).unwrap_err();
        assert!(matches!(error, Error::InvalidDirectoryObject { kind: "user", .. }), "{graph}");
    }
}

#[test]
fn every_attribute_read_from_graph_is_in_the_source_directory() {
    let directory = source_directory();
    let facts = DirectoryFacts {
        assigned: true,
        manager_id: Some("m".into()),
        members: vec!["u".into()],
        app_role_assignments: vec![AppRoleAssignmentFact::default()],
        ..DirectoryFacts::default()
    };
    let mut user = graph_user();
    user["faxNumber"] = json!("+1 555 0102");
    user["otherMails"] = json!(["x@y.z"]);
    for n in 1..=15 {
        user["onPremisesExtensionAttributes"][format!("extensionAttribute{n}")] = json!("v");
    }
    for field in ["jobTitle", "companyName", "employeeType", "employeeHireDate", "usageLocation", "userType"] {
        user[field] = json!("v");
    }
    let group = json!({"id": "g", "displayName": "d", "description": "d", "mailNickname": "m", "mail": "m",
                       "mailEnabled": true, "securityEnabled": true});
    for (object_type, graph) in [(DirectoryObjectType::User, user), (DirectoryObjectType::Group, group)] {
        let object = source_object_from_graph(object_type, &graph, &facts).unwrap();
        let definition = directory.object(object_type.as_str()).unwrap();
        for (name, value) in &object.attributes {
            let attribute = definition.attribute_exact(name).unwrap_or_else(|| panic!("{name} is not defined"));
            assert_eq!(attribute.multivalued, value.is_array(), "{name}");
        }
        assert_eq!(object.attributes.len(), definition.attributes.len(), "every defined attribute can be read");
    }
}

#[test]
fn a_scoping_filter_reads_the_source_object() {
    let facts = DirectoryFacts { assigned: true, ..DirectoryFacts::default() };
    let user = source_object_from_graph(DirectoryObjectType::User, &graph_user(), &facts).unwrap();
    let filter = Filter {
        groups: vec![FilterGroup {
            name: "Contoso R&D".into(),
            clauses: vec![
                FilterClause::new("ENDS_WITH", "userPrincipalName", &["@contoso.com"]),
                FilterClause::new("EQUALS", "department", &["R&D"]),
                FilterClause::new("IS FALSE", "IsSoftDeleted", &[]),
                FilterClause::new("Greater_Than_OR_EQUALS", "employeeId", &["700000"]),
            ],
        }],
        ..Filter::default()
    };
    let evaluation = CompiledFilter::compile(&filter).unwrap().evaluate(&user);
    assert!(evaluation.in_scope, "{evaluation:#?}");
}
