//! Tests for Markdown → ADF / wiki / storage: the exact output of each target per construct,
//! and what the reverse converters make of it. Edge cases (raw HTML, escaping, schema rewrites,
//! depth limits) are in [`edge`]; property tests in [`props`], with round-trip documents from
//! [`docgen`].

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod docgen;
mod edge;
mod props;

use std::sync::LazyLock;

use serde_json::{Value, json};

use super::*;
use crate::convert::{adf_to_markdown, storage_to_markdown, wiki_to_markdown};

/// The ADF JSON schema shipped in `tests/specs`, compiled once.
pub(super) static ADF_SCHEMA: LazyLock<jsonschema::Validator> = LazyLock::new(|| {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/specs/adf.schema.json"
    ))
    .expect("tests/specs/adf.schema.json ships with the repository");
    let schema: Value = serde_json::from_str(&text).unwrap();
    jsonschema::validator_for(&schema).unwrap()
});

/// Schema errors of a document (empty when valid).
pub(super) fn schema_errors(doc: &Value) -> Vec<String> {
    ADF_SCHEMA
        .iter_errors(doc)
        .map(|e| format!("{} at {}", e, e.instance_path))
        .collect()
}

/// The ADF for `md` after asserting that it is a schema-valid document; returns its content.
fn adf(md: &str) -> Value {
    let doc = markdown_to_adf(md);
    let errors = schema_errors(&doc);
    assert!(errors.is_empty(), "{md:?} → invalid ADF {errors:?}\n{doc}");
    assert_eq!(doc["type"], "doc");
    assert_eq!(doc["version"], 1);
    doc["content"].clone()
}

/// Asserts what each reverse converter makes of the three forward conversions of `md`.
fn back(md: &str, via_adf: &str, via_wiki: &str, via_storage: &str) {
    assert_eq!(
        adf_to_markdown(&markdown_to_adf(md)),
        via_adf,
        "ADF round trip of {md:?}"
    );
    assert_eq!(
        wiki_to_markdown(&markdown_to_wiki(md)),
        via_wiki,
        "wiki round trip of {md:?}"
    );
    assert_eq!(
        storage_to_markdown(&markdown_to_storage(md)),
        via_storage,
        "storage round trip of {md:?}"
    );
}

/// [`back`] where all three reverse conversions give `expected`.
fn back_all(md: &str, expected: &str) {
    back(md, expected, expected, expected);
}

fn t(s: &str) -> Value {
    json!({"type": "text", "text": s})
}

fn marked(s: &str, marks: Value) -> Value {
    json!({"type": "text", "text": s, "marks": marks})
}

fn p(content: Value) -> Value {
    json!({"type": "paragraph", "content": content})
}

fn li(content: Value) -> Value {
    json!({"type": "listItem", "content": content})
}

#[test]
fn empty_input() {
    assert_eq!(
        markdown_to_adf(""),
        json!({"type": "doc", "version": 1, "content": []})
    );
    assert_eq!(adf("  \n\n "), json!([]));
    assert_eq!(markdown_to_wiki(""), "");
    assert_eq!(markdown_to_storage("\n"), "");
}

#[test]
fn paragraphs_and_breaks() {
    let md = "one\ntwo\n\nhard  \nbreak\\\nthree";
    assert_eq!(
        adf(md),
        json!([
            p(json!([t("one two")])),
            p(json!([t("hard"), {"type": "hardBreak"}, t("break"),
            {"type": "hardBreak"}, t("three")]))
        ])
    );
    assert_eq!(markdown_to_wiki(md), "one two\n\nhard\nbreak\nthree");
    assert_eq!(
        markdown_to_storage(md),
        "<p>one two</p><p>hard<br />break<br />three</p>"
    );
    back_all(md, "one two\n\nhard\nbreak\nthree");
}

#[test]
fn headings() {
    let md = "# One\n## Two *em*\n###### Six";
    let h = |l: u8, c: Value| json!({"type": "heading", "attrs": {"level": l}, "content": c});
    assert_eq!(
        adf(md),
        json!([
            h(1, json!([t("One")])),
            h(2, json!([t("Two "), marked("em", json!([{"type": "em"}]))])),
            h(6, json!([t("Six")]))
        ])
    );
    assert_eq!(markdown_to_wiki(md), "h1. One\n\nh2. Two _em_\n\nh6. Six");
    assert_eq!(
        markdown_to_storage(md),
        "<h1>One</h1><h2>Two <em>em</em></h2><h6>Six</h6>"
    );
    back_all(md, "# One\n\n## Two *em*\n\n###### Six");
}

