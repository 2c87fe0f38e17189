//! Rich-text conversion: Atlassian formats → Markdown for the model to read.
//!
//! - [`adf_to_markdown`]: Atlassian Document Format (Jira Cloud descriptions and comments).
//! - [`storage_to_markdown`]: Confluence storage format (XHTML with `ac:`/`ri:` elements).
//! - [`wiki_to_markdown`]: Jira Server/Data Center wiki markup.
//! - [`from_md`]: the reverse direction, Markdown → ADF / wiki markup / storage XHTML.
//!
//! All converters are total: any input (including malformed or hostile input) produces some
//! Markdown and never panics; unknown constructs degrade to their text instead of vanishing.
//! Output is already passed through [`crate::sanitize::clean_text`]. Nesting deeper than 64
//! levels is flattened to text, so hostile input cannot exhaust the stack.
//!
//! Rendering choices shared by all three: blocks are separated by one blank line; tables are
//! GFM tables whose first row is always the header row (merged cells: a `colspan` cell is
//! followed by empty cells, `rowspan` is ignored); line breaks inside cells become `<br>`;
//! panels and admonitions are quotes with a bold label (`> **Info:** …`); mentions are `@name`;
//! attachments and images are bracketed placeholders (`[attachment: a.png]`, `[image: a.png]`).

mod adf;
pub mod from_md;
mod md;
mod storage;
mod wiki;

pub use from_md::{markdown_to_adf, markdown_to_storage, markdown_to_wiki};

/// Converts an ADF document (`{"type":"doc","version":1,"content":[…]}`) to Markdown.
///
/// Non-document input is accepted too: a string is returned as (cleaned) text, `null` gives an
/// empty string, an array is treated as a list of nodes.
pub fn adf_to_markdown(doc: &serde_json::Value) -> String {
    adf::adf_to_markdown(doc)
}

/// Converts Confluence storage-format XHTML to Markdown.
///
/// Tolerates what real pages contain: HTML named entities, unclosed or mismatched tags, bare
/// `&` and `<`; on an unrecoverable parse error the rest of the input is kept as tag-stripped text.
pub fn storage_to_markdown(xhtml: &str) -> String {
    storage::storage_to_markdown(xhtml)
}

/// What a page's Markdown can say beyond its own XHTML: names for the accounts it mentions and
/// where the pages it links to live. Filled in by the caller (which may ask Atlassian); the
/// conversion itself stays pure.
#[derive(Debug, Clone, Default)]
pub struct StorageLinks {
    /// Display names by account id (Cloud), user key or username (Data Center).
    pub users: std::collections::HashMap<String, String>,
    /// The wiki's base URL (`https://acme.atlassian.net/wiki`, or the Data Center base): links
    /// to other pages become `{wiki_base}/display/{space}/{title}`. `None` keeps `[title]`.
    pub wiki_base: Option<String>,
    /// The linking page's space key, for links that name no space.
    pub space: Option<String>,
}

impl StorageLinks {
    /// The address of a page by space and title (Confluence's display URL, which redirects to
    /// the page on Cloud and Data Center alike).
    pub fn page_href(&self, space: Option<&str>, title: Option<&str>) -> Option<String> {
        use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
        // Path segments keep the characters URLs leave alone anyway.
        const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
            .remove(b'-')
            .remove(b'.')
            .remove(b'_')
            .remove(b'~');
        let base = self.wiki_base.as_deref()?.trim_end_matches('/');
        let space = space.or(self.space.as_deref())?.trim();
        let title = title?.trim();
        if space.is_empty() || title.is_empty() {
            return None;
        }
        let words: Vec<String> = title
            .split(' ')
            .filter(|w| !w.is_empty())
            .map(|w| utf8_percent_encode(w, SEGMENT).to_string())
            .collect();
        Some(format!(
            "{base}/display/{}/{}",
            utf8_percent_encode(space, SEGMENT),
            words.join("+")
        ))
    }
}

/// Converts storage XHTML to Markdown with names for mentioned users and addresses for linked
/// pages (see [`StorageLinks`]); otherwise as [`storage_to_markdown`].
pub fn storage_to_markdown_with(xhtml: &str, links: &StorageLinks) -> String {
    storage::storage_to_markdown_with(xhtml, links)
}

/// The accounts a page mentions (account ids, user keys or usernames), first-seen order, so a
/// caller can look their names up in one request before converting.
pub fn mentioned_users(xhtml: &str) -> Vec<String> {
    storage::mentioned_users(xhtml)
}

