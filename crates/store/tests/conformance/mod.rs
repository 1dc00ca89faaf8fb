//! The conformance suite of the core's `Store` port: what every backend (SQLite now, PostgreSQL later) must do. Each
//! case is a generic `async fn(Arc<S>)` on a fresh, empty store; [`conformance_tests!`] turns them into one
//! `#[tokio::test]` each for a backend, given an expression that makes `(store, guard)` (the guard keeps whatever the
//! store needs alive, such as a temporary directory, until the test ends).

use std::sync::Arc;

use anyhow::{Result, bail, ensure};
use idplane_core::assignment::Permission;
use idplane_core::audit::{
    Actor, ActorKind, AuditCursor, AuditEntry, AuditQuery, AuditRecord, Change, Operation, ResourceType,
};
use idplane_core::error::StoreError;
use idplane_core::ids;
use idplane_core::principal::{GroupRef, Home, Member, Principal, PrincipalKind};
use idplane_core::store::{
    ListSpec, Listing, MemberOp, NewMember, NewPrincipal, PrincipalUpdate, Sort, Store, TokenFilter, Total, ValueOp,
    Want,
};
use idplane_core::tenancy::{Account, Scope, Workspace};
use idplane_core::token::{Secret, Token, TokenKind, TokenScope};
use idplane_scim::filter::{AttrPath, CompValue, CompareOp, Filter};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

pub mod agents;
pub mod logs;
pub mod provisioning;

