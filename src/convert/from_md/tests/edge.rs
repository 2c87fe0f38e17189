//! Edge cases: raw HTML, escaping, schema rewrites for disallowed nesting, depth limits.

use serde_json::json;

use super::super::*;
use super::{adf, back_all, p, schema_errors, t};
use crate::convert::{adf_to_markdown, storage_to_markdown, wiki_to_markdown};

#[test]
fn html_is_literal_text() {
    let md = "<div>\n*html*\n</div>\n\ninline <b>bold</b> &amp; <!-- c -->";
    assert_eq!(
        adf(md),
        json!([
            p(
                json!([t("<div>"), {"type": "hardBreak"}, t("*html*"), {"type": "hardBreak"}, t("</div>")])
            ),
            p(json!([t("inline <b>bold</b> & <!-- c -->")]))
        ])
    );
    assert_eq!(
        markdown_to_wiki(md),
        "<div>\n\\*html*\n</div>\n\ninline <b>bold</b> & <!\\-- c \\-\\->"
    );
    assert_eq!(
        markdown_to_storage(md),
        "<p>&lt;div&gt;<br />*html*<br />&lt;/div&gt;</p><p>inline &lt;b&gt;bold&lt;/b&gt; &amp; \
         &lt;!-- c --&gt;</p>"
    );
    back_all(
        md,
        "\\<div>\n\\*html\\*\n\\</div>\n\ninline \\<b>bold\\</b> & \\<!-- c -->",
    );
}

#[test]
fn wiki_escapes_only_what_jira_would_read_as_markup() {
    let md = "\\*x\\* snake_case 2 * 3 \\*args -x- a-b +y+ ^z^ ?? {code} [x] a|b !img! wow! \
              \\\\ C:\\\\dir\\\\\\*";
    assert_eq!(
        markdown_to_wiki(md),
        "\\*x* snake_case 2 * 3 \\*args \\-x- a-b \\+y+ \\^z^ \\?\\? \\{code\\} \\[x] a\\|b \\!img! \
         wow! \\ C:\\dir&#92;*"
    );
    // Line starts that would become blocks.
    assert_eq!(
        markdown_to_wiki("h3. x\n\nbq. y\n\n\\* z\n\n\\- w\n\n\\# v\n\n\\---- u\n\n| t"),
        "h3\\. x\n\nbq\\. y\n\n\\* z\n\n\\- w\n\n\\# v\n\n\\-\\-\\-- u\n\n\\| t"
    );
    assert_eq!(
        wiki_to_markdown(&markdown_to_wiki("*a* \\*b\\* {x} [y] a|b ??c?? -d- !e!")),
        "*a* \\*b\\* {x} [y] a|b ??c?? -d- !e!"
    );
}

#[test]
fn storage_escapes_xml_and_drops_forbidden_characters() {
    assert_eq!(
        markdown_to_storage("a < b & \"c\" > d\u{1}e [l](https://x.example/?a=1&b=\"2\")"),
        "<p>a &lt; b &amp; \"c\" &gt; de <a href=\"https://x.example/?a=1&amp;b=&quot;2&quot;\">l</a></p>"
    );
    assert_eq!(
        markdown_to_storage("```\nnul\u{1}]]>\n```"),
        "<ac:structured-macro ac:name=\"code\"><ac:plain-text-body><![CDATA[nul]]]]><![CDATA[>]]>\
         </ac:plain-text-body></ac:structured-macro>"
    );
}

#[test]
fn task_items_with_blocks_stay_schema_valid() {
    // A nested bullet list and a code block cannot live in a taskList: they follow it.
    let md = "- [ ] a\n\n  ```\n  x\n  ```\n  - b\n  - [x] c\n- [ ] d\n  - [ ] e\n    - f";
    let out = adf(md);
    let kinds: Vec<&str> = out
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "taskList",
            "codeBlock",
            "bulletList",
            "taskList",
            "taskList",
            "bulletList"
        ]
    );
    adf("> - [ ] in quote\n>   - [x] nested");
    adf("- a\n  - [ ] task in item\n    > quote\n    # heading\n    | t |\n    |---|\n    | c |");
}

/// `n` nested containers built from `unit`, then a marker word.
fn deep(unit: &str, n: usize) -> String {
    format!("{}needle", unit.repeat(n))
}

#[test]
fn deep_nesting_is_bounded_and_keeps_text() {
    for md in [
        deep(">", 10_000),
        deep("- ", 10_000),
        deep("1. ", 10_000),
        deep("> - ", 5_000),
        deep("- [ ] ", 5_000),
        format!("{}needle{}", "*_".repeat(5_000), "_*".repeat(5_000)),
        format!("{}needle{}", "[".repeat(5_000), "](u)".repeat(5_000)),
        (0..300)
            .map(|i| format!("{}- needle{i}\n", "  ".repeat(i)))
            .collect(),
    ] {
        let doc = markdown_to_adf(&md);
        assert!(schema_errors(&doc).is_empty(), "{md:.40}");
        let outputs = [
            adf_to_markdown(&doc),
            wiki_to_markdown(&markdown_to_wiki(&md)),
            storage_to_markdown(&markdown_to_storage(&md)),
        ];
        for out in outputs {
            assert!(out.contains("needle"), "{md:.40} → {out:.200}");
        }
    }
}

#[test]
fn nesting_is_kept_up_to_the_limit() {
    let quote_depth = |md: &str| {
        let blocks = parse(md);
        let mut depth = 0;
        let mut cur = blocks.as_slice();
        while let [Block::Quote(inner)] = cur {
            depth += 1;
            cur = inner;
        }
        assert_eq!(cur.len(), 1, "the text survives as one paragraph");
        depth
    };
    assert_eq!(quote_depth(&deep("> ", MAX_NEST)), MAX_NEST);
    assert_eq!(quote_depth(&deep("> ", MAX_NEST + 5)), MAX_NEST);
}

#[test]
fn links_with_blank_text_keep_their_target() {
    let md = "[ ](https://x.example/a) [ ](rel/page)";
    assert_eq!(
        markdown_to_wiki(md),
        "[https://x.example/a] [rel/page|rel/page]"
    );
    adf(md);
    assert_eq!(
        markdown_to_storage(md),
        "<p><a href=\"https://x.example/a\"> </a> <a href=\"rel/page\"> </a></p>"
    );
}

#[test]
fn wiki_breaks_inside_links_and_spans_stay_on_the_line() {
    assert_eq!(
        markdown_to_wiki("a [b  \nc](https://x.example) **d  \ne** f  \ng"),
        "a [b c|https://x.example] *d\\\\e* f\ng"
    );
}

#[test]
fn wiki_code_in_a_quote_cannot_close_the_quote() {
    let md = "> ```\n> {quote} and {QUOTE}\n> ```";
    assert_eq!(
        markdown_to_wiki(md),
        "{quote}\n{noformat}\n{quote } and {QUOTE }\n{noformat}\n{quote}"
    );
    assert_eq!(
        wiki_to_markdown(&markdown_to_wiki(md)),
        "> ```\n> {quote } and {QUOTE }\n> ```"
    );
}
