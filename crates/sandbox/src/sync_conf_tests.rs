//! Tests for the Confluence side of `sync` (SPEC §10): CQL `lastmodified` paging over generated
//! pages while they change, bulk page fetches by id on v2, full pages from Data Center content
//! search, touching and deleting pages.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;

use serde_json::{Value, json};

use super::tests::{cloud, conf_v1_spec, conf_v2_spec, dc, http, sandbox, send};
use super::*;

fn enc(s: &str) -> String {
    wire::enc(s)
}

/// Pages through Cloud v1 CQL search by following `_links.next`; returns (id, lastModified).
async fn page_cql(sb: &Sandbox, cql: &str, limit: usize) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut url = format!("/wiki/rest/api/search?cql={}&limit={limit}", enc(cql));
    for _ in 0..1_000 {
        let r = cloud(sb, &url).await;
        assert_eq!(r.status, 200, "{url}: {}", r.body);
        for res in r.body["results"].as_array().unwrap() {
            out.push((
                res["content"]["id"].as_str().unwrap().to_string(),
                res["lastModified"].as_str().unwrap().to_string(),
            ));
        }
        match r.body["_links"]["next"].as_str() {
            Some(next) => url = format!("/wiki{next}"),
            None => return out,
        }
    }
    panic!("endless paging")
}

#[tokio::test]
async fn cql_lastmodified_pages_generated_pages_once_and_sees_changes() {
    let sb = sandbox().await;
    assert_eq!(sb.generate("ENG", 0, "ENG", 2_000).pages, 2_000);
    let cql = "space = \"ENG\" AND type = page AND lastmodified >= \"2026-06-01 09:00\" ORDER BY lastmodified ASC";
    let expected = {
        let s = sb.shared.read_store();
        let from = time::macros::datetime!(2026-06-01 09:00 UTC);
        s.pages
            .iter()
            .filter(|p| p.space == 0 && p.modified() >= from)
            .count()
    };
    assert!(expected > 1_500, "{expected}");
    let r = cloud(
        &sb,
        &format!("/wiki/rest/api/search?cql={}&limit=50", enc(cql)),
    )
    .await;
    super::tests::assert_valid(
        &conf_v1_spec().response("/wiki/rest/api/search"),
        &r.body,
        "search",
    );
    let seen = page_cql(&sb, cql, 100).await;
    assert_eq!(seen.len(), expected);
    let ids: HashSet<&String> = seen.iter().map(|(i, _)| i).collect();
    assert_eq!(ids.len(), expected, "each page exactly once");
    assert!(
        seen.windows(2).all(|w| w[0].1 <= w[1].1),
        "lastModified ascending"
    );

    let newest = seen.last().unwrap().1.clone();
    let (touched, deleted) = (seen[3].0.clone(), seen[4].0.clone());
    assert!(sb.touch_page(&touched, Some("Renamed Offline Page")));
    assert!(sb.delete_page(&deleted));
    let minute = newest[..16].replace('T', " ");
    let later = page_cql(
        &sb,
        &format!("space in (\"ENG\", \"OPS\") AND type = page AND lastmodified >= \"{minute}\" ORDER BY lastmodified ASC"),
        25,
    )
    .await;
    assert_eq!(later.last().map(|(i, _)| i), Some(&touched));
    assert!(later.iter().all(|(i, _)| *i != deleted));
    let r = cloud(
        &sb,
        &format!("/wiki/api/v2/pages/{touched}?body-format=storage"),
    )
    .await;
    assert_eq!(r.body["title"], "Renamed Offline Page");
    assert!(r.body["version"]["number"].as_i64().unwrap() >= 2);
    assert_eq!(
        cloud(&sb, &format!("/wiki/api/v2/pages/{deleted}"))
            .await
            .status,
        404
    );
    // Day-only literals and `space = KEY` without quotes work too.
    let day = page_cql(
        &sb,
        "space = ENG AND type = page AND lastmodified >= \"2026-11-20\"",
        100,
    )
    .await;
    assert!(day.iter().any(|(i, _)| *i == touched));
    sb.shutdown().await;
}

