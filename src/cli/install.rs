//! `install <client> [--print] [--force]`: adds this binary to an AI desktop's MCP config.
//!
//! Each client reads one JSON (or JSONC) file; `install` adds or updates only the
//! `atlassian-mcp-bridge` entry in it and leaves every other byte (other servers, keys, comments,
//! trailing commas, indentation, line endings) as it was. The file as it was before install
//! first changed it is kept as `<name>.atlassian-mcp-bridge.bak` (never replaced), the one before
//! the latest change as `<name>.atlassian-mcp-bridge.prev.bak`. Claude Code is configured through
//! its own `claude mcp add` when `claude` is on `PATH`. [`config_path`] and [`bridge_entries`]
//! let `doctor` read what is configured.

mod claude_code;
mod document;
mod duplicates;
mod error;
mod launch;
mod paths;
mod save;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::anyhow;
use serde::Serialize;

use self::document::{Document, Existing, Syntax, Wanted};
use self::launch::{Launch, describe};
use self::save::Kept;
use super::CliError;

/// The server name written into every client's file (VS Code included: hyphens are valid there,
/// and one name everywhere is what `--force`, `doctor` and the docs refer to).
pub const ENTRY_NAME: &str = "atlassian-mcp-bridge";

/// The AI desktops `install` knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Client {
    /// Claude Desktop (`claude_desktop_config.json`).
    ClaudeDesktop,
    /// Claude Code (`claude mcp add`, else `.mcp.json`).
    ClaudeCode,
    /// VS Code (`mcp.json`, key `servers`).
    Vscode,
    /// Cursor (`~/.cursor/mcp.json`).
    Cursor,
}

impl Client {
    /// Every client, in the order `doctor` reports them.
    pub const ALL: [Client; 4] = [
        Client::ClaudeDesktop,
        Client::ClaudeCode,
        Client::Vscode,
        Client::Cursor,
    ];

    /// The product name people know it by, for messages.
    pub fn label(self) -> &'static str {
        match self {
            Client::ClaudeDesktop => "Claude Desktop",
            Client::ClaudeCode => "Claude Code",
            Client::Vscode => "VS Code",
            Client::Cursor => "Cursor",
        }
    }

    /// The command-line spelling (`install <arg>`), for fix hints.
    pub fn arg(self) -> &'static str {
        match self {
            Client::ClaudeDesktop => "claude-desktop",
            Client::ClaudeCode => "claude-code",
            Client::Vscode => "vscode",
            Client::Cursor => "cursor",
        }
    }

    /// The key that holds the server map in this client's file.
    fn servers_key(self) -> &'static str {
        match self {
            Client::Vscode => "servers",
            Client::ClaudeDesktop | Client::ClaudeCode | Client::Cursor => "mcpServers",
        }
    }

    /// Whether entries carry `"type": "stdio"` (VS Code requires it; `.mcp.json` documents it).
    fn typed(self) -> bool {
        matches!(self, Client::Vscode | Client::ClaudeCode)
    }

    /// VS Code and Cursor read JSONC (comments, trailing commas); the others read plain JSON, so
    /// a comment there is refused rather than written around.
    fn syntax(self) -> Syntax {
        match self {
            Client::Vscode | Client::Cursor => Syntax::Jsonc,
            Client::ClaudeDesktop | Client::ClaudeCode => Syntax::Json,
        }
    }
}

/// One server entry, in some client's file, that launches an `atlassian-mcp-bridge` binary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfiguredEntry {
    /// The client whose file holds it.
    pub client: Client,
    /// The file it was read from.
    pub file: PathBuf,
    /// The server's name (its key in the server map).
    pub name: String,
    /// The command the client launches, as written.
    pub command: String,
}

/// The file this client reads for this user: Claude Desktop's `claude_desktop_config.json`,
/// VS Code's user `mcp.json`, `~/.cursor/mcp.json`, and for Claude Code the user-scope
/// `~/.claude.json` (`$CLAUDE_CONFIG_DIR/.claude.json` when that is set). `None` when no home
/// directory can be found. Home comes from `HOME`/`USERPROFILE`, `APPDATA` and
/// `XDG_CONFIG_HOME`, so tests and odd setups can point it elsewhere.
pub fn config_path(client: Client) -> Option<PathBuf> {
    match client {
        Client::ClaudeDesktop => paths::claude_desktop(),
        Client::ClaudeCode => paths::claude_code_user(),
        Client::Vscode => paths::vscode_user(),
        Client::Cursor => paths::cursor(),
    }
}

