//! The scalar states of the configuration lexer, one method each (see
//! `lexer.rs`): quoted and bare strings, escapes, `(( ))` blocks, numbers
//! with suffixes, dates and IPs. The structure around them is `states.rs`.
//!
//! **Must never:** decide what a value means (the parser does).

use super::{is_digit, is_nl, is_number_suffix, is_ws, shown, Lexer, St, TokKind, EOF};

impl Lexer<'_> {
    // ---- strings ----

    pub(super) fn quoted_string(&mut self) -> St {
        let r = self.next();
        if r == '\'' {
            self.backup();
            self.emit(TokKind::String);
            self.next();
            self.ignore();
            return self.pop();
        }
        if r == EOF {
            return self.eof_or_unexpected();
        }
        St::QuotedString
    }

    /// Saves the text before a backslash as a string part.
    fn add_current_part(&mut self) {
        let end = self.pos - 1;
        let part = self.slice(self.start.min(end), end);
        self.parts.push(part);
        self.start = self.pos;
    }

    fn add_part(&mut self, s: &str) -> St {
        self.parts.push(s.to_string());
        self.start = self.pos;
        self.string_state
    }

    pub(super) fn dub_quoted_string(&mut self) -> St {
        let r = self.next();
        if r == '\\' {
            self.add_current_part();
            return St::StringEscape;
        }
        if r == '"' {
            self.backup();
            self.emit_string();
            self.next();
            self.ignore();
            return self.pop();
        }
        if r == EOF {
            return self.eof_or_unexpected();
        }
        St::DubQuotedString
    }

    fn is_bool(&self) -> bool {
        let s = self.current().to_lowercase();
        matches!(s.as_str(), "true" | "false" | "on" | "off" | "yes" | "no")
    }

    pub(super) fn string(&mut self) -> St {
        let r = self.next();
        if r == '\\' {
            self.add_current_part();
            return St::StringEscape;
        }
        if is_nl(r) || r == EOF || r == ';' || r == ',' || r == ']' || r == '}' || is_ws(r) {
            self.backup();
            if !self.parts.is_empty() {
                self.emit_string();
            } else if self.is_bool() {
                self.emit(TokKind::Bool);
            } else if self.input.as_bytes().get(self.start) == Some(&b'$') {
                self.start += 1;
                self.emit(TokKind::Variable);
            } else {
                self.emit_string();
            }
            return self.pop();
        }
        if r == '\'' {
            self.backup();
            self.emit_string();
            self.next();
            self.ignore();
            return self.pop();
        }
        St::String
    }

    /// Block string: raw text up to a `)` that stands alone on its line.
    pub(super) fn block(&mut self) -> St {
        let r = self.next();
        if r == ')' {
            self.backup();
            self.backup();
            if self.next() != '\n' {
                self.next();
                return St::Block;
            }
            self.next();
            let after = self.next();
            if after == '\n' || after == EOF {
                self.backup();
                self.backup();
                self.emit(TokKind::String);
                self.next();
                self.ignore();
                return self.pop();
            }
            self.backup();
            return St::Block;
        }
        if r == EOF {
            return self.error("Unexpected EOF processing block.".to_string());
        }
        St::Block
    }

    pub(super) fn string_escape(&mut self) -> St {
        let r = self.next();
        match r {
            'x' => St::StringBinary,
            't' => self.add_part("\t"),
            'n' => self.add_part("\n"),
            'r' => self.add_part("\r"),
            '"' => self.add_part("\""),
            '\\' => self.add_part("\\"),
            _ => self.error(format!(
                "Invalid escape character '{}'. Only the following escape characters are allowed: \\xXX, \\t, \\n, \\r, \\\", \\\\.",
                shown(r)
            )),
        }
    }

    pub(super) fn string_binary(&mut self) -> St {
        const HIT_EOL: &str = "Expected two hexadecimal digits after '\\x', but hit end of line";
        if is_nl(self.next()) || is_nl(self.next()) {
            return self.error(HIT_EOL.to_string());
        }
        let from = self.pos.saturating_sub(2);
        let hex = self.slice(from, self.pos);
        let Some(byte) = (hex.len() == 2)
            .then(|| u8::from_str_radix(&hex, 16).ok())
            .flatten()
            .filter(|_| hex.bytes().all(|b| b.is_ascii_hexdigit()))
        else {
            return self.error(format!(
                "Expected two hexadecimal digits after '\\x', but got '{hex}'"
            ));
        };
        // nats-server appends the raw byte; a non-UTF-8 byte is kept as U+FFFD.
        let part = String::from_utf8_lossy(&[byte]).into_owned();
        self.parts.push(part);
        self.start = self.pos;
        self.string_state
    }

    // ---- numbers, dates, IPs ----

    pub(super) fn number_start(&mut self) -> St {
        let r = self.next();
        if !is_digit(r) {
            if r == '.' {
                return self.error("Floats must start with a digit, not '.'.".to_string());
            }
            return self.error(format!("Expected a digit but got '{}'.", shown(r)));
        }
        St::Number
    }

    fn number_end(r: char) -> bool {
        is_nl(r) || r == EOF || r == '}' || r == ';' || r == ',' || is_ws(r) || is_digit(r)
    }

    pub(super) fn number(&mut self) -> St {
        let r = self.next();
        if r == '-' {
            if self.pos - self.start != 5 {
                return self.error("All ISO8601 dates must be in full Zulu form.".to_string());
            }
            return St::DateAfterYear;
        }
        if is_digit(r) {
            return St::Number;
        }
        if r == '.' {
            return St::FloatStart;
        }
        if is_number_suffix(r) {
            return St::ConvenientNumber;
        }
        if !Self::number_end(r) {
            self.string_state = St::String;
            return St::String;
        }
        self.backup();
        self.emit(TokKind::Integer);
        self.pop()
    }

    pub(super) fn convenient_number(&mut self) -> St {
        let r = self.next();
        if matches!(r, 'b' | 'B' | 'i' | 'I') {
            return St::ConvenientNumber;
        }
        self.backup();
        if Self::number_end(r) {
            self.emit(TokKind::Integer);
            return self.pop();
        }
        self.string_state = St::String;
        St::String
    }

    pub(super) fn date_after_year(&mut self) -> St {
        const FORMAT: &str = "00-00T00:00:00Z";
        for f in FORMAT.chars() {
            let r = self.next();
            if f == '0' {
                if !is_digit(r) {
                    return self.error(format!(
                        "Expected digit in ISO8601 datetime, but found '{}' instead.",
                        shown(r)
                    ));
                }
            } else if f != r {
                return self.error(format!(
                    "Expected '{f}' in ISO8601 datetime, but found '{}' instead.",
                    shown(r)
                ));
            }
        }
        self.emit(TokKind::Datetime);
        self.pop()
    }

    pub(super) fn number_start_neg(&mut self) -> St {
        let r = self.next();
        if !is_digit(r) {
            if r == '.' {
                return self.error("Floats must start with a digit, not '.'.".to_string());
            }
            return self.error(format!("Expected a digit but got '{}'.", shown(r)));
        }
        St::NegNumber
    }

    pub(super) fn neg_number(&mut self) -> St {
        let r = self.next();
        if is_digit(r) {
            return St::NegNumber;
        }
        if r == '.' {
            return St::FloatStart;
        }
        if is_number_suffix(r) {
            return St::ConvenientNumber;
        }
        self.backup();
        self.emit(TokKind::Integer);
        self.pop()
    }

    pub(super) fn float(&mut self) -> St {
        let r = self.next();
        if is_digit(r) {
            return St::Float;
        }
        if r == '.' {
            return St::IpAddr;
        }
        self.backup();
        self.emit(TokKind::Float);
        self.pop()
    }
}
