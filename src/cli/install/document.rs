//! One client config file as a concrete syntax tree: reads server entries, adds or updates ours
//! while every other byte (comments, trailing commas, indentation, line endings) stays as
//! written (our entry is compared and edited in `entry`, saved in `save`; errors are in `error`,
//! duplicate keys in `duplicates`).

use std::path::{Path, PathBuf};

use jsonc_parser::ParseOptions;
use jsonc_parser::cst::{CstNode, CstObject, CstRootNode};

pub(super) use self::entry::{Existing, Wanted, same_program};
use super::duplicates::first_duplicate;
use super::error::{DocError, line_column};

mod entry;

/// Which dialect a client reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Syntax {
    /// Plain JSON: a comment or trailing comma is an error (the client would reject it too).
    Json,
    /// JSON with `//` and `/* */` comments and trailing commas (VS Code, Cursor).
    Jsonc,
}

impl Syntax {
    fn options(self) -> ParseOptions {
        let jsonc = self == Syntax::Jsonc;
        ParseOptions {
            allow_comments: jsonc,
            allow_loose_object_property_names: false,
            allow_trailing_commas: jsonc,
            allow_missing_commas: false,
            allow_single_quoted_strings: false,
            allow_hexadecimal_numbers: false,
            allow_unary_plus_numbers: false,
            allow_bare_decimal_point_numbers: false,
            allow_non_finite_numbers: false,
            allow_extended_string_escapes: false,
        }
    }

    /// The dialect's name, for messages.
    pub(super) fn name(self) -> &'static str {
        match self {
            Syntax::Json => "JSON",
            Syntax::Jsonc => "JSON with comments",
        }
    }
}

/// A server map (`mcpServers` / `servers`) inside a document.
pub(super) struct ServerMap(CstObject);

impl ServerMap {
    /// `(name, command)` for every entry whose `command` is a string.
    pub(super) fn commands(&self) -> Vec<(String, String)> {
        self.0
            .properties()
            .into_iter()
            .filter_map(|prop| {
                let name = prop.decoded_name()?;
                let command = string_value(prop.object_value()?.get("command")?.value())?;
                Some((name, command))
            })
            .collect()
    }
}

/// A parsed config file (or an empty one when the file does not exist yet).
pub(super) struct Document {
    path: PathBuf,
    syntax: Syntax,
    /// The bytes read, for the backup; `None` when the file did not exist.
    original: Option<Vec<u8>>,
    /// The text parsed (without a byte order mark), for positions of duplicate keys.
    text: String,
    /// Whether the text started with a UTF-8 byte order mark (kept on save).
    bom: bool,
    /// Whether the text was empty or only whitespace.
    blank: bool,
    root: CstRootNode,
}

impl Document {
    /// Reads and parses `path`; a missing file is an empty document. Refuses text that is not
    /// UTF-8 or not valid in `syntax`, with the line and column.
    pub(super) fn load(path: &Path, syntax: Syntax) -> Result<Document, DocError> {
        let original = match std::fs::read(path) {
            Ok(bytes) => Some(bytes),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(source) => {
                return Err(DocError::Read {
                    path: path.to_path_buf(),
                    source,
                });
            }
        };
        let text = match &original {
            Some(bytes) => std::str::from_utf8(bytes).map_err(|e| {
                let (line, column) = line_column(&bytes[..e.valid_up_to()]);
                DocError::Syntax {
                    path: path.to_path_buf(),
                    syntax,
                    line,
                    column,
                    message: "not UTF-8 text".to_string(),
                }
            })?,
            None => "",
        };
        let bom = text.starts_with('\u{feff}');
        let text = text.trim_start_matches('\u{feff}');
        let root = parse(text, syntax).map_err(|e| DocError::Syntax {
            path: path.to_path_buf(),
            syntax,
            line: e.line_display(),
            column: e.column_display(),
            message: e.kind().to_string(),
        })?;
        let blank = text.trim().is_empty();
        let text = text.to_string();
        Ok(Document {
            path: path.to_path_buf(),
            syntax,
            original,
            text,
            bom,
            blank,
            root,
        })
    }

    /// Whether the file existed when it was loaded.
    pub(super) fn existed(&self) -> bool {
        self.original.is_some()
    }

    fn not_object(&self, what: impl Into<String>) -> DocError {
        DocError::NotObject {
            path: self.path.clone(),
            what: what.into(),
        }
    }

