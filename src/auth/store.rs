//! The credential store: `<home>/credentials.json`, mode 0600 from creation, written atomically,
//! guarded by an exclusive lock file so several bridge processes can share it.

use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::secret::Secret;

/// Store format version.
const VERSION: u32 = 1;

/// Why the store could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// I/O on the named file.
    #[error("credential store {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not a credential store this version understands.
    #[error(
        "credential store {path} is unreadable ({reason}); run `atlassian-mcp-bridge login` to replace it"
    )]
    Corrupt {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
}

/// The signed-in account.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Account {
    /// Atlassian account id.
    pub account_id: Option<String>,
    /// Display name.
    pub name: Option<String>,
    /// Email, when the identity endpoint reveals it.
    pub email: Option<String>,
}

/// Everything a sign-in produced.
#[derive(Debug, Clone)]
pub struct Credentials {
    /// OAuth client the tokens belong to (a config change of client invalidates them).
    pub client_id: String,
    /// Access token.
    pub access_token: Secret,
    /// Refresh token (present when `offline_access` was granted).
    pub refresh_token: Option<Secret>,
    /// When the access token expires.
    pub expires_at: OffsetDateTime,
    /// When the access token was issued.
    pub obtained_at: OffsetDateTime,
    /// Granted scopes.
    pub scopes: Vec<String>,
    /// Cloud id of the chosen site.
    pub cloud_id: String,
    /// URL of the chosen site.
    pub site_url: String,
    /// Name of the chosen site.
    pub site_name: Option<String>,
    /// Who signed in.
    pub account: Account,
}

impl Credentials {
    /// True when the access token should be refreshed now: past expiry, or within a margin
    /// of a fifth of its lifetime (at most 60 s) before it.
    pub fn needs_refresh(&self, now: OffsetDateTime) -> bool {
        let lifetime = self.expires_at - self.obtained_at;
        let margin: time::Duration = (lifetime / 5_i32).min(time::Duration::seconds(60));
        now + margin >= self.expires_at
    }
}

/// On-disk form; secrets are plain strings only here, inside a 0600 file.
#[derive(Serialize, Deserialize)]
struct Stored {
    version: u32,
    client_id: String,
    access_token: String,
    refresh_token: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    expires_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    obtained_at: OffsetDateTime,
    scopes: Vec<String>,
    cloud_id: String,
    site_url: String,
    site_name: Option<String>,
    account: Account,
}

/// The credential file and its lock.
#[derive(Debug, Clone)]
pub struct CredentialStore {
    path: PathBuf,
}

impl CredentialStore {
    /// The store in a data directory: `<dir>/credentials.json`.
    pub fn in_dir(dir: &Path) -> Self {
        Self {
            path: dir.join("credentials.json"),
        }
    }

    /// The credential file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn lock_path(&self) -> PathBuf {
        self.path.with_extension("lock")
    }

    fn io(&self, path: &Path, source: std::io::Error) -> StoreError {
        StoreError::Io {
            path: path.display().to_string(),
            source,
        }
    }

    /// Reads the stored credentials; `None` when nobody has signed in.
    pub fn load(&self) -> Result<Option<Credentials>, StoreError> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(self.io(&self.path, e)),
        };
        let corrupt = |reason: String| StoreError::Corrupt {
            path: self.path.display().to_string(),
            reason,
        };
        let s: Stored = serde_json::from_str(&text).map_err(|e| corrupt(e.to_string()))?;
        if s.version != VERSION {
            return Err(corrupt(format!("format version {}", s.version)));
        }
        Ok(Some(Credentials {
            client_id: s.client_id,
            access_token: Secret::new(s.access_token),
            refresh_token: s.refresh_token.map(Secret::new),
            expires_at: s.expires_at,
            obtained_at: s.obtained_at,
            scopes: s.scopes,
            cloud_id: s.cloud_id,
            site_url: s.site_url,
            site_name: s.site_name,
            account: s.account,
        }))
    }

    /// Writes credentials atomically: a 0600 temp file in the same directory, fsync, rename,
    /// fsync of the directory. The file is never readable by others, not even for an instant.
    pub fn save(&self, c: &Credentials) -> Result<(), StoreError> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        create_private_dir(dir).map_err(|e| self.io(dir, e))?;
        let stored = Stored {
            version: VERSION,
            client_id: c.client_id.clone(),
            access_token: c.access_token.expose().to_string(),
            refresh_token: c.refresh_token.as_ref().map(|t| t.expose().to_string()),
            expires_at: c.expires_at,
            obtained_at: c.obtained_at,
            scopes: c.scopes.clone(),
            cloud_id: c.cloud_id.clone(),
            site_url: c.site_url.clone(),
            site_name: c.site_name.clone(),
            account: c.account.clone(),
        };
        let mut bytes = serde_json::to_vec_pretty(&stored)
            .map_err(|e| self.io(&self.path, std::io::Error::other(e.to_string())))?;
        bytes.push(b'\n');
        let tmp = dir.join(format!(
            ".credentials.{}.{}.tmp",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        ));
        let result = (|| {
            let mut f = private_file(&tmp)?;
            f.write_all(&bytes)?;
            f.sync_all()?;
            std::fs::rename(&tmp, &self.path)?;
            sync_dir(dir)
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result.map_err(|e| self.io(&self.path, e))
    }

    /// Deletes the stored credentials; true when there were any.
    pub fn delete(&self) -> Result<bool, StoreError> {
        match std::fs::remove_file(&self.path) {
            Ok(()) => {
                if let Some(dir) = self.path.parent() {
                    let _ = sync_dir(dir);
                }
                Ok(true)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(self.io(&self.path, e)),
        }
    }

    /// Takes the exclusive cross-process lock, waiting at most `wait` for another process to
    /// release it; released when the guard drops.
    pub fn lock_within(&self, wait: std::time::Duration) -> Result<StoreLock, StoreError> {
        let path = self.lock_path();
        if let Some(dir) = path.parent() {
            create_private_dir(dir).map_err(|e| self.io(dir, e))?;
        }
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| self.io(&path, e))?;
        let deadline = std::time::Instant::now() + wait;
        loop {
            #[allow(clippy::incompatible_msrv)]
            match file.try_lock() {
                Ok(()) => return Ok(StoreLock { file }),
                Err(std::fs::TryLockError::WouldBlock) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                Err(std::fs::TryLockError::WouldBlock) => {
                    return Err(self.io(
                        &path,
                        std::io::Error::other(format!(
                            "another atlassian-mcp-bridge process has held the credential lock for {} s; if one is stuck, stop it and try again",
                            wait.as_secs()
                        )),
                    ));
                }
                Err(std::fs::TryLockError::Error(e)) => return Err(self.io(&path, e)),
            }
        }
    }
}

