//! Tests of `nats_server::parser` against the wire grammar and error table of
//! the client and route protocols (`docs/protocol.md`).
//!
//! Ops are compared decoded (owned bytes), not as spans, so the same expectations hold however
//! the input was split.

use bytes::{Buf, BytesMut};
use nats_server::parser::{Frame, Limits, Op, Parser, ProtocolError, Role, Span};

/// An op with its spans resolved to owned bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
enum D {
    Connect(Vec<u8>),
    Info(Vec<u8>),
    Pub {
        subject: Vec<u8>,
        reply: Option<Vec<u8>>,
        hdr: Option<usize>,
        payload: Vec<u8>,
    },
    Sub {
        subject: Vec<u8>,
        queue: Option<Vec<u8>>,
        sid: Vec<u8>,
    },
    Unsub {
        sid: Vec<u8>,
        max: Option<u64>,
    },
    Ping,
    Pong,
    Ok,
    Err(Vec<u8>),
    RSub {
        account: Vec<u8>,
        subject: Vec<u8>,
        queue: Option<Vec<u8>>,
        weight: u32,
    },
    RUnsub {
        account: Vec<u8>,
        subject: Vec<u8>,
        queue: Option<Vec<u8>>,
    },
    RMsg {
        account: Vec<u8>,
        subject: Vec<u8>,
        reply: Option<Vec<u8>>,
        queues: Option<Vec<Vec<u8>>>,
        hdr: Option<usize>,
        payload: Vec<u8>,
    },
}

fn b(s: &str) -> Vec<u8> {
    s.as_bytes().to_vec()
}

fn ob(s: &str) -> Option<Vec<u8>> {
    Some(b(s))
}

fn owned(buf: &[u8], s: Span) -> Vec<u8> {
    s.of(buf).to_vec()
}

fn decode(buf: &[u8], op: &Op) -> D {
    let o = |s: Span| owned(buf, s);
    let oo = |s: Option<Span>| s.map(|s| owned(buf, s));
    match *op {
        Op::Connect { json } => D::Connect(o(json)),
        Op::Info { json } => D::Info(o(json)),
        Op::Pub {
            subject,
            reply,
            header_len,
            payload,
        } => D::Pub {
            subject: o(subject),
            reply: oo(reply),
            hdr: header_len,
            payload: o(payload),
        },
        Op::Sub {
            subject,
            queue,
            sid,
        } => D::Sub {
            subject: o(subject),
            queue: oo(queue),
            sid: o(sid),
        },
        Op::Unsub { sid, max } => D::Unsub { sid: o(sid), max },
        Op::Ping => D::Ping,
        Op::Pong => D::Pong,
        Op::Ok => D::Ok,
        Op::Err { text } => D::Err(o(text)),
        Op::RSub {
            account,
            subject,
            queue,
            weight,
        } => D::RSub {
            account: o(account),
            subject: o(subject),
            queue: oo(queue),
            weight,
        },
        Op::RUnsub {
            account,
            subject,
            queue,
        } => D::RUnsub {
            account: o(account),
            subject: o(subject),
            queue: oo(queue),
        },
        Op::RMsg {
            account,
            subject,
            reply,
            queues,
            header_len,
            payload,
        } => D::RMsg {
            account: o(account),
            subject: o(subject),
            reply: oo(reply),
            queues: queues.map(|q| {
                q.of(buf)
                    .split(|c| c.is_ascii_whitespace())
                    .filter(|w| !w.is_empty())
                    .map(<[u8]>::to_vec)
                    .collect()
            }),
            hdr: header_len,
            payload: o(payload),
        },
    }
}

/// Every span of a frame lies inside `buf[..frame.len]`.
fn assert_spans_within(frame: &Frame) {
    for s in frame.op.spans().chain([frame.line]) {
        assert!(
            s.start <= s.end && s.end as usize <= frame.len,
            "{s:?} outside {frame:?}"
        );
    }
}

/// What a connection would see: the ops, and the error that ended the stream if any.
type Outcome = (Vec<D>, Option<ProtocolError>);

/// Feeds `chunks` one after the other through a `BytesMut` read buffer, like a connection.
fn feed<'a>(role: Role, limits: Limits, chunks: impl IntoIterator<Item = &'a [u8]>) -> Outcome {
    let mut parser = Parser::new(role, limits);
    let mut buf = BytesMut::new();
    let mut ops = Vec::new();
    for chunk in chunks {
        buf.extend_from_slice(chunk);
        loop {
            match parser.next(&buf) {
                Ok(Some(frame)) => {
                    assert!(frame.len > 0 && frame.len <= buf.len());
                    assert_spans_within(&frame);
                    ops.push(decode(&buf, &frame.op));
                    buf.advance(frame.len);
                }
                Ok(None) => break,
                Err(e) => return (ops, Some(e)),
            }
        }
    }
    (ops, None)
}

fn client(input: &[u8]) -> Outcome {
    feed(Role::Client, Limits::default(), [input])
}

/// Parses a complete, valid stream and returns its ops.
fn ok(role: Role, input: &str) -> Vec<D> {
    let (ops, err) = feed(role, Limits::default(), [input.as_bytes()]);
    assert_eq!(err, None, "unexpected error for {input:?}");
    ops
}

/// Parses a stream that must fail after the given number of ops; returns the error.
fn fails(role: Role, input: &[u8]) -> ProtocolError {
    let (_, err) = feed(role, Limits::default(), [input]);
    err.unwrap_or_else(|| panic!("no error for {:?}", String::from_utf8_lossy(input)))
}

fn one(role: Role, input: &str) -> D {
    let ops = ok(role, input);
    assert_eq!(ops.len(), 1, "{ops:?}");
    ops.into_iter().next().unwrap()
}

fn pubm(subject: &str, reply: Option<&str>, hdr: Option<usize>, payload: &str) -> D {
    D::Pub {
        subject: b(subject),
        reply: reply.map(b),
        hdr,
        payload: b(payload),
    }
}

