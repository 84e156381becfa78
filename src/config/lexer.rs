//! Tokeniser for the NATS configuration language (nats-server `conf/lex.go`).
//!
//! It owns the character-level grammar: separators, terminators, comments,
//! quoting and escapes, block strings, number/date/bool recognition, `$var`
//! and `include` tokens. It is a state machine with a return stack, because
//! the accepted language and the error texts (`Expected a top-level value to
//! end with a new line, comment or EOF, but got 'b' instead.`) are defined by
//! nats-server's state machine; the states below carry its names so a reader
//! can check one against the other.
//!
//! It never interprets values (no integer parsing, no variable lookup, no
//! file access) — see `parse.rs` — and it never panics on any input: on the
//! first error it emits one [`TokKind::Error`] token and stops.
//!
//! The end of input is represented by `'\0'`, as in nats-server, so a NUL
//! byte inside the text behaves like the end of the input there too.

const EOF: char = '\0';

/// Token types, as emitted in source order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokKind {
    Error,
    Eof,
    Key,
    Text,
    String,
    Bool,
    Integer,
    Float,
    Datetime,
    ArrayStart,
    ArrayEnd,
    MapStart,
    MapEnd,
    CommentStart,
    Variable,
    Include,
}

/// One token: its text (unescaped for strings; the message for errors) and
/// its line and nats-server column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub kind: TokKind,
    pub val: String,
    pub line: usize,
    pub col: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum St {
    Top,
    TopValueEnd,
    BlockStart,
    BlockValueEnd,
    BlockEnd,
    KeyStart,
    DubQuotedKey,
    QuotedKey,
    Key,
    KeyEnd,
    IncludeStart,
    Include,
    IncludeQuoted,
    IncludeDubQuoted,
    IncludeString,
    Value,
    ArrayValue,
    ArrayValueEnd,
    ArrayEnd,
    MapKeyStart,
    MapQuotedKey,
    MapDubQuotedKey,
    MapKey,
    MapKeyEnd,
    MapValue,
    MapValueEnd,
    MapEnd,
    QuotedString,
    DubQuotedString,
    String,
    Block,
    StringEscape,
    StringBinary,
    NumberStart,
    Number,
    ConvenientNumber,
    DateAfterYear,
    NegNumberStart,
    NegNumber,
    FloatStart,
    Float,
    IpAddr,
    CommentStart,
    Comment,
    /// Terminal: an Eof or Error token was emitted.
    Done,
}

/// Tokenises `input` completely (up to and including the first Eof or Error).
pub fn tokenize(input: &str) -> Vec<Token> {
    let mut lx = Lexer {
        input,
        start: 0,
        pos: 0,
        width: 0,
        line: 1,
        lstart: 0,
        ilstart: 0,
        stack: Vec::new(),
        parts: Vec::new(),
        string_state: St::String,
        out: Vec::new(),
    };
    let mut st = St::Top;
    while st != St::Done {
        st = lx.step(st);
    }
    lx.out
}

struct Lexer<'a> {
    input: &'a str,
    start: usize,
    pos: usize,
    width: usize,
    line: usize,
    /// Byte index of the newline that started the current line (0 on line 1).
    lstart: usize,
    /// `lstart` as of the last emit/ignore: the base of emitted columns.
    ilstart: usize,
    stack: Vec<St>,
    /// Pieces of a string being unescaped.
    parts: Vec<String>,
    /// The string state to resume after an escape sequence.
    string_state: St,
    out: Vec<Token>,
}

fn is_ws(r: char) -> bool {
    r == '\t' || r == ' '
}

fn is_nl(r: char) -> bool {
    r == '\n' || r == '\r'
}

fn is_key_sep(r: char) -> bool {
    r == '=' || r == ':'
}

