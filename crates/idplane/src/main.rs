//! The `idplane` binary: the composition root. It reads the command line, opens the store, bootstraps it on first
//! start, serves the HTTP API, and runs the admin commands.

mod config;
mod graph_client;
mod mail;
mod secrets_key;
mod tenant;

/// mimalloc rather than the system allocator: a request allocates and frees many small buffers (JSON values, SQL
/// rows, headers) across threads, where glibc's allocator showed as a tenth of a request's CPU time in profiles.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};
use idplane_core::audit::{self, Actor, AuditQuery, Operation, ResourceType, Retention};
use idplane_core::bootstrap::{self, Bootstrapped};
use idplane_core::identities::Limits as IdentityLimits;
use idplane_core::ids;
use idplane_core::store::{Store, StoreObserver, TokenFilter};
use idplane_core::tenancy::{Account, Scope, Workspace};
use idplane_core::token::{Secret, Token, TokenScope};
use idplane_provisioning::logs;
use idplane_server::auth_cache::AuthCache;
use idplane_server::ratelimit::{Limiter, RateLimit};
use idplane_server::serve::{self, ConnectionLimits};
use idplane_server::store_times::StoreTimes;
use idplane_server::{AppState, Limits, tls};
use idplane_store::{Database, PgStore, SqliteStore};
use serde_json::json;
use time::OffsetDateTime;

/// Writes a line to stdout, ignoring failures: a server must keep serving when whoever started it stopped reading.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

#[derive(Parser)]
#[command(name = "idplane", version, about = "Identity provisioning plane: a Databricks-compatible SCIM 2.0 service")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Clone)]
struct StoreArgs {
    /// Directory of the embedded SQLite store; created on first start.
    #[arg(long, env = "IDPLANE_DATA_DIR", default_value = "idplane-data", global = true)]
    data_dir: PathBuf,
    /// A PostgreSQL database to use instead of the embedded store (postgres://user@host:port/database).
    #[arg(long, env = "IDPLANE_DATABASE_URL", global = true)]
    database_url: Option<String>,
}

impl StoreArgs {
    /// Where the data is, for people.
    fn describe(&self) -> String {
        match &self.database_url {
            Some(_) => "in PostgreSQL".to_string(),
            None => format!("in {}", self.data_dir.display()),
        }
    }
}

#[derive(Args, Clone, Default)]
struct TlsArgs {
    /// Serve HTTPS with this certificate chain (PEM); reloaded when the file changes or on SIGHUP.
    #[arg(long, env = "IDPLANE_TLS_CERT", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM).
    #[arg(long, env = "IDPLANE_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Serve HTTPS with a certificate generated for the listen address, for local trials; prints its fingerprint.
    #[arg(long, env = "IDPLANE_TLS_SELF_SIGNED", conflicts_with = "tls_cert")]
    tls_self_signed: bool,
}

#[derive(Args, Clone)]
struct RetentionArgs {
    /// Days audit log entries are kept (0: forever); older ones are removed at start and hourly.
    #[arg(long, env = "IDPLANE_AUDIT_RETENTION_DAYS", default_value_t = audit::DEFAULT_RETENTION_DAYS)]
    audit_retention_days: u32,
}