fn rmsg(reply: Option<&str>, queues: Option<&[&str]>, hdr: Option<usize>, payload: &str) -> D {
    D::RMsg {
        account: b("$G"),
        subject: b("foo"),
        reply: reply.map(b),
        queues: queues.map(|q| q.iter().map(|s| b(s)).collect()),
        hdr,
        payload: b(payload),
    }
}

const C: Role = Role::Client;
const R: Role = Role::Route;

// ---------------------------------------------------------------------------------------------
// Client ops

#[test]
fn connect_and_info() {
    assert_eq!(
        one(C, "CONNECT {\"verbose\":false}\r\n"),
        D::Connect(b("{\"verbose\":false}"))
    );
    assert_eq!(one(C, "CONNECT\t  {}\r\n"), D::Connect(b("{}")));
    assert_eq!(one(C, "CONNECT{}\r\n"), D::Connect(b("{}")));
    assert_eq!(one(C, "CONNECT\r\n"), D::Connect(b("")));
    // The server writes a blank before CRLF; it belongs to the argument, as in nats-server.
    assert_eq!(
        one(C, "INFO {\"server_id\":\"x\"} \r\n"),
        D::Info(b("{\"server_id\":\"x\"} "))
    );
}

#[test]
fn pub_with_and_without_reply() {
    assert_eq!(
        one(C, "PUB foo 5\r\nhello\r\n"),
        pubm("foo", None, None, "hello")
    );
    assert_eq!(
        one(C, "PUB foo bar 5\r\nhello\r\n"),
        pubm("foo", Some("bar"), None, "hello")
    );
    assert_eq!(one(C, "PUB foo 0\r\n\r\n"), pubm("foo", None, None, ""));
    // The size token may have leading zeros; the payload may hold CR LF.
    assert_eq!(
        one(C, "PUB foo 04\r\n\r\n\r\n\r\n"),
        pubm("foo", None, None, "\r\n\r\n")
    );
}

#[test]
fn hpub_sizes() {
    let hdr = "NATS/1.0\r\n\r\n";
    assert_eq!(
        one(C, &format!("HPUB foo 12 14\r\n{hdr}hi\r\n")),
        pubm("foo", None, Some(12), &format!("{hdr}hi"))
    );
    assert_eq!(
        one(C, &format!("HPUB foo bar 12 12\r\n{hdr}\r\n")),
        pubm("foo", Some("bar"), Some(12), hdr)
    );
    assert_eq!(
        one(C, "HPUB foo 0 3\r\nabc\r\n"),
        pubm("foo", None, Some(0), "abc")
    );
}

#[test]
fn sub_with_and_without_queue() {
    assert_eq!(
        one(C, "SUB foo 1\r\n"),
        D::Sub {
            subject: b("foo"),
            queue: None,
            sid: b("1")
        }
    );
    assert_eq!(
        one(C, "SUB foo.* grp 22\r\n"),
        D::Sub {
            subject: b("foo.*"),
            queue: ob("grp"),
            sid: b("22")
        }
    );
}

#[test]
fn unsub_max() {
    let unsub = |max| D::Unsub { sid: b("1"), max };
    assert_eq!(one(C, "UNSUB 1\r\n"), unsub(None));
    assert_eq!(one(C, "UNSUB 1 5\r\n"), unsub(Some(5)));
    assert_eq!(one(C, "UNSUB 1 0\r\n"), unsub(Some(0)));
    // Unparsable max: removed now, as nats-server does.
    assert_eq!(one(C, "UNSUB 1 x\r\n"), unsub(Some(0)));
    assert_eq!(one(C, "UNSUB 1 -1\r\n"), unsub(Some(0)));
}

#[test]
fn ping_pong_ok_err() {
    assert_eq!(
        ok(C, "PING\r\nPONG\r\n+OK\r\n"),
        vec![D::Ping, D::Pong, D::Ok]
    );
    assert_eq!(
        one(C, "-ERR 'Unknown Protocol Operation'\r\n"),
        D::Err(b("'Unknown Protocol Operation'"))
    );
    // nats-server skips to the newline after PING/PONG/+OK: `PINGX` gets a PONG.
    assert_eq!(
        ok(C, "PINGX\r\nPONG junk\n+OKAY\r\n"),
        vec![D::Ping, D::Pong, D::Ok]
    );
}

#[test]
fn ops_are_case_insensitive() {
    assert_eq!(
        ok(
            C,
            "pub foo 1\r\na\r\nPuB foo 1\r\nb\r\nhPuB foo 0 1\r\nc\r\nsub foo 1\r\nunsub 1\r\nping\r\npOnG\r\n+ok\r\nconnect {}\r\ninfo {}\r\n-err 'x'\r\n"
        ),
        vec![
            pubm("foo", None, None, "a"),
            pubm("foo", None, None, "b"),
            pubm("foo", None, Some(0), "c"),
            D::Sub {
                subject: b("foo"),
                queue: None,
                sid: b("1")
            },
            D::Unsub {
                sid: b("1"),
                max: None
            },
            D::Ping,
            D::Pong,
            D::Ok,
            D::Connect(b("{}")),
            D::Info(b("{}")),
            D::Err(b("'x'")),
        ]
    );
    assert_eq!(
        ok(
            R,
            "rs+ $G foo\r\nrS- $G foo\r\nrmsg $G foo 1\r\na\r\nhmsg $G foo 0 1\r\nb\r\n"
        ),
        vec![
            D::RSub {
                account: b("$G"),
                subject: b("foo"),
                queue: None,
                weight: 0
            },
            D::RUnsub {
                account: b("$G"),
                subject: b("foo"),
                queue: None
            },
            rmsg(None, None, None, "a"),
            rmsg(None, None, Some(0), "b"),
        ]
    );
}

#[test]
fn blanks_are_runs_of_spaces_and_tabs() {
    assert_eq!(
        one(C, "PUB\tfoo \t bar\t\t5 \r\nhello\r\n"),
        pubm("foo", Some("bar"), None, "hello")
    );
    assert_eq!(
        one(C, "SUB\t foo\t\tq  9\r\n"),
        D::Sub {
            subject: b("foo"),
            queue: ob("q"),
            sid: b("9")
        }
    );
    assert_eq!(
        one(C, "UNSUB \t 9 \t 3\t\r\n"),
        D::Unsub {
            sid: b("9"),
            max: Some(3)
        }
    );
}

