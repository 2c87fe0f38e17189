//! Access tokens for the upstream MCP server (SPEC §11), refreshed by the same protocol as the
//! site's ([`super::tokens`]): single-flight within the process, and across processes under the
//! credential store's one lock — re-read the store, refresh only if still needed, persist the
//! rotated refresh token before the new access token is used.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use time::OffsetDateTime;

use super::store::{CredentialStore, UpstreamEntry, UpstreamTokens};
use super::upstream_login::refresh_upstream;
use super::{AuthError, TokenErrorKind, expiry};
use crate::audit::{Actor, AuditLog, Entry, Outcome};
use crate::secret::Secret;
use crate::upstream::CallTrace;

/// How long a refresh waits for another process's lock before giving up.
const LOCK_WAIT: Duration = Duration::from_secs(30);

/// Hands out valid access tokens for the upstream MCP server at one URL.
#[derive(Debug)]
pub struct UpstreamTokenManager {
    url: String,
    store: CredentialStore,
    http: super::LazyHttp,
    current: RwLock<Option<UpstreamEntry>>,
    gate: tokio::sync::Mutex<()>,
    audit: Option<AuditLog>,
    /// A refresh token the server declared dead, and why.
    dead: std::sync::Mutex<Option<(Secret, String)>>,
}

impl UpstreamTokenManager {
    /// A manager for the upstream at `url` over the shared store; `audit` receives a
    /// `token_refresh` record per refresh attempt.
    pub fn new(
        url: &url::Url,
        store: CredentialStore,
        audit: Option<AuditLog>,
    ) -> Result<Arc<Self>, AuthError> {
        Ok(Arc::new(Self {
            url: url.as_str().to_string(),
            store,
            http: super::LazyHttp::default(),
            current: RwLock::new(None),
            gate: tokio::sync::Mutex::new(()),
            audit,
            dead: std::sync::Mutex::new(None),
        }))
    }

    /// The upstream URL these tokens are for.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The stored entry for this URL, if signed in (read from disk when not yet known).
    pub fn entry(&self) -> Option<UpstreamEntry> {
        if let Some(e) = self.current.read().ok().and_then(|c| c.clone()) {
            return Some(e);
        }
        let loaded = self
            .store
            .load_upstream()
            .ok()
            .flatten()
            .filter(|e| same_url(&e.url, &self.url));
        self.set(loaded.clone());
        loaded
    }

    fn set(&self, entry: Option<UpstreamEntry>) {
        if let Ok(mut cur) = self.current.write() {
            *cur = entry;
        }
    }

    fn usable(entry: &UpstreamEntry, rejected: Option<&Secret>) -> Option<Secret> {
        let t = entry.tokens.as_ref()?;
        (!t.needs_refresh(OffsetDateTime::now_utc()) && Some(&t.access_token) != rejected)
            .then(|| t.access_token.clone())
    }

    /// A valid access token. `rejected` is a token the upstream just refused with 401: a fresh
    /// one is fetched unless another task or process has already replaced it.
    pub async fn bearer(self: &Arc<Self>, rejected: Option<&Secret>) -> Result<Secret, AuthError> {
        if let Some(token) = self.entry().and_then(|e| Self::usable(&e, rejected)) {
            return Ok(token);
        }
        let _inside = self.gate.lock().await;
        if let Some(token) = self
            .current
            .read()
            .ok()
            .and_then(|c| c.as_ref().and_then(|e| Self::usable(e, rejected)))
        {
            return Ok(token);
        }
        // Runs in its own task: a cancelled tool call never loses a rotated token.
        let this = Arc::clone(self);
        let rejected = rejected.cloned();
        tokio::spawn(async move { this.locked_refresh(rejected).await })
            .await
            .map_err(|e| AuthError::Store(format!("token refresh task failed: {e}")))?
    }

    async fn locked_refresh(&self, rejected: Option<Secret>) -> Result<Secret, AuthError> {
        let (lock, on_disk) = self
            .store
            .lock_and_read(LOCK_WAIT, CredentialStore::load_upstream)
            .await?;
        let on_disk = on_disk.filter(|e| same_url(&e.url, &self.url));
        let Some(entry) = on_disk else {
            self.set(None);
            return Err(AuthError::UpstreamSignIn(format!(
                "not signed in to the upstream MCP server {}",
                self.url
            )));
        };
        if let Some(token) = Self::usable(&entry, rejected.as_ref()) {
            self.set(Some(entry));
            return Ok(token);
        }
        let result = self.refresh(&entry).await;
        drop(lock);
        result
    }

