//! Claude Code through its own CLI: `claude mcp get` to see what is there, `claude mcp add
//! --scope user` to add us (and `claude mcp remove` first under `--force`), so the user-scope
//! entry lands in `~/.claude.json` the way Claude Code itself writes it.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Output, Stdio};

use anyhow::anyhow;

use super::super::CliError;
use super::document::same_program;
use super::{ENTRY_NAME, SERVE_ARGS, paths};

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
}

/// Reads the `Command:`, `Args:` and removal-hint lines of `claude mcp get`'s report.
fn parse_get(stdout: &str) -> Registered {
    let mut found = Registered::default();
    for line in stdout.lines().map(str::trim) {
        if let Some(command) = line.strip_prefix("Command:") {
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

/// Adds us at user scope unless an entry with our name already runs this binary; an entry that
/// runs anything else is refused without `force`, and removed from its own scope with it.
pub(super) fn install_with_cli(
    claude: &Path,
    exe: &str,
    force: bool,
) -> Result<ExitCode, CliError> {
    let get = run_claude(claude, &["mcp", "get", ENTRY_NAME])?;
    if get.status.success() {
        let registered = parse_get(&String::from_utf8_lossy(&get.stdout));
        let ours = registered
            .command
            .as_deref()
            .is_some_and(|c| same_program(c, exe))
            && registered.args.as_deref() == Some(SERVE_ARGS.join(" ").as_str());
        if ours {
            eprintln!(
                "{ENTRY_NAME} is already installed in Claude Code (runs {exe} serve); nothing \
                 changed"
            );
            return Ok(ExitCode::SUCCESS);
        }
        let theirs = match (&registered.command, &registered.args) {
            (Some(c), Some(a)) if !a.is_empty() => format!("{c} {a}"),
            (Some(c), _) => c.clone(),
            (None, _) => "something this command could not read".to_string(),
        };
        if !force {
            let scope = registered
                .shown_scope
                .map(|s| format!(" ({s})"))
                .unwrap_or_default();
            return Err(CliError::Runtime(anyhow!(
                "Claude Code already has an `{ENTRY_NAME}` server{scope} that runs {theirs}; \
                 this binary is {exe}; rerun with --force to replace it with a user-scope entry \
                 for this binary"
            )));
        }
        let scope = registered.scope.unwrap_or_else(|| "user".to_string());
        let removed = run_claude(claude, &["mcp", "remove", "--scope", &scope, ENTRY_NAME])?;
        require_success(&removed, "claude mcp remove")?;
    }
    let mut add = vec![
        "mcp",
        "add",
        "--transport",
        "stdio",
        "--scope",
        "user",
        ENTRY_NAME,
        "--",
        exe,
    ];
    add.extend_from_slice(SERVE_ARGS);
    let added = run_claude(claude, &add)?;
    require_success(&added, "claude mcp add")?;
    eprintln!(
        "added {ENTRY_NAME} to Claude Code for all your projects (`claude mcp add --scope \
         user`, runs {exe} serve); restart Claude Code, then run `{ENTRY_NAME} doctor`"
    );
    Ok(ExitCode::SUCCESS)
}

/// Runs `claude` with `args`, capturing its output (our stdout stays empty).
fn run_claude(claude: &Path, args: &[&str]) -> Result<Output, CliError> {
    Command::new(claude)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| CliError::Runtime(anyhow!("cannot run {}: {e}", claude.display())))
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
            }
        );
        assert_eq!(
            parse_get("No MCP server named \"x\".\n"),
            Registered::default()
        );
    }
}