/// The settings of `serve`.
#[derive(Args, Clone)]
struct ServeArgs {
    /// A TOML file of settings (keys are the flags' names); flags and IDPLANE_* variables take precedence.
    #[arg(long, env = "IDPLANE_CONFIG")]
    config: Option<PathBuf>,
    /// Address to listen on.
    #[arg(long, env = "IDPLANE_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Public origin of this server (e.g. https://idp.example.com), used in meta.location; by default the
    /// request's Host header.
    #[arg(long, env = "IDPLANE_PUBLIC_URL")]
    public_url: Option<String>,
    /// Log lines as JSON.
    #[arg(long, env = "IDPLANE_LOG_JSON")]
    log_json: bool,
    /// Requests per second each token may send (0: no limit); over it, 429 with Retry-After.
    #[arg(long, env = "IDPLANE_RATE_LIMIT_PER_SECOND", default_value_t = 1000.0)]
    rate_limit_per_second: f64,
    /// Requests a token may send at once above its rate.
    #[arg(long, env = "IDPLANE_RATE_LIMIT_BURST", default_value_t = 2000.0)]
    rate_limit_burst: f64,
    /// Longest a request may take before it is answered 503.
    #[arg(long, env = "IDPLANE_REQUEST_TIMEOUT_SECONDS", default_value_t = 120)]
    request_timeout_seconds: u64,
    /// How long a client has to send a request's headers (from the connection's opening for the first request,
    /// from its first byte for the next ones); then the connection is closed.
    #[arg(long, env = "IDPLANE_HEADER_READ_TIMEOUT_SECONDS", default_value_t = 10)]
    header_read_timeout_seconds: u64,
    /// How long a kept-alive connection may stay silent between requests before it is closed.
    #[arg(long, env = "IDPLANE_IDLE_TIMEOUT_SECONDS", default_value_t = 60)]
    idle_timeout_seconds: u64,
    /// Most connections open at once; more wait to be accepted. Keep it below the open-file limit (ulimit -n).
    #[arg(long, env = "IDPLANE_MAX_CONNECTIONS", default_value_t = 512)]
    max_connections: usize,
    /// Behave as Databricks does where it departs from the SCIM RFCs, for testing automation against idplane as a
    /// Databricks emulator: workspace-local groups report meta.resourceType WorkspaceGroup, and userName changes in
    /// PUT and PATCH are ignored (the rest of the request applies).
    #[arg(long, env = "IDPLANE_DATABRICKS_STRICT")]
    databricks_strict: bool,
    /// Also serve every account's metrics, and the process's own, at /metrics on this address, without a token: for
    /// an interface only the monitoring reaches (off by default).
    #[arg(long, env = "IDPLANE_METRICS_LISTEN")]
    metrics_listen: Option<SocketAddr>,
    /// How long this node may rely on a token, role or workspace it read, so that a change made through another
    /// node or the CLI takes effect here within this bound (0: read them on every request).
    #[arg(long, env = "IDPLANE_AUTH_CACHE_SECONDS", default_value_t = 1.0)]
    auth_cache_seconds: f64,
    /// The file of the key that seals provisioning secrets (a target's secret token) in the store: 64 hexadecimal
    /// digits, created with mode 0600 if absent. Default: secrets.key in the data directory. Give every node of a
    /// PostgreSQL deployment the same file.
    #[arg(long, env = "IDPLANE_SECRETS_KEY_FILE")]
    secrets_key_file: Option<PathBuf>,
    /// Longest a request of the provisioning service to a target (Test Connection, provisioning) may take, from
    /// connecting to the last byte of the answer.
    #[arg(long, env = "IDPLANE_TARGET_TIMEOUT_SECONDS", default_value_t = 30)]
    target_timeout_seconds: u64,
    /// A PEM file of CA certificates to trust for targets, besides the system's (a private CA, or a self-signed
    /// target's own certificate).
    #[arg(long, env = "IDPLANE_TARGET_CA_BUNDLE")]
    target_ca_bundle: Option<PathBuf>,
    /// Allow plain http:// tenant URLs on other hosts than this one (the secret token then crosses the network in
    /// clear text). Without it, http:// is for loopback targets only.
    #[arg(long, env = "IDPLANE_ALLOW_INSECURE_HTTP_TARGETS")]
    allow_insecure_http_targets: bool,
    /// How often this node looks for provisioning jobs whose next cycle is due (seconds).
    #[arg(long, env = "IDPLANE_WORKER_POLL_SECONDS", default_value_t = 1.0)]
    worker_poll_seconds: f64,
    /// How many provisioning jobs this node runs at once (0: none; the node then only serves the APIs).
    #[arg(long, env = "IDPLANE_WORKER_JOBS", default_value_t = 4)]
    worker_jobs: usize,
    /// How long this node's lease on a running provisioning job lasts unless renewed (seconds; renewed every third
    /// of it). When a node dies, another takes its jobs over once their leases expire.
    #[arg(long, env = "IDPLANE_WORKER_LEASE_SECONDS", default_value_t = 60.0)]
    worker_lease_seconds: f64,
    /// This node's URL as the other nodes of a PostgreSQL deployment reach it (for example http://10.0.0.5:8080):
    /// Test Connection and provisioning on demand that arrive here for an on-premises agent connected to another
    /// node are sent there. Every node needs the same secrets key file. Without it, such requests fail here with
    /// HybridIdentityServiceNoActiveAgents (cycles run on a node their agents are connected to either way).
    #[arg(long, env = "IDPLANE_NODE_URL")]
    node_url: Option<String>,
    /// The most principals of a scope a listing may examine when its filter or sort uses no index (filters on
    /// attributes other than id, userName, externalId, displayName, applicationId, emails.value, members.value);
    /// over it, 400 tooMany.
    #[arg(long, env = "IDPLANE_FILTER_SCAN_LIMIT", default_value_t = idplane_core::store::DEFAULT_MAX_SCAN)]
    filter_scan_limit: usize,
    /// The most principals a listing may evaluate in memory (what SQL cannot decide of a filter or sort); over it,
    /// 400 tooMany.
    #[arg(long, env = "IDPLANE_FILTER_CANDIDATE_LIMIT", default_value_t = idplane_core::store::DEFAULT_MAX_CANDIDATES)]
    filter_candidate_limit: usize,
    #[command(flatten)]
    smtp: mail::SmtpArgs,
    #[command(flatten)]
    retention: RetentionArgs,
    /// Days provisioning log records are kept (0: forever); older ones are removed at start and hourly.
    #[arg(long, env = "IDPLANE_PROVISIONING_LOG_RETENTION_DAYS", default_value_t = logs::DEFAULT_RETENTION_DAYS)]
    provisioning_log_retention_days: u32,
    #[command(flatten)]
    tls: TlsArgs,
    #[command(flatten)]
    store: StoreArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the SCIM API. On an empty store, first create a default account, workspace and admin token.
    Serve(ServeArgs),
    /// Print the effective settings of `serve` (flags, IDPLANE_* variables, config file, defaults), secrets masked.
    Config {
        #[command(flatten)]
        serve: ServeArgs,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Manage accounts.
    Account {
        #[command(subcommand)]
        command: AccountCommand,
    },
    /// Manage workspaces.
    Workspace {
        #[command(subcommand)]
        command: WorkspaceCommand,
    },
    /// Manage API tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Read the audit log, or remove entries past their retention.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Write a consistent copy of the embedded store to a new file, while the server runs.
    Backup {
        /// The new file.
        #[arg(long)]
        to: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Provisioning tenants (directories) and their tokens, on the local store.
    Tenant {
        #[command(subcommand)]
        command: tenant::TenantCommand,
    },
    /// The provisioning service's directory (users, groups, bulk imports), through a running server's Graph API.
    Directory(graph_client::DirectoryArgs),
    /// Enterprise applications and their provisioning, through a running server's Graph API.
    App(graph_client::AppArgs),
    /// On-premises provisioning agents: registration tokens, status, removal, through a running server's Graph API.
    /// (`idplane agent`, singular, runs the agent itself.)
    Agents(graph_client::AgentsArgs),
    // No doc comment: it would replace the agent's own help (what it is, how to install it), set on AgentArgs.
    Agent(idplane_agent::cli::AgentArgs),
    /// Notification email: send a test message through the SMTP relay.
    Mail {
        #[command(subcommand)]
        command: mail::MailCommand,
    },
    /// Install a backup as the embedded store of the data directory. Stop the server first.
    Restore {
        /// The backup file.
        #[arg(long)]
        from: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        store: StoreArgs,
    },
}

#[derive(Subcommand)]
enum AccountCommand {
    /// Create an account.
    Create {
        #[arg(long)]
        name: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// List accounts.
    List {
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        store: StoreArgs,
    },
}

#[derive(Subcommand)]
enum WorkspaceCommand {
    /// Create a workspace in an account.
    Create {
        #[arg(long)]
        account: String,
        #[arg(long)]
        name: String,
        /// Create the workspace without identity federation: it then holds its own workspace-local principals.
        #[arg(long)]
        no_identity_federation: bool,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// List the workspaces of an account.
    List {
        #[arg(long)]
        account: String,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        store: StoreArgs,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// List audit log entries, newest first.
    List {
        /// Only this account's entries (by default, every account's).
        #[arg(long)]
        account: Option<String>,
        /// Entries at or after this time: RFC 3339 (2026-11-22T18:00:00Z), milliseconds since the epoch, or a time
        /// ago (90m, 24h, 7d).
        #[arg(long)]
        since: Option<String>,
        /// Entries before this time (as --since).
        #[arg(long)]
        until: Option<String>,
        /// Only changes made by this principal (the principal of the token used).
        #[arg(long)]
        principal: Option<i64>,
        /// Only changes made with this token id.
        #[arg(long)]
        token: Option<String>,
        /// Only entries about this kind of resource: Account, Workspace, User, Group, ServicePrincipal, Assignment,
        /// Token.
        #[arg(long)]
        resource_type: Option<String>,
        /// Only entries about this resource (a principal, workspace or token id).
        #[arg(long)]
        resource_id: Option<String>,
        /// Only this operation: create, replace, patch, delete, assign, unassign, expire, rotate.
        #[arg(long)]
        operation: Option<String>,
        /// Only the entries of this request (its X-Request-Id).
        #[arg(long)]
        request_id: Option<String>,
        /// The most entries to print.
        #[arg(long, default_value_t = 100)]
        limit: usize,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Remove the entries past their retention now (the server also does this hourly).
    Purge {
        #[command(flatten)]
        retention: RetentionArgs,
        /// Remove the entries before this time instead (as `list --since`).
        #[arg(long)]
        before: Option<String>,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        store: StoreArgs,
    },
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Generate a new account SCIM token for an identity provider's connector (it works on the account SCIM API
    /// only). Earlier SCIM tokens of the account keep working for the grace period, then fail.
    RotateScim {
        #[arg(long)]
        account: String,
        /// How long earlier SCIM tokens keep working.
        #[arg(long, env = "IDPLANE_SCIM_TOKEN_GRACE_SECONDS", default_value_t = 86_400)]
        grace_seconds: i64,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// List the tokens of an account (never their values).
    List {
        #[arg(long)]
        account: String,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Revoke a token by its id.
    Delete {
        #[arg(long)]
        id: String,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Create a token for an account's API (and its workspaces), or for one workspace with --workspace.
    Create {
        #[arg(long)]
        account: String,
        #[arg(long)]
        workspace: Option<i64>,
        /// The principal (user or service principal id) the token acts as, for /Me.
        #[arg(long)]
        principal: Option<i64>,
        #[arg(long, default_value = "")]
        comment: String,
        /// Lifetime in seconds; no expiry when absent.
        #[arg(long)]
        lifetime_seconds: Option<i64>,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        store: StoreArgs,
    },
}

#[tokio::main]
async fn main() -> Result<()> {
    let command = Cli::command();
    let (argv, from_file) = config::layered(&command, std::env::args_os().collect())?;
    let matches = command.clone().get_matches_from(argv);
    let cli = Cli::from_arg_matches(&matches)?;
    match cli.command {
        Command::Serve(args) => serve(args).await,
        Command::Config { json, .. } => {
            say!("{}", config::describe(&command, &matches, &from_file, json));
            Ok(())
        }
        Command::Account { command } => account(command).await,
        Command::Workspace { command } => workspace(command).await,
        Command::Token { command } => token(command).await,
        Command::Audit { command } => audit_command(command).await,
        Command::Tenant { command } => tenant::run(command).await,
        Command::Directory(args) => graph_client::exit_on_error(graph_client::directory(args).await),
        Command::App(args) => graph_client::exit_on_error(graph_client::app(args).await),
        Command::Agents(args) => graph_client::exit_on_error(graph_client::agents(args).await),
        Command::Mail { command } => mail::run(command).await,
        Command::Agent(args) => {
            init_logging(false);
            Ok(idplane_agent::cli::main(args).await?)
        }
        Command::Backup { to, json, store } => {
            sqlite_only(&store, "backup")?;
            existing_store(&store)?;
            idplane_store::backup::backup(&store.data_dir, &to)?;
            let value = json!({"data_dir": store.data_dir.display().to_string(), "backup": to.display().to_string()});
            print(json, &value, format!("backed up {} to {}", store.data_dir.display(), to.display()));
            Ok(())
        }
        Command::Restore { from, json, store } => {
            sqlite_only(&store, "restore")?;
            // A server running on the directory would keep writing to the store it has open, and lose those writes
            // at its next start: refused while one runs, and none can start until the restore is done.
            let _lock = lock_data_dir(
                &store.data_dir,
                "restore refused: a running server would keep writing to the replaced store and lose those writes",
            )?;
            idplane_store::backup::restore(&from, &store.data_dir)?;
            let value =
                json!({"data_dir": store.data_dir.display().to_string(), "restored": from.display().to_string()});
            print(json, &value, format!("restored {} into {}", from.display(), store.data_dir.display()));
            Ok(())
        }
    }
}

/// The file in a data directory that `serve` holds an exclusive lock on for as long as it runs.
const LOCK_FILE: &str = "idplane.lock";

/// Takes the exclusive lock of a data directory (creating the directory), or says who holds it: `serve` holds it
/// while it runs, `restore` while it replaces the store. The lock goes with the process, however it ends.
fn lock_data_dir(dir: &std::path::Path, holder: &str) -> Result<std::fs::File> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating the data directory {}", dir.display()))?;
    let path = dir.join(LOCK_FILE);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&path)
        .with_context(|| format!("opening the lock file {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => {
            let dir = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
            bail!(
                "{holder}: an idplane server is running on the data directory {} (it holds {LOCK_FILE}); stop it first",
                dir.display()
            )
        }
        Err(std::fs::TryLockError::Error(e)) => Err(e).with_context(|| format!("locking {}", path.display())),
    }
}

/// Backup and restore are the embedded store's; PostgreSQL has its own tools.
fn sqlite_only(store: &StoreArgs, what: &str) -> Result<()> {
    if store.database_url.is_some() {
        bail!("{what} works on the embedded store; for PostgreSQL use pg_dump and pg_restore");
    }
    Ok(())
}

/// Refuses to go on when the embedded store the arguments point at does not exist. Only `serve` creates a store:
/// an admin command run from another directory, or with a mistyped `--data-dir`, would otherwise act on a new, empty
/// store (`--data-dir` is relative to the current directory) and report success.
fn existing_store(args: &StoreArgs) -> Result<()> {
    if args.database_url.is_some() {
        return Ok(());
    }
    let file = args.data_dir.join(idplane_store::DATABASE_FILE);
    if file.exists() {
        return Ok(());
    }
    let dir = std::path::absolute(&args.data_dir).unwrap_or_else(|_| args.data_dir.clone());
    bail!(
        "there is no idplane store in {} (looked for {}). Point this command at the server's store: \
         --data-dir DIR (or IDPLANE_DATA_DIR) for the embedded store, --database-url URL (or IDPLANE_DATABASE_URL) for \
         PostgreSQL. Only `idplane serve` creates a store, at its first start.",
        dir.display(),
        idplane_store::DATABASE_FILE
    )
}

/// Opens the existing store of an admin command (see [`existing_store`]).
async fn open_existing(args: &StoreArgs) -> Result<Arc<dyn Database>> {
    existing_store(args)?;
    open(args).await
}

/// Opens the store: PostgreSQL when a database URL is given, else the embedded SQLite store in the data directory,
/// created when it does not exist (at `serve`'s first start).
async fn open(args: &StoreArgs) -> Result<Arc<dyn Database>> {
    open_observed(args, None, idplane_store::DEFAULT_STATEMENT_TIMEOUT).await
}

/// [`open`], with the store reporting how long its operations take to `observer`, and PostgreSQL statements stopped
/// after `statement_timeout`.
async fn open_observed(
    args: &StoreArgs,
    observer: Option<Arc<dyn StoreObserver>>,
    statement_timeout: Duration,
) -> Result<Arc<dyn Database>> {
    match &args.database_url {
        Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
            // The URL may hold a password: it is never printed.
            let store =
                PgStore::connect_with(url, statement_timeout).await.context("connecting to the PostgreSQL database")?;
            Ok(match observer {
                Some(o) => Arc::new(store.observed_by(o)),
                None => Arc::new(store),
            })
        }
        Some(_) => bail!("--database-url must be a postgres:// URL"),
        None => {
            let dir = &args.data_dir;
            let store = SqliteStore::open(dir).with_context(|| format!("opening the store in {}", dir.display()))?;
            Ok(match observer {
                Some(o) => Arc::new(store.observed_by(o)),
                None => Arc::new(store),
            })
        }
    }
}

fn init_logging(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("IDPLANE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

async fn serve(args: ServeArgs) -> Result<()> {
    let ServeArgs { listen, public_url, tls, store: store_args, .. } = &args;
    let listen = *listen;
    if !(0.0..=3600.0).contains(&args.auth_cache_seconds) {
        bail!("--auth-cache-seconds must be between 0 and 3600, not {}", args.auth_cache_seconds);
    }
    init_logging(args.log_json);
    // Made before anything is served, so that SMTP settings that cannot work stop the start rather than the first
    // notice; the provisioning worker sends its notices through it.
    let notifier = mail::notifier(&args.smtp).context("setting up notification email")?;
    // Held until serve returns: restore refuses to replace the store under a running server.
    let _lock = match store_args.database_url {
        None => Some(lock_data_dir(&store_args.data_dir, "serve refused")?),
        Some(_) => None,
    };
    let request_timeout = Duration::from_secs(args.request_timeout_seconds.max(1));
    let store_times = Arc::new(StoreTimes::default());
    let store = open_observed(store_args, Some(store_times.clone()), request_timeout).await?;
    let now = OffsetDateTime::now_utc();
    let bootstrap_token = std::env::var("IDPLANE_BOOTSTRAP_TOKEN").ok().filter(|t| !t.is_empty());
    let from_env = bootstrap_token.is_some();
    let created = bootstrap::bootstrap(store.as_ref(), bootstrap_token.map(Secret::new), now).await?;
    let listener = tokio::net::TcpListener::bind(listen).await.with_context(|| format!("listening on {listen}"))?;
    let addr = listener.local_addr()?;
    let tls_config = tls_config(tls, addr)?;
    let scheme = if tls_config.is_some() { "https" } else { "http" };
    let origin = public_url.clone().unwrap_or_else(|| format!("{scheme}://{addr}"));
    let metrics_listener = match args.metrics_listen {
        Some(at) => {
            let l =
                tokio::net::TcpListener::bind(at).await.with_context(|| format!("listening for metrics on {at}"))?;
            Some(l)
        }
        None => None,
    };
    let (account, ws) = wait_for_defaults(store.as_ref()).await?;
    let key_file = secrets_key::path(args.secrets_key_file.as_deref(), &store_args.data_dir);
    let secrets_key = secrets_key::load_or_create(&key_file)?;
    let tenant = idplane_provisioning::tenant::ensure_for_account(store.as_ref(), &account.id, now).await?;
    // The banner is written at once, so that no log line (stderr, on the same terminal) lands inside it.
    let mut banner = vec![
        format!("idplane is serving on {origin} (data {})", store_args.describe()),
        format!("  account SCIM URL:   {origin}/api/2.1/accounts/{}/scim/v2", account.id),
        format!(
            "                      (also at {origin}/api/2.0/accounts/{}/scim/v2, where the SDKs call it)",
            account.id
        ),
        format!("  workspace SCIM URL: {origin}/api/2.0/preview/scim/v2   (workspace {})", ws.id),
        format!("  Graph API:          {origin}/v1.0   (tenant {})", tenant.id),
        format!("  admin console:      {origin}/console   (sign in with the admin token)"),
    ];
    if let Some((_, Some(fingerprint))) = &tls_config {
        banner.push(format!("  TLS certificate:    self-signed, SHA-256 fingerprint {fingerprint}"));
    }
    if let Some(l) = &metrics_listener {
        banner.push(format!("  metrics (no token): http://{}/metrics", l.local_addr()?));
    }
    match created {
        Some(Bootstrapped { secret, .. }) if !from_env => {
            banner.push(format!("  admin token:        {}", secret.expose()));
            banner.push(
                "  (shown once: it is stored only as a hash. Use it as \"Authorization: Bearer <token>\".)".into(),
            );
        }
        Some(_) => banner.push("  admin token:        the value of IDPLANE_BOOTSTRAP_TOKEN".into()),
        None => banner
            .push("  admin token:        as printed at first start (create more with `idplane token create`)".into()),
    }
    say!("{}", banner.join("\n"));
    purge_hourly(store.clone(), Retention { days: args.retention.audit_retention_days });
    purge_deleted_items_hourly(store.clone(), Retention { days: args.provisioning_log_retention_days });
    let limits = IdentityLimits { filter_scan: args.filter_scan_limit, filter_candidates: args.filter_candidate_limit };
    let mut state = AppState::new(store.clone(), store).with_store_times(store_times).with_secrets_key(&secrets_key);
    state.identities = state.identities.with_limits(limits);
    state.public_url = public_url.clone();
    state.identities = state.identities.clone().with_databricks_strict(args.databricks_strict);
    let limit = RateLimit { per_second: args.rate_limit_per_second, burst: args.rate_limit_burst.max(1.0) };
    state.limiter = Arc::new(Limiter::new(limit));
    state.limits = Limits { request_timeout, ..Limits::default() };
    state.auth_cache = Arc::new(AuthCache::new(Duration::from_secs_f64(args.auth_cache_seconds)));
    state.tls = tls_config.is_some();
    let targets = idplane_scim_client::DirectConfig {
        timeout: Duration::from_secs(args.target_timeout_seconds.clamp(1, 3600)),
        ca_bundles: args.target_ca_bundle.iter().map(|p| idplane_scim_client::CaBundle::File(p.clone())).collect(),
        allow_insecure_http: args.allow_insecure_http_targets,
        ..idplane_scim_client::DirectConfig::default()
    };
    // A CA bundle that does not read stops the start: Test Connection would fail with it anyway.
    let transport = idplane_scim_client::DirectTransport::new(&targets)
        .context("setting up the transport to provisioning targets")?;
    state.targets = Arc::new(idplane_worker::metrics::MeasuredTransport {
        inner: Arc::new(transport),
        metrics: state.engine.clone(),
    });
    tracing::info!(%addr, tls = tls_config.is_some(), "listening");
    state.notifier = notifier;
    let hub_config = idplane_server::hub::HubConfig { deadline: targets.timeout, ..Default::default() };
    state.hub = idplane_server::hub::Hub::new(
        state.provisioning.clone(),
        format!("{}-{}", hostname(), std::process::id()),
        hub_config,
    );
    if let Some(url) = &args.node_url {
        let parsed = idplane_scim_client::Url::parse(url)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
            .with_context(|| format!("--node-url {url}: give this node's URL, such as http://10.0.0.5:8080"))?;
        let forwarding = idplane_server::hub::forward::Forwarding::from_secrets_key(&secrets_key, hub_config.deadline)
            .context("setting up forwarding to the other nodes")?;
        state.hub.forward_as(parsed.as_str(), forwarding);
    }
    // Cycles run on a node their agents are connected to: the scheduler and the hub go by the same name.
    let node = state.hub.node().to_owned();
    let mut services = idplane_server::graph::runs::services(&state);
    if services.graph_url.is_none() {
        services.graph_url = Some(format!("{origin}/v1.0"));
    }
    let scheduler = (args.worker_jobs > 0).then(|| idplane_worker::scheduler::Scheduler {
        services,
        node,
        now: Arc::new(OffsetDateTime::now_utc),
        poll: Duration::from_secs_f64(args.worker_poll_seconds.clamp(0.05, 3600.0)),
        max_jobs: args.worker_jobs,
        lease: time::Duration::seconds_f64(args.worker_lease_seconds.clamp(0.1, 86_400.0)),
    });
    let connections = ConnectionLimits {
        header_read_timeout: Duration::from_secs(args.header_read_timeout_seconds.max(1)),
        idle_timeout: Duration::from_secs(args.idle_timeout_seconds.max(1)),
        max_connections: args.max_connections.max(1),
    };
    // One signal stops every listener.
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let hub = state.hub.clone();
    tokio::spawn(async move {
        shutdown_signal().await;
        // Agents connected here reconnect (to another node behind a load balancer) once their requests are done.
        hub.drain_all("this service node is stopping");
        let _ = stop.send(true);
    });
    let until_stopped = move || {
        let mut stopped = stopped.clone();
        async move {
            let _ = stopped.wait_for(|s| *s).await;
        }
    };
    if let Some(scheduler) = scheduler {
        tokio::spawn(scheduler.run(until_stopped()));
    }
    if let Some(l) = metrics_listener {
        let metrics = idplane_server::metrics::internal_router(state.clone());
        tokio::spawn(serve::serve(l, metrics, None, connections, until_stopped()));
    }
    let tls = tls_config.map(|(config, _)| config);
    let app = idplane_console::app(state, idplane_console::Settings::default());
    serve::serve(listener, app, tls, connections, until_stopped()).await;
    tracing::info!("stopped");
    Ok(())
}

/// Removes the audit log entries past their retention now, then every hour, for as long as the server runs. With
/// several nodes on one database each purges; a purge finds nothing left to do after another.
fn purge_hourly(store: Arc<dyn Store>, retention: Retention) {
    if retention.days == 0 {
        return;
    }
    tokio::spawn(async move {
        let mut every = tokio::time::interval(std::time::Duration::from_secs(3600));
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            // The first tick is immediate: the purge also runs at start.
            every.tick().await;
            match audit::purge(store.as_ref(), retention, OffsetDateTime::now_utc()).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(removed = n, days = retention.days, "audit log entries past their retention"),
                Err(e) => tracing::error!(error = %e, "purging the audit log"),
            }
        }
    });
}

/// This machine's name, for the leases this node takes on provisioning jobs.
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "node".into())
}

/// How long the provisioning directory keeps deleted users and groups before deleting them for good, as Entra ID
/// does.
const DELETED_ITEMS_RETENTION: time::Duration = time::Duration::days(30);

/// Deletes for good the directory's deleted items older than [`DELETED_ITEMS_RETENTION`], and the provisioning log
/// records past `retention` (`--provisioning-log-retention-days`), now and then every hour.
fn purge_deleted_items_hourly(store: Arc<dyn idplane_provisioning::store::ProvisioningStore>, retention: Retention) {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(std::time::Duration::from_secs(3600));
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            let now = OffsetDateTime::now_utc();
            match store.purge_deleted(now - DELETED_ITEMS_RETENTION, now).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(removed = n, "deleted directory items past their 30 days"),
                Err(e) => tracing::error!(error = %e, "purging the directory's deleted items"),
            }
            match logs::purge(store.as_ref(), retention, now).await {
                Ok(0) => {}
                Ok(n) => {
                    tracing::info!(removed = n, days = retention.days, "provisioning log records past their retention")
                }
                Err(e) => tracing::error!(error = %e, "purging the provisioning logs"),
            }
        }
    });
}

