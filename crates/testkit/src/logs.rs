//! Provisioning log records for tests of the store, the Graph API and the command line, which have no engine to
//! write them: [`record`] makes record `n` of a tenant, with fields that vary with `n` in a known way.

use std::collections::BTreeMap;

use idplane_provisioning::logs::{
    ErrorCategory, ErrorInformation, ModifiedProperty, ProvisionedIdentity, ProvisioningAction, ProvisioningLog,
    ProvisioningResult, ProvisioningStep, StepType,
};
use time::OffsetDateTime;

/// Record `n` of `tenant`, at `activity`. Its id sorts with `n` and is unique across tenants (they differ in their
/// last character); of job `dataBricks.job{n % 2}` and service principal `sp{n % 2}`; in cycle `cycle{n / 10}`, with
/// change `change{n}`; action and status the `n`th of Graph's lists (cycling), with an `EntryConflict` error when
/// `n % 4 == 1`; source `source{n % 7}` named `Ann O'Neil {n}` when `n % 3 == 0`, else `bob {n}`; target
/// `target{n % 5}` named `ann{n}@contoso.com`; on demand when `n % 9 == 0`.
pub fn record(tenant: &str, n: i64, activity: OffsetDateTime) -> ProvisioningLog {
    let actions = ProvisioningAction::ALL;
    let statuses = ProvisioningResult::ALL;
    let i = usize::try_from(n).unwrap_or_default();
    let mut details = BTreeMap::new();
    details.insert("ReportableIdentifier".to_string(), format!("user{n}@contoso.com"));
    ProvisioningLog {
        id: format!("0193a2b4-0000-7000-800{}-{n:012}", tenant.chars().last().unwrap_or('0')),
        tenant_id: tenant.to_string(),
        job_id: format!("dataBricks.job{}", n % 2),
        service_principal_id: format!("sp{}", n % 2),
        service_principal_name: "Azure Databricks".into(),
        cycle_id: format!("cycle{}", n / 10),
        change_id: format!("change{n}"),
        activity,
        duration_ms: u64::try_from(n).unwrap_or_default(),
        action: actions[i % actions.len()],
        status: statuses[i % statuses.len()],
        error: (n % 4 == 1).then(|| ErrorInformation {
            error_code: "EntryConflict".into(),
            reason: "the target answered 409".into(),
            additional_details: None,
            error_category: ErrorCategory::NonServiceFailure,
            recommended_action: None,
        }),
        source: ProvisionedIdentity {
            id: format!("source{}", n % 7),
            display_name: if n % 3 == 0 { format!("Ann O'Neil {n}") } else { format!("bob {n}") },
            identity_type: "User".into(),
        },
        target: ProvisionedIdentity {
            id: format!("target{}", n % 5),
            display_name: format!("ann{n}@contoso.com"),
            identity_type: "User".into(),
        },
        source_system: "Azure Active Directory".into(),
        target_system: "customappsso".into(),
        on_demand: n % 9 == 0,
        steps: vec![ProvisioningStep {
            name: "EntryExportAdd".into(),
            step_type: StepType::Export,
            status: ProvisioningResult::Success,
            description: "Created".into(),
            details,
        }],
        modified_properties: vec![ModifiedProperty {
            display_name: "displayName".into(),
            old_value: None,
            new_value: Some(format!("bob {n}")),
        }],
    }
}
