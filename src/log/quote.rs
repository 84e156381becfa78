//! Go `%q` quoting of byte strings, as nats-server prints payloads, client
//! descriptors and file names in its logs.
//!
//! Owns one thing: turning arbitrary bytes into the exact text Go's
//! `strconv.Quote` produces, because trace lines (`MSG_PAYLOAD: ["…"]`) and
//! connection prefixes (`"v1.2.3:go:svc-a"`) must be byte-compatible with
//! nats-server's. Rules (checked against nats-server 2.9.10 / 2.15.1 output):
//!
//! * `\a \b \f \n \r \t \v \\ \"` use their short escapes;
//! * other bytes below 0x20 and 0x7f become `\xNN`;
//! * every byte of an invalid UTF-8 sequence becomes `\xNN`;
//! * valid non-ASCII characters are kept as they are when Go calls them
//!   printable (letters, marks, numbers, punctuation, symbols), otherwise
//!   `\uNNNN` (below U+10000) or `\UNNNNNNNN`.
//!
//! Go's "printable" is the complement of the categories Cc, Cf, Cs, Co, Cn,
//! Zl, Zp and Zs-except-space. That is exactly the set Rust's own
//! `escape_debug` leaves alone, so we borrow std's tables instead of
//! shipping our own; only the Unicode version may differ (a character
//! assigned after Go 1.19's tables is escaped by nats-server 2.9.10 and kept
//! here).
//!
//! It never allocates beyond the output string it is given.

use std::fmt::Write as _;

/// Appends the Go `%q` form of `bytes` (with the surrounding quotes) to `out`.
pub fn go_quote_into(out: &mut String, bytes: &[u8]) {
    out.push('"');
    go_quote_inner(out, bytes);
    out.push('"');
}

/// Returns the Go `%q` form of `bytes`, quotes included.
pub fn go_quote(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() + 2);
    go_quote_into(&mut out, bytes);
    out
}

/// Appends the quoted form of `bytes` without the surrounding quotes.
pub(crate) fn go_quote_inner(out: &mut String, bytes: &[u8]) {
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            push_char(out, c);
        }
        for b in chunk.invalid() {
            push_hex_byte(out, *b);
        }
    }
}

fn push_hex_byte(out: &mut String, b: u8) {
    // Writing to a String cannot fail.
    let _ = write!(out, "\\x{b:02x}");
}

fn push_char(out: &mut String, c: char) {
    match c {
        '\u{7}' => out.push_str("\\a"),
        '\u{8}' => out.push_str("\\b"),
        '\u{c}' => out.push_str("\\f"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        '\u{b}' => out.push_str("\\v"),
        '\\' => out.push_str("\\\\"),
        '"' => out.push_str("\\\""),
        c if (c as u32) < 0x20 || c == '\u{7f}' => push_hex_byte(out, c as u8),
        c if c.is_ascii() => out.push(c),
        c if is_go_printable(c) => out.push(c),
        c if (c as u32) < 0x1_0000 => {
            let _ = write!(out, "\\u{:04x}", c as u32);
        }
        c => {
            let _ = write!(out, "\\U{:08x}", c as u32);
        }
    }
}

/// Go's `strconv.IsPrint` for a non-ASCII character.
///
/// `str::escape_debug` leaves a character unescaped exactly when it is
/// printable by the rule above, except that it also escapes grapheme
/// extenders (combining marks) when they come first. Putting an `a` in
/// front sidesteps that special case.
fn is_go_printable(c: char) -> bool {
    let mut buf = [0u8; 8];
    buf[0] = b'a';
    let len = 1 + c.encode_utf8(&mut buf[1..]).len();
    let Ok(s) = std::str::from_utf8(&buf[..len]) else {
        return false;
    };
    let mut escaped = s.escape_debug();
    escaped.next() == Some('a') && escaped.next() == Some(c) && escaped.next().is_none()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ascii_escapes_match_go() {
        assert_eq!(go_quote(b"hello"), r#""hello""#);
        assert_eq!(
            go_quote(b"a\r\n\x00\t\x07\x7f\"\\"),
            r#""a\r\n\x00\t\a\x7f\"\\""#
        );
        assert_eq!(go_quote(b"\x08\x0c\x0b\x1b"), r#""\b\f\v\x1b""#);
        assert_eq!(go_quote(b"'`%"), r#""'`%""#);
        assert_eq!(go_quote(b""), r#""""#);
    }

    #[test]
    fn invalid_utf8_is_escaped_per_byte() {
        assert_eq!(go_quote(b"\xff\xfe z\xc3"), r#""\xff\xfe z\xc3""#);
        assert_eq!(go_quote(b"\xc0\x80"), r#""\xc0\x80""#);
        assert_eq!(go_quote(b"\xed\xa0\x80"), r#""\xed\xa0\x80""#);
        assert_eq!(go_quote(b"\xe2\x82"), r#""\xe2\x82""#);
        assert_eq!(go_quote(b"\xf5\x80\x80\x80"), r#""\xf5\x80\x80\x80""#);
    }

    #[test]
    fn unicode_printability_matches_go() {
        assert_eq!(go_quote("€😀\u{fffd}".as_bytes()), "\"€😀\u{fffd}\"");
        // Combining acute accent first: Go keeps it (category Mn).
        assert_eq!(
            go_quote("\u{301}a\u{ad}\u{2028}\u{3000}\u{85}".as_bytes()),
            "\"\u{301}a\\u00ad\\u2028\\u3000\\u0085\""
        );
        assert_eq!(
            go_quote("\u{a0}\u{301}x\u{200b}".as_bytes()),
            "\"\\u00a0\u{301}x\\u200b\""
        );
        assert_eq!(
            go_quote("\u{e0001}\u{e000}\u{10ffff}\u{378}".as_bytes()),
            r#""\U000e0001\ue000\U0010ffff\u0378""#
        );
    }
}
