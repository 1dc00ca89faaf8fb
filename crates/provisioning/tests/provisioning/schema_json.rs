//! The schema's JSON: what Graph returns is what we write; what clients send, sloppy or not, is what we read.

use idplane_provisioning::schema::{
    AttributeFlowBehavior, AttributeFlowType, AttributeMapping, AttributeMappingSourceType, AttributeType,
    DirectoryDefinition, Mutability, ObjectFlowTypes, ObjectMapping, SynchronizationSchema,
};
use serde_json::{Value, json};

/// The object mapping of Graph's objectMapping resource page (Salesforce), as Graph returns it.
fn salesforce_object_mapping() -> Value {
    json!({
        "attributeMappings": [
            {"defaultValue": "True", "exportMissingReferences": false, "flowBehavior": "FlowWhenChanged",
             "flowType": "Always", "matchingPriority": 0,
             "source": {"expression": "Not([IsSoftDeleted])", "name": "Not", "parameters": [
                 {"key": "source", "value": {"expression": "[IsSoftDeleted]", "name": "IsSoftDeleted",
                                             "parameters": [], "type": "Attribute"}}], "type": "Function"},
             "targetAttributeName": "IsActive"},
            {"defaultValue": "ISO-8859-1", "exportMissingReferences": false, "flowBehavior": "FlowWhenChanged",
             "flowType": "Always", "matchingPriority": 0, "source": null, "targetAttributeName": "EmailEncodingKey"},
            {"defaultValue": null, "exportMissingReferences": false, "flowBehavior": "FlowWhenChanged",
             "flowType": "Always", "matchingPriority": 1,
             "source": {"expression": "[userPrincipalName]", "name": "userPrincipalName", "parameters": [],
                        "type": "Attribute"},
             "targetAttributeName": "Username"}
        ],
        "enabled": true,
        "flowTypes": "Add, Update, Delete",
        "metadata": [{"key": "IsCustomerDefined", "value": "false"}, {"key": "Disposition", "value": "\"Normal\""}],
        "name": "Synchronize Azure Active Directory Users to salesforce.com",
        "scope": null,
        "sourceObjectName": "User",
        "targetObjectName": "User"
    })
}

#[test]
fn graphs_object_mapping_reads_and_writes_back_unchanged() {
    let graph = salesforce_object_mapping();
    let mapping: ObjectMapping = serde_json::from_value(graph.clone()).unwrap();
    assert_eq!(mapping.flow_types, Some(ObjectFlowTypes::ALL));
    let not = mapping.attribute_mappings[0].source.as_ref().unwrap();
    assert_eq!(not.source_type, AttributeMappingSourceType::Function);
    assert_eq!(not.parameters[0].key, "source");
    assert_eq!(not.parameters[0].value.as_ref().unwrap().name.as_deref(), Some("IsSoftDeleted"));
    assert!(mapping.attribute_mappings[1].source.is_none());
    assert_eq!(mapping.matching_mappings()[0].target_attribute_name, "Username");
    assert_eq!(serde_json::to_value(&mapping).unwrap(), graph);
}

#[test]
fn microsofts_minimal_update_sample_reads() {
    // synchronization-synchronizationschema-update.md, as sent (lower-case type, empty source, bare directory).
    let sent = json!({
        "directories": [
            {"name": "Azure Active Directory", "objects": [{"name": "User", "attributes": [
                {"name": "userPrincipalName", "type": "string"}]}]},
            {"name": "Salesforce"}
        ],
        "synchronizationRules": [{"name": "USER_TO_USER", "sourceDirectoryName": "Azure Active Directory",
            "targetDirectoryName": "Salesforce", "objectMappings": [{"sourceObjectName": "User",
            "targetObjectName": "User", "attributeMappings": [{"source": {}, "targetAttributeName": "userName"}]}]}]
    });
    let schema: SynchronizationSchema = serde_json::from_value(sent).unwrap();
    let upn = &schema.directories[0].objects[0].attributes[0];
    assert_eq!(upn.attribute_type, AttributeType::String);
    assert_eq!(upn.mutability, Mutability::ReadWrite);
    assert!(schema.directories[1].objects.is_empty());
    let mapping = &schema.synchronization_rules[0].object_mappings[0];
    assert!(mapping.enabled, "a mapping that does not say is enabled");
    assert_eq!(mapping.flow_types, None, "an omitted flowTypes is resolved against the template, not defaulted");
    assert_eq!(mapping.attribute_mappings[0].source, None, "\"source\":{{}} is no source");
    assert_eq!(mapping.attribute_mappings[0].flow_type, AttributeFlowType::Always);
}

