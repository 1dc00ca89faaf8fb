//! The identity service: SCIM create, read, replace, patch, delete and list of users, groups and service principals
//! in a scope. It validates with the protocol crate, keeps the store's invariants, and renders resources.

use std::borrow::Cow;
use std::sync::Arc;

use idplane_scim::ScimType;
use idplane_scim::filter::{CompValue, CompareOp, Filter};
use idplane_scim::list::{ListQuery, decode_cursor, encode_cursor, list_response};
use idplane_scim::patch::{self, MemberChange};
use idplane_scim::projection::{Projection, compare};
use idplane_scim::resource::{check_immutable, normalize};
use idplane_scim::schema::ResourceType;
use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::audit::{self, Actor, AuditEntry, Change, Operation};
use crate::error::{CoreError, Result, StoreError};
use crate::ids;
use crate::principal::{Home, Member, Principal, PrincipalKind};
use crate::resource_types;
use crate::store::{
    DEFAULT_MAX_CANDIDATES, DEFAULT_MAX_SCAN, ListSpec, Listing, MemberOp, NewMember, NewPrincipal, PrincipalUpdate,
    PrincipalView, Sort, Store, Total, ValueOp, Want,
};
use crate::tenancy::Scope;

/// Page size when the client names none. Databricks' SDKs ask for 10,000 and Terraform asks for no count and expects
/// every match, so the default is the maximum.
pub const DEFAULT_PAGE_SIZE: usize = 10_000;
/// Largest page served.
pub const MAX_PAGE_SIZE: usize = 10_000;
/// How often a read-modify-write retries when another writer got there first.
const MAX_RETRIES: usize = 16;

/// Where a request acts and how its resources are addressed.
#[derive(Debug, Clone)]
pub struct Target<'a> {
    pub scope: &'a Scope,
    pub kind: PrincipalKind,
    /// The SCIM base URL of the request (`http://host/api/2.0/preview/scim/v2`), for `meta.location`.
    pub base_url: &'a str,
}

impl Target<'_> {
    /// The resource type as this level shows it (account and workspace schemas differ).
    pub fn resource_type(&self) -> &'static ResourceType {
        resource_types::of_scope(self.kind, self.scope)
    }

    fn workspace_id(&self) -> Option<i64> {
        self.scope.workspace_id()
    }
}

/// Attributes a principal holds per workspace, kept outside its document.
const WORKSPACE_ATTRIBUTES: [&str; 2] = ["entitlements", "roles"];

/// A rendered resource and its ETag.
#[derive(Debug, Clone)]
pub struct Rendered {
    pub body: Value,
    pub etag: String,
    pub location: String,
}

/// A SCIM operation that succeeded without a body to show (PATCH of a large group).
#[derive(Debug, Clone)]
pub struct Changed {
    pub id: i64,
    pub etag: String,
}

/// Limits of the identity service.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// The most principals of a scope a listing may examine without an index (see [`ListSpec::max_scan`]).
    pub filter_scan: usize,
    /// The most candidates a listing may evaluate in memory (see [`ListSpec::max_candidates`]).
    pub filter_candidates: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { filter_scan: DEFAULT_MAX_SCAN, filter_candidates: DEFAULT_MAX_CANDIDATES }
    }
}

#[derive(Clone)]
pub struct Identities {
    store: Arc<dyn Store>,
    limits: Limits,
    /// Behave as Databricks does where it departs from RFC 7643/7644 (`--databricks-strict`): workspace-local groups
    /// report `meta.resourceType: WorkspaceGroup`, and a `userName` change in PUT or PATCH is ignored.
    databricks_strict: bool,
}

