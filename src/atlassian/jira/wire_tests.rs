//! The fast search-page reader gives what the general `Value` reader gives, or declines.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use proptest::prelude::*;
use serde_json::{Value, json};

use super::super::search::page_from_value_for_tests as general;
use super::decode_page;

/// Both readers on one body: the fast one must agree whenever it accepts the page.
fn agree(body: &Value, extra: &[String], keep: usize) -> bool {
    let bytes = serde_json::to_vec(body).unwrap();
    let slow = general(&bytes, extra, keep);
    match decode_page(&bytes, extra, keep) {
        Ok(fast) => {
            let slow = slow.expect("the general reader accepts what the fast one does");
            assert_eq!(fast.issues, slow.issues);
            assert_eq!(fast.sent, slow.sent);
            assert_eq!(fast.next_page_token, slow.next_page_token);
            assert_eq!(fast.is_last, slow.is_last);
            assert_eq!(fast.start_at, slow.start_at);
            assert_eq!(fast.total, slow.total);
            true
        }
        Err(_) => false,
    }
}

fn user(id: &str, name: &str) -> Value {
    json!({
        "self": format!("https://x.atlassian.net/rest/api/3/user?accountId={id}"),
        "accountId": id,
        "emailAddress": format!("{id}@example.com"),
        "avatarUrls": {"16x16": "https://a/16", "24x24": "https://a/24", "32x32": "https://a/32", "48x48": "https://a/48"},
        "displayName": name,
        "active": true,
        "timeZone": "Europe/Berlin",
        "accountType": "atlassian",
    })
}

/// A Cloud-shaped issue with every field a row reads, and the objects Jira puts around them.
fn issue(n: u32) -> Value {
    json!({
        "expand": "renderedFields,names,schema,operations,editmeta,changelog,versionedRepresentations",
        "id": (10000 + n).to_string(),
        "self": format!("https://x.atlassian.net/rest/api/3/issue/{}", 10000 + n),
        "key": format!("ENG-{n}"),
        "fields": {
            "summary": format!("Issue {n} with \"quotes\" and a zero\u{200b}width space"),
            "status": {"self": "s", "description": "", "iconUrl": "i", "name": "In Progress", "id": "3",
                       "statusCategory": {"self": "c", "id": 4, "key": "indeterminate", "colorName": "yellow", "name": "In Progress"}},
            "issuetype": {"self": "t", "id": "10001", "description": "d", "iconUrl": "i", "name": "Story", "subtask": false, "avatarId": 10315, "hierarchyLevel": 0},
            "priority": {"self": "p", "iconUrl": "i", "name": "High", "id": "2"},
            "assignee": if n.is_multiple_of(3) { Value::Null } else { user("5b10a2844c20165700ede21g", "Dana Demo") },
            "reporter": user("61d5f0c2a8b4e3001d7c9a02", "Alex Rivera"),
            "created": "2026-10-11T07:00:00.000+0000",
            "updated": "2026-11-11T07:00:00.000+0000",
            "duedate": if n.is_multiple_of(2) { json!("2026-12-10") } else { Value::Null },
            "labels": ["api", "search\r\nline"],
            "project": {"self": "p", "id": "10000", "key": "ENG", "name": "Engineering", "projectTypeKey": "software",
                        "simplified": false, "avatarUrls": {"16x16": "a"}},
            "parent": {"id": "10001", "key": "ENG-1", "self": "x", "fields": {"summary": "Parent", "status": {"name": "Done"}}},
            "customfield_10016": 5,
            "description": {"type": "doc", "version": 1, "content": []},
        }
    })
}

#[test]
fn a_cloud_page_reads_the_same_and_fast() {
    let page = json!({
        "issues": (1..=50).map(issue).collect::<Vec<_>>(),
        "nextPageToken": "CAEaAggD",
        "isLast": false,
    });
    let extra = vec!["customfield_10016".to_string()];
    assert!(
        agree(&page, &extra, 50),
        "the fast reader declined a normal page"
    );
    let fast = decode_page(&serde_json::to_vec(&page).unwrap(), &extra, 50).unwrap();
    let i = &fast.issues[1];
    assert_eq!(i.key, "ENG-2");
    assert_eq!(
        i.summary.as_deref(),
        Some("Issue 2 with \"quotes\" and a zerowidth space")
    );
    assert_eq!(i.status_category.as_deref(), Some("indeterminate"));
    assert_eq!(i.labels, vec!["api", "search\nline"]);
    assert_eq!(i.extra.get("customfield_10016"), Some(&json!(5)));
    assert!(
        i.description.is_some(),
        "description is read like the general reader does"
    );
    assert_eq!(i.parent.as_deref(), Some("ENG-1"));
    assert_eq!(
        i.assignee.as_ref().and_then(|u| u.id.as_deref()),
        Some("5b10a2844c20165700ede21g")
    );
    assert_eq!(fast.issues[2].assignee, None);
}

