//! Keeps the audit log private: an existing log file or log directory that other users can
//! read or write (group/other mode bits) is tightened to `0600`/`0700` when this user owns it,
//! and reported (once per process, on stderr) when it cannot be.
//!
//! New files and directories are created private by the appender; this covers the ones that
//! already existed — made by hand, restored from a backup, or created under a loose umask by
//! an older version. Unix only: elsewhere [`secure`] reports nothing.
//!
//! The directory is tightened only when it holds nothing but this log's own files (the live
//! file, its rotated files and its lock file), so that pointing `audit.path` into a shared
//! directory (`~`, `/var/log`) never changes that directory's mode; such a directory is only
//! reported, and only when other users can write to it (they could delete or replace the log).

use std::path::{Path, PathBuf};

/// Something that was made private.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tightened {
    /// The file or directory.
    pub path: PathBuf,
    /// Its permission bits before (`0o644`).
    pub from: u32,
    /// Its permission bits now (`0o600`).
    pub to: u32,
}

/// Something that is still open to other users, and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loose {
    /// The file or directory.
    pub path: PathBuf,
    /// Its permission bits (`0o644`).
    pub mode: u32,
    /// Why it was left as it is, for people.
    pub why: String,
    /// The shell command (or step) that fixes it.
    pub fix: String,
}

/// What [`secure`] found and did; empty when everything was already private.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PermsReport {
    /// Made private by this process.
    pub tightened: Vec<Tightened>,
    /// Still open to other users.
    pub loose: Vec<Loose>,
}

impl PermsReport {
    /// One line for people: what was tightened and what is still loose.
    pub fn summary(&self) -> String {
        let tightened = self
            .tightened
            .iter()
            .map(|t| format!("{} {:04o} → {:04o}", t.path.display(), t.from, t.to));
        let loose = self
            .loose
            .iter()
            .map(|l| format!("{} is {:04o}: {}", l.path.display(), l.mode, l.why));
        tightened.chain(loose).collect::<Vec<_>>().join("; ")
    }

    /// The fixes for everything still loose, joined for one line.
    pub fn fixes(&self) -> String {
        self.loose
            .iter()
            .map(|l| l.fix.as_str())
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// Writes one warning per path on stderr (through `tracing`), at most once per process for
    /// each path, so that a bridge opening the log several times does not repeat itself.
    pub fn warn_once(&self) {
        use std::collections::HashSet;
        use std::sync::{Mutex, OnceLock};
        static SEEN: OnceLock<Mutex<HashSet<(PathBuf, bool)>>> = OnceLock::new();
        let seen = SEEN.get_or_init(|| Mutex::new(HashSet::new()));
        let first = |path: &Path, loose: bool| {
            seen.lock()
                .map(|mut s| s.insert((path.to_path_buf(), loose)))
                .unwrap_or(true)
        };
        for t in &self.tightened {
            if first(&t.path, false) {
                tracing::warn!(
                    path = %t.path.display(),
                    "audit log: {} was open to other users (mode {:04o}); tightened to {:04o}",
                    t.path.display(),
                    t.from,
                    t.to
                );
            }
        }
        for l in &self.loose {
            if first(&l.path, true) {
                tracing::warn!(
                    path = %l.path.display(),
                    "audit log: {} is open to other users (mode {:04o}) and was left as it is: {}; fix: {}",
                    l.path.display(),
                    l.mode,
                    l.why,
                    l.fix
                );
            }
        }
    }
}

/// Tightens (or reports) the log directory, the live file, the rotated files and the lock file
/// of the log at `path`. Never fails: a problem becomes an entry in [`PermsReport::loose`].
///
/// [`PermsReport::tightened`] lists what this process tightened for this log, including on an
/// earlier call (a second open finds the files private already, and `doctor` must still be
/// able to say what it changed).
pub fn secure(path: &Path) -> PermsReport {
    #[cfg(unix)]
    {
        use std::sync::Mutex;
        static DONE: Mutex<Vec<(PathBuf, Tightened)>> = Mutex::new(Vec::new());
        let mut report = unix::secure(path);
        if let Ok(mut done) = DONE.lock() {
            done.extend(report.tightened.drain(..).map(|t| (path.to_path_buf(), t)));
            report.tightened = done
                .iter()
                .filter(|(log, _)| log == path)
                .map(|(_, t)| t.clone())
                .collect();
        }
        report
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        PermsReport::default()
    }
}

#[cfg(unix)]
mod unix {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    use std::path::{Path, PathBuf};
    use std::sync::OnceLock;

