//! The fake MCP server + authorization server the upstream sign-in tests run against: it
//! registers clients, redirects like a consenting browser would (or declines, or names a wrong
//! issuer, or forgets clients), and checks PKCE, `resource` and rotation at its token endpoint;
//! and the fake person, who opens every authorize link the sign-in prints.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use serde_json::json;
use sha2::Digest as _;
use url::Url;

use crate::auth::discovery::tests::{Mock, Reply, Seen, upstream_fixture};
use crate::auth::login::{LoginError, LoginOptions, LoginUi};
use crate::auth::store::CredentialStore;
use crate::auth::upstream_login::{LoggedInUpstream, login_upstream};
use crate::config::UpstreamSettings;

#[derive(Default, Clone, Copy, PartialEq)]
pub(super) enum Iss {
    #[default]
    Right,
    Wrong,
    Missing,
}

/// The fake authorization server's memory.
#[derive(Default)]
pub(super) struct AsState {
    /// client id → registered redirect URI.
    pub(super) clients: HashMap<String, String>,
    pub(super) registered: u32,
    pub(super) issued: u32,
    /// code → (client id, PKCE challenge, redirect URI).
    pub(super) codes: HashMap<String, (String, String, String)>,
    pub(super) refresh: HashSet<String>,
    pub(super) deny: bool,
    pub(super) iss: Iss,
    /// Forget every client at the next this many authorize requests: once the code is issued
    /// (the exchange then meets `invalid_client`), or, with `refuse_by_redirect`, before the
    /// client is looked up.
    pub(super) forget_at_authorize: u32,
    /// Answer an unknown client by redirecting back with `error=unauthorized_client` (as some
    /// servers do) instead of a 400 page.
    pub(super) refuse_by_redirect: bool,
}

pub(super) struct Fake {
    pub(super) mock: Mock,
    pub(super) state: Arc<Mutex<AsState>>,
    pub(super) resource: String,
}

impl Fake {
    pub(super) async fn start(iss_supported: bool) -> Fake {
        let mock = Mock::start().await;
        upstream_fixture(&mock, iss_supported);
        let state = Arc::new(Mutex::new(AsState::default()));
        let issuer = format!("{}/tenant1", mock.base);
        let resource = format!("{}/v1/mcp", mock.base);
        let s = state.clone();
        mock.route("POST", "/dcr/register", move |seen| {
            let mut s = s.lock().unwrap();
            s.registered += 1;
            let id = format!("client-{}", s.registered);
            let redirect = seen.json()["redirect_uris"][0]
                .as_str()
                .unwrap()
                .to_string();
            s.clients.insert(id.clone(), redirect);
            // Like Atlassian: `none`, yet a secret.
            Reply::json(
                201,
                json!({"client_id": id, "client_secret": format!("secret-{}", s.registered),
                       "token_endpoint_auth_method": "none"}),
            )
        });
        let s = state.clone();
        mock.route("GET", "/authorize", move |seen| {
            let q = &seen.query;
            let mut s = s.lock().unwrap();
            let redirect = q["redirect_uri"].clone();
            let mut target = Url::parse(&redirect).unwrap();
            let forget = s.forget_at_authorize > 0;
            if forget {
                s.forget_at_authorize -= 1;
                if s.refuse_by_redirect {
                    s.clients.clear();
                }
            }
            if s.clients.get(&q["client_id"]) != Some(&redirect) {
                if !s.refuse_by_redirect {
                    return Reply::json(400, json!({"error": "unauthorized_client"}));
                }
                target
                    .query_pairs_mut()
                    .append_pair("error", "unauthorized_client")
                    .append_pair("error_description", "Unknown client")
                    .append_pair("state", &q["state"]);
                return Reply::status(302).header("location", target.as_str());
            }
            if s.deny {
                target
                    .query_pairs_mut()
                    .append_pair("error", "access_denied")
                    .append_pair("error_description", "The user declined")
                    .append_pair("state", &q["state"]);
            } else {
                let code = format!("code-{}", uuid::Uuid::new_v4().simple());
                let entry = (
                    q["client_id"].clone(),
                    q["code_challenge"].clone(),
                    redirect,
                );
                s.codes.insert(code.clone(), entry);
                let iss = match s.iss {
                    Iss::Right => Some(issuer.as_str()),
                    Iss::Wrong => Some("https://evil.example/tenant1"),
                    Iss::Missing => None,
                };
                let mut pairs = target.query_pairs_mut();
                pairs
                    .append_pair("code", &code)
                    .append_pair("state", &q["state"]);
                if let Some(iss) = iss {
                    pairs.append_pair("iss", iss);
                }
                drop(pairs);
                if forget {
                    s.clients.clear();
                }
            }
            Reply::status(302).header("location", target.as_str())
        });
        let s = state.clone();
        let expected_resource = resource.clone();
        mock.route("POST", "/oauth/token", move |seen| {
            let f = seen.form();
            let mut s = s.lock().unwrap();
            let error = |status, code: &str| Reply::json(status, json!({"error": code}));
            let client = f.get("client_id").cloned().unwrap_or_default();
            if !s.clients.contains_key(&client) {
                return error(401, "invalid_client");
            }
            if f.get("resource") != Some(&expected_resource) {
                return error(400, "invalid_target");
            }
            match f["grant_type"].as_str() {
                "authorization_code" => {
                    let Some((owner, challenge, redirect)) = s.codes.remove(&f["code"]) else {
                        return error(400, "invalid_grant");
                    };
                    if owner != client
                        || challenge_of(&f["code_verifier"]) != challenge
                        || redirect != f["redirect_uri"]
                    {
                        return error(400, "invalid_grant");
                    }
                }
                "refresh_token" => {
                    if !s.refresh.remove(&f["refresh_token"]) {
                        return error(400, "invalid_grant");
                    }
                }
                _ => return error(400, "unsupported_grant_type"),
            }
            s.issued += 1;
            let refresh = format!("refresh-{}", uuid::Uuid::new_v4().simple());
            s.refresh.insert(refresh.clone());
            Reply::json(
                200,
                json!({"access_token": format!("access-{}", s.issued), "token_type": "Bearer",
                       "expires_in": 3600, "refresh_token": refresh,
                       "scope": "read:jira-work offline_access"}),
            )
        });
        mock.route("POST", "/oauth/revoke", |_| Reply::status(200));
        Fake {
            mock,
            state,
            resource,
        }
    }