    /// Refreshes with the stored refresh token; called with the store lock held.
    async fn refresh(&self, entry: &UpstreamEntry) -> Result<Secret, AuthError> {
        let (Some(reg), Some(tokens)) = (&entry.registration, &entry.tokens) else {
            return Err(AuthError::UpstreamSignIn(format!(
                "not signed in to the upstream MCP server {}",
                self.url
            )));
        };
        let Some(refresh) = &tokens.refresh_token else {
            return Err(AuthError::UpstreamSignIn(
                "the upstream sign-in has expired and the server granted no refresh token"
                    .to_string(),
            ));
        };
        if let Ok(dead) = self.dead.lock()
            && let Some((token, why)) = dead.as_ref()
            && token == refresh
        {
            return Err(AuthError::UpstreamSignIn(why.clone()));
        }
        let trace = CallTrace::new();
        let started = Instant::now();
        let http = self.http.get().map_err(AuthError::Refresh)?;
        let outcome = match refresh_upstream(http, &trace, reg, &self.url, refresh).await {
            Ok(issued) => {
                let now = OffsetDateTime::now_utc();
                let updated = UpstreamEntry {
                    tokens: Some(UpstreamTokens {
                        access_token: issued.access_token.clone(),
                        refresh_token: issued.refresh_token.or_else(|| Some(refresh.clone())),
                        obtained_at: now,
                        expires_at: expiry(now, issued.expires_in),
                        scopes: issued.scopes.unwrap_or_else(|| tokens.scopes.clone()),
                    }),
                    ..entry.clone()
                };
                // Persist the rotated refresh token before the new access token is used.
                let saved = self.save(updated.clone()).await;
                self.set(Some(updated));
                match saved {
                    Ok(()) => Ok(issued.access_token),
                    Err(e) => Err(AuthError::Store(format!(
                        "the refreshed upstream sign-in could not be saved ({e}); free disk space or fix the permissions of the data directory"
                    ))),
                }
            }
            Err((TokenErrorKind::DeadGrant, message)) => {
                if let Ok(mut d) = self.dead.lock() {
                    *d = Some((refresh.clone(), message.clone()));
                }
                // Forget the dead tokens (the registration stays for the next sign-in), so
                // other processes do not try them again.
                let ended = UpstreamEntry {
                    tokens: None,
                    ..entry.clone()
                };
                let _ = self.save(ended.clone()).await;
                self.set(Some(ended));
                Err(AuthError::UpstreamSignIn(format!(
                    "the upstream sign-in has ended ({message})"
                )))
            }
            Err((TokenErrorKind::Client, message)) => {
                // The server forgot this client: drop the registration so the next sign-in
                // registers again.
                let forgotten = UpstreamEntry {
                    registration: None,
                    tokens: None,
                    ..entry.clone()
                };
                let _ = self.save(forgotten.clone()).await;
                self.set(Some(forgotten));
                Err(AuthError::UpstreamSignIn(format!(
                    "the upstream authorization server no longer knows this bridge's registration ({message})"
                )))
            }
            Err((TokenErrorKind::Transient, message)) => Err(AuthError::Refresh(message)),
        };
        self.record(&trace, started, &outcome).await;
        outcome
    }

    async fn save(&self, entry: UpstreamEntry) -> Result<(), String> {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || store.save_upstream(&entry))
            .await
            .map_err(|e| e.to_string())
            .and_then(|r| r.map_err(|e| e.to_string()))
    }

    async fn record(
        &self,
        trace: &CallTrace,
        started: Instant,
        outcome: &Result<Secret, AuthError>,
    ) {
        let Some(audit) = &self.audit else {
            return;
        };
        let entry = Entry {
            actor: Some(Actor {
                account_id: None,
                site: Some(self.url.clone()),
                auth: Some("oauth-upstream".to_string()),
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

/// Two spellings of one upstream URL (a trailing slash) are the same upstream.
pub fn same_url(a: &str, b: &str) -> bool {
    a.trim_end_matches('/') == b.trim_end_matches('/')
}
