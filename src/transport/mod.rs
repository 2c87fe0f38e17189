//! The stdio transport between the MCP client and rmcp: reads stdin itself, line by line and
//! bounded ([`lines`]), screens each line ([`screen`]): repairs what is harmless, answers what
//! cannot be parsed with a JSON-RPC error carrying the request's id, answers and audits a
//! malformed `tools/call`; hands the rest to rmcp as parsed messages ([`FilteredStdio`] is an
//! rmcp `Transport`); and writes every outgoing line, rmcp's and its own, from one writer task so
//! lines never interleave and nothing but JSON-RPC reaches stdout.
//!
//! [`Session`] is the serve loop's handle on it: has the input ended, has stdout closed, stop
//! reading, end the input as rmcp sees it, flush and finish. [`inflight`] tracks the requests
//! rmcp is running so that stopping can wait for them, cancel them and keep the audit whole.

pub mod inflight;
pub mod lines;
pub mod salvage;
pub mod screen;

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rmcp::RoleServer;
use rmcp::model::{ClientJsonRpcMessage, ClientRequest, JsonRpcMessage, ServerJsonRpcMessage};
use rmcp::transport::Transport;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use inflight::{InFlight, Tracked, record_unfinished};

use crate::audit::{ClientInfo, Entry, Outcome};
use crate::mcp::BridgeServer;
use lines::{LineReader, Next};
use screen::{MAX_MESSAGE_BYTES, Rejection, Verdict};

/// Parsed messages waiting for rmcp: few, so a stalled server stops reading stdin instead of
/// queueing (each may be up to 16 MiB).
const INBOUND_QUEUE: usize = 4;
/// Outgoing lines waiting for stdout.
const OUTBOUND_QUEUE: usize = 64;
/// The stdin read buffer.
const READ_BUFFER: usize = 64 * 1024;
/// How long [`Session::finish`] waits for queued lines to reach stdout.
const FLUSH_WAIT: Duration = Duration::from_secs(2);
/// JSON-RPC: the server could not do what was asked (the audit log is unwritable).
const INTERNAL_ERROR: i32 = -32603;

/// What the reader and writer tasks report to the serve loop.
#[derive(Debug, Default)]
struct Events {
    /// stdin reached its end (or failed): nothing more will come.
    input_ended: CancellationToken,
    /// Set with `input_ended` when it was a real end of input, not [`Session::stop_reading`].
    eof: AtomicBool,
    /// The reader has stopped and rmcp has taken every message it read.
    drained: CancellationToken,
    read_error: Mutex<Option<io::Error>>,
    /// stdout cannot be written any more.
    output_closed: CancellationToken,
    /// Why, when it was not simply the reader going away (EPIPE).
    write_error: Mutex<Option<io::Error>>,
    /// An `initialize` request went to rmcp.
    initialize_seen: AtomicBool,
    /// The client, from `initialize`, for the records the filter writes itself.
    client: Mutex<Option<ClientInfo>>,
}

impl Events {
    fn write_failed(&self, e: io::Error) {
        if matches!(
            e.kind(),
            io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset
        ) {
            tracing::info!("stdout was closed by the client; stopping");
        } else {
            *self
                .write_error
                .lock()
                .unwrap_or_else(PoisonError::into_inner) = Some(e);
        }
        self.output_closed.cancel();
    }
}

/// Outgoing lines, to the one writer task.
#[derive(Debug, Clone)]
struct Outbound {
    tx: mpsc::Sender<Vec<u8>>,
}

impl Outbound {
    /// Queues one newline-terminated line. Once stdout is gone (reported once, by the writer),
    /// lines are dropped quietly: there is nobody to read them.
    async fn send_line(&self, line: Vec<u8>) {
        if self.tx.send(line).await.is_err() {
            tracing::debug!("stdout writer stopped; dropping an outgoing line");
        }
    }
}

/// stdin and stdout as rmcp sees them: only screened, parsed messages come in; every message
/// out goes through the single writer.
#[derive(Debug)]
pub struct FilteredStdio {
    inbound: mpsc::Receiver<ClientJsonRpcMessage>,
    out: Outbound,
    closing: CancellationToken,
    events: Arc<Events>,
}

impl Transport<RoleServer> for FilteredStdio {
    type Error = io::Error;

