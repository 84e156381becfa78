//! The tool's own tiny parser for what a server sends a client: `INFO`, `MSG`, `HMSG`, `PING`,
//! `PONG`, `+OK` and `-ERR` (`docs/protocol.md#operations`).
//!
//! **What it owns.** Cutting a byte stream, delivered in chunks of any size, into [`Event`]s.
//! The caller hands it each chunk as it arrives ([`Parser::feed`]) and gets a callback per
//! frame. When a frame lies whole inside the chunk (the common case with large reads) the event
//! borrows straight from the chunk: no copy, no allocation. Only the part of a frame that is
//! split between two chunks is copied into the parser's scratch buffers (the control line, and
//! the payload when payloads are kept), so the caller may reuse its read buffer for every read.
//! A counting subscriber builds the parser with `keep_payload = false`: payload bytes are then
//! skipped, never copied, and [`Msg::data`] is empty.
//!
//! **What it must never do.** Touch a socket, allocate per message, or accept a frame that is
//! not well formed: a payload not followed by CR LF, a size that is not a plain decimal number,
//! a wrong argument count or an unknown op is a [`ParseError`], after which the parser must not
//! be fed again. It is stricter than a client library needs to be because it measures servers:
//! a server that frames wrongly should fail the run.
//!
//! Ops are matched case-insensitively and arguments are split on runs of blanks, as nats-server
//! does; a bare `\n` ends a line too.

use memchr::memchr;
use std::ops::Range;

/// Longest control line accepted (INFO with many `connect_urls` can be long; MSG lines are not).
pub const MAX_LINE: usize = 1 << 20;

/// One `MSG` or `HMSG` frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Msg<'a> {
    /// The subject the message was published to.
    pub subject: &'a [u8],
    /// The subscription id the server delivered it for.
    pub sid: u64,
    /// The reply subject, if any.
    pub reply: Option<&'a [u8]>,
    /// Bytes of headers at the start of the data (0 for `MSG`).
    pub header_len: usize,
    /// Announced size: headers plus payload.
    pub total_len: usize,
    /// Headers and payload when the parser keeps payloads, empty otherwise.
    pub data: &'a [u8],
}

impl Msg<'_> {
    /// Payload bytes (without headers), whether or not they were kept.
    pub fn payload_len(&self) -> usize {
        self.total_len - self.header_len
    }
}

