//! [`Sublist`]: the subject trie and its operations.
//!
//! Mirrors nats-server's `server/sublist.go` semantics (`docs/architecture.md#the-tries-semantics`):
//! same wildcard rules, same result shape, same cache-coherence guarantee —
//! with lock-free matching instead of a reader-writer lock, per-subject
//! eviction instead of copy-on-write patching, and an admission-controlled
//! cache instead of sweeps.

use std::ops::Deref;
use std::sync::atomic::{AtomicU64 as StatU64, AtomicUsize as StatUsize, Ordering::Relaxed};
use std::sync::Arc;

use crossbeam_epoch::{Atomic, Collector, Guard, Owned, Shared};
use smallvec::SmallVec;

use crate::cache::{Cache, Stale};
use crate::node::{Level, Node};
use crate::reclaim;
use crate::result::MatchResult;
use crate::stats::{ratio, Stats, StripedCounter};
use crate::subject::{is_literal, is_valid_queue, is_valid_subject, FWC, PWC};
use crate::sync::{Mutex, Ordering::*};

/// Tokens of one subject; subjects rarely have more than 16.
type Tokens<'a> = SmallVec<[&'a str; 16]>;

/// Default number of cache slots.
pub const DEFAULT_CACHE_SLOTS: usize = 8192;

/// Why an insert or remove was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SublistError {
    /// The subject is not a valid subscription subject (nats-server's
    /// `Invalid Subject`).
    InvalidSubject,
    /// The queue name is empty or contains whitespace.
    InvalidQueue,
    /// No such subscription.
    NotFound,
}

impl std::fmt::Display for SublistError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SublistError::InvalidSubject => "sublist invalid subject",
            SublistError::InvalidQueue => "sublist invalid queue",
            SublistError::NotFound => "sublist no matches found",
        })
    }
}

impl std::error::Error for SublistError {}

/// Construction options.
#[derive(Clone, Debug)]
pub struct Config {
    /// Cache slots (rounded up to a power of two); 0 disables the cache
    /// (nats-server's `disable_sublist_cache`).
    pub cache_slots: usize,
    /// The epoch collector to retire memory to. `None` uses crossbeam's global
    /// collector (fastest: thread-local pinning). Loom models inject a fresh
    /// one per execution.
    pub collector: Option<Collector>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            cache_slots: DEFAULT_CACHE_SLOTS,
            collector: None,
        }
    }
}

/// One subscribed subject, as seen by [`Sublist::for_each`].
pub struct Subscribed<'a, S> {
    /// The subscription subject (may contain wildcards).
    pub subject: &'a str,
    /// Plain subscriptions on exactly this subject.
    pub plain: &'a [S],
    /// Queue groups on exactly this subject: name and members.
    pub queues: &'a [(Arc<str>, Box<[S]>)],
}

/// The subject trie. See the crate documentation for the contract.
///
/// `S` is the caller's subscription handle: cloned into results, compared with
/// `==` to find it again on remove, dropped once no reader can see it.
pub struct Sublist<S> {
    root: Level<S>,
    writer: Mutex<()>,
    cache: Cache<S>,
    hasher: ahash::RandomState,
    collector: Collector,
    empty: Arc<MatchResult<S>>,
    count: StatUsize,
    nodes: StatUsize,
    inserts: StatU64,
    removes: StatU64,
    hits: StripedCounter,
    misses: StripedCounter,
}

/// A match result borrowed for as long as the epoch guard is pinned.
pub struct MatchRef<'g, S>(Inner<'g, S>);

enum Inner<'g, S> {
    Shared(&'g Arc<MatchResult<S>>),
    Owned(Arc<MatchResult<S>>),
}

impl<S> Deref for MatchRef<'_, S> {
    type Target = MatchResult<S>;
    #[inline]
    fn deref(&self) -> &MatchResult<S> {
        match &self.0 {
            Inner::Shared(r) => r,
            Inner::Owned(r) => r,
        }
    }
}

impl<S> MatchRef<'_, S> {
    /// An owned handle on the same immutable result (one refcount increment).
    pub fn to_arc(&self) -> Arc<MatchResult<S>> {
        match &self.0 {
            Inner::Shared(r) => Arc::clone(r),
            Inner::Owned(r) => Arc::clone(r),
        }
    }
}

