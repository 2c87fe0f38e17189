//! Claude Code through its own CLI: `claude mcp get` to see what is there, `claude mcp add
//! --scope user` to add us (and `claude mcp remove` first under `--force`), so the user-scope
//! entry lands in `~/.claude.json` the way Claude Code itself writes it. Each `claude` run is
//! bounded in time: `claude mcp get` starts the server to show its status, and a stuck one must
//! not hang `install`.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Output, Stdio};
use std::time::{Duration, Instant};

use anyhow::anyhow;

use super::super::CliError;
use super::document::same_program;
use super::launch::{Launch, describe};
use super::{ENTRY_NAME, paths};

/// How long one `claude mcp …` run may take before it is stopped.
const CLAUDE_TIMEOUT: Duration = Duration::from_secs(60);

/// The `claude` program on `PATH`, if Claude Code's CLI is installed.
pub(super) fn find_claude() -> Option<PathBuf> {
    paths::find_on_path("claude")
}

/// What `claude mcp get` reported for our name.
#[derive(Debug, Default, PartialEq, Eq)]
struct Registered {
    command: Option<String>,
    args: Option<String>,
    /// The `Scope:` line as shown ("User config (available in all your projects)").
    shown_scope: Option<String>,
    /// The scope to remove it from (`-s <scope>` in the removal hint), if shown.
    scope: Option<String>,
    /// The `VAR=value` lines under `Environment:`.
    env: Vec<(String, String)>,
}

/// Reads the `Command:`, `Args:`, `Environment:` and removal-hint lines of `claude mcp get`'s
/// report.
fn parse_get(stdout: &str) -> Registered {
    let mut found = Registered::default();
    let mut in_env = false;
    for line in stdout.lines().map(str::trim) {
        if in_env {
            match line.split_once('=') {
                Some((var, value)) if !var.is_empty() && !var.contains(' ') => {
                    found.env.push((var.to_string(), value.to_string()));
                    continue;
                }
                _ => in_env = false,
            }
        }
        if line == "Environment:" {
            in_env = true;
        } else if let Some(command) = line.strip_prefix("Command:") {
            found.command = Some(command.trim().to_string());
        } else if let Some(scope) = line.strip_prefix("Scope:") {
            found.shown_scope = Some(scope.trim().to_string());
        } else if let Some(args) = line.strip_prefix("Args:") {
            found.args = Some(args.trim().to_string());
        } else if line.starts_with("To remove this server") {
            let mut words = line.split_whitespace();
            found.scope = words
                .by_ref()
                .find(|w| *w == "-s" || *w == "--scope")
                .and_then(|_| words.next())
                .map(str::to_string);
        }
    }
    found
}

/// Adds us at user scope unless an entry with our name already runs this binary the same way
/// (arguments, and our variables in its environment); an entry that runs anything else is
/// refused without `force`, and removed from its own scope with it.
pub(super) fn install_with_cli(
    claude: &Path,
    launch: &Launch,
    force: bool,
) -> Result<ExitCode, CliError> {
    let get = run_claude(claude, &["mcp", "get", ENTRY_NAME])?;
    if get.status.success() {
        let registered = parse_get(&String::from_utf8_lossy(&get.stdout));
        let ours = registered
            .command
            .as_deref()
            .is_some_and(|c| same_program(c, &launch.command))
            && registered.args.as_deref() == Some(launch.args.join(" ").as_str())
            && launch.env.iter().all(|pair| registered.env.contains(pair));
        if ours {
            eprintln!(
                "{ENTRY_NAME} is already installed in Claude Code (runs {}); nothing changed",
                launch.describe()
            );
            return Ok(ExitCode::SUCCESS);
        }
        let ours_env: Vec<(String, String)> = registered
            .env
            .iter()
            .filter(|(var, _)| launch.env.iter().any(|(v, _)| v == var))
            .cloned()
            .collect();
        let theirs = match (&registered.command, &registered.args) {
            (Some(c), Some(a)) if !a.is_empty() => {
                describe(Some(c), std::slice::from_ref(a), &ours_env)
            }
            (Some(c), _) => describe(Some(c), &[], &ours_env),
            (None, _) => "something this command could not read".to_string(),
        };
        if !force {
            let scope = registered
                .shown_scope
                .map(|s| format!(" ({s})"))
                .unwrap_or_default();
            return Err(CliError::Runtime(anyhow!(
                "Claude Code already has an `{ENTRY_NAME}` server{scope} that runs {theirs}; \
                 this install would run {}; rerun with --force to replace it with a user-scope \
                 entry for this binary",
                launch.describe()
            )));
        }
        let scope = registered.scope.unwrap_or_else(|| "user".to_string());
        let removed = run_claude(claude, &["mcp", "remove", "--scope", &scope, ENTRY_NAME])?;
        require_success(&removed, "claude mcp remove")?;
    }
    let added = run_claude(claude, &add_args(launch))?;
    require_success(&added, "claude mcp add")?;
    eprintln!(
        "added {ENTRY_NAME} to Claude Code for all your projects (`claude mcp add --scope \
         user`, runs {}); {}restart Claude Code, then run `{ENTRY_NAME} doctor`",
        launch.describe(),
        launch.additions()
    );
    Ok(ExitCode::SUCCESS)
}

/// `mcp add --transport stdio [--env VAR=value]… --scope user <name> -- <command> <args>…`.
/// `--env` takes several values, so it goes before `--scope`, which ends its list; right before
/// the name it would swallow the name too.
fn add_args(launch: &Launch) -> Vec<String> {
    let mut add: Vec<String> = ["mcp", "add", "--transport", "stdio"]
        .map(String::from)
        .into();
    for (var, value) in &launch.env {
        add.push("--env".to_string());
        add.push(format!("{var}={value}"));
    }
    add.extend(["--scope", "user", ENTRY_NAME, "--"].map(String::from));
    add.push(launch.command.clone());
    add.extend(launch.args.iter().cloned());
    add
}

