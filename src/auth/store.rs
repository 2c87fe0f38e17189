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
        needs_refresh(self.obtained_at, self.expires_at, now)
    }
}

/// How the bridge is registered with an upstream MCP server's authorization server (RFC 7591),
/// and where that server's endpoints are: kept so a sign-in needs no new registration, and so
/// refresh and revocation know where to go.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Registration {
    /// The client id the authorization server issued.
    pub client_id: String,
    /// A client secret, when the server issued one (Atlassian does, even for `none`).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "stored_secret"
    )]
    pub client_secret: Option<Secret>,
    /// How the client authenticates at the token endpoint: `none`, `client_secret_post` or
    /// `client_secret_basic` (what the registration answered).
    pub auth_method: String,
    /// The exact redirect URI registered (`http://127.0.0.1:<port>/callback`).
    pub redirect_uri: String,
    /// The authorization server's issuer (checked against RFC 9207 `iss`).
    pub issuer: String,
    /// Authorization endpoint.
    pub authorization_endpoint: String,
    /// Token endpoint.
    pub token_endpoint: String,
    /// Revocation endpoint (RFC 7009), when advertised.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revocation_endpoint: Option<String>,
    /// Registration endpoint, to register again when the server forgets the client.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registration_endpoint: Option<String>,
    /// True when the server advertises `authorization_response_iss_parameter_supported`.
    #[serde(default)]
    pub iss_in_response: bool,
}

/// Tokens for the upstream MCP server.
#[derive(Debug, Clone)]
pub struct UpstreamTokens {
    /// Access token (audience: the upstream MCP server only).
    pub access_token: Secret,
    /// Refresh token, when granted.
    pub refresh_token: Option<Secret>,
    /// When the access token expires.
    pub expires_at: OffsetDateTime,
    /// When the access token was issued.
    pub obtained_at: OffsetDateTime,
    /// Granted scopes.
    pub scopes: Vec<String>,
}

impl UpstreamTokens {
    /// True when the access token should be refreshed now (same margin as the site's).
    pub fn needs_refresh(&self, now: OffsetDateTime) -> bool {
        needs_refresh(self.obtained_at, self.expires_at, now)
    }
}

/// The upstream sign-in (SPEC §11): its own entry in `credentials.json`, beside the site's.
#[derive(Debug, Clone)]
pub struct UpstreamEntry {
    /// The upstream MCP server URL the registration and tokens belong to (the RFC 8707
    /// `resource`).
    pub url: String,
    /// The client registration, once made.
    pub registration: Option<Registration>,
    /// The tokens, once signed in.
    pub tokens: Option<UpstreamTokens>,
}

/// Writes a secret into the 0600 file (the only place it is serialized).
fn stored_secret<S: serde::Serializer>(v: &Option<Secret>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(secret) => s.serialize_some(secret.expose()),
        None => s.serialize_none(),
    }
}

fn needs_refresh(
    obtained_at: OffsetDateTime,
    expires_at: OffsetDateTime,
    now: OffsetDateTime,
) -> bool {
    let lifetime = expires_at - obtained_at;
    let margin: time::Duration = (lifetime / 5_i32).min(time::Duration::seconds(60));
    now + margin >= expires_at
}

/// On-disk form of the whole file: the site's sign-in (flattened at the top level, as it
/// always was) and the upstream entry.
#[derive(Serialize, Deserialize, Default)]
struct OnDisk {
    #[serde(default)]
    version: u32,
    #[serde(flatten, default, skip_serializing_if = "Option::is_none")]
    site: Option<Stored>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    upstream: Option<StoredUpstream>,
}

#[derive(Serialize, Deserialize)]
struct StoredUpstream {
    url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    registration: Option<Registration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tokens: Option<StoredTokens>,
}

#[derive(Serialize, Deserialize)]
struct StoredTokens {
    access_token: String,
    refresh_token: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    expires_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    obtained_at: OffsetDateTime,
    #[serde(default)]
    scopes: Vec<String>,
}

/// On-disk form of the site's sign-in; secrets are plain strings only here, inside a 0600 file.
#[derive(Serialize, Deserialize)]
struct Stored {
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

