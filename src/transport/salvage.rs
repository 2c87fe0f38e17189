//! What can be saved from a damaged line: lone surrogate escapes turned into U+FFFD, and the
//! request id found by a tolerant scan when the line as a whole cannot be parsed.

use std::borrow::Cow;

use serde_json::Value;

/// Replaces each `\uXXXX` escape of a lone UTF-16 surrogate (what JavaScript emits for a string
/// cut inside a surrogate pair) with `\ufffd`; pairs, other escapes and `\\u…` are left alone.
pub fn repair_surrogates(text: &str) -> Cow<'_, str> {
    let b = text.as_bytes();
    let mut out: Option<String> = None;
    let mut copied = 0;
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'\\' {
            i += 1;
            continue;
        }
        if b.get(i + 1) != Some(&b'u') {
            i += 2;
            continue;
        }
        let Some(unit) = hex4(b, i + 2) else {
            i += 2;
            continue;
        };
        let lone = if (0xD800..0xDC00).contains(&unit) {
            let low = (b.get(i + 6) == Some(&b'\\') && b.get(i + 7) == Some(&b'u'))
                .then(|| hex4(b, i + 8))
                .flatten();
            match low {
                Some(l) if (0xDC00..0xE000).contains(&l) => {
                    i += 12;
                    continue;
                }
                _ => true,
            }
        } else {
            (0xDC00..0xE000).contains(&unit)
        };
        if lone {
            let s = out.get_or_insert_with(|| String::with_capacity(text.len()));
            s.push_str(&text[copied..i]);
            s.push_str("\\ufffd");
            copied = i + 6;
        }
        i += 6;
    }
    match out {
        Some(mut s) => {
            s.push_str(&text[copied..]);
            Cow::Owned(s)
        }
        None => Cow::Borrowed(text),
    }
}

fn hex4(b: &[u8], at: usize) -> Option<u32> {
    let digits = b.get(at..at + 4)?;
    digits.iter().try_fold(0u32, |acc, &d| {
        let v = char::from(d).to_digit(16)?;
        Some(acc * 16 + v)
    })
}

/// Finds the top-level `"id"` of a line that failed to parse, reading members in order and
/// skipping values by bracket depth, so a mistake elsewhere (a trailing comma, a cut-off
/// value) does not hide it. Returns a string or number id; anything else is `None`.
pub fn scan_id(bytes: &[u8]) -> Option<Value> {
    let mut s = Scanner { b: bytes, i: 0 };
    s.ws();
    s.eat(b'{')?;
    loop {
        s.ws();
        match s.peek()? {
            b'}' => return None,
            b',' => {
                s.i += 1;
                continue;
            }
            _ => {}
        }
        let key = s.string()?;
        s.ws();
        s.eat(b':')?;
        s.ws();
        if key == b"\"id\"" {
            return s.id_value();
        }
        s.skip_value()?;
    }
}

struct Scanner<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> Scanner<'a> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn ws(&mut self) {
        while self.peek().is_some_and(|c| c.is_ascii_whitespace()) {
            self.i += 1;
        }
    }

    fn eat(&mut self, c: u8) -> Option<()> {
        (self.peek()? == c).then(|| self.i += 1)
    }

    /// A string token, quotes included.
    fn string(&mut self) -> Option<&'a [u8]> {
        let start = self.i;
        self.eat(b'"')?;
        loop {
            match self.peek()? {
                b'\\' => self.i += 2,
                b'"' => {
                    self.i += 1;
                    return self.b.get(start..self.i);
                }
                _ => self.i += 1,
            }
        }
    }

    fn skip_value(&mut self) -> Option<()> {
        match self.peek()? {
            b'"' => self.string().map(|_| ()),
            b'{' | b'[' => {
                let mut depth = 0usize;
                loop {
                    match self.peek()? {
                        b'"' => {
                            self.string()?;
                            continue;
                        }
                        b'{' | b'[' => depth += 1,
                        b'}' | b']' => {
                            depth -= 1;
                            if depth == 0 {
                                self.i += 1;
                                return Some(());
                            }
                        }
                        _ => {}
                    }
                    self.i += 1;
                }
            }
            _ => {
                while !matches!(self.peek()?, b',' | b'}' | b']') {
                    self.i += 1;
                }
                Some(())
            }
        }
    }

    fn id_value(&mut self) -> Option<Value> {
        match self.peek()? {
            b'"' => {
                let token = self.string()?;
                serde_json::from_slice::<String>(token)
                    .ok()
                    .map(Value::String)
            }
            b'-' | b'0'..=b'9' => {
                let start = self.i;
                while self.peek().is_some_and(|c| b"0123456789+-.eE".contains(&c)) {
                    self.i += 1;
                }
                serde_json::from_slice::<serde_json::Number>(&self.b[start..self.i])
                    .ok()
                    .map(Value::Number)
            }
            _ => None,
        }
    }
}

/// The id of a message whose last member is `"id": <string or number>` (TypeScript SDK order),
/// read from the end of the line.
pub fn scan_tail_id(tail: &[u8]) -> Option<Value> {
    let t = tail.trim_ascii_end();
    let t = t.strip_suffix(b"}")?.trim_ascii_end();
    let start = if t.ends_with(b"\"") {
        let body = &t[..t.len() - 1];
        if body.iter().rev().take_while(|&&c| c == b'\\').count() % 2 == 1 {
            return None;
        }
        let mut k = body.len();
        loop {
            let q = body[..k].iter().rposition(|&c| c == b'"')?;
            let slashes = body[..q].iter().rev().take_while(|&&c| c == b'\\').count();
            if slashes % 2 == 0 {
                break q;
            }
            k = q;
        }
    } else {
        let digits = t
            .iter()
            .rev()
            .take_while(|c| b"0123456789+-.eE".contains(c))
            .count();
        t.len().checked_sub(digits).filter(|&s| s < t.len())?
    };
    let token = &t[start..];
    let before = t[..start]
        .trim_ascii_end()
        .strip_suffix(b":")?
        .trim_ascii_end();
    let before = before.strip_suffix(b"\"id\"")?.trim_ascii_end();
    if !(before.ends_with(b",") || before.ends_with(b"{")) {
        return None;
    }
    match token.first()? {
        b'"' => serde_json::from_slice::<String>(token)
            .ok()
            .map(Value::String),
        _ => serde_json::from_slice::<serde_json::Number>(token)
            .ok()
            .map(Value::Number),
    }
}
