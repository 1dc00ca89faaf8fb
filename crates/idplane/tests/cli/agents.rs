//! `idplane agents` and `idplane app agents` against the real server: a registration token from the command line,
//! an agent registered with it over the agent contract, listed with its status, assigned to an on-premises SCIM app
//! and removed from it, then deleted; and the mistakes the commands explain.

use anyhow::{Context, Result};
use idplane_testkit::binary::call;
use serde_json::json;

use super::Server;
use super::provisioning::{TOKEN, fails, ok};

#[tokio::test]
async fn agents_are_registered_listed_assigned_and_deleted_from_the_command_line() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let server = Server::start(&tmp.path().join("data"), Some(TOKEN))?;
    let s = &server;

    let none = ok(s, TOKEN, &["agents", "list"])?;
    assert!(none.out.contains("no agents"), "{}", none.out);
    let created = ok(s, TOKEN, &["agents", "token", "create", "--hours", "2", "--json"])?.json()?;
    let token = created["token"].as_str().context("the token is shown")?.to_string();
    let text = ok(s, TOKEN, &["agents", "token", "create"])?;
    assert!(text.out.starts_with("idplreg_") && text.out.contains("works once"), "{}", text.out);
    let too_long = fails(s, TOKEN, &["agents", "token", "create", "--hours", "25"])?;
    assert!(too_long.err.contains("1 to 24 hours"), "{}", too_long.err);

    let body = json!({"token": token, "hostName": "corp-01", "version": "0.1.0"});
    let (status, registered) =
        call(reqwest::Method::POST, &format!("{}/agent/v1/register", s.origin), "", Some(body)).await?;
    assert_eq!(status, 201, "{registered}");
    let agent_id = registered["agentId"].as_str().context("an agent id")?.to_string();

    let listed = ok(s, TOKEN, &["agents", "list"])?;
    assert!(
        listed.out.contains("corp-01") && listed.out.contains("inactive") && listed.out.contains("0.1.0"),
        "{}",
        listed.out
    );
    ok(s, TOKEN, &["app", "create", "--template", "on-premises", "--name", "Private SCIM"])?;
    let assigned = ok(s, TOKEN, &["app", "agents", "assign", "Private SCIM", "corp-01"])?;
    assert!(assigned.out.contains("assigned agent") && assigned.out.contains("Private SCIM"), "{}", assigned.out);
    let twice = fails(s, TOKEN, &["app", "agents", "assign", "Private SCIM", &agent_id])?;
    assert!(twice.err.contains("already assigned"), "{}", twice.err);
    let serving = ok(s, TOKEN, &["app", "agents", "list", "Private SCIM", "--json"])?.json()?;
    assert_eq!(serving["value"][0]["id"], agent_id.as_str(), "{serving}");
    let shown = ok(s, TOKEN, &["agents", "show", "corp-01"])?;
    assert!(shown.out.contains(&agent_id) && shown.out.contains("Private SCIM"), "{}", shown.out);
    let unknown = fails(s, TOKEN, &["agents", "show", "nowhere"])?;
    assert!(unknown.err.contains("idplane agents list"), "{}", unknown.err);

    ok(s, TOKEN, &["app", "agents", "unassign", "Private SCIM", "corp-01"])?;
    let empty = ok(s, TOKEN, &["app", "agents", "list", "Private SCIM"])?;
    assert!(empty.out.contains("no agents are assigned"), "{}", empty.out);
    let gone = ok(s, TOKEN, &["agents", "delete", &agent_id])?;
    assert!(gone.out.contains("no longer works"), "{}", gone.out);
    let credential = registered["credential"].as_str().unwrap_or_default();
    let (status, _) = call(reqwest::Method::POST, &format!("{}/agent/v1/rotate", s.origin), credential, None).await?;
    assert_eq!(status, 401, "a deleted agent's credential is refused");
    assert!(ok(s, TOKEN, &["agents", "list"])?.out.contains("no agents"));
    Ok(())
}
