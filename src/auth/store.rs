//! The credential store: `<home>/credentials.json`, mode 0600 from creation, written atomically,
//! guarded by an exclusive lock file so several bridge processes can share it. An unreadable
//! file or entry is never dropped in silence: reading it is an error, saving the other entry
//! keeps it as it was, and replacing it keeps a 0600 copy at `credentials.json.corrupt`.

use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use time::OffsetDateTime;

use crate::secret::Secret;

/// Store format version.
const VERSION: u32 = 1;

/// What replaces an unreadable site sign-in.
const SITE_LOGIN: &str = "atlassian-mcp-bridge login";
/// What replaces an unreadable upstream sign-in.
const UPSTREAM_LOGIN: &str = "atlassian-mcp-bridge login --upstream";

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
    /// The file, or the entry asked for, is not one this version understands.
    #[error("credential store {path} is unreadable ({reason}); run `{fix}` to replace it")]
    Corrupt {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
        /// The command whose sign-in replaces it (a copy of the old file is kept).
        fix: &'static str,
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
/// refresh and revocation know where to go. Deliberately not `Serialize`: its client secret is
/// written only by the store, into the 0600 file.
#[derive(Debug, Clone, PartialEq)]
pub struct Registration {
    /// The client id the authorization server issued.
    pub client_id: String,
    /// A client secret, when the server issued one (Atlassian does, even for `none`).
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
    pub revocation_endpoint: Option<String>,
    /// Registration endpoint, to register again when the server forgets the client.
    pub registration_endpoint: Option<String>,
    /// True when the server advertises `authorization_response_iss_parameter_supported`.
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

fn needs_refresh(
    obtained_at: OffsetDateTime,
    expires_at: OffsetDateTime,
    now: OffsetDateTime,
) -> bool {
    let lifetime = expires_at - obtained_at;
    let margin: time::Duration = (lifetime / 5_i32).min(time::Duration::seconds(60));
    now + margin >= expires_at
}

/// One entry of the file as read: absent, understood, or present but unreadable, in which
/// case its JSON is kept as it was so that saving the other entry writes it back unchanged.
#[derive(Default)]
enum Part<T, R> {
    #[default]
    Absent,
    Read(T),
    Unreadable {
        raw: R,
        reason: String,
    },
}

impl<T, R> Part<T, R> {
    fn out(&self) -> Option<Written<'_, T, R>> {
        match self {
            Part::Absent => None,
            Part::Read(t) => Some(Written::Read(t)),
            Part::Unreadable { raw, .. } => Some(Written::Raw(raw)),
        }
    }
}

/// The whole file: the site's sign-in (its fields flat at the top level, as they always
/// were) and the upstream entry under `upstream`.
#[derive(Default)]
struct OnDisk {
    site: Part<Stored, Map<String, Value>>,
    upstream: Part<StoredUpstream, Value>,
}

impl OnDisk {
    /// Reads the file's text. Whole-file problems (not JSON, not an object, another version)
    /// are errors; a broken entry is kept as [`Part::Unreadable`] without touching the other.
    fn parse(text: &str) -> Result<OnDisk, String> {
        let mut top: Map<String, Value> = serde_json::from_str(text).map_err(|e| e.to_string())?;
        let version = match top.remove("version") {
            None => 0,
            Some(v) => serde_json::from_value(v).map_err(|e| format!("version: {e}"))?,
        };
        if version != VERSION {
            return Err(format!("format version {version}"));
        }
        let upstream = match top.remove("upstream") {
            None | Some(Value::Null) => Part::Absent,
            Some(raw) => match serde_path_to_error::deserialize::<_, StoredUpstream>(&raw) {
                Ok(u) => Part::Read(u),
                Err(e) => Part::Unreadable {
                    reason: format!("upstream.{}: {}", e.path(), e.inner()),
                    raw,
                },
            },
        };
        let site = if top.is_empty() {
            Part::Absent
        } else {
            match serde_path_to_error::deserialize::<_, Stored>(&Value::Object(top.clone())) {
                Ok(s) => Part::Read(s),
                Err(e) => Part::Unreadable {
                    raw: top,
                    reason: format!("the site sign-in's {}: {}", e.path(), e.inner()),
                },
            }
        };
        Ok(OnDisk { site, upstream })
    }
}

/// What [`OnDisk`] is written as.
#[derive(Serialize)]
struct OnDiskOut<'a> {
    version: u32,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    site: Option<Written<'a, Stored, Map<String, Value>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    upstream: Option<Written<'a, StoredUpstream, Value>>,
}

