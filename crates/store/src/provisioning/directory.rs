//! The directory's transaction scripts: users and groups, memberships, managers, the deleted items, listings (the
//! translation of a filter to SQL over the indexed columns) and the change feed.

use idplane_core::error::StoreError;
use idplane_provisioning::directory::query::{Field, Literal, ObjectFilter, ObjectPage, ObjectQuery};
use idplane_provisioning::directory::{Change, ChangeKind, DirectoryObject, ObjectKind, fold};
use idplane_provisioning::store::AddMembers;
use serde_json::Value;
use time::OffsetDateTime;

use crate::codec::{nanos, time};
use crate::tx::{Param, Row, Sql, Tx, params};

/// The columns every object query reads, in the order [`object`] expects; `o` is the table's alias.
const COLUMNS: &str =
    "o.id, o.tenant_id, o.kind, o.doc, o.manager_id, o.deleted, o.version, o.created, o.last_modified";

const INSERT: &str = "INSERT INTO directory_objects (id, tenant_id, kind, unique_key, display_key, mail_key, \
     nickname_key, employee_key, account_enabled, security_enabled, mail_enabled, manager_id, doc, deleted, version, \
     created, last_modified) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
const UPDATE: &str = "UPDATE directory_objects SET unique_key = ?, display_key = ?, mail_key = ?, nickname_key = ?, \
     employee_key = ?, account_enabled = ?, security_enabled = ?, mail_enabled = ?, manager_id = ?, doc = ?, \
     version = version + 1, last_modified = ? WHERE id = ? AND tenant_id = ? AND version = ? AND deleted IS NULL";
const INSERT_MEMBER: &str = "INSERT INTO directory_members (group_id, member_id) VALUES (?, ?)";
const BUMP_SEQ: &str = "UPDATE tenants SET change_seq = change_seq + ? WHERE id = ? RETURNING change_seq";
const INSERT_CHANGE: &str = "INSERT INTO directory_changes (tenant_id, seq, object_id, object_kind, change, related_id, at) \
     VALUES (?, ?, ?, ?, ?, ?, ?)";

fn backend(e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(e.to_string())
}

fn object(mut r: Row) -> Result<DirectoryObject, StoreError> {
    let kind_code = r.text(2)?;
    let kind =
        ObjectKind::from_code(&kind_code).ok_or_else(|| backend(format!("unknown object kind {kind_code:?}")))?;
    let doc: Value = serde_json::from_str(&r.text(3)?).map_err(|e| backend(format!("stored object document: {e}")))?;
    Ok(DirectoryObject {
        id: r.text(0)?,
        tenant_id: r.text(1)?,
        kind,
        doc: doc.as_object().cloned().unwrap_or_default(),
        manager_id: r.opt_text(4)?,
        deleted: r.opt_int(5)?.map(time).transpose()?,
        version: r.int(6)?,
        created: time(r.int(7)?)?,
        last_modified: time(r.int(8)?)?,
    })
}

fn encode(doc: &serde_json::Map<String, Value>) -> Result<String, StoreError> {
    serde_json::to_string(doc).map_err(|e| backend(format!("encode document: {e}")))
}

fn json_list(ids: &[String]) -> Result<String, StoreError> {
    serde_json::to_string(ids).map_err(|e| backend(format!("encode ids: {e}")))
}

/// A change to record: object, its kind, what happened, the related object.
pub(crate) type Entry<'a> = (&'a str, ObjectKind, ChangeKind, Option<&'a str>);

