//! One stdin line in, one decision out: the message for rmcp (after harmless repairs), nothing
//! (blank lines, notifications that cannot be read), or the JSON-RPC error that answers it.
//! Pure: no I/O, so every rule is unit-tested on byte strings.

use std::borrow::Cow;

use rmcp::model::{ClientJsonRpcMessage, ClientRequest, JsonRpcMessage};
use serde_json::{Map, Value};

use super::salvage::{repair_surrogates, scan_id, scan_tail_id};

/// The largest message accepted, in bytes, not counting the newline: rmcp's own stdio limit
/// (`DEFAULT_MAX_LINE_LENGTH`), so a message that fits over HTTP fits here.
pub const MAX_MESSAGE_BYTES: usize = 16 * 1024 * 1024;

/// The client-to-server methods rmcp reads into typed requests (rmcp 3.9's `ClientRequest`).
const TYPED_METHODS: &[&str] = &[
    "initialize",
    "ping",
    "server/discover",
    "completion/complete",
    "logging/setLevel",
    "prompts/get",
    "prompts/list",
    "resources/list",
    "resources/templates/list",
    "resources/read",
    "resources/subscribe",
    "resources/unsubscribe",
    "resources/directory/read",
    "subscriptions/listen",
    "tools/call",
    "tools/list",
    "tasks/get",
    "tasks/update",
    "tasks/cancel",
    "skills/list",
    "skills/get",
];

/// JSON-RPC: the line is not JSON (or not UTF-8, too deep, too large).
pub const PARSE_ERROR: i32 = -32700;
/// JSON-RPC: JSON, but not a request object.
pub const INVALID_REQUEST: i32 = -32600;
/// JSON-RPC: a request whose `params` do not fit its method.
pub const INVALID_PARAMS: i32 = -32602;

/// What to do with one line.
#[derive(Debug)]
pub enum Verdict {
    /// Hand this message to rmcp.
    Forward(Box<ClientJsonRpcMessage>),
    /// Nothing: a blank line, or a notification that cannot be read (notifications are never
    /// answered).
    Skip,
    /// Answer with this error; rmcp never sees the line.
    Answer(Rejection),
    /// A `tools/call` that cannot reach a tool: answer with this error (-32602) and leave a
    /// `tool_call` audit record with outcome `error`.
    BadToolCall {
        /// The answer.
        rejection: Rejection,
        /// `params.name` when it was a string.
        tool: Option<String>,
        /// The arguments as received: `params.arguments`, or `params` itself when that is not
        /// an object; `None` when absent.
        args: Option<Value>,
    },
}

/// A JSON-RPC error answer that the filter writes itself.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejection {
    /// The request's id as sent (string or number), or null when it cannot be recovered.
    pub id: Value,
    /// JSON-RPC error code.
    pub code: i32,
    /// What was wrong, in words the client author can act on.
    pub message: String,
}

impl Rejection {
    fn new(id: Value, code: i32, message: impl Into<String>) -> Self {
        Self {
            id,
            code,
            message: message.into(),
        }
    }

    /// The answer as one newline-terminated JSON-RPC line.
    pub fn to_line(&self) -> Vec<u8> {
        /// The wire form, members in the usual order.
        #[derive(serde::Serialize)]
        struct Answer<'a> {
            jsonrpc: &'static str,
            id: &'a Value,
            error: ErrorBody<'a>,
        }
        #[derive(serde::Serialize)]
        struct ErrorBody<'a> {
            code: i32,
            message: &'a str,
        }
        let answer = Answer {
            jsonrpc: "2.0",
            id: &self.id,
            error: ErrorBody {
                code: self.code,
                message: &self.message,
            },
        };
        // Serializing plain strings and numbers cannot fail; the fallback keeps the promise
        // of one JSON-RPC line anyway.
        let mut line = serde_json::to_vec(&answer).unwrap_or_else(|_| {
            br#"{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"parse error"}}"#
                .to_vec()
        });
        line.push(b'\n');
        line
    }
}

