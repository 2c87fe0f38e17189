//! `serve [--sandbox]`: the stdio MCP server that AI desktops launch.

use std::io::{IsTerminal as _, Write as _};
use std::process::ExitCode;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use rmcp::ServiceExt;
use rmcp::service::{QuitReason, ServerInitializeError};
use url::Url;

use super::CliError;
use crate::atlassian::{Api, CallTrace, DEFAULT_API_BASE, RetryPolicy};
use crate::audit::{AuditLog, Entry};
use crate::auth::store::CredentialStore;
use crate::auth::tokens::TokenManager;
use crate::auth::upstream_tokens::UpstreamTokenManager;
use crate::config::{Auth, Deployment, Settings, SiteSettings, UpstreamTools};
use crate::mcp::proxied::Upstream;
use crate::mcp::{BridgeServer, State, initial_actor};
use crate::policy::Policy;
use crate::remote::Remote;
use crate::sandbox;
use crate::secret::Secret;
use crate::transport::{self, InFlight, Tracked, record_unfinished};

/// Site settings that point at a running sandbox (Cloud flavour, API-token auth).
pub fn sandbox_site(base_url: &str, deployment: Deployment) -> Result<SiteSettings, CliError> {
    let (url, auth) = match deployment {
        Deployment::Cloud => (
            base_url.to_string(),
            Auth::ApiToken {
                email: sandbox::SANDBOX_EMAIL.to_string(),
                token: Secret::new(sandbox::SANDBOX_API_TOKEN),
            },
        ),
        Deployment::DataCenter => (
            format!("{base_url}/dc"),
            Auth::Pat {
                token: Secret::new(sandbox::SANDBOX_PAT),
            },
        ),
    };
    Ok(SiteSettings {
        url: Url::parse(&url)
            .map_err(|e| CliError::Runtime(anyhow::anyhow!("sandbox URL {url}: {e}")))?,
        deployment,
        auth,
        cloud_id: None,
        confluence_url: None,
        timeout: std::time::Duration::from_secs(crate::config::DEFAULT_TIMEOUT_SECS),
    })
}

/// Builds the MCP server for a site and writes the `server_start` audit record (or, with
/// `defer_start_record`, starts writing it: `serve` answers `initialize` meanwhile).
pub async fn build_server(
    settings: &Settings,
    site: &SiteSettings,
    defer_start_record: bool,
) -> Result<BridgeServer, CliError> {
    let api_base = match &settings.oauth {
        Some(o) => o.api_base.clone(),
        None => Url::parse(DEFAULT_API_BASE)
            .map_err(|e| CliError::Runtime(anyhow::anyhow!("default API base: {e}")))?,
    };
    let audit = AuditLog::open(&settings.audit).context("cannot open the audit log")?;
    let tokens = match (&site.auth, &settings.oauth) {
        (Auth::OAuth, Some(oauth)) => Some(
            TokenManager::new(
                oauth.clone(),
                CredentialStore::in_dir(&settings.data_dir),
                Some(audit.clone()),
            )
            .map_err(|e| CliError::Runtime(anyhow::anyhow!(e)))?,
        ),
        _ => None,
    };
    let api = Api::new(site, &api_base, tokens.clone(), RetryPolicy::default())
        .map_err(CliError::Usage)?;
    let mut actor = initial_actor(&api, site.auth.mode());
    if let Some(c) = tokens.as_ref().and_then(|t| t.credentials()) {
        actor.account_id = c.account.account_id;
    }
    let start = Entry {
        actor: Some(actor.clone()),
        args: Some(start_args(settings, site)),
        ..Entry::event("server_start")
    };
    if defer_start_record {
        // Written while `initialize` is answered (the disk flush stays off the start-up path);
        // every later record of the session waits for it, and fails if it failed.
        audit.append_first(start);
    } else {
        audit
            .append(start)
            .await
            .context("cannot write the audit log")?;
    }
    let upstream = match &settings.upstream {
        Some(up) => {
            let tokens = UpstreamTokenManager::new(
                &up.url,
                CredentialStore::in_dir(&settings.data_dir),
                Some(audit.clone()),
            )
            .map_err(|e| CliError::Runtime(anyhow::anyhow!(e)))?;
            let remote = Remote::new(up.url.clone(), std::sync::Arc::new(tokens));
            Some(Upstream::new(up.clone(), remote, &settings.data_dir))
        }
        None => None,
    };
    Ok(BridgeServer::new(State {
        api,
        policy: Policy::new(settings.policy.clone()),
        audit,
        actor: RwLock::new(actor),
        audit_path: settings.audit.path.display().to_string(),
        journal_dir: settings.data_dir.join("journal"),
        cache: open_cache(settings),
        offline: settings.cache.offline,
        outbox_dir: settings.cache.outbox_dir.clone(),
        upstream,
    }))
}

