//! The match cache: published subject → shared [`MatchResult`], readable
//! without locks, coherent with inserts and removes, bounded, and unable to
//! thrash.
//!
//! # Layout
//! A fixed, power-of-two array of slots, direct-mapped by the subject's hash.
//! Each slot holds an epoch-protected pointer to an immutable [`Entry`] and a
//! "ghost" hash. Eviction is O(1): a new entry simply replaces the slot's old
//! one, which is retired to the epoch collector.
//!
//! # Admission (why the cache cannot make things worse)
//! nats-server caches every subject it matches, so a stream of subjects seen
//! once fills the cache with garbage and triggers sweeps (nats-server#4341,
//! #8070). Here a missed subject is only admitted when its slot is empty, when
//! the slot holds a stale entry for the same subject, or when the slot's ghost
//! already holds its hash, i.e. on its second miss. A one-off subject costs a
//! single relaxed store and no allocation.
//!
//! # Coherence (invariant C1 in `lib.rs`)
//! Writers, after changing the trie, bump `gen` with a read-modify-write and
//! then evict every entry their change affects. A reader that misses reads
//! `gen` (Acquire) before walking the trie, installs its entry unconfirmed, and
//! then reads `gen` again with a read-modify-write (`fetch_add(0)`). Only if
//! nothing changed does it mark the entry confirmed; otherwise it retracts it.
//! Hits accept confirmed entries only. Because both sides use RMWs on `gen`,
//! they are totally ordered on it: either the writer's bump comes first (the
//! reader sees it and never confirms), or the reader's RMW comes first and
//! synchronises with the writer's bump, so the writer's eviction scan sees the
//! entry and removes it. No SeqCst is needed, which keeps the argument within
//! what loom models (`loom-tests/tests/loom_*_match.rs`).
//!
//! # Skipping the scan when nothing it could evict is cached
//! A wildcard change must look at every slot that may hold a subject it
//! matches, which made each wildcard subscription cost a pass over the
//! whole array, and a warm cache made each pass dereference every entry and
//! its subject (what that cost, and what the tags below bought:
//! `docs/performance.md#what-bought-what`).
//!
//! Each slot's pointer carries, in its low bits (entries are 64-byte
//! aligned), a [`Shape::tag`] of the cached subject's first token. A pattern
//! whose first token is literal can only match subjects with that first
//! token, so the scan rejects every entry with another tag from the slot
//! array alone. The tag is written by the same CAS as the pointer, so it
//! always describes the entry it points to: rejecting by tag is rejecting
//! that entry by its subject, and the C1 argument is unchanged. An entry
//! with the pattern's tag is first checked against its [`Shape`] (token
//! count and hashes of the first tokens, kept in the entry's spare bytes),
//! so that most entries sharing only the first token are rejected without
//! reading their subject: with a cache full of `orders.<n>.created`,
//! subscribing and unsubscribing `orders.*.shipped` fell from ~2 ms to
//! ~0.1 ms.
//!
//! `occupied` counts, per tag, the non-null slots *from above*: a reader
//! counts the entry it links **before** its CAS (and uncounts it if the CAS
//! fails), and whoever unlinks an entry uncounts it **after** its CAS. A
//! writer that reads 0 for its pattern's tag (for every tag, when the pattern
//! starts with a wildcard) after its bump of `gen` skips the scan: an inbox
//! wildcard on a server whose cache is full of other subjects costs no pass
//! at all. That is safe because every entry a scan would have had to evict
//! was counted before its installer's RMW on `gen` (program order, then the
//! Release of the RMW); when that RMW precedes the writer's bump, the
//! writer's Acquire makes the count visible. An entry that replaces one with
//! the same tag inherits its count instead, and its installer's CAS read the
//! entry it replaced, so the original count happens-before it as well; a
//! replaced entry with another tag is uncounted after the CAS that unlinked
//! it, like an eviction.
//!
//! This module must never block a reader, and must never hand out an entry
//! computed before a change that has since completed.

use std::sync::Arc;

use crossbeam_epoch::{Atomic, Guard, Owned, Shared};
use crossbeam_utils::CachePadded;

