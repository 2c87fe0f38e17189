//! Request routing: peeling the API gateway prefix (`/ex/{product}/{cloudId}`) or the Data
//! Center context path (`/dc`) off a path, telling the API families apart (for their error
//! shapes), authenticating, and dispatching to the read and write handlers.

use axum::http::{HeaderMap, Method};
use base64::Engine as _;
use serde_json::json;

use super::oauth::{self, OAuthSwitches};
use super::wire::{Family, Reply};
use super::{
    Ctx, Req, SANDBOX_API_TOKEN, SANDBOX_CLOUD_ID, SANDBOX_EMAIL, SANDBOX_PAT, Site, confluence,
    confluence_write, jira, jira_write, seed,
};

/// Where a request goes once the gateway prefix or context path is peeled off.
pub(super) struct Target {
    pub(super) site: Site,
    /// Reached through `/ex/{product}/{cloudId}` (where OAuth bearer tokens are accepted).
    pub(super) gateway: bool,
    pub(super) family: Family,
    /// Percent-decoded path segments inside the site (`rest`, `api`, `3`, `issue`, `ENG-1`).
    pub(super) segments: Vec<String>,
    pub(super) jira_base: String,
    pub(super) wiki_base: String,
}

pub(super) fn route(path: &str, host: &str) -> Result<Target, Reply> {
    let mut segments = Vec::new();
    for raw in path.split('/').filter(|s| !s.is_empty()) {
        let decoded = percent_encoding::percent_decode_str(raw).decode_utf8();
        match decoded {
            Ok(s) => segments.push(s.into_owned()),
            Err(_) => {
                return Err(Reply::error(
                    Family::Jira,
                    400,
                    "The request path is not valid UTF-8 after percent-decoding.",
                ));
            }
        }
    }
    let origin = format!("http://{host}");
    let first = segments.first().map(String::as_str);
    match first {
        Some("ex") => {
            let product = segments.get(1).cloned().unwrap_or_default();
            let cloud_id = segments.get(2).cloned().unwrap_or_default();
            if cloud_id != SANDBOX_CLOUD_ID || (product != "jira" && product != "confluence") {
                return Err(Reply::json(
                    404,
                    json!({"code": 404, "message": format!("Not Found: no site with cloud id '{cloud_id}' for product '{product}'")}),
                ));
            }
            let rest: Vec<String> = segments.into_iter().skip(3).collect();
            let gateway = format!("{origin}/ex/{product}/{SANDBOX_CLOUD_ID}");
            if product == "jira" {
                let family = classify(Site::Cloud, &rest);
                if family != Family::Jira {
                    return Err(Reply::error(Family::Jira, 404, "Not Found"));
                }
                Ok(Target {
                    site: Site::Cloud,
                    gateway: true,
                    family,
                    segments: rest,
                    wiki_base: format!("{origin}/ex/confluence/{SANDBOX_CLOUD_ID}/wiki"),
                    jira_base: gateway,
                })
            } else {
                let family = classify(Site::Cloud, &rest);
                if rest.first().map(String::as_str) != Some("wiki") {
                    return Err(Reply::error(Family::ConfluenceV1, 404, "Not Found"));
                }
                Ok(Target {
                    site: Site::Cloud,
                    gateway: true,
                    family,
                    segments: rest,
                    jira_base: format!("{origin}/ex/jira/{SANDBOX_CLOUD_ID}"),
                    wiki_base: format!("{gateway}/wiki"),
                })
            }
        }
        Some("dc") => {
            let rest: Vec<String> = segments.into_iter().skip(1).collect();
            Ok(Target {
                site: Site::Dc,
                gateway: false,
                family: classify(Site::Dc, &rest),
                segments: rest,
                jira_base: format!("{origin}/dc"),
                wiki_base: format!("{origin}/dc"),
            })
        }
        _ => Ok(Target {
            site: Site::Cloud,
            gateway: false,
            family: classify(Site::Cloud, &segments),
            segments,
            jira_base: origin.clone(),
            wiki_base: format!("{origin}/wiki"),
        }),
    }
}

