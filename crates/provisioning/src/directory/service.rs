//! The directory's use cases: create, read, change, delete, restore and purge users and groups; memberships;
//! managers. Each takes the store port, the tenant, and "now".

use idplane_core::error::StoreError;
use serde_json::{Map, Value};
use time::OffsetDateTime;

use super::{ChangeKind, DirectoryObject, ObjectKind, apply, parse_changes};
use crate::error::{ProvisioningError, Result};
use crate::ids;
use crate::store::{AddMembers, DirectoryStore};

/// How often a write is retried when another writer changed the object between its read and its write.
const RETRIES: usize = 5;

fn conflict_on_name(kind: ObjectKind, e: StoreError) -> ProvisioningError {
    match e {
        StoreError::Conflict(_) if kind == ObjectKind::User => ProvisioningError::Conflict(
            "Another object with the same value for property userPrincipalName already exists.".into(),
        ),
        e => e.into(),
    }
}

fn member_error(outcome: AddMembers) -> Result<()> {
    match outcome {
        AddMembers::Added => Ok(()),
        AddMembers::Missing(id) => Err(ProvisioningError::not_found("directoryObject", id)),
        AddMembers::AlreadyMember(_) => Err(ProvisioningError::Conflict(
            "One or more added object references already exist for the following modified properties: 'members'."
                .into(),
        )),
        AddMembers::Cycle(id) => Err(ProvisioningError::invalid_property(
            "members",
            format!("group {id} contains this group (or is it): adding it would make a membership cycle"),
        )),
    }
}

/// Fills what Graph requires but idplane can derive, so that a create needs only what identifies the object: a
/// user's `accountEnabled` (true) and `mailNickname` (the alias of its `userPrincipalName`), a group's
/// `securityEnabled` (true), `mailEnabled` (false) and `mailNickname` (its name's letters and digits).
fn defaults(kind: ObjectKind, doc: &mut Map<String, Value>) {
    match kind {
        ObjectKind::User => {
            doc.entry("accountEnabled").or_insert(Value::Bool(true));
            if !doc.contains_key("mailNickname")
                && let Some(alias) =
                    doc.get("userPrincipalName").and_then(Value::as_str).and_then(|u| u.split('@').next())
            {
                let alias = alias.to_string();
                doc.insert("mailNickname".into(), Value::String(alias));
            }
        }
        ObjectKind::Group => {
            doc.entry("securityEnabled").or_insert(Value::Bool(true));
            doc.entry("mailEnabled").or_insert(Value::Bool(false));
            if !doc.contains_key("mailNickname") {
                let name = doc.get("displayName").and_then(Value::as_str).unwrap_or_default();
                let nick: String = name.chars().filter(char::is_ascii_alphanumeric).take(64).collect();
                doc.insert("mailNickname".into(), Value::String(if nick.is_empty() { "group".into() } else { nick }));
            }
        }
    }
}

/// Creates a user or a group from a Graph POST body (a group's `members@odata.bind` adds its first members).
pub async fn create(
    store: &dyn DirectoryStore,
    tenant_id: &str,
    kind: ObjectKind,
    body: &Value,
    now: OffsetDateTime,
) -> Result<DirectoryObject> {
    let changes = parse_changes(kind, body)?;
    let mut doc = apply(kind, &Map::new(), &changes.set)?;
    defaults(kind, &mut doc);
    let object = DirectoryObject {
        id: ids::new_guid(now)?,
        tenant_id: tenant_id.to_string(),
        kind,
        doc,
        manager_id: None,
        deleted: None,
        version: 1,
        created: now,
        last_modified: now,
    };
    let outcome = store.insert_object(&object, &changes.members).await.map_err(|e| conflict_on_name(kind, e))?;
    member_error(outcome)?;
    Ok(object)
}

/// The live object `id` of `kind`, or a 404.
pub async fn get(
    store: &dyn DirectoryStore,
    tenant_id: &str,
    kind: Option<ObjectKind>,
    id: &str,
) -> Result<DirectoryObject> {
    store
        .object(tenant_id, kind, id, false)
        .await?
        .ok_or_else(|| ProvisioningError::not_found(kind.map_or("directoryObject", ObjectKind::code), id))
}

/// Applies a Graph PATCH body to a user or group (a group's `members@odata.bind` adds members).
pub async fn update(
    store: &dyn DirectoryStore,
    tenant_id: &str,
    kind: ObjectKind,
    id: &str,
    body: &Value,
    now: OffsetDateTime,
) -> Result<DirectoryObject> {
    let changes = parse_changes(kind, body)?;
    let mut updated = None;
    if !changes.set.is_empty() {
        for _ in 0..RETRIES {
            let current = get(store, tenant_id, Some(kind), id).await?;
            let doc = apply(kind, &current.doc, &changes.set)?;
            let next = DirectoryObject { doc, last_modified: now, ..current.clone() };
            match store.update_object(&next, current.version).await {
                Ok(version) => {
                    updated = Some(DirectoryObject { version, ..next });
                    break;
                }
                Err(StoreError::VersionMismatch) => continue,
                Err(e) => return Err(conflict_on_name(kind, e)),
            }
        }
        if updated.is_none() {
            return Err(ProvisioningError::Busy(format!("{} {id} kept changing; try again", kind.code())));
        }
    }
    if !changes.members.is_empty() {
        member_error(store.add_members(tenant_id, id, &changes.members, now).await?)?;
    }
    match updated {
        Some(o) if changes.members.is_empty() => Ok(o),
        _ => get(store, tenant_id, Some(kind), id).await,
    }
}

