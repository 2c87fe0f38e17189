//! Tests of the credential store: modes, atomic writes, the site and upstream entries side by
//! side, unreadable files kept aside.

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

fn corrupt_copy(store: &CredentialStore) -> PathBuf {
    let path = store.corrupt_copy_path();
    assert_eq!(
        path,
        store.path().with_file_name("credentials.json.corrupt")
    );
    path
}

#[test]
fn a_corrupt_file_is_kept_aside_and_replaced_by_the_next_save() {
    let dir = tempfile::tempdir().unwrap();
    let store = CredentialStore::in_dir(dir.path());
    std::fs::write(store.path(), "{not json").unwrap();
    assert!(matches!(store.load(), Err(StoreError::Corrupt { .. })));
    // `login` ends with a save: it must succeed, not fail on the file it replaces.
    store.save(&sample()).unwrap();
    assert_eq!(store.load().unwrap().unwrap().client_id, "client");
    assert_eq!(
        std::fs::read_to_string(corrupt_copy(&store)).unwrap(),
        "{not json"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(corrupt_copy(&store))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // The same for the upstream sign-in.
    std::fs::write(store.path(), "[1, 2]").unwrap();
    store.save_upstream(&upstream_sample()).unwrap();
    let up = store.load_upstream().unwrap().unwrap();
    assert_eq!(up.registration.unwrap().client_id, "dcr-client");
    assert_eq!(
        std::fs::read_to_string(corrupt_copy(&store)).unwrap(),
        "[1, 2]"
    );
    // The file keeps its shape: the site's fields flat at the top level, the upstream
    // entry (with its client secret) under `upstream`.
    store.save(&sample()).unwrap();
    let raw: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(store.path()).unwrap()).unwrap();
    assert_eq!(raw["version"], 1);
    assert_eq!(raw["client_id"], "client");
    assert_eq!(raw["access_token"], "access-123");
    assert_eq!(
        raw["upstream"]["registration"]["client_secret"],
        "dcr-secret-789"
    );
    assert_eq!(raw["upstream"]["tokens"]["refresh_token"], "up-refresh");
}

/// A file with a valid upstream entry and a site entry one field of which is unreadable.
fn with_broken_site(store: &CredentialStore) {
    let mut raw = serde_json::json!({
        "version": 1, "client_id": "c", "access_token": "site-access", "refresh_token": null,
        "expires_at": "garbage", "obtained_at": "2026-12-01T09:00:00Z", "scopes": [],
        "cloud_id": "x", "site_url": "https://a.atlassian.net", "site_name": null,
        "account": {"account_id": null, "name": null, "email": null},
    });
    store.save_upstream(&upstream_sample()).unwrap();
    let written: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(store.path()).unwrap()).unwrap();
    raw["upstream"] = written["upstream"].clone();
    std::fs::write(store.path(), raw.to_string()).unwrap();
}

#[test]
fn an_unreadable_site_entry_is_an_error_and_is_never_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let store = CredentialStore::in_dir(dir.path());
    with_broken_site(&store);
    let err = store.load().unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
    assert!(err.to_string().contains("expires_at"), "{err}");
    // The upstream entry is readable on its own.
    let up = store.load_upstream().unwrap().unwrap();
    assert_eq!(up.tokens.unwrap().access_token.expose(), "up-access");
    // Saving the upstream entry writes the site's fields back exactly as they were.
    let mut changed = upstream_sample();
    changed.tokens = None;
    store.save_upstream(&changed).unwrap();
    let raw: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(store.path()).unwrap()).unwrap();
    assert_eq!(raw["expires_at"], "garbage");
    assert_eq!(raw["access_token"], "site-access");
    assert!(raw["upstream"].get("tokens").is_none());
    assert!(matches!(store.load(), Err(StoreError::Corrupt { .. })));
    // A new site sign-in replaces the broken fields, keeping a copy and the upstream entry.
    store.save(&sample()).unwrap();
    assert_eq!(store.load().unwrap().unwrap().client_id, "client");
    assert!(
        std::fs::read_to_string(corrupt_copy(&store))
            .unwrap()
            .contains("garbage")
    );
    assert_eq!(store.load_upstream().unwrap().unwrap().url, changed.url);

    // The other way round: a broken upstream entry beside a readable site sign-in.
    let mut raw: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(store.path()).unwrap()).unwrap();
    raw["upstream"]["registration"] = serde_json::json!({"client_id": 7});
    std::fs::write(store.path(), raw.to_string()).unwrap();
    let err = store.load_upstream().unwrap_err().to_string();
    assert!(
        err.contains("upstream.registration.client_id") && err.contains("login --upstream"),
        "{err}"
    );
    assert_eq!(store.load().unwrap().unwrap().client_id, "client");
    store.save(&sample()).unwrap();
    let kept: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(store.path()).unwrap()).unwrap();
    assert_eq!(kept["upstream"], raw["upstream"]);
    assert!(store.delete_upstream().unwrap());
    assert!(store.load_upstream().unwrap().is_none());
    assert_eq!(store.load().unwrap().unwrap().client_id, "client");
}

#[test]
fn registrations_serialize_only_inside_the_store() {
    // Autoref specialization: the inherent method exists only when `T: Serialize`.
    struct Probe<T>(std::marker::PhantomData<T>);
    trait NotSerialize {
        fn serializable(&self) -> bool {
            false
        }
    }
    impl<T> NotSerialize for Probe<T> {}
    impl<T: Serialize> Probe<T> {
        #[allow(dead_code)]
        fn serializable(&self) -> bool {
            true
        }
    }
    assert!(
        !Probe::<Registration>(std::marker::PhantomData).serializable(),
        "the public Registration must not be serializable (its client secret would leak)"
    );
    let shown = format!("{:?}", upstream_sample());
    assert!(!shown.contains("dcr-secret-789"), "{shown}");
}

#[test]
fn corrupt_file_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let store = CredentialStore::in_dir(dir.path());
    std::fs::write(store.path(), "{not json").unwrap();
    let err = store.load().unwrap_err().to_string();
    assert!(err.contains("login"), "{err}");
}
