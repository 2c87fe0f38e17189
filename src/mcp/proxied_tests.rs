//! Tests of the pure parts of proxying: touched keys, the confirmation question.

use serde_json::json;

use super::*;

#[test]
fn touched_names_issue_keys_and_pages() {
    let v = json!({
        "issueIdOrKey": "ENG-1",
        "issues": [{"key": "OPS-2", "fields": {"summary": "x"}}],
        "pageId": "100101",
        "page": {"id": 200100, "title": "Home", "spaceId": "98306"}
    });
    let mut t = touched_in(&v);
    t.sort();
    assert_eq!(t, vec!["ENG-1", "OPS-2", "page:100101", "page:200100"]);
}

#[test]
fn the_question_names_the_arguments_briefly() {
    let args = json!({"cloudId": "c", "projectKey": "ENG", "summary": "x".repeat(100)});
    let d = describe(args.as_object());
    assert!(d.contains("projectKey: ENG"), "{d}");
    assert!(!d.contains("cloudId"), "{d}");
    assert!(d.contains('…') && d.len() < 120, "{d}");
}
