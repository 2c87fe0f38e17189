//! Our entry in a client's server map: what `install` wants there, how the entry already there
//! compares with it, and the edit that adds or updates it while keeping the user's other keys
//! and variables.

use jsonc_parser::cst::{CstInputValue, CstObject};

use super::{Document, object_under, string_value};
use crate::cli::install::error::DocError;
use crate::cli::install::save::Edited;

/// The entry `install` wants under `name`.
pub(in crate::cli::install) struct Wanted<'a> {
    /// The key in the server map.
    pub name: &'a str,
    /// The program the client launches.
    pub command: &'a str,
    /// Its arguments, exactly.
    pub args: &'a [String],
    /// Variables the entry's `env` must hold; its other variables are the user's and stay.
    pub env: &'a [(String, String)],
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
        if !self.env.is_empty() {
            let env = self
                .env
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().into()))
                .collect();
            fields.push(("env".to_string(), CstInputValue::Object(env)));
        }
        CstInputValue::Object(fields)
    }

    fn args_input(&self) -> CstInputValue {
        CstInputValue::Array(self.args.iter().map(|a| a.as_str().into()).collect())
    }
}

/// What is under our name now.
#[derive(Debug, PartialEq, Eq)]
pub(in crate::cli::install) enum Existing {
    /// Nothing.
    Absent,
    /// An entry that runs this binary with the same arguments and our variables.
    Same,
    /// An entry that runs something else (or the same binary with other arguments, or without
    /// the variables we set).
    Different {
        command: Option<String>,
        args: Vec<String>,
        /// Its values for the variables we set, where it has them.
        env: Vec<(String, String)>,
    },
}

impl Document {
    /// Refuses duplicates of `key`, of our entry in it, and of every field of it we read or set.
    fn refuse_duplicate_entry(&self, key: &str, wanted: &Wanted<'_>) -> Result<(), DocError> {
        let name = wanted.name;
        let mut paths: Vec<Vec<&str>> = ["type", "command", "args", "env"]
            .iter()
            .map(|field| vec![key, name, field])
            .collect();
        paths.extend(
            wanted
                .env
                .iter()
                .map(|(var, _)| vec![key, name, "env", var]),
        );
        let paths: Vec<&[&str]> = paths.iter().map(Vec::as_slice).collect();
        self.refuse_duplicates(&paths)
    }

