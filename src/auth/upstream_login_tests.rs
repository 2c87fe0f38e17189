//! The upstream sign-in against a fake MCP server and authorization server on 127.0.0.1,
//! with the test playing the browser: discovery, registration (new, reused, forgotten), PKCE,
//! `resource`, `state`, the RFC 9207 `iss` check, refresh and revocation.

#[path = "upstream_login_fake_tests.rs"]
mod fake;

use serde_json::json;

use super::*;
use crate::auth::discovery::tests::{Reply, Seen, as_metadata};
use fake::{Fake, Iss, challenge_of, failure, sign_in, sign_in_with};

#[tokio::test]
async fn a_full_sign_in_sends_resource_and_pkce_and_stores_the_entry() {
    let fake = Fake::start(true).await;
    let dir = tempfile::tempdir().unwrap();
    let store = CredentialStore::in_dir(dir.path());
    let out = sign_in(&fake, &store).await;
    assert!(out.page.unwrap().contains("Signed in"));
    let done = out.result.unwrap();
    assert!(done.registered);
    let reg = done.entry.registration.clone().unwrap();
    let redirect = Url::parse(&reg.redirect_uri).unwrap();
    assert_eq!(
        (redirect.scheme(), redirect.host_str(), redirect.path()),
        ("http", Some("127.0.0.1"), "/callback")
    );

    let authorize = &fake.seen("/authorize")[0].query;
    assert_eq!(authorize["response_type"], "code");
    assert_eq!(authorize["client_id"], "client-1");
    assert_eq!(authorize["redirect_uri"], reg.redirect_uri);
    assert_eq!(authorize["scope"], "read:jira-work offline_access");
    assert_eq!(authorize["code_challenge_method"], "S256");
    assert_eq!(authorize["resource"], fake.resource);
    assert!(authorize["state"].len() >= 16);
    let token = fake.seen("/oauth/token")[0].form();
    assert_eq!(token["grant_type"], "authorization_code");
    assert_eq!(token["resource"], fake.resource);
    assert_eq!(token["client_id"], "client-1");
    assert_eq!(token["redirect_uri"], reg.redirect_uri);
    assert_eq!(
        challenge_of(&token["code_verifier"]),
        authorize["code_challenge"]
    );
    assert!(
        !token.contains_key("client_secret"),
        "`none` never sends the secret"
    );

    // Stored beside nothing else, with the secret the registration returned.
    let stored = store.load_upstream().unwrap().unwrap();
    assert_eq!(stored.url, fake.resource);
    let stored_reg = stored.registration.unwrap();
    assert_eq!(stored_reg.client_secret.unwrap().expose(), "secret-1");
    assert_eq!(
        (stored_reg.auth_method.as_str(), stored_reg.issuer.as_str()),
        ("none", format!("{}/tenant1", fake.mock.base).as_str())
    );
    assert!(stored_reg.iss_in_response);
    let tokens = stored.tokens.unwrap();
    assert_eq!(tokens.access_token.expose(), "access-1");
    assert!(tokens.refresh_token.is_some());
    assert_eq!(tokens.scopes, ["read:jira-work", "offline_access"]);

    let paths: Vec<String> = done
        .trace
        .upstream()
        .iter()
        .map(|u| u.path.clone())
        .collect();
    assert_eq!(
        paths,
        [
            "/v1/mcp",
            "/.well-known/oauth-protected-resource/v1/mcp",
            "/.well-known/oauth-authorization-server/tenant1",
            "/dcr/register",
            "/oauth/token",
        ]
    );
    let shown = format!("{done:?} {:?}", out.messages);
    assert!(
        !shown.contains("access-1") && !shown.contains("secret-1"),
        "{shown}"
    );
}