/// Decides what one line (without its `\n`) becomes.
pub fn screen(line: &[u8]) -> Verdict {
    let line = trim_line(line);
    if line.iter().all(u8::is_ascii_whitespace) {
        return Verdict::Skip;
    }
    let text = match std::str::from_utf8(line) {
        Ok(text) => text,
        Err(e) => {
            let at = e.valid_up_to();
            let byte = line.get(at).copied().unwrap_or_default();
            return Verdict::Answer(Rejection::new(
                scan_id(line).unwrap_or(Value::Null),
                PARSE_ERROR,
                format!(
                    "parse error: the message is not valid UTF-8 (byte {byte:#04x} at offset {at}); send UTF-8 JSON"
                ),
            ));
        }
    };
    let value = match serde_json::from_str::<Value>(text) {
        Ok(v) => v,
        Err(first) => {
            let reparsed = match repair_surrogates(text) {
                Cow::Owned(fixed) => serde_json::from_str::<Value>(&fixed).inspect(|_| {
                    tracing::debug!("replaced a lone surrogate escape with U+FFFD");
                }),
                Cow::Borrowed(_) => Err(first),
            };
            match reparsed {
                Ok(v) => v,
                Err(e) => {
                    return Verdict::Answer(Rejection::new(
                        scan_id(line).unwrap_or(Value::Null),
                        PARSE_ERROR,
                        format!("parse error: {}", describe(&e)),
                    ));
                }
            }
        }
    };
    classify(value)
}

/// The answer for a line longer than [`MAX_MESSAGE_BYTES`], which was discarded unread: the id
/// comes from the first bytes (`head`) or, failing that, the last (`tail`, where the TypeScript
/// SDK puts it).
pub fn oversized(head: &[u8], tail: &[u8], len: u64) -> Rejection {
    let id = scan_id(trim_line(head))
        .or_else(|| scan_tail_id(tail))
        .unwrap_or(Value::Null);
    Rejection::new(
        id,
        PARSE_ERROR,
        format!(
            "parse error: the message is {len} bytes, over the 16 MiB limit ({MAX_MESSAGE_BYTES} bytes), and was discarded; send smaller arguments"
        ),
    )
}

