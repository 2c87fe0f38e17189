//! One page of a JQL search, Cloud (`/rest/api/3/search/jql`, token paging) or Data Center
//! (`/rest/api/2/search`, offset paging): sent as a GET, or as a POST when the JQL would make
//! the URL longer than [`MAX_GET_URL_BYTES`], and cut to `maxResults` whatever the site sends.

use serde_json::Value;

use super::wire::{self, WirePage};
use super::{Issue, Jira, SearchPage, decode};
use crate::atlassian::http::{ApiRequest, CallTrace, MAX_GET_URL_BYTES};
use crate::atlassian::json::{offset_cursor, text, uint};
use crate::atlassian::{ApiError, Product};
use crate::config::Deployment;

impl Jira<'_> {
    /// One page of a search asking for `fields` (those in `extra_fields` are also kept raw in
    /// [`Issue::extra`]): never more than `max_results` issues, with the next cursor.
    pub(super) async fn search_raw(
        &self,
        trace: &CallTrace,
        jql: &str,
        fields: &[&str],
        extra_fields: &[String],
        max_results: u32,
        page_token: Option<&str>,
    ) -> Result<SearchPage, ApiError> {
        let req = self.search_request(jql, fields, max_results, page_token)?;
        let path = req.url.path().to_string();
        let body = self.api.http.send_for_bytes(trace, req).await?;
        let keep = usize::try_from(max_results).unwrap_or(usize::MAX);
        // The fast reader takes what real sites send; anything odd goes to the general one,
        // which reads it exactly as before.
        let page = match wire::decode_page(&body, extra_fields, keep) {
            Ok(page) => page,
            Err(e) => {
                tracing::debug!(error = %e, "search page read with the general reader");
                page_from_value(&body, &path, extra_fields, keep)?
            }
        };
        // A site that sends more than asked is cut to the request: the model never sees more
        // than `max_results`, and offset paging continues right after what was kept.
        let kept = page.sent.min(keep);
        let cut = kept < page.sent;
        let (next_page_token, total) = match self.api.deployment {
            Deployment::Cloud => {
                // Cloud's token is opaque: after a cut it still points past what the site
                // sent, which is the only continuation there is.
                let last = page.is_last.unwrap_or(false);
                (page.next_page_token.filter(|_| !last), None)
            }
            Deployment::DataCenter => {
                let start = page.start_at.unwrap_or(0);
                let total = page.total;
                let next = start.saturating_add(kept as u64);
                let more = (cut || total.is_some_and(|t| next < t)) && kept > 0;
                (more.then(|| next.to_string()), total)
            }
        };
        Ok(SearchPage {
            issues: page.issues,
            next_page_token,
            total,
            cut,
        })
    }

    /// The request for one search page: a GET, or, when the JQL would make the URL longer
    /// than [`MAX_GET_URL_BYTES`], the same search as a POST with a JSON body (Cloud
    /// `POST /rest/api/3/search/jql`, Data Center `POST /rest/api/2/search`), marked safe to
    /// repeat since it only reads.
    fn search_request(
        &self,
        jql: &str,
        fields: &[&str],
        max_results: u32,
        page_token: Option<&str>,
    ) -> Result<ApiRequest, ApiError> {
        let joined = fields.join(",");
        let (get, post) = match self.api.deployment {
            Deployment::Cloud => {
                let url = self.url(&["search", "jql"]);
                let get = ApiRequest::get(Product::Jira, url.clone())
                    .query("jql", jql)
                    .query("maxResults", max_results.to_string())
                    .query("fields", joined)
                    .query_opt("nextPageToken", page_token);
                let mut body = serde_json::json!({
                    "jql": jql,
                    "maxResults": max_results,
                    "fields": fields,
                });
                if let Some(token) = page_token {
                    body["nextPageToken"] = Value::from(token);
                }
                (get, ApiRequest::post(Product::Jira, url).json(body))
            }
            Deployment::DataCenter => {
                let start = offset_cursor(Product::Jira, page_token, "next_page_token")?;
                let url = self.url(&["search"]);
                let get = ApiRequest::get(Product::Jira, url.clone())
                    .query("jql", jql)
                    .query("startAt", start.to_string())
                    .query("maxResults", max_results.to_string())
                    .query("fields", joined);
                let body = serde_json::json!({
                    "jql": jql,
                    "startAt": start,
                    "maxResults": max_results,
                    "fields": fields,
                });
                (get, ApiRequest::post(Product::Jira, url).json(body))
            }
        };
        let req = if get.url_len() > MAX_GET_URL_BYTES {
            post.safe_to_repeat()
        } else {
            get
        };
        Ok(req.scope("read:jira-work"))
    }
}

