//! Applying a compiled [`Transform`] to a published subject: the source match
//! and the per-token functions, byte for byte as nats-server writes them
//! (`TransformTokenizedSubject`).
//!
//! Hot path: called for each publish that a mapping matches. The subject is
//! split into at most 16 token slices on the stack (more spill to the heap),
//! and the result is appended to a caller's buffer: no other allocation.
//! Never decides whether a mapping applies to an account or picks weights.

use smallvec::SmallVec;

use super::{SrcTok, Step, Transform};

/// A subject cut at its dots.
pub(super) type Tokens<'s> = SmallVec<[&'s [u8]; 16]>;

/// Cuts `subject` at every `.` (empty tokens kept).
pub(super) fn tokens(subject: &[u8]) -> Tokens<'_> {
    subject.split(|&b| b == b'.').collect()
}

/// nats-server's `isSubsetMatch` of a published subject (cut into tokens)
/// against a source: a published `*` token matches only a source `*`, a
/// published `>` token only within a source `>`.
pub(super) fn subset_match(src_toks: &[SrcTok], tokens: &[&[u8]]) -> bool {
    for (i, src) in src_toks.iter().enumerate() {
        let Some(&t) = tokens.get(i) else {
            return false;
        };
        match src {
            SrcTok::Fwc => return true,
            _ if t.is_empty() || t == b">" => return false,
            SrcTok::Pwc => {}
            SrcTok::Literal(_) if t == b"*" => return false,
            SrcTok::Literal(l) if **l != *t => return false,
            SrcTok::Literal(_) => {}
        }
    }
    tokens.len() == src_toks.len()
}

/// 32-bit FNV-1a, as Go's `hash/fnv` `New32a`.
fn fnv1a32<'a>(parts: impl IntoIterator<Item = &'a [u8]>) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for part in parts {
        for &b in part {
            h ^= u32::from(b);
            h = h.wrapping_mul(0x0100_0193);
        }
    }
    h
}