impl<S> Sublist<S>
where
    S: Clone + PartialEq + Send + Sync + 'static,
{
    /// A sublist with the default cache and the global epoch collector.
    pub fn new() -> Self {
        Self::with_config(Config::default())
    }

    /// A sublist with explicit options.
    pub fn with_config(config: Config) -> Self {
        Self {
            root: Level::new(),
            writer: Mutex::new(()),
            cache: Cache::new(config.cache_slots),
            hasher: new_hasher(),
            collector: config.collector.unwrap_or_else(default_collector),
            empty: Arc::new(MatchResult::default()),
            count: StatUsize::new(0),
            nodes: StatUsize::new(0),
            inserts: StatU64::new(0),
            removes: StatU64::new(0),
            hits: StripedCounter::new(),
            misses: StripedCounter::new(),
        }
    }

    #[inline]
    fn hash(&self, s: &str) -> u64 {
        self.hasher.hash_one(s)
    }

    // ---------------------------------------------------------------- writers

    /// Adds a subscription. Returns `Ok(false)` when an equal value is already
    /// subscribed with the same subject and queue (nothing changes).
    ///
    /// Once this returns, every match that starts afterwards sees `value` (C1).
    pub fn insert(
        &self,
        subject: &str,
        queue: Option<&str>,
        value: S,
    ) -> Result<bool, SublistError> {
        check(subject, queue)?;
        let writer = self.writer.lock();
        let guard = &self.pin();
        let node = self.node_or_insert(subject, guard);
        let added = match queue {
            None => node.insert_plain(value, guard),
            Some(q) => node.insert_queue(q, value, guard),
        };
        if added {
            self.count.fetch_add(1, Relaxed);
            self.inserts.fetch_add(1, Relaxed);
            self.invalidate(&[subject], guard);
        }
        drop(writer);
        reclaim::keep_up(guard);
        Ok(added)
    }

    /// Removes a subscription. Once this returns, no match that starts
    /// afterwards sees it (C1).
    pub fn remove(
        &self,
        subject: &str,
        queue: Option<&str>,
        value: &S,
    ) -> Result<(), SublistError> {
        check(subject, queue)?;
        let writer = self.writer.lock();
        let guard = &self.pin();
        self.remove_locked(subject, queue, value, guard)?;
        self.invalidate(&[subject], guard);
        drop(writer);
        reclaim::keep_up(guard);
        Ok(())
    }

    /// Removes many subscriptions under one writer critical section and one
    /// cache invalidation (a closing connection). Absent or invalid entries
    /// are skipped; returns how many were removed.
    pub fn remove_batch<'a, I>(&self, subs: I) -> usize
    where
        I: IntoIterator<Item = (&'a str, Option<&'a str>, &'a S)>,
    {
        let writer = self.writer.lock();
        let guard = &self.pin();
        let mut removed: Vec<&'a str> = Vec::new();
        for (subject, queue, value) in subs {
            if check(subject, queue).is_ok()
                && self.remove_locked(subject, queue, value, guard).is_ok()
            {
                removed.push(subject);
            }
        }
        if !removed.is_empty() {
            self.invalidate(&removed, guard);
        }
        drop(writer);
        reclaim::keep_up(guard);
        removed.len()
    }

    /// Evicts every cached result (for tests and memory accounting).
    pub fn clear_cache(&self) {
        let guard = &self.pin();
        let writer = self.writer.lock();
        self.cache.invalidate(Stale::All, guard);
        drop(writer);
        reclaim::keep_up(guard);
    }

    /// The walk for inserts: finds or creates every node along `subject`.
    fn node_or_insert<'g>(&self, subject: &str, guard: &'g Guard) -> &'g Node<S> {
        let mut level: &Level<S> = &self.root;
        let mut tokens = subject.split('.').peekable();
        loop {
            let token = tokens.next().expect("valid subjects have a token");
            let node: &'g Node<S> = match token {
                PWC => self.wildcard_or_insert(&level.pwc, guard),
                FWC => self.wildcard_or_insert(&level.fwc, guard),
                literal => {
                    let (node, created) =
                        level.literal_or_insert(self.hash(literal), literal, guard);
                    if created {
                        self.nodes.fetch_add(1, Relaxed);
                    }
                    node
                }
            };
            if tokens.peek().is_none() {
                return node;
            }
            level = match node.next(guard) {
                Some(next) => next,
                None => {
                    let next = Owned::new(Level::new()).into_shared(guard);
                    // I2: Release publishes the initialised (empty) level.
                    node.next.store(next, Release);
                    // SAFETY: just allocated and published; I4.
                    unsafe { next.deref() }
                }
            };
        }
    }

    fn wildcard_or_insert<'g>(&self, slot: &Atomic<Node<S>>, guard: &'g Guard) -> &'g Node<S> {
        let current = slot.load(Acquire, guard);
        // SAFETY: I2/I4 as for every node pointer.
        if let Some(node) = unsafe { current.as_ref() } {
            return node;
        }
        let node = Owned::new(Node::new(0, "")).into_shared(guard);
        // I2: Release publishes the initialised node.
        slot.store(node, Release);
        self.nodes.fetch_add(1, Relaxed);
        // SAFETY: just allocated and published; I4.
        unsafe { node.deref() }
    }

    /// Removes one subscription and prunes nodes and levels left empty.
    fn remove_locked(
        &self,
        subject: &str,
        queue: Option<&str>,
        value: &S,
        guard: &Guard,
    ) -> Result<(), SublistError> {
        enum Edge<'t> {
            Literal(u64, &'t str),
            Pwc,
            Fwc,
        }
        /// One step of the path: the level, the edge taken, the node reached.
        type Step<'a, 't, S> = (&'a Level<S>, Edge<'t>, &'a Node<S>);
        let mut path: SmallVec<[Step<'_, '_, S>; 16]> = SmallVec::new();
        let mut level: &Level<S> = &self.root;
        let mut tokens = subject.split('.').peekable();
        while let Some(token) = tokens.next() {
            let (edge, node) = match token {
                PWC => (Edge::Pwc, level.pwc(guard)),
                FWC => (Edge::Fwc, level.fwc(guard)),
                literal => {
                    let hash = self.hash(literal);
                    (
                        Edge::Literal(hash, literal),
                        level.literal(hash, literal, guard),
                    )
                }
            };
            let node = node.ok_or(SublistError::NotFound)?;
            path.push((level, edge, node));
            if tokens.peek().is_some() {
                level = node.next(guard).ok_or(SublistError::NotFound)?;
            }
        }
        let (_, _, leaf) = path.last().expect("valid subjects have a token");
        let removed = match queue {
            None => leaf.remove_plain(value, guard),
            Some(q) => leaf.remove_queue(q, value, guard),
        };
        if !removed {
            return Err(SublistError::NotFound);
        }
        self.count.fetch_sub(1, Relaxed);
        self.removes.fetch_add(1, Relaxed);

        // Prune bottom-up: free empty levels, unlink empty nodes, stop at the
        // first node that is still needed.
        for (level, edge, node) in path.iter().rev() {
            let next = node.next.load(Acquire, guard);
            // SAFETY: I2/I4.
            if let Some(next_level) = unsafe { next.as_ref() } {
                if !next_level.is_empty(guard) {
                    break;
                }
                node.next.store(Shared::null(), Release);
                // SAFETY: I4 — unlinked by the only writer.
                unsafe { crate::reclaim::retire(guard, next) };
            }
            if node.has_subs(guard) {
                break;
            }
            let unlinked = match edge {
                Edge::Literal(hash, token) => level.unlink_literal(*hash, token, guard),
                Edge::Pwc => Some(level.pwc.swap(Shared::null(), AcqRel, guard)),
                Edge::Fwc => Some(level.fwc.swap(Shared::null(), AcqRel, guard)),
            };
            if let Some(unlinked) = unlinked {
                // SAFETY: I4 — unlinked by the only writer; I5 — it is empty, so
                // its destructor frees nothing still reachable.
                unsafe { crate::reclaim::retire(guard, unlinked) };
                self.nodes.fetch_sub(1, Relaxed);
            }
        }
        Ok(())
    }

    /// Evicts the cached results that the changed subjects can affect (C1).
    fn invalidate(&self, subjects: &[&str], guard: &Guard) {
        if subjects.iter().all(|s| is_literal(s)) {
            let keyed: SmallVec<[(u64, &str); 8]> =
                subjects.iter().map(|s| (self.hash(s), *s)).collect();
            self.cache.invalidate(Stale::Subjects(&keyed), guard);
        } else if subjects.len() <= 8 {
            // Literal subjects among them are matched exactly by their own
            // pattern, so one pattern scan covers all.
            self.cache.invalidate(Stale::Patterns(subjects), guard);
        } else {
            self.cache.invalidate(Stale::All, guard);
        }
    }

    // ---------------------------------------------------------------- readers

    /// Matches a published subject. Lock-free: never waits for a writer.
    ///
    /// The guard must come from [`Sublist::pin`] (checked). The result is
    /// shared and immutable; it stays valid while the guard is pinned.
    #[inline]
    pub fn match_in<'g>(&'g self, subject: &str, guard: &'g Guard) -> MatchRef<'g, S> {
        assert!(
            guard.collector() == Some(&self.collector),
            "guard does not belong to this sublist's collector"
        );
        let hash = self.hash(subject);
        if let Some(hit) = self.cache.lookup(hash, subject, guard) {
            self.hits.incr();
            return MatchRef(Inner::Shared(hit));
        }
        self.misses.incr();
        self.match_slow(hash, subject, guard)
    }

    #[inline(never)]
    fn match_slow<'g>(&'g self, hash: u64, subject: &str, guard: &'g Guard) -> MatchRef<'g, S> {
        let gen0 = self.cache.generation();
        let Some(tokens) = tokenize(subject) else {
            // Invalid published subjects match nothing and are not cached.
            return MatchRef(Inner::Shared(&self.empty));
        };
        let mut result = MatchResult::default();
        collect(&self.root, &tokens, &mut result, guard, &self.hasher);
        if !self.cache.admit(hash, subject, guard) {
            if result.is_empty() {
                return MatchRef(Inner::Shared(&self.empty));
            }
            return MatchRef(Inner::Owned(Arc::new(result)));
        }
        let installed = self.cache.install(hash, subject, gen0, result, guard);
        reclaim::keep_up_after_install(guard);
        match installed {
            Ok(cached) => MatchRef(Inner::Shared(cached)),
            Err(result) => MatchRef(Inner::Owned(result)),
        }
    }

    /// Matches and returns an owned handle on the result.
    pub fn matches(&self, subject: &str) -> Arc<MatchResult<S>> {
        let guard = self.pin();
        self.match_in(subject, &guard).to_arc()
    }

    /// Matches and lends the result to `f`.
    pub fn with_match<R>(&self, subject: &str, f: impl FnOnce(&MatchResult<S>) -> R) -> R {
        let guard = self.pin();
        let result = self.match_in(subject, &guard);
        f(&result)
    }

    /// Is any subscription interested in `subject`? Cheaper than a match: it
    /// stops at the first subscription and never fills the cache.
    pub fn has_interest(&self, subject: &str) -> bool {
        let guard = &self.pin();
        let hash = self.hash(subject);
        if let Some(hit) = self.cache.lookup(hash, subject, guard) {
            return !hit.is_empty();
        }
        match tokenize(subject) {
            Some(tokens) => any(&self.root, &tokens, guard, &self.hasher),
            None => false,
        }
    }

    /// Calls `f` for every subject that has subscriptions (for `/subsz?subs=1`
    /// and for sending interest to routes). Lock-free; concurrent changes may
    /// or may not be seen.
    pub fn for_each(&self, mut f: impl FnMut(Subscribed<'_, S>)) {
        let guard = &self.pin();
        let mut subject = String::new();
        walk_all(&self.root, &mut subject, guard, &mut f);
    }

    /// Subscriptions currently in the trie.
    pub fn count(&self) -> usize {
        self.count.load(Relaxed)
    }

    /// Nodes currently linked into the trie (for memory accounting and the
    /// reclamation tests).
    pub fn node_count(&self) -> usize {
        self.nodes.load(Relaxed)
    }

    /// A number that changes whenever a subscription is added or removed;
    /// per-connection caches compare it to know when to drop their entries.
    /// It changes again after the change's cache evictions, so a result
    /// obtained by a `match_in` that started after this was read is
    /// valid for as long as it reads the same.
    pub fn generation(&self) -> u64 {
        self.cache.generation()
    }

    /// A snapshot of the statistics, nats-server's `/subsz` figures.
    pub fn stats(&self) -> Stats {
        let hits = self.hits.sum();
        let matches = hits + self.misses.sum();
        let (mut cached, mut fanout_sum, mut fanout_max) = (0u64, 0u64, 0u64);
        self.cache.for_each(&self.pin(), |r| {
            let fanout = r.fanout() as u64;
            cached += 1;
            fanout_sum += fanout;
            fanout_max = fanout_max.max(fanout);
        });
        Stats {
            num_subscriptions: self.count() as u64,
            num_cache: cached,
            num_inserts: self.inserts.load(Relaxed),
            num_removes: self.removes.load(Relaxed),
            num_matches: matches,
            cache_hits: hits,
            cache_hit_rate: ratio(hits as f64, matches as f64),
            max_fanout: fanout_max,
            avg_fanout: ratio(fanout_sum as f64, cached as f64),
        }
    }
}

impl<S> Default for Sublist<S>
where
    S: Clone + PartialEq + Send + Sync + 'static,
{
    fn default() -> Self {
        Self::new()
    }
}

impl<S> std::fmt::Debug for Sublist<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sublist")
            .field("count", &self.count.load(Relaxed))
            .field("nodes", &self.nodes.load(Relaxed))
            .finish_non_exhaustive()
    }
}

