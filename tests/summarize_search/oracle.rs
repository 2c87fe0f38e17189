//! The independent side of the `jira_summarize_search` tests: the sandbox's issues read over
//! raw HTTP (its own search API, 37 per page), issues added over raw HTTP, and checks of a
//! summary against counts made here. Nothing in this file goes through the bridge.

use std::collections::{BTreeMap, HashSet};

use atlassian_mcp_bridge::sandbox::{
    SANDBOX_ACCOUNT_ID, SANDBOX_API_TOKEN, SANDBOX_EMAIL, SANDBOX_PAT,
};
use serde_json::{Value, json};

use crate::support::{Env, Flavor};

/// One issue as the sandbox serves it, read over raw HTTP.
#[derive(Debug, Clone)]
pub(super) struct Raw {
    pub key: String,
    pub status: String,
    pub done: bool,
    pub assignee: Option<String>,
    pub priority: Option<String>,
    pub issue_type: String,
    pub project: String,
    pub labels: Vec<String>,
    pub due: Option<String>,
    /// Full timestamps; the sandbox always answers in UTC (`+0000`), so they sort as text.
    pub created: String,
    pub updated: String,
}

impl Raw {
    fn from_json(v: &Value) -> Raw {
        let f = &v["fields"];
        let s = |v: &Value| v.as_str().map(str::to_string);
        Raw {
            key: s(&v["key"]).unwrap(),
            status: s(&f["status"]["name"]).unwrap(),
            done: f["status"]["statusCategory"]["key"] == "done",
            assignee: s(&f["assignee"]["displayName"]),
            priority: s(&f["priority"]["name"]),
            issue_type: s(&f["issuetype"]["name"]).unwrap(),
            project: s(&f["project"]["key"]).unwrap(),
            labels: f["labels"]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| l.as_str().unwrap().to_string())
                .collect(),
            due: s(&f["duedate"]),
            created: s(&f["created"]).unwrap(),
            updated: s(&f["updated"]).unwrap(),
        }
    }

    pub fn overdue(&self, today: &str) -> bool {
        !self.done && self.due.as_deref().is_some_and(|d| d < today)
    }
}