impl Identities {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Identities { store, limits: Limits::default(), databricks_strict: false }
    }

    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Whether the service is Databricks-strict (see [`Identities`]).
    pub fn databricks_strict(&self) -> bool {
        self.databricks_strict
    }

    /// The same service, Databricks-strict or not (see [`Identities`]).
    pub fn with_databricks_strict(self, databricks_strict: bool) -> Self {
        Identities { databricks_strict, ..self }
    }

    /// In Databricks-strict mode, a user's `userName` cannot be changed: the new document keeps the old one.
    fn keep_user_name(&self, p: &Principal, doc: &mut Value) {
        if self.databricks_strict
            && p.kind == PrincipalKind::User
            && let Some(name) = p.doc.get("userName")
        {
            insert(doc, "userName", name.clone());
        }
    }

    pub async fn create(&self, t: &Target<'_>, body: &Value, now: OffsetDateTime, actor: &Actor) -> Result<Rendered> {
        let now = to_millis(now);
        let body = account_body(t, body)?;
        let rt = t.resource_type();
        let mut doc = normalize(rt, &body)?;
        let members = self.take_members(t, &mut doc, None).await?;
        let values = take_workspace_values(t, &mut doc, false)?;
        strip_unstored(&mut doc);
        // Databricks creates users and service principals active unless told otherwise.
        if t.kind != PrincipalKind::Group && doc.get("active").is_none() {
            insert(&mut doc, "active", Value::Bool(true));
        }
        // And gives a service principal created without an applicationId one of its own (a UUID), by which clients
        // then find it (`filter=applicationId eq "..."`).
        if t.kind == PrincipalKind::ServicePrincipal && doc.get("applicationId").is_none() {
            insert(&mut doc, "applicationId", Value::String(ids::new_uuid()?));
            insert(&mut doc, GENERATED_APPLICATION_ID, Value::Bool(true));
        }
        let (home, assign_to) = home_for(t.scope, t.kind);
        let principal = Principal {
            id: ids::new_ordered_id(now)?,
            kind: t.kind,
            account_id: t.scope.account_id().to_string(),
            home,
            doc,
            version: 1,
            created: now,
            last_modified: now,
        };
        let new_members: Vec<NewMember> = members.iter().map(|(m, _)| m.clone()).collect();
        let mut changes: Vec<Change> =
            audit::member_changes(&[MemberOp::Add(new_members.clone())]).into_iter().collect();
        changes.extend(values.as_ref().map(|(_, ops)| audit::value_changes(ops)).unwrap_or_default());
        let mut new = NewPrincipal { principal, members: new_members, assign_to, values };
        loop {
            let p = &new.principal;
            let mut entries =
                vec![audit::principal_created(actor, now, p, t.workspace_id()).with_changes(changes.clone())];
            if let Some(w) = assign_to {
                entries.push(audit::assignment_changed(actor, now, p, w, Some(crate::assignment::Permission::User)));
            }
            match self.store.insert_principal(&new, &entries).await {
                // Rendered from what was written: a new principal is in no group yet.
                Ok(()) => return Ok(self.render(t, &created_view(new, &members), &Projection::default())),
                // A random id that is taken already: draw another.
                Err(StoreError::Conflict("id")) => new.principal.id = ids::new_ordered_id(now)?,
                Err(e) => return Err(conflict_detail(e, t, &new.principal.doc)),
            }
        }
    }

    pub async fn get(&self, t: &Target<'_>, id: &str, projection: &Projection) -> Result<Rendered> {
        let Ok(n) = id.parse::<i64>() else { return Err(not_found(t, id)) };
        let want = want(t, t.kind, projection);
        let view = self.store.view(t.scope, Some(t.kind), n, want).await?.ok_or_else(|| not_found(t, id))?;
        Ok(self.render(t, &view, projection))
    }

    pub async fn replace(
        &self,
        t: &Target<'_>,
        id: &str,
        body: &Value,
        if_match: Option<&str>,
        now: OffsetDateTime,
        actor: &Actor,
    ) -> Result<Rendered> {
        let now = to_millis(now);
        let body = account_body(t, body)?;
        let rt = t.resource_type();
        let mut doc = normalize(rt, &body)?;
        let members: Vec<NewMember> =
            self.take_members(t, &mut doc, id.parse().ok()).await?.into_iter().map(|(m, _)| m).collect();
        let values = take_workspace_values(t, &mut doc, true)?;
        strip_unstored(&mut doc);
        for _ in 0..MAX_RETRIES {
            let p = self.load(t, id).await?;
            check_if_match(&p, if_match)?;
            guard_account_group(t, &p)?;
            let mut new_doc = doc.clone();
            let old_doc = without_generated_application_id(&p.doc);
            keep_omitted_immutables(rt, &p.doc, &mut new_doc);
            if old_doc.is_some() && new_doc.get("applicationId") == p.doc.get("applicationId") {
                insert(&mut new_doc, GENERATED_APPLICATION_ID, Value::Bool(true));
            }
            keep_account_roles(t, &p.doc, &mut new_doc);
            self.keep_user_name(&p, &mut new_doc);
            // A replacement that leaves `active` out neither deactivates nor re-enables anyone.
            if let (None, Some(active)) = (new_doc.get("active"), p.doc.get("active")) {
                insert(&mut new_doc, "active", active.clone());
            }
            guard_builtin(&p, Some(&new_doc))?;
            check_immutable(rt, old_doc.as_ref().map_or(&p.doc, |(d, _)| d), &new_doc)?;
            let member_ops = if t.kind == PrincipalKind::Group {
                vec![MemberOp::Clear, MemberOp::Add(members.clone())]
            } else {
                Vec::new()
            };
            let update = PrincipalUpdate {
                id: p.id,
                expected_version: Some(p.version),
                doc: Some(new_doc.clone()),
                members: member_ops,
                workspace_values: values.clone(),
                last_modified: now,
            };
            let entry = change_entry(actor, now, t, &p, Operation::Replace, &update);
            match self.store.update_principal(&update, &[entry]).await {
                Ok(_) => return self.get(t, id, &Projection::default()).await,
                Err(StoreError::VersionMismatch) if if_match.is_none() => continue,
                Err(StoreError::VersionMismatch) => return Err(precondition_failed(&p)),
                Err(e) => return Err(conflict_detail(e, t, &new_doc)),
            }
        }
        Err(busy())
    }

    /// Applies a PATCH request. All operations apply, or none.
    pub async fn patch(
        &self,
        t: &Target<'_>,
        id: &str,
        body: &Value,
        if_match: Option<&str>,
        now: OffsetDateTime,
        actor: &Actor,
    ) -> Result<Changed> {
        let now = to_millis(now);
        let rt = t.resource_type();
        let ops = patch::parse_request(body)?;
        if t.workspace_id().is_none() && ops.iter().any(touches_entitlements) {
            return Err(entitlements_at_account_level());
        }
        let mut external: Vec<&str> = Vec::with_capacity(3);
        if t.kind == PrincipalKind::Group {
            external.push("members");
        }
        if t.workspace_id().is_some() {
            external.extend(WORKSPACE_ATTRIBUTES);
        }
        for _ in 0..MAX_RETRIES {
            let p = self.load(t, id).await?;
            check_if_match(&p, if_match)?;
            let mut doc = p.doc.clone();
            // At workspace level `roles` are the workspace's: the account roles in the document are not in play.
            let account_roles = match t.workspace_id() {
                Some(_) => doc.as_object_mut().and_then(|o| o.shift_remove("roles")),
                None => None,
            };
            // `apply` leaves `doc` normalised and checks immutability.
            // A generated applicationId may still be set by the client, once (see GENERATED_APPLICATION_ID).
            let generated = without_generated_application_id(&doc);
            if let Some((without, _)) = &generated {
                doc = without.clone();
            }
            let changes = patch::apply(rt, &mut doc, &ops, &external)?;
            self.keep_user_name(&p, &mut doc);
            if let Some((_, app_id)) = generated
                && doc.get("applicationId").is_none()
            {
                insert(&mut doc, "applicationId", app_id);
                insert(&mut doc, GENERATED_APPLICATION_ID, Value::Bool(true));
            }
            strip_unstored(&mut doc);
            if let Some(roles) = account_roles {
                insert(&mut doc, "roles", roles);
            }
            let mut member_ops = Vec::with_capacity(changes.len());
            let mut value_ops = Vec::new();
            for change in changes {
                if change.attr == "members" {
                    member_ops.extend(self.member_ops(t, p.id, change.change).await?);
                } else {
                    value_ops.extend(self.value_ops(t, p.id, change.attr, change.change).await?);
                }
            }
            let doc_changed = doc != p.doc;
            if doc_changed || !member_ops.is_empty() {
                guard_account_group(t, &p)?;
            }
            guard_builtin(&p, Some(&doc))?;
            if !doc_changed && member_ops.is_empty() && value_ops.is_empty() {
                return Ok(Changed { id: p.id, etag: p.etag() });
            }
            // Member changes alone do not depend on what was read: they need no version check (unless the client
            // asked for one), so concurrent member PATCHes of one group never race each other into retries.
            let expected_version = (doc_changed || if_match.is_some()).then_some(p.version);
            let update = PrincipalUpdate {
                id: p.id,
                expected_version,
                doc: doc_changed.then(|| doc.clone()),
                members: member_ops,
                workspace_values: t.workspace_id().filter(|_| !value_ops.is_empty()).map(|w| (w, value_ops)),
                last_modified: now,
            };
            let entry = change_entry(actor, now, t, &p, Operation::Patch, &update);
            match self.store.update_principal(&update, &[entry]).await {
                Ok(version) => return Ok(Changed { id: p.id, etag: crate::principal::etag(version) }),
                Err(StoreError::VersionMismatch) if if_match.is_none() => continue,
                Err(StoreError::VersionMismatch) => return Err(precondition_failed(&p)),
                Err(e) => return Err(conflict_detail(e, t, &doc)),
            }
        }
        Err(busy())
    }

    /// Does the group have more than `limit` members? Answered in O(limit).
    pub async fn has_more_members_than(&self, group_id: i64, limit: usize) -> Result<bool> {
        Ok(self.store.count_members(group_id, limit.saturating_add(1)).await? > limit)
    }

    pub async fn delete(
        &self,
        t: &Target<'_>,
        id: &str,
        if_match: Option<&str>,
        now: OffsetDateTime,
        actor: &Actor,
    ) -> Result<()> {
        let p = self.load(t, id).await?;
        check_if_match(&p, if_match)?;
        guard_builtin(&p, None)?;
        // Deleting an account principal from a workspace removes it from the workspace, not from the account.
        if let (Some(workspace_id), Home::Account) = (t.workspace_id(), p.home) {
            // Refused before anything changes when a group would keep it in the workspace anyway.
            let account = Scope::Account { account_id: t.scope.account_id().to_string() };
            for group in self.store.groups_of(&account, p.id).await? {
                if self.store.effective_permission(workspace_id, group.id).await?.is_some() {
                    return Err(CoreError::invalid_value(format!(
                        "{id} is assigned to this workspace through group {} ({}): remove it from the group, or \
                         unassign the group",
                        group.display, group.id
                    )));
                }
            }
            let entry = audit::assignment_changed(actor, now, &p, workspace_id, None);
            self.store.set_assignment(workspace_id, p.id, None, &[entry]).await?;
            return Ok(());
        }
        let entry =
            AuditEntry::new(actor, now, &p.account_id, audit::ResourceType::of(p.kind), p.id, Operation::Delete)
                .in_workspace(t.workspace_id())
                .with_changes(audit::document_changes(&p.doc, &Value::Null));
        if !self.store.delete_principal(p.id, &[entry]).await? {
            return Err(not_found(t, id));
        }
        Ok(())
    }

    /// Lists resources per RFC 7644 §3.4.2 (index pagination) or RFC 9865 (cursor pagination). What each kind of
    /// listing costs is in the store's `listing` module; a listing that would examine too much without an index is
    /// refused with `tooMany`.
    pub async fn list(&self, t: &Target<'_>, q: &ListQuery) -> Result<Value> {
        let rt = t.resource_type();
        let projection = Projection::parse(rt, q.attributes.as_deref(), q.excluded_attributes.as_deref())?;
        let count = q.count.unwrap_or(DEFAULT_PAGE_SIZE).min(MAX_PAGE_SIZE);
        let cursor = match q.cursor.as_deref() {
            None => None,
            Some("") => Some(Cursor::default()),
            Some(c) => Some(Cursor::decode(c)?),
        };
        let offset = match &cursor {
            Some(c) => c.offset,
            None => q.start_index.saturating_sub(1),
        };
        let after_id = cursor.as_ref().and_then(|c| c.after).filter(|_| q.sort_by.is_none());
        let sort = q.sort_by.as_ref().map(|by| Sort { by, descending: q.sort_descending });
        // A client that asks for no resources asks for the total: it is counted now. Others may get the count the
        // store made a moment ago (refreshed by every write through this node).
        let total = if count == 0 { Total::Exact } else { Total::Recent };
        let candidates_want = Want { members: true, groups: true, values_in: t.workspace_id() };
        let spec = ListSpec {
            filter: q.filter.as_ref(),
            sort,
            offset: if after_id.is_some() { 0 } else { offset },
            limit: count,
            after_id,
            total,
            want: want(t, t.kind, &projection),
            max_scan: self.limits.filter_scan,
            max_candidates: self.limits.filter_candidates,
        };
        let listing = self.store.list_principals(t.scope, t.kind, &spec).await?;
        let listing = match listing {
            // What is evaluated in memory is evaluated on the whole resource.
            Listing::Candidates(_) if spec.want != candidates_want => {
                self.store.list_principals(t.scope, t.kind, &ListSpec { want: candidates_want, ..spec }).await?
            }
            other => other,
        };
        let (total, page) = match listing {
            Listing::Page { total, items } => {
                let page: Vec<(i64, Value)> =
                    items.iter().map(|v| (v.principal.id, self.render(t, v, &projection).body)).collect();
                (total, page)
            }
            Listing::Candidates(items) => {
                let full = Projection::default();
                let mut matched = Vec::new();
                for v in &items {
                    let body = self.render(t, v, &full).body;
                    if q.filter.as_ref().is_none_or(|f| f.matches(&body, rt)) {
                        matched.push((v.principal.id, body));
                    }
                }
                if let Some(by) = &q.sort_by {
                    matched.sort_by(|a, b| {
                        let o = compare(rt, &a.1, &b.1, by);
                        let o = if q.sort_descending { o.reverse() } else { o };
                        o.then(a.0.cmp(&b.0))
                    });
                }
                let total = matched.len();
                let start = match after_id {
                    Some(after) => matched.iter().position(|(id, _)| *id > after).unwrap_or(total),
                    None => offset.min(total),
                };
                let mut page: Vec<(i64, Value)> = matched.into_iter().skip(start).take(count).collect();
                for (_, body) in &mut page {
                    projection.apply(rt, body);
                }
                (total, page)
            }
            Listing::TooMany { scanned } => return Err(too_many(t, q, scanned, &self.limits)),
        };
        let next_cursor = cursor.as_ref().and_then(|_| {
            let consumed = offset + page.len();
            let more = if after_id.is_some() || q.sort_by.is_none() {
                page.len() == count && count > 0
            } else {
                consumed < total
            };
            more.then(|| match (q.sort_by.is_none(), page.last()) {
                (true, Some((last, _))) => Cursor { after: Some(*last), offset: 0 }.encode(),
                _ => Cursor { after: None, offset: consumed }.encode(),
            })
        });
        let resources: Vec<Value> = page.into_iter().map(|(_, body)| body).collect();
        let start_index = if cursor.is_some() { None } else { Some(offset + 1) };
        Ok(list_response(resources, total, start_index, next_cursor, None))
    }

    /// The principal a token acts as, rendered as `/Me` shows it.
    pub async fn me(&self, t: &Target<'_>, principal_id: i64, projection: &Projection) -> Result<Rendered> {
        // Its kind is known once it is read: ask for what any kind would need.
        let want = Want { members: true, groups: true, values_in: t.workspace_id() };
        let view = self
            .store
            .view(t.scope, None, principal_id, want)
            .await?
            .ok_or_else(|| CoreError::not_found("principal", principal_id))?;
        let t = Target { kind: view.principal.kind, ..t.clone() };
        Ok(self.render(&t, &view, projection))
    }

    async fn load(&self, t: &Target<'_>, id: &str) -> Result<Principal> {
        let Ok(n) = id.parse::<i64>() else { return Err(not_found(t, id)) };
        self.store.principal(t.scope, Some(t.kind), n).await?.ok_or_else(|| not_found(t, id))
    }

    /// Removes `members` from a group document and resolves it to principals visible in the scope; `group` is the
    /// id of the group being replaced, which cannot be its own member.
    async fn take_members(
        &self,
        t: &Target<'_>,
        doc: &mut Value,
        group: Option<i64>,
    ) -> Result<Vec<(NewMember, Principal)>> {
        let Some(items) = doc.as_object_mut().and_then(|o| o.shift_remove("members")) else {
            return Ok(Vec::new());
        };
        let items = match items {
            Value::Array(items) => items,
            other => vec![other],
        };
        self.resolve_members(t, &items, group).await
    }

    /// The members `items` name, with the `$ref` and `display` written for them, and the principals they are. An item
    /// that names no principal visible here (not an id, no such principal, one of another account or workspace) or
    /// that names `group` itself is a 400 naming it, alike for POST, PUT and PATCH: a client that is told nothing would
    /// believe the member added.
    async fn resolve_members(
        &self,
        t: &Target<'_>,
        items: &[Value],
        group: Option<i64>,
    ) -> Result<Vec<(NewMember, Principal)>> {
        let mut members: Vec<NewMember> = Vec::with_capacity(items.len());
        for item in items {
            let raw = item.get("value").or(Some(item)).and_then(|v| match v {
                Value::String(s) => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            });
            let id = raw.as_deref().and_then(|r| r.parse::<i64>().ok());
            let Some(id) = id else {
                return Err(match raw {
                    None => CoreError::invalid_value("each member needs a \"value\" with the member's id"),
                    Some(raw) => CoreError::invalid_value(format!(
                        "member \"{raw}\" is not the id of a user, group or service principal"
                    )),
                });
            };
            if group == Some(id) {
                return Err(CoreError::invalid_value(format!("group {id} cannot be a member of itself")));
            }
            let text = |key: &str| item.get(key).and_then(Value::as_str).map(str::to_string);
            let member = NewMember { id, reference: text("$ref"), display: text("display") };
            match members.iter_mut().find(|m| m.id == id) {
                Some(m) => *m = member,
                None => members.push(member),
            }
        }
        let ids: Vec<i64> = members.iter().map(|m| m.id).collect();
        let found = self.store.principals(t.scope, &ids).await?;
        let mut resolved = Vec::with_capacity(members.len());
        for m in members {
            match found.iter().find(|p| p.id == m.id) {
                Some(p) => resolved.push((m, p.clone())),
                None => return Err(missing_member(m.id)),
            }
        }
        Ok(resolved)
    }

    /// The changes to a principal's values in the workspace of `t` that a PATCH of `attribute` makes.
    async fn value_ops(
        &self,
        t: &Target<'_>,
        principal_id: i64,
        attribute: &'static str,
        change: MemberChange,
    ) -> Result<Vec<ValueOp>> {
        Ok(match change {
            MemberChange::Add(items) => vec![ValueOp::Add { attribute, values: checked_values(attribute, &items)? }],
            MemberChange::Replace(items) => vec![
                ValueOp::Clear { attribute },
                ValueOp::Add { attribute, values: checked_values(attribute, &items)? },
            ],
            MemberChange::RemoveAll => vec![ValueOp::Clear { attribute }],
            MemberChange::RemoveValues(items) => vec![ValueOp::Remove { attribute, values: values_of(&items) }],
            MemberChange::Remove(filter) => {
                let Some(workspace_id) = t.workspace_id() else { return Ok(Vec::new()) };
                let rt = t.resource_type();
                let Some(attr) = rt.schema.attribute(attribute) else { return Ok(Vec::new()) };
                let current = self.store.workspace_values(workspace_id, principal_id).await?;
                let values = current
                    .into_iter()
                    .filter(|(a, _)| a == attribute)
                    .flat_map(|(_, values)| values)
                    .filter(|v| filter.matches_element(&json!({"value": v}), attr))
                    .collect();
                vec![ValueOp::Remove { attribute, values }]
            }
        })
    }

    async fn member_ops(&self, t: &Target<'_>, group_id: i64, change: MemberChange) -> Result<Vec<MemberOp>> {
        let ids_only = |resolved: Vec<(NewMember, Principal)>| resolved.into_iter().map(|(m, _)| m).collect();
        Ok(match change {
            MemberChange::Add(items) => {
                vec![MemberOp::Add(ids_only(self.resolve_members(t, &items, Some(group_id)).await?))]
            }
            MemberChange::Replace(items) => {
                vec![MemberOp::Clear, MemberOp::Add(ids_only(self.resolve_members(t, &items, Some(group_id)).await?))]
            }
            MemberChange::RemoveAll => vec![MemberOp::Clear],
            MemberChange::RemoveValues(items) => vec![MemberOp::Remove(member_ids_lenient(&items))],
            MemberChange::Remove(filter) => match ids_of_value_filter(&filter) {
                Some(ids) => vec![MemberOp::Remove(ids)],
                None => {
                    // A filter on something other than `value`: evaluate it on the rendered members.
                    let rt = resource_types::of(PrincipalKind::Group);
                    let members = self.store.members(group_id).await?;
                    let ids = members
                        .iter()
                        .filter(|m| {
                            let doc = json!({"members": [member_json(m)]});
                            Filter::ValuePath(members_path(), Box::new(filter.clone())).matches(&doc, rt)
                        })
                        .map(|m| m.id)
                        .collect();
                    vec![MemberOp::Remove(ids)]
                }
            },
        })
    }

    /// Renders a principal as its SCIM resource, from a view read with [`want`] of the same projection.
    fn render(&self, t: &Target<'_>, view: &PrincipalView, projection: &Projection) -> Rendered {
        let p = &view.principal;
        let rt = resource_types::of_scope(p.kind, t.scope);
        let mut body = Map::new();
        let mut schemas = vec![Value::String(rt.schema.id.to_string())];
        for ext in rt.extensions {
            if p.doc.get(ext.schema.id).is_some() {
                schemas.push(Value::String(ext.schema.id.to_string()));
            }
        }
        body.insert("schemas".into(), Value::Array(schemas));
        body.insert("id".into(), Value::String(p.id.to_string()));
        if let Value::Object(doc) = &p.doc {
            for (k, v) in doc.iter().filter(|(k, _)| *k != GENERATED_APPLICATION_ID) {
                body.insert(k.clone(), v.clone());
            }
        }
        if t.workspace_id().is_some() {
            // The document's roles are account roles; a workspace shows the principal's values in that workspace.
            body.shift_remove("roles");
            for (attribute, values) in &view.values {
                let items: Vec<Value> = values.iter().map(|v| json!({"value": v})).collect();
                body.insert(attribute.clone(), Value::Array(items));
            }
        }
        if p.kind == PrincipalKind::Group && projection.includes(rt, "members") {
            let items: Vec<Value> = view.members.iter().map(member_json).collect();
            body.insert("members".into(), Value::Array(items));
        }
        if projection.includes(rt, "groups") {
            let items: Vec<Value> = view
                .groups
                .iter()
                .map(|g| {
                    json!({
                        "value": g.id.to_string(),
                        "display": g.display,
                        "$ref": format!("Groups/{}", g.id),
                        "type": if g.direct { "direct" } else { "indirect" },
                    })
                })
                .collect();
            // An empty multi-valued attribute is unassigned (RFC 7643 §2.4): left out.
            if !items.is_empty() {
                body.insert("groups".into(), Value::Array(items));
            }
        }
        let location = format!("{}/{}/{}", t.base_url, p.kind.endpoint(), p.id);
        body.insert(
            "meta".into(),
            json!({
                "resourceType": self.resource_type_name(p),
                "created": timestamp(p.created),
                "lastModified": timestamp(p.last_modified),
                "location": location,
                "version": p.etag(),
            }),
        );
        let mut body = Value::Object(body);
        projection.apply(rt, &mut body);
        Rendered { body, etag: p.etag(), location }
    }
}

