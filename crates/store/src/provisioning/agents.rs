//! On-premises agents' transaction scripts: registration tokens, agents with their credential hashes, assignments
//! to service principals, and the hub's sessions (migration 11).
//!
//! Consuming a registration token is one `DELETE ... RETURNING` in the transaction that inserts the agent: on
//! PostgreSQL a second exchange of the same token waits for the first's row lock and then finds no row; on SQLite
//! the single writer runs them one after the other. Either way exactly one exchange gets the agent.

use idplane_core::error::StoreError;
use idplane_core::token::TokenHash;
use idplane_provisioning::agents::{Agent, AgentIdentity, AgentSession, AssignedApplication, RegistrationToken};
use idplane_provisioning::store::{AssignAgent, PutSession};
use time::OffsetDateTime;

use crate::codec::{nanos, time};
use crate::tx::{Param, Row, Tx, params};

const AGENT_COLUMNS: &str = "id, tenant_id, host_name, version, created, last_seen, round_trip_us, \
                             credential_hash IS NOT NULL";
const SESSION_COLUMNS: &str =
    "s.agent_id, s.tenant_id, s.node_id, s.session_id, s.connected, s.last_heartbeat, s.round_trip_us";

fn hash(bytes: Vec<u8>) -> Result<TokenHash, StoreError> {
    let h: [u8; 32] =
        bytes.try_into().map_err(|_| StoreError::Backend("a stored credential hash is not 32 bytes".into()))?;
    Ok(TokenHash(h))
}

