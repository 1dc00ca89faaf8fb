//! `GET /v1.0/auditLogs/provisioning` and `/{id}` in-process, over records inserted through the store (the engine
//! that writes them is not part of these tests): every filter, both orders, paging by next links, one record, 404s,
//! refusals in Graph's error shape, and tenants kept apart.

use anyhow::{Context, Result};
use axum::http::{Method, StatusCode};
use idplane_provisioning::logs::query::parse_filter;
use idplane_provisioning::logs::{LogQuery, ProvisioningLog, graph_precision};
use idplane_provisioning::tenant;
use idplane_testkit::App;
use serde_json::Value;
use time::OffsetDateTime;

use super::graph::assert_graph_error;

const RECORDS: i64 = 30;

fn at(n: i64) -> OffsetDateTime {
    time::macros::datetime!(2026-12-06 10:00:00.123456789 UTC) + time::Duration::seconds(n)
}

/// The default tenant's records 0..RECORDS (two at each second), and another tenant's as many, with its token.
async fn app_with_logs() -> Result<(App, Vec<ProvisioningLog>, String)> {
    let app = App::new().await?;
    let mine = app.provisioning.tenant_of_account(&app.account).await?.context("the default tenant")?;
    let (other, secret) = tenant::create(app.provisioning.as_ref(), "other", None, None, true, at(0)).await?;
    let records: Vec<ProvisioningLog> =
        (0..RECORDS).map(|n| idplane_testkit::logs::record(&mine.id, n, at(n / 2))).collect();
    app.provisioning.insert_logs(&records).await?;
    let theirs: Vec<ProvisioningLog> =
        (0..RECORDS).map(|n| idplane_testkit::logs::record(&other.id, n, at(n / 2))).collect();
    app.provisioning.insert_logs(&theirs).await?;
    Ok((app, records, secret.context("a token of the other tenant")?.expose().to_string()))
}

/// The ids a listing answers, page after page through its absolute next links.
async fn ids(app: &App, first: &str) -> Result<(Vec<String>, usize)> {
    let mut url = first.to_string();
    let (mut seen, mut pages) = (Vec::new(), 0);
    loop {
        let r = app.get(&url).await?;
        assert_eq!(r.status, StatusCode::OK, "{url}: {}", r.body);
        assert_eq!(r.body["@odata.context"], "http://idp.test/v1.0/$metadata#auditLogs/provisioning", "{}", r.body);
        pages += 1;
        let values = r.body["value"].as_array().context("value")?;
        seen.extend(values.iter().filter_map(|v| v["id"].as_str().map(str::to_string)));
        match r.body["@odata.nextLink"].as_str() {
            Some(next) => {
                assert!(next.starts_with("http://idp.test/v1.0/auditLogs/provisioning?"), "{next}");
                url = next.trim_start_matches("http://idp.test").to_string();
            }
            None => return Ok((seen, pages)),
        }
    }
}

