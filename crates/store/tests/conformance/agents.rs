//! The conformance suite of the on-premises agents' port (`AgentStore`), through the domain's use cases
//! (`idplane_provisioning::agents`): registration tokens work once and expire, concurrent exchanges of one token
//! give one agent, credentials authenticate, rotate and revoke, assignments stay within their tenant and go with
//! their agent or service principal, and the hub's sessions are replaced, kept alive and ended by agent.
//! [`agent_tests!`] makes one test per case for a backend.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use idplane_provisioning::agents::{self, AgentIdentity, AgentSession, AgentStatus, HEARTBEAT_WINDOW};
use idplane_provisioning::store::{ProvisioningStore, PutSession};
use idplane_provisioning::{ProvisioningError, application, tenant};

use super::at;

/// Defines one test per agent conformance case for the backend that `$make` creates.
macro_rules! agent_tests {
    ($make:expr $(, #[$attr:meta])?) => {
        agent_tests!(@cases $make, [$($attr)?];
            registration_tokens_work_once_and_expire,
            concurrent_exchanges_of_one_token_give_one_agent,
            credentials_authenticate_rotate_and_revoke,
            assignments_stay_in_their_tenant_and_follow_deletes,
            sessions_are_replaced_kept_alive_and_ended_by_agent,
        );
    };
    (@cases $make:expr, $attrs:tt; $($case:ident),* $(,)?) => {
        $(agent_tests!(@case $make, $attrs, $case);)*
    };
    (@case $make:expr, [$($attr:meta)?], $case:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        $(#[$attr])?
        async fn $case() -> anyhow::Result<()> {
            let (store, _guard) = $make;
            crate::conformance::agents::$case(std::sync::Arc::new(store)).await
        }
    };
}
pub(crate) use agent_tests;

async fn new_tenant<S: ProvisioningStore>(store: &S, name: &str) -> Result<String> {
    Ok(tenant::create(store, name, None, None, false, at(0)).await?.0.id)
}

/// Registers an agent of `tenant_id` with a fresh token.
async fn registered<S: ProvisioningStore>(store: &S, tenant_id: &str, host: &str) -> Result<(agents::Agent, String)> {
    let (token, _) = agents::create_registration_token(store, tenant_id, None, at(1)).await?;
    let (agent, credential) =
        agents::register(store, token.expose(), host, "1.0.0", at(2)).await?.context("a fresh token registers")?;
    Ok((agent, credential.expose().to_string()))
}

pub async fn registration_tokens_work_once_and_expire<S: ProvisioningStore>(store: Arc<S>) -> Result<()> {
    let s = store.as_ref();
    let t = new_tenant(s, "t").await?;
    let (token, stored) = agents::create_registration_token(s, &t, None, at(10)).await?;
    ensure!(stored.expires == at(10) + time::Duration::hours(1), "an hour by default");
    ensure!(token.expose().starts_with(agents::REGISTRATION_TOKEN_PREFIX));
    for hours in [0, 25, -1] {
        let e = agents::create_registration_token(s, &t, Some(hours), at(10)).await.err();
        ensure!(
            matches!(&e, Some(ProvisioningError::Invalid { target: Some(t), .. }) if t == "expiresInHours"),
            "{hours} h: {e:?}"
        );
    }
    let bad_host = agents::register(s, token.expose(), "a\u{7}b", "1", at(11)).await.err();
    ensure!(matches!(bad_host, Some(ProvisioningError::Invalid { .. })), "{bad_host:?}");

    let (agent, credential) = agents::register(s, &format!(" {} ", token.expose()), " corp-01 ", "1.2.3", at(11))
        .await?
        .context("the token registers once")?;
    ensure!(agent.tenant_id == t && agent.host_name == "corp-01" && agent.version == "1.2.3");
    ensure!(credential.expose().starts_with(agents::CREDENTIAL_PREFIX));
    ensure!(agents::register(s, token.expose(), "corp-02", "1", at(12)).await?.is_none(), "used");
    ensure!(agents::register(s, "idplreg_nope", "corp-02", "1", at(12)).await?.is_none(), "unknown");

    let (short, _) = agents::create_registration_token(s, &t, Some(2), at(20)).await?;
    let expiry = at(20) + time::Duration::hours(2);
    ensure!(agents::register(s, short.expose(), "late", "1", expiry).await?.is_none(), "expired at its expiry");
    let (long, _) = agents::create_registration_token(s, &t, Some(24), at(20)).await?;
    ensure!(agents::register(s, long.expose(), "h", "1", expiry).await?.is_some(), "24 h is allowed");

    let listed = s.agents(&t).await?;
    ensure!(listed.len() == 2 && listed[0] == agent, "{listed:?}");
    ensure!(s.agent(&t, &agent.id).await? == Some(agent.clone()));
    let other = new_tenant(s, "o").await?;
    ensure!(s.agent(&other, &agent.id).await?.is_none() && s.agents(&other).await?.is_empty(), "tenant-scoped");
    Ok(())
}

pub async fn concurrent_exchanges_of_one_token_give_one_agent<S: ProvisioningStore>(store: Arc<S>) -> Result<()> {
    let t = new_tenant(store.as_ref(), "t").await?;
    let (token, _) = agents::create_registration_token(store.as_ref(), &t, None, at(1)).await?;
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let (store, token) = (Arc::clone(&store), token.expose().to_string());
            tokio::spawn(async move { agents::register(store.as_ref(), &token, &format!("h{i}"), "1", at(2)).await })
        })
        .collect();
    let mut won = 0;
    for task in tasks {
        if task.await??.is_some() {
            won += 1;
        }
    }
    ensure!(won == 1, "{won} exchanges of one token succeeded");
    ensure!(store.agents(&t).await?.len() == 1);
    Ok(())
}

