//! A target that fails for a while, then recovers: a fault-injecting proxy in front of the real target answers 500
//! and 502, 429 with `Retry-After: 1`, hangs past the transport's timeout, resets connections before and after
//! forwarding, and fails member and attribute PATCHes; then it forwards everything. Each failed object is escrowed
//! and tried again once its escrow is due (the cycles run at a clock moved forward, not after waiting), a 429 is
//! retried within the cycle, and in the end the target has every object and membership once, with the right
//! values: no user was POSTed twice, even those whose creation succeeded while its answer was lost.

use std::time::Duration;

use idplane_scim_client::{DirectConfig, DirectTransport};
use idplane_testkit::proxy::{Fault, FaultProxy, Rule};

use super::*;

/// The transport's deadline over one request: a request that hangs fails after it.
const TIMEOUT: Duration = Duration::from_millis(400);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_that_fails_for_a_while_gets_every_change_exactly_once() -> Result<()> {
    let mut s = Setup::new("").await?;
    let proxy = FaultProxy::start(&s.target.origin()).await?;
    let through_proxy = s.dest.tenant_url.replacen(&s.target.origin(), &proxy.origin, 1);
    s.secrets(&[("BaseAddress", &through_proxy)]).await?;
    s.transport = Arc::new(DirectTransport::new(&DirectConfig { timeout: TIMEOUT, ..DirectConfig::default() })?);
    let app = &s.app;
    let mut users = Vec::new();
    for i in 0..10 {
        users.push(user(app, &format!("u{i}@contoso.com"), &format!("U{i}"), "Fault").await?);
    }
    let members: Vec<&str> = users.iter().map(String::as_str).collect();
    let team = group(app, "Team", &members).await?;
    s.assign(&team).await?;
    graph(app, Method::POST, &format!("{}/jobs/{}/start", s.sync, s.job), None).await?;

    // The first user creations meet every kind of fault, in order of arrival; the group's creation goes through,
    // so that its members are those created in time.
    proxy.inject(Rule::new("POST", "/Users", Fault::TooManyRequests { retry_after: 1 }, 2));
    proxy.inject(Rule::new("POST", "/Users", Fault::Status(500), 2));
    proxy.inject(Rule::new("POST", "/Users", Fault::Reset, 1));
    proxy.inject(Rule::new("POST", "/Users", Fault::Hang, 1));
    proxy.inject(Rule::new("POST", "/Users", Fault::ForwardThenReset, 2));
    proxy.inject(Rule::new("POST", "/Users", Fault::Status(502), 1));
    let status = s.cycle().await?;
    let failed = 7;
    assert_eq!(status["lastExecution"]["state"], "EntryLevelErrors", "{status}");
    assert_eq!(status["lastExecution"]["countEscrowed"], failed, "{status}");
    assert_eq!(status["countEscrowed"], failed + 1, "the group waits for its members: {status}");

    // A 429 is retried within the cycle, after the Retry-After it gave.
    let exchanges = proxy.exchanges();
    let refused: Vec<_> = exchanges.iter().filter(|e| matches!(e.fault, Some(Fault::TooManyRequests { .. }))).collect();
    assert_eq!(refused.len(), 2);
    for r in refused {
        let name = r.body.as_ref().and_then(|b| b["userName"].as_str()).context("a user's POST")?;
        let retry = exchanges
            .iter()
            .find(|e| e.at > r.at && e.method == "POST" && e.body.as_ref().is_some_and(|b| b["userName"] == name))
            .with_context(|| format!("{name} was not sent again"))?;
        assert!(retry.forwarded() && retry.fault.is_none(), "{retry:?}");
        assert!(retry.at.duration_since(r.at) >= Duration::from_secs(1), "sent again before Retry-After");
        assert!(s.target_user(name).await?.is_some(), "{name} created within the cycle");
    }
    let created_in_time: Vec<String> = exchanges
        .iter()
        .filter(|e| e.method == "POST" && e.fault.is_none() && e.forwarded() && e.path.ends_with("/Users"))
        .filter_map(|e| e.body.as_ref().and_then(|b| b["userName"].as_str()).map(str::to_owned))
        .collect();
    assert_eq!(created_in_time.len(), 3, "{created_in_time:?}");
    let t_team = s.target_group("Team").await?.context("the group")?;
    assert_eq!(t_team["members"].as_array().map(Vec::len), Some(3), "the members created in time: {t_team}");

    // Until their escrows are due, the failed objects are left alone.
    let sent = proxy.exchanges().len();
    let status = s.cycle().await?;
    assert_eq!(status["countEscrowed"], failed + 1, "{status}");
    assert!(
        proxy.exchanges()[sent..].iter().all(|e| e.method == "GET"),
        "nothing but the probe before the escrows are due: {:?}",
        &proxy.exchanges()[sent..]
    );

    // The target is back, but for one member PATCH and one update.
    proxy.heal();
    proxy.inject(Rule::new("PATCH", "/Groups", Fault::Status(500), 1));
    proxy.inject(Rule::new("PATCH", "/Users", Fault::Reset, 1));
    let renamed = created_in_time.first().context("a user created in time")?.clone();
    let renamed_id = &users[renamed[1..2].parse::<usize>()?];
    graph(app, Method::PATCH, &format!("/v1.0/users/{renamed_id}"), Some(json!({"displayName": "Renamed"}))).await?;
    app.clock.advance(Duration::from_secs(120));
    let status = s.cycle().await?;
    assert_eq!(status["lastExecution"]["countEscrowed"], 2, "the member PATCH and the update: {status}");
    assert_eq!(status["countEscrowed"], 2, "{status}");

    app.clock.advance(Duration::from_secs(180));
    let status = s.cycle().await?;
    assert_eq!(status["lastExecution"]["state"], "Succeeded", "{status}");
    assert_eq!(status["countEscrowed"], Value::Null, "no escrow left: {status}");

    // Every user once, with its values; the group once, with every member once.
    let mut want_members = Vec::new();
    for (i, id) in users.iter().enumerate() {
        let name = format!("u{i}@contoso.com");
        assert_eq!(proxy.forwarded_posts("/Users", "userName", &name), 1, "{name} POSTed once");
        let found = s.target("Users", &format!("userName eq \"{name}\"")).await?;
        assert_eq!(found.len(), 1, "{name}: {found:?}");
        let t = &found[0];
        let display = if name == renamed { "Renamed".to_string() } else { format!("U{i} Fault") };
        assert_eq!((&t["displayName"], &t["externalId"], &t["active"]), (&json!(display), &json!(id), &json!(true)));
        want_members.push(t["id"].as_str().unwrap_or_default().to_string());
    }
    want_members.sort();
    let groups = s.target("Groups", "displayName eq \"Team\"").await?;
    assert_eq!(groups.len(), 1, "{groups:?}");
    assert_eq!(member_ids(&groups[0]), want_members, "every member once: {}", groups[0]);
    assert_eq!(proxy.forwarded_posts("/Groups", "displayName", "Team"), 1);
    let lost = proxy.exchanges().iter().filter(|e| e.fault == Some(Fault::ForwardThenReset)).count();
    assert_eq!(lost, 2, "two creations succeeded while their answers were lost, and were matched, not sent again");
    Ok(())
}
