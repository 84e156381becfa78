//! The wire-protocol parser for client and route connections.
//!
//! **What it owns.** Framing the bytes a peer sends into ops ([`Frame`], [`Op`]): recognising
//! the op name (case-insensitive), finding the end of the control line (`\r\n` or a bare
//! `\n`), splitting arguments on runs of blanks, deciding optional fields by argument count,
//! checking sizes against [`Limits`], and waiting for a payload and its trailing CR LF.
//! Semantics follow nats-server's `server/parser.go` and the `process*Args` functions it calls
//! (summarised in `docs/protocol.md`).
//!
//! **Why it is shaped this way.** The connection owns its read buffer (a `bytes::BytesMut`);
//! the parser only *looks* at it. [`Parser::next`] returns spans (offsets into the buffer it was
//! given), so the caller can `split_to(frame.len).freeze()` and hand the payload to every
//! subscriber as `Bytes` without a single copy, or `advance(frame.len)` and drop it. When the
//! buffer holds only part of an op the parser returns `Ok(None)` and remembers how far it got (a
//! parsed PUB header, how far it searched for `\n`), so a large payload arriving in many reads is
//! never rescanned; the caller just calls again with more bytes appended. nats-server instead
//! copies split arguments and payloads into scratch buffers; we never need to.
//!
//! A connection's read loop, in short:
//!
//! ```
//! use bytes::BytesMut;
//! use nats_server::parser::{Limits, Op, Parser, Role};
//!
//! let mut parser = Parser::new(Role::Client, Limits::default());
//! let mut rbuf = BytesMut::new();
//! let mut published = Vec::new();
//! for read in [&b"PUB foo 5\r\nhel"[..], b"lo\r\nPING\r\n"] {
//!     rbuf.extend_from_slice(read); // what the socket delivered
//!     while let Some(frame) = parser.next(&rbuf)? {
//!         // Take the frame out of the buffer; the payload is shared, not copied.
//!         let bytes = rbuf.split_to(frame.len).freeze();
//!         if let Op::Pub { subject, payload, .. } = frame.op {
//!             published.push((subject.of(&bytes).to_vec(), bytes.slice(payload.range())));
//!         }
//!     }
//! }
//! assert_eq!(published, [(b"foo".to_vec(), bytes::Bytes::from_static(b"hello"))]);
//! # Ok::<(), nats_server::parser::ProtocolError>(())
//! ```
//!
//! **What it must never do.** Allocate per message, copy payloads, consume bytes itself, or touch
//! sockets, subscriptions or any server state: authorization, header support, verbose `+OK`,
//! subject validation and CONNECT JSON are the caller's business. Errors are plain values
//! ([`ProtocolError`]) that say what to send, log and record; the caller closes the connection.
//!
//! **Deliberate differences from nats-server** (none affects a well-behaved peer):
//! * A route-role parser accepts only `INFO CONNECT PING PONG +OK -ERR RS+ RS- RMSG HMSG`
//!   (the route profile we speak, `docs/protocol.md#handshake-and-the-profile-we-speak`: we
//!   never advertise `lnoc`, so peers send no `LS+ LS- LMSG`; `A+ A-` are gateway ops).
//!   nats-server's shared state machine would also take `PUB`, `HPUB`, `SUB`, `UNSUB` (as
//!   RS+/RS-) and `A+`/`A-` on a route.
//! * `max_payload` is also enforced on routes (nats-server does not check routed sizes); a
//!   caller that wants nats-server's behaviour gives the route parser a larger limit.
//! * The line limit also bounds the blanks before the arguments and the junk nats-server skips
//!   after `PING`, `PONG` and `+OK`, so that no byte stream can make the buffer grow unbounded.
//!   The arguments themselves are measured exactly as nats-server does (after the blanks, before
//!   CR LF), for complete and split lines alike.
//! * `HMSG` on a client connection is an unknown op at the `M` (nats-server half-parses it).
//! * A lone CR inside a line is an ordinary argument byte for PUB/HPUB and a separator for the
//!   other ops, as in nats-server; a line that arrives as `CONNECT\n` has an empty JSON argument
//!   (nats-server would read the next line as the argument).
//! * Error log texts keep nats-server's layout; state numbers are nats-server's where the
//!   states correspond, and arguments longer than 64 bytes are cut with `...`.

