//! The audit log: who changed what, when, and in which request. Every change to an account, workspace, principal,
//! group membership, assignment, entitlement or token is recorded as an [`AuditEntry`], written by the store in the
//! same transaction as the change itself ([`crate::store::Store`]'s write methods take the entries): an acknowledged
//! change always has its entry, and a change that failed has none. Reads record nothing.
//!
//! An entry names its actor by token id and principal id, never by the token's secret or hash. The changed attributes
//! are listed with their old and new values where those are at hand and small; group members and workspace values
//! (entitlements, roles) by the ids and values added and removed.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use time::OffsetDateTime;

use crate::assignment::Permission;
use crate::error::{CoreError, Result};
use crate::principal::{Principal, PrincipalKind};
use crate::store::{MemberOp, Store, ValueOp};
use crate::token::Token;

/// How an actor reached idplane.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ActorKind {
    /// A request to the HTTP API, with a bearer token.
    Token,
    /// An administrator at the machine, with the `idplane` command line.
    Cli,
    /// idplane itself: the first start's bootstrap.
    System,
}

impl ActorKind {
    pub fn code(self) -> &'static str {
        match self {
            ActorKind::Token => "token",
            ActorKind::Cli => "cli",
            ActorKind::System => "system",
        }
    }

    pub fn from_code(code: &str) -> Option<Self> {
        [ActorKind::Token, ActorKind::Cli, ActorKind::System].into_iter().find(|k| k.code() == code)
    }
}

/// Who makes a change, and in which request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub kind: ActorKind,
    /// The public id of the token of the request (never its secret).
    pub token_id: Option<String>,
    /// The principal the token acts as, if it has one.
    pub principal_id: Option<i64>,
    /// The request's `X-Request-Id`, to find its log line.
    pub request_id: Option<String>,
}

impl Actor {
    /// The bearer of `token`, in the request `request_id`.
    pub fn of_token(token: &Token, request_id: Option<String>) -> Actor {
        Actor { kind: ActorKind::Token, token_id: Some(token.id.clone()), principal_id: token.principal_id, request_id }
    }

    /// An administrator using the command line.
    pub fn cli() -> Actor {
        Actor { kind: ActorKind::Cli, token_id: None, principal_id: None, request_id: None }
    }

    /// idplane itself.
    pub fn system() -> Actor {
        Actor { kind: ActorKind::System, token_id: None, principal_id: None, request_id: None }
    }
}

/// What kind of thing an entry is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResourceType {
    Account,
    Workspace,
    User,
    Group,
    ServicePrincipal,
    /// A principal's direct assignment to a workspace; the resource id is the principal's.
    Assignment,
    Token,
}

impl ResourceType {
    pub const ALL: [ResourceType; 7] = [
        ResourceType::Account,
        ResourceType::Workspace,
        ResourceType::User,
        ResourceType::Group,
        ResourceType::ServicePrincipal,
        ResourceType::Assignment,
        ResourceType::Token,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ResourceType::Account => "Account",
            ResourceType::Workspace => "Workspace",
            ResourceType::User => "User",
            ResourceType::Group => "Group",
            ResourceType::ServicePrincipal => "ServicePrincipal",
            ResourceType::Assignment => "Assignment",
            ResourceType::Token => "Token",
        }
    }

    /// The type named `name`, case-insensitively.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.name().eq_ignore_ascii_case(name))
    }

    /// Like [`Self::parse`], or what the value must be instead, to follow "must be" in an error message.
    pub fn parse_or_expected(name: &str) -> Result<Self, String> {
        Self::parse(name).ok_or_else(|| expected(Self::ALL.map(Self::name), name))
    }

    pub fn of(kind: PrincipalKind) -> Self {
        match kind {
            PrincipalKind::User => ResourceType::User,
            PrincipalKind::Group => ResourceType::Group,
            PrincipalKind::ServicePrincipal => ResourceType::ServicePrincipal,
        }
    }
}

/// What was done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    Create,
    /// A SCIM PUT.
    Replace,
    /// A SCIM PATCH.
    Patch,
    Delete,
    Assign,
    Unassign,
    /// A token's expiry was brought forward (the earlier SCIM tokens of a rotation).
    Expire,
    /// A new account SCIM token replaced the earlier ones.
    Rotate,
}