/// The principal of `kind` visible in `scope` whose unique attribute (`userName`, group `displayName`,
/// `applicationId`) equals `value` as a filter compares it: an index lookup.
pub async fn find_unique(
    store: &dyn crate::store::PrincipalStore,
    scope: &Scope,
    kind: PrincipalKind,
    value: &str,
) -> Result<Option<Principal>> {
    let filter = Filter::Compare(
        idplane_scim::filter::AttrPath::new(kind.unique_attribute()),
        CompareOp::Eq,
        CompValue::String(value.to_string()),
    );
    let rt = resource_types::of(kind);
    Ok(match store.list_principals(scope, kind, &ListSpec::page(Some(&filter), 1)).await? {
        Listing::Page { items, .. } => items.into_iter().next().map(|v| v.principal),
        Listing::Candidates(items) => items.into_iter().map(|v| v.principal).find(|p| filter.matches(&p.doc, rt)),
        Listing::TooMany { .. } => None,
    })
}

/// What rendering a principal of `kind` in `t` with `projection` needs besides its document.
fn want(t: &Target<'_>, kind: PrincipalKind, projection: &Projection) -> Want {
    let rt = resource_types::of_scope(kind, t.scope);
    Want {
        members: kind == PrincipalKind::Group && projection.includes(rt, "members"),
        groups: projection.includes(rt, "groups"),
        values_in: t.workspace_id().filter(|_| WORKSPACE_ATTRIBUTES.iter().any(|a| projection.includes(rt, a))),
    }
}

