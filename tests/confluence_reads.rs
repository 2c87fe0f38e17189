//! Confluence reads an agent can act on: page headers that name people, labels and the parent,
//! mentions by name, links to other pages with a target, page links accepted as ids, plain
//! words searched as text, and schemas that carry their real bounds.

use serde_json::{Value, json};

use crate::support::{Env, FLAVORS, Flavor, call, err, ok, text};

#[tokio::test]
async fn page_header_names_people_labels_and_parent() {
    for flavor in FLAVORS {
        let env = Env::new(flavor, "").await;
        let client = env.client().await;
        let r = call(&client, "confluence_get_page", json!({"page_id": "200101"})).await;
        let page = ok(&r);
        assert_eq!(page["author"], "Priya Shah", "{flavor:?}");
        assert_eq!(page["last_editor"], "Priya Shah", "{flavor:?}");
        assert_eq!(page["labels"], json!(["on-call"]), "{flavor:?}");
        assert_eq!(page["parent_id"], "200100");
        assert_eq!(page["parent_title"], "Operations Home", "{flavor:?}");
        let shown = text(&r);
        assert!(
            shown.contains("Parent: Operations Home (page 200100) · Labels: on-call"),
            "{flavor:?}: {shown}"
        );
        // Mentions show names, not account ids.
        let body = page["body"].as_str().unwrap();
        assert!(body.contains("Primary: @Priya Shah"), "{flavor:?}: {body}");
        assert!(!body.contains("@user("), "{flavor:?}: {body}");
        client.cancel().await.ok();
    }
}

#[tokio::test]
async fn links_to_pages_keep_a_target_and_the_title_is_not_repeated() {
    let env = Env::new(Flavor::Cloud, "").await;
    let client = env.client().await;
    let page = ok(&call(&client, "confluence_get_page", json!({"page_id": "100101"})).await);
    let body = page["body"].as_str().unwrap();
    assert!(
        !body.starts_with("# Architecture Overview"),
        "the title is in the header already: {body:.80}"
    );
    let home = ok(&call(&client, "confluence_get_page", json!({"page_id": "100100"})).await);
    let body = home["body"].as_str().unwrap();
    let wiki = format!("{}/wiki", env.sandbox.base_url());
    assert!(
        body.contains(&format!(
            "[Architecture Overview]({wiki}/display/ENG/Architecture+Overview)"
        )),
        "{body}"
    );
    assert!(
        body.contains(&format!(
            "[Meeting Notes 2026-11-17]({wiki}/display/ENG/Meeting+Notes+2026-11-17)"
        )),
        "{body}"
    );
    // Storage format stays exactly what Confluence holds.
    let raw = ok(&call(
        &client,
        "confluence_get_page",
        json!({"page_id": "100100", "format": "storage"}),
    )
    .await);
    assert!(raw["body"].as_str().unwrap().contains("ri:content-title"));
    client.cancel().await.ok();
}

#[tokio::test]
async fn page_links_are_accepted_where_ids_are() {
    for flavor in FLAVORS {
        let env = Env::new(flavor, "").await;
        let client = env.client().await;
        let by_id = ok(&call(&client, "confluence_get_page", json!({"page_id": "100101"})).await);
        let url = by_id["url"].as_str().unwrap().to_string();
        let by_url = ok(&call(&client, "confluence_get_page", json!({"page_id": url})).await);
        assert_eq!(by_url["id"], "100101", "{flavor:?}");
        let base = match flavor {
            Flavor::Cloud => format!("{}/wiki", env.sandbox.base_url()),
            Flavor::DataCenter => env.sandbox.dc_base_url(),
        };
        for link in [
            format!("{base}/pages/viewpage.action?pageId=100101"),
            format!("{base}/display/ENG/Architecture+Overview"),
            // 100101 = 0x018705: little-endian bytes 05 87 01.
            format!("{base}/x/BYcB"),
        ] {
            let r = ok(&call(
                &client,
                "confluence_summarize_page",
                json!({"page_id": link}),
            )
            .await);
            assert_eq!(r["digest"]["id"], "100101", "{flavor:?}: {link}");
        }
        let elsewhere = err(&call(
            &client,
            "confluence_get_page",
            json!({"page_id": "https://other.atlassian.net/wiki/spaces/X/pages/100101/T"}),
        )
        .await);
        assert!(
            elsewhere.contains("other.atlassian.net") && elsewhere.contains("not to this site"),
            "{elsewhere}"
        );
        let not_a_page = err(&call(
            &client,
            "confluence_get_page",
            json!({"page_id": format!("{base}/spaces/ENG/overview")}),
        )
        .await);
        assert!(not_a_page.contains("not a link to a page"), "{not_a_page}");
        let missing = err(&call(
            &client,
            "confluence_get_page",
            json!({"page_id": format!("{base}/display/ENG/No+Such+Page")}),
        )
        .await);
        assert!(
            missing.contains("no page titled \"No Such Page\" in space ENG"),
            "{missing}"
        );
        client.cancel().await.ok();
    }
}

#[tokio::test]
async fn plain_words_are_searched_as_text_and_said_so() {
    let env = Env::new(Flavor::Cloud, "").await;
    let client = env.client().await;
    let r = call(
        &client,
        "confluence_search",
        json!({"cql": "architecture overview"}),
    )
    .await;
    let out = ok(&r);
    assert_eq!(out["searched_as_text"], "text ~ \"architecture overview\"");
    assert_eq!(out["results"][0]["id"], "100101");
    assert!(text(&r).starts_with("(no CQL operator in the query: searched as text ~"));
    let cql = ok(&call(&client, "confluence_search", json!({"cql": "type = page"})).await);
    assert!(cql.get("searched_as_text").is_none());
    client.cancel().await.ok();
}

#[tokio::test]
async fn tools_list_titles_and_bounds() {
    let env = Env::new(Flavor::Cloud, "").await;
    let client = env.client().await;
    let tools = client.list_all_tools().await.unwrap();
    for t in &tools {
        let annotated = t.annotations.as_ref().and_then(|a| a.title.clone());
        assert!(annotated.is_some(), "{}", t.name);
        assert_eq!(t.title, annotated, "{}: top-level title", t.name);
    }
    let schema = |name: &str, arg: &str| -> Value {
        let t = tools.iter().find(|t| t.name == name).unwrap();
        Value::Object((*t.input_schema).clone())["properties"][arg].clone()
    };
    for (tool, arg, min, max, default) in [
        ("confluence_search", "limit", 1, 50, 10),
        ("confluence_list_spaces", "limit", 1, 100, 25),
        ("confluence_summarize_page", "max_words", 1, 1000, 150),
    ] {
        let s = schema(tool, arg);
        assert_eq!(
            (&s["minimum"], &s["maximum"], &s["default"]),
            (&json!(min), &json!(max), &json!(default)),
            "{tool}.{arg}: {s}"
        );
    }
    let keys = ok(&call(
        &client,
        "confluence_list_spaces",
        json!({"keys": "ENG, OPS"}),
    )
    .await);
    let listed: Vec<&str> = keys["spaces"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["key"].as_str())
        .collect();
    assert_eq!(listed, ["ENG", "OPS"], "a comma-separated list works");
    client.cancel().await.ok();
}
