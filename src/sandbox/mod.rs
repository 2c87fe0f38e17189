//! A small Atlassian-compatible site (Jira + Confluence + OAuth 2.0 3LO) served over HTTP on
//! loopback.
//!
//! Cloud endpoints live at the root (`/rest/api/3/…`, `/wiki/api/v2/…`, `/wiki/rest/api/…`),
//! and also behind the API gateway prefixes `/ex/jira/{cloudId}/…` and
//! `/ex/confluence/{cloudId}/wiki/…`; a Data Center site lives under the context path `/dc`
//! (`/dc/rest/api/2/…`, `/dc/rest/api/…`). Atlassian's OAuth 2.0 (3LO) endpoints
//! (auth.atlassian.com and api.atlassian.com) share the root: `GET /authorize`,
//! `POST /oauth/token`, `POST /oauth/revoke`, `GET /oauth/token/accessible-resources`,
//! `GET /me`. It shares no types or conversion code with the
//! bridge's own client: its JSON is built from Atlassian's API descriptions, so a mistake on one
//! side cannot hide behind the same mistake on the other.
//!
//! # Layout
//!
//! - this file: the public API, the router (gateway prefixes, `/dc`, reads under the store's
//!   read lock, writes under its write lock), authentication, the request log and the
//!   `/__sandbox/…` control endpoints;
//! - `faults`: failure rules, delays, dropped connections and the latency switch;
//! - `net`: the listener whose connections a handler can drop (`drop_after_commit`);
//! - `wire`: query-string parsing, replies, error shapes, paging tokens, timestamps;
//! - `seed`: the deterministic seed data (users, projects, issues, spaces, pages), the workflow,
//!   the custom fields and the sandbox clock;
//! - `jira`: Jira Cloud (REST v3) and Data Center (REST v2) read handlers and createmeta;
//! - `jira_write` / `jira_fields`: Jira writes and their field validation;
//! - `confluence`: Confluence Cloud (v1 CQL search, v2 pages/spaces) and Data Center handlers;
//! - `confluence_write`: page create/update for v2, v1 and Data Center;
//! - `query`: the JQL and CQL tokenizer, parser and evaluator;
//! - `oauth`: the OAuth 3LO endpoints, token families and the gateway's bearer/scope check.
//!
//! # Authentication
//!
//! - Cloud site URLs: Basic `SANDBOX_EMAIL:SANDBOX_API_TOKEN` only (OAuth bearer tokens are
//!   refused there, as Atlassian does);
//! - the gateway (`/ex/…`): the same Basic, or `Bearer <OAuth access token>` checked for
//!   expiry, revocation and the endpoint's scope (401 `{"code":401,"message":…}` otherwise);
//! - Data Center (`/dc`): `Bearer SANDBOX_PAT`.
//!
//! # OAuth 3LO (client `SANDBOX_OAUTH_CLIENT_ID` / `SANDBOX_OAUTH_CLIENT_SECRET`)
//!
//! `/authorize` validates the client, a loopback `http://127.0.0.1|localhost:<port>/callback`
//! redirect, `state`, `response_type=code`, `audience` and PKCE S256, then auto-consents
//! (302 with `code` and `state`). Codes are single-use and live 10 minutes; a `resource`
//! parameter makes the exchange fail with `invalid_target`, as at Atlassian. `/oauth/token`
//! takes JSON or form bodies and client credentials in the body or as Basic, and always
//! requires the secret. Refresh tokens (only with `offline_access`) rotate; a rotated token
//! and its companion access token keep working for the grace (default 600 s), reuse after
//! it revokes the whole family (403 `invalid_grant`).
//!
//! # Seed data (deterministic; dates relative to 2026-11-20T10:00Z)
//!
//! - users: Dana Demo (the signed-in user; accountId `61d5f0c2a8b4e3001d7c9a01`, DC `demo`),
//!   Alex Rivera (`…a02`, `alex.rivera`), Priya Shah (`…a03`, `priya.shah`);
//! - Jira: `ENG` (64 issues), `OPS` (30), `SEC` (20); rich hand-written issues ENG-1…ENG-8,
//!   OPS-1…OPS-3, SEC-1…SEC-3 (ENG-6 carries zero-width and bidi characters on purpose);
//! - Jira workflow (transition id = target status: 11 To Do, 21 In Progress, 31 In Review,
//!   41 Done): To Do → In Progress | In Review | Done; In Progress → To Do | In Review;
//!   In Review → To Do | In Progress | Done; Done → To Do;
//! - create screens: summary (required), description, reporter (defaults to the caller),
//!   assignee, priority (Highest 1 … Lowest 5, default Medium), labels, duedate, components,
//!   parent (required for Sub-task); select fields `customfield_10020` "Team" (Platform 10300,
//!   Search 10301, Integrations 10302) on standard ENG types, required for ENG Bug, and
//!   `customfield_10050` "Severity" (S1 10200, S2 10201, S3 10202) required on SEC Bug;
//! - Confluence: spaces `ENG` (98305), `OPS` (98306), `~demo` (98307); pages 100100–100107,
//!   200100–200103, 300100–300101 (homepages 100100, 200100, 300100); new pages get ids from
//!   400001.
//!
//! # The clock
//!
//! JQL/CQL `now()` and relative dates (`-90m`, `-2h`, `-1d`) use the sandbox clock: 2026-11-20
//! 10:00Z until the first write, then one millisecond later per write (each created issue,
//! edit, comment, transition or page version), which is the timestamp the write records. So new
//! things sort after the seed and `created >= -90m` finds them, run after run.
//!
//! # Writes
//!
//! Jira, Cloud `/rest/api/3` (also through the gateway) and Data Center `/dc/rest/api/2`
//! (wiki-markup strings and usernames instead of ADF and accountIds):
//! - `POST /issue` → 201 `{id,key,self}`; `POST /issue/bulk` `{"issueUpdates":[…]}` (≤ 50, else
//!   400 and nothing created) → 201 `{issues,errors}` when any succeeded, 400 when all failed;
//!   each element is validated against its create screen like Jira (400
//!   `{"errorMessages":[],"errors":{field: message}}`) and may carry `properties`;
//! - `PUT /issue/{key}` (`fields`, `update.labels` add/remove/set, `update.comment` add, other
//!   fields `[{"set":…}]`) → 204, or 200 with the issue for `returnIssue=true`;
//! - `POST /issue/{key}/comment` → 201 Comment; `POST /issue/{key}/transitions` → 204 (400 for
//!   a transition the current status does not offer);
//! - `GET|PUT|DELETE /issue/{key}/properties/{propertyKey}`, `GET /issue/{key}/properties`;
//!   `properties=…` on `GET /issue/{key}`, `search/jql` (GET and POST) and DC `search`.
//!
//! Confluence: Cloud v2 `POST /wiki/api/v2/pages` (200 PageSingle, version 1, parent defaults
//! to the space homepage) and `PUT /wiki/api/v2/pages/{id}` (version must be current + 1, else
//! 409); v1 / Data Center `POST /rest/api/content` and `PUT /rest/api/content/{id}` (200
//! Content, stale version 409) and `GET /rest/api/content?spaceKey=&title=`. Titles are unique
//! per space, case-insensitively (400). Only storage-format bodies can be written.
//!
//! # Control endpoints (no auth, no latency, no faults, not recorded)
//!
//! - `POST /__sandbox/faults` `{"status":429,"count":2,"retry_after":1,"path_prefix":"/rest/api/3/search/jql"}`;
//!   optional `"method":"POST"` (only that method matches), `"skip":2` (let the first 2
//!   matching requests through), `"delay_ms":500` (hold each matching request; with no status
//!   it is then served normally) and `"drop_after_commit":true` (serve the request, writes
//!   included, then close the connection without any response; logged with status 0);
//!   `"retry_after_raw":"Wed, 21 Oct 2015 07:28:00 GMT"` (the `Retry-After` value verbatim);
//!   with no status, `"inflate_to":5000` (serve, then repeat the answer's `issues`/`results`/
//!   `values`/`comments` items until there are that many) or `"body_bytes":20000000` (a
//!   streamed 200 JSON answer of that size, no `Content-Length`)
//! - `DELETE /__sandbox/faults` removes every rule
//! - `GET /__sandbox/state` `{"issues":{"ENG":64,…},"pages":{"ENG":8,…},"now":"…"}`
//! - `POST /__sandbox/latency` `{"ms":50}`
//! - `GET /__sandbox/requests` the request log (each with `at_ms`, its arrival after the
//!   sandbox started); `DELETE /__sandbox/requests` empties it
//!
//! A request target (path and query) longer than 8 KiB is answered 414 with an HTML page,
//! before authentication and faults, as the proxies in front of real sites do.
//! - `GET /__sandbox/info` base URLs, credentials, the cloud id and the OAuth client/endpoints
//! - `GET /__sandbox/oauth` OAuth counters and settings
//! - `POST /__sandbox/oauth` `{"expires_in":1,"grace_secs":0,"consent":true,"no_sites":false,"extra_sites":[{"id":"…","url":"…","name":"…"}]}`
//! - `POST /__sandbox/oauth/revoke-all` revokes every token family

