//! Any input: reading it as the `$filter` of the provisioning logs never panics; what parses prints to a filter that
//! parses back to the same clauses (when the printing fits the length limit), and every clause evaluates on a record
//! without panicking.

#![no_main]

use idplane_provisioning::logs::query::{LogQuery, MAX_FILTER, parse_filter, print_filter};
use idplane_provisioning::logs::{ProvisionedIdentity, ProvisioningAction, ProvisioningLog, ProvisioningResult};
use libfuzzer_sys::fuzz_target;

fn record() -> ProvisioningLog {
    let identity = |id: &str, name: &str| ProvisionedIdentity {
        id: id.into(),
        display_name: name.into(),
        identity_type: "User".into(),
    };
    ProvisioningLog {
        id: "0193a2b4-0000-7000-8000-000000000001".into(),
        tenant_id: "t".into(),
        job_id: "dataBricks.j".into(),
        service_principal_id: "sp".into(),
        service_principal_name: "Azure Databricks".into(),
        cycle_id: "c".into(),
        change_id: "x".into(),
        activity: time::macros::datetime!(2026-12-06 10:00:00.123456789 UTC),
        duration_ms: 1,
        action: ProvisioningAction::Create,
        status: ProvisioningResult::Failure,
        error: None,
        source: identity("s", "Ann O'Neil"),
        target: identity("", ""),
        source_system: "Azure Active Directory".into(),
        target_system: "customappsso".into(),
        on_demand: false,
        steps: Vec::new(),
        modified_properties: Vec::new(),
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else { return };
    let Ok(clauses) = parse_filter(input) else { return };
    let printed = print_filter(&clauses);
    if printed.len() <= MAX_FILTER {
        assert_eq!(parse_filter(&printed).ok().as_ref(), Some(&clauses), "{input:?} printed as {printed:?}");
    }
    let _ = LogQuery { filter: clauses, ..LogQuery::default() }.matches(&record());
});
