//! `idplane tenant`: the provisioning service's tenants (directories) and their tenant tokens, on the local store
//! like the other admin commands (`--data-dir` or `--database-url`; the store must exist). A tenant linked to an
//! identity-service account is administered with that account's admin tokens; any other tenant gets a tenant admin
//! token at creation, shown once (the store keeps its hash only).

use anyhow::{Result, bail};
use clap::{Args, Subcommand};
use idplane_provisioning::store::ProvisioningStore;
use idplane_provisioning::tenant::{self, Tenant, TenantToken};
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::{StoreArgs, open_existing, print};

/// Where the store is, and how to print.
#[derive(Args)]
pub struct Local {
    /// Print JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    store: StoreArgs,
}

#[derive(Subcommand)]
pub enum TenantCommand {
    /// Create a tenant; without --account, print a new tenant admin token (shown once).
    Create {
        #[arg(long)]
        name: String,
        /// The tenant's default domain, for DefaultDomain() and suggested user names (default:
        /// <name>.idplane.test).
        #[arg(long)]
        domain: Option<String>,
        /// Link the tenant to this identity-service account: its admin tokens administer the tenant.
        #[arg(long)]
        account: Option<String>,
        #[command(flatten)]
        local: Local,
    },
    /// List the tenants.
    List {
        #[command(flatten)]
        local: Local,
    },
    /// Tenant tokens: create, list, revoke.
    Token {
        #[command(subcommand)]
        command: TenantTokenCommand,
    },
}

#[derive(Subcommand)]
pub enum TenantTokenCommand {
    /// Create a tenant admin token (shown once).
    Create {
        #[arg(long)]
        tenant: String,
        #[arg(long, default_value = "tenant admin")]
        comment: String,
        #[command(flatten)]
        local: Local,
    },
    /// List a tenant's tokens (never their values).
    List {
        #[arg(long)]
        tenant: String,
        #[command(flatten)]
        local: Local,
    },
    /// Revoke a tenant token by its id.
    Revoke {
        token_id: String,
        #[command(flatten)]
        local: Local,
    },
}

fn tenant_json(t: &Tenant) -> Value {
    json!({
        "tenant_id": t.id,
        "name": t.name,
        "default_domain": t.default_domain,
        "account_id": t.account_id,
        "creation_time": t.created.unix_timestamp() * 1000,
    })
}

fn token_json(t: &TenantToken) -> Value {
    json!({
        "token_id": t.id,
        "tenant_id": t.tenant_id,
        "comment": t.comment,
        "creation_time": t.created.unix_timestamp() * 1000,
        "expiry_time": t.expires.map(|e| e.unix_timestamp() * 1000).unwrap_or(-1),
    })
}

/// The tenant `id`, or an error naming the command that lists them.
async fn existing_tenant(store: &dyn ProvisioningStore, id: &str) -> Result<Tenant> {
    match store.tenant(id.trim()).await? {
        Some(t) => Ok(t),
        None => bail!("no tenant {id}; `idplane tenant list` lists them"),
    }
}

pub async fn run(command: TenantCommand) -> Result<()> {
    let now = OffsetDateTime::now_utc();
    match command {
        TenantCommand::Create { name, domain, account, local: Local { json, store } } => {
            let store = open_existing(&store).await?;
            if let Some(a) = &account {
                if store.account(a).await?.is_none() {
                    bail!("no account {a}; `idplane account list` lists them");
                }
                if let Some(t) = store.tenant_of_account(a).await? {
                    bail!("account {a} has a tenant already: {} ({})", t.id, t.name);
                }
            }
            let (t, secret) =
                tenant::create(store.as_ref(), &name, domain.as_deref(), account.as_deref(), account.is_none(), now)
                    .await?;
            let mut value = json!({"tenant": tenant_json(&t)});
            let mut human = format!("created tenant {} ({}, domain {})", t.id, t.name, t.default_domain);
            match &secret {
                Some(s) => {
                    value["token_value"] = json!(s.expose());
                    human.push_str(&format!(
                        "\ntenant admin token: {}\n(shown once: it is stored only as a hash. Use it as --token with \
                         `idplane directory` and `idplane app`, or as \"Authorization: Bearer <token>\" on /v1.0.)",
                        s.expose()
                    ));
                }
                None => human.push_str(&format!(
                    "\nadministered with the admin tokens of account {}",
                    account.as_deref().unwrap_or_default()
                )),
            }
            print(json, &value, human);
        }
        TenantCommand::List { local: Local { json, store } } => {
            let store = open_existing(&store).await?;
            let tenants = store.tenants().await?;
            let human = tenants
                .iter()
                .map(|t| {
                    let account = t.account_id.as_deref().map(|a| format!("  account {a}")).unwrap_or_default();
                    format!("{}  {}  {}{account}", t.id, t.name, t.default_domain)
                })
                .collect::<Vec<_>>()
                .join("\n");
            print(json, &Value::Array(tenants.iter().map(tenant_json).collect()), human);
        }
        TenantCommand::Token { command } => token(command, now).await?,
    }
    Ok(())
}

async fn token(command: TenantTokenCommand, now: OffsetDateTime) -> Result<()> {
    match command {
        TenantTokenCommand::Create { tenant, comment, local: Local { json, store } } => {
            let store = open_existing(&store).await?;
            let t = existing_tenant(store.as_ref(), &tenant).await?;
            let secret = tenant::create_token(store.as_ref(), &t.id, &comment, now).await?;
            let id = TenantToken::new(&secret, &t.id, &comment, now).id;
            let value = json!({"token_value": secret.expose(), "token_info": {"token_id": id, "tenant_id": t.id,
                               "comment": comment, "creation_time": now.unix_timestamp() * 1000}});
            print(json, &value, format!("tenant token {id} created for {} ({}): {}", t.id, t.name, secret.expose()));
        }
        TenantTokenCommand::List { tenant, local: Local { json, store } } => {
            let store = open_existing(&store).await?;
            let t = existing_tenant(store.as_ref(), &tenant).await?;
            let tokens = store.tenant_tokens(&t.id).await?;
            let human = tokens.iter().map(|k| format!("{}  {}", k.id, k.comment)).collect::<Vec<_>>().join("\n");
            print(json, &Value::Array(tokens.iter().map(token_json).collect()), human);
        }
        TenantTokenCommand::Revoke { token_id, local: Local { json, store } } => {
            let store = open_existing(&store).await?;
            if !store.delete_tenant_token(token_id.trim()).await? {
                bail!("no tenant token {token_id}; `idplane tenant token list --tenant ID` lists them");
            }
            print(json, &json!({"token_id": token_id, "revoked": true}), format!("tenant token {token_id} revoked"));
        }
    }
    Ok(())
}