/// The view of a principal just created, from what was written: its members (in id order, as the store lists them;
/// a group is never its own member) and its values; no group can have it as a member yet.
fn created_view(new: NewPrincipal, members: &[(NewMember, Principal)]) -> PrincipalView {
    let id = new.principal.id;
    let mut members: Vec<Member> = members
        .iter()
        .filter(|(m, _)| m.id != id)
        .map(|(m, p)| Member {
            id: m.id,
            kind: p.kind,
            display: p.display(),
            given_reference: m.reference.clone(),
            given_display: m.display.clone(),
        })
        .collect();
    members.sort_by_key(|m| m.id);
    let mut values: std::collections::BTreeMap<String, std::collections::BTreeSet<String>> = Default::default();
    for op in new.values.iter().flat_map(|(_, ops)| ops) {
        if let ValueOp::Add { attribute, values: added } = op {
            values.entry(attribute.to_string()).or_default().extend(added.iter().cloned());
        }
    }
    let values = values.into_iter().map(|(a, v)| (a, v.into_iter().collect())).collect();
    PrincipalView { principal: new.principal, members, groups: Vec::new(), values }
}

/// The `tooMany` error of a listing that would examine more than the limits allow.
fn too_many(t: &Target<'_>, q: &ListQuery, scanned: usize, limits: &Limits) -> CoreError {
    let what = match t.kind {
        PrincipalKind::User => "users",
        PrincipalKind::Group => "groups",
        PrincipalKind::ServicePrincipal => "service principals",
    };
    let indexed = match t.kind {
        PrincipalKind::User => "id, userName, externalId, displayName or emails.value",
        PrincipalKind::Group => "id, displayName, externalId or members.value",
        PrincipalKind::ServicePrincipal => "id, applicationId, displayName or externalId",
    };
    let asked = match (&q.filter, &q.sort_by) {
        (Some(f), _) => format!("the filter {f}"),
        (None, Some(by)) => format!("sorting by {}", by.name),
        (None, None) => "this listing".to_string(),
    };
    let limit = if scanned > limits.filter_scan { limits.filter_scan } else { limits.filter_candidates };
    CoreError::TooMany(format!(
        "{asked} would examine more than {limit} {what} without an index; filter by {indexed} (eq, or sw for \
         text), alone or combined with 'and', or ask the operator to raise the limit"
    ))
}

