//! Quarantine: the accidental-deletion threshold holds a cycle's deprovisionings (`TooManyDeletes`) until a restart
//! with `ForceDeletes` releases them; a target that refuses the job's token quarantines it
//! (`EncounteredQuarantineException`) until a healthy cycle.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_deletion_threshold_holds_until_force_deletes_releases() -> Result<()> {
    let s = Setup::new("").await?;
    let app = &s.app;
    let mut users = Vec::new();
    for i in 0..5 {
        users.push(user(app, &format!("m{i}@contoso.com"), &format!("M{i}"), "Five").await?);
    }
    let members: Vec<&str> = users.iter().map(String::as_str).collect();
    let five = group(app, "Five", &members).await?;
    let assignment = s.assign(&five).await?;
    let settings = json!({"Enabled": false, "DeleteThresholdEnabled": true, "DeleteThresholdValue": 2}).to_string();
    s.secrets(&[("SyncNotificationSettings", &settings)]).await?;
    graph(app, Method::POST, &format!("{}/jobs/{}/start", s.sync, s.job), None).await?;
    let status = s.cycle().await?;
    assert_eq!(status["lastExecution"]["countExported"], 6, "five users and their group: {status}");
    let watermark = app.provisioning.run_state(&s.job).await?.context("run state")?.watermark;

    // Unassigning the group would disable its five members and delete it: over the threshold, nothing is done.
    let uri = format!("/v1.0/servicePrincipals/{}/appRoleAssignedTo/{assignment}", s.sp);
    let r = app.send(Method::DELETE, &uri, None, &[]).await?;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    for _ in 0..2 {
        let status = s.cycle().await?;
        assert_eq!(status["code"], "Quarantine", "{status}");
        assert_eq!(status["quarantine"]["reason"], "TooManyDeletes", "{status}");
        assert_eq!(status["lastExecution"]["countExported"], 0, "{status}");
        for i in 0..5 {
            let t = s.target_user(&format!("m{i}@contoso.com")).await?.context("still there")?;
            assert_eq!(t["active"], true, "held: {t}");
        }
        assert!(s.target_group("Five").await?.is_some(), "held");
        let state = app.provisioning.run_state(&s.job).await?.context("run state")?;
        assert_eq!(state.watermark, watermark, "a held cycle leaves its changes to the next one");
        assert_eq!(state.data.held_deletes, 6);
    }

    // Allow deletes: the next cycle disables the five and deletes the group, and the quarantine ends.
    let restart = format!("{}/jobs/{}/restart", s.sync, s.job);
    graph(app, Method::POST, &restart, Some(json!({"criteria": {"resetScope": "ForceDeletes"}}))).await?;
    let status = s.cycle().await?;
    assert_eq!(status["code"], "Active", "{status}");
    assert_eq!(status["quarantine"], Value::Null, "{status}");
    assert_eq!(status["lastExecution"]["countExported"], 6, "{status}");
    for i in 0..5 {
        let t = s.target_user(&format!("m{i}@contoso.com")).await?.context("disabled, not deleted")?;
        assert_eq!(t["active"], false, "{t}");
    }
    assert!(s.target_group("Five").await?.is_none(), "deleted");

    // ForceDeletes approves one cycle's deletions: the threshold holds again afterwards.
    let more: Vec<String> = {
        let mut v = Vec::new();
        for i in 0..3 {
            v.push(user(app, &format!("n{i}@contoso.com"), &format!("N{i}"), "Three").await?);
        }
        v
    };
    let mut assignments = Vec::new();
    for u in &more {
        assignments.push(s.assign(u).await?);
    }
    s.cycle().await?;
    for a in &assignments {
        let uri = format!("/v1.0/servicePrincipals/{}/appRoleAssignedTo/{a}", s.sp);
        app.send(Method::DELETE, &uri, None, &[]).await?;
    }
    let status = s.cycle().await?;
    assert_eq!(status["quarantine"]["reason"], "TooManyDeletes", "{status}");
    assert_eq!(s.target_user("n0@contoso.com").await?.context("n0")?["active"], true);

    // Undoing the cause (assigning them again) is enough: the next cycle, which meets the same changes, has nothing
    // to hold, and ends the quarantine.
    for u in &more {
        s.assign(u).await?;
    }
    let status = s.cycle().await?;
    assert_eq!(status["code"], "Active", "{status}");
    assert_eq!(status["quarantine"], Value::Null, "{status}");
    assert_eq!(s.target_user("n0@contoso.com").await?.context("n0")?["active"], true);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_token_quarantines_the_job_until_a_healthy_cycle() -> Result<()> {
    let mut s = Setup::new("").await?;
    let app = &s.app;
    let ann = user(app, "ann@contoso.com", "Ann", "Lee").await?;
    s.assign(&ann).await?;
    graph(app, Method::POST, &format!("{}/jobs/{}/start", s.sync, s.job), None).await?;
    assert_eq!(s.cycle().await?["code"], "Active");

    // The account's SCIM token is rotated with no grace: the job's token is refused.
    let now = idplane_server::clock::Clock::now(app.clock.as_ref());
    let (fresh, _) = idplane_core::token::rotate_scim_token(
        app.store.as_ref(),
        &app.account,
        time::Duration::ZERO,
        now,
        &idplane_core::audit::Actor::cli(),
    )
    .await?;
    s.app.clock.advance(std::time::Duration::from_secs(1));
    s.dest.read_token = fresh.expose().to_string();
    let app = &s.app;
    graph(app, Method::PATCH, &format!("/v1.0/users/{ann}"), Some(json!({"displayName": "Ann Lee-Park"}))).await?;
    let status = s.cycle().await?;
    assert_eq!(status["code"], "Quarantine", "{status}");
    assert_eq!(status["quarantine"]["reason"], "EncounteredQuarantineException", "{status}");
    let message = status["quarantine"]["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("401"), "the error names the 401: {message}");
    assert_eq!(status["lastExecution"]["state"], "Failed", "{status}");
    assert_eq!(s.target_user("ann@contoso.com").await?.context("ann")?["displayName"], "Ann Lee");

    // The new token in the secrets: the next cycle is healthy, ends the quarantine and sends what waited.
    s.secrets(&[("SecretToken", fresh.expose())]).await?;
    let status = s.cycle().await?;
    assert_eq!(status["code"], "Active", "{status}");
    assert_eq!(status["quarantine"], Value::Null, "{status}");
    assert_eq!(status["lastExecution"]["state"], "Succeeded", "{status}");
    assert_eq!(s.target_user("ann@contoso.com").await?.context("ann")?["displayName"], "Ann Lee-Park");
    Ok(())
}
