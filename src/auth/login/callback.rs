//! The one-shot loopback listener that receives the browser's redirect after consent
//! (`/callback`), shared by the site sign-in and the upstream sign-in: it checks `state` (and,
//! for the upstream, the RFC 9207 `iss`), hands the first valid code to the flow, and ends the
//! flow at once when the authorization server answers with an error (a declined consent).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Query, State};
use axum::response::Html;
use serde::Deserialize;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::sanitize::clean_text;

/// Why no authorization code arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CallbackError {
    /// Nothing arrived within the timeout.
    TimedOut(Duration),
    /// The authorization server answered our request with an error (`access_denied` …).
    Declined {
        /// The OAuth error code, cleaned and cut short.
        code: String,
        /// The code and its description, cleaned and cut short, for the person.
        detail: String,
    },
    /// The answer names another authorization server, or none where one was required
    /// (RFC 9207): a possible mix-up attack, so its code is never exchanged.
    WrongIssuer {
        /// The issuer the request went to.
        expected: String,
        /// The `iss` the callback carried.
        got: Option<String>,
    },
    /// The listener ended without an answer.
    Stopped,
}

impl CallbackError {
    /// The authorization server's OAuth error code, when it answered one.
    pub(crate) fn code(&self) -> &str {
        match self {
            CallbackError::Declined { code, .. } => code,
            _ => "",
        }
    }

    /// True when the authorization server answered that it does not know the client
    /// (`invalid_client`, `unauthorized_client`): the registration is stale.
    pub(crate) fn is_unknown_client(&self) -> bool {
        matches!(self, CallbackError::Declined { code, .. }
            if code == "invalid_client" || code == "unauthorized_client")
    }

    /// The message for the person at the terminal; `command` is what to run again.
    pub(crate) fn describe(&self, command: &str) -> String {
        match self {
            CallbackError::TimedOut(t) => format!(
                "no sign-in arrived within {} s; run `{command}` again",
                t.as_secs()
            ),
            CallbackError::Declined { detail, .. } => format!(
                "sign-in was not completed: the authorization server answered {detail}; run `{command}` again (and allow access) to retry"
            ),
            CallbackError::WrongIssuer { expected, got } => format!(
                "sign-in refused: the authorization answer came from {}, not from {expected} (RFC 9207), so its code was not used; run `{command}` again, and if this repeats, something between the browser and the server is tampering with the sign-in",
                got.as_deref()
                    .map(|g| format!("issuer `{}`", clean_text(g)))
                    .unwrap_or_else(|| "an unnamed issuer".to_string())
            ),
            CallbackError::Stopped => "the sign-in listener stopped unexpectedly".to_string(),
        }
    }
}

/// Which authorization server must have sent the answer (RFC 9207).
#[derive(Debug, Clone)]
pub(crate) struct IssuerCheck {
    /// The issuer identifier, compared exactly with the callback's `iss`.
    pub issuer: String,
    /// True when the server advertises `iss` in responses: then a missing `iss` is refused too.
    pub required: bool,
}

/// A bound loopback listener, waiting to be shown to the browser.
///
/// Binding comes first so the redirect URI (with its real port) is known before it is sent or
/// registered, and the browser never comes back to a closed port.
#[derive(Debug)]
pub(crate) struct CallbackListener {
    listeners: Vec<TcpListener>,
    host: String,
    port: u16,
}

impl CallbackListener {
    /// Binds `host:port` on loopback (port 0 picks a free one). For `localhost` the IPv6
    /// loopback is bound too on the same port when it can be, since a browser may resolve
    /// `localhost` to either address.
    pub(crate) async fn bind(host: &str, port: u16) -> std::io::Result<Self> {
        let first = TcpListener::bind(("127.0.0.1", port)).await?;
        let port = first.local_addr()?.port();
        let mut listeners = vec![first];
        if host == "localhost"
            && let Ok(v6) = TcpListener::bind(("::1", port)).await
        {
            listeners.push(v6);
        }
        Ok(Self {
            listeners,
            host: host.to_string(),
            port,
        })
    }

    /// `http://<host>:<port>/callback`: the exact redirect URI this listener answers.
    pub(crate) fn redirect_uri(&self) -> String {
        format!("http://{}:{}/callback", self.host, self.port)
    }

