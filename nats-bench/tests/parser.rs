//! The connection parser: every frame a server sends, fed whole, split at every byte offset,
//! split at every pair of offsets, and one byte at a time, must give the same events; and
//! malformed input must fail wherever it is split.

use nats_bench::conn::{Event, ParseError, Parser, MAX_LINE};

#[derive(Debug, Clone, PartialEq, Eq)]
enum Ev {
    Msg {
        subject: String,
        sid: u64,
        reply: Option<String>,
        header_len: usize,
        total_len: usize,
        data: Vec<u8>,
    },
    Ping,
    Pong,
    Ok,
    Err(String),
    Info(String),
}

fn own(ev: Event<'_>) -> Ev {
    let s = |b: &[u8]| String::from_utf8(b.to_vec()).unwrap();
    match ev {
        Event::Msg(m) => Ev::Msg {
            subject: s(m.subject),
            sid: m.sid,
            reply: m.reply.map(s),
            header_len: m.header_len,
            total_len: m.total_len,
            data: m.data.to_vec(),
        },
        Event::Ping => Ev::Ping,
        Event::Pong => Ev::Pong,
        Event::Ok => Ev::Ok,
        Event::Err(t) => Ev::Err(s(t)),
        Event::Info(j) => Ev::Info(s(j)),
    }
}

fn msg(subject: &str, sid: u64, reply: Option<&str>, hdr: usize, data: &[u8]) -> Ev {
    Ev::Msg {
        subject: subject.into(),
        sid,
        reply: reply.map(Into::into),
        header_len: hdr,
        total_len: data.len(),
        data: data.to_vec(),
    }
}

fn big_payload() -> Vec<u8> {
    (0..300u32)
        .map(|i| match i % 50 {
            10 => b'\r',
            11 => b'\n',
            _ => b'a' + (i % 26) as u8,
        })
        .collect()
}

/// A stream with every kind of frame, and what it must parse to.
fn stream() -> (Vec<u8>, Vec<Ev>) {
    let big = big_payload();
    let mut s = Vec::new();
    let mut ev = Vec::new();
    let mut add = |bytes: &[u8], e: Ev| {
        s.extend_from_slice(bytes);
        ev.push(e);
    };
    add(
        b"INFO {\"server_id\":\"x\",\"version\":\"2.9.10\",\"max_payload\":1048576} \r\n",
        Ev::Info("{\"server_id\":\"x\",\"version\":\"2.9.10\",\"max_payload\":1048576}".into()),
    );
    add(
        b"MSG foo 1 5\r\nhello\r\n",
        msg("foo", 1, None, 0, b"hello"),
    );
    add(
        b"MSG foo.bar 22 _INBOX.abc.7 0\r\n\r\n",
        msg("foo.bar", 22, Some("_INBOX.abc.7"), 0, b""),
    );
    add(
        b"HMSG h 3 12 17\r\nNATS/1.0\r\n\r\nworld\r\n",
        msg("h", 3, None, 12, b"NATS/1.0\r\n\r\nworld"),
    );
    add(
        b"HMSG h 3 rep 16 16\r\nNATS/1.0 503\r\n\r\n\r\n",
        msg("h", 3, Some("rep"), 16, b"NATS/1.0 503\r\n\r\n"),
    );
    add(b"PING\r\n", Ev::Ping);
    add(b"PONG\r\n", Ev::Pong);
    add(b"+OK\r\n", Ev::Ok);
    add(
        b"-ERR 'Unknown Protocol Operation'\r\n",
        Ev::Err("Unknown Protocol Operation".into()),
    );
    add(
        b"msg lower 9 3\r\na\r\n\r\n",
        msg("lower", 9, None, 0, b"a\r\n"),
    );
    add(b"MSG\tt\t4  \t2\nhi\r\n", msg("t", 4, None, 0, b"hi"));
    add(b"ping\n", Ev::Ping);
    let mut frame = b"MSG big 5 300\r\n".to_vec();
    frame.extend_from_slice(&big);
    frame.extend_from_slice(b"\r\n");
    add(&frame, msg("big", 5, None, 0, &big));
    add(b"PONG\r\n", Ev::Pong);
    (s, ev)
}

fn parse_chunks(keep: bool, chunks: &[&[u8]]) -> Result<Vec<Ev>, ParseError> {
    let mut p = Parser::new(keep);
    let mut out = Vec::new();
    for c in chunks {
        p.feed(c, &mut |e| out.push(own(e)))?;
    }
    assert!(p.is_idle(), "the stream ends on a frame boundary");
    Ok(out)
}

fn without_data(evs: &[Ev]) -> Vec<Ev> {
    evs.iter()
        .cloned()
        .map(|e| match e {
            Ev::Msg {
                subject,
                sid,
                reply,
                header_len,
                total_len,
                ..
            } => Ev::Msg {
                subject,
                sid,
                reply,
                header_len,
                total_len,
                data: Vec::new(),
            },
            other => other,
        })
        .collect()
}

