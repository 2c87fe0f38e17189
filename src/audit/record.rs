//! The audit record (SPEC §6) and how its hash is computed.

use serde::{Deserialize, Serialize};

/// How a tool call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// The call succeeded.
    Ok,
    /// Invalid arguments, unknown tool, upstream failure.
    Error,
    /// Refused by policy or by the user.
    Denied,
    /// Cancelled by the client.
    Cancelled,
}

/// The MCP client that made the call, from `initialize`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ClientInfo {
    /// Client name (`claude-ai`, `Visual Studio Code`, …).
    pub name: String,
    /// Client version.
    pub version: String,
}

/// On whose behalf the call ran.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Actor {
    /// Atlassian account id (Cloud) or user key/name (Data Center); null until known.
    pub account_id: Option<String>,
    /// Site base URL.
    pub site: Option<String>,
    /// Auth mode: `api-token`, `pat`, `oauth`.
    pub auth: Option<String>,
}

/// One Atlassian HTTP request made during a tool call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Upstream {
    /// HTTP method.
    pub method: String,
    /// Path without host and without query string.
    pub path: String,
    /// HTTP status, or 0 when no response arrived (timeout, connection refused).
    pub status: u16,
    /// Wall time of the request in milliseconds.
    pub ms: f64,
}

/// What a caller supplies; [`crate::audit::AuditLog::append`] adds the bookkeeping fields.
#[derive(Debug, Clone)]
pub struct Entry {
    /// `tool_call`, `server_start`, `login`, `logout`, `token_refresh`.
    pub event: String,
    /// The MCP client, when known.
    pub client: Option<ClientInfo>,
    /// The actor, when known.
    pub actor: Option<Actor>,
    /// Tool name (tool calls only).
    pub tool: Option<String>,
    /// Raw arguments as received; the log applies `[audit].args` before writing.
    pub args: Option<serde_json::Value>,
    /// Outcome.
    pub outcome: Outcome,
    /// Error message (never containing secrets) when the outcome is not `ok`.
    pub error: Option<String>,
    /// Duration of the call in milliseconds.
    pub duration_ms: f64,
    /// Every upstream request the call made.
    pub upstream: Vec<Upstream>,
    /// Issue keys / page ids returned or changed.
    pub touched: Vec<String>,
    /// Size of the result sent to the client, in bytes.
    pub result_bytes: u64,
}

/// A complete record as stored, one per line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// Record format version (1).
    pub v: u32,
    /// RFC 3339 UTC timestamp with milliseconds.
    pub ts: String,
    /// Position in the whole log, +1 per record across processes and rotated files.
    pub seq: u64,
    /// Unique record id (UUID).
    pub id: String,
    /// Event kind.
    pub event: String,
    /// Per-process session id (UUID).
    pub session: String,
    /// Process id of the writer.
    pub pid: u32,
    /// The MCP client.
    pub client: Option<ClientInfo>,
    /// The actor.
    pub actor: Option<Actor>,
    /// Tool name.
    pub tool: Option<String>,
    /// Arguments after `[audit].args` processing.
    pub args: Option<serde_json::Value>,
    /// SHA-256 (hex) of the JCS form of the arguments as received.
    pub args_sha256: Option<String>,
    /// Outcome.
    pub outcome: Outcome,
    /// Error message.
    pub error: Option<String>,
    /// Duration in milliseconds.
    pub duration_ms: f64,
    /// Upstream requests.
    pub upstream: Vec<Upstream>,
    /// Keys / ids touched.
    pub touched: Vec<String>,
    /// Result size in bytes.
    pub result_bytes: u64,
    /// Hash of the previous record (64 zeros for the first).
    pub prev: String,
    /// `sha256_hex(prev + JCS(record without hash))`.
    pub hash: String,
}