fn micros(d: Option<std::time::Duration>) -> Option<i64> {
    d.map(|d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

fn duration(us: Option<i64>) -> Option<std::time::Duration> {
    us.map(|us| std::time::Duration::from_micros(u64::try_from(us).unwrap_or(0)))
}

fn agent(mut r: Row) -> Result<Agent, StoreError> {
    Ok(Agent {
        id: r.text(0)?,
        tenant_id: r.text(1)?,
        host_name: r.text(2)?,
        version: r.text(3)?,
        created: time(r.int(4)?)?,
        last_seen: r.opt_int(5)?.map(time).transpose()?,
        round_trip: duration(r.opt_int(6)?),
        has_credential: r.bool(7)?,
        applications: Vec::new(),
    })
}

fn session(mut r: Row) -> Result<AgentSession, StoreError> {
    Ok(AgentSession {
        agent_id: r.text(0)?,
        tenant_id: r.text(1)?,
        node_id: r.text(2)?,
        session_id: r.text(3)?,
        connected: time(r.int(4)?)?,
        last_heartbeat: time(r.int(5)?)?,
        round_trip: duration(r.opt_int(6)?),
    })
}

pub(crate) async fn insert_token(tx: &mut dyn Tx, t: &RegistrationToken) -> Result<(), StoreError> {
    // Tokens are short-lived and few: dropping the expired ones whenever one is made keeps the table small.
    tx.execute("DELETE FROM agent_registration_tokens WHERE expires <= ?", &params![nanos(t.created)?])
        .await
        .map_err(|e| e.during("delete expired registration tokens"))?;
    let p = params![t.id.as_str(), t.hash.0.as_slice(), t.tenant_id.as_str(), nanos(t.created)?, nanos(t.expires)?];
    tx.execute(
        "INSERT INTO agent_registration_tokens (id, hash, tenant_id, created, expires) VALUES (?, ?, ?, ?, ?)",
        &p,
    )
    .await
    .map_err(|e| e.conflict("insert registration token", "hash"))?;
    Ok(())
}

pub(crate) async fn register(
    tx: &mut dyn Tx,
    token: &TokenHash,
    a: &Agent,
    credential: &TokenHash,
    now: OffsetDateTime,
) -> Result<Option<Agent>, StoreError> {
    let consumed = tx
        .first(
            "DELETE FROM agent_registration_tokens WHERE hash = ? AND expires > ? RETURNING tenant_id",
            &params![token.0.as_slice(), nanos(now)?],
        )
        .await
        .map_err(|e| e.during("consume registration token"))?;
    let Some(mut row) = consumed else { return Ok(None) };
    let agent = Agent { tenant_id: row.text(0)?, has_credential: true, applications: Vec::new(), ..a.clone() };
    let p = params![
        agent.id.as_str(),
        agent.tenant_id.as_str(),
        agent.host_name.as_str(),
        agent.version.as_str(),
        credential.0.as_slice(),
        nanos(agent.created)?,
        agent.last_seen.map(nanos).transpose()?,
        micros(agent.round_trip),
    ];
    tx.execute(
        "INSERT INTO agents (id, tenant_id, host_name, version, credential_hash, created, last_seen, round_trip_us) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        &p,
    )
    .await
    .map_err(|e| e.conflict("insert agent", "credential"))?;
    Ok(Some(agent))
}

/// The applications of the given agents, in assignment order, filled into them.
async fn with_applications(tx: &mut dyn Tx, mut agents: Vec<Agent>) -> Result<Vec<Agent>, StoreError> {
    let Some(first) = agents.first() else { return Ok(agents) };
    let ids = serde_json::to_string(&agents.iter().map(|a| a.id.as_str()).collect::<Vec<_>>())
        .map_err(|e| StoreError::Backend(format!("agent ids: {e}")))?;
    let sql = format!(
        "SELECT x.agent_id, x.service_principal_id, sp.display_name FROM agent_assignments x \
         JOIN service_principals sp ON sp.id = x.service_principal_id \
         WHERE x.tenant_id = ? AND x.agent_id IN ({}) ORDER BY x.created, x.service_principal_id",
        tx.dialect().text_list("?")
    );
    let rows = tx
        .query(&sql, &params![first.tenant_id.as_str(), ids])
        .await
        .map_err(|e| e.during("read agent assignments"))?;
    for mut r in rows {
        let agent_id = r.text(0)?;
        let app = AssignedApplication { service_principal_id: r.text(1)?, display_name: r.text(2)? };
        if let Some(a) = agents.iter_mut().find(|a| a.id == agent_id) {
            a.applications.push(app);
        }
    }
    Ok(agents)
}

pub(crate) async fn one(tx: &mut dyn Tx, tenant_id: &str, id: &str) -> Result<Option<Agent>, StoreError> {
    let sql = format!("SELECT {AGENT_COLUMNS} FROM agents WHERE id = ? AND tenant_id = ?");
    let Some(row) = tx.first(&sql, &params![id, tenant_id]).await.map_err(|e| e.during("read agent"))? else {
        return Ok(None);
    };
    Ok(with_applications(tx, vec![agent(row)?]).await?.pop())
}

pub(crate) async fn all(tx: &mut dyn Tx, tenant_id: &str) -> Result<Vec<Agent>, StoreError> {
    let sql = format!("SELECT {AGENT_COLUMNS} FROM agents WHERE tenant_id = ? ORDER BY created, id");
    let rows = tx.query(&sql, &params![tenant_id]).await.map_err(|e| e.during("read agents"))?;
    let agents = rows.into_iter().map(agent).collect::<Result<Vec<_>, _>>()?;
    with_applications(tx, agents).await
}

pub(crate) async fn of_application(
    tx: &mut dyn Tx,
    tenant_id: &str,
    service_principal_id: &str,
) -> Result<Vec<Agent>, StoreError> {
    let columns: Vec<String> = AGENT_COLUMNS.split(", ").map(|c| format!("a.{c}")).collect();
    let sql = format!(
        "SELECT {} FROM agent_assignments x JOIN agents a ON a.id = x.agent_id \
         WHERE x.service_principal_id = ? AND x.tenant_id = ? ORDER BY x.created, x.agent_id",
        columns.join(", ")
    );
    let rows = tx
        .query(&sql, &params![service_principal_id, tenant_id])
        .await
        .map_err(|e| e.during("read agents of application"))?;
    let agents = rows.into_iter().map(agent).collect::<Result<Vec<_>, _>>()?;
    with_applications(tx, agents).await
}

pub(crate) async fn by_credential(
    tx: &mut dyn Tx,
    credential: &TokenHash,
) -> Result<Option<(TokenHash, AgentIdentity)>, StoreError> {
    let row = tx
        .first(
            "SELECT credential_hash, id, tenant_id FROM agents WHERE credential_hash = ?",
            &params![credential.0.as_slice()],
        )
        .await
        .map_err(|e| e.during("read agent credential"))?;
    let Some(mut r) = row else { return Ok(None) };
    Ok(Some((hash(r.bytes(0)?)?, AgentIdentity { agent_id: r.text(1)?, tenant_id: r.text(2)? })))
}

pub(crate) async fn rotate(
    tx: &mut dyn Tx,
    old: &TokenHash,
    new: &TokenHash,
) -> Result<Option<AgentIdentity>, StoreError> {
    let row = tx
        .first(
            "UPDATE agents SET credential_hash = ? WHERE credential_hash = ? RETURNING id, tenant_id",
            &params![new.0.as_slice(), old.0.as_slice()],
        )
        .await
        .map_err(|e| e.conflict("rotate agent credential", "credential"))?;
    row.map(|mut r| Ok(AgentIdentity { agent_id: r.text(0)?, tenant_id: r.text(1)? })).transpose()
}

pub(crate) async fn has_credential(tx: &mut dyn Tx, agent_id: &str) -> Result<bool, StoreError> {
    let n = tx
        .scalar(
            "SELECT COUNT(*) FROM agents WHERE id = ? AND credential_hash IS NOT NULL",
            &params![agent_id],
            "read agent credential",
        )
        .await?;
    Ok(n > 0)
}

pub(crate) async fn revoke(tx: &mut dyn Tx, tenant_id: &str, id: &str) -> Result<bool, StoreError> {
    let n = tx
        .execute("UPDATE agents SET credential_hash = NULL WHERE id = ? AND tenant_id = ?", &params![id, tenant_id])
        .await
        .map_err(|e| e.during("revoke agent"))?;
    // A revoked agent has no session to route to.
    tx.execute("DELETE FROM agent_sessions WHERE agent_id = ? AND tenant_id = ?", &params![id, tenant_id])
        .await
        .map_err(|e| e.during("end revoked agent's session"))?;
    Ok(n > 0)
}

pub(crate) async fn delete(tx: &mut dyn Tx, tenant_id: &str, id: &str) -> Result<bool, StoreError> {
    let n = tx
        .execute("DELETE FROM agents WHERE id = ? AND tenant_id = ?", &params![id, tenant_id])
        .await
        .map_err(|e| e.during("delete agent"))?;
    Ok(n > 0)
}

pub(crate) async fn assign(
    tx: &mut dyn Tx,
    tenant_id: &str,
    agent_id: &str,
    service_principal_id: &str,
    at: OffsetDateTime,
) -> Result<AssignAgent, StoreError> {
    let agents = tx
        .scalar(
            "SELECT COUNT(*) FROM agents WHERE id = ? AND tenant_id = ?",
            &params![agent_id, tenant_id],
            "read agent",
        )
        .await?;
    if agents == 0 {
        return Ok(AssignAgent::NoAgent);
    }
    let sps = tx
        .scalar(
            "SELECT COUNT(*) FROM service_principals WHERE id = ? AND tenant_id = ?",
            &params![service_principal_id, tenant_id],
            "read service principal",
        )
        .await?;
    if sps == 0 {
        return Ok(AssignAgent::NoServicePrincipal);
    }
    let n = tx
        .execute(
            "INSERT INTO agent_assignments (agent_id, service_principal_id, tenant_id, created) VALUES (?, ?, ?, ?) \
             ON CONFLICT DO NOTHING",
            &params![agent_id, service_principal_id, tenant_id, nanos(at)?],
        )
        .await
        .map_err(|e| e.during("assign agent"))?;
    Ok(if n == 0 { AssignAgent::AlreadyAssigned } else { AssignAgent::Assigned })
}

pub(crate) async fn unassign(
    tx: &mut dyn Tx,
    tenant_id: &str,
    agent_id: &str,
    service_principal_id: &str,
) -> Result<bool, StoreError> {
    let n = tx
        .execute(
            "DELETE FROM agent_assignments WHERE agent_id = ? AND service_principal_id = ? AND tenant_id = ?",
            &params![agent_id, service_principal_id, tenant_id],
        )
        .await
        .map_err(|e| e.during("unassign agent"))?;
    Ok(n > 0)
}

async fn session_of(tx: &mut dyn Tx, agent_id: &str) -> Result<Option<AgentSession>, StoreError> {
    let sql = format!("SELECT {SESSION_COLUMNS} FROM agent_sessions s WHERE s.agent_id = ?");
    tx.first(&sql, &params![agent_id]).await.map_err(|e| e.during("read agent session"))?.map(session).transpose()
}

pub(crate) async fn put_session(tx: &mut dyn Tx, s: &AgentSession) -> Result<PutSession, StoreError> {
    // Locks the agent's row until commit, so that a revocation and a connection of one agent serialise: a session
    // is never recorded for an agent whose credential is gone.
    let lock = format!(
        "SELECT tenant_id FROM agents WHERE id = ? AND credential_hash IS NOT NULL{}",
        tx.dialect().for_update()
    );
    let Some(mut owner) = tx.first(&lock, &params![s.agent_id.as_str()]).await.map_err(|e| e.during("read agent"))?
    else {
        return Ok(PutSession::NoAgent);
    };
    let tenant_id = owner.text(0)?;
    let replaced = session_of(tx, &s.agent_id).await?;
    let p: [Param; 7] = params![
        s.agent_id.as_str(),
        tenant_id.as_str(),
        s.node_id.as_str(),
        s.session_id.as_str(),
        nanos(s.connected)?,
        nanos(s.last_heartbeat)?,
        micros(s.round_trip),
    ];
    tx.execute(
        "INSERT INTO agent_sessions (agent_id, tenant_id, node_id, session_id, connected, last_heartbeat, \
         round_trip_us) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (agent_id) DO UPDATE SET \
         node_id = excluded.node_id, session_id = excluded.session_id, connected = excluded.connected, \
         last_heartbeat = excluded.last_heartbeat, round_trip_us = excluded.round_trip_us",
        &p,
    )
    .await
    .map_err(|e| e.during("record agent session"))?;
    seen(tx, &s.agent_id, s.last_heartbeat, s.round_trip).await?;
    Ok(PutSession::Recorded { replaced })
}

async fn seen(
    tx: &mut dyn Tx,
    agent_id: &str,
    at: OffsetDateTime,
    round_trip: Option<std::time::Duration>,
) -> Result<(), StoreError> {
    tx.execute(
        "UPDATE agents SET last_seen = ?, round_trip_us = COALESCE(?, round_trip_us) WHERE id = ?",
        &params![nanos(at)?, micros(round_trip), agent_id],
    )
    .await
    .map_err(|e| e.during("mark agent seen"))?;
    Ok(())
}

pub(crate) async fn heartbeat(
    tx: &mut dyn Tx,
    agent_id: &str,
    session_id: &str,
    at: OffsetDateTime,
    round_trip: Option<std::time::Duration>,
) -> Result<bool, StoreError> {
    let n = tx
        .execute(
            "UPDATE agent_sessions SET last_heartbeat = ?, round_trip_us = COALESCE(?, round_trip_us) \
             WHERE agent_id = ? AND session_id = ?",
            &params![nanos(at)?, micros(round_trip), agent_id, session_id],
        )
        .await
        .map_err(|e| e.during("record heartbeat"))?;
    if n == 0 {
        return Ok(false);
    }
    seen(tx, agent_id, at, round_trip).await?;
    Ok(true)
}

pub(crate) async fn end_session(tx: &mut dyn Tx, agent_id: &str, session_id: &str) -> Result<bool, StoreError> {
    let n = tx
        .execute("DELETE FROM agent_sessions WHERE agent_id = ? AND session_id = ?", &params![agent_id, session_id])
        .await
        .map_err(|e| e.during("end agent session"))?;
    Ok(n > 0)
}

pub(crate) async fn session_by_agent(tx: &mut dyn Tx, agent_id: &str) -> Result<Option<AgentSession>, StoreError> {
    session_of(tx, agent_id).await
}

pub(crate) async fn sessions_of_application(
    tx: &mut dyn Tx,
    tenant_id: &str,
    service_principal_id: &str,
) -> Result<Vec<AgentSession>, StoreError> {
    let sql = format!(
        "SELECT {SESSION_COLUMNS} FROM agent_assignments x JOIN agent_sessions s ON s.agent_id = x.agent_id \
         WHERE x.service_principal_id = ? AND x.tenant_id = ? ORDER BY s.agent_id"
    );
    tx.query(&sql, &params![service_principal_id, tenant_id])
        .await
        .map_err(|e| e.during("read sessions of application"))?
        .into_iter()
        .map(session)
        .collect()
}
