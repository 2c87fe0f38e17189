//! Routing the upstream's progress notifications to the call that asked for them.
//!
//! rmcp puts a progress token of its own choosing on every request and hands progress
//! notifications to a handler callback that runs as a separate task per notification, so
//! they may be seen out of order or after the result they preceded. Instead:
//!
//! 1. [`Routes::register`] gives a call a route key, which the call puts in its request's
//!    `_meta` under [`ROUTE_KEY`];
//! 2. just before the request goes on the wire, [`Routes::prepare`] removes that key and ties
//!    the request's progress token to the caller's sink (and removes the progress token of any
//!    request nobody listens to, so the upstream does not report progress for it);
//! 3. [`Routes::observe`] reads each server-sent event as the HTTP client parses it, in stream
//!    order and before rmcp sees the result that follows it, and forwards progress for a tied
//!    token into its sink.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use rmcp::model::{ClientJsonRpcMessage, GetMeta, ProgressNotificationParam, ProgressToken};
use sse_stream::Sse;

use super::ProgressSink;

/// The `_meta` key carrying a route key from [`super::Remote::call`] to the HTTP client. It
/// never reaches the upstream.
pub(super) const ROUTE_KEY: &str = "dev.atlassian-mcp-bridge/progressRoute";

/// The `_meta` key of the MCP progress token.
const PROGRESS_TOKEN_KEY: &str = "progressToken";

/// One registered caller: its sink and, once its request is sent, the token it was sent with.
struct Route {
    sink: ProgressSink,
    token: Option<ProgressToken>,
}

#[derive(Default)]
struct Table {
    by_key: HashMap<String, Route>,
    by_token: HashMap<ProgressToken, String>,
}

/// The progress routes of one [`super::Remote`], shared with its HTTP client.
#[derive(Default)]
pub(super) struct Routes {
    table: Mutex<Table>,
}

/// Keeps a route alive for one call; dropping it stops forwarding.
pub(super) struct RouteGuard {
    routes: Arc<Routes>,
    key: String,
}

impl RouteGuard {
    /// The key to put in the request's `_meta` under [`ROUTE_KEY`].
    pub(super) fn key(&self) -> &str {
        &self.key
    }
}

impl Drop for RouteGuard {
    fn drop(&mut self) {
        let mut table = self.routes.lock();
        if let Some(route) = table.by_key.remove(&self.key)
            && let Some(token) = route.token
        {
            table.by_token.remove(&token);
        }
    }
}

impl Routes {
    fn lock(&self) -> MutexGuard<'_, Table> {
        // The table is consistent after every statement, so a poisoned lock is still usable.
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A fresh route forwarding into `sink` until the guard is dropped.
    pub(super) fn register(self: &Arc<Self>, sink: ProgressSink) -> RouteGuard {
        let key = uuid::Uuid::new_v4().to_string();
        self.lock()
            .by_key
            .insert(key.clone(), Route { sink, token: None });
        RouteGuard {
            routes: Arc::clone(self),
            key,
        }
    }

    /// Rewrites an outgoing request: ties its progress token to the route named in its
    /// `_meta` (removing the route key), or removes the token when no route is named.
    pub(super) fn prepare(&self, message: &mut ClientJsonRpcMessage) {
        let ClientJsonRpcMessage::Request(request) = message else {
            return;
        };
        let meta = request.request.get_meta_mut();
        let route_key = meta.remove(ROUTE_KEY);
        let token = meta.get_progress_token();
        let mut table = self.lock();
        let routed = match (route_key, token) {
            (Some(serde_json::Value::String(key)), Some(token)) => {
                match table.by_key.get_mut(&key) {
                    Some(route) => {
                        if let Some(old) = route.token.replace(token.clone()) {
                            table.by_token.remove(&old);
                        }
                        table.by_token.insert(token, key);
                        true
                    }
                    None => false,
                }
            }
            _ => false,
        };
        if !routed {
            meta.remove(PROGRESS_TOKEN_KEY);
        }
    }

    /// Forwards `event` if it is a progress notification for a routed token.
    pub(super) fn observe(&self, event: &Sse) {
        let Some(data) = event.data.as_deref() else {
            return;
        };
        // Cheap filter first: most events are results, not progress.
        if !data.contains("notifications/progress") {
            return;
        }
        #[derive(serde::Deserialize)]
        struct Notification {
            method: String,
            params: ProgressNotificationParam,
        }
        let Ok(note) = serde_json::from_str::<Notification>(data) else {
            return;
        };
        if note.method != "notifications/progress" {
            return;
        }
        let table = self.lock();
        if let Some(route) = table
            .by_token
            .get(&note.params.progress_token)
            .and_then(|key| table.by_key.get(key))
        {
            // A caller that stopped listening is not an error.
            let _ = route.sink.send(note.params);
        }
    }

    /// How many calls are registered (for tests: routes must not leak).
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        let table = self.lock();
        table.by_key.len() + table.by_token.len()
    }
}
