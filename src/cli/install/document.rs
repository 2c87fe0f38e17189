//! One client config file as a concrete syntax tree: reads server entries, adds or updates ours
//! while every other byte (comments, trailing commas, indentation, line endings) stays as
//! written (saving is in `save`).

use std::fmt;
use std::path::{Path, PathBuf};

use jsonc_parser::ParseOptions;
use jsonc_parser::cst::{CstInputValue, CstNode, CstObject, CstRootNode};

use super::save::Edited;

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

    fn name(self) -> &'static str {
        match self {
            Syntax::Json => "JSON",
            Syntax::Jsonc => "JSON with comments",
        }
    }
}

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
        matches!(self, DocError::Syntax { .. } | DocError::NotObject { .. })
    }
}

/// The entry `install` wants under `name`.
pub(super) struct Wanted<'a> {
    pub name: &'a str,
    pub command: &'a str,
    pub args: &'a [&'a str],
    /// Whether the entry carries `"type": "stdio"`.
    pub typed: bool,
}

impl Wanted<'_> {
    fn input(&self) -> CstInputValue {
        let mut fields = Vec::new();
        if self.typed {
            fields.push(("type".to_string(), "stdio".into()));
        }
        fields.push(("command".to_string(), self.command.into()));
        fields.push(("args".to_string(), self.args_input()));
        CstInputValue::Object(fields)
    }

    fn args_input(&self) -> CstInputValue {
        CstInputValue::Array(self.args.iter().map(|a| (*a).into()).collect())
    }
}

