//! How values are stored, whatever the backend: timestamps as unix nanoseconds, principal kinds and permissions as
//! their codes, a principal document as JSON text with the values of its indexed columns.

use idplane_core::assignment::Permission;
use idplane_core::audit::{Actor, ActorKind, AuditEntry, AuditRecord, Operation, ResourceType};
use idplane_core::error::StoreError;
use idplane_core::principal::{IndexedFields, PrincipalKind};
use idplane_scim::filter::fold_case;
use serde_json::Value;
use time::OffsetDateTime;

pub(crate) fn nanos(t: OffsetDateTime) -> Result<i64, StoreError> {
    i64::try_from(t.unix_timestamp_nanos()).map_err(|_| StoreError::Backend(format!("timestamp out of range: {t}")))
}

/// An instant to compare stored times with: before or after what nanoseconds can hold, the least or greatest of them
/// (a query bound of the year 1 or 9999 means "from the beginning", "to the end").
pub(crate) fn nanos_bound(t: OffsetDateTime) -> i64 {
    let n = t.unix_timestamp_nanos();
    i64::try_from(n).unwrap_or(if n < 0 { i64::MIN } else { i64::MAX })
}

pub(crate) fn time(nanos: i64) -> Result<OffsetDateTime, StoreError> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(nanos))
        .map_err(|e| StoreError::Backend(format!("stored timestamp {nanos}: {e}")))
}

pub(crate) fn kind(code: &str) -> Result<PrincipalKind, StoreError> {
    PrincipalKind::from_code(code).ok_or_else(|| StoreError::Backend(format!("unknown principal kind {code:?}")))
}

pub(crate) fn permission(stored: &str) -> Result<Permission, StoreError> {
    Permission::parse(stored).ok_or_else(|| StoreError::Backend(format!("unknown stored permission {stored:?}")))
}

/// The stored form of a document: its JSON and the values of the indexed columns.
pub(crate) struct Indexed {
    pub fields: IndexedFields,
    pub display_key: Option<String>,
    pub doc: String,
}

impl Indexed {
    pub fn of(kind: PrincipalKind, doc: &Value) -> Result<Indexed, StoreError> {
        let fields = IndexedFields::of(kind, doc);
        let display_key = fields.display_name.as_deref().map(fold_case);
        let doc = serde_json::to_string(doc).map_err(|e| StoreError::Backend(format!("encode document: {e}")))?;
        Ok(Indexed { fields, display_key, doc })
    }
}

/// Only groups have members.
pub(crate) fn require_group(kind: PrincipalKind, id: i64) -> Result<(), StoreError> {
    match kind {
        PrincipalKind::Group => Ok(()),
        other => Err(StoreError::Backend(format!("principal {id} is a {}, which has no members", other.code()))),
    }
}

/// An `audit_log` row in the order of [`crate::sql::AUDIT_COLUMNS`], before conversion.
pub(crate) struct AuditRow {
    pub id: i64,
    pub occurred_at: i64,
    pub account_id: String,
    pub workspace_id: Option<i64>,
    pub actor_kind: String,
    pub actor_token_id: Option<String>,
    pub actor_principal_id: Option<i64>,
    pub request_id: Option<String>,
    pub resource_type: String,
    pub resource_id: String,
    pub operation: String,
    pub changes: String,
}

impl AuditRow {
    pub fn into_record(self) -> Result<AuditRecord, StoreError> {
        let id = self.id;
        let unknown =
            |what: &str, code: &str| StoreError::Backend(format!("audit entry {id}: unknown {what} {code:?}"));
        let kind = ActorKind::from_code(&self.actor_kind).ok_or_else(|| unknown("actor kind", &self.actor_kind))?;
        let resource_type =
            ResourceType::parse(&self.resource_type).ok_or_else(|| unknown("resource type", &self.resource_type))?;
        let operation = Operation::parse(&self.operation).ok_or_else(|| unknown("operation", &self.operation))?;
        let changes = serde_json::from_str(&self.changes)
            .map_err(|e| StoreError::Backend(format!("audit entry {id}: changes: {e}")))?;
        Ok(AuditRecord {
            id,
            entry: AuditEntry {
                time: time(self.occurred_at)?,
                account_id: self.account_id,
                workspace_id: self.workspace_id,
                actor: Actor {
                    kind,
                    token_id: self.actor_token_id,
                    principal_id: self.actor_principal_id,
                    request_id: self.request_id,
                },
                resource_type,
                resource_id: self.resource_id,
                operation,
                changes,
            },
        })
    }
}

/// The stored form of an entry: the time in nanoseconds and the changes as JSON, the rest as they are.
pub(crate) fn audit_values(e: &AuditEntry) -> Result<(i64, String), StoreError> {
    Ok((nanos(e.time)?, e.changes_json()))
}
