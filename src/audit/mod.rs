//! The audit log: one JSONL record per tool call (and per lifecycle event), hash-chained,
//! appended under an exclusive lock, rotated by size, verified by `audit verify`.
//!
//! - [`record`]: the record shape (SPEC §6) and the hash rule.
//! - [`redact`]: what of the arguments is written (`[audit].args`) and the secret-key rule.
//! - [`log`]: [`AuditLog`], the appender used by the server; `group` lets records that finish
//!   together share one disk flush (group commit).
//! - [`perms`]: keeps an existing log file and directory private (tightens or warns).
//! - [`reader`]: reading across rotated files (snapshots), query filters and stats.
//! - [`verify`]: the hash-chain check behind `audit verify`, missing logs and anchors.
//!
//! The format is documented for people and other tools in `docs/audit.md`.

mod group;
pub mod log;
pub mod perms;
pub mod reader;
pub mod record;
pub mod redact;
pub mod verify;

pub use log::{AuditError, AuditLog};
pub use record::{Actor, AuditRecord, ClientInfo, Entry, Outcome, Upstream};
