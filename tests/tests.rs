//! The integration test binary: the real `atlassian-mcp-bridge` over stdio, driven by rmcp's
//! client, against the built-in sandbox on 127.0.0.1, with a temp `ATLASSIAN_MCP_BRIDGE_HOME`.

mod support;

/// Audit records written by real tool calls, and the `audit` commands.
mod audit_e2e;
/// OAuth sign-in, refresh across processes, status and logout.
mod oauth;
/// allow/deny, read-only, project and space confinement.
mod policy;
/// initialize, tools/list, unknown methods, garbage input, exit codes.
mod protocol;
/// The bridge's requests checked against Atlassian's OpenAPI descriptions.
mod spec_conformance;
/// Every read tool on Cloud and Data Center.
mod tools;
/// 429/503 retries, rate-limit exhaustion, upstream errors, redirects.
mod upstream;
/// Every write tool, bulk create, confirmations, policy on writes, and resume after a crash.
mod writes;
