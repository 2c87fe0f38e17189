//! Why a client config file could not be read, edited or written, worded for the person who has
//! to fix it: every message names the file, and content problems name the line.

use std::fmt;
use std::path::PathBuf;

use super::document::Syntax;

/// Why a config file could not be read, edited or written. Every message names the file.
#[derive(Debug)]
pub(super) enum DocError {
    /// The file exists but cannot be read.
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The file does not parse in the client's dialect.
    Syntax {
        path: PathBuf,
        syntax: Syntax,
        line: usize,
        column: usize,
        message: String,
    },
    /// A value that must be an object (the top level, the server map) is something else.
    NotObject { path: PathBuf, what: String },
    /// A key we read or edit appears more than once in its object. Clients keep the last one
    /// and the tree edits the first, so we refuse rather than guess which one is meant.
    Duplicate {
        path: PathBuf,
        /// The key's place, `mcpServers.atlassian-mcp-bridge` style.
        key: String,
        /// The 1-based line of every occurrence, in file order.
        lines: Vec<usize>,
    },
    /// The edited text did not read back as expected (a bug; nothing was written).
    Verify { path: PathBuf },
    /// Writing the backup or the new file failed.
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl fmt::Display for DocError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DocError::Read { path, source } => {
                write!(f, "cannot read {}: {source}", path.display())
            }
            DocError::Syntax {
                path,
                syntax,
                line,
                column,
                message,
            } => write!(
                f,
                "{} is not valid {}: line {line}, column {column}: {message}",
                path.display(),
                syntax.name()
            ),
            DocError::NotObject { path, what } => {
                write!(f, "{}: {what} is not a JSON object", path.display())
            }
            DocError::Duplicate { path, key, lines } => write!(
                f,
                "{}: `{key}` appears {} times (lines {}); clients use only the last one, so \
                 install will not guess which to change; keep one",
                path.display(),
                lines.len(),
                and_list(lines)
            ),
            DocError::Verify { path } => write!(
                f,
                "the edited {} did not read back as expected; nothing was changed (please report \
                 this)",
                path.display()
            ),
            DocError::Write { path, source } => {
                write!(f, "cannot write {}: {source}", path.display())
            }
        }
    }
}

impl std::error::Error for DocError {}

impl DocError {
    /// Whether the file's content (not the disk) is at fault, so the user has to fix it.
    pub(super) fn is_content(&self) -> bool {
        matches!(
            self,
            DocError::Syntax { .. } | DocError::NotObject { .. } | DocError::Duplicate { .. }
        )
    }
}

/// `3`, `3 and 9`, `3, 9 and 14`.
fn and_list(lines: &[usize]) -> String {
    match lines {
        [] => String::new(),
        [one] => one.to_string(),
        [init @ .., last] => {
            let init: Vec<String> = init.iter().map(usize::to_string).collect();
            format!("{} and {last}", init.join(", "))
        }
    }
}

/// 1-based line and column just after `bytes` (for a UTF-8 error position, or a key's start).
pub(super) fn line_column(bytes: &[u8]) -> (usize, usize) {
    let line = bytes.iter().filter(|b| **b == b'\n').count() + 1;
    let last_line = bytes.rsplit(|b| *b == b'\n').next().unwrap_or_default();
    let column = String::from_utf8_lossy(last_line).chars().count() + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicate_messages_list_every_line() {
        let err = DocError::Duplicate {
            path: PathBuf::from("/c/mcp.json"),
            key: "servers".into(),
            lines: vec![2, 9, 14],
        };
        assert_eq!(
            err.to_string(),
            "/c/mcp.json: `servers` appears 3 times (lines 2, 9 and 14); clients use only the \
             last one, so install will not guess which to change; keep one"
        );
        assert!(err.is_content());
        assert_eq!(and_list(&[4, 5]), "4 and 5");
    }
}