/// Appends changes to the tenant's feed. Bumping the tenant's counter locks its row until the transaction ends, so
/// that positions follow commit order.
pub(crate) async fn record(
    tx: &mut dyn Tx,
    tenant_id: &str,
    entries: &[Entry<'_>],
    at: OffsetDateTime,
) -> Result<(), StoreError> {
    if entries.is_empty() {
        return Ok(());
    }
    let n = entries.len() as i64;
    let row = tx.first(BUMP_SEQ, &params![n, tenant_id]).await.map_err(|e| e.during("number changes"))?;
    let last = row.ok_or_else(|| backend(format!("tenant {tenant_id} does not exist")))?.int(0)?;
    let at = nanos(at)?;
    for (i, (object_id, kind, change, related)) in entries.iter().enumerate() {
        let p = params![tenant_id, last - n + 1 + i as i64, *object_id, kind.code(), change.code(), *related, at];
        tx.execute(INSERT_CHANGE, &p).await.map_err(|e| e.during("record change"))?;
    }
    Ok(())
}

fn keys_params(o: &DirectoryObject) -> Result<Vec<Param>, StoreError> {
    let k = o.index_keys();
    Ok(params![
        k.unique_key,
        k.display_key,
        k.mail_key,
        k.nickname_key,
        k.employee_key,
        k.account_enabled,
        k.security_enabled,
        k.mail_enabled,
        o.manager_id.as_deref(),
        encode(&o.doc)?,
    ]
    .to_vec())
}

/// The live objects of the tenant among `ids`, with their kinds.
async fn live_kinds(tx: &mut dyn Tx, tenant_id: &str, ids: &[String]) -> Result<Vec<(String, ObjectKind)>, StoreError> {
    let sql = format!(
        "SELECT id, kind FROM directory_objects WHERE tenant_id = ? AND deleted IS NULL AND id IN ({})",
        tx.dialect().text_list("?")
    );
    let rows = tx.query(&sql, &params![tenant_id, json_list(ids)?]).await.map_err(|e| e.during("read objects"))?;
    rows.into_iter()
        .map(|mut r| {
            let code = r.text(1)?;
            Ok((r.text(0)?, ObjectKind::from_code(&code).ok_or_else(|| backend(format!("unknown kind {code:?}")))?))
        })
        .collect()
}

fn dedup(ids: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(ids.len());
    for id in ids {
        let id = id.to_ascii_lowercase();
        if !out.contains(&id) {
            out.push(id);
        }
    }
    out
}

/// Checks members for a group and inserts them; nothing is written unless all can be added.
async fn add_members_in(
    tx: &mut dyn Tx,
    tenant_id: &str,
    group_id: &str,
    members: &[String],
    new_group: bool,
    at: OffsetDateTime,
) -> Result<AddMembers, StoreError> {
    let members = dedup(members);
    if members.is_empty() {
        return Ok(AddMembers::Added);
    }
    let found = live_kinds(tx, tenant_id, &members).await?;
    if let Some(missing) = members.iter().find(|m| !found.iter().any(|(id, _)| id == *m)) {
        return Ok(AddMembers::Missing(missing.clone()));
    }
    if !new_group {
        let sql = format!(
            "SELECT member_id FROM directory_members WHERE group_id = ? AND member_id IN ({})",
            tx.dialect().text_list("?")
        );
        let rows =
            tx.query(&sql, &params![group_id, json_list(&members)?]).await.map_err(|e| e.during("read members"))?;
        if let Some(mut r) = rows.into_iter().next() {
            return Ok(AddMembers::AlreadyMember(r.text(0)?));
        }
        // A group member must not contain the group: walk down from each new member group.
        for (id, _) in found.iter().filter(|(_, k)| *k == ObjectKind::Group) {
            if id == group_id {
                return Ok(AddMembers::Cycle(id.clone()));
            }
            const DESCENDANTS: &str = "WITH RECURSIVE d(id) AS (SELECT member_id FROM directory_members WHERE group_id = ? \
                 UNION SELECT m.member_id FROM directory_members m JOIN d ON m.group_id = d.id) \
                 SELECT 1 FROM d WHERE id = ? LIMIT 1";
            let hit =
                tx.first(DESCENDANTS, &params![id.as_str(), group_id]).await.map_err(|e| e.during("check nesting"))?;
            if hit.is_some() {
                return Ok(AddMembers::Cycle(id.clone()));
            }
        }
    }
    for m in &members {
        tx.execute(INSERT_MEMBER, &params![group_id, m.as_str()]).await.map_err(|e| e.during("add member"))?;
    }
    let entries: Vec<Entry<'_>> =
        members.iter().map(|m| (group_id, ObjectKind::Group, ChangeKind::MemberAdded, Some(m.as_str()))).collect();
    record(tx, tenant_id, &entries, at).await?;
    Ok(AddMembers::Added)
}

pub(crate) async fn insert(tx: &mut dyn Tx, o: &DirectoryObject, members: &[String]) -> Result<AddMembers, StoreError> {
    // Check the members first: a missing one writes nothing.
    let wanted = dedup(members);
    if !wanted.is_empty() {
        let found = live_kinds(tx, &o.tenant_id, &wanted).await?;
        if let Some(missing) = wanted.iter().find(|m| !found.iter().any(|(id, _)| id == *m)) {
            return Ok(AddMembers::Missing(missing.clone()));
        }
    }
    let mut p = params![o.id.as_str(), o.tenant_id.as_str(), o.kind.code()].to_vec();
    p.extend(keys_params(o)?);
    p.extend(params![o.deleted.map(nanos).transpose()?, o.version, nanos(o.created)?, nanos(o.last_modified)?]);
    tx.execute(INSERT, &p).await.map_err(|e| e.conflict("insert object", "userPrincipalName"))?;
    record(tx, &o.tenant_id, &[(o.id.as_str(), o.kind, ChangeKind::Created, None)], o.created).await?;
    add_members_in(tx, &o.tenant_id, &o.id, &wanted, true, o.created).await
}

pub(crate) async fn one(
    tx: &mut dyn Tx,
    tenant_id: &str,
    kind: Option<ObjectKind>,
    id: &str,
    deleted: bool,
) -> Result<Option<DirectoryObject>, StoreError> {
    let mut s = Sql::new("SELECT ");
    s.push(COLUMNS).push(" FROM directory_objects o WHERE o.id = ").bind(id.to_ascii_lowercase());
    s.push(" AND o.tenant_id = ").bind(tenant_id);
    if let Some(k) = kind {
        s.push(" AND o.kind = ").bind(k.code());
    }
    s.push(if deleted { " AND o.deleted IS NOT NULL" } else { " AND o.deleted IS NULL" });
    tx.rows(&s).await.map_err(|e| e.during("read object"))?.into_iter().next().map(object).transpose()
}

pub(crate) async fn many(tx: &mut dyn Tx, tenant_id: &str, ids: &[String]) -> Result<Vec<DirectoryObject>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM directory_objects o WHERE o.tenant_id = ? AND o.deleted IS NULL AND o.id IN ({})",
        tx.dialect().text_list("?")
    );
    let rows =
        tx.query(&sql, &params![tenant_id, json_list(&dedup(ids))?]).await.map_err(|e| e.during("read objects"))?;
    rows.into_iter().map(object).collect()
}