#[test]
fn bare_newline_ends_a_line() {
    assert_eq!(
        ok(C, "PING\nPUB foo 2\nhi\r\nSUB foo 1\nCONNECT {}\n"),
        vec![
            D::Ping,
            pubm("foo", None, None, "hi"),
            D::Sub {
                subject: b("foo"),
                queue: None,
                sid: b("1")
            },
            D::Connect(b("{}")),
        ]
    );
}

#[test]
fn frame_line_is_the_argument_part() {
    let buf = b"PUB  foo bar 5\r\nhello\r\n";
    let frame = Parser::new(C, Limits::default())
        .next(buf)
        .unwrap()
        .unwrap();
    assert_eq!(frame.line.of(buf), b"foo bar 5");
    assert_eq!(frame.len, buf.len());
    assert_eq!(frame.op.name(), "PUB");
}

#[test]
fn op_spans_lists_every_field() {
    let buf = b"RMSG $G foo + r q1 q2 1\r\nx\r\n";
    let f = Parser::new(R, Limits::default())
        .next(buf)
        .unwrap()
        .unwrap();
    let spans: Vec<&[u8]> = f.op.spans().map(|s| s.of(buf)).collect();
    assert_eq!(spans, [&b"$G"[..], b"foo", b"r", b"q1 q2", b"x"]);
    let buf = b"HPUB foo r 0 1\r\nx\r\n";
    let f = Parser::new(C, Limits::default())
        .next(buf)
        .unwrap()
        .unwrap();
    let spans: Vec<&[u8]> = f.op.spans().map(|s| s.of(buf)).collect();
    assert_eq!(spans, [&b"foo"[..], b"r", b"x"]);
    assert_eq!(f.op.name(), "HPUB");
}

#[test]
fn payload_is_shared_without_copy() {
    // The caller splits the frame off and freezes it: spans index the frozen bytes too.
    let mut buf = BytesMut::from(&b"PUB foo 5\r\nhello\r\nPING\r\n"[..]);
    let mut p = Parser::new(C, Limits::default());
    let frame = p.next(&buf).unwrap().unwrap();
    let bytes = buf.split_to(frame.len).freeze();
    let Op::Pub { payload, .. } = frame.op else {
        panic!("{frame:?}")
    };
    let shared = bytes.slice(payload.range());
    assert_eq!(&shared[..], b"hello");
    assert_eq!(shared.as_ptr(), bytes[payload.range()].as_ptr());
    assert_eq!(p.next(&buf).unwrap().unwrap().op, Op::Ping);
}

#[test]
fn waits_for_payload_and_remembers_the_header() {
    let mut p = Parser::new(C, Limits::default());
    let full = b"PUB foo 10\r\n0123456789\r\n";
    assert_eq!(p.next(&full[..5]).unwrap(), None);
    assert_eq!(p.pending_frame_len(), None);
    assert_eq!(p.next(&full[..15]).unwrap(), None);
    assert_eq!(p.pending_frame_len(), Some(full.len()));
    assert_eq!(p.next(&full[..full.len() - 1]).unwrap(), None);
    let frame = p.next(full).unwrap().unwrap();
    assert_eq!(frame.len, full.len());
    assert_eq!(p.pending_frame_len(), None);
    assert_eq!(p.next(b"").unwrap(), None);
}

#[test]
fn consumes_nothing_beyond_the_frame() {
    let buf = b"PING\r\nPONG\r\n";
    let mut p = Parser::new(C, Limits::default());
    let f = p.next(buf).unwrap().unwrap();
    assert_eq!((f.len, f.op), (6, Op::Ping));
    let f = p.next(&buf[6..]).unwrap().unwrap();
    assert_eq!((f.len, f.op), (6, Op::Pong));
}

// ---------------------------------------------------------------------------------------------
// Route ops

#[test]
fn route_subscriptions() {
    assert_eq!(
        ok(
            R,
            "RS+ $G foo\r\nRS+ $G foo grp 3\r\nRS+ $G bar.* q x\r\nRS- $G foo\r\nRS- $G foo grp\r\n"
        ),
        vec![
            D::RSub {
                account: b("$G"),
                subject: b("foo"),
                queue: None,
                weight: 0
            },
            D::RSub {
                account: b("$G"),
                subject: b("foo"),
                queue: ob("grp"),
                weight: 3
            },
            D::RSub {
                account: b("$G"),
                subject: b("bar.*"),
                queue: ob("q"),
                weight: 1
            },
            D::RUnsub {
                account: b("$G"),
                subject: b("foo"),
                queue: None
            },
            D::RUnsub {
                account: b("$G"),
                subject: b("foo"),
                queue: ob("grp")
            },
        ]
    );
}

#[test]
fn rmsg_reply_and_queue_forms() {
    let cases: &[(&str, D)] = &[
        ("RMSG $G foo 2\r\nhi\r\n", rmsg(None, None, None, "hi")),
        (
            "RMSG $G foo reply.x 2\r\nhi\r\n",
            rmsg(Some("reply.x"), None, None, "hi"),
        ),
        (
            "RMSG $G foo + reply.x qq 5\r\nhello\r\n",
            rmsg(Some("reply.x"), Some(&["qq"]), None, "hello"),
        ),
        (
            "RMSG $G foo + reply.x q1 \t q2 5\r\nhello\r\n",
            rmsg(Some("reply.x"), Some(&["q1", "q2"]), None, "hello"),
        ),
        (
            "RMSG $G foo | q1 q2 q3 5\r\nhello\r\n",
            rmsg(None, Some(&["q1", "q2", "q3"]), None, "hello"),
        ),
        // `+ <reply>` with no queue left: reply only.
        (
            "RMSG $G foo + reply.x 2\r\nhi\r\n",
            rmsg(Some("reply.x"), None, None, "hi"),
        ),
        // Four tokens: the third is the reply, whatever it is (nats-server counts tokens).
        (
            "RMSG $G foo | 2\r\nhi\r\n",
            rmsg(Some("|"), None, None, "hi"),
        ),
        (
            "HMSG $G foo | grp 12 14\r\nNATS/1.0\r\n\r\nhi\r\n",
            rmsg(None, Some(&["grp"]), Some(12), "NATS/1.0\r\n\r\nhi"),
        ),
        ("HMSG $G foo 0 2\r\nhi\r\n", rmsg(None, None, Some(0), "hi")),
        (
            "HMSG $G foo r 1 2\r\nhi\r\n",
            rmsg(Some("r"), None, Some(1), "hi"),
        ),
        (
            "HMSG $G foo + r a b 1 2\r\nhi\r\n",
            rmsg(Some("r"), Some(&["a", "b"]), Some(1), "hi"),
        ),
        (
            "HMSG $G foo + r 1 2\r\nhi\r\n",
            rmsg(Some("r"), None, Some(1), "hi"),
        ),
    ];
    for (input, want) in cases {
        assert_eq!(&one(R, input), want, "{input:?}");
    }
}

