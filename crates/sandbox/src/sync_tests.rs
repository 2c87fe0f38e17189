//! Tests for what the offline cache and `sync` rely on (SPEC §10): the generator, touching and
//! deleting, the clock, and Jira search paging over generated issues while they change.
//! Confluence's side is in `sync_conf_tests`, the unreachable switch in `reach_tests`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::tests::{cloud, cloud_post, dc, http, jira_spec, keys, sandbox, send};
use super::*;

/// The fields a `sync` asks for.
pub(super) const SYNC_FIELDS: &str = "summary,status,priority,issuetype,assignee,reporter,created,updated,duedate,labels,project,parent,resolution,description,issuelinks,subtasks,components,comment";

fn enc(s: &str) -> String {
    wire::enc(s)
}

// ---------------------------------------------------------------------------------------------
// Generator, clock, touch and delete
// ---------------------------------------------------------------------------------------------

/// A fingerprint of everything generated after the seed.
fn fingerprint(store: &seed::Store, seed_issues: usize, seed_pages: usize) -> String {
    let issues: Vec<Value> = store.issues[seed_issues..]
        .iter()
        .map(|i| {
            json!([
                i.key,
                i.summary,
                i.text,
                i.status,
                i.priority,
                i.assignee,
                i.labels,
                wire::jira_time(i.created),
                wire::jira_time(i.updated),
                i.comments.len(),
                i.parent
            ])
        })
        .collect();
    let pages: Vec<Value> = store.pages[seed_pages..]
        .iter()
        .map(|p| {
            json!([
                p.id,
                p.title,
                p.storage,
                p.parent,
                p.labels,
                p.versions.len()
            ])
        })
        .collect();
    json!([issues, pages]).to_string()
}

#[test]
fn generation_is_deterministic_varied_and_quick() {
    let mut a = seed::Store::build();
    let mut b = seed::Store::build();
    let (si, sp) = (a.issues.len(), a.pages.len());
    let t = Instant::now();
    let g = a.generate("ENG", 10_000, "ENG", 2_000);
    let took = t.elapsed();
    assert_eq!((g.issues, g.pages), (10_000, 2_000));
    assert_eq!(g.first_key.as_deref(), Some("ENG-65"));
    assert_eq!(g.last_key.as_deref(), Some("ENG-10064"));
    assert!(g.problems.is_empty());
    // Unoptimized test builds are several times slower than release (well under a second).
    assert!(took < Duration::from_secs(15), "{took:?}");
    let mut c = seed::Store::build();
    b.generate("OPS", 1_000, "OPS", 200);
    c.generate("OPS", 1_000, "OPS", 200);
    assert_eq!(
        fingerprint(&b, si, sp),
        fingerprint(&c, si, sp),
        "same calls, same data"
    );

    let new = &a.issues[si..];
    let count = |f: &dyn Fn(&seed::Issue) -> bool| new.iter().filter(|i| f(i)).count();
    for cat in 0..3 {
        let n = count(&|i| seed::STATUSES[i.status].category == cat);
        assert!(n > 1_000, "status category {cat}: {n}");
    }
    for p in 0..5 {
        assert!(count(&|i| i.priority == p) > 100, "priority {p}");
    }
    assert!(count(&|i| i.assignee.is_none()) > 1_000);
    for u in 0..a.users.len() {
        assert!(count(&|i| i.assignee == Some(u)) > 1_000, "user {u}");
    }
    assert!(count(&|i| !i.comments.is_empty()) > 4_000);
    assert!(count(&|i| i.parent.is_some()) > 500);
    assert!(count(&|i| seed::ISSUE_TYPES[i.itype].subtask && i.parent.is_none()) == 0);
    assert!(count(&|i| i.due.is_some()) > 2_000);
    let labels: HashSet<&String> = new.iter().flat_map(|i| &i.labels).collect();
    assert!(labels.len() >= 20, "{}", labels.len());
    let summaries: HashSet<&String> = new.iter().map(|i| &i.summary).collect();
    assert!(
        summaries.len() > 9_000,
        "{} distinct summaries",
        summaries.len()
    );
    let words: HashSet<String> = new
        .iter()
        .flat_map(|i| query::words(&format!("{} {}", i.summary, i.text)))
        .collect();
    assert!(words.len() > 300, "{} distinct words", words.len());
    assert!(new.iter().all(|i| i.text.split_whitespace().count() >= 15));
    let oldest = new.iter().map(|i| i.created).min().unwrap();
    assert!(seed::REFERENCE - oldest > time::Duration::days(150));
    assert!(
        new.iter()
            .all(|i| i.created <= i.updated && i.updated <= seed::REFERENCE)
    );
    assert!(
        new.iter()
            .all(|i| i.wiki.as_deref().is_some_and(|w| !w.is_empty()))
    );
    // Bugs in ENG carry the required Team field, as the create screen demands.
    assert!(
        new.iter()
            .filter(|i| i.itype == 1)
            .all(|i| i.custom.contains_key("customfield_10020"))
    );

    let pages = &a.pages[sp..];
    let titles: HashSet<String> = a
        .pages
        .iter()
        .filter(|p| p.space == 0)
        .map(|p| p.title.to_lowercase())
        .collect();
    assert_eq!(
        titles.len(),
        a.pages.iter().filter(|p| p.space == 0).count(),
        "unique titles"
    );
    let depth = |id: u64| {
        let mut d = 0;
        let mut cur = a.page(&id.to_string()).and_then(|p| p.parent);
        while let Some(p) = cur {
            d += 1;
            cur = a.page(&p.to_string()).and_then(|p| p.parent);
        }
        d
    };
    assert!(pages.iter().map(|p| depth(p.id)).max().unwrap() >= 3);
    assert!(
        pages
            .iter()
            .all(|p| p.storage.contains("<h2>") && p.text.len() > 200)
    );
    assert!(pages.iter().filter(|p| p.versions.len() > 1).count() > 500);
    assert!(pages.iter().filter(|p| !p.labels.is_empty()).count() > 800);

    let schema = super::tests::load("adf.schema.json");
    let adf = jsonschema::draft4::new(&schema).unwrap();
    for i in new.iter().step_by(97) {
        super::tests::assert_valid(&adf, i.adf.as_ref().unwrap(), &i.key);
        for c in &i.comments {
            super::tests::assert_valid(&adf, &c.adf, &i.key);
        }
    }

    let g = c.generate("NOPE", 5, "NOPE", 5);
    assert_eq!((g.issues, g.pages, g.problems.len()), (0, 0, 2));
}

