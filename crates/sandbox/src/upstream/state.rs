//! The upstream authorization server's records (registered clients, authorization codes,
//! token families) and what tests read and flip through [`UpstreamSwitches`]: the settings,
//! the counters, the tool calls seen, and the connected MCP sessions that hear
//! `notifications/tools/list_changed`.
//!
//! Everything sits behind one mutex that is never held across an `await`, so counters are
//! exact under concurrency. Tokens are random and opaque and are never logged.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use rand::RngCore as _;
use rmcp::{Peer, RoleServer};
use serde_json::{Value, json};

use super::super::lock;
use super::super::oauth::MAX_SECS;

/// Access-token lifetime of Atlassian's MCP authorization server.
const DEFAULT_EXPIRES_IN: u64 = 3300;
/// How long an authorization code may be exchanged.
pub(super) const CODE_LIFETIME: Duration = Duration::from_secs(600);
/// Most tool calls [`UpstreamCounters::calls`] keeps (oldest dropped first).
const MAX_CALLS: usize = 10_000;
/// The callback hosts Atlassian allows by default.
const DEFAULT_CALLBACK_HOSTS: [&str; 2] = ["127.0.0.1", "localhost"];

/// One `tools/call` the upstream MCP server received, for tests that assert what the bridge
/// forwarded (name and arguments exactly as sent).
#[derive(Debug, Clone, PartialEq)]
pub struct UpstreamCall {
    /// The tool name as called (unknown names included).
    pub name: String,
    /// The `arguments` object (`{}` when absent).
    pub arguments: Value,
}

/// What the upstream MCP server and its authorization server did, for tests that assert
/// "registered once", "exactly one refresh", "the call reached the upstream".
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UpstreamCounters {
    /// Successful Dynamic Client Registrations.
    pub registrations: u64,
    /// Authorization codes handed out by `/auth/authorize` (refusals issue none).
    pub authorizations: u64,
    /// Successful `authorization_code` exchanges (each starts a token family).
    pub code_exchanges: u64,
    /// Successful `refresh_token` grants.
    pub refreshes: u64,
    /// Families revoked: by refresh-token reuse, revocation of a refresh token, `revoke_all`.
    pub families_revoked: u64,
    /// Requests to the revocation endpoint that named a token.
    pub revocations: u64,
    /// Tool calls stopped by `notifications/cancelled` before they answered.
    pub cancelled: u64,
    /// Clients registered now (after `forget_clients`, 0).
    pub clients: u64,
    /// MCP sessions that completed initialization and are still open.
    pub sessions: u64,
    /// Tool calls per tool name.
    pub tool_calls: BTreeMap<String, u64>,
    /// Every tool call in arrival order.
    pub calls: Vec<UpstreamCall>,
}

/// The upstream switches' current values, for the control endpoint and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamSettings {
    /// `expires_in` of access tokens issued from now on.
    pub expires_in: u64,
    /// `false`: `/auth/authorize` answers `error=access_denied`.
    pub consent: bool,
    /// `true`: the authorization response carries `iss=https://evil.example`.
    pub wrong_iss: bool,
    /// Hosts a registered redirect URI may use.
    pub callback_hosts: Vec<String>,
    /// Whether `getJiraIssueRemoteLinks` is listed.
    pub extra_tool: bool,
    /// How long each tool call is held before answering (cancellable).
    pub tool_delay: Duration,
}

/// A grant made by [`UpstreamSwitches::mint`], skipping registration and the browser.
#[derive(Clone, PartialEq, Eq)]
pub struct UpstreamGrant {
    /// The registered client the tokens belong to (public client, auth method `none`).
    pub client_id: String,
    /// The redirect URI the client was registered with.
    pub redirect_uri: String,
    /// The bearer access token for `/v1/mcp`.
    pub access_token: String,
    /// The (rotating) refresh token.
    pub refresh_token: String,
    /// Seconds until the access token expires.
    pub expires_in: u64,
}