#[test]
fn rmsg_queue_span_is_the_raw_list() {
    let buf = b"RMSG $G foo + r q1  q2\tq3 1\r\nx\r\n";
    let f = Parser::new(R, Limits::default())
        .next(buf)
        .unwrap()
        .unwrap();
    let Op::RMsg {
        queues: Some(q), ..
    } = f.op
    else {
        panic!("{f:?}")
    };
    assert_eq!(q.of(buf), b"q1  q2\tq3");
}

#[test]
fn route_accepts_handshake_and_keepalive_ops() {
    assert_eq!(
        ok(
            R,
            "INFO {\"server_id\":\"N\"} \r\nCONNECT {}\r\nPING\r\nPONG\r\n+OK\r\n-ERR 'Not possible'\r\n"
        ),
        vec![
            D::Info(b("{\"server_id\":\"N\"} ")),
            D::Connect(b("{}")),
            D::Ping,
            D::Pong,
            D::Ok,
            D::Err(b("'Not possible'")),
        ]
    );
}

// ---------------------------------------------------------------------------------------------
// Errors (`docs/protocol.md#errors`, the parser's rows)

fn assert_unknown(e: &ProtocolError, role: Role, state: u8, offset: usize) {
    assert_eq!(e.err_text(), Some("Unknown Protocol Operation"), "{e:?}");
    assert_eq!(e.close_reason(), "Protocol Violation");
    assert!(e.closes());
    match *e {
        ProtocolError::UnknownOp {
            role: r,
            state: s,
            offset: o,
            ..
        } => assert_eq!((r, s, o), (role, state, offset), "{e}"),
        _ => panic!("not an unknown op: {e:?}"),
    }
}

#[test]
fn unknown_op() {
    let e = fails(C, b"FOO bar\r\n");
    assert_unknown(&e, C, 0, 0);
    // nats-server's protoSnippet drops the buffer's last byte when fewer than 32 remain.
    assert_eq!(
        e.to_string(),
        "Client parser ERROR, state=0, i=0: proto='\"FOO bar\\r\"...'"
    );
    assert_unknown(&fails(C, b"PUX foo 1\r\n"), C, 30, 2);
    assert_unknown(&fails(C, b"PUB\r\n"), C, 31, 3);
    assert_unknown(&fails(C, b"PUBfoo 1\r\n"), C, 31, 3);
    assert_unknown(&fails(C, b"PINX\r\n"), C, 35, 3);
    assert_unknown(&fails(C, b"-ERR\r\n"), C, 7, 4);
    assert_unknown(&fails(C, b"CONNEXT {}\r\n"), C, 14, 5);
    // Detected as soon as the bad byte arrives, without waiting for the line's end.
    assert_unknown(&fails(C, b"SUX"), C, 44, 2);
    // Later in a buffer: the offset counts from the start of the buffer given to next().
    let (ops, e) = client(b"PING\r\nXYZ");
    assert_eq!(ops, vec![D::Ping]);
    assert_unknown(&e.unwrap(), C, 0, 0);
}

#[test]
fn empty_line_is_an_unknown_op() {
    assert_unknown(&fails(C, b"\r\n"), C, 0, 0);
    assert_unknown(&fails(C, b"\n"), C, 0, 0);
    assert_unknown(&fails(R, b"\r\n"), R, 0, 0);
    assert_unknown(&fails(C, b" PING\r\n"), C, 0, 0);
}

#[test]
fn payload_must_end_with_crlf() {
    let e = fails(C, b"PUB foo 5\r\nhelloXX\r\n");
    assert_unknown(&e, C, 41, 16);
    assert_unknown(&fails(C, b"PUB foo 5\r\nhello\rX"), C, 42, 17);
    // A bare LF is not enough after a payload.
    assert_unknown(&fails(C, b"PUB foo 5\nhello\nPING\r\n"), C, 41, 15);
    // Detected on the first wrong byte, before the frame is complete.
    assert_unknown(&fails(C, b"PUB foo 5\r\nhellohello"), C, 41, 16);
    assert_unknown(&fails(R, b"RMSG $G foo 1\r\nxx\r\n"), R, 41, 16);
}

#[test]
fn route_ops_are_unknown_on_client_connections() {
    for op in [
        "RS+ $G foo\r\n",
        "RS- $G foo\r\n",
        "RMSG $G foo 1\r\nx\r\n",
        "LS+ o $G foo\r\n",
        "A+ $G\r\n",
        "MSG foo 1 1\r\nx\r\n",
    ] {
        assert_unknown(&fails(C, op.as_bytes()), C, 0, 0);
    }
    // HMSG gets as far as the `M`.
    assert_unknown(&fails(C, b"HMSG foo 1 0 1\r\nx\r\n"), C, 18, 1);
}

