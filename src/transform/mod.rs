//! Subject transforms (nats-server's subject mappings, ADR-30): compiling a
//! source → destination pair and applying it to published subjects, plus the
//! weighted, cluster-scoped [`Mapping`] sets of an account ([`Mappings`]).
//!
//! Owns the destination syntax (`$N`, `>`, every `{{function()}}`), its
//! error texts (nats-server's, word for word), the import rules (only
//! `$N`/`{{wildcard(N)}}`, every source wildcard used) and the weighted
//! pick. It is pure: it must never know sockets, accounts, config parsing or
//! logging, and it never draws randomness for the weighted pick itself (the
//! caller supplies the roll); only `{{random(n)}}` draws, from `fastrand`.
//!
//! Error texts: [`TransformError`] and [`MappingError`] display exactly what
//! nats-server prints after `Error adding mapping for "src" to "dest" : ` (or
//! `Error adding mapping for "src" : ` for a weighted list) and after
//! `failed to create mapping transform for … import subject from … to …: `.
//!
//! Where nats-server differs from the obvious reading, it is followed, and
//! the case is a unit test noting what 2.15.1 was seen to do: a `$0` or
//! `{{wildcard(-1)}}` takes the subject's first token; `partition(n, i)` on
//! a literal source hashes the whole subject; a published `>` token never
//! matches a source `*`. One difference: an empty destination is refused as
//! `invalid subject` (nats-server accepts it and then has no transform).

mod apply;
mod parse;
mod weighted;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_weighted;

use std::fmt;

use sublist::subject::{is_valid_subject, FWC, PWC};

use parse::Placeholder;
pub use weighted::{Mapped, Mapping, MappingError, Mappings, Outcome, Pick, WeightedDest};

/// Why a destination was refused (the part after `invalid mapping
/// destination: `).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DestErrorKind {
    /// An empty token, a token after `>`, or whitespace in a literal token.
    InvalidTransform,
    /// An import transform that leaves a source wildcard out.
    NotUsingAllWildcards,
    /// `{{name(…)}}` with no such function.
    UnknownFunction,
    /// A wildcard index beyond the source's `*` count (or any wildcard
    /// reference when the source has none).
    IndexOutOfRange,
    NotEnoughArgs,
    InvalidArg,
    TooManyArgs,
    /// A function other than `wildcard` in an import transform.
    NotSupportedForImport,
}

impl DestErrorKind {
    fn text(self) -> &'static str {
        match self {
            Self::InvalidTransform => "invalid transform",
            Self::NotUsingAllWildcards => "not using all of the token wildcard(s)",
            Self::UnknownFunction => "unknown function",
            Self::IndexOutOfRange => "wildcard index out of range",
            Self::NotEnoughArgs => "not enough arguments passed to the function",
            Self::InvalidArg => "function argument is invalid or in the wrong format",
            Self::TooManyArgs => "too many arguments passed to the function",
            Self::NotSupportedForImport => {
                "the only mapping function allowed for import transforms is {{Wildcard()}}"
            }
        }
    }
}

/// A transform that cannot be built. `Display` is nats-server's text, e.g.
/// `invalid mapping destination: unknown function in {{nosuch(1)}}` or
/// `invalid subject`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransformError {
    /// `invalid subject`: a bad source, a `*` token in the destination, or
    /// `>` in only one of the two.
    InvalidSubject,
    /// `invalid mapping destination: <kind>[ in <token>]` (no ` in` when
    /// `token` is empty).
    Destination { kind: DestErrorKind, token: String },
}

impl TransformError {
    fn dest(kind: DestErrorKind, token: impl Into<String>) -> Self {
        Self::Destination {
            kind,
            token: token.into(),
        }
    }
}

impl fmt::Display for TransformError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidSubject => f.write_str("invalid subject"),
            Self::Destination { kind, token } if token.is_empty() => {
                write!(f, "invalid mapping destination: {}", kind.text())
            }
            Self::Destination { kind, token } => {
                write!(f, "invalid mapping destination: {} in {token}", kind.text())
            }
        }
    }
}

impl std::error::Error for TransformError {}

/// One compiled step of the destination, one per destination token.
/// Token indexes are positions in the published subject.
#[derive(Debug, Clone, PartialEq)]
enum Step {
    Literal(Box<[u8]>),
    /// `>`: the rest of the subject from the source's `>` on.
    Rest,
    Wildcard(usize),
    /// Hash of the listed tokens concatenated; empty: the whole subject.
    Partition(i32, Box<[usize]>),
    SplitFromLeft(usize, i32),
    SplitFromRight(usize, i32),
    SliceFromLeft(usize, i32),
    SliceFromRight(usize, i32),
    Left(usize, i32),
    Right(usize, i32),
    Split(usize, Box<[u8]>),
    Random(i32),
}

/// One source token, for matching.
#[derive(Debug, Clone, PartialEq)]
enum SrcTok {
    Literal(Box<[u8]>),
    Pwc,
    Fwc,
}