    /// Serves `/callback` until the first answer carrying `state` (and the right issuer) or
    /// until `timeout`; returns the authorization code.
    pub(crate) async fn receive(
        self,
        state: String,
        issuer: Option<IssuerCheck>,
        timeout: Duration,
    ) -> Result<String, CallbackError> {
        let (tx, rx) = oneshot::channel();
        let (errors_tx, mut errors_rx) = mpsc::unbounded_channel::<CallbackError>();
        let shared = Arc::new(Callback {
            state,
            issuer,
            done: Mutex::new(Some(tx)),
            errors: errors_tx,
        });
        let app = axum::Router::new()
            .route("/callback", axum::routing::get(on_callback))
            .fallback(stray)
            .with_state(shared);
        let stop = CancellationToken::new();
        let mut servers: Vec<_> = self
            .listeners
            .into_iter()
            .map(|listener| {
                let app = app.clone();
                let stop = stop.clone();
                tokio::spawn(async move {
                    let _ = axum::serve(listener, app)
                        .with_graceful_shutdown(stop.cancelled_owned())
                        .await;
                })
            })
            .collect();
        // A code, or the authorization server's error answer (a declined consent).
        let outcome = tokio::time::timeout(timeout, async {
            tokio::select! {
                code = rx => code.map_err(|_| CallbackError::Stopped),
                Some(e) = errors_rx.recv() => Err(e),
            }
        })
        .await;
        // Let the browser receive its page before the listener goes away.
        tokio::time::sleep(Duration::from_millis(100)).await;
        stop.cancel();
        for server in &mut servers {
            // A half-open connection (a browser keeping one alive) must not hold the flow open.
            if tokio::time::timeout(Duration::from_secs(2), &mut *server)
                .await
                .is_err()
            {
                server.abort();
            }
        }
        outcome.unwrap_or(Err(CallbackError::TimedOut(timeout)))
    }
}

#[derive(Debug, Deserialize)]
struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
    iss: Option<String>,
}

/// Shared between the listener and the flow: the expected `state` and issuer, and where the
/// first valid answer goes.
struct Callback {
    state: String,
    issuer: Option<IssuerCheck>,
    done: Mutex<Option<oneshot::Sender<String>>>,
    /// Answers that end the flow without a code: the server's error with our `state`, or an
    /// answer from the wrong issuer.
    errors: mpsc::UnboundedSender<CallbackError>,
}

impl Callback {
    /// RFC 9207: an `iss` present must equal the issuer; a missing one is refused only when
    /// the server says it sends one.
    fn issuer_error(&self, got: Option<&str>) -> Option<CallbackError> {
        let check = self.issuer.as_ref()?;
        let fine = match got {
            Some(iss) => iss == check.issuer,
            None => !check.required,
        };
        (!fine).then(|| CallbackError::WrongIssuer {
            expected: check.issuer.clone(),
            got: got.map(str::to_string),
        })
    }
}

fn page(title: &str, body: &str) -> Html<String> {
    Html(format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{title}</title></head>\
         <body style=\"font-family:sans-serif;max-width:36em;margin:4em auto\"><h1>{title}</h1>\
         <p>{body}</p><p style=\"color:#666\">atlassian-mcp-bridge</p></body></html>"
    ))
}

/// HTML-escapes server-provided text (and keeps it short) before it goes into a page.
pub(super) fn escape(s: &str) -> String {
    s.chars()
        .take(300)
        .map(|c| match c {
            '<' => "&lt;".to_string(),
            '>' => "&gt;".to_string(),
            '&' => "&amp;".to_string(),
            '"' => "&quot;".to_string(),
            c => c.to_string(),
        })
        .collect()
}

async fn on_callback(
    State(cb): State<Arc<Callback>>,
    Query(q): Query<CallbackQuery>,
) -> Html<String> {
    // A callback without our state is stale or forged: it neither ends nor hijacks the flow.
    if q.state.as_deref() != Some(cb.state.as_str()) {
        return page(
            "Sign-in link not recognised",
            "This callback does not belong to the sign-in that is waiting (the <code>state</code> \
             does not match). Start again from the link the terminal printed.",
        );
    }
    match (q.code, q.error) {
        (Some(code), _) if !code.is_empty() => {
            if let Some(e) = cb.issuer_error(q.iss.as_deref()) {
                let _ = cb.errors.send(e);
                return page(
                    "Sign-in refused",
                    "This answer does not come from the authorization server the sign-in was \
                     sent to (its <code>iss</code> does not match), so it was not used. The \
                     login command has stopped; run it again.",
                );
            }
            let Some(sender) = cb.done.lock().ok().and_then(|mut d| d.take()) else {
                return page(
                    "Already signed in",
                    "This sign-in has already completed. You can close this tab.",
                );
            };
            let _ = sender.send(code);
            page(
                "Signed in",
                "atlassian-mcp-bridge received the authorization. You can close this tab and \
                 return to the terminal.",
            )
        }
        (_, Some(error)) => {
            // Both values come from whoever sent the browser here: one short line each.
            let code = one_line(&error, 100);
            let detail = match q.error_description {
                Some(d) => format!("{code}: {}", one_line(&d, 300)),
                None => code.clone(),
            };
            let shown = escape(&detail);
            let _ = cb.errors.send(CallbackError::Declined { code, detail });
            page(
                "Sign-in not completed",
                &format!(
                    "The authorization server said: {shown}. Return to the terminal: the login \
                     command says what happens next."
                ),
            )
        }
        _ => page(
            "Nothing to do",
            "This callback carried neither a code nor an error.",
        ),
    }
}

