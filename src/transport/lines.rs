//! Reads newline-delimited messages with a hard bound on memory: a line longer than the limit is
//! consumed and discarded as it streams in, keeping only its first and last bytes (where its id
//! is), so a client can never make the server hold more than one limit's worth of a line.

use tokio::io::{AsyncBufRead, AsyncBufReadExt};

/// Bytes kept from the start of an oversized line (its id is usually there).
const HEAD_KEPT: usize = 64 * 1024;
/// Bytes kept from the end of an oversized line (where the TypeScript SDK puts the id).
const TAIL_KEPT: usize = 512;
/// After a large line the buffer shrinks back to this, so one big message does not pin memory.
const RESTING_CAPACITY: usize = 64 * 1024;

/// One read from [`LineReader::next`].
#[derive(Debug, PartialEq)]
pub enum Next<'a> {
    /// A whole line, without its `\n` (a `\r` before it is kept).
    Line(&'a [u8]),
    /// A line over the limit, already consumed: its first and last bytes and its full length.
    Oversized {
        /// Up to 64 KiB from the start.
        head: &'a [u8],
        /// Up to 512 bytes from the end (before the `\n`).
        tail: &'a [u8],
        /// The line's length in bytes, without the `\n`.
        len: u64,
    },
    /// The input ended (a last line without a `\n` is returned as a [`Next::Line`] first).
    Eof,
}

/// A bounded line reader over any buffered async input.
#[derive(Debug)]
pub struct LineReader<R> {
    input: R,
    max: usize,
    line: Vec<u8>,
    tail: Vec<u8>,
    /// Set while the rest of an oversized line is being skipped: its length so far.
    skipping: Option<u64>,
}

impl<R: AsyncBufRead + Unpin> LineReader<R> {
    /// Reads lines of at most `max` bytes (not counting the `\n`) from `input`.
    pub fn new(input: R, max: usize) -> Self {
        Self {
            input,
            max,
            line: Vec::new(),
            tail: Vec::new(),
            skipping: None,
        }
    }

    /// The next line. Not cancel-safe mid-line: callers stop reading for good when they stop.
    pub async fn next(&mut self) -> std::io::Result<Next<'_>> {
        self.line.clear();
        if self.line.capacity() > RESTING_CAPACITY {
            self.line.shrink_to(RESTING_CAPACITY);
        }
        self.tail.clear();
        loop {
            let available = self.input.fill_buf().await?;
            if available.is_empty() {
                return Ok(match self.skipping.take() {
                    Some(len) => Next::Oversized {
                        head: &self.line,
                        tail: &self.tail,
                        len,
                    },
                    None if self.line.is_empty() => Next::Eof,
                    None => Next::Line(&self.line),
                });
            }
            let newline = available.iter().position(|&b| b == b'\n');
            let chunk = &available[..newline.unwrap_or(available.len())];
            let consumed = newline.map_or(chunk.len(), |n| n + 1);
            match self.skipping.as_mut() {
                Some(len) => {
                    *len += chunk.len() as u64;
                    let room = HEAD_KEPT.saturating_sub(self.line.len());
                    self.line.extend_from_slice(&chunk[..room.min(chunk.len())]);
                    keep_tail(&mut self.tail, chunk);
                }
                None if self.line.len() + chunk.len() > self.max => {
                    let len = (self.line.len() + chunk.len()) as u64;
                    keep_tail(&mut self.tail, &self.line);
                    keep_tail(&mut self.tail, chunk);
                    let room = HEAD_KEPT.saturating_sub(self.line.len());
                    self.line.extend_from_slice(&chunk[..room.min(chunk.len())]);
                    self.line.truncate(HEAD_KEPT);
                    self.line.shrink_to(HEAD_KEPT);
                    self.skipping = Some(len);
                }
                None => {
                    // Grow by doubling, but never past the limit (no 32 MiB buffer for a
                    // 16 MiB line).
                    let needed = self.line.len() + chunk.len();
                    if needed > self.line.capacity() {
                        let want = needed.max(self.line.capacity() * 2).min(self.max);
                        self.line.reserve_exact(want - self.line.len());
                    }
                    self.line.extend_from_slice(chunk);
                }
            }
            self.input.consume(consumed);
            if newline.is_some() {
                return Ok(match self.skipping.take() {
                    Some(len) => Next::Oversized {
                        head: &self.line,
                        tail: &self.tail,
                        len,
                    },
                    None => Next::Line(&self.line),
                });
            }
        }
    }
}

/// Appends `bytes` to `tail`, keeping only the last [`TAIL_KEPT`] bytes.
fn keep_tail(tail: &mut Vec<u8>, bytes: &[u8]) {
    if bytes.len() >= TAIL_KEPT {
        tail.clear();
        tail.extend_from_slice(&bytes[bytes.len() - TAIL_KEPT..]);
    } else {
        tail.extend_from_slice(bytes);
        let excess = tail.len().saturating_sub(TAIL_KEPT);
        tail.drain(..excess);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn all(input: &[u8], max: usize, buf: usize) -> Vec<String> {
        let reader = tokio::io::BufReader::with_capacity(buf, input);
        let mut lines = LineReader::new(reader, max);
        let mut out = Vec::new();
        loop {
            match lines.next().await.unwrap() {
                Next::Line(l) => out.push(format!("line {}", String::from_utf8_lossy(l))),
                Next::Oversized { head, tail, len } => out.push(format!(
                    "over {len} {} {}",
                    String::from_utf8_lossy(head),
                    String::from_utf8_lossy(tail)
                )),
                Next::Eof => return out,
            }
        }
    }

    #[tokio::test]
    async fn splits_lines_and_keeps_a_last_line_without_newline() {
        for buf in [1, 3, 64] {
            assert_eq!(
                all(b"a\nbb\r\n\nccc", 10, buf).await,
                ["line a", "line bb\r", "line ", "line ccc"],
                "buffer {buf}"
            );
        }
        assert!(all(b"", 10, 8).await.is_empty());
    }

    #[tokio::test]
    async fn an_oversized_line_is_skipped_with_its_ends_and_length_and_reading_goes_on() {
        for buf in [1, 4, 64] {
            assert_eq!(
                all(b"12345\n1234567890AB\nok\n", 5, buf).await,
                ["line 12345", "over 12 1234567890AB 1234567890AB", "line ok"],
                "buffer {buf}"
            );
        }
        // Over the limit and cut off by the end of input.
        assert_eq!(all(b"abcdefgh", 5, 2).await, ["over 8 abcdefgh abcdefgh"]);
    }

    #[tokio::test]
    async fn only_the_ends_of_a_huge_line_are_kept() {
        let mut input = vec![b'h'; HEAD_KEPT * 3];
        input.extend_from_slice(&[b't'; TAIL_KEPT]);
        input.extend_from_slice(b"\nnext\n");
        let reader = tokio::io::BufReader::with_capacity(8192, &input[..]);
        let mut lines = LineReader::new(reader, HEAD_KEPT * 2);
        match lines.next().await.unwrap() {
            Next::Oversized { head, tail, len } => {
                assert_eq!(head.len(), HEAD_KEPT);
                assert!(head.iter().all(|&b| b == b'h'));
                assert_eq!(tail, &[b't'; TAIL_KEPT][..]);
                assert_eq!(len as usize, HEAD_KEPT * 3 + TAIL_KEPT);
            }
            other => panic!("{other:?}"),
        }
        assert!(lines.line.capacity() <= HEAD_KEPT * 2);
        assert_eq!(lines.next().await.unwrap(), Next::Line(b"next"));
        assert_eq!(lines.next().await.unwrap(), Next::Eof);
    }
}