mod args;
mod error;

pub use error::{ArgError, ProtocolError, Snippet, SNIPPET_CAP};

use std::fmt;

/// Which kind of connection the parser serves; decides the accepted ops and the line limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Client,
    Route,
}

impl fmt::Display for Role {
    /// nats-server's `kindString`, as printed in parser error logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Client => "Client",
            Role::Route => "Router",
        })
    }
}

/// Size limits, from the server configuration (reloadable with [`Parser::set_limits`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Longest argument part of a control line; routes get 16× this (nats-server 2.14+).
    pub max_control_line: usize,
    /// Largest payload (headers included) a PUB/HPUB/RMSG/HMSG may announce.
    pub max_payload: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_control_line: 4096,
            max_payload: 1_048_576,
        }
    }
}

/// A byte range `[start, end)` into the buffer that was passed to [`Parser::next`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span {
    pub start: u32,
    pub end: u32,
}

impl Span {
    pub const EMPTY: Span = Span { start: 0, end: 0 };

    /// Callers guarantee both ends fit in `u32` (the parser bounds every frame far below that).
    #[inline(always)]
    pub const fn new(start: usize, end: usize) -> Span {
        Span {
            start: start as u32,
            end: end as u32,
        }
    }

    /// The bytes this span covers in `buf` (the buffer given to `next`, or any buffer that starts
    /// with the same frame, such as the `Bytes` split off it).
    #[inline(always)]
    pub fn of<'a>(&self, buf: &'a [u8]) -> &'a [u8] {
        &buf[self.start as usize..self.end as usize]
    }

    #[inline(always)]
    pub fn range(&self) -> std::ops::Range<usize> {
        self.start as usize..self.end as usize
    }

    #[inline(always)]
    pub fn len(&self) -> usize {
        (self.end - self.start) as usize
    }

    #[inline(always)]
    pub fn is_empty(&self) -> bool {
        self.end == self.start
    }
}

/// One complete op, occupying `buf[..len]` (control line, payload and its CR LF).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frame {
    pub len: usize,
    /// The control line's arguments, without the op name, the blanks after it and CR LF; what
    /// nats-server prints in trace logs (`<<- [PUB foo 5]`).
    pub line: Span,
    pub op: Op,
}

/// A parsed op. All spans index the buffer given to [`Parser::next`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Connect {
        json: Span,
    },
    Info {
        json: Span,
    },
    /// `PUB`, or `HPUB` when `header_len` is `Some`; `payload` then holds headers and body.
    Pub {
        subject: Span,
        reply: Option<Span>,
        header_len: Option<usize>,
        payload: Span,
    },
    Sub {
        subject: Span,
        queue: Option<Span>,
        sid: Span,
    },
    /// `max` is `Some(0)` when the max was present but unparsable (remove the sub now).
    Unsub {
        sid: Span,
        max: Option<u64>,
    },
    Ping,
    Pong,
    Ok,
    /// `-ERR` from the peer; `text` is everything after the blanks, quotes included.
    /// nats-server logs `Client Error <text>` (`Route Error` on routes) and closes the
    /// connection with reason `Parse Error`.
    Err {
        text: Span,
    },
    /// `RS+`. `weight` is 0 for a plain sub; for a queue sub the number sent (1 if unparsable).
    RSub {
        account: Span,
        subject: Span,
        queue: Option<Span>,
        weight: u32,
    },
    /// `RS-`
    RUnsub {
        account: Span,
        subject: Span,
        queue: Option<Span>,
    },
    /// `RMSG`, or `HMSG` when `header_len` is `Some`. `queues` is the raw blank-separated list
    /// of queue names, from the first to the last, when the message names any.
    RMsg {
        account: Span,
        subject: Span,
        reply: Option<Span>,
        queues: Option<Span>,
        header_len: Option<usize>,
        payload: Span,
    },
}

