//! The integration test binary: the real `atlassian-mcp-bridge` over stdio, driven by rmcp's
//! client, against the built-in sandbox on 127.0.0.1, with a temp `ATLASSIAN_MCP_BRIDGE_HOME`.

mod support;

/// Audit records written by real tool calls, and the `audit` commands.
mod audit_e2e;
/// Confluence page headers, mentions, links, page URLs as ids, plain-word search, schemas.
mod confluence_reads;
/// `doctor` against healthy and broken homes.
mod doctor;
/// `install` into temp copies of each client's config file.
mod install;
/// OAuth sign-in, refresh across processes, status and logout.
mod oauth;
/// Offline reads from the local cache, the JQL/CQL subsets, `atlassian_local_search`.
mod offline;
/// Writes queued offline, sent once later; `outbox list|send|drop`.
mod outbox;
/// allow/deny, read-only, project and space confinement.
mod policy;
/// initialize, tools/list, unknown methods, garbage input, exit codes.
mod protocol;
/// Resources, resource templates, completion and prompts.
mod resources;
/// Upstream mode: Atlassian's hosted MCP server behind the bridge (SPEC §11).
mod rovo;
/// The bridge's requests checked against Atlassian's OpenAPI descriptions.
mod spec_conformance;
/// `jira_summarize_issue`, `confluence_summarize_page` and sampling.
mod summarize;
/// `jira_summarize_search` counts over many pages.
mod summarize_search;
/// `sync`, `cache stats` and `cache clear`: mirroring, resume after a kill, policy, offline.
mod sync;
/// Every read tool on Cloud and Data Center.
mod tools;
/// stdin framing, malformed JSON-RPC, signals.
mod transport;
/// 429/503 retries, rate-limit exhaustion, upstream errors, redirects.
mod upstream;
/// Every write tool, bulk create, confirmations, policy on writes, and resume after a crash.
mod writes;
