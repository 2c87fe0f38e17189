//! The command line: parses arguments, loads settings, runs one command, maps errors to exit codes.
//!
//! Exit codes (SPEC §2): 0 ok, 1 runtime failure, 2 usage or configuration error.

pub mod audit;
pub mod cache;
pub mod demo;
pub mod doctor;
pub mod install;
pub mod login;
pub mod outbox;
pub mod sandbox;
pub mod serve;
pub mod sync;
pub mod upstream;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::{ConfigError, Locations, Settings};

/// `atlassian-mcp-bridge [--config FILE] <command>`
#[derive(Debug, Parser)]
#[command(
    name = "atlassian-mcp-bridge",
    version,
    about = "Local stdio MCP server for Jira and Confluence, with a tamper-evident audit log"
)]
pub struct Cli {
    /// Config file (default: $ATLASSIAN_MCP_BRIDGE_HOME/config.toml or the platform config dir).
    #[arg(
        long,
        global = true,
        value_name = "FILE",
        env = "ATLASSIAN_MCP_BRIDGE_CONFIG"
    )]
    pub config: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the MCP server on stdin/stdout (what AI desktops launch).
    Serve {
        /// Serve against the built-in sandbox site instead of the configured one.
        #[arg(long)]
        sandbox: bool,
    },
    /// Run the built-in Atlassian sandbox site as an HTTP server on 127.0.0.1.
    Sandbox {
        /// Port to listen on (0 picks a free one).
        #[arg(long, default_value_t = 8089)]
        port: u16,
        /// Latency added to every request, in milliseconds.
        #[arg(long, default_value_t = 0)]
        latency_ms: u64,
    },
    /// OAuth sign-in (authorization code + PKCE); stores tokens; prints user and site.
    Login {
        /// Print the sign-in link instead of opening a browser (alone on stdout).
        #[arg(long)]
        no_browser: bool,
        /// Sign in to the upstream MCP server (`[upstream]`, SPEC §11) instead of the site:
        /// discovery, registration and PKCE, with no app registration.
        #[arg(long)]
        upstream: bool,
        /// Seconds to wait for the browser to come back.
        #[arg(long, default_value_t = 300)]
        timeout: u64,
    },
    /// Forget the stored tokens (and revoke them where the server supports it).
    Logout {
        /// Forget the upstream MCP server's sign-in instead of the site's.
        #[arg(long)]
        upstream: bool,
    },
    /// Who am I, which site, auth mode, token expiry, policy in force.
    Status,
    /// One-shot tour: sandbox + server + a scripted MCP client session.
    Demo,
    /// Read the audit log: tail, query, verify, stats.
    Audit {
        /// Which audit command.
        #[command(subcommand)]
        cmd: audit::AuditCommand,
    },
    /// Ordered checks (config, credentials, site, identity, scopes, audit, client configs),
    /// each with a one-line fix; exits 1 when any fails.
    Doctor {
        /// One JSON object with every check instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Add this server to an AI desktop's MCP configuration.
    Install {
        /// Which client to configure.
        #[arg(value_enum)]
        client: install::Client,
        /// Print the entry that client reads; write nothing.
        #[arg(long)]
        print: bool,
        /// Replace an existing entry that points at another binary.
        #[arg(long)]
        force: bool,
    },
    /// Mirror Jira projects and Confluence spaces into the local cache for offline use:
    /// only what changed since the last sync (`--full` also notices deletions).
    Sync {
        /// A Jira project key to mirror (repeatable); default: `[cache].sync_jira_projects`.
        #[arg(long = "jira", value_name = "KEY")]
        jira: Vec<String>,
        /// A Confluence space key to mirror (repeatable); default: `[cache].sync_confluence_spaces`.
        #[arg(long = "confluence", value_name = "SPACE")]
        confluence: Vec<String>,
        /// Fetch everything again and drop what the site no longer has.
        #[arg(long)]
        full: bool,
    },
    /// The local cache: `stats` (counts, size, age), `clear`.
    Cache {
        /// Which cache command.
        #[command(subcommand)]
        cmd: cache::CacheCommand,
    },
    /// Writes made while offline: `list`, `send`, `drop ID`.
    Outbox {
        /// Which outbox command.
        #[command(subcommand)]
        cmd: outbox::OutboxCommand,
    },
    /// Shell completions generated from this command line, on stdout.
    Completions {
        /// The shell to generate for.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

/// A failure with its exit code: usage/config errors exit 2, everything else 1.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Usage or configuration problem.
    #[error("{0}")]
    Usage(String),
    /// Runtime failure.
    #[error(transparent)]
    Runtime(#[from] anyhow::Error),
}

impl From<ConfigError> for CliError {
    fn from(e: ConfigError) -> Self {
        CliError::Usage(e.to_string())
    }
}

impl CliError {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> ExitCode {
        match self {
            CliError::Usage(_) => ExitCode::from(2),
            CliError::Runtime(_) => ExitCode::from(1),
        }
    }
}

/// Loads settings for commands that need them.
pub fn load_settings(cli_config: Option<&std::path::Path>) -> Result<Settings, CliError> {
    let locations = Locations::discover(cli_config)?;
    Ok(Settings::load(&locations)?)
}

/// Runs the parsed command.
pub fn run(cli: Cli) -> Result<ExitCode, CliError> {
    let config = cli.config;
    match cli.command {
        Command::Audit { cmd } => {
            let settings = load_settings(config.as_deref())?;
            Ok(audit::run(cmd, &settings.audit)?)
        }
        Command::Serve { sandbox: false } => {
            let settings = load_settings(config.as_deref())?;
            block_on(serve::run(settings, false))
        }
        Command::Serve { sandbox: true } => {
            let home = SandboxHome::new(config.as_deref())?;
            let code = block_on(serve::run(home.settings.clone(), true));
            drop(home);
            code
        }
        Command::Sandbox { port, latency_ms } => block_on(sandbox::run(port, latency_ms)),
        Command::Login {
            no_browser,
            upstream: true,
            timeout,
        } => {
            let settings = load_settings(config.as_deref())?;
            block_on(upstream::run_login(
                settings,
                no_browser,
                std::time::Duration::from_secs(timeout),
            ))
        }
        Command::Login {
            no_browser,
            upstream: false,
            timeout,
        } => {
            let settings = load_settings(config.as_deref())?;
            block_on(login::run_login(
                settings,
                no_browser,
                std::time::Duration::from_secs(timeout),
            ))
        }
        Command::Logout { upstream: true } => {
            let settings = load_settings(config.as_deref())?;
            block_on(upstream::run_logout(settings))
        }
        Command::Logout { upstream: false } => {
            let settings = load_settings(config.as_deref())?;
            block_on(login::run_logout(settings))
        }
        Command::Status => {
            let settings = load_settings(config.as_deref())?;
            block_on(login::run_status(settings))
        }
        Command::Demo => block_on(demo::run()),
        Command::Doctor { json } => block_on(doctor::run(config.as_deref(), json)),
        Command::Install {
            client,
            print,
            force,
        } => install::run_with(client, print, force, config.as_deref()),
        Command::Sync {
            jira,
            confluence,
            full,
        } => {
            let settings = load_settings(config.as_deref())?;
            block_on(sync::run(settings, jira, confluence, full))
        }
        Command::Cache { cmd } => {
            let settings = load_settings(config.as_deref())?;
            cache::run(cmd, &settings)
        }
        Command::Outbox { cmd } => {
            let settings = load_settings(config.as_deref())?;
            block_on(outbox::run(cmd, settings))
        }
        Command::Completions { shell } => {
            let mut command = <Cli as clap::CommandFactory>::command();
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut command, "atlassian-mcp-bridge", &mut script);
            write_stdout(&script)
        }
    }
}

/// Where `serve --sandbox` keeps its files: `ATLASSIAN_MCP_BRIDGE_HOME` when it is set, else a
/// temporary directory removed when this value is dropped, so that trying the sandbox never
/// writes into the person's real audit log or journals. (`demo` always uses a fresh temporary
/// directory: it signs in, and must never replace real credentials.)
pub struct SandboxHome {
    /// Settings with the data directory and audit path inside the chosen home.
    pub settings: Settings,
    /// The temporary home, removed on drop (`None` when `ATLASSIAN_MCP_BRIDGE_HOME` is set).
    _temp: Option<tempfile::TempDir>,
}

impl SandboxHome {
    /// Chooses the home; an explicit `--config` still supplies `[policy]` and `[audit]` options,
    /// but without `ATLASSIAN_MCP_BRIDGE_HOME` every file goes to the temporary home.
    pub fn new(cli_config: Option<&std::path::Path>) -> Result<Self, CliError> {
        let home_set = std::env::var_os(crate::config::HOME_ENV).is_some_and(|v| !v.is_empty());
        if home_set {
            return Ok(Self {
                settings: load_settings(cli_config)?,
                _temp: None,
            });
        }
        let temp = tempfile::Builder::new()
            .prefix("atlassian-mcp-bridge-sandbox-")
            .tempdir()
            .map_err(|e| {
                CliError::Runtime(anyhow::anyhow!(
                    "cannot create a temporary home for the sandbox: {e}"
                ))
            })?;
        let mut locations = Locations::discover(cli_config)?;
        if !locations.explicit {
            // The person's own config names their real site and policy, not the sandbox's.
            locations.config_file = temp.path().join("config.toml");
        }
        locations.data_dir = temp.path().to_path_buf();
        let mut settings = Settings::load(&locations)?;
        settings.data_dir = temp.path().to_path_buf();
        settings.audit.path = temp.path().join("audit").join("audit.jsonl");
        tracing::info!(home = %temp.path().display(), "sandbox: temporary home, removed on exit");
        Ok(Self {
            settings,
            _temp: Some(temp),
        })
    }
}

/// Writes command output to stdout; a reader that went away (`… | head`) is not a failure.
fn write_stdout(bytes: &[u8]) -> Result<ExitCode, CliError> {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(ExitCode::SUCCESS),
        Err(e) => Err(CliError::Runtime(anyhow::anyhow!(
            "cannot write to stdout: {e}"
        ))),
    }
}

/// Runs an async command on a fresh runtime, without waiting on a blocked stdin reader at the
/// end (it cannot be cancelled; rmcp-guide §5.1).
fn block_on(
    fut: impl std::future::Future<Output = Result<ExitCode, CliError>>,
) -> Result<ExitCode, CliError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| CliError::Runtime(anyhow::anyhow!("cannot start the async runtime: {e}")))?;
    let code = runtime.block_on(fut);
    runtime.shutdown_timeout(std::time::Duration::from_millis(200));
    code
}
