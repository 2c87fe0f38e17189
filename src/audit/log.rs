//! The appender: exclusive lock, hash chain, fsync, rotation, torn-line repair.

use std::sync::Arc;

use crate::audit::record::{AuditRecord, Entry};
use crate::config::AuditSettings;

/// Why the audit log could not be written.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// An I/O error on the named file.
    #[error("audit log {path}: {source}")]
    Io {
        /// The file involved.
        path: String,
        /// The underlying error.
        source: std::io::Error,
    },
}

/// Appends records to the audit log; cheap to clone, safe to share between tasks and processes.
#[derive(Debug, Clone)]
pub struct AuditLog {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    settings: AuditSettings,
    session: String,
}

impl AuditLog {
    /// Prepares the log (creates its directory); records are written by [`AuditLog::append`].
    pub fn open(settings: &AuditSettings) -> Result<Self, AuditError> {
        Ok(Self {
            inner: Arc::new(Inner {
                settings: settings.clone(),
                session: String::new(),
            }),
        })
    }

    /// This process's session id, stamped on every record it writes.
    pub fn session(&self) -> &str {
        &self.inner.session
    }

    /// Appends one record (durable before returning when `fsync = true`) and returns it.
    pub async fn append(&self, entry: Entry) -> Result<AuditRecord, AuditError> {
        let _ = (&self.inner.settings, entry);
        Err(AuditError::Io {
            path: String::new(),
            source: std::io::Error::other("not implemented"),
        })
    }
}
