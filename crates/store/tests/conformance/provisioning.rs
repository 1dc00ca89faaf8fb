//! The conformance suite of the provisioning domain's ports (`idplane_provisioning::store`): tenants, the
//! directory, applications and assignments, jobs and secrets, and the change feed. Like the identity suite, each case
//! is a generic `async fn(Arc<S>)` on a fresh store; [`provisioning_tests!`] makes one test per case for a backend.

use std::sync::Arc;

use anyhow::{Result, ensure};
use idplane_core::error::StoreError;
use idplane_core::store::Store;
use idplane_core::token::{Secret, TokenHash};
use idplane_provisioning::application::{AppRoleAssignment, Application, DEFAULT_ACCESS_ROLE, ServicePrincipal};
use idplane_provisioning::cycle::state::{Escrow, Link, RunState};
use idplane_provisioning::directory::query::{Field, Literal, ObjectFilter, ObjectQuery};
use idplane_provisioning::directory::{ChangeKind, DirectoryObject, ObjectKind};
use idplane_provisioning::job;
use idplane_provisioning::store::{AddMembers, ProvisioningStore};
use idplane_provisioning::tenant::{Tenant, TenantToken};
use idplane_provisioning::{ids, tenant};
use serde_json::{Map, Value, json};

use super::at;

