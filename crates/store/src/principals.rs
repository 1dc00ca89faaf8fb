//! Principals' transaction scripts: insert, update (document, members, workspace values), delete, and the reads,
//! from one principal with what rendering it needs to a page of them.

use std::collections::HashMap;

use idplane_core::audit::AuditEntry;
use idplane_core::error::StoreError;
use idplane_core::principal::{GroupRef, Home, Member, Principal, PrincipalKind};
use idplane_core::store::{
    Listing, MemberOp, NewMember, NewPrincipal, PrincipalUpdate, PrincipalView, ValueOp, Want, WorkspaceValues,
};
use idplane_core::tenancy::Scope;

use crate::audit::record;
use crate::codec::{self, Indexed, kind, nanos, require_group};
use crate::listing::{self, Ids, ListPlan, ListRead};
use crate::tx::{Sql, Tx, params};

const INSERT_PRINCIPAL: &str = "INSERT INTO principals (id, kind, account_id, home_workspace, \
     unique_value, unique_key, external_id, display_name, display_key, active, doc, version, created, last_modified) \
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
/// What an update needs to know before it writes: the kind (for the indexed fields), account and version.
const SELECT_FOR_UPDATE: &str = "SELECT kind, account_id, version FROM principals WHERE id = ?";
const UPDATE_PRINCIPAL_DOC: &str = "UPDATE principals SET unique_value = ?, unique_key = ?, \
     external_id = ?, display_name = ?, display_key = ?, active = ?, doc = ? WHERE id = ?";
const BUMP_VERSION: &str = "UPDATE principals SET version = ?, last_modified = ? WHERE id = ?";
const DELETE_PRINCIPAL: &str = "DELETE FROM principals WHERE id = ? RETURNING kind, account_id, home_workspace";
const PRINCIPAL_IN_ACCOUNT: &str = "SELECT 1 FROM principals WHERE id = ? AND account_id = ?";
const WORKSPACE_IN_ACCOUNT: &str = "SELECT 1 FROM workspaces WHERE id = ? AND account_id = ?";
/// Assigns a principal to a workspace of its own account (nothing happens for a workspace of another account).
const INSERT_ASSIGNMENT: &str = "INSERT INTO assignments (workspace_id, principal_id, permissions) \
     SELECT id, ?, 'USER' FROM workspaces WHERE id = ? AND account_id = ?";

const INSERT_EMAIL: &str =
    "INSERT INTO principal_emails (value_key, principal_id) VALUES (?, ?) ON CONFLICT DO NOTHING";
const DELETE_EMAILS: &str = "DELETE FROM principal_emails WHERE principal_id = ?";

/// Adding a member that already is one is not an error: the primary key absorbs it, and no other member is read.
const INSERT_MEMBERSHIP: &str = "INSERT INTO memberships (group_id, member_id, ref, display) \
     VALUES (?, ?, ?, ?) ON CONFLICT (group_id, member_id) DO UPDATE SET ref = excluded.ref, display = excluded.display";
const DELETE_MEMBERSHIP: &str = "DELETE FROM memberships WHERE group_id = ? AND member_id = ?";
const DELETE_MEMBERSHIPS: &str = "DELETE FROM memberships WHERE group_id = ?";
const COUNT_MEMBERS: &str = "SELECT COUNT(*) FROM (SELECT 1 FROM memberships WHERE group_id = ? LIMIT ?) AS capped";

const INSERT_WORKSPACE_VALUE: &str = "INSERT INTO workspace_values (workspace_id, principal_id, attribute, value) \
     VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING";
const DELETE_WORKSPACE_VALUE: &str =
    "DELETE FROM workspace_values WHERE workspace_id = ? AND principal_id = ? AND attribute = ? AND value = ?";
const CLEAR_WORKSPACE_VALUES: &str =
    "DELETE FROM workspace_values WHERE workspace_id = ? AND principal_id = ? AND attribute = ?";

// ---- writes ----

