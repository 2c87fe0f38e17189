//! Where each client keeps its MCP configuration on this OS, resolved from the environment
//! (`HOME`/`USERPROFILE`, `APPDATA`, `XDG_CONFIG_HOME`) so tests can point it at a temp dir.

use std::path::{Path, PathBuf};

/// The OS family whose conventions the paths follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Os {
    Mac,
    Windows,
    /// Linux and the other Unixes (XDG conventions).
    Other,
}

fn os() -> Os {
    if cfg!(target_os = "macos") {
        Os::Mac
    } else if cfg!(windows) {
        Os::Windows
    } else {
        Os::Other
    }
}

/// Whether paths follow Linux/XDG conventions (Claude Desktop has no official build there).
pub(super) fn is_linux() -> bool {
    os() == Os::Other
}

/// An environment variable holding an absolute path; empty or relative values are ignored, as
/// the XDG spec asks.
fn env_dir(name: &str) -> Option<PathBuf> {
    let value = PathBuf::from(std::env::var_os(name)?);
    value.is_absolute().then_some(value)
}

/// The user's home: `USERPROFILE` first on Windows (what the clients use there), else `HOME`,
/// else the platform's answer.
fn home() -> Option<PathBuf> {
    let from_env = if os() == Os::Windows {
        env_dir("USERPROFILE").or_else(|| env_dir("HOME"))
    } else {
        env_dir("HOME")
    };
    from_env.or_else(|| directories::BaseDirs::new().map(|d| d.home_dir().to_path_buf()))
}

/// Where Electron apps (Claude Desktop, VS Code) keep their per-user folders: macOS
/// `~/Library/Application Support`, Windows `%APPDATA%`, else `$XDG_CONFIG_HOME` or `~/.config`.
fn app_data() -> Option<PathBuf> {
    match os() {
        Os::Mac => Some(home()?.join("Library").join("Application Support")),
        Os::Windows => env_dir("APPDATA")
            .or_else(|| directories::BaseDirs::new().map(|d| d.config_dir().to_path_buf())),
        Os::Other => env_dir("XDG_CONFIG_HOME").or_else(|| Some(home()?.join(".config"))),
    }
}

/// Claude Desktop's `claude_desktop_config.json`.
pub(super) fn claude_desktop() -> Option<PathBuf> {
    Some(
        app_data()?
            .join("Claude")
            .join("claude_desktop_config.json"),
    )
}

/// VS Code's user-profile `mcp.json` (default profile; "MCP: Open User Configuration").
pub(super) fn vscode_user() -> Option<PathBuf> {
    Some(app_data()?.join("Code").join("User").join("mcp.json"))
}

/// Cursor's global `~/.cursor/mcp.json`.
pub(super) fn cursor() -> Option<PathBuf> {
    Some(home()?.join(".cursor").join("mcp.json"))
}

/// Claude Code's user-scope `~/.claude.json`, or `$CLAUDE_CONFIG_DIR/.claude.json`.
pub(super) fn claude_code_user() -> Option<PathBuf> {
    let dir = env_dir("CLAUDE_CONFIG_DIR").or_else(home)?;
    Some(dir.join(".claude.json"))
}

/// A program named `name` on `PATH` (with `PATHEXT` extensions on Windows), if any.
pub(super) fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    let extensions: Vec<String> = if os() == Os::Windows {
        std::env::var("PATHEXT")
            .unwrap_or_else(|_| ".COM;.EXE;.BAT;.CMD".to_string())
            .split(';')
            .filter(|e| !e.is_empty())
            .map(str::to_string)
            .collect()
    } else {
        vec![String::new()]
    };
    std::env::split_paths(&path)
        .filter(|dir| dir.is_absolute())
        .flat_map(|dir| {
            extensions
                .iter()
                .map(move |ext| dir.join(format!("{name}{ext}")))
        })
        .find(|candidate| is_executable(candidate))
}

#[cfg(unix)]
fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_executable(path: &Path) -> bool {
    path.is_file()
}

/// `C:\x` for Windows' verbatim `\\?\C:\x` (what `canonicalize` returns there, and what some
/// clients cannot launch); `\\server\share` for `\\?\UNC\server\share`; other paths unchanged.
pub(super) fn without_verbatim_prefix(path: &str) -> std::borrow::Cow<'_, str> {
    if let Some(rest) = path.strip_prefix(r"\\?\UNC\") {
        return format!(r"\\{rest}").into();
    }
    match path.strip_prefix(r"\\?\") {
        Some(rest) if rest.as_bytes().get(1) == Some(&b':') => rest.into(),
        _ => path.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verbatim_prefixes_are_dropped_only_where_a_plain_path_exists() {
        assert_eq!(
            without_verbatim_prefix(r"\\?\C:\bin\a.exe"),
            r"C:\bin\a.exe"
        );
        assert_eq!(
            without_verbatim_prefix(r"\\?\UNC\srv\share\a.exe"),
            r"\\srv\share\a.exe"
        );
        assert_eq!(
            without_verbatim_prefix(r"\\?\Volume{x}\a.exe"),
            r"\\?\Volume{x}\a.exe"
        );
        assert_eq!(without_verbatim_prefix("/usr/bin/a"), "/usr/bin/a");
    }
}
