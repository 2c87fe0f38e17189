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
//! - this file: the public API, request handling (reads under the store's read lock, writes
//!   under its write lock, latency and faults) and the request log;
//! - `routing`: gateway prefixes and `/dc` peeled off, API families, authentication, dispatch;
//! - `control`: the `/__sandbox/…` control endpoints;
//! - `changes`: touching and deleting issues and pages, and the offline switches on [`Sandbox`]
//!   (`set_reachable`, `generate`, `touch_issue`, `delete_issue`, `touch_page`, `delete_page`);
//! - `generate` / `vocab`: bulk generation of realistic issues and pages, and its words;
//! - `faults`: failure rules, delays, dropped connections and the latency switch;
//! - `net`: the listener: connections a handler can drop (`drop_after_commit`), and the
//!   reachability gate (the port closes and every open connection is shut down);
//! - `wire`: query-string parsing, replies, error shapes, offset paging tokens, timestamps;
//! - `paging`: keyset paging for the Cloud cursors (stable while the data changes);
//! - `seed`: the deterministic seed data (users, projects, issues, spaces, pages), the workflow,
//!   the custom fields and the sandbox clock;
//! - `jira`: Jira Cloud (REST v3) and Data Center (REST v2) read handlers and createmeta;
//! - `jira_write` / `jira_fields`: Jira writes and their field validation;
//! - `confluence`: Confluence Cloud (v1 CQL search, v2 pages/spaces) and Data Center handlers;
//! - `confluence_write`: page create/update for v2, v1 and Data Center;
//! - `query`: the JQL and CQL tokenizer, parser and evaluator;
//! - `oauth`: the OAuth 3LO endpoints, token families and the gateway's bearer/scope check;
//! - `upstream`: the imitation of Atlassian's hosted MCP server (`/v1/mcp`) and its
//!   authorization server (`/auth/…`, discovery under `/.well-known/…`).
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
//! # Upstream MCP server (Atlassian's hosted "Rovo" MCP server, for the bridge's upstream mode)
//!
//! Its own authorization server and tokens: they are not the 3LO ones above, and neither
//! kind works on the other's endpoints. Latency and fault rules apply as to the site, and its
//! requests are logged. With `<base>` = `http://127.0.0.1:<port>`:
//! - `/v1/mcp` ([`Sandbox::upstream_url`]): Streamable HTTP (rmcp's server transport, with
//!   sessions); every request needs `Authorization: Bearer <access token of this server>`.
//!   Without one: 401 `WWW-Authenticate: Bearer resource_metadata="<base>/.well-known/oauth-protected-resource/v1/mcp"`;
//!   unknown, expired or revoked: the same plus `, error="invalid_token", error_description=…`;
//! - `GET /.well-known/oauth-protected-resource/v1/mcp` (RFC 9728): `resource` `<base>/v1/mcp`,
//!   `authorization_servers` `["<base>/auth/tenant-1"]`, `scopes_supported` (`read:jira-work`,
//!   `write:jira-work`, `read:confluence-content.all`, `offline_access`),
//!   `bearer_methods_supported` `["header"]`;
//! - `GET /.well-known/oauth-authorization-server/auth/tenant-1` (RFC 8414): issuer
//!   `<base>/auth/tenant-1`, `authorization_endpoint` `<base>/auth/authorize`, `token_endpoint`
//!   `<base>/auth/oauth/token`, `registration_endpoint` `<base>/auth/dcr/register`,
//!   `revocation_endpoint` `<base>/auth/oauth/revoke`, S256 only, auth methods `none` and
//!   `client_secret_post`, `authorization_response_iss_parameter_supported: true`. The root
//!   documents (`/.well-known/oauth-protected-resource`, `…/oauth-authorization-server`,
//!   `…/openid-configuration`) answer 404, as Atlassian's do: discovery must be path-aware;
//! - `POST /auth/dcr/register` (RFC 7591, JSON): `redirect_uris` must be exact loopback
//!   `http://127.0.0.1|localhost:<port>/<path>` on an allowed host (else 400
//!   `invalid_redirect_uri`); `token_endpoint_auth_method` `none`, `client_secret_post` or
//!   `client_secret_basic`; grant types `authorization_code` and/or `refresh_token` → 201 with
//!   `client_id` and, like Atlassian, a `client_secret` even for `none`, echoing the metadata;
//! - `GET /auth/authorize`: an unknown `client_id` or a `redirect_uri` not registered exactly →
//!   400 HTML page; otherwise errors redirect (`unsupported_response_type`, `invalid_request`
//!   for a missing `state` or PKCE S256, `invalid_target` for a `resource` other than
//!   `<base>/v1/mcp`); auto-consent → 302 `redirect_uri?code=…&state=…&iss=<base>/auth/tenant-1`
//!   (codes are single-use and live 10 minutes; `scope` limits the grant to the supported
//!   scopes named, all of them when absent);
//! - `POST /auth/oauth/token` (form; client by `client_id`, `client_secret` when sent must
//!   match, unknown client 401 `invalid_client`): `authorization_code` (PKCE verifier, the
//!   code's client and `redirect_uri`, `resource` = `<base>/v1/mcp`) and `refresh_token`
//!   (rotating; a rotated-away refresh token revokes the whole family, 400 `invalid_grant`) →
//!   `{access_token, refresh_token, token_type: "Bearer", expires_in: 3300, scope}`;
//! - `POST /auth/oauth/revoke` (RFC 7009, form `token`): an access token alone, a refresh
//!   token with its family; always 200;
//! - tools (text block with the JSON and `structuredContent`; a missing issue or page, bad JQL
//!   or another `cloudId` than [`SANDBOX_CLOUD_ID`] is `isError: true`): `atlassianUserInfo {}`,
//!   `getJiraIssue {cloudId, issueIdOrKey}` (the REST issue JSON: `key`, `fields.summary`,
//!   `fields.status.name`, `fields.project.key` …), `searchJiraIssuesUsingJql {cloudId, jql,
//!   maxResults?}` → `{issues, isLast, total}` (two `notifications/progress` first when the
//!   call has a `progressToken`), `createJiraIssue {cloudId, projectKey, issueTypeName,
//!   summary, description?}` → `{id, key, self}` (a real issue, validated like REST),
//!   `getConfluencePage {cloudId, pageId}` → `{id, title, spaceId, spaceKey, body (storage),
//!   …}`; all `readOnlyHint: true` but `createJiraIssue` (`false`). The `extra_tool` switch adds
//!   `getJiraIssueRemoteLinks {cloudId, issueIdOrKey}` (read-only) and sends
//!   `notifications/tools/list_changed` to every open session (heard on its GET stream);
//!   `tool_delay_ms` holds each call, and `notifications/cancelled` stops a held call.
//!
//! From Rust: [`Sandbox::upstream_url`], [`Sandbox::upstream_issuer`] and
//! [`Sandbox::upstream`] ([`UpstreamSwitches`]: `set_expires_in`, `set_consent`,
//! `set_wrong_iss`, `set_callback_hosts`, `forget_clients`, `set_extra_tool`,
//! `set_tool_delay`, `revoke_all`, `mint`, `counters`, `settings`).
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
//! 10:00Z when the sandbox starts, then running in real time. Each write (created issue, edit,
//! comment, transition, page version, touch, delete) records the clock, and at least one
//! millisecond after the previous write, so every change is strictly later than everything
//! before it, new things sort after the seed and `created >= -90m` finds them, run after run.
//! JQL and CQL date literals (`"yyyy-MM-dd HH:mm"`, `"yyyy-MM-dd"`, `yyyy/MM/dd`) are UTC and
//! compared with the full timestamp (`updated >= "2026-11-20 10:00"` finds 10:00:00.001).
//!
//! # Paging while the data changes
//!
//! Jira Cloud's `nextPageToken`, the Cloud v1 CQL search `cursor` and the v2 list `cursor`
//! resume after the sort position of the last item returned (every order ends with a unique
//! id), so paging through results that change in between skips nothing: a deleted item is just
//! gone, an item changed after it was returned may come again at its new position. Data Center
//! `startAt` / `start` are offsets, as at Atlassian.
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
//! Jira `DELETE /issue/{key}` → 204 (400 when it has sub-tasks and `deleteSubtasks` is not
//! `true`, which deletes them too).
//!
//! Confluence: Cloud v2 `POST /wiki/api/v2/pages` (200 PageSingle, version 1, parent defaults
//! to the space homepage), `PUT /wiki/api/v2/pages/{id}` (version must be current + 1, else
//! 409) and `DELETE /wiki/api/v2/pages/{id}` (204; the page is gone rather than trashed, its
//! children move up, a homepage is refused with 400); v1 / Data Center
//! `POST /rest/api/content` and `PUT /rest/api/content/{id}` (200 Content, stale version 409)
//! and `GET /rest/api/content?spaceKey=&title=`. Titles are unique per space,
//! case-insensitively (400). Only storage-format bodies can be written.
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
//! - `GET /__sandbox/state` `{"issues":{"ENG":64,…},"pages":{"ENG":8,…},"now":"…","reachable":true}`
//! - `POST /__sandbox/latency` `{"ms":50}`
//! - `GET /__sandbox/requests` the request log (each with `at_ms`, its arrival after the
//!   sandbox started); `DELETE /__sandbox/requests` empties it
//! - `GET /__sandbox/info` base URLs, credentials, the cloud id, the OAuth client/endpoints
//!   and the upstream MCP URLs (`upstream.mcpUrl`, `upstream.issuer`)
//! - `GET /__sandbox/oauth` OAuth counters and settings
//! - `POST /__sandbox/oauth` `{"expires_in":1,"grace_secs":0,"consent":true,"no_sites":false,"extra_sites":[{"id":"…","url":"…","name":"…"}]}`
//! - `POST /__sandbox/oauth/revoke-all` revokes every token family
//! - `GET /__sandbox/upstream` upstream MCP counters and settings: `registrations`,
//!   `authorizations`, `code_exchanges`, `refreshes`, `families_revoked`, `revocations`,
//!   `cancelled`, `clients` (registered now), `sessions`, `tool_calls` `{name: count}`, `calls`
//!   `[{name, arguments}]` in order, and the switches below
//! - `POST /__sandbox/upstream` `{"expires_in":3300,"consent":true,"wrong_iss":false,"callback_hosts":["127.0.0.1","localhost"],"forget_clients":true,"extra_tool":false,"tool_delay_ms":0,"revoke_all":true}`
//!   (any of them; `wrong_iss` makes `iss=https://evil.example`, `forget_clients` drops every
//!   registration so refreshes get `invalid_client`) → the same as GET
//! - `POST /__sandbox/unreachable` `{"secs":30}`: answers 200 (`Connection: close`), then the
//!   site is unreachable like a dead host (the port refuses connections, open keep-alive
//!   connections are closed, the upstream MCP server's included) and comes back on the same
//!   port after that many seconds; `0`
//!   brings it back now ([`Sandbox::set_reachable`] from Rust)
//! - `POST /__sandbox/generate` `{"project":"ENG","issues":5000,"space":"ENG","pages":2000}`
//!   adds generated issues and pages (deterministic, realistic text; at most 200000 issues and
//!   50000 pages a call) → `{"issues","pages","firstKey","lastKey","firstPageId","lastPageId"}`
//! - `POST /__sandbox/touch` `{"issue":"ENG-1","summary":"optional new summary"}` (its
//!   `updated` becomes the sandbox's now) or `{"page":"100101","title":"optional"}` (a new
//!   version now) → `{"updated"}` / `{"lastModified"}`; 404 for an unknown one
//! - `POST /__sandbox/delete` `{"issue":"ENG-1"}` (with its sub-tasks) or `{"page":"100101"}`
//!   (children move up; homepages are kept, 400) → `{"deleted":[…]}`; 404 for an unknown one
//!
//! A request target (path and query) longer than 8 KiB is answered 414 with an HTML page,
//! before authentication and faults, as the proxies in front of real sites do.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