pub(crate) async fn insert(tx: &mut dyn Tx, new: &NewPrincipal, audit: &[AuditEntry]) -> Result<(), StoreError> {
    let p = &new.principal;
    let home = match p.home {
        Home::Account => 0,
        Home::Workspace(w) => {
            let found = tx
                .first(WORKSPACE_IN_ACCOUNT, &params![w, p.account_id.as_str()])
                .await
                .map_err(|e| e.during("check workspace"))?;
            if found.is_none() {
                return Err(StoreError::Backend(format!(
                    "workspace {w} is not a workspace of account {}",
                    p.account_id
                )));
            }
            w
        }
    };
    let Indexed { fields: f, display_key, doc } = Indexed::of(p.kind, &p.doc)?;
    let params = params![
        p.id,
        p.kind.code(),
        p.account_id.as_str(),
        home,
        f.unique,
        f.unique_key,
        f.external_id,
        f.display_name,
        display_key,
        f.active,
        doc,
        p.version,
        nanos(p.created)?,
        nanos(p.last_modified)?,
    ];
    tx.execute(INSERT_PRINCIPAL, &params)
        .await
        .map_err(|e| e.conflict("insert principal", p.kind.unique_attribute()))?;
    insert_emails(tx, p.id, &f.emails).await?;
    if !new.members.is_empty() {
        require_group(p.kind, p.id)?;
        add_members(tx, p.id, &p.account_id, &new.members).await?;
    }
    if let Some(w) = new.assign_to {
        let n = tx
            .execute(INSERT_ASSIGNMENT, &params![p.id, w, p.account_id.as_str()])
            .await
            .map_err(|e| e.during("assign principal"))?;
        if n == 0 {
            return Err(StoreError::Backend(format!("workspace {w} is not a workspace of account {}", p.account_id)));
        }
    }
    if let Some((workspace_id, ops)) = &new.values {
        apply_value_ops(tx, *workspace_id, p.id, ops).await?;
    }
    record(tx, audit).await
}

async fn insert_emails(tx: &mut dyn Tx, id: i64, keys: &[String]) -> Result<(), StoreError> {
    for key in keys {
        tx.execute(INSERT_EMAIL, &params![key.as_str(), id]).await.map_err(|e| e.during("index email"))?;
    }
    Ok(())
}

/// Applies an update; the new version. The row is read (and on PostgreSQL locked) first, so concurrent updates of
/// one principal, from any process, apply one after the other: the version read here is the one this transaction
/// replaces.
pub(crate) async fn update(tx: &mut dyn Tx, u: &PrincipalUpdate, audit: &[AuditEntry]) -> Result<i64, StoreError> {
    let lock = format!("{}{}", SELECT_FOR_UPDATE, tx.dialect().for_update());
    let current = tx.first(&lock, &params![u.id]).await.map_err(|e| e.during("read principal version"))?;
    // A principal deleted since it was read has changed too: the caller re-reads and finds it gone.
    let Some(mut current) = current else { return Err(StoreError::VersionMismatch) };
    let (code, account_id, version) = (current.text(0)?, current.text(1)?, current.int(2)?);
    if u.expected_version.is_some_and(|expected| expected != version) {
        return Err(StoreError::VersionMismatch);
    }
    let kind = kind(&code)?;
    if let Some(doc) = &u.doc {
        let Indexed { fields: f, display_key, doc } = Indexed::of(kind, doc)?;
        let params = params![f.unique, f.unique_key, f.external_id, f.display_name, display_key, f.active, doc, u.id];
        tx.execute(UPDATE_PRINCIPAL_DOC, &params)
            .await
            .map_err(|e| e.conflict("update principal", kind.unique_attribute()))?;
        if kind == PrincipalKind::User {
            tx.execute(DELETE_EMAILS, &params![u.id]).await.map_err(|e| e.during("index email"))?;
            insert_emails(tx, u.id, &f.emails).await?;
        }
    }
    if !u.members.is_empty() {
        require_group(kind, u.id)?;
    }
    for op in &u.members {
        match op {
            MemberOp::Add(members) => add_members(tx, u.id, &account_id, members).await?,
            MemberOp::Remove(ids) => {
                for member in ids {
                    tx.execute(DELETE_MEMBERSHIP, &params![u.id, *member])
                        .await
                        .map_err(|e| e.during("remove member"))?;
                }
            }
            MemberOp::Clear => {
                tx.execute(DELETE_MEMBERSHIPS, &params![u.id]).await.map_err(|e| e.during("clear members"))?;
            }
        }
    }
    if let Some((workspace_id, ops)) = &u.workspace_values {
        apply_value_ops(tx, *workspace_id, u.id, ops).await?;
    }
    let next = version + 1;
    tx.execute(BUMP_VERSION, &params![next, nanos(u.last_modified)?, u.id])
        .await
        .map_err(|e| e.during("update version"))?;
    record(tx, audit).await?;
    Ok(next)
}

