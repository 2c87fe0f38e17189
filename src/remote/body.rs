//! Reading the upstream's response bodies within limits: whole JSON bodies up to a byte
//! count, server-sent event streams one event at a time up to a per-event size (counted on the
//! raw bytes, before the parser buffers them), each event shown to the progress routes.

use std::sync::Arc;

use futures::StreamExt;
use futures::stream::BoxStream;
use rmcp::transport::streamable_http_client::{SseError, StreamableHttpError};
use sse_stream::{Sse, SseStream};

use super::http::HttpFailure;
use super::progress::Routes;

/// The server-sent events of `response`, each at most `max_event` bytes, each shown to
/// `routes` before rmcp reads it. The stream ends after an oversized event's error.
pub(super) fn event_stream(
    response: reqwest::Response,
    max_event: usize,
    routes: Arc<Routes>,
) -> BoxStream<'static, Result<Sse, SseError>> {
    let mut limit = EventLimit::new(max_event);
    let bytes = response.bytes_stream().scan(false, move |over, chunk| {
        if *over {
            return futures::future::ready(None);
        }
        let item = match chunk {
            Ok(chunk) => match limit.feed(&chunk) {
                Ok(()) => Ok(chunk),
                Err(e) => {
                    *over = true;
                    Err(e)
                }
            },
            Err(e) => Err(std::io::Error::other(e.without_url())),
        };
        futures::future::ready(Some(item))
    });
    SseStream::from_bytes_stream(bytes)
        .map(move |event| {
            if let Ok(event) = &event {
                routes.observe(event);
            }
            event
        })
        .boxed()
}

/// Reads a whole body, refusing one longer than `max` bytes.
pub(super) async fn read_bounded(
    response: reqwest::Response,
    max: usize,
) -> Result<Vec<u8>, StreamableHttpError<HttpFailure>> {
    let too_large = || StreamableHttpError::ResponseBodyTooLarge { max_size: max };
    if response.content_length().is_some_and(|n| n > max as u64) {
        return Err(too_large());
    }
    let mut body = Vec::new();
    let mut chunks = response.bytes_stream();
    while let Some(chunk) = chunks.next().await {
        let chunk =
            chunk.map_err(|e| StreamableHttpError::Io(std::io::Error::other(e.without_url())))?;
        if body.len() + chunk.len() > max {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Counts the bytes of the server-sent event being received and fails once one exceeds the
/// limit, before the parser buffers it. Events end at a blank line (`\n`, `\r` or `\r\n`).
struct EventLimit {
    max: usize,
    event: usize,
    line: usize,
    after_cr: bool,
}

impl EventLimit {
    fn new(max: usize) -> Self {
        Self {
            max,
            event: 0,
            line: 0,
            after_cr: false,
        }
    }

    fn feed(&mut self, chunk: &[u8]) -> std::io::Result<()> {
        for &b in chunk {
            if b == b'\n' && self.after_cr {
                self.after_cr = false;
                continue;
            }
            self.after_cr = b == b'\r';
            if b == b'\r' || b == b'\n' {
                if self.line == 0 {
                    self.event = 0;
                }
                self.line = 0;
                continue;
            }
            self.line += 1;
            self.event += 1;
            if self.event > self.max {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!(
                        "an event from the upstream MCP server exceeded {} bytes",
                        self.max
                    ),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::EventLimit;

    #[test]
    fn event_limit_counts_each_event_separately() {
        let mut limit = EventLimit::new(10);
        // Two events of 9 bytes each, split across chunks and line endings.
        limit.feed(b"data: abc\n").unwrap();
        limit.feed(b"\r\n").unwrap();
        limit.feed(b"data: xyz\r").unwrap();
        limit.feed(b"\ndata").unwrap_err();
    }

    #[test]
    fn event_limit_refuses_one_oversized_event() {
        let mut limit = EventLimit::new(8);
        limit.feed(b"data: 12").unwrap();
        assert!(limit.feed(b"3").is_err());
    }
}