/// Untrusted text for the terminal: invisible characters removed, on one line, at most `max`
/// characters (an ellipsis marks a cut).
fn one_line(s: &str, max: usize) -> String {
    let clean = crate::sanitize::collapse_whitespace(&clean_text(s));
    if clean.chars().count() <= max {
        return clean;
    }
    let mut cut: String = clean.chars().take(max).collect();
    cut.push('…');
    cut
}

async fn stray() -> (axum::http::StatusCode, Html<String>) {
    (
        axum::http::StatusCode::NOT_FOUND,
        page(
            "Not here",
            "This is atlassian-mcp-bridge's temporary sign-in listener; it only answers /callback.",
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn get(url: String) -> String {
        reqwest::get(url).await.unwrap().text().await.unwrap()
    }

    fn check(required: bool) -> Option<IssuerCheck> {
        Some(IssuerCheck {
            issuer: "https://as.example/t1".into(),
            required,
        })
    }

    #[tokio::test]
    async fn iss_is_checked_exactly_and_required_when_advertised() {
        for (iss, required, ok) in [
            (Some("https://as.example/t1"), true, true),
            (None, false, true),
            (None, true, false),
            (Some("https://as.example/t1/"), false, false),
            (Some("https://evil.example/t1"), true, false),
        ] {
            let listener = CallbackListener::bind("127.0.0.1", 0).await.unwrap();
            let mut url = format!("{}?code=c1&state=s1", listener.redirect_uri());
            if let Some(iss) = iss {
                url.push_str(&format!("&iss={}", urlencode(iss)));
            }
            let browser = tokio::spawn(get(url));
            let got = listener
                .receive("s1".into(), check(required), Duration::from_secs(20))
                .await;
            let page = browser.await.unwrap();
            if ok {
                assert_eq!(got, Ok("c1".to_string()), "{iss:?}");
                assert!(page.contains("Signed in"), "{page}");
            } else {
                assert!(
                    matches!(got, Err(CallbackError::WrongIssuer { .. })),
                    "{iss:?}: {got:?}"
                );
                assert!(page.contains("Sign-in refused"), "{page}");
            }
        }
    }

    #[tokio::test]
    async fn localhost_redirects_answer() {
        let listener = CallbackListener::bind("localhost", 0).await.unwrap();
        let uri = listener.redirect_uri();
        assert!(uri.starts_with("http://localhost:") && uri.ends_with("/callback"));
        let browser = tokio::spawn(get(format!("{uri}?error=access_denied&state=s")));
        let got = listener
            .receive("s".into(), None, Duration::from_secs(20))
            .await;
        assert_eq!(
            got,
            Err(CallbackError::Declined {
                code: "access_denied".into(),
                detail: "access_denied".into()
            })
        );
        assert!(browser.await.unwrap().contains("not completed"));
    }

    #[tokio::test]
    async fn an_error_answer_reaches_the_terminal_cleaned_and_short() {
        let listener = CallbackListener::bind("127.0.0.1", 0).await.unwrap();
        let code = format!("bad\u{202E}\u{200B}code{}", "x".repeat(5000));
        let description = format!("see\u{2066} here{}", "y".repeat(5000));
        let url = format!(
            "{}?error={}&error_description={}&state=s",
            listener.redirect_uri(),
            urlencode(&code),
            urlencode(&description)
        );
        let browser = tokio::spawn(get(url));
        let got = listener
            .receive("s".into(), None, Duration::from_secs(20))
            .await;
        browser.await.unwrap();
        let text = got.unwrap_err().describe("cmd");
        assert!(text.contains("badcodexx"), "{text}");
        assert!(text.contains("see hereyy"), "{text}");
        assert!(
            !text.contains(['\u{202E}', '\u{200B}', '\u{2066}']),
            "{text:?}"
        );
        let longest_run = |c: char| {
            text.split(|x| x != c)
                .map(|run| run.chars().count())
                .max()
                .unwrap()
        };
        assert!(longest_run('x') < 100, "the error code is cut: {text}");
        assert!(longest_run('y') < 400, "the description is cut: {text}");
    }

    fn urlencode(s: &str) -> String {
        url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
    }
}