fn check(subject: &str, queue: Option<&str>) -> Result<(), SublistError> {
    if !is_valid_subject(subject) {
        return Err(SublistError::InvalidSubject);
    }
    if queue.is_some_and(|q| !is_valid_queue(q)) {
        return Err(SublistError::InvalidQueue);
    }
    Ok(())
}

/// Splits a published subject; `None` if a token is empty.
#[inline]
fn tokenize(subject: &str) -> Option<Tokens<'_>> {
    let tokens: Tokens<'_> = subject.split('.').collect();
    tokens.iter().all(|t| !t.is_empty()).then_some(tokens)
}

/// Branches of a walk still to explore: a level and the index of the token
/// it matches. Subjects may have as many tokens as the control line allows
/// (100k and more), so every walk of the trie keeps its own stack on the heap
/// instead of recursing.
type Branches<'g, S> = SmallVec<[(&'g Level<S>, usize); 8]>;

/// nats-server's `matchLevel`: at each position add the `>` node's
/// subscriptions, explore the `*` node's branch, and follow the literal child;
/// after the last token add the literal and `*` nodes. The `*` branch is
/// followed first and the literal one deferred (LIFO), so results come in the
/// order of the recursive walk.
fn collect<'g, S: Clone>(
    root: &'g Level<S>,
    tokens: &[&str],
    out: &mut MatchResult<S>,
    guard: &'g Guard,
    hasher: &ahash::RandomState,
) {
    let last = tokens.len() - 1;
    let mut branches: Branches<'g, S> = smallvec::smallvec![(root, 0)];
    while let Some((mut level, start)) = branches.pop() {
        for (i, token) in tokens.iter().enumerate().skip(start) {
            if let Some(fwc) = level.fwc(guard) {
                fwc.add_to(out, guard);
            }
            let literal = level.literal(hasher.hash_one(token), token, guard);
            let mut wildcard = None;
            if let Some(pwc) = level.pwc(guard) {
                if i == last {
                    pwc.add_to(out, guard);
                } else {
                    wildcard = pwc.next(guard);
                }
            }
            if i == last {
                if let Some(node) = literal {
                    node.add_to(out, guard);
                }
                break;
            }
            if let Some(next) = literal.and_then(|n| n.next(guard)) {
                branches.push((next, i + 1));
            }
            match wildcard {
                Some(next) => level = next,
                None => break,
            }
        }
    }
}