/// Defines one test per conformance case for the backend that `$make` creates.
macro_rules! conformance_tests {
    ($make:expr $(, #[$attr:meta])?) => {
        conformance_tests!(@cases $make, [$($attr)?];
            tenancy,
            settings,
            tokens,
            principal_round_trip,
            visibility,
            uniqueness_is_case_insensitive,
            uniqueness_holds_under_concurrency,
            members_add_remove_clear,
            member_references_are_checked,
            groups_of_nested_groups,
            groups_of_with_a_cycle,
            groups_of_respects_visibility,
            visibility_through_groups,
            version_mismatch,
            delete_cascades,
            list_translated_filters,
            list_group_filters,
            list_service_principal_filters,
            list_paging_and_sorting,
            list_in_workspace_scopes,
            list_untranslatable_filters,
            listing_agrees_with_the_evaluator,
            listings_without_an_index_are_bounded,
            views_carry_what_rendering_wants,
            page_items_carry_what_rendering_wants,
            email_index_follows_every_change,
            counts_of_whole_scopes_follow_writes,
            audit_entries_are_written_with_their_change,
            audit_entries_round_trip_filter_and_page,
            audit_purge_removes_only_older_entries,
        );
    };
    (@cases $make:expr, $attrs:tt; $($case:ident),* $(,)?) => {
        $(conformance_tests!(@case $make, $attrs, $case);)*
    };
    (@case $make:expr, [$($attr:meta)?], $case:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        $(#[$attr])?
        async fn $case() -> anyhow::Result<()> {
            let (store, _guard) = $make;
            crate::conformance::$case(std::sync::Arc::new(store)).await
        }
    };
}
pub(crate) use conformance_tests;

// ---- fixtures ----

/// A fixed instant with nanoseconds, `n` seconds on: timestamps must round-trip exactly.
pub fn at(n: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(1_700_000_000_123_456_789 + i128::from(n) * 1_000_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

pub async fn account<S: Store>(store: &S, name: &str) -> Result<Account> {
    let a = Account { id: ids::new_uuid()?, name: name.into(), created: at(0) };
    store.insert_account(&a, &[]).await?;
    Ok(a)
}

pub async fn workspace<S: Store>(store: &S, account: &Account, federated: bool) -> Result<Workspace> {
    let w = Workspace {
        id: ids::new_numeric_id()?,
        account_id: account.id.clone(),
        name: format!("ws{}", if federated { "-federated" } else { "" }),
        identity_federation: federated,
        created: at(0),
    };
    store.insert_workspace(&w, &[]).await?;
    Ok(w)
}

pub fn account_scope(a: &Account) -> Scope {
    Scope::Account { account_id: a.id.clone() }
}

/// A principal (not stored) of `kind` with document `doc`.
pub fn principal(kind: PrincipalKind, account: &Account, home: Home, doc: Value) -> Result<Principal> {
    Ok(Principal {
        id: ids::new_numeric_id()?,
        kind,
        account_id: account.id.clone(),
        home,
        doc,
        version: 1,
        created: at(0),
        last_modified: at(0),
    })
}

/// Stores a user named `user_name` in `home`.
pub async fn user<S: Store>(store: &S, account: &Account, home: Home, user_name: &str) -> Result<Principal> {
    let p = principal(PrincipalKind::User, account, home, json!({ "userName": user_name }))?;
    store.insert_principal(&bare(p.clone()), &[]).await?;
    Ok(p)
}

/// A principal to insert with nothing else.
pub fn bare(p: Principal) -> NewPrincipal {
    NewPrincipal::bare(p)
}

/// A principal to insert with its members, assignment and workspace values.
pub fn new_principal(
    p: &Principal,
    members: &[NewMember],
    assign_to: Option<i64>,
    values: Option<&(i64, Vec<ValueOp>)>,
) -> NewPrincipal {
    NewPrincipal { principal: p.clone(), members: members.to_vec(), assign_to, values: values.cloned() }
}

/// Members known by id only.
pub fn new_members(ids: &[i64]) -> Vec<NewMember> {
    ids.iter().map(|&id| NewMember::from(id)).collect()
}

/// Stores a group named `name` of the account, with `members`.
pub async fn group<S: Store>(store: &S, account: &Account, name: &str, members: &[i64]) -> Result<Principal> {
    let p = principal(PrincipalKind::Group, account, Home::Account, json!({ "displayName": name }))?;
    store.insert_principal(&new_principal(&p, &new_members(members), None, None), &[]).await?;
    Ok(p)
}

fn sorted(mut ids: Vec<i64>) -> Vec<i64> {
    ids.sort_unstable();
    ids
}

fn ids_of<P: AsRef<Principal>>(ps: &[P]) -> Vec<i64> {
    ps.iter().map(|p| p.as_ref().id).collect()
}

/// Applies a member change at the current version.
async fn change_members<S: Store>(store: &S, group: &Principal, ops: Vec<MemberOp>) -> Result<(), StoreError> {
    let version = match store.principal(&account_scope_of(group), None, group.id).await? {
        Some(p) => p.version,
        None => group.version,
    };
    store
        .update_principal(
            &PrincipalUpdate {
                id: group.id,
                expected_version: Some(version),
                doc: None,
                members: ops,
                workspace_values: None,
                last_modified: at(100),
            },
            &[],
        )
        .await
        .map(drop)
}

fn account_scope_of(p: &Principal) -> Scope {
    match p.home {
        Home::Account => Scope::Account { account_id: p.account_id.clone() },
        Home::Workspace(w) => Scope::Workspace { account_id: p.account_id.clone(), workspace_id: w, federated: false },
    }
}

async fn member_ids<S: Store>(store: &S, group: &Principal) -> Result<Vec<i64>> {
    Ok(store.members(group.id).await?.into_iter().map(|m| m.id).collect())
}

// ---- filters, built by hand so that the suite does not depend on the parser ----

/// `name`, `name.sub`, or either prefixed with a schema URN (`urn:...:User:userName`).
pub fn path(s: &str) -> AttrPath {
    let (urn, rest) = match s.rsplit_once(':') {
        Some((urn, rest)) if s.starts_with("urn:") => (Some(urn.to_string()), rest),
        _ => (None, s),
    };
    let (name, sub) = match rest.split_once('.') {
        Some((name, sub)) => (name.to_string(), Some(sub.to_string())),
        None => (rest.to_string(), None),
    };
    AttrPath { urn, name, sub }
}

pub fn cmp(attr: &str, op: CompareOp, value: CompValue) -> Filter {
    Filter::Compare(path(attr), op, value)
}

pub fn op(attr: &str, op: CompareOp, value: &str) -> Filter {
    cmp(attr, op, CompValue::String(value.into()))
}

pub fn eq(attr: &str, value: &str) -> Filter {
    op(attr, CompareOp::Eq, value)
}

pub fn and(a: Filter, b: Filter) -> Filter {
    Filter::And(Box::new(a), Box::new(b))
}

pub fn or(a: Filter, b: Filter) -> Filter {
    Filter::Or(Box::new(a), Box::new(b))
}

pub fn not(a: Filter) -> Filter {
    Filter::Not(Box::new(a))
}

pub fn pr(attr: &str) -> Filter {
    Filter::Present(path(attr))
}

fn rfc3339(t: OffsetDateTime) -> Result<String> {
    Ok(t.format(&Rfc3339)?)
}

/// An instant as clients see it in `meta`: milliseconds, UTC.
pub fn shown(t: OffsetDateTime) -> Result<String> {
    let t = t.to_offset(time::UtcOffset::UTC);
    rfc3339(t.replace_nanosecond(t.nanosecond() / 1_000_000 * 1_000_000)?)
}

pub fn spec(filter: Option<&Filter>) -> ListSpec<'_> {
    ListSpec::page(filter, 1000)
}

/// The page a listing must be: the store translated all of it.
pub async fn page<S: Store>(
    store: &S,
    scope: &Scope,
    kind: PrincipalKind,
    spec: &ListSpec<'_>,
) -> Result<(usize, Vec<i64>)> {
    match store.list_principals(scope, kind, spec).await? {
        Listing::Page { total, items } => Ok((total, ids_of(&items))),
        other => bail!("expected a page for {spec:?}, got {other:?}"),
    }
}

/// Asserts that `filter` lists exactly `expected` (in id order), as a page.
async fn expect<S: Store>(
    store: &S,
    scope: &Scope,
    kind: PrincipalKind,
    filter: &Filter,
    expected: &[i64],
) -> Result<()> {
    let (total, ids) = page(store, scope, kind, &spec(Some(filter))).await?;
    let want = sorted(expected.to_vec());
    ensure!(ids == want && total == want.len(), "{filter:?}: got {ids:?} (total {total}), want {want:?}");
    Ok(())
}

// ---- cases: tenancy, settings, tokens ----

pub async fn tenancy<S: Store>(store: Arc<S>) -> Result<()> {
    ensure!(store.accounts().await?.is_empty());
    let a = account(&*store, "first").await?;
    let b = account(&*store, "second").await?;
    assert_eq!(store.account(&a.id).await?, Some(a.clone()));
    assert_eq!(store.account("no-such-account").await?, None);
    let mut all = store.accounts().await?;
    all.sort_by(|x, y| x.id.cmp(&y.id));
    let mut want = vec![a.clone(), b.clone()];
    want.sort_by(|x, y| x.id.cmp(&y.id));
    assert_eq!(all, want);
    assert!(matches!(store.insert_account(&a, &[]).await, Err(StoreError::Conflict(_))));

    let w1 = workspace(&*store, &a, false).await?;
    let w2 = workspace(&*store, &a, true).await?;
    let w3 = workspace(&*store, &b, true).await?;
    assert_eq!(store.workspace(w2.id).await?, Some(w2.clone()));
    assert_eq!(store.workspace(1).await?, None);
    assert_eq!(sorted_workspaces(store.workspaces(&a.id).await?), sorted_workspaces(vec![w1.clone(), w2.clone()]));
    assert_eq!(store.workspaces(&b.id).await?, vec![w3]);
    assert!(matches!(store.insert_workspace(&w1, &[]).await, Err(StoreError::Conflict(_))));
    // A workspace of an account that does not exist is refused.
    let orphan = Workspace { id: ids::new_numeric_id()?, account_id: "missing".into(), ..w1 };
    assert!(store.insert_workspace(&orphan, &[]).await.is_err());
    Ok(())
}

fn sorted_workspaces(mut ws: Vec<Workspace>) -> Vec<Workspace> {
    ws.sort_by_key(|w| w.id);
    ws
}

pub async fn settings<S: Store>(store: Arc<S>) -> Result<()> {
    assert_eq!(store.setting("default_account").await?, None);
    store.set_setting("default_account", "a").await?;
    assert_eq!(store.setting("default_account").await?.as_deref(), Some("a"));
    store.set_setting("default_account", "b").await?;
    assert_eq!(store.setting("default_account").await?.as_deref(), Some("b"));
    // A claim succeeds once; a later one neither succeeds nor overwrites.
    ensure!(store.claim_setting("claim", "first").await?);
    ensure!(!store.claim_setting("claim", "second").await?);
    assert_eq!(store.setting("claim").await?.as_deref(), Some("first"));
    Ok(())
}

pub async fn tokens<S: Store>(store: Arc<S>) -> Result<()> {
    let a = account(&*store, "a").await?;
    let w = workspace(&*store, &a, true).await?;
    let u = user(&*store, &a, Home::Account, "owner@x").await?;

    let s1 = Secret::generate()?;
    let t1 = Token::new(&s1, TokenScope::Account { account_id: a.id.clone() }, None, "admin", at(1), None);
    store.insert_token(&t1, &[]).await?;
    let s2 = Secret::generate()?;
    let scope = TokenScope::Workspace { account_id: a.id.clone(), workspace_id: w.id };
    let t2 = Token::new(&s2, scope, Some(u.id), "me", at(2), Some(at(3))).with_kind(TokenKind::Personal);
    store.insert_token(&t2, &[]).await?;
    let s3 = Secret::generate()?;
    let t3 = Token::new(&s3, TokenScope::Account { account_id: a.id.clone() }, None, "scim", at(4), None)
        .with_kind(TokenKind::Scim);
    store.insert_token(&t3, &[]).await?;

    assert_eq!(store.token_by_hash(&s1.hash()).await?, Some(t1.clone()));
    assert_eq!(store.token_by_hash(&s2.hash()).await?, Some(t2.clone()));
    assert_eq!(store.token_by_hash(&Secret::generate()?.hash()).await?, None);
    assert_eq!(store.token(&t3.id).await?, Some(t3.clone()));
    assert!(matches!(store.insert_token(&t1, &[]).await, Err(StoreError::Conflict(_))));

    let ids = |tokens: Vec<Token>| tokens.into_iter().map(|t| t.id).collect::<Vec<_>>();
    let all = TokenFilter::default();
    assert_eq!(ids(store.tokens(&a.id, &all).await?), vec![t1.id.clone(), t2.id.clone(), t3.id.clone()]);
    let scim = TokenFilter { kind: Some(TokenKind::Scim), ..TokenFilter::default() };
    assert_eq!(ids(store.tokens(&a.id, &scim).await?), vec![t3.id.clone()]);
    let in_w = TokenFilter { workspace_id: Some(Some(w.id)), principal_id: Some(u.id), ..TokenFilter::default() };
    assert_eq!(ids(store.tokens(&a.id, &in_w).await?), vec![t2.id.clone()]);
    let account_wide = TokenFilter { workspace_id: Some(None), ..TokenFilter::default() };
    assert_eq!(ids(store.tokens(&a.id, &account_wide).await?), vec![t1.id.clone(), t3.id.clone()]);
    assert!(store.tokens("another account", &all).await?.is_empty());

    ensure!(store.set_token_expiry(&t3.id, Some(at(9)), &[]).await?);
    assert_eq!(store.token(&t3.id).await?.and_then(|t| t.expires), Some(at(9)));
    ensure!(store.delete_token(&t3.id, &[]).await?);
    ensure!(!store.delete_token(&t3.id, &[]).await?);
    ensure!(!store.set_token_expiry(&t3.id, None, &[]).await?);
    assert_eq!(store.token_by_hash(&s3.hash()).await?, None, "a revoked token is gone");
    Ok(())
}

// ---- cases: principals ----

pub async fn principal_round_trip<S: Store>(store: Arc<S>) -> Result<()> {
    let a = account(&*store, "a").await?;
    let scope = account_scope(&a);
    let doc = json!({
        "userName": "Ünïcødé@Example.com",
        "displayName": "Zoë",
        "externalId": "ext-1",
        "active": true,
        "name": {"givenName": "Zoë", "familyName": "Q"},
        "emails": [{"value": "z@example.com", "primary": true}],
    });
    let mut p = principal(PrincipalKind::User, &a, Home::Account, doc)?;
    p.created = at(1);
    p.last_modified = at(2);
    store.insert_principal(&bare(p.clone()), &[]).await?;
    assert_eq!(store.principal(&scope, None, p.id).await?, Some(p.clone()));
    assert_eq!(store.principal(&scope, Some(PrincipalKind::User), p.id).await?, Some(p.clone()));
    assert_eq!(store.principal(&scope, Some(PrincipalKind::Group), p.id).await?, None);
    assert_eq!(store.principal(&scope, None, p.id + 1).await?, None);
    let found = store.principals(&scope, &[p.id, p.id + 1, p.id]).await?;
    assert_eq!(found, vec![p.clone()]);

    let sp = principal(
        PrincipalKind::ServicePrincipal,
        &a,
        Home::Account,
        json!({"applicationId": "9a1e7c4e-0000-4000-8000-000000000001", "displayName": "robot"}),
    )?;
    store.insert_principal(&bare(sp.clone()), &[]).await?;
    let g = group(&*store, &a, "Admins", &[p.id, sp.id]).await?;
    assert_eq!(store.members(g.id).await?, {
        let mut m = vec![
            Member {
                id: p.id,
                kind: PrincipalKind::User,
                display: "Zoë".into(),
                given_reference: None,
                given_display: None,
            },
            Member {
                id: sp.id,
                kind: PrincipalKind::ServicePrincipal,
                display: "robot".into(),
                given_reference: None,
                given_display: None,
            },
        ];
        m.sort_by_key(|m| m.id);
        m
    });
    // Without displayName, the display is the unique attribute.
    let bare = user(&*store, &a, Home::Account, "bare@x").await?;
    change_members(&*store, &g, vec![MemberOp::add(vec![bare.id])]).await?;
    let members = store.members(g.id).await?;
    ensure!(members.iter().any(|m| m.id == bare.id && m.display == "bare@x"), "{members:?}");
    // What a client wrote for a member is kept with the membership, and a later add rewrites it.
    let noted =
        |reference: &str| NewMember { id: bare.id, reference: Some(reference.into()), display: Some("B".into()) };
    change_members(&*store, &g, vec![MemberOp::Add(vec![noted("https://x/Users/1")])]).await?;
    change_members(&*store, &g, vec![MemberOp::Add(vec![noted("https://y/Users/1")])]).await?;
    let members = store.members(g.id).await?;
    let m = members.iter().find(|m| m.id == bare.id);
    assert_eq!(m.and_then(|m| m.given_reference.as_deref()), Some("https://y/Users/1"));
    assert_eq!(m.and_then(|m| m.given_display.as_deref()), Some("B"));
    assert_eq!(m.map(|m| m.display.as_str()), Some("bare@x"), "the member's own name is still known");
    Ok(())
}

pub async fn visibility<S: Store>(store: Arc<S>) -> Result<()> {
    let a = account(&*store, "a").await?;
    let b = account(&*store, "b").await?;
    let plain = workspace(&*store, &a, false).await?;
    let fed = workspace(&*store, &a, true).await?;
    let fed_other = workspace(&*store, &a, true).await?;

    let acct = user(&*store, &a, Home::Account, "account-only@x").await?;
    let assigned = principal(PrincipalKind::User, &a, Home::Account, json!({"userName": "assigned@x"}))?;
    store.insert_principal(&new_principal(&assigned, &[], Some(fed.id), None), &[]).await?;
    let local_plain = user(&*store, &a, Home::Workspace(plain.id), "local@plain").await?;
    let local_fed = user(&*store, &a, Home::Workspace(fed.id), "local@fed").await?;
    let other = user(&*store, &b, Home::Account, "other@b").await?;
    let everyone = [acct.id, assigned.id, local_plain.id, local_fed.id, other.id];

    let cases = [
        (account_scope(&a), vec![acct.id, assigned.id]),
        (Scope::for_workspace(&plain), vec![local_plain.id]),
        (Scope::for_workspace(&fed), vec![assigned.id, local_fed.id]),
        (Scope::for_workspace(&fed_other), vec![]),
        (account_scope(&b), vec![other.id]),
    ];
    for (scope, want) in cases {
        let want = sorted(want);
        let mut seen = Vec::new();
        for id in everyone {
            if store.principal(&scope, None, id).await?.is_some() {
                seen.push(id);
            }
        }
        assert_eq!(sorted(seen), want, "principal() in {scope:?}");
        assert_eq!(sorted(ids_of(&store.principals(&scope, &everyone).await?)), want, "principals() in {scope:?}");
        let (total, listed) = page(&*store, &scope, PrincipalKind::User, &spec(None)).await?;
        assert_eq!((total, listed), (want.len(), want.clone()), "list in {scope:?}");
    }

    // A workspace-local principal must live in a workspace of its own account; assignments likewise.
    let b_ws = workspace(&*store, &b, false).await?;
    let stray = principal(PrincipalKind::User, &a, Home::Workspace(b_ws.id), json!({"userName": "stray@x"}))?;
    assert!(store.insert_principal(&bare(stray.clone()), &[]).await.is_err());
    let stray = principal(PrincipalKind::User, &a, Home::Account, json!({"userName": "stray@x"}))?;
    assert!(store.insert_principal(&new_principal(&stray, &[], Some(b_ws.id), None), &[]).await.is_err());
    assert_eq!(store.principal(&account_scope(&a), None, stray.id).await?, None, "rolled back whole");
    Ok(())
}

pub async fn uniqueness_is_case_insensitive<S: Store>(store: Arc<S>) -> Result<()> {
    let a = account(&*store, "a").await?;
    let b = account(&*store, "b").await?;
    let w = workspace(&*store, &a, false).await?;
    let alice = user(&*store, &a, Home::Account, "Alice@X").await?;
    let dup = principal(PrincipalKind::User, &a, Home::Account, json!({"userName": "alice@x"}))?;
    assert!(matches!(store.insert_principal(&bare(dup.clone()), &[]).await, Err(StoreError::Conflict("userName"))));
    // Other homes and other accounts have their own names.
    user(&*store, &a, Home::Workspace(w.id), "ALICE@x").await?;
    user(&*store, &b, Home::Account, "alice@X").await?;
    // Other kinds too.
    group(&*store, &a, "alice@x", &[]).await?;
    let g2 = principal(PrincipalKind::Group, &a, Home::Account, json!({"displayName": "ALICE@X"}))?;
    assert!(matches!(store.insert_principal(&bare(g2.clone()), &[]).await, Err(StoreError::Conflict("displayName"))));
    let sp = principal(PrincipalKind::ServicePrincipal, &a, Home::Account, json!({"applicationId": "App-1"}))?;
    store.insert_principal(&bare(sp.clone()), &[]).await?;
    let sp2 = principal(PrincipalKind::ServicePrincipal, &a, Home::Account, json!({"applicationId": "app-1"}))?;
    assert!(matches!(
        store.insert_principal(&bare(sp2.clone()), &[]).await,
        Err(StoreError::Conflict("applicationId"))
    ));
    // The same id twice.
    let same_id = Principal { doc: json!({"userName": "someone-else@x"}), ..alice.clone() };
    assert!(matches!(store.insert_principal(&bare(same_id.clone()), &[]).await, Err(StoreError::Conflict(_))));
    // Renaming onto a taken name.
    let bob = user(&*store, &a, Home::Account, "bob@x").await?;
    let rename = PrincipalUpdate {
        id: bob.id,
        expected_version: Some(1),
        doc: Some(json!({"userName": "ALICE@x"})),
        members: vec![],
        workspace_values: None,
        last_modified: at(5),
    };
    assert!(matches!(store.update_principal(&rename, &[]).await, Err(StoreError::Conflict("userName"))));
    assert_eq!(store.principal(&account_scope(&a), None, bob.id).await?, Some(bob.clone()), "unchanged");
    // Renaming to a different case of one's own name is fine.
    let recase = PrincipalUpdate { doc: Some(json!({"userName": "BOB@x"})), ..rename };
    store.update_principal(&recase, &[]).await?;
    Ok(())
}

pub async fn uniqueness_holds_under_concurrency<S: Store>(store: Arc<S>) -> Result<()> {
    let a = account(&*store, "a").await?;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..20 {
        let name = if i % 2 == 0 { "Racer@Example.com" } else { "racer@example.COM" };
        let p = principal(PrincipalKind::User, &a, Home::Account, json!({ "userName": name }))?;
        let store = Arc::clone(&store);
        tasks.spawn(async move { store.insert_principal(&bare(p.clone()), &[]).await });
    }
    let (mut ok, mut conflicts) = (0, 0);
    while let Some(joined) = tasks.join_next().await {
        match joined? {
            Ok(()) => ok += 1,
            Err(StoreError::Conflict("userName")) => conflicts += 1,
            Err(e) => bail!("unexpected error: {e}"),
        }
    }
    assert_eq!((ok, conflicts), (1, 19));
    let (total, _) = page(&*store, &account_scope(&a), PrincipalKind::User, &spec(None)).await?;
    assert_eq!(total, 1);
    Ok(())
}

pub async fn members_add_remove_clear<S: Store>(store: Arc<S>) -> Result<()> {
    let a = account(&*store, "a").await?;
    let u: Vec<Principal> = {
        let mut u = Vec::new();
        for i in 0..4 {
            u.push(user(&*store, &a, Home::Account, &format!("u{i}@x")).await?);
        }
        u
    };
    let g = group(&*store, &a, "g", &[u[0].id]).await?;
    assert_eq!(member_ids(&*store, &g).await?, vec![u[0].id]);

    change_members(&*store, &g, vec![MemberOp::add(vec![u[1].id, u[2].id, u[1].id, u[0].id])]).await?;
    assert_eq!(member_ids(&*store, &g).await?, sorted(vec![u[0].id, u[1].id, u[2].id]));

    change_members(&*store, &g, vec![MemberOp::Remove(vec![u[1].id, u[3].id, 42])]).await?;
    assert_eq!(member_ids(&*store, &g).await?, sorted(vec![u[0].id, u[2].id]));

    // Operations apply in order: clear, then add.
    change_members(&*store, &g, vec![MemberOp::Clear, MemberOp::add(vec![u[3].id])]).await?;
    assert_eq!(member_ids(&*store, &g).await?, vec![u[3].id]);
    change_members(&*store, &g, vec![MemberOp::Clear]).await?;
    assert_eq!(member_ids(&*store, &g).await?, Vec::<i64>::new());

    // A group is never its own member: asking is a no-op.
    change_members(&*store, &g, vec![MemberOp::add(vec![g.id, u[0].id])]).await?;
    assert_eq!(member_ids(&*store, &g).await?, vec![u[0].id]);

    // Each change bumps the version once.
    let now = store.principal(&account_scope(&a), None, g.id).await?;
    assert_eq!(now.map(|p| (p.version, p.last_modified)), Some((6, at(100))));
    Ok(())
}

pub async fn member_references_are_checked<S: Store>(store: Arc<S>) -> Result<()> {
    let a = account(&*store, "a").await?;
    let b = account(&*store, "b").await?;
    let w = workspace(&*store, &a, false).await?;
    let u = user(&*store, &a, Home::Account, "u@x").await?;
    let local = user(&*store, &a, Home::Workspace(w.id), "local@x").await?;
    let foreign = user(&*store, &b, Home::Account, "f@x").await?;
    let g = group(&*store, &a, "g", &[u.id]).await?;

    // Any principal of the same account may be a member, wherever its home.
    change_members(&*store, &g, vec![MemberOp::add(vec![local.id])]).await?;
    for missing in [foreign.id, 7] {
        let err = change_members(&*store, &g, vec![MemberOp::Remove(vec![u.id]), MemberOp::add(vec![missing])]).await;
        assert!(matches!(err, Err(StoreError::MissingReference(id)) if id == missing), "{err:?}");
    }
    // Nothing of a failed update applies: u is still a member and the version did not move.
    assert_eq!(member_ids(&*store, &g).await?, sorted(vec![u.id, local.id]));
    assert_eq!(store.principal(&account_scope(&a), None, g.id).await?.map(|p| p.version), Some(2));

    let g2 = principal(PrincipalKind::Group, &a, Home::Account, json!({"displayName": "g2"}))?;
    let err = store.insert_principal(&new_principal(&g2, &new_members(&[u.id, foreign.id]), None, None), &[]).await;
    assert!(matches!(err, Err(StoreError::MissingReference(id)) if id == foreign.id), "{err:?}");
    assert_eq!(store.principal(&account_scope(&a), None, g2.id).await?, None, "the insert rolled back");
    Ok(())
}

pub async fn groups_of_nested_groups<S: Store>(store: Arc<S>) -> Result<()> {
    let a = account(&*store, "a").await?;
    let u = user(&*store, &a, Home::Account, "u@x").await?;
    let g1 = group(&*store, &a, "level1", &[u.id]).await?;
    let g2 = group(&*store, &a, "level2", &[g1.id]).await?;
    let g3 = group(&*store, &a, "level3", &[g2.id]).await?;
    let unrelated = group(&*store, &a, "unrelated", &[]).await?;
    let scope = account_scope(&a);

    let mut want = vec![
        GroupRef { id: g1.id, display: "level1".into(), direct: true },
        GroupRef { id: g2.id, display: "level2".into(), direct: false },
        GroupRef { id: g3.id, display: "level3".into(), direct: false },
    ];
    want.sort_by_key(|g| g.id);
    assert_eq!(store.groups_of(&scope, u.id).await?, want);

    // A direct membership wins over an indirect one to the same group; each group appears once.
    change_members(&*store, &g3, vec![MemberOp::add(vec![u.id])]).await?;
    for g in &mut want {
        g.direct |= g.id == g3.id;
    }
    assert_eq!(store.groups_of(&scope, u.id).await?, want);
    assert_eq!(store.groups_of(&scope, unrelated.id).await?, vec![]);
    Ok(())
}

pub async fn groups_of_with_a_cycle<S: Store>(store: Arc<S>) -> Result<()> {
    let a = account(&*store, "a").await?;
    let u = user(&*store, &a, Home::Account, "u@x").await?;
    let g1 = group(&*store, &a, "g1", &[u.id]).await?;
    let g2 = group(&*store, &a, "g2", &[g1.id]).await?;
    let g3 = group(&*store, &a, "g3", &[g2.id]).await?;
    change_members(&*store, &g1, vec![MemberOp::add(vec![g3.id])]).await?;
    let scope = account_scope(&a);

    let groups = store.groups_of(&scope, u.id).await?;
    let got: Vec<(i64, bool)> = groups.iter().map(|g| (g.id, g.direct)).collect();
    let mut want = vec![(g1.id, true), (g2.id, false), (g3.id, false)];
    want.sort_unstable();
    assert_eq!(got, want);
    // A group in a cycle is not listed among its own groups.
    let got: Vec<(i64, bool)> = store.groups_of(&scope, g1.id).await?.iter().map(|g| (g.id, g.direct)).collect();
    let mut want = vec![(g2.id, true), (g3.id, false)];
    want.sort_unstable();
    assert_eq!(got, want);
    Ok(())
}

pub async fn groups_of_respects_visibility<S: Store>(store: Arc<S>) -> Result<()> {
    let a = account(&*store, "a").await?;
    let fed = workspace(&*store, &a, true).await?;
    let u = principal(PrincipalKind::User, &a, Home::Account, json!({"userName": "u@x"}))?;
    store.insert_principal(&new_principal(&u, &[], Some(fed.id), None), &[]).await?;
    // Not assigned, and under no assigned group: the workspace cannot see it.
    let hidden = group(&*store, &a, "hidden", &[u.id]).await?;
    // Visible through the assigned group above it.
    let inner = group(&*store, &a, "inner", &[u.id]).await?;
    let shown = principal(PrincipalKind::Group, &a, Home::Account, json!({"displayName": "shown"}))?;
    store.insert_principal(&new_principal(&shown, &new_members(&[inner.id]), Some(fed.id), None), &[]).await?;

    let in_fed = store.groups_of(&Scope::for_workspace(&fed), u.id).await?;
    let mut want = vec![
        GroupRef { id: inner.id, display: "inner".into(), direct: true },
        GroupRef { id: shown.id, display: "shown".into(), direct: false },
    ];
    want.sort_by_key(|g| g.id);
    assert_eq!(in_fed, want);
    assert!(in_fed.iter().all(|g| g.id != hidden.id));
    assert_eq!(store.groups_of(&account_scope(&a), u.id).await?.len(), 3);
    Ok(())
}

/// A federated workspace sees the account principals assigned to it directly or through a group, transitively
/// through nested groups; the effective permission is the strongest along the way.
pub async fn visibility_through_groups<S: Store>(store: Arc<S>) -> Result<()> {
    let a = account(&*store, "a").await?;
    let fed = workspace(&*store, &a, true).await?;
    let scope = Scope::for_workspace(&fed);
    let u = user(&*store, &a, Home::Account, "deep@x").await?;
    let sp = principal(PrincipalKind::ServicePrincipal, &a, Home::Account, json!({"applicationId": "app"}))?;
    store.insert_principal(&bare(sp.clone()), &[]).await?;
    let inner = group(&*store, &a, "inner", &[u.id, sp.id]).await?;
    let outer = group(&*store, &a, "outer", &[inner.id]).await?;
    assert_eq!(store.principal(&scope, None, u.id).await?, None, "nothing is assigned yet");
    assert_eq!(store.effective_permission(fed.id, u.id).await?, None);

    store.set_assignment(fed.id, outer.id, Some(Permission::User), &[]).await?;
    for id in [u.id, sp.id, inner.id, outer.id] {
        ensure!(store.principal(&scope, None, id).await?.is_some(), "{id} is visible through the outer group");
    }
    expect(&*store, &scope, PrincipalKind::User, &eq("userName", "deep@x"), &[u.id]).await?;
    assert_eq!(store.effective_permission(fed.id, u.id).await?, Some(Permission::User));
    store.set_assignment(fed.id, inner.id, Some(Permission::Admin), &[]).await?;
    assert_eq!(store.effective_permission(fed.id, u.id).await?, Some(Permission::Admin), "the strongest wins");
    assert_eq!(store.effective_permission(fed.id, outer.id).await?, Some(Permission::User));
    // The direct assignment alone: a member of an assigned group has none of its own.
    assert_eq!(store.direct_assignment(fed.id, inner.id).await?, Some(Permission::Admin));
    assert_eq!(store.direct_assignment(fed.id, outer.id).await?, Some(Permission::User));
    assert_eq!(store.direct_assignment(fed.id, u.id).await?, None);
    let assigned: Vec<(i64, Permission)> =
        store.assignments(fed.id).await?.into_iter().map(|(p, perm)| (p.id, perm)).collect();
    let mut want = vec![(inner.id, Permission::Admin), (outer.id, Permission::User)];
    want.sort();
    assert_eq!(assigned, want);

    // Unassigning removes access, not the identities.
    store.set_assignment(fed.id, inner.id, None, &[]).await?;
    store.set_assignment(fed.id, outer.id, None, &[]).await?;
    assert_eq!(store.principal(&scope, None, u.id).await?, None);
    assert!(store.principal(&account_scope(&a), None, u.id).await?.is_some());
    assert!(store.assignments(fed.id).await?.is_empty());
    Ok(())
}

pub async fn version_mismatch<S: Store>(store: Arc<S>) -> Result<()> {
    let a = account(&*store, "a").await?;
    let scope = account_scope(&a);
    let u = user(&*store, &a, Home::Account, "u@x").await?;
    let stale = PrincipalUpdate {
        id: u.id,
        expected_version: Some(2),
        doc: Some(json!({"userName": "changed@x"})),
        members: vec![],
        workspace_values: None,
        last_modified: at(9),
    };
    assert!(matches!(store.update_principal(&stale, &[]).await, Err(StoreError::VersionMismatch)));
    assert_eq!(store.principal(&scope, None, u.id).await?, Some(u.clone()));

    let fresh = PrincipalUpdate { expected_version: Some(1), ..stale.clone() };
    assert_eq!(store.update_principal(&fresh, &[]).await?, 2, "the new version is returned");
    let now = store.principal(&scope, None, u.id).await?;
    let want = Principal { doc: json!({"userName": "changed@x"}), version: 2, last_modified: at(9), ..u.clone() };
    assert_eq!(now, Some(want));
    // The indexed fields followed the document.
    expect(&*store, &scope, PrincipalKind::User, &eq("userName", "changed@x"), &[u.id]).await?;
    expect(&*store, &scope, PrincipalKind::User, &eq("userName", "u@x"), &[]).await?;
    // The same update again is stale now.
    assert!(matches!(store.update_principal(&fresh, &[]).await, Err(StoreError::VersionMismatch)));
    // An update without an expected version applies whatever the version, and still bumps it.
    let unchecked = PrincipalUpdate { expected_version: None, doc: None, last_modified: at(10), ..fresh.clone() };
    assert_eq!(store.update_principal(&unchecked, &[]).await?, 3);
    assert_eq!(store.update_principal(&unchecked, &[]).await?, 4);
    // So is an update of a principal that was deleted, checked or not.
    ensure!(store.delete_principal(u.id, &[]).await?);
    assert!(matches!(store.update_principal(&unchecked, &[]).await, Err(StoreError::VersionMismatch)));
    let gone = PrincipalUpdate { expected_version: Some(2), ..fresh };
    assert!(matches!(store.update_principal(&gone, &[]).await, Err(StoreError::VersionMismatch)));
    Ok(())
}

pub async fn delete_cascades<S: Store>(store: Arc<S>) -> Result<()> {
    let a = account(&*store, "a").await?;
    let fed = workspace(&*store, &a, true).await?;
    let u = principal(PrincipalKind::User, &a, Home::Account, json!({"userName": "u@x"}))?;
    store.insert_principal(&new_principal(&u, &[], Some(fed.id), None), &[]).await?;
    let other = user(&*store, &a, Home::Account, "other@x").await?;
    let g = group(&*store, &a, "g", &[u.id, other.id]).await?;
    let parent = group(&*store, &a, "parent", &[g.id]).await?;
    let secret = Secret::generate()?;
    let scope = TokenScope::Account { account_id: a.id.clone() };
    store.insert_token(&Token::new(&secret, scope.clone(), Some(u.id), "me", at(0), None), &[]).await?;
    let keep = Secret::generate()?;
    store.insert_token(&Token::new(&keep, scope, None, "admin", at(0), None), &[]).await?;

    ensure!(store.delete_principal(u.id, &[]).await?);
    ensure!(!store.delete_principal(u.id, &[]).await?, "a second delete finds nothing");
    assert_eq!(store.principal(&account_scope(&a), None, u.id).await?, None);
    assert_eq!(member_ids(&*store, &g).await?, vec![other.id]);
    assert_eq!(store.token_by_hash(&secret.hash()).await?, None);
    ensure!(store.token_by_hash(&keep.hash()).await?.is_some());
    // Re-creating the same user name works (the assignment went too: not visible in the workspace).
    let again = user(&*store, &a, Home::Account, "u@x").await?;
    assert_eq!(store.principal(&Scope::for_workspace(&fed), None, again.id).await?, None);

    // Deleting a group removes its memberships both ways.
    ensure!(store.delete_principal(g.id, &[]).await?);
    assert_eq!(store.groups_of(&account_scope(&a), other.id).await?, vec![]);
    assert_eq!(member_ids(&*store, &parent).await?, Vec::<i64>::new());
    Ok(())
}

// ---- cases: listing ----

/// Five users with varied attributes, for filter tests: alice, bob, carol, dave, erin.
struct People {
    alice: i64,
    bob: i64,
    carol: i64,
    dave: i64,
    erin: i64,
}

async fn people<S: Store>(store: &S, account: &Account, home: Home) -> Result<People> {
    let docs = [
        json!({"userName": "Alice@Example.com", "displayName": "Alice Liddell", "externalId": "ext-A", "active": true,
               "emails": [{"value": "alice@work.example", "type": "work"}, {"value": "Alice@Home.Example", "type": "home"}],
               "name": {"givenName": "Alice", "familyName": "Liddell"}, "title": "Engineer", "nickName": "al",
               "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "R&D", "employeeNumber": "7"}}),
        json!({"userName": "bob@example.com", "displayName": "Bob", "externalId": "ext-b", "active": false,
               "emails": [{"value": "bob@home.example", "type": "home"}], "title": "ENGINEER",
               "name": {"familyName": "Kelvin \u{212A}"}}),
        json!({"userName": "carol@sample.org", "emails": [{"value": "ÇAROL@sample.org", "type": "work"}],
               "title": "Ingénieure", "name": {"familyName": "liddell"}}),
        json!({"userName": "DAVE@example.COM", "displayName": "dave", "externalId": "EXT-A", "active": true}),
        json!({"userName": "erin@x.io", "displayName": "ÉRIN Ünicode", "externalId": "", "active": true}),
    ];
    let mut ids = Vec::new();
    for (i, doc) in docs.into_iter().enumerate() {
        let n = i as i64 + 1;
        let mut p = principal(PrincipalKind::User, account, home, doc)?;
        p.created = at(n);
        p.last_modified = at(10 * n);
        store.insert_principal(&bare(p.clone()), &[]).await?;
        ids.push(p.id);
    }
    Ok(People { alice: ids[0], bob: ids[1], carol: ids[2], dave: ids[3], erin: ids[4] })
}

pub async fn list_translated_filters<S: Store>(store: Arc<S>) -> Result<()> {
    let a = account(&*store, "a").await?;
    let s = account_scope(&a);
    let People { alice, bob, carol, dave, erin } = people(&*store, &a, Home::Account).await?;
    let all = [alice, bob, carol, dave, erin];
    use CompareOp::*;
    use PrincipalKind::User;
    let cases: Vec<(Filter, Vec<i64>)> = vec![
        // id
        (eq("id", &alice.to_string()), vec![alice]),
        (eq("ID", &format!("0{alice}")), vec![]),
        (op("id", Ne, &alice.to_string()), vec![bob, carol, dave, erin]),
        // the unique attribute: case-insensitive, URN-qualified, any case of the attribute name
        (eq("userName", "alice@example.com"), vec![alice]),
        (eq("username", "ALICE@EXAMPLE.COM"), vec![alice]),
        (eq("urn:ietf:params:scim:schemas:core:2.0:User:userName", "dave@example.com"), vec![dave]),
        (op("userName", Ne, "alice@example.com"), vec![bob, carol, dave, erin]),
        (op("userName", Sw, "A"), vec![alice]),
        (op("userName", Co, "EXAMPLE.com"), vec![alice, bob, dave]),
        (op("userName", Ew, ".ORG"), vec![carol]),
        (op("userName", Gt, "carol@sample.org"), vec![dave, erin]),
        (op("userName", Ge, "carol@sample.org"), vec![carol, dave, erin]),
        (op("userName", Lt, "B"), vec![alice]),
        (op("userName", Le, "bob@example.com"), vec![alice, bob]),
        // externalId: case-exact
        (eq("externalId", "ext-A"), vec![alice]),
        (eq("externalId", "EXT-A"), vec![dave]),
        (op("externalId", Sw, "ext-"), vec![alice, bob]),
        (op("externalId", Co, "A"), vec![alice, dave]),
        (op("externalId", Ew, "b"), vec![bob]),
        (op("externalId", Ne, "ext-A"), vec![bob, carol, dave, erin]),
        (pr("externalId"), vec![alice, bob, dave]),
        (not(pr("externalId")), vec![carol, erin]),
        // displayName: case-insensitive, Unicode
        (eq("displayName", "DAVE"), vec![dave]),
        (eq("displayName", "érin ünicode"), vec![erin]),
        (op("displayName", Co, "LIDDELL"), vec![alice]),
        (op("displayName", Sw, "é"), vec![erin]),
        (pr("displayName"), vec![alice, bob, dave, erin]),
        // active
        (cmp("active", Eq, CompValue::Bool(true)), vec![alice, dave, erin]),
        (op("active", Eq, "True"), vec![alice, dave, erin]),
        (cmp("active", Eq, CompValue::Bool(false)), vec![bob]),
        (cmp("active", Ne, CompValue::Bool(true)), vec![bob, carol]),
        (not(cmp("active", Eq, CompValue::Bool(true))), vec![bob, carol]),
        (pr("active"), vec![alice, bob, dave, erin]),
        // meta timestamps, compared as clients see them (milliseconds): at(n) is shown as n s + 123 ms
        (op("meta.created", Eq, &shown(at(2))?), vec![bob]),
        (op("meta.created", Gt, &shown(at(3))?), vec![dave, erin]),
        (op("meta.created", Ge, &shown(at(3))?), vec![carol, dave, erin]),
        (op("meta.created", Lt, &shown(at(2))?), vec![alice]),
        (op("meta.created", Le, &shown(at(2))?), vec![alice, bob]),
        (op("meta.created", Eq, &rfc3339(at(2))?), vec![]),
        (op("meta.created", Gt, &rfc3339(at(2))?), vec![carol, dave, erin]),
        (op("meta.created", Ge, &rfc3339(at(2))?), vec![carol, dave, erin]),
        (op("meta.created", Lt, &rfc3339(at(2))?), vec![alice, bob]),
        (op("meta.created", Le, &rfc3339(at(2))?), vec![alice, bob]),
        (op("meta.created", Ge, "2023-11-14T22:13:22.123"), vec![bob, carol, dave, erin]),
        (op("meta.lastModified", Gt, &shown(at(30))?), vec![dave, erin]),
        (op("Meta.LastModified", Ne, &shown(at(30))?), vec![alice, bob, dave, erin]),
        (pr("meta.created"), all.to_vec()),
        // logic
        (and(op("userName", Co, "example"), cmp("active", Eq, CompValue::Bool(true))), vec![alice, dave]),
        (or(eq("userName", "bob@example.com"), eq("externalId", "EXT-A")), vec![bob, dave]),
        (not(or(eq("userName", "bob@example.com"), eq("externalId", "EXT-A"))), vec![alice, carol, erin]),
        (not(and(op("userName", Co, "example"), cmp("active", Eq, CompValue::Bool(true)))), vec![bob, carol, erin]),
        (not(not(eq("displayName", "bob"))), vec![bob]),
    ];
    for (filter, want) in &cases {
        expect(&*store, &s, User, filter, want).await?;
    }
    Ok(())
}

pub async fn list_group_filters<S: Store>(store: Arc<S>) -> Result<()> {
    let a = account(&*store, "a").await?;
    let s = account_scope(&a);
    let u1 = user(&*store, &a, Home::Account, "u1@x").await?;
    let u2 = user(&*store, &a, Home::Account, "u2@x").await?;
    let admins = group(&*store, &a, "Admins", &[u1.id]).await?;
    let staff = group(&*store, &a, "Staff", &[u1.id, u2.id, admins.id]).await?;
    let empty = group(&*store, &a, "Empty", &[]).await?;
    use PrincipalKind::Group;
    let value_eq = |id: i64| eq("value", &id.to_string());
    let cases: Vec<(Filter, Vec<i64>)> = vec![
        (eq("displayName", "admins"), vec![admins.id]),
        (op("displayName", CompareOp::Sw, "s"), vec![staff.id]),
        (eq("members.value", &u1.id.to_string()), vec![admins.id, staff.id]),
        (eq("members.value", &u2.id.to_string()), vec![staff.id]),
        (eq("members.value", &admins.id.to_string()), vec![staff.id]),
        (eq("members.value", "not-an-id"), vec![]),
        (eq("members", &u2.id.to_string()), vec![staff.id]),
        (cmp("members.value", CompareOp::Eq, CompValue::Number(u2.id.into())), vec![staff.id]),
        (Filter::ValuePath(path("members"), Box::new(value_eq(u2.id))), vec![staff.id]),
        (Filter::ValuePath(path("members"), Box::new(or(value_eq(u2.id), value_eq(u1.id)))), vec![admins.id, staff.id]),
        (not(eq("members.value", &u1.id.to_string())), vec![empty.id]),
        (and(eq("members.value", &u1.id.to_string()), eq("displayName", "staff")), vec![staff.id]),
        (pr("members"), vec![admins.id, staff.id]),
        (not(pr("members")), vec![empty.id]),
    ];
    for (filter, want) in &cases {
        expect(&*store, &s, Group, filter, want).await?;
    }
    Ok(())
}

pub async fn list_service_principal_filters<S: Store>(store: Arc<S>) -> Result<()> {
    let a = account(&*store, "a").await?;
    let s = account_scope(&a);
    let mut ids = Vec::new();
    for (app, name) in [("App-One", "Robot"), ("app-two", "robot two")] {
        let p = principal(
            PrincipalKind::ServicePrincipal,
            &a,
            Home::Account,
            json!({"applicationId": app, "displayName": name, "active": true}),
        )?;
        store.insert_principal(&bare(p.clone()), &[]).await?;
        ids.push(p.id);
    }
    use PrincipalKind::ServicePrincipal as Sp;
    // applicationId is case-exact (uniqueness is not).
    expect(&*store, &s, Sp, &eq("applicationId", "App-One"), &[ids[0]]).await?;
    expect(&*store, &s, Sp, &eq("applicationId", "app-one"), &[]).await?;
    expect(&*store, &s, Sp, &op("applicationId", CompareOp::Sw, "app"), &[ids[1]]).await?;
    expect(&*store, &s, Sp, &eq("displayName", "ROBOT"), &[ids[0]]).await?;
    expect(&*store, &s, Sp, &cmp("active", CompareOp::Eq, CompValue::Bool(true)), &ids).await?;
    // Users are not service principals.
    expect(&*store, &s, PrincipalKind::User, &eq("displayName", "robot"), &[]).await?;
    Ok(())
}

pub async fn list_paging_and_sorting<S: Store>(store: Arc<S>) -> Result<()> {
    let a = account(&*store, "a").await?;
    let s = account_scope(&a);
    let People { alice, bob, carol, dave, erin } = people(&*store, &a, Home::Account).await?;
    let by_id = sorted(vec![alice, bob, carol, dave, erin]);
    use PrincipalKind::User;

    let paged = ListSpec { offset: 1, limit: 2, ..spec(None) };
    assert_eq!(page(&*store, &s, User, &paged).await?, (5, by_id[1..3].to_vec()));
    let past = ListSpec { offset: 10, limit: 2, ..spec(None) };
    assert_eq!(page(&*store, &s, User, &past).await?, (5, vec![]));
    let none = ListSpec { limit: 0, ..spec(None) };
    assert_eq!(page(&*store, &s, User, &none).await?, (5, vec![]));
    // Keyset: after an id; the total still counts every match.
    let keyset = ListSpec { after_id: Some(by_id[1]), limit: 2, ..spec(None) };
    assert_eq!(page(&*store, &s, User, &keyset).await?, (5, by_id[2..4].to_vec()));
    let f = op("userName", CompareOp::Co, "example");
    let filtered = ListSpec { after_id: Some(by_id[0]), ..spec(Some(&f)) };
    let (total, items) = page(&*store, &s, User, &filtered).await?;
    assert_eq!(total, 3);
    assert_eq!(items, sorted(vec![alice, bob, dave]).into_iter().filter(|&id| id > by_id[0]).collect::<Vec<_>>());

    let sorted_by = |by: &'static str, descending: bool| (path(by), descending);
    let cases = [
        // userName sorts case-insensitively.
        (sorted_by("userName", false), vec![alice, bob, carol, dave, erin]),
        (sorted_by("userName", true), vec![erin, dave, carol, bob, alice]),
        // Absent values last ascending, first descending.
        (sorted_by("displayName", false), vec![alice, bob, dave, erin, carol]),
        (sorted_by("displayName", true), vec![carol, erin, dave, bob, alice]),
        (sorted_by("meta.created", true), vec![erin, dave, carol, bob, alice]),
        (sorted_by("meta.lastModified", false), vec![alice, bob, carol, dave, erin]),
        (sorted_by("id", true), by_id.iter().rev().copied().collect()),
    ];
    for ((by, descending), want) in &cases {
        let sp = ListSpec { sort: Some(Sort { by, descending: *descending }), ..spec(None) };
        assert_eq!(page(&*store, &s, User, &sp).await?, (5, want.clone()), "sort by {by:?} desc={descending}");
        let sp = ListSpec { offset: 1, limit: 3, ..sp };
        assert_eq!(page(&*store, &s, User, &sp).await?, (5, want[1..4].to_vec()));
    }
    // externalId ties (none here) and externalId "" sorts before values; sort on a filtered set.
    let by = path("externalId");
    let f = pr("displayName");
    let sp = ListSpec { sort: Some(Sort { by: &by, descending: false }), ..spec(Some(&f)) };
    assert_eq!(page(&*store, &s, User, &sp).await?, (4, vec![erin, dave, alice, bob]));
    Ok(())
}

pub async fn list_in_workspace_scopes<S: Store>(store: Arc<S>) -> Result<()> {
    let a = account(&*store, "a").await?;
    let plain = workspace(&*store, &a, false).await?;
    let fed = workspace(&*store, &a, true).await?;
    let local = people(&*store, &a, Home::Workspace(plain.id)).await?;
    let acct = people(&*store, &a, Home::Account).await?;
    let fed_local = user(&*store, &a, Home::Workspace(fed.id), "alice@example.com").await?;
    let assigned = principal(PrincipalKind::User, &a, Home::Account, json!({"userName": "Assigned@Example.com"}))?;
    store.insert_principal(&new_principal(&assigned, &[], Some(fed.id), None), &[]).await?;
    use PrincipalKind::User;

    let f = eq("userName", "ALICE@example.com");
    expect(&*store, &Scope::for_workspace(&plain), User, &f, &[local.alice]).await?;
    expect(&*store, &account_scope(&a), User, &f, &[acct.alice]).await?;
    expect(&*store, &Scope::for_workspace(&fed), User, &f, &[fed_local.id]).await?;
    let f = op("userName", CompareOp::Sw, "a");
    expect(&*store, &Scope::for_workspace(&fed), User, &f, &[fed_local.id, assigned.id]).await?;
    let (total, _) = page(&*store, &Scope::for_workspace(&plain), User, &spec(None)).await?;
    assert_eq!(total, 5);
    Ok(())
}

pub async fn list_untranslatable_filters<S: Store>(store: Arc<S>) -> Result<()> {
    let a = account(&*store, "a").await?;
    let s = account_scope(&a);
    let People { alice, bob, carol, dave, erin } = people(&*store, &a, Home::Account).await?;
    use PrincipalKind::User;
    // (filter, the true matches)
    let cases: Vec<(Filter, Vec<i64>)> = vec![
        (op("emails.value", CompareOp::Co, "work"), vec![alice]),
        (Filter::ValuePath(path("emails"), Box::new(eq("type", "home"))), vec![bob]),
        (eq("name.givenName", "x"), vec![]),
        (eq("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department", "x"), vec![]),
        // Partly translatable: narrowed by the part that is.
        (and(eq("userName", "alice@example.com"), op("emails.value", CompareOp::Co, "work")), vec![alice]),
        (and(op("emails.value", CompareOp::Co, "example"), not(eq("userName", "bob@example.com"))), vec![alice]),
        (or(eq("userName", "carol@sample.org"), op("emails.value", CompareOp::Co, "home")), vec![bob, carol]),
        // Values of the wrong type, and operators that do not apply, are the evaluator's business.
        (cmp("active", CompareOp::Eq, CompValue::String("maybe".into())), vec![]),
        (cmp("active", CompareOp::Gt, CompValue::Bool(false)), vec![]),
        (cmp("userName", CompareOp::Eq, CompValue::Null), vec![]),
        (op("meta.created", CompareOp::Co, "2023"), vec![]),
    ];
    for (filter, matches) in &cases {
        match store.list_principals(&s, User, &spec(Some(filter))).await? {
            Listing::Candidates(items) => {
                let ids = ids_of(&items);
                ensure!(ids == sorted(ids.clone()), "candidates in id order: {ids:?}");
                ensure!(matches.iter().all(|m| ids.contains(m)), "{filter:?}: {ids:?} misses some of {matches:?}");
            }
            other => bail!("{filter:?} cannot have been evaluated in full: {other:?}"),
        }
    }
    // A translated filter with a sort the store cannot do: candidates, exactly the matches.
    let by = path("name.familyName");
    let f = op("userName", CompareOp::Co, "example");
    let sp = ListSpec { sort: Some(Sort { by: &by, descending: false }), ..spec(Some(&f)) };
    match store.list_principals(&s, User, &sp).await? {
        Listing::Candidates(items) => assert_eq!(ids_of(&items), sorted(vec![alice, bob, dave])),
        other => bail!("cannot sort by name.familyName: {other:?}"),
    }
    let _ = (carol, erin);
    Ok(())
}

/// A listing that examines rows no index narrows refuses a scope larger than `max_scan` before reading it, and
/// leaves no more than `max_candidates` to memory; indexed filters are never refused.
pub async fn listings_without_an_index_are_bounded<S: Store>(store: Arc<S>) -> Result<()> {
    let a = account(&*store, "a").await?;
    let s = account_scope(&a);
    let People { alice, .. } = people(&*store, &a, Home::Account).await?;
    let limited = |filter: &'static Filter, max_scan: usize, max_candidates: usize| ListSpec {
        max_scan,
        max_candidates,
        ..ListSpec::page(Some(filter), 100)
    };
    let title: &'static Filter = Box::leak(Box::new(eq("title", "engineer")));
    let certs: &'static Filter = Box::leak(Box::new(eq("x509Certificates", "x")));
    let email: &'static Filter = Box::leak(Box::new(eq("emails.value", "alice@work.example")));
    // Five users: a scan of them is allowed up to five, refused below.
    ensure!(matches!(
        store.list_principals(&s, PrincipalKind::User, &limited(title, 4, 100)).await?,
        Listing::TooMany { scanned: 5 }
    ));
    ensure!(matches!(
        store.list_principals(&s, PrincipalKind::User, &limited(title, 5, 100)).await?,
        Listing::Candidates(_)
    ));
    // What only memory can decide: at most max_candidates candidates.
    ensure!(matches!(
        store.list_principals(&s, PrincipalKind::User, &limited(certs, 100, 4)).await?,
        Listing::TooMany { .. }
    ));
    // An index lookup is not limited by either.
    match store.list_principals(&s, PrincipalKind::User, &limited(email, 1, 1)).await? {
        Listing::Page { total: 1, items } => ensure!(ids_of(&items) == vec![alice]),
        other => bail!("an email lookup is an index lookup: {other:?}"),
    }
    // Nor is a listing without a filter, in id order.
    ensure!(matches!(
        store.list_principals(&s, PrincipalKind::User, &ListSpec { max_scan: 1, ..spec(None) }).await?,
        Listing::Page { total: 5, .. }
    ));
    Ok(())
}

/// A principal read with what rendering it wants: members, groups (direct and not, visible ones), values in one
/// workspace; nothing that was not asked for.
pub async fn views_carry_what_rendering_wants<S: Store>(store: Arc<S>) -> Result<()> {
    let a = account(&*store, "a").await?;
    let w = workspace(&*store, &a, true).await?;
    let s = account_scope(&a);
    let u = user(&*store, &a, Home::Account, "u@x").await?;
    let inner = group(&*store, &a, "Inner", &[u.id]).await?;
    let outer = group(&*store, &a, "Outer", &[inner.id]).await?;
    let update = PrincipalUpdate {
        id: u.id,
        expected_version: None,
        doc: None,
        members: Vec::new(),
        workspace_values: Some((
            w.id,
            vec![ValueOp::Add {
                attribute: "entitlements",
                values: vec!["workspace-access".into(), "allow-cluster-create".into()],
            }],
        )),
        last_modified: at(5),
    };
    store.update_principal(&update, &[]).await?;
    let all = Want { members: true, groups: true, values_in: Some(w.id) };
    let Some(v) = store.view(&s, Some(PrincipalKind::User), u.id, all).await? else { bail!("the user is there") };
    ensure!(v.principal.id == u.id && v.principal.version == 2);
    ensure!(v.groups.len() == 2, "{:?}", v.groups);
    ensure!(v.groups.iter().any(|g| g.id == inner.id && g.direct && g.display == "Inner"));
    ensure!(v.groups.iter().any(|g| g.id == outer.id && !g.direct));
    ensure!(
        v.values == vec![("entitlements".to_string(), vec!["allow-cluster-create".into(), "workspace-access".into()])]
    );
    ensure!(v.members.is_empty(), "a user has no members");
    let Some(g) = store.view(&s, Some(PrincipalKind::Group), outer.id, all).await? else { bail!("the group") };
    ensure!(g.members.len() == 1 && g.members[0].id == inner.id && g.members[0].kind == PrincipalKind::Group);
    // Nothing that was not wanted, and the kind is checked.
    let Some(bare) = store.view(&s, None, u.id, Want::default()).await? else { bail!("the user") };
    ensure!(bare.groups.is_empty() && bare.values.is_empty());
    ensure!(store.view(&s, Some(PrincipalKind::Group), u.id, all).await?.is_none());
    ensure!(store.view(&s, None, 1, all).await?.is_none());
    Ok(())
}

/// A page comes with what rendering its items wants, each item with its own (read for the whole page at once).
pub async fn page_items_carry_what_rendering_wants<S: Store>(store: Arc<S>) -> Result<()> {
    let a = account(&*store, "a").await?;
    let s = account_scope(&a);
    let mut users = Vec::new();
    for i in 0..6 {
        users.push(user(&*store, &a, Home::Account, &format!("u{i}@x")).await?.id);
    }
    let evens = group(&*store, &a, "Evens", &[users[0], users[2], users[4]]).await?;
    let low = group(&*store, &a, "Low", &[users[0], users[1]]).await?;
    let parent = group(&*store, &a, "Parent", &[low.id]).await?;
    let want = Want { members: true, groups: true, values_in: None };
    let Listing::Page { items, .. } =
        store.list_principals(&s, PrincipalKind::User, &ListSpec { want, ..spec(None) }).await?
    else {
        bail!("a page")
    };
    for v in &items {
        let mut got: Vec<(i64, bool)> = v.groups.iter().map(|g| (g.id, g.direct)).collect();
        got.sort();
        let i = users.iter().position(|u| *u == v.principal.id).unwrap_or(usize::MAX);
        let mut expected = Vec::new();
        if i % 2 == 0 {
            expected.push((evens.id, true));
        }
        if i < 2 {
            expected.extend([(low.id, true), (parent.id, false)]);
        }
        expected.sort();
        ensure!(got == expected, "user {i}: {got:?}, want {expected:?}");
    }
    let Listing::Page { items, .. } =
        store.list_principals(&s, PrincipalKind::Group, &ListSpec { want, ..spec(None) }).await?
    else {
        bail!("a page")
    };
    for v in &items {
        let members: Vec<i64> = v.members.iter().map(|m| m.id).collect();
        let expected = match v.principal.id {
            id if id == evens.id => sorted(vec![users[0], users[2], users[4]]),
            id if id == low.id => sorted(vec![users[0], users[1]]),
            _ => vec![low.id],
        };
        ensure!(members == expected, "{members:?} != {expected:?}");
    }
    // Without wanting them, none.
    let Listing::Page { items, .. } = store.list_principals(&s, PrincipalKind::Group, &spec(None)).await? else {
        bail!("a page")
    };
    ensure!(items.iter().all(|v| v.members.is_empty() && v.groups.is_empty()));
    Ok(())
}

/// The email index follows inserts, replacements and deletes: a changed address is found by its new value only.
pub async fn email_index_follows_every_change<S: Store>(store: Arc<S>) -> Result<()> {
    let a = account(&*store, "a").await?;
    let s = account_scope(&a);
    let find = |addr: &str| eq("emails.value", addr);
    let mut p = principal(
        PrincipalKind::User,
        &a,
        Home::Account,
        json!({"userName": "u@x", "emails": [{"value": "Old@X.com"}, {"value": "old@x.com"}, {"value": "two@x.com"}]}),
    )?;
    store.insert_principal(&bare(p.clone()), &[]).await?;
    expect(&*store, &s, PrincipalKind::User, &find("OLD@x.com"), &[p.id]).await?;
    expect(&*store, &s, PrincipalKind::User, &find("two@x.com"), &[p.id]).await?;
    p.doc = json!({"userName": "u@x", "emails": [{"value": "new@x.com"}]});
    let update = PrincipalUpdate {
        id: p.id,
        expected_version: None,
        doc: Some(p.doc.clone()),
        members: Vec::new(),
        workspace_values: None,
        last_modified: at(3),
    };
    store.update_principal(&update, &[]).await?;
    expect(&*store, &s, PrincipalKind::User, &find("old@x.com"), &[]).await?;
    expect(&*store, &s, PrincipalKind::User, &find("NEW@x.com"), &[p.id]).await?;
    store.delete_principal(p.id, &[]).await?;
    expect(&*store, &s, PrincipalKind::User, &find("new@x.com"), &[]).await?;
    Ok(())
}

/// The count of a whole scope a listing may take from the store's cache still follows every write through the
/// store, and listings that ask for an exact total get one.
pub async fn counts_of_whole_scopes_follow_writes<S: Store>(store: Arc<S>) -> Result<()> {
    let a = account(&*store, "a").await?;
    let s = account_scope(&a);
    let recent = ListSpec { total: Total::Recent, ..spec(None) };
    let total = |l: Listing| match l {
        Listing::Page { total, .. } => Ok(total),
        other => bail!("a page: {other:?}"),
    };
    ensure!(total(store.list_principals(&s, PrincipalKind::User, &recent).await?)? == 0, "at first");
    let u = user(&*store, &a, Home::Account, "u@x").await?;
    ensure!(total(store.list_principals(&s, PrincipalKind::User, &recent).await?)? == 1, "after an insert");
    user(&*store, &a, Home::Account, "v@x").await?;
    ensure!(total(store.list_principals(&s, PrincipalKind::User, &recent).await?)? == 2);
    store.delete_principal(u.id, &[]).await?;
    ensure!(total(store.list_principals(&s, PrincipalKind::User, &recent).await?)? == 1);
    ensure!(total(store.list_principals(&s, PrincipalKind::User, &spec(None)).await?)? == 1);
    // A federated workspace sees what assignments give it.
    let w = workspace(&*store, &a, true).await?;
    let ws = Scope::for_workspace(&w);
    ensure!(total(store.list_principals(&ws, PrincipalKind::User, &recent).await?)? == 0);
    let assigned = user(&*store, &a, Home::Account, "w@x").await?;
    store.set_assignment(w.id, assigned.id, Some(Permission::User), &[]).await?;
    ensure!(total(store.list_principals(&ws, PrincipalKind::User, &recent).await?)? == 1);
    ensure!(total(store.list_principals(&s, PrincipalKind::User, &recent).await?)? == 2);
    store.set_assignment(w.id, assigned.id, None, &[]).await?;
    ensure!(total(store.list_principals(&ws, PrincipalKind::User, &recent).await?)? == 0);
    Ok(())
}

// ---- the SQL translation and the in-memory evaluator agree ----

/// A principal as the filter evaluator sees it: its document with `id`, `meta` (instants as clients see them) and a
/// group's `members`. Enough of the core's rendering for every attribute the store translates.
async fn rendered<S: Store>(store: &S, p: &Principal) -> Result<Value> {
    let mut doc = p.doc.clone();
    let Some(object) = doc.as_object_mut() else { bail!("document of {} is not an object", p.id) };
    object.insert("id".into(), json!(p.id.to_string()));
    object.insert(
        "meta".into(),
        json!({"created": shown(p.created)?, "lastModified": shown(p.last_modified)?, "version": p.etag()}),
    );
    if p.kind == PrincipalKind::Group {
        let members: Vec<Value> = store
            .members(p.id)
            .await?
            .into_iter()
            .map(|m| json!({"value": m.id.to_string(), "display": m.display, "type": m.kind.member_type()}))
            .collect();
        if !members.is_empty() {
            object.insert("members".into(), Value::Array(members));
        }
    }
    Ok(doc)
}

/// Every filter (written as clients write them) lists what the evaluator matches: exactly, when the store answers
/// with a page; a superset, when it answers with candidates.
pub async fn listing_agrees_with_the_evaluator<S: Store>(store: Arc<S>) -> Result<()> {
    let a = account(&*store, "a").await?;
    let scope = account_scope(&a);
    let People { alice, bob, .. } = people(&*store, &a, Home::Account).await?;
    // Values that Unicode lower-casing changes in length or that sort near ASCII.
    for name in ["Ǆemal@Example.com", "İstanbul@example.com", "ǅ@x", "straße@example.com"] {
        user(&*store, &a, Home::Account, name).await?;
    }
    let admins = group(&*store, &a, "Admins", &[alice]).await?;
    group(&*store, &a, "Staff", &[alice, bob, admins.id]).await?;
    group(&*store, &a, "Empty", &[]).await?;
    for (app, name) in [("App-One", "Robot"), ("app-two", "robot two")] {
        let doc = json!({"applicationId": app, "displayName": name, "active": true});
        store.insert_principal(&bare(principal(PrincipalKind::ServicePrincipal, &a, Home::Account, doc)?), &[]).await?;
    }
    let (t2, t3) = (shown(at(2))?, shown(at(3))?);
    let users = [
        r#"userName eq "ALICE@example.com""#.to_string(),
        r#"userName ne "alice@example.com""#.into(),
        r#"userName sw "a""#.into(),
        r#"userName co "EXAMPLE""#.into(),
        r#"userName ew ".ORG""#.into(),
        r#"userName gt "c""#.into(),
        r#"userName ge "carol@sample.org""#.into(),
        r#"userName lt "b""#.into(),
        r#"userName le "bob@example.com""#.into(),
        r#"userName eq "ǆemal@example.com""#.into(),
        r#"userName sw "i̇st""#.into(),
        r#"userName eq "STRASSE@example.com""#.into(),
        r#"userName co "ß""#.into(),
        r#"userName gt "ǅ""#.into(),
        r#"USERNAME eq "dave@EXAMPLE.com""#.into(),
        r#"urn:ietf:params:scim:schemas:core:2.0:User:userName eq "dave@example.com""#.into(),
        r#"userName eq 5"#.into(),
        r#"externalId eq "ext-A""#.into(),
        r#"externalId eq "EXT-a""#.into(),
        r#"externalId sw "ext""#.into(),
        r#"externalId co "A""#.into(),
        r#"externalId ew "b""#.into(),
        r#"externalId gt "ext-A""#.into(),
        r#"externalId pr"#.into(),
        r#"externalId ne "ext-A""#.into(),
        r#"displayName eq "dave""#.into(),
        r#"displayName co "LIDDELL""#.into(),
        r#"displayName sw "É""#.into(),
        r#"displayName gt "b""#.into(),
        r#"displayName pr"#.into(),
        r#"active eq true"#.into(),
        r#"active eq false"#.into(),
        r#"active ne true"#.into(),
        r#"active eq "true""#.into(),
        r#"not (active eq true)"#.into(),
        r#"active pr"#.into(),
        format!(r#"meta.created gt "{t3}""#),
        format!(r#"meta.created ge "{t3}""#),
        format!(r#"meta.created lt "{t2}""#),
        format!(r#"meta.created le "{t2}""#),
        format!(r#"meta.created eq "{t2}""#),
        format!(r#"meta.created eq "{}""#, rfc3339(at(2))?),
        format!(r#"meta.created gt "{}""#, rfc3339(at(2))?),
        r#"meta.lastModified lt "2023-11-14T22:13:50""#.into(),
        format!(r#"id eq "{alice}""#),
        format!(r#"id ne "{alice}""#),
        format!(r#"id eq "0{alice}""#),
        r#"userName co "example" and active eq true"#.into(),
        r#"not (userName co "example" or displayName pr)"#.into(),
        r#"userName eq "bob@example.com" or externalId eq "EXT-A""#.into(),
        r#"emails[type eq "work"]"#.into(),
        r#"emails.value co "home""#.into(),
        r#"name.givenName pr"#.into(),
        r#"userName eq "alice@example.com" and emails pr"#.into(),
        r#"userName eq "carol@sample.org" or emails co "home""#.into(),
        r#"not (emails pr) and userName sw "c""#.into(),
        // The email index: case-insensitive, every address of a user, Entra's value path.
        r#"emails.value eq "ALICE@home.example""#.into(),
        r#"emails.value eq "alice@work.example""#.into(),
        r#"emails.value eq "çarol@SAMPLE.org""#.into(),
        r#"emails eq "bob@home.example""#.into(),
        r#"emails.value sw "ALICE@""#.into(),
        r#"emails[type eq "work"].value eq "alice@work.example""#.into(),
        r#"emails[type eq "home"].value eq "alice@work.example""#.into(),
        r#"emails[value eq "Bob@Home.Example"]"#.into(),
        r#"not (emails.value eq "bob@home.example")"#.into(),
        r#"emails.value ne "bob@home.example""#.into(),
        r#"emails.value eq "alice@work.example" or userName eq "carol@sample.org""#.into(),
        // Single-valued attributes in the document, compared in SQL over JSON.
        r#"name.familyName eq "LIDDELL""#.into(),
        r#"name.familyName eq "kelvin k""#.into(),
        r#"name.familyName sw "lid""#.into(),
        r#"name.familyName co "DEL""#.into(),
        r#"name.familyName ew "ELL""#.into(),
        r#"name.familyName pr"#.into(),
        r#"not (name.familyName eq "liddell")"#.into(),
        r#"title eq "engineer""#.into(),
        r#"title eq "INGÉNIEURE""#.into(),
        r#"title ne "engineer""#.into(),
        r#"nickName eq "AL""#.into(),
        r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "r&d""#.into(),
        r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq "7""#.into(),
        r#"title eq "engineer" and active eq true"#.into(),
    ];
    let groups = [
        r#"displayName eq "admins""#.to_string(),
        r#"displayName sw "S""#.into(),
        format!(r#"members.value eq "{alice}""#),
        format!(r#"members[value eq "{bob}"]"#),
        format!(r#"members[value eq "{bob}" or value eq "{}"]"#, admins.id),
        format!(r#"members eq "{bob}""#),
        format!(r#"not (members.value eq "{alice}")"#),
        format!(r#"displayName sw "S" and members.value eq "{alice}""#),
        r#"members pr"#.into(),
        r#"not (members pr)"#.into(),
        format!(r#"members[type eq "User" and value eq "{bob}"]"#),
    ];
    let service_principals = [
        r#"applicationId eq "App-One""#.to_string(),
        r#"applicationId eq "app-one""#.into(),
        r#"applicationId sw "app""#.into(),
        r#"displayName eq "ROBOT""#.into(),
        r#"active eq true"#.into(),
    ];
    for (kind, filters) in [
        (PrincipalKind::User, &users[..]),
        (PrincipalKind::Group, &groups[..]),
        (PrincipalKind::ServicePrincipal, &service_principals[..]),
    ] {
        let rt = idplane_core::resource_types::of(kind);
        let everyone = match store.list_principals(&scope, kind, &spec(None)).await? {
            Listing::Page { items, .. } => items,
            other => bail!("an unfiltered listing is a page: {other:?}"),
        };
        let mut docs = Vec::new();
        for p in &everyone {
            docs.push((p.principal.id, rendered(&*store, &p.principal).await?));
        }
        for text in filters {
            let filter = Filter::parse(text)?;
            let matches: Vec<i64> = docs.iter().filter(|(_, d)| filter.matches(d, rt)).map(|(id, _)| *id).collect();
            match store.list_principals(&scope, kind, &spec(Some(&filter))).await? {
                Listing::Page { total, items } => {
                    let ids = ids_of(&items);
                    ensure!(ids == matches && total == matches.len(), "{text}: page {ids:?}, evaluator {matches:?}");
                }
                Listing::Candidates(items) => {
                    let ids = ids_of(&items);
                    ensure!(matches.iter().all(|m| ids.contains(m)), "{text}: {ids:?} misses some of {matches:?}");
                }
                Listing::TooMany { scanned } => bail!("{text}: too many ({scanned}) in a small store"),
            }
        }
        // Sorting: the order of the core's in-memory sort (ties by id), where the store sorts.
        for by in ["id", "userName", "displayName", "externalId", "active", "meta.created", "meta.lastModified"] {
            let by = path(by);
            for descending in [false, true] {
                let mut want = docs.clone();
                want.sort_by(|x, y| {
                    let o = idplane_scim::projection::compare(rt, &x.1, &y.1, &by);
                    if descending { o.reverse() } else { o }.then(x.0.cmp(&y.0))
                });
                let want: Vec<i64> = want.iter().map(|(id, _)| *id).collect();
                let sorted = ListSpec { sort: Some(Sort { by: &by, descending }), ..spec(None) };
                match store.list_principals(&scope, kind, &sorted).await? {
                    Listing::Page { items, .. } => {
                        ensure!(ids_of(&items) == want, "{kind:?} sorted by {by:?} descending={descending}")
                    }
                    Listing::Candidates(_) => {}
                    Listing::TooMany { scanned } => bail!("sorting: too many ({scanned}) in a small store"),
                }
            }
        }
    }
    Ok(())
}

// ---- cases: audit log ----

/// An entry about `resource_id`, made by a token in request `request_id`, at `at(n)`.
fn entry(a: &Account, n: i64, resource_type: ResourceType, resource_id: &str, operation: Operation) -> AuditEntry {
    let actor = Actor {
        kind: ActorKind::Token,
        token_id: Some(format!("token{}", n % 3)),
        principal_id: Some(1_000 + n % 2),
        request_id: Some(format!("req-{n}")),
    };
    AuditEntry::new(&actor, at(n), &a.id, resource_type, resource_id, operation)
}

async fn entries_about<S: Store>(store: &S, a: &Account, resource_id: &str) -> Result<Vec<AuditRecord>> {
    let q = AuditQuery {
        account_id: Some(a.id.clone()),
        resource_id: Some(resource_id.into()),
        limit: 100,
        ..AuditQuery::default()
    };
    Ok(store.audit_entries(&q).await?)
}

/// Each write records the entries it is given with the change, and none when the change is refused or finds
/// nothing to change.
pub async fn audit_entries_are_written_with_their_change<S: Store>(store: Arc<S>) -> Result<()> {
    let a = account(&*store, "a").await?;
    let w = workspace(&*store, &a, true).await?;
    let count = |id: String| {
        let (store, a) = (store.clone(), a.clone());
        async move { Ok::<_, anyhow::Error>(entries_about(&*store, &a, &id).await?.len()) }
    };

    // insert_principal, with its assignment and workspace values, in one transaction.
    let p = principal(PrincipalKind::User, &a, Home::Account, json!({"userName": "audited@x"}))?;
    let pid = p.id.to_string();
    let values = (
        w.id,
        vec![idplane_core::store::ValueOp::Add { attribute: "entitlements", values: vec!["workspace-access".into()] }],
    );
    let created = entry(&a, 1, ResourceType::User, &pid, Operation::Create);
    let assigned = entry(&a, 1, ResourceType::Assignment, &pid, Operation::Assign);
    store
        .insert_principal(&new_principal(&p, &[], Some(w.id), Some(&values)), &[created.clone(), assigned.clone()])
        .await?;
    assert_eq!(
        store.workspace_values(w.id, p.id).await?,
        vec![("entitlements".into(), vec!["workspace-access".into()])]
    );
    ensure!(store.effective_permission(w.id, p.id).await? == Some(Permission::User));
    let got = entries_about(&*store, &a, &pid).await?;
    let got: Vec<AuditEntry> = got.into_iter().map(|r| r.entry).collect();
    ensure!(got.contains(&created) && got.contains(&assigned), "{got:?}");
    // A duplicate userName: refused, recorded nowhere.
    let dup = principal(PrincipalKind::User, &a, Home::Account, json!({"userName": "AUDITED@x"}))?;
    let refused = entry(&a, 2, ResourceType::User, &dup.id.to_string(), Operation::Create);
    ensure!(store.insert_principal(&bare(dup.clone()), &[refused]).await.is_err());
    ensure!(count(dup.id.to_string()).await? == 0);

    // update_principal: recorded when applied; not when the version no longer matches.
    let update = PrincipalUpdate {
        id: p.id,
        expected_version: Some(p.version),
        doc: Some(json!({"userName": "audited@x", "active": false})),
        members: Vec::new(),
        workspace_values: None,
        last_modified: at(3),
    };
    let patched = entry(&a, 3, ResourceType::User, &pid, Operation::Patch).with_changes([Change::set(
        "active",
        None,
        Some(&json!(false)),
    )]);
    store.update_principal(&update, std::slice::from_ref(&patched)).await?;
    let stale = entry(&a, 4, ResourceType::User, &pid, Operation::Replace);
    ensure!(matches!(store.update_principal(&update, &[stale]).await, Err(StoreError::VersionMismatch)));
    ensure!(count(pid.clone()).await? == 3);

    // set_assignment: recorded when it changes something.
    let unassigned = entry(&a, 5, ResourceType::Assignment, &pid, Operation::Unassign);
    store.set_assignment(w.id, p.id, None, std::slice::from_ref(&unassigned)).await?;
    store.set_assignment(w.id, p.id, None, std::slice::from_ref(&unassigned)).await?;
    ensure!(count(pid.clone()).await? == 4, "removing no assignment records nothing");

    // Tokens.
    let secret = Secret::generate()?;
    let t = Token::new(&secret, TokenScope::Account { account_id: a.id.clone() }, Some(p.id), "", at(6), None);
    store.insert_token(&t, &[entry(&a, 6, ResourceType::Token, &t.id, Operation::Create)]).await?;
    ensure!(
        store
            .set_token_expiry(&t.id, Some(at(9)), &[entry(&a, 7, ResourceType::Token, &t.id, Operation::Expire)])
            .await?
    );
    ensure!(store.delete_token(&t.id, &[entry(&a, 8, ResourceType::Token, &t.id, Operation::Delete)]).await?);
    ensure!(!store.delete_token(&t.id, &[entry(&a, 9, ResourceType::Token, &t.id, Operation::Delete)]).await?);
    ensure!(
        !store.set_token_expiry(&t.id, None, &[entry(&a, 9, ResourceType::Token, &t.id, Operation::Expire)]).await?
    );
    ensure!(count(t.id.clone()).await? == 3, "a missing token's delete and expiry record nothing");

    // delete_principal.
    ensure!(store.delete_principal(p.id, &[entry(&a, 10, ResourceType::User, &pid, Operation::Delete)]).await?);
    ensure!(!store.delete_principal(p.id, &[entry(&a, 11, ResourceType::User, &pid, Operation::Delete)]).await?);
    ensure!(count(pid.clone()).await? == 5);

    // Workspaces and accounts.
    let w2 = Workspace { id: ids::new_numeric_id()?, ..w.clone() };
    let wid = w2.id.to_string();
    store.insert_workspace(&w2, &[entry(&a, 12, ResourceType::Workspace, &wid, Operation::Create)]).await?;
    ensure!(store.delete_workspace(w2.id, &[entry(&a, 13, ResourceType::Workspace, &wid, Operation::Delete)]).await?);
    ensure!(!store.delete_workspace(w2.id, &[entry(&a, 14, ResourceType::Workspace, &wid, Operation::Delete)]).await?);
    ensure!(count(wid).await? == 2);
    let b = Account { id: ids::new_uuid()?, name: "b".into(), created: at(0) };
    store.insert_account(&b, &[entry(&b, 15, ResourceType::Account, &b.id, Operation::Create)]).await?;
    let again = entry(&b, 16, ResourceType::Account, &b.id, Operation::Create);
    ensure!(store.insert_account(&b, &[again]).await.is_err());
    ensure!(entries_about(&*store, &b, &b.id).await?.len() == 1);
    Ok(())
}

/// Entries come back exactly as written, newest first, filtered by every field a query names, and in pages that
/// neither repeat nor skip an entry, even when entries share a time and while new ones are added.
pub async fn audit_entries_round_trip_filter_and_page<S: Store>(store: Arc<S>) -> Result<()> {
    let a = account(&*store, "a").await?;
    let b = account(&*store, "b").await?;
    let mut written = Vec::new();
    for n in 0..30 {
        // Times repeat (n / 2): order within a time is by id.
        let (kind, op) =
            if n % 3 == 0 { (ResourceType::Group, Operation::Patch) } else { (ResourceType::User, Operation::Create) };
        let e =
            entry(&a, n / 2, kind, &format!("r{}", n % 5), op).in_workspace((n % 4 == 0).then_some(77)).with_changes([
                Change {
                    attribute: "members".into(),
                    added: vec![n.to_string()],
                    removed: vec!["1".into()],
                    cleared: n % 2 == 0,
                    ..Change::default()
                },
                Change::set("displayName", Some(&json!("old")), Some(&json!({"nested": [n]}))),
            ]);
        written.push(e);
    }
    // Written as one change's entries, and some for another account.
    store.insert_workspace(&workspace_of(&a)?, &written).await?;
    store.insert_workspace(&workspace_of(&b)?, &[entry(&b, 5, ResourceType::User, "r1", Operation::Create)]).await?;

    let query = |f: &dyn Fn(&mut AuditQuery)| {
        let mut q = AuditQuery { account_id: Some(a.id.clone()), limit: 1000, ..AuditQuery::default() };
        f(&mut q);
        q
    };
    let all = store.audit_entries(&query(&|_| {})).await?;
    ensure!(all.len() == 30, "{}", all.len());
    for pair in all.windows(2) {
        ensure!((pair[0].entry.time, pair[0].id) > (pair[1].entry.time, pair[1].id), "newest first: {pair:?}");
    }
    let mut back: Vec<AuditEntry> = all.iter().map(|r| r.entry.clone()).collect();
    back.reverse();
    // Within one time, ids follow the order of writing.
    ensure!(back == written, "entries round-trip exactly");

    let check = |name: &str, q: AuditQuery, want: &dyn Fn(&AuditEntry) -> bool| {
        let store = store.clone();
        let name = name.to_string();
        let expected: Vec<AuditEntry> = written.iter().filter(|e| want(e)).cloned().collect();
        async move {
            let mut got: Vec<AuditEntry> = store.audit_entries(&q).await?.into_iter().map(|r| r.entry).collect();
            got.reverse();
            ensure!(got == expected, "{name}: got {} entries, want {}", got.len(), expected.len());
            Ok::<_, anyhow::Error>(())
        }
    };
    check("since", query(&|q| q.since = Some(at(10))), &|e| e.time >= at(10)).await?;
    check("until", query(&|q| q.until = Some(at(3))), &|e| e.time < at(3)).await?;
    check("principal", query(&|q| q.principal_id = Some(1_001)), &|e| e.actor.principal_id == Some(1_001)).await?;
    check("token", query(&|q| q.token_id = Some("token2".into())), &|e| e.actor.token_id.as_deref() == Some("token2"))
        .await?;
    check("request", query(&|q| q.request_id = Some("req-4".into())), &|e| {
        e.actor.request_id.as_deref() == Some("req-4")
    })
    .await?;
    check("type", query(&|q| q.resource_type = Some(ResourceType::Group)), &|e| e.resource_type == ResourceType::Group)
        .await?;
    check("resource", query(&|q| q.resource_id = Some("r1".into())), &|e| e.resource_id == "r1").await?;
    check("operation", query(&|q| q.operation = Some(Operation::Create)), &|e| e.operation == Operation::Create)
        .await?;
    check("workspace", query(&|q| q.workspace_id = Some(77)), &|e| e.workspace_id == Some(77)).await?;
    check(
        "combined",
        query(&|q| {
            q.resource_id = Some("r1".into());
            q.principal_id = Some(1_000);
            q.since = Some(at(2));
        }),
        &|e| e.resource_id == "r1" && e.actor.principal_id == Some(1_000) && e.time >= at(2),
    )
    .await?;
    let every_account = store.audit_entries(&AuditQuery { limit: 1000, ..AuditQuery::default() }).await?;
    ensure!(every_account.len() == 31);

    // Pages of 7, with new entries (newer ones, and some at an old time) arriving between pages.
    let mut seen = Vec::new();
    let mut before: Option<AuditCursor> = None;
    for round in 0.. {
        let page = store
            .audit_entries(&query(&|q| {
                q.limit = 7;
                q.before = before;
                q.until = Some(at(100));
            }))
            .await?;
        seen.extend(page.iter().map(|r| r.id));
        let Some(last) = page.last() else { break };
        before = Some(AuditCursor::after(last));
        let late = entry(&a, 200 + round, ResourceType::User, "late", Operation::Create);
        store.insert_workspace(&workspace_of(&a)?, &[late]).await?;
        ensure!(round < 10, "paging must end");
    }
    let want: Vec<i64> = all.iter().map(|r| r.id).collect();
    ensure!(seen == want, "pages visit each entry once, in order");
    Ok(())
}

fn workspace_of(a: &Account) -> Result<Workspace> {
    Ok(Workspace {
        id: ids::new_numeric_id()?,
        account_id: a.id.clone(),
        name: "w".into(),
        identity_federation: true,
        created: at(0),
    })
}

/// A purge removes exactly the entries before its instant, in any number of batches.
pub async fn audit_purge_removes_only_older_entries<S: Store>(store: Arc<S>) -> Result<()> {
    let a = account(&*store, "a").await?;
    let entries: Vec<AuditEntry> =
        (0..50).map(|n| entry(&a, n, ResourceType::User, &n.to_string(), Operation::Create)).collect();
    store.insert_workspace(&workspace_of(&a)?, &entries).await?;
    ensure!(store.purge_audit(at(0)).await? == 0);
    ensure!(store.purge_audit(at(20)).await? == 20);
    ensure!(store.purge_audit(at(20)).await? == 0, "a purge is idempotent");
    let left = store.audit_entries(&AuditQuery { limit: 1000, ..AuditQuery::default() }).await?;
    ensure!(left.len() == 30 && left.iter().all(|r| r.entry.time >= at(20)));
    ensure!(store.purge_audit(at(1000)).await? == 30);
    Ok(())
}