fn is_space(r: char) -> bool {
    // Go's unicode.IsSpace.
    matches!(
        r,
        '\t' | '\n' | '\u{0B}' | '\u{0C}' | '\r' | ' ' | '\u{85}' | '\u{A0}'
    ) || (r > '\u{FF}' && r.is_whitespace())
}

fn is_digit(r: char) -> bool {
    // Go's unicode.IsDigit (Nd); ASCII plus other decimal digits.
    r.is_ascii_digit() || is_nd(r)
}

fn is_nd(r: char) -> bool {
    // Non-ASCII decimal digits are rare in configs; accept the common blocks.
    matches!(r as u32, 0x660..=0x669 | 0x6F0..=0x6F9 | 0x966..=0x96F | 0xFF10..=0xFF19)
}

fn is_number_suffix(r: char) -> bool {
    matches!(
        r,
        'k' | 'K' | 'm' | 'M' | 'g' | 'G' | 't' | 'T' | 'p' | 'P' | 'e' | 'E'
    )
}

/// Decodes one UTF-8 character; an invalid byte decodes as U+FFFD of width
/// 1, as Go does.
fn decode_rune(b: &[u8]) -> (char, usize) {
    let len = match b[0] {
        0x00..=0x7F => 1,
        0xC0..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xF7 => 4,
        _ => return ('\u{FFFD}', 1),
    };
    match b.get(..len).map(std::str::from_utf8) {
        Some(Ok(s)) => (s.chars().next().unwrap_or('\u{FFFD}'), len),
        _ => ('\u{FFFD}', 1),
    }
}

/// How a rune is shown inside an error message.
fn shown(r: char) -> String {
    match r {
        '\n' => "\\n".to_string(),
        EOF => "\u{0}".to_string(),
        c => c.to_string(),
    }
}