impl Operation {
    pub const ALL: [Operation; 8] = [
        Operation::Create,
        Operation::Replace,
        Operation::Patch,
        Operation::Delete,
        Operation::Assign,
        Operation::Unassign,
        Operation::Expire,
        Operation::Rotate,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Operation::Create => "create",
            Operation::Replace => "replace",
            Operation::Patch => "patch",
            Operation::Delete => "delete",
            Operation::Assign => "assign",
            Operation::Unassign => "unassign",
            Operation::Expire => "expire",
            Operation::Rotate => "rotate",
        }
    }

    /// The operation named `code`, case-insensitively.
    pub fn parse(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|o| o.code().eq_ignore_ascii_case(code))
    }

    /// Like [`Self::parse`], or what the value must be instead, to follow "must be" in an error message.
    pub fn parse_or_expected(code: &str) -> Result<Self, String> {
        Self::parse(code).ok_or_else(|| expected(Self::ALL.map(Self::code), code))
    }
}

fn expected(names: impl IntoIterator<Item = &'static str>, given: &str) -> String {
    format!("one of {}, not \"{given}\"", names.into_iter().collect::<Vec<_>>().join(", "))
}

/// One changed attribute. `old` and `new` are given when they are at hand and small (a value whose JSON is longer
/// than [`MAX_VALUE_BYTES`] is left out, the name staying); `added` and `removed` list the members (by id) or values
/// added to or removed from a list kept apart from the document (members, entitlements, roles); `cleared` says that
/// the whole list was emptied first.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Change {
    pub attribute: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new: Option<Value>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub added: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub removed: Vec<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cleared: bool,
}

impl Change {
    pub fn new(attribute: impl Into<String>) -> Change {
        Change { attribute: attribute.into(), ..Change::default() }
    }

    /// `attribute` set from `old` to `new` (either absent), with the values kept if they are small.
    pub fn set(attribute: impl Into<String>, old: Option<&Value>, new: Option<&Value>) -> Change {
        let attribute = attribute.into();
        let secret = SECRET_ATTRIBUTES.iter().any(|s| attribute.eq_ignore_ascii_case(s));
        let keep = |v: Option<&Value>| v.filter(|v| !secret && small(v)).cloned();
        Change { old: keep(old), new: keep(new), ..Change::new(attribute) }
    }
}

/// Values whose JSON is longer than this are named in an entry, not copied into it.
pub const MAX_VALUE_BYTES: usize = 1024;

/// Attributes whose values an entry never holds, whatever the client sent (the store does not keep them either).
const SECRET_ATTRIBUTES: [&str; 1] = ["password"];

fn small(v: &Value) -> bool {
    serde_json::to_string(v).is_ok_and(|s| s.len() <= MAX_VALUE_BYTES)
}

/// An entry to record: what the store writes with a change.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEntry {
    pub time: OffsetDateTime,
    pub account_id: String,
    /// The workspace the change was made in (or of), if any.
    pub workspace_id: Option<i64>,
    pub actor: Actor,
    pub resource_type: ResourceType,
    pub resource_id: String,
    pub operation: Operation,
    pub changes: Vec<Change>,
}

impl AuditEntry {
    pub fn new(
        actor: &Actor,
        now: OffsetDateTime,
        account_id: &str,
        resource_type: ResourceType,
        resource_id: impl ToString,
        operation: Operation,
    ) -> AuditEntry {
        AuditEntry {
            time: now,
            account_id: account_id.to_string(),
            workspace_id: None,
            actor: actor.clone(),
            resource_type,
            resource_id: resource_id.to_string(),
            operation,
            changes: Vec::new(),
        }
    }

    pub fn in_workspace(self, workspace_id: Option<i64>) -> AuditEntry {
        AuditEntry { workspace_id, ..self }
    }

    pub fn with_changes(mut self, changes: impl IntoIterator<Item = Change>) -> AuditEntry {
        self.changes.extend(changes);
        self
    }

    /// The changes as the store keeps them: JSON text.
    pub fn changes_json(&self) -> String {
        serde_json::to_string(&self.changes).unwrap_or_else(|_| "[]".into())
    }
}

/// A recorded entry: its store-assigned id (increasing on each node; ids are never reused) and the entry.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditRecord {
    pub id: i64,
    pub entry: AuditEntry,
}

