//! atlassian-mcp-bridge: a local stdio MCP server for Jira and Confluence with a
//! tamper-evident audit log.
//!
//! # Layout
//!
//! - [`cli`]: the command line (`serve`, `login`, `logout`, `status`, `doctor` (`cli/doctor/`),
//!   `install` (`cli/install/`: client config files merged in place), `completions`, `sandbox`,
//!   `demo`, `audit …`, `sync`, `cache …`, `outbox …`, `login|logout --upstream` in
//!   `cli/upstream.rs`); the only place that prints.
//! - [`auth`]: OAuth 2.0 sign-in (PKCE + loopback callback, `auth/login/callback.rs`), the 0600
//!   credential store, and token refresh that is single-flight within and across processes; the
//!   upstream MCP server's sign-in with no app registration (`discovery`, `registration`,
//!   `upstream_login`, `upstream_tokens`).
//! - [`cache`]: the local cache and mirror (SPEC §10): issues and pages in SQLite at
//!   `<home>/cache.db` with FTS5 search (`cache/store/`, `cache/search.rs`), watermarks,
//!   eviction; the JQL and CQL subsets it answers offline, compiled to SQL (`cache/query/`).
//! - [`catalog`]: the one list of tools (name, read/write, served or planned) that config,
//!   policy, the router and the tests read.
//! - [`config`]: `config.toml` + environment → validated [`config::Settings`].
//! - [`mcp`]: the MCP server: one file per tool (`mcp/jira/`, `mcp/confluence/`), the per-call
//!   gate and audit entry (`mcp/call.rs`), confirmations, bulk results, text rendering;
//!   resources, completion and prompts (`mcp/resources.rs`, `completion.rs`, `prompts.rs`); the
//!   summarize tools' digests (`mcp/digest/`, pure) and sampling (`mcp/sampling.rs`); offline
//!   answers and write-through to the cache (`mcp/offline.rs`), `atlassian_local_search`
//!   (`mcp/local_search.rs`); tools proxied from an upstream MCP server (`mcp/proxied.rs`);
//!   `tools/list` as sent, stored in `mcp/tools.json` (`mcp/tool_list.rs`, kept current by a test).
//! - [`atlassian`]: the one HTTP client for Jira and Confluence (auth, retries, error mapping,
//!   Cloud vs Data Center endpoints), reporting every request to the calling tool's audit record;
//!   search pages are decoded straight into issues by `atlassian/jira/wire.rs`.
//! - [`outbox`]: writes made while offline, one JSON file each under `<home>/outbox`, waiting to
//!   be sent exactly once (the queue store; sending is `mcp/outbox.rs`).
//! - [`journal`]: the per-operation write journal (fsync'd JSONL under `<home>/journal`, one
//!   exclusive lock per operation) that makes bulk calls resumable without duplicates.
//! - [`convert`]: ADF, Confluence storage XHTML and Jira wiki markup ↔ Markdown (pure).
//! - [`sanitize`]: strips invisible and bidirectional control characters from upstream text.
//! - [`policy`]: tool allow/deny, read-only, project/space confinement, bulk limits: asked
//!   through intent-level methods (`admit_jql`, `admit_issue`, `admit_project`, `admit_bulk` …);
//!   the same for upstream tools (`policy/upstream.rs`: `admit_upstream_tool`, `…_args`, `…_result`).
//! - [`remote`]: the MCP client for an upstream MCP server over Streamable HTTP (SPEC §11):
//!   lazy connection, tool list and its changes, calls with progress and cancellation, bearer
//!   tokens from a source on every request; knows nothing of the bridge's own server.
//! - [`audit`]: the JSONL audit log (hash chain, locking, rotation, group commit in
//!   `audit/group.rs`) and its readers.
//! - [`sandbox`]: a built-in Atlassian-compatible site (Jira, Confluence, OAuth 3LO) on loopback
//!   for demos, tests and benchmarks, with an imitation of Atlassian's hosted MCP server and its
//!   authorization server (`upstream/`). A crate of its own, `crates/sandbox/` (its layout map
//!   opens `crates/sandbox/src/lib.rs`): it shares no types with the bridge, and cargo compiles
//!   it beside this library instead of inside it.
//! - [`secret`]: the `Secret` wrapper that keeps credentials out of every output.
//! - [`upstream`]: what every outbound request shares (User-Agent, per-call trace and retry
//!   budget, URL segments, Atlassian error bodies); a leaf under both `atlassian` and `auth`.
//! - [`sync`]: mirroring projects and spaces into the cache (`sync` command), and the one
//!   conversion from the client's types to cache records (`sync/records.rs`).
//! - [`transport`]: the stdio transport under rmcp: bounded stdin lines screened (repaired, or
//!   answered -32700/-32602 with their id), one stdout writer, in-flight requests for shutdown.
//!
//! Outside `src/`: `build.rs` lays the `dist` binary's code out by `dist/hot-symbols.txt`
//! (recorded by `scripts/hot_symbols.py`); `benches/` are the `cargo bench` programs;
//! `tests/` the integration tests and the third-party peers (`tests/peers/`).
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod atlassian;
pub mod audit;
pub mod auth;
pub mod cache;
pub mod catalog;
pub mod cli;
pub mod config;
pub mod convert;
pub mod journal;
pub mod mcp;
pub mod outbox;
pub mod policy;
pub mod remote;
pub mod sanitize;
pub mod secret;
pub mod sync;
pub mod transport;
pub mod upstream;

/// The built-in Atlassian-compatible site (`crates/sandbox`), under the path the bridge, its
/// tests and its benchmarks have always used.
pub use atlassian_sandbox as sandbox;