#[test]
fn a_long_page_is_cut_and_counted_and_data_center_fields_are_read() {
    let page = json!({
        "startAt": "40",
        "maxResults": 50,
        "total": 95,
        "issues": (1..=7).map(issue).collect::<Vec<_>>(),
    });
    assert!(agree(&page, &[], 5));
    let fast = decode_page(&serde_json::to_vec(&page).unwrap(), &[], 5).unwrap();
    assert_eq!((fast.issues.len(), fast.sent), (5, 7));
    assert_eq!((fast.start_at, fast.total), (Some(40), Some(95)));
}

#[test]
fn a_requested_standard_field_is_read_raw_and_typed() {
    let extra = vec!["reporter".to_string(), "status".to_string()];
    let page = json!({"issues": [issue(1), issue(2)]});
    assert!(agree(&page, &extra, 10));
}

#[test]
fn odd_shapes_are_declined_or_read_the_same() {
    let odd: Vec<Value> = vec![
        json!({"issues": [{"key": 7, "fields": {}}]}),
        json!({"issues": [null, {"key": "A-1"}]}),
        json!({"issues": [{"key": "A-1", "id": 5, "fields": null}]}),
        json!({"issues": [{"key": "A-1", "id": "", "fields": {"summary": ""}}]}),
        json!({"issues": [{"key": "A-1", "fields": {"assignee": "someone"}}]}),
        json!({"issues": [{"key": "A-1", "fields": {"labels": ["a", 1, null]}}]}),
        json!({"issues": [{"key": "A-1", "fields": {"status": {"name": 3}}}]}),
        json!({"issues": [{"key": "A-1", "fields": {"assignee": {"name": "jdoe", "key": ""}}}]}),
        json!({"issues": [], "isLast": "yes", "nextPageToken": "t"}),
        json!({"issues": [], "startAt": -1, "total": 1.5}),
        json!({"issues": {}}),
        json!({"isLast": true}),
        json!([]),
    ];
    for page in &odd {
        // Declined pages go to the general reader, which decides (and may refuse the page, as
        // before); accepted ones must read the same.
        agree(page, &[], 50);
    }
    // A page with no issues array is refused by both (the general reader with its message).
    let bytes = serde_json::to_vec(&json!({"isLast": true})).unwrap();
    assert!(decode_page(&bytes, &[], 50).is_err());
    let e = general(&bytes, &[], 50).unwrap_err().to_string();
    assert!(e.contains("no `issues` array"), "{e}");
}

/// Any JSON value, shallow.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        (-1e6f64..1e6).prop_map(Value::from),
        "[a-zA-Z0-9 \u{200b}\r\n\"\\\\]{0,12}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map(
                prop_oneof![
                    Just("name".to_string()),
                    Just("key".to_string()),
                    Just("accountId".to_string()),
                    Just("displayName".to_string()),
                    Just("statusCategory".to_string()),
                    "[a-z]{1,6}",
                ],
                inner,
                0..4
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// The fields a search asks for, plus ones read raw (or asked as extras).
fn keys() -> Vec<&'static str> {
    let mut keys = super::super::SEARCH_FIELDS.to_vec();
    keys.extend(["components", "resolution", "customfield_1"]);
    keys
}

proptest! {
    /// Whatever a site puts in the fields a row reads, the fast reader either declines the page
    /// or reads exactly what the general reader reads.
    #[test]
    fn the_fast_reader_never_disagrees(
        fields in prop::collection::vec((0..keys().len(), any_json()), 0..8),
        key in prop_oneof![Just(json!("ENG-1")), Just(json!("")), Just(json!(1)), Just(Value::Null)],
        ask_extra in any::<bool>(),
    ) {
        let mut map = serde_json::Map::new();
        for (k, v) in fields {
            map.insert(keys()[k].to_string(), v);
        }
        let page = json!({"issues": [{"key": key, "id": "1", "fields": Value::Object(map)}, issue(2)]});
        let extra = if ask_extra { vec!["customfield_1".to_string(), "assignee".to_string()] } else { Vec::new() };
        agree(&page, &extra, 50);
    }
}