use crate::result::MatchResult;
use crate::subject::{literal_prefix, pattern_matches};
use crate::sync::{AtomicBool, AtomicU64, AtomicUsize, Ordering::*};

/// One cached result. Aligned so that a pointer to it has [`TAG_BITS`] low
/// bits free for its subject's [`Shape::tag`].
#[repr(align(64))]
pub(crate) struct Entry<S> {
    hash: u64,
    /// What a scan checks before reading `subject` (in the alignment's
    /// spare bytes).
    shape: Shape,
    subject: Box<str>,
    /// Set once the installing reader has proved no writer raced it (C1).
    confirmed: AtomicBool,
    pub(crate) result: Arc<MatchResult<S>>,
}

struct Slot<S> {
    entry: Atomic<Entry<S>>,
    /// A hint: the hash of the entry last installed here, stored after its
    /// CAS. Lookups compare it before dereferencing the entry, so that a
    /// miss (the common case when subjects rarely repeat) costs no load of
    /// the entry's cache line. It can lag the entry (a racing install or an
    /// eviction), which only turns a hit into a miss; a match of the hint is
    /// always confirmed against the entry itself.
    hash: AtomicU64,
    /// Hash of the last subject refused admission to this slot.
    ghost: AtomicU64,
}

/// Low bits of an entry pointer that hold its [`Shape::tag`] (`log2` of
/// [`Entry`]'s alignment).
const TAG_BITS: u32 = 6;
/// Distinct tags. Two under loom, whose models pay for every atomic object
/// on every step (with 64 counters the three-thread model ran over 20 minutes
/// instead of 7); the models' subjects share one tag either way.
#[cfg(not(loom))]
const TAGS: usize = 1 << TAG_BITS;
#[cfg(loom)]
const TAGS: usize = 2;
// Every tag fits in the low bits the alignment leaves free (in both builds).
const _: () = assert!(TAGS <= 1 << TAG_BITS && std::mem::align_of::<Entry<()>>() == 1 << TAG_BITS);

/// The tag of a first token whose [`token_hash`] is `hash`.
fn tag_of(hash: u16) -> usize {
    usize::from(hash) & (TAGS - 1)
}

/// Tokens of a subject that [`Shape`] keeps a hash of.
const SHAPE_TOKENS: usize = 4;

/// A 16-bit hash of one token (FNV-1a, folded).
fn token_hash(token: &str) -> u16 {
    let mut h: u32 = 0x811c_9dc5;
    for &b in token.as_bytes() {
        h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
    }
    (h ^ (h >> 16)) as u16
}

/// A cached subject's token count and the hashes of its first tokens: a
/// pattern whose literal tokens or length disagree with them cannot match
/// it, so a scan rejects most entries that share a pattern's first token
/// without reading the subject (a second cache miss) or splitting it.
#[derive(Clone, Copy)]
struct Shape {
    /// Tokens, saturating (255 means "at least 255").
    len: u8,
    hashes: [u16; SHAPE_TOKENS],
}

impl Shape {
    fn of(subject: &str) -> Self {
        let mut shape = Shape {
            len: 0,
            hashes: [0; SHAPE_TOKENS],
        };
        for (i, token) in subject.split('.').enumerate() {
            if let Some(h) = shape.hashes.get_mut(i) {
                *h = token_hash(token);
            }
            shape.len = shape.len.saturating_add(1);
        }
        shape
    }

    /// The [`TAG_BITS`]-bit tag of the subject's first token.
    fn tag(&self) -> usize {
        tag_of(self.hashes[0])
    }
}

/// A pattern's view of [`Shape`]: its length, where its `>` is, and the
/// hashes of its first literal tokens.
struct PatternShape {
    len: usize,
    /// The `>` token's index, if any (always the last token).
    fwc: Option<usize>,
    /// Per leading token: the hash a matching subject's token has, or
    /// `None` for a wildcard.
    hashes: [Option<u16>; SHAPE_TOKENS],
}