/// The TLS configuration the flags ask for, if any. A self-signed certificate names the listen address (and
/// `localhost`); its fingerprint is printed so that clients can check it.
fn tls_config(tls: &TlsArgs, addr: SocketAddr) -> Result<Option<(Arc<rustls::ServerConfig>, Option<String>)>> {
    let (resolver, fingerprint) = match (&tls.tls_cert, &tls.tls_key, tls.tls_self_signed) {
        (Some(cert), Some(key), _) => {
            let files = tls::CertFiles { cert: cert.clone(), key: key.clone() };
            let resolver = tls::ReloadingCert::from_files(files)?;
            resolver.watch();
            (resolver, None)
        }
        (_, _, true) => {
            let mut names = vec!["localhost".to_string()];
            if !addr.ip().is_unspecified() {
                names.push(addr.ip().to_string());
            }
            let (resolver, fingerprint) = tls::ReloadingCert::self_signed(names)?;
            (resolver, Some(fingerprint))
        }
        _ => return Ok(None),
    };
    Ok(Some((tls::server_config(resolver)?, fingerprint)))
}

/// The default account and workspace. When another node claimed the bootstrap of this store, they appear once it is
/// done: waited for, up to a minute.
async fn wait_for_defaults(store: &dyn Store) -> Result<(Account, Workspace)> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        if let Some(defaults) = bootstrap::defaults(store).await? {
            return Ok(defaults);
        }
        if std::time::Instant::now() > deadline {
            bail!(
                "the store has no default account: another idplane claimed its first start ({} is set) and did not \
                 finish. If that process died, remove the setting and start again.",
                bootstrap::BOOTSTRAP_CLAIM
            );
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// Resolves on SIGTERM or Ctrl-C; in-flight requests then finish before the process exits.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down");
}

