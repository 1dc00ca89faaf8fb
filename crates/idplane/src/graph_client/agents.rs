//! `idplane agents` and `idplane app agents`: the on-premises provisioning agents of a tenant, through the Graph
//! API's `onPremisesPublishingProfiles/provisioning` (docs/agent.md): registration tokens for installing an agent,
//! the agents with their status, and which applications each serves (assignment through the application's agent
//! group, whose id is its service principal's). An agent is named by its id or, when no other agent has it, its
//! host name. (`idplane agent ...`, singular, is the agent program itself.)

use clap::Subcommand;
use serde_json::{Value, json};
use url::Url;

use super::apps::find_app;
use super::error::{ClientError, Result};
use super::http::Graph;
use super::output::{Output, properties, table, text};

#[derive(Subcommand)]
pub enum AgentsCommand {
    /// One-time registration tokens for `idplane agent register`.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// List the agents: status, host name, version, last seen, round-trip time and applications.
    List,
    /// Show an agent.
    Show {
        /// The agent's id, or its host name.
        agent: String,
    },
    /// Remove an agent: its credential stops working at once and the service disconnects it.
    Delete {
        /// The agent's id, or its host name.
        agent: String,
    },
}

#[derive(Subcommand)]
pub enum TokenCommand {
    /// Create a registration token. It is shown once, works once, and expires.
    Create {
        /// How long it stays valid: 1 to 24 hours.
        #[arg(long, default_value_t = 1)]
        hours: i64,
    },
}

#[derive(Subcommand)]
pub enum AppAgentsCommand {
    /// Assign an agent to the application: the application's requests may go through it.
    Assign {
        app: String,
        /// The agent's id, or its host name.
        agent: String,
    },
    /// Remove an agent from the application.
    Unassign {
        app: String,
        /// The agent's id, or its host name.
        agent: String,
    },
    /// List the agents assigned to the application.
    List { app: String },
}

fn profile(g: &Graph, tail: &[&str]) -> Url {
    let mut segments = vec!["onPremisesPublishingProfiles", "provisioning"];
    segments.extend_from_slice(tail);
    g.url(&segments)
}

/// The agent that `name` names: by id, else by host name when exactly one agent has it.
async fn find_agent(g: &Graph, name: &str) -> Result<Value> {
    let listing = g.list(profile(g, &["agents"]), None).await?;
    if let Some(a) = listing.items.iter().find(|a| text(a, "id").eq_ignore_ascii_case(name)) {
        return Ok(a.clone());
    }
    let by_host: Vec<&Value> =
        listing.items.iter().filter(|a| text(a, "machineName").eq_ignore_ascii_case(name)).collect();
    match by_host.as_slice() {
        [one] => Ok((*one).clone()),
        [] => Err(ClientError::Lookup(format!("no agent has the id or host name '{name}': see `idplane agents list`"))),
        many => Err(ClientError::Lookup(format!(
            "{} agents run on host '{name}': name one by id ({})",
            many.len(),
            many.iter().map(|a| text(a, "id")).collect::<Vec<_>>().join(", ")
        ))),
    }
}

/// An agent's applications, by display name.
fn applications(agent: &Value) -> String {
    let names: Vec<String> =
        agent["agentGroups"].as_array().into_iter().flatten().map(|g| text(g, "displayName")).collect();
    names.join(", ")
}

fn round_trip(agent: &Value) -> String {
    agent["roundTripTimeMilliseconds"].as_f64().map(|ms| format!("{ms:.1} ms")).unwrap_or_default()
}

/// A table of agents, with a header.
fn agent_table(agents: &[Value]) -> String {
    let mut rows =
        vec![["ID", "STATUS", "HOST", "VERSION", "LAST SEEN", "RTT", "APPLICATIONS"].map(String::from).to_vec()];
    rows.extend(agents.iter().map(|a| {
        vec![
            text(a, "id"),
            text(a, "status"),
            text(a, "machineName"),
            text(a, "version"),
            text(a, "lastSeenDateTime"),
            round_trip(a),
            applications(a),
        ]
    }));
    table(&rows)
}