pub(crate) async fn update(tx: &mut dyn Tx, o: &DirectoryObject, expected: i64) -> Result<i64, StoreError> {
    let mut p = keys_params(o)?;
    p.extend(params![nanos(o.last_modified)?, o.id.as_str(), o.tenant_id.as_str(), expected]);
    let n = tx.execute(UPDATE, &p).await.map_err(|e| e.conflict("update object", "userPrincipalName"))?;
    if n == 0 {
        return Err(StoreError::VersionMismatch);
    }
    record(tx, &o.tenant_id, &[(o.id.as_str(), o.kind, ChangeKind::Updated, None)], o.last_modified).await?;
    Ok(expected + 1)
}

/// The kind of an object of the tenant, live (`Some(false)`), deleted (`Some(true)`) or either (`None`).
async fn kind_of(
    tx: &mut dyn Tx,
    tenant_id: &str,
    id: &str,
    deleted: Option<bool>,
) -> Result<Option<ObjectKind>, StoreError> {
    let mut s = Sql::new("SELECT kind FROM directory_objects WHERE id = ");
    s.bind(id.to_ascii_lowercase()).push(" AND tenant_id = ").bind(tenant_id);
    match deleted {
        Some(true) => s.push(" AND deleted IS NOT NULL"),
        Some(false) => s.push(" AND deleted IS NULL"),
        None => &mut s,
    };
    let row = tx.rows(&s).await.map_err(|e| e.during("read object"))?.into_iter().next();
    match row {
        Some(mut r) => Ok(ObjectKind::from_code(&r.text(0)?)),
        None => Ok(None),
    }
}

pub(crate) async fn soft_delete(
    tx: &mut dyn Tx,
    tenant_id: &str,
    id: &str,
    at: OffsetDateTime,
) -> Result<bool, StoreError> {
    let Some(kind) = kind_of(tx, tenant_id, id, Some(false)).await? else { return Ok(false) };
    let id = id.to_ascii_lowercase();
    const SQL: &str = "UPDATE directory_objects SET deleted = ?, version = version + 1, last_modified = ? \
         WHERE id = ? AND tenant_id = ? AND deleted IS NULL";
    let at_n = nanos(at)?;
    tx.execute(SQL, &params![at_n, at_n, id.as_str(), tenant_id]).await.map_err(|e| e.during("delete object"))?;
    record(tx, tenant_id, &[(id.as_str(), kind, ChangeKind::SoftDeleted, None)], at).await?;
    Ok(true)
}

