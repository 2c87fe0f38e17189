//! The `upstream` check (SPEC §11): the upstream MCP server's sign-in is there, and the server
//! answers `tools/list` with it (a token past expiry is refreshed through the normal path).

use std::sync::Arc;
use std::time::Duration;

use super::Check;
use crate::auth::store::CredentialStore;
use crate::auth::upstream_tokens::{UpstreamTokenManager, same_url};
use crate::config::Settings;
use crate::remote::Remote;

const NAME: &str = "upstream";
const LOGIN: &str = "run `atlassian-mcp-bridge login --upstream`";

/// Checks the upstream sign-in and lists the upstream's tools.
pub(super) async fn upstream(settings: &Settings) -> Check {
    let Some(up) = &settings.upstream else {
        return Check::skip(NAME, "no [upstream] configured");
    };
    let store = CredentialStore::in_dir(&settings.data_dir);
    match store.load_upstream() {
        Ok(Some(e)) if same_url(&e.url, up.url.as_str()) && e.tokens.is_some() => {}
        Ok(Some(e)) if !same_url(&e.url, up.url.as_str()) => {
            return Check::fail(
                NAME,
                format!(
                    "the stored upstream sign-in is for {}, but upstream.url is {}",
                    e.url, up.url
                ),
                LOGIN,
            );
        }
        Ok(_) => {
            return Check::fail(
                NAME,
                format!("not signed in to the upstream MCP server {}", up.url),
                LOGIN,
            );
        }
        Err(e) => {
            return Check::fail(
                NAME,
                e.to_string(),
                "make the data directory readable, or run `atlassian-mcp-bridge login --upstream`",
            );
        }
    }
    let tokens = match UpstreamTokenManager::new(&up.url, store, None) {
        Ok(t) => t,
        Err(e) => return Check::fail(NAME, e.to_string(), LOGIN),
    };
    let remote = Remote::new(up.url.clone(), Arc::new(tokens));
    let listed = tokio::time::timeout(Duration::from_secs(20), remote.tools()).await;
    remote.close().await;
    match listed {
        Ok(Ok(tools)) => {
            let policy = crate::policy::Policy::new(settings.policy.clone());
            let offered = tools
                .iter()
                .filter(|t| {
                    let prefixed = format!("{}{}", up.prefix, t.name);
                    let ro = t
                        .annotations
                        .as_ref()
                        .and_then(|a| a.read_only_hint)
                        .unwrap_or(false);
                    policy.admit_upstream_tool(&prefixed, &t.name, ro).is_ok()
                })
                .count();
            Check::pass(
                NAME,
                format!(
                    "{} answers with {} tools ({offered} offered as `{}…` under policy)",
                    up.url,
                    tools.len(),
                    up.prefix
                ),
            )
        }
        Ok(Err(e)) if e.is_unreachable() => Check::fail(
            NAME,
            e.to_string(),
            "check the network and upstream.url, then run doctor again",
        ),
        Ok(Err(e)) => Check::fail(NAME, e.to_string(), LOGIN),
        Err(_) => Check::fail(
            NAME,
            format!("{} did not answer tools/list within 20 s", up.url),
            "check the network and upstream.url, then run doctor again",
        ),
    }
}