/// Which API family (and so which error shape) a site-relative path belongs to.
fn classify(site: Site, segs: &[String]) -> Family {
    let s: Vec<&str> = segs.iter().map(String::as_str).collect();
    match (site, s.as_slice()) {
        (Site::Cloud, ["wiki", "api", "v2", ..]) => Family::ConfluenceV2,
        (Site::Cloud, ["wiki", ..]) => Family::ConfluenceV1,
        (Site::Dc, ["rest", "api", v, ..]) if v.chars().all(|c| c.is_ascii_digit()) => Family::Jira,
        (Site::Dc, ["rest", "api", ..]) => Family::ConfluenceV1,
        _ => Family::Jira,
    }
}

pub(super) fn authenticate(
    oauth: &OAuthSwitches,
    target: &Target,
    method: &Method,
    headers: &HeaderMap,
) -> Result<(), Reply> {
    let (site, family) = (target.site, target.family);
    let header = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    if target.gateway
        && let Some(token) = header.strip_prefix("Bearer ")
    {
        let need = oauth::gateway_scopes(method, &target.segments);
        return oauth
            .check_bearer(token.trim(), need)
            .map_err(oauth::bearer_denied);
    }
    let ok = match site {
        Site::Cloud => header
            .strip_prefix("Basic ")
            .and_then(|b64| {
                base64::engine::general_purpose::STANDARD
                    .decode(b64.trim())
                    .ok()
            })
            .is_some_and(|raw| raw == format!("{SANDBOX_EMAIL}:{SANDBOX_API_TOKEN}").as_bytes()),
        Site::Dc => header
            .strip_prefix("Bearer ")
            .is_some_and(|t| t.trim() == SANDBOX_PAT),
    };
    if ok {
        return Ok(());
    }
    let reply = match family {
        Family::Jira => Reply::json(
            401,
            json!({"errorMessages": ["You are not authenticated. Authentication required to perform this operation."], "errors": {}}),
        ),
        Family::ConfluenceV2 => Reply::json(
            401,
            json!({"errors": [{"status": 401, "code": "UNAUTHORIZED", "title": "Unauthorized", "detail": null}]}),
        ),
        Family::ConfluenceV1 => Reply::json(
            401,
            json!({"statusCode": 401, "data": {"authorized": false, "valid": true, "errors": [], "successful": false}, "message": "This request requires authentication: the credentials were missing or not accepted.", "reason": "Unauthorized"}),
        ),
    };
    let challenge = match site {
        Site::Cloud => "Basic realm=\"sandbox\"",
        Site::Dc => "Bearer realm=\"sandbox\"",
    };
    Err(reply.header("WWW-Authenticate", challenge))
}

pub(super) fn dispatch(ctx: &Ctx<'_>, family: Family, segs: &[&str]) -> Reply {
    match (ctx.site, segs) {
        (Site::Cloud, ["rest", "api", "3", rest @ ..]) => jira::route(ctx, rest),
        (Site::Cloud, ["rest", "api", "2", "search"]) => jira::removed_search(),
        (Site::Cloud, ["wiki", "rest", "api", rest @ ..]) => confluence::v1(ctx, rest),
        (Site::Cloud, ["wiki", "api", "v2", rest @ ..]) => confluence::v2(ctx, rest),
        (Site::Dc, ["rest", "api", "2", rest @ ..]) => jira::route(ctx, rest),
        (Site::Dc, ["rest", "api", rest @ ..]) if family == Family::ConfluenceV1 => {
            confluence::dc(ctx, rest)
        }
        _ => Reply::error(family, 404, "Not Found: the sandbox has no such endpoint."),
    }
}

/// Routes the write endpoints (POST/PUT/DELETE that change the store); `None` when the path
/// is not one, so the read router answers (searches by POST, 405s, 404s).
pub(super) fn dispatch_write(
    req: &Req<'_>,
    store: &mut seed::Store,
    family: Family,
    segs: &[&str],
) -> Option<Reply> {
    match (req.site, segs) {
        (Site::Cloud, ["rest", "api", "3", rest @ ..])
        | (Site::Dc, ["rest", "api", "2", rest @ ..]) => jira_write::route(req, store, rest),
        (Site::Cloud, ["wiki", "api", "v2", rest @ ..]) => confluence_write::v2(req, store, rest),
        (Site::Cloud, ["wiki", "rest", "api", rest @ ..]) => confluence_write::v1(req, store, rest),
        (Site::Dc, ["rest", "api", rest @ ..]) if family == Family::ConfluenceV1 => {
            confluence_write::v1(req, store, rest)
        }
        _ => None,
    }
}