/// Deletes a principal; memberships (both ways), assignments, values, indexed emails and tokens go with it (ON
/// DELETE CASCADE). What it was, if it was there.
pub(crate) async fn delete(tx: &mut dyn Tx, id: i64, audit: &[AuditEntry]) -> Result<Option<Deleted>, StoreError> {
    let Some(mut row) = tx.first(DELETE_PRINCIPAL, &params![id]).await.map_err(|e| e.during("delete principal"))?
    else {
        return Ok(None);
    };
    let (kind, account_id, home) = (kind(&row.text(0)?)?, row.text(1)?, row.int(2)?);
    record(tx, audit).await?;
    let home = if home == 0 { Home::Account } else { Home::Workspace(home) };
    Ok(Some(Deleted { kind, account_id, home }))
}

/// What a deleted principal was: where the store counted it.
pub(crate) struct Deleted {
    pub kind: PrincipalKind,
    pub account_id: String,
    pub home: Home,
}

/// Adds members to a group: one existence probe and one insert per new member, whatever the size of the group. A
/// group never becomes its own member (that would make it its own ancestor); asking for it is a no-op. A member
/// deleted by a concurrent transaction between the probe and the insert violates the foreign key: a missing
/// reference too.
async fn add_members(
    tx: &mut dyn Tx,
    group_id: i64,
    account_id: &str,
    members: &[NewMember],
) -> Result<(), StoreError> {
    for m in members.iter().filter(|m| m.id != group_id) {
        let found =
            tx.first(PRINCIPAL_IN_ACCOUNT, &params![m.id, account_id]).await.map_err(|e| e.during("check member"))?;
        if found.is_none() {
            return Err(StoreError::MissingReference(m.id));
        }
        let params = params![group_id, m.id, &m.reference, &m.display];
        tx.execute(INSERT_MEMBERSHIP, &params).await.map_err(|e| match e {
            crate::tx::DbError::ForeignKey => StoreError::MissingReference(m.id),
            e => e.during("add member"),
        })?;
    }
    Ok(())
}

async fn apply_value_ops(
    tx: &mut dyn Tx,
    workspace_id: i64,
    principal_id: i64,
    ops: &[ValueOp],
) -> Result<(), StoreError> {
    for op in ops {
        match op {
            ValueOp::Add { attribute, values } | ValueOp::Remove { attribute, values } => {
                let statement =
                    if matches!(op, ValueOp::Add { .. }) { INSERT_WORKSPACE_VALUE } else { DELETE_WORKSPACE_VALUE };
                for value in values {
                    tx.execute(statement, &params![workspace_id, principal_id, *attribute, value.as_str()])
                        .await
                        .map_err(|e| e.conflict("change workspace value", "value"))?;
                }
            }
            ValueOp::Clear { attribute } => {
                tx.execute(CLEAR_WORKSPACE_VALUES, &params![workspace_id, principal_id, *attribute])
                    .await
                    .map_err(|e| e.during("clear workspace values"))?;
            }
        }
    }
    Ok(())
}

// ---- reads ----