fn account_json(a: &Account) -> serde_json::Value {
    json!({"account_id": a.id, "name": a.name, "creation_time": a.created.unix_timestamp() * 1000})
}

fn workspace_json(w: &Workspace) -> serde_json::Value {
    json!({
        "workspace_id": w.id,
        "workspace_name": w.name,
        "account_id": w.account_id,
        "identity_federation": w.identity_federation,
        "creation_time": w.created.unix_timestamp() * 1000,
    })
}

fn print(json: bool, value: &serde_json::Value, human: String) {
    if json {
        say!("{value}");
    } else {
        say!("{human}");
    }
}

async fn account(command: AccountCommand) -> Result<()> {
    match command {
        AccountCommand::Create { name, json, store } => {
            let store = open_existing(&store).await?;
            let a = Account { id: ids::new_uuid()?, name, created: OffsetDateTime::now_utc() };
            idplane_core::tenancy::create_account(store.as_ref(), &a, &Actor::cli()).await?;
            print(json, &account_json(&a), format!("created account {} ({})", a.id, a.name));
        }
        AccountCommand::List { json, store } => {
            let store = open_existing(&store).await?;
            let accounts = store.accounts().await?;
            let list: Vec<_> = accounts.iter().map(account_json).collect();
            let human = accounts.iter().map(|a| format!("{}  {}", a.id, a.name)).collect::<Vec<_>>().join("\n");
            print(json, &serde_json::Value::Array(list), human);
        }
    }
    Ok(())
}