#[test]
fn whole_stream_gives_every_event() {
    let (s, want) = stream();
    assert_eq!(parse_chunks(true, &[&s]).unwrap(), want);
    assert_eq!(parse_chunks(false, &[&s]).unwrap(), without_data(&want));
}

#[test]
fn split_at_every_offset() {
    let (s, want) = stream();
    let want_skip = without_data(&want);
    for i in 0..=s.len() {
        let (a, b) = s.split_at(i);
        assert_eq!(parse_chunks(true, &[a, b]).unwrap(), want, "split at {i}");
        assert_eq!(
            parse_chunks(false, &[a, b]).unwrap(),
            want_skip,
            "split at {i}"
        );
    }
}

#[test]
fn split_at_every_pair_of_offsets() {
    let (s, want) = stream();
    // The frames before the 300-byte one keep this quadratic test quick.
    let cut = s.windows(7).position(|w| w == b"MSG big").unwrap();
    let (s, want) = (&s[..cut], &want[..want.len() - 2]);
    for i in 0..=s.len() {
        for j in i..=s.len() {
            let got = parse_chunks(true, &[&s[..i], &s[i..j], &s[j..]]).unwrap();
            assert_eq!(got, want, "split at {i} and {j}");
        }
    }
}

#[test]
fn one_byte_at_a_time() {
    let (s, want) = stream();
    let chunks: Vec<&[u8]> = s.chunks(1).collect();
    assert_eq!(parse_chunks(true, &chunks).unwrap(), want);
    assert_eq!(parse_chunks(false, &chunks).unwrap(), without_data(&want));
}

fn fails_at_every_split(input: &[u8], check: impl Fn(&ParseError) -> bool) {
    for i in 0..=input.len() {
        let (a, b) = input.split_at(i);
        let mut p = Parser::new(true);
        let r = p.feed(a, &mut |_| {}).and_then(|_| p.feed(b, &mut |_| {}));
        match r {
            Err(e) => assert!(check(&e), "split at {i}: wrong error {e:?}"),
            Ok(()) => panic!(
                "split at {i}: {:?} was accepted",
                String::from_utf8_lossy(input)
            ),
        }
    }
}

#[test]
fn payload_must_end_in_crlf() {
    fails_at_every_split(b"MSG a 1 3\r\nabcX\n", |e| *e == ParseError::MissingCrlf);
    fails_at_every_split(b"MSG a 1 3\r\nabc\rX", |e| *e == ParseError::MissingCrlf);
}

#[test]
fn unknown_ops_fail() {
    for bad in [
        &b"FOO bar\r\n"[..],
        b"\r\n",
        b"PUB a 1\r\n",
        b"MSGX a 1 1\r\n",
        b"INFOX\r\n",
    ] {
        fails_at_every_split(bad, |e| matches!(e, ParseError::UnknownOp(_)));
    }
}

#[test]
fn malformed_msg_arguments_fail() {
    for bad in [
        &b"MSG a 1\r\n"[..],
        b"MSG a x 3\r\n",
        b"MSG a 1 -3\r\n",
        b"MSG a 1 +3\r\n",
        b"MSG a 1 r s 3\r\n",
        b"HMSG a 1 5 3\r\n",
        b"HMSG a 1 5\r\n",
        b"MSG a 1 99999999999999999999\r\n",
    ] {
        fails_at_every_split(bad, |e| matches!(e, ParseError::BadArgs { .. }));
    }
}

#[test]
fn endless_line_is_refused() {
    let mut p = Parser::new(false);
    let chunk = vec![b'x'; 64 * 1024];
    let mut fed = 0;
    let err = loop {
        match p.feed(&chunk, &mut |_| {}) {
            Ok(()) => fed += chunk.len(),
            Err(e) => break e,
        }
        assert!(fed <= MAX_LINE, "no error after {fed} bytes");
    };
    assert_eq!(err, ParseError::LineTooLong);
}

#[test]
fn skipped_payloads_are_not_buffered() {
    // A counting subscriber must be able to take a huge payload in small reads without the
    // parser growing: only the control line is ever kept.
    let mut p = Parser::new(false);
    let mut seen = 0;
    p.feed(b"MSG s 1 1000000\r\n", &mut |_| seen += 1).unwrap();
    let zeros = vec![b'z'; 4096];
    for _ in 0..(1_000_000 / 4096) {
        p.feed(&zeros, &mut |_| seen += 1).unwrap();
        assert_eq!(p.buffered(), "MSG s 1 1000000".len());
    }
    p.feed(&zeros[..1_000_000 % 4096], &mut |_| seen += 1)
        .unwrap();
    assert_eq!(seen, 0);
    p.feed(b"\r\nPING\r\n", &mut |_| seen += 1).unwrap();
    assert_eq!(seen, 2);
    assert!(p.is_idle());
}