#[test]
fn inline_styles() {
    let md = "a *em* **strong** ~~gone~~ `code` ***both*** **`bc`** x**in**y";
    let m = |names: &[&str]| json!(names.iter().map(|n| json!({"type": n})).collect::<Vec<_>>());
    assert_eq!(
        adf(md),
        json!([p(json!([
            t("a "),
            marked("em", m(&["em"])),
            t(" "),
            marked("strong", m(&["strong"])),
            t(" "),
            marked("gone", m(&["strike"])),
            t(" "),
            marked("code", m(&["code"])),
            t(" "),
            marked("both", m(&["strong", "em"])),
            t(" "),
            marked("bc", m(&["code"])),
            t(" x"),
            marked("in", m(&["strong"])),
            t("y")
        ]))])
    );
    assert_eq!(
        markdown_to_wiki(md),
        "a _em_ *strong* -gone- {{code}} _*both*_ *{{bc}}* x{*}in{*}y"
    );
    assert_eq!(
        markdown_to_storage(md),
        "<p>a <em>em</em> <strong>strong</strong> <s>gone</s> <code>code</code> \
         <em><strong>both</strong></em> <strong><code>bc</code></strong> x<strong>in</strong>y</p>"
    );
    // ADF cannot mark code text strong: only the code survives there.
    back(
        md,
        "a *em* **strong** ~~gone~~ `code` ***both*** `bc` x**in**y",
        md,
        md,
    );
}

#[test]
fn code_blocks() {
    let md = "```rust title\nfn a() {}\n\n  x\n```\n\n    indented\n";
    assert_eq!(
        adf(md),
        json!([
            {"type": "codeBlock", "attrs": {"language": "rust"}, "content": [t("fn a() {}\n\n  x")]},
            {"type": "codeBlock", "content": [t("indented")]}
        ])
    );
    assert_eq!(
        markdown_to_wiki(md),
        "{code:rust}\nfn a() {}\n\n  x\n{code}\n\n{noformat}\nindented\n{noformat}"
    );
    assert_eq!(
        markdown_to_storage(md),
        "<ac:structured-macro ac:name=\"code\"><ac:parameter ac:name=\"language\">rust</ac:parameter>\
         <ac:plain-text-body><![CDATA[fn a() {}\n\n  x]]></ac:plain-text-body></ac:structured-macro>\
         <ac:structured-macro ac:name=\"code\"><ac:plain-text-body><![CDATA[indented]]>\
         </ac:plain-text-body></ac:structured-macro>"
    );
    back_all(md, "```rust\nfn a() {}\n\n  x\n```\n\n```\nindented\n```");
    assert_eq!(
        adf("```\n```"),
        json!([{"type": "codeBlock", "content": []}])
    );
}

#[test]
fn code_that_contains_the_closing_syntax() {
    let md = "```xml\na ]]> b {code} c\n```";
    assert_eq!(
        markdown_to_storage(md),
        "<ac:structured-macro ac:name=\"code\"><ac:parameter ac:name=\"language\">xml</ac:parameter>\
         <ac:plain-text-body><![CDATA[a ]]]]><![CDATA[> b {code} c]]></ac:plain-text-body>\
         </ac:structured-macro>"
    );
    // `{code}` inside: the block becomes `{noformat}` (Jira has no escape inside code).
    assert_eq!(
        markdown_to_wiki(md),
        "{noformat}\na ]]> b {code} c\n{noformat}"
    );
    assert_eq!(
        markdown_to_wiki("```\n{code} and {noformat}\n```"),
        "{code}\n{code } and {noformat}\n{code}"
    );
    back(
        md,
        "```xml\na ]]> b {code} c\n```",
        "```\na ]]> b {code} c\n```",
        "```xml\na ]]> b {code} c\n```",
    );
}

