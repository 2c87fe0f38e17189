//! Unit tests for `config`: parsing, each section's defaults, rules and error messages.

use super::*;

pub(super) fn resolve_with(text: &str, env: &[(&str, &str)]) -> Result<Settings, ConfigError> {
    let raw = parse(text, "test.toml")?;
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let lookup = move |name: &str| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    Settings::resolve(raw, "test.toml", None, Path::new("/data"), &lookup)
}

#[test]
fn empty_file_gives_defaults() {
    let s = resolve_with("", &[]).unwrap();
    assert!(s.site.is_none());
    assert_eq!(s.audit.path, Path::new("/data/audit/audit.jsonl"));
    assert_eq!(s.audit.args, ArgsMode::Redacted);
    assert!(s.audit.fsync);
    assert_eq!(s.audit.max_bytes, DEFAULT_AUDIT_MAX_BYTES);
    assert_eq!(s.policy.max_bulk_items, 100);
    assert_eq!(s.policy.confirm_writes, ConfirmWrites::Auto);
}

#[test]
fn unknown_key_names_file_and_key() {
    let err = resolve_with(
        "[site]\nurl = \"https://a.atlassian.net\"\nemial = \"x\"\n",
        &[],
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("test.toml"), "{err}");
    assert!(err.contains("emial"), "{err}");
    assert!(err.contains("line 3"), "{err}");
}

#[test]
fn unknown_section_is_an_error() {
    let err = resolve_with("[sitee]\n", &[]).unwrap_err().to_string();
    assert!(err.contains("sitee"), "{err}");
}

#[test]
fn cloud_detected_from_host_and_env_token_wins() {
    let s = resolve_with(
        "[site]\nurl = \"https://acme.atlassian.net/\"\nemail = \"me@acme.com\"\napi_token = \"file-token\"\n",
        &[(API_TOKEN_ENV, "env-token")],
    )
    .unwrap();
    let site = s.site.unwrap();
    assert_eq!(site.deployment, Deployment::Cloud);
    assert_eq!(site.url.as_str(), "https://acme.atlassian.net/");
    match site.auth {
        Auth::ApiToken { email, token } => {
            assert_eq!(email, "me@acme.com");
            assert_eq!(token.expose(), "env-token");
        }
        other => panic!("unexpected auth {other:?}"),
    }
}

#[test]
fn data_center_defaults_to_pat_and_keeps_context_path() {
    let s = resolve_with(
        "[site]\nurl = \"https://jira.corp.example/jira/\"\n",
        &[(PAT_ENV, "pat-value")],
    )
    .unwrap();
    let site = s.site.unwrap();
    assert_eq!(site.deployment, Deployment::DataCenter);
    assert_eq!(site.url.path(), "/jira");
    assert!(matches!(site.auth, Auth::Pat { .. }));
}

#[test]
fn http_only_for_loopback() {
    let err = resolve_with(
        "[site]\nurl = \"http://jira.corp.example\"\npat = \"x\"\n",
        &[],
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("site.url") && err.contains("loopback"),
        "{err}"
    );
    for ok in ["http://127.0.0.1:9", "http://localhost:9", "http://[::1]:9"] {
        resolve_with(&format!("[site]\nurl = \"{ok}\"\npat = \"x\"\n"), &[])
            .unwrap_or_else(|e| panic!("{ok}: {e}"));
    }
}

#[test]
fn credentials_in_the_url_are_refused() {
    let err = resolve_with(
        "[site]\nurl = \"https://me:secret@acme.atlassian.net\"\nemail = \"a@b.c\"\napi_token = \"x\"\n",
        &[],
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("site.url") && err.contains("user name or password"),
        "{err}"
    );
    assert!(!err.contains("secret"), "{err}");
}

#[test]
fn raw_config_debug_hides_secrets() {
    let raw = parse(
        "[site]\nurl = \"https://a.atlassian.net\"\napi_token = \"tok-123\"\npat = \"pat-456\"\n[oauth]\nclient_id = \"c\"\nclient_secret = \"sec-789\"\n",
        "t.toml",
    )
    .unwrap();
    let shown = format!("{raw:?}");
    for secret in ["tok-123", "pat-456", "sec-789"] {
        assert!(!shown.contains(secret), "{shown}");
    }
}

#[test]
fn missing_token_says_where_to_put_it() {
    let err = resolve_with(
        "[site]\nurl = \"https://a.atlassian.net\"\nemail = \"me@a.com\"\n",
        &[],
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("site.api_token") && err.contains(API_TOKEN_ENV),
        "{err}"
    );
}

#[test]
fn oauth_without_secret_names_client_secret() {
    let err = resolve_with(
        "[site]\nurl = \"https://a.atlassian.net\"\nauth = \"oauth\"\n[oauth]\nclient_id = \"abc\"\n",
        &[],
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("oauth.client_secret"), "{err}");
}