#[tokio::test]
async fn the_clock_runs_and_every_change_is_strictly_later() {
    let sb = sandbox().await;
    let t0 = sb.now();
    assert!(t0 >= seed::REFERENCE && t0 - seed::REFERENCE < time::Duration::minutes(1));
    tokio::time::sleep(Duration::from_millis(30)).await;
    assert!(
        sb.now() >= t0 + time::Duration::milliseconds(30),
        "real time"
    );
    let before = cloud(&sb, "/rest/api/3/issue/ENG-2?fields=updated,summary").await;
    let mut last = String::new();
    for n in 0..5 {
        assert!(sb.touch_issue("ENG-2", None));
        let r = cloud(&sb, "/rest/api/3/issue/ENG-2?fields=updated,summary").await;
        let updated = r.body["fields"]["updated"].as_str().unwrap().to_string();
        assert!(updated > last, "{n}: {updated} after {last}");
        assert!(updated.as_str() > before.body["fields"]["updated"].as_str().unwrap());
        last = updated;
    }
    assert!(sb.touch_issue("eng-2", Some("Renamed by a test")));
    let r = cloud(
        &sb,
        "/rest/api/3/issue/ENG-2?fields=summary&expand=changelog",
    )
    .await;
    assert_eq!(r.body["fields"]["summary"], "Renamed by a test");
    let histories = r.body["changelog"]["histories"].as_array().unwrap();
    assert!(
        histories
            .iter()
            .any(|h| h["items"][0]["field"] == "summary")
    );
    assert!(!sb.touch_issue("ENG-99999", None));
    let r = send(http().get(format!("{}/__sandbox/state", sb.base_url()))).await;
    assert!(r.body["now"].as_str().unwrap() >= last.as_str());
    sb.shutdown().await;
}

