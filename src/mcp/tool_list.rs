//! `tools/list` as the server sends it: the tools' names, descriptions, annotations and trimmed
//! JSON schemas, generated from the Rust types once, into `tools.json` beside this file (kept in
//! the repository; a test fails when it no longer matches the code and says how to refresh it).
//!
//! Why: generating twenty tools' schemas with schemars cost ~10 ms of CPU at every start, on a
//! machine where start-up has two cores. Reading them back from JSON costs a fraction of a
//! millisecond, and only when `tools/list` or the first `tools/call` asks.

use std::sync::Arc;

use rmcp::model::Tool;

use crate::catalog;

/// What `tools/list` sends for every served tool, before policy (see [`listed`]).
const TOOLS_JSON: &str = include_str!("tools.json");

/// The served tools as `tools/list` sends them, before policy, sorted by name: `tools.json`;
/// generated from the types instead if that file does not parse or does not name exactly the
/// tools this build serves (never, when the tests pass).
pub(crate) fn listed() -> Vec<Tool> {
    match serde_json::from_str::<Vec<Tool>>(TOOLS_JSON) {
        Ok(tools) if names_served(&tools) => tools,
        _ => {
            tracing::warn!(
                "src/mcp/tools.json does not match this build; generating the tool list"
            );
            generate()
        }
    }
}

/// The tool list generated from the Rust types (schemars) and trimmed: what `tools.json` holds.
pub(crate) fn generate() -> Vec<Tool> {
    super::router::documented()
        .list_all()
        .into_iter()
        .map(slim_tool)
        .collect()
}

/// True when `tools` names exactly the tools this build serves, in name order.
fn names_served(tools: &[Tool]) -> bool {
    tools
        .iter()
        .map(|t| t.name.as_ref())
        .eq(catalog::served().map(|t| t.name))
}

/// Trims what `tools/list` sends: every byte of it sits in the model's context in most clients.
///
/// Input schemas keep their per-field descriptions (the model reads them to call the tool) and
/// lose only `$schema`, `title`, `default: null` and the integer `format`/`minimum: 0` noise.
/// Output schemas are used by clients to validate `structuredContent`, not shown to the model,
/// so they are sent without per-field prose or `required` lists; the Rust types (and
/// `BridgeServer::all_tools_documented`) keep them.
fn slim_tool(mut tool: Tool) -> Tool {
    // Clients that show a tool's name read the top-level `title`; older ones read the
    // annotation's. Send both.
    if tool.title.is_none() {
        tool.title = tool.annotations.as_ref().and_then(|a| a.title.clone());
    }
    tool.input_schema = Arc::new(slim_schema(&tool.input_schema, false));
    tool.output_schema = tool
        .output_schema
        .as_ref()
        .map(|s| Arc::new(slim_schema(s, true)));
    tool
}

fn slim_schema(
    schema: &rmcp::model::JsonObject,
    drop_descriptions: bool,
) -> rmcp::model::JsonObject {
    fn walk(value: &mut serde_json::Value, drop_descriptions: bool, depth: usize) {
        match value {
            serde_json::Value::Object(map) => {
                map.remove("$schema");
                if depth == 0 {
                    map.remove("title");
                }
                let is_uint = map
                    .get("format")
                    .and_then(serde_json::Value::as_str)
                    .is_some_and(|f| f.starts_with("uint"));
                if is_uint {
                    map.remove("format");
                    if map.get("minimum") == Some(&serde_json::json!(0)) {
                        map.remove("minimum");
                    }
                }
                // An optional input may simply be left out: say `string`, not `[string, null]`
                // (null is still accepted).
                if !drop_descriptions {
                    let required: Vec<String> = map
                        .get("required")
                        .and_then(serde_json::Value::as_array)
                        .map(|r| {
                            r.iter()
                                .filter_map(|v| v.as_str().map(String::from))
                                .collect()
                        })
                        .unwrap_or_default();
                    if let Some(serde_json::Value::Object(props)) = map.get_mut("properties") {
                        for (name, prop) in props.iter_mut() {
                            if !required.contains(name) {
                                drop_null_type(prop);
                            }
                        }
                    }
                }
                // `default: null` says nothing an optional field does not already say.
                if map.get("default") == Some(&serde_json::Value::Null) {
                    map.remove("default");
                }
                if drop_descriptions {
                    map.remove("description");
                    // Output schemas list which fields are always present, and every field
                    // is; clients validate types, and the list costs context in most clients.
                    map.remove("required");
                }
                for (key, child) in map.iter_mut() {
                    // Property *names* live under "properties"; never treat them as keywords.
                    if key == "properties" || key == "$defs" {
                        if let serde_json::Value::Object(props) = child {
                            for prop in props.values_mut() {
                                walk(prop, drop_descriptions, depth + 1);
                            }
                        }
                    } else {
                        walk(child, drop_descriptions, depth + 1);
                    }
                }
            }
            serde_json::Value::Array(items) => {
                for item in items {
                    walk(item, drop_descriptions, depth + 1);
                }
            }
            _ => {}
        }
    }
    let mut value = serde_json::Value::Object(schema.clone());
    walk(&mut value, drop_descriptions, 0);
    if drop_descriptions {
        flatten_refs(&mut value);
    }
    match value {
        serde_json::Value::Object(map) => map,
        _ => schema.clone(),
    }
}