async fn principals_of(tx: &mut dyn Tx, s: &Sql) -> Result<Vec<Principal>, StoreError> {
    let rows = tx.rows(s).await.map_err(|e| e.during("read principals"))?;
    rows.into_iter().map(|mut r| codec::principal(&mut r, 0)).collect()
}

pub(crate) async fn one(
    tx: &mut dyn Tx,
    scope: &Scope,
    kind: Option<PrincipalKind>,
    id: i64,
) -> Result<Option<Principal>, StoreError> {
    Ok(principals_of(tx, &listing::select_principal(scope, kind, id)).await?.into_iter().next())
}

pub(crate) async fn many(tx: &mut dyn Tx, scope: &Scope, ids: &[i64]) -> Result<Vec<Principal>, StoreError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let d = tx.dialect();
    principals_of(tx, &listing::select_principals(d, scope, &Ids::of(ids))).await
}

/// The principal with what `want` asks for.
pub(crate) async fn view(
    tx: &mut dyn Tx,
    scope: &Scope,
    kind: Option<PrincipalKind>,
    id: i64,
    want: Want,
) -> Result<Option<PrincipalView>, StoreError> {
    let Some(p) = one(tx, scope, kind, id).await? else { return Ok(None) };
    let mut views = vec![PrincipalView::bare(p)];
    complete(tx, scope, want, &mut views).await?;
    Ok(views.pop())
}

/// Fills in what `want` asks for, for every view at once: one query per kind of thing, whatever the number of views.
pub(crate) async fn complete(
    tx: &mut dyn Tx,
    scope: &Scope,
    want: Want,
    views: &mut [PrincipalView],
) -> Result<(), StoreError> {
    if views.is_empty() {
        return Ok(());
    }
    let d = tx.dialect();
    let index: HashMap<i64, usize> = views.iter().enumerate().map(|(i, v)| (v.principal.id, i)).collect();
    let all: Vec<i64> = views.iter().map(|v| v.principal.id).collect();
    let ids = Ids::of(&all);
    if want.groups {
        let rows = tx.rows(&listing::select_groups_of(d, scope, &ids)).await.map_err(|e| e.during("read groups"))?;
        for mut r in rows {
            let origin = r.int(0)?;
            let group = GroupRef { id: r.int(1)?, display: r.text(2)?, direct: r.int(3)? == 1 };
            if let Some(&i) = index.get(&origin) {
                views[i].groups.push(group);
            }
        }
    }
    let groups: Vec<i64> =
        views.iter().filter(|v| v.principal.kind == PrincipalKind::Group).map(|v| v.principal.id).collect();
    if want.members && !groups.is_empty() {
        let rows =
            tx.rows(&listing::select_members_of(d, &Ids::of(&groups))).await.map_err(|e| e.during("read members"))?;
        for mut r in rows {
            let group = r.int(0)?;
            let member = Member {
                id: r.int(1)?,
                kind: kind(&r.text(2)?)?,
                display: r.text(3)?,
                given_reference: r.opt_text(4)?,
                given_display: r.opt_text(5)?,
            };
            if let Some(&i) = index.get(&group) {
                views[i].members.push(member);
            }
        }
    }
    if let Some(workspace_id) = want.values_in {
        let rows = tx
            .rows(&listing::select_values_of(d, workspace_id, &ids))
            .await
            .map_err(|e| e.during("read workspace values"))?;
        for mut r in rows {
            let principal = r.int(0)?;
            let (attribute, value) = (r.text(1)?, r.text(2)?);
            if let Some(&i) = index.get(&principal) {
                push_value(&mut views[i].values, attribute, value);
            }
        }
    }
    Ok(())
}

fn push_value(values: &mut WorkspaceValues, attribute: String, value: String) {
    match values.last_mut() {
        Some((a, list)) if *a == attribute => list.push(value),
        _ => values.push((attribute, vec![value])),
    }
}

