//! The provisioning service's command line: `idplane directory` and `idplane app`, clients of a running server's
//! Microsoft Graph-compatible API (`/v1.0`), local or remote, over HTTP(S). `http` is the connection (flags, token,
//! CA bundle, errors, retries, paging); `directory` users and groups; `import` the CSV bulk operations; `apps`
//! enterprise applications, assignments and provisioning settings; `mappings` the job's attribute mappings and
//! scoping filters; `logs` the provisioning logs' export; `agents` the on-premises agents (`idplane agents`, `idplane
//! app agents`); `output` what is printed. Every command prints the API's
//! JSON with `--json` and text without; a failure prints Graph's message and code and exits non-zero.

pub mod agents;
pub mod apps;
pub mod directory;
pub mod error;
pub mod http;
pub mod import;
pub mod logs;
pub mod mappings;
pub mod output;

use clap::Args;

pub use apps::AppCommand;
pub use directory::DirectoryCommand;
use error::ClientError;
use http::{ConnectArgs, Graph};

/// `idplane directory ...`: the connection flags and a directory command.
#[derive(Args)]
pub struct DirectoryArgs {
    #[command(flatten)]
    pub connect: ConnectArgs,
    #[command(subcommand)]
    pub command: DirectoryCommand,
}

/// `idplane app ...`: the connection flags and an application command.
#[derive(Args)]
pub struct AppArgs {
    #[command(flatten)]
    pub connect: ConnectArgs,
    #[command(subcommand)]
    pub command: AppCommand,
}

/// `idplane agents ...`: the connection flags and an agents command.
#[derive(Args)]
pub struct AgentsArgs {
    #[command(flatten)]
    pub connect: ConnectArgs,
    #[command(subcommand)]
    pub command: agents::AgentsCommand,
}

/// Runs an agents command and prints its output.
pub async fn agents(args: AgentsArgs) -> Result<(), ClientError> {
    let g = Graph::new(&args.connect)?;
    finish(agents::run(&g, args.command).await, args.connect.json)
}

/// Runs a directory command and prints its output.
pub async fn directory(args: DirectoryArgs) -> Result<(), ClientError> {
    let g = Graph::new(&args.connect)?;
    finish(directory::run(&g, args.command).await, args.connect.json)
}

/// Runs an application command and prints its output.
pub async fn app(args: AppArgs) -> Result<(), ClientError> {
    let g = Graph::new(&args.connect)?;
    finish(apps::run(&g, args.command).await, args.connect.json)
}

/// The exit of a client command: on failure, its error on standard error (Graph's message and code) and exit
/// status 1, without the backtrace an `anyhow` error from `main` would add.
pub fn exit_on_error(result: Result<(), ClientError>) -> anyhow::Result<()> {
    if let Err(e) = result {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
    Ok(())
}

/// Prints what a command produced; the error when it failed or did not do everything it was asked.
fn finish(result: Result<output::Output, ClientError>, json: bool) -> Result<(), ClientError> {
    let out = result?;
    out.print(json);
    match out.incomplete {
        Some(reason) => Err(ClientError::Incomplete(reason)),
        None => Ok(()),
    }
}