#[tokio::test]
async fn issues_can_be_deleted_through_the_api_and_the_switches() {
    let sb = sandbox().await;
    let r = send(
        http()
            .delete(format!("{}/rest/api/3/issue/ENG-7", sb.base_url()))
            .basic_auth(SANDBOX_EMAIL, Some(SANDBOX_API_TOKEN)),
    )
    .await;
    assert_eq!(r.status, 204);
    assert_eq!(cloud(&sb, "/rest/api/3/issue/ENG-7").await.status, 404);
    // An issue with sub-tasks needs deleteSubtasks=true; its sub-tasks go with it.
    let store_parent = {
        let s = sb.shared.read_store();
        s.issues
            .iter()
            .find(|i| seed::ISSUE_TYPES[i.itype].subtask && i.parent.is_some())
            .map(|i| (s.issues[i.parent.unwrap()].key.clone(), i.key.clone()))
    };
    let (parent, sub) = store_parent.expect("a seeded sub-task");
    let del = |q: &str| {
        http()
            .delete(format!("{}/rest/api/3/issue/{parent}{q}", sb.base_url()))
            .basic_auth(SANDBOX_EMAIL, Some(SANDBOX_API_TOKEN))
    };
    let r = send(del("")).await;
    assert_eq!(r.status, 400, "{}", r.body);
    super::tests::assert_valid(&jira_spec().component("ErrorCollection"), &r.body, "400");
    assert_eq!(send(del("?deleteSubtasks=true")).await.status, 204);
    assert_eq!(
        cloud(&sb, &format!("/rest/api/3/issue/{sub}")).await.status,
        404
    );
    assert_eq!(send(del("")).await.status, 404);
    // Parents stay right after indexes shift: every remaining parent field names a real issue.
    let r = cloud_post(
        &sb,
        "/rest/api/3/search/jql",
        &json!({"jql": "project in (ENG, OPS, SEC) AND parent is not EMPTY", "fields": ["parent"], "maxResults": 100}),
    )
    .await;
    for i in r.body["issues"].as_array().unwrap() {
        let pk = i["fields"]["parent"]["key"].as_str().unwrap();
        assert_eq!(
            cloud(&sb, &format!("/rest/api/3/issue/{pk}")).await.status,
            200
        );
    }
    // The Rust switch and the control endpoint.
    assert!(sb.delete_issue("OPS-3"));
    assert!(!sb.delete_issue("OPS-3"));
    let base = sb.base_url();
    let r = send(
        http()
            .post(format!("{base}/__sandbox/delete"))
            .json(&json!({"issue": "SEC-2"})),
    )
    .await;
    assert_eq!((r.status, &r.body["deleted"]), (200, &json!(["SEC-2"])));
    let r = send(
        http()
            .post(format!("{base}/__sandbox/delete"))
            .json(&json!({"issue": "SEC-2"})),
    )
    .await;
    assert_eq!(r.status, 404);
    let r = send(
        http()
            .post(format!("{base}/__sandbox/touch"))
            .json(&json!({"issue": "SEC-1", "summary": "Touched"})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        cloud(&sb, "/rest/api/3/issue/SEC-1?fields=summary")
            .await
            .body["fields"]["summary"],
        "Touched"
    );
    let r = send(
        http()
            .post(format!("{base}/__sandbox/touch"))
            .json(&json!({"issue": "SEC-1", "page": "1"})),
    )
    .await;
    assert_eq!(r.status, 400);
    sb.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// Jira search as `sync` uses it
// ---------------------------------------------------------------------------------------------

/// Pages through Cloud `search/jql` by GET asking for `fields` (which must include `updated`);
/// returns (key, updated) in the order received.
pub(super) async fn page_jql(
    sb: &Sandbox,
    jql: &str,
    max: usize,
    fields: &str,
) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    for _ in 0..1_000 {
        let mut url = format!(
            "/rest/api/3/search/jql?jql={}&maxResults={max}&fields={fields}",
            enc(jql)
        );
        if let Some(t) = &token {
            url.push_str(&format!("&nextPageToken={}", enc(t)));
        }
        let r = cloud(sb, &url).await;
        assert_eq!(r.status, 200, "{}", r.body);
        for i in r.body["issues"].as_array().unwrap() {
            out.push((
                i["key"].as_str().unwrap().to_string(),
                i["fields"]["updated"].as_str().unwrap().to_string(),
            ));
        }
        match r.body["nextPageToken"].as_str() {
            Some(t) => token = Some(t.to_string()),
            None => return out,
        }
    }
    panic!("endless paging")
}

#[tokio::test]
async fn sync_search_pages_5000_generated_issues_once_in_updated_order() {
    let sb = sandbox().await;
    let g = sb.generate("ENG", 5_000, "ENG", 0);
    assert_eq!(g.issues, 5_000);
    let since = "2026-06-01 00:00";
    let jql = format!("project = ENG AND updated >= \"{since}\" ORDER BY updated ASC, key ASC");
    let expected: usize = {
        let s = sb.shared.read_store();
        let from = time::macros::datetime!(2026-06-01 00:00 UTC);
        s.issues
            .iter()
            .filter(|i| i.project == 0 && i.updated >= from)
            .count()
    };
    assert!(expected > 4_000 && expected < 5_064, "{expected}");

    // Full fields cap the page at 100, as on Cloud; the comment field has Jira's shape.
    let r = cloud(
        &sb,
        &format!(
            "/rest/api/3/search/jql?jql={}&maxResults=500&fields={SYNC_FIELDS}",
            enc(&jql)
        ),
    )
    .await;
    let issues = r.body["issues"].as_array().unwrap();
    assert_eq!(issues.len(), 100);
    super::tests::assert_valid(
        &jira_spec().component("SearchAndReconcileResults"),
        &r.body,
        "page",
    );
    let f = &issues[0]["fields"];
    for k in SYNC_FIELDS.split(',').filter(|k| *k != "parent") {
        assert!(f.get(k).is_some(), "field {k} missing");
    }
    // `parent` is there exactly when the issue has one.
    assert!(
        issues
            .iter()
            .any(|i| i["fields"]["parent"]["key"].is_string())
    );
    let with_comments = issues
        .iter()
        .find(|i| i["fields"]["comment"]["total"].as_u64() > Some(0));
    let c = &with_comments.expect("some comments")["fields"]["comment"];
    assert_eq!(c["startAt"], 0);
    assert_eq!(c["maxResults"], c["total"]);
    assert_eq!(
        c["comments"].as_array().unwrap().len() as u64,
        c["total"].as_u64().unwrap()
    );
    assert_eq!(c["comments"][0]["body"]["type"], "doc");

    let seen = page_jql(&sb, &jql, 100, SYNC_FIELDS).await;
    assert_eq!(seen.len(), expected);
    let unique: HashSet<&String> = seen.iter().map(|(k, _)| k).collect();
    assert_eq!(unique.len(), expected, "each issue exactly once");
    assert!(
        seen.windows(2).all(|w| w[0].1 <= w[1].1),
        "updated ascending"
    );
    let newest = seen.last().unwrap().1.clone();

    // A touched issue shows up in a later incremental query; a deleted one is gone.
    let (touched, deleted) = (seen[10].0.clone(), seen[20].0.clone());
    assert!(sb.touch_issue(&touched, Some("Changed while offline")));
    assert!(sb.delete_issue(&deleted));
    let minute = &newest[..16].replace('T', " ");
    let later = page_jql(
        &sb,
        &format!("project = ENG AND updated >= \"{minute}\" ORDER BY updated ASC, key ASC"),
        100,
        SYNC_FIELDS,
    )
    .await;
    let later_keys: Vec<&String> = later.iter().map(|(k, _)| k).collect();
    assert!(later_keys.contains(&&touched), "{later_keys:?}");
    assert_eq!(
        later_keys.last(),
        Some(&&touched),
        "the newest change comes last"
    );
    assert!(!later_keys.contains(&&deleted));
    let all = page_jql(&sb, &jql, 100, "updated").await;
    assert_eq!(all.len(), expected - 1);
    assert!(all.iter().all(|(k, _)| *k != deleted));
    sb.shutdown().await;
}

#[tokio::test]
async fn token_paging_skips_nothing_while_issues_change() {
    let sb = sandbox().await;
    sb.generate("OPS", 600, "OPS", 0);
    let jql = "project = OPS ORDER BY updated ASC, key ASC";
    let before = page_jql(&sb, jql, 100, "updated").await;
    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    let mut page = 0;
    loop {
        let mut body = json!({"jql": jql, "maxResults": 50, "fields": ["updated"]});
        if let Some(t) = &token {
            body["nextPageToken"] = json!(t);
        }
        let r = cloud_post(&sb, "/rest/api/3/search/jql", &body).await;
        assert_eq!(r.status, 200, "{}", r.body);
        seen.extend(keys(&r.body));
        page += 1;
        if page == 2 {
            // Already returned: one deleted, one touched (it moves to the end).
            assert!(sb.delete_issue(&before[5].0));
            assert!(sb.touch_issue(&before[6].0, None));
            // Not yet returned: one deleted.
            assert!(sb.delete_issue(&before[400].0));
        }
        match r.body["nextPageToken"].as_str() {
            Some(t) => token = Some(t.to_string()),
            None => break,
        }
    }
    let seen_set: HashSet<&String> = seen.iter().collect();
    for (n, (k, _)) in before.iter().enumerate() {
        if n == 400 {
            assert!(!seen_set.contains(k), "deleted before its turn");
        } else {
            assert!(seen_set.contains(k), "{k} (#{n}) was skipped");
        }
    }
    assert_eq!(
        seen.iter().filter(|k| **k == before[6].0).count(),
        2,
        "touched: again at the end"
    );
    assert_eq!(seen.last(), Some(&before[6].0));
    sb.shutdown().await;
}

#[tokio::test]
async fn jql_date_literals_compare_with_the_full_timestamp() {
    let sb = sandbox().await;
    tokio::time::sleep(Duration::from_millis(5)).await;
    assert!(sb.touch_issue("ENG-3", None));
    let count = |jql: &'static str| {
        let sb = &sb;
        async move {
            let r = cloud_post(
                sb,
                "/rest/api/3/search/jql",
                &json!({"jql": jql, "maxResults": 100, "fields": ["key"]}),
            )
            .await;
            assert_eq!(r.status, 200, "{jql}: {}", r.body);
            keys(&r.body)
        }
    };
    // The touch happened at 10:00:00.005 or later on the sandbox clock.
    for jql in [
        "project = ENG AND updated >= \"2026-11-20 10:00\"",
        "project = ENG AND updated > \"2026-11-20 10:00\"",
        "project = ENG AND updated >= \"2026-11-20\" AND updated >= 2026/11/20",
        "project = ENG AND updated > \"2026/11/20 10:00\"",
    ] {
        assert!(count(jql).await.contains(&"ENG-3".to_string()), "{jql}");
    }
    assert!(
        !count("project = ENG AND updated < \"2026-11-20 10:00\"")
            .await
            .contains(&"ENG-3".to_string())
    );
    assert!(
        count("project = ENG AND updated >= \"2026-11-20 10:01\"")
            .await
            .is_empty()
    );
    sb.shutdown().await;
}

