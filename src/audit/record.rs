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
    /// The record id, when the caller chose it before the call was recorded (a write queued
    /// offline names it in the outbox, so that its later `outbox_send` record can point back
    /// to it). Must be a UUID; `None`, or anything that is not a UUID, gets a fresh UUID v4.
    pub id: Option<String>,
    /// The answer came from the local cache, or the write was queued in the outbox (SPEC §10).
    pub offline: bool,
    /// For `outbox_send` records: the `id` of the record of the call that queued the write.
    pub origin: Option<String>,
}

impl Entry {
    /// A non-tool event (`server_start`, `login`, `logout`, `token_refresh`) with outcome `ok`
    /// and nothing else filled in; callers set what they know with struct-update syntax.
    pub fn event(name: &str) -> Self {
        Entry {
            event: name.to_string(),
            client: None,
            actor: None,
            tool: None,
            args: None,
            outcome: Outcome::Ok,
            error: None,
            duration_ms: 0.0,
            upstream: Vec::new(),
            touched: Vec::new(),
            result_bytes: 0,
            id: None,
            offline: false,
            origin: None,
        }
    }
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
    /// Answered from the local cache, or queued in the outbox. Written only when true, so
    /// records from before the cache existed (and every online record) keep their exact form
    /// and their hashes.
    #[serde(default, skip_serializing_if = "is_false")]
    pub offline: bool,
    /// For `outbox_send` records: the `id` of the original call's record. Written only when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
    /// Hash of the previous record (64 zeros for the first).
    pub prev: String,
    /// `sha256_hex(prev + JCS(record without hash))`.
    pub hash: String,
}

/// `skip_serializing_if` for flags that are written only when set.
fn is_false(b: &bool) -> bool {
    !*b
}

/// The `prev` of the first record ever written: 64 ASCII zeros.
pub const ZERO_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The record format version this code writes and verifies.
pub const RECORD_VERSION: u32 = 1;

/// Serializes a JSON object with its `hash` member left out, so the canonical form can be
/// produced without copying the record.
struct WithoutHash<'a>(&'a serde_json::Map<String, serde_json::Value>);

impl Serialize for WithoutHash<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(None)?;
        for (key, value) in self.0 {
            if key != "hash" {
                map.serialize_entry(key, value)?;
            }
        }
        map.end()
    }
}

/// The chain rule of SPEC §9: `sha256_hex(prev + JCS(record without "hash"))`.
///
/// Takes the record as a JSON object (as parsed from a line, or as built by the writer) so that
/// verification covers every member actually stored, including ones this version does not know.
pub fn chain_hash(
    prev: &str,
    record: &serde_json::Map<String, serde_json::Value>,
) -> Result<String, serde_json::Error> {
    use sha2::Digest;
    let canonical = serde_json_canonicalizer::to_vec(&WithoutHash(record))?;
    let mut hasher = sha2::Sha256::new();
    hasher.update(prev.as_bytes());
    hasher.update(&canonical);
    Ok(hex::encode(hasher.finalize()))
}

/// SHA-256 (hex) of the JCS form of a JSON value: the `args_sha256` rule.
pub fn jcs_sha256(value: &serde_json::Value) -> Result<String, serde_json::Error> {
    use sha2::Digest;
    let canonical = serde_json_canonicalizer::to_vec(value)?;
    Ok(hex::encode(sha2::Sha256::digest(&canonical)))
}

/// Rounds a millisecond duration to 0.1 ms (keeps lines short); non-finite or negative values,
/// which JSON cannot carry or which make no sense as a duration, become 0.
pub fn round_ms(ms: f64) -> f64 {
    if !ms.is_finite() || ms <= 0.0 {
        return 0.0;
    }
    (ms * 10.0).round() / 10.0
}