impl Lexer<'_> {
    fn next(&mut self) -> char {
        if self.pos >= self.input.len() {
            self.width = 0;
            return EOF;
        }
        let bytes = self.input.as_bytes();
        if bytes[self.pos] == b'\n' {
            self.line += 1;
            self.lstart = self.pos;
        }
        let (r, width) = decode_rune(&bytes[self.pos..]);
        self.width = width;
        self.pos += width;
        r
    }

    fn backup(&mut self) {
        self.pos -= self.width;
        if self.pos < self.input.len() && self.input.as_bytes()[self.pos] == b'\n' {
            self.line -= 1;
        }
    }

    fn peek(&mut self) -> char {
        let r = self.next();
        self.backup();
        r
    }

    fn ignore(&mut self) {
        self.start = self.pos;
        self.ilstart = self.lstart;
    }

    /// The text between `start` and `pos` (lossy: the double `backup()` of
    /// block strings can leave `pos` inside a multi-byte character).
    fn current(&self) -> String {
        self.slice(self.start.min(self.pos), self.pos)
    }

    fn slice(&self, from: usize, to: usize) -> String {
        String::from_utf8_lossy(&self.input.as_bytes()[from..to]).into_owned()
    }

    fn push_tok(&mut self, kind: TokKind, val: String) {
        let col = self
            .pos
            .saturating_sub(self.ilstart)
            .saturating_sub(val.len());
        self.out.push(Token {
            kind,
            val,
            line: self.line,
            col,
        });
        self.start = self.pos;
        self.ilstart = self.lstart;
    }

    fn emit(&mut self, kind: TokKind) {
        let mut val: String = self.parts.concat();
        val.push_str(&self.current());
        self.push_tok(kind, val);
    }

    fn emit_string(&mut self) {
        let mut val: String = std::mem::take(&mut self.parts).concat();
        val.push_str(&self.current());
        self.push_tok(TokKind::String, val);
    }

    fn error(&mut self, msg: String) -> St {
        let col = self.pos.saturating_sub(self.lstart);
        self.out.push(Token {
            kind: TokKind::Error,
            val: msg,
            line: self.line,
            col,
        });
        St::Done
    }

    fn pop(&mut self) -> St {
        match self.stack.pop() {
            Some(s) => s,
            None => self.error("BUG in lexer: no states to pop.".to_string()),
        }
    }

    fn eof_or_unexpected(&mut self) -> St {
        if self.pos > self.start {
            return self.error("Unexpected EOF.".to_string());
        }
        self.emit(TokKind::Eof);
        St::Done
    }

    /// After a `/`: a second `/` starts a comment (returning to `ret`).
    fn slash_comment(&mut self, ret: St) -> Option<St> {
        if self.next() == '/' {
            self.stack.push(ret);
            return Some(St::CommentStart);
        }
        self.backup();
        None
    }

    fn step(&mut self, st: St) -> St {
        match st {
            St::Done => St::Done,
            St::Top => self.top(),
            St::TopValueEnd => self.top_value_end(),
            St::BlockStart => self.block_start(),
            St::BlockValueEnd => self.block_value_end(),
            St::BlockEnd => self.block_end(),
            St::KeyStart => self.key_start(),
            St::DubQuotedKey => self.quoted_key('"'),
            St::QuotedKey => self.quoted_key('\''),
            St::Key => self.key(),
            St::KeyEnd => self.key_end(),
            St::IncludeStart => {
                if is_ws(self.next()) {
                    self.ignore();
                    return St::IncludeStart;
                }
                self.backup();
                St::Include
            }
            St::Include => self.include(),
            St::IncludeQuoted => self.include_quoted('\'', "Unexpected EOF in quoted include"),
            St::IncludeDubQuoted => {
                self.include_quoted('"', "Unexpected EOF in double quoted include")
            }
            St::IncludeString => self.include_string(),
            St::Value => self.value(),
            St::ArrayValue => self.array_value(),
            St::ArrayValueEnd => self.array_value_end(),
            St::ArrayEnd => {
                self.ignore();
                self.emit(TokKind::ArrayEnd);
                self.pop()
            }
            St::MapKeyStart => self.map_key_start(),
            St::MapQuotedKey => {
                self.map_quoted_key('\'', "Unexpected EOF processing quoted map key.")
            }
            St::MapDubQuotedKey => {
                self.map_quoted_key('"', "Unexpected EOF processing double quoted map key.")
            }
            St::MapKey => self.map_key(),
            St::MapKeyEnd => self.map_key_end(),
            St::MapValue => self.map_value(),
            St::MapValueEnd => self.map_value_end(),
            St::MapEnd => {
                self.ignore();
                self.emit(TokKind::MapEnd);
                self.pop()
            }
            St::QuotedString => self.quoted_string(),
            St::DubQuotedString => self.dub_quoted_string(),
            St::String => self.string(),
            St::Block => self.block(),
            St::StringEscape => self.string_escape(),
            St::StringBinary => self.string_binary(),
            St::NumberStart => self.number_start(),
            St::Number => self.number(),
            St::ConvenientNumber => self.convenient_number(),
            St::DateAfterYear => self.date_after_year(),
            St::NegNumberStart => self.number_start_neg(),
            St::NegNumber => self.neg_number(),
            St::FloatStart => {
                let r = self.next();
                if !is_digit(r) {
                    return self.error(format!(
                        "Floats must have a digit after the '.', but got '{}' instead.",
                        shown(r)
                    ));
                }
                St::Float
            }
            St::Float => self.float(),
            St::IpAddr => {
                let r = self.next();
                if is_digit(r) || r == '.' || r == ':' || r == '-' {
                    return St::IpAddr;
                }
                self.backup();
                self.emit(TokKind::String);
                self.pop()
            }
            St::CommentStart => {
                self.ignore();
                self.emit(TokKind::CommentStart);
                St::Comment
            }
            St::Comment => {
                let r = self.peek();
                if is_nl(r) || r == EOF {
                    self.emit(TokKind::Text);
                    return self.pop();
                }
                self.next();
                St::Comment
            }
        }
    }
}

mod scalars;
mod states;