async fn workspace(command: WorkspaceCommand) -> Result<()> {
    match command {
        WorkspaceCommand::Create { account, name, no_identity_federation, json, store } => {
            let store = open_existing(&store).await?;
            if store.account(&account).await?.is_none() {
                bail!("no account {account}");
            }
            let w = Workspace {
                id: ids::new_numeric_id()?,
                account_id: account,
                name,
                identity_federation: !no_identity_federation,
                created: OffsetDateTime::now_utc(),
            };
            idplane_core::workspaces::create(store.as_ref(), &w, w.created, &Actor::cli()).await?;
            print(json, &workspace_json(&w), format!("created workspace {} ({})", w.id, w.name));
        }
        WorkspaceCommand::List { account, json, store } => {
            let store = open_existing(&store).await?;
            if store.account(&account).await?.is_none() {
                bail!("no account {account}");
            }
            let list = store.workspaces(&account).await?;
            let human = list.iter().map(|w| format!("{}  {}", w.id, w.name)).collect::<Vec<_>>().join("\n");
            print(json, &serde_json::Value::Array(list.iter().map(workspace_json).collect()), human);
        }
    }
    Ok(())
}

fn token_json(t: &Token) -> serde_json::Value {
    let (kind, workspace) = match &t.scope {
        TokenScope::Account { .. } => (t.kind.code(), None),
        TokenScope::Workspace { workspace_id, .. } => (t.kind.code(), Some(*workspace_id)),
    };
    json!({
        "token_id": t.id,
        "kind": kind,
        "account_id": t.scope.account_id(),
        "workspace_id": workspace,
        "principal_id": t.principal_id,
        "comment": t.comment,
        "creation_time": t.created.unix_timestamp() * 1000,
        "expiry_time": t.expires.map(|e| e.unix_timestamp() * 1000).unwrap_or(-1),
    })
}