impl Op {
    /// The op name as nats-server writes it in trace logs.
    pub fn name(&self) -> &'static str {
        match self {
            Op::Connect { .. } => "CONNECT",
            Op::Info { .. } => "INFO",
            Op::Pub {
                header_len: None, ..
            } => "PUB",
            Op::Pub { .. } => "HPUB",
            Op::Sub { .. } => "SUB",
            Op::Unsub { .. } => "UNSUB",
            Op::Ping => "PING",
            Op::Pong => "PONG",
            Op::Ok => "+OK",
            Op::Err { .. } => "-ERR",
            Op::RSub { .. } => "RS+",
            Op::RUnsub { .. } => "RS-",
            Op::RMsg {
                header_len: None, ..
            } => "RMSG",
            Op::RMsg { .. } => "HMSG",
        }
    }

    /// Every span the op holds (for checks and tests; not needed on the hot path).
    pub fn spans(&self) -> impl Iterator<Item = Span> {
        let spans: [Option<Span>; 5] = match *self {
            Op::Connect { json } | Op::Info { json } => [Some(json), None, None, None, None],
            Op::Err { text } => [Some(text), None, None, None, None],
            Op::Pub {
                subject,
                reply,
                payload,
                ..
            } => [Some(subject), reply, Some(payload), None, None],
            Op::Sub {
                subject,
                queue,
                sid,
            } => [Some(subject), queue, Some(sid), None, None],
            Op::Unsub { sid, .. } => [Some(sid), None, None, None, None],
            Op::Ping | Op::Pong | Op::Ok => [None; 5],
            Op::RSub {
                account,
                subject,
                queue,
                ..
            }
            | Op::RUnsub {
                account,
                subject,
                queue,
            } => [Some(account), Some(subject), queue, None, None],
            Op::RMsg {
                account,
                subject,
                reply,
                queues,
                payload,
                ..
            } => [Some(account), Some(subject), reply, queues, Some(payload)],
        };
        spans.into_iter().flatten()
    }

    /// The payload (headers included) of a message op.
    #[inline]
    pub fn payload(&self) -> Option<Span> {
        match *self {
            Op::Pub { payload, .. } | Op::RMsg { payload, .. } => Some(payload),
            _ => None,
        }
    }
}

/// The op names the parser knows, before their arguments are read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Connect,
    Info,
    Pub,
    Hpub,
    Sub,
    Unsub,
    Ping,
    Pong,
    Ok,
    Err,
    RSub,
    RUnsub,
    RMsg,
    HMsg,
}

/// How an op name is spelled and which nats-server parser state corresponds to each prefix of
/// it (`states[k]` = state before reading byte `k`; `states[name.len()]` = state after the name).
struct Name {
    name: &'static [u8],
    states: &'static [u8],
    blank_required: bool,
}

impl Kind {
    #[inline(always)]
    fn spelling(self) -> &'static Name {
        const fn n(name: &'static [u8], states: &'static [u8], blank: bool) -> Name {
            Name {
                name,
                states,
                blank_required: blank,
            }
        }
        static CONNECT: Name = n(b"CONNECT", &[0, 10, 11, 12, 13, 14, 15, 16], false);
        static INFO: Name = n(b"INFO", &[0, 71, 72, 73, 74], false);
        static PUB: Name = n(b"PUB", &[0, 29, 30, 31], true);
        static HPUB: Name = n(b"HPUB", &[0, 18, 19, 20, 21], true);
        static SUB: Name = n(b"SUB", &[0, 43, 44, 45], true);
        static UNSUB: Name = n(b"UNSUB", &[0, 59, 60, 61, 62, 63], true);
        static PING: Name = n(b"PING", &[0, 29, 34, 35, 36], false);
        static PONG: Name = n(b"PONG", &[0, 29, 37, 38, 39], false);
        static OK: Name = n(b"+OK", &[0, 1, 2, 3], false);
        static ERR: Name = n(b"-ERR", &[0, 4, 5, 6, 7], true);
        static RSUB: Name = n(b"RS+", &[0, 57, 58, 45], true);
        static RUNSUB: Name = n(b"RS-", &[0, 57, 58, 63], true);
        static RMSG: Name = n(b"RMSG", &[0, 57, 66, 67, 68], true);
        static HMSG: Name = n(b"HMSG", &[0, 18, 24, 25, 26], true);
        match self {
            Kind::Connect => &CONNECT,
            Kind::Info => &INFO,
            Kind::Pub => &PUB,
            Kind::Hpub => &HPUB,
            Kind::Sub => &SUB,
            Kind::Unsub => &UNSUB,
            Kind::Ping => &PING,
            Kind::Pong => &PONG,
            Kind::Ok => &OK,
            Kind::Err => &ERR,
            Kind::RSub => &RSUB,
            Kind::RUnsub => &RUNSUB,
            Kind::RMsg => &RMSG,
            Kind::HMsg => &HMSG,
        }
    }

    #[inline(always)]
    fn name_len(self) -> usize {
        self.spelling().name.len()
    }
}