/// Deletes a user or group: to the deleted items (users, Microsoft 365 groups) or at once (security groups). What
/// happened, for the change feed's reader and the caller.
pub async fn delete(
    store: &dyn DirectoryStore,
    tenant_id: &str,
    kind: ObjectKind,
    id: &str,
    now: OffsetDateTime,
) -> Result<ChangeKind> {
    let object = get(store, tenant_id, Some(kind), id).await?;
    let done = if object.soft_deletes() {
        store.soft_delete(tenant_id, id, now).await?.then_some(ChangeKind::SoftDeleted)
    } else {
        store.purge(tenant_id, id, now).await?.then_some(ChangeKind::Deleted)
    };
    done.ok_or_else(|| ProvisioningError::not_found(kind.code(), id))
}

/// Restores a deleted item.
pub async fn restore(
    store: &dyn DirectoryStore,
    tenant_id: &str,
    id: &str,
    now: OffsetDateTime,
) -> Result<DirectoryObject> {
    let deleted = store
        .object(tenant_id, None, id, true)
        .await?
        .ok_or_else(|| ProvisioningError::not_found("deletedItem", id))?;
    match store.restore(tenant_id, id, now).await {
        Ok(true) => {}
        Ok(false) => return Err(ProvisioningError::not_found("deletedItem", id)),
        Err(StoreError::Conflict(_)) => {
            return Err(ProvisioningError::Conflict(format!(
                "The object cannot be restored: another object now has its userPrincipalName '{}'.",
                deleted.text("userPrincipalName").unwrap_or_default()
            )));
        }
        Err(e) => return Err(e.into()),
    }
    get(store, tenant_id, Some(deleted.kind), id).await
}

/// Deletes a deleted item permanently.
pub async fn purge(store: &dyn DirectoryStore, tenant_id: &str, id: &str, now: OffsetDateTime) -> Result<()> {
    if store.object(tenant_id, None, id, true).await?.is_none() {
        return Err(ProvisioningError::not_found("deletedItem", id));
    }
    if !store.purge(tenant_id, id, now).await? {
        return Err(ProvisioningError::not_found("deletedItem", id));
    }
    Ok(())
}

/// Adds one member (`POST /groups/{id}/members/$ref`).
pub async fn add_member(
    store: &dyn DirectoryStore,
    tenant_id: &str,
    group_id: &str,
    member_id: &str,
    now: OffsetDateTime,
) -> Result<()> {
    get(store, tenant_id, Some(ObjectKind::Group), group_id).await?;
    member_error(store.add_members(tenant_id, group_id, &[member_id.to_string()], now).await?)
}

/// Removes one member (`DELETE /groups/{id}/members/{member}/$ref`).
pub async fn remove_member(
    store: &dyn DirectoryStore,
    tenant_id: &str,
    group_id: &str,
    member_id: &str,
    now: OffsetDateTime,
) -> Result<()> {
    get(store, tenant_id, Some(ObjectKind::Group), group_id).await?;
    if store.remove_member(tenant_id, group_id, member_id, now).await? {
        Ok(())
    } else {
        Err(ProvisioningError::not_found("member", member_id))
    }
}

/// Sets (`Some`) or removes a user's manager (`PUT`/`DELETE /users/{id}/manager/$ref`). A manager is another user
/// of the tenant.
pub async fn set_manager(
    store: &dyn DirectoryStore,
    tenant_id: &str,
    user_id: &str,
    manager_id: Option<&str>,
    now: OffsetDateTime,
) -> Result<DirectoryObject> {
    if let Some(m) = manager_id {
        if m.eq_ignore_ascii_case(user_id) {
            return Err(ProvisioningError::invalid_property("manager", "a user cannot be its own manager"));
        }
        get(store, tenant_id, Some(ObjectKind::User), m).await?;
    }
    for _ in 0..RETRIES {
        let current = get(store, tenant_id, Some(ObjectKind::User), user_id).await?;
        if manager_id.is_none() && current.manager_id.is_none() {
            return Err(ProvisioningError::not_found("manager", user_id));
        }
        let next =
            DirectoryObject { manager_id: manager_id.map(str::to_string), last_modified: now, ..current.clone() };
        match store.update_object(&next, current.version).await {
            Ok(version) => return Ok(DirectoryObject { version, ..next }),
            Err(StoreError::VersionMismatch) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(ProvisioningError::Busy(format!("user {user_id} kept changing; try again")))
}