pub(crate) async fn restore(
    tx: &mut dyn Tx,
    tenant_id: &str,
    id: &str,
    at: OffsetDateTime,
) -> Result<bool, StoreError> {
    let Some(kind) = kind_of(tx, tenant_id, id, Some(true)).await? else { return Ok(false) };
    let id = id.to_ascii_lowercase();
    const SQL: &str = "UPDATE directory_objects SET deleted = NULL, version = version + 1, last_modified = ? \
         WHERE id = ? AND tenant_id = ? AND deleted IS NOT NULL";
    tx.execute(SQL, &params![nanos(at)?, id.as_str(), tenant_id])
        .await
        .map_err(|e| e.conflict("restore object", "userPrincipalName"))?;
    record(tx, tenant_id, &[(id.as_str(), kind, ChangeKind::Restored, None)], at).await?;
    Ok(true)
}

pub(crate) async fn purge(tx: &mut dyn Tx, tenant_id: &str, id: &str, at: OffsetDateTime) -> Result<bool, StoreError> {
    let Some(kind) = kind_of(tx, tenant_id, id, None).await? else { return Ok(false) };
    let id = id.to_ascii_lowercase();
    // What the deletion takes away with it, for the feed: a group's members leave it; the object's assignments end.
    let members = tx
        .query("SELECT member_id FROM directory_members WHERE group_id = ?", &params![id.as_str()])
        .await
        .map_err(|e| e.during("read members"))?
        .into_iter()
        .map(|mut r| r.text(0))
        .collect::<Result<Vec<_>, _>>()?;
    let mut entries: Vec<Entry<'_>> =
        members.iter().map(|m| (id.as_str(), ObjectKind::Group, ChangeKind::MemberRemoved, Some(m.as_str()))).collect();
    entries.push((id.as_str(), kind, ChangeKind::Deleted, None));
    tx.execute("DELETE FROM directory_objects WHERE id = ? AND tenant_id = ?", &params![id.as_str(), tenant_id])
        .await
        .map_err(|e| e.during("purge object"))?;
    record(tx, tenant_id, &entries, at).await?;
    Ok(true)
}

/// Purges up to `batch` objects deleted before `before`; how many.
pub(crate) async fn purge_deleted(
    tx: &mut dyn Tx,
    before: i64,
    batch: i64,
    at: OffsetDateTime,
) -> Result<u64, StoreError> {
    const SQL: &str = "SELECT tenant_id, id FROM directory_objects WHERE deleted IS NOT NULL AND deleted < ? LIMIT ?";
    let rows = tx.query(SQL, &params![before, batch]).await.map_err(|e| e.during("read deleted items"))?;
    let mut n = 0;
    for mut r in rows {
        let (tenant_id, id) = (r.text(0)?, r.text(1)?);
        if purge(tx, &tenant_id, &id, at).await? {
            n += 1;
        }
    }
    Ok(n)
}

pub(crate) async fn add_members(
    tx: &mut dyn Tx,
    tenant_id: &str,
    group_id: &str,
    members: &[String],
    at: OffsetDateTime,
) -> Result<AddMembers, StoreError> {
    let group_id = group_id.to_ascii_lowercase();
    if kind_of(tx, tenant_id, &group_id, Some(false)).await? != Some(ObjectKind::Group) {
        return Ok(AddMembers::Missing(group_id));
    }
    add_members_in(tx, tenant_id, &group_id, members, false, at).await
}

pub(crate) async fn remove_member(
    tx: &mut dyn Tx,
    tenant_id: &str,
    group_id: &str,
    member_id: &str,
    at: OffsetDateTime,
) -> Result<bool, StoreError> {
    let (group_id, member_id) = (group_id.to_ascii_lowercase(), member_id.to_ascii_lowercase());
    if kind_of(tx, tenant_id, &group_id, Some(false)).await? != Some(ObjectKind::Group) {
        return Ok(false);
    }
    let n = tx
        .execute(
            "DELETE FROM directory_members WHERE group_id = ? AND member_id = ?",
            &params![group_id.as_str(), member_id.as_str()],
        )
        .await
        .map_err(|e| e.during("remove member"))?;
    if n > 0 {
        let entry = (group_id.as_str(), ObjectKind::Group, ChangeKind::MemberRemoved, Some(member_id.as_str()));
        record(tx, tenant_id, &[entry], at).await?;
    }
    Ok(n > 0)
}