#[test]
fn client_ops_are_unknown_on_route_connections() {
    assert_unknown(&fails(R, b"SUB foo 1\r\n"), R, 0, 0);
    assert_unknown(&fails(R, b"UNSUB 1\r\n"), R, 0, 0);
    assert_unknown(&fails(R, b"PUB foo 1\r\nx\r\n"), R, 29, 1);
    assert_unknown(&fails(R, b"HPUB foo 0 1\r\nx\r\n"), R, 18, 1);
    assert_unknown(&fails(R, b"MSG foo 1 1\r\nx\r\n"), R, 0, 0);
    assert_unknown(&fails(R, b"RSX $G foo\r\n"), R, 58, 2);
    assert_unknown(&fails(R, b"RX\r\n"), R, 57, 1);
    assert_eq!(
        fails(R, b"LS+ o $G foo\r\n").to_string(),
        "Router parser ERROR, state=0, i=0: proto='\"LS+ o $G foo\\r\"...'"
    );
}

fn assert_max_control_line(e: &ProtocolError) {
    assert!(
        matches!(e, ProtocolError::MaxControlLine { .. }),
        "not a control line error: {e:?}"
    );
    assert_eq!(e.err_text(), Some("maximum control line exceeded"));
    assert_eq!(e.close_reason(), "Maximum Control Line Exceeded");
    assert_eq!(e.to_string(), "maximum control line exceeded");
    assert!(e.closes());
}

#[test]
fn max_control_line_counts_the_arguments() {
    let limits = Limits {
        max_control_line: 16,
        ..Limits::default()
    };
    // Exactly at the limit: 16 argument bytes after the blanks, before CR LF.
    let at = "SUB   0123456789abcd 1\r\n";
    let (ops, err) = feed(C, limits, [at.as_bytes()]);
    assert_eq!((ops.len(), err), (1, None));
    let over = "SUB 0123456789abcde 1\r\n";
    let (_, err) = feed(C, limits, [over.as_bytes()]);
    assert_max_control_line(&err.unwrap());
    // Split before the end of the line: the same answer, and no waiting for the newline.
    for cut in 1..over.len() {
        let (_, err) = feed(
            C,
            limits,
            [&over.as_bytes()[..cut], &over.as_bytes()[cut..]],
        );
        assert_max_control_line(&err.unwrap());
    }
    // Including a cut between CR and LF: that CR is not counted.
    for cut in 1..at.len() {
        let (ops, err) = feed(C, limits, [&at.as_bytes()[..cut], &at.as_bytes()[cut..]]);
        assert_eq!((ops.len(), err), (1, None), "cut at {cut}");
    }
    let (_, err) = feed(C, limits, [&b"SUB 0123456789abcdefgh"[..]]);
    assert_max_control_line(&err.unwrap());
}

#[test]
fn max_control_line_default_and_route_multiplier() {
    let line = |n: usize| format!("CONNECT {}\r\n", "x".repeat(n));
    assert_eq!(ok(C, &line(4096)).len(), 1);
    assert_max_control_line(&fails(C, line(4097).as_bytes()));
    // Routes get 16× (nats-server 2.14+).
    assert_eq!(ok(R, &line(16 * 4096)).len(), 1);
    assert_max_control_line(&fails(R, line(16 * 4096 + 1).as_bytes()));
    let rs = format!("RS+ $G {}\r\n", "s".repeat(5000));
    assert_eq!(ok(R, &rs).len(), 1);
}

#[test]
fn unterminated_junk_is_bounded() {
    let limits = Limits {
        max_control_line: 8,
        ..Limits::default()
    };
    for input in [
        &b"PING0123456789"[..],
        b"+OK0123456789",
        b"PUB            ",
        b"CONNECT {\"a\":12345",
    ] {
        let (_, err) = feed(C, limits, [input]);
        assert_max_control_line(&err.unwrap());
    }
}

#[test]
fn max_payload() {
    let e = fails(C, b"PUB foo 2000000\r\n");
    assert_eq!(
        e,
        ProtocolError::MaxPayload {
            size: 2_000_000,
            limit: 1_048_576
        }
    );
    assert_eq!(e.err_text(), Some("Maximum Payload Violation"));
    assert_eq!(
        e.to_string(),
        "maximum payload exceeded: 2000000 vs 1048576"
    );
    assert_eq!(e.close_reason(), "Maximum Message Payload Exceeded");
    assert!(e.closes());
    // HPUB counts the total; the exact limit is allowed.
    let e = fails(C, b"HPUB foo 12 1048577\r\n");
    assert!(matches!(
        e,
        ProtocolError::MaxPayload {
            size: 1_048_577,
            ..
        }
    ));
    let body = "x".repeat(1_048_576);
    assert_eq!(ok(C, &format!("PUB foo 1048576\r\n{body}\r\n")).len(), 1);
    // Routes too (a deliberate difference: nats-server does not check routed sizes).
    assert!(matches!(
        fails(R, b"RMSG $G foo 1048577\r\n"),
        ProtocolError::MaxPayload { .. }
    ));
}

fn assert_silent(e: &ProtocolError, text: &str) {
    assert!(matches!(e, ProtocolError::BadArgs { .. }), "{e:?}");
    assert_eq!(e.err_text(), None);
    assert_eq!(e.close_reason(), "Protocol Violation");
    assert!(e.closes());
    assert_eq!(e.to_string(), text);
}