    /// The top-level object; `None` for an empty document.
    fn top(&self) -> Result<Option<CstObject>, DocError> {
        match self.root.value() {
            None => Ok(None),
            Some(value) => value
                .as_object()
                .map(Some)
                .ok_or_else(|| self.not_object("the top level")),
        }
    }

    /// The top-level server map under `key`, if there is one; refused when `key` appears twice.
    pub(super) fn servers(&self, key: &str) -> Result<Option<ServerMap>, DocError> {
        let Some(top) = self.top()? else {
            return Ok(None);
        };
        self.refuse_duplicates(&[&[key]])?;
        object_under(&top, key, || self.not_object(format!("`{key}`"))).map(|m| m.map(ServerMap))
    }

    /// Refuses the file when a key on one of `paths` appears more than once in its object
    /// (clients read the last one; the tree would edit the first).
    fn refuse_duplicates(&self, paths: &[&[&str]]) -> Result<(), DocError> {
        match first_duplicate(&self.text, &self.syntax.options(), paths) {
            None => Ok(()),
            Some(found) => Err(DocError::Duplicate {
                path: self.path.clone(),
                key: found.key,
                lines: found.lines,
            }),
        }
    }

    /// Every `projects.<dir>.mcpServers` map (Claude Code's local scope in `~/.claude.json`).
    pub(super) fn project_servers(&self) -> Result<Vec<ServerMap>, DocError> {
        let Some(top) = self.top()? else {
            return Ok(Vec::new());
        };
        let Some(projects) = object_under(&top, "projects", || self.not_object("`projects`"))?
        else {
            return Ok(Vec::new());
        };
        let mut maps = Vec::new();
        for project in projects.properties() {
            let dir = project.decoded_name().unwrap_or_default();
            let Some(settings) = project.object_value() else {
                continue;
            };
            let what = || self.not_object(format!("`projects.{dir}.mcpServers`"));
            if let Some(map) = object_under(&settings, "mcpServers", what)? {
                maps.push(ServerMap(map));
            }
        }
        Ok(maps)
    }

    fn from_text(path: &Path, syntax: Syntax, text: &str) -> Result<Document, DocError> {
        let root = parse(text, syntax).map_err(|_| DocError::Verify {
            path: path.to_path_buf(),
        })?;
        Ok(Document {
            path: path.to_path_buf(),
            syntax,
            original: None,
            text: text.to_string(),
            bom: false,
            blank: false,
            root,
        })
    }
}

/// Parses `text` in `syntax` into a tree. The value parser checks the dialect first: the tree
/// parser (jsonc-parser 0.34) keeps comments as tokens without honouring `allow_comments`.
fn parse(text: &str, syntax: Syntax) -> Result<CstRootNode, jsonc_parser::errors::ParseError> {
    jsonc_parser::parse_to_value(text, &syntax.options())?;
    CstRootNode::parse(text, &syntax.options())
}

/// The object under `key` in `parent`; `Err(not_object())` when the value is something else.
fn object_under(
    parent: &CstObject,
    key: &str,
    not_object: impl FnOnce() -> DocError,
) -> Result<Option<CstObject>, DocError> {
    match parent.get(key) {
        None => Ok(None),
        Some(prop) => prop.object_value().map(Some).ok_or_else(not_object),
    }
}

/// The decoded text of a string literal node.
fn string_value(node: Option<CstNode>) -> Option<String> {
    node?.as_string_lit()?.decoded_value().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_are_refused_in_plain_json_with_their_position() {
        let err = Document::from_text(Path::new("x"), Syntax::Json, "{}").map(|_| ());
        assert!(err.is_ok());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.json");
        std::fs::write(&path, "{\n  // no\n}\n").unwrap();
        match Document::load(&path, Syntax::Json) {
            Err(DocError::Syntax { line, column, .. }) => assert_eq!((line, column), (2, 3)),
            other => panic!("expected a syntax error, got {:?}", other.map(|_| ())),
        }
        assert!(Document::load(&path, Syntax::Jsonc).is_ok());
    }

    #[test]
    fn a_duplicated_server_map_is_refused_when_reading_entries() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.json");
        std::fs::write(&path, "{\n\"mcpServers\": {},\n\"mcpServers\": {}\n}\n").unwrap();
        let doc = Document::load(&path, Syntax::Json).unwrap();
        match doc.servers("mcpServers").map(|_| ()) {
            Err(DocError::Duplicate { key, lines, .. }) => {
                assert_eq!((key.as_str(), lines), ("mcpServers", vec![2, 3]))
            }
            other => panic!("expected a duplicate, got {other:?}"),
        }
    }
}