/// `text` escaped for a query string.
fn escaped(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// What a filter selects among `records`, newest first, as the domain defines it.
fn expected(records: &[ProvisioningLog], filter: &str) -> Result<Vec<String>> {
    let q = LogQuery { filter: parse_filter(filter)?, ..LogQuery::default() };
    let mut matching: Vec<&ProvisioningLog> = records.iter().filter(|l| q.matches(l)).collect();
    matching.sort_by(|a, b| (graph_precision(b.activity), &b.id).cmp(&(graph_precision(a.activity), &a.id)));
    Ok(matching.into_iter().map(|l| l.id.clone()).collect())
}

#[tokio::test]
async fn every_filter_answers_what_it_asks_page_after_page() -> Result<()> {
    let (app, records, _) = app_with_logs().await?;
    let id = |n: usize| records[n].id.clone();
    let (all, pages) = ids(&app, "/v1.0/auditLogs/provisioning").await?;
    assert_eq!(pages, 1, "30 records fit Graph's default page");
    assert_eq!(all, records.iter().rev().map(|l| l.id.clone()).collect::<Vec<_>>(), "newest first, then by id");
    let cases: Vec<(String, Vec<String>)> = vec![
        ("activityDateTime ge 2026-12-06T10:00:10.1234567Z".into(), (20..30).rev().map(id).collect()),
        (
            "activityDateTime gt 2026-12-06T10:00:10.1234567Z and activityDateTime lt 2026-12-06T10:00:12Z".into(),
            vec![id(23), id(22)],
        ),
        ("activityDateTime le 2026-12-06T10:00:00.123456789Z".into(), vec![id(1), id(0)]),
        ("activityDateTime eq '2026-12-06T11:00:00.1234567+01:00'".into(), vec![id(1), id(0)]),
        ("jobId eq 'dataBricks.job1' and cycleId eq 'cycle1'".into(), vec![id(19), id(17), id(15), id(13), id(11)]),
        (format!("changeId eq 'change7' and id eq '{}'", id(7)), vec![id(7)]),
        ("changeId eq 'CHANGE7'".into(), vec![]),
        ("provisioningAction eq 'Disable'".into(), vec![id(27), id(21), id(15), id(9), id(3)]),
        (
            "provisioningAction eq 'update' and provisioningStatusInfo/status eq 'FAILURE'".into(),
            vec![id(25), id(13), id(1)],
        ),
        ("sourceIdentity/id eq 'source3' and targetIdentity/id eq 'target4'".into(), vec![id(24)]),
        (
            "servicePrincipal/id eq 'sp0' and provisioningStatusInfo/status eq 'skipped'".into(),
            vec![id(26), id(22), id(18), id(14), id(10), id(6), id(2)],
        ),
        ("contains(sourceIdentity/displayName, 'O''Neil 1')".into(), vec![id(18), id(15), id(12)]),
        ("contains(targetIdentity/displayName, 'ann2')".into(), (20..30).rev().map(id).chain([id(2)]).collect()),
        ("contains(sourceIdentity/displayName, 'o''neil')".into(), vec![]),
    ];
    for (filter, want) in cases {
        assert_eq!(expected(&records, &filter)?, want, "the domain agrees with the test about {filter}");
        let (got, _) = ids(&app, &format!("/v1.0/auditLogs/provisioning?$filter={}&$top=2", escaped(&filter))).await?;
        assert_eq!(got, want, "{filter}");
    }
    for action in ["create", "update", "delete", "disable", "stagedDelete", "other"] {
        let filter = format!("provisioningAction eq '{action}'");
        let (got, _) = ids(&app, &format!("/v1.0/auditLogs/provisioning?$filter={}", escaped(&filter))).await?;
        assert_eq!(got, expected(&records, &filter)?, "{filter}");
        assert!(!got.is_empty(), "{filter}");
    }
    Ok(())
}

#[tokio::test]
async fn pages_follow_next_links_in_either_order() -> Result<()> {
    let (app, records, _) = app_with_logs().await?;
    let newest: Vec<String> = records.iter().rev().map(|l| l.id.clone()).collect();
    let (got, pages) = ids(&app, "/v1.0/auditLogs/provisioning?$top=7").await?;
    assert_eq!((got, pages), (newest.clone(), 5));
    let (got, pages) = ids(&app, "/v1.0/auditLogs/provisioning?$orderby=activityDateTime%20asc&$top=10").await?;
    let oldest: Vec<String> = records.iter().map(|l| l.id.clone()).collect();
    assert_eq!((got, pages), (oldest, 3), "an exact last page says nothing follows");
    let (got, _) = ids(&app, "/v1.0/auditLogs/provisioning?$orderby=activityDateTime%20desc&$top=999").await?;
    assert_eq!(got, newest);
    // The next link keeps the filter.
    let filter = escaped("provisioningStatusInfo/status eq 'success'");
    let (got, pages) = ids(&app, &format!("/v1.0/auditLogs/provisioning?$filter={filter}&$top=3")).await?;
    assert_eq!((got, pages), (expected(&records, "provisioningStatusInfo/status eq 'success'")?, 3));
    Ok(())
}

#[tokio::test]
async fn one_record_reads_by_id_within_its_tenant() -> Result<()> {
    let (app, records, other_token) = app_with_logs().await?;
    let r = app.get(&format!("/v1.0/auditLogs/provisioning/{}", records[5].id)).await?;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["@odata.context"], "http://idp.test/v1.0/$metadata#auditLogs/provisioning/$entity");
    let mut rendered = Value::Object(records[5].render());
    if let Some(m) = rendered.as_object_mut() {
        m.insert("@odata.context".into(), r.body["@odata.context"].clone());
    }
    assert_eq!(r.body, rendered);
    assert_eq!(r.body["provisioningStatusInfo"]["errorInformation"]["errorCode"], "EntryConflict");
    // Segment names are matched case-insensitively, as Graph matches them.
    let r = app.get(&format!("/v1.0/auditlogs/Provisioning/{}", records[5].id)).await?;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);

    // Another tenant reads its own records only: the same listing, none of these ids, and 404 for them.
    let theirs = app.get_as("/v1.0/auditLogs/provisioning?$top=999", &other_token).await?;
    let their_ids: Vec<&str> =
        theirs.body["value"].as_array().into_iter().flatten().filter_map(|v| v["id"].as_str()).collect();
    assert_eq!(their_ids.len(), RECORDS as usize);
    assert!(records.iter().all(|l| !their_ids.contains(&l.id.as_str())));
    let r = app.get_as(&format!("/v1.0/auditLogs/provisioning/{}", records[5].id), &other_token).await?;
    assert_graph_error(&r, 404, "Request_ResourceNotFound");
    assert_graph_error(&app.get("/v1.0/auditLogs/provisioning/nothing-here").await?, 404, "Request_ResourceNotFound");
    Ok(())
}