/// Defines one test per provisioning conformance case for the backend that `$make` creates.
macro_rules! provisioning_tests {
    ($make:expr $(, #[$attr:meta])?) => {
        provisioning_tests!(@cases $make, [$($attr)?];
            tenants_and_their_tokens,
            objects_round_trip_within_their_tenant,
            user_principal_names_are_unique_among_live_users,
            deleted_items_restore_and_purge,
            members_are_checked_and_never_make_a_cycle,
            listings_filter_on_indexed_properties_and_page,
            the_change_feed_follows_commit_order,
            applications_and_assignments,
            jobs_and_secrets,
            run_state_leases_links_and_escrows,
        );
    };
    (@cases $make:expr, $attrs:tt; $($case:ident),* $(,)?) => {
        $(provisioning_tests!(@case $make, $attrs, $case);)*
    };
    (@case $make:expr, [$($attr:meta)?], $case:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        $(#[$attr])?
        async fn $case() -> anyhow::Result<()> {
            let (store, _guard) = $make;
            crate::conformance::provisioning::$case(std::sync::Arc::new(store)).await
        }
    };
}
pub(crate) use provisioning_tests;

/// What every case needs of a store.
pub trait Both: Store + ProvisioningStore {}
impl<T: Store + ProvisioningStore> Both for T {}

async fn new_tenant<S: Both>(store: &S, name: &str) -> Result<Tenant> {
    Ok(tenant::create(store, name, None, None, false, at(0)).await?.0)
}

fn doc(v: Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap_or_default()
}

fn object(t: &Tenant, kind: ObjectKind, d: Value, n: i64) -> Result<DirectoryObject> {
    Ok(DirectoryObject {
        id: ids::new_guid(at(n))?,
        tenant_id: t.id.clone(),
        kind,
        doc: doc(d),
        manager_id: None,
        deleted: None,
        version: 1,
        created: at(n),
        last_modified: at(n),
    })
}

async fn user<S: Both>(store: &S, t: &Tenant, upn: &str) -> Result<DirectoryObject> {
    let o = object(t, ObjectKind::User, json!({"userPrincipalName": upn, "displayName": upn, "mail": upn}), 1)?;
    ensure!(store.insert_object(&o, &[]).await? == AddMembers::Added);
    Ok(o)
}

async fn group<S: Both>(store: &S, t: &Tenant, name: &str, members: &[&str]) -> Result<DirectoryObject> {
    let o = object(t, ObjectKind::Group, json!({"displayName": name, "securityEnabled": true}), 2)?;
    let members: Vec<String> = members.iter().map(|m| m.to_string()).collect();
    ensure!(store.insert_object(&o, &members).await? == AddMembers::Added);
    Ok(o)
}

fn ids_of(objects: &[DirectoryObject]) -> Vec<&str> {
    objects.iter().map(|o| o.id.as_str()).collect()
}

pub async fn tenants_and_their_tokens<S: Both>(store: Arc<S>) -> Result<()> {
    let account = super::account(store.as_ref(), "a").await?;
    let linked = tenant::ensure_for_account(store.as_ref(), &account.id, at(1)).await?;
    assert_eq!(linked.account_id.as_deref(), Some(account.id.as_str()));
    assert_eq!(tenant::ensure_for_account(store.as_ref(), &account.id, at(2)).await?, linked, "one tenant per account");
    let other = Tenant { id: ids::random_guid()?, account_id: Some(account.id.clone()), ..linked.clone() };
    ensure!(matches!(store.insert_tenant(&other).await, Err(StoreError::Conflict(_))));
    let (plain, secret) = tenant::create(store.as_ref(), "Contoso Ltd", None, None, true, at(3)).await?;
    assert_eq!(plain.default_domain, "contosoltd.idplane.test");
    assert_eq!(store.tenant(&plain.id).await?, Some(plain.clone()));
    assert_eq!(store.tenants().await?.len(), 2);

    let secret = secret.ok_or_else(|| anyhow::anyhow!("no token"))?;
    assert_eq!(tenant::by_token(store.as_ref(), &secret.hash(), at(4)).await?, Some(plain.clone()));
    assert_eq!(tenant::by_token(store.as_ref(), &TokenHash::of("nope"), at(4)).await?, None);
    let expiring =
        TenantToken { expires: Some(at(10)), ..TenantToken::new(&Secret::new("e".into()), &plain.id, "e", at(5)) };
    store.insert_tenant_token(&expiring).await?;
    assert_eq!(tenant::by_token(store.as_ref(), &expiring.hash, at(9)).await?.map(|t| t.id), Some(plain.id.clone()));
    assert_eq!(tenant::by_token(store.as_ref(), &expiring.hash, at(10)).await?, None, "expired");
    let tokens = store.tenant_tokens(&plain.id).await?;
    assert_eq!(tokens.len(), 2);
    ensure!(store.delete_tenant_token(&tokens[0].id).await?);
    ensure!(!store.delete_tenant_token(&tokens[0].id).await?);
    assert_eq!(tenant::by_token(store.as_ref(), &secret.hash(), at(4)).await?, None, "revoked");
    Ok(())
}

pub async fn objects_round_trip_within_their_tenant<S: Both>(store: Arc<S>) -> Result<()> {
    let (t, other) = (new_tenant(store.as_ref(), "t").await?, new_tenant(store.as_ref(), "o").await?);
    let u = user(store.as_ref(), &t, "Ann@x.com").await?;
    assert_eq!(store.object(&t.id, None, &u.id, false).await?, Some(u.clone()));
    assert_eq!(store.object(&t.id, Some(ObjectKind::User), &u.id.to_uppercase(), false).await?, Some(u.clone()));
    assert_eq!(store.object(&t.id, Some(ObjectKind::Group), &u.id, false).await?, None, "another kind");
    assert_eq!(store.object(&other.id, None, &u.id, false).await?, None, "another tenant");
    assert_eq!(store.object(&t.id, None, &u.id, true).await?, None, "not deleted");

    let boss = user(store.as_ref(), &t, "boss@x.com").await?;
    let changed = DirectoryObject {
        doc: doc(json!({"userPrincipalName": "ann@x.com", "displayName": "Ann", "department": "Sales"})),
        manager_id: Some(boss.id.clone()),
        last_modified: at(5),
        ..u.clone()
    };
    assert_eq!(store.update_object(&changed, u.version).await?, u.version + 1);
    let read = store.object(&t.id, None, &u.id, false).await?;
    assert_eq!(read, Some(DirectoryObject { version: u.version + 1, ..changed.clone() }));
    ensure!(matches!(store.update_object(&changed, u.version).await, Err(StoreError::VersionMismatch)), "stale");
    let (reports, more) = store.direct_reports(&t.id, &boss.id, None, 10).await?;
    assert_eq!((ids_of(&reports), more), (vec![u.id.as_str()], false));
    let both = store.objects(&t.id, &[u.id.clone(), boss.id.clone(), ids::random_guid()?]).await?;
    assert_eq!(both.len(), 2);
    assert!(store.objects(&other.id, std::slice::from_ref(&u.id)).await?.is_empty());
    Ok(())
}

pub async fn user_principal_names_are_unique_among_live_users<S: Both>(store: Arc<S>) -> Result<()> {
    let (t, other) = (new_tenant(store.as_ref(), "t").await?, new_tenant(store.as_ref(), "o").await?);
    let a = user(store.as_ref(), &t, "a@x.com").await?;
    let dup = object(&t, ObjectKind::User, json!({"userPrincipalName": "A@X.com", "displayName": "x"}), 3)?;
    ensure!(matches!(store.insert_object(&dup, &[]).await, Err(StoreError::Conflict(_))));
    user(store.as_ref(), &other, "a@x.com").await?;
    let b = user(store.as_ref(), &t, "b@x.com").await?;
    let renamed =
        DirectoryObject { doc: doc(json!({"userPrincipalName": "a@X.COM", "displayName": "b"})), ..b.clone() };
    ensure!(matches!(store.update_object(&renamed, b.version).await, Err(StoreError::Conflict(_))));
    // Groups have no unique name.
    group(store.as_ref(), &t, "same", &[]).await?;
    group(store.as_ref(), &t, "same", &[]).await?;

    // A deleted user's name may be reused; the deleted user then cannot come back until renamed.
    ensure!(store.soft_delete(&t.id, &a.id, at(4)).await?);
    let again = object(&t, ObjectKind::User, json!({"userPrincipalName": "a@x.com", "displayName": "again"}), 5)?;
    assert_eq!(store.insert_object(&again, &[]).await?, AddMembers::Added);
    ensure!(matches!(store.restore(&t.id, &a.id, at(6)).await, Err(StoreError::Conflict(_))));
    Ok(())
}

pub async fn deleted_items_restore_and_purge<S: Both>(store: Arc<S>) -> Result<()> {
    let t = new_tenant(store.as_ref(), "t").await?;
    let boss = user(store.as_ref(), &t, "boss@x.com").await?;
    let u = user(store.as_ref(), &t, "u@x.com").await?;
    let managed = DirectoryObject { manager_id: Some(boss.id.clone()), ..u.clone() };
    store.update_object(&managed, u.version).await?;
    let g = group(store.as_ref(), &t, "g", &[&u.id, &boss.id]).await?;

    ensure!(store.soft_delete(&t.id, &u.id, at(10)).await?);
    ensure!(!store.soft_delete(&t.id, &u.id, at(10)).await?, "already deleted");
    assert_eq!(store.object(&t.id, None, &u.id, false).await?, None);
    let deleted =
        store.object(&t.id, None, &u.id, true).await?.ok_or_else(|| anyhow::anyhow!("not in deleted items"))?;
    assert_eq!(deleted.deleted, Some(at(10)));
    let (members, _) = store.group_members(&t.id, &g.id, None, 10).await?;
    assert_eq!(ids_of(&members), vec![boss.id.as_str()], "a deleted member is not listed");
    let q = ObjectQuery { deleted: true, ..ObjectQuery::of(ObjectKind::User) };
    assert_eq!(ids_of(&store.list_objects(&t.id, &q).await?.items), vec![u.id.as_str()]);

    ensure!(store.restore(&t.id, &u.id, at(11)).await?);
    ensure!(!store.restore(&t.id, &u.id, at(11)).await?, "not deleted any more");
    let (members, _) = store.group_members(&t.id, &g.id, None, 10).await?;
    assert_eq!(members.len(), 2, "restoring brings memberships back");

    // Purging the manager leaves its reports without one; purging a member removes it from its groups.
    ensure!(store.purge(&t.id, &boss.id, at(12)).await?);
    let u_now = store.object(&t.id, None, &u.id, false).await?;
    assert_eq!(u_now.and_then(|o| o.manager_id), None);
    let (members, _) = store.group_members(&t.id, &g.id, None, 10).await?;
    assert_eq!(ids_of(&members), vec![u.id.as_str()]);
    ensure!(!store.purge(&t.id, &boss.id, at(12)).await?);

    // Deleted items older than the retention go.
    ensure!(store.soft_delete(&t.id, &u.id, at(20)).await?);
    assert_eq!(store.purge_deleted(at(20), at(30)).await?, 0, "not older than the bound");
    assert_eq!(store.purge_deleted(at(21), at(30)).await?, 1);
    assert_eq!(store.object(&t.id, None, &u.id, true).await?, None);
    Ok(())
}

pub async fn members_are_checked_and_never_make_a_cycle<S: Both>(store: Arc<S>) -> Result<()> {
    let (t, other) = (new_tenant(store.as_ref(), "t").await?, new_tenant(store.as_ref(), "o").await?);
    let u = user(store.as_ref(), &t, "u@x.com").await?;
    let v = user(store.as_ref(), &t, "v@x.com").await?;
    let stranger = user(store.as_ref(), &other, "s@x.com").await?;
    let missing = object(&t, ObjectKind::Group, json!({"displayName": "m"}), 3)?;
    let outcome = store.insert_object(&missing, &[u.id.clone(), stranger.id.clone()]).await?;
    assert_eq!(outcome, AddMembers::Missing(stranger.id.clone()));
    assert_eq!(store.object(&t.id, None, &missing.id, false).await?, None, "nothing written");

    let inner = group(store.as_ref(), &t, "inner", &[&u.id]).await?;
    let outer = group(store.as_ref(), &t, "outer", &[&inner.id]).await?;
    let add = |g: &str, m: &str| {
        let (store, t, g, m) = (store.clone(), t.id.clone(), g.to_string(), m.to_string());
        async move { store.add_members(&t, &g, &[m], at(5)).await }
    };
    assert_eq!(add(&inner.id, &u.id).await?, AddMembers::AlreadyMember(u.id.clone()));
    assert_eq!(add(&inner.id, &inner.id).await?, AddMembers::Cycle(inner.id.clone()));
    assert_eq!(add(&inner.id, &outer.id).await?, AddMembers::Cycle(outer.id.clone()), "outer contains inner");
    assert_eq!(add(&inner.id, &stranger.id).await?, AddMembers::Missing(stranger.id.clone()));
    assert_eq!(add(&u.id, &v.id).await?, AddMembers::Missing(u.id.clone()), "a user has no members");
    assert_eq!(
        store.add_members(&t.id, &inner.id, &[v.id.clone(), v.id.to_uppercase()], at(5)).await?,
        AddMembers::Added,
        "the same member twice in one request is added once"
    );
    let (page, more) = store.group_members(&t.id, &inner.id, None, 1).await?;
    ensure!(more && page.len() == 1);
    let (rest, more) = store.group_members(&t.id, &inner.id, Some(&page[0].id), 1).await?;
    ensure!(!more && rest.len() == 1 && rest[0].id != page[0].id);
    let (of, _) = store.member_of(&t.id, &u.id, None, 10).await?;
    assert_eq!(ids_of(&of), vec![inner.id.as_str()], "direct groups only");

    ensure!(store.remove_member(&t.id, &inner.id, &u.id, at(6)).await?);
    ensure!(!store.remove_member(&t.id, &inner.id, &u.id, at(6)).await?);
    ensure!(!store.remove_member(&other.id, &inner.id, &v.id, at(6)).await?, "another tenant's group");
    Ok(())
}

pub async fn listings_filter_on_indexed_properties_and_page<S: Both>(store: Arc<S>) -> Result<()> {
    let (t, other) = (new_tenant(store.as_ref(), "t").await?, new_tenant(store.as_ref(), "o").await?);
    let mut users = Vec::new();
    for (i, name) in ["Adele", "Alex", "Bianca", "Ben", "Carl"].iter().enumerate() {
        let d = json!({"userPrincipalName": format!("{name}@x.com"), "displayName": name, "mail": format!("{name}@Mail.com"),
                       "mailNickname": name, "employeeId": format!("E{i}"), "accountEnabled": i % 2 == 0});
        let o = object(&t, ObjectKind::User, d, i as i64)?;
        store.insert_object(&o, &[]).await?;
        users.push(o);
    }
    user(store.as_ref(), &other, "alex@x.com").await?;
    group(store.as_ref(), &t, "Alpha", &[]).await?;
    let text = |s: &str| Literal::Text(s.to_string());
    let names =
        |objects: &[DirectoryObject]| -> Vec<String> { objects.iter().map(|o| o.display_name().to_string()).collect() };
    let cases: Vec<(ObjectFilter, Vec<&str>)> = vec![
        (ObjectFilter::Eq(Field::UserPrincipalName, text("ALEX@x.com")), vec!["Alex"]),
        (ObjectFilter::Eq(Field::Mail, text("bianca@mail.com")), vec!["Bianca"]),
        (ObjectFilter::Eq(Field::MailNickname, text("ben")), vec!["Ben"]),
        (ObjectFilter::Eq(Field::EmployeeId, text("e4")), vec!["Carl"]),
        (ObjectFilter::Eq(Field::Id, text(&users[2].id.to_uppercase())), vec!["Bianca"]),
        (ObjectFilter::StartsWith(Field::DisplayName, "a".into()), vec!["Adele", "Alex"]),
        (ObjectFilter::Eq(Field::AccountEnabled, Literal::Bool(false)), vec!["Alex", "Ben"]),
        (ObjectFilter::Ne(Field::DisplayName, text("alex")), vec!["Adele", "Bianca", "Ben", "Carl"]),
        (
            ObjectFilter::In(Field::DisplayName, vec![text("carl"), text("adele"), text("nobody")]),
            vec!["Adele", "Carl"],
        ),
        (
            ObjectFilter::Or(
                Box::new(ObjectFilter::StartsWith(Field::DisplayName, "B".into())),
                Box::new(ObjectFilter::And(
                    Box::new(ObjectFilter::StartsWith(Field::Mail, "a".into())),
                    Box::new(ObjectFilter::Eq(Field::AccountEnabled, Literal::Bool(true))),
                )),
            ),
            vec!["Adele", "Bianca", "Ben"],
        ),
        (ObjectFilter::Eq(Field::AccountEnabled, text("true")), vec![]),
    ];
    for (filter, want) in cases {
        let q = ObjectQuery { filter: Some(filter.clone()), count: true, ..ObjectQuery::of(ObjectKind::User) };
        let page = store.list_objects(&t.id, &q).await?;
        assert_eq!(names(&page.items), want, "{filter:?}");
        assert_eq!(page.count, Some(want.len() as u64), "{filter:?}");
    }
    // Paging by cursor visits everyone once, in id order.
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let q = ObjectQuery { after: after.clone(), top: 2, count: true, ..ObjectQuery::of(ObjectKind::User) };
        let page = store.list_objects(&t.id, &q).await?;
        assert_eq!(page.count, Some(5), "the count ignores the cursor");
        seen.extend(page.items.iter().map(|o| o.id.clone()));
        after = page.items.last().map(|o| o.id.clone());
        if !page.more {
            break;
        }
    }
    assert_eq!(seen, users.iter().map(|u| u.id.clone()).collect::<Vec<_>>());
    let all = ObjectQuery { kind: None, ..ObjectQuery::of(ObjectKind::User) };
    assert_eq!(store.list_objects(&t.id, &all).await?.items.len(), 6, "users and groups");
    Ok(())
}

pub async fn the_change_feed_follows_commit_order<S: Both>(store: Arc<S>) -> Result<()> {
    let (t, other) = (new_tenant(store.as_ref(), "t").await?, new_tenant(store.as_ref(), "o").await?);
    assert_eq!(store.latest_change(&t.id).await?, 0);
    let u = user(store.as_ref(), &t, "u@x.com").await?;
    let g = group(store.as_ref(), &t, "g", &[&u.id]).await?;
    let renamed =
        DirectoryObject { doc: doc(json!({"userPrincipalName": "u@x.com", "displayName": "U"})), ..u.clone() };
    store.update_object(&renamed, u.version).await?;
    store.soft_delete(&t.id, &u.id, at(3)).await?;
    store.restore(&t.id, &u.id, at(4)).await?;
    store.remove_member(&t.id, &g.id, &u.id, at(5)).await?;
    store.purge(&t.id, &g.id, at(6)).await?;
    user(store.as_ref(), &other, "elsewhere@x.com").await?;
    let changes = store.changes(&t.id, 0, 100).await?;
    let seen: Vec<(i64, &str, ChangeKind, Option<&str>)> =
        changes.iter().map(|c| (c.seq, c.object_id.as_str(), c.kind, c.related_id.as_deref())).collect();
    let want = vec![
        (1, u.id.as_str(), ChangeKind::Created, None),
        (2, g.id.as_str(), ChangeKind::Created, None),
        (3, g.id.as_str(), ChangeKind::MemberAdded, Some(u.id.as_str())),
        (4, u.id.as_str(), ChangeKind::Updated, None),
        (5, u.id.as_str(), ChangeKind::SoftDeleted, None),
        (6, u.id.as_str(), ChangeKind::Restored, None),
        (7, g.id.as_str(), ChangeKind::MemberRemoved, Some(u.id.as_str())),
        (8, g.id.as_str(), ChangeKind::Deleted, None),
    ];
    assert_eq!(seen, want);
    assert_eq!(store.latest_change(&t.id).await?, 8);
    assert_eq!(store.changes(&t.id, 6, 1).await?.iter().map(|c| c.seq).collect::<Vec<_>>(), vec![7]);
    assert_eq!(store.changes(&other.id, 0, 100).await?.len(), 1, "each tenant has its own feed");

    // Concurrent writers: every position is handed out once, with no gap.
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..20 {
        let (store, t) = (store.clone(), t.clone());
        tasks.spawn(async move { user(store.as_ref(), &t, &format!("c{i}@x.com")).await });
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    let seqs: Vec<i64> = store.changes(&t.id, 8, 100).await?.iter().map(|c| c.seq).collect();
    assert_eq!(seqs, (9..=28).collect::<Vec<_>>());
    Ok(())
}

fn app(t: &Tenant, name: &str, n: i64) -> Result<(Application, ServicePrincipal)> {
    let app = Application {
        id: ids::new_guid(at(n))?,
        tenant_id: t.id.clone(),
        app_id: ids::random_guid()?,
        display_name: name.into(),
        template_id: Some("8adf8e6e-67b2-4cf2-a259-e3dc5476c621".into()),
        doc: Map::new(),
        version: 1,
        created: at(n),
    };
    let sp = ServicePrincipal {
        id: ids::new_guid(at(n))?,
        tenant_id: t.id.clone(),
        app_id: app.app_id.clone(),
        application_id: app.id.clone(),
        display_name: name.into(),
        template_id: app.template_id.clone(),
        app_role_assignment_required: true,
        doc: doc(json!({"tags": ["x"]})),
        version: 1,
        created: at(n),
    };
    Ok((app, sp))
}

fn assignment(t: &Tenant, sp: &ServicePrincipal, principal: &DirectoryObject, n: i64) -> Result<AppRoleAssignment> {
    Ok(AppRoleAssignment {
        id: ids::new_assignment_id()?,
        tenant_id: t.id.clone(),
        resource_id: sp.id.clone(),
        principal_id: principal.id.clone(),
        principal_type: principal.kind,
        app_role_id: DEFAULT_ACCESS_ROLE.into(),
        created: at(n),
    })
}

pub async fn applications_and_assignments<S: Both>(store: Arc<S>) -> Result<()> {
    let (t, other) = (new_tenant(store.as_ref(), "t").await?, new_tenant(store.as_ref(), "o").await?);
    let (a, sp) = app(&t, "Databricks", 1)?;
    store.insert_application(&a, &sp).await?;
    assert_eq!(store.application(&t.id, &a.id).await?, Some(a.clone()));
    assert_eq!(store.application(&other.id, &a.id).await?, None);
    assert_eq!(store.service_principal(&t.id, &sp.id).await?, Some(sp.clone()));
    assert_eq!(store.service_principal_by_app_id(&t.id, &a.app_id.to_uppercase()).await?, Some(sp.clone()));
    let changed = ServicePrincipal { app_role_assignment_required: false, display_name: "DBX".into(), ..sp.clone() };
    assert_eq!(store.update_service_principal(&changed, 1).await?, 2);
    ensure!(matches!(store.update_service_principal(&changed, 1).await, Err(StoreError::VersionMismatch)));
    let renamed = Application { display_name: "DBX".into(), ..a.clone() };
    assert_eq!(store.update_application(&renamed, 1).await?, 2);
    let (apps, more) = store.applications(&t.id, None, 10).await?;
    ensure!(apps.len() == 1 && !more && apps[0].display_name == "DBX");

    let u = user(store.as_ref(), &t, "u@x.com").await?;
    let g = group(store.as_ref(), &t, "g", &[]).await?;
    let first = assignment(&t, &sp, &u, 2)?;
    store.insert_assignment(&first).await?;
    let again = AppRoleAssignment { id: ids::new_assignment_id()?, ..first.clone() };
    ensure!(matches!(store.insert_assignment(&again).await, Err(StoreError::Conflict(_))), "one role once");
    let second = assignment(&t, &sp, &g, 3)?;
    store.insert_assignment(&second).await?;
    let (to, more) = store.assignments_to(&t.id, &sp.id, None, 1).await?;
    ensure!(more && to[0].assignment == first && to[0].principal_display_name == "u@x.com");
    assert_eq!(to[0].resource_display_name, "DBX");
    let (rest, more) = store.assignments_to(&t.id, &sp.id, Some(&first.id), 10).await?;
    ensure!(!more && rest.len() == 1 && rest[0].assignment == second);
    assert_eq!(store.assignments_of(&t.id, &g.id).await?.len(), 1);
    assert_eq!(store.assignment(&other.id, &first.id).await?, None);
    ensure!(store.delete_assignment(&t.id, &first.id, at(4)).await?);
    ensure!(!store.delete_assignment(&t.id, &first.id, at(4)).await?);

    // Deleting the service principal ends its assignments; deleting the application takes its principal.
    ensure!(store.delete_service_principal(&t.id, &sp.id, at(5)).await?);
    assert!(store.assignments_of(&t.id, &g.id).await?.is_empty());
    assert_eq!(store.application(&t.id, &a.id).await?.map(|a| a.id), Some(a.id.clone()));
    let (a2, sp2) = app(&t, "second", 6)?;
    store.insert_application(&a2, &sp2).await?;
    store.insert_assignment(&assignment(&t, &sp2, &u, 7)?).await?;
    ensure!(store.delete_application(&t.id, &a2.id, at(8)).await?);
    assert_eq!(store.service_principal(&t.id, &sp2.id).await?, None);
    let feed: Vec<(String, ChangeKind)> = store
        .changes(&t.id, 0, 100)
        .await?
        .into_iter()
        .filter(|c| matches!(c.kind, ChangeKind::Assigned | ChangeKind::Unassigned))
        .map(|c| (c.object_id, c.kind))
        .collect();
    assert_eq!(
        feed,
        vec![
            (u.id.clone(), ChangeKind::Assigned),
            (g.id.clone(), ChangeKind::Assigned),
            (u.id.clone(), ChangeKind::Unassigned),
            (g.id.clone(), ChangeKind::Unassigned),
            (u.id.clone(), ChangeKind::Assigned),
            (u.id.clone(), ChangeKind::Unassigned),
        ]
    );
    Ok(())
}

pub async fn jobs_and_secrets<S: Both>(store: Arc<S>) -> Result<()> {
    let (t, other) = (new_tenant(store.as_ref(), "t").await?, new_tenant(store.as_ref(), "o").await?);
    let (a, sp) = app(&t, "Databricks", 1)?;
    store.insert_application(&a, &sp).await?;
    let j = job::new(&t.id, &sp.id, "dataBricks", at(2))?;
    store.insert_job(&j).await?;
    let twin = job::new(&t.id, &sp.id, "dataBricks", at(3))?;
    ensure!(matches!(store.insert_job(&twin).await, Err(StoreError::Conflict(_))), "one job per template");
    assert_eq!(store.job(&t.id, &sp.id, &j.id).await?, Some(j.clone()));
    assert_eq!(store.job(&other.id, &sp.id, &j.id).await?, None);
    let mut changed = j.clone();
    job::patch(
        &mut changed,
        &json!({"schedule": {"interval": "PT20M"}, "synchronizationJobSettings": [{"name": "a", "value": "b"}]}),
    )?;
    changed.schema = Some(json!({"synchronizationRules": []}));
    changed.status["code"] = json!("NotRun");
    changed.last_modified = at(4);
    assert_eq!(store.update_job(&changed, 1).await?, 2);
    ensure!(matches!(store.update_job(&changed, 1).await, Err(StoreError::VersionMismatch)));
    assert_eq!(store.jobs(&t.id, &sp.id).await?, vec![idplane_provisioning::job::SyncJob { version: 2, ..changed }]);

    store
        .put_secrets(
            &t.id,
            &sp.id,
            &[("BaseAddress".into(), Some(b"u".to_vec())), ("SecretToken".into(), Some(b"s".to_vec()))],
        )
        .await?;
    store
        .put_secrets(&t.id, &sp.id, &[("SecretToken".into(), Some(b"s2".to_vec())), ("BaseAddress".into(), None)])
        .await?;
    let secrets = store.secrets(&t.id, &sp.id).await?;
    assert_eq!(
        secrets.iter().map(|s| (s.key.as_str(), s.sealed.as_slice())).collect::<Vec<_>>(),
        vec![("SecretToken", &b"s2"[..])]
    );
    assert!(store.secrets(&other.id, &sp.id).await?.is_empty(), "another tenant's");
    ensure!(store.put_secrets(&other.id, &sp.id, &[("SyncAll".into(), Some(b"true".to_vec()))]).await.is_err());

    ensure!(store.delete_job(&t.id, &sp.id, &j.id).await?);
    ensure!(!store.delete_job(&t.id, &sp.id, &j.id).await?);
    store.insert_job(&twin).await?;
    ensure!(store.delete_service_principal(&t.id, &sp.id, at(5)).await?);
    assert!(store.jobs(&t.id, &sp.id).await?.is_empty(), "jobs go with their service principal");
    assert!(store.secrets(&t.id, &sp.id).await?.is_empty(), "secrets too");
    Ok(())
}

pub async fn run_state_leases_links_and_escrows<S: Both>(store: Arc<S>) -> Result<()> {
    let t = new_tenant(store.as_ref(), "t").await?;
    let (a, sp) = app(&t, "Databricks", 1)?;
    store.insert_application(&a, &sp).await?;
    let j = job::new(&t.id, &sp.id, "dataBricks", at(2))?;
    store.insert_job(&j).await?;
    assert_eq!(store.run_state(&j.id).await?, None);
    ensure!(!store.acquire_lease(&j.id, "n1", at(100), at(3)).await?, "no run state, no lease");

    let mut state = RunState::new(&j.id, &t.id, &sp.id, at(10));
    state.data.cycles = 2;
    store.put_run_state(&state).await?;
    assert_eq!(store.run_state(&j.id).await?, Some(state.clone()));
    assert!(store.due_runs(at(9), 10).await?.is_empty(), "not due before next_run");
    assert_eq!(store.due_runs(at(10), 10).await?, vec![state.clone()]);

    ensure!(store.acquire_lease(&j.id, "n1", at(70), at(10)).await?);
    assert_eq!(store.run_state(&j.id).await?.and_then(|s| s.lease_owner), Some("n1".into()), "who runs the job");
    ensure!(!store.acquire_lease(&j.id, "n2", at(80), at(20)).await?, "held by n1 until 70");
    assert!(store.due_runs(at(20), 10).await?.is_empty(), "a leased job is not due to others");
    ensure!(store.acquire_lease(&j.id, "n1", at(90), at(30)).await?, "n1 renews");
    state.watermark = Some(42);
    store.put_run_state(&state).await?;
    ensure!(!store.acquire_lease(&j.id, "n2", at(99), at(60)).await?, "writing the state keeps the lease");
    ensure!(store.acquire_lease(&j.id, "n2", at(200), at(91)).await?, "expired: n2 takes over");
    store.release_lease(&j.id, "n1").await?;
    ensure!(!store.acquire_lease(&j.id, "n1", at(300), at(92)).await?, "n1 cannot release n2's lease");
    store.release_lease(&j.id, "n2").await?;
    ensure!(store.acquire_lease(&j.id, "n1", at(300), at(93)).await?);
    assert_eq!(store.run_state(&j.id).await?.and_then(|s| s.watermark), Some(42));
    let progress = json!({"completedUnits": 64, "totalUnits": 300, "units": "objects"});
    store.set_progress(&j.id, Some(&progress)).await?;
    store.put_run_state(&state).await?;
    assert_eq!(
        store.run_state(&j.id).await?.and_then(|s| s.data.running),
        Some(progress),
        "writing the state keeps it"
    );
    store.set_progress(&j.id, None).await?;
    assert_eq!(store.run_state(&j.id).await?.and_then(|s| s.data.running), None);

    let link = |source: &str, target: &str, kind: &str| Link {
        job_id: j.id.clone(),
        source_id: source.into(),
        object_type: kind.into(),
        target_id: target.into(),
        display_name: format!("name of {source}"),
        active: true,
        updated: at(5),
    };
    for l in [link("s1", "t1", "User"), link("s2", "t2", "User"), link("g1", "tg", "Group")] {
        store.put_link(&l).await?;
    }
    store.put_link(&Link { active: false, ..link("s2", "t2b", "User") }).await?;
    let got = store.links(&j.id, &["s2".into(), "s1".into(), "nope".into()]).await?;
    assert_eq!(
        got.iter().map(|l| (l.source_id.as_str(), l.target_id.as_str(), l.active)).collect::<Vec<_>>(),
        vec![("s1", "t1", true), ("s2", "t2b", false)]
    );
    assert_eq!(store.link_by_target(&j.id, "t2b").await?.map(|l| l.source_id), Some("s2".into()));
    assert_eq!(store.link_by_target(&j.id, "t2").await?, None);
    let page = store.links_page(&j.id, Some("g1"), 1).await?;
    assert_eq!(page.iter().map(|l| l.source_id.as_str()).collect::<Vec<_>>(), vec!["s1"]);
    assert_eq!(store.link_counts(&j.id).await?, vec![("Group".into(), 1), ("User".into(), 2)]);
    ensure!(store.delete_link(&j.id, "s1").await?);
    ensure!(!store.delete_link(&j.id, "s1").await?);

    let escrow = |source: &str, next: i64| Escrow {
        job_id: j.id.clone(),
        source_id: source.into(),
        object_type: "User".into(),
        attempts: 1,
        first_failed: at(5),
        next_attempt: at(next),
        error_code: "InternalServerError".into(),
        reason: "500".into(),
    };
    store.put_escrow(&escrow("s1", 50)).await?;
    store.put_escrow(&escrow("s2", 40)).await?;
    store.put_escrow(&Escrow { attempts: 2, ..escrow("s1", 30) }).await?;
    let due = store.escrows_due(&j.id, at(45), 10).await?;
    assert_eq!(due.iter().map(|e| (e.source_id.as_str(), e.attempts)).collect::<Vec<_>>(), vec![("s1", 2), ("s2", 1)]);
    assert_eq!(store.escrow_count(&j.id).await?, 2);
    assert_eq!(store.escrow(&j.id, "s2").await?, Some(escrow("s2", 40)));
    ensure!(store.delete_escrow(&j.id, "s2").await?);
    assert_eq!(store.delete_escrows(&j.id).await?, 1);

    store.delete_run_state(&j.id).await?;
    assert_eq!(store.run_state(&j.id).await?, None);
    assert!(store.links(&j.id, &["s2".into()]).await?.is_empty(), "links go with the run state");
    store.put_run_state(&state).await?;
    store.put_link(&link("s9", "t9", "User")).await?;
    ensure!(store.delete_job(&t.id, &sp.id, &j.id).await?);
    assert_eq!(store.run_state(&j.id).await?, None, "and with the job");
    Ok(())
}