/// A page of objects related to one (members, groups, reports): `sql` selects them in id order after the cursor.
async fn related_page(
    tx: &mut dyn Tx,
    mut s: Sql,
    order: &str,
    top: usize,
) -> Result<(Vec<DirectoryObject>, bool), StoreError> {
    s.push(" ORDER BY ").push(order).push(" LIMIT ").bind(top as i64 + 1);
    let mut items =
        tx.rows(&s).await.map_err(|e| e.during("read page"))?.into_iter().map(object).collect::<Result<Vec<_>, _>>()?;
    let more = items.len() > top;
    items.truncate(top);
    Ok((items, more))
}

pub(crate) async fn group_members(
    tx: &mut dyn Tx,
    tenant_id: &str,
    group_id: &str,
    after: Option<&str>,
    top: usize,
) -> Result<(Vec<DirectoryObject>, bool), StoreError> {
    let mut s = Sql::new("SELECT ");
    s.push(COLUMNS)
        .push(" FROM directory_members m JOIN directory_objects o ON o.id = m.member_id WHERE m.group_id = ");
    s.bind(group_id.to_ascii_lowercase()).push(" AND o.tenant_id = ").bind(tenant_id).push(" AND o.deleted IS NULL");
    if let Some(a) = after {
        s.push(" AND m.member_id > ").bind(a);
    }
    related_page(tx, s, "m.member_id", top).await
}

pub(crate) async fn member_of(
    tx: &mut dyn Tx,
    tenant_id: &str,
    object_id: &str,
    after: Option<&str>,
    top: usize,
) -> Result<(Vec<DirectoryObject>, bool), StoreError> {
    let mut s = Sql::new("SELECT ");
    s.push(COLUMNS)
        .push(" FROM directory_members m JOIN directory_objects o ON o.id = m.group_id WHERE m.member_id = ");
    s.bind(object_id.to_ascii_lowercase()).push(" AND o.tenant_id = ").bind(tenant_id).push(" AND o.deleted IS NULL");
    if let Some(a) = after {
        s.push(" AND m.group_id > ").bind(a);
    }
    related_page(tx, s, "m.group_id", top).await
}

pub(crate) async fn direct_reports(
    tx: &mut dyn Tx,
    tenant_id: &str,
    manager_id: &str,
    after: Option<&str>,
    top: usize,
) -> Result<(Vec<DirectoryObject>, bool), StoreError> {
    let mut s = Sql::new("SELECT ");
    s.push(COLUMNS).push(" FROM directory_objects o WHERE o.manager_id = ").bind(manager_id.to_ascii_lowercase());
    s.push(" AND o.tenant_id = ").bind(tenant_id).push(" AND o.deleted IS NULL");
    if let Some(a) = after {
        s.push(" AND o.id > ").bind(a);
    }
    related_page(tx, s, "o.id", top).await
}

/// The column a field is stored in, and whether its literals are case-folded text.
fn column(field: Field) -> (&'static str, bool) {
    match field {
        Field::Id => ("o.id", true),
        Field::UserPrincipalName => ("o.unique_key", true),
        Field::DisplayName => ("o.display_key", true),
        Field::Mail => ("o.mail_key", true),
        Field::MailNickname => ("o.nickname_key", true),
        Field::EmployeeId => ("o.employee_key", true),
        Field::AccountEnabled => ("o.account_enabled", false),
        Field::SecurityEnabled => ("o.security_enabled", false),
        Field::MailEnabled => ("o.mail_enabled", false),
    }
}

fn literal(field: Field, l: &Literal) -> Option<Param> {
    match (column(field).1, l) {
        (true, Literal::Text(s)) => Some(Param::Text(fold(s))),
        (false, Literal::Bool(b)) => Some(Param::Bool(*b)),
        _ => None,
    }
}