/// What is under our name now.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Existing {
    /// Nothing.
    Absent,
    /// An entry that runs this binary with the same arguments.
    Same,
    /// An entry that runs something else (or the same binary with other arguments).
    Different {
        command: Option<String>,
        args: Vec<String>,
    },
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
        Ok(Document {
            path: path.to_path_buf(),
            syntax,
            original,
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

    /// The top-level server map under `key`, if there is one.
    pub(super) fn servers(&self, key: &str) -> Result<Option<ServerMap>, DocError> {
        let Some(top) = self.top()? else {
            return Ok(None);
        };
        object_under(&top, key, || self.not_object(format!("`{key}`"))).map(|m| m.map(ServerMap))
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

    /// How the entry under `wanted.name` in the `key` map compares with `wanted`.
    pub(super) fn existing(&self, key: &str, wanted: &Wanted<'_>) -> Result<Existing, DocError> {
        let Some(map) = self.servers(key)? else {
            return Ok(Existing::Absent);
        };
        let Some(prop) = map.0.get(wanted.name) else {
            return Ok(Existing::Absent);
        };
        let Some(entry) = prop.object_value() else {
            return Ok(Existing::Different {
                command: None,
                args: Vec::new(),
            });
        };
        let field = |name: &str| entry.get(name).and_then(|p| p.value());
        let command = string_value(field("command"));
        let args: Option<Vec<String>> = match field("args") {
            None => Some(Vec::new()),
            Some(node) => node.as_array().and_then(|a| {
                a.elements()
                    .into_iter()
                    .map(|e| string_value(Some(e)))
                    .collect()
            }),
        };
        let kind = string_value(field("type"));
        let same = command
            .as_deref()
            .is_some_and(|c| same_program(c, wanted.command))
            && args.as_deref().is_some_and(|a| a == wanted.args)
            && kind.as_deref().is_none_or(|k| k == "stdio");
        Ok(if same {
            Existing::Same
        } else {
            Existing::Different {
                command,
                args: args.unwrap_or_default(),
            }
        })
    }

    /// Adds `wanted` to the `key` map (creating the map, and the top-level object, as needed),
    /// or updates `type`, `command` and `args` of the entry already there, keeping its other
    /// keys (`env` …). Checks that the result reads back before handing it out.
    pub(super) fn put(self, key: &str, wanted: &Wanted<'_>) -> Result<Edited, DocError> {
        let top = match self.top()? {
            Some(top) => top,
            None => self.root.object_value_or_set(),
        };
        let servers = match object_under(&top, key, || self.not_object(format!("`{key}`")))? {
            Some(map) => map,
            None => top.object_value_or_set(key),
        };
        match servers.get(wanted.name) {
            None => {
                servers.append(wanted.name, wanted.input());
            }
            Some(prop) => match prop.object_value() {
                None => prop.set_value(wanted.input()),
                Some(entry) => {
                    if wanted.typed {
                        match entry.get("type") {
                            Some(p) => p.set_value("stdio".into()),
                            None => {
                                entry.insert(0, "type", "stdio".into());
                            }
                        }
                    }
                    set_field(&entry, "command", wanted.command.into());
                    set_field(&entry, "args", wanted.args_input());
                }
            },
        }
        let mut text = self.root.to_string();
        if self.blank && !text.ends_with('\n') {
            text.push('\n');
        }
        let check = Document::from_text(&self.path, self.syntax, &text)?;
        if check.existing(key, wanted)? != Existing::Same {
            return Err(DocError::Verify { path: self.path });
        }
        if self.bom {
            text.insert(0, '\u{feff}');
        }
        Ok(Edited {
            path: self.path,
            original: self.original,
            text,
        })
    }

    fn from_text(path: &Path, syntax: Syntax, text: &str) -> Result<Document, DocError> {
        let root = parse(text, syntax).map_err(|_| DocError::Verify {
            path: path.to_path_buf(),
        })?;
        Ok(Document {
            path: path.to_path_buf(),
            syntax,
            original: None,
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

/// Sets `name` in `entry`, appending it when absent.
fn set_field(entry: &CstObject, name: &str, value: CstInputValue) {
    match entry.get(name) {
        Some(prop) => prop.set_value(value),
        None => {
            entry.append(name, value);
        }
    }
}

/// The decoded text of a string literal node.
fn string_value(node: Option<CstNode>) -> Option<String> {
    node?.as_string_lit()?.decoded_value().ok()
}

/// Whether two command strings launch the same file (equal text, or the same file once
/// symlinks are resolved).
pub(super) fn same_program(a: &str, b: &str) -> bool {
    if a == b {
        return true;
    }
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}

/// 1-based line and column just after `bytes` (for a UTF-8 error position).
fn line_column(bytes: &[u8]) -> (usize, usize) {
    let line = bytes.iter().filter(|b| **b == b'\n').count() + 1;
    let last_line = bytes.rsplit(|b| *b == b'\n').next().unwrap_or_default();
    let column = String::from_utf8_lossy(last_line).chars().count() + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    const WANTED: Wanted<'static> = Wanted {
        name: "atlassian-mcp-bridge",
        command: "/opt/amb/atlassian-mcp-bridge",
        args: &["serve"],
        typed: true,
    };

    fn parsed(text: &str, syntax: Syntax) -> Document {
        let root = parse(text, syntax).unwrap();
        Document {
            path: PathBuf::from("t.json"),
            syntax,
            original: Some(text.as_bytes().to_vec()),
            bom: false,
            blank: text.trim().is_empty(),
            root,
        }
    }

    #[test]
    fn adding_keeps_comments_trailing_commas_and_tabs() {
        let text =
            "{\n\t// mine\n\t\"servers\": {\n\t\t\"a\": { \"command\": \"x\" }, // a\n\t},\n}\n";
        let edited = parsed(text, Syntax::Jsonc).put("servers", &WANTED).unwrap();
        assert_eq!(
            edited.text,
            "{\n\t// mine\n\t\"servers\": {\n\t\t\"a\": { \"command\": \"x\" }, // a\n\t\t\
             \"atlassian-mcp-bridge\": {\n\t\t\t\"type\": \"stdio\",\n\t\t\t\
             \"command\": \"/opt/amb/atlassian-mcp-bridge\",\n\t\t\t\"args\": [\"serve\"],\n\t\t},\n\t},\n}\n"
        );
    }

    #[test]
    fn updating_keeps_the_entrys_other_keys() {
        let text = "{\"servers\": {\"atlassian-mcp-bridge\": {\"command\": \"/old\", \"env\": {\"A\": \"1\"}}}}";
        let doc = parsed(text, Syntax::Json);
        assert_eq!(
            doc.existing("servers", &WANTED).unwrap(),
            Existing::Different {
                command: Some("/old".into()),
                args: vec![]
            }
        );
        let edited = doc.put("servers", &WANTED).unwrap();
        let value: serde_json::Value = serde_json::from_str(&edited.text).unwrap();
        assert_eq!(
            value["servers"]["atlassian-mcp-bridge"],
            serde_json::json!({"type": "stdio", "command": "/opt/amb/atlassian-mcp-bridge",
                "args": ["serve"], "env": {"A": "1"}})
        );
    }

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
    fn a_byte_order_mark_survives() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bom.json");
        std::fs::write(&path, "\u{feff}{\"mcpServers\": {}}").unwrap();
        let doc = Document::load(&path, Syntax::Json).unwrap();
        doc.put("mcpServers", &WANTED).unwrap().save().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("\u{feff}{"), "{text:?}");
        assert!(text.contains("/opt/amb/atlassian-mcp-bridge"));
    }
}
