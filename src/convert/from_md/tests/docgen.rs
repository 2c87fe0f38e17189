//! Round-trip documents: a generator over the crate's Markdown model ([`crate::convert::md`])
//! and [`fit`], which rewrites a document into what one target can represent.

use proptest::prelude::*;

use crate::convert::md;

// The Markdown renderer escapes text before it knows its neighbours: a lone `~` next to a
// `~~` delimiter, a `[` right before a link's `](`, or a `!` right before a link (which makes
// it an image) is left unescaped. Those words are left out of generated documents.
const HARD_WORDS: &[&str] = &[
    "a_b", "2*3", "x-y", "(x)", "1.5", "C++", "e.g.", "don't", "50%", "a/b", "#tag", "@me", "é",
    "日本", "🙂", "*", "_", "**", "[x]", "{y}", "|", "^", "+", "?", "??", "&", "<", ">", "`", "-",
    "--", "#", ":)", "a|b", "C:\\dir", "{{m}}", "-a-", "+b+", "^c^", "*e*", "_f_",
];

fn word() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => "[a-z]{1,7}",
        1 => "[A-Z0-9]{1,4}",
        2 => prop::sample::select(HARD_WORDS).prop_map(str::to_string),
    ]
}

fn words() -> impl Strategy<Value = String> {
    prop::collection::vec(word(), 1..4).prop_map(|w| w.join(" "))
}

fn url() -> impl Strategy<Value = String> {
    (
        "[a-z]{1,6}",
        "[a-z0-9/]{0,8}",
        prop::option::of("[a-z]{1,3}=[a-z0-9]{1,3}"),
    )
        .prop_map(|(host, path, query)| match query {
            Some(q) => format!("https://{host}.example/{path}?{q}"),
            None => format!("https://{host}.example/{path}"),
        })
}

fn inline() -> impl Strategy<Value = md::Inline> {
    let leaf = prop_oneof![
        4 => words().prop_map(md::Inline::Text),
        1 => "[a-z]{1,4}( [a-z=*_]{1,4})?".prop_map(md::Inline::Code),
    ];
    leaf.prop_recursive(3, 12, 3, |inner| {
        let seq = prop::collection::vec(inner, 1..3);
        prop_oneof![
            seq.clone().prop_map(md::Inline::Strong),
            seq.clone().prop_map(md::Inline::Em),
            seq.clone().prop_map(md::Inline::Strike),
            (url(), seq).prop_map(|(href, content)| md::Inline::Link { href, content }),
        ]
    })
}

/// Inline elements separated by spaces (or, now and then, by nothing).
fn inlines(breaks: bool) -> impl Strategy<Value = Vec<md::Inline>> {
    let sep = prop_oneof![
        6 => Just(md::Inline::Text(" ".into())),
        1 => Just(md::Inline::Text(String::new())),
        if breaks { 1 } else { 0 } => Just(md::Inline::Break),
    ];
    prop::collection::vec((inline(), sep), 1..4).prop_map(|v| {
        let mut out = Vec::new();
        for (n, (i, s)) in v.into_iter().enumerate() {
            if n > 0 {
                out.push(s);
            }
            out.push(i);
        }
        out
    })
}

fn code_text() -> impl Strategy<Value = String> {
    let line = "(  )?[a-z(){};=]{1,8}( [a-z(){};=<>&]{1,8})?";
    prop::collection::vec(line, 1..4).prop_map(|l| l.join("\n"))
}

fn leaf_block() -> impl Strategy<Value = md::Block> {
    prop_oneof![
        4 => inlines(true).prop_map(md::Block::Paragraph),
        1 => (1u8..=6, inlines(false)).prop_map(|(l, i)| md::Block::Heading(l, i)),
        1 => (prop::sample::select(vec!["", "rust", "python", "json", "c++"]), code_text())
            .prop_map(|(lang, text)| md::Block::Code { lang: lang.into(), text }),
        1 => Just(md::Block::Rule),
        1 => (1usize..4, 1usize..4).prop_flat_map(|(cols, rows)| {
            let cell = prop_oneof![4 => inlines(false), 1 => Just(Vec::new())];
            prop::collection::vec(prop::collection::vec(cell, cols), rows + 1)
        }).prop_map(|grid| md::Block::Table(grid.into_iter().map(|cells| md::Row {
            cells: cells.into_iter().map(|c| md::Cell {
                blocks: vec![md::Block::Paragraph(c)],
                colspan: 1,
            }).collect(),
        }).collect())),
    ]
}

