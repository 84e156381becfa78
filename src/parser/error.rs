//! Protocol errors raised by the parser: what the server sends, logs and records.
//!
//! One enum, [`ProtocolError`], covers every way a byte stream can be rejected. Each value
//! knows the `-ERR` text nats-server sends ([`ProtocolError::err_text`], `None` for the silent
//! "Protocol Violation" closes), whether the connection closes, the `/connz` closed reason, and
//! (through `Display`) the `[ERR]` log line nats-server prints for it.
//!
//! Construction never allocates: offending bytes are kept in a fixed-size inline [`Snippet`].
//! nats-server logs the whole argument line; we keep the first [`SNIPPET_CAP`] bytes and mark
//! the rest with `...`.

use std::fmt;

use super::Role;

/// How many bytes of an offending line an error keeps for its log text.
pub const SNIPPET_CAP: usize = 64;

/// Bytes nats-server quotes in its parse-error log (`PROTO_SNIPPET_SIZE`).
const PROTO_SNIPPET: usize = 32;

/// Why a control line or payload was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProtocolError {
    /// Unknown op, a bad byte inside an op name, a missing blank after it, an op the role does
    /// not accept, or a payload not followed by CRLF. `state` approximates nats-server's parser
    /// state number and `offset` is the index into the buffer given to `Parser::next`.
    UnknownOp {
        role: Role,
        state: u8,
        offset: usize,
        proto: Snippet,
    },
    /// The control line's arguments (or the blanks before them) exceed the line limit.
    /// `limit` is the limit applied (16 × `max_control_line` on routes), `len` what was seen.
    MaxControlLine {
        role: Role,
        limit: usize,
        len: usize,
    },
    /// A PUB/HPUB/RMSG/HMSG announced more than `max_payload` bytes.
    MaxPayload { size: usize, limit: usize },
    /// Wrong argument count, bad size, bad reply indicator...: closed without `-ERR`.
    BadArgs { kind: ArgError, args: Snippet },
}

impl ProtocolError {
    /// The text sent as `-ERR '<text>'` before closing, or `None` for a silent close.
    pub fn err_text(&self) -> Option<&'static str> {
        match self {
            Self::UnknownOp { .. } => Some("Unknown Protocol Operation"),
            Self::MaxControlLine { .. } => Some("maximum control line exceeded"),
            Self::MaxPayload { .. } => Some("Maximum Payload Violation"),
            Self::BadArgs { .. } => None,
        }
    }

    /// Whether the connection must be closed. Every parser error closes: after one the byte
    /// stream can no longer be framed.
    pub fn closes(&self) -> bool {
        true
    }

    /// The closed reason shown in `/connz?state=closed` (nats-server's `ClosedState` strings).
    pub fn close_reason(&self) -> &'static str {
        match self {
            Self::UnknownOp { .. } | Self::BadArgs { .. } => "Protocol Violation",
            Self::MaxControlLine { .. } => "Maximum Control Line Exceeded",
            Self::MaxPayload { .. } => "Maximum Message Payload Exceeded",
        }
    }

    #[cold]
    pub(super) fn unknown_op(role: Role, state: u8, offset: usize, buf: &[u8]) -> Self {
        Self::UnknownOp {
            role,
            state,
            offset,
            proto: Snippet::proto(buf, offset),
        }
    }

    #[cold]
    pub(super) fn bad_args(kind: ArgError, args: &[u8]) -> Self {
        Self::BadArgs {
            kind,
            args: Snippet::new(args),
        }
    }
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownOp {
                role,
                state,
                offset,
                proto,
            } => write!(
                f,
                "{role} parser ERROR, state={state}, i={offset}: proto='{}...'",
                proto.quoted()
            ),
            Self::MaxControlLine { .. } => f.write_str("maximum control line exceeded"),
            Self::MaxPayload { size, limit } => {
                write!(f, "maximum payload exceeded: {size} vs {limit}")
            }
            Self::BadArgs { kind, args } => {
                f.write_str(kind.message())?;
                match kind.style() {
                    Style::Quoted => write!(f, "{}", args.quoted()),
                    Style::Raw => write!(f, "'{}'", args.raw()),
                    Style::RawRsub => write!(f, "'R {}'", args.raw()),
                    Style::List => write!(f, "'{}'", args.list()),
                }
            }
        }
    }
}

impl std::error::Error for ProtocolError {}

/// Which argument check failed; decides the log text. Named after the nats-server function that
/// performs the same check, whose message prefix it reproduces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArgError {
    PubArgs,
    PubSize,
    HpubArgs,
    HpubHeaderSize,
    HpubTotalSize,
    HpubHeaderTooLarge,
    SubArgs,
    UnsubArgs,
    RsubArgs,
    RunsubArgs,
    RmsgArgs,
    RmsgReply,
    RmsgSize,
    HmsgArgs,
    HmsgReply,
    HmsgHeaderSize,
    HmsgSize,
    HmsgHeaderTooLarge,
}

/// How nats-server formats the offending bytes: `%q` for client ops, `'%s'` of the line or of
/// the split argument list (`[a b c]`) for route ops.
enum Style {
    Quoted,
    Raw,
    RawRsub,
    List,
}

