//! How values are stored, whatever the backend: timestamps as unix nanoseconds, principal kinds and permissions as
//! their codes, a principal document as JSON text with the values of its indexed columns.

use idplane_core::assignment::Permission;
use idplane_core::error::StoreError;
use idplane_core::principal::{IndexedFields, PrincipalKind};
use idplane_scim::filter::fold_case;
use serde_json::Value;
use time::OffsetDateTime;

pub(crate) fn nanos(t: OffsetDateTime) -> Result<i64, StoreError> {
    i64::try_from(t.unix_timestamp_nanos()).map_err(|_| StoreError::Backend(format!("timestamp out of range: {t}")))
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
