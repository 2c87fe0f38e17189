//! Saving an edited config file: the previous file kept under names only `install` writes
//! (`<name>.atlassian-mcp-bridge.bak` for the file as it was before install first changed it,
//! never replaced; `<name>.atlassian-mcp-bridge.prev.bak` for the one before the latest change),
//! the new one written through a temp file and a rename, symlinks and permissions respected.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::error::DocError;

/// Appended to the config file's name for the first backup, which is never replaced.
const FIRST_SUFFIX: &str = ".atlassian-mcp-bridge.bak";
/// Appended to the config file's name for the backup of the file before the latest change.
const PREVIOUS_SUFFIX: &str = ".atlassian-mcp-bridge.prev.bak";

/// A document with our entry in it, ready to be saved.
pub(super) struct Edited {
    /// The file as named (possibly a symlink).
    pub(super) path: PathBuf,
    /// The previous bytes, for the backup; `None` when there was no file.
    pub(super) original: Option<Vec<u8>>,
    /// The new text.
    pub(super) text: String,
}

/// Where [`Edited::save`] kept the file it replaced.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Kept {
    /// There was no file before: nothing to keep.
    Nothing,
    /// The first time: the previous file is `first`, which later saves never replace.
    First(PathBuf),
    /// A later time: the previous file is `previous`; `first` still holds the file as it was
    /// before install first changed it.
    Previous { previous: PathBuf, first: PathBuf },
}

impl Edited {
    /// Keeps the previous file (see [`Kept`]), then writes the new text through a temp file in
    /// the same directory and a rename, so a crash leaves the old or the new file, never half
    /// of one. A symlinked config is written at its target (the link stays); backups sit beside
    /// the target and take its permissions. A plain `<name>.bak` is never touched: it may be
    /// the user's own.
    pub(super) fn save(self) -> Result<Kept, DocError> {
        let target = match std::fs::symlink_metadata(&self.path) {
            Ok(m) if m.file_type().is_symlink() => {
                std::fs::canonicalize(&self.path).map_err(|source| DocError::Write {
                    path: self.path.clone(),
                    source,
                })?
            }
            _ => self.path.clone(),
        };
        let permissions = std::fs::metadata(&target).ok().map(|m| m.permissions());
        let kept = match &self.original {
            Some(bytes) => keep(&target, bytes, permissions.as_ref())?,
            None => Kept::Nothing,
        };
        atomic_write(&target, self.text.as_bytes(), permissions, Replace::Yes)?;
        Ok(kept)
    }
}

/// `<target's name><suffix>` beside `target`.
fn beside(target: &Path, suffix: &str) -> PathBuf {
    let mut name = target.file_name().unwrap_or_default().to_os_string();
    name.push(suffix);
    target.with_file_name(name)
}

/// Writes `bytes` as the first backup when there is none yet (never replacing one), else as
/// the previous-change backup.
fn keep(
    target: &Path,
    bytes: &[u8],
    permissions: Option<&std::fs::Permissions>,
) -> Result<Kept, DocError> {
    let first = beside(target, FIRST_SUFFIX);
    if std::fs::symlink_metadata(&first).is_err() {
        match atomic_write(&first, bytes, permissions.cloned(), Replace::No) {
            Ok(()) => return Ok(Kept::First(first)),
            // Made by another install in the meantime: that one is the first; keep it.
            Err(DocError::Write { source, .. })
                if source.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
    }
    let previous = beside(target, PREVIOUS_SUFFIX);
    atomic_write(&previous, bytes, permissions.cloned(), Replace::Yes)?;
    Ok(Kept::Previous { previous, first })
}

/// Whether [`atomic_write`] may replace an existing file.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Replace {
    Yes,
    /// Fail with `AlreadyExists` instead (checked atomically by the rename).
    No,
}

/// Writes `bytes` to `path` via a temp file in its directory (created as needed), fsync, and
/// rename; `permissions` (the previous file's) are applied before the rename, else the temp
/// file's owner-only mode stays.
fn atomic_write(
    path: &Path,
    bytes: &[u8],
    permissions: Option<std::fs::Permissions>,
    replace: Replace,
) -> Result<(), DocError> {
    let failed = |source: std::io::Error| DocError::Write {
        path: path.to_path_buf(),
        source,
    };
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir).map_err(failed)?;
    let mut temp = tempfile::Builder::new()
        .prefix(".atlassian-mcp-bridge-")
        .suffix(".tmp")
        .tempfile_in(&dir)
        .map_err(failed)?;
    temp.write_all(bytes).map_err(failed)?;
    if let Some(permissions) = permissions {
        temp.as_file()
            .set_permissions(permissions)
            .map_err(failed)?;
    }
    temp.as_file().sync_all().map_err(failed)?;
    match replace {
        Replace::Yes => temp.persist(path).map_err(|e| failed(e.error))?,
        Replace::No => temp.persist_noclobber(path).map_err(|e| failed(e.error))?,
    };
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn save(path: &Path, original: Option<&str>, text: &str) -> Kept {
        Edited {
            path: path.to_path_buf(),
            original: original.map(|o| o.as_bytes().to_vec()),
            text: text.to_string(),
        }
        .save()
        .unwrap()
    }

    #[test]
    fn the_first_backup_is_never_replaced_and_a_plain_bak_is_never_touched() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mcp.json");
        let users = dir.path().join("mcp.json.bak");
        std::fs::write(&users, "the user's own").unwrap();
        let first = dir.path().join("mcp.json.atlassian-mcp-bridge.bak");
        let previous = dir.path().join("mcp.json.atlassian-mcp-bridge.prev.bak");

        assert_eq!(save(&path, None, "v1"), Kept::Nothing);
        assert!(!first.exists());
        assert_eq!(save(&path, Some("v1"), "v2"), Kept::First(first.clone()));
        assert_eq!(
            save(&path, Some("v2"), "v3"),
            Kept::Previous {
                previous: previous.clone(),
                first: first.clone()
            }
        );
        assert_eq!(
            save(&path, Some("v3"), "v4"),
            Kept::Previous {
                previous: previous.clone(),
                first: first.clone()
            }
        );
        let read = |p: &Path| std::fs::read_to_string(p).unwrap();
        assert_eq!(
            (read(&path), read(&first), read(&previous), read(&users)),
            (
                "v4".into(),
                "v1".into(),
                "v3".into(),
                "the user's own".into()
            )
        );
    }
}