async fn token(command: TokenCommand) -> Result<()> {
    let (account, workspace, principal, comment, lifetime_seconds, json, store) = match command {
        TokenCommand::Create { account, workspace, principal, comment, lifetime_seconds, json, store } => {
            (account, workspace, principal, comment, lifetime_seconds, json, store)
        }
        TokenCommand::RotateScim { account, grace_seconds, json, store } => {
            let store = open_existing(&store).await?;
            if store.account(&account).await?.is_none() {
                bail!("no account {account}");
            }
            let grace = idplane_core::token::lifetime("--grace-seconds", grace_seconds, true)?;
            let now = OffsetDateTime::now_utc();
            let (secret, t) =
                idplane_core::token::rotate_scim_token(store.as_ref(), &account, grace, now, &Actor::cli()).await?;
            let value = json!({"token_value": secret.expose(), "token_info": token_json(&t)});
            print(json, &value, format!("account SCIM token {} created: {}", t.id, secret.expose()));
            return Ok(());
        }
        TokenCommand::List { account, json, store } => {
            let store = open_existing(&store).await?;
            if store.account(&account).await?.is_none() {
                bail!("no account {account}");
            }
            let tokens = store.tokens(&account, &TokenFilter::default()).await?;
            let human = tokens
                .iter()
                .map(|t| format!("{}  {:8}  {}", t.id, t.kind.code(), t.comment))
                .collect::<Vec<_>>()
                .join("\n");
            print(json, &serde_json::Value::Array(tokens.iter().map(token_json).collect()), human);
            return Ok(());
        }
        TokenCommand::Delete { id, json, store } => {
            let store = open_existing(&store).await?;
            let Some(t) = store.token(&id).await? else { bail!("no token {id}") };
            if !idplane_core::token::revoke(store.as_ref(), &t, OffsetDateTime::now_utc(), &Actor::cli()).await? {
                bail!("no token {id}");
            }
            print(json, &json!({"token_id": id, "deleted": true}), format!("token {id} revoked"));
            return Ok(());
        }
    };
    let store = open_existing(&store).await?;
    if store.account(&account).await?.is_none() {
        bail!("no account {account}");
    }
    let scope = match workspace {
        Some(w) => match store.workspace(w).await? {
            Some(ws) if ws.account_id == account => TokenScope::Workspace { account_id: account, workspace_id: w },
            _ => bail!("no workspace {w} in account {account}"),
        },
        None => TokenScope::Account { account_id: account },
    };
    if let Some(p) = principal {
        let visible_in = match &scope {
            TokenScope::Account { account_id } => Scope::Account { account_id: account_id.clone() },
            TokenScope::Workspace { workspace_id, .. } => match store.workspace(*workspace_id).await? {
                Some(ws) => Scope::for_workspace(&ws),
                None => bail!("no workspace {workspace_id}"),
            },
        };
        if store.principal(&visible_in, None, p).await?.is_none() {
            bail!("no principal {p} where this token would act");
        }
    }
    let now = OffsetDateTime::now_utc();
    let expires = match lifetime_seconds {
        Some(s) => {
            let lifetime = idplane_core::token::lifetime("--lifetime-seconds", s, false)?;
            Some(now.checked_add(lifetime).context("--lifetime-seconds: the expiry time would be out of range")?)
        }
        None => None,
    };
    let secret = Secret::generate()?;
    let record = Token::new(&secret, scope, principal, comment, now, expires);
    idplane_core::token::insert(store.as_ref(), &record, now, &Actor::cli()).await?;
    let value = json!({
        "token_value": secret.expose(),
        "token_info": {
            "token_id": record.id,
            "creation_time": now.unix_timestamp() * 1000,
            "expiry_time": expires.map(|e| e.unix_timestamp() * 1000).unwrap_or(-1),
            "comment": record.comment,
        }
    });
    print(json, &value, format!("token {} created: {}", record.id, secret.expose()));
    Ok(())
}

