//! `idplane app logs` against the real server, and the retention of provisioning logs. The server has no API that
//! writes records (the provisioning engine does): the test stops the server, writes records into its data
//! directory's store as the engine would (through `idplane-store`, the way the admin commands open it), and starts
//! the server again on it. That restart is also when the server purges records past their retention.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use idplane_provisioning::logs::ProvisioningLog;
use idplane_provisioning::store::ProvisioningLogStore;
use idplane_testkit::binary::call;
use serde_json::Value;
use time::OffsetDateTime;

use super::Server;
use super::provisioning::{TOKEN, fails, ok};

/// Records written for the application, more than one page of the API's (999).
const RECORDS: i64 = 1_100;

/// The ids of a collection's records, in order.
fn ids(collection: &Value) -> Vec<String> {
    collection["value"].as_array().into_iter().flatten().filter_map(|v| v["id"].as_str().map(str::to_string)).collect()
}

#[tokio::test]
async fn app_logs_exports_every_page_filtered_as_json_csv_or_a_table() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let data = tmp.path().join("data");
    let server = Server::start(&data, Some(TOKEN))?;
    let graph = server.value("Graph API:").context("the banner's Graph API line")?;
    let tenant = graph.split("(tenant ").nth(1).and_then(|t| t.strip_suffix(')')).context("tenant")?.to_string();
    let made =
        ok(&server, TOKEN, &["app", "create", "--template", "databricks", "--name", "Azure Databricks", "--json"])?
            .json()?;
    let sp = made["servicePrincipal"]["id"].as_str().context("service principal")?.to_string();
    let other =
        ok(&server, TOKEN, &["app", "create", "--template", "non-gallery", "--name", "Other", "--json"])?.json()?;
    let other_sp = other["servicePrincipal"]["id"].as_str().context("the other service principal")?.to_string();
    server.terminate()?;

    // Record n is n seconds after a start two hours ago (see idplane_testkit::logs::record for what else varies);
    // one more, of the same application, is past the 30 days of the default retention; the other application has
    // records of its own.
    let start = OffsetDateTime::now_utc() - time::Duration::hours(2);
    let of = |service_principal_id: &str, n: i64, at: OffsetDateTime| ProvisioningLog {
        service_principal_id: service_principal_id.to_string(),
        ..idplane_testkit::logs::record(&tenant, n, at)
    };
    let records: Vec<ProvisioningLog> = (0..RECORDS).map(|n| of(&sp, n, start + time::Duration::seconds(n))).collect();
    let old = of(&sp, RECORDS, OffsetDateTime::now_utc() - time::Duration::days(40));
    let theirs: Vec<ProvisioningLog> =
        (RECORDS + 1..RECORDS + 4).map(|n| of(&other_sp, n, start + time::Duration::seconds(n))).collect();
    {
        let store = idplane_store::SqliteStore::open(&data)?;
        store.insert_logs(&records).await?;
        store.insert_logs(std::slice::from_ref(&old)).await?;
        store.insert_logs(&theirs).await?;
    }
    let server = Server::start(&data, Some(TOKEN))?;
    let s = &server;

    // The purge at start removes the old record; it runs beside serving, so the test watches for it.
    let url = format!("{}/v1.0/auditLogs/provisioning/{}", s.origin, old.id);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (status, body) = call(reqwest::Method::GET, &url, TOKEN, None).await?;
        match status {
            404 => break,
            200 if Instant::now() < deadline => tokio::time::sleep(Duration::from_millis(50)).await,
            _ => bail!("the record past its retention is still served ({status}): {body}"),
        }
    }

    let newest: Vec<String> = records.iter().rev().map(|l| l.id.clone()).collect();
    let all = ok(s, TOKEN, &["app", "logs", "Azure Databricks", "--json"])?.json()?;
    assert_eq!(ids(&all), newest, "every page, newest first, this application's records only");
    assert_eq!(all["value"][0]["servicePrincipal"]["id"], sp.as_str());

    let csv_file = tmp.path().join("logs.csv");
    let csv_path = csv_file.to_str().context("path")?;
    let run = ok(s, TOKEN, &["app", "logs", &sp, "--format", "csv", "--output", csv_path])?;
    assert_eq!(run.out.trim(), format!("wrote {RECORDS} provisioning log records to {csv_path}"));
    let mut reader = csv::Reader::from_path(&csv_file)?;
    let header: Vec<String> = reader.headers()?.iter().map(str::to_string).collect();
    assert_eq!(
        (header.first().map(String::as_str), header.last().map(String::as_str)),
        (Some("TimeGenerated"), Some("ModifiedProperties"))
    );
    let column = |name: &str| header.iter().position(|h| h == name).context(name.to_string());
    let (id, result, signature, steps) =
        (column("Id")?, column("ResultType")?, column("ResultSignature")?, column("ProvisioningSteps")?);
    let rows: Vec<csv::StringRecord> = reader.records().collect::<Result<_, _>>()?;
    assert_eq!(rows.iter().map(|r| r[id].to_string()).collect::<Vec<_>>(), newest);
    // Record 1097 (newest but two) failed: status failure (the second of four), EntryConflict (n % 4 == 1).
    assert_eq!((&rows[2][result], &rows[2][signature]), ("Failure", "EntryConflict"));
    let steps: Value = serde_json::from_str(&rows[2][steps])?;
    assert_eq!(steps[0]["name"], "EntryExportAdd");

    let cycle = ok(s, TOKEN, &["app", "logs", "Azure Databricks", "--cycle", "cycle1", "--json"])?.json()?;
    assert_eq!(ids(&cycle), (10..20).rev().map(|n| records[n].id.clone()).collect::<Vec<_>>());
    let since =
        (start + time::Duration::seconds(RECORDS - 3)).format(&time::format_description::well_known::Rfc3339)?;
    let recent = ok(s, TOKEN, &["app", "logs", "Azure Databricks", "--since", &since, "--json"])?.json()?;
    assert_eq!(ids(&recent), newest[..3].to_vec());
    let failed_updates = ok(
        s,
        TOKEN,
        &["app", "logs", "Azure Databricks", "--action", "update", "--status", "FAILURE", "--since", "3h", "--json"],
    )?
    .json()?;
    // update: n % 6 == 1; failure: n % 4 == 1; so n % 12 == 1.
    let want: Vec<String> =
        newest.iter().zip((0..RECORDS).rev()).filter(|(_, n)| n % 12 == 1).map(|(id, _)| id.clone()).collect();
    assert_eq!(ids(&failed_updates), want);

    let json_file = tmp.path().join("top.json");
    let json_path = json_file.to_str().context("path")?;
    ok(s, TOKEN, &["app", "logs", "Azure Databricks", "--top", "3", "--format", "json", "--output", json_path])?;
    let top: Value = serde_json::from_str(&std::fs::read_to_string(&json_file)?)?;
    assert_eq!(ids(&top), newest[..3].to_vec());
    assert!(top["@odata.context"].as_str().is_some_and(|c| c.ends_with("#auditLogs/provisioning")), "{top}");

    let table = ok(s, TOKEN, &["app", "logs", "Other"])?.out;
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 4, "a header and the other application's three records:\n{table}");
    assert!(lines[0].starts_with("time") && lines[0].contains("action") && lines[0].ends_with("error"), "{table}");
    assert!(lines[1].contains(&theirs[2].source.display_name), "{table}");

    let bad = fails(s, TOKEN, &["app", "logs", "Azure Databricks", "--action", "make"])?;
    assert!(bad.err.contains("use one of create, update"), "{}", bad.err);
    let bad = fails(s, TOKEN, &["app", "logs", "Azure Databricks", "--since", "soon"])?;
    assert!(bad.err.contains("--since must be an RFC 3339 time"), "{}", bad.err);
    let bad = fails(s, TOKEN, &["app", "logs", "Nothing"])?;
    assert!(bad.err.contains("Nothing"), "{}", bad.err);
    Ok(())
}