/// Every server entry in this client's file whose command's file name starts with
/// `atlassian-mcp-bridge`, whatever the entry is called. For Claude Code this reads
/// `~/.claude.json` (top-level `mcpServers` and each `projects.*.mcpServers`) and `./.mcp.json`.
/// `Ok(empty)` when no file exists; `Err` names the file (and line) that cannot be read.
pub fn bridge_entries(client: Client) -> Result<Vec<ConfiguredEntry>, String> {
    let mut files = Vec::new();
    if let Some(path) = config_path(client) {
        files.push(path);
    }
    if client == Client::ClaudeCode {
        let dir = std::env::current_dir().unwrap_or_default();
        files.push(dir.join(".mcp.json"));
    }
    entries_in(client, &files)
}

/// [`bridge_entries`] over the given files (missing ones are skipped); a file named
/// `.claude.json` is also searched under `projects.*`.
fn entries_in(client: Client, files: &[PathBuf]) -> Result<Vec<ConfiguredEntry>, String> {
    let mut found = Vec::new();
    for file in files {
        let doc = Document::load(file, client.syntax()).map_err(|e| e.to_string())?;
        if !doc.existed() {
            continue;
        }
        let mut maps: Vec<_> = doc
            .servers(client.servers_key())
            .map_err(|e| e.to_string())?
            .into_iter()
            .collect();
        if file.file_name() == Some(".claude.json".as_ref()) {
            maps.extend(doc.project_servers().map_err(|e| e.to_string())?);
        }
        for (name, command) in maps.iter().flat_map(|m| m.commands()) {
            if launches_bridge(&command) {
                found.push(ConfiguredEntry {
                    client,
                    file: file.clone(),
                    name,
                    command,
                });
            }
        }
    }
    Ok(found)
}

/// Whether a command's file name (after the last `/` or `\`) starts with our binary's name.
fn launches_bridge(command: &str) -> bool {
    command
        .rsplit(['/', '\\'])
        .next()
        .is_some_and(|name| name.starts_with(ENTRY_NAME))
}

