//! How values are stored, whatever the backend: timestamps as unix nanoseconds, principal kinds and permissions as
//! their codes, a principal document as JSON text with the values of its indexed columns.

use idplane_core::assignment::Permission;
use idplane_core::audit::{Actor, ActorKind, AuditEntry, AuditRecord, Operation, ResourceType};
use idplane_core::error::StoreError;
use idplane_core::principal::{Home, IndexedFields, Principal, PrincipalKind};
use idplane_core::tenancy::{Account, Workspace};
use idplane_core::token::{Token, TokenHash, TokenKind, TokenScope};
use idplane_scim::filter::fold_case;
use serde_json::Value;
use time::OffsetDateTime;

use crate::tx::Row;

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

/// An `audit_log` row in the order of [`crate::audit::AUDIT_COLUMNS`], before conversion.
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
    pub fn read(mut r: Row) -> Result<Self, StoreError> {
        Ok(AuditRow {
            id: r.int(0)?,
            occurred_at: r.int(1)?,
            account_id: r.text(2)?,
            workspace_id: r.opt_int(3)?,
            actor_kind: r.text(4)?,
            actor_token_id: r.opt_text(5)?,
            actor_principal_id: r.opt_int(6)?,
            request_id: r.opt_text(7)?,
            resource_type: r.text(8)?,
            resource_id: r.text(9)?,
            operation: r.text(10)?,
            changes: r.text(11)?,
        })
    }

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

/// A principal from a row as [`crate::listing::PRINCIPAL_COLUMNS`] selects it, starting at column `at`.
pub(crate) fn principal(r: &mut Row, at: usize) -> Result<Principal, StoreError> {
    let id = r.int(at)?;
    let home = r.int(at + 3)?;
    let doc = r.text(at + 4)?;
    Ok(Principal {
        id,
        kind: kind(&r.text(at + 1)?)?,
        account_id: r.text(at + 2)?,
        home: if home == 0 { Home::Account } else { Home::Workspace(home) },
        doc: serde_json::from_str(&doc).map_err(|e| StoreError::Backend(format!("document of principal {id}: {e}")))?,
        version: r.int(at + 5)?,
        created: time(r.int(at + 6)?)?,
        last_modified: time(r.int(at + 7)?)?,
    })
}

/// A token from a row in the order of [`crate::tokens::TOKEN_COLUMNS`].
pub(crate) fn token(mut r: Row) -> Result<Token, StoreError> {
    let id = r.text(0)?;
    let hash: [u8; 32] =
        r.bytes(1)?.try_into().map_err(|_| StoreError::Backend(format!("token {id} has a malformed hash")))?;
    let account_id = r.text(2)?;
    let code = r.text(8)?;
    let kind = TokenKind::from_code(&code)
        .ok_or_else(|| StoreError::Backend(format!("token {id} has an unknown kind {code:?}")))?;
    let scope = match r.opt_int(3)? {
        None => TokenScope::Account { account_id },
        Some(workspace_id) => TokenScope::Workspace { account_id, workspace_id },
    };
    Ok(Token {
        hash: TokenHash(hash),
        kind,
        scope,
        principal_id: r.opt_int(4)?,
        comment: r.text(5)?,
        created: time(r.int(6)?)?,
        expires: r.opt_int(7)?.map(time).transpose()?,
        id,
    })
}

/// An account from `id, name, created`.
pub(crate) fn account(mut r: Row) -> Result<Account, StoreError> {
    Ok(Account { id: r.text(0)?, name: r.text(1)?, created: time(r.int(2)?)? })
}

/// A workspace from `id, account_id, name, identity_federation, created`.
pub(crate) fn workspace(mut r: Row) -> Result<Workspace, StoreError> {
    Ok(Workspace {
        id: r.int(0)?,
        account_id: r.text(1)?,
        name: r.text(2)?,
        identity_federation: r.bool(3)?,
        created: time(r.int(4)?)?,
    })
}

/// A list of ids as the JSON array [`crate::tx::Dialect::id_list`] reads.
pub(crate) fn id_array(ids: impl IntoIterator<Item = i64>) -> String {
    let items: Vec<String> = ids.into_iter().map(|id| id.to_string()).collect();
    format!("[{}]", items.join(","))
}
