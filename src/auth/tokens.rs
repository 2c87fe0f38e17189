//! Access tokens on demand: refresh before expiry (and once after a 401), single-flight within
//! the process (an async mutex) and across processes (the store's exclusive file lock).
//!
//! Atlassian rotates refresh tokens and revokes the whole family when a rotated-away token is
//! used after its grace period, so two processes must never refresh with the same token. The
//! protocol: take the lock, re-read the store, refresh only if the stored token still needs
//! it, write the rotated refresh token to disk *before* using the new access token, unlock.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use oauth2::RefreshToken;
use time::OffsetDateTime;

use super::store::{CredentialStore, Credentials};
use super::{
    AuthError, Issued, TokenErrorKind, Traced, describe_token_error, expiry, token_client,
};
use crate::audit::{Actor, AuditLog, Entry, Outcome};
use crate::config::OAuthSettings;
use crate::secret::Secret;
use crate::upstream::CallTrace;

/// How long a refresh waits for another process's lock before giving up.
const LOCK_WAIT: Duration = Duration::from_secs(30);

/// Hands out valid access tokens for the signed-in account.
#[derive(Debug)]
pub struct TokenManager {
    settings: OAuthSettings,
    store: CredentialStore,
    http: super::LazyHttp,
    current: RwLock<Option<Credentials>>,
    gate: tokio::sync::Mutex<()>,
    audit: Option<AuditLog>,
    /// A refresh token the server declared dead, and why: later calls fail at once instead of
    /// asking again, until a new sign-in replaces it.
    dead: std::sync::Mutex<Option<(Secret, String)>>,
}

impl TokenManager {
    /// A manager over a store; `audit` receives a `token_refresh` record per refresh attempt.
    pub fn new(
        settings: OAuthSettings,
        store: CredentialStore,
        audit: Option<AuditLog>,
    ) -> Result<Arc<Self>, AuthError> {
        // An unreadable store is reported by the first call that needs a token, not at start-up.
        let current = store.load().unwrap_or_else(|e| {
            tracing::warn!("{e}");
            None
        });
        Ok(Arc::new(Self {
            settings,
            store,
            http: super::LazyHttp::default(),
            current: RwLock::new(current),
            gate: tokio::sync::Mutex::new(()),
            audit,
            dead: std::sync::Mutex::new(None),
        }))
    }

    /// The credentials last seen (from disk or a refresh), if any.
    pub fn credentials(&self) -> Option<Credentials> {
        self.current.read().ok().and_then(|c| c.clone())
    }

    /// The signed-in site's cloud id, reading the store when this process has no sign-in yet
    /// (someone may have run `login` while the server was running). Called per request, so it
    /// copies only the id.
    pub fn cloud_id(&self) -> Option<String> {
        if let Some(id) = self
            .current
            .read()
            .ok()
            .and_then(|c| c.as_ref().map(|c| c.cloud_id.clone()))
        {
            return Some(id);
        }
        let loaded = self.store.load().ok().flatten();
        let id = loaded.as_ref().map(|c| c.cloud_id.clone());
        if loaded.is_some() {
            self.set(loaded);
        }
        id
    }

    /// A valid access token. `rejected` is a token the server just refused with 401: a fresh
    /// one is fetched unless another task or process has already replaced it.
    pub async fn bearer(self: &Arc<Self>, rejected: Option<&Secret>) -> Result<Secret, AuthError> {
        let usable = |c: &Credentials| {
            !c.needs_refresh(OffsetDateTime::now_utc()) && Some(&c.access_token) != rejected
        };
        if let Some(c) = self.credentials()
            && usable(&c)
        {
            return Ok(c.access_token);
        }
        let _inside = self.gate.lock().await;
        // Another task may have refreshed while we waited.
        if let Some(c) = self.credentials()
            && usable(&c)
        {
            return Ok(c.access_token);
        }
        // The locked part runs in its own task: if this tool call is cancelled, the refresh
        // still finishes, so a token the server has already rotated is never lost.
        let this = Arc::clone(self);
        let rejected = rejected.cloned();
        tokio::spawn(async move { this.locked_refresh(rejected).await })
            .await
            .map_err(|e| AuthError::Store(format!("token refresh task failed: {e}")))?
    }

