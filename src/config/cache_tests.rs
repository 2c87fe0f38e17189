//! Unit tests for `[cache]`: defaults, each key, each error, the environment override.

use std::path::Path;

use super::super::tests::resolve_with;
use super::*;
use crate::config::{Settings, parse};

fn err(text: &str, env: &[(&str, &str)]) -> String {
    resolve_with(text, env).unwrap_err().to_string()
}

#[test]
fn absent_section_gives_defaults_under_home() {
    let s = resolve_with("", &[]).unwrap();
    assert_eq!(s.cache, CacheSettings::defaults(Path::new("/data")));
    assert!(s.cache.enabled);
    assert_eq!(s.cache.offline, OfflineMode::Auto);
    assert_eq!(s.cache.max_bytes, 536_870_912);
    assert!(s.cache.sync_jira_projects.is_empty());
    assert!(s.cache.sync_confluence_spaces.is_empty());
    assert_eq!(s.cache.path, Path::new("/data/cache.db"));
    assert_eq!(s.cache.outbox_dir, Path::new("/data/outbox"));
    // An empty section is the same as none.
    let s = resolve_with("[cache]\n", &[]).unwrap();
    assert_eq!(s.cache, CacheSettings::defaults(Path::new("/data")));
}

#[test]
fn every_key_is_read() {
    let s = resolve_with(
        "[policy]\njira_projects = [\"ENG\", \"OPS\"]\nconfluence_spaces = [\"DOCS\", \"~alice\"]\n\
         [cache]\nenabled = true\noffline = \"always\"\nmax_bytes = 1048576\n\
         sync_jira_projects = [\" eng\", \"ENG\", \"ops\"]\nsync_confluence_spaces = [\"~alice\", \"docs\"]\n",
        &[],
    )
    .unwrap();
    let c = &s.cache;
    assert!(c.enabled);
    assert_eq!(c.offline, OfflineMode::Always);
    assert_eq!(c.max_bytes, MIN_CACHE_MAX_BYTES);
    // Project keys are trimmed, upper-cased and kept once; space keys keep their case, and
    // policy compares them case-insensitively.
    assert_eq!(c.sync_jira_projects, vec!["ENG", "OPS"]);
    assert_eq!(c.sync_confluence_spaces, vec!["~alice", "docs"]);
    let s = resolve_with("[cache]\nenabled = false\noffline = \"never\"\n", &[]).unwrap();
    assert!(!s.cache.enabled);
    assert_eq!(s.cache.offline, OfflineMode::Never);
    assert_eq!(s.cache.summary(), "disabled");
    let s = resolve_with("[cache]\nmax_bytes = 10737418240\n", &[]).unwrap();
    assert_eq!(s.cache.max_bytes, 10 * 1024 * 1024 * 1024);
}

#[test]
fn sync_lists_without_confinement_accept_any_valid_key() {
    let s = resolve_with(
        "[cache]\nsync_jira_projects = [\"abc\"]\nsync_confluence_spaces = [\"X_1\"]\n",
        &[],
    )
    .unwrap();
    assert_eq!(s.cache.sync_jira_projects, vec!["ABC"]);
    assert_eq!(s.cache.sync_confluence_spaces, vec!["X_1"]);
    assert!(
        s.cache.summary().contains("sync projects: ABC"),
        "{}",
        s.cache.summary()
    );
}

#[test]
fn unknown_key_is_an_error() {
    let e = err("[cache]\nmax_size = 5\n", &[]);
    assert!(e.contains("test.toml") && e.contains("max_size"), "{e}");
    assert!(e.contains("config/example.toml"), "{e}");
}

#[test]
fn wrong_types_name_the_key_and_the_fix() {
    for (text, key, fix) in [
        ("enabled = \"yes\"", "cache.enabled", "true or false"),
        ("enabled = 1", "cache.enabled", "true or false"),
        ("offline = true", "cache.offline", "\"auto\""),
        ("offline = \"sometimes\"", "cache.offline", "\"never\""),
        ("offline = \"Always\"", "cache.offline", "\"always\""),
        (
            "max_bytes = \"512MiB\"",
            "cache.max_bytes",
            "without a unit",
        ),
        ("max_bytes = 5.0e8", "cache.max_bytes", "whole number"),
        (
            "sync_jira_projects = \"ENG\"",
            "cache.sync_jira_projects",
            "[\"ENG\", \"OPS\"]",
        ),
        (
            "sync_jira_projects = [1]",
            "cache.sync_jira_projects",
            "list of keys",
        ),
        (
            "sync_confluence_spaces = [[\"A\"]]",
            "cache.sync_confluence_spaces",
            "list of keys",
        ),
    ] {
        let e = err(&format!("[cache]\n{text}\n"), &[]);
        assert!(
            e.starts_with("test.toml: ") && e.contains(&format!("`{key}`")) && e.contains(fix),
            "{text}: {e}"
        );
    }
}