impl AuditRecord {
    /// Computes this record's hash from its other fields (including `prev`); the stored `hash`
    /// field is ignored.
    pub fn compute_hash(&self) -> Result<String, serde_json::Error> {
        match serde_json::to_value(self)? {
            serde_json::Value::Object(map) => chain_hash(&self.prev, &map),
            // A struct always serializes to an object; anything else is a serializer bug.
            _ => Err(serde::ser::Error::custom(
                "audit record did not serialize to an object",
            )),
        }
    }

    /// The name shown for the record in listings and stats: the tool for tool calls, else the
    /// event (`server_start`, `login`, …).
    pub fn label(&self) -> &str {
        self.tool.as_deref().unwrap_or(&self.event)
    }
}

impl Outcome {
    /// The spelling used in the log and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Error => "error",
            Outcome::Denied => "denied",
            Outcome::Cancelled => "cancelled",
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn zero_hash_is_64_zeros() {
        assert_eq!(ZERO_HASH.len(), 64);
        assert!(ZERO_HASH.bytes().all(|b| b == b'0'));
    }

    #[test]
    fn chain_hash_ignores_hash_member_and_key_order() {
        let a = json!({"b": 1, "a": "x", "hash": "whatever"});
        let b = json!({"a": "x", "b": 1.0});
        let (serde_json::Value::Object(a), serde_json::Value::Object(b)) = (a, b) else {
            panic!("objects")
        };
        assert_eq!(
            chain_hash(ZERO_HASH, &a).unwrap(),
            chain_hash(ZERO_HASH, &b).unwrap()
        );
        assert_ne!(
            chain_hash(ZERO_HASH, &a).unwrap(),
            chain_hash("1", &a).unwrap()
        );
    }

    #[test]
    fn chain_hash_matches_hand_computed_value() {
        use sha2::Digest;
        let serde_json::Value::Object(m) = json!({"z": 41.2, "a": [5.0, "é"], "hash": "h"}) else {
            panic!("object")
        };
        let expected = hex::encode(sha2::Sha256::digest(
            format!("{ZERO_HASH}{{\"a\":[5,\"é\"],\"z\":41.2}}").as_bytes(),
        ));
        assert_eq!(chain_hash(ZERO_HASH, &m).unwrap(), expected);
    }

    #[test]
    fn round_ms_rounds_to_tenths() {
        assert_eq!(round_ms(41.234), 41.2);
        assert_eq!(round_ms(0.05), 0.1);
        assert_eq!(round_ms(f64::NAN), 0.0);
        assert_eq!(round_ms(-3.0), 0.0);
        assert_eq!(round_ms(f64::INFINITY), 0.0);
    }

    /// A record written before `offline`/`origin` existed (hash computed independently, by
    /// `docs/verify_audit.py`).
    const OLD_FORMAT_LINE: &str = r#"{"v":1,"ts":"2026-11-21T20:00:00.123Z","seq":1,"id":"5f0c7a52-8d7e-4c36-9d0e-2f5b6a1c3e41","event":"tool_call","session":"9b1e4c2a-3f6d-4e8b-a1c2-7d9e0f1a2b3c","pid":1234,"client":{"name":"claude-ai","version":"0.7.1"},"actor":{"account_id":"5b10a2","site":"https://acme.atlassian.net","auth":"oauth"},"tool":"jira_search","args":{"jql":"project = ABC"},"args_sha256":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","outcome":"ok","error":null,"duration_ms":41.2,"upstream":[{"method":"GET","path":"/rest/api/3/search/jql","status":200,"ms":38.0}],"touched":["ABC-1","ABC-2"],"result_bytes":1834,"prev":"0000000000000000000000000000000000000000000000000000000000000000","hash":"cae5d64fca15b7d6bb7128aa42a6af4c154a7b163faabe3e28e640a8feed5e3f"}"#;

    fn audit_settings(path: &std::path::Path) -> crate::config::AuditSettings {
        crate::config::AuditSettings {
            path: path.to_path_buf(),
            args: crate::config::ArgsMode::Redacted,
            fsync: false,
            max_bytes: 1 << 20,
        }
    }