/// An entry as written: understood, or the unreadable JSON as it was read.
#[derive(Serialize)]
#[serde(untagged)]
enum Written<'a, T, R> {
    Read(&'a T),
    Raw(&'a R),
}

#[derive(Serialize, Deserialize)]
struct StoredUpstream {
    url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    registration: Option<StoredRegistration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tokens: Option<StoredTokens>,
}

/// On-disk form of a [`Registration`]; the client secret is a plain string only here.
#[derive(Serialize, Deserialize)]
struct StoredRegistration {
    client_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    client_secret: Option<String>,
    auth_method: String,
    redirect_uri: String,
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    revocation_endpoint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    registration_endpoint: Option<String>,
    #[serde(default)]
    iss_in_response: bool,
}

impl From<&Registration> for StoredRegistration {
    fn from(r: &Registration) -> Self {
        StoredRegistration {
            client_id: r.client_id.clone(),
            client_secret: r.client_secret.as_ref().map(|s| s.expose().to_string()),
            auth_method: r.auth_method.clone(),
            redirect_uri: r.redirect_uri.clone(),
            issuer: r.issuer.clone(),
            authorization_endpoint: r.authorization_endpoint.clone(),
            token_endpoint: r.token_endpoint.clone(),
            revocation_endpoint: r.revocation_endpoint.clone(),
            registration_endpoint: r.registration_endpoint.clone(),
            iss_in_response: r.iss_in_response,
        }
    }
}

impl From<StoredRegistration> for Registration {
    fn from(r: StoredRegistration) -> Self {
        Registration {
            client_id: r.client_id,
            client_secret: r.client_secret.map(Secret::new),
            auth_method: r.auth_method,
            redirect_uri: r.redirect_uri,
            issuer: r.issuer,
            authorization_endpoint: r.authorization_endpoint,
            token_endpoint: r.token_endpoint,
            revocation_endpoint: r.revocation_endpoint,
            registration_endpoint: r.registration_endpoint,
            iss_in_response: r.iss_in_response,
        }
    }
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

    /// Where an unreadable file is copied before a save replaces it.
    pub fn corrupt_copy_path(&self) -> PathBuf {
        let mut name = self.path.file_name().unwrap_or_default().to_os_string();
        name.push(".corrupt");
        self.path.with_file_name(name)
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

    fn corrupt(&self, reason: String, fix: &'static str) -> StoreError {
        StoreError::Corrupt {
            path: self.path.display().to_string(),
            reason,
            fix,
        }
    }

    /// Reads the whole file; an absent file is an empty one. `fix` is what the error for an
    /// unreadable file tells the user to run.
    fn read_file(&self, fix: &'static str) -> Result<OnDisk, StoreError> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(OnDisk::default()),
            Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
                return Err(self.corrupt("not UTF-8 text".into(), fix));
            }
            Err(e) => return Err(self.io(&self.path, e)),
        };
        OnDisk::parse(&text).map_err(|reason| self.corrupt(reason, fix))
    }

    /// Reads the file to change one entry: an unreadable file counts as empty, after a copy of
    /// it is kept aside (a sign-in must be able to replace what `load` reported as corrupt).
    fn read_for_update(&self) -> Result<OnDisk, StoreError> {
        match self.read_file(SITE_LOGIN) {
            Err(StoreError::Corrupt { .. }) => {
                self.keep_aside()?;
                Ok(OnDisk::default())
            }
            other => other,
        }
    }

    /// Copies the current file to [`Self::corrupt_copy_path`] (0600, atomically).
    fn keep_aside(&self) -> Result<(), StoreError> {
        let bytes = match std::fs::read(&self.path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(self.io(&self.path, e)),
        };
        self.write_private(&self.corrupt_copy_path(), &bytes)
    }

    /// Reads the stored credentials; `None` when nobody has signed in.
    pub fn load(&self) -> Result<Option<Credentials>, StoreError> {
        let s = match self.read_file(SITE_LOGIN)?.site {
            Part::Absent => return Ok(None),
            Part::Unreadable { reason, .. } => return Err(self.corrupt(reason, SITE_LOGIN)),
            Part::Read(s) => s,
        };
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

    /// Reads the upstream entry (SPEC §11); `None` when there is none. An unreadable site
    /// sign-in beside it does not stop it.
    pub fn load_upstream(&self) -> Result<Option<UpstreamEntry>, StoreError> {
        let u = match self.read_file(UPSTREAM_LOGIN)?.upstream {
            Part::Absent => return Ok(None),
            Part::Unreadable { reason, .. } => return Err(self.corrupt(reason, UPSTREAM_LOGIN)),
            Part::Read(u) => u,
        };
        Ok(Some(UpstreamEntry {
            url: u.url,
            registration: u.registration.map(Registration::from),
            tokens: u.tokens.map(|t| UpstreamTokens {
                access_token: Secret::new(t.access_token),
                refresh_token: t.refresh_token.map(Secret::new),
                expires_at: t.expires_at,
                obtained_at: t.obtained_at,
                scopes: t.scopes,
            }),
        }))
    }

    /// Writes the site's credentials, keeping the upstream entry (even an unreadable one, as
    /// it was). An unreadable file or site entry is replaced, a copy kept aside. Callers hold
    /// the lock.
    pub fn save(&self, c: &Credentials) -> Result<(), StoreError> {
        let mut file = self.read_for_update()?;
        if matches!(file.site, Part::Unreadable { .. }) {
            self.keep_aside()?;
        }
        file.site = Part::Read(Stored {
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
        self.write_file(&file)
    }

    /// Writes the upstream entry, keeping the site's credentials (even unreadable ones, as
    /// they were). An unreadable file or upstream entry is replaced, a copy kept aside.
    /// Callers hold the lock.
    pub fn save_upstream(&self, u: &UpstreamEntry) -> Result<(), StoreError> {
        let mut file = self.read_for_update()?;
        if matches!(file.upstream, Part::Unreadable { .. }) {
            self.keep_aside()?;
        }
        file.upstream = Part::Read(StoredUpstream {
            url: u.url.clone(),
            registration: u.registration.as_ref().map(StoredRegistration::from),
            tokens: u.tokens.as_ref().map(|t| StoredTokens {
                access_token: t.access_token.expose().to_string(),
                refresh_token: t.refresh_token.as_ref().map(|r| r.expose().to_string()),
                expires_at: t.expires_at,
                obtained_at: t.obtained_at,
                scopes: t.scopes.clone(),
            }),
        });
        self.write_file(&file)
    }

    /// Writes the file; an empty one is removed instead.
    fn write_file(&self, file: &OnDisk) -> Result<(), StoreError> {
        let out = OnDiskOut {
            version: VERSION,
            site: file.site.out(),
            upstream: file.upstream.out(),
        };
        if out.site.is_none() && out.upstream.is_none() {
            return self.remove_file().map(|_| ());
        }
        let mut bytes = serde_json::to_vec_pretty(&out)
            .map_err(|e| self.io(&self.path, std::io::Error::other(e.to_string())))?;
        bytes.push(b'\n');
        self.write_private(&self.path, &bytes)
    }

    /// Writes `target` atomically: a 0600 temp file in the same directory, fsync, rename,
    /// fsync of the directory. The file is never readable by others, not even for an instant.
    fn write_private(&self, target: &Path, bytes: &[u8]) -> Result<(), StoreError> {
        let dir = target.parent().unwrap_or(Path::new("."));
        create_private_dir(dir).map_err(|e| self.io(dir, e))?;
        let tmp = dir.join(format!(
            ".credentials.{}.{}.tmp",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        ));
        let result = (|| {
            let mut f = private_file(&tmp)?;
            f.write_all(bytes)?;
            f.sync_all()?;
            std::fs::rename(&tmp, target)?;
            sync_dir(dir)
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result.map_err(|e| self.io(target, e))
    }

    /// Deletes the site's credentials, readable or not (the upstream entry stays); true when
    /// there were any.
    pub fn delete(&self) -> Result<bool, StoreError> {
        let mut file = match self.read_file(SITE_LOGIN) {
            Ok(f) => f,
            // An unreadable file is removed whole: `logout` must always be able to clean up.
            Err(StoreError::Corrupt { .. }) => return self.remove_file(),
            Err(e) => return Err(e),
        };
        let had = !matches!(std::mem::take(&mut file.site), Part::Absent);
        if had {
            self.write_file(&file)?;
        }
        Ok(had)
    }

    /// Deletes the upstream entry, readable or not (the site's sign-in stays); true when there
    /// was one.
    pub fn delete_upstream(&self) -> Result<bool, StoreError> {
        let mut file = self.read_file(UPSTREAM_LOGIN)?;
        let had = !matches!(std::mem::take(&mut file.upstream), Part::Absent);
        if had {
            self.write_file(&file)?;
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

    /// Takes the lock (waiting at most `wait`) and reads with it held, both off the async
    /// runtime's threads: the start of every read-modify-write of the file (refresh, logout).
    pub async fn lock_and_read<T: Send + 'static>(
        &self,
        wait: std::time::Duration,
        read: impl FnOnce(&CredentialStore) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<(StoreLock, T), StoreError> {
        let store = self.clone();
        tokio::task::spawn_blocking(move || {
            let lock = store.lock_within(wait)?;
            let value = read(&store)?;
            Ok((lock, value))
        })
        .await
        .map_err(|e| self.io(&self.path, std::io::Error::other(e.to_string())))?
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
#[path = "store_tests.rs"]
mod tests;