/// Drops what comes before the JSON on a line written by a careless client (NUL bytes, byte
/// order marks) and a `\r` before the newline.
fn trim_line(mut line: &[u8]) -> &[u8] {
    loop {
        if let Some(rest) = line.strip_prefix(b"\0") {
            line = rest;
        } else if let Some(rest) = line.strip_prefix(b"\xEF\xBB\xBF") {
            line = rest;
        } else {
            break;
        }
    }
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// serde_json's words, with its recursion limit said plainly.
fn describe(e: &serde_json::Error) -> String {
    let text = e.to_string();
    if text.starts_with("recursion limit exceeded") {
        format!(
            "nesting deeper than 128 levels (line {} column {})",
            e.line(),
            e.column()
        )
    } else {
        text
    }
}

fn classify(value: Value) -> Verdict {
    let Value::Object(map) = &value else {
        let what = if value.is_array() {
            "a JSON array (batches are not supported: send one message per line)"
        } else {
            "not a JSON-RPC message object"
        };
        return Verdict::Answer(Rejection::new(
            Value::Null,
            INVALID_REQUEST,
            format!("invalid request: {what}"),
        ));
    };
    let id = map.get("id");
    let answer_id = match id {
        Some(v @ (Value::String(_) | Value::Number(_))) => v.clone(),
        _ => Value::Null,
    };
    let Some(method) = map.get("method") else {
        if id.is_some() && (map.contains_key("result") || map.contains_key("error")) {
            // The client answering one of our requests: never answered back.
            return match serde_json::from_value::<ClientJsonRpcMessage>(value) {
                Ok(msg) => Verdict::Forward(Box::new(msg)),
                Err(e) => {
                    tracing::warn!("ignoring a response from the client that cannot be read: {e}");
                    Verdict::Skip
                }
            };
        }
        return Verdict::Answer(Rejection::new(
            answer_id,
            INVALID_REQUEST,
            "invalid request: no \"method\"",
        ));
    };
    if id.is_none() {
        // A notification: forwarded when it reads, otherwise dropped (never answered).
        return match serde_json::from_value::<ClientJsonRpcMessage>(value) {
            Ok(msg) => Verdict::Forward(Box::new(msg)),
            Err(e) => {
                tracing::debug!("ignoring a notification that cannot be read: {e}");
                Verdict::Skip
            }
        };
    }
    let Some(method) = method.as_str().map(str::to_owned) else {
        return Verdict::Answer(Rejection::new(
            answer_id,
            INVALID_REQUEST,
            format!(
                "invalid request: \"method\" must be a string, not {}",
                kind(method)
            ),
        ));
    };
    if map.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return Verdict::Answer(Rejection::new(
            answer_id,
            INVALID_REQUEST,
            "invalid request: \"jsonrpc\" must be \"2.0\"",
        ));
    }
    let id_ok = match id {
        Some(Value::String(_)) => true,
        Some(Value::Number(n)) => n.as_i64().is_some(),
        _ => false,
    };
    if !id_ok {
        return Verdict::Answer(Rejection::new(
            answer_id,
            INVALID_REQUEST,
            "invalid request: \"id\" must be a string or an integer",
        ));
    }
    let tool_call = (method == "tools/call").then(|| received_tool_call(map));
    if let Some((tool, args, Some(problem))) = &tool_call {
        return Verdict::BadToolCall {
            rejection: Rejection::new(answer_id, INVALID_PARAMS, problem.clone()),
            tool: tool.clone(),
            args: args.clone(),
        };
    }
    let parsed = serde_json::from_value::<ClientJsonRpcMessage>(value).map_err(|e| e.to_string());
    // rmcp reads a request for one of its own methods whose params do not fit as a custom
    // request, which it would answer "method not found".
    let parsed = match parsed {
        Ok(JsonRpcMessage::Request(r))
            if matches!(r.request, ClientRequest::CustomRequest(_))
                && TYPED_METHODS.contains(&method.as_str()) =>
        {
            Err("the params do not match the method's schema".to_string())
        }
        other => other,
    };
    match parsed {
        Ok(msg) => Verdict::Forward(Box::new(msg)),
        Err(e) => {
            let rejection = Rejection::new(
                answer_id,
                INVALID_PARAMS,
                format!("invalid params for {method}: {e}"),
            );
            match tool_call {
                Some((tool, args, _)) => Verdict::BadToolCall {
                    rejection,
                    tool,
                    args,
                },
                None => Verdict::Answer(rejection),
            }
        }
    }
}

/// A `tools/call` request's tool name, its arguments as received, and what is wrong with its
/// shape (`None` when `params` is `{"name": string, "arguments": object?}`).
fn received_tool_call(map: &Map<String, Value>) -> (Option<String>, Option<Value>, Option<String>) {
    const SHAPE: &str = "{\"name\": <tool>, \"arguments\": {…}}";
    match map.get("params") {
        None | Some(Value::Null) => (
            None,
            None,
            Some(format!("invalid params: tools/call needs params {SHAPE}")),
        ),
        Some(Value::Object(params)) => {
            let name = params.get("name");
            let tool = name.and_then(Value::as_str).map(str::to_owned);
            let args = params.get("arguments").cloned();
            let problem = match (name, &args) {
                (None, _) => Some(
                    "invalid params: tools/call needs \"name\", the tool to call (see tools/list)"
                        .to_string(),
                ),
                (Some(n), _) if !n.is_string() => Some(format!(
                    "invalid params: \"name\" must be a string, not {}",
                    kind(n)
                )),
                (_, Some(a)) if !(a.is_object() || a.is_null()) => Some(format!(
                    "invalid params: \"arguments\" must be an object of the tool's parameters, not {}",
                    kind(a)
                )),
                _ => None,
            };
            (tool, args, problem)
        }
        Some(other) => (
            None,
            Some(other.clone()),
            Some(format!(
                "invalid params: tools/call params must be an object {SHAPE}, not {}",
                kind(other)
            )),
        ),
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
#[path = "screen_tests.rs"]
mod tests;