#[tokio::test]
async fn a_wrong_or_missing_iss_stops_before_any_token_request() {
    for mode in [Iss::Wrong, Iss::Missing] {
        let fake = Fake::start(true).await;
        fake.state.lock().unwrap().iss = mode;
        let dir = tempfile::tempdir().unwrap();
        let store = CredentialStore::in_dir(dir.path());
        let out = sign_in(&fake, &store).await;
        assert!(out.page.clone().unwrap().contains("Sign-in refused"));
        let err = failure(out);
        assert!(
            err.contains("RFC 9207") && err.contains("login --upstream"),
            "{err}"
        );
        assert!(
            fake.seen("/oauth/token").is_empty(),
            "the code was exchanged"
        );
        assert!(store.load_upstream().unwrap().unwrap().tokens.is_none());
    }
}

#[tokio::test]
async fn a_declined_consent_ends_the_flow_at_once() {
    let fake = Fake::start(false).await;
    fake.state.lock().unwrap().deny = true;
    let dir = tempfile::tempdir().unwrap();
    let out = sign_in(&fake, &CredentialStore::in_dir(dir.path())).await;
    assert!(out.page.clone().unwrap().contains("not completed"));
    let err = failure(out);
    assert!(
        err.contains("access_denied: The user declined") && err.contains("was not completed"),
        "{err}"
    );
    assert!(fake.seen("/oauth/token").is_empty());
}

#[tokio::test]
async fn a_stored_registration_is_reused_when_its_port_is_free() {
    let fake = Fake::start(true).await;
    let dir = tempfile::tempdir().unwrap();
    let store = CredentialStore::in_dir(dir.path());
    let first = sign_in(&fake, &store).await.result.unwrap();
    let second = sign_in(&fake, &store).await.result.unwrap();
    assert!(!second.registered);
    assert_eq!(fake.seen("/dcr/register").len(), 1);
    let (a, b) = (
        first.entry.registration.unwrap(),
        second.entry.registration.unwrap(),
    );
    assert_eq!(
        (a.client_id.as_str(), &a.redirect_uri),
        (b.client_id.as_str(), &b.redirect_uri)
    );
    // The probe: a refresh with a random token, answered invalid_grant by a server that knows
    // the client.
    let tokens = fake.seen("/oauth/token");
    let probe = tokens[1].form();
    assert_eq!(probe["grant_type"], "refresh_token");
    assert!(probe["refresh_token"].starts_with("probe-"));
    assert_eq!(
        (probe["client_id"].as_str(), probe["resource"].as_str()),
        ("client-1", fake.resource.as_str())
    );
    assert_eq!(
        fake.seen("/authorize")[1].query["redirect_uri"],
        a.redirect_uri
    );
    let stored = store.load_upstream().unwrap().unwrap();
    assert_eq!(stored.tokens.unwrap().access_token.expose(), "access-2");
}

#[tokio::test]
async fn a_forgotten_registration_is_redone_once_on_the_same_port() {
    let fake = Fake::start(true).await;
    let dir = tempfile::tempdir().unwrap();
    let store = CredentialStore::in_dir(dir.path());
    let first = sign_in(&fake, &store).await.result.unwrap();
    fake.state.lock().unwrap().clients.clear();
    let out = sign_in(&fake, &store).await;
    let second = out.result.unwrap();
    assert!(second.registered);
    assert_eq!(fake.seen("/dcr/register").len(), 2);
    let probes: Vec<_> = fake
        .seen("/oauth/token")
        .iter()
        .map(Seen::form)
        .filter(|f| f["grant_type"] == "refresh_token")
        .collect();
    assert_eq!(probes.len(), 1, "probed once, registered again once");
    let (a, b) = (
        first.entry.registration.unwrap(),
        second.entry.registration.unwrap(),
    );
    assert_eq!(a.redirect_uri, b.redirect_uri);
    assert_eq!(b.client_id, "client-2");
    assert!(
        out.messages.iter().any(|m| m.contains("no longer knows")),
        "{:?}",
        out.messages
    );
    assert_eq!(
        store
            .load_upstream()
            .unwrap()
            .unwrap()
            .registration
            .unwrap()
            .client_id,
        "client-2"
    );
}