/// The `server_start` record's arguments: version, deployment and, when configured, the
/// upstream MCP server.
fn start_args(settings: &Settings, site: &SiteSettings) -> serde_json::Value {
    let mut args = serde_json::json!({
        "version": env!("CARGO_PKG_VERSION"),
        "deployment": site.deployment.as_str(),
    });
    if let (Some(up), Some(map)) = (&settings.upstream, args.as_object_mut()) {
        map.insert("upstream".into(), serde_json::json!(up.url.as_str()));
    }
    args
}

/// Opens the local cache when `[cache].enabled`; a cache that cannot be opened is reported and
/// left out (the server still works online) rather than stopping the server.
pub fn open_cache(settings: &Settings) -> Option<crate::cache::Cache> {
    if !settings.cache.enabled {
        return None;
    }
    match crate::cache::Cache::open(&settings.cache.path, settings.cache.max_bytes) {
        Ok(cache) => Some(cache),
        Err(e) => {
            tracing::warn!(
                "{e}; working without the local cache (nothing is kept for offline use); `atlassian-mcp-bridge cache clear` starts a new one"
            );
            None
        }
    }
}

/// The cache's `meta` key for the signed-in account id.
const ACCOUNT_META: &str = "account_id";

/// Learns the account id in the background so audit records can name the actor (and
/// `currentUser()` works offline: the last one seen is kept in the cache). With
/// `[cache].offline = "always"` the site is not asked; the kept one is used.
pub fn resolve_actor(server: &BridgeServer) {
    let server = server.clone();
    tokio::spawn(async move {
        let kept = match server.state().cache.clone() {
            Some(cache) => tokio::task::spawn_blocking(move || cache.meta(ACCOUNT_META))
                .await
                .ok()
                .and_then(Result::ok)
                .flatten(),
            None => None,
        };
        if let Some(id) = kept
            && let Ok(mut actor) = server.state().actor.write()
            && actor.account_id.is_none()
        {
            actor.account_id = Some(id);
        }
        if server.state().offline == crate::config::OfflineMode::Always {
            return;
        }
        let trace = CallTrace::new();
        match server.state().api.current_user(&trace).await {
            Ok(me) => {
                if let (Some(cache), Some(id)) = (server.state().cache.clone(), me.id.clone()) {
                    tokio::task::spawn_blocking(move || {
                        if let Err(e) = cache.set_meta(ACCOUNT_META, &id) {
                            tracing::debug!("could not keep the account id: {e}");
                        }
                    });
                }
                if let Ok(mut actor) = server.state().actor.write() {
                    actor.account_id = me.id;
                }
            }
            Err(e) => tracing::warn!("could not look up the signed-in user: {}", e.user_message()),
        }
    });
}

/// How long calls in flight may finish on their own after a stop signal before they are
/// cancelled (clients wait a few seconds after SIGTERM before they SIGKILL).
const SIGNAL_GRACE: Duration = Duration::from_secs(2);
/// The same after the client closed stdin (rmcp's own drain after end of input); the MCP
/// client then waits before it sends SIGTERM, which ends this grace early.
const EOF_GRACE: Duration = Duration::from_secs(5);
/// How long cancelled calls get to wind down and write their audit records: longer than the
/// gate's grace for a cancelled write tool (10 s), so its own record is the one written.
const CANCEL_WAIT: Duration = Duration::from_secs(11);
/// How long rmcp's service loop gets to finish once its input is closed.
const LOOP_WAIT: Duration = Duration::from_secs(3);
/// How long rmcp gets to take the last messages read before stdin ended.
const DRAIN_WAIT: Duration = Duration::from_secs(1);

