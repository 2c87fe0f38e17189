//! Confluence writes: v2 pages (create, update, conflicts, duplicate titles, title lookup) and
//! v1 / Data Center content.

use serde_json::{Value, json};

use super::{At, call, request_schema, response_schema};
use crate::tests::{assert_valid, conf_v1_spec, conf_v2_spec, sandbox};
use crate::{SANDBOX_ACCOUNT_ID, SANDBOX_CLOUD_ID, wire};

const CLASH: &str = "A page with this title already exists: A page already exists with the same TITLE in this space";

fn clash_body() -> Value {
    json!({"errors": [{"status": 400, "code": "INVALID_REQUEST_PARAMETER", "title": CLASH, "detail": null}]})
}

fn conflict_body(current: i64) -> Value {
    json!({"errors": [{"status": 409, "code": "CONFLICT", "title": format!("Version must be incremented on update. Current version is: {current}"), "detail": null}]})
}

#[tokio::test]
async fn v2_pages_create_update_conflict_and_duplicate_titles() {
    let sb = sandbox().await;
    let v2 = conf_v2_spec();
    let base = format!("{}/wiki/api/v2", sb.base_url());
    let body = json!({"spaceId": "98305", "status": "current", "title": "Release notes 1.2", "parentId": "100104",
        "body": {"representation": "storage", "value": "<p>Hello <strong>world</strong></p>"}});
    assert_valid(
        &request_schema(v2, "/pages", "post"),
        &body,
        "create request",
    );
    let r = call(At::Cloud, "POST", &format!("{base}/pages"), Some(&body)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_valid(
        &response_schema(v2, "/pages", "post", "200"),
        &r.body,
        "create response",
    );
    let id = r.body["id"].as_str().expect("id").to_string();
    assert_eq!(
        (
            &r.body["version"]["number"],
            &r.body["version"]["authorId"],
            &r.body["authorId"]
        ),
        (
            &json!(1),
            &json!(SANDBOX_ACCOUNT_ID),
            &json!(SANDBOX_ACCOUNT_ID)
        )
    );
    assert_eq!(
        (&r.body["spaceId"], &r.body["parentId"]),
        (&json!("98305"), &json!("100104"))
    );
    assert_eq!(
        r.body["body"]["storage"]["value"],
        "<p>Hello <strong>world</strong></p>"
    );
    super::assert_written_now(&r.body["createdAt"]);
    assert_eq!(r.body["_links"]["base"], format!("{}/wiki", sb.base_url()));
    assert_eq!(sb.page_count("ENG"), 9);

    let find = format!(
        "{base}/pages?space-id=98305&title={}",
        wire::enc("Release notes 1.2")
    );
    let r = call(At::Cloud, "GET", &find, None).await;
    assert_eq!(r.body["results"].as_array().map(Vec::len), Some(1));
    assert_eq!(r.body["results"][0]["id"], id.as_str());
    let r = call(
        At::Cloud,
        "GET",
        &format!("{base}/pages/{id}?body-format=storage"),
        None,
    )
    .await;
    assert_valid(&v2.response("/pages/{id}"), &r.body, "read back");

    // Default parent: the space homepage; spaceId may be a number.
    let r = call(
        At::Cloud,
        "POST",
        &format!("{base}/pages"),
        Some(&json!({"spaceId": 98306, "title": "Ops child",
        "body": {"storage": {"representation": "storage", "value": "<p>x</p>"}}})),
    )
    .await;
    assert_eq!((r.status, &r.body["parentId"]), (200, &json!("200100")));
    for title in ["Release notes 1.2", "release NOTES 1.2", "Runbooks"] {
        let r = call(
            At::Cloud,
            "POST",
            &format!("{base}/pages"),
            Some(&json!({"spaceId": "98305", "title": title})),
        )
        .await;
        assert_eq!((r.status, &r.body), (400, &clash_body()), "{title}");
    }
    let r = call(
        At::Cloud,
        "POST",
        &format!("{base}/pages"),
        Some(&json!({"spaceId": "98306", "title": "Runbooks"})),
    )
    .await;
    assert_eq!(r.status, 200, "titles are unique per space only");
    for (body, status) in [
        (json!({"spaceId": "1", "title": "T"}), 404),
        (
            json!({"spaceId": "98305", "title": "T", "parentId": "999"}),
            404,
        ),
        (
            json!({"spaceId": "98305", "title": "T", "parentId": "200101"}),
            400,
        ),
        (json!({"spaceId": "98305", "title": "  "}), 400),
        (json!({"title": "T"}), 400),
        (
            json!({"spaceId": "98305", "title": "T", "status": "draft"}),
            400,
        ),
        (
            json!({"spaceId": "98305", "title": "T", "body": {"representation": "atlas_doc_format", "value": "{}"}}),
            400,
        ),
    ] {
        let r = call(At::Cloud, "POST", &format!("{base}/pages"), Some(&body)).await;
        assert_eq!(r.status, status, "{body}: {}", r.body);
        assert_eq!(r.body["errors"][0]["status"], status);
    }

    let upd = |n: i64, title: &str| {
        json!({"id": id, "status": "current", "title": title,
        "body": {"representation": "storage", "value": "<p>Final</p>"}, "version": {"number": n, "message": "Polish"}})
    };
    assert_valid(
        &request_schema(v2, "/pages/{id}", "put"),
        &upd(2, "x"),
        "update request",
    );
    let url = format!("{base}/pages/{id}");
    let r = call(
        At::Cloud,
        "PUT",
        &url,
        Some(&upd(2, "Release notes 1.2 (final)")),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_valid(
        &response_schema(v2, "/pages/{id}", "put", "200"),
        &r.body,
        "update response",
    );
    assert_eq!(
        (
            &r.body["version"]["number"],
            &r.body["version"]["message"],
            &r.body["version"]["authorId"]
        ),
        (&json!(2), &json!("Polish"), &json!(SANDBOX_ACCOUNT_ID))
    );
    assert!(r.body["version"]["createdAt"].as_str() > r.body["createdAt"].as_str());
    assert_eq!(
        (&r.body["title"], &r.body["body"]["storage"]["value"]),
        (&json!("Release notes 1.2 (final)"), &json!("<p>Final</p>"))
    );
    for n in [2, 4, 1] {
        let r = call(At::Cloud, "PUT", &url, Some(&upd(n, "Whatever"))).await;
        assert_eq!((r.status, &r.body), (409, &conflict_body(2)), "version {n}");
    }
    let r = call(At::Cloud, "PUT", &url, Some(&upd(3, "Runbooks"))).await;
    assert_eq!((r.status, &r.body), (400, &clash_body()));
    let mut missing = upd(3, "T");
    missing.as_object_mut().expect("obj").remove("version");
    assert_eq!(
        call(At::Cloud, "PUT", &url, Some(&missing)).await.status,
        400
    );
    let mut other = upd(3, "T");
    other["id"] = json!("100101");
    assert_eq!(call(At::Cloud, "PUT", &url, Some(&other)).await.status, 400);
    assert_eq!(
        call(
            At::Cloud,
            "PUT",
            &format!("{base}/pages/999"),
            Some(&upd(2, "T"))
        )
        .await
        .status,
        404
    );
    let mut seeded = upd(4, "Architecture Overview");
    seeded["id"] = json!("100101");
    let r = call(
        At::Cloud,
        "PUT",
        &format!("{base}/pages/100101"),
        Some(&seeded),
    )
    .await;
    assert_eq!((r.status, &r.body["version"]["number"]), (200, &json!(4)));
    let r = call(At::Cloud, "GET", &find, None).await;
    assert_eq!(r.body["results"], json!([]), "the old title is gone");
    let cql = format!(
        "{}/wiki/rest/api/search?cql={}",
        sb.base_url(),
        wire::enc("space = ENG and title ~ \"final\"")
    );
    let r = call(At::Cloud, "GET", &cql, None).await;
    assert_eq!(
        r.body["results"][0]["content"]["id"],
        id.as_str(),
        "CQL sees the new title"
    );

    let gw = format!(
        "{}/ex/confluence/{SANDBOX_CLOUD_ID}/wiki/api/v2/pages",
        sb.gateway_url()
    );
    let r = call(
        At::Gateway,
        "POST",
        &gw,
        Some(&json!({"spaceId": "98307", "title": "Via gateway"})),
    )
    .await;
    assert_eq!(r.status, 200);
    assert!(
        r.body["_links"]["base"]
            .as_str()
            .expect("base")
            .contains("/ex/confluence/")
    );
    sb.shutdown().await;
}

#[tokio::test]
async fn dc_and_v1_content_create_update_and_title_lookup() {
    let sb = sandbox().await;
    let v1 = conf_v1_spec();
    let content = v1.component("Content");
    let api = format!("{}/rest/api/content", sb.dc_base_url());
    let body = json!({"type": "page", "title": "DC page", "space": {"key": "ENG"}, "ancestors": [{"id": "100104"}],
        "body": {"storage": {"value": "<p>Hi</p>", "representation": "storage"}}});
    assert_valid(&v1.component("ContentCreate"), &body, "create request");
    let r = call(At::Dc, "POST", &api, Some(&body)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_valid(&content, &r.body, "created");
    let id = r.body["id"].as_str().expect("id").to_string();
    assert_eq!(
        (
            &r.body["version"]["number"],
            &r.body["version"]["by"]["username"]
        ),
        (&json!(1), &json!("demo"))
    );
    assert_eq!(
        r.body["ancestors"]
            .as_array()
            .and_then(|a| a.last())
            .map(|a| &a["id"]),
        Some(&json!("100104"))
    );
    assert_eq!(r.body["body"]["storage"]["value"], "<p>Hi</p>");
    let r = call(
        At::Dc,
        "GET",
        &format!("{api}?spaceKey=ENG&title=DC%20page&expand=version"),
        None,
    )
    .await;
    assert_valid(&v1.component("ContentArray"), &r.body, "lookup");
    assert_eq!(
        (&r.body["size"], &r.body["results"][0]["id"]),
        (&json!(1), &json!(id))
    );
    let r = call(
        At::Dc,
        "GET",
        &format!("{api}?spaceKey=OPS&title=DC%20page"),
        None,
    )
    .await;
    assert_eq!(r.body["size"], 0);

    let r = call(At::Dc, "POST", &api, Some(&body)).await;
    assert_eq!((r.status, &r.body["statusCode"]), (400, &json!(400)));
    assert!(r.body["message"].as_str().expect("m").ends_with(
        "A page with this title already exists: A page already exists with the title DC page in the space with key ENG"
    ));
    let mut nowhere = body.clone();
    nowhere["space"]["key"] = json!("NOPE");
    let r = call(At::Dc, "POST", &api, Some(&nowhere)).await;
    assert_eq!(
        (r.status, &r.body["message"]),
        (404, &json!("No space with key : NOPE"))
    );
    let mut blog = body.clone();
    blog["type"] = json!("blogpost");
    assert_eq!(call(At::Dc, "POST", &api, Some(&blog)).await.status, 400);

    let upd = |n: i64| {
        json!({"version": {"number": n, "message": "second"}, "title": "DC page v2", "type": "page",
        "body": {"storage": {"value": "<p>Two</p>", "representation": "storage"}}})
    };
    assert_valid(&v1.component("ContentUpdate"), &upd(2), "update request");
    let r = call(At::Dc, "PUT", &format!("{api}/{id}"), Some(&upd(2))).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_valid(&content, &r.body, "updated");
    assert_eq!(
        (&r.body["version"]["number"], &r.body["title"]),
        (&json!(2), &json!("DC page v2"))
    );
    let r = call(At::Dc, "PUT", &format!("{api}/{id}"), Some(&upd(2))).await;
    assert_eq!(r.status, 409);
    assert_eq!(r.body["statusCode"], 409);
    assert_eq!(r.body["reason"], "Conflict");
    assert_eq!(
        r.body["message"],
        "com.atlassian.confluence.api.service.exceptions.ConflictException: Version must be incremented on update. Current version is: 2"
    );
    let mut unversioned = upd(3);
    unversioned.as_object_mut().expect("obj").remove("version");
    assert_eq!(
        call(At::Dc, "PUT", &format!("{api}/{id}"), Some(&unversioned))
            .await
            .status,
        400
    );
    assert_eq!(
        call(At::Dc, "PUT", &format!("{api}/999"), Some(&upd(2)))
            .await
            .status,
        404
    );
    let r = call(
        At::Dc,
        "GET",
        &format!("{api}/{id}?expand=body.storage,version"),
        None,
    )
    .await;
    assert_eq!(
        (
            &r.body["body"]["storage"]["value"],
            &r.body["version"]["message"]
        ),
        (&json!("<p>Two</p>"), &json!("second"))
    );

    // Cloud v1 content writes answer the same way, with Cloud's duplicate-title wording.
    let cloud = format!("{}/wiki/rest/api/content", sb.base_url());
    let mut cbody = body.clone();
    cbody["title"] = json!("Cloud v1 page");
    let r = call(At::Cloud, "POST", &cloud, Some(&cbody)).await;
    assert_eq!(r.status, 200);
    assert_valid(&content, &r.body, "cloud v1 create");
    let r = call(At::Cloud, "POST", &cloud, Some(&cbody)).await;
    assert!(r.body["message"].as_str().expect("m").ends_with(CLASH));
    let r = call(
        At::Cloud,
        "GET",
        &format!("{}/wiki/api/v2/pages/{id}", sb.base_url()),
        None,
    )
    .await;
    assert_eq!(
        (&r.body["title"], &r.body["version"]["number"]),
        (&json!("DC page v2"), &json!(2))
    );
    assert_eq!(sb.page_count("ENG"), 10);
    sb.shutdown().await;
}