#[tokio::test]
async fn a_busy_port_or_another_callback_host_means_a_new_registration() {
    let fake = Fake::start(true).await;
    let dir = tempfile::tempdir().unwrap();
    let store = CredentialStore::in_dir(dir.path());
    let first = sign_in(&fake, &store).await.result.unwrap();
    let old = Url::parse(&first.entry.registration.unwrap().redirect_uri).unwrap();
    let _held = std::net::TcpListener::bind(("127.0.0.1", old.port().unwrap())).unwrap();
    let out = sign_in(&fake, &store).await;
    assert!(
        out.messages.iter().any(|m| m.contains("not free")),
        "{:?}",
        out.messages
    );
    let second = out.result.unwrap();
    assert!(second.registered);
    let new = Url::parse(&second.entry.registration.unwrap().redirect_uri).unwrap();
    assert_ne!(new.port(), old.port());
    assert_eq!(
        fake.seen("/oauth/token").len(),
        2,
        "no probe for a registration not reused"
    );

    let mut settings = fake.settings();
    settings.callback_host = crate::config::CallbackHost::Localhost;
    let third = sign_in_with(&settings, &store).await.result.unwrap();
    assert!(third.registered);
    let uri = third.entry.registration.unwrap().redirect_uri;
    assert!(uri.starts_with("http://localhost:"), "{uri}");
    assert_eq!(fake.seen("/authorize")[2].query["redirect_uri"], uri);
}

#[tokio::test]
async fn an_unknown_client_at_the_code_exchange_is_registered_again_once_then_named() {
    let fake = Fake::start(true).await;
    fake.state.lock().unwrap().forget_at_authorize = u32::MAX;
    let dir = tempfile::tempdir().unwrap();
    let store = CredentialStore::in_dir(dir.path());
    let out = sign_in(&fake, &store).await;
    assert_eq!(out.pages.len(), 2, "the browser is sent again once");
    let err = failure(out);
    assert!(
        err.contains("does not accept the registered client client-2")
            && err.contains("invalid_client"),
        "{err}"
    );
    assert_eq!(fake.seen("/dcr/register").len(), 2);
    // Nothing stale is kept: the next run registers anew.
    let stored = store.load_upstream().unwrap();
    assert!(
        stored
            .as_ref()
            .is_none_or(|e| e.registration.is_none() && e.tokens.is_none()),
        "{stored:?}"
    );
}

#[tokio::test]
async fn an_unreadable_store_does_not_stop_the_sign_in() {
    let fake = Fake::start(true).await;
    let dir = tempfile::tempdir().unwrap();
    let store = CredentialStore::in_dir(dir.path());
    std::fs::write(store.path(), "{not json").unwrap();
    let out = sign_in(&fake, &store).await;
    assert!(
        out.messages.iter().any(|m| m.contains("unreadable")),
        "{:?}",
        out.messages
    );
    out.result.unwrap();
    assert!(store.load_upstream().unwrap().unwrap().tokens.is_some());
    assert_eq!(
        std::fs::read_to_string(store.corrupt_copy_path()).unwrap(),
        "{not json"
    );
}

