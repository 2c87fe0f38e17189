//! Tests of the policy for upstream tools: names, arguments, answers.

use serde_json::json;

use super::*;
use crate::config::PolicySettings;

fn policy(projects: &[&str], spaces: &[&str], read_only: bool) -> Policy {
    Policy::new(PolicySettings {
        jira_projects: projects.iter().map(|s| s.to_string()).collect(),
        confluence_spaces: spaces.iter().map(|s| s.to_string()).collect(),
        read_only,
        deny_tools: vec!["rovo_getConfluencePage".into()],
        ..PolicySettings::default()
    })
}

fn args(v: Value) -> serde_json::Map<String, Value> {
    v.as_object().cloned().unwrap()
}

impl Policy {
    /// A read-only call's arguments.
    fn admit_upstream_args_r(
        &self,
        args: Option<&serde_json::Map<String, Value>>,
    ) -> Result<Option<serde_json::Map<String, Value>>, Refusal> {
        self.admit_upstream_args(args, false)
    }
}

#[test]
fn tools_by_prefixed_name_and_read_only_hint() {
    let p = policy(&[], &[], true);
    assert!(
        p.admit_upstream_tool("rovo_getJiraIssue", "getJiraIssue", true)
            .is_ok()
    );
    let e = p
        .admit_upstream_tool("rovo_createJiraIssue", "createJiraIssue", false)
        .unwrap_err();
    assert!(e.contains("read-only"), "{e}");
    assert!(
        p.admit_upstream_tool("rovo_executeWrite", "executeWrite", true)
            .is_err()
    );
    let e = p
        .admit_upstream_tool("rovo_getConfluencePage", "getConfluencePage", true)
        .unwrap_err();
    assert!(e.contains("deny_tools"), "{e}");
    let open = policy(&[], &[], false);
    assert!(
        open.admit_upstream_tool("rovo_createJiraIssue", "createJiraIssue", false)
            .is_ok()
    );
}

#[test]
fn jql_naming_a_project_outside_is_refused_and_the_rest_is_confined() {
    let p = policy(&["ENG", "OPS"], &[], false);
    for jql in [
        "project = SEC",
        "project in (ENG, \"SEC\") ORDER BY created",
        "PROJECT not in (OPS) OR project=sec",
        "key = SEC-3",
    ] {
        let r = p.admit_upstream_args_r(Some(&args(json!({ "jql": jql }))));
        assert!(
            matches!(r, Err(Refusal::Denied(ref m)) if m.contains("SEC") || m.contains("sec")),
            "{jql}: {r:?}"
        );
    }
    let ok = p
        .admit_upstream_args_r(Some(&args(
            json!({"cloudId": "x", "jql": "project = ENG ORDER BY updated DESC"}),
        )))
        .unwrap()
        .unwrap();
    assert_eq!(
        ok["jql"],
        json!("project in (\"ENG\", \"OPS\") AND (project = ENG) ORDER BY updated DESC")
    );
    assert_eq!(ok["cloudId"], json!("x"), "other arguments are left alone");
    // Unbalanced JQL cannot escape the group it is wrapped in.
    assert!(matches!(
        p.admit_upstream_args_r(Some(&args(json!({"jql": "a) OR (b"})))),
        Err(Refusal::Invalid(_))
    ));
}

#[test]
fn keys_ids_and_spaces_in_arguments() {
    let p = policy(&["ENG"], &["ENG"], false);
    assert!(
        p.admit_upstream_args_r(Some(&args(json!({"issueIdOrKey": "ENG-1"}))))
            .is_ok()
    );
    assert!(
        p.admit_upstream_args_r(Some(&args(json!({"issueIdOrKey": "OPS-1"}))))
            .is_err()
    );
    assert!(
        p.admit_upstream_args_r(Some(&args(json!({"issueIdOrKey": "10001"}))))
            .is_err()
    );
    assert!(
        p.admit_upstream_args_r(Some(&args(json!({"projectKey": "ENG"}))))
            .is_ok()
    );
    assert!(
        p.admit_upstream_args_r(Some(&args(json!({"projectKey": "SEC"}))))
            .is_err()
    );
    assert!(
        p.admit_upstream_args_r(Some(&args(json!({"spaceKey": "OPS"}))))
            .is_err()
    );
    assert!(
        p.admit_upstream_args_r(Some(&args(json!({"spaceId": "98306"}))))
            .is_err()
    );
    assert!(
        p.admit_upstream_args_r(Some(&args(json!({"cql": "space = OPS"}))))
            .is_err()
    );
    assert!(
        p.admit_upstream_args_r(Some(&args(json!({"nested": {"keys": ["ENG-2", "OPS-4"]}}))))
            .is_err()
    );
    let open = policy(&[], &[], false);
    assert!(
        open.admit_upstream_args_r(Some(&args(
            json!({"issueIdOrKey": "10001", "spaceId": "1"})
        )))
        .is_ok()
    );
}

