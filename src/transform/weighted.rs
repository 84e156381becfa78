//! Weighted, cluster-scoped destination sets ([`Mapping`]) and an account's
//! list of them ([`Mappings`]): nats-server's `AddWeightedMappings` and
//! `selectMappedSubject`.
//!
//! Owns the weight rules (duplicates, per-set total ≤ 100, the implicit
//! "unchanged" remainder unless the source is itself listed, in which case
//! the remainder is dropped), the cumulative weights `/accountz` shows and
//! the per-publish lookup. Never draws the weighted roll: the caller passes
//! a uniform 0..100 value (only asked for when a set has a real choice).
//!
//! Lookup order: a literal source is found by hash first, then wildcard
//! sources are tried in list order. nats-server tries all in its list order,
//! which comes from a Go map's iteration, so overlapping sources have no
//! defined priority there either.

use std::collections::HashMap;
use std::fmt;

use sublist::subject::is_literal;

use super::apply::{subset_match, tokens};
use super::{source_tokens, tokenize, SrcTok, Transform, TransformError};

/// A weighted set cannot be built. `Display` is nats-server's text after
/// `Error adding mapping for "src" : ` (a destination's own error shows as
/// the [`TransformError`] text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MappingError {
    /// `duplicate entry for "b"` (across all cluster sets).
    Duplicate(String),
    /// `individual weights need to be <= 100`.
    IndividualWeight,
    /// `total weight needs to be <= 100` (per cluster set).
    TotalWeight,
    /// A destination that does not compile.
    Transform(TransformError),
}

impl fmt::Display for MappingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Duplicate(subject) => write!(f, "duplicate entry for {subject:?}"),
            Self::IndividualWeight => f.write_str("individual weights need to be <= 100"),
            Self::TotalWeight => f.write_str("total weight needs to be <= 100"),
            Self::Transform(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for MappingError {}

impl From<TransformError> for MappingError {
    fn from(e: TransformError) -> Self {
        Self::Transform(e)
    }
}

/// One destination of a set, its weight made cumulative.
#[derive(Debug, Clone, PartialEq)]
struct Dest {
    transform: Transform,
    /// Cumulative weight: picked when roll < this.
    upto: u8,
    /// The implicit "source unchanged" remainder.
    unchanged: bool,
}

/// What [`Mapping::pick`] chose.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Pick<'m> {
    /// Publish on this transform's result.
    To(&'m Transform),
    /// The roll fell in the implicit remainder: publish unchanged.
    Unchanged,
    /// The roll fell in the remainder of a set that lists its own source:
    /// the message is dropped.
    Drop,
}

/// One row of [`Mapping::cumulative`], what `/accountz` shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WeightedDest<'m> {
    pub subject: &'m str,
    /// Cumulative weight within its set.
    pub weight: u8,
    pub cluster: Option<&'m str>,
}

/// A mapping source with its weighted destination sets: the plain one and
/// one per cluster name.
#[derive(Debug, Clone, PartialEq)]
pub struct Mapping {
    source: String,
    src_toks: Box<[SrcTok]>,
    literal: bool,
    dests: Vec<Dest>,
    /// Cluster-scoped sets, in first-seen order.
    clusters: Vec<(String, Vec<Dest>)>,
}