#[tokio::test]
async fn a_client_forgotten_after_a_good_probe_is_registered_again_within_the_run() {
    for by_redirect in [false, true] {
        let fake = Fake::start(true).await;
        let dir = tempfile::tempdir().unwrap();
        let store = CredentialStore::in_dir(dir.path());
        sign_in(&fake, &store).await.result.unwrap();
        // The probe still finds client-1; the server forgets it at the authorize request
        // (then the exchange answers invalid_client, or the browser comes back with
        // error=unauthorized_client).
        {
            let mut s = fake.state.lock().unwrap();
            s.forget_at_authorize = 1;
            s.refuse_by_redirect = by_redirect;
        }
        let out = sign_in(&fake, &store).await;
        assert_eq!(out.pages.len(), 2, "{by_redirect}: {:?}", out.messages);
        assert!(out.pages[1].contains("Signed in"), "{}", out.pages[1]);
        assert!(
            out.messages.iter().any(|m| m.contains("registering again")),
            "{:?}",
            out.messages
        );
        let done = out.result.unwrap();
        assert!(done.registered);
        assert_eq!(fake.seen("/dcr/register").len(), 2);
        let authorizes = fake.seen("/authorize");
        assert_eq!(authorizes.len(), 3);
        assert_eq!(authorizes[1].query["client_id"], "client-1");
        assert_eq!(authorizes[2].query["client_id"], "client-2");
        let grants: Vec<String> = fake
            .seen("/oauth/token")
            .iter()
            .map(|s| s.form()["grant_type"].clone())
            .collect();
        let mut expected = vec!["authorization_code", "refresh_token"];
        if !by_redirect {
            expected.push("authorization_code");
        }
        expected.push("authorization_code");
        assert_eq!(grants, expected, "{by_redirect}");
        let stored = store.load_upstream().unwrap().unwrap();
        assert_eq!(stored.registration.unwrap().client_id, "client-2");
        assert!(stored.tokens.is_some());
    }
}

#[tokio::test]
async fn only_the_challenge_or_prm_scopes_are_asked_for() {
    const PRM: &str = "/.well-known/oauth-protected-resource/v1/mcp";
    const ASM: &str = "/.well-known/oauth-authorization-server/tenant1";
    let fake = Fake::start(true).await;
    let base = fake.mock.base.clone();
    fake.mock.json(
        "GET",
        PRM,
        200,
        json!({"resource": fake.resource, "authorization_servers": [format!("{base}/tenant1")]}),
    );
    let server_scopes = |scopes: &[&str]| {
        let mut meta = as_metadata(&base, "/tenant1", true);
        meta["scopes_supported"] = json!(scopes);
        fake.mock.json("GET", ASM, 200, meta);
    };
    let last = |path: &str| fake.seen(path).pop().unwrap();
    let scope_sent = || {
        let authorize = last("/authorize").query.get("scope").cloned();
        let registered = last("/dcr/register").json().get("scope").cloned();
        assert_eq!(
            authorize,
            registered.map(|s| s.as_str().unwrap().to_string())
        );
        authorize
    };
    let fresh = || tempfile::tempdir().unwrap();

    // Only the authorization server lists scopes (the OpenID set among them).
    server_scopes(&["openid", "profile", "email", "offline_access"]);
    let dir = fresh();
    sign_in(&fake, &CredentialStore::in_dir(dir.path()))
        .await
        .result
        .unwrap();
    assert_eq!(scope_sent().as_deref(), Some("offline_access"));
    server_scopes(&["openid", "profile", "email"]);
    let dir = fresh();
    sign_in(&fake, &CredentialStore::in_dir(dir.path()))
        .await
        .result
        .unwrap();
    assert_eq!(scope_sent(), None);

    // The challenge names the scopes.
    let challenge = format!(
        "Bearer resource_metadata=\"{base}{PRM}\", scope=\"read:jira-work write:jira-work\""
    );
    fake.mock.route("POST", "/v1/mcp", move |_| {
        Reply::status(401).header("www-authenticate", &challenge)
    });
    let dir = fresh();
    sign_in(&fake, &CredentialStore::in_dir(dir.path()))
        .await
        .result
        .unwrap();
    assert_eq!(
        scope_sent().as_deref(),
        Some("read:jira-work write:jira-work")
    );
    server_scopes(&["write:jira-work", "offline_access"]);
    let dir = fresh();
    sign_in(&fake, &CredentialStore::in_dir(dir.path()))
        .await
        .result
        .unwrap();
    assert_eq!(
        scope_sent().as_deref(),
        Some("read:jira-work write:jira-work offline_access")
    );
}