mod confluence;
mod confluence_write;
mod faults;
mod jira;
mod jira_fields;
mod jira_write;
mod net;
mod oauth;
#[cfg(test)]
mod oauth_tests;
mod query;
mod seed;
#[cfg(test)]
mod tests;
mod wire;
#[cfg(test)]
mod write_tests;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use base64::Engine as _;
use serde_json::json;

use self::wire::{Family, Params, Reply};

use self::faults::{FaultAction, apply_fault};
pub use self::faults::{FaultOptions, FaultSpec, Faults};
pub use self::oauth::{
    MintedTokens, OAuthCounters, OAuthSwitches, SANDBOX_ACCOUNT_ID, SANDBOX_OAUTH_CLIENT_ID,
    SANDBOX_OAUTH_CLIENT_SECRET,
};

/// Email accepted for Basic auth (Cloud API token mode).
pub const SANDBOX_EMAIL: &str = "demo@example.com";
/// API token accepted for Basic auth.
pub const SANDBOX_API_TOKEN: &str = "sandbox-api-token";
/// Personal access token accepted as Bearer (Data Center).
pub const SANDBOX_PAT: &str = "sandbox-pat";
/// The sandbox site's cloud id: the API gateway prefixes `/ex/jira/{cloudId}` and
/// `/ex/confluence/{cloudId}` answer only for this id, like Atlassian's gateway does for a site.
pub const SANDBOX_CLOUD_ID: &str = "7c0e9a52-3f1d-4b8e-a6c2-5d9f0b1e4a37";

