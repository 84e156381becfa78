//! Subject and queue-name syntax: validation, tokenizing, and pattern matching.
//!
//! Matches nats-server's rules (`docs/protocol.md#subjects-and-queue-groups`): tokens are separated
//! by `.`, no token may be empty, whitespace is never allowed, `*` matches
//! exactly one token and `>` one or more trailing tokens. A wildcard is only a
//! wildcard when it is the whole token (`foo.bar*` is a literal).
//!
//! Everything here is pure and allocation-free, so the server can call it on
//! the hot path.

/// The token separator.
pub const SEP: u8 = b'.';
/// The single-token wildcard.
pub const PWC: &str = "*";
/// The full (trailing) wildcard.
pub const FWC: &str = ">";

/// Bytes that may never appear in a subject or queue name (nats-server
/// rejects the same set).
#[inline]
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n' | b'\x0c')
}

/// Is `subject` a valid *subscription* subject: non-empty tokens, no
/// whitespace, and `>` (if any) only as the last token?
pub fn is_valid_subject(subject: &str) -> bool {
    if subject.is_empty() {
        return false;
    }
    let mut saw_fwc = false;
    for token in subject.split('.') {
        if saw_fwc || token.is_empty() || token.bytes().any(is_space) {
            return false;
        }
        saw_fwc = token == FWC;
    }
    true
}

/// Is `subject` a valid *publish* subject: a valid subject with no wildcard
/// tokens at all? (Used by pedantic mode; non-pedantic publishes are never
/// rejected.)
pub fn is_valid_literal_subject(subject: &str) -> bool {
    is_valid_subject(subject) && is_literal(subject)
}

/// True when no token of `subject` is a wildcard. Does not check validity.
pub fn is_literal(subject: &str) -> bool {
    subject.split('.').all(|t| t != PWC && t != FWC)
}

/// Is `queue` a valid queue group name: non-empty, no whitespace? (Any other
/// byte, even `*`, is accepted, as nats-server does.)
pub fn is_valid_queue(queue: &str) -> bool {
    !queue.is_empty() && !queue.bytes().any(is_space)
}

/// Does the subscription `pattern` (assumed valid) match the published
/// `subject`?
///
/// This is the trie's semantics restated token by token, used to decide which
/// cached results a wildcard insert or remove makes stale. A published subject
/// that itself contains `*` or `>` tokens matches literally, exactly as the
/// trie routes it: a pattern literal `bar` does not match a published `*`,
/// while a pattern `*` matches any published token.
pub fn pattern_matches(pattern: &str, subject: &str) -> bool {
    let mut pat = pattern.split('.');
    let mut sub = subject.split('.');
    loop {
        match (pat.next(), sub.next()) {
            (None, None) => return true,
            (Some(FWC), Some(_)) => return true,
            (Some(PWC), Some(_)) => {}
            (Some(p), Some(s)) if p == s && s != PWC && s != FWC => {}
            _ => return false,
        }
    }
}

/// Can some published subject match both patterns? (nats-server's
/// `SubjectsCollide`.) Used to decide whether a wildcard subscription reaches
/// into a subscribe-deny entry, so that its deliveries must be filtered.
pub fn subjects_collide(a: &str, b: &str) -> bool {
    let mut a = a.split('.');
    let mut b = b.split('.');
    loop {
        match (a.next(), b.next()) {
            (None, None) => return true,
            (Some(FWC), Some(_)) | (Some(_), Some(FWC)) => return true,
            (Some(x), Some(y)) if x == PWC || y == PWC || x == y => {}
            _ => return false,
        }
    }
}

/// The literal prefix of a pattern up to its first wildcard token: every
/// subject the pattern matches starts with it. Lets a cache scan reject most
/// entries with one `starts_with`.
pub(crate) fn literal_prefix(pattern: &str) -> &str {
    let mut end = 0;
    for token in pattern.split('.') {
        if token == PWC || token == FWC {
            break;
        }
        end += token.len() + 1;
    }
    &pattern[..end.min(pattern.len())]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscription_subjects() {
        for ok in [
            "foo",
            "foo.bar",
            "foo.*",
            "foo.>",
            ">",
            "*",
            "*.*",
            "foo.*.bar",
            "foo.bar*",
            "a*b.>",
            "$SYS.x",
        ] {
            assert!(is_valid_subject(ok), "{ok} should be valid");
        }
        for bad in [
            "",
            ".",
            "foo.",
            ".foo",
            "foo..bar",
            ">.foo",
            "foo.>.bar",
            "foo bar",
            "foo\tbar",
            "foo.\r",
            "a\nb",
        ] {
            assert!(!is_valid_subject(bad), "{bad:?} should be invalid");
        }
    }

    #[test]
    fn literal_subjects() {
        assert!(is_valid_literal_subject("foo.bar"));
        assert!(is_valid_literal_subject("foo.bar*"));
        assert!(!is_valid_literal_subject("foo.*"));
        assert!(!is_valid_literal_subject("foo.>"));
        assert!(!is_valid_literal_subject("foo..bar"));
    }

    #[test]
    fn queue_names() {
        assert!(is_valid_queue("workers"));
        assert!(is_valid_queue("*"));
        assert!(is_valid_queue("a.b"));
        assert!(!is_valid_queue(""));
        assert!(!is_valid_queue("a b"));
    }

    #[test]
    fn patterns() {
        assert!(pattern_matches("foo.>", "foo.a"));
        assert!(pattern_matches("foo.>", "foo.a.b"));
        assert!(!pattern_matches("foo.>", "foo"));
        assert!(pattern_matches(">", "foo"));
        assert!(pattern_matches("foo.*.bar", "foo.x.bar"));
        assert!(!pattern_matches("foo.*.bar", "foo.x.y.bar"));
        assert!(!pattern_matches("foo.*", "foo"));
        assert!(!pattern_matches("foo.*", "foo.a.b"));
        // Published wildcards are routed literally.
        assert!(pattern_matches("foo.*", "foo.*"));
        assert!(pattern_matches("foo.>", "foo.*"));
        assert!(!pattern_matches("foo.bar", "foo.*"));
        assert!(pattern_matches("foo.bar", "foo.bar"));
    }

    #[test]
    fn collisions() {
        for (a, b) in [
            ("secret.>", "*.x"),
            ("secret.>", "*.*"),
            ("secret.>", ">"),
            ("secret.x", "*.x"),
            ("secret.*", "*.x"),
            ("a.b", "a.b"),
            ("a.*.c", "a.b.>"),
            ("a.>", "a.b.c.d"),
        ] {
            assert!(subjects_collide(a, b), "{a} / {b}");
            assert!(subjects_collide(b, a), "{b} / {a}");
        }
        for (a, b) in [
            ("secret.>", "*"),
            ("secret.x", "*.y"),
            ("a.b", "a.c"),
            ("a", "a.>"),
            ("a.*", "a.*.*"),
            ("a.b.c", "*.b"),
            ("x.>", "y.*"),
        ] {
            assert!(!subjects_collide(a, b), "{a} / {b}");
            assert!(!subjects_collide(b, a), "{b} / {a}");
        }
    }

    #[test]
    fn prefixes() {
        assert_eq!(literal_prefix("foo.bar.*"), "foo.bar.");
        assert_eq!(literal_prefix("foo.>"), "foo.");
        assert_eq!(literal_prefix("*.foo"), "");
        assert_eq!(literal_prefix("foo.bar"), "foo.bar");
    }
}
