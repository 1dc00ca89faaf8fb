//! `idplane agent ...`: the subcommands as clap types, for the binary to mount, and their dispatch.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use url::Url;

use crate::commands::{Registration, register, rotate, status};
use crate::config::{DEFAULT_CONFIG_PATH, credential_path};
use crate::error::Error;
use crate::run::{RunOptions, run};

const ABOUT: &str = "The on-premises provisioning agent: relays the provisioning service's SCIM requests into a \
                     private network.";

const LONG_ABOUT: &str = "\
The on-premises provisioning agent: relays the provisioning service's SCIM requests into a private network.

Install it on a machine that reaches the SCIM endpoint (the tenant URL, such as https://localhost:8585/scim, or a
workspace behind Private Link) and the provisioning service over HTTPS. It connects out only: one long-lived WebSocket
over TLS to the service (through HTTPS_PROXY if set), on which it receives the requests of the applications it is
assigned to, performs them against the tenant URL, and returns the answers. Nothing listens on the agent's machine.

  1. An admin creates a one-time registration token on the service.
  2. idplane agent register --service https://idplane.example.com --token <token>
     writes the config file (default /etc/idplane/agent.toml) and, beside it, the credential file (mode 0600).
  3. idplane agent run   (in the foreground, or as a systemd service: docs/agent.md has a unit file)
  4. The admin assigns the agent to the application, enters the tenant URL and token, and tests the connection.

Options (TLS for the tenant URL: CA bundles, a pinned self-signed certificate; an allow-list; limits) are set in the
config file: see docs/agent.md. Logs go to stderr; IDPLANE_LOG=debug shows every relayed request (never a token).";

#[derive(Debug, Args)]
#[command(about = ABOUT, long_about = LONG_ABOUT)]
pub struct AgentArgs {
    #[command(subcommand)]
    pub command: AgentCommand,
}

#[derive(Debug, Subcommand)]
pub enum AgentCommand {
    /// Exchange a one-time registration token for this agent's credential; write the config and credential files.
    Register {
        /// The provisioning service's URL (https://; http:// only for loopback addresses).
        #[arg(long)]
        service: Url,
        /// The one-time registration token (or the IDPLANE_AGENT_TOKEN variable, which keeps it out of the process
        /// list).
        #[arg(long, env = "IDPLANE_AGENT_TOKEN", hide_env_values = true)]
        token: String,
        /// The config file to write (the credential file goes beside it, as <name>.credential).
        #[arg(long, default_value = DEFAULT_CONFIG_PATH)]
        config: PathBuf,
        /// A PEM file of CA certificates that sign the service's certificate, besides the system's roots.
        #[arg(long)]
        ca_bundle: Option<PathBuf>,
    },
    /// Run the agent in the foreground until SIGTERM or Ctrl-C (then finish the requests in flight).
    Run {
        #[arg(long, default_value = DEFAULT_CONFIG_PATH)]
        config: PathBuf,
    },
    /// Replace the agent's credential with a new one; the old one stops working at once.
    Rotate {
        #[arg(long, default_value = DEFAULT_CONFIG_PATH)]
        config: PathBuf,
    },
    /// Print the config, the agent id, the service, and whether the credential file exists (never the secret).
    Status {
        #[arg(long, default_value = DEFAULT_CONFIG_PATH)]
        config: PathBuf,
    },
}

/// Runs a subcommand; what it prints goes to stdout, logs to stderr (the binary installs the subscriber).
pub async fn main(args: AgentArgs) -> Result<(), Error> {
    match args.command {
        AgentCommand::Register { service, token, config, ca_bundle } => {
            let registration = Registration { service, token, config_path: config.clone(), ca_bundle };
            let registered = register(&registration).await?;
            println!(
                "registered agent {} (tenant {}) with {}\nconfig:     {}\ncredential: {} (mode 0600)\n\
                 next: `idplane agent run --config {}`, then assign the agent to an application on the service",
                registered.agent_id,
                registered.tenant_id,
                registered.service,
                config.display(),
                credential_path(&config).display(),
                config.display()
            );
            Ok(())
        }
        AgentCommand::Run { config } => run(&config, RunOptions::default(), shutdown_signal()).await,
        AgentCommand::Rotate { config } => {
            let agent = rotate(&config).await?;
            println!("rotated the credential of agent {agent}; saved in {}", credential_path(&config).display());
            Ok(())
        }
        AgentCommand::Status { config } => {
            println!("{}", status(&config)?);
            Ok(())
        }
    }
}

/// SIGTERM (systemd's stop) or Ctrl-C.
async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = ctrl_c => {}
                _ = term.recv() => {}
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, "SIGTERM cannot be caught: only Ctrl-C drains");
            let _ = ctrl_c.await;
        }
    }
    tracing::info!("stop requested: draining");
}