/// Largest request body the sandbox reads; bigger bodies are refused with 413.
const MAX_BODY_BYTES: usize = 5 * 1024 * 1024;
/// Longest request target (path and query) the sandbox accepts; longer ones get 414, as from
/// the 8 KiB request-line limits of Tomcat, Apache, nginx and the proxies in front of sites.
pub const SANDBOX_MAX_URL_BYTES: usize = 8192;
/// How many requests the log keeps (oldest dropped first), so long benchmarks stay bounded.
const MAX_LOGGED_REQUESTS: usize = 20_000;

/// How to start the sandbox.
#[derive(Debug, Clone, Default)]
pub struct SandboxOptions {
    /// TCP port on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    /// Added to every request before it is answered.
    pub latency: Duration,
}

/// One request the sandbox answered, for test assertions such as "the client retried 3 times".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeenRequest {
    /// HTTP method (`GET`, `POST` …).
    pub method: String,
    /// Request path as received, without the query string.
    pub path: String,
    /// The raw query string, if any (so tests can check parameter names against the specs).
    pub query: Option<String>,
    /// Status the sandbox answered with (including injected faults and 401s); 0 when the
    /// connection was dropped after handling (`drop_after_commit`).
    pub status: u16,
}

/// A logged request with the moment it arrived, so tests can check how a client spaces its
/// retries (the gap between two arrivals is at least what the client waited in between).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimedRequest {
    /// The request as [`Sandbox::requests`] lists it.
    pub request: SeenRequest,
    /// When it arrived, measured from the sandbox's start, before any latency or fault delay.
    pub at: Duration,
}

/// Locks a mutex, recovering the data if another thread panicked while holding it (the
/// sandbox's state stays usable; it holds plain data with no invariants across fields).
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// State shared by every request.
struct Shared {
    store: RwLock<seed::Store>,
    faults: Faults,
    oauth: OAuthSwitches,
    log: Mutex<VecDeque<TimedRequest>>,
    addr: SocketAddr,
    started: std::time::Instant,
}

impl Shared {
    fn read_store(&self) -> std::sync::RwLockReadGuard<'_, seed::Store> {
        self.store
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write_store(&self) -> std::sync::RwLockWriteGuard<'_, seed::Store> {
        self.store
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Appends one request to the log (dropping the oldest past [`MAX_LOGGED_REQUESTS`]).
    fn log(&self, method: &Method, path: String, query: Option<String>, status: u16, at: Duration) {
        let mut log = lock(&self.log);
        if log.len() >= MAX_LOGGED_REQUESTS {
            log.pop_front();
        }
        log.push_back(TimedRequest {
            request: SeenRequest {
                method: method.to_string(),
                path,
                query,
                status,
            },
            at,
        });
    }

    /// Issue counts per project key and page counts per space key, for `/__sandbox/state`.
    fn state(&self) -> serde_json::Value {
        let store = self.read_store();
        let issues: serde_json::Map<String, serde_json::Value> = store
            .projects
            .iter()
            .enumerate()
            .map(|(idx, p)| {
                let n = store.issues.iter().filter(|i| i.project == idx).count();
                (p.key.to_string(), json!(n))
            })
            .collect();
        let pages: serde_json::Map<String, serde_json::Value> = store
            .spaces
            .iter()
            .enumerate()
            .map(|(idx, s)| {
                let n = store.pages.iter().filter(|p| p.space == idx).count();
                (s.key.to_string(), json!(n))
            })
            .collect();
        json!({"issues": issues, "pages": pages, "now": wire::jira_time(store.now())})
    }
}

/// A running sandbox.
pub struct Sandbox {
    addr: SocketAddr,
    faults: Faults,
    shared: Arc<Shared>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl std::fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sandbox")
            .field("addr", &self.addr)
            .field("faults", &self.faults)
            .finish_non_exhaustive()
    }
}

impl Sandbox {
    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Base URL of the Cloud site (`http://127.0.0.1:<port>`).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Base URL of the Data Center site (`http://127.0.0.1:<port>/dc`).
    pub fn dc_base_url(&self) -> String {
        format!("http://{}/dc", self.addr)
    }

    /// Base URL of the API gateway (`http://127.0.0.1:<port>`): Jira answers under
    /// `{gateway}/ex/jira/{SANDBOX_CLOUD_ID}`, Confluence under
    /// `{gateway}/ex/confluence/{SANDBOX_CLOUD_ID}/wiki`.
    pub fn gateway_url(&self) -> String {
        self.base_url()
    }

    /// Latency and fault switches.
    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    /// OAuth 3LO switches (token lifetime, refresh grace, consent, listed sites) and counters.
    pub fn oauth(&self) -> &OAuthSwitches {
        &self.shared.oauth
    }

    /// Every request answered so far (oldest first; control endpoints excluded), so tests can
    /// assert on what a client actually sent.
    pub fn requests(&self) -> Vec<SeenRequest> {
        lock(&self.shared.log)
            .iter()
            .map(|t| t.request.clone())
            .collect()
    }

    /// Every request answered so far with its arrival time (oldest first; control endpoints
    /// excluded).
    pub fn timed_requests(&self) -> Vec<TimedRequest> {
        lock(&self.shared.log).iter().cloned().collect()
    }

    /// Forgets the request log, so a test can count only what follows.
    pub fn clear_requests(&self) {
        lock(&self.shared.log).clear();
    }

    /// How many issues project `key` (or id) holds now, seed and created ones; 0 for an unknown
    /// project.
    pub fn issue_count(&self, project: &str) -> usize {
        let store = self.shared.read_store();
        store.project(project).map_or(0, |p| {
            store.issues.iter().filter(|i| i.project == p).count()
        })
    }