#[test]
fn links_autolinks_and_images() {
    let md = "[text](https://e.example/a?b=1&c=2) <https://auto.example> <me@x.example> \
              ![alt](https://i.example/p.png) [](https://empty.example) [a|b](https://e.example/x|y) \
              [**s** `c`](https://s.example)";
    let link = |s: &str, href: &str| marked(s, json!([{"type": "link", "attrs": {"href": href}}]));
    assert_eq!(
        adf(md),
        json!([p(json!([
            link("text", "https://e.example/a?b=1&c=2"),
            t(" "),
            link("https://auto.example", "https://auto.example"),
            t(" "),
            link("me@x.example", "mailto:me@x.example"),
            t(" "),
            link("alt", "https://i.example/p.png"),
            t(" "),
            link("https://empty.example", "https://empty.example"),
            t(" "),
            link("a|b", "https://e.example/x|y"),
            t(" "),
            marked(
                "s",
                json!([{"type": "strong"}, {"type": "link", "attrs": {"href": "https://s.example"}}])
            ),
            link(" ", "https://s.example"),
            marked(
                "c",
                json!([{"type": "code"}, {"type": "link", "attrs": {"href": "https://s.example"}}])
            )
        ]))])
    );
    assert_eq!(
        markdown_to_wiki(md),
        "[text|https://e.example/a?b=1&c=2] [https://auto.example] [me@x.example|mailto:me@x.example] \
         [alt|https://i.example/p.png] [https://empty.example] [a\\|b|https://e.example/x%7Cy] \
         [*s* {{c}}|https://s.example]"
    );
    assert_eq!(
        markdown_to_storage(md),
        "<p><a href=\"https://e.example/a?b=1&amp;c=2\">text</a> <a href=\"https://auto.example\">\
         https://auto.example</a> <a href=\"mailto:me@x.example\">me@x.example</a> \
         <a href=\"https://i.example/p.png\">alt</a> <a href=\"https://empty.example\">\
         https://empty.example</a> <a href=\"https://e.example/x|y\">a|b</a> \
         <a href=\"https://s.example\"><strong>s</strong> <code>c</code></a></p>"
    );
    let expected = "[text](https://e.example/a?b=1&c=2) <https://auto.example> \
                    [me@x.example](mailto:me@x.example) [alt](https://i.example/p.png) \
                    <https://empty.example> [a|b](https://e.example/x|y) [**s** `c`](https://s.example)";
    back(md, expected, &expected.replace("x|y", "x%7Cy"), expected);
}

#[test]
fn lists_keep_kind_start_and_nesting() {
    let md = "- a\n- b\n  1. c\n  2. d\n     - e\n\n3. three\n4. four";
    assert_eq!(
        adf(md),
        json!([
            {"type": "bulletList", "content": [
                li(json!([p(json!([t("a")]))])),
                li(json!([p(json!([t("b")])), {"type": "orderedList", "attrs": {"order": 1}, "content": [
                    li(json!([p(json!([t("c")]))])),
                    li(json!([p(json!([t("d")])), {"type": "bulletList", "content": [li(json!([p(json!([t("e")]))]))]}]))
                ]}]))
            ]},
            {"type": "orderedList", "attrs": {"order": 3}, "content": [
                li(json!([p(json!([t("three")]))])), li(json!([p(json!([t("four")]))]))
            ]}
        ])
    );
    assert_eq!(
        markdown_to_wiki(md),
        "* a\n* b\n*# c\n*# d\n*#* e\n\n# three\n# four"
    );
    assert_eq!(
        markdown_to_storage(md),
        "<ul><li>a</li><li>b<ol><li>c</li><li>d<ul><li>e</li></ul></li></ol></li></ul>\
         <ol start=\"3\"><li>three</li><li>four</li></ol>"
    );
    let expected = "- a\n- b\n  1. c\n  2. d\n     - e\n\n3. three\n4. four";
    // Jira wiki lists cannot start at 3.
    back(
        md,
        expected,
        &expected.replace("3. three\n4. four", "1. three\n2. four"),
        expected,
    );
}

#[test]
fn list_items_with_blocks() {
    let md = "1. para\n\n   more\n\n   ```sh\n   ls\n   ```\n2. > quoted\n3. # head";
    assert_eq!(
        adf(md),
        json!([{"type": "orderedList", "attrs": {"order": 1}, "content": [
            li(json!([p(json!([t("para")])), p(json!([t("more")])),
                {"type": "codeBlock", "attrs": {"language": "sh"}, "content": [t("ls")]}])),
            li(json!([p(json!([t("quoted")]))])),
            li(json!([p(json!([marked("head", json!([{"type": "strong"}]))]))]))
        ]}])
    );
    assert_eq!(
        markdown_to_wiki(md),
        "# para\\\\more\n\n{code:sh}\nls\n{code}\n\n{quote}\nquoted\n{quote}\n\n# head"
    );
    assert_eq!(
        markdown_to_storage(md),
        "<ol><li><p>para</p><p>more</p><ac:structured-macro ac:name=\"code\">\
         <ac:parameter ac:name=\"language\">sh</ac:parameter><ac:plain-text-body><![CDATA[ls]]>\
         </ac:plain-text-body></ac:structured-macro></li><li><blockquote><p>quoted</p></blockquote>\
         </li><li><h1>head</h1></li></ol>"
    );
}

