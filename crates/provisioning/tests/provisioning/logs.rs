//! Provisioning logs: the two wire shapes of a record (Graph's `provisioningObjectSummary`, and provisionOnDemand's
//! `key`/`value` event) as snapshots, the stored JSON form, and the `$filter` language over generated clauses.

use std::collections::BTreeMap;

use idplane_provisioning::logs::query::{IdField, LogClause, Side, TimeOp, parse_filter, print_filter};
use idplane_provisioning::logs::{
    ErrorCategory, ErrorInformation, ModifiedProperty, ProvisionedIdentity, ProvisioningAction, ProvisioningLog,
    ProvisioningResult, ProvisioningStep, StepType,
};
use proptest::prelude::*;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::macros::datetime;

fn step(name: &str, step_type: StepType, status: ProvisioningResult, description: &str) -> ProvisioningStep {
    ProvisioningStep { name: name.into(), step_type, status, description: description.into(), details: BTreeMap::new() }
}

/// A failed create of a group, as Graph's documented example has it.
fn failed_create() -> ProvisioningLog {
    let mut export = step(
        "EntryExportAdd",
        StepType::Export,
        ProvisioningResult::Failure,
        "Failed to create Group 'Self-service Pilot' in customappsso",
    );
    export.details.insert("ReportableIdentifier".into(), "Self-service Pilot".into());
    ProvisioningLog {
        id: "0193a2b4-1c00-7000-8000-000000000001".into(),
        tenant_id: "7928d5b5-7442-4a97-8e2d-66f919972ec1".into(),
        job_id: "dataBricks.7928d5b574424a978e2d66f919972ec1.0193a2b4-0000-7000-8000-000000000000".into(),
        service_principal_id: "0193a2b4-0000-7000-8000-0000000000aa".into(),
        service_principal_name: "Azure Databricks".into(),
        cycle_id: "0193a2b4-1000-7000-8000-000000000000".into(),
        change_id: "0193a2b4-1000-7000-8000-000000000002".into(),
        activity: datetime!(2026-12-06 10:00:01.123456789 UTC),
        duration_ms: 2785,
        action: ProvisioningAction::Create,
        status: ProvisioningResult::Failure,
        error: Some(ErrorInformation {
            error_code: "EntryConflict".into(),
            reason: "customappsso returned an error response with the HTTP status code 409.".into(),
            additional_details: None,
            error_category: ErrorCategory::NonServiceFailure,
            recommended_action: Some("Remove the conflicting group from the target, or scope it out.".into()),
        }),
        source: ProvisionedIdentity {
            id: "5e6c9eae-ab4d-4239-8ad0-174391d110eb".into(),
            display_name: "Self-service Pilot".into(),
            identity_type: "Group".into(),
        },
        target: ProvisionedIdentity { id: String::new(), display_name: String::new(), identity_type: "Group".into() },
        source_system: "Azure Active Directory".into(),
        target_system: "customappsso".into(),
        on_demand: false,
        steps: vec![
            step(
                "EntryImportAdd",
                StepType::Import,
                ProvisioningResult::Success,
                "Received Group 'Self-service Pilot' change of type (Add) from Azure Active Directory",
            ),
            step(
                "EntrySynchronizationAdd",
                StepType::Matching,
                ProvisioningResult::Success,
                "Group 'Self-service Pilot' will be created in customappsso",
            ),
            export,
        ],
        modified_properties: vec![
            ModifiedProperty {
                display_name: "objectId".into(),
                old_value: None,
                new_value: Some("5e6c9eae-ab4d-4239-8ad0-174391d110eb".into()),
            },
            ModifiedProperty {
                display_name: "displayName".into(),
                old_value: None,
                new_value: Some("Self-service Pilot".into()),
            },
        ],
    }
}

/// A user on demand whose state already matches the target: skipped, with no error but a skip reason.
fn redundant_on_demand() -> ProvisioningLog {
    let mut skip = step(
        "EntrySynchronizationSkip",
        StepType::Export,
        ProvisioningResult::Skipped,
        "No change to the User 'ann@contoso.com' currently needs to be made.",
    );
    skip.details.insert("SkipReason".into(), "RedundantExport".into());
    let mut import = step(
        "EntryImport",
        StepType::Import,
        ProvisioningResult::Success,
        "Retrieved User 'ann@contoso.com' from Azure Active Directory",
    );
    import.details.insert("accountEnabled".into(), "True".into());
    ProvisioningLog {
        id: "0193a2b4-2c00-7000-8000-000000000001".into(),
        change_id: "0193a2b4-2000-7000-8000-000000000002".into(),
        cycle_id: "0193a2b4-2000-7000-8000-000000000000".into(),
        activity: datetime!(2026-12-06 11:00 UTC),
        duration_ms: 350,
        action: ProvisioningAction::Other,
        status: ProvisioningResult::Skipped,
        error: None,
        source: ProvisionedIdentity {
            id: "0193a2b4-0000-7000-8000-0000000000b1".into(),
            display_name: "ann@contoso.com".into(),
            identity_type: "User".into(),
        },
        target: ProvisionedIdentity {
            id: "5250".into(),
            display_name: "ann@contoso.com".into(),
            identity_type: "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User".into(),
        },
        on_demand: true,
        steps: vec![import, skip],
        modified_properties: vec![ModifiedProperty {
            display_name: "password".into(),
            old_value: Some("[Redact]".into()),
            new_value: Some("[Redact]".into()),
        }],
        ..failed_create()
    }
}