impl PatternShape {
    fn of(pattern: &str) -> Self {
        let mut shape = PatternShape {
            len: 0,
            fwc: None,
            hashes: [None; SHAPE_TOKENS],
        };
        for (i, token) in pattern.split('.').enumerate() {
            if token == crate::subject::FWC {
                shape.fwc = Some(i);
            } else if token != crate::subject::PWC {
                if let Some(h) = shape.hashes.get_mut(i) {
                    *h = Some(token_hash(token));
                }
            }
            shape.len += 1;
        }
        shape
    }

    /// The tag of every subject the pattern matches, when its first token
    /// is literal; `None` when it is a wildcard (any tag).
    fn tag(&self) -> Option<usize> {
        self.hashes[0].map(tag_of)
    }

    /// False only when no subject of this shape can match the pattern.
    fn admits(&self, subject: Shape) -> bool {
        let len = usize::from(subject.len);
        let len_ok = match self.fwc {
            // `>` needs at least one token in its place.
            Some(at) => len > at,
            None => len == self.len || len == usize::from(u8::MAX),
        };
        len_ok
            && self
                .hashes
                .iter()
                .zip(subject.hashes)
                .all(|(want, got)| want.is_none_or(|w| w == got))
    }
}

/// What a writer's change made stale.
pub(crate) enum Stale<'a> {
    /// Exactly these published subjects (literal subscriptions changed).
    Subjects(&'a [(u64, &'a str)]),
    /// Every subject matching any of these wildcard patterns.
    Patterns(&'a [&'a str]),
    /// Everything.
    All,
}

pub(crate) struct Cache<S> {
    slots: Box<[Slot<S>]>,
    /// The change generation (C1). Also exported for per-connection caches.
    gen: CachePadded<AtomicU64>,
    /// Per [`Shape::tag`], at least the number of non-null slots whose entry
    /// has that tag (see "Skipping the scan").
    occupied: CachePadded<[AtomicUsize; TAGS]>,
}

impl<S> Cache<S> {
    /// A cache of `slots` entries, rounded up to a power of two; 0 disables
    /// caching.
    pub(crate) fn new(slots: usize) -> Self {
        let n = if slots == 0 {
            0
        } else {
            slots.next_power_of_two()
        };
        Self {
            slots: (0..n)
                .map(|_| Slot {
                    entry: Atomic::null(),
                    ghost: AtomicU64::new(0),
                    hash: AtomicU64::new(0),
                })
                .collect(),
            gen: CachePadded::new(AtomicU64::new(0)),
            occupied: CachePadded::new(std::array::from_fn(|_| AtomicUsize::new(0))),
        }
    }

    #[inline]
    fn slot(&self, hash: u64) -> Option<&Slot<S>> {
        let mask = self.slots.len().wrapping_sub(1);
        self.slots.get(hash as usize & mask)
    }

