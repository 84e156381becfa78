//! Protocol trace lines, connection prefixes, CONNECT redaction and Go
//! quoting. Expected strings were copied from nats-server 2.15.1 run with
//! `-DV` (and 2.9.10 where the two agree).

use std::io::Write;
use std::sync::{Arc, Mutex};

use nats_server::log::{
    format_op_trace, format_payload_trace, go_quote, ConnPrefix, LogConfig, Logger, TraceDir,
};

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn logger(trace: bool, max: usize) -> (Logger, Capture) {
    let cap = Capture::default();
    let l = Logger::builder(LogConfig {
        trace,
        logtime: false,
        max_traced_msg_len: max,
        ..LogConfig::default()
    })
    .writer(cap.clone())
    .build()
    .unwrap();
    (l, cap)
}

fn client() -> ConnPrefix {
    ConnPrefix::client("127.0.0.1:34198".parse().unwrap(), 4)
}

/// The message part of each captured line (after `[pid] [TRC] `).
fn messages(cap: &Capture) -> Vec<String> {
    let text = String::from_utf8(cap.0.lock().unwrap().clone()).unwrap();
    let head = format!("[{}] [TRC] ", std::process::id());
    text.lines()
        .map(|l| l.strip_prefix(&head).expect(l).to_string())
        .collect()
}

#[test]
fn op_traces_in_out_internal() {
    let (l, cap) = logger(true, 0);
    let p = client();
    let d = p.described("1.2.3", "python", "svc-a", None);
    l.trace_op(&d, TraceDir::In, b"SUB foo 1");
    l.trace_op(&d, TraceDir::In, b"PUB foo r 5");
    l.trace_op(&d, TraceDir::Out, b"MSG foo 1 r 5");
    l.trace_op(&d, TraceDir::In, b"PING");
    l.trace_op(&d, TraceDir::Out, b"-ERR Unknown Protocol Operation");
    l.trace_op(&d, TraceDir::Internal, b"DELSUB 1");
    l.flush().unwrap();
    let q = r#"127.0.0.1:34198 - cid:4 - "v1.2.3:python:svc-a" - "#;
    assert_eq!(
        messages(&cap),
        [
            format!("{q}<<- [SUB foo 1]"),
            format!("{q}<<- [PUB foo r 5]"),
            format!("{q}->> [MSG foo 1 r 5]"),
            format!("{q}<<- [PING]"),
            format!("{q}->> [-ERR Unknown Protocol Operation]"),
            format!("{q}<-> [DELSUB 1]"),
        ]
    );
}