/// Holds the store's exclusive lock.
#[derive(Debug)]
pub struct StoreLock {
    file: File,
}

impl Drop for StoreLock {
    fn drop(&mut self) {
        #[allow(clippy::incompatible_msrv)]
        let _ = self.file.unlock();
    }
}

#[cfg(unix)]
fn private_file(path: &Path) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

#[cfg(not(unix))]
fn private_file(path: &Path) -> std::io::Result<File> {
    OpenOptions::new().write(true).create_new(true).open(path)
}

#[cfg(unix)]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    if dir.as_os_str().is_empty() || dir.exists() {
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

#[cfg(not(unix))]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    if dir.as_os_str().is_empty() {
        return Ok(());
    }
    std::fs::create_dir_all(dir)
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Credentials {
        let now = OffsetDateTime::now_utc();
        Credentials {
            client_id: "client".into(),
            access_token: Secret::new("access-123"),
            refresh_token: Some(Secret::new("refresh-456")),
            expires_at: now + time::Duration::hours(1),
            obtained_at: now,
            scopes: vec!["read:jira-work".into()],
            cloud_id: "cid".into(),
            site_url: "https://acme.atlassian.net".into(),
            site_name: Some("acme".into()),
            account: Account {
                account_id: Some("acc".into()),
                name: Some("Ann".into()),
                email: None,
            },
        }
    }

    #[test]
    fn round_trip_and_mode_0600() {
        let dir = tempfile::tempdir().unwrap();
        let store = CredentialStore::in_dir(&dir.path().join("home"));
        assert!(store.load().unwrap().is_none());
        store.save(&sample()).unwrap();
        let back = store.load().unwrap().unwrap();
        assert_eq!(back.access_token.expose(), "access-123");
        assert_eq!(back.refresh_token.unwrap().expose(), "refresh-456");
        assert_eq!(back.account.name.as_deref(), Some("Ann"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(store.path())
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
            let dir_mode = std::fs::metadata(dir.path().join("home"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(dir_mode & 0o777, 0o700);
        }
        // No temp files left behind.
        let names: Vec<_> = std::fs::read_dir(dir.path().join("home"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert!(names.iter().all(|n| !n.ends_with(".tmp")), "{names:?}");
        assert!(store.delete().unwrap());
        assert!(!store.delete().unwrap());
    }

    #[test]
    fn debug_never_shows_tokens() {
        let shown = format!("{:?}", sample());
        assert!(
            !shown.contains("access-123") && !shown.contains("refresh-456"),
            "{shown}"
        );
    }

    #[test]
    fn refresh_margin_scales_with_lifetime() {
        let mut c = sample();
        let now = OffsetDateTime::now_utc();
        c.obtained_at = now;
        c.expires_at = now + time::Duration::hours(1);
        assert!(!c.needs_refresh(now));
        assert!(c.needs_refresh(now + time::Duration::minutes(59) + time::Duration::seconds(30)));
        c.expires_at = now + time::Duration::seconds(10);
        assert!(!c.needs_refresh(now + time::Duration::seconds(7)));
        assert!(c.needs_refresh(now + time::Duration::seconds(8)));
    }

    #[test]
    fn corrupt_file_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let store = CredentialStore::in_dir(dir.path());
        std::fs::write(store.path(), "{not json").unwrap();
        let err = store.load().unwrap_err().to_string();
        assert!(err.contains("login"), "{err}");
    }
}