pub(super) fn blocks() -> impl Strategy<Value = Vec<md::Block>> {
    let block = leaf_block().prop_recursive(4, 24, 4, |inner| {
        let check = prop::sample::select(vec![None, None, Some("[ ]"), Some("[x]")]);
        let item = (check, prop::collection::vec(inner.clone(), 1..3))
            .prop_map(|(check, blocks)| md::Item { check, blocks });
        prop_oneof![
            prop::collection::vec(inner, 1..3).prop_map(md::Block::Quote),
            (
                prop::option::of(0u64..12),
                prop::collection::vec(item, 1..4)
            )
                .prop_map(|(start, items)| md::Block::List(md::List { start, items })),
        ]
    });
    prop::collection::vec(prop_oneof![2 => leaf_block(), 3 => block], 1..6)
}

/// What a target can represent (everything else is rewritten before the round trip).
#[derive(Clone, Copy)]
pub(super) struct Target {
    /// Quotes may hold quotes, headings, tables and rules.
    rich_quotes: bool,
    /// Which extra blocks a list item may hold after its first paragraph (lists always).
    item_code: bool,
    item_quote: bool,
    item_paragraphs: bool,
    /// Code spans may sit inside emphasis.
    styled_code: bool,
    /// Ordered lists keep their start number.
    list_start: bool,
}

pub(super) const ADF: Target = Target {
    rich_quotes: false,
    item_code: true,
    item_quote: false,
    item_paragraphs: true,
    styled_code: false,
    list_start: true,
};
pub(super) const STORAGE: Target = Target {
    rich_quotes: true,
    item_code: true,
    item_quote: true,
    item_paragraphs: true,
    styled_code: true,
    list_start: true,
};
pub(super) const WIKI: Target = Target {
    rich_quotes: false,
    item_code: false,
    item_quote: false,
    item_paragraphs: false,
    styled_code: true,
    list_start: false,
};

#[derive(Clone, Copy, PartialEq)]
pub(super) enum Place {
    Top,
    Quote,
    Item,
}

pub(super) fn fit(blocks: Vec<md::Block>, t: Target, place: Place) -> Vec<md::Block> {
    let mut out = Vec::new();
    for b in blocks {
        match b {
            md::Block::Paragraph(inl) => out.push(md::Block::Paragraph(fit_inl(inl, t, 0))),
            md::Block::Heading(l, inl)
                if place == Place::Top || (place == Place::Quote && t.rich_quotes) =>
            {
                out.push(md::Block::Heading(l, fit_inl(inl, t, 0)))
            }
            md::Block::Heading(..) => {}
            md::Block::Quote(inner) => match place {
                Place::Top => out.push(md::Block::Quote(fit(inner, t, Place::Quote))),
                Place::Quote if t.rich_quotes => {
                    out.push(md::Block::Quote(fit(inner, t, Place::Quote)))
                }
                Place::Item if t.item_quote => {
                    out.push(md::Block::Quote(fit(inner, t, Place::Quote)))
                }
                Place::Quote => out.extend(fit(inner, t, Place::Quote)),
                Place::Item => {}
            },
            md::Block::List(list) => out.push(md::Block::List(fit_list(list, t, false))),
            md::Block::Code { .. } if place != Place::Item || t.item_code => out.push(b),
            md::Block::Table(rows)
                if place == Place::Top || (place == Place::Quote && t.rich_quotes) =>
            {
                let rows = rows
                    .into_iter()
                    .map(|r| md::Row {
                        cells: r
                            .cells
                            .into_iter()
                            .map(|c| md::Cell {
                                blocks: fit(c.blocks, t, Place::Top),
                                colspan: 1,
                            })
                            .collect(),
                    })
                    .collect();
                out.push(md::Block::Table(rows))
            }
            md::Block::Rule if place == Place::Top || (place == Place::Quote && t.rich_quotes) => {
                out.push(b)
            }
            _ => {}
        }
    }
    out
}