impl ArgError {
    fn message(self) -> &'static str {
        match self {
            Self::PubArgs => "processPub Parse Error: ",
            Self::PubSize => "processPub Bad or Missing Size: ",
            Self::HpubArgs => "processHeaderPub Parse Error: ",
            Self::HpubHeaderSize => "processHeaderPub Bad or Missing Header Size: ",
            Self::HpubTotalSize => "processHeaderPub Bad or Missing Total Size: ",
            Self::HpubHeaderTooLarge => "processHeaderPub Header Size larger then TotalSize: ",
            Self::SubArgs => "processSub Parse Error: ",
            Self::UnsubArgs => "processUnsub Parse Error: ",
            Self::RsubArgs => "processRemoteSub Parse Error: ",
            Self::RunsubArgs => "processRemoteUnsub parse error: ",
            Self::RmsgArgs => "processRoutedMsgArgs Parse Error: ",
            Self::RmsgReply => "processRoutedMsgArgs Bad or Missing Reply Indicator: ",
            Self::RmsgSize => "processRoutedMsgArgs Bad or Missing Size: ",
            Self::HmsgArgs => "processRoutedHeaderMsgArgs Parse Error: ",
            Self::HmsgReply => "processRoutedHeaderMsgArgs Bad or Missing Reply Indicator: ",
            Self::HmsgHeaderSize => "processRoutedHeaderMsgArgs Bad or Missing Header Size: ",
            Self::HmsgSize => "processRoutedHeaderMsgArgs Bad or Missing Size: ",
            Self::HmsgHeaderTooLarge => {
                "processRoutedHeaderMsgArgs Header Size larger then TotalSize: "
            }
        }
    }

    fn style(self) -> Style {
        match self {
            Self::PubArgs
            | Self::PubSize
            | Self::HpubArgs
            | Self::HpubHeaderSize
            | Self::HpubTotalSize
            | Self::HpubHeaderTooLarge
            | Self::SubArgs
            | Self::UnsubArgs => Style::Quoted,
            Self::RsubArgs => Style::RawRsub,
            Self::RmsgArgs | Self::RmsgSize | Self::HmsgArgs | Self::HmsgSize => Style::List,
            Self::RunsubArgs
            | Self::RmsgReply
            | Self::HmsgReply
            | Self::HmsgHeaderSize
            | Self::HmsgHeaderTooLarge => Style::Raw,
        }
    }
}

/// Up to [`SNIPPET_CAP`] bytes copied out of the read buffer for an error's log text.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Snippet {
    bytes: [u8; SNIPPET_CAP],
    len: u8,
    truncated: bool,
}

impl Snippet {
    fn new(src: &[u8]) -> Self {
        let len = src.len().min(SNIPPET_CAP);
        let mut bytes = [0; SNIPPET_CAP];
        bytes[..len].copy_from_slice(&src[..len]);
        Snippet {
            bytes,
            len: len as u8,
            truncated: src.len() > len,
        }
    }

    /// nats-server's `protoSnippet(i, 32, buf)`, quirk included: when fewer than 32 bytes
    /// follow `start`, the last byte of the buffer is left out.
    fn proto(buf: &[u8], start: usize) -> Self {
        if start >= buf.len() {
            return Self::new(&[]);
        }
        let mut stop = start + PROTO_SNIPPET;
        if stop > buf.len() {
            stop = buf.len() - 1;
        }
        Self::new(&buf[start..stop])
    }

    /// The bytes kept (at most [`SNIPPET_CAP`]).
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len as usize]
    }

    /// Whether the original was longer than what is kept.
    pub fn is_truncated(&self) -> bool {
        self.truncated
    }

    fn ellipsis(&self) -> &'static str {
        if self.truncated {
            "..."
        } else {
            ""
        }
    }

    /// Go's `%q`: double-quoted, with escapes for quotes, controls and invalid UTF-8.
    fn quoted(&self) -> impl fmt::Display + '_ {
        Fmt(move |f: &mut fmt::Formatter<'_>| {
            f.write_str("\"")?;
            for chunk in self.as_bytes().utf8_chunks() {
                for c in chunk.valid().chars() {
                    match c {
                        '"' => f.write_str("\\\"")?,
                        '\\' => f.write_str("\\\\")?,
                        '\x07' => f.write_str("\\a")?,
                        '\x08' => f.write_str("\\b")?,
                        '\x0c' => f.write_str("\\f")?,
                        '\n' => f.write_str("\\n")?,
                        '\r' => f.write_str("\\r")?,
                        '\t' => f.write_str("\\t")?,
                        '\x0b' => f.write_str("\\v")?,
                        c if (c as u32) < 0x80 && c.is_control() => {
                            write!(f, "\\x{:02x}", c as u32)?
                        }
                        c if c.is_control() => write!(f, "\\u{:04x}", c as u32)?,
                        c => write!(f, "{c}")?,
                    }
                }
                for b in chunk.invalid() {
                    write!(f, "\\x{b:02x}")?;
                }
            }
            write!(f, "{}\"", self.ellipsis())
        })
    }

    /// Go's `%s` of a byte slice (invalid UTF-8 replaced).
    fn raw(&self) -> impl fmt::Display + '_ {
        Fmt(move |f: &mut fmt::Formatter<'_>| {
            write!(
                f,
                "{}{}",
                String::from_utf8_lossy(self.as_bytes()),
                self.ellipsis()
            )
        })
    }

    /// Go's `%s` of the split argument list: `[a b c]`.
    fn list(&self) -> impl fmt::Display + '_ {
        Fmt(move |f: &mut fmt::Formatter<'_>| {
            f.write_str("[")?;
            let words = self
                .as_bytes()
                .split(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
                .filter(|w| !w.is_empty());
            for (i, w) in words.enumerate() {
                if i > 0 {
                    f.write_str(" ")?;
                }
                write!(f, "{}", String::from_utf8_lossy(w))?;
            }
            write!(f, "{}]", self.ellipsis())
        })
    }
}

impl fmt::Debug for Snippet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.quoted())
    }
}

/// Adapts a closure to `Display`.
struct Fmt<F>(F);

impl<F: Fn(&mut fmt::Formatter<'_>) -> fmt::Result> fmt::Display for Fmt<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (self.0)(f)
    }
}