    /// The cached result for `subject`, if a confirmed one is present.
    #[inline]
    pub(crate) fn lookup<'g>(
        &self,
        hash: u64,
        subject: &str,
        guard: &'g Guard,
    ) -> Option<&'g Arc<MatchResult<S>>> {
        let slot = self.slot(hash)?;
        if slot.hash.load(Relaxed) != hash {
            return None;
        }
        let entry = slot.entry.load(Acquire, guard);
        // SAFETY: I4 — entries are retired with deferred destruction only, so
        // this one outlives `guard`; entries are immutable but for `confirmed`.
        let entry = unsafe { entry.as_ref() }?;
        let fresh =
            entry.hash == hash && *entry.subject == *subject && entry.confirmed.load(Acquire);
        fresh.then_some(&entry.result)
    }

    /// The current generation. Read before walking the trie on a miss.
    #[inline]
    pub(crate) fn generation(&self) -> u64 {
        self.gen.load(Acquire)
    }

    /// Should a result for `subject` be cached? Records a ghost when not.
    pub(crate) fn admit(&self, hash: u64, subject: &str, guard: &Guard) -> bool {
        let Some(slot) = self.slot(hash) else {
            return false;
        };
        let current = slot.entry.load(Acquire, guard);
        let admit = current.is_null()
            || slot.ghost.load(Relaxed) == hash
            || (slot.hash.load(Relaxed) == hash
                // SAFETY: as in `lookup`.
                && unsafe { current.as_ref() }
                    .is_some_and(|e| e.hash == hash && *e.subject == *subject));
        if !admit {
            slot.ghost.store(hash, Relaxed);
        }
        admit
    }

    /// Installs a result computed from a trie walk that started at generation
    /// `gen0`, following the C1 protocol. Returns the cached result, or gives
    /// the result back when another reader won the slot.
    pub(crate) fn install<'g>(
        &self,
        hash: u64,
        subject: &str,
        gen0: u64,
        result: MatchResult<S>,
        guard: &'g Guard,
    ) -> Result<&'g Arc<MatchResult<S>>, Arc<MatchResult<S>>> {
        let result = Arc::new(result);
        let Some(slot) = self.slot(hash) else {
            return Err(result);
        };
        let current = slot.entry.load(Acquire, guard);
        let shape = Shape::of(subject);
        let tag = shape.tag();
        let entry = Owned::new(Entry {
            hash,
            shape,
            subject: subject.into(),
            confirmed: AtomicBool::new(false),
            result,
        })
        .with_tag(tag);
        // Counted before the CAS that links it (see "Skipping the scan"),
        // unless it inherits the count of a replaced entry with its tag; a
        // replaced entry with another tag is uncounted after the CAS.
        let replaced = (!current.is_null()).then(|| current.tag());
        if replaced != Some(tag) {
            self.occupied[tag].fetch_add(1, Relaxed);
        }
        let installed = match slot
            .entry
            .compare_exchange(current, entry, AcqRel, Acquire, guard)
        {
            Ok(installed) => installed,
            Err(lost) => {
                if replaced != Some(tag) {
                    self.occupied[tag].fetch_sub(1, Relaxed);
                }
                return Err(lost.new.into_box().result);
            }
        };
        if let Some(old) = replaced.filter(|&old| old != tag) {
            self.occupied[old].fetch_sub(1, Relaxed);
        }
        slot.hash.store(hash, Relaxed);
        if !current.is_null() {
            // SAFETY: I4 — our CAS unlinked it; pinned readers may still hold it.
            unsafe { crate::reclaim::retire(guard, current) };
        }
        // C1: the read-modify-write orders us against every writer's bump.
        let gen1 = self.gen.fetch_add(0, AcqRel);
        // SAFETY: we just installed it and `guard` is pinned (I4).
        let entry = unsafe { installed.deref() };
        if gen1 == gen0 {
            entry.confirmed.store(true, Release);
        } else if slot
            .entry
            .compare_exchange(installed, Shared::null(), AcqRel, Relaxed, guard)
            .is_ok()
        {
            // A writer raced our walk: never let this entry be hit. The result
            // itself is still a valid answer for this (concurrent) match.
            self.occupied[tag].fetch_sub(1, Relaxed);
            // SAFETY: I4 — unlinked by our CAS.
            unsafe { crate::reclaim::retire(guard, installed) };
        }
        Ok(&entry.result)
    }

    /// Writer only, after the trie change is complete: bump the generation,
    /// evict what the change made stale (C1), and bump it again, so that a
    /// reader that read the generation before the evictions finished (and
    /// may have been handed a stale entry) sees it change: per-connection
    /// caches ([`crate::Sublist::generation`]) rely on that.
    pub(crate) fn invalidate(&self, stale: Stale<'_>, guard: &Guard) {
        self.gen.fetch_add(1, AcqRel);
        self.evict(stale, guard);
        self.gen.fetch_add(1, AcqRel);
    }

    fn evict(&self, stale: Stale<'_>, guard: &Guard) {
        match stale {
            Stale::Subjects(subjects) => {
                for &(hash, subject) in subjects {
                    if let Some(slot) = self.slot(hash) {
                        let current = slot.entry.load(Acquire, guard);
                        self.evict_if(slot, current, guard, |e| *e.subject == *subject);
                    }
                }
            }
            Stale::Patterns(patterns) => {
                let prefixes: Vec<(PatternShape, &str, &str)> = patterns
                    .iter()
                    .map(|p| (PatternShape::of(p), literal_prefix(p), *p))
                    .collect();
                // After the bump of `gen` (AcqRel): see "Skipping the scan".
                if self.none_cached(prefixes.iter().map(|(shape, ..)| shape.tag())) {
                    return;
                }
                for slot in self.slots.iter() {
                    let current = slot.entry.load(Acquire, guard);
                    let tag = current.tag();
                    if current.is_null()
                        || prefixes
                            .iter()
                            .all(|(shape, ..)| shape.tag().is_some_and(|t| t != tag))
                    {
                        continue;
                    }
                    self.evict_if(slot, current, guard, |e| {
                        prefixes.iter().any(|(shape, prefix, p)| {
                            shape.admits(e.shape)
                                && e.subject.starts_with(prefix)
                                && pattern_matches(p, &e.subject)
                        })
                    });
                }
            }
            Stale::All => {
                if self.none_cached([None]) {
                    return;
                }
                for slot in self.slots.iter() {
                    let current = slot.entry.load(Acquire, guard);
                    self.evict_if(slot, current, guard, |_| true);
                }
            }
        }
    }

    /// Empties `slot` if `current`, its entry as loaded (Acquire) after our
    /// bump of `gen`, is `stale`, uncounting it after the CAS. A failed CAS
    /// needs no retry: whoever replaced the entry installed it after our
    /// bump and will retract it (C1).
    fn evict_if<'g>(
        &self,
        slot: &Slot<S>,
        current: Shared<'g, Entry<S>>,
        guard: &'g Guard,
        stale: impl Fn(&Entry<S>) -> bool,
    ) {
        // SAFETY: as in `lookup`.
        let Some(entry) = (unsafe { current.as_ref() }) else {
            return;
        };
        if stale(entry)
            && slot
                .entry
                .compare_exchange(current, Shared::null(), AcqRel, Relaxed, guard)
                .is_ok()
        {
            self.occupied[current.tag()].fetch_sub(1, Relaxed);
            // SAFETY: I4 — unlinked by our CAS.
            unsafe { crate::reclaim::retire(guard, current) };
        }
    }

    /// True when no slot can hold a subject with any of `tags` (`None`:
    /// any tag, for a pattern starting with a wildcard): their counts are
    /// zero. Read after the bump of `gen`.
    fn none_cached(&self, tags: impl IntoIterator<Item = Option<usize>>) -> bool {
        tags.into_iter().all(|tag| match tag {
            Some(tag) => self.occupied[tag].load(Relaxed) == 0,
            None => self.occupied.iter().all(|n| n.load(Relaxed) == 0),
        })
    }

    /// Calls `f` with every confirmed cached result (for statistics).
    pub(crate) fn for_each(&self, guard: &Guard, mut f: impl FnMut(&MatchResult<S>)) {
        for slot in self.slots.iter() {
            let entry = slot.entry.load(Acquire, guard);
            // SAFETY: as in `lookup`.
            if let Some(entry) = unsafe { entry.as_ref() } {
                if entry.confirmed.load(Acquire) {
                    f(&entry.result);
                }
            }
        }
    }
}