impl std::fmt::Debug for UpstreamGrant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamGrant")
            .field("client_id", &self.client_id)
            .field("redirect_uri", &self.redirect_uri)
            .field("access_token", &"<redacted>")
            .field("refresh_token", &"<redacted>")
            .field("expires_in", &self.expires_in)
            .finish()
    }
}

/// A client registered by DCR.
pub(super) struct Client {
    pub secret: String,
    pub auth_method: String,
    pub redirect_uris: Vec<String>,
    pub grant_types: Vec<String>,
}

/// An authorization code waiting for its exchange.
pub(super) struct Code {
    pub client_id: String,
    pub redirect_uri: String,
    pub challenge: String,
    pub scopes: Vec<String>,
    pub issued: Instant,
}

/// One grant: every access and refresh token issued from one authorization code.
struct Family {
    client_id: String,
    scopes: Vec<String>,
    access: Vec<String>,
    refresh: Vec<String>,
}

/// A refresh token's family and whether it was already rotated away.
pub(super) struct RefreshRec {
    pub family: u64,
    pub rotated: bool,
}

/// The records and settings behind [`UpstreamSwitches`].
pub(super) struct State {
    pub expires_in: u64,
    pub consent: bool,
    pub wrong_iss: bool,
    pub callback_hosts: Vec<String>,
    pub extra_tool: bool,
    pub tool_delay: Duration,
    pub clients: HashMap<String, Client>,
    pub codes: HashMap<String, Code>,
    families: HashMap<u64, Family>,
    /// Access token → (family, expiry).
    access: HashMap<String, (u64, Instant)>,
    pub refresh: HashMap<String, RefreshRec>,
    next_family: u64,
    pub counters: UpstreamCounters,
    peers: Vec<Peer<RoleServer>>,
}

impl Default for State {
    fn default() -> Self {
        Self {
            expires_in: DEFAULT_EXPIRES_IN,
            consent: true,
            wrong_iss: false,
            callback_hosts: DEFAULT_CALLBACK_HOSTS.map(str::to_string).to_vec(),
            extra_tool: false,
            tool_delay: Duration::ZERO,
            clients: HashMap::new(),
            codes: HashMap::new(),
            families: HashMap::new(),
            access: HashMap::new(),
            refresh: HashMap::new(),
            next_family: 1,
            counters: UpstreamCounters::default(),
            peers: Vec::new(),
        }
    }
}

/// A random URL-safe string of 32 bytes.
pub(super) fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

impl State {
    /// Registers a client and returns its id and secret.
    pub fn register(&mut self, client: Client) -> String {
        let id = format!("sbx-{}", &random_token()[..22]);
        self.clients.insert(id.clone(), client);
        id
    }

    /// Starts a token family for `client_id` and issues its first pair.
    pub fn start_family(&mut self, client_id: &str, scopes: Vec<String>, now: Instant) -> Value {
        let id = self.next_family;
        self.next_family += 1;
        self.families.insert(
            id,
            Family {
                client_id: client_id.to_string(),
                scopes,
                access: Vec::new(),
                refresh: Vec::new(),
            },
        );
        self.issue(id, now)
    }

    /// Issues an access and a refresh token in `family` (the token answer's body).
    pub fn issue(&mut self, family: u64, now: Instant) -> Value {
        let expires_in = self.expires_in;
        let Some(fam) = self.families.get_mut(&family) else {
            return Value::Null;
        };
        // Shaped like the Cloudflare provider's `userId:grantId:secret`.
        let access = format!("sandbox-user:{family}:{}", random_token());
        let refresh = format!("sandbox-user:{family}:{}", random_token());
        let expires = now
            .checked_add(Duration::from_secs(expires_in))
            .unwrap_or(now);
        self.access.insert(access.clone(), (family, expires));
        self.refresh.insert(
            refresh.clone(),
            RefreshRec {
                family,
                rotated: false,
            },
        );
        fam.access.push(access.clone());
        fam.refresh.push(refresh.clone());
        json!({
            "access_token": access,
            "refresh_token": refresh,
            "token_type": "Bearer",
            "expires_in": expires_in,
            "scope": fam.scopes.join(" "),
        })
    }