impl Mapping {
    /// Builds the sets from (destination, weight, cluster) triples, checking
    /// each in order as nats-server does: duplicate, weight > 100, running
    /// total of its set > 100, then the transform ([`Transform::new`]). An
    /// empty cluster name is no cluster. The source must be a valid subject
    /// (the config layer reports `Subject "…" is not a valid subject` before).
    pub fn new<'a>(
        source: &str,
        dests: impl IntoIterator<Item = (&'a str, u8, Option<&'a str>)>,
    ) -> Result<Mapping, MappingError> {
        if !sublist::subject::is_valid_subject(source) {
            return Err(TransformError::InvalidSubject.into());
        }
        let mut seen: Vec<&str> = Vec::new();
        let mut plain: Vec<(Transform, u8)> = Vec::new();
        let mut clusters: Vec<(String, Vec<(Transform, u8)>)> = Vec::new();
        let mut totals: HashMap<&str, u32> = HashMap::new();
        for (subject, weight, cluster) in dests {
            if seen.contains(&subject) {
                return Err(MappingError::Duplicate(subject.to_string()));
            }
            seen.push(subject);
            if weight > 100 {
                return Err(MappingError::IndividualWeight);
            }
            let cluster = cluster.filter(|c| !c.is_empty());
            let total = totals.entry(cluster.unwrap_or("")).or_default();
            *total += u32::from(weight);
            if *total > 100 {
                return Err(MappingError::TotalWeight);
            }
            let transform = Transform::new(source, subject)?;
            match cluster {
                None => plain.push((transform, weight)),
                Some(c) => match clusters.iter_mut().find(|(name, _)| name == c) {
                    Some((_, set)) => set.push((transform, weight)),
                    None => clusters.push((c.to_string(), vec![(transform, weight)])),
                },
            }
        }
        let source_listed = seen.contains(&source);
        let finish = |set| finish_set(source, source_listed, set);
        Ok(Mapping {
            source: source.to_string(),
            src_toks: source_tokens(source),
            literal: is_literal(source),
            dests: finish(plain)?,
            clusters: clusters
                .into_iter()
                .map(|(c, set)| Ok((c, finish(set)?)))
                .collect::<Result<_, MappingError>>()?,
        })
    }

    /// The source subject.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Does the source have no wildcard (matched by equality)?
    pub fn is_literal(&self) -> bool {
        self.literal
    }

    /// The set for this server's cluster name: its own set if it has one,
    /// else the plain one.
    fn set(&self, cluster: Option<&str>) -> &[Dest] {
        cluster
            .and_then(|c| self.clusters.iter().find(|(name, _)| name == c))
            .map_or(&self.dests, |(_, set)| set)
    }

    /// Picks the destination for `roll` (uniform in 0..100, from the
    /// caller), given this server's cluster name.
    pub fn pick(&self, cluster: Option<&str>, roll: u8) -> Pick<'_> {
        pick_in(self.set(cluster), || roll)
    }

    /// The destinations as `/accountz` lists them: the plain set then each
    /// cluster set, each ascending by cumulative weight, the implicit
    /// remainder shown as the tokenized source (`foo.$1`).
    pub fn cumulative(&self) -> Vec<WeightedDest<'_>> {
        let plain = self.dests.iter().map(|d| (d, None));
        let scoped = (self.clusters.iter())
            .flat_map(|(c, set)| set.iter().map(move |d| (d, Some(c.as_str()))));
        plain
            .chain(scoped)
            .map(|(d, cluster)| WeightedDest {
                subject: d.transform.dest(),
                weight: d.upto,
                cluster,
            })
            .collect()
    }
}

/// nats-server's `processDestinations`: the implicit remainder (unless the
/// source is listed), an ascending (stable) sort, cumulative weights.
fn finish_set(
    source: &str,
    source_listed: bool,
    mut set: Vec<(Transform, u8)>,
) -> Result<Vec<Dest>, MappingError> {
    let total: u32 = set.iter().map(|(_, w)| u32::from(*w)).sum();
    let mut implicit = None;
    if total != 100 && !source_listed {
        let transform = Transform::new(source, &tokenize(source))?;
        let weight = if set.is_empty() {
            100
        } else {
            100 - total as u8
        };
        implicit = Some(set.len());
        set.push((transform, weight));
    }
    let mut order: Vec<usize> = (0..set.len()).collect();
    order.sort_by_key(|&i| set[i].1);
    let mut upto = 0u8;
    let mut slots: Vec<Option<(Transform, u8)>> = set.into_iter().map(Some).collect();
    let mut out = Vec::with_capacity(slots.len());
    for i in order {
        let (transform, weight) = slots[i].take().expect("each index once");
        upto += weight;
        out.push(Dest {
            transform,
            upto,
            unchanged: implicit == Some(i),
        });
    }
    Ok(out)
}