/// One compiled source → destination transform.
#[derive(Debug, Clone, PartialEq)]
pub struct Transform {
    source: String,
    dest: String,
    src_toks: Box<[SrcTok]>,
    steps: Box<[Step]>,
    /// The source has no wildcard: it matches by equality.
    literal_source: bool,
}

/// A source cut into tokens for matching.
fn source_tokens(source: &str) -> Box<[SrcTok]> {
    source
        .split('.')
        .map(|t| match t {
            PWC => SrcTok::Pwc,
            FWC => SrcTok::Fwc,
            t => SrcTok::Literal(t.as_bytes().into()),
        })
        .collect()
}

/// Was the destination built for a mapping or (strictly) for an import?
#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Mapping,
    Import,
}

impl Transform {
    /// A mapping transform (`mappings {}`): every function allowed, source
    /// wildcards may go unused. Checks the destination as nats-server's
    /// `ValidateMapping` then `NewSubjectTransform` do, in that order.
    pub fn new(source: &str, dest: &str) -> Result<Transform, TransformError> {
        validate_mapping_dest(dest)?;
        Self::build(source, dest, Mode::Mapping)
    }

    /// An import transform (`to:` of a stream or service import; nats-server's
    /// `NewSubjectTransformStrict`): only `$N` / `{{wildcard(N)}}`, and every
    /// source `*` must be referenced. `dest` is used as given: nats-server
    /// first turns the `*` tokens of the import's `to` into `$1`, `$2`…
    /// ([`tokenize`]). A stream import builds `for_import(from,
    /// &tokenize(to))`; a service import checks `for_import(&untokenize(to).0,
    /// &tokenize(from))` and uses its [`reverse`](Self::reverse).
    pub fn for_import(source: &str, dest: &str) -> Result<Transform, TransformError> {
        Self::build(source, dest, Mode::Import)
    }

    fn build(source: &str, dest: &str, mode: Mode) -> Result<Transform, TransformError> {
        if !is_valid_subject(source) {
            return Err(TransformError::InvalidSubject);
        }
        let src_fwc = source.split('.').any(|t| t == FWC);
        let dest_ok = !dest.is_empty()
            && dest
                .split('.')
                .scan(false, |after_fwc, t| {
                    let ok = !t.is_empty() && !*after_fwc;
                    *after_fwc = t == FWC;
                    Some(ok)
                })
                .all(|ok| ok);
        let dest_pwc = dest.split('.').any(|t| t == PWC);
        let dest_fwc = dest.split('.').any(|t| t == FWC);
        if !dest_ok || dest_pwc || src_fwc != dest_fwc {
            return Err(TransformError::InvalidSubject);
        }
        let src_toks = source_tokens(source);
        // Position in the subject of the N-th `*` (1-based N).
        let pwc_pos: Vec<usize> = src_toks
            .iter()
            .enumerate()
            .filter(|(_, t)| **t == SrcTok::Pwc)
            .map(|(i, _)| i)
            .collect();
        let literal_source = pwc_pos.is_empty() && !src_fwc;

        let mut steps = Vec::new();
        let mut referenced = 0usize;
        for token in dest.split('.') {
            let ph = parse::placeholder(token).map_err(|k| TransformError::dest(k, token))?;
            if literal_source {
                steps.push(literal_source_step(token, ph)?);
                continue;
            }
            if mode == Mode::Import
                && !matches!(ph, Placeholder::Literal | Placeholder::Wildcard(_))
            {
                return Err(TransformError::dest(
                    DestErrorKind::NotSupportedForImport,
                    token,
                ));
            }
            let step = wildcard_source_step(token, ph, &pwc_pos, &mut referenced)?;
            steps.push(step);
        }
        if mode == Mode::Import && !literal_source && referenced < pwc_pos.len() {
            return Err(TransformError::dest(
                DestErrorKind::NotUsingAllWildcards,
                dest,
            ));
        }
        Ok(Transform {
            source: source.to_string(),
            dest: dest.to_string(),
            src_toks,
            steps: steps.into(),
            literal_source,
        })
    }

    /// The source subject as given.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The destination as given.
    pub fn dest(&self) -> &str {
        &self.dest
    }

    /// The transform in the other direction (nats-server's `reverse`, used
    /// for service imports): `None` when it cannot be built.
    pub fn reverse(&self) -> Option<Transform> {
        let (new_src, mut placeholders) = untokenize(&self.dest);
        placeholders.reverse();
        let mut tokens = Vec::with_capacity(self.src_toks.len());
        for t in self.source.split('.') {
            if t == PWC {
                tokens.push(placeholders.pop()?);
            } else {
                tokens.push(t.to_string());
            }
        }
        Transform::for_import(&new_src, &tokens.join(".")).ok()
    }
}