/// `{"type": ["string", "null"]}` → `{"type": "string"}`.
fn drop_null_type(prop: &mut serde_json::Value) {
    if let Some(serde_json::Value::Array(types)) = prop.get("type") {
        let kept: Vec<serde_json::Value> = types
            .iter()
            .filter(|t| t.as_str() != Some("null"))
            .cloned()
            .collect();
        if kept.len() == 1
            && let Some(map) = prop.as_object_mut()
        {
            map.insert("type".into(), kept[0].clone());
        }
    }
}

/// Output schemas keep their top-level fields and types; nested item shapes (`$defs`) become
/// plain `object`s. Clients still check every field's type; the full shapes are in the Rust
/// types and `BridgeServer::all_tools_documented`.
fn flatten_refs(value: &mut serde_json::Value) {
    // What each definition is, in one JSON type: an object struct, a string enum …
    let defs: std::collections::HashMap<String, serde_json::Value> = value
        .get("$defs")
        .and_then(serde_json::Value::as_object)
        .map(|defs| {
            defs.iter()
                .map(|(name, def)| (format!("#/$defs/{name}"), def_type(def)))
                .collect()
        })
        .unwrap_or_default();
    replace_refs(value, &defs);
}

/// The JSON type a definition stands for: its `type`, `string` for an enum of strings (with
/// or without per-value docs), else anything.
fn def_type(def: &serde_json::Value) -> serde_json::Value {
    if let Some(t) = def.get("type") {
        return serde_json::json!({ "type": t });
    }
    let strings = |list: &serde_json::Value| {
        list.as_array().is_some_and(|l| {
            l.iter().all(|v| {
                v.is_string()
                    || v.get("const").is_some_and(serde_json::Value::is_string)
                    || v.get("type") == Some(&serde_json::json!("string"))
            })
        })
    };
    if def.get("enum").is_some_and(strings) || def.get("oneOf").is_some_and(strings) {
        return serde_json::json!({ "type": "string" });
    }
    serde_json::json!({})
}

fn replace_refs(
    value: &mut serde_json::Value,
    defs: &std::collections::HashMap<String, serde_json::Value>,
) {
    match value {
        serde_json::Value::Object(map) => {
            map.remove("$defs");
            if let Some(target) = map.get("$ref").and_then(serde_json::Value::as_str) {
                let replacement = defs
                    .get(target)
                    .cloned()
                    .unwrap_or_else(|| serde_json::json!({}));
                *value = replacement;
                return;
            }
            for child in map.values_mut() {
                replace_refs(child, defs);
            }
            // An output array says enough as `array`: clients validate the shape, and what
            // its items hold is the tool's documentation, not the model's context.
            if map.get("type").is_some_and(|t| {
                t == "array" || t.as_array().is_some_and(|l| l.iter().any(|x| x == "array"))
            }) {
                map.remove("items");
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(|v| replace_refs(v, defs)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `tools.json` is what the code generates. After changing a tool's arguments, output,
    /// description or annotations, refresh it with
    /// `UPDATE_TOOLS_JSON=1 cargo test --lib tools_json_matches_the_code`.
    #[test]
    fn tools_json_matches_the_code() {
        let generated = generate();
        let text = serde_json::to_string_pretty(&generated).expect("tools serialize") + "\n";
        if std::env::var_os("UPDATE_TOOLS_JSON").is_some() {
            let path = concat!(env!("CARGO_MANIFEST_DIR"), "/src/mcp/tools.json");
            std::fs::write(path, &text).expect("write tools.json");
            return;
        }
        let stored: Vec<Tool> = serde_json::from_str(TOOLS_JSON).expect("tools.json parses");
        assert!(
            stored == generated,
            "src/mcp/tools.json is out of date: run `UPDATE_TOOLS_JSON=1 cargo test --lib tools_json_matches_the_code`"
        );
        assert_eq!(TOOLS_JSON, text, "tools.json is not in its generated form");
        assert!(names_served(&stored));
    }

    #[test]
    fn listed_reads_the_stored_list() {
        let listed = listed();
        assert_eq!(listed, generate());
        assert_eq!(listed.len(), catalog::served().count());
    }
}