/// nats-server's parser state for "payload not followed by CR" / "CR not followed by LF".
const MSG_END_R: u8 = 41;
const MSG_END_N: u8 = 42;

/// Keeps every span below `u32::MAX`: a frame is at most name + 2 × this + CR LF + payload
/// (≤ 999,999,999 bytes by `parse_size`).
const MAX_LINE_LIMIT: usize = 1 << 29;

#[inline(always)]
fn is_blank(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

#[inline(always)]
fn count_blanks(s: &[u8]) -> usize {
    s.iter().take_while(|&&b| is_blank(b)).count()
}

/// Where the parser is inside the current op.
#[derive(Clone, Copy, Debug)]
enum State {
    /// At the start of an op (nothing of it parsed yet).
    Start,
    /// The op name is recognised; `buf[..scanned]` holds no `\n`.
    Line { kind: Kind, scanned: u32 },
    /// The control line is parsed; waiting for `buf[..frame.len]` (payload and CR LF).
    Payload(Frame),
}

/// A resumable parser for one connection. See the module documentation for the contract.
#[derive(Clone, Debug)]
pub struct Parser {
    role: Role,
    limits: Limits,
    /// The control line limit applied to this role.
    line_limit: usize,
    state: State,
}

impl Parser {
    pub fn new(role: Role, limits: Limits) -> Parser {
        let mut p = Parser {
            role,
            limits,
            line_limit: 0,
            state: State::Start,
        };
        p.set_limits(limits);
        p
    }

    /// Applies new limits (config reload). They take effect from the next check; a payload whose
    /// header was already accepted is still awaited.
    pub fn set_limits(&mut self, limits: Limits) {
        let line = match self.role {
            Role::Client => limits.max_control_line,
            Role::Route => limits.max_control_line.saturating_mul(16),
        };
        self.limits = limits;
        self.line_limit = line.min(MAX_LINE_LIMIT);
    }

    pub fn role(&self) -> Role {
        self.role
    }

    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// When the control line of a message op has been parsed and its payload is still arriving:
    /// the total length the frame will have. Lets the caller reserve buffer space once.
    pub fn pending_frame_len(&self) -> Option<usize> {
        match self.state {
            State::Payload(frame) => Some(frame.len),
            _ => None,
        }
    }

    /// Forgets any partially parsed op (e.g. after the caller discarded its buffer).
    pub fn reset(&mut self) {
        self.state = State::Start;
    }

    /// Parses the op at the start of `buf`.
    ///
    /// * `Ok(Some(frame))`: one complete op in `buf[..frame.len]`; the caller consumes those
    ///   bytes (`advance` or `split_to`) before calling again.
    /// * `Ok(None)`: more bytes are needed; call again with the same bytes plus what arrives.
    /// * `Err(e)`: the stream is invalid; send `e.err_text()` if any, log `e`, close. The
    ///   parser is reset to the start state.
    #[inline]
    pub fn next(&mut self, buf: &[u8]) -> Result<Option<Frame>, ProtocolError> {
        let result = match self.state {
            State::Start => self.start(buf),
            State::Line { kind, scanned } => self.scan_line(buf, kind, scanned as usize),
            State::Payload(frame) => self.await_payload(buf, frame),
        };
        if result.is_err() {
            self.state = State::Start;
        }
        result
    }

    #[inline]
    fn start(&mut self, buf: &[u8]) -> Result<Option<Frame>, ProtocolError> {
        if let Some(kind) = recognize_common(self.role, buf) {
            return self.scan_line(buf, kind, kind.name_len());
        }
        match recognize(self.role, buf) {
            Ok(Some(kind)) => self.scan_line(buf, kind, kind.name_len()),
            Ok(None) => Ok(None),
            Err((state, offset)) => Err(ProtocolError::unknown_op(self.role, state, offset, buf)),
        }
    }

    /// Looks for the `\n` ending the control line, from `from` on.
    #[inline]
    fn scan_line(
        &mut self,
        buf: &[u8],
        kind: Kind,
        from: usize,
    ) -> Result<Option<Frame>, ProtocolError> {
        if buf.len() < from {
            // Not the same bytes as before (contract breach): wait rather than misparse.
            return Ok(None);
        }
        // A complete line is at most name + blanks + arguments + CR LF long; past that the
        // limit check below fails, so never search further.
        let window = buf.len().min(kind.name_len() + 2 * self.line_limit + 2);
        let from = from.min(window);
        match memchr::memchr(b'\n', &buf[from..window]) {
            Some(i) => {
                self.state = State::Start;
                self.parse_line(buf, kind, from + i)
            }
            None => {
                self.check_partial_line(&buf[..window], kind)?;
                self.state = State::Line {
                    kind,
                    scanned: window as u32,
                };
                Ok(None)
            }
        }
    }

    /// Applies the line limit to a line whose end has not arrived yet, so that a peer cannot
    /// make the buffer grow without bound.
    fn check_partial_line(&self, buf: &[u8], kind: Kind) -> Result<(), ProtocolError> {
        let rest = &buf[kind.name_len()..];
        let blanks = count_blanks(rest);
        let mut args = rest.len() - blanks;
        if buf.last() == Some(&b'\r') && args > 0 {
            args -= 1; // may be the CR of CR LF
        }
        self.check_line_len(blanks, args)
    }

    #[inline(always)]
    fn check_line_len(&self, blanks: usize, args: usize) -> Result<(), ProtocolError> {
        if blanks > self.line_limit || args > self.line_limit {
            return Err(ProtocolError::MaxControlLine {
                role: self.role,
                limit: self.line_limit,
                len: blanks.max(args),
            });
        }
        Ok(())
    }

    /// Parses a complete control line ending with the `\n` at `nl`.
    #[inline]
    fn parse_line(
        &mut self,
        buf: &[u8],
        kind: Kind,
        nl: usize,
    ) -> Result<Option<Frame>, ProtocolError> {
        let name_len = kind.name_len();
        let end = if nl > name_len && buf[nl - 1] == b'\r' {
            nl - 1
        } else {
            nl
        };
        let start = name_len + count_blanks(&buf[name_len..end]);
        self.check_line_len(start - name_len, end - start)?;
        let at = nl + 1;
        let max_payload = self.limits.max_payload;
        let op = match kind {
            Kind::Pub => args::pub_op(buf, start, end, at, max_payload)?,
            Kind::Hpub => args::hpub_op(buf, start, end, at, max_payload)?,
            Kind::Sub => args::sub_op(buf, start, end)?,
            Kind::Unsub => args::unsub_op(buf, start, end)?,
            Kind::Ping => Op::Ping,
            Kind::Pong => Op::Pong,
            Kind::Ok => Op::Ok,
            Kind::Err => Op::Err {
                text: Span::new(start, end),
            },
            Kind::Connect => Op::Connect {
                json: Span::new(start, end),
            },
            Kind::Info => Op::Info {
                json: Span::new(start, end),
            },
            Kind::RSub => args::rsub_op(buf, start, end)?,
            Kind::RUnsub => args::runsub_op(buf, start, end)?,
            Kind::RMsg => args::rmsg_op(buf, start, end, at, max_payload, false)?,
            Kind::HMsg => args::rmsg_op(buf, start, end, at, max_payload, true)?,
        };
        let line = Span::new(start, end);
        match op.payload() {
            None => Ok(Some(Frame { len: at, line, op })),
            Some(p) => {
                let frame = Frame {
                    len: p.end as usize + 2,
                    line,
                    op,
                };
                self.await_payload(buf, frame)
            }
        }
    }

    /// Returns `frame` once its payload and CR LF are in `buf`; fails as soon as the bytes after
    /// the payload are not CR LF.
    #[inline]
    fn await_payload(&mut self, buf: &[u8], frame: Frame) -> Result<Option<Frame>, ProtocolError> {
        let cr = frame.len - 2;
        if buf.len() > cr && buf[cr] != b'\r' {
            return Err(ProtocolError::unknown_op(self.role, MSG_END_R, cr, buf));
        }
        if buf.len() > cr + 1 && buf[cr + 1] != b'\n' {
            return Err(ProtocolError::unknown_op(self.role, MSG_END_N, cr + 1, buf));
        }
        if buf.len() >= frame.len {
            self.state = State::Start;
            Ok(Some(frame))
        } else {
            self.state = State::Payload(frame);
            Ok(None)
        }
    }
}

/// The hot path of [`recognize`]: the message op of each role followed by a space, checked as
/// one word (`| 0x20` lower-cases the letters and maps no other byte onto them).
#[inline(always)]
fn recognize_common(role: Role, buf: &[u8]) -> Option<Kind> {
    let head: [u8; 5] = buf.get(..5)?.try_into().ok()?;
    let word = u32::from_le_bytes([head[0], head[1], head[2], head[3]]);
    match role {
        Role::Client if word | 0x0020_2020 == u32::from_le_bytes(*b"pub ") => Some(Kind::Pub),
        Role::Route if word | 0x2020_2020 == u32::from_le_bytes(*b"rmsg") && head[4] == b' ' => {
            Some(Kind::RMsg)
        }
        _ => None,
    }
}

/// Identifies the op name at the start of `buf` (which is not empty).
///
/// `Ok(None)` when `buf` is a valid but incomplete prefix; `Err((state, offset))` at the first
/// byte that cannot continue any op this role accepts.
#[inline]
fn recognize(role: Role, buf: &[u8]) -> Result<Option<Kind>, (u8, usize)> {
    let Some(&first) = buf.first() else {
        return Ok(None);
    };
    let at = |i: usize| buf.get(i).map(u8::to_ascii_uppercase);
    let client = role == Role::Client;
    let kind = match first.to_ascii_uppercase() {
        b'P' => match at(1) {
            None => return Ok(None),
            Some(b'U') if client => Kind::Pub,
            Some(b'I') => Kind::Ping,
            Some(b'O') => Kind::Pong,
            Some(_) => return Err((29, 1)),
        },
        b'H' => match at(1) {
            None => return Ok(None),
            Some(b'P') if client => Kind::Hpub,
            Some(b'M') if !client => Kind::HMsg,
            Some(_) => return Err((18, 1)),
        },
        b'S' if client => Kind::Sub,
        b'U' if client => Kind::Unsub,
        b'R' if !client => match at(1) {
            None => return Ok(None),
            Some(b'S') => match at(2) {
                None => return Ok(None),
                Some(b'+') => Kind::RSub,
                Some(b'-') => Kind::RUnsub,
                Some(_) => return Err((58, 2)),
            },
            Some(b'M') => Kind::RMsg,
            Some(_) => return Err((57, 1)),
        },
        b'C' => Kind::Connect,
        b'I' => Kind::Info,
        b'+' => Kind::Ok,
        b'-' => Kind::Err,
        _ => return Err((0, 0)),
    };
    let spelling = kind.spelling();
    let name = spelling.name;
    for (k, (&b, &want)) in buf.iter().zip(name).enumerate() {
        if !b.eq_ignore_ascii_case(&want) {
            return Err((spelling.states[k], k));
        }
    }
    if spelling.blank_required {
        match buf.get(name.len()) {
            None => return Ok(None),
            Some(&b) if !is_blank(b) => return Err((spelling.states[name.len()], name.len())),
            Some(_) => {}
        }
    } else if buf.len() < name.len() {
        return Ok(None);
    }
    Ok(Some(kind))
}