/// The entry of a change to principal `p` (as read before the change) that `update` makes.
fn change_entry(
    actor: &Actor,
    now: OffsetDateTime,
    t: &Target<'_>,
    p: &Principal,
    operation: Operation,
    update: &PrincipalUpdate,
) -> AuditEntry {
    let mut changes = update.doc.as_ref().map(|doc| audit::document_changes(&p.doc, doc)).unwrap_or_default();
    changes.extend(audit::member_changes(&update.members));
    changes.extend(update.workspace_values.as_ref().map(|(_, ops)| audit::value_changes(ops)).unwrap_or_default());
    AuditEntry::new(actor, now, &p.account_id, audit::ResourceType::of(p.kind), p.id, operation)
        .in_workspace(t.workspace_id())
        .with_changes(changes)
}

/// At workspace level, moves `entitlements` and `roles` out of a normalised body into value changes for the
/// workspace (replacing all of them when `replace`). `None` at account level.
fn take_workspace_values(t: &Target<'_>, doc: &mut Value, replace: bool) -> Result<Option<(i64, Vec<ValueOp>)>> {
    let Some(workspace_id) = t.workspace_id() else { return Ok(None) };
    let mut ops = Vec::new();
    for attribute in WORKSPACE_ATTRIBUTES {
        let items = match doc.as_object_mut().and_then(|o| o.shift_remove(attribute)) {
            Some(Value::Array(items)) => items,
            Some(other) => vec![other],
            None => Vec::new(),
        };
        if replace {
            ops.push(ValueOp::Clear { attribute });
        }
        if !items.is_empty() {
            ops.push(ValueOp::Add { attribute, values: checked_values(attribute, &items)? });
        }
    }
    Ok((!ops.is_empty()).then_some((workspace_id, ops)))
}