/// Pages through `jql` on the sandbox's own search endpoint (37 per page), in its order.
pub(super) async fn raw_issues(env: &Env, jql: &str) -> Vec<Raw> {
    let http = reqwest::Client::new();
    let fields = "status,assignee,priority,issuetype,project,labels,duedate,created,updated";
    let mut out = Vec::new();
    match env.flavor {
        Flavor::Cloud => {
            let mut token: Option<String> = None;
            loop {
                let mut q = vec![("jql", jql.to_string()), ("fields", fields.into())];
                q.push(("maxResults", "37".into()));
                if let Some(t) = &token {
                    q.push(("nextPageToken", t.clone()));
                }
                let body: Value = http
                    .get(format!("{}/rest/api/3/search/jql", env.sandbox.base_url()))
                    .basic_auth(SANDBOX_EMAIL, Some(SANDBOX_API_TOKEN))
                    .query(&q)
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                out.extend(
                    body["issues"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(Raw::from_json),
                );
                match body["nextPageToken"].as_str() {
                    Some(t) => token = Some(t.to_string()),
                    None => break,
                }
            }
        }
        Flavor::DataCenter => loop {
            let body: Value = http
                .get(format!("{}/rest/api/2/search", env.sandbox.dc_base_url()))
                .bearer_auth(SANDBOX_PAT)
                .query(&[
                    ("jql", jql.to_string()),
                    ("fields", fields.into()),
                    ("maxResults", "37".into()),
                    ("startAt", out.len().to_string()),
                ])
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let page = body["issues"].as_array().unwrap();
            out.extend(page.iter().map(Raw::from_json));
            if page.is_empty() || out.len() as u64 >= body["total"].as_u64().unwrap() {
                break;
            }
        },
    }
    out
}

/// Adds `n` issues to `project` over raw HTTP (bulk create, 50 per request), with a spread of
/// assignees (and none), priorities, labels (and none) and due dates (past, far future, none),
/// then moves every 7th to Done and every 5th to In Progress. Returns the new keys.
pub(super) async fn grow(env: &Env, project: &str, n: usize) -> Vec<String> {
    let http = reqwest::Client::new();
    let cloud = env.flavor == Flavor::Cloud;
    let (base, prefix) = match env.flavor {
        Flavor::Cloud => (env.sandbox.base_url(), "/rest/api/3"),
        Flavor::DataCenter => (env.sandbox.dc_base_url(), "/rest/api/2"),
    };
    let auth = |rb: reqwest::RequestBuilder| match env.flavor {
        Flavor::Cloud => rb.basic_auth(SANDBOX_EMAIL, Some(SANDBOX_API_TOKEN)),
        Flavor::DataCenter => rb.bearer_auth(SANDBOX_PAT),
    };
    let people: [Option<(&str, &str)>; 4] = [
        Some(("61d5f0c2a8b4e3001d7c9a02", "alex.rivera")),
        Some(("61d5f0c2a8b4e3001d7c9a03", "priya.shah")),
        None,
        Some((SANDBOX_ACCOUNT_ID, "demo")),
    ];
    let priorities = ["High", "Medium", "Low", "Highest", "Medium"];
    let labels: [&[&str]; 3] = [&[], &["load"], &["load", "perf"]];
    let dues = [
        None,
        Some("2026-11-03"),
        Some("2099-06-01"),
        Some("2026-11-25"),
        None,
        Some("2026-10-30"),
    ];
    let mut keys = Vec::new();
    let items: Vec<Value> = (0..n)
        .map(|i| {
            let mut fields = json!({
                "project": {"key": project},
                "issuetype": {"name": "Task"},
                "summary": format!("Load item {i}"),
                "priority": {"name": priorities[i % priorities.len()]},
                "labels": labels[i % labels.len()],
            });
            if let Some((id, name)) = people[i % people.len()] {
                fields["assignee"] = if cloud {
                    json!({"id": id})
                } else {
                    json!({"name": name})
                };
            }
            if let Some(d) = dues[i % dues.len()] {
                fields["duedate"] = json!(d);
            }
            json!({"fields": fields})
        })
        .collect();
    for chunk in items.chunks(50) {
        let r = auth(http.post(format!("{base}{prefix}/issue/bulk")))
            .json(&json!({"issueUpdates": chunk}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["errors"].as_array().unwrap().len(), 0, "{body}");
        keys.extend(
            body["issues"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["key"].as_str().unwrap().to_string()),
        );
    }
    for (i, key) in keys.iter().enumerate() {
        let to = match (i % 7, i % 5) {
            (0, _) => "41",
            (_, 0) => "21",
            _ => continue,
        };
        let r = auth(http.post(format!("{base}{prefix}/issue/{key}/transitions")))
            .json(&json!({"transition": {"id": to}}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 204, "{key} → {to}");
    }
    keys
}

/// The UTC date now, as the tool reports it.
pub(super) fn utc_today() -> String {
    time::OffsetDateTime::now_utc().date().to_string()
}

/// `groups.<field>` as value → count.
pub(super) fn group(out: &Value, field: &str) -> BTreeMap<String, u64> {
    out["groups"][field]
        .as_array()
        .unwrap_or_else(|| panic!("no groups.{field} in {out}"))
        .iter()
        .map(|b| {
            (
                b["value"].as_str().unwrap().to_string(),
                b["count"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// Counts `value(issue)` over `issues` (several values per issue allowed).
pub(super) fn tally<'a>(
    issues: impl IntoIterator<Item = &'a Raw>,
    value: impl Fn(&Raw) -> Vec<String>,
) -> BTreeMap<String, u64> {
    let mut m = BTreeMap::new();
    for i in issues {
        for v in value(i) {
            *m.entry(v).or_insert(0) += 1;
        }
    }
    m
}

pub(super) fn list_keys(out: &Value, list: &str) -> Vec<String> {
    out[list]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["key"].as_str().unwrap().to_string())
        .collect()
}

/// Checks that `list` holds the first min(10, n) of `candidates` ordered by `sort_key`
/// (ascending), allowing any order among ties: every listed issue is a candidate, the list is
/// sorted, and nothing left out sorts before the last listed one.
pub(super) fn check_top(
    out: &Value,
    list: &str,
    candidates: &[&Raw],
    sort_key: impl Fn(&Raw) -> String,
) {
    let keys = list_keys(out, list);
    assert_eq!(keys.len(), candidates.len().min(10), "{list}: {keys:?}");
    let by_key: BTreeMap<&str, &Raw> = candidates.iter().map(|r| (r.key.as_str(), *r)).collect();
    let listed: Vec<String> = keys
        .iter()
        .map(|k| {
            sort_key(
                by_key
                    .get(k.as_str())
                    .unwrap_or_else(|| panic!("{list}: {k} does not belong")),
            )
        })
        .collect();
    assert!(
        listed.windows(2).all(|w| w[0] <= w[1]),
        "{list} not sorted: {listed:?}"
    );
    let unique: HashSet<&String> = keys.iter().collect();
    assert_eq!(unique.len(), keys.len(), "{list}: a key twice");
    if let Some(last) = listed.last() {
        for r in candidates.iter().filter(|r| !keys.contains(&r.key)) {
            assert!(
                sort_key(r) >= *last,
                "{list}: {} should have been listed",
                r.key
            );
        }
    }
}

/// Checks a field's buckets against the expected counts. Past 20 values the tool lists the 19
/// largest and folds the rest into one `(N other values)` bucket: then every listed count must
/// be exact, the folded ones must add up, and none of them may outrank a listed one.
pub(super) fn check_buckets(
    got: &BTreeMap<String, u64>,
    expected: &BTreeMap<String, u64>,
    field: &str,
) {
    let folded = got.iter().find_map(|(k, c)| {
        let n = k.strip_prefix('(')?.strip_suffix(" other values)")?;
        Some((k.clone(), n.parse::<usize>().unwrap(), *c))
    });
    let Some((name, n, count)) = folded else {
        assert_eq!(got, expected, "groups.{field}");
        return;
    };
    let mut listed = got.clone();
    listed.remove(&name);
    assert_eq!(listed.len(), 19, "groups.{field}");
    assert_eq!(listed.len() + n, expected.len(), "groups.{field}");
    for (value, c) in &listed {
        assert_eq!(expected.get(value), Some(c), "groups.{field}: {value}");
    }
    let rest: Vec<u64> = expected
        .iter()
        .filter(|(v, _)| !listed.contains_key(*v))
        .map(|(_, c)| *c)
        .collect();
    assert_eq!(rest.iter().sum::<u64>(), count, "groups.{field}: folded");
    let smallest_listed = listed.values().min().unwrap();
    assert!(rest.iter().all(|c| c <= smallest_listed), "groups.{field}");
}

/// Asserts every number of `out` against an independent count over `issues`.
pub(super) fn check_summary(out: &Value, issues: &[Raw], fields: &[&str]) {
    let today = out["today"].as_str().unwrap();
    let n = issues.len() as u64;
    assert_eq!(out["counted"], n);
    assert_eq!(out["done"], issues.iter().filter(|i| i.done).count() as u64);
    assert_eq!(
        out["open"],
        issues.iter().filter(|i| !i.done).count() as u64
    );
    let unassigned = issues.iter().filter(|i| i.assignee.is_none()).count() as u64;
    assert_eq!(out["unassigned"], unassigned);
    let overdue: Vec<&Raw> = issues.iter().filter(|i| i.overdue(today)).collect();
    assert_eq!(out["overdue_count"], overdue.len() as u64);
    for field in fields {
        let expected = match *field {
            "status" => tally(issues, |i| vec![i.status.clone()]),
            "assignee" => tally(issues, |i| {
                vec![i.assignee.clone().unwrap_or_else(|| "(unassigned)".into())]
            }),
            "priority" => tally(issues, |i| {
                vec![i.priority.clone().unwrap_or_else(|| "(none)".into())]
            }),
            "type" => tally(issues, |i| vec![i.issue_type.clone()]),
            "project" => tally(issues, |i| vec![i.project.clone()]),
            "label" => tally(issues, |i| {
                if i.labels.is_empty() {
                    vec!["(no label)".into()]
                } else {
                    i.labels.clone()
                }
            }),
            other => panic!("unknown field {other}"),
        };
        check_buckets(&group(out, field), &expected, field);
        // Largest first; a folded "(N other values)" bucket comes last, whatever its count.
        let counts: Vec<u64> = out["groups"][field]
            .as_array()
            .unwrap()
            .iter()
            .filter(|b| !b["value"].as_str().unwrap().ends_with(" other values)"))
            .map(|b| b["count"].as_u64().unwrap())
            .collect();
        let last = out["groups"][field].as_array().unwrap().last().cloned();
        if let Some(i) = out["groups"][field]
            .as_array()
            .unwrap()
            .iter()
            .position(|b| b["value"].as_str().unwrap().ends_with(" other values)"))
        {
            assert_eq!(
                Some(&out["groups"][field][i]),
                last.as_ref(),
                "folded bucket last"
            );
        }
        assert!(
            counts.windows(2).all(|w| w[0] >= w[1]),
            "groups.{field} not by count: {counts:?}"
        );
    }
    let open: Vec<&Raw> = issues.iter().filter(|i| !i.done).collect();
    let all: Vec<&Raw> = issues.iter().collect();
    check_top(out, "overdue", &overdue, |r| r.due.clone().unwrap());
    check_top(out, "oldest_open", &open, |r| r.created.clone());
    // Newest first: sort by the negated timestamp (a descending string key).
    check_top(out, "recently_updated", &all, |r| {
        r.updated
            .bytes()
            .map(|b| char::from(b'~' - (b - b' ')))
            .collect()
    });
    for row in out["overdue"].as_array().unwrap() {
        let due = row["due"].as_str().unwrap();
        assert_eq!(due.len(), 10, "ISO date: {due}");
        assert!(due < today);
    }
}