impl AuditRecord {
    /// The entry as the admin API and the command line show it.
    pub fn to_json(&self) -> Value {
        let e = &self.entry;
        serde_json::json!({
            "id": self.id,
            "time": rfc3339(e.time),
            "account_id": e.account_id,
            "workspace_id": e.workspace_id,
            "actor": {
                "kind": e.actor.kind.code(),
                "token_id": e.actor.token_id,
                "principal_id": e.actor.principal_id,
            },
            "request_id": e.actor.request_id,
            "resource_type": e.resource_type.name(),
            "resource_id": e.resource_id,
            "operation": e.operation.code(),
            "changes": e.changes,
        })
    }
}

/// RFC 3339 in UTC, to the nanosecond the entry was stamped with.
pub fn rfc3339(t: OffsetDateTime) -> String {
    t.to_offset(time::UtcOffset::UTC).format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}

/// Which entries [`Store::audit_entries`] returns, newest first; `None` fields do not filter.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AuditQuery {
    pub account_id: Option<String>,
    pub workspace_id: Option<i64>,
    /// Entries at or after this instant.
    pub since: Option<OffsetDateTime>,
    /// Entries before this instant.
    pub until: Option<OffsetDateTime>,
    /// Entries whose actor is this principal.
    pub principal_id: Option<i64>,
    /// Entries whose actor used this token.
    pub token_id: Option<String>,
    pub request_id: Option<String>,
    pub resource_type: Option<ResourceType>,
    pub resource_id: Option<String>,
    pub operation: Option<Operation>,
    /// Keyset pagination: only entries older than this position (see [`AuditCursor`]).
    pub before: Option<AuditCursor>,
    pub limit: usize,
}

/// A position in the newest-first order of entries: (time, id). Paging by position rather than by offset keeps pages
/// stable while entries are being added: a new entry sorts before the first page, never into a later one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditCursor {
    pub time: OffsetDateTime,
    pub id: i64,
}

impl AuditCursor {
    pub fn after(record: &AuditRecord) -> AuditCursor {
        AuditCursor { time: record.entry.time, id: record.id }
    }

    /// The opaque page token of this position.
    pub fn encode(&self) -> String {
        hex::encode(format!("{}.{}", self.time.unix_timestamp_nanos(), self.id))
    }

    pub fn decode(token: &str) -> Result<AuditCursor> {
        let invalid = || CoreError::invalid_value("page_token is not one this server issued");
        let text = hex::decode(token).ok().and_then(|b| String::from_utf8(b).ok()).ok_or_else(invalid)?;
        let (nanos, id) = text.split_once('.').ok_or_else(invalid)?;
        let nanos: i128 = nanos.parse().map_err(|_| invalid())?;
        let time = OffsetDateTime::from_unix_timestamp_nanos(nanos).map_err(|_| invalid())?;
        Ok(AuditCursor { time, id: id.parse().map_err(|_| invalid())? })
    }
}

/// An instant given as RFC 3339 (`2026-11-22T18:00:00Z`) or as milliseconds since the epoch.
pub fn parse_time(value: &str) -> Option<OffsetDateTime> {
    match value.parse::<i64>() {
        Ok(ms) => OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).ok(),
        Err(_) => OffsetDateTime::parse(value, &time::format_description::well_known::Rfc3339).ok(),
    }
}

/// Most entries one page returns; the default page size.
pub const MAX_PAGE_SIZE: usize = 1000;
pub const DEFAULT_PAGE_SIZE: usize = 100;

/// A page of entries matching `query` (whose `limit` is capped at [`MAX_PAGE_SIZE`]), and the cursor of the next
/// page if there is one.
pub async fn page(store: &dyn Store, query: &AuditQuery) -> Result<(Vec<AuditRecord>, Option<AuditCursor>)> {
    let limit = query.limit.clamp(1, MAX_PAGE_SIZE);
    // One more than the page, to know whether another page follows.
    let mut records = store.audit_entries(&AuditQuery { limit: limit + 1, ..query.clone() }).await?;
    let more = records.len() > limit;
    records.truncate(limit);
    let next = if more { records.last().map(AuditCursor::after) } else { None };
    Ok((records, next))
}

/// How long entries are kept: `days` days, or forever when 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    pub days: u32,
}

/// Entries are kept a year unless configured otherwise.
pub const DEFAULT_RETENTION_DAYS: u32 = 365;

impl Retention {
    /// The instant before which entries are past their retention at `now`; None when they are kept forever (or
    /// for longer than time can count back).
    pub fn cutoff(self, now: OffsetDateTime) -> Option<OffsetDateTime> {
        (self.days > 0).then(|| now.checked_sub(time::Duration::days(i64::from(self.days)))).flatten()
    }
}