#[tokio::test]
async fn cql_cursor_skips_nothing_while_pages_change() {
    let sb = sandbox().await;
    sb.generate("ENG", 0, "OPS", 300);
    let cql = "space = OPS AND type = page ORDER BY lastmodified ASC";
    let before = page_cql(&sb, cql, 100).await;
    let mut seen = Vec::new();
    let mut url = format!("/wiki/rest/api/search?cql={}&limit=40", enc(cql));
    let mut page = 0;
    loop {
        let r = cloud(&sb, &url).await;
        assert_eq!(r.status, 200, "{}", r.body);
        seen.extend(
            r.body["results"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x["content"]["id"].as_str().unwrap().to_string()),
        );
        page += 1;
        if page == 2 {
            assert!(sb.delete_page(&before[10].0));
            assert!(sb.touch_page(&before[11].0, None));
            assert!(sb.delete_page(&before[250].0));
        }
        match r.body["_links"]["next"].as_str() {
            Some(next) => url = format!("/wiki{next}"),
            None => break,
        }
    }
    let set: HashSet<&String> = seen.iter().collect();
    for (n, (id, _)) in before.iter().enumerate() {
        assert_eq!(set.contains(id), n != 250, "page #{n} ({id})");
    }
    assert_eq!(seen.last(), Some(&before[11].0));
    sb.shutdown().await;
}