#[test]
fn nulls_read_as_defaults() {
    let sent = json!({
        "directories": null,
        "synchronizationRules": [{"name": null, "editable": null, "priority": null, "metadata": null,
            "objectMappings": [{"enabled": null, "flowTypes": null, "scope": null, "metadata": null,
                "attributeMappings": [{"targetAttributeName": "displayName", "source": null, "flowType": null,
                    "flowBehavior": null, "matchingPriority": null, "exportMissingReferences": null}]}]}]
    });
    let schema: SynchronizationSchema = serde_json::from_value(sent).unwrap();
    assert!(schema.directories.is_empty());
    let rule = &schema.synchronization_rules[0];
    assert_eq!((rule.name.as_str(), rule.editable, rule.priority), ("", false, 0));
    let mapping = &rule.object_mappings[0];
    assert!(mapping.enabled);
    assert_eq!(mapping.flow_types, None);
    let attribute = &mapping.attribute_mappings[0];
    assert_eq!(attribute.flow_behavior, AttributeFlowBehavior::FlowWhenChanged);
    assert_eq!(attribute.matching_priority, 0);
}

#[test]
fn sloppy_scalars_are_read() {
    let sent = json!({"targetAttributeName": "userName", "matchingPriority": "2", "flowType": "objectaddonly",
                      "source": {"type": "attribute", "name": "userPrincipalName"}});
    let mapping: AttributeMapping = serde_json::from_value(sent).unwrap();
    assert_eq!(mapping.matching_priority, 2);
    assert_eq!(mapping.flow_type, AttributeFlowType::ObjectAddOnly);
    assert_eq!(mapping.source.unwrap().source_type, AttributeMappingSourceType::Attribute);
    // A source with arguments but no type can only be a function call.
    let sent = json!({"targetAttributeName": "x", "source": {"name": "Not", "parameters": [
        {"key": "source", "value": {"type": "Attribute", "name": "IsSoftDeleted"}}]}});
    let mapping: AttributeMapping = serde_json::from_value(sent).unwrap();
    assert_eq!(mapping.source.unwrap().source_type, AttributeMappingSourceType::Function);
    // Flags as a list of names.
    let sent = json!({"name": "customappsso", "discoverabilities": ["AttributeNames", "AttributeDataTypes"]});
    let directory: DirectoryDefinition = serde_json::from_value(sent).unwrap();
    assert_eq!(directory.discoverabilities.as_deref(), Some("AttributeNames, AttributeDataTypes"));
}

#[test]
fn unknown_enum_values_are_errors_that_list_the_known_ones() {
    let error = serde_json::from_value::<AttributeMapping>(json!({"flowType": "Sometimes"})).unwrap_err();
    assert!(error.to_string().contains("use one of Always, ObjectAddOnly"), "{error}");
    let error = serde_json::from_value::<ObjectMapping>(json!({"flowTypes": "Add, Merge"})).unwrap_err();
    assert!(error.to_string().contains("unknown flow type 'Merge'"), "{error}");
}

#[test]
fn flow_types_are_flags() {
    let cases = [
        ("Add, Update, Delete", ObjectFlowTypes::ALL, "Add, Update, Delete"),
        ("add,update", ObjectFlowTypes { add: true, update: true, delete: false }, "Add, Update"),
        ("Delete, Add", ObjectFlowTypes { add: true, update: false, delete: true }, "Add, Delete"),
        ("None", ObjectFlowTypes::NONE, "None"),
        ("", ObjectFlowTypes::NONE, "None"),
    ];
    for (text, flows, written) in cases {
        assert_eq!(ObjectFlowTypes::parse(text), Ok(flows), "{text}");
        assert_eq!(serde_json::to_value(flows).unwrap(), json!(written));
    }
    // msgraph-sdk's model holds the flags as a list once read.
    let mapping: ObjectMapping = serde_json::from_value(json!({"flowTypes": ["Add", "Update"]})).unwrap();
    assert_eq!(mapping.flow_types, Some(ObjectFlowTypes { add: true, update: true, delete: false }));
}

#[test]
fn a_written_schema_has_every_property_as_graph_returns_it() {
    let mut mapping = AttributeMapping::direct("userName", "userPrincipalName").matching(1);
    mapping.default_value = None;
    assert_eq!(
        serde_json::to_value(&mapping).unwrap(),
        json!({
            "targetAttributeName": "userName",
            "source": {"type": "Attribute", "name": "userPrincipalName", "expression": "[userPrincipalName]",
                       "parameters": []},
            "defaultValue": null,
            "exportMissingReferences": false,
            "flowBehavior": "FlowWhenChanged",
            "flowType": "Always",
            "matchingPriority": 1
        })
    );
}

#[test]
fn a_schema_round_trips() {
    let schema = idplane_provisioning::templates::synchronization_template("scim").unwrap().schema;
    let json = serde_json::to_value(&schema).unwrap();
    let read: SynchronizationSchema = serde_json::from_value(json).unwrap();
    assert_eq!(read, schema);
}