/// The `value`s of items; entitlements must be ones Databricks defines.
fn checked_values(attribute: &str, items: &[Value]) -> Result<Vec<String>> {
    let values = values_of(items);
    if attribute == "entitlements"
        && let Some(unknown) = values.iter().find(|v| !resource_types::ENTITLEMENT_VALUES.contains(&v.as_str()))
    {
        return Err(CoreError::invalid_value(format!(
            "unknown entitlement \"{unknown}\"; entitlements are {}",
            resource_types::ENTITLEMENT_VALUES.join(", ")
        )));
    }
    Ok(values)
}

fn values_of(items: &[Value]) -> Vec<String> {
    items.iter().filter_map(|i| i.get("value").or(Some(i)).and_then(Value::as_str)).map(str::to_string).collect()
}

/// Entitlements belong to workspaces: at account level they are refused as Databricks refuses them (Terraform
/// expects this error). Empty items (Terraform's `[{}]`) are no entitlements: the key is dropped and the body passes.
fn account_body<'b>(t: &Target<'_>, body: &'b Value) -> Result<Cow<'b, Value>> {
    let Some(object) = body.as_object().filter(|_| t.workspace_id().is_none()) else { return Ok(Cow::Borrowed(body)) };
    let Some((key, value)) = object.iter().find(|(k, _)| k.eq_ignore_ascii_case("entitlements")) else {
        return Ok(Cow::Borrowed(body));
    };
    let given = match value {
        Value::Array(items) => items.iter().any(|i| i.as_object().is_none_or(|o| !o.is_empty())),
        Value::Null => false,
        _ => true,
    };
    if given {
        return Err(entitlements_at_account_level());
    }
    let mut cleaned = object.clone();
    cleaned.shift_remove(key);
    Ok(Cow::Owned(Value::Object(cleaned)))
}