    /// How many pages space `key` holds now; 0 for an unknown space.
    pub fn page_count(&self, space_key: &str) -> usize {
        let store = self.shared.read_store();
        store
            .spaces
            .iter()
            .position(|s| s.key.eq_ignore_ascii_case(space_key))
            .map_or(0, |sp| store.pages.iter().filter(|p| p.space == sp).count())
    }

    /// Stops serving: in-flight requests finish, then the listener closes.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(mut task) = self.task.take()
            && tokio::time::timeout(Duration::from_secs(5), &mut task)
                .await
                .is_err()
        {
            task.abort();
        }
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Starts the sandbox on 127.0.0.1.
pub async fn start(opts: SandboxOptions) -> std::io::Result<Sandbox> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", opts.port)).await?;
    let addr = listener.local_addr()?;
    let listener = net::DroppableListener::new(listener);
    let faults = Faults::default();
    faults.set_latency(opts.latency);
    let shared = Arc::new(Shared {
        store: RwLock::new(seed::Store::build()),
        faults: faults.clone(),
        oauth: OAuthSwitches::default(),
        log: Mutex::new(VecDeque::new()),
        addr,
        started: std::time::Instant::now(),
    });
    let router = axum::Router::new()
        .fallback(entry)
        .with_state(Arc::clone(&shared))
        .into_make_service_with_connect_info::<net::ConnHandle>();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let served = axum::serve(listener, router)
            .with_graceful_shutdown(async move {
                let _ = stop_rx.await;
            })
            .await;
        if let Err(err) = served {
            tracing::warn!(error = %err, "sandbox server stopped with an error");
        }
    });
    tracing::debug!(%addr, "sandbox listening");
    Ok(Sandbox {
        addr,
        faults,
        shared,
        stop: Some(stop_tx),
        task: Some(task),
    })
}

/// Which deployment a request addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Site {
    /// Atlassian Cloud: REST v3, ADF, accountIds, token paging.
    Cloud,
    /// Server / Data Center: REST v2, wiki markup, usernames, offset paging.
    Dc,
}

/// Everything a handler needs to answer one request.
pub(crate) struct Ctx<'a> {
    /// The request method.
    pub method: &'a Method,
    /// Cloud or Data Center.
    pub site: Site,
    /// Absolute base for Jira `self` links (`http://host`, `http://host/ex/jira/{id}`, `http://host/dc`).
    pub jira_base: String,
    /// Absolute Confluence base (`http://host/wiki`, `http://host/ex/confluence/{id}/wiki`, `http://host/dc`).
    pub wiki_base: String,
    /// Context path of Confluence links (`/wiki` on Cloud, `/dc` on Data Center).
    pub wiki_context: &'static str,
    /// Decoded query-string parameters.
    pub params: Params,
    /// The raw request body.
    pub body: &'a [u8],
    /// The seed data, read-locked for the duration of the request.
    pub store: &'a seed::Store,
}

/// A request without the store: what a write handler gets next to `&mut Store`. After
/// changing the store it renders its answer through [`Req::ctx`] and the read-side builders.
pub(crate) struct Req<'a> {
    /// The request method.
    pub method: &'a Method,
    /// Cloud or Data Center.
    pub site: Site,
    /// As [`Ctx::jira_base`].
    pub jira_base: String,
    /// As [`Ctx::wiki_base`].
    pub wiki_base: String,
    /// As [`Ctx::wiki_context`].
    pub wiki_context: &'static str,
    /// Decoded query-string parameters.
    pub params: Params,
    /// The raw request body.
    pub body: &'a [u8],
}

impl Req<'_> {
    /// A read context over `store` for rendering.
    pub fn ctx<'b>(&'b self, store: &'b seed::Store) -> Ctx<'b> {
        Ctx {
            method: self.method,
            site: self.site,
            jira_base: self.jira_base.clone(),
            wiki_base: self.wiki_base.clone(),
            wiki_context: self.wiki_context,
            params: self.params.clone(),
            body: self.body,
            store,
        }
    }
}

/// Handles each request in a task of its own, so that, as at a real site, a request the
/// sandbox has started is finished (and its writes committed) even when the client goes away
/// mid-request — a client killed while a delayed bulk request is held must find those issues.
async fn entry(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    match tokio::spawn(handle(shared, req)).await {
        Ok(response) => response,
        Err(_) => control_error(StatusCode::INTERNAL_SERVER_ERROR, "sandbox handler failed"),
    }
}