#[tokio::test]
async fn what_is_not_served_is_refused_in_graphs_shape() -> Result<()> {
    let (app, _, _) = app_with_logs().await?;
    let base = "/v1.0/auditLogs/provisioning";
    for (query, code, needle) in [
        (format!("$filter={}", escaped("jobId eq 'a' or jobId eq 'b'")), "Request_UnsupportedQuery", "'or'"),
        (format!("$filter={}", escaped("tenantId eq 'x'")), "Request_UnsupportedQuery", "'tenantId'"),
        (format!("$filter={}", escaped("jobId eq")), "Request_BadRequest", "quoted string"),
        (format!("$filter={}", escaped("activityDateTime ge today")), "Request_BadRequest", "RFC 3339"),
        ("$orderby=jobId".into(), "Request_UnsupportedQuery", "$orderby"),
        ("$select=id".into(), "Request_UnsupportedQuery", "$select"),
        ("$count=true".into(), "Request_UnsupportedQuery", "$count"),
        ("$search=x".into(), "Request_UnsupportedQuery", "$search"),
        ("$top=0".into(), "Request_BadRequest", "page size"),
        ("$skiptoken=nope".into(), "Request_BadRequest", "$skiptoken"),
    ] {
        let r = app.get(&format!("{base}?{query}")).await?;
        assert_graph_error(&r, 400, code);
        let message = r.body["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(needle), "{query}: {message}");
    }
    // A next link's page token belongs to its order.
    let r = app.get(&format!("{base}?$top=2")).await?;
    let next = r.body["@odata.nextLink"].as_str().context("a next link")?.trim_start_matches("http://idp.test");
    let r = app.get(&format!("{next}&$orderby=activityDateTime")).await?;
    assert_graph_error(&r, 400, "Request_BadRequest");
    let r = app.send(Method::POST, base, Some(serde_json::json!({})), &[]).await?;
    assert_graph_error(&r, 405, "Request_MethodNotAllowed");
    Ok(())
}
