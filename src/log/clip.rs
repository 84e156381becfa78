//! Bounding what a peer controls in a log line.
//!
//! Owns one rule: a value that comes from a client or a route peer (a
//! subject, queue, sid, user or client name, an `-ERR` text) is written
//! with at most [`CLIENT_TEXT_MAX`] of its bytes, cut on a character
//! boundary and marked `...` where it was cut; a rejected CONNECT body with
//! at most [`BODY_SNIPPET_MAX`], its secrets redacted. Call sites wrap
//! the value, not the line: `log::error!("{p} - Publish Violation - Subject
//! {}", log::clip_quoted(subject))`, so the server's own text around it
//! (`, SID 1`) is always kept whole and in nats-server's order.
//!
//! Why at the call sites and not in the logger: the logger receives a
//! formatted line and cannot tell the server's words from a peer's bytes;
//! a cap there would cut the end of the line (the sid after a long subject)
//! instead of the long value. nats-server bounds only its parse-error
//! snippets (32 bytes of the op, `protoSnippet`) and drops the CONNECT body
//! from its errors; it writes subjects, queues, sids, user and client names
//! in full, so with a raised `max_control_line` one bad op could add a
//! megabyte to its log. We do not copy that: 128 bytes is nats-server's
//! largest snippet (`MAX_CONTROL_LINE_SNIPPET_SIZE`), enough for any
//! subject a person reads.
//!
//! Never allocates more than the bounded text, and never looks more than
//! three bytes past the cut, so a 1 MB value costs what a 128-byte one does. Trace lines (`-V`) are
//! not clipped here: their op lines are nats-server's and their payloads
//! follow `max_traced_msg_len`.

use std::borrow::Cow;
use std::fmt::{self, Write as _};

use super::conn::redact_secrets;
use super::quote::go_quote_inner;

/// The most bytes of one peer-supplied value a log line carries.
pub const CLIENT_TEXT_MAX: usize = 128;

/// The most bytes of a rejected protocol body (a CONNECT that is not JSON)
/// an error line echoes: nats-server's `PROTO_SNIPPET_SIZE`, what it shows
/// of a bad op. For a CONNECT it shows none, only Go's JSON error.
pub const BODY_SNIPPET_MAX: usize = 32;

/// What marks a value that was cut (nats-server's marker for cut traces).
pub const CUT_MARKER: &str = "...";

/// A peer-supplied value prepared for a log line; see the module doc.
/// `Display` writes it, cut to its bound, either as Go's `%s` (invalid
/// UTF-8 as U+FFFD) or Go's `%q` with the marker inside the quotes
/// (`"deny.xxxx..."`, as nats-server marks a cut `MSG_PAYLOAD`).
#[derive(Clone, Debug)]
pub struct Clip<'a> {
    head: Cow<'a, [u8]>,
    cut: bool,
    quoted: bool,
}

/// A peer's value as Go's `%s`, at most [`CLIENT_TEXT_MAX`] bytes.
pub fn clip(value: &(impl AsRef<[u8]> + ?Sized)) -> Clip<'_> {
    Clip::new(value.as_ref(), CLIENT_TEXT_MAX, false)
}

/// A peer's value as Go's `%q`, at most [`CLIENT_TEXT_MAX`] bytes of it.
pub fn clip_quoted(value: &(impl AsRef<[u8]> + ?Sized)) -> Clip<'_> {
    Clip::new(value.as_ref(), CLIENT_TEXT_MAX, true)
}

/// The start of a rejected protocol body as Go's `%q`: at most
/// [`BODY_SNIPPET_MAX`] bytes, secrets redacted (`"{\"user\":\"a\",\"pass\"..."`).
pub fn clip_body(body: &[u8]) -> Clip<'_> {
    Clip::new(body, BODY_SNIPPET_MAX, true).redacted()
}

impl<'a> Clip<'a> {
    /// `value` cut to at most `max` bytes (0 keeps nothing but the marker).
    pub fn new(value: &'a [u8], max: usize, quoted: bool) -> Clip<'a> {
        let len = head_len(value, max);
        Clip {
            head: Cow::Borrowed(&value[..len]),
            cut: len < value.len(),
            quoted,
        }
    }

    /// Hides passwords, tokens, signatures and nkeys in what is kept, with
    /// the trace redaction rules (for a CONNECT body in an error line). The
    /// value is cut first, so a secret cut short is still hidden and the
    /// work is bounded.
    pub fn redacted(self) -> Clip<'a> {
        let head = match self.head {
            Cow::Borrowed(b) => redact_secrets(b),
            Cow::Owned(b) => Cow::Owned(redact_secrets(&b).into_owned()),
        };
        Clip { head, ..self }
    }

    /// Whether the value was longer than what is written.
    pub fn is_cut(&self) -> bool {
        self.cut
    }
}

impl fmt::Display for Clip<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let marker = if self.cut { CUT_MARKER } else { "" };
        if self.quoted {
            let mut s = String::with_capacity(self.head.len() + 8);
            s.push('"');
            go_quote_inner(&mut s, &self.head);
            s.push_str(marker);
            s.push('"');
            f.write_str(&s)
        } else {
            for chunk in self.head.utf8_chunks() {
                f.write_str(chunk.valid())?;
                if !chunk.invalid().is_empty() {
                    f.write_char(char::REPLACEMENT_CHARACTER)?;
                }
            }
            f.write_str(marker)
        }
    }
}