pub(crate) async fn members(tx: &mut dyn Tx, group_id: i64) -> Result<Vec<Member>, StoreError> {
    let d = tx.dialect();
    let rows =
        tx.rows(&listing::select_members_of(d, &Ids::One(group_id))).await.map_err(|e| e.during("read members"))?;
    rows.into_iter()
        .map(|mut r| {
            Ok(Member {
                id: r.int(1)?,
                kind: kind(&r.text(2)?)?,
                display: r.text(3)?,
                given_reference: r.opt_text(4)?,
                given_display: r.opt_text(5)?,
            })
        })
        .collect()
}

pub(crate) async fn values(
    tx: &mut dyn Tx,
    workspace_id: i64,
    principal_id: i64,
) -> Result<WorkspaceValues, StoreError> {
    let d = tx.dialect();
    let rows = tx
        .rows(&listing::select_values_of(d, workspace_id, &Ids::One(principal_id)))
        .await
        .map_err(|e| e.during("read workspace values"))?;
    let mut out = WorkspaceValues::new();
    for mut r in rows {
        let (attribute, value) = (r.text(1)?, r.text(2)?);
        push_value(&mut out, attribute, value);
    }
    Ok(out)
}

pub(crate) async fn count_members(tx: &mut dyn Tx, group_id: i64, cap: usize) -> Result<usize, StoreError> {
    let cap = i64::try_from(cap).unwrap_or(i64::MAX);
    let n = tx.scalar(COUNT_MEMBERS, &params![group_id, cap], "count members").await?;
    Ok(usize::try_from(n).unwrap_or_default())
}

pub(crate) async fn groups_of(tx: &mut dyn Tx, scope: &Scope, principal_id: i64) -> Result<Vec<GroupRef>, StoreError> {
    let d = tx.dialect();
    let rows = tx
        .rows(&listing::select_groups_of(d, scope, &Ids::One(principal_id)))
        .await
        .map_err(|e| e.during("read groups"))?;
    rows.into_iter().map(|mut r| Ok(GroupRef { id: r.int(1)?, display: r.text(2)?, direct: r.int(3)? == 1 })).collect()
}

/// What a listing read: the listing, and the count of the whole scope it made, if any (for the count cache).
pub(crate) struct Listed {
    pub listing: Listing,
    pub counted: Option<usize>,
}

/// Runs a listing's plan; `known_total` answers a cacheable count without counting.
pub(crate) async fn list(
    tx: &mut dyn Tx,
    scope: &Scope,
    plan: &ListPlan,
    (max_scan, max_candidates): (usize, usize),
    want: Want,
    known_total: Option<usize>,
) -> Result<Listed, StoreError> {
    if let Some(check) = &plan.scan_check {
        let n = usize::try_from(tx.scalar(&check.text, &check.params, "count the scope").await?).unwrap_or(usize::MAX);
        if n > max_scan {
            return Ok(Listed { listing: Listing::TooMany { scanned: n }, counted: None });
        }
    }
    match &plan.read {
        ListRead::Page { count, count_cacheable, items } => {
            let (total, counted) = match known_total.filter(|_| *count_cacheable) {
                Some(total) => (total, None),
                None => {
                    let n = usize::try_from(tx.scalar(&count.text, &count.params, "count principals").await?)
                        .unwrap_or_default();
                    (n, count_cacheable.then_some(n))
                }
            };
            let mut views: Vec<PrincipalView> =
                principals_of(tx, items).await?.into_iter().map(PrincipalView::bare).collect();
            complete(tx, scope, want, &mut views).await?;
            Ok(Listed { listing: Listing::Page { total, items: views }, counted })
        }
        ListRead::Candidates(items) => {
            let found = principals_of(tx, items).await?;
            if found.len() > max_candidates {
                return Ok(Listed { listing: Listing::TooMany { scanned: found.len() }, counted: None });
            }
            let mut views: Vec<PrincipalView> = found.into_iter().map(PrincipalView::bare).collect();
            complete(tx, scope, want, &mut views).await?;
            Ok(Listed { listing: Listing::Candidates(views), counted: None })
        }
    }
}