#[test]
fn policy_validates_tool_names_and_keys() {
    let err = resolve_with("[policy]\ndeny_tools = [\"jira_serch\"]\n", &[])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("policy.deny_tools") && err.contains("jira_serch"),
        "{err}"
    );
    let err = resolve_with("[policy]\njira_projects = [\"A B\"]\n", &[])
        .unwrap_err()
        .to_string();
    assert!(err.contains("policy.jira_projects"), "{err}");
    let s = resolve_with(
        "[policy]\njira_projects = [\"eng\"]\nconfluence_spaces = [\"ENG\", \"~alice\"]\nread_only = true\n",
        &[],
    )
    .unwrap();
    assert_eq!(s.policy.jira_projects, vec!["ENG"]);
    assert!(s.policy.read_only);
}

#[test]
fn audit_path_expands_home_token() {
    let s = resolve_with(
        "[audit]\npath = \"<home>/logs/a.jsonl\"\nargs = \"digest\"\n",
        &[],
    )
    .unwrap();
    assert_eq!(s.audit.path, Path::new("/data/logs/a.jsonl"));
    assert_eq!(s.audit.args, ArgsMode::Digest);
    let err = resolve_with("[audit]\nargs = \"some\"\n", &[])
        .unwrap_err()
        .to_string();
    assert!(err.contains("audit.args"), "{err}");
}

/// Issue 8: AI desktops start the bridge from arbitrary directories, so a relative
/// `audit.path` must not depend on the current directory.
#[test]
fn relative_audit_path_is_under_the_data_dir() {
    for (written, expected) in [
        ("logs/a.jsonl", "/data/logs/a.jsonl"),
        ("a.jsonl", "/data/a.jsonl"),
        ("./a.jsonl", "/data/a.jsonl"),
    ] {
        let s = resolve_with(&format!("[audit]\npath = \"{written}\"\n"), &[]).unwrap();
        assert_eq!(s.audit.path, Path::new(expected), "{written}");
    }
    let home = directories::BaseDirs::new()
        .unwrap()
        .home_dir()
        .to_path_buf();
    let s = resolve_with("[audit]\npath = \"~/x/a.jsonl\"\n", &[]).unwrap();
    assert_eq!(s.audit.path, home.join("x/a.jsonl"));
    #[cfg(unix)]
    {
        let s = resolve_with("[audit]\npath = \"/var/log/a.jsonl\"\n", &[]).unwrap();
        assert_eq!(s.audit.path, Path::new("/var/log/a.jsonl"));
    }
}

/// Issue 13: an inferred deployment is named when it explains the error.
#[test]
fn inferred_data_center_is_named_when_cloud_credentials_are_set() {
    let err = resolve_with(
        "[site]\nurl = \"https://jira.acme.example\"\nemail = \"me@acme.com\"\napi_token = \"t\"\n",
        &[],
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("site.pat"), "{err}");
    assert!(
        err.contains("inferred")
            && err.contains("jira.acme.example")
            && err.contains("deployment = \"cloud\""),
        "{err}"
    );
    // The same site named as Cloud works with the same credentials.
    let s = resolve_with(
        "[site]\nurl = \"https://jira.acme.example\"\ndeployment = \"cloud\"\nemail = \"me@acme.com\"\napi_token = \"t\"\n",
        &[],
    )
    .unwrap();
    assert_eq!(s.site.unwrap().deployment, Deployment::Cloud);
    // oauth on an inferred Data Center host says the same.
    let err = resolve_with(
        "[site]\nurl = \"https://jira.acme.example\"\nauth = \"oauth\"\n[oauth]\nclient_id = \"c\"\nclient_secret = \"s\"\n",
        &[],
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("inferred") && err.contains("deployment = \"cloud\""),
        "{err}"
    );
    // An explicit deployment is not called inferred.
    let err = resolve_with(
        "[site]\nurl = \"https://jira.acme.example\"\ndeployment = \"data-center\"\n",
        &[],
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("site.pat") && !err.contains("inferred"),
        "{err}"
    );
}

/// Issue 13, the converse: a PAT configured for an `*.atlassian.net` site.
#[test]
fn inferred_cloud_is_named_when_only_a_pat_is_set() {
    let err = resolve_with(
        "[site]\nurl = \"https://acme.atlassian.net\"\npat = \"p\"\n",
        &[],
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("site.email"), "{err}");
    assert!(
        err.contains("inferred") && err.contains("site.pat") && err.contains("Data Center"),
        "{err}"
    );
    let err = resolve_with(
        "[site]\nurl = \"https://acme.atlassian.net\"\nauth = \"pat\"\npat = \"p\"\n",
        &[],
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("site.auth") && err.contains("inferred") && err.contains("acme.atlassian.net"),
        "{err}"
    );
}

#[test]
fn example_config_is_valid() {
    let text = include_str!("../../config/example.toml");
    let raw = parse(text, "config/example.toml").unwrap();
    let env = |_: &str| None;
    Settings::resolve(raw, "example.toml", None, Path::new("/data"), &env).unwrap();
}
