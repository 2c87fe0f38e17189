//! Check 3: whether every host the bridge talks to answers HTTP, and when one does not, why —
//! read from the reqwest/hyper error chain ([`classify`]).

use std::error::Error as StdError;
use std::time::{Duration, Instant};

use url::Url;

use super::Check;
use crate::atlassian::DEFAULT_API_BASE;
use crate::config::{Auth, Settings, SiteSettings};

/// How long one probe may take (connect and answer).
pub(super) const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a request got no HTTP answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Cause {
    /// The host name did not resolve.
    Dns,
    /// Nothing listens on the port (the host answered with a reset to the SYN).
    Refused,
    /// The connection was reset or aborted after it was made (often a proxy or firewall).
    Reset,
    /// The TLS handshake failed (certificate, protocol).
    Tls,
    /// No answer in time.
    Timeout,
    /// Anything else.
    Other,
}

impl Cause {
    fn words(self) -> &'static str {
        match self {
            Cause::Dns => "name not resolved (DNS)",
            Cause::Refused => "connection refused",
            Cause::Reset => "connection reset",
            Cause::Tls => "TLS handshake failed",
            Cause::Timeout => "timed out",
            Cause::Other => "request failed",
        }
    }
}

/// Reads the cause of a failed request from its error chain: I/O error kinds first (exact),
/// then the messages of the layers below reqwest (hyper-util's "dns error", rustls's
/// certificate errors). reqwest's own message and every URL are not read as text: a host
/// called `tls.example.com` must not look like a TLS failure.
pub(super) fn classify(err: &(dyn StdError + 'static), timed_out: bool) -> Cause {
    if timed_out {
        return Cause::Timeout;
    }
    let mut by_text = None;
    let mut layer: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(e) = layer {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            match io.kind() {
                std::io::ErrorKind::ConnectionRefused => return Cause::Refused,
                std::io::ErrorKind::TimedOut => return Cause::Timeout,
                std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::ConnectionAborted => {
                    return Cause::Reset;
                }
                // rustls reports every handshake failure (bad certificate, a plain-HTTP
                // server on an https:// URL) as invalid data on the connection.
                std::io::ErrorKind::InvalidData => return Cause::Tls,
                _ => {}
            }
        }
        if by_text.is_none() && e.downcast_ref::<reqwest::Error>().is_none() {
            by_text = cause_in_text(&without_urls(&e.to_string()).to_ascii_lowercase());
        }
        layer = e.source();
    }
    by_text.unwrap_or(Cause::Other)
}