/// Runs `claude` with `args`, capturing its output (our stdout stays empty), for at most
/// [`CLAUDE_TIMEOUT`].
fn run_claude(claude: &Path, args: &[impl AsRef<str>]) -> Result<Output, CliError> {
    let args: Vec<&str> = args.iter().map(AsRef::as_ref).collect();
    run_bounded(claude, &args, CLAUDE_TIMEOUT)
}

/// Runs `program args…` with stdin closed, collecting stdout and stderr; a run still going
/// after `limit` is killed and reported as an error naming the command.
fn run_bounded(program: &Path, args: &[&str], limit: Duration) -> Result<Output, CliError> {
    let shown = format!("{} {}", program.display(), args.join(" "));
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| CliError::Runtime(anyhow!("cannot run {}: {e}", program.display())))?;
    // Read both pipes while waiting, so a chatty child never blocks on a full pipe.
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());
    let deadline = Instant::now() + limit;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() >= deadline => {
                // Kill it and return at once: the readers are left to finish on their own,
                // since a grandchild may still hold the pipes open.
                let _ = child.kill();
                let _ = child.wait();
                return Err(CliError::Runtime(anyhow!(
                    "`{shown}` did not finish within {limit:?} and was stopped; run it yourself \
                     to see what it waits for, or use `{ENTRY_NAME} install claude-code --print` \
                     and add the entry by hand"
                )));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => {
                let _ = child.kill();
                return Err(CliError::Runtime(anyhow!("cannot wait for `{shown}`: {e}")));
            }
        }
    };
    Ok(Output {
        status,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    })
}

/// Reads `pipe` to its end on a thread of its own.
fn drain(pipe: Option<impl Read + Send + 'static>) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_end(&mut bytes);
        }
        bytes
    })
}

/// An error carrying `claude`'s own message when it failed.
fn require_success(output: &Output, what: &str) -> Result<(), CliError> {
    if output.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let said = if stderr.trim().is_empty() {
        stdout.trim().to_string()
    } else {
        stderr.trim().to_string()
    };
    Err(CliError::Runtime(anyhow!(
        "`{what}` failed ({}): {said}",
        output.status
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_claude_mcp_get_reports() {
        let report = "atlassian-mcp-bridge:\n  Scope: Local config (private to you in this \
                      project)\n  Status: ✓ Connected\n  Type: stdio\n  Command: /a/b\n  Args: \
                      serve\n  Environment:\n\nTo remove this server, run: claude mcp remove \
                      \"atlassian-mcp-bridge\" -s local\n";
        assert_eq!(
            parse_get(report),
            Registered {
                command: Some("/a/b".into()),
                args: Some("serve".into()),
                shown_scope: Some("Local config (private to you in this project)".into()),
                scope: Some("local".into()),
                env: Vec::new(),
            }
        );
        let report = "atlassian-mcp-bridge:\n  Scope: User config\n  Command: /a/b\n  Args: \
                      --config /c.toml serve\n  Environment:\n    ATLASSIAN_MCP_BRIDGE_HOME=/h\n    \
                      RUST_LOG=a=b\n\nTo remove this server, run: claude mcp remove \
                      \"atlassian-mcp-bridge\" -s user\n";
        let got = parse_get(report);
        assert_eq!(got.args.as_deref(), Some("--config /c.toml serve"));
        assert_eq!(
            got.env,
            vec![
                ("ATLASSIAN_MCP_BRIDGE_HOME".to_string(), "/h".to_string()),
                ("RUST_LOG".to_string(), "a=b".to_string())
            ]
        );
        assert_eq!(got.scope.as_deref(), Some("user"));
        assert_eq!(
            parse_get("No MCP server named \"x\".\n"),
            Registered::default()
        );
    }

    #[test]
    fn env_goes_before_the_scope_so_it_cannot_swallow_the_name() {
        let launch = Launch::new(
            "/b/amb".into(),
            None,
            vec![("ATLASSIAN_MCP_BRIDGE_HOME".into(), "/h".into())],
        );
        assert_eq!(
            add_args(&launch).join(" "),
            "mcp add --transport stdio --env ATLASSIAN_MCP_BRIDGE_HOME=/h --scope user \
             atlassian-mcp-bridge -- /b/amb serve"
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_run_that_does_not_finish_is_stopped_and_named() {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("claude");
        // `sleep` runs as a grandchild holding the pipes open, as a server started by
        // `claude mcp get` would. Run through `sh` so the script needs no exec bit.
        std::fs::write(&script, "echo started\nsleep 30\necho done\n").unwrap();
        let script = script.to_str().unwrap();
        let sh = Path::new("/bin/sh");
        let err = run_bounded(sh, &[script, "mcp", "get", "x"], Duration::from_millis(300))
            .unwrap_err()
            .to_string();
        assert!(err.contains("claude mcp get x` did not finish"), "{err}");
        assert!(err.contains("was stopped"), "{err}");

        let done = run_bounded(
            sh,
            &["-c", "echo out; echo err >&2; exit 3"],
            Duration::from_secs(30),
        )
        .unwrap();
        assert_eq!(done.status.code(), Some(3));
        assert_eq!(
            (&done.stdout[..], &done.stderr[..]),
            (&b"out\n"[..], &b"err\n"[..])
        );
    }
}