/// Deletes the entries past `retention` at `now`; returns how many.
pub async fn purge(store: &dyn Store, retention: Retention, now: OffsetDateTime) -> Result<u64> {
    match retention.cutoff(now) {
        Some(cutoff) => Ok(store.purge_audit(cutoff).await?),
        None => Ok(0),
    }
}

// ---- what changed ----

/// The attributes that differ between two principal documents, with old and new values. Extension objects
/// (`urn:...` keys) are compared one attribute deeper, named `urn:...:attribute`.
pub fn document_changes(old: &Value, new: &Value) -> Vec<Change> {
    let empty = Map::new();
    let old = old.as_object().unwrap_or(&empty);
    let new = new.as_object().unwrap_or(&empty);
    let mut changes = Vec::new();
    // Keys starting with `$` are the server's own marks, not attributes (see identities).
    let keys = old.keys().chain(new.keys().filter(|k| !old.contains_key(*k))).filter(|k| !k.starts_with('$'));
    for key in keys {
        let (a, b) = (old.get(key), new.get(key));
        if a == b {
            continue;
        }
        match (a.and_then(Value::as_object), b.and_then(Value::as_object)) {
            (Some(_), _) | (_, Some(_)) if key.starts_with("urn:") => {
                let nested = document_changes(a.unwrap_or(&Value::Null), b.unwrap_or(&Value::Null));
                changes.extend(nested.into_iter().map(|c| Change { attribute: format!("{key}:{}", c.attribute), ..c }));
            }
            _ => changes.push(Change::set(key.as_str(), a, b)),
        }
    }
    changes
}

/// The member changes of a group as a `members` change; None if there are none.
pub fn member_changes(ops: &[MemberOp]) -> Option<Change> {
    let mut change = Change::new("members");
    for op in ops {
        match op {
            MemberOp::Add(members) => change.added.extend(members.iter().map(|m| m.id.to_string())),
            MemberOp::Remove(ids) => change.removed.extend(ids.iter().map(i64::to_string)),
            MemberOp::Clear => {
                change.cleared = true;
                change.added.clear();
                change.removed.clear();
            }
        }
    }
    (change.cleared || !change.added.is_empty() || !change.removed.is_empty()).then_some(change)
}

/// The changes to workspace values (entitlements, roles), one per attribute, in the order first touched.
pub fn value_changes(ops: &[ValueOp]) -> Vec<Change> {
    let mut changes: Vec<Change> = Vec::new();
    for op in ops {
        let attribute = match op {
            ValueOp::Add { attribute, .. } | ValueOp::Remove { attribute, .. } | ValueOp::Clear { attribute } => {
                *attribute
            }
        };
        let i = match changes.iter().position(|c| c.attribute == attribute) {
            Some(i) => i,
            None => {
                changes.push(Change::new(attribute));
                changes.len() - 1
            }
        };
        let change = &mut changes[i];
        match op {
            ValueOp::Add { values, .. } => change.added.extend(values.iter().cloned()),
            ValueOp::Remove { values, .. } => change.removed.extend(values.iter().cloned()),
            ValueOp::Clear { .. } => {
                change.cleared = true;
                change.added.clear();
                change.removed.clear();
            }
        }
    }
    changes.retain(|c| c.cleared || !c.added.is_empty() || !c.removed.is_empty());
    changes
}

/// The entry of a principal's creation: every attribute it was created with.
pub fn principal_created(actor: &Actor, now: OffsetDateTime, p: &Principal, workspace_id: Option<i64>) -> AuditEntry {
    AuditEntry::new(actor, now, &p.account_id, ResourceType::of(p.kind), p.id, Operation::Create)
        .in_workspace(workspace_id)
        .with_changes(document_changes(&Value::Null, &p.doc))
}

/// The entry of a token's creation: its kind, scope, owner, comment and expiry; never its secret or hash.
pub fn token_created(actor: &Actor, now: OffsetDateTime, t: &Token, operation: Operation) -> AuditEntry {
    let workspace_id = match t.scope {
        crate::token::TokenScope::Workspace { workspace_id, .. } => Some(workspace_id),
        crate::token::TokenScope::Account { .. } => None,
    };
    let changes = [
        Change::set("kind", None, Some(&Value::from(t.kind.code()))),
        Change::set("principal_id", None, t.principal_id.map(Value::from).as_ref()),
        Change::set("comment", None, Some(&Value::from(t.comment.as_str()))),
        Change::set("expiry_time", None, t.expires.map(|e| Value::from(rfc3339(e))).as_ref()),
    ];
    AuditEntry::new(actor, now, t.scope.account_id(), ResourceType::Token, &t.id, operation)
        .in_workspace(workspace_id)
        .with_changes(changes.into_iter().filter(|c| c.new.is_some()))
}