#[test]
fn wrong_argument_counts_close_silently() {
    let cases: &[(Role, &str, &str)] = &[
        (C, "PUB foo\r\n", r#"processPub Parse Error: "foo""#),
        (C, "PUB a b c 1\r\n", r#"processPub Parse Error: "a b c 1""#),
        (C, "PUB \r\n", r#"processPub Parse Error: """#),
        (
            C,
            "HPUB foo 1\r\n",
            r#"processHeaderPub Parse Error: "foo 1""#,
        ),
        (
            C,
            "HPUB a b c d e\r\n",
            r#"processHeaderPub Parse Error: "a b c d e""#,
        ),
        (C, "SUB foo\r\n", r#"processSub Parse Error: "foo""#),
        (C, "SUB a b c d\r\n", r#"processSub Parse Error: "a b c d""#),
        (C, "UNSUB \r\n", r#"processUnsub Parse Error: """#),
        (C, "UNSUB 1 2 3\r\n", r#"processUnsub Parse Error: "1 2 3""#),
        (R, "RS+ $G\r\n", "processRemoteSub Parse Error: 'R $G'"),
        (
            R,
            "RS+ $G foo q\r\n",
            "processRemoteSub Parse Error: 'R $G foo q'",
        ),
        (R, "RS- $G\r\n", "processRemoteUnsub parse error: '$G'"),
        (
            R,
            "RS- $G a b c\r\n",
            "processRemoteUnsub parse error: '$G a b c'",
        ),
        (
            R,
            "RMSG $G foo\r\n",
            "processRoutedMsgArgs Parse Error: '[$G foo]'",
        ),
        (
            R,
            "HMSG $G foo 1\r\n",
            "processRoutedHeaderMsgArgs Parse Error: '[$G foo 1]'",
        ),
    ];
    for (role, input, text) in cases {
        assert_silent(&fails(*role, input.as_bytes()), text);
    }
}

#[test]
fn bad_sizes_close_silently() {
    let cases: &[(Role, &str, &str)] = &[
        (
            C,
            "PUB foo +1\r\n",
            r#"processPub Bad or Missing Size: "foo +1""#,
        ),
        (
            C,
            "PUB foo -1\r\n",
            r#"processPub Bad or Missing Size: "foo -1""#,
        ),
        (
            C,
            "PUB foo bar x\r\n",
            r#"processPub Bad or Missing Size: "foo bar x""#,
        ),
        (
            C,
            "PUB foo 1000000000\r\n",
            r#"processPub Bad or Missing Size: "foo 1000000000""#,
        ),
        (
            C,
            "HPUB foo x 1\r\n",
            r#"processHeaderPub Bad or Missing Header Size: "foo x 1""#,
        ),
        (
            C,
            "HPUB foo 1 x\r\n",
            r#"processHeaderPub Bad or Missing Total Size: "foo 1 x""#,
        ),
        (
            C,
            "HPUB foo 3 2\r\n",
            r#"processHeaderPub Header Size larger then TotalSize: "foo 3 2""#,
        ),
        (
            R,
            "RMSG $G foo x\r\n",
            "processRoutedMsgArgs Bad or Missing Size: '[$G foo x]'",
        ),
        (
            R,
            "RMSG $G foo * q 1\r\n",
            "processRoutedMsgArgs Bad or Missing Reply Indicator: '*'",
        ),
        (
            R,
            "HMSG $G foo ++ r q 1 1\r\n",
            "processRoutedHeaderMsgArgs Bad or Missing Reply Indicator: '++'",
        ),
        (
            R,
            "HMSG $G foo x 1\r\n",
            "processRoutedHeaderMsgArgs Bad or Missing Header Size: '$G foo x 1'",
        ),
        (
            R,
            "HMSG $G foo 1 x\r\n",
            "processRoutedHeaderMsgArgs Bad or Missing Size: '[$G foo 1 x]'",
        ),
        (
            R,
            "HMSG $G foo | q 3 2\r\n",
            "processRoutedHeaderMsgArgs Header Size larger then TotalSize: '$G foo | q 3 2'",
        ),
    ];
    for (role, input, text) in cases {
        assert_silent(&fails(*role, input.as_bytes()), text);
    }
}

#[test]
fn error_text_escapes_and_truncates_like_go() {
    let e = fails(C, b"PUB \"a\"\tb\x01 c d\r\n");
    assert_eq!(
        e.to_string(),
        r#"processPub Parse Error: "\"a\"\tb\x01 c d""#
    );
    let long = format!("PUB {}\r\n", "y".repeat(100));
    let e = fails(C, long.as_bytes());
    assert_eq!(
        e.to_string(),
        format!("processPub Parse Error: \"{}...\"", "y".repeat(64))
    );
}

#[test]
fn errors_reset_the_parser() {
    let mut p = Parser::new(C, Limits::default());
    assert!(p.next(b"PUB foo 1\r\nxx").is_err());
    assert_eq!(p.pending_frame_len(), None);
    assert_eq!(p.next(b"PING\r\n").unwrap().unwrap().op, Op::Ping);
}

#[test]
fn set_limits_applies_to_the_next_op() {
    let mut p = Parser::new(C, Limits::default());
    assert!(p.next(b"PUB foo 100\r\n").unwrap().is_none());
    p.reset();
    p.set_limits(Limits {
        max_control_line: 4096,
        max_payload: 10,
    });
    assert_eq!(p.limits().max_payload, 10);
    assert!(matches!(
        p.next(b"PUB foo 100\r\n"),
        Err(ProtocolError::MaxPayload {
            size: 100,
            limit: 10
        })
    ));
}

// ---------------------------------------------------------------------------------------------
// Splitting

/// A stream of mixed client ops, including a 10 KB payload.
fn mixed_stream() -> Vec<u8> {
    let mut s = Vec::new();
    s.extend_from_slice(b"CONNECT {\"verbose\":false,\"headers\":true}\r\n");
    s.extend_from_slice(b"PUB foo 5\r\nhello\r\n");
    s.extend_from_slice(b"PUB foo reply.1 3\r\n\r\n\n\r\n");
    s.extend_from_slice(b"HPUB foo r 12 14\r\nNATS/1.0\r\n\r\nhi\r\n");
    s.extend_from_slice(b"SUB foo.> grp 7\r\n");
    s.extend_from_slice(b"UNSUB 7 10\r\n");
    s.extend_from_slice(b"PING\r\n");
    s.extend_from_slice(b"PONG\n");
    s.extend_from_slice(b"PUB big 10240\r\n");
    s.extend((0..10240u32).map(|i| (i % 251) as u8));
    s.extend_from_slice(b"\r\n");
    s.extend_from_slice(b"pub\tlast  0\r\n\r\n");
    s
}

fn mixed_route_stream() -> Vec<u8> {
    let mut s = Vec::new();
    s.extend_from_slice(b"INFO {\"server_id\":\"N\",\"cluster\":\"c\"} \r\n");
    s.extend_from_slice(b"RS+ $G foo\r\nRS+ $G foo grp 2\r\nRS- $G foo grp\r\n");
    s.extend_from_slice(b"RMSG $G foo + r.1 q1 q2 5\r\nhello\r\n");
    s.extend_from_slice(b"HMSG $G foo | grp 12 14\r\nNATS/1.0\r\n\r\nhi\r\n");
    s.extend_from_slice(b"PING\r\nPONG\r\n");
    s.extend_from_slice(b"RMSG $G big 4000\r\n");
    s.extend(std::iter::repeat_n(b'z', 4000));
    s.extend_from_slice(b"\r\n");
    s
}

fn assert_split_invariant(role: Role, stream: &[u8], expected_ops: usize) {
    let (whole, err) = feed(role, Limits::default(), [stream]);
    assert_eq!(err, None);
    assert_eq!(whole.len(), expected_ops);
    for cut in 0..=stream.len() {
        let (ops, err) = feed(role, Limits::default(), [&stream[..cut], &stream[cut..]]);
        assert_eq!(err, None, "cut at {cut}");
        assert_eq!(ops, whole, "cut at {cut}");
    }
    let (ops, err) = feed(role, Limits::default(), stream.chunks(1));
    assert_eq!(err, None);
    assert_eq!(ops, whole);
}

#[test]
fn split_at_every_offset_client() {
    assert_split_invariant(C, &mixed_stream(), 10);
}

#[test]
fn split_at_every_offset_route() {
    assert_split_invariant(R, &mixed_route_stream(), 9);
}

/// What must not depend on how the input was cut: the kind of error and, for unknown ops, where
/// it was found. (The quoted snippet and the length seen may be shorter when a partial buffer
/// already shows the error.)
fn error_key(e: &ProtocolError) -> (std::mem::Discriminant<ProtocolError>, Option<(u8, usize)>) {
    let at = match *e {
        ProtocolError::UnknownOp { state, offset, .. } => Some((state, offset)),
        _ => None,
    };
    (std::mem::discriminant(e), at)
}

#[test]
fn split_errors_match_whole_errors() {
    // Every kind of error is reported the same way however the stream is cut.
    let inputs: &[&[u8]] = &[
        b"PING\r\nFOO\r\n",
        b"PING\r\nPUB foo 3\r\nabcX\r\n",
        b"PING\r\nPUB foo x\r\n",
        b"PING\r\nPUB foo 9999999\r\n",
        b"PING\r\nSUB a b c d\r\n",
    ];
    for input in inputs {
        let (ops, err) = client(input);
        let err = error_key(&err.unwrap());
        for cut in 0..=input.len() {
            let got = feed(C, Limits::default(), [&input[..cut], &input[cut..]]);
            assert_eq!(got.0, ops, "cut at {cut} of {input:?}");
            assert_eq!(
                got.1.map(|e| error_key(&e)),
                Some(err),
                "cut at {cut} of {input:?}"
            );
        }
    }
}

mod prop {
    //! Random valid op sequences, serialized with random spelling, blanks and line ends, fed
    //! in random chunks: the ops come back unchanged.
    use super::*;
    use proptest::prelude::*;

    fn token() -> impl Strategy<Value = Vec<u8>> {
        proptest::string::string_regex("[A-Za-z0-9_.*>$-]{1,12}")
            .unwrap()
            .prop_map(String::into_bytes)
    }

    fn payload() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..64),
            proptest::collection::vec(prop_oneof![Just(b'\r'), Just(b'\n'), any::<u8>()], 0..3000),
        ]
    }

    fn json() -> impl Strategy<Value = Vec<u8>> {
        proptest::string::string_regex("\\{[a-z\":, 0-9]{0,40}\\}")
            .unwrap()
            .prop_map(String::into_bytes)
    }

    fn client_op() -> impl Strategy<Value = D> {
        prop_oneof![
            json().prop_map(D::Connect),
            json().prop_map(D::Info),
            (token(), proptest::option::of(token()), payload()).prop_map(|(s, r, p)| D::Pub {
                subject: s,
                reply: r,
                hdr: None,
                payload: p
            }),
            (token(), proptest::option::of(token()), payload(), payload()).prop_map(
                |(s, r, h, p)| D::Pub {
                    subject: s,
                    reply: r,
                    hdr: Some(h.len()),
                    payload: [h, p].concat()
                }
            ),
            (token(), proptest::option::of(token()), token()).prop_map(|(s, q, sid)| D::Sub {
                subject: s,
                queue: q,
                sid
            }),
            (token(), proptest::option::of(0u64..1000))
                .prop_map(|(sid, max)| D::Unsub { sid, max }),
            Just(D::Ping),
            Just(D::Pong),
            Just(D::Ok),
            token().prop_map(|t| D::Err([b"'".as_slice(), &t, b"'"].concat())),
        ]
    }

    fn route_op() -> impl Strategy<Value = D> {
        let queues = proptest::option::of(proptest::collection::vec(token(), 1..4));
        prop_oneof![
            json().prop_map(D::Info),
            json().prop_map(D::Connect),
            (token(), token(), proptest::option::of((token(), 1u32..100))).prop_map(|(a, s, q)| {
                D::RSub {
                    account: a,
                    subject: s,
                    weight: q.as_ref().map_or(0, |q| q.1),
                    queue: q.map(|q| q.0),
                }
            }),
            (token(), token(), proptest::option::of(token())).prop_map(|(a, s, q)| D::RUnsub {
                account: a,
                subject: s,
                queue: q
            }),
            (
                token(),
                token(),
                proptest::option::of(token()),
                queues,
                proptest::option::of(payload()),
                payload()
            )
                .prop_map(|(a, s, r, q, h, p)| D::RMsg {
                    account: a,
                    subject: s,
                    reply: r,
                    queues: q,
                    hdr: h.as_ref().map(Vec::len),
                    payload: [h.unwrap_or_default(), p].concat(),
                }),
            Just(D::Ping),
            Just(D::Pong),
        ]
    }

    /// How to write one op: spelling of the name, blanks, line end.
    #[derive(Clone, Debug)]
    struct Style {
        lower: u16,
        blanks: Vec<&'static str>,
        lf_only: bool,
    }

    fn style() -> impl Strategy<Value = Style> {
        (
            any::<u16>(),
            proptest::collection::vec(
                prop_oneof![Just(" "), Just("\t"), Just("  "), Just(" \t ")],
                8,
            ),
            any::<bool>(),
        )
            .prop_map(|(lower, blanks, lf_only)| Style {
                lower,
                blanks,
                lf_only,
            })
    }

    fn write(op: &D, st: &Style, out: &mut Vec<u8>) {
        let mut words: Vec<Vec<u8>> = Vec::new();
        let mut body: Option<&[u8]> = None;
        let name: &str;
        let size = |n: usize| n.to_string().into_bytes();
        match op {
            D::Connect(j) | D::Info(j) => {
                name = if matches!(op, D::Connect(_)) {
                    "CONNECT"
                } else {
                    "INFO"
                };
                words.push(j.clone());
            }
            D::Pub {
                subject,
                reply,
                hdr,
                payload,
            } => {
                name = if hdr.is_some() { "HPUB" } else { "PUB" };
                words.push(subject.clone());
                words.extend(reply.clone());
                words.extend(hdr.map(size));
                words.push(size(payload.len()));
                body = Some(payload);
            }
            D::Sub {
                subject,
                queue,
                sid,
            } => {
                name = "SUB";
                words.push(subject.clone());
                words.extend(queue.clone());
                words.push(sid.clone());
            }
            D::Unsub { sid, max } => {
                name = "UNSUB";
                words.push(sid.clone());
                words.extend(max.map(|m| size(m as usize)));
            }
            D::Ping => name = "PING",
            D::Pong => name = "PONG",
            D::Ok => name = "+OK",
            D::Err(t) => {
                name = "-ERR";
                words.push(t.clone());
            }
            D::RSub {
                account,
                subject,
                queue,
                weight,
            } => {
                name = "RS+";
                words.extend([account.clone(), subject.clone()]);
                if let Some(q) = queue {
                    words.extend([q.clone(), size(*weight as usize)]);
                }
            }
            D::RUnsub {
                account,
                subject,
                queue,
            } => {
                name = "RS-";
                words.extend([account.clone(), subject.clone()]);
                words.extend(queue.clone());
            }
            D::RMsg {
                account,
                subject,
                reply,
                queues,
                hdr,
                payload,
            } => {
                name = if hdr.is_some() { "HMSG" } else { "RMSG" };
                words.extend([account.clone(), subject.clone()]);
                match (reply, queues) {
                    (r, None) => words.extend(r.clone()),
                    (Some(r), Some(q)) => {
                        words.extend([b"+".to_vec(), r.clone()]);
                        words.extend(q.iter().cloned());
                    }
                    (None, Some(q)) => {
                        words.push(b"|".to_vec());
                        words.extend(q.iter().cloned());
                    }
                }
                words.extend(hdr.map(size));
                words.push(size(payload.len()));
                body = Some(payload);
            }
        }
        for (i, c) in name.bytes().enumerate() {
            let lower = st.lower & (1 << i) != 0;
            out.push(if lower { c.to_ascii_lowercase() } else { c });
        }
        for (i, w) in words.iter().enumerate() {
            out.extend_from_slice(st.blanks[i % st.blanks.len()].as_bytes());
            out.extend_from_slice(w);
        }
        out.extend_from_slice(if st.lf_only { b"\n" } else { b"\r\n" });
        if let Some(p) = body {
            out.extend_from_slice(p);
            out.extend_from_slice(b"\r\n");
        }
    }

    fn chunked(stream: &[u8], cuts: &[usize]) -> Vec<Vec<u8>> {
        let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (stream.len() + 1)).collect();
        cuts.sort_unstable();
        let mut out = Vec::new();
        let mut last = 0;
        for c in cuts.into_iter().chain([stream.len()]) {
            out.push(stream[last..c].to_vec());
            last = c;
        }
        out
    }

    fn round_trip(role: Role, ops: &[(D, Style)], cuts: &[usize]) -> Result<(), TestCaseError> {
        let mut stream = Vec::new();
        for (op, st) in ops {
            write(op, st, &mut stream);
        }
        let want: Vec<D> = ops.iter().map(|(op, _)| op.clone()).collect();
        let (whole, err) = feed(role, Limits::default(), [stream.as_slice()]);
        prop_assert_eq!(err, None);
        prop_assert_eq!(&whole, &want);
        let chunks = chunked(&stream, cuts);
        let (split, err) = feed(role, Limits::default(), chunks.iter().map(Vec::as_slice));
        prop_assert_eq!(err, None);
        prop_assert_eq!(&split, &want);
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn client_round_trip(
            ops in proptest::collection::vec((client_op(), style()), 1..20),
            cuts in proptest::collection::vec(any::<usize>(), 0..12),
        ) {
            round_trip(Role::Client, &ops, &cuts)?;
        }

        #[test]
        fn route_round_trip(
            ops in proptest::collection::vec((route_op(), style()), 1..20),
            cuts in proptest::collection::vec(any::<usize>(), 0..12),
        ) {
            round_trip(Role::Route, &ops, &cuts)?;
        }

        /// Arbitrary bytes never panic, and splitting never changes the outcome.
        #[test]
        fn garbage_is_split_invariant(
            stream in proptest::collection::vec(
                prop_oneof![
                    Just(b'\r'), Just(b'\n'), Just(b' '), Just(b'P'), Just(b'U'), Just(b'B'),
                    Just(b'1'), any::<u8>()
                ],
                0..200,
            ),
            cuts in proptest::collection::vec(any::<usize>(), 0..8),
            route in any::<bool>(),
        ) {
            let role = if route { Role::Route } else { Role::Client };
            let limits = Limits { max_control_line: 32, max_payload: 64 };
            let whole = feed(role, limits, [stream.as_slice()]);
            let chunks = chunked(&stream, &cuts);
            let split = feed(role, limits, chunks.iter().map(Vec::as_slice));
            prop_assert_eq!(&whole.0, &split.0);
            prop_assert_eq!(whole.1.map(|e| error_key(&e)), split.1.map(|e| error_key(&e)));
        }
    }
}
