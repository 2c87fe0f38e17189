//! The audit log: one JSONL record per tool call (and per lifecycle event), hash-chained,
//! appended under an exclusive lock, rotated by size, verified by `audit verify`.
//!
//! - [`record`]: the record shape (SPEC §6) and the hash rule.
//! - [`redact`]: what of the arguments is written (`[audit].args`) and the secret-key rule.
//! - [`log`]: [`AuditLog`], the appender used by the server.
//! - [`reader`]: reading across rotated files, `verify`, query filters and stats.
//!
//! The format is documented for people and other tools in `docs/audit.md`.

pub mod log;
pub mod reader;
pub mod record;
pub mod redact;

pub use log::{AuditError, AuditLog};
pub use record::{Actor, AuditRecord, ClientInfo, Entry, Outcome, Upstream};
