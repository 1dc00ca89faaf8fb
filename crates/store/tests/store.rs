//! Tests of idplane-store: the conformance suite against SQLite (on disk, as deployed, and in memory), then what is
//! SQLite's own: files and migrations, query plans, the cost of membership changes, and a benchmark (ignored).

mod conformance;

use std::time::Instant;

use anyhow::{Result, ensure};
use conformance::{account, account_scope, bare, eq, op, path, principal, spec};
use idplane_core::principal::{Home, PrincipalKind};
use idplane_core::store::{ListSpec, MemberOp, PrincipalStore, PrincipalUpdate, TenancyStore};
use idplane_core::tenancy::{Account, Scope};
use idplane_scim::filter::{CompareOp, Filter};
use idplane_store::{DATABASE_FILE, SqliteStore};
use idplane_testkit::postgres::Database;
use serde_json::json;

fn on_disk() -> Result<(SqliteStore, tempfile::TempDir)> {
    let dir = tempfile::tempdir()?;
    Ok((SqliteStore::open(dir.path())?, dir))
}

mod sqlite_on_disk {
    use super::conformance::agents::agent_tests;
    use super::conformance::conformance_tests;
    use super::conformance::logs::provisioning_log_tests;
    use super::conformance::provisioning::provisioning_tests;
    conformance_tests!(super::on_disk()?);
    provisioning_tests!(super::on_disk()?);
    provisioning_log_tests!(super::on_disk()?);
    agent_tests!(super::on_disk()?);
}

mod sqlite_in_memory {
    use super::conformance::agents::agent_tests;
    use super::conformance::conformance_tests;
    use super::conformance::logs::provisioning_log_tests;
    use super::conformance::provisioning::provisioning_tests;
    conformance_tests!((idplane_store::SqliteStore::open_in_memory()?, ()));
    provisioning_tests!((idplane_store::SqliteStore::open_in_memory()?, ()));
    provisioning_log_tests!((idplane_store::SqliteStore::open_in_memory()?, ()));
    agent_tests!((idplane_store::SqliteStore::open_in_memory()?, ()));
}

// ---- PostgreSQL: `#[ignore]`d, run by scripts/test when it has a server (see `idplane_testkit`) ----

/// A fresh, empty PostgreSQL store in a database of its own.
async fn postgres() -> Result<(idplane_store::PgStore, Database)> {
    let db = Database::fresh("store").await?;
    Ok((idplane_store::PgStore::connect(&db.url).await?, db))
}

#[tokio::test]
#[ignore = "needs PostgreSQL: scripts/test runs it"]
async fn postgres_migrates_once_and_refuses_a_newer_schema() -> Result<()> {
    let (store, db) = postgres().await?;
    let version = store.schema_version().await?;
    ensure!(version >= 1);
    let url = db.url.clone();
    let a = account(&store, "kept").await?;
    let again = idplane_store::PgStore::connect(&url).await?;
    assert_eq!(again.schema_version().await?, version, "connecting again applies nothing");
    assert_eq!(again.account(&a.id).await?, Some(a));

    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await?;
    let connection = tokio::spawn(connection);
    client.execute("INSERT INTO schema_migrations VALUES ($1, 'from the future', 0)", &[&(version + 1)]).await?;
    drop(client);
    let _ = connection.await;
    let err = idplane_store::PgStore::connect(&url).await.err().map(|e| e.to_string()).unwrap_or_default();
    ensure!(err.contains("newer than this idplane"), "{err}");
    Ok(())
}

/// Two stores on one database (two pools, as two processes would have) updating one principal at once: the row
/// lock makes the updates apply one after the other, so every version from 2 to n + 1 is handed out exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: scripts/test runs it"]
async fn postgres_updates_from_two_processes_serialise() -> Result<()> {
    let (store, db) = postgres().await?;
    let other = idplane_store::PgStore::connect(&db.url).await?;
    let a = account(&store, "a").await?;
    let g = principal(PrincipalKind::Group, &a, Home::Account, json!({"displayName": "g"}))?;
    store.insert_principal(&bare(g.clone()), &[]).await?;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..20_i64 {
        let s = if i % 2 == 0 { store.clone() } else { other.clone() };
        let update = PrincipalUpdate {
            id: g.id,
            expected_version: None,
            doc: None,
            members: Vec::new(),
            workspace_values: None,
            last_modified: conformance::at(i),
        };
        tasks.spawn(async move { s.update_principal(&update, &[]).await });
    }
    let mut versions = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        versions.push(joined??);
    }
    versions.sort_unstable();
    assert_eq!(versions, (g.version + 1..=g.version + 20).collect::<Vec<_>>());
    Ok(())
}