/// Lists: task items only in bullet lists, holding one paragraph and task lists; every item
/// starts with a paragraph.
fn fit_list(list: md::List, t: Target, in_task: bool) -> md::List {
    let start = match list.start {
        _ if in_task => None,
        Some(_) if !t.list_start => Some(1),
        s => s,
    };
    let items = list.items.into_iter().map(|item| {
        let check = match (start, in_task) {
            (_, true) => Some(item.check.unwrap_or("[ ]")),
            (None, false) => item.check,
            (Some(_), false) => None,
        };
        let mut blocks = Vec::new();
        let mut rest = item.blocks.into_iter();
        match rest.next() {
            Some(md::Block::Paragraph(mut inl)) => {
                inl.insert(0, md::Inline::Text("item ".into()));
                blocks.push(md::Block::Paragraph(fit_inl(inl, t, 0)))
            }
            Some(other) => {
                blocks.push(md::Block::Paragraph(vec![md::Inline::Text("item".into())]));
                blocks.extend(fit_item_block(other, t, check.is_some()));
            }
            None => blocks.push(md::Block::Paragraph(vec![md::Inline::Text("item".into())])),
        }
        for b in rest {
            blocks.extend(fit_item_block(b, t, check.is_some()));
        }
        md::Item { check, blocks }
    });
    md::List {
        start,
        items: items.collect(),
    }
}

fn fit_item_block(b: md::Block, t: Target, task: bool) -> Option<md::Block> {
    match b {
        md::Block::List(l) => Some(md::Block::List(fit_list(l, t, task))),
        _ if task => None,
        md::Block::Paragraph(_) if !t.item_paragraphs => None,
        other => fit(vec![other], t, Place::Item).pop(),
    }
}

/// Inline content the Markdown renderer writes unambiguously: no span nested in a span of its
/// kind, and no `*`/`~` delimiter runs touching (`***`, `**a***b*`), which CommonMark would
/// pair differently.
fn fit_inl(inl: Vec<md::Inline>, t: Target, active: u8) -> Vec<md::Inline> {
    let is_span = |i: &md::Inline| {
        matches!(
            i,
            md::Inline::Strong(_) | md::Inline::Em(_) | md::Inline::Strike(_)
        )
    };
    let mut out: Vec<md::Inline> = Vec::new();
    for i in inl {
        let fitted = match i {
            md::Inline::Text(t) if t.is_empty() => continue,
            md::Inline::Strong(c) if active & 2 == 0 => {
                vec![md::Inline::Strong(fit_span(c, t, active | 2))]
            }
            md::Inline::Em(c) if active & 1 == 0 => {
                vec![md::Inline::Em(fit_span(c, t, active | 1))]
            }
            md::Inline::Strike(c) if active & 4 == 0 => {
                vec![md::Inline::Strike(fit_span(c, t, active | 4))]
            }
            md::Inline::Strong(c) | md::Inline::Em(c) | md::Inline::Strike(c) => {
                fit_inl(c, t, active)
            }
            // Writers keep only the outer target of nested links.
            md::Inline::Link { content, .. } if active & 16 != 0 => fit_inl(content, t, active),
            md::Inline::Link { href, content } => vec![md::Inline::Link {
                href,
                content: fit_inl(content, t, active | 16),
            }],
            md::Inline::Code(c) if active & 7 != 0 && !t.styled_code => vec![md::Inline::Text(c)],
            other => vec![other],
        };
        for f in fitted {
            // Spans side by side, or a span inside a span touching a word, need a space.
            let touching = out.last().is_some_and(|prev| {
                (is_span(prev) && is_span(&f))
                    || (active & 7 != 0
                        && (is_span(prev) || is_span(&f))
                        && !matches!(prev, md::Inline::Text(p) if p.ends_with(' '))
                        && !matches!(&f, md::Inline::Text(n) if n.starts_with(' ')))
            });
            if touching {
                out.push(md::Inline::Text(" ".into()));
            }
            out.push(f);
        }
    }
    out
}

/// A span's content, starting and ending with something other than a span.
fn fit_span(content: Vec<md::Inline>, t: Target, active: u8) -> Vec<md::Inline> {
    let mut c = fit_inl(content, t, active);
    let edge = |i: Option<&md::Inline>| {
        matches!(
            i,
            None | Some(md::Inline::Strong(_) | md::Inline::Em(_) | md::Inline::Strike(_))
        )
    };
    if edge(c.first()) {
        c.insert(0, md::Inline::Text("w ".into()));
    }
    if edge(c.last()) {
        c.push(md::Inline::Text(" w".into()));
    }
    c
}