#[test]
fn results_outside_the_allowlists_are_withheld() {
    let p = policy(&["ENG"], &["ENG"], false);
    assert!(
        p.admit_upstream_result(&json!({"issues": [{"key": "ENG-1"}]}))
            .is_ok()
    );
    assert!(
        p.admit_upstream_result(&json!({"issues": [{"key": "ENG-1"}, {"key": "OPS-2"}]}))
            .is_err()
    );
    assert!(
        p.admit_upstream_result(&json!({"id": "200101", "spaceKey": "OPS"}))
            .is_err()
    );
    assert!(
        p.admit_upstream_result(&json!({"id": "100101", "spaceKey": "ENG"}))
            .is_ok()
    );
}

#[test]
fn lowercase_keys_numbers_paths_and_pages_cannot_slip_past() {
    let p = policy(&["ENG"], &["ENG"], false);
    for a in [
        json!({"issueIdOrKey": "sec-1"}),
        json!({"issueIdOrKey": 10001}),
        json!({"projectId": 10002}),
        json!({"spaceId": 98306}),
        json!({"issueKeys": "ENG-1, SEC-2"}),
        json!({"path": "/rest/api/3/issue/SEC-1"}),
        json!({"target": "ari:cloud:jira:site:issue/sec-1"}),
        json!({"issueKey": "not a key"}),
    ] {
        assert!(
            matches!(
                p.admit_upstream_args(Some(&args(a.clone())), false),
                Err(Refusal::Denied(_))
            ),
            "{a}"
        );
    }
    // A page id: fine for a read (its space is checked in the answer), refused for a write.
    let page = args(json!({"pageId": "200101"}));
    assert!(p.admit_upstream_args(Some(&page), false).is_ok());
    assert!(p.admit_upstream_args(Some(&page), true).is_err());
    // Names are matched whole: an issue type id is not an issue id.
    assert!(
        p.admit_upstream_args(Some(&args(json!({"projectIdOrKey": "eng", "issueTypeId": "10004", "summary": "mentions SEC-1"}))), true)
            .is_ok()
    );
    // Exclusions only narrow the (confined) query.
    assert!(
        p.admit_upstream_args_r(Some(&args(
            json!({"jql": "project != SEC AND project not in (OPS)"})
        )))
        .is_ok()
    );
}

#[test]
fn answers_must_prove_their_projects_and_spaces() {
    let p = policy(&["ENG"], &["ENG"], false);
    for v in [
        json!({"id": "200101", "title": "x", "spaceId": "98307"}),
        json!({"values": [{"key": "SEC", "projectTypeKey": "software"}]}),
        json!({"fields": {"project": {"key": "OPS"}}}),
        json!({"page": {"id": "1", "title": "t", "space": {"key": "OPS"}}}),
        json!({"issues": [{"key": "sec-4"}]}),
    ] {
        assert!(p.admit_upstream_result(&v).is_err(), "{v}");
    }
    assert!(
        p.admit_upstream_result(&json!({"fields": {"project": {"key": "ENG"}}}))
            .is_ok()
    );
    assert!(p.admit_upstream_text("Created ENG-70").is_ok());
    assert!(p.admit_upstream_text("See SEC-1 for details").is_err());
}

#[test]
fn issue_keys_are_found_in_text() {
    assert_eq!(
        issue_keys_in("see ENG-1, OPS-22 and eng-3 (ENG-1)"),
        vec!["ENG-1", "OPS-22"]
    );
    assert!(!is_issue_key("ENG-"));
    assert!(!is_issue_key("1ENG-2"));
}
