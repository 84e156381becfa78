//! The structural states of the configuration lexer, one method each (see
//! `lexer.rs`): top level and whole-file `{}` blocks; keys and `include`;
//! maps and arrays inside values. The scalar values (strings, numbers,
//! dates, IPs) are `scalars.rs`.
//!
//! **Must never:** decide what a value means (the parser does).

use super::{is_digit, is_key_sep, is_nl, is_space, is_ws, shown, Lexer, St, TokKind, EOF};

impl Lexer<'_> {
    // ---- top level and whole-file blocks ----

    pub(super) fn top(&mut self) -> St {
        let r = self.next();
        if is_space(r) {
            self.ignore();
            return St::Top;
        }
        match r {
            '{' => {
                self.stack.push(St::Top);
                self.ignore();
                return St::BlockStart;
            }
            '#' => {
                self.stack.push(St::Top);
                return St::CommentStart;
            }
            '/' => {
                if let Some(s) = self.slash_comment(St::Top) {
                    return s;
                }
                return self.eof_or_unexpected();
            }
            EOF => return self.eof_or_unexpected(),
            _ => {}
        }
        self.backup();
        self.stack.push(St::TopValueEnd);
        St::KeyStart
    }

    pub(super) fn top_value_end(&mut self) -> St {
        let r = self.next();
        match r {
            '#' => {
                self.stack.push(St::Top);
                return St::CommentStart;
            }
            '/' => {
                if let Some(s) = self.slash_comment(St::Top) {
                    return s;
                }
                return self.top_value_end_bad('/');
            }
            _ => {}
        }
        if is_ws(r) {
            return St::TopValueEnd;
        }
        if is_nl(r) || r == EOF || r == ';' || r == ',' || r == '}' {
            self.ignore();
            return St::Top;
        }
        self.top_value_end_bad(r)
    }

    fn top_value_end_bad(&mut self, r: char) -> St {
        // A lone '/' falls through to the whitespace case in nats-server.
        if r == '/' {
            return St::TopValueEnd;
        }
        self.error(format!(
            "Expected a top-level value to end with a new line, comment or EOF, but got '{}' instead.",
            shown(r)
        ))
    }

    pub(super) fn block_start(&mut self) -> St {
        let r = self.next();
        if is_space(r) {
            self.ignore();
            return St::BlockStart;
        }
        match r {
            '{' => {
                self.stack.push(St::BlockEnd);
                self.ignore();
                return St::BlockStart;
            }
            '}' => {
                self.ignore();
                return self.pop();
            }
            '#' => {
                self.stack.push(St::BlockStart);
                return St::CommentStart;
            }
            '/' => {
                if let Some(s) = self.slash_comment(St::BlockStart) {
                    return s;
                }
                return self.eof_or_unexpected();
            }
            EOF => return self.eof_or_unexpected(),
            _ => {}
        }
        self.backup();
        self.stack.push(St::BlockValueEnd);
        St::KeyStart
    }

    pub(super) fn block_value_end(&mut self) -> St {
        let r = self.next();
        match r {
            '#' => {
                self.stack.push(St::BlockValueEnd);
                return St::CommentStart;
            }
            '/' => {
                if let Some(s) = self.slash_comment(St::BlockValueEnd) {
                    return s;
                }
                return St::BlockValueEnd;
            }
            _ => {}
        }
        if is_ws(r) {
            return St::BlockValueEnd;
        }
        if is_nl(r) || r == ';' || r == ',' {
            self.ignore();
            return St::BlockStart;
        }
        if r == '}' {
            self.backup();
            return St::BlockEnd;
        }
        self.error(format!(
            "Expected a block-level value to end with a new line, comment or EOF, but got '{}' instead.",
            shown(r)
        ))
    }

    pub(super) fn block_end(&mut self) -> St {
        let r = self.next();
        match r {
            '#' => {
                self.stack.push(St::BlockStart);
                return St::CommentStart;
            }
            '/' => {
                if let Some(s) = self.slash_comment(St::BlockStart) {
                    return s;
                }
                return St::BlockEnd;
            }
            _ => {}
        }
        if is_nl(r) || is_ws(r) {
            return St::BlockEnd;
        }
        if r == ';' || r == ',' {
            self.ignore();
            return St::BlockStart;
        }
        if r == '}' {
            self.ignore();
            return self.pop();
        }
        self.error(format!(
            "Expected a block-level to end with a '}}', but got '{}' instead.",
            shown(r)
        ))
    }

    // ---- keys and include ----

    pub(super) fn key_start(&mut self) -> St {
        let r = self.peek();
        if is_key_sep(r) {
            return self.error(format!("Unexpected key separator '{}'", shown(r)));
        }
        if is_space(r) {
            self.next();
            self.ignore();
            return St::KeyStart;
        }
        if r == '"' {
            self.next();
            self.ignore();
            return St::DubQuotedKey;
        }
        if r == '\'' {
            self.next();
            self.ignore();
            return St::QuotedKey;
        }
        self.ignore();
        self.next();
        St::Key
    }

    pub(super) fn quoted_key(&mut self, quote: char) -> St {
        let r = self.peek();
        if r == quote {
            self.emit(TokKind::Key);
            self.next();
            self.ignore();
            return St::KeyEnd;
        }
        if r == EOF {
            return self.eof_or_unexpected();
        }
        self.next();
        if quote == '"' {
            St::DubQuotedKey
        } else {
            St::QuotedKey
        }
    }

    /// A key followed by whitespace: `include` starts an include, anything
    /// else is emitted as a key.
    fn key_check_keyword(&mut self, fall_through: St, push: Option<St>) -> St {
        if self.current().eq_ignore_ascii_case("include") {
            self.ignore();
            if let Some(p) = push {
                self.stack.push(p);
            }
            return St::IncludeStart;
        }
        self.emit(TokKind::Key);
        fall_through
    }

    pub(super) fn key(&mut self) -> St {
        let r = self.peek();
        if is_space(r) {
            return self.key_check_keyword(St::KeyEnd, None);
        }
        if is_key_sep(r) || r == EOF {
            self.emit(TokKind::Key);
            return St::KeyEnd;
        }
        self.next();
        St::Key
    }

    pub(super) fn key_end(&mut self) -> St {
        let r = self.next();
        if is_space(r) {
            self.ignore();
            return St::KeyEnd;
        }
        if is_key_sep(r) {
            self.ignore();
            return St::Value;
        }
        if r == EOF {
            self.emit(TokKind::Eof);
            return St::Done;
        }
        self.backup();
        St::Value
    }

    pub(super) fn include(&mut self) -> St {
        let r = self.next();
        let msg = match r {
            '\'' => {
                self.ignore();
                return St::IncludeQuoted;
            }
            '"' => {
                self.ignore();
                return St::IncludeDubQuoted;
            }
            '[' => "Expected include value but found start of an array",
            '{' => "Expected include value but found start of a map",
            '(' => "Expected include value but found start of a block",
            '-' => "Expected include value but found start of a number",
            '\\' => "Expected include value but found escape sequence",
            c if is_digit(c) => "Expected include value but found start of a number",
            c if is_nl(c) => "Expected include value but found new line",
            _ => {
                self.backup();
                return St::IncludeString;
            }
        };
        self.error(msg.to_string())
    }

    pub(super) fn include_quoted(&mut self, quote: char, eof_msg: &str) -> St {
        let r = self.next();
        if r == quote {
            self.backup();
            self.emit(TokKind::Include);
            self.next();
            self.ignore();
            return self.pop();
        }
        if r == EOF {
            return self.error(eof_msg.to_string());
        }
        if quote == '"' {
            St::IncludeDubQuoted
        } else {
            St::IncludeQuoted
        }
    }

    pub(super) fn include_string(&mut self) -> St {
        let r = self.next();
        if is_nl(r) || r == EOF || r == ';' || r == '}' || is_ws(r) {
            self.backup();
            self.emit(TokKind::Include);
            return self.pop();
        }
        if r == '\'' {
            self.backup();
            self.emit(TokKind::Include);
            self.next();
            self.ignore();
            return self.pop();
        }
        St::IncludeString
    }

    // ---- maps inside values ----

    pub(super) fn map_key_start(&mut self) -> St {
        let r = self.peek();
        if is_key_sep(r) {
            return self.error(format!("Unexpected key separator '{}'.", shown(r)));
        }
        if r == ']' {
            return self.error(format!(
                "Unexpected array end '{}' processing map.",
                shown(r)
            ));
        }
        if is_space(r) {
            self.next();
            self.ignore();
            return St::MapKeyStart;
        }
        match r {
            '}' => {
                self.next();
                self.ignore();
                return St::MapEnd;
            }
            '#' => {
                self.next();
                self.stack.push(St::MapKeyStart);
                return St::CommentStart;
            }
            '/' => {
                self.next();
                if self.next() == '/' {
                    self.stack.push(St::MapKeyStart);
                    return St::CommentStart;
                }
                self.backup();
            }
            '\'' => {
                self.next();
                self.ignore();
                return St::MapQuotedKey;
            }
            '"' => {
                self.next();
                self.ignore();
                return St::MapDubQuotedKey;
            }
            EOF => return self.error("Unexpected EOF processing map.".to_string()),
            _ => {}
        }
        self.ignore();
        self.next();
        St::MapKey
    }

    pub(super) fn map_quoted_key(&mut self, quote: char, eof_msg: &str) -> St {
        let r = self.peek();
        if r == EOF {
            return self.error(eof_msg.to_string());
        }
        if r == quote {
            self.emit(TokKind::Key);
            self.next();
            self.ignore();
            return St::MapKeyEnd;
        }
        self.next();
        if quote == '"' {
            St::MapDubQuotedKey
        } else {
            St::MapQuotedKey
        }
    }

    pub(super) fn map_key(&mut self) -> St {
        let r = self.peek();
        if r == EOF {
            return self.error("Unexpected EOF processing map key.".to_string());
        }
        if is_space(r) {
            return self.key_check_keyword(St::MapKeyEnd, Some(St::MapValueEnd));
        }
        if is_key_sep(r) {
            self.emit(TokKind::Key);
            return St::MapKeyEnd;
        }
        self.next();
        St::MapKey
    }

    pub(super) fn map_key_end(&mut self) -> St {
        let r = self.next();
        if is_space(r) {
            self.ignore();
            return St::MapKeyEnd;
        }
        if is_key_sep(r) {
            self.ignore();
            return St::MapValue;
        }
        self.backup();
        St::MapValue
    }

    pub(super) fn map_value(&mut self) -> St {
        let r = self.next();
        if is_space(r) {
            self.ignore();
            return St::MapValue;
        }
        if r == ',' {
            return self.error("Unexpected map value terminator \",\".".to_string());
        }
        if r == '}' {
            self.ignore();
            return St::MapEnd;
        }
        self.backup();
        self.stack.push(St::MapValueEnd);
        St::Value
    }

    pub(super) fn map_value_end(&mut self) -> St {
        let r = self.next();
        if is_ws(r) {
            self.ignore();
            return St::MapValueEnd;
        }
        match r {
            '#' => {
                self.stack.push(St::MapValueEnd);
                return St::CommentStart;
            }
            '/' => {
                if let Some(s) = self.slash_comment(St::MapValueEnd) {
                    return s;
                }
                self.ignore();
                return St::MapKeyStart;
            }
            _ => {}
        }
        if r == ';' || r == ',' || is_nl(r) {
            self.ignore();
            return St::MapKeyStart;
        }
        if r == '}' {
            self.ignore();
            return St::MapEnd;
        }
        self.error(format!(
            "Expected a map value terminator \",\" or a map terminator \"}}\", but got '{}' instead.",
            shown(r)
        ))
    }

    // ---- values ----

    pub(super) fn value(&mut self) -> St {
        let r = self.next();
        if is_ws(r) {
            self.ignore();
            return St::Value;
        }
        match r {
            '[' => {
                self.ignore();
                self.emit(TokKind::ArrayStart);
                St::ArrayValue
            }
            '{' => {
                self.ignore();
                self.emit(TokKind::MapStart);
                St::MapKeyStart
            }
            '\'' => {
                self.ignore();
                St::QuotedString
            }
            '"' => {
                self.ignore();
                self.string_state = St::DubQuotedString;
                St::DubQuotedString
            }
            '-' => St::NegNumberStart,
            '(' => {
                self.ignore();
                St::Block
            }
            '.' => self.error("Floats must start with a digit".to_string()),
            c if is_digit(c) => {
                self.backup();
                St::NumberStart
            }
            c if is_nl(c) => self.error("Expected value but found new line".to_string()),
            _ => {
                self.backup();
                self.string_state = St::String;
                St::String
            }
        }
    }

    pub(super) fn array_value(&mut self) -> St {
        let r = self.next();
        if is_space(r) {
            self.ignore();
            return St::ArrayValue;
        }
        match r {
            '#' => {
                self.stack.push(St::ArrayValue);
                return St::CommentStart;
            }
            '/' => {
                if let Some(s) = self.slash_comment(St::ArrayValue) {
                    return s;
                }
                return self.error("Unexpected array value terminator ','.".to_string());
            }
            ',' => return self.error("Unexpected array value terminator ','.".to_string()),
            ']' => return St::ArrayEnd,
            _ => {}
        }
        self.backup();
        self.stack.push(St::ArrayValueEnd);
        St::Value
    }

    pub(super) fn array_value_end(&mut self) -> St {
        let r = self.next();
        if is_ws(r) {
            self.ignore();
            return St::ArrayValueEnd;
        }
        match r {
            '#' => {
                self.stack.push(St::ArrayValueEnd);
                return St::CommentStart;
            }
            '/' => {
                if let Some(s) = self.slash_comment(St::ArrayValueEnd) {
                    return s;
                }
                self.ignore();
                return St::ArrayValue;
            }
            _ => {}
        }
        if r == ',' || is_nl(r) {
            self.ignore();
            return St::ArrayValue;
        }
        if r == ']' {
            return St::ArrayEnd;
        }
        self.error(format!(
            "Expected an array value terminator \",\" or an array terminator \"]\", but got '{}' instead.",
            shown(r)
        ))
    }
}