/// Converts Jira wiki markup (Server/Data Center text fields) to Markdown.
///
/// Conservative: text that is not recognisably markup passes through (only minimally escaped).
pub fn wiki_to_markdown(wiki: &str) -> String {
    wiki::wiki_to_markdown(wiki)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod proptests {
    //! Property tests: every converter is total on arbitrary and markup-shaped input.

    use super::*;
    use crate::sanitize::is_invisible;
    use proptest::prelude::*;
    use serde_json::{Map, Value, json};

    const NODE_TYPES: &[&str] = &[
        "doc",
        "paragraph",
        "text",
        "heading",
        "bulletList",
        "orderedList",
        "listItem",
        "codeBlock",
        "blockquote",
        "panel",
        "table",
        "tableRow",
        "tableHeader",
        "tableCell",
        "mention",
        "emoji",
        "inlineCard",
        "blockCard",
        "embedCard",
        "hardBreak",
        "rule",
        "mediaSingle",
        "mediaGroup",
        "media",
        "mediaInline",
        "status",
        "date",
        "expand",
        "nestedExpand",
        "taskList",
        "taskItem",
        "decisionList",
        "decisionItem",
        "placeholder",
        "extension",
        "bodiedExtension",
        "inlineExtension",
        "layoutSection",
        "layoutColumn",
        "caption",
        "unknownThing",
        "",
    ];
    const MARK_TYPES: &[&str] = &[
        "strong",
        "em",
        "code",
        "strike",
        "underline",
        "link",
        "subsup",
        "textColor",
        "bogus",
    ];
    const ATTR_KEYS: &[&str] = &[
        "level",
        "order",
        "language",
        "panelType",
        "text",
        "id",
        "shortName",
        "url",
        "data",
        "timestamp",
        "state",
        "title",
        "extensionKey",
        "type",
        "alt",
        "colspan",
        "href",
        "localId",
        "color",
    ];

    /// Output invariants shared by all converters.
    fn check_output(out: &str) -> Result<(), TestCaseError> {
        prop_assert!(
            !out.chars().any(|c| c == '\r' || is_invisible(c)),
            "unclean: {out:?}"
        );
        prop_assert!(
            !out.ends_with(char::is_whitespace),
            "trailing whitespace: {out:?}"
        );
        prop_assert!(!out.starts_with('\n'), "leading blank line: {out:?}");
        Ok(())
    }

    fn scalar() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            any::<f64>().prop_map(|f| json!(f)),
            ".{0,12}".prop_map(Value::String),
            "[0-9]{1,15}".prop_map(Value::String),
            prop::sample::select(NODE_TYPES).prop_map(|t| Value::String(t.to_string())),
        ]
    }

    fn attrs() -> impl Strategy<Value = Value> {
        prop_oneof![
            4 => prop::collection::btree_map(prop::sample::select(ATTR_KEYS), prop_oneof![
                4 => scalar(),
                1 => prop::collection::btree_map(prop::sample::select(ATTR_KEYS), scalar(), 0..3)
                    .prop_map(|m| Value::Object(m.into_iter().map(|(k, v)| (k.to_string(), v)).collect())),
            ], 0..5)
            .prop_map(|m| Value::Object(m.into_iter().map(|(k, v)| (k.to_string(), v)).collect())),
            1 => scalar(),
        ]
    }

    fn marks() -> impl Strategy<Value = Value> {
        prop_oneof![
            4 => prop::collection::vec(
                (prop::sample::select(MARK_TYPES), attrs()).prop_map(|(t, a)| json!({"type": t, "attrs": a})),
                0..4,
            )
            .prop_map(Value::Array),
            1 => scalar(),
        ]
    }

    fn text_node() -> impl Strategy<Value = Value> {
        (
            prop_oneof![".{0,16}".prop_map(Value::String), scalar()],
            marks(),
        )
            .prop_map(|(t, m)| json!({"type": "text", "text": t, "marks": m}))
    }

    fn adf_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![2 => scalar(), 3 => text_node()];
        leaf.prop_recursive(6, 96, 6, |inner| {
            prop_oneof![
                5 => (
                    prop::sample::select(NODE_TYPES),
                    attrs(),
                    prop::collection::vec(inner.clone(), 0..6),
                    any::<bool>(),
                )
                    .prop_map(|(t, a, content, with_attrs)| {
                        let mut m = Map::new();
                        m.insert("type".into(), Value::String(t.into()));
                        if with_attrs {
                            m.insert("attrs".into(), a);
                        }
                        m.insert("content".into(), Value::Array(content));
                        Value::Object(m)
                    }),
                1 => prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                1 => (prop::sample::select(NODE_TYPES), inner)
                    .prop_map(|(t, c)| json!({"type": t, "content": c})),
            ]
        })
    }

    fn storage_like() -> impl Strategy<Value = String> {
        let token = prop_oneof![
            3 => "[a-zA-Z0-9 .,]{0,8}",
            1 => prop::sample::select(vec![
                "<p>", "</p>", "<b>", "</b>", "<br>", "<br/>", "<ul>", "</ul>", "<ol start=\"x\">",
                "<li>", "</li>", "<table>", "<tr>", "<td colspan=\"3\">", "<th>", "</td>", "</table>",
                "<h2>", "</h2>", "<pre>", "</pre>", "<a href=\"u&x\">", "</a>", "<img alt=\"\">",
                "<ac:structured-macro ac:name=\"code\">", "<ac:structured-macro ac:name=\"info\">",
                "<ac:structured-macro>", "</ac:structured-macro>", "<ac:parameter ac:name=\"language\">",
                "</ac:parameter>", "<ac:plain-text-body>", "<ac:rich-text-body>", "<![CDATA[", "]]>",
                "<ac:link>", "<ri:user ri:account-id=\"a\"/>", "<ri:page ri:content-title=\"T\"/>",
                "</ac:link>", "<ac:image>", "<ri:attachment ri:filename=\"f.png\"/>", "</ac:image>",
                "<ac:task-list>", "<ac:task>", "<ac:task-status>complete</ac:task-status>",
                "<ac:task-body>", "&nbsp;", "&mdash;", "&#x1F600;", "&#0;", "&#xD800;", "&bogus;", "&",
                "<", ">", "<!--", "-->", "<!x>", "</>", "<?pi?>", "<time datetime=\"2025-01-01\"/>",
                "\"", "'", "\n", "\u{202e}", "`", "*", "|",
            ]).prop_map(str::to_string),
        ];
        prop::collection::vec(token, 0..40).prop_map(|v| v.concat())
    }

    fn wiki_like() -> impl Strategy<Value = String> {
        let token = prop_oneof![
            3 => "[a-zA-Z0-9 .,]{0,8}",
            1 => prop::sample::select(vec![
                "*", "_", "-", "+", "^", "~", "??", "{{", "}}", "{code}", "{code:java}", "{noformat}",
                "{quote}", "{panel:title=T}", "{panel}", "{info}", "{color:red}", "{color}", "[", "]",
                "|", "||", "[~bob]", "[^a.pdf]", "[x|http://e.example]", "!", "!a.png!", "\\\\", "\\",
                "\n", "\r\n", "h1. ", "h7. ", "bq. ", "----", "* ", "** ", "# ", "#* ", "- ", "\t",
                "\u{200b}", "`", "<", "&amp;",
            ]).prop_map(str::to_string),
        ];
        prop::collection::vec(token, 0..40).prop_map(|v| v.concat())
    }

    /// Alphanumeric characters of a string, in order (what must survive conversion of plain text).
    fn alnum(s: &str) -> String {
        s.chars().filter(|c| c.is_alphanumeric()).collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(384))]

        #[test]
        fn adf_never_panics(v in adf_value()) {
            check_output(&adf_to_markdown(&v))?;
            check_output(&adf_to_markdown(&json!({"type": "doc", "version": 1, "content": [v]})))?;
        }

        #[test]
        fn storage_never_panics_on_arbitrary_strings(s in any::<String>()) {
            check_output(&storage_to_markdown(&s))?;
        }

        #[test]
        fn storage_never_panics_on_markup(s in storage_like()) {
            check_output(&storage_to_markdown(&s))?;
        }

        #[test]
        fn wiki_never_panics_on_arbitrary_strings(s in any::<String>()) {
            check_output(&wiki_to_markdown(&s))?;
        }

        #[test]
        fn wiki_never_panics_on_markup(s in wiki_like()) {
            check_output(&wiki_to_markdown(&s))?;
        }

        #[test]
        fn plain_text_loses_no_letters(s in "[a-zA-Z0-9 .,;:()\n]{0,80}") {
            prop_assert_eq!(alnum(&storage_to_markdown(&s)), alnum(&s));
            // `h1. x` and `bq. x` are wiki markup even in "plain" text: the marker goes.
            let wiki_block = s.lines().any(|l| {
                let t = l.trim_start().as_bytes();
                (t.len() >= 4 && matches!(t[0], b'h' | b'H') && (b'1'..=b'6').contains(&t[1])
                    && t[2] == b'.' && matches!(t[3], b' ' | b'\t'))
                    || l.trim_start().starts_with("bq. ")
            });
            if !wiki_block {
                prop_assert_eq!(alnum(&wiki_to_markdown(&s)), alnum(&s));
            }
            let doc = json!({"type": "doc", "version": 1, "content": [
                {"type": "paragraph", "content": [{"type": "text", "text": s.clone()}]}
            ]});
            prop_assert_eq!(alnum(&adf_to_markdown(&doc)), alnum(&s));
        }
    }
}
