//! Keys that appear twice in one object, along the paths `install` reads and edits. JSON
//! parsers in the clients keep the last occurrence while the syntax tree edits the first, so a
//! duplicated key there is refused instead of guessed at.

use jsonc_parser::ast::{Object, ObjectProp, ObjectPropName, Value};
use jsonc_parser::{CollectOptions, ParseOptions};

use super::error::line_column;

/// A key found more than once in its object.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Duplicate {
    /// The key's place from the top level, joined with `.` (`mcpServers.atlassian-mcp-bridge`).
    pub key: String,
    /// The 1-based line of each occurrence, in file order.
    pub lines: Vec<usize>,
}

/// The first key along `paths` (each a list of keys from the top-level object down) that
/// occurs more than once in its object. A path stops where its key is missing or its value is
/// not an object. `None` when every key on the paths is unique, or the text does not parse (the
/// caller has already reported that).
pub(super) fn first_duplicate(
    text: &str,
    options: &ParseOptions,
    paths: &[&[&str]],
) -> Option<Duplicate> {
    let parsed = jsonc_parser::parse_to_ast(text, &CollectOptions::default(), options).ok()?;
    let Some(Value::Object(top)) = &parsed.value else {
        return None;
    };
    paths.iter().find_map(|path| along(text, top, path))
}

/// [`first_duplicate`] for one path.
fn along(text: &str, top: &Object<'_>, path: &[&str]) -> Option<Duplicate> {
    let mut object = top;
    for (depth, key) in path.iter().enumerate() {
        let found: Vec<&ObjectProp<'_>> = object
            .properties
            .iter()
            .filter(|p| name(&p.name) == *key)
            .collect();
        if found.len() > 1 {
            return Some(Duplicate {
                key: path[..=depth].join("."),
                lines: found
                    .iter()
                    .map(|p| line_column(&text.as_bytes()[..p.range.start]).0)
                    .collect(),
            });
        }
        match found.first().map(|p| &p.value) {
            Some(Value::Object(inner)) => object = inner,
            _ => return None,
        }
    }
    None
}

/// A property's decoded name.
fn name<'a>(name: &'a ObjectPropName<'_>) -> &'a str {
    match name {
        ObjectPropName::String(lit) => lit.value.as_ref(),
        ObjectPropName::Word(word) => word.value,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options() -> ParseOptions {
        ParseOptions::default()
    }

    #[test]
    fn finds_the_first_duplicated_key_on_each_path_with_its_lines() {
        let text = "{\n  \"servers\": {\n    \"a\": {},\n    \"a\": {\"command\": \"x\"}\n  },\n  \
                    \"servers\": {}\n}\n";
        assert_eq!(
            first_duplicate(text, &options(), &[&["servers", "a"]]),
            Some(Duplicate {
                key: "servers".into(),
                lines: vec![2, 6]
            })
        );
        let text = "{\"servers\": {\"a\": {},\n \"b\": 1,\n \"a\": {}}}";
        assert_eq!(
            first_duplicate(text, &options(), &[&["servers", "b"], &["servers", "a"]]),
            Some(Duplicate {
                key: "servers.a".into(),
                lines: vec![1, 3]
            })
        );
    }

    #[test]
    fn escaped_names_count_as_the_same_key_and_other_paths_are_ignored() {
        let text = "{\"x\": {\"a\": 1, \"a\": 2}, \"m\": {\"\\u0061\": {}, \"a\": {}}}";
        assert_eq!(
            first_duplicate(text, &options(), &[&["m", "a"]]).map(|d| d.key),
            Some("m.a".to_string())
        );
        assert_eq!(first_duplicate(text, &options(), &[&["y", "a"]]), None);
        assert_eq!(first_duplicate("[1, 1]", &options(), &[&["a"]]), None);
    }
}