fn entitlements_at_account_level() -> CoreError {
    CoreError::invalid_value("entitlements can only be managed at the workspace level")
}

/// Does a PATCH operation address entitlements (by path, or in a path-less value)?
fn touches_entitlements(op: &patch::PatchOperation) -> bool {
    match &op.path {
        Some(path) => path.attr.name.eq_ignore_ascii_case("entitlements"),
        None => op
            .value
            .as_ref()
            .and_then(Value::as_object)
            .is_some_and(|o| o.keys().any(|k| k.eq_ignore_ascii_case("entitlements"))),
    }
}

/// The built-in `users` and `admins` groups of a workspace can be neither deleted nor renamed.
fn guard_builtin(p: &Principal, new_doc: Option<&Value>) -> Result<()> {
    let renamed = new_doc.is_some_and(|d| d.get("displayName") != p.doc.get("displayName"));
    if crate::workspaces::is_builtin_group(p) && (new_doc.is_none() || renamed) {
        return Err(CoreError::invalid_value(format!(
            "{} is a built-in group of the workspace: it cannot be deleted or renamed",
            p.display()
        )));
    }
    Ok(())
}

/// A workspace may set an account group's entitlements and roles there, but not change the group itself or its
/// members: that would reach every workspace the group is assigned to.
fn guard_account_group(t: &Target<'_>, p: &Principal) -> Result<()> {
    if t.workspace_id().is_some() && p.kind == PrincipalKind::Group && p.home == Home::Account {
        return Err(CoreError::PermissionDenied(format!(
            "group {} is an account group: change it, or its members, through the account SCIM API",
            p.id
        )));
    }
    Ok(())
}

/// A workspace-level PUT replaces what the workspace shows; an account principal's account roles are not among it.
fn keep_account_roles(t: &Target<'_>, old: &Value, new: &mut Value) {
    if t.workspace_id().is_some()
        && let Some(roles) = old.get("roles")
    {
        insert(new, "roles", roles.clone());
    }
}

/// The document key (never rendered, never accepted from a client: no schema declares it) that marks an applicationId
/// idplane generated for a service principal created without one, as Databricks does. Such a value is the server's
/// placeholder: the client may still set applicationId once, by PUT or PATCH, as if it had none (RFC 7643's
/// `immutable` lets a value be given where there was none; scim2-tester adds it so). After that it is immutable.
const GENERATED_APPLICATION_ID: &str = "$applicationIdGenerated";

/// A document with a generated applicationId, without it (and its mark), and the generated value; None otherwise.
fn without_generated_application_id(doc: &Value) -> Option<(Value, Value)> {
    if doc.get(GENERATED_APPLICATION_ID) != Some(&Value::Bool(true)) {
        return None;
    }
    let mut without = doc.clone();
    let object = without.as_object_mut()?;
    object.shift_remove(GENERATED_APPLICATION_ID);
    let app_id = object.shift_remove("applicationId")?;
    Some((without, app_id))
}

impl Identities {
    /// The `meta.resourceType` of a principal: its resource type's name, as RFC 7643 §3.1 and the RFC suites require;
    /// in Databricks-strict mode, `WorkspaceGroup` for a workspace-local group, as Databricks shows it.
    fn resource_type_name(&self, p: &Principal) -> &'static str {
        if self.databricks_strict && p.kind == PrincipalKind::Group && matches!(p.home, Home::Workspace(_)) {
            return "WorkspaceGroup";
        }
        resource_types::of(p.kind).name
    }
}

/// Where new principals of `kind` live in `scope`, and the workspace they are assigned to.
fn home_for(scope: &Scope, kind: PrincipalKind) -> (Home, Option<i64>) {
    match scope {
        Scope::Account { .. } => (Home::Account, None),
        Scope::Workspace { workspace_id, federated: false, .. } => (Home::Workspace(*workspace_id), None),
        // Databricks: workspace SCIM in a federated workspace creates users and service principals in the account
        // and assigns them; groups it creates are workspace-local.
        Scope::Workspace { workspace_id, federated: true, .. } => match kind {
            PrincipalKind::Group => (Home::Workspace(*workspace_id), None),
            _ => (Home::Account, Some(*workspace_id)),
        },
    }
}

/// Attributes the client may send but the store does not keep: the password (no one signs in with it here) and
/// the read-only computed ones.
fn strip_unstored(doc: &mut Value) {
    if let Some(o) = doc.as_object_mut() {
        o.shift_remove("password");
        o.shift_remove("groups");
    }
}

fn insert(doc: &mut Value, key: &str, value: Value) {
    if let Some(o) = doc.as_object_mut() {
        o.insert(key.to_string(), value);
    }
}