fn agent_properties(a: &Value) -> String {
    properties(&json!({
        "id": a["id"],
        "status": a["status"],
        "host": a["machineName"],
        "version": a["version"],
        "created": a["createdDateTime"],
        "last seen": a["lastSeenDateTime"],
        "round trip": round_trip(a),
        "applications": applications(a),
    }))
}

pub async fn run(g: &Graph, command: AgentsCommand) -> Result<Output> {
    match command {
        AgentsCommand::Token { command: TokenCommand::Create { hours } } => {
            let t = g.post(profile(g, &["registrationTokens"]), &json!({"expiresInHours": hours})).await?;
            let out = format!(
                "{}\n\nregistration token {} expires at {}: it works once.\nOn the agent's machine: idplane agent \
                 register --service <this server's URL> --token <the token above>",
                text(&t, "token"),
                text(&t, "id"),
                text(&t, "expirationDateTime")
            );
            Ok(Output::new(t, out))
        }
        AgentsCommand::List => {
            let listing = g.list(profile(g, &["agents"]), None).await?;
            let out = if listing.items.is_empty() {
                "no agents: install one, and register it with a token from `idplane agents token create`".into()
            } else {
                agent_table(&listing.items)
            };
            Ok(Output::new(listing.to_json(), out))
        }
        AgentsCommand::Show { agent } => {
            let a = find_agent(g, &agent).await?;
            let shown = agent_properties(&a);
            Ok(Output::new(a, shown))
        }
        AgentsCommand::Delete { agent } => {
            let a = find_agent(g, &agent).await?;
            g.delete(profile(g, &["agents", &text(&a, "id")])).await?;
            let out = format!(
                "removed agent {} ({}): its credential no longer works",
                text(&a, "id"),
                text(&a, "machineName")
            );
            Ok(Output::new(json!({"id": a["id"], "deleted": true}), out))
        }
    }
}

pub async fn app_agents(g: &Graph, command: AppAgentsCommand) -> Result<Output> {
    match command {
        AppAgentsCommand::Assign { app, agent } => {
            let (sp, a) = (find_app(g, &app).await?, find_agent(g, &agent).await?);
            let sp_id = text(&sp, "id");
            let reference = json!({"@odata.id": profile(g, &["agents", &text(&a, "id")]).to_string()});
            g.post(profile(g, &["agentGroups", &sp_id, "agents", "$ref"]), &reference).await?;
            let out = format!(
                "assigned agent {} ({}) to {}",
                text(&a, "id"),
                text(&a, "machineName"),
                text(&sp, "displayName")
            );
            Ok(Output::new(json!({"agentId": a["id"], "servicePrincipalId": sp_id, "assigned": true}), out))
        }
        AppAgentsCommand::Unassign { app, agent } => {
            let (sp, a) = (find_app(g, &app).await?, find_agent(g, &agent).await?);
            let sp_id = text(&sp, "id");
            g.delete(profile(g, &["agentGroups", &sp_id, "agents", &text(&a, "id"), "$ref"])).await?;
            let out = format!(
                "removed agent {} ({}) from {}",
                text(&a, "id"),
                text(&a, "machineName"),
                text(&sp, "displayName")
            );
            Ok(Output::new(json!({"agentId": a["id"], "servicePrincipalId": sp_id, "assigned": false}), out))
        }
        AppAgentsCommand::List { app } => {
            let sp = find_app(g, &app).await?;
            let listing = g.list(profile(g, &["agentGroups", &text(&sp, "id"), "agents"]), None).await?;
            let out = if listing.items.is_empty() {
                format!(
                    "no agents are assigned to {}: `idplane app agents assign {app} <agent>`",
                    text(&sp, "displayName")
                )
            } else {
                agent_table(&listing.items)
            };
            Ok(Output::new(listing.to_json(), out))
        }
    }
}