async fn handle(shared: Arc<Shared>, req: Request) -> Response {
    let arrived = shared.started.elapsed();
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_string();
    let query = parts.uri.query().map(str::to_string);
    let method = parts.method.clone();

    if path == "/__sandbox" || path.starts_with("/__sandbox/") {
        let bytes = match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
            Ok(b) => b,
            Err(_) => return control_error(StatusCode::PAYLOAD_TOO_LARGE, "body too large"),
        };
        return control(&shared, &method, &path, &bytes);
    }

    let target_len = parts.uri.path_and_query().map_or(0, |pq| pq.as_str().len());
    if target_len > SANDBOX_MAX_URL_BYTES {
        let reply = Reply::text(
            414,
            "text/html;charset=UTF-8",
            "<html><head><title>414 Request-URI Too Long</title></head><body><h1>Request-URI Too Long</h1></body></html>".to_string(),
        );
        shared.log(&method, path, query, reply.status, arrived);
        return reply.into_response();
    }

    let latency = shared.faults.latency();
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }

    let host = parts
        .headers
        .get(axum::http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_graphic()))
        .map(str::to_string)
        .or_else(|| parts.uri.authority().map(|a| a.to_string()))
        .unwrap_or_else(|| shared.addr.to_string());

    let mut dropped = false;
    let mut inflate_to = None;
    let reply = if oauth::is_oauth_path(&path) {
        let fault = shared.faults.take(method.as_str(), &[path.as_str()]);
        match apply_fault(fault, Family::Jira).await {
            FaultAction::Answer(reply) => reply,
            FaultAction::Huge(bytes) => {
                shared.log(&method, path, query, 200, arrived);
                return faults::huge_answer(bytes);
            }
            action => {
                if let FaultAction::Inflate(n) = action {
                    inflate_to = Some(n);
                }
                dropped = matches!(action, FaultAction::Drop);
                match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
                    Err(_) => Reply::json(
                        413,
                        json!({"error": "invalid_request", "error_description": "The request body is too large."}),
                    ),
                    Ok(bytes) => oauth::handle(
                        &shared.oauth,
                        &shared.store,
                        &oauth::OAuthRequest {
                            method: &method,
                            path: &path,
                            query: parts.uri.query(),
                            headers: &parts.headers,
                            body: &bytes,
                            origin: format!("http://{host}"),
                        },
                    ),
                }
            }
        }
    } else {
        match route(&path, &host) {
            Err(reply) => reply,
            Ok(target) => {
                let inner_path = format!("/{}", target.segments.join("/"));
                let fault = shared
                    .faults
                    .take(method.as_str(), &[path.as_str(), inner_path.as_str()]);
                match apply_fault(fault, target.family).await {
                    FaultAction::Answer(reply) => reply,
                    FaultAction::Huge(bytes) => {
                        shared.log(&method, path, query, 200, arrived);
                        return faults::huge_answer(bytes);
                    }
                    action => {
                        if let FaultAction::Inflate(n) = action {
                            inflate_to = Some(n);
                        }
                        dropped = matches!(action, FaultAction::Drop);
                        serve_site(&shared, target, &method, &parts, body).await
                    }
                }
            }
        }
    };

    let mut reply = reply;
    if let Some(n) = inflate_to {
        faults::inflate(&mut reply, n);
    }
    let status = if dropped { 0 } else { reply.status };
    shared.log(&method, path, query, status, arrived);
    if dropped {
        match parts
            .extensions
            .get::<axum::extract::ConnectInfo<net::ConnHandle>>()
        {
            Some(conn) => conn.0.drop_connection(),
            None => tracing::warn!("drop_after_commit: no connection handle; answering normally"),
        }
    }
    reply.into_response()
}

/// Authenticates and answers a request for the Jira or Confluence site. Writes (any method but
/// GET/HEAD on a write endpoint) hold the store's write lock; everything else a read lock.
async fn serve_site(
    shared: &Shared,
    target: Target,
    method: &Method,
    parts: &axum::http::request::Parts,
    body: Body,
) -> Reply {
    if let Err(reply) = authenticate(&shared.oauth, &target, method, &parts.headers) {
        return reply;
    }
    let bytes = match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
        Ok(b) => b,
        Err(_) => {
            return Reply::error(
                target.family,
                413,
                "The request body is too large for this endpoint.",
            );
        }
    };
    let params = match Params::parse(parts.uri.query()) {
        Ok(p) => p,
        Err(msg) => return Reply::error(target.family, 400, &msg),
    };
    let req = Req {
        method,
        site: target.site,
        jira_base: target.jira_base,
        wiki_base: target.wiki_base,
        wiki_context: if target.site == Site::Dc {
            "/dc"
        } else {
            "/wiki"
        },
        params,
        body: &bytes,
    };
    let segs: Vec<&str> = target.segments.iter().map(String::as_str).collect();
    // Jira searches by POST only read: keep them on the shared lock so they run concurrently.
    let post_search = matches!(segs.as_slice(), ["rest", "api", _, "search", ..]);
    if *method == Method::GET || *method == Method::HEAD || post_search {
        let store = shared.read_store();
        return dispatch(&req.ctx(&store), target.family, &segs);
    }
    let mut store = shared.write_store();
    match dispatch_write(&req, &mut store, target.family, &segs) {
        Some(reply) => reply,
        None => dispatch(&req.ctx(&store), target.family, &segs),
    }
}

/// Where a request goes once the gateway prefix or context path is peeled off.
struct Target {
    site: Site,
    /// Reached through `/ex/{product}/{cloudId}` (where OAuth bearer tokens are accepted).
    gateway: bool,
    family: Family,
    /// Percent-decoded path segments inside the site (`rest`, `api`, `3`, `issue`, `ENG-1`).
    segments: Vec<String>,
    jira_base: String,
    wiki_base: String,
}