/// The pick over one set; `roll` is asked for only when there is a choice.
fn pick_in(set: &[Dest], roll: impl FnOnce() -> u8) -> Pick<'_> {
    let chosen = match set {
        [only] if only.upto == 100 => Some(only),
        _ => {
            let w = roll();
            set.iter().find(|d| w < d.upto)
        }
    };
    match chosen {
        None => Pick::Drop,
        Some(d) if d.unchanged => Pick::Unchanged,
        Some(d) => Pick::To(&d.transform),
    }
}

/// What [`Mappings::map`] decided for a published subject it matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Publish on this subject instead.
    To(Vec<u8>),
    /// Drop the message (the roll fell in a lossy set's remainder).
    Drop,
}

/// What [`Mappings::map_into`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mapped {
    /// The new subject was appended to the buffer.
    To,
    /// Drop the message.
    Drop,
}

/// The mappings of one account, first match wins.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Mappings {
    list: Vec<Mapping>,
    /// Literal source → index in `list` (the first with that source).
    literal: HashMap<Box<[u8]>, usize>,
    /// Indexes of the wildcard sources, in list order.
    wildcard: Vec<usize>,
}

impl Mappings {
    /// The account's mappings in their config order. A later entry with the
    /// same source as an earlier one replaces it (nats-server's
    /// `AddWeightedMappings` does), keeping the earlier position.
    pub fn new(list: Vec<Mapping>) -> Mappings {
        let mut kept: Vec<Mapping> = Vec::with_capacity(list.len());
        for m in list {
            match kept.iter_mut().find(|k| k.source == m.source) {
                Some(k) => *k = m,
                None => kept.push(m),
            }
        }
        let mut literal = HashMap::new();
        let mut wildcard = Vec::new();
        for (i, m) in kept.iter().enumerate() {
            if m.literal {
                literal.insert(m.source.as_bytes().into(), i);
            } else {
                wildcard.push(i);
            }
        }
        Mappings {
            list: kept,
            literal,
            wildcard,
        }
    }

    /// No mapping at all: the publish path can skip [`map`](Self::map).
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// The mappings, in order (for `/accountz`).
    pub fn iter(&self) -> impl Iterator<Item = &Mapping> {
        self.list.iter()
    }

    /// Maps a published subject. `None`: no mapping applies, or the roll
    /// kept it unchanged. Allocates the new subject only; see
    /// [`map_into`](Self::map_into) to reuse a buffer.
    pub fn map(
        &self,
        subject: &[u8],
        cluster: Option<&str>,
        roll: impl FnOnce() -> u8,
    ) -> Option<Outcome> {
        let mut out = Vec::new();
        Some(match self.map_into(subject, cluster, roll, &mut out)? {
            Mapped::To => Outcome::To(out),
            Mapped::Drop => Outcome::Drop,
        })
    }

    /// As [`map`](Self::map), appending a new subject to `out`. The cost
    /// when nothing matches: one hash lookup, then, if there are wildcard
    /// sources, one tokenizing of the subject (on the stack up to 16 tokens)
    /// and a token match per wildcard source.
    pub fn map_into(
        &self,
        subject: &[u8],
        cluster: Option<&str>,
        roll: impl FnOnce() -> u8,
        out: &mut Vec<u8>,
    ) -> Option<Mapped> {
        if let Some(&i) = self.literal.get(subject) {
            // nats-server finds a literal source without tokenizing when it
            // is the first entry of its list; `partition(n)` then hashes an
            // empty subject (seen on 2.15.1 with a single mapping).
            let whole: &[u8] = if i == 0 { b"" } else { subject };
            return Some(match pick_in(self.list[i].set(cluster), roll) {
                Pick::To(t) => {
                    t.write(&[subject], whole, out);
                    Mapped::To
                }
                Pick::Unchanged => return None,
                Pick::Drop => Mapped::Drop,
            });
        }
        if self.wildcard.is_empty() {
            return None;
        }
        let toks = tokens(subject);
        let m = self
            .wildcard
            .iter()
            .map(|&i| &self.list[i])
            .find(|m| subset_match(&m.src_toks, &toks))?;
        Some(match pick_in(m.set(cluster), roll) {
            Pick::To(t) => {
                t.write(&toks, subject, out);
                Mapped::To
            }
            Pick::Unchanged => return None,
            Pick::Drop => Mapped::Drop,
        })
    }
}