/// Runs the server on stdin/stdout until the client closes stdin, stdout closes, or a signal
/// (SIGTERM, SIGINT) asks it to stop; every call still in flight then leaves its audit record.
pub async fn run(settings: Settings, use_sandbox: bool) -> Result<ExitCode, CliError> {
    let started = Instant::now();
    // Before anything else, so that a signal during start-up still ends in an orderly stop
    // (the sandbox's temporary home is removed).
    let mut signals = Signals::new();
    if let Some(notice) = terminal_notice(std::io::stdin().is_terminal()) {
        let _ = writeln!(std::io::stderr(), "{notice}");
    }
    let mut sandbox_handle = None;
    let site = if use_sandbox {
        let sb = sandbox::start(sandbox::SandboxOptions::default())
            .await
            .context("cannot start the sandbox")?;
        let deployment = settings
            .site
            .as_ref()
            .map(|s| s.deployment)
            .unwrap_or(Deployment::Cloud);
        let site = sandbox_site(&sb.base_url(), deployment)?;
        tracing::info!(url = %sb.base_url(), "sandbox started");
        sandbox_handle = Some(sb);
        site
    } else {
        match &settings.site {
            Some(site) => site.clone(),
            // Only the upstream's tools are served: no Atlassian site is needed, and none is
            // ever contacted (the bridge's own tools, resources and prompts are off).
            None if settings
                .upstream
                .as_ref()
                .is_some_and(|u| u.tools == UpstreamTools::Upstream) =>
            {
                upstream_only_site(&settings)?
            }
            None => {
                let file = settings
                    .config_file
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_else(|| "config.toml".to_string());
                return Err(CliError::Usage(format!(
                    "no Atlassian site configured: add a [site] section to {file} (see config/example.toml), set upstream.tools = \"upstream\" to serve only an upstream MCP server's tools, or run `atlassian-mcp-bridge serve --sandbox` to try the built-in sandbox"
                )));
            }
        }
    };
    let server = build_server(&settings, &site, true).await?;
    // OAuth credentials already name the account; token auth learns it from the site (or,
    // offline, from the cache), once `initialize` is answered. Upstream-only serving has no
    // site to ask.
    let learn_actor = !matches!(site.auth, Auth::OAuth) && server.own_tools_offered();
    let result = serve_stdio(&server, &mut signals, started, learn_actor).await;
    // A session with no calls still leaves its start record before the process ends; one that
    // could not leave it ran nothing and ends with the error, as a start that failed.
    let result = match (result, server.state().audit.ready().await) {
        (Ok(_), Err(e)) => Err(CliError::Runtime(
            anyhow::Error::new(e).context("cannot write the audit log"),
        )),
        (result, _) => result,
    };
    if let Some(sb) = sandbox_handle {
        sb.shutdown().await;
    }
    result
}

/// Stand-in site settings for serving only an upstream MCP server's tools with no `[site]`:
/// the Atlassian client is built over the upstream URL but never used, since the bridge's own
/// tools, resources, prompts and completion are not offered in that mode.
fn upstream_only_site(settings: &Settings) -> Result<SiteSettings, CliError> {
    let up = settings
        .upstream
        .as_ref()
        .ok_or_else(|| CliError::Usage("no [upstream] configured".to_string()))?;
    Ok(SiteSettings {
        url: up.url.clone(),
        deployment: Deployment::Cloud,
        auth: Auth::ApiToken {
            email: String::new(),
            token: Secret::new(""),
        },
        cloud_id: None,
        confluence_url: None,
        timeout: std::time::Duration::from_secs(crate::config::DEFAULT_TIMEOUT_SECS),
    })
}

/// What `serve` says on stderr when a person starts it from a terminal (stdin is a TTY): it
/// speaks JSON-RPC, so typing at it shows nothing useful. `None` when a client started it.
pub fn terminal_notice(stdin_is_terminal: bool) -> Option<&'static str> {
    stdin_is_terminal.then_some(
        "atlassian-mcp-bridge serve speaks MCP (JSON-RPC) on stdin/stdout and is meant to be launched by an MCP client; to try it, run `atlassian-mcp-bridge demo`, or point a client at `atlassian-mcp-bridge serve --sandbox` (serving anyway; Ctrl-D ends)",
    )
}

