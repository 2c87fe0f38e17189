//! Saving an edited config file: the previous file kept as `<name>.bak`, the new one written
//! through a temp file and a rename, symlinks and permissions respected.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::document::DocError;

/// A document with our entry in it, ready to be saved.
pub(super) struct Edited {
    /// The file as named (possibly a symlink).
    pub(super) path: PathBuf,
    /// The previous bytes, for the backup; `None` when there was no file.
    pub(super) original: Option<Vec<u8>>,
    /// The new text.
    pub(super) text: String,
}

impl Edited {
    /// Keeps the previous file as `<name>.bak`, then writes the new text through a temp file
    /// in the same directory and a rename, so a crash leaves the old or the new file, never half
    /// of one. A symlinked config is written at its target (the link stays). Returns the
    /// backup's path when there was a previous file.
    pub(super) fn save(self) -> Result<Option<PathBuf>, DocError> {
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
        let backup = match &self.original {
            Some(bytes) => {
                let mut name = target.file_name().unwrap_or_default().to_os_string();
                name.push(".bak");
                let backup = target.with_file_name(name);
                atomic_write(&backup, bytes, permissions.clone())?;
                Some(backup)
            }
            None => None,
        };
        atomic_write(&target, self.text.as_bytes(), permissions)?;
        Ok(backup)
    }
}

/// Writes `bytes` to `path` via a temp file in its directory (created as needed), fsync, and
/// rename; `permissions` (the previous file's) are applied before the rename, else the temp
/// file's owner-only mode stays.
fn atomic_write(
    path: &Path,
    bytes: &[u8],
    permissions: Option<std::fs::Permissions>,
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
    temp.persist(path).map_err(|e| failed(e.error))?;
    Ok(())
}