/// One frame from the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event<'a> {
    /// `MSG` or `HMSG`.
    Msg(Msg<'a>),
    /// `PING`: the server wants a `PONG`.
    Ping,
    /// `PONG`: the answer to one of our `PING`s.
    Pong,
    /// `+OK` (verbose mode only).
    Ok,
    /// `-ERR`, with the text between the single quotes.
    Err(&'a [u8]),
    /// `INFO`, with its JSON argument.
    Info(&'a [u8]),
}

/// A frame the parser cannot accept.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// The line does not start with an op a server sends.
    #[error("unknown operation in line {0:?}")]
    UnknownOp(String),
    /// `MSG`/`HMSG` arguments are malformed.
    #[error("malformed {op} line {line:?}")]
    BadArgs {
        /// `MSG` or `HMSG`.
        op: &'static str,
        /// The line, lossily decoded.
        line: String,
    },
    /// The payload was not followed by CR LF.
    #[error("payload not followed by CR LF")]
    MissingCrlf,
    /// A control line grew past [`MAX_LINE`] without a newline.
    #[error("control line longer than {MAX_LINE} bytes")]
    LineTooLong,
}

/// Where a parsed `MSG`/`HMSG` line keeps its arguments, as ranges into the line, so the same
/// description works whether the line is in the caller's chunk or in the scratch buffer.
#[derive(Debug, Clone)]
struct Head {
    subject: Range<usize>,
    sid: u64,
    reply: Option<Range<usize>>,
    header_len: usize,
    total_len: usize,
}

impl Head {
    fn msg<'a>(&self, line: &'a [u8], data: &'a [u8]) -> Msg<'a> {
        Msg {
            subject: &line[self.subject.clone()],
            sid: self.sid,
            reply: self.reply.clone().map(|r| &line[r]),
            header_len: self.header_len,
            total_len: self.total_len,
            data,
        }
    }
}

enum Line {
    Msg(Head),
    Ping,
    Pong,
    Ok,
    Err(Range<usize>),
    Info(Range<usize>),
}

#[derive(Debug)]
enum State {
    /// Looking for the end of a control line; its beginning, if split, is in `Parser::line`.
    Line,
    /// Inside the payload of the message whose line is in `Parser::line`.
    Payload {
        head: Head,
        /// Payload bytes still to come.
        left: usize,
        /// Bytes of the trailing CR LF already seen (0, 1 or 2).
        crlf: u8,
    },
}

/// A resumable parser for the server-to-client direction.
#[derive(Debug)]
pub struct Parser {
    state: State,
    /// The start of a control line split between chunks (or the whole line while its payload
    /// is split).
    line: Vec<u8>,
    /// The payload of a split message, when payloads are kept.
    data: Vec<u8>,
    keep_payload: bool,
}

impl Parser {
    /// A parser; `keep_payload` says whether [`Msg::data`] carries the payload.
    pub fn new(keep_payload: bool) -> Self {
        Parser {
            state: State::Line,
            line: Vec::new(),
            data: Vec::new(),
            keep_payload,
        }
    }

    /// Whether the parser is between frames (nothing buffered).
    pub fn is_idle(&self) -> bool {
        matches!(self.state, State::Line) && self.line.is_empty()
    }

    /// Bytes held between chunks (the split control line and, when payloads are kept, the
    /// split payload).
    pub fn buffered(&self) -> usize {
        self.line.len() + self.data.len()
    }

    /// Parses one chunk, calling `on` for every frame completed in it. Events borrow from
    /// `chunk` or from the parser and live only for the call.
    pub fn feed<F>(&mut self, mut chunk: &[u8], on: &mut F) -> Result<(), ParseError>
    where
        F: FnMut(Event<'_>),
    {
        while !chunk.is_empty() {
            chunk = match self.state {
                State::Line => self.line_step(chunk, on)?,
                State::Payload { .. } => self.payload_step(chunk, on)?,
            };
        }
        Ok(())
    }

    fn line_step<'c, F>(&mut self, chunk: &'c [u8], on: &mut F) -> Result<&'c [u8], ParseError>
    where
        F: FnMut(Event<'_>),
    {
        let Some(nl) = memchr(b'\n', chunk) else {
            if self.line.len() + chunk.len() > MAX_LINE {
                return Err(ParseError::LineTooLong);
            }
            self.line.extend_from_slice(chunk);
            return Ok(&[]);
        };
        let scratch = !self.line.is_empty();
        if scratch {
            if self.line.len() + nl > MAX_LINE {
                return Err(ParseError::LineTooLong);
            }
            self.line.extend_from_slice(&chunk[..nl]);
        }
        let rest = &chunk[nl + 1..];
        let line: &[u8] = if scratch { &self.line } else { &chunk[..nl] };
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        match classify(line)? {
            Line::Msg(head) => {
                let need = head.total_len;
                if rest.len() >= need + 2 {
                    if &rest[need..need + 2] != b"\r\n" {
                        return Err(ParseError::MissingCrlf);
                    }
                    let data = if self.keep_payload {
                        &rest[..need]
                    } else {
                        &[]
                    };
                    on(Event::Msg(head.msg(line, data)));
                    self.line.clear();
                    return Ok(&rest[need + 2..]);
                }
                if !scratch {
                    let line = line.to_vec();
                    self.line = line;
                } else {
                    let len = line.len();
                    self.line.truncate(len);
                }
                self.data.clear();
                self.state = State::Payload {
                    head,
                    left: need,
                    crlf: 0,
                };
                Ok(rest)
            }
            other => {
                on(match other {
                    Line::Ping => Event::Ping,
                    Line::Pong => Event::Pong,
                    Line::Ok => Event::Ok,
                    Line::Err(r) => Event::Err(&line[r]),
                    Line::Info(r) => Event::Info(&line[r]),
                    Line::Msg(_) => unreachable!("handled above"),
                });
                self.line.clear();
                Ok(rest)
            }
        }
    }

    fn payload_step<'c, F>(&mut self, chunk: &'c [u8], on: &mut F) -> Result<&'c [u8], ParseError>
    where
        F: FnMut(Event<'_>),
    {
        let State::Payload { head, left, crlf } = &mut self.state else {
            unreachable!("payload_step outside a payload");
        };
        let take = (*left).min(chunk.len());
        if self.keep_payload {
            self.data.extend_from_slice(&chunk[..take]);
        }
        *left -= take;
        let mut i = take;
        while *left == 0 && *crlf < 2 && i < chunk.len() {
            let want = if *crlf == 0 { b'\r' } else { b'\n' };
            if chunk[i] != want {
                return Err(ParseError::MissingCrlf);
            }
            *crlf += 1;
            i += 1;
        }
        if *left == 0 && *crlf == 2 {
            on(Event::Msg(head.msg(&self.line, &self.data)));
            self.line.clear();
            self.data.clear();
            self.state = State::Line;
        }
        Ok(&chunk[i..])
    }
}

fn is_blank(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// Splits `line` into at most `N` ranges of non-blank bytes; returns how many there were
/// (possibly more than `N`, in which case only the first `N` are filled).
fn split_args<const N: usize>(line: &[u8], start: usize, out: &mut [Range<usize>; N]) -> usize {
    let mut n = 0;
    let mut i = start;
    while i < line.len() {
        while i < line.len() && is_blank(line[i]) {
            i += 1;
        }
        if i == line.len() {
            break;
        }
        let s = i;
        while i < line.len() && !is_blank(line[i]) {
            i += 1;
        }
        if n < N {
            out[n] = s..i;
        }
        n += 1;
    }
    n
}

fn parse_num(b: &[u8]) -> Option<u64> {
    if b.is_empty() || b.len() > 19 {
        return None;
    }
    let mut v = 0u64;
    for &c in b {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + u64::from(c - b'0');
    }
    Some(v)
}

fn trim(line: &[u8], mut s: usize) -> Range<usize> {
    let mut e = line.len();
    while s < e && is_blank(line[s]) {
        s += 1;
    }
    while e > s && is_blank(line[e - 1]) {
        e -= 1;
    }
    s..e
}

fn op_is(line: &[u8], op: &[u8]) -> bool {
    line.len() >= op.len()
        && line[..op.len()].eq_ignore_ascii_case(op)
        && line.get(op.len()).is_none_or(|&b| is_blank(b))
}

fn classify(line: &[u8]) -> Result<Line, ParseError> {
    if op_is(line, b"MSG") {
        return msg_args(line, 3, "MSG");
    }
    if op_is(line, b"HMSG") {
        return msg_args(line, 4, "HMSG");
    }
    if op_is(line, b"PING") {
        return Ok(Line::Ping);
    }
    if op_is(line, b"PONG") {
        return Ok(Line::Pong);
    }
    if op_is(line, b"+OK") {
        return Ok(Line::Ok);
    }
    if op_is(line, b"-ERR") {
        let mut r = trim(line, 4);
        if r.len() >= 2 && line[r.start] == b'\'' && line[r.end - 1] == b'\'' {
            r = r.start + 1..r.end - 1;
        }
        return Ok(Line::Err(r));
    }
    if op_is(line, b"INFO") {
        return Ok(Line::Info(trim(line, 4)));
    }
    Err(ParseError::UnknownOp(lossy(line)))
}

/// `MSG <subject> <sid> [reply] <size>` (`min` = 3) or
/// `HMSG <subject> <sid> [reply] <hdr size> <total size>` (`min` = 4).
fn msg_args(line: &[u8], min: usize, op: &'static str) -> Result<Line, ParseError> {
    let bad = || ParseError::BadArgs {
        op,
        line: lossy(line),
    };
    let mut a: [Range<usize>; 5] = Default::default();
    let n = split_args(line, op.len(), &mut a);
    if n != min && n != min + 1 {
        return Err(bad());
    }
    let reply = (n == min + 1).then(|| a[2].clone());
    let sizes = &a[n - (min - 2)..n];
    let sid = parse_num(&line[a[1].clone()]).ok_or_else(bad)?;
    let total = parse_num(&line[sizes[sizes.len() - 1].clone()]).ok_or_else(bad)?;
    let header = if min == 4 {
        parse_num(&line[sizes[0].clone()]).ok_or_else(bad)?
    } else {
        0
    };
    if header > total || total > u64::from(u32::MAX) {
        return Err(bad());
    }
    Ok(Line::Msg(Head {
        subject: a[0].clone(),
        sid,
        reply,
        header_len: header as usize,
        total_len: total as usize,
    }))
}

fn lossy(b: &[u8]) -> String {
    let cut = &b[..b.len().min(128)];
    String::from_utf8_lossy(cut).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_msg_borrows_from_chunk() {
        let mut p = Parser::new(true);
        let chunk = b"MSG a.b 7 r 3\r\nxyz\r\n";
        let mut seen = 0;
        p.feed(chunk, &mut |ev| {
            let Event::Msg(m) = ev else { panic!() };
            assert_eq!(m.data.as_ptr(), chunk[15..].as_ptr());
            assert_eq!(m.reply, Some(&b"r"[..]));
            seen += 1;
        })
        .unwrap();
        assert_eq!(seen, 1);
        assert!(p.is_idle());
    }

    #[test]
    fn hmsg_sizes() {
        let mut p = Parser::new(false);
        let mut got = None;
        p.feed(b"HMSG s 1 12 14\r\nNATS/1.0\r\n\r\nhi\r\n", &mut |ev| {
            if let Event::Msg(m) = ev {
                got = Some((m.header_len, m.total_len, m.payload_len(), m.data.len()));
            }
        })
        .unwrap();
        assert_eq!(got, Some((12, 14, 2, 0)));
    }
}