    pub(super) fn settings(&self) -> UpstreamSettings {
        UpstreamSettings::for_url(self.mock.url("/v1/mcp"))
    }

    pub(super) fn seen(&self, path: &str) -> Vec<Seen> {
        self.mock
            .seen()
            .into_iter()
            .filter(|s| s.path == path)
            .collect()
    }
}

pub(super) fn challenge_of(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier))
}

/// Plays the person: follows every authorize URL the sign-in prints, and opens the callback.
struct Browser {
    urls: tokio::sync::mpsc::UnboundedSender<String>,
    messages: Arc<Mutex<Vec<String>>>,
}

impl LoginUi for Browser {
    fn authorize_url(&self, url: &str, opened_browser: bool) {
        assert!(!opened_browser);
        self.urls.send(url.to_string()).unwrap();
    }
    fn message(&self, text: &str) {
        self.messages.lock().unwrap().push(text.to_string());
    }
}

pub(super) struct Outcome {
    pub(super) result: Result<LoggedInUpstream, LoginError>,
    /// The callback page the browser saw last, when the flow got that far.
    pub(super) page: Option<String>,
    /// Every callback page, one per authorize link followed.
    pub(super) pages: Vec<String>,
    pub(super) messages: Vec<String>,
}

pub(super) async fn sign_in(fake: &Fake, store: &CredentialStore) -> Outcome {
    sign_in_with(&fake.settings(), store).await
}

pub(super) async fn sign_in_with(settings: &UpstreamSettings, store: &CredentialStore) -> Outcome {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let messages = Arc::new(Mutex::new(Vec::new()));
    let ui = Browser {
        urls: tx,
        messages: messages.clone(),
    };
    let browser = tokio::spawn(async move {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let mut pages = Vec::new();
        while let Some(url) = rx.recv().await {
            let r = http.get(url).send().await.unwrap();
            assert_eq!(r.status(), 302, "{}", r.text().await.unwrap());
            let location = r.headers()["location"].to_str().unwrap().to_string();
            let page = http.get(location).send().await.unwrap();
            pages.push(page.text().await.unwrap());
        }
        pages
    });
    let options = LoginOptions {
        open_browser: false,
        timeout: Duration::from_secs(30),
    };
    let result = login_upstream(settings, store, &options, &ui).await;
    drop(ui);
    let pages = browser.await.unwrap();
    let messages = messages.lock().unwrap().clone();
    Outcome {
        result,
        page: pages.last().cloned(),
        pages,
        messages,
    }
}

pub(super) fn failure(o: Outcome) -> String {
    match o.result {
        Err(LoginError::Failed(m)) => m,
        other => panic!("expected a failure, got {other:?}"),
    }
}