/// An instant given on the command line: RFC 3339, milliseconds since the epoch, or a time ago (`90m`, `24h`, `7d`).
fn instant(flag: &str, value: &str, now: OffsetDateTime) -> Result<OffsetDateTime> {
    let ago = |unit: char, seconds: i64| {
        let n = value.strip_suffix(unit)?.parse::<i64>().ok()?;
        now.checked_sub(time::Duration::seconds(n.checked_mul(seconds)?))
    };
    audit::parse_time(value)
        .or_else(|| ago('m', 60))
        .or_else(|| ago('h', 3600))
        .or_else(|| ago('d', 86_400))
        .with_context(|| {
            format!("{flag} must be an RFC 3339 time (2026-11-22T18:00:00Z), milliseconds since the epoch, or a time ago (90m, 24h, 7d), not {value:?}")
        })
}

/// One line of `audit list`: when, who, what, and the attributes changed.
fn audit_line(e: &audit::AuditEntry) -> String {
    let who = match (&e.actor.token_id, e.actor.principal_id) {
        (Some(t), Some(p)) => format!("token {t} (principal {p})"),
        (Some(t), None) => format!("token {t}"),
        _ => e.actor.kind.code().to_string(),
    };
    let changed: Vec<&str> = e.changes.iter().map(|c| c.attribute.as_str()).collect();
    let request = e.actor.request_id.as_deref().map(|r| format!("  request {r}")).unwrap_or_default();
    format!(
        "{}  {who}  {} {} {}  {}{request}",
        audit::rfc3339(e.time),
        e.operation.code(),
        e.resource_type.name(),
        e.resource_id,
        changed.join(",")
    )
}