    /// Reads the whole file; an absent file is an empty one.
    fn read_file(&self) -> Result<OnDisk, StoreError> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(OnDisk::default()),
            Err(e) => return Err(self.io(&self.path, e)),
        };
        let corrupt = |reason: String| StoreError::Corrupt {
            path: self.path.display().to_string(),
            reason,
        };
        let file: OnDisk = serde_json::from_str(&text).map_err(|e| corrupt(e.to_string()))?;
        if file.version != VERSION {
            return Err(corrupt(format!("format version {}", file.version)));
        }
        Ok(file)
    }

    /// Reads the stored credentials; `None` when nobody has signed in.
    pub fn load(&self) -> Result<Option<Credentials>, StoreError> {
        Ok(self.read_file()?.site.map(|s| Credentials {
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

    /// Reads the upstream entry (SPEC §11); `None` when there is none.
    pub fn load_upstream(&self) -> Result<Option<UpstreamEntry>, StoreError> {
        Ok(self.read_file()?.upstream.map(|u| UpstreamEntry {
            url: u.url,
            registration: u.registration,
            tokens: u.tokens.map(|t| UpstreamTokens {
                access_token: Secret::new(t.access_token),
                refresh_token: t.refresh_token.map(Secret::new),
                expires_at: t.expires_at,
                obtained_at: t.obtained_at,
                scopes: t.scopes,
            }),
        }))
    }

    /// Writes the site's credentials, keeping the upstream entry. Callers hold the lock.
    pub fn save(&self, c: &Credentials) -> Result<(), StoreError> {
        let mut file = self.read_file()?;
        file.site = Some(Stored {
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
        });
        self.write_file(file)
    }

    /// Writes the upstream entry, keeping the site's credentials. Callers hold the lock.
    pub fn save_upstream(&self, u: &UpstreamEntry) -> Result<(), StoreError> {
        let mut file = self.read_file()?;
        file.upstream = Some(StoredUpstream {
            url: u.url.clone(),
            registration: u.registration.clone(),
            tokens: u.tokens.as_ref().map(|t| StoredTokens {
                access_token: t.access_token.expose().to_string(),
                refresh_token: t.refresh_token.as_ref().map(|r| r.expose().to_string()),
                expires_at: t.expires_at,
                obtained_at: t.obtained_at,
                scopes: t.scopes.clone(),
            }),
        });
        self.write_file(file)
    }

    /// Writes the file atomically: a 0600 temp file in the same directory, fsync, rename,
    /// fsync of the directory. The file is never readable by others, not even for an instant.
    /// An empty file is removed instead.
    fn write_file(&self, mut file: OnDisk) -> Result<(), StoreError> {
        if file.site.is_none() && file.upstream.is_none() {
            return self.remove_file().map(|_| ());
        }
        file.version = VERSION;
        let dir = self.path.parent().unwrap_or(Path::new("."));
        create_private_dir(dir).map_err(|e| self.io(dir, e))?;
        let mut bytes = serde_json::to_vec_pretty(&file)
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

    /// Deletes the site's credentials (the upstream entry stays); true when there were any.
    pub fn delete(&self) -> Result<bool, StoreError> {
        let mut file = match self.read_file() {
            Ok(f) => f,
            // An unreadable file is removed whole: `logout` must always be able to clean up.
            Err(StoreError::Corrupt { .. }) => return self.remove_file(),
            Err(e) => return Err(e),
        };
        let had = file.site.take().is_some();
        if had {
            self.write_file(file)?;
        }
        Ok(had)
    }

    /// Deletes the upstream entry (the site's sign-in stays); true when there was one.
    pub fn delete_upstream(&self) -> Result<bool, StoreError> {
        let mut file = self.read_file()?;
        let had = file.upstream.take().is_some();
        if had {
            self.write_file(file)?;
        }
        Ok(had)
    }

    fn remove_file(&self) -> Result<bool, StoreError> {
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

    fn upstream_sample() -> UpstreamEntry {
        let now = OffsetDateTime::now_utc();
        UpstreamEntry {
            url: "https://mcp.example/v1/mcp".into(),
            registration: Some(Registration {
                client_id: "dcr-client".into(),
                client_secret: Some(Secret::new("dcr-secret-789")),
                auth_method: "none".into(),
                redirect_uri: "http://127.0.0.1:4567/callback".into(),
                issuer: "https://auth.example/t1".into(),
                authorization_endpoint: "https://auth.example/authorize".into(),
                token_endpoint: "https://auth.example/token".into(),
                revocation_endpoint: None,
                registration_endpoint: Some("https://auth.example/register".into()),
                iss_in_response: true,
            }),
            tokens: Some(UpstreamTokens {
                access_token: Secret::new("up-access"),
                refresh_token: Some(Secret::new("up-refresh")),
                expires_at: now + time::Duration::hours(1),
                obtained_at: now,
                scopes: vec!["read:jira-work".into()],
            }),
        }
    }

    #[test]
    fn site_and_upstream_entries_live_side_by_side() {
        let dir = tempfile::tempdir().unwrap();
        let store = CredentialStore::in_dir(dir.path());
        store.save_upstream(&upstream_sample()).unwrap();
        assert!(store.load().unwrap().is_none(), "no site sign-in yet");
        store.save(&sample()).unwrap();
        let up = store.load_upstream().unwrap().unwrap();
        assert_eq!(up.registration.as_ref().unwrap().client_id, "dcr-client");
        assert_eq!(
            up.registration.unwrap().client_secret.unwrap().expose(),
            "dcr-secret-789"
        );
        assert_eq!(
            up.tokens.unwrap().refresh_token.unwrap().expose(),
            "up-refresh"
        );
        // Logging out of the site keeps the upstream sign-in, and the other way round.
        assert!(store.delete().unwrap());
        assert!(store.load().unwrap().is_none());
        assert!(store.load_upstream().unwrap().is_some());
        store.save(&sample()).unwrap();
        assert!(store.delete_upstream().unwrap());
        assert!(store.load_upstream().unwrap().is_none());
        assert_eq!(store.load().unwrap().unwrap().client_id, "client");
        assert!(store.delete().unwrap());
        assert!(!store.path().exists(), "an empty store is removed");
    }

    #[test]
    fn a_file_written_before_upstream_entries_still_loads() {
        let dir = tempfile::tempdir().unwrap();
        let store = CredentialStore::in_dir(dir.path());
        std::fs::write(
            store.path(),
            r#"{"version":1,"client_id":"c","access_token":"a","refresh_token":null,
               "expires_at":"2026-12-01T10:00:00Z","obtained_at":"2026-12-01T09:00:00Z",
               "scopes":[],"cloud_id":"x","site_url":"https://a.atlassian.net",
               "site_name":null,"account":{"account_id":null,"name":null,"email":null}}"#,
        )
        .unwrap();
        assert_eq!(store.load().unwrap().unwrap().cloud_id, "x");
        assert!(store.load_upstream().unwrap().is_none());
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