/// Why serving stopped.
#[derive(Debug, Clone, Copy)]
enum Stop {
    /// The client closed stdin (or reading it failed).
    InputClosed,
    /// A signal.
    Signal(&'static str),
    /// stdout can no longer be written.
    OutputClosed,
    /// rmcp's service loop ended by itself.
    Ended,
}

/// Serves MCP over the filtered stdio transport until [`Stop`], then stops in order (see
/// [`shut_down`]).
async fn serve_stdio(
    server: &BridgeServer,
    signals: &mut Signals,
    started: Instant,
    learn_actor: bool,
) -> Result<ExitCode, CliError> {
    let inflight = InFlight::default();
    let (stdio, session) = transport::stdio(server.clone());
    let starting = Tracked::new(server.clone(), inflight.clone()).serve(stdio);
    tokio::pin!(starting);
    let started_service = tokio::select! {
        r = &mut starting => r,
        () = session.input_ended() => {
            if !session.initialize_seen() {
                // Nothing to serve: let rmcp see the end, and leave quietly.
                session.close_input();
            }
            (&mut starting).await
        }
        signal = signals.recv() => {
            tracing::info!(signal, "stopped before initialize");
            return finish(session).await;
        }
        () = session.output_closed() => return finish(session).await,
    };
    let service = match started_service {
        Ok(service) => service,
        Err(_) if session.output_is_closed() => return finish(session).await,
        Err(ServerInitializeError::ConnectionClosed(_))
            if session.reached_eof() && !session.initialize_seen() =>
        {
            tracing::info!("stdin closed before initialize; nothing to serve");
            return finish(session).await;
        }
        Err(e) => {
            let _ = session.finish().await;
            return Err(CliError::Runtime(anyhow::anyhow!(
                "MCP session failed to start: {e}"
            )));
        }
    };
    tracing::info!(ms = started.elapsed().as_secs_f64() * 1000.0, "initialized");
    // Not before: its HTTP client set-up would compete with answering `initialize`.
    if learn_actor {
        resolve_actor(server);
    }
    let waiting = service.waiting();
    tokio::pin!(waiting);
    let stop = tokio::select! {
        quit = &mut waiting => {
            tracing::warn!(reason = ?quit, "the MCP service loop ended by itself");
            Stop::Ended
        }
        () = session.input_ended() => Stop::InputClosed,
        signal = signals.recv() => Stop::Signal(signal),
        () = session.output_closed() => Stop::OutputClosed,
    };
    shut_down(stop, &session, &inflight, signals, waiting).await;
    record_unfinished(server, inflight.running_calls()).await;
    finish(session).await
}

/// Stops in order: stop reading stdin; let the calls in flight finish for a grace period
/// (answers still go out); cancel the rest through their request tokens, so the gate records
/// them as `cancelled`; wait for those records; end rmcp's input and its service loop. A signal
/// during the grace ends it; another during the wait stops waiting.
async fn shut_down(
    stop: Stop,
    session: &transport::Session,
    inflight: &InFlight,
    signals: &mut Signals,
    waiting: impl std::future::Future<Output = Result<QuitReason, tokio::task::JoinError>>,
) {
    session.stop_reading();
    let grace = match stop {
        Stop::InputClosed => {
            // The last lines read reach their handlers before the grace is measured.
            let _ = tokio::time::timeout(DRAIN_WAIT, session.input_drained()).await;
            tokio::task::yield_now().await;
            EOF_GRACE
        }
        Stop::Signal(signal) => {
            tracing::info!(signal, running = inflight.len(), "stopping");
            SIGNAL_GRACE
        }
        // Nobody can read answers any more: cancel at once.
        Stop::OutputClosed | Stop::Ended => Duration::ZERO,
    };
    let mut cancel_deadline = None;
    let mut hurried = false;
    if wait_for_calls(inflight, grace, signals).await != Waited::Idle {
        let cancelled = inflight.cancel_all();
        tracing::info!(cancelled, "cancelled the calls still running");
        cancel_deadline = Some(tokio::time::Instant::now() + CANCEL_WAIT);
        match wait_for_calls(inflight, CANCEL_WAIT, signals).await {
            Waited::Idle => {}
            Waited::TimedOut => tracing::warn!(
                running = inflight.len(),
                "calls still running after cancellation"
            ),
            Waited::Signalled => hurried = true,
        }
    }
    session.close_input();
    if hurried {
        return;
    }
    if !matches!(stop, Stop::Ended) {
        match tokio::time::timeout(LOOP_WAIT, waiting).await {
            Ok(quit) => tracing::info!(reason = ?quit, "server stopped"),
            Err(_) => tracing::warn!("the MCP service loop did not finish in time"),
        }
    }
    // rmcp cancels whatever is still running when its loop ends; those calls record themselves.
    let deadline = cancel_deadline.unwrap_or_else(|| tokio::time::Instant::now() + CANCEL_WAIT);
    let left = deadline.saturating_duration_since(tokio::time::Instant::now());
    if !inflight.is_empty() && wait_for_calls(inflight, left, signals).await == Waited::TimedOut {
        tracing::warn!(running = inflight.len(), "calls still running at exit");
    }
}

/// How a wait for the calls in flight ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Waited {
    /// No call is running.
    Idle,
    /// The time was up.
    TimedOut,
    /// A signal cut it short.
    Signalled,
}