/// The general reader for a search page (anything the fast reader in `wire.rs` declines):
/// `serde_json::Value`, then the forgiving field readers.
fn page_from_value(
    body: &[u8],
    path: &str,
    extra_fields: &[String],
    keep: usize,
) -> Result<WirePage, ApiError> {
    let body: Value = if body.iter().all(u8::is_ascii_whitespace) {
        Value::Null
    } else {
        serde_json::from_slice(body).map_err(|e| ApiError::Decode {
            product: Product::Jira,
            message: format!("{path}: body is not valid JSON ({e})"),
        })?
    };
    let Some(raw) = body.get("issues").and_then(Value::as_array) else {
        return Err(decode("search response has no `issues` array"));
    };
    Ok(WirePage {
        issues: raw
            .iter()
            .take(keep)
            .filter_map(|i| Issue::from_json(i, extra_fields))
            .collect(),
        sent: raw.len(),
        next_page_token: text(&body, "nextPageToken"),
        is_last: body.get("isLast").and_then(Value::as_bool),
        start_at: uint(&body, "startAt"),
        total: uint(&body, "total"),
    })
}

/// The general reader, for the fast reader's tests (which compare the two).
#[cfg(test)]
pub(super) fn page_from_value_for_tests(
    body: &[u8],
    extra_fields: &[String],
    keep: usize,
) -> Result<WirePage, ApiError> {
    page_from_value(body, "/rest/api/3/search/jql", extra_fields, keep)
}

#[cfg(test)]
mod tests {
    use reqwest::Method;
    use serde_json::Value;
    use url::Url;

    use crate::atlassian::http::{ApiRequest, MAX_GET_URL_BYTES};
    use crate::atlassian::{Api, DEFAULT_API_BASE, RetryPolicy};
    use crate::config::Deployment;

    fn api(deployment: Deployment) -> Api {
        let settings =
            crate::cli::serve::sandbox_site("http://127.0.0.1:9", deployment).expect("site");
        Api::new(
            &settings,
            &Url::parse(DEFAULT_API_BASE).expect("url"),
            None,
            RetryPolicy::default(),
        )
        .expect("api")
    }

    fn request(api: &Api, jql: &str, token: Option<&str>) -> ApiRequest {
        api.jira()
            .search_request(jql, &["summary", "status"], 7, token)
            .expect("request")
    }

    /// JQL whose GET URL would be `extra` bytes past the limit (or under it, if negative).
    fn jql_near_limit(api: &Api, extra: isize) -> String {
        let base = request(api, "", None).url_len();
        let len = MAX_GET_URL_BYTES as isize - base as isize + extra;
        "a".repeat(usize::try_from(len).expect("room for JQL"))
    }

    #[test]
    fn long_jql_goes_by_post_from_the_first_byte_past_the_limit() {
        for deployment in [Deployment::Cloud, Deployment::DataCenter] {
            let api = api(deployment);
            let fits = request(&api, &jql_near_limit(&api, 0), None);
            assert_eq!(fits.method, Method::GET);
            assert_eq!(fits.url_len(), MAX_GET_URL_BYTES);
            let over = request(&api, &jql_near_limit(&api, 1), None);
            assert_eq!(over.method, Method::POST, "{deployment:?}");
            assert!(over.query.is_empty());
            assert!(over.idempotent, "a search by POST is safe to repeat");
            assert_eq!(over.scope, Some("read:jira-work"));
            let body = over.body.expect("JSON body");
            assert_eq!(body["maxResults"], 7);
            assert_eq!(body["fields"], serde_json::json!(["summary", "status"]));
        }
    }

    /// The POST body of a Cloud search validates against `SearchAndReconcileRequestBean` in
    /// Atlassian's OpenAPI description (which allows no other properties).
    #[test]
    fn cloud_post_body_matches_the_openapi_schema() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/specs/jira-platform-v3.openapi.json");
        let spec: Value =
            serde_json::from_str(&std::fs::read_to_string(path).expect("spec")).expect("json");
        let op = &spec["paths"]["/rest/api/3/search/jql"]["post"];
        let reference = op["requestBody"]["content"]["application/json"]["schema"]["$ref"]
            .as_str()
            .expect("$ref");
        let name = reference.rsplit('/').next().expect("name");
        let schema = &spec["components"]["schemas"][name];
        assert_eq!(schema["additionalProperties"], false);
        let validator = jsonschema::validator_for(schema).expect("schema");
        let api = api(Deployment::Cloud);
        let jql = jql_near_limit(&api, 100);
        for token in [None, Some("CAEaAggD")] {
            let req = request(&api, &jql, token);
            assert_eq!(req.url.path(), "/rest/api/3/search/jql");
            let body = req.body.expect("body");
            let errors: Vec<String> = validator
                .iter_errors(&body)
                .map(|e| e.to_string())
                .collect();
            assert!(errors.is_empty(), "{errors:?} in {body}");
            assert_eq!(body["jql"], jql.as_str());
            assert_eq!(body.get("nextPageToken").and_then(Value::as_str), token);
        }
    }
}