#[test]
fn task_lists() {
    let md = "- [ ] todo\n- [x] done\n  - [ ] sub\n- plain";
    let task = |id: u64, state: &str, s: &str| {
        json!({"type": "taskItem", "attrs": {
        "localId": format!("00000000-0000-4000-8000-{id:012x}"), "state": state}, "content": [t(s)]})
    };
    assert_eq!(
        adf(md),
        json!([
            {"type": "taskList", "attrs": {"localId": "00000000-0000-4000-8000-000000000005"}, "content": [
                task(1, "TODO", "todo"), task(4, "DONE", "done"),
                {"type": "taskList", "attrs": {"localId": "00000000-0000-4000-8000-000000000003"},
                 "content": [task(2, "TODO", "sub")]}
            ]},
            {"type": "bulletList", "content": [li(json!([p(json!([t("plain")]))]))]}
        ])
    );
    assert_eq!(
        markdown_to_wiki(md),
        "* \\[ \\] todo\n* \\[x\\] done\n** \\[ \\] sub\n* plain"
    );
    assert_eq!(
        markdown_to_storage(md),
        "<ac:task-list><ac:task><ac:task-status>incomplete</ac:task-status><ac:task-body>todo\
         </ac:task-body></ac:task><ac:task><ac:task-status>complete</ac:task-status><ac:task-body>\
         done</ac:task-body></ac:task><ac:task-list><ac:task><ac:task-status>incomplete\
         </ac:task-status><ac:task-body>sub</ac:task-body></ac:task></ac:task-list></ac:task-list>\
         <ul><li>plain</li></ul>"
    );
    let split = "- [ ] todo\n- [x] done\n  - [ ] sub\n\n- plain";
    back(
        md,
        split,
        "- [ ] todo\n- [x] done\n  - [ ] sub\n- plain",
        split,
    );
}

#[test]
fn block_quotes() {
    let md = "> q1\n>\n> - li\n>\n> > nested\n> # head\n> ---\n> - [ ] t";
    assert_eq!(
        adf(md),
        json!([{"type": "blockquote", "content": [
            p(json!([t("q1")])),
            {"type": "bulletList", "content": [li(json!([p(json!([t("li")]))]))]},
            p(json!([t("nested")])),
            p(json!([marked("head", json!([{"type": "strong"}]))])),
            p(json!([t("---")])),
            {"type": "bulletList", "content": [li(json!([p(json!([t("[ ] "), t("t")]))]))]}
        ]}])
    );
    assert_eq!(
        markdown_to_wiki(md),
        "{quote}\nq1\n\n* li\n\nnested\n\nh1. head\n\n----\n\n* \\[ \\] t\n{quote}"
    );
    assert_eq!(
        markdown_to_storage(md),
        "<blockquote><p>q1</p><ul><li>li</li></ul><blockquote><p>nested</p></blockquote>\
         <h1>head</h1><hr /><ac:task-list><ac:task><ac:task-status>incomplete</ac:task-status>\
         <ac:task-body>t</ac:task-body></ac:task></ac:task-list></blockquote>"
    );
    back(
        md,
        "> q1\n>\n> - li\n>\n> nested\n>\n> **head**\n>\n> \\---\n>\n> - [ ] t",
        "> q1\n>\n> - li\n>\n> nested\n>\n> # head\n>\n> ---\n>\n> - [ ] t",
        "> q1\n>\n> - li\n>\n> > nested\n>\n> # head\n>\n> ---\n>\n> - [ ] t",
    );
}

#[test]
fn rules_and_tables() {
    let md = "a\n\n---\n\n| h1 | h2 |\n|---|:-:|\n| c1 | **c2** |\n|  | x\\|y |";
    let cell = |kind: &str, c: Value| json!({"type": kind, "attrs": {}, "content": [p(c)]});
    assert_eq!(
        adf(md),
        json!([p(json!([t("a")])), {"type": "rule"},
        {"type": "table", "attrs": {"isNumberColumnEnabled": false, "layout": "default"}, "content": [
            {"type": "tableRow", "content": [cell("tableHeader", json!([t("h1")])), cell("tableHeader", json!([t("h2")]))]},
            {"type": "tableRow", "content": [cell("tableCell", json!([t("c1")])),
                cell("tableCell", json!([marked("c2", json!([{"type": "strong"}]))]))]},
            {"type": "tableRow", "content": [cell("tableCell", json!([])), cell("tableCell", json!([t("x|y")]))]}
        ]}])
    );
    assert_eq!(
        markdown_to_wiki(md),
        "a\n\n----\n\n||h1||h2||\n|c1|*c2*|\n| |x\\|y|"
    );
    assert_eq!(
        markdown_to_storage(md),
        "<p>a</p><hr /><table><tbody><tr><th><p>h1</p></th><th><p>h2</p></th></tr><tr><td><p>c1</p>\
         </td><td><p><strong>c2</strong></p></td></tr><tr><td></td><td><p>x|y</p></td></tr></tbody></table>"
    );
    back_all(
        md,
        "a\n\n---\n\n| h1 | h2 |\n| --- | --- |\n| c1 | **c2** |\n| | x\\|y |",
    );
}