    /// The client a family belongs to.
    pub fn family_client(&self, family: u64) -> Option<&str> {
        self.families.get(&family).map(|f| f.client_id.as_str())
    }

    /// The scopes a family was granted.
    pub fn family_scopes(&self, family: u64) -> &[String] {
        self.families
            .get(&family)
            .map_or(&[], |f| f.scopes.as_slice())
    }

    /// Forgets every token of a family; any later use of them is "unknown".
    pub fn revoke_family(&mut self, family: u64) -> bool {
        let Some(fam) = self.families.remove(&family) else {
            return false;
        };
        for t in &fam.access {
            self.access.remove(t);
        }
        for t in &fam.refresh {
            self.refresh.remove(t);
        }
        self.counters.families_revoked += 1;
        true
    }

    /// Forgets one access token.
    pub fn revoke_access(&mut self, token: &str) -> bool {
        self.access.remove(token).is_some()
    }

    /// Whether `token` is a live access token.
    pub fn bearer_ok(&self, token: &str, now: Instant) -> bool {
        self.access.get(token).is_some_and(|(_, exp)| now < *exp)
    }

    /// The connected sessions, without the closed ones.
    fn live_peers(&mut self) -> Vec<Peer<RoleServer>> {
        self.peers.retain(|p| !p.is_transport_closed());
        self.peers.clone()
    }
}

/// Switches and counters of the sandbox's upstream MCP server and its authorization server
/// (the imitation of Atlassian's hosted "Rovo" MCP server), from Rust as
/// [`super::super::Sandbox::upstream`] and over HTTP as `/__sandbox/upstream`.
///
/// Cloning shares the state: a clone handed to another task drives the same sandbox.
#[derive(Clone, Default)]
pub struct UpstreamSwitches {
    pub(super) state: Arc<Mutex<State>>,
}

impl std::fmt::Debug for UpstreamSwitches {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamSwitches")
            .field("settings", &self.settings())
            .finish_non_exhaustive()
    }
}

impl UpstreamSwitches {
    /// Sets `expires_in` (seconds) of access tokens issued from now on (default 3300, as
    /// Atlassian's); 0 issues tokens that are already expired. Capped at ten years.
    pub fn set_expires_in(&self, secs: u64) {
        lock(&self.state).expires_in = secs.min(MAX_SECS);
    }

    /// `false` makes `/auth/authorize` answer as if the person clicked "Deny"
    /// (`error=access_denied`), for the declined-consent path.
    pub fn set_consent(&self, consent: bool) {
        lock(&self.state).consent = consent;
    }

    /// `true` makes the authorization response carry `iss=https://evil.example` instead of
    /// the issuer (RFC 9207 mix-up), which a careful client refuses.
    pub fn set_wrong_iss(&self, wrong: bool) {
        lock(&self.state).wrong_iss = wrong;
    }