fn route(path: &str, host: &str) -> Result<Target, Reply> {
    let mut segments = Vec::new();
    for raw in path.split('/').filter(|s| !s.is_empty()) {
        let decoded = percent_encoding::percent_decode_str(raw).decode_utf8();
        match decoded {
            Ok(s) => segments.push(s.into_owned()),
            Err(_) => {
                return Err(Reply::error(
                    Family::Jira,
                    400,
                    "The request path is not valid UTF-8 after percent-decoding.",
                ));
            }
        }
    }
    let origin = format!("http://{host}");
    let first = segments.first().map(String::as_str);
    match first {
        Some("ex") => {
            let product = segments.get(1).cloned().unwrap_or_default();
            let cloud_id = segments.get(2).cloned().unwrap_or_default();
            if cloud_id != SANDBOX_CLOUD_ID || (product != "jira" && product != "confluence") {
                return Err(Reply::json(
                    404,
                    json!({"code": 404, "message": format!("Not Found: no site with cloud id '{cloud_id}' for product '{product}'")}),
                ));
            }
            let rest: Vec<String> = segments.into_iter().skip(3).collect();
            let gateway = format!("{origin}/ex/{product}/{SANDBOX_CLOUD_ID}");
            if product == "jira" {
                let family = classify(Site::Cloud, &rest);
                if family != Family::Jira {
                    return Err(Reply::error(Family::Jira, 404, "Not Found"));
                }
                Ok(Target {
                    site: Site::Cloud,
                    gateway: true,
                    family,
                    segments: rest,
                    wiki_base: format!("{origin}/ex/confluence/{SANDBOX_CLOUD_ID}/wiki"),
                    jira_base: gateway,
                })
            } else {
                let family = classify(Site::Cloud, &rest);
                if rest.first().map(String::as_str) != Some("wiki") {
                    return Err(Reply::error(Family::ConfluenceV1, 404, "Not Found"));
                }
                Ok(Target {
                    site: Site::Cloud,
                    gateway: true,
                    family,
                    segments: rest,
                    jira_base: format!("{origin}/ex/jira/{SANDBOX_CLOUD_ID}"),
                    wiki_base: format!("{gateway}/wiki"),
                })
            }
        }
        Some("dc") => {
            let rest: Vec<String> = segments.into_iter().skip(1).collect();
            Ok(Target {
                site: Site::Dc,
                gateway: false,
                family: classify(Site::Dc, &rest),
                segments: rest,
                jira_base: format!("{origin}/dc"),
                wiki_base: format!("{origin}/dc"),
            })
        }
        _ => Ok(Target {
            site: Site::Cloud,
            gateway: false,
            family: classify(Site::Cloud, &segments),
            segments,
            jira_base: origin.clone(),
            wiki_base: format!("{origin}/wiki"),
        }),
    }
}

/// Which API family (and so which error shape) a site-relative path belongs to.
fn classify(site: Site, segs: &[String]) -> Family {
    let s: Vec<&str> = segs.iter().map(String::as_str).collect();
    match (site, s.as_slice()) {
        (Site::Cloud, ["wiki", "api", "v2", ..]) => Family::ConfluenceV2,
        (Site::Cloud, ["wiki", ..]) => Family::ConfluenceV1,
        (Site::Dc, ["rest", "api", v, ..]) if v.chars().all(|c| c.is_ascii_digit()) => Family::Jira,
        (Site::Dc, ["rest", "api", ..]) => Family::ConfluenceV1,
        _ => Family::Jira,
    }
}

fn authenticate(
    oauth: &OAuthSwitches,
    target: &Target,
    method: &Method,
    headers: &HeaderMap,
) -> Result<(), Reply> {
    let (site, family) = (target.site, target.family);
    let header = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    if target.gateway
        && let Some(token) = header.strip_prefix("Bearer ")
    {
        let need = oauth::gateway_scopes(method, &target.segments);
        return oauth
            .check_bearer(token.trim(), need)
            .map_err(oauth::bearer_denied);
    }
    let ok = match site {
        Site::Cloud => header
            .strip_prefix("Basic ")
            .and_then(|b64| {
                base64::engine::general_purpose::STANDARD
                    .decode(b64.trim())
                    .ok()
            })
            .is_some_and(|raw| raw == format!("{SANDBOX_EMAIL}:{SANDBOX_API_TOKEN}").as_bytes()),
        Site::Dc => header
            .strip_prefix("Bearer ")
            .is_some_and(|t| t.trim() == SANDBOX_PAT),
    };
    if ok {
        return Ok(());
    }
    let reply = match family {
        Family::Jira => Reply::json(
            401,
            json!({"errorMessages": ["You are not authenticated. Authentication required to perform this operation."], "errors": {}}),
        ),
        Family::ConfluenceV2 => Reply::json(
            401,
            json!({"errors": [{"status": 401, "code": "UNAUTHORIZED", "title": "Unauthorized", "detail": null}]}),
        ),
        Family::ConfluenceV1 => Reply::json(
            401,
            json!({"statusCode": 401, "data": {"authorized": false, "valid": true, "errors": [], "successful": false}, "message": "This request requires authentication: the credentials were missing or not accepted.", "reason": "Unauthorized"}),
        ),
    };
    let challenge = match site {
        Site::Cloud => "Basic realm=\"sandbox\"",
        Site::Dc => "Bearer realm=\"sandbox\"",
    };
    Err(reply.header("WWW-Authenticate", challenge))
}

fn dispatch(ctx: &Ctx<'_>, family: Family, segs: &[&str]) -> Reply {
    match (ctx.site, segs) {
        (Site::Cloud, ["rest", "api", "3", rest @ ..]) => jira::route(ctx, rest),
        (Site::Cloud, ["rest", "api", "2", "search"]) => jira::removed_search(),
        (Site::Cloud, ["wiki", "rest", "api", rest @ ..]) => confluence::v1(ctx, rest),
        (Site::Cloud, ["wiki", "api", "v2", rest @ ..]) => confluence::v2(ctx, rest),
        (Site::Dc, ["rest", "api", "2", rest @ ..]) => jira::route(ctx, rest),
        (Site::Dc, ["rest", "api", rest @ ..]) if family == Family::ConfluenceV1 => {
            confluence::dc(ctx, rest)
        }
        _ => Reply::error(family, 404, "Not Found: the sandbox has no such endpoint."),
    }
}