pub async fn credentials_authenticate_rotate_and_revoke<S: ProvisioningStore>(store: Arc<S>) -> Result<()> {
    let s = store.as_ref();
    let t = new_tenant(s, "t").await?;
    let (agent, credential) = registered(s, &t, "h").await?;
    let me = AgentIdentity { agent_id: agent.id.clone(), tenant_id: t.clone() };
    ensure!(agents::authenticate(s, &credential).await? == Some(me.clone()));
    ensure!(agents::authenticate(s, &credential.to_uppercase()).await?.is_none(), "hex case matters: another value");
    ensure!(agents::authenticate(s, "").await?.is_none() && agents::authenticate(s, "Bearer x").await?.is_none());
    ensure!(!agents::is_revoked(s, &agent.id).await?);

    let (who, rotated) = agents::rotate(s, &credential).await?.context("a live credential rotates")?;
    ensure!(who == me);
    ensure!(agents::authenticate(s, &credential).await?.is_none(), "the old credential stops at once");
    ensure!(agents::rotate(s, &credential).await?.is_none(), "and cannot rotate again");
    ensure!(agents::authenticate(s, rotated.expose()).await? == Some(me.clone()));

    let other = new_tenant(s, "o").await?;
    ensure!(matches!(agents::revoke(s, &other, &agent.id).await, Err(ProvisioningError::NotFound { .. })));
    agents::revoke(s, &t, &agent.id).await?;
    ensure!(agents::authenticate(s, rotated.expose()).await?.is_none(), "revoked");
    ensure!(agents::is_revoked(s, &agent.id).await?);
    let kept = agents::agent(s, &t, &agent.id).await?;
    ensure!(!kept.has_credential && kept.status(at(2), HEARTBEAT_WINDOW) == AgentStatus::Inactive);

    let (second, credential) = registered(s, &t, "h2").await?;
    agents::delete(s, &t, &second.id).await?;
    ensure!(agents::authenticate(s, &credential).await?.is_none() && agents::is_revoked(s, &second.id).await?);
    ensure!(matches!(agents::delete(s, &t, &second.id).await, Err(ProvisioningError::NotFound { .. })));
    ensure!(agents::is_revoked(s, "no-such-agent").await?);
    Ok(())
}

pub async fn assignments_stay_in_their_tenant_and_follow_deletes<S: ProvisioningStore>(store: Arc<S>) -> Result<()> {
    let s = store.as_ref();
    let (t, o) = (new_tenant(s, "t").await?, new_tenant(s, "o").await?);
    let (_, sp) = application::instantiate(s, &t, None, "On-prem SCIM", at(1)).await?;
    let (_, sp2) = application::instantiate(s, &t, None, "Second", at(1)).await?;
    let (_, foreign) = application::instantiate(s, &o, None, "Theirs", at(1)).await?;
    let (a, _) = registered(s, &t, "a").await?;
    let (b, _) = registered(s, &t, "b").await?;
    let (theirs, _) = registered(s, &o, "c").await?;

    agents::assign(s, &t, &a.id, &sp.id, at(3)).await?;
    agents::assign(s, &t, &b.id, &sp.id, at(4)).await?;
    agents::assign(s, &t, &a.id, &sp2.id, at(5)).await?;
    let again = agents::assign(s, &t, &a.id, &sp.id, at(6)).await.err();
    ensure!(matches!(&again, Some(ProvisioningError::Conflict(m)) if m.contains("already assigned")), "{again:?}");
    let e = agents::assign(s, &t, &a.id, &foreign.id, at(6)).await.err();
    ensure!(matches!(e, Some(ProvisioningError::NotFound { what: "servicePrincipal", .. })), "another tenant's app");
    let e = agents::assign(s, &t, &theirs.id, &sp.id, at(6)).await.err();
    ensure!(matches!(e, Some(ProvisioningError::NotFound { what: "onPremisesAgent", .. })), "another tenant's agent");

    let names = |agent: &agents::Agent| agent.applications.iter().map(|x| x.display_name.clone()).collect::<Vec<_>>();
    ensure!(names(&agents::agent(s, &t, &a.id).await?) == ["On-prem SCIM", "Second"]);
    let serving: Vec<String> = s.agents_of_application(&t, &sp.id).await?.into_iter().map(|x| x.id).collect();
    ensure!(serving == [a.id.clone(), b.id.clone()], "in assignment order: {serving:?}");
    ensure!(s.agents_of_application(&o, &sp.id).await?.is_empty(), "tenant-scoped");

    agents::unassign(s, &t, &b.id, &sp.id).await?;
    ensure!(matches!(agents::unassign(s, &t, &b.id, &sp.id).await, Err(ProvisioningError::NotFound { .. })));
    s.delete_service_principal(&t, &sp2.id, at(7)).await?;
    ensure!(names(&agents::agent(s, &t, &a.id).await?) == ["On-prem SCIM"], "goes with its service principal");
    agents::delete(s, &t, &a.id).await?;
    ensure!(s.agents_of_application(&t, &sp.id).await?.is_empty(), "goes with its agent");
    Ok(())
}