#[tokio::test]
async fn v2_fetches_pages_in_bulk_by_id_with_bodies() {
    let sb = sandbox().await;
    let g = sb.generate("ENG", 0, "ENG", 600);
    let first = g.first_page_id.unwrap();
    let ids: Vec<String> = (first..first + 250).map(|i| i.to_string()).collect();
    let repeated: String = ids.iter().map(|i| format!("id={i}&")).collect();
    let r = cloud(
        &sb,
        &format!("/wiki/api/v2/pages?{repeated}body-format=storage&include-labels=true&limit=250"),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    super::tests::assert_valid(&conf_v2_spec().response("/pages"), &r.body, "bulk");
    let results = r.body["results"].as_array().unwrap();
    assert_eq!(results.len(), 250);
    assert!(r.body["_links"].get("next").is_none());
    for p in results {
        assert!(ids.contains(&p["id"].as_str().unwrap().to_string()));
        assert!(
            p["body"]["storage"]["value"]
                .as_str()
                .unwrap()
                .contains("<h2>")
        );
        assert!(p["version"]["createdAt"].is_string());
    }
    // The spec's form: one comma-separated list; more than 250 ids is a 400.
    let r = cloud(
        &sb,
        &format!("/wiki/api/v2/pages?id={}&limit=250", ids[..10].join(",")),
    )
    .await;
    assert_eq!(r.body["results"].as_array().unwrap().len(), 10);
    let too_many: Vec<String> = (first..first + 251).map(|i| i.to_string()).collect();
    let r = cloud(
        &sb,
        &format!("/wiki/api/v2/pages?id={}", too_many.join(",")),
    )
    .await;
    assert_eq!(r.status, 400);
    // Labels come from their own endpoint (the bulk list has none).
    let labelled = sb
        .shared
        .read_store()
        .pages
        .iter()
        .find(|p| p.labels.len() >= 2)
        .map(|p| p.id)
        .unwrap();
    let r = cloud(&sb, &format!("/wiki/api/v2/pages/{labelled}/labels")).await;
    assert_eq!(r.status, 200);
    assert!(r.body["results"].as_array().unwrap().len() >= 2);
    // A whole space, by cursor, with bodies, while a page is deleted midway: nothing skipped.
    let mut url = "/wiki/api/v2/spaces/98305/pages?body-format=storage&limit=100".to_string();
    let mut seen: Vec<String> = Vec::new();
    let mut gone = None;
    loop {
        let r = cloud(&sb, &url).await;
        assert_eq!(r.status, 200, "{}", r.body);
        let page: Vec<&Value> = r.body["results"].as_array().unwrap().iter().collect();
        seen.extend(page.iter().map(|p| p["id"].as_str().unwrap().to_string()));
        if gone.is_none() {
            let id = page[3]["id"].as_str().unwrap().to_string();
            assert!(sb.delete_page(&id));
            gone = Some(id);
        }
        match r.body["_links"]["next"].as_str() {
            Some(next) => url = next.to_string(),
            None => break,
        }
    }
    assert_eq!(
        seen.len(),
        608,
        "all 8 seeded and 600 generated pages, none skipped"
    );
    sb.shutdown().await;
}

#[tokio::test]
async fn dc_content_search_returns_full_pages_by_offset() {
    let sb = sandbox().await;
    sb.generate("ENG", 0, "ENG", 120);
    let cql = enc(
        "space = ENG AND type = page AND lastmodified >= \"2026-01-01\" ORDER BY lastmodified ASC",
    );
    let expand = "body.storage,version,space,ancestors,metadata.labels,history";
    let mut start = 0;
    let mut seen = Vec::new();
    loop {
        let r = dc(
            &sb,
            &format!("/rest/api/content/search?cql={cql}&expand={expand}&start={start}&limit=50"),
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.body);
        let results = r.body["results"].as_array().unwrap();
        for c in results {
            assert!(c["body"]["storage"]["value"].is_string());
            assert!(c["version"]["number"].as_i64().unwrap() >= 1);
            assert!(c["version"]["when"].is_string());
            assert_eq!(c["space"]["key"], "ENG");
            assert!(c["ancestors"].is_array());
            assert!(c["metadata"]["labels"]["results"].is_array());
            assert!(c["history"]["createdDate"].is_string());
            seen.push(c["version"]["when"].as_str().unwrap().to_string());
        }
        start += results.len();
        if r.body["_links"].get("next").is_none() {
            break;
        }
    }
    assert_eq!(seen.len(), 128);
    assert!(seen.windows(2).all(|w| w[0] <= w[1]));
    sb.shutdown().await;
}

#[tokio::test]
async fn pages_can_be_touched_and_deleted_through_the_api_and_the_switches() {
    let sb = sandbox().await;
    let base = sb.base_url();
    let r = send(
        http()
            .delete(format!("{base}/wiki/api/v2/pages/100107"))
            .basic_auth(SANDBOX_EMAIL, Some(SANDBOX_API_TOKEN)),
    )
    .await;
    assert_eq!(r.status, 204);
    assert_eq!(cloud(&sb, "/wiki/api/v2/pages/100107").await.status, 404);
    // Children move up to the deleted page's parent; homepages stay.
    assert!(sb.delete_page("100104"));
    let r = cloud(&sb, "/wiki/api/v2/pages/100105").await;
    assert_eq!(r.body["parentId"], "100100");
    assert!(!sb.delete_page("100100"));
    let r = send(
        http()
            .delete(format!("{base}/wiki/api/v2/pages/100100"))
            .basic_auth(SANDBOX_EMAIL, Some(SANDBOX_API_TOKEN)),
    )
    .await;
    assert_eq!(r.status, 400);
    assert!(
        !sb.touch_page("100101", Some("release process")),
        "title taken in the space"
    );
    assert!(!sb.touch_page("999", None));
    let r = send(
        http()
            .post(format!("{base}/__sandbox/touch"))
            .json(&json!({"page": 100101, "title": "Architecture, Revised"})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = cloud(&sb, "/wiki/api/v2/pages/100101").await;
    assert_eq!(
        (
            r.body["title"].as_str(),
            r.body["version"]["number"].as_i64()
        ),
        (Some("Architecture, Revised"), Some(4))
    );
    let r = send(
        http()
            .post(format!("{base}/__sandbox/delete"))
            .json(&json!({"page": "100102"})),
    )
    .await;
    assert_eq!((r.status, &r.body["deleted"]), (200, &json!(["100102"])));
    let r = send(
        http()
            .post(format!("{base}/__sandbox/generate"))
            .json(&json!({"project": "OPS", "issues": 10, "space": "OPS", "pages": 5})),
    )
    .await;
    assert_eq!(
        (r.status, &r.body["lastKey"], &r.body["pages"]),
        (200, &json!("OPS-40"), &json!(5))
    );
    let r = send(
        http()
            .post(format!("{base}/__sandbox/generate"))
            .json(&json!({"project": "NOPE", "issues": 10})),
    )
    .await;
    assert_eq!(r.status, 400);
    let r = send(http().get(format!("{base}/__sandbox/state"))).await;
    assert_eq!(
        (&r.body["issues"]["OPS"], &r.body["pages"]["OPS"]),
        (&json!(40), &json!(9))
    );
    sb.shutdown().await;
}
