//! `~` terms as Jira and Confluence read them, word-based: every word must occur (as a whole
//! word, case-insensitive; `word*` as a prefix), a `"quoted phrase"` must occur as consecutive
//! words, and common English words are ignored. Lucene syntax the cache cannot honour (`OR`,
//! `NOT`, `-word`, `?`, fuzzy `~`, boosts `^`, inner or leading `*`) is an error, not a guess.
//!
//! Words become FTS5 phrases (each quoted, so no FTS5 syntax can be injected) or, for fields
//! without their own FTS5 column, `GLOB` patterns with ASCII word boundaries. Stemming
//! (`runs` finding `running`) is not done.

/// One word or phrase: its lower-cased tokens (runs of letters and digits), all required in
/// order; `prefix` makes the last one a prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Group {
    pub tokens: Vec<String>,
    pub prefix: bool,
}

/// Lucene's English stop words, which Jira and Confluence leave out of their indexes.
const STOP_WORDS: &[&str] = &[
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in", "into", "is", "it",
    "no", "not", "of", "on", "or", "such", "that", "the", "their", "then", "there", "these",
    "they", "this", "to", "was", "will", "with",
];

/// Splits a `~` term into the groups that must all match, or says what cannot be evaluated.
pub(super) fn groups(term: &str) -> Result<Vec<Group>, String> {
    let mut out = Vec::new();
    let mut chars = term.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_whitespace() {
            continue;
        }
        if c == '"' {
            let mut phrase = String::new();
            while let Some(d) = chars.next_if(|&d| d != '"') {
                phrase.push(d);
            }
            chars.next();
            let tokens = tokens(&phrase);
            if !tokens.is_empty() {
                out.push(Group {
                    tokens,
                    prefix: false,
                });
            }
            continue;
        }
        let mut word = String::from(c);
        while let Some(d) = chars.next_if(|&d| !d.is_whitespace() && d != '"') {
            word.push(d);
        }
        if let Some(g) = word_group(&word)? {
            out.push(g);
        }
    }
    if out.is_empty() {
        return Err(
            "there are no words to search for (common words such as `the` are ignored)".into(),
        );
    }
    Ok(out)
}

fn word_group(word: &str) -> Result<Option<Group>, String> {
    match word {
        "OR" | "NOT" | "||" | "!" => {
            return Err(format!(
                "`{word}` inside a ~ term is not supported offline; write separate clauses joined with OR or NOT"
            ));
        }
        "AND" | "&&" => return Ok(None),
        _ => {}
    }
    let word = word.strip_prefix('+').unwrap_or(word);
    if word.len() > 1 && (word.starts_with('-') || word.starts_with('!')) {
        return Err(format!(
            "excluding `{word}` inside a ~ term is not supported offline; use !~"
        ));
    }
    let body = word.trim_end_matches('*');
    let prefix = body.len() < word.len();
    if body.contains(['*', '?', '~', '^']) || (prefix && tokens(body).is_empty()) {
        return Err(format!(
            "`{word}` is not supported offline: only whole words, a trailing * and \"phrases\""
        ));
    }
    let tokens = tokens(body);
    if tokens.is_empty()
        || (!prefix && tokens.len() == 1 && STOP_WORDS.contains(&tokens[0].as_str()))
    {
        return Ok(None);
    }
    Ok(Some(Group { tokens, prefix }))
}

/// Runs of letters and digits, lower-cased.
fn tokens(s: &str) -> Vec<String> {
    s.split(|c: char| !c.is_alphanumeric())
        .filter(|t| !t.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// An FTS5 query requiring every group, optionally confined to one column.
pub(super) fn fts_query(groups: &[Group], column: Option<&str>) -> String {
    groups
        .iter()
        .map(|g| {
            let phrase = format!(
                "\"{}\"{}",
                g.tokens.join(" ").replace('"', "\"\""),
                if g.prefix { "*" } else { "" }
            );
            match column {
                Some(c) => format!("{c} : {phrase}"),
                None => phrase,
            }
        })
        .collect::<Vec<_>>()
        .join(" AND ")
}

/// Non-word characters for [`glob_pattern`] (ASCII word boundaries).
const NON_WORD: &str = "[^0-9a-z]";

/// A `GLOB` pattern matching a group in `' ' || lower(text) || ' '`.
pub(super) fn glob_pattern(g: &Group) -> String {
    let mut p = format!("*{NON_WORD}{}", g.tokens.join(NON_WORD));
    if g.prefix {
        p.push('*');
    } else {
        p.push_str(NON_WORD);
        p.push('*');
    }
    p
}