#[test]
fn connect_is_redacted_in_trace() {
    let (l, cap) = logger(true, 0);
    l.trace_op(
        &client(),
        TraceDir::In,
        br#"CONNECT {"verbose":false,"pedantic":false,"user":"bob","pass":"s3cr3t","auth_token":"tok","name":"svc-a","lang":"python","version":"1.2.3","password":"pw2"}"#,
    );
    l.trace_op(&client(), TraceDir::In, br#"connect {"auth_token":"t0k"}"#);
    l.flush().unwrap();
    assert_eq!(
        messages(&cap),
        [
            r#"127.0.0.1:34198 - cid:4 - <<- [CONNECT {"verbose":false,"pedantic":false,"user":"bob","pass":"[REDACTED]","auth_token":"[REDACTED]","name":"svc-a","lang":"python","version":"1.2.3","password":"[REDACTED]"}]"#,
            r#"127.0.0.1:34198 - cid:4 - <<- [connect {"auth_token":"[REDACTED]"}]"#,
        ]
    );
}

#[test]
fn payload_traces_quote_like_go() {
    let (l, cap) = logger(true, 0);
    let p = client();
    l.trace_payload(&p, TraceDir::In, b"hello");
    l.trace_payload(
        &p,
        TraceDir::In,
        b"a\r\n\x00\t\x07\x7f\xff\xfe\"\\\xe2\x82\xac\xf0\x9f\x98\x80 z\xc3",
    );
    l.trace_payload(&p, TraceDir::Out, "\u{a0}\u{301}x\u{200b}".as_bytes());
    l.trace_payload(&p, TraceDir::In, b""); // no line, as 2.15
    l.flush().unwrap();
    assert_eq!(
        messages(&cap),
        [
            r#"127.0.0.1:34198 - cid:4 - <<- MSG_PAYLOAD: ["hello"]"#.to_string(),
            "127.0.0.1:34198 - cid:4 - <<- MSG_PAYLOAD: [\"a\\r\\n\\x00\\t\\a\\x7f\\xff\\xfe\\\"\\\\€😀 z\\xc3\"]".to_string(),
            "127.0.0.1:34198 - cid:4 - ->> MSG_PAYLOAD: [\"\\u00a0\u{301}x\\u200b\"]".to_string(),
        ]
    );
}

#[test]
fn payload_truncation_matches_2_15() {
    // max_traced_msg_len: 4, payloads and lines from nats-server 2.15.1.
    let cases: [(&[u8], &str); 8] = [
        (b"hello", r#"["hell..."]"#),
        (b"0123456789", r#"["0123..."]"#),
        (b"\n\n\n\n\n\n", r#"["\n\n\n\n..."]"#),
        (b"\xe2\x82\xac\xe2\x82\xac", "[\"€\\xe2...\"]"),
        (b"ab\xe2\x82\xac", r#"["ab\xe2\x82..."]"#),
        (b"abcd", r#"["abcd"]"#),
        (b"abcde", r#"["abcd..."]"#),
        (
            "\u{a0}\u{301}x\u{200b}".as_bytes(),
            "[\"\\u00a0\u{301}...\"]",
        ),
    ];
    let p = client();
    for (payload, want) in cases {
        let got = format_payload_trace(&p, TraceDir::In, payload, 4).unwrap();
        assert_eq!(
            got,
            format!("127.0.0.1:34198 - cid:4 - <<- MSG_PAYLOAD: {want}")
        );
    }
    // Through the logger, the limit comes from the config.
    let (l, cap) = logger(true, 4);
    l.trace_payload(&p, TraceDir::Out, b"abcde");
    l.flush().unwrap();
    assert_eq!(
        messages(&cap),
        [r#"127.0.0.1:34198 - cid:4 - ->> MSG_PAYLOAD: ["abcd..."]"#]
    );
    assert_eq!(format_payload_trace(&p, TraceDir::In, b"", 4), None);
}

#[test]
fn disabled_trace_writes_nothing() {
    let (l, cap) = logger(false, 0);
    l.trace_op(&client(), TraceDir::In, b"PING");
    l.trace_payload(&client(), TraceDir::In, b"hello");
    l.flush().unwrap();
    assert!(cap.0.lock().unwrap().is_empty());
}

#[test]
fn prefixes() {
    let base = ConnPrefix::client("127.0.0.1:54321".parse().unwrap(), 5);
    assert_eq!(base.to_string(), "127.0.0.1:54321 - cid:5");
    assert_eq!(
        base.described("1.2.3", "go", "svc-a", None).to_string(),
        r#"127.0.0.1:54321 - cid:5 - "v1.2.3:go:svc-a""#
    );
    assert_eq!(
        base.described("", "", "svc-a", None).to_string(),
        r#"127.0.0.1:54321 - cid:5 - "svc-a""#
    );
    assert_eq!(base.described("", "", "", None), base);
    // Name with a quote, as 2.9.10 printed it: "x\"y".
    assert_eq!(
        base.described("", "", "x\"y", None).to_string(),
        r#"127.0.0.1:54321 - cid:5 - "x\"y""#
    );
    // 2.12+ identity, as 2.15.1 printed it.
    let d = base.described("1.2.3", "python", "svc-a", Some("$G/user:bob"));
    assert_eq!(
        d.to_string(),
        r#"127.0.0.1:54321 - cid:5 - "v1.2.3:python:svc-a" - "$G/user:bob""#
    );
    // Describing again replaces, never stacks.
    assert_eq!(
        d.described("", "", "n", None).to_string(),
        r#"127.0.0.1:54321 - cid:5 - "n""#
    );
    assert_eq!(
        base.described("", "", "", Some("$G/token")).to_string(),
        r#"127.0.0.1:54321 - cid:5 - "$G/token""#
    );
    let r = ConnPrefix::route("10.0.0.5:6222".parse().unwrap(), 2);
    assert_eq!(r.as_str(), "10.0.0.5:6222 - rid:2");
    let v6 = ConnPrefix::client("[::1]:4222".parse().unwrap(), 9);
    assert_eq!(v6.as_str(), "[::1]:4222 - cid:9");
}

#[test]
fn op_trace_formatting() {
    let p = client();
    assert_eq!(
        format_op_trace(&p, TraceDir::In, b"RMSG $G foo + r grp 5"),
        "127.0.0.1:34198 - cid:4 - <<- [RMSG $G foo + r grp 5]"
    );
    // An outbound CONNECT (a solicited route's credentials) is redacted too;
    // nats-server never traces it at all.
    assert_eq!(
        format_op_trace(
            &p,
            TraceDir::Out,
            br#"CONNECT {"user":"ruser","pass":"T0pS3cr3t"}"#
        ),
        r#"127.0.0.1:34198 - cid:4 - ->> [CONNECT {"user":"ruser","pass":"[REDACTED]"}]"#
    );
    // Only CONNECT lines are redacted: a PUB to a subject named "pass:" is not.
    assert_eq!(
        format_op_trace(&p, TraceDir::In, b"PUB pass:x 5"),
        "127.0.0.1:34198 - cid:4 - <<- [PUB pass:x 5]"
    );
}

#[test]
fn go_quote_table() {
    // Each right-hand side is what nats-server 2.9.10 printed for the bytes.
    let cases: [(&[u8], &str); 9] = [
        (b"\x08\x0c\x0b\x1b", r#""\b\f\v\x1b""#),
        ("\u{e0001}\u{e000}".as_bytes(), r#""\U000e0001\ue000""#),
        (b"\xf4\x8f\xbf\xbf", r#""\U0010ffff""#),
        (b"\xc0\x80", r#""\xc0\x80""#),
        (b"\xed\xa0\x80", r#""\xed\xa0\x80""#),
        ("\u{fffd}".as_bytes(), "\"\u{fffd}\""),
        (b"\xe2\x82", r#""\xe2\x82""#),
        (
            "\u{301}a\u{ad}\u{2028}\u{3000}\u{85}".as_bytes(),
            "\"\u{301}a\\u00ad\\u2028\\u3000\\u0085\"",
        ),
        ("😀\u{378}".as_bytes(), "\"😀\\u0378\""),
    ];
    for (bytes, want) in cases {
        assert_eq!(go_quote(bytes), want, "{bytes:x?}");
    }
}