/// Routes the write endpoints (POST/PUT/DELETE that change the store); `None` when the path
/// is not one, so the read router answers (searches by POST, 405s, 404s).
fn dispatch_write(
    req: &Req<'_>,
    store: &mut seed::Store,
    family: Family,
    segs: &[&str],
) -> Option<Reply> {
    match (req.site, segs) {
        (Site::Cloud, ["rest", "api", "3", rest @ ..])
        | (Site::Dc, ["rest", "api", "2", rest @ ..]) => jira_write::route(req, store, rest),
        (Site::Cloud, ["wiki", "api", "v2", rest @ ..]) => confluence_write::v2(req, store, rest),
        (Site::Cloud, ["wiki", "rest", "api", rest @ ..]) => confluence_write::v1(req, store, rest),
        (Site::Dc, ["rest", "api", rest @ ..]) if family == Family::ConfluenceV1 => {
            confluence_write::v1(req, store, rest)
        }
        _ => None,
    }
}

fn control_error(status: StatusCode, message: &str) -> Response {
    Reply::json(status.as_u16(), json!({"error": message})).into_response()
}

#[derive(serde::Deserialize)]
struct FaultBody {
    #[serde(default)]
    status: u16,
    #[serde(default = "one")]
    count: u32,
    #[serde(default)]
    retry_after: Option<u64>,
    #[serde(default)]
    path_prefix: Option<String>,
    #[serde(default)]
    method: Option<String>,
    #[serde(default)]
    skip: u32,
    #[serde(default)]
    delay_ms: Option<u64>,
    #[serde(default)]
    drop_after_commit: bool,
    #[serde(default)]
    retry_after_raw: Option<String>,
    #[serde(default)]
    inflate_to: Option<u32>,
    #[serde(default)]
    body_bytes: Option<u64>,
}

impl FaultBody {
    /// Why the rule cannot be used, if it cannot.
    fn problem(&self) -> Option<&'static str> {
        let acts = self.delay_ms.is_some()
            || self.drop_after_commit
            || self.inflate_to.is_some()
            || self.body_bytes.is_some();
        if self.status == 0 && !acts {
            Some(
                "invalid fault: give a status between 100 and 599, delay_ms, drop_after_commit, inflate_to or body_bytes",
            )
        } else if self
            .retry_after_raw
            .as_deref()
            .is_some_and(|r| axum::http::HeaderValue::from_str(r).is_err())
        {
            Some("invalid fault: retry_after_raw must be a valid header value")
        } else if self.inflate_to.is_some_and(|n| n > faults::MAX_INFLATE) {
            Some("invalid fault: inflate_to must be at most 200000")
        } else if self.body_bytes.is_some_and(|b| b > faults::MAX_FAULT_BODY) {
            Some("invalid fault: body_bytes must be at most 1073741824")
        } else if self.status != 0 && !(100..=599).contains(&self.status) {
            Some("invalid fault: status must be between 100 and 599")
        } else if self.delay_ms.is_some_and(|ms| ms > 600_000) {
            Some("invalid fault: delay_ms must be at most 600000")
        } else {
            None
        }
    }
}

fn one() -> u32 {
    1
}