    /// Limits the hosts a registered redirect URI may use (default `127.0.0.1` and
    /// `localhost`), like an organisation that allows only one; applies to registrations from
    /// now on.
    pub fn set_callback_hosts<I, S>(&self, hosts: I)
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        lock(&self.state).callback_hosts = hosts.into_iter().map(Into::into).collect();
    }

    /// Forgets every registered client (and its pending codes), as a server that lost its
    /// registrations; their tokens keep working at `/v1/mcp`, but refreshing them fails with
    /// `invalid_client`. Returns how many were forgotten.
    pub fn forget_clients(&self) -> u64 {
        let mut st = lock(&self.state);
        st.codes.clear();
        let n = st.clients.len() as u64;
        st.clients.clear();
        n
    }

    /// Adds (`true`) or removes the extra read-only tool `getJiraIssueRemoteLinks`; when
    /// that changes the list, every connected session is sent
    /// `notifications/tools/list_changed`.
    pub fn set_extra_tool(&self, on: bool) {
        let peers = {
            let mut st = lock(&self.state);
            if st.extra_tool == on {
                return;
            }
            st.extra_tool = on;
            st.live_peers()
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::debug!("sandbox upstream: no runtime to send tools/list_changed");
            return;
        };
        for peer in peers {
            runtime.spawn(async move {
                if let Err(e) = peer.notify_tool_list_changed().await {
                    tracing::debug!(error = %e, "sandbox upstream: list_changed not sent");
                }
            });
        }
    }

    /// Holds every tool call this long before it answers (a search sends its two progress
    /// notifications within it); `notifications/cancelled` ends the wait. Capped at ten
    /// minutes.
    pub fn set_tool_delay(&self, delay: Duration) {
        lock(&self.state).tool_delay = delay.min(Duration::from_secs(600));
    }

    /// Revokes every token family (like an admin removing the app); returns how many.
    pub fn revoke_all(&self) -> u64 {
        let mut st = lock(&self.state);
        let ids: Vec<u64> = st.families.keys().copied().collect();
        ids.into_iter().filter(|id| st.revoke_family(*id)).count() as u64
    }

    /// Registers a public client with `redirect_uri` and grants it tokens directly, for tests
    /// that need a signed-in upstream without the browser flow. Counted neither as a
    /// registration nor as an exchange.
    pub fn mint(&self, redirect_uri: &str) -> UpstreamGrant {
        let mut st = lock(&self.state);
        let client_id = st.register(Client {
            secret: random_token(),
            auth_method: "none".into(),
            redirect_uris: vec![redirect_uri.to_string()],
            grant_types: vec!["authorization_code".into(), "refresh_token".into()],
        });
        let scopes = super::SCOPES.map(str::to_string).to_vec();
        let body = st.start_family(&client_id, scopes, Instant::now());
        let text = |k: &str| body[k].as_str().unwrap_or_default().to_string();
        UpstreamGrant {
            access_token: text("access_token"),
            refresh_token: text("refresh_token"),
            expires_in: body["expires_in"].as_u64().unwrap_or_default(),
            client_id,
            redirect_uri: redirect_uri.to_string(),
        }
    }

    /// The counters and the calls seen, read atomically.
    pub fn counters(&self) -> UpstreamCounters {
        let mut st = lock(&self.state);
        let sessions = st.live_peers().len() as u64;
        let mut c = st.counters.clone();
        c.clients = st.clients.len() as u64;
        c.sessions = sessions;
        c
    }

    /// The current settings.
    pub fn settings(&self) -> UpstreamSettings {
        let st = lock(&self.state);
        UpstreamSettings {
            expires_in: st.expires_in,
            consent: st.consent,
            wrong_iss: st.wrong_iss,
            callback_hosts: st.callback_hosts.clone(),
            extra_tool: st.extra_tool,
            tool_delay: st.tool_delay,
        }
    }

    /// Remembers an initialized session so list changes reach it.
    pub(super) fn add_peer(&self, peer: Peer<RoleServer>) {
        let mut st = lock(&self.state);
        st.peers.retain(|p| !p.is_transport_closed());
        st.peers.push(peer);
    }

    /// Records one tool call.
    pub(super) fn record_call(&self, name: &str, arguments: Value) {
        let mut st = lock(&self.state);
        *st.counters.tool_calls.entry(name.to_string()).or_default() += 1;
        if st.counters.calls.len() >= MAX_CALLS {
            st.counters.calls.remove(0);
        }
        st.counters.calls.push(UpstreamCall {
            name: name.to_string(),
            arguments,
        });
    }

    /// Counts a tool call that stopped on cancellation.
    pub(super) fn record_cancelled(&self) {
        lock(&self.state).counters.cancelled += 1;
    }
}