    fn offline_entry(origin: Option<&str>) -> Entry {
        Entry {
            tool: Some("jira_get_issue".into()),
            args: Some(json!({"key": "ABC-1"})),
            touched: vec!["ABC-1".into()],
            offline: true,
            origin: origin.map(str::to_owned),
            ..Entry::event("tool_call")
        }
    }

    #[test]
    fn old_format_record_still_parses_and_hashes_the_same() {
        let rec: AuditRecord = serde_json::from_str(OLD_FORMAT_LINE).unwrap();
        assert!(!rec.offline);
        assert_eq!(rec.origin, None);
        // Serializing it again adds no member, so the writer's hash rule gives the old hash.
        assert_eq!(rec.compute_hash().unwrap(), rec.hash);
        assert_eq!(serde_json::to_string(&rec).unwrap(), OLD_FORMAT_LINE);
    }

    #[test]
    fn old_log_verifies_and_new_records_chain_onto_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        std::fs::write(&path, format!("{OLD_FORMAT_LINE}\n")).unwrap();
        let report = crate::audit::reader::verify(&path).unwrap();
        assert!(report.ok && report.records == 1, "{report:?}");

        let log = crate::audit::AuditLog::open(&audit_settings(&path)).unwrap();
        let online = log.append_blocking(Entry::event("server_start")).unwrap();
        assert_eq!(
            (online.seq, online.offline, online.origin.as_deref()),
            (2, false, None)
        );
        let offline = log.append_blocking(offline_entry(None)).unwrap();
        let sent = log
            .append_blocking(Entry {
                offline: false,
                ..offline_entry(Some(&offline.id))
            })
            .unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4);
        // Online records carry neither member; offline ones carry `offline: true`, and only
        // an `origin` that is set is written.
        assert!(
            !lines[1].contains("offline") && !lines[1].contains("origin"),
            "{}",
            lines[1]
        );
        assert!(
            lines[2].contains(r#""offline":true"#) && !lines[2].contains("origin"),
            "{}",
            lines[2]
        );
        assert!(
            lines[3].contains(&format!(r#""origin":"{}""#, offline.id))
                && !lines[3].contains("offline"),
            "{}",
            lines[3]
        );
        assert_eq!(
            serde_json::from_str::<AuditRecord>(lines[2]).unwrap(),
            offline
        );
        assert_eq!(serde_json::from_str::<AuditRecord>(lines[3]).unwrap(), sent);
        let report = crate::audit::reader::verify(&path).unwrap();
        assert!(report.ok && report.records == 4, "{report:?}");
    }

    #[test]
    fn flipping_offline_or_origin_breaks_verification() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let log = crate::audit::AuditLog::open(&audit_settings(&path)).unwrap();
        let first = log.append_blocking(offline_entry(None)).unwrap();
        log.append_blocking(offline_entry(Some(&first.id))).unwrap();
        let good = std::fs::read_to_string(&path).unwrap();
        assert!(crate::audit::reader::verify(&path).unwrap().ok);
        let tampered = [
            good.replacen(r#""offline":true"#, r#""offline":false"#, 1),
            good.replacen(r#","offline":true"#, "", 1),
            good.replacen(
                &format!(r#""origin":"{}""#, first.id),
                r#""origin":"00000000-0000-4000-8000-000000000000""#,
                1,
            ),
        ];
        for (i, text) in tampered.iter().enumerate() {
            assert_ne!(text, &good, "case {i} changed nothing");
            std::fs::write(&path, text).unwrap();
            let report = crate::audit::reader::verify(&path).unwrap();
            let failure = report.failure.expect("tampering not detected");
            assert!(
                failure.reason.contains("hash mismatch"),
                "case {i}: {}",
                failure.reason
            );
            assert_eq!(failure.at.line, if i == 2 { 2 } else { 1 }, "case {i}");
        }
    }
}