    /// Under the cross-process lock: re-read the store and refresh only if still needed.
    async fn locked_refresh(&self, rejected: Option<Secret>) -> Result<Secret, AuthError> {
        let (lock, on_disk) = self
            .store
            .lock_and_read(LOCK_WAIT, CredentialStore::load)
            .await?;
        let Some(on_disk) = on_disk else {
            self.set(None);
            return Err(AuthError::NotSignedIn);
        };
        if on_disk.client_id != self.settings.client_id {
            return Err(AuthError::SignInExpired(format!(
                "the stored sign-in belongs to OAuth client {}, but oauth.client_id is {}",
                on_disk.client_id, self.settings.client_id
            )));
        }
        // Another process may have refreshed while we waited for the lock.
        if !on_disk.needs_refresh(OffsetDateTime::now_utc())
            && Some(&on_disk.access_token) != rejected.as_ref()
        {
            let token = on_disk.access_token.clone();
            self.set(Some(on_disk));
            return Ok(token);
        }
        let refreshed = self.refresh(&on_disk).await;
        drop(lock);
        refreshed
    }

    fn set(&self, creds: Option<Credentials>) {
        if let Ok(mut cur) = self.current.write() {
            *cur = creds;
        }
    }

    /// Refreshes with the stored refresh token; called with the store lock held.
    async fn refresh(&self, old: &Credentials) -> Result<Secret, AuthError> {
        let Some(refresh) = &old.refresh_token else {
            return Err(AuthError::SignInExpired(
                "no refresh token was granted (is `offline_access` in oauth.scopes?)".to_string(),
            ));
        };
        if let Ok(dead) = self.dead.lock()
            && let Some((token, why)) = dead.as_ref()
            && token == refresh
        {
            return Err(AuthError::SignInExpired(why.clone()));
        }
        let trace = CallTrace::new();
        let started = Instant::now();
        let client = token_client(&self.settings);
        let token = RefreshToken::new(refresh.expose().to_string());
        let http = Traced {
            client: self.http.get().map_err(AuthError::Refresh)?,
            trace: &trace,
        };
        let result = client
            .exchange_refresh_token(&token)
            .request_async(&http)
            .await;
        let outcome = match result {
            Ok(response) => {
                let issued = Issued::from(response);
                let now = OffsetDateTime::now_utc();
                let creds = Credentials {
                    access_token: issued.access_token.clone(),
                    // Rotation: a server that returns no new refresh token keeps the old one valid.
                    refresh_token: issued.refresh_token.or_else(|| old.refresh_token.clone()),
                    obtained_at: now,
                    expires_at: expiry(now, issued.expires_in),
                    scopes: issued.scopes.unwrap_or_else(|| old.scopes.clone()),
                    ..old.clone()
                };
                // Persist the rotated refresh token before the new access token is used.
                let store = self.store.clone();
                let to_save = creds.clone();
                let saved = tokio::task::spawn_blocking(move || store.save(&to_save))
                    .await
                    .map_err(|e| e.to_string())
                    .and_then(|r| r.map_err(|e| e.to_string()));
                // Keep the new tokens in memory either way: the old refresh token is spent.
                self.set(Some(creds));
                match saved {
                    Ok(()) => Ok(issued.access_token),
                    Err(e) => Err(AuthError::Store(format!(
                        "the refreshed sign-in could not be saved ({e}); free disk space or fix the permissions of the data directory — this process keeps working, but other processes will need `atlassian-mcp-bridge login`"
                    ))),
                }
            }
            Err(e) => {
                let (kind, message) = describe_token_error(&e);
                match kind {
                    TokenErrorKind::DeadGrant => {
                        if let Ok(mut d) = self.dead.lock() {
                            *d = Some((refresh.clone(), message.clone()));
                        }
                        Err(AuthError::SignInExpired(message))
                    }
                    TokenErrorKind::Client => Err(AuthError::Client(message)),
                    TokenErrorKind::Transient => Err(AuthError::Refresh(message)),
                }
            }
        };
        self.record(old, &trace, started, &outcome).await;
        outcome
    }

    async fn record(
        &self,
        creds: &Credentials,
        trace: &CallTrace,
        started: Instant,
        outcome: &Result<Secret, AuthError>,
    ) {
        let Some(audit) = &self.audit else {
            return;
        };
        let entry = Entry {
            actor: Some(Actor {
                account_id: creds.account.account_id.clone(),
                site: Some(creds.site_url.clone()),
                auth: Some("oauth".to_string()),
            }),
            outcome: if outcome.is_ok() {
                Outcome::Ok
            } else {
                Outcome::Error
            },
            error: outcome.as_ref().err().map(ToString::to_string),
            duration_ms: started.elapsed().as_secs_f64() * 1000.0,
            upstream: trace.upstream(),
            ..Entry::event("token_refresh")
        };
        if let Err(e) = audit.append(entry).await {
            tracing::error!(error = %e, "token_refresh audit record could not be written");
        }
    }
}