#[tokio::test]
async fn dc_search_pages_generated_issues_by_offset_with_total() {
    let sb = sandbox().await;
    sb.generate("SEC", 1_200, "OPS", 0);
    let jql = enc("project = SEC AND updated >= \"2026-01-01\" ORDER BY updated ASC, key ASC");
    let mut seen = Vec::new();
    let mut start = 0;
    loop {
        let r = dc(
            &sb,
            &format!(
                "/rest/api/2/search?jql={jql}&startAt={start}&maxResults=250&fields={SYNC_FIELDS}"
            ),
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body["total"], 1_220);
        assert_eq!(r.body["startAt"], start);
        let page = r.body["issues"].as_array().unwrap();
        if let Some(i) = page
            .iter()
            .find(|i| i["fields"]["comment"]["total"].as_u64() > Some(0))
        {
            assert!(
                i["fields"]["comment"]["comments"][0]["body"].is_string(),
                "wiki markup"
            );
            assert!(i["fields"]["description"].is_string());
        }
        seen.extend(
            page.iter()
                .map(|i| i["fields"]["updated"].as_str().unwrap().to_string()),
        );
        start += page.len();
        if page.is_empty() || start >= 1_220 {
            break;
        }
    }
    assert_eq!(seen.len(), 1_220);
    assert!(seen.windows(2).all(|w| w[0] <= w[1]));
    sb.shutdown().await;
}