impl<S> Drop for Cache<S> {
    fn drop(&mut self) {
        // SAFETY: I5 — dropping the cache means no reader can reach it.
        unsafe {
            let guard = crossbeam_epoch::unprotected();
            for slot in self.slots.iter() {
                let entry = slot.entry.load(Relaxed, guard);
                if !entry.is_null() {
                    drop(entry.into_owned());
                }
            }
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn hash(s: &str) -> u64 {
        use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
        BuildHasherDefault::<DefaultHasher>::default().hash_one(s) | 1
    }

    /// Filled slots per tag.
    fn filled(cache: &Cache<u32>) -> [usize; TAGS] {
        let guard = crossbeam_epoch::pin();
        let mut per_tag = [0; TAGS];
        for slot in cache.slots.iter() {
            let entry = slot.entry.load(Acquire, &guard);
            if !entry.is_null() {
                per_tag[entry.tag()] += 1;
            }
        }
        per_tag
    }

    fn counted(cache: &Cache<u32>) -> [usize; TAGS] {
        std::array::from_fn(|t| cache.occupied[t].load(Relaxed))
    }

    fn fill(cache: &Cache<u32>, subject: &str, guard: &Guard) {
        let gen0 = cache.generation();
        let _ = cache.install(hash(subject), subject, gen0, MatchResult::default(), guard);
    }

    /// The per-tag counts follow the filled slots through installs,
    /// replacements (by the same subject and by one with another tag),
    /// retractions and evictions, and stay at zero through a pattern change
    /// on an empty cache.
    #[test]
    fn occupied_counts_the_filled_slots() {
        let cache: Cache<u32> = Cache::new(8);
        let guard = crossbeam_epoch::pin();
        // Two first tokens with different tags: slots are replaced across tags.
        let subjects: Vec<String> = (0..40)
            .map(|i| format!("{}.{i}", if i % 3 == 0 { "a" } else { "zz" }))
            .collect();
        assert_ne!(Shape::of("a").tag(), Shape::of("zz").tag());
        for (round, s) in subjects.iter().enumerate() {
            if cache.admit(hash(s), s, &guard) {
                fill(&cache, s, &guard);
            }
            // Same subject again: replaces its own entry.
            fill(&cache, s, &guard);
            assert_eq!(counted(&cache), filled(&cache), "round {round}");
        }
        assert!(filled(&cache).iter().sum::<usize>() > 0);
        // A racing writer: the install is retracted and uncounted.
        let s = "b.1";
        let gen0 = cache.generation();
        cache.invalidate(Stale::Subjects(&[]), &guard);
        let _ = cache.install(hash(s), s, gen0, MatchResult::default(), &guard);
        assert_eq!(counted(&cache), filled(&cache));
        // Evictions bring it back to zero, and a pattern change on the empty
        // cache leaves it there.
        cache.invalidate(Stale::Patterns(&["a.*"]), &guard);
        assert_eq!(counted(&cache), filled(&cache));
        assert_eq!(filled(&cache)[Shape::of("a").tag()], 0);
        cache.invalidate(Stale::All, &guard);
        assert_eq!((counted(&cache), filled(&cache)), ([0; TAGS], [0; TAGS]));
        cache.invalidate(Stale::Patterns(&[">"]), &guard);
        assert_eq!(counted(&cache), [0; TAGS]);
    }

    /// A pattern evicts exactly the entries it matches, whether the scan
    /// rejects an entry by its first token's tag, by its shape (length and
    /// leading token hashes), or only by reading its subject.
    #[test]
    fn pattern_changes_evict_exactly_what_they_match() {
        let cache: Cache<u32> = Cache::new(1024);
        let guard = crossbeam_epoch::pin();
        let cached = |s: &str| cache.lookup(hash(s), s, &guard).is_some();
        let subjects = [
            "a.x",
            "a.y",
            "a.x.y",
            "zz.x",
            "zz.y",
            "q.x",
            "a.b.c.d.e",
            "a.b.c.d.f",
        ];
        let refill = || {
            for s in subjects {
                fill(&cache, s, &guard);
            }
            for s in subjects {
                assert!(cached(s), "{s} did not get its own slot in this test");
            }
        };
        for (pattern, evicted) in [
            ("a.*", &["a.x", "a.y"][..]),
            ("a.>", &["a.x", "a.y", "a.x.y", "a.b.c.d.e", "a.b.c.d.f"]),
            ("a.x.>", &["a.x.y"]),
            ("a.*.y", &["a.x.y"]),
            ("zz.>", &["zz.x", "zz.y"]),
            ("*.x", &["a.x", "zz.x", "q.x"]),
            ("*.*.*.*.f", &["a.b.c.d.f"]),
            ("a.b.c.d.*", &["a.b.c.d.e", "a.b.c.d.f"]),
            (">", &subjects),
            ("b.*", &[]),
            ("a.x.y.>", &[]),
        ] {
            refill();
            cache.invalidate(Stale::Patterns(&[pattern]), &guard);
            for s in subjects {
                assert_eq!(!cached(s), evicted.contains(&s), "{pattern} and {s}");
            }
            assert_eq!(counted(&cache), filled(&cache));
        }
    }

    /// The shape fits in the bytes the tag's alignment leaves spare.
    #[test]
    fn an_entry_is_one_cache_line() {
        assert_eq!(std::mem::size_of::<Entry<u32>>(), 64);
    }
}