mod postgres {
    use super::conformance::agents::agent_tests;
    use super::conformance::conformance_tests;
    use super::conformance::logs::provisioning_log_tests;
    use super::conformance::provisioning::provisioning_tests;
    conformance_tests!(super::postgres().await?, #[ignore = "needs PostgreSQL: scripts/test runs it"]);
    provisioning_tests!(super::postgres().await?, #[ignore = "needs PostgreSQL: scripts/test runs it"]);
    provisioning_log_tests!(super::postgres().await?, #[ignore = "needs PostgreSQL: scripts/test runs it"]);
    agent_tests!(super::postgres().await?, #[ignore = "needs PostgreSQL: scripts/test runs it"]);
}

// ---- files and migrations ----

#[tokio::test]
async fn opening_creates_the_directory_and_reopening_keeps_the_data() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let data = dir.path().join("nested").join("data");
    let store = SqliteStore::open(&data)?;
    ensure!(data.join(DATABASE_FILE).is_file());
    assert_eq!(store.path(), Some(data.join(DATABASE_FILE).as_path()));
    let version = store.schema_version().await?;
    ensure!(version >= 1);
    let a = account(&store, "kept").await?;
    store.set_setting("default_account", &a.id).await?;
    drop(store);

    let store = SqliteStore::open(&data)?;
    assert_eq!(store.schema_version().await?, version, "reopening applies nothing");
    assert_eq!(store.account(&a.id).await?, Some(a.clone()));
    assert_eq!(store.setting("default_account").await?, Some(a.id));
    Ok(())
}

#[tokio::test]
async fn a_database_from_a_newer_idplane_is_refused() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let version = SqliteStore::open(dir.path())?.schema_version().await?;
    let conn = rusqlite::Connection::open(dir.path().join(DATABASE_FILE))?;
    conn.execute("INSERT INTO schema_migrations VALUES (?, 'from the future', 0)", [version + 1])?;
    drop(conn);
    let err = SqliteStore::open(dir.path()).err().map(|e| e.to_string()).unwrap_or_default();
    ensure!(err.contains("newer than this idplane"), "{err}");
    Ok(())
}

// ---- durability ----

/// Tells [`crash_child`] where to write when it runs as the child of
/// [`acknowledged_writes_survive_the_process_being_killed`].
const CRASH_DIR: &str = "IDPLANE_STORE_CRASH_DIR";

/// A child process writes, says so, and is killed with SIGKILL (no destructor, no checkpoint, the WAL left as is):
/// what it acknowledged is there when the database is opened again.
#[tokio::test]
async fn acknowledged_writes_survive_the_process_being_killed() -> Result<()> {
    use std::io::BufRead;
    let dir = tempfile::tempdir()?;
    let mut child = std::process::Command::new(std::env::current_exe()?)
        .args(["--ignored", "--exact", "crash_child", "--nocapture", "--test-threads=1"])
        .env(CRASH_DIR, dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()?;
    let stdout = child.stdout.take().ok_or_else(|| anyhow::anyhow!("no stdout"))?;
    let mut acknowledged = None;
    // The test harness writes `test crash_child ... ` on the same line, before the test's own output.
    for line in std::io::BufReader::new(stdout).lines() {
        if let Some((_, rest)) = line?.split_once("acknowledged ") {
            acknowledged = Some(rest.to_string());
            break;
        }
    }
    child.kill()?;
    child.wait()?;
    let acknowledged = acknowledged.ok_or_else(|| anyhow::anyhow!("the child acknowledged nothing"))?;
    let (account_id, user_id) = acknowledged.split_once(' ').ok_or_else(|| anyhow::anyhow!("{acknowledged}"))?;

    let store = SqliteStore::open(dir.path())?;
    ensure!(store.account(account_id).await?.is_some(), "the account was lost");
    let scope = Scope::Account { account_id: account_id.to_string() };
    ensure!(store.principal(&scope, None, user_id.parse()?).await?.is_some(), "the user was lost");
    Ok(())
}

/// The writing half of [`acknowledged_writes_survive_the_process_being_killed`]; does nothing on its own.
#[tokio::test]
#[ignore = "runs as a child process of acknowledged_writes_survive_the_process_being_killed"]
async fn crash_child() -> Result<()> {
    use std::io::Write;
    let Some(dir) = std::env::var_os(CRASH_DIR) else { return Ok(()) };
    let store = SqliteStore::open(std::path::Path::new(&dir))?;
    let a = account(&store, "acknowledged").await?;
    let users = insert_users(&store, &a, "crash", 50).await?;
    println!("acknowledged {} {}", a.id, users[users.len() - 1]);
    std::io::stdout().flush()?;
    // Killed long before this ends.
    tokio::time::sleep(std::time::Duration::from_secs(60)).await;
    Ok(())
}

// ---- query plans ----

/// Every lookup clients make often is an index search on the looked-up value, in every kind of scope: no step of
/// the plan scans a table, or searches principals by scope alone.
#[tokio::test]
async fn frequent_lookups_use_indexes() -> Result<()> {
    let (store, _dir) = on_disk()?;
    let a = account(&store, "a").await?;
    let plain = conformance::workspace(&store, &a, false).await?;
    let fed = conformance::workspace(&store, &a, true).await?;
    let scopes = [account_scope(&a), Scope::for_workspace(&plain), Scope::for_workspace(&fed)];
    let id = "1234567890123456";
    let lookups: Vec<(PrincipalKind, Filter)> = vec![
        (PrincipalKind::User, eq("id", id)),
        (PrincipalKind::User, eq("userName", "Alice@Example.com")),
        (PrincipalKind::User, op("userName", CompareOp::Sw, "alice")),
        (PrincipalKind::User, eq("externalId", "ext-1")),
        (PrincipalKind::User, eq("displayName", "Alice")),
        (PrincipalKind::Group, eq("displayName", "Admins")),
        (PrincipalKind::Group, eq("members.value", id)),
        (PrincipalKind::Group, Filter::ValuePath(path("members"), Box::new(eq("value", id)))),
        (PrincipalKind::ServicePrincipal, eq("applicationId", "app")),
        (PrincipalKind::User, eq("emails.value", "Alice@Example.com")),
        (PrincipalKind::User, Filter::parse(r#"emails[type eq "work"].value eq "alice@example.com""#)?),
        (PrincipalKind::User, Filter::parse(r#"emails.value sw "alice@""#)?),
    ];
    for scope in &scopes {
        for (kind, filter) in &lookups {
            let plan = store.explain_listing(scope, *kind, &spec(Some(filter))).await?;
            if std::env::var_os("SHOW_PLANS").is_some() {
                eprintln!("{kind:?} {filter:?} {scope:?}\n  {}", plan.join("\n  "));
            }
            // A search on the scope prefix alone (account, home, kind) would read every principal of the scope.
            let selective = |step: &String| {
                !step.starts_with("SEARCH p ")
                    || ["rowid=?", "unique_key=?", "unique_key>?", "external_id=?", "display_key=?"]
                        .iter()
                        .any(|key| step.contains(key))
            };
            ensure!(
                plan.iter().all(|step| reads_only_what_it_finds(step) && selective(step)),
                "{kind:?} {filter:?} in {scope:?} reads more than it finds:\n{}",
                plan.join("\n")
            );
        }
        // The groups of one principal, and of a page of them at once.
        for ids in [&[1234567890123456][..], &[1234567890123456, 1234567890123457, 1234567890123458]] {
            let plan = store.explain_groups_of(scope, ids).await?;
            if std::env::var_os("SHOW_PLANS").is_some() {
                eprintln!("groups_of {ids:?} {scope:?}\n  {}", plan.join("\n  "));
            }
            ensure!(
                plan.iter().all(|s| reads_only_what_it_finds(s)),
                "groups_of {ids:?} in {scope:?}:\n{}",
                plan.join("\n")
            );
        }
    }
    Ok(())
}

/// A filter no index serves (an attribute of the document, or only evaluable in memory) is bounded whatever the size
/// of the store: the listing first counts the scope, no further than the scan limit, on an index alone; over it the
/// answer is tooMany before anything else is read (the conformance suite checks the answers; this, the plans).
#[tokio::test]
async fn filters_without_an_index_count_the_scope_on_an_index_first() -> Result<()> {
    let (store, _dir) = on_disk()?;
    let a = account(&store, "a").await?;
    let plain = conformance::workspace(&store, &a, false).await?;
    let fed = conformance::workspace(&store, &a, true).await?;
    let unindexed = [
        Filter::parse(r#"title eq "Engineer""#)?,
        Filter::parse(r#"name.familyName sw "Do""#)?,
        Filter::parse(r#"x509Certificates.value eq "x""#)?,
        Filter::parse(r#"userName co "x""#)?,
        Filter::parse(r#"active eq true"#)?,
    ];
    for scope in [account_scope(&a), Scope::for_workspace(&plain), Scope::for_workspace(&fed)] {
        for filter in &unindexed {
            let listing = spec(Some(filter));
            ensure!(store.listing_scans(&scope, PrincipalKind::User, &listing), "{filter} scans");
            let plan = store.explain_listing(&scope, PrincipalKind::User, &listing).await?;
            // The first statement, the count in a co-routine: a search of a covering index on the scope's prefix.
            let check = plan.iter().take(2).find(|s| s.starts_with("SEARCH p")).map(String::as_str).unwrap_or_default();
            ensure!(
                plan.first().is_some_and(|s| s.starts_with("CO-ROUTINE"))
                    && check.starts_with("SEARCH p USING COVERING INDEX")
                    && check.contains("kind=?)"),
                "{filter} in {scope:?}: the scope is counted on an index alone first:\n{}",
                plan.join("\n")
            );
        }
        // And indexed lookups never count the scope.
        for filter in [eq("userName", "a@x"), eq("emails.value", "a@x"), eq("externalId", "x")] {
            ensure!(!store.listing_scans(&scope, PrincipalKind::User, &spec(Some(&filter))), "{filter} is a lookup");
        }
    }
    Ok(())
}

/// A page of a listing without a filter reads the scope's index in id order: no sort of the whole scope, and a cursor
/// page starts where the last one ended. (A federated workspace reads two homes, the account's and its own, and sorts
/// what it sees: see the listing module's costs.)
#[tokio::test]
async fn pages_without_a_filter_read_the_scope_in_id_order() -> Result<()> {
    let (store, _dir) = on_disk()?;
    let a = account(&store, "a").await?;
    let plain = conformance::workspace(&store, &a, false).await?;
    for scope in [account_scope(&a), Scope::for_workspace(&plain)] {
        for after_id in [None, Some(1234567890123456)] {
            let page = ListSpec { limit: 100, after_id, ..spec(None) };
            let plan = store.explain_listing(&scope, PrincipalKind::User, &page).await?;
            if std::env::var_os("SHOW_PLANS").is_some() {
                eprintln!("page {scope:?} after {after_id:?}\n  {}", plan.join("\n  "));
            }
            ensure!(
                !plan.iter().any(|s| s.contains("TEMP B-TREE FOR ORDER BY"))
                    && plan.iter().any(|s| s.contains("principals_scope")),
                "a page of {scope:?} sorts the scope:\n{}",
                plan.join("\n")
            );
        }
    }
    Ok(())
}

/// Audit log queries are index searches in newest-first order: by account, actor or resource, and the purge's by time.
#[tokio::test]
async fn audit_queries_use_indexes() -> Result<()> {
    use idplane_core::audit::{AuditCursor, AuditQuery};
    let (store, _dir) = on_disk()?;
    let account = Some("a".to_string());
    let base = AuditQuery { account_id: account.clone(), limit: 100, ..AuditQuery::default() };
    let cursor = AuditCursor { time: conformance::at(5), id: 7 };
    let cases = [
        (base.clone(), "audit_log_account"),
        (AuditQuery { since: Some(conformance::at(1)), before: Some(cursor), ..base.clone() }, "audit_log_account"),
        (AuditQuery { principal_id: Some(1), ..base.clone() }, "audit_log_actor"),
        (
            AuditQuery { resource_id: Some("1".into()), until: Some(conformance::at(9)), ..base.clone() },
            "audit_log_resource",
        ),
        (AuditQuery { account_id: None, since: Some(conformance::at(1)), ..base.clone() }, "audit_log_time"),
    ];
    for (query, index) in cases {
        let plan = store.explain_audit(&query).await?;
        ensure!(
            plan.iter().any(|s| s.starts_with("SEARCH audit_log USING INDEX") && s.contains(index))
                && !plan.iter().any(|s| s.contains("TEMP B-TREE")),
            "{query:?} should search {index} in order:\n{}",
            plan.join("\n")
        );
    }
    Ok(())
}

/// Provisioning log listings are index searches in the order asked: each equality on its own index (the most
/// selective when there are several), a time range or no filter on the tenant's time index, never a sort.
#[tokio::test]
async fn provisioning_log_queries_use_their_indexes() -> Result<()> {
    use idplane_provisioning::logs::query::{IdField, LogClause, Side, TimeOp};
    use idplane_provisioning::logs::{LogCursor, LogOrder, LogQuery, ProvisioningAction, ProvisioningResult};
    let (store, _dir) = on_disk()?;
    let eq = |f: IdField, v: &str| LogClause::Equals(f, v.to_string());
    let since = LogClause::Activity(TimeOp::Ge, conformance::at(1));
    let cursor = Some(LogCursor { activity: conformance::at(5), id: "x".into() });
    let cases: Vec<(Vec<LogClause>, &str)> = vec![
        (vec![], "provisioning_logs_time"),
        (vec![since.clone(), LogClause::NameContains(Side::Source, "Ann".into())], "provisioning_logs_time"),
        (vec![eq(IdField::JobId, "j"), since.clone()], "provisioning_logs_job"),
        (vec![eq(IdField::ServicePrincipalId, "sp")], "provisioning_logs_principal"),
        (vec![eq(IdField::ServicePrincipalId, "sp"), eq(IdField::CycleId, "c")], "provisioning_logs_cycle"),
        (vec![eq(IdField::JobId, "j"), eq(IdField::ChangeId, "c")], "provisioning_logs_change"),
        (vec![eq(IdField::SourceId, "s"), LogClause::Status(ProvisioningResult::Failure)], "provisioning_logs_source"),
        (vec![eq(IdField::TargetId, "t")], "provisioning_logs_target"),
        (vec![LogClause::Action(ProvisioningAction::Delete)], "provisioning_logs_action"),
        (vec![LogClause::Status(ProvisioningResult::Failure), since.clone()], "provisioning_logs_status"),
    ];
    for (filter, index) in cases {
        for order in [LogOrder::NewestFirst, LogOrder::OldestFirst] {
            for after in [None, cursor.clone()] {
                let query = LogQuery { filter: filter.clone(), order, after, top: 100 };
                let plan = store.explain_logs("t", &query).await?;
                ensure!(
                    plan.iter().any(|s| s.starts_with("SEARCH provisioning_logs USING INDEX") && s.contains(index))
                        && !plan.iter().any(|s| s.contains("TEMP B-TREE")),
                    "{query:?} should search {index} in order:\n{}",
                    plan.join("\n")
                );
            }
        }
    }
    let query = LogQuery { filter: vec![eq(IdField::Id, "i")], ..LogQuery::default() };
    let plan = store.explain_logs("t", &query).await?;
    ensure!(plan.iter().any(|s| s.contains("sqlite_autoindex_provisioning_logs")), "by id: {}", plan.join("\n"));
    Ok(())
}

/// A plan step that does not read a whole table or scope: no scan (of a table; scans of a recursive query's queue
/// `g`, its summary `d`, or the upward walk `up` of federated visibility hold only what was found, `CONSTANT ROW`
/// is the walk's seed, and `json_each` reads the list of ids the statement was given) and no Bloom filter over
/// principals (built by reading every principal the other conditions allow).
fn reads_only_what_it_finds(step: &str) -> bool {
    let scans_found_rows = matches!(step, "SCAN g" | "SCAN d" | "SCAN up" | "SCAN CONSTANT ROW")
        || step.starts_with("SCAN json_each VIRTUAL TABLE");
    (!step.starts_with("SCAN") || scans_found_rows) && !step.starts_with("BLOOM FILTER ON p")
}

// ---- cost of membership changes ----

/// Stores `n` users named `{prefix}{i}@example.com`, returning their ids. A few inserts are kept in flight so that
/// handing work to the blocking pool overlaps with the writer's work.
async fn insert_users(store: &SqliteStore, account: &Account, prefix: &str, n: usize) -> Result<Vec<i64>> {
    const IN_FLIGHT: usize = 8;
    let mut ids = Vec::with_capacity(n);
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..n {
        let doc =
            json!({"userName": format!("{prefix}{i}@example.com"), "displayName": format!("User {i}"), "active": true});
        let p = principal(PrincipalKind::User, account, Home::Account, doc)?;
        ids.push(p.id);
        let store = store.clone();
        tasks.spawn(async move { store.insert_principal(&bare(p.clone()), &[]).await });
        if tasks.len() >= IN_FLIGHT
            && let Some(done) = tasks.join_next().await
        {
            done??;
        }
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    Ok(ids)
}

/// Writes `n` users of `account` straight into the database file, in one transaction. The membership test needs
/// them only to exist: storing 100,000 through the API, one transaction each, takes about 40 s in a debug build (what
/// `benchmark_100k_users` measures).
fn bulk_users(store: &SqliteStore, account: &Account, n: usize) -> Result<Vec<i64>> {
    let path = store.path().ok_or_else(|| anyhow::anyhow!("an on-disk store"))?;
    let mut conn = rusqlite::Connection::open(path)?;
    let tx = conn.transaction()?;
    let mut ids = Vec::with_capacity(n);
    {
        let mut insert = tx.prepare(
            "INSERT INTO principals (id, kind, account_id, home_workspace, unique_value, unique_key, doc, version, \
             created, last_modified) VALUES (?1, 'user', ?2, 0, ?3, ?3, json_object('userName', ?3), 1, 0, 0)",
        )?;
        for i in 0..n {
            let id = idplane_core::ids::new_numeric_id()?;
            insert.execute(rusqlite::params![id, account.id, format!("member{i}@example.com")])?;
            ids.push(id);
        }
    }
    tx.commit()?;
    Ok(ids)
}

/// A group of 100,000 members, then one more: the change writes the one membership row and the group's version,
/// and reads none of the other members.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adding_a_member_to_a_large_group_costs_one_row() -> Result<()> {
    const MEMBERS: usize = 100_000;
    const BATCH: usize = 10_000;
    let (store, _dir) = on_disk()?;
    let a = account(&store, "a").await?;
    let users = bulk_users(&store, &a, MEMBERS + 1)?;
    let group = principal(PrincipalKind::Group, &a, Home::Account, json!({"displayName": "everyone"}))?;
    store.insert_principal(&bare(group.clone()), &[]).await?;

    let started = Instant::now();
    let mut version = group.version;
    for batch in users[..MEMBERS].chunks(BATCH) {
        let update = PrincipalUpdate {
            id: group.id,
            expected_version: Some(version),
            doc: None,
            members: vec![MemberOp::add(batch.to_vec())],
            workspace_values: None,
            last_modified: conformance::at(1),
        };
        store.update_principal(&update, &[]).await?;
        version += 1;
    }
    eprintln!("added {MEMBERS} members in batches of {BATCH} in {:?}", started.elapsed());

    let before = store.total_changes().await?;
    let started = Instant::now();
    let one_more = PrincipalUpdate {
        id: group.id,
        expected_version: Some(version),
        doc: None,
        members: vec![MemberOp::add(vec![users[MEMBERS]])],
        workspace_values: None,
        last_modified: conformance::at(2),
    };
    // As the service records it: with its audit entry, one more row in the same transaction.
    let entry = idplane_core::audit::AuditEntry::new(
        &idplane_core::audit::Actor::cli(),
        conformance::at(2),
        &a.id,
        idplane_core::audit::ResourceType::Group,
        group.id,
        idplane_core::audit::Operation::Patch,
    );
    store.update_principal(&one_more, &[entry]).await?;
    eprintln!("added one member to a group of {MEMBERS} in {:?}", started.elapsed());
    assert_eq!(store.total_changes().await? - before, 3, "one membership row, the group's version, one audit entry");

    let before = store.total_changes().await?;
    let remove = PrincipalUpdate {
        expected_version: Some(version + 1),
        members: vec![MemberOp::Remove(vec![users[0]])],
        ..one_more
    };
    store.update_principal(&remove, &[]).await?;
    assert_eq!(store.total_changes().await? - before, 2, "one membership row and the group's version");

    let started = Instant::now();
    let members = store.members(group.id).await?;
    eprintln!("read {} members in {:?}", members.len(), started.elapsed());
    assert_eq!(members.len(), MEMBERS);
    let started = Instant::now();
    let groups = store.groups_of(&account_scope(&a), users[MEMBERS]).await?;
    eprintln!("groups_of a member in {:?} (cold)", started.elapsed());
    assert_eq!(groups.len(), 1);
    let started = Instant::now();
    store.groups_of(&account_scope(&a), users[MEMBERS]).await?;
    eprintln!("groups_of a member in {:?}", started.elapsed());
    // The members' display comes from the indexed columns.
    let m = members.iter().find(|m| m.id == users[1]);
    assert_eq!(m.map(|m| m.display.as_str()), Some("member1@example.com"));
    Ok(())
}

// ---- benchmark ----

/// Prints timings for 100,000 users: inserts, gets by id, and `userName eq` lookups. Run with
/// `cargo test -p idplane-store --release -- --ignored --nocapture benchmark`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a benchmark: prints timings"]
async fn benchmark_100k_users() -> Result<()> {
    const USERS: usize = 100_000;
    const LOOKUPS: usize = 10_000;
    let (store, _dir) = on_disk()?;
    let a = account(&store, "a").await?;
    let scope = account_scope(&a);

    let started = Instant::now();
    let ids = insert_users(&store, &a, "user", USERS).await?;
    let elapsed = started.elapsed();
    eprintln!("insert: {USERS} users in {elapsed:?} ({:?} each)", elapsed / USERS as u32);

    let step = USERS / LOOKUPS;
    let started = Instant::now();
    for &id in ids.iter().step_by(step) {
        ensure!(store.principal(&scope, Some(PrincipalKind::User), id).await?.is_some());
    }
    let elapsed = started.elapsed();
    eprintln!("get by id: {LOOKUPS} in {elapsed:?} ({:?} each)", elapsed / LOOKUPS as u32);

    let started = Instant::now();
    for i in (0..USERS).step_by(step) {
        let f = eq("userName", &format!("USER{i}@example.com"));
        let found =
            store.list_principals(&scope, PrincipalKind::User, &ListSpec { limit: 10, ..spec(Some(&f)) }).await?;
        ensure!(matches!(found, idplane_core::store::Listing::Page { total: 1, .. }));
    }
    let elapsed = started.elapsed();
    eprintln!("userName eq: {LOOKUPS} in {elapsed:?} ({:?} each)", elapsed / LOOKUPS as u32);

    let started = Instant::now();
    let page = store.list_principals(&scope, PrincipalKind::User, &ListSpec { limit: 100, ..spec(None) }).await?;
    ensure!(matches!(page, idplane_core::store::Listing::Page { total: USERS, .. }));
    eprintln!("first page of 100 with the total: {:?}", started.elapsed());
    Ok(())
}

/// Prints timings for 100,000 provisioning log records written as a cycle writes them (pages of 1,000), a page by
/// cycle, a `contains` over every record of the tenant, and their purge. Run with
/// `cargo test -p idplane-store --release -- --ignored --nocapture benchmark`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a benchmark: prints timings"]
async fn benchmark_100k_provisioning_logs() -> Result<()> {
    use idplane_provisioning::logs::LogQuery;
    use idplane_provisioning::logs::query::{IdField, LogClause, Side};
    use idplane_provisioning::store::ProvisioningLogStore;
    const RECORDS: i64 = 100_000;
    const PAGE: i64 = 1_000;
    let tenant = "00000000-0000-4000-8000-00000000000a";
    let (store, _dir) = on_disk()?;
    let started = Instant::now();
    for first in (0..RECORDS).step_by(PAGE as usize) {
        let page: Vec<_> = (first..first + PAGE).map(|n| conformance::logs::record(tenant, n)).collect();
        store.insert_logs(&page).await?;
    }
    let elapsed = started.elapsed();
    eprintln!("insert: {RECORDS} records in pages of {PAGE} in {elapsed:?} ({:?} each)", elapsed / RECORDS as u32);

    let started = Instant::now();
    let cycle =
        LogQuery { filter: vec![LogClause::Equals(IdField::CycleId, "cycle5000".into())], ..LogQuery::default() };
    ensure!(store.logs(tenant, &cycle).await?.items.len() == 10);
    eprintln!("the records of one cycle: {:?}", started.elapsed());

    let started = Instant::now();
    let rare = LogQuery { filter: vec![LogClause::NameContains(Side::Source, "nobody".into())], ..LogQuery::default() };
    ensure!(store.logs(tenant, &rare).await?.items.is_empty());
    eprintln!("contains, matching nothing among {RECORDS}: {:?}", started.elapsed());

    let started = Instant::now();
    ensure!(store.purge_logs(conformance::at(RECORDS)).await? == RECORDS as u64);
    eprintln!("purge of {RECORDS}: {:?}", started.elapsed());
    Ok(())
}
