//! Subjects as the trie sees them: the bytes of a subject, queue or reply
//! from the wire as the `&str` the `sublist` crate works on.

use std::borrow::Cow;

/// First of the 256 code points standing for raw bytes in [`subject_str`]
/// (U+10FF00..=U+10FFFF, Supplementary Private Use Area-B).
const RAW_BYTE_BASE: u32 = 0x10_FF00;

/// A subject, queue or reply as the `&str` the trie works on.
///
/// nats-server treats subjects as bytes: `PUB f\xff` reaches `SUB f\xff`.
/// Valid UTF-8 is used as is (no copy). Otherwise every invalid byte, and
/// every byte of a code point from the range above, becomes the code point
/// `RAW_BYTE_BASE + byte`. The mapping is injective and keeps every ASCII
/// byte, so tokens, wildcards and the validity rules (which look only at
/// ASCII) are those of the bytes. Messages still carry the original bytes.
pub fn subject_str(bytes: &[u8]) -> Cow<'_, str> {
    if let Ok(s) = std::str::from_utf8(bytes) {
        // Code points >= U+100000 start with 0xF4.
        if memchr::memchr(0xF4, bytes).is_none() || !s.chars().any(|c| c as u32 >= RAW_BYTE_BASE) {
            return Cow::Borrowed(s);
        }
    }
    let raw = |b: u8| char::from_u32(RAW_BYTE_BASE + u32::from(b)).expect("a valid code point");
    let mut out = String::with_capacity(bytes.len() * 4);
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            if c as u32 >= RAW_BYTE_BASE {
                out.extend(c.encode_utf8(&mut [0; 4]).bytes().map(raw));
            } else {
                out.push(c);
            }
        }
        out.extend(chunk.invalid().iter().map(|&b| raw(b)));
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subject_str_borrows_utf8_and_maps_other_bytes_injectively() {
        assert!(matches!(subject_str(b"foo.bar"), Cow::Borrowed("foo.bar")));
        assert!(matches!(
            subject_str("f\u{e9}.*".as_bytes()),
            Cow::Borrowed(_)
        ));
        let inputs: [&[u8]; 7] = [
            b"f\xff",
            b"f\xc3\xbf",             // "fÿ": must not meet b"f\xff"
            "f\u{10FFFF}".as_bytes(), // a code point of the raw range
            b"f\xf4\x8f\xbf\xbf",     // the same bytes: same string
            b"f\xf4\x8f\xbf",         // a truncated one: different
            b"a.\xfe.>",
            "f\u{10FF00}\u{100000}".as_bytes(),
        ];
        let mapped: Vec<String> = inputs.iter().map(|b| subject_str(b).into_owned()).collect();
        assert_eq!(mapped[2], mapped[3]);
        for (i, a) in mapped.iter().enumerate() {
            for (j, b) in mapped.iter().enumerate() {
                if inputs[i] != inputs[j] {
                    assert_ne!(a, b, "{:?} and {:?} collide", inputs[i], inputs[j]);
                }
            }
        }
        // ASCII bytes, and so tokens and wildcards, are kept.
        let s = subject_str(b"a.\xfe.>");
        assert_eq!(s.split('.').count(), 3);
        assert!(s.ends_with(".>") && sublist::subject::is_valid_subject(&s));
        assert!(!sublist::subject::is_valid_subject(&subject_str(
            b"a..\xfe"
        )));
    }
}