#[test]
fn a_record_renders_as_graphs_provisioning_object_summary() {
    let rendered = Value::Object(failed_create().render());
    insta::assert_json_snapshot!("provisioning_object_summary_failure", rendered);
    let keys: Vec<&str> = rendered.as_object().map(|m| m.keys().map(String::as_str).collect()).unwrap_or_default();
    assert_eq!(
        keys,
        [
            "id",
            "activityDateTime",
            "tenantId",
            "jobId",
            "cycleId",
            "changeId",
            "provisioningAction",
            "durationInMilliseconds",
            "sourceSystem",
            "targetSystem",
            "initiatedBy",
            "servicePrincipal",
            "sourceIdentity",
            "targetIdentity",
            "provisioningStatusInfo",
            "provisioningSteps",
            "modifiedProperties"
        ]
    );
}

#[test]
fn an_on_demand_record_shows_who_started_it_and_redacted_values_stay_redacted() {
    let log = redundant_on_demand();
    let rendered = Value::Object(log.render());
    assert_eq!(rendered["initiatedBy"]["initiatorType"], "user");
    assert_eq!(rendered["provisioningAction"], "other");
    assert_eq!(rendered["provisioningStatusInfo"], json!({"status": "skipped", "errorInformation": null}));
    assert_eq!(
        rendered["modifiedProperties"],
        json!([{"displayName": "password", "oldValue": "[Redact]", "newValue": "[Redact]"}])
    );
    let cycle = Value::Object(ProvisioningLog { on_demand: false, ..log }.render());
    assert_eq!(
        cycle["initiatedBy"],
        json!({"id": "", "displayName": "Azure AD Provisioning Service", "initiatorType": "system"})
    );
}

#[test]
fn provision_on_demand_answers_the_event_shape() -> serde_json::Result<()> {
    let (key, value) = redundant_on_demand().on_demand_response();
    let (key, value): (Value, Value) = (serde_json::from_str(&key)?, serde_json::from_str(&value)?);
    assert_eq!(
        key,
        json!({"result": "Skipped", "details": {"errorCode": "RedundantExport",
               "errorMessage": "No change to the User 'ann@contoso.com' currently needs to be made."}})
    );
    insta::assert_json_snapshot!("on_demand_skipped_value", value);

    let (key, value) = failed_create().on_demand_response();
    let (key, value): (Value, Value) = (serde_json::from_str(&key)?, serde_json::from_str(&value)?);
    assert_eq!(
        key,
        json!({"result": "Failure", "details": {"errorCode": "EntryConflict",
               "errorMessage": "customappsso returned an error response with the HTTP status code 409."}})
    );
    assert_eq!(value["statusInfo"]["errorCategory"], "NonServiceFailure");
    assert_eq!(
        (value["startTime"].clone(), value["endTime"].clone()),
        (json!("2026-12-06T10:00:01.1234567Z"), json!("2026-12-06T10:00:03.9084567Z"))
    );
    assert_eq!(value["provisioningSteps"][2]["type"], "Export");
    assert_eq!(value["provisioningSteps"][2]["status"], "Failure");

    let done =
        ProvisioningLog { status: ProvisioningResult::Success, error: None, steps: Vec::new(), ..failed_create() };
    let (key, _) = done.on_demand_response();
    assert_eq!(serde_json::from_str::<Value>(&key)?, json!({"result": "Success", "details": {}}));
    Ok(())
}

#[test]
fn records_keep_every_field_in_their_stored_form() -> serde_json::Result<()> {
    for log in [failed_create(), redundant_on_demand()] {
        let stored = serde_json::to_string(&log)?;
        assert_eq!(serde_json::from_str::<ProvisioningLog>(&stored)?, log);
    }
    // A record written before a field existed reads with that field's default.
    let mut stored = serde_json::to_value(failed_create())?;
    if let Some(m) = stored.as_object_mut() {
        m.remove("modified_properties");
        m.remove("error");
    }
    let read: ProvisioningLog = serde_json::from_value(stored)?;
    assert_eq!((read.modified_properties.len(), read.error), (0, None));
    Ok(())
}

// ---- the $filter language over generated clauses ----

fn text() -> impl Strategy<Value = String> {
    prop_oneof![any::<String>(), "[a-zA-Z' (),-]{0,12}", Just(String::new())]
}

fn instant() -> impl Strategy<Value = OffsetDateTime> {
    // From 1970 to 9999, to the nanosecond: what RFC 3339 can write.
    (0_i128..253_402_300_799_999_999_999)
        .prop_filter_map("in range", |n| OffsetDateTime::from_unix_timestamp_nanos(n).ok())
}

fn clause() -> impl Strategy<Value = LogClause> {
    use proptest::sample::select;
    prop_oneof![
        (select(&TimeOp::ALL[..]), instant()).prop_map(|(op, t)| LogClause::Activity(op, t)),
        (select(&IdField::ALL[..]), text()).prop_map(|(f, v)| LogClause::Equals(f, v)),
        select(ProvisioningAction::ALL).prop_map(LogClause::Action),
        select(ProvisioningResult::ALL).prop_map(LogClause::Status),
        (select(&[Side::Source, Side::Target][..]), text()).prop_map(|(s, v)| LogClause::NameContains(s, v)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn printing_round_trips(clauses in proptest::collection::vec(clause(), 1..8)) {
        let printed = print_filter(&clauses);
        prop_assume!(printed.len() <= idplane_provisioning::logs::query::MAX_FILTER);
        prop_assert_eq!(parse_filter(&printed).ok(), Some(clauses));
    }

    #[test]
    fn no_input_makes_the_parser_panic(input in "[a-zA-Z/()', :.0-9-]{0,80}|.{0,40}") {
        if let Ok(clauses) = parse_filter(&input) {
            prop_assert_eq!(parse_filter(&print_filter(&clauses)).ok(), Some(clauses));
        }
    }
}