/// The entry of setting (`Some`) or removing (`None`) the direct assignment of `p` to a workspace.
pub fn assignment_changed(
    actor: &Actor,
    now: OffsetDateTime,
    p: &Principal,
    workspace_id: i64,
    permission: Option<Permission>,
) -> AuditEntry {
    let operation = if permission.is_some() { Operation::Assign } else { Operation::Unassign };
    let new = permission.map(|p| Value::from(p.as_str()));
    AuditEntry::new(actor, now, &p.account_id, ResourceType::Assignment, p.id, operation)
        .in_workspace(Some(workspace_id))
        .with_changes([Change::set("permissions", None, new.as_ref())].into_iter().filter(|c| c.new.is_some()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::NewMember;
    use serde_json::json;

    #[test]
    fn document_changes_name_what_differs_with_values() {
        let old = json!({"userName": "a", "active": true, "emails": [{"value": "a@x"}],
            "urn:ext": {"department": "R&D", "costCenter": "1"}});
        let new = json!({"userName": "a", "active": false, "title": "Dr",
            "urn:ext": {"department": "Ops", "costCenter": "1"}});
        let changes = document_changes(&old, &new);
        let names: Vec<&str> = changes.iter().map(|c| c.attribute.as_str()).collect();
        assert_eq!(names, ["active", "emails", "urn:ext:department", "title"]);
        assert_eq!(changes[0].old, Some(json!(true)));
        assert_eq!(changes[0].new, Some(json!(false)));
        assert_eq!(changes[1].new, None, "removed");
        assert_eq!(changes[2].new, Some(json!("Ops")));
    }

    #[test]
    fn large_and_secret_values_are_named_not_copied() {
        let big = Value::String("x".repeat(MAX_VALUE_BYTES + 1));
        let c = Change::set("description", None, Some(&big));
        assert_eq!((c.attribute.as_str(), c.new), ("description", None));
        let c = Change::set("password", None, Some(&json!("hunter2")));
        assert_eq!(c.new, None);
    }

    #[test]
    fn member_and_value_changes_fold_into_one_change_per_attribute() {
        let ops = [MemberOp::Add(vec![NewMember::from(1), NewMember::from(2)]), MemberOp::Remove(vec![3])];
        let c = member_changes(&ops);
        assert_eq!(
            c.as_ref().map(|c| (c.added.clone(), c.removed.clone())),
            Some((vec!["1".into(), "2".into()], vec!["3".into()]))
        );
        assert_eq!(member_changes(&[MemberOp::Add(Vec::new())]), None);
        let ops = [
            ValueOp::Clear { attribute: "entitlements" },
            ValueOp::Add { attribute: "entitlements", values: vec!["workspace-access".into()] },
            ValueOp::Remove { attribute: "roles", values: vec!["r".into()] },
        ];
        let c = value_changes(&ops);
        assert_eq!(c.len(), 2);
        assert!(c[0].cleared && c[0].added == ["workspace-access"]);
        assert_eq!(c[1].removed, ["r"]);
    }

    #[test]
    fn cursors_round_trip_and_foreign_ones_are_refused() -> Result<()> {
        let time = OffsetDateTime::UNIX_EPOCH + time::Duration::nanoseconds(1_700_000_000_123_456_789);
        let c = AuditCursor { time, id: 42 };
        assert_eq!(AuditCursor::decode(&c.encode())?, c);
        assert!(AuditCursor::decode("zz").is_err());
        assert!(AuditCursor::decode(&hex::encode("1.x")).is_err());
        Ok(())
    }

    #[test]
    fn retention_zero_keeps_forever() {
        let now = OffsetDateTime::UNIX_EPOCH + time::Duration::days(1000);
        assert_eq!(Retention { days: 0 }.cutoff(now), None);
        assert_eq!(Retention { days: 10 }.cutoff(now), Some(now - time::Duration::days(10)));
        assert_eq!(Retention { days: u32::MAX }.cutoff(now), None, "longer than time counts back: kept");
    }
}