    use super::{Loose, PermsReport, Tightened};
    use crate::audit::log::{highest_rotated, lock_path, rotated_path};

    /// Group and other permission bits.
    const OTHERS: u32 = 0o077;
    /// Group and other write bits.
    const OTHERS_WRITE: u32 = 0o022;

    /// This process's effective user id, read from a file it creates (an unnamed temporary
    /// file), since the standard library has no `geteuid`. `None` when no temporary file can
    /// be made; then ownership is judged by whether `chmod` is permitted.
    fn my_uid() -> Option<u32> {
        static UID: OnceLock<Option<u32>> = OnceLock::new();
        *UID.get_or_init(|| {
            tempfile::tempfile()
                .and_then(|f| f.metadata())
                .ok()
                .map(|m| m.uid())
        })
    }

    /// Single-quotes a path for the suggested shell command.
    fn quoted(path: &Path) -> String {
        format!("'{}'", path.display().to_string().replace('\'', r"'\''"))
    }

    /// True when every entry of `dir` is one of the log's own files.
    fn dedicated(dir: &Path, log: &Path) -> bool {
        let Some(name) = log.file_name().map(|n| n.to_string_lossy().into_owned()) else {
            return false;
        };
        let Ok(mut entries) = std::fs::read_dir(dir) else {
            return false;
        };
        entries.all(|entry| {
            let Ok(entry) = entry else { return false };
            let entry = entry.file_name().to_string_lossy().into_owned();
            let Some(rest) = entry.strip_prefix(name.as_str()) else {
                return false;
            };
            rest.is_empty()
                || rest == ".lock"
                || rest
                    .strip_prefix('.')
                    .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        })
    }

    /// Removes the group/other bits of one file or directory when this user owns it.
    fn tighten(path: &Path, meta: &std::fs::Metadata, report: &mut PermsReport, wanted: u32) {
        let mode = meta.permissions().mode() & 0o7777;
        let fix = format!("chmod {wanted:o} {}", quoted(path));
        if let Some(me) = my_uid()
            && meta.uid() != me
        {
            report.loose.push(Loose {
                path: path.to_path_buf(),
                mode: mode & 0o777,
                why: format!(
                    "owned by uid {}, not by this user (uid {me}), so the bridge does not change it",
                    meta.uid()
                ),
                fix: format!("as its owner: {fix}"),
            });
            return;
        }
        let new = mode & !OTHERS;
        match std::fs::set_permissions(path, std::fs::Permissions::from_mode(new)) {
            Ok(()) => report.tightened.push(Tightened {
                path: path.to_path_buf(),
                from: mode & 0o777,
                to: new & 0o777,
            }),
            Err(e) => report.loose.push(Loose {
                path: path.to_path_buf(),
                mode: mode & 0o777,
                why: format!("cannot change its mode: {e}"),
                fix,
            }),
        }
    }