fn session(agent_id: &str, node: &str, id: &str, n: i64) -> AgentSession {
    AgentSession {
        agent_id: agent_id.to_string(),
        tenant_id: String::new(),
        node_id: node.to_string(),
        session_id: id.to_string(),
        connected: at(n),
        last_heartbeat: at(n),
        round_trip: None,
    }
}

pub async fn sessions_are_replaced_kept_alive_and_ended_by_agent<S: ProvisioningStore>(store: Arc<S>) -> Result<()> {
    let s = store.as_ref();
    let t = new_tenant(s, "t").await?;
    let (_, sp) = application::instantiate(s, &t, None, "On-prem SCIM", at(1)).await?;
    let (a, _) = registered(s, &t, "a").await?;
    let (b, _) = registered(s, &t, "b").await?;
    agents::assign(s, &t, &a.id, &sp.id, at(2)).await?;

    let first = session(&a.id, "node-1", "s1", 10);
    ensure!(s.put_agent_session(&first).await? == PutSession::Recorded { replaced: None });
    let first = AgentSession { tenant_id: t.clone(), ..first };
    ensure!(s.agent_session(&a.id).await? == Some(first.clone()), "the tenant comes from the agent");
    ensure!(
        agents::agent(s, &t, &a.id).await?.status(at(10) + HEARTBEAT_WINDOW, HEARTBEAT_WINDOW) == AgentStatus::Active
    );

    let rtt = Some(Duration::from_micros(1_500));
    ensure!(s.agent_heartbeat(&a.id, "s1", at(20), rtt).await?);
    let seen = agents::agent(s, &t, &a.id).await?;
    ensure!(seen.last_seen == Some(at(20)) && seen.round_trip == rtt, "{seen:?}");
    ensure!(
        seen.status(at(20) + HEARTBEAT_WINDOW + time::Duration::seconds(1), HEARTBEAT_WINDOW) == AgentStatus::Inactive
    );

    // The same agent reconnects through another node: its new session replaces the old one, which is returned.
    let second = session(&a.id, "node-2", "s2", 30);
    let put = s.put_agent_session(&second).await?;
    let replaced = AgentSession { last_heartbeat: at(20), round_trip: rtt, ..first.clone() };
    ensure!(put == PutSession::Recorded { replaced: Some(replaced) }, "{put:?}");
    ensure!(!s.agent_heartbeat(&a.id, "s1", at(31), None).await?, "the evicted session's heartbeat is ignored");
    ensure!(!s.end_agent_session(&a.id, "s1").await?, "and so is its end");
    s.put_agent_session(&session(&b.id, "node-1", "s3", 30)).await?;
    let routed = s.agent_sessions_of_application(&t, &sp.id).await?;
    ensure!(routed.len() == 1 && routed[0].session_id == "s2" && routed[0].node_id == "node-2", "{routed:?}");
    ensure!(s.end_agent_session(&a.id, "s2").await?);
    ensure!(s.agent_session(&a.id).await?.is_none());

    // A revoked agent gets no session, and revoking ends the one it had.
    agents::revoke(s, &t, &b.id).await?;
    ensure!(s.agent_session(&b.id).await?.is_none());
    ensure!(s.put_agent_session(&session(&b.id, "node-1", "s4", 40)).await? == PutSession::NoAgent);
    ensure!(s.put_agent_session(&session("no-such-agent", "node-1", "s5", 40)).await? == PutSession::NoAgent);
    Ok(())
}
