//! Tokens of JQL and CQL: words, quoted strings, operators and punctuation, each with its byte
//! span in the source so that errors can quote the exact text.

use super::QueryError;

/// What a token is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Tok {
    /// A bare word: field, keyword, value, function name (`cf[10010]`, `-7d`, `ENG-12` …).
    Word(String),
    /// A quoted string, escapes resolved.
    Str(String),
    LParen,
    RParen,
    Comma,
    Eq,
    Ne,
    Like,
    NotLike,
    Lt,
    Le,
    Gt,
    Ge,
    /// `!` on its own (JQL's short `NOT`).
    Bang,
    AndAnd,
    OrOr,
}

/// A token and where it is in the source (byte offsets, on character boundaries).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Token {
    pub tok: Tok,
    pub start: usize,
    pub end: usize,
}

impl Token {
    /// Whether this is the bare word `kw` (keywords are case-insensitive).
    pub fn is_kw(&self, kw: &str) -> bool {
        matches!(&self.tok, Tok::Word(w) if w.eq_ignore_ascii_case(kw))
    }
}

/// Characters that end a bare word.
const SPECIAL: &str = "()=!~<>,\"'&|";

fn is_word_char(c: char) -> bool {
    !c.is_whitespace() && !SPECIAL.contains(c)
}

/// Splits `src` into tokens. Unterminated strings, bad escapes and a lone `&` or `|` are errors.
pub(super) fn lex(src: &str) -> Result<Vec<Token>, QueryError> {
    let mut out = Vec::new();
    let mut chars = src.char_indices().peekable();
    while let Some((start, c)) = chars.next() {
        if c.is_whitespace() {
            continue;
        }
        let mut take_if = |want: char| chars.next_if(|&(_, d)| d == want).is_some();
        let tok = match c {
            '(' => Tok::LParen,
            ')' => Tok::RParen,
            ',' => Tok::Comma,
            '=' => Tok::Eq,
            '~' => Tok::Like,
            '!' if take_if('=') => Tok::Ne,
            '!' if take_if('~') => Tok::NotLike,
            '!' => Tok::Bang,
            '<' if take_if('=') => Tok::Le,
            '<' => Tok::Lt,
            '>' if take_if('=') => Tok::Ge,
            '>' => Tok::Gt,
            '&' if take_if('&') => Tok::AndAnd,
            '|' if take_if('|') => Tok::OrOr,
            '&' | '|' => {
                return Err(QueryError::new(
                    &c.to_string(),
                    format!("`{c}` is reserved; write `{c}{c}`, or quote it as part of a value"),
                ));
            }
            '"' | '\'' => {
                let (s, end) = string(src, start, c, &mut chars)?;
                out.push(Token {
                    tok: Tok::Str(s),
                    start,
                    end,
                });
                continue;
            }
            _ => {
                let mut w = String::from(c);
                while let Some((_, d)) = chars.next_if(|&(_, d)| is_word_char(d)) {
                    w.push(d);
                }
                Tok::Word(w)
            }
        };
        let end = chars.peek().map_or(src.len(), |&(i, _)| i);
        out.push(Token { tok, start, end });
    }
    Ok(out)
}

/// Reads a string opened by `quote` at `start`; returns its text and end offset.
fn string(
    src: &str,
    start: usize,
    quote: char,
    chars: &mut std::iter::Peekable<std::str::CharIndices<'_>>,
) -> Result<(String, usize), QueryError> {
    let mut s = String::new();
    while let Some((i, d)) = chars.next() {
        if d == quote {
            return Ok((s, i + d.len_utf8()));
        }
        if d != '\\' {
            s.push(d);
            continue;
        }
        let Some((j, e)) = chars.next() else { break };
        let escaped = match e {
            '"' | '\'' | '\\' | ' ' => e,
            'n' => '\n',
            't' => '\t',
            'r' => '\r',
            'u' => {
                let mut hex = String::new();
                while hex.len() < 4 {
                    match chars.next_if(|&(_, h)| h.is_ascii_hexdigit()) {
                        Some((_, h)) => hex.push(h),
                        None => break,
                    }
                }
                let code = u32::from_str_radix(&hex, 16)
                    .ok()
                    .filter(|_| hex.len() == 4);
                match code.and_then(char::from_u32) {
                    Some(ch) => ch,
                    None => {
                        let end = chars.peek().map_or(src.len(), |&(k, _)| k);
                        return Err(QueryError::new(
                            &src[i..end],
                            "`\\u` needs four hex digits of a valid character",
                        ));
                    }
                }
            }
            _ => {
                return Err(QueryError::new(
                    &src[i..j + e.len_utf8()],
                    "unknown escape; use \\\", \\', \\\\, \\n, \\t, \\r or \\uXXXX",
                ));
            }
        };
        s.push(escaped);
    }
    Err(QueryError::new(
        &src[start..],
        format!("the string opened by {quote} is never closed"),
    ))
}
