//! What an installed entry launches: this binary by the path it was started as (a Homebrew
//! `bin/` symlink stays a symlink, so upgrades keep working), `serve`, and the
//! `ATLASSIAN_MCP_BRIDGE_HOME` / explicit config file this shell uses, which an app started from
//! the Dock or Start menu would not otherwise see.

use std::path::{Path, PathBuf};

use anyhow::anyhow;

use super::super::CliError;
use super::paths;
use crate::config::{CONFIG_ENV, HOME_ENV};

/// The command, arguments and environment an entry runs this server with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Launch {
    /// This binary's absolute path.
    pub(super) command: String,
    /// `serve`, after `--config <file>` when a config file was named.
    pub(super) args: Vec<String>,
    /// `ATLASSIAN_MCP_BRIDGE_HOME` when it is set here.
    pub(super) env: Vec<(String, String)>,
    /// The explicit config file, absolute, when one was named.
    config: Option<String>,
}

impl Launch {
    /// This binary with `serve`; adds `--config <abs>` when `config` (the `--config` flag) or
    /// `ATLASSIAN_MCP_BRIDGE_CONFIG` names a file, and `ATLASSIAN_MCP_BRIDGE_HOME=<abs>` to the
    /// environment when that is set. A named config file must exist: `serve` refuses to start
    /// without it, so installing it would only move the failure to the desktop.
    pub(super) fn resolve(config: Option<&Path>) -> Result<Launch, CliError> {
        let command = this_binary()?;
        let config = config
            .filter(|c| !c.as_os_str().is_empty())
            .map(Path::to_path_buf)
            .or_else(|| env_path(CONFIG_ENV));
        let config = match config {
            None => None,
            Some(file) => {
                let abs = absolute(&file, "config file")?;
                if !Path::new(&abs).is_file() {
                    return Err(CliError::Usage(format!(
                        "the config file {abs} (from --config or {CONFIG_ENV}) does not exist; \
                         the installed server could not start without it; create it, or drop \
                         --config / {CONFIG_ENV}, and rerun"
                    )));
                }
                Some(abs)
            }
        };
        let env = match env_path(HOME_ENV) {
            Some(home) => vec![(HOME_ENV.to_string(), absolute(&home, HOME_ENV)?)],
            None => Vec::new(),
        };
        Ok(Launch::new(command, config, env))
    }

    /// The launch for `command` with an (absolute) config file and environment.
    pub(super) fn new(
        command: String,
        config: Option<String>,
        env: Vec<(String, String)>,
    ) -> Launch {
        let mut args = Vec::new();
        if let Some(file) = &config {
            args.extend(["--config".to_string(), file.clone()]);
        }
        args.push("serve".to_string());
        Launch {
            command,
            args,
            env,
            config,
        }
    }

    /// `command args… with VAR=value` for messages.
    pub(super) fn describe(&self) -> String {
        describe(Some(&self.command), &self.args, &self.env)
    }

    /// What the entry carries beyond `serve`, as a clause for messages (ends with `; `), or
    /// empty.
    pub(super) fn additions(&self) -> String {
        let mut parts = Vec::new();
        for (var, value) in &self.env {
            parts.push(format!("sets {var}={value}"));
        }
        if let Some(file) = &self.config {
            parts.push(format!("passes --config {file}"));
        }
        if parts.is_empty() {
            return String::new();
        }
        format!(
            "the entry {}, taken from this shell, since apps started from the desktop do not \
             see its variables; ",
            parts.join(" and ")
        )
    }
}

/// `command args… with VAR=value, …` for messages, or a note when there is no command.
pub(super) fn describe(command: Option<&str>, args: &[String], env: &[(String, String)]) -> String {
    let mut text = match command {
        Some(c) if args.is_empty() => c.to_string(),
        Some(c) => format!("{c} {}", args.join(" ")),
        None => "no command".to_string(),
    };
    if !env.is_empty() {
        let vars: Vec<String> = env.iter().map(|(k, v)| format!("{k}={v}")).collect();
        text.push_str(" with ");
        text.push_str(&vars.join(", "));
    }
    text
}

/// A variable holding a path, when set and not empty.
fn env_path(name: &str) -> Option<PathBuf> {
    std::env::var_os(name)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// `path` made absolute against the current directory (not resolving symlinks), as UTF-8
/// text without Windows' `\\?\` prefix; `what` names it in errors.
fn absolute(path: &Path, what: &str) -> Result<String, CliError> {
    let abs = std::path::absolute(path).map_err(|e| {
        CliError::Runtime(anyhow!(
            "cannot make the {what} path {} absolute: {e}",
            path.display()
        ))
    })?;
    let text = abs.to_str().ok_or_else(|| {
        CliError::Runtime(anyhow!(
            "the {what} path {} is not valid UTF-8, which a JSON config cannot hold; use a \
             plain path and rerun",
            abs.display()
        ))
    })?;
    Ok(paths::without_verbatim_prefix(text).into_owned())
}

/// This binary's absolute path as text (what clients launch): the path it was started as when
/// that is the same file ([`invoked_as`]), else `current_exe`. Never canonicalized: a symlink
/// such as Homebrew's `/opt/homebrew/bin/<name>` must stay one, or the entry would pin
/// `Cellar/<version>/` and break at the next upgrade.
fn this_binary() -> Result<String, CliError> {
    let exe = std::env::current_exe()
        .map_err(|e| CliError::Runtime(anyhow!("cannot find this binary's path: {e}")))?;
    let path = invoked_as(&exe).unwrap_or(exe);
    absolute(&path, "binary")
}

/// The path this process was started as (`argv[0]`, against the current directory when it
/// names one, else found on `PATH`), when it is the same file as `exe`. Linux's `current_exe`
/// always resolves symlinks, so this is where a symlinked path survives there; comparing the
/// resolved files keeps an `argv[0]` that names something else from being believed.
fn invoked_as(exe: &Path) -> Option<PathBuf> {
    let arg0 = PathBuf::from(std::env::args_os().next()?);
    let has_dir = arg0.parent().is_some_and(|p| !p.as_os_str().is_empty());
    let candidate = if has_dir {
        std::path::absolute(&arg0).ok()?
    } else {
        paths::find_on_path(arg0.to_str()?)?
    };
    let same = std::fs::canonicalize(&candidate).ok()? == std::fs::canonicalize(exe).ok()?;
    same.then_some(candidate)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_goes_before_serve_and_messages_say_what_was_added() {
        let launch = Launch::new(
            "/b/amb".into(),
            Some("/c/config.toml".into()),
            vec![(HOME_ENV.into(), "/h".into())],
        );
        assert_eq!(launch.args, ["--config", "/c/config.toml", "serve"]);
        assert_eq!(
            launch.describe(),
            "/b/amb --config /c/config.toml serve with ATLASSIAN_MCP_BRIDGE_HOME=/h"
        );
        let added = launch.additions();
        assert!(
            added.contains("sets ATLASSIAN_MCP_BRIDGE_HOME=/h and passes --config /c/config.toml"),
            "{added}"
        );
        let plain = Launch::new("/b/amb".into(), None, Vec::new());
        assert_eq!(plain.args, ["serve"]);
        assert_eq!(plain.additions(), "");
        assert_eq!(describe(None, &[], &[]), "no command");
    }

    #[test]
    fn relative_paths_are_made_absolute_without_resolving_links() {
        let cwd = std::env::current_dir().unwrap();
        let got = absolute(Path::new("some/dir"), "x").unwrap();
        assert_eq!(Path::new(&got), cwd.join("some").join("dir"));
        assert!(Path::new(&got).is_absolute());
    }
}
