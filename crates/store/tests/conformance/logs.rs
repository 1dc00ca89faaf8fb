//! The conformance suite of the provisioning logs' port (`ProvisioningLogStore`): records round-trip within their
//! tenant, every clause of a query selects what the domain says it does ([`LogQuery::matches`]), pages follow each
//! other by position in both orders, and purges remove by age. [`provisioning_log_tests!`] makes one test per case
//! for a backend.

use std::sync::Arc;

use anyhow::{Result, ensure};
use idplane_provisioning::logs::query::{IdField, LogClause, Side, TimeOp};
use idplane_provisioning::logs::{
    LogOrder, LogQuery, ProvisioningAction, ProvisioningLog, ProvisioningResult, graph_precision,
};
use idplane_provisioning::store::ProvisioningLogStore;
use time::OffsetDateTime;

use super::at;

/// Defines one test per provisioning-log conformance case for the backend that `$make` creates.
macro_rules! provisioning_log_tests {
    ($make:expr $(, #[$attr:meta])?) => {
        provisioning_log_tests!(@cases $make, [$($attr)?];
            logs_round_trip_within_their_tenant,
            log_clauses_select_what_the_domain_says,
            log_pages_follow_each_other_by_position,
            logs_are_purged_by_age,
        );
    };
    (@cases $make:expr, $attrs:tt; $($case:ident),* $(,)?) => {
        $(provisioning_log_tests!(@case $make, $attrs, $case);)*
    };
    (@case $make:expr, [$($attr:meta)?], $case:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        $(#[$attr])?
        async fn $case() -> anyhow::Result<()> {
            let (store, _guard) = $make;
            crate::conformance::logs::$case(std::sync::Arc::new(store)).await
        }
    };
}
pub(crate) use provisioning_log_tests;

const TENANT: &str = "00000000-0000-4000-8000-00000000000a";
const OTHER: &str = "00000000-0000-4000-8000-00000000000b";

/// Record `n` of `tenant` (see [`idplane_testkit::logs::record`]) at `at(n / 2)`: two records share each time, so
/// that ties are broken by id.
pub fn record(tenant: &str, n: i64) -> ProvisioningLog {
    idplane_testkit::logs::record(tenant, n, at(n / 2))
}

/// The records `query` selects among `all`, in its order, as the domain defines them.
fn expected(all: &[ProvisioningLog], query: &LogQuery) -> Vec<String> {
    let mut out: Vec<&ProvisioningLog> = all.iter().filter(|l| query.matches(l)).collect();
    out.sort_by(|a, b| (graph_precision(a.activity), &a.id).cmp(&(graph_precision(b.activity), &b.id)));
    if query.order == LogOrder::NewestFirst {
        out.reverse();
    }
    out.into_iter().map(|l| l.id.clone()).collect()
}

/// Every record a query selects, page after page.
async fn all_pages<S: ProvisioningLogStore>(store: &S, tenant: &str, query: &LogQuery) -> Result<Vec<String>> {
    let mut q = query.clone();
    let mut ids = Vec::new();
    for _ in 0..1000 {
        let page = store.logs(tenant, &q).await?;
        ensure!(page.items.len() <= q.top, "a page holds at most top records");
        ids.extend(page.items.iter().map(|l| l.id.clone()));
        match page.next {
            Some(cursor) => q.after = Some(cursor),
            None => return Ok(ids),
        }
    }
    anyhow::bail!("the pages never ended")
}

pub async fn logs_round_trip_within_their_tenant<S: ProvisioningLogStore>(store: Arc<S>) -> Result<()> {
    let mine: Vec<ProvisioningLog> = (0..3).map(|n| record(TENANT, n)).collect();
    store.insert_logs(&mine).await?;
    store.insert_logs(&[record(OTHER, 7)]).await?;
    store.insert_logs(&[]).await?;
    for l in &mine {
        ensure!(store.log(TENANT, &l.id).await?.as_ref() == Some(l), "{} reads back as written", l.id);
        ensure!(store.log(OTHER, &l.id).await?.is_none(), "another tenant's record is not found");
    }
    ensure!(store.log(TENANT, &record(OTHER, 7).id).await?.is_none());
    ensure!(store.log(OTHER, &record(OTHER, 7).id).await? == Some(record(OTHER, 7)));

    // A page written again (a retried write) records nothing twice and changes nothing.
    let mut again = mine.clone();
    again[0].duration_ms = 999_999;
    again.push(record(TENANT, 3));
    store.insert_logs(&again).await?;
    ensure!(store.log(TENANT, &mine[0].id).await?.map(|l| l.duration_ms) == Some(mine[0].duration_ms));
    let listed = store.logs(TENANT, &LogQuery::default()).await?;
    let ids: Vec<&str> = listed.items.iter().map(|l| l.id.as_str()).collect();
    ensure!(ids == [&record(TENANT, 3).id, &mine[2].id, &mine[1].id, &mine[0].id], "newest first: {ids:?}");
    ensure!(listed.next.is_none());
    Ok(())
}

pub async fn log_clauses_select_what_the_domain_says<S: ProvisioningLogStore>(store: Arc<S>) -> Result<()> {
    let all: Vec<ProvisioningLog> = (0..40).map(|n| record(TENANT, n)).collect();
    store.insert_logs(&all).await?;
    store.insert_logs(&(0..40).map(|n| record(OTHER, n)).collect::<Vec<_>>()).await?;
    let t = |n: i64| at(n);
    // A time between two stored ones, and the very time of records 20 and 21, given to the nanosecond.
    let between = t(10) + time::Duration::milliseconds(500);
    let clauses: Vec<Vec<LogClause>> = vec![
        vec![],
        vec![LogClause::Activity(TimeOp::Eq, t(10))],
        vec![LogClause::Activity(TimeOp::Gt, t(10))],
        vec![LogClause::Activity(TimeOp::Ge, t(10))],
        vec![LogClause::Activity(TimeOp::Lt, t(10))],
        vec![LogClause::Activity(TimeOp::Le, t(10))],
        vec![LogClause::Activity(TimeOp::Ge, between), LogClause::Activity(TimeOp::Lt, t(15))],
        vec![LogClause::Activity(TimeOp::Ge, OffsetDateTime::UNIX_EPOCH)],
        vec![LogClause::Equals(IdField::Id, all[5].id.clone())],
        vec![LogClause::Equals(IdField::JobId, "dataBricks.job1".into())],
        vec![LogClause::Equals(IdField::ServicePrincipalId, "sp0".into())],
        vec![LogClause::Equals(IdField::CycleId, "cycle2".into())],
        vec![LogClause::Equals(IdField::ChangeId, "change17".into())],
        vec![LogClause::Equals(IdField::SourceId, "source3".into())],
        vec![LogClause::Equals(IdField::TargetId, "target4".into())],
        vec![LogClause::Equals(IdField::JobId, "DATABRICKS.JOB1".into())],
        vec![LogClause::Equals(IdField::ChangeId, "change140".into())],
        vec![LogClause::Action(ProvisioningAction::StagedDelete)],
        vec![LogClause::Status(ProvisioningResult::Failure)],
        vec![LogClause::NameContains(Side::Source, "O'Neil".into())],
        vec![LogClause::NameContains(Side::Source, "o'neil".into())],
        vec![LogClause::NameContains(Side::Target, "n3".into())],
        vec![LogClause::NameContains(Side::Target, String::new())],
        vec![
            LogClause::Equals(IdField::JobId, "dataBricks.job0".into()),
            LogClause::Status(ProvisioningResult::Success),
            LogClause::Activity(TimeOp::Lt, t(15)),
        ],
        vec![
            LogClause::Equals(IdField::JobId, "dataBricks.job0".into()),
            LogClause::Equals(IdField::JobId, "x".into()),
        ],
    ];
    for filter in clauses {
        for order in [LogOrder::NewestFirst, LogOrder::OldestFirst] {
            let q = LogQuery { filter: filter.clone(), order, top: 6, ..LogQuery::default() };
            let want = expected(&all, &q);
            let got = all_pages(store.as_ref(), TENANT, &q).await?;
            ensure!(got == want, "{filter:?} {order:?}:\n got {got:?}\nwant {want:?}");
        }
    }
    Ok(())
}

pub async fn log_pages_follow_each_other_by_position<S: ProvisioningLogStore>(store: Arc<S>) -> Result<()> {
    let all: Vec<ProvisioningLog> = (0..25).map(|n| record(TENANT, n)).collect();
    // Written in several transactions, in no particular order.
    store.insert_logs(&all[10..]).await?;
    store.insert_logs(&all[..10]).await?;
    let newest = LogQuery { top: 7, ..LogQuery::default() };
    let first = store.logs(TENANT, &newest).await?;
    ensure!(first.items.len() == 7 && first.next.is_some());
    ensure!(first.items[0] == all[24] && first.items[1] == all[23], "ties are broken by id");

    // A record added while a client pages sorts before its first page, never into a later one.
    store.insert_logs(&[record(TENANT, 40)]).await?;
    let mut q = LogQuery { after: first.next.clone(), ..newest.clone() };
    let mut ids: Vec<String> = first.items.iter().map(|l| l.id.clone()).collect();
    loop {
        let page = store.logs(TENANT, &q).await?;
        ids.extend(page.items.iter().map(|l| l.id.clone()));
        match page.next {
            Some(c) => q.after = Some(c),
            None => break,
        }
    }
    let want: Vec<String> = all.iter().rev().map(|l| l.id.clone()).collect();
    ensure!(ids == want, "newest first, each record once:\n got {ids:?}\nwant {want:?}");

    let oldest = LogQuery { order: LogOrder::OldestFirst, top: 10, ..LogQuery::default() };
    let ids = all_pages(store.as_ref(), TENANT, &oldest).await?;
    let mut want: Vec<String> = all.iter().map(|l| l.id.clone()).collect();
    want.push(record(TENANT, 40).id);
    ensure!(ids == want, "oldest first:\n got {ids:?}\nwant {want:?}");

    // A page exactly as long as what is left says that nothing follows.
    let exact = store.logs(TENANT, &LogQuery { top: 26, ..LogQuery::default() }).await?;
    ensure!(exact.items.len() == 26 && exact.next.is_none());
    Ok(())
}

pub async fn logs_are_purged_by_age<S: ProvisioningLogStore>(store: Arc<S>) -> Result<()> {
    store.insert_logs(&(0..30).map(|n| record(TENANT, n)).collect::<Vec<_>>()).await?;
    store.insert_logs(&(0..10).map(|n| record(OTHER, n)).collect::<Vec<_>>()).await?;
    ensure!(store.purge_logs(at(0)).await? == 0, "nothing is older than the oldest");
    // Records 0..10 of each tenant are at at(0)..at(4): before at(5).
    ensure!(store.purge_logs(at(5)).await? == 20);
    ensure!(store.purge_logs(at(5)).await? == 0, "a purge is idempotent");
    ensure!(store.log(TENANT, &record(TENANT, 9).id).await?.is_none());
    ensure!(store.log(TENANT, &record(TENANT, 10).id).await?.is_some());
    ensure!(all_pages(store.as_ref(), OTHER, &LogQuery::default()).await?.is_empty());
    ensure!(store.purge_logs(at(1000)).await? == 20);
    Ok(())
}