#[test]
fn max_bytes_below_one_mib_is_refused() {
    for n in ["0", "-1", "4096", "1048575"] {
        let e = err(&format!("[cache]\nmax_bytes = {n}\n"), &[]);
        assert!(
            e.contains("`cache.max_bytes`")
                && e.contains(&format!("is {n};"))
                && e.contains("1048576"),
            "{n}: {e}"
        );
    }
}

#[test]
fn invalid_sync_keys_are_refused() {
    let e = err("[cache]\nsync_jira_projects = [\"A B\"]\n", &[]);
    assert!(
        e.contains("`cache.sync_jira_projects`") && e.contains("A B"),
        "{e}"
    );
    let e = err("[cache]\nsync_jira_projects = [\"1ENG\"]\n", &[]);
    assert!(e.contains("`cache.sync_jira_projects`"), "{e}");
    let e = err("[cache]\nsync_confluence_spaces = [\"\"]\n", &[]);
    assert!(e.contains("`cache.sync_confluence_spaces`"), "{e}");
}

#[test]
fn sync_outside_the_policy_names_both_keys() {
    let e = err(
        "[policy]\njira_projects = [\"ENG\"]\n[cache]\nsync_jira_projects = [\"ENG\", \"ops\"]\n",
        &[],
    );
    assert!(
        e.contains("`cache.sync_jira_projects`")
            && e.contains("`OPS`")
            && e.contains("is not in policy.jira_projects (ENG)")
            && e.contains("the cache never holds projects outside it"),
        "{e}"
    );
    let e = err(
        "[policy]\nconfluence_spaces = [\"DOCS\"]\n[cache]\nsync_confluence_spaces = [\"HR\"]\n",
        &[],
    );
    assert!(
        e.contains("`cache.sync_confluence_spaces`")
            && e.contains("`HR`")
            && e.contains("is not in policy.confluence_spaces (DOCS)")
            && e.contains("the cache never holds spaces outside it"),
        "{e}"
    );
}

#[test]
fn environment_overrides_offline() {
    let s = resolve_with("[cache]\noffline = \"never\"\n", &[(OFFLINE_ENV, "always")]).unwrap();
    assert_eq!(s.cache.offline, OfflineMode::Always);
    let s = resolve_with("", &[(OFFLINE_ENV, " Never ")]).unwrap();
    assert_eq!(s.cache.offline, OfflineMode::Never);
    let s = resolve_with("[cache]\noffline = \"always\"\n", &[(OFFLINE_ENV, "auto")]).unwrap();
    assert_eq!(s.cache.offline, OfflineMode::Auto);
    let e = err("", &[(OFFLINE_ENV, "yes")]);
    assert!(
        e.contains(OFFLINE_ENV) && e.contains("`yes`") && e.contains("always, auto or never"),
        "{e}"
    );
    // A bad file value is reported even while the environment overrides it.
    let e = err("[cache]\noffline = \"x\"\n", &[(OFFLINE_ENV, "auto")]);
    assert!(e.contains("`cache.offline`"), "{e}");
}

#[test]
fn always_offline_needs_the_cache() {
    let e = err("[cache]\nenabled = false\noffline = \"always\"\n", &[]);
    assert!(
        e.contains("`cache.enabled`") && e.contains("`cache.offline` = \"always\""),
        "{e}"
    );
    let e = err("[cache]\nenabled = false\n", &[(OFFLINE_ENV, "always")]);
    assert!(
        e.contains("`cache.enabled`") && e.contains(&format!("set {OFFLINE_ENV} to auto or never")),
        "{e}"
    );
}

/// `[cache]` goes with the data directory wherever that is (the sandbox's temporary home too).
#[test]
fn paths_follow_the_data_dir() {
    let raw = parse("[cache]\nenabled = true\n", "t.toml").unwrap();
    let env = |_: &str| None;
    let s = Settings::resolve(raw, "t.toml", None, Path::new("/tmp/sandbox-x"), &env).unwrap();
    assert_eq!(s.cache.path, Path::new("/tmp/sandbox-x/cache.db"));
    assert_eq!(s.cache.outbox_dir, Path::new("/tmp/sandbox-x/outbox"));
}