#[tokio::test]
async fn refresh_sends_resource_and_classifies_the_answer() {
    let fake = Fake::start(true).await;
    let dir = tempfile::tempdir().unwrap();
    let store = CredentialStore::in_dir(dir.path());
    let entry = sign_in(&fake, &store).await.result.unwrap().entry;
    let reg = entry.registration.unwrap();
    let refresh = entry.tokens.unwrap().refresh_token.unwrap();
    let http = crate::auth::http_client().unwrap();
    let trace = CallTrace::new();
    let issued = refresh_upstream(&http, &trace, &reg, &fake.resource, &refresh)
        .await
        .unwrap();
    assert_eq!(issued.access_token.expose(), "access-2");
    let sent = fake.seen("/oauth/token").last().unwrap().form();
    assert_eq!(sent["grant_type"], "refresh_token");
    assert_eq!(sent["refresh_token"], refresh.expose());
    assert_eq!(sent["resource"], fake.resource);
    assert!(!sent.contains_key("client_secret"));
    assert_eq!(trace.upstream()[0].path, "/oauth/token");

    // The rotated-away token is dead; a forgotten client is a client problem.
    let (kind, text) = refresh_upstream(&http, &trace, &reg, &fake.resource, &refresh)
        .await
        .unwrap_err();
    assert_eq!(kind, TokenErrorKind::DeadGrant);
    assert!(text.contains("invalid_grant"), "{text}");
    fake.state.lock().unwrap().clients.clear();
    let fresh = issued.refresh_token.unwrap();
    let (kind, text) = refresh_upstream(&http, &trace, &reg, &fake.resource, &fresh)
        .await
        .unwrap_err();
    assert_eq!(kind, TokenErrorKind::Client);
    assert!(text.contains("invalid_client"), "{text}");

    // A registration that authenticates with its secret sends it as it said.
    for (method, in_body) in [("client_secret_post", true), ("client_secret_basic", false)] {
        let reg = Registration {
            auth_method: method.into(),
            ..reg.clone()
        };
        let _ = refresh_upstream(&http, &trace, &reg, &fake.resource, &fresh).await;
        let seen = fake.seen("/oauth/token").pop().unwrap();
        let form = seen.form();
        assert_eq!(form.contains_key("client_secret"), in_body, "{method}");
        assert_eq!(
            seen.headers.contains_key("authorization"),
            !in_body,
            "{method}"
        );
        assert_eq!(form["resource"], fake.resource);
    }
}

#[tokio::test]
async fn revocation_revokes_refresh_then_access_token() {
    let fake = Fake::start(true).await;
    let dir = tempfile::tempdir().unwrap();
    let store = CredentialStore::in_dir(dir.path());
    let entry = sign_in(&fake, &store).await.result.unwrap().entry;
    let http = crate::auth::http_client().unwrap();
    let trace = CallTrace::new();
    assert!(revoke_upstream(&http, &trace, &entry).await.unwrap());
    let sent: Vec<_> = fake.seen("/oauth/revoke").iter().map(Seen::form).collect();
    let tokens = entry.tokens.clone().unwrap();
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[0]["token_type_hint"], "refresh_token");
    assert_eq!(sent[0]["token"], tokens.refresh_token.unwrap().expose());
    assert_eq!(sent[1]["token_type_hint"], "access_token");
    assert_eq!(sent[1]["token"], tokens.access_token.expose());
    assert_eq!(sent[0]["client_id"], "client-1");
    assert_eq!(trace.upstream().len(), 2);

    // Nothing to revoke with: no request.
    let mut without = entry.clone();
    if let Some(r) = without.registration.as_mut() {
        r.revocation_endpoint = None;
    }
    assert!(!revoke_upstream(&http, &trace, &without).await.unwrap());
    // A refusal is reported.
    fake.mock.route("POST", "/oauth/revoke", |_| {
        Reply::json(503, json!({"error": "temporarily_unavailable"}))
    });
    let err = revoke_upstream(&http, &trace, &entry).await.unwrap_err();
    assert!(err.contains("503"), "{err}");
    assert_eq!(fake.seen("/oauth/revoke").len(), 4);
}