mod changes;
mod confluence;
mod confluence_write;
mod control;
mod faults;
mod generate;
mod jira;
mod jira_fields;
mod jira_write;
mod net;
mod oauth;
#[cfg(test)]
mod oauth_tests;
mod paging;
mod query;
#[cfg(test)]
mod reach_tests;
mod routing;
mod seed;
#[cfg(test)]
mod sync_conf_tests;
#[cfg(test)]
mod sync_tests;
#[cfg(test)]
mod tests;
mod upstream;
mod vocab;
mod wire;
#[cfg(test)]
mod write_tests;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use serde_json::json;

use self::wire::{Family, Params, Reply};

use self::control::control_error;
use self::faults::{FaultAction, apply_fault};
pub use self::faults::{FaultOptions, FaultSpec, Faults};
pub use self::generate::{Generated, MAX_ISSUES, MAX_PAGES};
pub use self::oauth::{
    MintedTokens, OAuthCounters, OAuthSwitches, SANDBOX_ACCOUNT_ID, SANDBOX_OAUTH_CLIENT_ID,
    SANDBOX_OAUTH_CLIENT_SECRET,
};
use self::routing::{Target, authenticate, dispatch, dispatch_write, route};
pub use self::upstream::{
    UPSTREAM_ISSUER_PATH, UPSTREAM_MCP_PATH, UPSTREAM_SCOPES, UpstreamCall, UpstreamCounters,
    UpstreamGrant, UpstreamSettings, UpstreamSwitches,
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
    /// The imitation of Atlassian's hosted MCP server and its authorization server.
    upstream: upstream::Upstream,
    log: Mutex<VecDeque<TimedRequest>>,
    addr: SocketAddr,
    started: std::time::Instant,
    /// The port and its reachability switch.
    gate: Arc<net::Gate>,
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
        json!({
            "issues": issues,
            "pages": pages,
            "now": wire::jira_time(store.now()),
            "reachable": self.gate.is_reachable(),
        })
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

    /// The upstream MCP endpoint (`http://127.0.0.1:<port>/v1/mcp`), the imitation of
    /// Atlassian's hosted MCP server for the bridge's upstream mode.
    pub fn upstream_url(&self) -> String {
        format!("{}{UPSTREAM_MCP_PATH}", self.base_url())
    }

    /// The upstream authorization server's issuer (`http://127.0.0.1:<port>/auth/tenant-1`).
    pub fn upstream_issuer(&self) -> String {
        format!("{}{UPSTREAM_ISSUER_PATH}", self.base_url())
    }

    /// Upstream MCP server switches (token lifetime, consent, `iss`, callback hosts, forgotten
    /// clients, the extra tool, tool delay) and counters (registrations, exchanges, refreshes,
    /// revocations, tool calls).
    pub fn upstream(&self) -> &UpstreamSwitches {
        &self.shared.upstream.switches
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

    /// Stops serving: the listener closes, in-flight requests finish.
    pub async fn shutdown(mut self) {
        self.shared.gate.close();
        self.shared.upstream.stop();
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
        self.shared.gate.close();
        self.shared.upstream.stop();
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Starts the sandbox on 127.0.0.1.
pub async fn start(opts: SandboxOptions) -> std::io::Result<Sandbox> {
    let gate = net::Gate::bind(opts.port)?;
    let addr = gate.addr();
    let listener = gate.listener();
    let faults = Faults::default();
    faults.set_latency(opts.latency);
    let shared = Arc::new(Shared {
        store: RwLock::new(seed::Store::build()),
        faults: faults.clone(),
        oauth: OAuthSwitches::default(),
        upstream: upstream::Upstream::default(),
        log: Mutex::new(VecDeque::new()),
        addr,
        started: std::time::Instant::now(),
        gate,
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
        let conn = parts
            .extensions
            .get::<axum::extract::ConnectInfo<net::ConnHandle>>()
            .map(|c| &c.0);
        return control::control(&shared, &method, &path, &bytes, conn);
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

    if upstream::is_upstream_path(&path) {
        return upstream::serve(&shared, Request::from_parts(parts, body), arrived).await;
    }

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