fn push_int(out: &mut Vec<u8>, n: u64) {
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

impl Transform {
    /// Does the published subject (already cut into tokens) match the
    /// source?
    pub(super) fn matches(&self, tokens: &[&[u8]]) -> bool {
        subset_match(&self.src_toks, tokens)
    }

    /// Applies the transform to `subject`: `None` when the subject does not
    /// match the source. Allocates the returned subject only.
    pub fn apply(&self, subject: &[u8]) -> Option<Vec<u8>> {
        let mut out = Vec::with_capacity(self.dest.len() + subject.len());
        self.apply_into(subject, &mut out).then_some(out)
    }

    /// As [`apply`](Self::apply), appending the result to `out` (left as it
    /// was when the subject does not match); returns whether it matched.
    pub fn apply_into(&self, subject: &[u8], out: &mut Vec<u8>) -> bool {
        if self.literal_source {
            if subject != self.source.as_bytes() {
                return false;
            }
            self.write(&[subject], subject, out);
            return true;
        }
        let tokens = tokens(subject);
        if !self.matches(&tokens) {
            return false;
        }
        self.write(&tokens, subject, out);
        true
    }

    /// Writes the destination for a subject known to match. `whole` is what
    /// `partition(n)` hashes: the subject, or empty to reproduce nats-server
    /// when a literal mapping is found before it tokenized anything.
    pub(super) fn write(&self, tokens: &[&[u8]], whole: &[u8], out: &mut Vec<u8>) {
        let last = self.steps.len() - 1;
        for (i, step) in self.steps.iter().enumerate() {
            let tok = |at: usize| tokens.get(at).copied().unwrap_or_default();
            match step {
                Step::Literal(lit) => out.extend_from_slice(lit),
                Step::Rest => break,
                Step::Wildcard(at) => out.extend_from_slice(tok(*at)),
                Step::Partition(n, at) => {
                    let h = if at.is_empty() {
                        fnv1a32([whole])
                    } else {
                        fnv1a32(at.iter().map(|&a| tok(a)))
                    };
                    // Go: `h % uint32(n)`, "0" for n == 0.
                    let bucket = match *n as u32 {
                        0 => 0,
                        m => h % m,
                    };
                    push_int(out, u64::from(bucket));
                }
                Step::SplitFromLeft(at, pos) => split_at(out, tok(*at), *pos, false),
                Step::SplitFromRight(at, pos) => split_at(out, tok(*at), *pos, true),
                Step::SliceFromLeft(at, size) => slice_from_left(out, tok(*at), *size),
                Step::SliceFromRight(at, size) => slice_from_right(out, tok(*at), *size),
                Step::Left(at, size) => {
                    let t = tok(*at);
                    match usize::try_from(*size) {
                        Ok(k) if k > 0 && k < t.len() => out.extend_from_slice(&t[..k]),
                        _ => out.extend_from_slice(t),
                    }
                }
                Step::Right(at, size) => {
                    let t = tok(*at);
                    match usize::try_from(*size) {
                        Ok(k) if k > 0 && k < t.len() => out.extend_from_slice(&t[t.len() - k..]),
                        _ => out.extend_from_slice(t),
                    }
                }
                Step::Split(at, delim) => split(out, tok(*at), delim),
                Step::Random(n) => {
                    // Go: `rand.Int31() % n`, the sign of the dividend.
                    let v = match n.unsigned_abs() {
                        0 => 0,
                        m => fastrand::u32(0..1 << 31) % m,
                    };
                    push_int(out, u64::from(v));
                }
            }
            if i < last {
                out.push(b'.');
            }
        }
        if matches!(self.steps.last(), Some(Step::Rest)) {
            let from = self.src_toks.len() - 1;
            for (j, t) in tokens.iter().enumerate().skip(from) {
                if j > from {
                    out.push(b'.');
                }
                out.extend_from_slice(t);
            }
        }
    }
}

/// `SplitFromLeft` / `SplitFromRight`: cut the token in two at `pos` bytes
/// from the left (right); unchanged unless 0 < pos < len.
fn split_at(out: &mut Vec<u8>, t: &[u8], pos: i32, from_right: bool) {
    match usize::try_from(pos) {
        Ok(p) if p > 0 && p < t.len() => {
            let cut = if from_right { t.len() - p } else { p };
            out.extend_from_slice(&t[..cut]);
            out.push(b'.');
            out.extend_from_slice(&t[cut..]);
        }
        _ => out.extend_from_slice(t),
    }
}

/// `SliceFromLeft`: chunks of `size` from the left, the short one last.
fn slice_from_left(out: &mut Vec<u8>, t: &[u8], size: i32) {
    let len = t.len();
    let s = match usize::try_from(size) {
        Ok(s) if s > 0 && s < len => s,
        _ => return out.extend_from_slice(t),
    };
    let mut i = 0;
    while i + s <= len {
        if i != 0 {
            out.push(b'.');
        }
        out.extend_from_slice(&t[i..i + s]);
        if i + s != len && i + s + s > len {
            out.push(b'.');
            out.extend_from_slice(&t[i + s..]);
            break;
        }
        i += s;
    }
}

/// `SliceFromRight`: chunks of `size` from the right, the short one first.
fn slice_from_right(out: &mut Vec<u8>, t: &[u8], size: i32) {
    let len = t.len();
    let s = match usize::try_from(size) {
        Ok(s) if s > 0 && s < len => s,
        _ => return out.extend_from_slice(t),
    };
    let rem = len % s;
    if rem > 0 {
        out.extend_from_slice(&t[..rem]);
        out.push(b'.');
    }
    let mut i = rem;
    while i + s <= len {
        out.extend_from_slice(&t[i..i + s]);
        if i + s < len {
            out.push(b'.');
        }
        i += s;
    }
}

/// `split(i, delim)`: the pieces joined by dots, empty pieces dropped the
/// way nats-server's loop drops them (`--a` gives `.a`: a dot is written
/// before a non-empty piece unless it is the first piece's).
fn split(out: &mut Vec<u8>, t: &[u8], delim: &[u8]) {
    let mut pieces: SmallVec<[&[u8]; 8]> = SmallVec::new();
    if delim.is_empty() {
        // Go splits into UTF-8 sequences (an invalid byte alone).
        let mut rest = t;
        while !rest.is_empty() {
            let n = utf8_len(rest);
            pieces.push(&rest[..n]);
            rest = &rest[n..];
        }
    } else {
        let mut rest = t;
        while let Some(at) = memchr::memmem::find(rest, delim) {
            pieces.push(&rest[..at]);
            rest = &rest[at + delim.len()..];
        }
        pieces.push(rest);
    }
    for (j, piece) in pieces.iter().enumerate() {
        out.extend_from_slice(piece);
        let next_non_empty = pieces.get(j + 1).is_some_and(|p| !p.is_empty());
        if next_non_empty && !(j == 0 && piece.is_empty()) {
            out.push(b'.');
        }
    }
}

/// Length of the UTF-8 sequence at the start of `b` (1 for an invalid one).
fn utf8_len(b: &[u8]) -> usize {
    let want = match b[0] {
        0xc0..=0xdf => 2,
        0xe0..=0xef => 3,
        0xf0..=0xf7 => 4,
        _ => 1,
    };
    let take = want.min(b.len());
    if std::str::from_utf8(&b[..take]).is_ok() {
        take
    } else {
        1
    }
}