/// Runs `install`: prints the entry (`--print`) or writes it into the client's configuration.
/// `config` is the global `--config` flag; without it `ATLASSIAN_MCP_BRIDGE_CONFIG` is used.
/// Either makes the entry pass `--config <abs path>`, and `ATLASSIAN_MCP_BRIDGE_HOME` goes into
/// its `env`, because a desktop app started outside this shell would not see them.
pub fn run_with(
    client: Client,
    print: bool,
    force: bool,
    config: Option<&Path>,
) -> Result<ExitCode, CliError> {
    let launch = Launch::resolve(config)?;
    if print {
        let added = launch.additions();
        if !added.is_empty() {
            eprintln!("{}", added.trim_end_matches("; "));
        }
        return print_stdout(&printed(client, &launch)?);
    }
    if client == Client::ClaudeCode
        && let Some(claude) = claude_code::find_claude()
    {
        return claude_code::install_with_cli(&claude, &launch, force);
    }
    let (path, note) = match client {
        Client::ClaudeCode => {
            let dir = std::env::current_dir().map_err(|e| {
                CliError::Runtime(anyhow!("cannot read the current directory: {e}"))
            })?;
            let note = format!(
                "`claude` is not on PATH, so this is the project-scope file, used only when \
                 Claude Code starts in {} (it asks once to approve it); ",
                dir.display()
            );
            (dir.join(".mcp.json"), note)
        }
        _ => {
            let path = config_path(client).ok_or_else(|| {
                CliError::Runtime(anyhow!(
                    "cannot find your home directory to locate {}'s config; set HOME \
                     (USERPROFILE and APPDATA on Windows)",
                    client.label()
                ))
            })?;
            (path, String::new())
        }
    };
    let outcome = write_entry(client, &path, &launch, force)?;
    let linux_note = if client == Client::ClaudeDesktop && paths::is_linux() {
        " (Claude Desktop has no official Linux build; this is the file unofficial builds read)"
    } else {
        ""
    };
    match outcome {
        Written::Already => eprintln!(
            "{ENTRY_NAME} is already installed in {} (runs {}); nothing changed",
            path.display(),
            launch.describe()
        ),
        Written::Changed { kept, verb } => {
            let kept = match kept {
                Kept::Nothing => String::new(),
                Kept::First(first) => format!(" (previous file kept as {})", first.display()),
                Kept::Previous { previous, first } => format!(
                    " (previous file kept as {}; the file from before the first install stays \
                     in {})",
                    previous.display(),
                    first.display()
                ),
            };
            eprintln!(
                "{verb} {}{kept}{linux_note}; {}{note}restart {}, then run `{ENTRY_NAME} doctor`",
                path.display(),
                launch.additions(),
                client.label()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Writes `text` and a newline to stdout in one go. A reader that went away (`| head`, a closed
/// pipe) is not a failure: there is nobody left to tell, so this exits 0 instead of panicking
/// the way `println!` does.
fn print_stdout(text: &str) -> Result<ExitCode, CliError> {
    let mut out = std::io::stdout().lock();
    let line = format!("{text}\n");
    match out.write_all(line.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(ExitCode::SUCCESS),
        Err(e) => Err(CliError::Runtime(anyhow!("cannot write to stdout: {e}"))),
    }
}

/// What [`write_entry`] did.
enum Written {
    /// The entry was already there, as wanted: nothing was written.
    Already,
    /// The file was written; `kept` says where the previous one went.
    Changed { kept: Kept, verb: &'static str },
}

/// Adds or (with `force`) updates our entry in `path`, refusing an entry that runs another
/// binary (or this one differently), any file that does not parse, and duplicated keys on our
/// path. Nothing is written before every check has passed.
fn write_entry(
    client: Client,
    path: &Path,
    launch: &Launch,
    force: bool,
) -> Result<Written, CliError> {
    let runtime = |e: error::DocError| {
        if e.is_content() {
            CliError::Runtime(anyhow!(
                "{e}; fix it (or move it aside) and rerun; nothing was changed"
            ))
        } else {
            CliError::Runtime(anyhow!("{e}"))
        }
    };
    let doc = Document::load(path, client.syntax()).map_err(runtime)?;
    let wanted = Wanted {
        name: ENTRY_NAME,
        command: &launch.command,
        args: &launch.args,
        env: &launch.env,
        typed: client.typed(),
    };
    let verb = match doc
        .existing(client.servers_key(), &wanted)
        .map_err(runtime)?
    {
        Existing::Same => return Ok(Written::Already),
        Existing::Different { command, args, env } if !force => {
            return Err(CliError::Runtime(anyhow!(
                "{} already has an `{ENTRY_NAME}` entry that runs {}; this install would run \
                 {}; rerun with --force to point it at this binary",
                path.display(),
                describe(command.as_deref(), &args, &env),
                launch.describe()
            )));
        }
        Existing::Different { .. } => "pointed the `atlassian-mcp-bridge` entry at this binary in",
        Existing::Absent => "added `atlassian-mcp-bridge` to",
    };
    let kept = doc
        .put(client.servers_key(), &wanted)
        .and_then(|edited| edited.save())
        .map_err(runtime)?;
    Ok(Written::Changed { kept, verb })
}

/// The JSON document `--print` shows: the shape `client` reads, holding only our entry.
fn printed(client: Client, launch: &Launch) -> Result<String, CliError> {
    #[derive(Serialize)]
    struct Entry<'a> {
        #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
        kind: Option<&'a str>,
        command: &'a str,
        args: &'a [String],
        #[serde(skip_serializing_if = "BTreeMap::is_empty")]
        env: BTreeMap<&'a str, &'a str>,
    }
    let entry = Entry {
        kind: client.typed().then_some("stdio"),
        command: &launch.command,
        args: &launch.args,
        env: launch
            .env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect(),
    };
    let doc = BTreeMap::from([(client.servers_key(), BTreeMap::from([(ENTRY_NAME, entry)]))]);
    serde_json::to_string_pretty(&doc)
        .map_err(|e| CliError::Runtime(anyhow!("cannot render the entry: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bridge_commands_are_recognised_by_file_name() {
        assert!(launches_bridge("/usr/local/bin/atlassian-mcp-bridge"));
        assert!(launches_bridge(
            r"C:\Users\me\AppData\Local\Programs\atlassian-mcp-bridge\atlassian-mcp-bridge.exe"
        ));
        assert!(launches_bridge("atlassian-mcp-bridge"));
        assert!(!launches_bridge("/opt/atlassian-mcp-bridge/bin/other"));
        assert!(!launches_bridge("npx"));
    }

    #[test]
    fn entries_are_found_at_top_level_and_per_project() {
        let dir = tempfile::tempdir().unwrap();
        let user = dir.path().join(".claude.json");
        std::fs::write(
            &user,
            r#"{"numStartups": 3,
              "mcpServers": {"jira": {"command": "/bin/atlassian-mcp-bridge", "args": ["serve"]},
                             "gh": {"command": "npx", "args": ["-y", "gh"]}},
              "projects": {"/src/a": {"mcpServers": {"old": {"command": "C:\\b\\atlassian-mcp-bridge.exe"}}},
                           "/src/b": {"allowedTools": []}}}"#,
        )
        .unwrap();
        let project = dir.path().join(".mcp.json");
        std::fs::write(
            &project,
            r#"{"mcpServers": {"x": {"type": "stdio", "command": "atlassian-mcp-bridge-dev"}}}"#,
        )
        .unwrap();
        let missing = dir.path().join("missing.json");
        let found = entries_in(
            Client::ClaudeCode,
            &[user.clone(), project.clone(), missing],
        )
        .unwrap();
        let got: Vec<(PathBuf, String, String)> = found
            .into_iter()
            .map(|e| (e.file, e.name, e.command))
            .collect();
        assert_eq!(
            got,
            vec![
                (
                    user.clone(),
                    "jira".into(),
                    "/bin/atlassian-mcp-bridge".into()
                ),
                (user, "old".into(), r"C:\b\atlassian-mcp-bridge.exe".into()),
                (project, "x".into(), "atlassian-mcp-bridge-dev".into()),
            ]
        );
    }

    #[test]
    fn unreadable_files_are_errors_that_name_the_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("mcp.json");
        std::fs::write(&file, "{\n  \"servers\": {\n    \"a\" {}\n  }\n}\n").unwrap();
        let err = entries_in(Client::Vscode, std::slice::from_ref(&file)).unwrap_err();
        assert!(err.contains(&file.display().to_string()), "{err}");
        assert!(err.contains("line 3"), "{err}");
        std::fs::write(&file, "{\"servers\": []}").unwrap();
        let err = entries_in(Client::Vscode, &[file]).unwrap_err();
        assert!(err.contains("`servers` is not a JSON object"), "{err}");
    }

    #[test]
    fn printed_shapes_follow_each_client() {
        let plain = Launch::new("/x/b".into(), None, Vec::new());
        let vscode: serde_json::Value =
            serde_json::from_str(&printed(Client::Vscode, &plain).unwrap()).unwrap();
        assert_eq!(
            vscode,
            serde_json::json!({"servers": {"atlassian-mcp-bridge":
                {"type": "stdio", "command": "/x/b", "args": ["serve"]}}})
        );
        let desktop: serde_json::Value =
            serde_json::from_str(&printed(Client::ClaudeDesktop, &plain).unwrap()).unwrap();
        assert_eq!(
            desktop,
            serde_json::json!({"mcpServers": {"atlassian-mcp-bridge":
                {"command": "/x/b", "args": ["serve"]}}})
        );
        let full = Launch::new(
            "/x/b".into(),
            Some("/c.toml".into()),
            vec![("ATLASSIAN_MCP_BRIDGE_HOME".into(), "/h".into())],
        );
        let cursor: serde_json::Value =
            serde_json::from_str(&printed(Client::Cursor, &full).unwrap()).unwrap();
        assert_eq!(
            cursor,
            serde_json::json!({"mcpServers": {"atlassian-mcp-bridge":
                {"command": "/x/b", "args": ["--config", "/c.toml", "serve"],
                 "env": {"ATLASSIAN_MCP_BRIDGE_HOME": "/h"}}}})
        );
    }
}