    /// How the entry under `wanted.name` in the `key` map compares with `wanted`.
    /// Refused when a key on the way to it, or one of its fields, appears twice.
    pub(in crate::cli::install) fn existing(
        &self,
        key: &str,
        wanted: &Wanted<'_>,
    ) -> Result<Existing, DocError> {
        let Some(map) = self.servers(key)? else {
            return Ok(Existing::Absent);
        };
        self.refuse_duplicate_entry(key, wanted)?;
        let Some(prop) = map.0.get(wanted.name) else {
            return Ok(Existing::Absent);
        };
        let Some(entry) = prop.object_value() else {
            return Ok(Existing::Different {
                command: None,
                args: Vec::new(),
                env: Vec::new(),
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
        let env_map = entry.get("env").and_then(|p| p.object_value());
        let env: Vec<(String, String)> = wanted
            .env
            .iter()
            .filter_map(|(var, _)| {
                let value = string_value(env_map.as_ref()?.get(var)?.value())?;
                Some((var.clone(), value))
            })
            .collect();
        let same = command
            .as_deref()
            .is_some_and(|c| same_program(c, wanted.command))
            && args.as_deref().is_some_and(|a| a == wanted.args)
            && kind.as_deref().is_none_or(|k| k == "stdio")
            && env.as_slice() == wanted.env;
        Ok(if same {
            Existing::Same
        } else {
            Existing::Different {
                command,
                args: args.unwrap_or_default(),
                env,
            }
        })
    }

    /// Adds `wanted` to the `key` map (creating the map, and the top-level object, as needed),
    /// or updates `type`, `command`, `args` and our variables in `env` of the entry already
    /// there, keeping its other keys and variables. Checks that the result reads back before
    /// handing it out.
    pub(in crate::cli::install) fn put(
        self,
        key: &str,
        wanted: &Wanted<'_>,
    ) -> Result<Edited, DocError> {
        self.refuse_duplicate_entry(key, wanted)?;
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
                    self.put_env(&entry, key, wanted)?;
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

    /// Sets our variables in `entry`'s `env` (created when absent), keeping the others.
    fn put_env(&self, entry: &CstObject, key: &str, wanted: &Wanted<'_>) -> Result<(), DocError> {
        if wanted.env.is_empty() {
            return Ok(());
        }
        let what = || self.not_object(format!("`{key}.{}.env`", wanted.name));
        let env = match object_under(entry, "env", what)? {
            Some(env) => env,
            None => entry.object_value_or_set("env"),
        };
        for (var, value) in wanted.env {
            set_field(&env, var, value.as_str().into());
        }
        Ok(())
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

/// Whether two command strings launch the same file (equal text, or the same file once
/// symlinks are resolved).
pub(in crate::cli::install) fn same_program(a: &str, b: &str) -> bool {
    if a == b {
        return true;
    }
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::super::{Syntax, parse};
    use super::*;

    fn serve() -> Vec<String> {
        vec!["serve".to_string()]
    }

    fn wanted<'a>(args: &'a [String], env: &'a [(String, String)]) -> Wanted<'a> {
        Wanted {
            name: "atlassian-mcp-bridge",
            command: "/opt/amb/atlassian-mcp-bridge",
            args,
            env,
            typed: true,
        }
    }

    fn parsed(text: &str, syntax: Syntax) -> Document {
        let root = parse(text, syntax).unwrap();
        Document {
            path: PathBuf::from("t.json"),
            syntax,
            original: Some(text.as_bytes().to_vec()),
            text: text.to_string(),
            bom: false,
            blank: text.trim().is_empty(),
            root,
        }
    }

    #[test]
    fn adding_keeps_comments_trailing_commas_and_tabs() {
        let text =
            "{\n\t// mine\n\t\"servers\": {\n\t\t\"a\": { \"command\": \"x\" }, // a\n\t},\n}\n";
        let args = serve();
        let edited = parsed(text, Syntax::Jsonc)
            .put("servers", &wanted(&args, &[]))
            .unwrap();
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
        let args = serve();
        let wanted = wanted(&args, &[]);
        assert_eq!(
            doc.existing("servers", &wanted).unwrap(),
            Existing::Different {
                command: Some("/old".into()),
                args: vec![],
                env: vec![]
            }
        );
        let edited = doc.put("servers", &wanted).unwrap();
        let value: serde_json::Value = serde_json::from_str(&edited.text).unwrap();
        assert_eq!(
            value["servers"]["atlassian-mcp-bridge"],
            serde_json::json!({"type": "stdio", "command": "/opt/amb/atlassian-mcp-bridge",
                "args": ["serve"], "env": {"A": "1"}})
        );
    }

    #[test]
    fn a_byte_order_mark_survives() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bom.json");
        std::fs::write(&path, "\u{feff}{\"mcpServers\": {}}").unwrap();
        let doc = Document::load(&path, Syntax::Json).unwrap();
        let args = serve();
        doc.put("mcpServers", &wanted(&args, &[]))
            .unwrap()
            .save()
            .unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("\u{feff}{"), "{text:?}");
        assert!(text.contains("/opt/amb/atlassian-mcp-bridge"));
    }

    #[test]
    fn our_variables_are_set_beside_the_users_and_compared() {
        let text = "{\"servers\": {\"atlassian-mcp-bridge\": {\"type\": \"stdio\", \
                    \"command\": \"/opt/amb/atlassian-mcp-bridge\", \"args\": [\"serve\"], \
                    \"env\": {\"RUST_LOG\": \"debug\", \"ATLASSIAN_MCP_BRIDGE_HOME\": \"/old\"}}}}";
        let args = serve();
        let env = [("ATLASSIAN_MCP_BRIDGE_HOME".to_string(), "/new".to_string())];
        let doc = parsed(text, Syntax::Json);
        assert_eq!(
            doc.existing("servers", &wanted(&args, &[])).unwrap(),
            Existing::Same,
            "variables we do not set are the user's"
        );
        assert_eq!(
            doc.existing("servers", &wanted(&args, &env)).unwrap(),
            Existing::Different {
                command: Some("/opt/amb/atlassian-mcp-bridge".into()),
                args: serve(),
                env: vec![("ATLASSIAN_MCP_BRIDGE_HOME".into(), "/old".into())]
            }
        );
        let edited = doc.put("servers", &wanted(&args, &env)).unwrap();
        let value: serde_json::Value = serde_json::from_str(&edited.text).unwrap();
        assert_eq!(
            value["servers"]["atlassian-mcp-bridge"]["env"],
            serde_json::json!({"RUST_LOG": "debug", "ATLASSIAN_MCP_BRIDGE_HOME": "/new"})
        );
        let added = parsed("{}", Syntax::Json)
            .put("servers", &wanted(&args, &env))
            .unwrap();
        let value: serde_json::Value = serde_json::from_str(&added.text).unwrap();
        assert_eq!(
            value["servers"]["atlassian-mcp-bridge"]["env"],
            serde_json::json!({"ATLASSIAN_MCP_BRIDGE_HOME": "/new"})
        );
        let not_object = "{\"servers\": {\"atlassian-mcp-bridge\": {\"env\": []}}}";
        assert!(matches!(
            parsed(not_object, Syntax::Json).put("servers", &wanted(&args, &env)),
            Err(DocError::NotObject { .. })
        ));
    }

    #[test]
    fn duplicated_keys_on_our_path_are_refused_with_their_lines() {
        let args = serve();
        let env = [("ATLASSIAN_MCP_BRIDGE_HOME".to_string(), "/h".to_string())];
        let cases = [
            (
                "{\n\"servers\": {},\n\"servers\": {}\n}",
                "servers",
                vec![2, 3],
            ),
            (
                "{\"servers\": {\n\"atlassian-mcp-bridge\": {},\n\"x\": {},\n\"atlassian-mcp-bridge\": {}}}",
                "servers.atlassian-mcp-bridge",
                vec![2, 4],
            ),
            (
                "{\"servers\": {\"atlassian-mcp-bridge\": {\"command\": \"/a\",\n\"command\": \"/b\"}}}",
                "servers.atlassian-mcp-bridge.command",
                vec![1, 2],
            ),
            (
                "{\"servers\": {\"atlassian-mcp-bridge\": {\"env\": {\n\"ATLASSIAN_MCP_BRIDGE_HOME\": \"/a\", \"ATLASSIAN_MCP_BRIDGE_HOME\": \"/b\"}}}}",
                "servers.atlassian-mcp-bridge.env.ATLASSIAN_MCP_BRIDGE_HOME",
                vec![2, 2],
            ),
        ];
        for (text, key, lines) in cases {
            let check = |result: Result<(), DocError>| match result {
                Err(DocError::Duplicate {
                    key: k, lines: l, ..
                }) => assert_eq!((k.as_str(), l), (key, lines.clone()), "{text}"),
                other => panic!("{text}: expected a duplicate, got {other:?}"),
            };
            let doc = parsed(text, Syntax::Json);
            check(doc.existing("servers", &wanted(&args, &env)).map(|_| ()));
            check(doc.put("servers", &wanted(&args, &env)).map(|_| ()));
        }
        let other = "{\"servers\": {\"a\": {}, \"a\": {}}, \"x\": 1, \"x\": 2}";
        assert!(
            parsed(other, Syntax::Json)
                .existing("servers", &wanted(&args, &env))
                .is_ok(),
            "duplicates elsewhere are not ours to judge"
        );
    }
}