async fn audit_command(command: AuditCommand) -> Result<()> {
    let now = OffsetDateTime::now_utc();
    match command {
        AuditCommand::List {
            account,
            since,
            until,
            principal,
            token,
            resource_type,
            resource_id,
            operation,
            request_id,
            limit,
            json,
            store,
        } => {
            let resource_type = resource_type
                .map(|t| {
                    ResourceType::parse_or_expected(&t).map_err(|e| anyhow::anyhow!("--resource-type must be {e}"))
                })
                .transpose()?;
            let operation = operation
                .map(|o| Operation::parse_or_expected(&o).map_err(|e| anyhow::anyhow!("--operation must be {e}")))
                .transpose()?;
            if !(1..=audit::MAX_PAGE_SIZE).contains(&limit) {
                bail!("--limit must be from 1 to {}", audit::MAX_PAGE_SIZE);
            }
            let query = AuditQuery {
                account_id: account,
                since: since.map(|s| instant("--since", &s, now)).transpose()?,
                until: until.map(|u| instant("--until", &u, now)).transpose()?,
                principal_id: principal,
                token_id: token,
                request_id,
                resource_type,
                resource_id,
                operation,
                limit,
                ..AuditQuery::default()
            };
            let store = open_existing(&store).await?;
            if let Some(account) = &query.account_id
                && store.account(account).await?.is_none()
            {
                bail!("no account {account}");
            }
            let (records, _) = audit::page(store.as_ref(), &query).await?;
            let human = records.iter().map(|r| audit_line(&r.entry)).collect::<Vec<_>>().join("\n");
            print(json, &serde_json::Value::Array(records.iter().map(|r| r.to_json()).collect()), human);
        }
        AuditCommand::Purge { retention, before, json, store } => {
            let store = open_existing(&store).await?;
            let (removed, cutoff) = match before {
                Some(b) => {
                    let cutoff = instant("--before", &b, now)?;
                    (store.purge_audit(cutoff).await?, Some(cutoff))
                }
                None => {
                    let retention = Retention { days: retention.audit_retention_days };
                    (audit::purge(store.as_ref(), retention, now).await?, retention.cutoff(now))
                }
            };
            let cutoff = cutoff.map(audit::rfc3339);
            let human = match &cutoff {
                Some(c) => format!("removed {removed} audit log entries from before {c}"),
                None => "the audit log is kept forever (retention 0): nothing removed".to_string(),
            };
            print(json, &json!({"removed": removed, "before": cutoff}), human);
        }
    }
    Ok(())
}