/// `collect` that stops at the first subscription.
fn any<'g, S>(
    root: &'g Level<S>,
    tokens: &[&str],
    guard: &'g Guard,
    hasher: &ahash::RandomState,
) -> bool {
    let last = tokens.len() - 1;
    let mut branches: Branches<'g, S> = smallvec::smallvec![(root, 0)];
    while let Some((mut level, start)) = branches.pop() {
        for (i, token) in tokens.iter().enumerate().skip(start) {
            if level.fwc(guard).is_some_and(|n| n.has_subs(guard)) {
                return true;
            }
            let literal = level.literal(hasher.hash_one(token), token, guard);
            if i == last {
                if level.pwc(guard).is_some_and(|n| n.has_subs(guard))
                    || literal.is_some_and(|n| n.has_subs(guard))
                {
                    return true;
                }
                break;
            }
            if let Some(next) = literal.and_then(|n| n.next(guard)) {
                branches.push((next, i + 1));
            }
            match level.pwc(guard).and_then(|n| n.next(guard)) {
                Some(next) => level = next,
                None => break,
            }
        }
    }
    false
}

/// Depth-first walk over every node, rebuilding subjects in `subject`; a
/// level's literal children first, then `*`, then `>`, each followed by its
/// subtree (pre-order), without recursion.
fn walk_all<S>(
    root: &Level<S>,
    subject: &mut String,
    guard: &Guard,
    f: &mut impl FnMut(Subscribed<'_, S>),
) {
    /// A node to visit: its token and the length of its parent's subject.
    type Visit<'g, S> = (&'g Node<S>, &'g str, usize);
    fn push_children<'g, S>(
        level: &'g Level<S>,
        parent: usize,
        guard: &'g Guard,
        stack: &mut Vec<Visit<'g, S>>,
    ) {
        let from = stack.len();
        level.for_each_literal(guard, |node| stack.push((node, &node.token, parent)));
        if let Some(node) = level.pwc(guard) {
            stack.push((node, PWC, parent));
        }
        if let Some(node) = level.fwc(guard) {
            stack.push((node, FWC, parent));
        }
        // Popped last-in first-out: reverse, so the first child comes first.
        stack[from..].reverse();
    }
    let mut stack = Vec::new();
    push_children(root, subject.len(), guard, &mut stack);
    let base = subject.len();
    while let Some((node, token, parent)) = stack.pop() {
        subject.truncate(parent);
        if parent > base {
            subject.push('.');
        }
        subject.push_str(token);
        let (plain, queues) = (node.plain(guard), node.queues(guard));
        if !plain.is_empty() || !queues.is_empty() {
            f(Subscribed {
                subject,
                plain,
                queues,
            });
        }
        if let Some(next) = node.next(guard) {
            push_children(next, subject.len(), guard, &mut stack);
        }
    }
    subject.truncate(base);
}