/// The longest prefix of `value` of at most `max` bytes that does not end
/// inside a UTF-8 character: a cut never splits `é` into a stray `\xc3`.
/// Bytes that are not UTF-8 anyway are cut where the bound falls.
pub fn head_len(value: &[u8], max: usize) -> usize {
    if value.len() <= max {
        return value.len();
    }
    // Back up over at most three continuation bytes to the lead byte of the
    // character the bound falls in, if that character is complete UTF-8.
    let mut start = max;
    while start > 0 && max - start < 3 && value[start] & 0xc0 == 0x80 {
        start -= 1;
    }
    let lead = value[start];
    let width = match lead {
        0xc2..=0xdf => 2,
        0xe0..=0xef => 3,
        0xf0..=0xf4 => 4,
        _ => return max,
    };
    let end = start + width;
    if start < max
        && end > max
        && end <= value.len()
        && std::str::from_utf8(&value[start..end]).is_ok()
    {
        start
    } else {
        max
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_values_are_untouched() {
        assert_eq!(clip("deny.x").to_string(), "deny.x");
        assert_eq!(clip_quoted("deny.x").to_string(), r#""deny.x""#);
        assert_eq!(clip_quoted("").to_string(), r#""""#);
        let exact = "s".repeat(CLIENT_TEXT_MAX);
        assert_eq!(clip(&exact).to_string(), exact);
        assert!(!clip(&exact).is_cut());
    }

    #[test]
    fn long_values_keep_the_bound_and_the_marker() {
        let long = "x".repeat(1_000_000);
        let raw = clip(&long).to_string();
        assert_eq!(raw.len(), CLIENT_TEXT_MAX + 3);
        assert!(raw.ends_with("x..."), "{raw}");
        let quoted = clip_quoted(&long).to_string();
        assert_eq!(quoted, format!("\"{}...\"", "x".repeat(CLIENT_TEXT_MAX)));
        assert!(clip_quoted(&long).is_cut());
    }

    #[test]
    fn quoting_is_go_percent_q_of_the_kept_bytes() {
        let mut v = b"a\"b\\c\x00\xff".to_vec();
        v.extend(std::iter::repeat_n(b'\n', 200));
        let out = clip_quoted(&v).to_string();
        let mut want = String::from(r#""a\"b\\c\x00\xff"#);
        want.push_str(&"\\n".repeat(CLIENT_TEXT_MAX - 7));
        want.push_str("...\"");
        assert_eq!(out, want);
        // Worst case: every kept byte escaped as \xNN.
        let bin = vec![0x01u8; 10_000];
        assert_eq!(clip_quoted(&bin).to_string().len(), CLIENT_TEXT_MAX * 4 + 5);
    }

    #[test]
    fn raw_form_replaces_invalid_utf8() {
        assert_eq!(clip(b"a\xffb").to_string(), "a\u{fffd}b");
    }

    #[test]
    fn cuts_on_a_character_boundary() {
        // 127 ASCII bytes then a 2-byte 'é': the bound falls inside it.
        let mut s = "a".repeat(CLIENT_TEXT_MAX - 1);
        s.push_str("éé");
        assert_eq!(clip(&s).to_string(), format!("{}...", "a".repeat(127)));
        // A 4-byte character straddling the bound at every offset.
        for pad in 0..4 {
            let s = format!("{}{}", "a".repeat(CLIENT_TEXT_MAX - pad), "😀".repeat(3));
            let out = clip(&s).to_string();
            assert!(out.len() <= CLIENT_TEXT_MAX + 3, "{pad}: {out}");
            assert!(!out.contains('\u{fffd}'), "{pad}: {out}");
            assert!(out.ends_with("..."));
        }
        // Not UTF-8: cut where the bound falls.
        let bin = vec![0x80u8; 300];
        assert_eq!(head_len(&bin, CLIENT_TEXT_MAX), CLIENT_TEXT_MAX);
        let lead_only = [b'a', 0xe2, b'b', b'c'];
        assert_eq!(head_len(&lead_only, 2), 2);
        assert_eq!(head_len("aé".as_bytes(), 2), 1);
        assert_eq!(head_len("é".as_bytes(), 0), 0);
    }

    #[test]
    fn body_snippet_is_short_and_redacted() {
        let body = format!(r#"{{"pass":"s3cr3t","name":"{}"}}"#, "n".repeat(1 << 20));
        assert_eq!(
            clip_body(body.as_bytes()).to_string(),
            r#""{\"pass\":\"[REDACTED]\",\"name\":\"nnnnnnn...""#
        );
        assert_eq!(clip_body(b"{not json}").to_string(), r#""{not json}""#);
    }

    #[test]
    fn redaction_applies_to_the_kept_part() {
        let body = format!(
            r#"{{"user":"bob","pass":"s3cr3t","name":"{}"}}"#,
            "n".repeat(500)
        );
        let out = Clip::new(body.as_bytes(), 40, true).redacted().to_string();
        assert_eq!(
            out,
            r#""{\"user\":\"bob\",\"pass\":\"[REDACTED]\",\"name\":\"nn...""#
        );
        // A password cut short by the bound is still hidden.
        let out = Clip::new(body.as_bytes(), 25, false).redacted().to_string();
        assert_eq!(out, r#"{"user":"bob","pass":"[REDACTED]..."#);
    }
}
