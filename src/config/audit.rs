//! `[audit]`: where the audit log lives, how much of the arguments it keeps, rotation.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{ConfigError, DEFAULT_AUDIT_MAX_BYTES};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
/// `[audit]` as written.
pub(super) struct RawAudit {
    path: Option<PathBuf>,
    args: Option<String>,
    fsync: Option<bool>,
    max_bytes: Option<u64>,
}

/// How much of a tool call's arguments goes into the audit log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArgsMode {
    /// Arguments as given.
    Full,
    /// Long text fields cut and hashed.
    Redacted,
    /// Only `args_sha256`; `args` is null.
    Digest,
}

impl ArgsMode {
    /// The config spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ArgsMode::Full => "full",
            ArgsMode::Redacted => "redacted",
            ArgsMode::Digest => "digest",
        }
    }
}

/// The `[audit]` section, resolved.
#[derive(Debug, Clone)]
pub struct AuditSettings {
    /// The live audit file; rotated files are `<path>.1`, `<path>.2`, … (higher = older).
    pub path: PathBuf,
    /// Argument recording mode.
    pub args: ArgsMode,
    /// Flush each record to disk before the tool result is returned.
    pub fsync: bool,
    /// Rotate once the live file would grow past this many bytes.
    pub max_bytes: u64,
}

/// Validates `[audit]`, anchoring a relative path at the data directory.
pub(super) fn resolve_audit(
    raw: RawAudit,
    file: &str,
    data_dir: &Path,
) -> Result<AuditSettings, ConfigError> {
    let args = match raw.args.as_deref() {
        None | Some("redacted") => ArgsMode::Redacted,
        Some("full") => ArgsMode::Full,
        Some("digest") => ArgsMode::Digest,
        Some(other) => {
            return Err(ConfigError::key(
                file,
                "audit.args",
                format!("is `{other}`; expected \"full\", \"redacted\" or \"digest\""),
            ));
        }
    };
    let path = match raw.path {
        Some(p) if p.as_os_str().is_empty() => {
            return Err(ConfigError::key(file, "audit.path", "must not be empty"));
        }
        Some(p) => anchor_audit_path(&p, data_dir).ok_or_else(|| {
            ConfigError::key(
                file,
                "audit.path",
                "starts with `~`, but this user's home directory cannot be found; write the full path, or `<home>/…` for the data directory",
            )
        })?,
        None => data_dir.join("audit").join("audit.jsonl"),
    };
    let max_bytes = raw.max_bytes.unwrap_or(DEFAULT_AUDIT_MAX_BYTES);
    if max_bytes < 4096 {
        return Err(ConfigError::key(
            file,
            "audit.max_bytes",
            "must be at least 4096 bytes",
        ));
    }
    Ok(AuditSettings {
        path,
        args,
        fsync: raw.fsync.unwrap_or(true),
        max_bytes,
    })
}

/// Where a configured `audit.path` points, independent of the current directory: a leading
/// `<home>` is the data directory, a leading `~` the user's home directory, and any other
/// relative path is taken relative to the data directory. AI desktops start the bridge from
/// arbitrary working directories, so resolving against the current directory would scatter
/// the log (and `audit verify`, run from elsewhere, would read a different file). `None` when
/// the path starts with `~` and no home directory can be found.
fn anchor_audit_path(path: &Path, data_dir: &Path) -> Option<PathBuf> {
    use std::path::Component;
    let (base, rest) = if let Ok(rest) = path.strip_prefix("<home>") {
        (data_dir.to_path_buf(), rest)
    } else if let Ok(rest) = path.strip_prefix("~") {
        (directories::BaseDirs::new()?.home_dir().to_path_buf(), rest)
    } else if path.is_absolute() || path.has_root() {
        return Some(path.to_path_buf());
    } else {
        (data_dir.to_path_buf(), path)
    };
    // `./audit.jsonl` is `<data>/audit.jsonl`, not `<data>/./audit.jsonl`.
    let rest: PathBuf = rest
        .components()
        .filter(|c| !matches!(c, Component::CurDir))
        .collect();
    Some(base.join(rest))
}