fn new_hasher() -> ahash::RandomState {
    // Loom replays executions and needs every run to take the same path.
    #[cfg(loom)]
    return ahash::RandomState::with_seeds(1, 2, 3, 4);
    #[cfg(not(loom))]
    ahash::RandomState::new()
}

fn default_collector() -> Collector {
    #[cfg(loom)]
    return Collector::new();
    #[cfg(not(loom))]
    crossbeam_epoch::default_collector().clone()
}

impl<S> Sublist<S> {
    /// Pins the current thread in this sublist's epoch collector. Results
    /// borrowed under the guard stay valid until it is dropped; keep guards
    /// short-lived (a batch of messages), since they hold back reclamation.
    #[inline]
    pub fn pin(&self) -> Guard {
        #[cfg(not(loom))]
        if self.collector == *crossbeam_epoch::default_collector() {
            return crossbeam_epoch::pin();
        }
        self.collector.register().pin()
    }
}

impl<S> Drop for Sublist<S> {
    fn drop(&mut self) {
        // The root level and the cache free what they own in their own Drop
        // impls (I5); deferred garbage already handed to the collector is
        // freed by it. Nothing to do beyond that, but flush this thread's
        // deferred bag so that dropping a sublist promptly returns memory.
        self.pin().flush();
    }
}

// `Sublist` is Sync by construction: readers share only atomics and
// epoch-protected immutable objects; writers serialise on `writer`.
const _: () = {
    const fn assert_sync<T: Sync + Send>() {}
    assert_sync::<Sublist<Arc<u64>>>();
};