    pub(super) fn secure(path: &Path) -> PermsReport {
        let mut report = PermsReport::default();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
            && let Ok(meta) = std::fs::metadata(dir)
            && meta.is_dir()
            && meta.permissions().mode() & OTHERS != 0
        {
            if dedicated(dir, path) {
                tighten(dir, &meta, &mut report, 0o700);
            } else if meta.permissions().mode() & OTHERS_WRITE != 0 {
                report.loose.push(Loose {
                    path: dir.to_path_buf(),
                    mode: meta.permissions().mode() & 0o777,
                    why: "other users can write to it, so they could delete or replace the log; it holds other files, so the bridge does not change it".to_string(),
                    fix: format!(
                        "chmod go-w {}, or point `audit.path` at a directory of its own (the default is <home>/audit/audit.jsonl)",
                        quoted(dir)
                    ),
                });
            }
        }
        let files: Vec<PathBuf> = std::iter::once(path.to_path_buf())
            .chain((1..=highest_rotated(path)).map(|n| rotated_path(path, n)))
            .chain(std::iter::once(lock_path(path)))
            .collect();
        for file in files {
            if let Ok(meta) = std::fs::metadata(&file)
                && meta.is_file()
                && meta.permissions().mode() & OTHERS != 0
            {
                tighten(&file, &meta, &mut report, 0o600);
            }
        }
        report
    }
}

#[cfg(all(test, unix))]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    fn chmod(path: &Path, mode: u32) {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn loose_dedicated_directory_and_files_are_tightened() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("audit");
        std::fs::create_dir(&dir).unwrap();
        let path = dir.join("audit.jsonl");
        for f in [
            path.clone(),
            dir.join("audit.jsonl.1"),
            dir.join("audit.jsonl.lock"),
        ] {
            std::fs::write(&f, "").unwrap();
            chmod(&f, 0o644);
        }
        chmod(&dir, 0o755);
        let report = secure(&path);
        assert!(report.loose.is_empty(), "{report:?}");
        assert_eq!(report.tightened.len(), 4, "{report:?}");
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(&dir.join("audit.jsonl.1")), 0o600);
        assert!(
            report.summary().contains("0644 → 0600"),
            "{}",
            report.summary()
        );
        // Already private: nothing new, and what this process did is still reported.
        assert_eq!(secure(&path), report);
        assert_eq!(unix::secure(&path), PermsReport::default());
    }

    #[test]
    fn a_shared_directory_is_reported_not_changed() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("notes.txt"), "mine").unwrap();
        let path = dir.path().join("audit.jsonl");
        std::fs::write(&path, "").unwrap();
        chmod(&path, 0o600);
        // Readable by others only: names are visible, the 0600 files are not; left alone.
        chmod(dir.path(), 0o755);
        assert_eq!(secure(&path), PermsReport::default());
        assert_eq!(mode(dir.path()), 0o755);
        // Writable by others: reported with a fix, still not changed.
        chmod(dir.path(), 0o777);
        let report = secure(&path);
        assert_eq!(mode(dir.path()), 0o777);
        assert!(report.tightened.is_empty());
        assert_eq!(report.loose.len(), 1, "{report:?}");
        assert!(report.fixes().contains("chmod go-w"), "{}", report.fixes());
        chmod(dir.path(), 0o700);
    }

    /// Needs to hand a file to another user, which only root can do; elsewhere the test says
    /// so on stderr and checks the parts it can.
    #[test]
    fn a_file_owned_by_someone_else_is_reported_not_changed() {
        let dir = tempfile::tempdir().unwrap();
        chmod(dir.path(), 0o700);
        let path = dir.path().join("audit.jsonl");
        std::fs::write(&path, "").unwrap();
        chmod(&path, 0o640);
        if std::os::unix::fs::chown(&path, Some(65534), None).is_err() {
            eprintln!("not root: cannot give the file to another user; skipping that part");
            return;
        }
        let report = secure(&path);
        assert_eq!(mode(&path), 0o640);
        assert!(report.tightened.is_empty(), "{report:?}");
        assert_eq!(report.loose.len(), 1, "{report:?}");
        assert!(report.loose[0].why.contains("uid 65534"), "{report:?}");
        assert!(report.fixes().contains("chmod 600"), "{}", report.fixes());
    }
}