/// Waits until no call is running, at most `limit`, or until a signal arrives.
async fn wait_for_calls(inflight: &InFlight, limit: Duration, signals: &mut Signals) -> Waited {
    tokio::select! {
        idle = inflight.wait_idle(limit) => if idle { Waited::Idle } else { Waited::TimedOut },
        signal = signals.recv() => {
            tracing::info!(signal, "asked again to stop: not waiting any longer");
            if inflight.is_empty() { Waited::Idle } else { Waited::Signalled }
        }
    }
}

/// Flushes stdout and maps the transport's outcome to the exit code: 0, also when the client
/// closed stdout; a read or write failure is the one error printed.
async fn finish(session: transport::Session) -> Result<ExitCode, CliError> {
    session
        .finish()
        .await
        .map(|()| ExitCode::SUCCESS)
        .map_err(|e| CliError::Runtime(e.into()))
}

/// SIGTERM and SIGINT (Ctrl-C elsewhere), registered once so none is missed between phases.
struct Signals {
    #[cfg(unix)]
    term: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    int: Option<tokio::signal::unix::Signal>,
}

impl Signals {
    fn new() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let listen = |kind: SignalKind, name: &str| match signal(kind) {
                Ok(s) => Some(s),
                Err(e) => {
                    tracing::warn!("cannot listen for {name}: {e}");
                    None
                }
            };
            Signals {
                term: listen(SignalKind::terminate(), "SIGTERM"),
                int: listen(SignalKind::interrupt(), "SIGINT"),
            }
        }
        #[cfg(not(unix))]
        Signals {}
    }

    /// The next stop signal's name.
    async fn recv(&mut self) -> &'static str {
        #[cfg(unix)]
        {
            async fn next(s: &mut Option<tokio::signal::unix::Signal>) -> Option<()> {
                match s {
                    Some(s) => s.recv().await,
                    None => std::future::pending().await,
                }
            }
            tokio::select! {
                Some(()) = next(&mut self.term) => "SIGTERM",
                Some(()) = next(&mut self.int) => "SIGINT",
                else => std::future::pending().await,
            }
        }
        #[cfg(not(unix))]
        {
            if tokio::signal::ctrl_c().await.is_err() {
                std::future::pending::<()>().await;
            }
            "Ctrl-C"
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_terminal_gets_one_line_saying_what_to_run_instead() {
        let notice = terminal_notice(true).expect("a notice for a terminal");
        assert!(!notice.contains('\n'), "one line");
        assert!(notice.contains("MCP client"), "{notice}");
        assert!(notice.contains("atlassian-mcp-bridge demo"), "{notice}");
        assert!(notice.contains("serve --sandbox"), "{notice}");
        assert_eq!(
            terminal_notice(false),
            None,
            "nothing when a client runs it"
        );
    }
}