/// A message with every `scheme://…` word removed, so host names cannot match a marker.
fn without_urls(text: &str) -> String {
    text.split_whitespace()
        .filter(|w| !w.contains("://"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn cause_in_text(text: &str) -> Option<Cause> {
    const DNS: &[&str] = &[
        "dns error",
        "failed to lookup address",
        "name or service not known",
        "nodename nor servname",
        "no such host",
        "name resolution",
    ];
    const TLS: &[&str] = &[
        "certificate",
        "tls",
        "ssl",
        "handshake",
        "corrupt message",
        "peer misbehaved",
    ];
    if DNS.iter().any(|m| text.contains(m)) {
        Some(Cause::Dns)
    } else if TLS.iter().any(|m| text.contains(m)) {
        Some(Cause::Tls)
    } else if text.contains("timed out") {
        Some(Cause::Timeout)
    } else if text.contains("connection refused") {
        Some(Cause::Refused)
    } else if text.contains("connection reset") {
        Some(Cause::Reset)
    } else {
        None
    }
}

/// The innermost message of an error chain (the actual reason, e.g. rustls's "invalid peer
/// certificate: UnknownIssuer"), without URLs since it is below reqwest.
fn root_message(err: &(dyn StdError + 'static)) -> String {
    let mut last = err.to_string();
    let mut layer = err.source();
    while let Some(e) = layer {
        last = e.to_string();
        layer = e.source();
    }
    last
}

/// One host to probe: the config key that names it, and its URL.
struct Target {
    key: &'static str,
    url: Url,
}

/// The hosts REST and token requests go to for this auth mode, one per origin.
fn targets(settings: &Settings, site: &SiteSettings) -> Vec<Target> {
    let api_base = || {
        settings
            .oauth
            .as_ref()
            .map(|o| o.api_base.clone())
            .or_else(|| Url::parse(DEFAULT_API_BASE).ok())
    };
    let mut out = Vec::new();
    match (&site.auth, &settings.oauth) {
        (Auth::OAuth, Some(oauth)) => {
            out.push(Target {
                key: "oauth.api_base",
                url: oauth.api_base.clone(),
            });
            out.push(Target {
                key: "oauth.token_url",
                url: oauth.token_url.clone(),
            });
        }
        (Auth::ApiToken { .. }, _) if site.cloud_id.is_some() => {
            if let Some(url) = api_base() {
                out.push(Target {
                    key: "oauth.api_base",
                    url,
                });
            }
        }
        _ => out.push(Target {
            key: "site.url",
            url: site.url.clone(),
        }),
    }
    if let Some(url) = &site.confluence_url {
        out.push(Target {
            key: "site.confluence_url",
            url: url.clone(),
        });
    }
    let mut seen = std::collections::HashSet::new();
    out.retain(|t| seen.insert(t.url.origin().ascii_serialization()));
    out
}

/// `host:port` as people write it.
fn host_port(url: &Url) -> String {
    let host = url.host_str().unwrap_or("?");
    match url.port_or_known_default() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_string(),
    }
}

/// The result of one probe: a detail line, and for a failure its fix.
type Probe = Result<String, (String, String)>;

async fn probe(http: &reqwest::Client, t: &Target) -> Probe {
    let host = host_port(&t.url);
    let started = Instant::now();
    match http.get(t.url.clone()).send().await {
        Ok(r) => {
            let ms = started.elapsed().as_millis();
            let status = r.status();
            if status.is_server_error() {
                Err((
                    format!("{host} answered HTTP {} in {ms} ms", status.as_u16()),
                    format!(
                        "the server (or a proxy in front of it) is failing: try again later, and check `{}`",
                        t.key
                    ),
                ))
            } else {
                Ok(format!(
                    "{host} answered HTTP {} in {ms} ms",
                    status.as_u16()
                ))
            }
        }
        Err(e) => {
            let cause = classify(&e, e.is_timeout());
            let secs = PROBE_TIMEOUT.as_secs();
            let name = t.url.host_str().unwrap_or("the host");
            let detail = match cause {
                Cause::Tls | Cause::Other => {
                    format!("{host}: {} ({})", cause.words(), root_message(&e))
                }
                Cause::Timeout => format!("{host}: {} (no answer within {secs} s)", cause.words()),
                _ => format!("{host}: {}", cause.words()),
            };
            let fix = match cause {
                Cause::Dns => format!(
                    "check the host name `{name}` in `{}`, and your DNS or VPN connection",
                    t.key
                ),
                Cause::Refused => format!(
                    "nothing listens on {host}: check the port in `{}`, or start that server",
                    t.key
                ),
                Cause::Reset => "a proxy or firewall dropped the connection: check the VPN and HTTPS_PROXY / NO_PROXY".to_string(),
                Cause::Tls => format!(
                    "check that `{}` is the site's https:// address; a proxy that re-signs TLS is not trusted (only public CAs are)",
                    t.key
                ),
                Cause::Timeout => format!(
                    "check the network, VPN or proxy; {name} did not answer in {secs} s"
                ),
                Cause::Other => format!("check `{}` and the network", t.key),
            };
            Err((detail, fix))
        }
    }
}

/// Check 3: each host answers HTTP (any status below 500) within [`PROBE_TIMEOUT`].
pub(super) async fn site(settings: &Settings, site: &SiteSettings) -> Check {
    const NAME: &str = "site";
    let http = match reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(crate::upstream::USER_AGENT)
        .connect_timeout(PROBE_TIMEOUT)
        .timeout(PROBE_TIMEOUT)
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            return Check::fail(
                NAME,
                format!("cannot build an HTTP client: {e}"),
                "report this as a bug",
            );
        }
    };
    let targets = targets(settings, site);
    let results = futures::future::join_all(targets.iter().map(|t| probe(&http, t))).await;
    let mut ok = Vec::new();
    let mut failed = Vec::new();
    for r in results {
        match r {
            Ok(d) => ok.push(d),
            Err(f) => failed.push(f),
        }
    }
    if failed.is_empty() {
        return Check::pass(NAME, ok.join("; "));
    }
    let (details, fixes): (Vec<String>, Vec<String>) = failed.into_iter().unzip();
    let detail = details
        .into_iter()
        .chain(ok.into_iter().map(|d| format!("({d})")))
        .collect::<Vec<_>>()
        .join("; ");
    Check::fail(NAME, detail, fixes.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An error with a message and an optional source, like the layers under reqwest.
    #[derive(Debug)]
    struct Layer(&'static str, Option<Box<dyn StdError + Send + Sync>>);

    impl std::fmt::Display for Layer {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
    }

    impl StdError for Layer {
        fn source(&self) -> Option<&(dyn StdError + 'static)> {
            self.1.as_deref().map(|e| e as &(dyn StdError + 'static))
        }
    }

    fn chain(outer: &'static str, inner: impl StdError + Send + Sync + 'static) -> Layer {
        Layer(
            "client error (Connect)",
            Some(Box::new(Layer(outer, Some(Box::new(inner))))),
        )
    }

    #[test]
    fn io_kinds_decide_first() {
        let refused = chain(
            "tcp connect error",
            std::io::Error::from(std::io::ErrorKind::ConnectionRefused),
        );
        assert_eq!(classify(&refused, false), Cause::Refused);
        let reset = chain(
            "connection error",
            std::io::Error::from(std::io::ErrorKind::ConnectionReset),
        );
        assert_eq!(classify(&reset, false), Cause::Reset);
        let slow = chain(
            "tcp connect error",
            std::io::Error::from(std::io::ErrorKind::TimedOut),
        );
        assert_eq!(classify(&slow, false), Cause::Timeout);
        // reqwest's own flag wins over whatever lies below.
        assert_eq!(classify(&refused, true), Cause::Timeout);
    }

    #[test]
    fn dns_and_tls_are_read_from_the_lower_layers() {
        let dns = chain(
            "dns error",
            std::io::Error::other(
                "failed to lookup address information: Name or service not known",
            ),
        );
        assert_eq!(classify(&dns, false), Cause::Dns);
        let tls = chain(
            "tls handshake eof",
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "invalid peer certificate: UnknownIssuer",
            ),
        );
        assert_eq!(classify(&tls, false), Cause::Tls);
        assert_eq!(
            root_message(&tls),
            "invalid peer certificate: UnknownIssuer"
        );
        let plain_http = chain(
            "connection error",
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "received corrupt message of type InvalidContentType",
            ),
        );
        assert_eq!(classify(&plain_http, false), Cause::Tls);
        // A host called tls.example.com in reqwest's outer message is not a TLS failure.
        let named = Layer(
            "error sending request for url (https://tls.example.com/)",
            Some(Box::new(std::io::Error::other("strange"))),
        );
        assert_eq!(classify(&named, false), Cause::Other);
        let odd = chain("something", std::io::Error::other("strange"));
        assert_eq!(classify(&odd, false), Cause::Other);
    }

    #[tokio::test]
    async fn a_closed_port_is_refused_and_named() {
        // Bind, note the port, close: nothing listens there afterwards.
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let http = reqwest::Client::builder().no_proxy().build().unwrap();
        let target = Target {
            key: "site.url",
            url: Url::parse(&format!("http://127.0.0.1:{port}/")).unwrap(),
        };
        let (detail, fix) = probe(&http, &target).await.unwrap_err();
        assert_eq!(detail, format!("127.0.0.1:{port}: connection refused"));
        assert!(fix.contains("`site.url`"), "{fix}");
        // The real reqwest chain classifies the same way.
        let e = http.get(target.url.clone()).send().await.unwrap_err();
        assert_eq!(classify(&e, e.is_timeout()), Cause::Refused);
    }
}