#[derive(serde::Deserialize)]
struct LatencyBody {
    ms: u64,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct OAuthBody {
    #[serde(default)]
    expires_in: Option<u64>,
    #[serde(default)]
    grace_secs: Option<u64>,
    #[serde(default)]
    consent: Option<bool>,
    #[serde(default)]
    no_sites: Option<bool>,
    #[serde(default)]
    extra_sites: Option<Vec<SiteBody>>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct SiteBody {
    id: String,
    url: String,
    name: String,
}

fn oauth_status(o: &OAuthSwitches) -> Response {
    let c = o.counters();
    let (expires_in, grace, consent) = o.settings();
    Reply::json(
        200,
        json!({
            "codes_issued": c.codes_issued,
            "token_exchanges": c.token_exchanges,
            "refreshes": c.refreshes,
            "families_revoked": c.families_revoked,
            "active_families": c.active_families,
            "expires_in": expires_in,
            "grace_secs": grace.as_secs(),
            "consent": consent,
        }),
    )
    .into_response()
}

fn control(shared: &Shared, method: &Method, path: &str, body: &[u8]) -> Response {
    let path = path.trim_end_matches('/');
    match (method.as_str(), path) {
        ("POST", "/__sandbox/faults") => match serde_json::from_slice::<FaultBody>(body) {
            Err(e) => control_error(StatusCode::BAD_REQUEST, &format!("invalid fault: {e}")),
            Ok(f) if f.problem().is_some() => control_error(
                StatusCode::BAD_REQUEST,
                f.problem().unwrap_or("invalid fault"),
            ),
            Ok(f) => {
                shared.faults.inject_with(
                    FaultSpec {
                        status: f.status,
                        count: f.count,
                        retry_after: f.retry_after,
                        path_prefix: f.path_prefix.filter(|p| !p.is_empty()),
                    },
                    FaultOptions {
                        method: f.method.filter(|m| !m.is_empty()),
                        skip: f.skip,
                        delay_ms: f.delay_ms,
                        drop_after_commit: f.drop_after_commit,
                        retry_after_raw: f.retry_after_raw,
                        inflate_to: f.inflate_to,
                        body_bytes: f.body_bytes,
                    },
                );
                Reply::json(200, json!({"ok": true, "pending": shared.faults.pending()}))
                    .into_response()
            }
        },
        ("DELETE", "/__sandbox/faults") => {
            shared.faults.clear();
            Reply::json(200, json!({"ok": true, "pending": 0})).into_response()
        }
        ("POST", "/__sandbox/latency") => match serde_json::from_slice::<LatencyBody>(body) {
            Err(e) => control_error(StatusCode::BAD_REQUEST, &format!("invalid latency: {e}")),
            Ok(l) if l.ms > 600_000 => control_error(
                StatusCode::BAD_REQUEST,
                "invalid latency: ms must be at most 600000",
            ),
            Ok(l) => {
                shared.faults.set_latency(Duration::from_millis(l.ms));
                Reply::json(200, json!({"ok": true, "ms": l.ms})).into_response()
            }
        },
        ("GET", "/__sandbox/state") => Reply::json(200, shared.state()).into_response(),
        ("GET", "/__sandbox/requests") => {
            let log: Vec<_> = lock(&shared.log)
                .iter()
                .map(|t| {
                    let r = &t.request;
                    let at_ms = (t.at.as_secs_f64() * 10_000.0).round() / 10.0;
                    json!({"method": r.method, "path": r.path, "status": r.status, "at_ms": at_ms})
                })
                .collect();
            Reply::json(200, json!({"requests": log})).into_response()
        }
        ("DELETE", "/__sandbox/requests") => {
            lock(&shared.log).clear();
            Reply::json(200, json!({"ok": true})).into_response()
        }
        ("GET", "/__sandbox/info") | ("GET", "/__sandbox") => {
            let base = format!("http://{}", shared.addr);
            Reply::json(
                200,
                json!({
                    "cloudUrl": base,
                    "dcUrl": format!("{base}/dc"),
                    "cloudId": SANDBOX_CLOUD_ID,
                    "gatewayJira": format!("{base}/ex/jira/{SANDBOX_CLOUD_ID}"),
                    "gatewayConfluence": format!("{base}/ex/confluence/{SANDBOX_CLOUD_ID}/wiki"),
                    "email": SANDBOX_EMAIL,
                    "apiToken": SANDBOX_API_TOKEN,
                    "pat": SANDBOX_PAT,
                    "oauth": {
                        "clientId": SANDBOX_OAUTH_CLIENT_ID,
                        "clientSecret": SANDBOX_OAUTH_CLIENT_SECRET,
                        "authorizeUrl": format!("{base}/authorize"),
                        "tokenUrl": format!("{base}/oauth/token"),
                        "revokeUrl": format!("{base}/oauth/revoke"),
                        "accessibleResourcesUrl": format!("{base}/oauth/token/accessible-resources"),
                        "meUrl": format!("{base}/me"),
                        "audience": "api.atlassian.com",
                        "accountId": SANDBOX_ACCOUNT_ID,
                    },
                    "latencyMs": u64::try_from(shared.faults.latency().as_millis()).unwrap_or(u64::MAX),
                    "pendingFaults": shared.faults.pending(),
                }),
            )
            .into_response()
        }
        ("GET", "/__sandbox/oauth") => oauth_status(&shared.oauth),
        ("POST", "/__sandbox/oauth") => match serde_json::from_slice::<OAuthBody>(body) {
            Err(e) => control_error(
                StatusCode::BAD_REQUEST,
                &format!("invalid oauth settings: {e}"),
            ),
            Ok(b)
                if b.expires_in.is_some_and(|s| s > oauth::MAX_SECS)
                    || b.grace_secs.is_some_and(|s| s > oauth::MAX_SECS) =>
            {
                control_error(
                    StatusCode::BAD_REQUEST,
                    "invalid oauth settings: expires_in and grace_secs must be at most ten years",
                )
            }
            Ok(b) => {
                let o = &shared.oauth;
                if let Some(s) = b.expires_in {
                    o.set_expires_in(s);
                }
                if let Some(s) = b.grace_secs {
                    o.set_grace(Duration::from_secs(s));
                }
                if let Some(c) = b.consent {
                    o.set_consent(c);
                }
                if let Some(n) = b.no_sites {
                    o.set_no_sites(n);
                }
                if let Some(sites) = b.extra_sites {
                    o.set_extra_sites(sites.into_iter().map(|s| (s.id, s.url, s.name)).collect());
                }
                oauth_status(o)
            }
        },
        ("POST", "/__sandbox/oauth/revoke-all") => {
            let revoked = shared.oauth.revoke_all();
            Reply::json(200, json!({"ok": true, "revoked": revoked})).into_response()
        }
        _ => control_error(StatusCode::NOT_FOUND, "unknown sandbox control endpoint"),
    }
}

/// Turns a reply into an HTTP response.
impl Reply {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = match (&self.body, self.text) {
            (Some(v), _) => serde_json::to_vec(v).unwrap_or_default(),
            (None, Some(text)) => text.into_bytes(),
            (None, None) => Vec::new(),
        };
        let mut builder = Response::builder().status(status);
        if self.body.is_some() {
            builder = builder.header("Content-Type", "application/json;charset=UTF-8");
        }
        for (name, value) in &self.headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        builder.body(Body::from(body)).unwrap_or_else(|_| {
            let mut fallback = Response::new(Body::empty());
            *fallback.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
            fallback
        })
    }
}