    fn send(
        &mut self,
        item: ServerJsonRpcMessage,
    ) -> impl Future<Output = Result<(), io::Error>> + Send + 'static {
        let out = self.out.clone();
        async move {
            let mut line = serde_json::to_vec(&item).map_err(io::Error::other)?;
            line.push(b'\n');
            out.send_line(line).await;
            Ok(())
        }
    }

    async fn receive(&mut self) -> Option<ClientJsonRpcMessage> {
        // What was read is delivered first. rmcp learns that the input ended only when the
        // serve loop says so (`Session::close_input`): at the end of stdin, calls in flight
        // still have a live service to answer through.
        tokio::select! {
            biased;
            m = self.inbound.recv() => match m {
                Some(m) => Some(m),
                None => {
                    self.events.drained.cancel();
                    self.closing.cancelled().await;
                    None
                }
            },
            () = self.closing.cancelled() => None,
        }
    }

    async fn close(&mut self) -> Result<(), io::Error> {
        Ok(())
    }
}

/// The serve loop's handle on the transport.
#[derive(Debug)]
pub struct Session {
    events: Arc<Events>,
    stop_reading: CancellationToken,
    closing: CancellationToken,
    finishing: CancellationToken,
    writer: Option<JoinHandle<()>>,
}

/// How the transport ended badly, for the one error message the process prints.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// Reading stdin failed (not its normal end).
    #[error("cannot read stdin: {0}")]
    Read(io::Error),
    /// Writing stdout failed for a reason other than the client closing it.
    #[error("cannot write to stdout: {0}")]
    Write(io::Error),
}

impl Session {
    /// Resolves when stdin has ended (or failed, or reading was stopped).
    pub async fn input_ended(&self) {
        self.events.input_ended.cancelled().await;
    }

    /// Resolves once reading has stopped and rmcp has taken every message read (so each has
    /// been dispatched to a handler).
    pub async fn input_drained(&self) {
        self.events.drained.cancelled().await;
    }

    /// Resolves when stdout can no longer be written.
    pub async fn output_closed(&self) {
        self.events.output_closed.cancelled().await;
    }

    /// True once stdout can no longer be written.
    pub fn output_is_closed(&self) -> bool {
        self.events.output_closed.is_cancelled()
    }

    /// True when stdin reached its end (not stopped by [`Session::stop_reading`]).
    pub fn reached_eof(&self) -> bool {
        self.events.eof.load(Ordering::Acquire)
    }

    /// True once an `initialize` request has been handed to rmcp.
    pub fn initialize_seen(&self) -> bool {
        self.events.initialize_seen.load(Ordering::Acquire)
    }

    /// Stops reading stdin; rmcp keeps serving what it has until [`Session::close_input`].
    pub fn stop_reading(&self) {
        self.stop_reading.cancel();
    }

    /// Tells rmcp the input has ended (once it has taken what was already read), so its
    /// service loop finishes.
    pub fn close_input(&self) {
        self.stop_reading.cancel();
        self.closing.cancel();
    }

    /// Stops reading and writes out every queued line (bounded), then reports a read or write
    /// failure other than the client closing stdout, if there was one.
    pub async fn finish(mut self) -> Result<(), TransportError> {
        self.close_input();
        self.finishing.cancel();
        if let Some(writer) = self.writer.take()
            && tokio::time::timeout(FLUSH_WAIT, writer).await.is_err()
        {
            tracing::warn!("gave up writing the last lines to stdout");
        }
        let take =
            |m: &Mutex<Option<io::Error>>| m.lock().unwrap_or_else(PoisonError::into_inner).take();
        if let Some(e) = take(&self.events.write_error) {
            return Err(TransportError::Write(e));
        }
        if let Some(e) = take(&self.events.read_error) {
            return Err(TransportError::Read(e));
        }
        Ok(())
    }
}

/// Starts the transport on the process's stdin and stdout (non-blocking pipes where possible).
/// `server` is where a malformed `tools/call` is audited.
pub fn stdio(server: BridgeServer) -> (FilteredStdio, Session) {
    let (input, output) = rmcp::transport::io::stdio_pipes();
    spawn(input, output, server)
}

/// Starts the reader and writer tasks on any input and output.
pub fn spawn<R, W>(input: R, output: W, server: BridgeServer) -> (FilteredStdio, Session)
where
    R: AsyncRead + Send + Unpin + 'static,
    W: AsyncWrite + Send + Unpin + 'static,
{
    let events = Arc::new(Events::default());
    let (in_tx, in_rx) = mpsc::channel(INBOUND_QUEUE);
    let (out_tx, out_rx) = mpsc::channel(OUTBOUND_QUEUE);
    let out = Outbound { tx: out_tx };
    let stop_reading = CancellationToken::new();
    let closing = CancellationToken::new();
    let finishing = CancellationToken::new();
    tokio::spawn(read_loop(
        input,
        in_tx,
        out.clone(),
        server,
        Arc::clone(&events),
        stop_reading.clone(),
    ));
    let writer = tokio::spawn(write_loop(
        output,
        out_rx,
        Arc::clone(&events),
        finishing.clone(),
    ));
    (
        FilteredStdio {
            inbound: in_rx,
            out,
            closing: closing.clone(),
            events: Arc::clone(&events),
        },
        Session {
            events,
            stop_reading,
            closing,
            finishing,
            writer: Some(writer),
        },
    )
}