/// PUT replaces the resource, but an immutable attribute the client left out keeps its value (RFC 7643 §7 only
/// forbids changing it).
fn keep_omitted_immutables(rt: &ResourceType, old: &Value, new: &mut Value) {
    for a in rt.schema.attributes {
        if a.mutability == idplane_scim::schema::Mutability::Immutable
            && new.get(a.name).is_none()
            && let Some(v) = old.get(a.name)
        {
            insert(new, a.name, v.clone());
        }
    }
}

fn check_if_match(p: &Principal, if_match: Option<&str>) -> Result<()> {
    let Some(if_match) = if_match else { return Ok(()) };
    let current = p.etag();
    let ok = if_match.split(',').map(str::trim).any(|tag| tag == "*" || weak_eq(tag, &current));
    if ok { Ok(()) } else { Err(CoreError::PreconditionFailed { current }) }
}

/// Weak comparison of entity tags (RFC 9110 §8.8.3.2): `W/"3"` matches `"3"`.
pub fn weak_eq(a: &str, b: &str) -> bool {
    a.trim_start_matches("W/") == b.trim_start_matches("W/")
}

/// `If-Match` named the version that was read, but another writer changed the resource before this write.
fn precondition_failed(p: &Principal) -> CoreError {
    CoreError::PreconditionFailed { current: format!("newer than {}", p.etag()) }
}

/// Every retry lost the race to another writer of the same resource: tell the client to try again.
fn busy() -> CoreError {
    CoreError::Busy("the resource is being changed by many requests at once; retry the request".into())
}

fn not_found(t: &Target<'_>, id: &str) -> CoreError {
    CoreError::not_found(resource_types::of(t.kind).name, id)
}

fn missing_member(id: i64) -> CoreError {
    CoreError::invalid_value(format!(
        "member {id} is not a user, group or service principal that this scope can see; add members by their id"
    ))
}

/// A store failure of a write, in domain terms: a uniqueness conflict on the written document's value, a member that
/// does not exist.
fn conflict_detail(e: StoreError, t: &Target<'_>, doc: &Value) -> CoreError {
    match e {
        StoreError::Conflict(attribute) => CoreError::Conflict {
            kind: t.kind,
            attribute,
            value: doc.get(attribute).and_then(Value::as_str).unwrap_or_default().to_string(),
            level: resource_types::Level::of(t.scope),
        },
        StoreError::MissingReference(id) => missing_member(id),
        e => CoreError::Store(e),
    }
}

/// A member as SCIM shows it: `$ref` and `display` as the client wrote them, else as Databricks shows them (a
/// relative `$ref` such as `Users/123`, which Terraform classifies members by, and the member's display name).
fn member_json(m: &Member) -> Value {
    json!({
        "value": m.id.to_string(),
        "display": m.given_display.clone().unwrap_or_else(|| m.display.clone()),
        "$ref": m.given_reference.clone().unwrap_or_else(|| format!("{}/{}", m.kind.endpoint(), m.id)),
        "type": m.kind.member_type(),
    })
}

fn members_path() -> idplane_scim::filter::AttrPath {
    idplane_scim::filter::AttrPath { urn: None, name: "members".into(), sub: None }
}

/// Ids named by `value eq "x"` (or an `or` of them): the cheap, common member removal.
fn ids_of_value_filter(f: &Filter) -> Option<Vec<i64>> {
    match f {
        Filter::Compare(path, CompareOp::Eq, CompValue::String(s))
            if path.urn.is_none() && path.sub.is_none() && path.name.eq_ignore_ascii_case("value") =>
        {
            Some(s.parse::<i64>().map(|id| vec![id]).unwrap_or_default())
        }
        Filter::Or(a, b) => {
            let mut ids = ids_of_value_filter(a)?;
            ids.extend(ids_of_value_filter(b)?);
            Some(ids)
        }
        _ => None,
    }
}

/// Ids of a removal list; items that name no principal cannot be members, so they are skipped.
fn member_ids_lenient(items: &[Value]) -> Vec<i64> {
    items
        .iter()
        .filter_map(|item| match item.get("value").unwrap_or(item) {
            Value::String(s) => s.parse().ok(),
            Value::Number(n) => n.as_i64(),
            _ => None,
        })
        .collect()
}

/// `meta` timestamps have millisecond precision, what clients parse most reliably; times are truncated before they
/// are stored, so that what filters and sorts compare is what clients see.
pub fn to_millis(t: OffsetDateTime) -> OffsetDateTime {
    let t = t.to_offset(time::UtcOffset::UTC);
    t.replace_nanosecond(t.nanosecond() / 1_000_000 * 1_000_000).unwrap_or(t)
}

/// RFC 3339 in UTC with `Z`.
pub fn timestamp(t: OffsetDateTime) -> String {
    to_millis(t).format(&Rfc3339).unwrap_or_default()
}

/// The state of cursor pagination (RFC 9865), opaque to clients: keyset (`after`) in id order, else an offset.
#[derive(Debug, Default)]
struct Cursor {
    after: Option<i64>,
    offset: usize,
}

impl Cursor {
    fn encode(&self) -> String {
        match self.after {
            Some(after) => encode_cursor(&json!({"a": after})),
            None => encode_cursor(&json!({"o": self.offset})),
        }
    }

    fn decode(s: &str) -> Result<Cursor> {
        let v = decode_cursor(s)?;
        let invalid = || CoreError::Invalid {
            scim_type: Some(ScimType::InvalidCursor),
            detail: "the cursor is not one this server issued".into(),
        };
        if let Some(a) = v.get("a") {
            return Ok(Cursor { after: Some(a.as_i64().ok_or_else(invalid)?), offset: 0 });
        }
        let o = v.get("o").and_then(Value::as_u64).ok_or_else(invalid)?;
        Ok(Cursor { after: None, offset: usize::try_from(o).map_err(|_| invalid())? })
    }
}