/// The step for a token when the source has no wildcard: only literals,
/// `partition` (whole subject, any listed indexes ignored) and `random`.
fn literal_source_step(token: &str, ph: Placeholder) -> Result<Step, TransformError> {
    Ok(match ph {
        Placeholder::Literal => Step::Literal(token.as_bytes().into()),
        Placeholder::Partition(n, _) => Step::Partition(n as i32, Box::new([])),
        Placeholder::Random(n) => Step::Random(n as i32),
        _ => return Err(TransformError::dest(DestErrorKind::IndexOutOfRange, token)),
    })
}

/// The step for a token when the source has wildcards; `referenced` counts
/// the wildcard references (for the import rule).
fn wildcard_source_step(
    token: &str,
    ph: Placeholder,
    pwc_pos: &[usize],
    referenced: &mut usize,
) -> Result<Step, TransformError> {
    // nats-server: index > count is an error; an index <= 0 is not found in
    // its table and reads as position 0 (the subject's first token).
    let resolve = |index: i64, referenced: &mut usize| -> Result<usize, TransformError> {
        *referenced += 1;
        if index > pwc_pos.len() as i64 {
            return Err(TransformError::dest(
                DestErrorKind::IndexOutOfRange,
                format!("{token}: [{index}]"),
            ));
        }
        Ok(if index <= 0 {
            0
        } else {
            pwc_pos[index as usize - 1]
        })
    };
    Ok(match ph {
        Placeholder::Literal if token == FWC => Step::Rest,
        Placeholder::Literal => Step::Literal(token.as_bytes().into()),
        Placeholder::Wildcard(i) => Step::Wildcard(resolve(i, referenced)?),
        Placeholder::Partition(n, indexes) => {
            let mut positions = Vec::with_capacity(indexes.len());
            for i in indexes {
                positions.push(resolve(i, referenced)?);
            }
            Step::Partition(n as i32, positions.into())
        }
        Placeholder::SplitFromLeft(i, n) => Step::SplitFromLeft(resolve(i, referenced)?, n),
        Placeholder::SplitFromRight(i, n) => Step::SplitFromRight(resolve(i, referenced)?, n),
        Placeholder::SliceFromLeft(i, n) => Step::SliceFromLeft(resolve(i, referenced)?, n),
        Placeholder::SliceFromRight(i, n) => Step::SliceFromRight(resolve(i, referenced)?, n),
        Placeholder::Left(i, n) => Step::Left(resolve(i, referenced)?, n),
        Placeholder::Right(i, n) => Step::Right(resolve(i, referenced)?, n),
        Placeholder::Split(i, delim) => {
            Step::Split(resolve(i, referenced)?, delim.into_bytes().into())
        }
        Placeholder::Random(n) => Step::Random(n as i32),
    })
}

/// nats-server's `ValidateMapping` pass over a mapping destination, before
/// the transform is built: empty tokens, tokens after `>`, unknown
/// functions and whitespace in literal tokens.
fn validate_mapping_dest(dest: &str) -> Result<(), TransformError> {
    if dest.is_empty() {
        return Err(TransformError::InvalidSubject);
    }
    let mut after_fwc = false;
    for t in dest.split('.') {
        if t.is_empty() || after_fwc {
            return Err(TransformError::dest(DestErrorKind::InvalidTransform, t));
        }
        if parse::looks_like_function(t) {
            if !parse::is_known_function(t) {
                return Err(TransformError::dest(DestErrorKind::UnknownFunction, t));
            }
            continue;
        }
        if t == FWC {
            after_fwc = true;
        } else if t.contains(['\t', '\n', '\x0c', '\r', ' ']) {
            return Err(TransformError::dest(DestErrorKind::InvalidTransform, ""));
        }
    }
    Ok(())
}

/// The `*` tokens of `subject` as `$1`, `$2`… (nats-server's
/// `transformTokenize`): `foo.*.*` → `foo.$1.$2`.
pub fn tokenize(subject: &str) -> String {
    let mut n = 0;
    let tokens: Vec<String> = subject
        .split('.')
        .map(|t| {
            if t == PWC {
                n += 1;
                format!("${n}")
            } else {
                t.to_string()
            }
        })
        .collect();
    tokens.join(".")
}

/// The placeholders (`$1`…`$9…`, `{{wildcard(N)}}`) of a destination back to
/// `*`, with the placeholders in order (nats-server's
/// `transformUntokenize`): `foo.$2.$1` → (`foo.*.*`, [`$2`, `$1`]).
pub fn untokenize(dest: &str) -> (String, Vec<String>) {
    let mut placeholders = Vec::new();
    let tokens: Vec<&str> = dest
        .split('.')
        .map(|t| {
            let b = t.as_bytes();
            let dollar = b.len() > 1 && b[0] == b'$' && (b'1'..=b'9').contains(&b[1]);
            let wildcard = matches!(parse::wildcard_args(t).as_deref(), Some([a]) if !a.is_empty());
            if dollar || wildcard {
                placeholders.push(t.to_string());
                PWC
            } else {
                t
            }
        })
        .collect();
    (tokens.join("."), placeholders)
}