async fn read_loop<R: AsyncRead + Unpin>(
    input: R,
    inbound: mpsc::Sender<ClientJsonRpcMessage>,
    out: Outbound,
    server: BridgeServer,
    events: Arc<Events>,
    stop: CancellationToken,
) {
    let mut lines = LineReader::new(
        BufReader::with_capacity(READ_BUFFER, input),
        MAX_MESSAGE_BYTES,
    );
    loop {
        let next = tokio::select! {
            biased;
            () = stop.cancelled() => break,
            next = lines.next() => next,
        };
        let verdict = match next {
            Ok(Next::Line(line)) => screen::screen(line),
            Ok(Next::Oversized { head, tail, len }) => {
                Verdict::Answer(screen::oversized(head, tail, len))
            }
            Ok(Next::Eof) => {
                events.eof.store(true, Ordering::Release);
                break;
            }
            Err(e) => {
                *events
                    .read_error
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner) = Some(e);
                events.eof.store(true, Ordering::Release);
                break;
            }
        };
        match verdict {
            Verdict::Forward(msg) => {
                note_initialize(&events, &msg);
                let sent = tokio::select! {
                    biased;
                    () = stop.cancelled() => break,
                    sent = inbound.send(*msg) => sent,
                };
                if sent.is_err() {
                    break;
                }
            }
            Verdict::Skip => {}
            Verdict::Answer(rejection) => {
                tracing::info!(id = %rejection.id, code = rejection.code, "rejected a message: {}", rejection.message);
                out.send_line(rejection.to_line()).await;
            }
            Verdict::BadToolCall {
                rejection,
                tool,
                args,
            } => {
                tracing::info!(id = %rejection.id, "rejected a tools/call: {}", rejection.message);
                let answer = match record_bad_call(&server, &events, tool, args, &rejection).await {
                    Ok(()) => rejection,
                    Err(message) => Rejection {
                        code: INTERNAL_ERROR,
                        message,
                        ..rejection
                    },
                };
                out.send_line(answer.to_line()).await;
            }
        }
    }
    drop(inbound);
    events.input_ended.cancel();
}

/// Remembers the client's name and version from `initialize`, for the filter's own records.
fn note_initialize(events: &Events, msg: &ClientJsonRpcMessage) {
    if let JsonRpcMessage::Request(r) = msg
        && let ClientRequest::InitializeRequest(init) = &r.request
    {
        let info = &init.params.client_info;
        *events.client.lock().unwrap_or_else(PoisonError::into_inner) = Some(ClientInfo {
            name: info.name.clone(),
            version: info.version.clone(),
        });
        events.initialize_seen.store(true, Ordering::Release);
    }
}

/// The `tool_call` record of a call that never reached the gate: outcome `error`, the tool when
/// it was named, the arguments as received. Like the gate, an unwritable log withholds the
/// answer's usual form: the caller answers with the audit failure instead.
async fn record_bad_call(
    server: &BridgeServer,
    events: &Events,
    tool: Option<String>,
    args: Option<serde_json::Value>,
    rejection: &Rejection,
) -> Result<(), String> {
    let state = server.state();
    let entry = Entry {
        client: events
            .client
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone(),
        actor: state.actor.read().ok().map(|a| a.clone()),
        tool,
        args,
        outcome: Outcome::Error,
        error: Some(rejection.message.clone()),
        ..Entry::event("tool_call")
    };
    state.audit.append(entry).await.map(|_| ()).map_err(|e| {
        tracing::error!(error = %e, "audit record could not be written");
        format!(
            "the audit log could not be written ({e}); no call goes unrecorded, so this one was refused — fix the audit path or disk and retry"
        )
    })
}

async fn write_loop<W: AsyncWrite + Unpin>(
    mut output: W,
    mut lines: mpsc::Receiver<Vec<u8>>,
    events: Arc<Events>,
    finishing: CancellationToken,
) {
    loop {
        let line = tokio::select! {
            biased;
            line = lines.recv() => match line {
                Some(line) => line,
                None => break,
            },
            () = finishing.cancelled() => break,
        };
        // Write whatever else is already queued before one flush.
        let mut written = output.write_all(&line).await;
        while written.is_ok() {
            match lines.try_recv() {
                Ok(more) => written = output.write_all(&more).await,
                Err(_) => break,
            }
        }
        if let Err(e) = written.and(output.flush().await) {
            events.write_failed(e);
            return;
        }
    }
    if let Err(e) = output.flush().await {
        events.write_failed(e);
    }
}
