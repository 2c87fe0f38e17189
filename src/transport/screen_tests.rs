use rmcp::model::JsonRpcMessage;
use serde_json::json;

use super::*;

fn answer(line: &[u8]) -> Rejection {
    match screen(line) {
        Verdict::Answer(r) => r,
        other => panic!(
            "{}: expected an answer, got {other:?}",
            String::from_utf8_lossy(line)
        ),
    }
}

fn forwarded(line: &[u8]) -> ClientJsonRpcMessage {
    match screen(line) {
        Verdict::Forward(m) => *m,
        other => panic!(
            "{}: expected a message, got {other:?}",
            String::from_utf8_lossy(line)
        ),
    }
}

#[test]
fn good_messages_pass_through() {
    let m = forwarded(br#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#);
    assert!(matches!(m, JsonRpcMessage::Request(_)));
    let m = forwarded(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#);
    assert!(matches!(m, JsonRpcMessage::Notification(_)));
    let m = forwarded(br#"{"jsonrpc":"2.0","id":"a","result":{}}"#);
    assert!(matches!(m, JsonRpcMessage::Response(_)));
    let m = forwarded(
        br#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"jira_search","arguments":null}}"#,
    );
    assert!(matches!(m, JsonRpcMessage::Request(_)));
    // Unknown methods are rmcp's to answer (-32601).
    forwarded(br#"{"jsonrpc":"2.0","id":3,"method":"nope/nothing","params":{}}"#);
}

#[test]
fn blank_lines_and_unreadable_notifications_are_skipped() {
    for line in [&b""[..], b"   ", b"\r", b"\0\0"] {
        assert!(matches!(screen(line), Verdict::Skip), "{line:?}");
    }
    assert!(matches!(
        screen(br#"{"jsonrpc":"2.0","method":7,"params":{}}"#),
        Verdict::Skip
    ));
}

#[test]
fn prefixes_and_carriage_returns_are_stripped() {
    forwarded(b"\0{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}");
    forwarded(b"\xEF\xBB\xBF\0\xEF\xBB\xBF{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}\r");
}

#[test]
fn lone_surrogates_become_replacement_characters() {
    let m = forwarded(
        br#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"t","arguments":{"q":"cut \ud83d","r":"\udc00x","s":"\ud83d\ude00"}}}"#,
    );
    let v = serde_json::to_value(&m).unwrap();
    assert_eq!(v["params"]["arguments"]["q"], "cut \u{fffd}");
    assert_eq!(v["params"]["arguments"]["r"], "\u{fffd}x");
    assert_eq!(v["params"]["arguments"]["s"], "\u{1f600}");
}

#[test]
fn surrogate_repair_leaves_pairs_and_escaped_backslashes_alone() {
    for same in [
        r#""\ud83d\ude00""#,
        r#""\\ud800""#,
        r#""\u00e9 \n \" \\""#,
        "no escapes at all",
        r#""\u12""#,
    ] {
        assert!(
            matches!(repair_surrogates(same), Cow::Borrowed(_)),
            "{same}"
        );
    }
    assert_eq!(repair_surrogates(r#""\uD800""#), r#""\ufffd""#);
    assert_eq!(
        repair_surrogates(r#""\ud83d\ud83d\ude00 \\\udc01""#),
        r#""\ufffd\ud83d\ude00 \\\ufffd""#
    );
    assert_eq!(repair_surrogates(r#""é\ud800é""#), r#""é\ufffdé""#);
}

#[test]
fn what_cannot_be_parsed_is_answered_32700_with_the_id_when_it_can_be_found() {
    let cases: [(&[u8], Value); 8] = [
        (br#"{"jsonrpc":"2.0","id":5,"method":"ping",}"#, json!(5)),
        (br#"{"jsonrpc":"2.0","id":"x-1","method":"#, json!("x-1")),
        (
            br#"{"method":"ping","params":{"a":[1,2,],"b":"}"},"jsonrpc":"2.0","id":-3}"#,
            json!(-3),
        ),
        (
            b"{\"jsonrpc\":\"2.0\",\"id\":6,\"params\":{\"x\":\"\xff\"}}",
            json!(6),
        ),
        (b"hello there", Value::Null),
        (br#"{"params":{"id":9},"method":"ping""#, Value::Null),
        (br#"{"jsonrpc":"2.0","id":"#, Value::Null),
        (
            br#"{"jsonrpc":"2.0","id":null,"method":"ping",}"#,
            Value::Null,
        ),
    ];
    for (line, id) in cases {
        let r = answer(line);
        assert_eq!(r.code, PARSE_ERROR, "{}", String::from_utf8_lossy(line));
        assert_eq!(r.id, id, "{}", String::from_utf8_lossy(line));
        assert!(r.message.starts_with("parse error: "), "{}", r.message);
    }
    assert!(
        answer(b"{\"id\":1,\"x\":\"\xc3\"}")
            .message
            .contains("UTF-8")
    );
}

#[test]
fn nesting_deeper_than_128_is_a_parse_error_that_says_so() {
    let deep = format!(
        r#"{{"jsonrpc":"2.0","id":8,"method":"ping","params":{{"x":{}0{}}}}}"#,
        "[".repeat(300),
        "]".repeat(300)
    );
    let r = answer(deep.as_bytes());
    assert_eq!((r.code, r.id.clone()), (PARSE_ERROR, json!(8)));
    assert!(r.message.contains("deeper than 128"), "{}", r.message);
}

#[test]
fn well_formed_json_that_is_not_a_request_is_32600() {
    for (line, id) in [
        (&br#"[1,2,3]"#[..], Value::Null),
        (br#"{}"#, Value::Null),
        (br#"42"#, Value::Null),
        (br#"{"jsonrpc":"2.0","id":99,"method":42}"#, json!(99)),
        (br#"{"jsonrpc":"1.0","id":4,"method":"ping"}"#, json!(4)),
        (br#"{"id":4,"method":"ping"}"#, json!(4)),
        (br#"{"jsonrpc":"2.0","id":1.5,"method":"ping"}"#, json!(1.5)),
        (
            br#"{"jsonrpc":"2.0","id":{"a":1},"method":"ping"}"#,
            Value::Null,
        ),
        (br#"{"jsonrpc":"2.0","id":12}"#, json!(12)),
    ] {
        let r = answer(line);
        assert_eq!(r.code, INVALID_REQUEST, "{}", String::from_utf8_lossy(line));
        assert_eq!(r.id, id, "{}", String::from_utf8_lossy(line));
    }
    assert!(answer(b"[1]").message.contains("batches"));
}

#[test]
fn a_known_method_with_params_of_the_wrong_shape_is_32602_with_its_id() {
    let r = answer(br#"{"jsonrpc":"2.0","id":"r","method":"resources/read","params":{"uri":5}}"#);
    assert_eq!((r.code, r.id), (INVALID_PARAMS, json!("r")));
    assert!(r.message.contains("resources/read"), "{}", r.message);
    let r = answer(br#"{"jsonrpc":"2.0","id":2,"method":"prompts/get","params":[]}"#);
    assert_eq!((r.code, r.id), (INVALID_PARAMS, json!(2)));
    // A tools/call rmcp would read as a custom request is a bad tool call too.
    assert!(matches!(
        screen(br#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"t","arguments":{},"inputResponses":5}}"#),
        Verdict::BadToolCall { .. }
    ));
}

#[test]
fn malformed_tool_calls_are_32602_with_tool_and_args_as_received() {
    let cases: [(&str, Option<&str>, Option<Value>); 7] = [
        (
            r#""params":"jira_search""#,
            None,
            Some(json!("jira_search")),
        ),
        (r#""params":null"#, None, None),
        (
            r#""params":{"arguments":{"a":1}}"#,
            None,
            Some(json!({"a": 1})),
        ),
        (r#""params":{"name":["x"]}"#, None, None),
        (
            r#""params":{"name":"jira_search","arguments":"q"}"#,
            Some("jira_search"),
            Some(json!("q")),
        ),
        (
            r#""params":{"name":"jira_search","arguments":[1]}"#,
            Some("jira_search"),
            Some(json!([1])),
        ),
        // The shape is right, but rmcp cannot read it (`_meta` must be an object).
        (
            r#""params":{"name":"jira_search","arguments":{},"_meta":7}"#,
            Some("jira_search"),
            Some(json!({})),
        ),
    ];
    for (params, want_tool, want_args) in cases {
        let line = format!(r#"{{"jsonrpc":"2.0","id":31,"method":"tools/call",{params}}}"#);
        match screen(line.as_bytes()) {
            Verdict::BadToolCall {
                rejection,
                tool,
                args,
            } => {
                assert_eq!(rejection.code, INVALID_PARAMS, "{line}");
                assert_eq!(rejection.id, json!(31), "{line}");
                assert_eq!(tool.as_deref(), want_tool, "{line}");
                assert_eq!(args, want_args, "{line}");
                assert!(rejection.message.starts_with("invalid params"), "{line}");
            }
            other => panic!("{line}: {other:?}"),
        }
    }
    // No params at all.
    assert!(matches!(
        screen(br#"{"jsonrpc":"2.0","id":1,"method":"tools/call"}"#),
        Verdict::BadToolCall {
            tool: None,
            args: None,
            ..
        }
    ));
}

#[test]
fn an_oversized_line_is_answered_with_the_id_from_its_head_or_tail() {
    let r = oversized(
        br#"{"jsonrpc":"2.0","id":30,"method":"tools/call","params":{"x":"aaaa"#,
        b"aaaa\"}}",
        20_000_000,
    );
    assert_eq!((r.code, r.id.clone()), (PARSE_ERROR, json!(30)));
    assert!(
        r.message.contains("16 MiB") && r.message.contains("20000000"),
        "{}",
        r.message
    );
    let r = oversized(
        br#"{"method":"ping","params":{"pad":"aaaa"#,
        br#"aaaa"}},"jsonrpc":"2.0","id":"t-31"}"#,
        1,
    );
    assert_eq!(r.id, json!("t-31"));
    let r = oversized(
        br#"{"method":"ping","params":{"pad":"aaaa"#,
        br#"aa", "id" : 17 }  "#,
        1,
    );
    assert_eq!(r.id, json!(17));
    // An `id` that belongs to a nested object at the end is not the request's.
    let r = oversized(
        br#"{"method":"ping","params":{"pad":"aaaa"#,
        br#"aa","x":{"id":3}}}"#,
        1,
    );
    assert_eq!(r.id, Value::Null);
    let r = oversized(b"\0zzzz", b"zzzz", 1);
    assert_eq!(r.id, Value::Null);
    let r = oversized(br#"{"pad":"a"#, br#"a \"id\":\"q\"}"#, 1);
    assert_eq!(
        r.id,
        Value::Null,
        "an escaped quote inside a string is not a member"
    );
}

#[test]
fn answers_are_one_json_rpc_line() {
    let r = answer(b"nope");
    let line = r.to_line();
    assert_eq!(line.iter().filter(|&&b| b == b'\n').count(), 1);
    assert!(line.ends_with(b"\n"));
    assert!(line.starts_with(br#"{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"#));
    let v: Value = serde_json::from_slice(&line).unwrap();
    assert_eq!(
        v,
        json!({"jsonrpc": "2.0", "id": null, "error": {"code": -32700, "message": r.message}})
    );
}