/// A filter as SQL over the indexed columns. A literal of the wrong type matches nothing (the API refuses those
/// before they get here).
fn translate(f: &ObjectFilter) -> Sql {
    match f {
        ObjectFilter::Eq(field, l) => match literal(*field, l) {
            Some(p) => {
                let mut s = Sql::new(column(*field).0);
                s.push(" = ").bind(p);
                s
            }
            None => Sql::never(),
        },
        ObjectFilter::Ne(field, l) => match literal(*field, l) {
            Some(p) => {
                let c = column(*field).0;
                let mut s = Sql::new("(");
                s.push(c).push(" IS NULL OR ").push(c).push(" <> ").bind(p).push(")");
                s
            }
            None => Sql::never(),
        },
        ObjectFilter::StartsWith(field, prefix) => {
            let (c, text) = column(*field);
            if !text {
                return Sql::never();
            }
            // A prefix as a range, so that an index on the column serves it: every string that starts with the
            // prefix sorts (byte-wise) from the prefix to the prefix followed by the greatest code point.
            let low = fold(prefix);
            let high = format!("{low}\u{10FFFF}");
            let mut s = Sql::new("(");
            s.push(c).push(" >= ").bind(low).push(" AND ").push(c).push(" < ").bind(high).push(")");
            s
        }
        ObjectFilter::In(field, values) => {
            let params: Vec<Param> = values.iter().filter_map(|l| literal(*field, l)).collect();
            if params.is_empty() {
                return Sql::never();
            }
            let mut s = Sql::new(column(*field).0);
            s.push(" IN (");
            for (i, p) in params.into_iter().enumerate() {
                if i > 0 {
                    s.push(", ");
                }
                s.bind(p);
            }
            s.push(")");
            s
        }
        ObjectFilter::And(a, b) => Sql::join(translate(a), " AND ", translate(b)),
        ObjectFilter::Or(a, b) => Sql::join(translate(a), " OR ", translate(b)),
    }
}

fn scope(tenant_id: &str, q: &ObjectQuery) -> Sql {
    let mut s = Sql::new(" FROM directory_objects o WHERE o.tenant_id = ");
    s.bind(tenant_id);
    if let Some(k) = q.kind {
        s.push(" AND o.kind = ").bind(k.code());
    }
    s.push(if q.deleted { " AND o.deleted IS NOT NULL" } else { " AND o.deleted IS NULL" });
    if let Some(f) = &q.filter {
        s.push(" AND ").append(translate(f));
    }
    s
}

pub(crate) async fn list(tx: &mut dyn Tx, tenant_id: &str, q: &ObjectQuery) -> Result<ObjectPage, StoreError> {
    let mut s = Sql::new("SELECT ");
    s.push(COLUMNS).append(scope(tenant_id, q));
    if let Some(a) = &q.after {
        s.push(" AND o.id > ").bind(a.as_str());
    }
    let (items, more) = related_page(tx, s, "o.id", q.top).await?;
    let count = if q.count {
        let mut c = Sql::new("SELECT COUNT(*)");
        c.append(scope(tenant_id, q));
        Some(tx.scalar(&c.text, &c.params, "count objects").await?.max(0) as u64)
    } else {
        None
    };
    Ok(ObjectPage { items, count, more })
}

pub(crate) async fn changes(
    tx: &mut dyn Tx,
    tenant_id: &str,
    after: i64,
    limit: usize,
) -> Result<Vec<Change>, StoreError> {
    const SQL: &str = "SELECT seq, object_id, object_kind, change, related_id, at FROM directory_changes \
         WHERE tenant_id = ? AND seq > ? ORDER BY seq LIMIT ?";
    let rows = tx.query(SQL, &params![tenant_id, after, limit as i64]).await.map_err(|e| e.during("read changes"))?;
    rows.into_iter()
        .map(|mut r| {
            let (kind, change) = (r.text(2)?, r.text(3)?);
            Ok(Change {
                seq: r.int(0)?,
                object_id: r.text(1)?,
                object_kind: ObjectKind::from_code(&kind).ok_or_else(|| backend(format!("unknown kind {kind:?}")))?,
                kind: ChangeKind::from_code(&change).ok_or_else(|| backend(format!("unknown change {change:?}")))?,
                related_id: r.opt_text(4)?,
                at: time(r.int(5)?)?,
            })
        })
        .collect()
}

pub(crate) async fn latest_change(tx: &mut dyn Tx, tenant_id: &str) -> Result<i64, StoreError> {
    tx.scalar("SELECT change_seq FROM tenants WHERE id = ?", &params![tenant_id], "read change position").await
}
